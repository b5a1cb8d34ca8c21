"""`healthnn keys` and `healthnn serve` on the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from serve_fixtures import free_port

from healthnn.cli import main


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_keys_add_list_revoke(tmp_path, capsys):
    keys = tmp_path / "keys.json"
    code, out, err = run_cli(capsys, "keys", "add", "ward-7", "--scopes", "predict,explain",
                             "--keys", keys)
    assert code == 0 and "shown only now" in err
    key = out.strip()
    assert key.startswith("hnn_") and key not in keys.read_text()  # only a salted hash
    stored = json.loads(keys.read_text())["keys"]["ward-7"]
    assert stored["scopes"] == ["predict", "explain"] and len(stored["salt"]) == 32
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    code, out, _ = run_cli(capsys, "keys", "list", "--keys", keys)
    assert code == 0 and out.startswith("ward-7\tpredict,explain\t")
    assert run_cli(capsys, "keys", "revoke", "ward-7", "--keys", keys)[0] == 0
    code, _, err = run_cli(capsys, "keys", "revoke", "ward-7", "--keys", keys)
    assert code == 2 and "no key named 'ward-7'" in err


@pytest.mark.parametrize("args, fragment", [
    (["add", "x", "--scopes", "predict,admin"], "unknown scope(s): admin"),
    (["add", "bad name!"], "invalid key name"),
])
def test_keys_bad_input(tmp_path, capsys, args, fragment):
    code, _, err = run_cli(capsys, "keys", *args, "--keys", tmp_path / "k.json")
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_keys_duplicate_name(tmp_path, capsys):
    k = tmp_path / "k.json"
    run_cli(capsys, "keys", "add", "a", "--keys", k)
    code, _, err = run_cli(capsys, "keys", "add", "a", "--keys", k)
    assert code == 2 and "revoke it first" in err


def test_serve_errors_are_one_line(tmp_path, capsys, serve_bundles, api_keys):
    code, _, err = run_cli(capsys, "serve", serve_bundles["heart"], "--keys", tmp_path / "none.json")
    assert code == 2 and "no API keys yet" in err and "healthnn keys add" in err
    code, _, err = run_cli(capsys, "serve", tmp_path / "missing", "--keys", api_keys.path)
    assert code == 2 and "bundle directory not found" in err
    code, _, err = run_cli(capsys, "serve", serve_bundles["heart"], "--keys", api_keys.path,
                           "--audit-db", "mysql://x")
    assert code == 2 and "unsupported audit database" in err
    code, _, err = run_cli(capsys, "serve", serve_bundles["heart"], "--keys", api_keys.path,
                           "--port", "70000")
    assert code == 2 and "port" in err


def test_runtime_onnx_without_an_export_is_a_clear_error(capsys, serve_bundles, api_keys,
                                                         tmp_path):
    import shutil

    bundle = shutil.copytree(serve_bundles["heart"], tmp_path / "heart")
    (bundle / "model.onnx").unlink(missing_ok=True)
    code, _, err = run_cli(capsys, "serve", bundle, "--keys", api_keys.path,
                           "--runtime", "onnx", "--audit-db", tmp_path / "a.sqlite")
    assert code == 2 and "no ONNX export" in err and f"healthnn export {bundle}" in err
    assert "Traceback" not in err


def test_serve_command_answers_and_stops(serve_bundles, api_keys, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "healthnn", "serve", str(serve_bundles["heart"]),
         "--port", str(port), "--keys", str(api_keys.path),
         "--audit-db", str(tmp_path / "audit.sqlite")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stdout.read().decode()) from None
                time.sleep(0.3)
        assert r.status_code == 200 and r.json()["models"] == 1
        r = httpx.post(f"http://127.0.0.1:{port}/models/heart/predict",
                       json={"rows": [{"age": 50, "sex": "F", "bmi": 25, "smoker": "never"}]},
                       headers={"Authorization": f"Bearer {api_keys.predict}"})
        assert r.status_code == 200 and 0 <= r.json()["rows"][0]["values"]["prob_1"] <= 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    import sqlite3

    with sqlite3.connect(tmp_path / "audit.sqlite") as conn:
        got = conn.execute("SELECT endpoint, key_name, status FROM audit_log "
                           "WHERE endpoint LIKE 'POST%'").fetchall()
    assert got == [("POST /models/{name}/predict", "lab-system", 200)]


def test_serve_workers_share_the_rate_limit_and_the_audit_log(serve_bundles, api_keys,
                                                               tmp_path):
    """--workers 2: two processes on one port; one per-key limit across both; every request
    in the one audit database after a graceful stop."""
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "healthnn", "serve", str(serve_bundles["heart"]),
         "--port", str(port), "--keys", str(api_keys.path), "--workers", "2",
         "--rate-limit", "6", "--audit-db", str(tmp_path / "audit.sqlite")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(
        iter(lambda: proc.stdout.readline().decode(), "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while sum("Application startup complete" in x for x in lines) < 2:  # both workers
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("".join(lines))
            time.sleep(0.2)

        def one(i: int) -> int:  # a new connection each time, spread over the workers
            return httpx.post(f"{url}/models/heart/predict", timeout=60,
                              json={"rows": [{"age": 40 + i, "sex": "F", "bmi": 25,
                                              "smoker": "never"}]},
                              headers={"Authorization": f"Bearer {api_keys.predict}"}
                              ).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(one, range(24)))
        refill = int((time.monotonic() - started) / 10)  # 6 a minute: one token per 10 s
        assert set(codes) <= {200, 429}
        assert 6 <= codes.count(200) <= 6 + refill
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert "2 worker processes" in out and out.count("Started server process") == 2
    with sqlite3.connect(tmp_path / "audit.sqlite") as conn:
        got = conn.execute("SELECT status, count(*) FROM audit_log WHERE endpoint LIKE 'POST%' "
                           "GROUP BY status ORDER BY status").fetchall()
    assert dict(got) == {200: codes.count(200), 429: codes.count(429)}
