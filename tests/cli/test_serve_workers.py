"""Issue 23.9: 'serve --workers N' restarts a dead worker (with a log line), and the workers
exit when the parent dies, so nothing keeps the port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
from serve_fixtures import free_port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait(cond, timeout: float, what: str, lines: list[str]) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what}:\n" + "".join(lines)
        time.sleep(0.2)


def test_a_killed_worker_is_restarted_and_workers_die_with_the_parent(serve_bundles,
                                                                      api_keys, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "healthnn", "serve", str(serve_bundles["heart"]),
         "--port", str(port), "--keys", str(api_keys.path), "--workers", "2",
         "--work-processes", "0", "--audit-db", str(tmp_path / "audit.sqlite")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(
        iter(lambda: proc.stdout.readline().decode(), "")), daemon=True)
    reader.start()

    def pids() -> list[int]:
        return [int(p) for p in re.findall(r"Started server process \[(\d+)\]", "".join(lines))]

    url = f"http://127.0.0.1:{port}"
    h = {"Authorization": f"Bearer {api_keys.predict}"}
    row = {"rows": [{"age": 50, "sex": "F", "bmi": 25, "smoker": "never"}]}
    try:
        _wait(lambda: "".join(lines).count("Application startup complete") >= 2, 120,
              "two workers", lines)
        first = pids()
        os.kill(first[0], signal.SIGKILL)
        _wait(lambda: "".join(lines).count("Application startup complete") >= 3, 120,
              "a restarted worker", lines)
        out = "".join(lines)
        assert re.search(rf"worker [01] \(pid {first[0]}\) stopped \(killed by SIGKILL\); "
                         "restarting it", out), out
        assert proc.poll() is None
        for _ in range(6):  # new connections: both workers answer
            assert httpx.post(f"{url}/models/heart/predict", json=row, headers=h,
                              timeout=60).status_code == 200
        workers = [p for p in pids() if _alive(p)]
        assert len(workers) == 2 and first[0] not in workers
        proc.kill()  # the parent dies without cleaning up
        proc.wait(timeout=10)
        _wait(lambda: not any(_alive(p) for p in workers), 30, "orphaned workers", lines)
        with socket.socket() as s:  # the port is free again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in pids():
            if _alive(p):
                os.kill(p, signal.SIGKILL)
