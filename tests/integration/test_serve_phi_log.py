"""Issue 23.11: no request content, uploaded file name or exception text derived from input
reaches the server's log, the audit database or the temporary folder; and an internal error
(500) neither prints a traceback nor resets the keep-alive connection (issue 23.10)."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time

import httpx
from serve_fixtures import free_port

PHI = ["Zebediah", "Quux", "4815162342", "1957-03-14"]
NAME = "Zebediah_Quux_MRN4815162342"


def _bad_requests(url: str, key: str) -> list[int]:
    h = {"Authorization": f"Bearer {key}"}
    note = f"{PHI[0]} {PHI[1]}, MRN {PHI[2]}, born {PHI[3]}"
    import pandas as pd

    parquet = io.BytesIO()
    pd.DataFrame({NAME: [note]}).to_parquet(parquet)
    calls = [
        ("POST", "/models/heart/predict", {"json": {"rows": [{"age": note, "sex": note}]}}),
        ("POST", "/models/heart/predict", {"json": {"rows": [{note: 1}]}}),
        ("POST", "/models/heart/predict",
         {"content": json.dumps({"rows": [{"age": note + "\ud800"}]}).encode(),
          "headers": {"Content-Type": "application/json"}}),
        ("POST", "/models/heart/predict", {"content": ("{" + note).encode(),
                                           "headers": {"Content-Type": "application/json"}}),
        ("POST", f"/models/{NAME}/predict", {"json": {"rows": [{"a": 1}]}}),
        ("POST", "/models/heart/explain", {"json": {"rows": [{"age": note}],
                                                    "target_class": note}}),
        ("POST", "/models/heart/predict/upload",
         {"files": {"file": (f"{NAME}.csv", f"{NAME},x\n{note},1\n".encode())}}),
        ("POST", "/models/heart/predict/upload",
         {"files": {"file": (f"{NAME}.parquet", parquet.getvalue())}}),
        ("POST", "/models/heart/predict/upload",
         {"files": {"file": (f"{NAME}.parquet", note.encode())}}),
        ("POST", "/models/xray/predict/upload",
         {"files": {"file": (f"{NAME}.png", b"\x89PNG\r\n\x1a\n" + note.encode())}}),
        ("POST", "/models/xray/explain/upload",
         {"files": {"file": (f"{NAME}.png", note.encode())}, "data": {"target_class": note}}),
        ("POST", "/models/xray/predict/upload",
         {"files": {"file": (f"{NAME}.dcm", note.encode() * 10)}}),
        ("POST", "/models/xray/predict/upload",
         {"files": {"file": (f"{NAME}.nii.gz", note.encode())}}),
        ("POST", "/models/xray/predict/upload",
         {"files": {"file": (f"{NAME}.exe", note.encode())}}),
        ("POST", "/deid", {"json": {"text": note, "mode": note}}),
        ("POST", "/deid", {"json": {"text": note, "mode": "surrogate", "patient": note}}),
        ("POST", "/deid", {"json": {"text": note + "\x00"}}),
        ("POST", "/deid", {"json": {"text": note}}),  # a good one: its content is PHI too
        ("POST", "/models/heart/predict", {"json": {"rows": [{"age": note * 20000}]}}),
        ("GET", "/models", {"headers": {"Authorization": f"Bearer {NAME}"}}),
        ("GET", f"/{NAME}", {}),
    ]
    codes = []
    with httpx.Client(base_url=url, timeout=60) as c:
        for method, path, kw in calls:
            headers = {**h, **kw.pop("headers", {})}
            codes.append(c.request(method, path, headers=headers, **kw).status_code)
    return codes


def test_phi_in_bad_requests_reaches_no_log_audit_row_or_temporary_file(
        serve_bundles, api_keys, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    log_path = tmp_path / "server.log"
    audit = tmp_path / "audit.sqlite"
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "healthnn", "serve", str(serve_bundles["heart"]),
             str(serve_bundles["xray"]), "--port", str(port), "--keys", str(api_keys.path),
             "--audit-db", str(audit), "--work-processes", "1", "--max-unpacked-mb", "1"],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(url + "/health", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    log_path.read_text()
                time.sleep(0.3)
        codes = _bad_requests(url, api_keys.full)
        assert all(c < 500 for c in codes), codes
        assert sum(c >= 400 for c in codes) >= len(codes) - 4, codes  # 200s: row errors
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    text = log_path.read_text(errors="replace")
    assert "Application startup complete" in text  # the log was captured
    blobs = {"server log": text.encode()}
    for p in tmp_path.glob("audit.sqlite*"):
        blobs[p.name] = p.read_bytes()
    for p in tmp.rglob("*"):
        blobs[f"temporary {p.name}"] = p.name.encode() + (p.read_bytes() if p.is_file() else b"")
    for where, data in blobs.items():
        for word in PHI:
            assert word.encode() not in data, f"{word!r} found in the {where}"
    assert "Traceback" not in text


def test_an_internal_error_is_a_500_without_traceback_or_reset(serve_bundles, api_keys,
                                                               tmp_path, capfd):
    from serve_fixtures import start_server

    from healthnn.serve import build_app

    app = build_app([serve_bundles["heart"]], keys_path=api_keys.path,
                    audit_db=tmp_path / "audit.sqlite")
    model = app.state.models["heart"]

    def broken(df, file=None):
        raise RuntimeError(f"value {PHI[0]} in row 1")  # a message quoting the input

    model.predict = broken
    running = start_server(app)
    host, port = running.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    h = {"Authorization": f"Bearer {api_keys.full}", "Content-Type": "application/json"}
    try:
        conn.request("POST", "/models/heart/predict",
                     json.dumps({"rows": [{"age": PHI[0]}]}), h)
        r = conn.getresponse()
        assert r.status == 500 and json.loads(r.read()) == {"detail": "internal error"}
        conn.request("GET", "/health")  # the same connection
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "ok"
    finally:
        conn.close()
        running.stop()
    err = capfd.readouterr()
    assert "internal error RuntimeError" in err.err and "/models/{name}/predict" in err.err
    assert PHI[0] not in err.err + err.out and "Traceback" not in err.err
    from healthnn.serve.audit import open_audit_log

    log = open_audit_log(tmp_path / "audit.sqlite")
    rows = log.rows()
    log.close()
    assert [r["status"] for r in rows if "predict" in r["endpoint"]] == [500]
