"""The server's edge (issue 23): text checks, security headers, rate limits without a key,
key-file faults, hidden internals, private files, upload bombs refused from headers, and
CPU-heavy work that the timeout really stops."""

from __future__ import annotations

import http.client
import io
import json
import os
import stat
import struct
import time
import zlib

import httpx
import pytest

ROW = {"age": 63, "sex": "M", "bmi": 31.5, "smoker": "current"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _app(serve_bundles, keys_path, tmp_path, names=("heart",), **limits):
    from serve_fixtures import start_server

    from healthnn.serve import build_app
    from healthnn.serve.app import Limits

    app = build_app([serve_bundles[n] for n in names], keys_path=keys_path,
                    audit_db=tmp_path / "audit.sqlite", limits=Limits(**limits))
    return start_server(app)


@pytest.mark.parametrize("body, fragment", [
    ({"rows": [{**ROW, "sex": "M\ud800"}]}, "surrogate"),
    ({"rows": [{**ROW, "ag\ud800e": 1}]}, "surrogate"),
    ({"rows": [{**ROW, "smoker": "ne\x00ver"}]}, "NUL"),
    ({"rows": [{**ROW, "sex\x00": "M"}]}, "NUL"),
    ({"rows": [{**ROW, "sex": "\u202eM"}]}, "bidirectional"),
    ({"rows": [{**ROW, "x" * 300: 1}]}, "longer than"),
    ({"rows": [{**ROW, "sex": "M" * 100_001}]}, "longer than"),
])
def test_bad_strings_are_a_422_and_the_connection_lives_on(server, api_keys, body, fragment):
    """Issue 23.10: rejected at the edge; the next request on the same keep-alive
    connection is answered (no reset)."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        payload = json.dumps(body).encode()  # lone surrogates travel as \\ud800 escapes
        conn.request("POST", "/models/heart/predict", payload,
                     {**auth(api_keys.full), "Content-Type": "application/json"})
        r = conn.getresponse()
        detail = json.loads(r.read())["detail"]
        assert r.status == 422 and fragment in detail, detail
        conn.request("POST", "/models/heart/predict", json.dumps({"rows": [ROW]}),
                     {**auth(api_keys.full), "Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["rows"][0]["error"] == ""
    finally:
        conn.close()


@pytest.mark.parametrize("body", [{"text": "Mr \ud800 Smith"}, {"text": "a\x00b"},
                                  {"text": "x", "patient": "\u2066p"}])
def test_bad_strings_in_deid_are_a_422(client, api_keys, body):
    r = client.post("/deid", content=json.dumps(body),
                    headers={**auth(api_keys.full), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text


def test_security_headers(client, api_keys):
    """Issue 23.21."""
    for path in ("/health", "/", "/models", "/static/app.js"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert (r.headers.get("cache-control") == "no-store") == (path != "/static/app.js")
    r = client.post("/models/heart/predict", json={"rows": [ROW]}, headers=auth(api_keys.full))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


def test_requests_without_a_valid_key_are_rate_limited_per_address(serve_bundles, api_keys,
                                                                    tmp_path):
    """Issue 23.19: a valid key keeps working while the address is limited."""
    running = _app(serve_bundles, api_keys.path, tmp_path, anon_rate_per_minute=3)
    try:
        with httpx.Client(base_url=running.url) as c:
            codes = [c.get("/models", headers=h).status_code for h in
                     [{}, auth("hnn_00000000_" + "A" * 43), {}, {}, {}]]
            assert codes == [401, 401, 401, 429, 429]
            r = c.get("/models")
            assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
            assert c.get("/models", headers=auth(api_keys.full)).status_code == 200
    finally:
        running.stop()


def test_a_broken_key_file_is_not_shown_to_clients(serve_bundles, tmp_path, capfd):
    """Issue 23.17: the key file's path and JSON error stay in the server's log; a record
    without 'salt' is a 503, not a 500."""
    from healthnn.serve.keys import KeyStore

    store = KeyStore(tmp_path / "keys.json")
    key = store.add("ward", ["predict"])
    running = _app(serve_bundles, store.path, tmp_path)
    try:
        with httpx.Client(base_url=running.url) as c:
            assert c.get("/models", headers=auth(key)).status_code == 200
            good = store.path.read_text()
            time.sleep(0.01)
            store.path.write_text(good[:-20])  # truncated JSON
            r = c.get("/models", headers=auth(key))
            assert r.status_code == 503 and "operator" in r.json()["detail"]
            assert str(tmp_path) not in r.text and "keys.json" not in r.text
            data = json.loads(good)
            del data["keys"]["ward"]["salt"]
            store.path.write_text(json.dumps(data))
            r = c.get("/models", headers=auth(key))
            assert r.status_code == 503 and "salt" not in r.text
    finally:
        running.stop()
    err = capfd.readouterr().err
    assert "cannot read the API key file" in err and "damaged" in err


def test_client_messages_hold_no_object_reprs_or_temporary_paths(client, api_keys):
    """Issue 23.20."""
    import tempfile

    h = auth(api_keys.full)
    for name, data in [("x.png", b"\x89PNG\r\n\x1a\nrubbish"), ("x.jpg", b"\xff\xd8junk"),
                       ("x.dcm", b"not dicom at all"), ("x.nii", b"\0" * 400)]:
        for path in ("/models/xray/predict/upload", "/models/xray/explain/upload"):
            r = client.post(path, headers=h, files={"file": (name, data)})
            assert r.status_code < 500, r.text
            assert "object at 0x" not in r.text and "BytesIO" not in r.text, r.text
            assert tempfile.gettempdir() + "/" not in r.text and "healthnn-" not in r.text


def test_audit_database_and_key_file_are_private(serve_bundles, api_keys, tmp_path, capfd):
    """Issue 23.25: a new audit database is 0600 (and its WAL); wider modes warn."""
    from healthnn.serve.audit import open_audit_log
    from healthnn.serve.keys import KeyStore

    log = open_audit_log(tmp_path / "new.sqlite", secret=b"s")
    log.close()
    for p in tmp_path.glob("new.sqlite*"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert "warning" not in capfd.readouterr().err
    shared = tmp_path / "shared.sqlite"
    shared.touch(mode=0o644)
    os.chmod(shared, 0o644)
    open_audit_log(shared).close()
    err = capfd.readouterr().err
    assert "warning" in err and "mode 0644" in err and "chmod 600" in err
    keys = tmp_path / "keys.json"
    keys.write_text(api_keys.path.read_text())
    os.chmod(keys, 0o644)
    KeyStore(keys).audit_secret()
    assert "API key file" in capfd.readouterr().err


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring ``width`` x ``height`` (a bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND",
                                                                                      b"")


def _deflated_dicom(payload: int) -> bytes:
    """A DICOM file in Deflated Explicit VR Little Endian whose data inflate to ``payload``
    bytes (zeros)."""
    uid = b"1.2.840.10008.1.2.1.99"
    uid += b"\0" * (len(uid) % 2)
    ts = struct.pack("<HH", 2, 0x10) + b"UI" + struct.pack("<H", len(uid)) + uid
    meta = struct.pack("<HH", 2, 0) + b"UL" + struct.pack("<HI", 4, len(ts)) + ts
    co = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = co.compress(b"\0" * payload) + co.flush()
    return b"\0" * 128 + b"DICM" + meta + body


def test_upload_bombs_are_refused_from_their_headers(client, api_keys, tmp_path):
    """Issue 23.1, 2 and 15 at the server's edge (limits in this server: 4 MB unpacked)."""
    import pandas as pd

    h = auth(api_keys.full)
    png = _png_header_only(9000, 9000)  # 81 M pixels declared, a few hundred bytes sent
    assert len(png) < 2000
    r = client.post("/models/xray/predict/upload", headers=h, files={"file": ("b.png", png)})
    assert r.status_code == 413 and "81.0 M pixels" in r.json()["detail"]
    dcm = _deflated_dicom(5 * 2**20)
    assert len(dcm) < 20_000
    r = client.post("/models/xray/predict/upload", headers=h, files={"file": ("b.dcm", dcm)})
    assert r.status_code == 413 and "unpacks to more than 4 MB" in r.json()["detail"]
    buf = io.BytesIO()
    pd.DataFrame({"age": ["0" * 5_000_000], "sex": ["F"], "bmi": [1.0],
                  "smoker": ["never"]}).to_parquet(buf, compression="zstd")
    assert len(buf.getvalue()) < 50_000
    r = client.post("/models/heart/predict/upload", headers=h,
                    files={"file": ("rows.parquet", buf.getvalue())})
    assert r.status_code == 413 and "unpacks to more than" in r.json()["detail"]
    buf = io.BytesIO()
    pd.DataFrame({**{k: [v] * 1500 for k, v in ROW.items()}}).to_parquet(buf)
    r = client.post("/models/heart/predict/upload", headers=h,
                    files={"file": ("rows.parquet", buf.getvalue())})
    assert r.status_code == 413 and "1500 rows" in r.json()["detail"]
    buf = io.BytesIO()
    pd.DataFrame({k: [v] * 3 for k, v in ROW.items()}).to_parquet(buf, compression="zstd")
    r = client.post("/models/heart/predict/upload", headers=h,
                    files={"file": ("rows.parquet", buf.getvalue())})
    assert r.status_code == 200 and len(r.json()["rows"]) == 3


def test_max_pixels_is_the_servers_setting(serve_bundles, api_keys, tmp_path):
    from image_helpers import synthetic, write_png

    png = write_png(tmp_path / "c.png", synthetic(1, seed=3)).read_bytes()
    running = _app(serve_bundles, api_keys.path, tmp_path, names=("xray",), max_pixels=100)
    try:
        r = httpx.post(running.url + "/models/xray/predict/upload", headers=auth(api_keys.full),
                       files={"file": ("c.png", png)})
        assert r.status_code == 413 and "limit of 100 pixels" in r.json()["detail"]
    finally:
        running.stop()


def test_heavy_work_is_killed_at_the_timeout_and_health_stays_quick(serve_bundles, api_keys,
                                                                     tmp_path):
    """Issue 23.3: /deid work runs in a work process; the timeout kills it (the CPU burn
    stops), /health answers meanwhile, and a fresh process serves the next request."""
    from healthnn.privacy.deid import Deidentifier

    note = ("Patient John Smith, MRN 1234567, seen on 03/04/2021 at Boston General by "
            "Dr. Alice Jones. ") * 1100
    note = note[:100_000]
    started = time.perf_counter()
    Deidentifier(mode="tag").deidentify(note, None)
    needs = time.perf_counter() - started
    timeout = max(0.05, needs / 5)
    running = _app(serve_bundles, api_keys.path, tmp_path, timeout_s=timeout,
                   work_processes=1)
    pool = running.app.state.pool
    h = auth(api_keys.full)
    try:
        with httpx.Client(base_url=running.url, timeout=120) as c:
            deadline = time.monotonic() + 120  # the work process loads the bundle first
            while c.post("/deid", json={"text": "Seen by Dr. Jones."}, headers=h
                         ).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            import threading

            got: dict[str, float | int] = {}

            def slow() -> None:
                t0 = time.perf_counter()
                got["status"] = c.post("/deid", json={"text": note}, headers=h).status_code
                got["took"] = time.perf_counter() - t0

            worker = threading.Thread(target=slow)
            worker.start()
            time.sleep(timeout / 2)
            with httpx.Client(base_url=running.url, timeout=30) as other:
                t0 = time.perf_counter()
                assert other.get("/health").status_code == 200
                health = time.perf_counter() - t0
            worker.join(timeout=60)
            assert got["status"] == 503 and got["took"] < timeout + max(1.0, needs / 2)
            assert health < 1.0 and pool.kills == 1
            deadline = time.monotonic() + 120
            while c.post("/deid", json={"text": "Seen by Dr. Jones."}, headers=h
                         ).status_code != 200:  # the replacement process
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        running.app.state.pool.close()
        running.stop()


def test_broken_json_says_so_in_words(client, api_keys):
    """Issue 19.12: not '19: JSON decode error'."""
    r = client.post("/models/heart/predict", content=b'{"rows": [{"age": 63,,}]}',
                    headers={**auth(api_keys.full), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("the request body is not valid JSON (at character ")
