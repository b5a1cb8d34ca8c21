"""``serve --workers N``: N server processes on one listening socket, kept alive.

The parent binds the socket, creates the audit database once, and starts the workers
(``spawn``: clean interpreters; the socket and the settings, the secret key included, travel
through a pipe, not the environment or the disk). A worker that dies is restarted, with a log
line, up to :data:`MAX_RESTARTS` times in :data:`RESTART_WINDOW_S` seconds; past that, or when
a worker cannot start at all (a bad bundle, say: exit code 2), the server stops with an error.
Workers exit when the parent dies, however it dies: the kernel sends them SIGTERM
(``prctl(PR_SET_PDEATHSIG)``), and a thread watching the parent's pid does the same where that
is not available; so no orphan keeps the port.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from healthnn.errors import HealthnnError

__all__ = ["serve_workers", "MAX_RESTARTS", "RESTART_WINDOW_S"]

MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
_START_FAILED = 2  # a worker's exit code when it could not build the app


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise HealthnnError(f"cannot listen on {host}:{port}: {exc.strerror}", key="--port",
                            hint="choose another port, or stop what uses it") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _describe(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def serve_workers(dirs: list[Path], *, host: str, port: int, workers: int,
                  **kwargs: Any) -> None:
    """Run ``workers`` server processes until SIGINT/SIGTERM (see the module docstring)."""
    from healthnn.serve.audit import open_audit_log
    from healthnn.serve.keys import KeyStore, default_keys_path
    from healthnn.serve.limits import Limits

    secret = KeyStore(kwargs.get("keys_path") or default_keys_path()).audit_secret()
    # create the audit database and its table once, here: workers opening a new database at
    # the same moment race for it (SQLite: switching to WAL mode, "database is locked";
    # PostgreSQL: concurrent CREATE TABLE IF NOT EXISTS)
    open_audit_log(kwargs.get("audit_db") or "healthnn-audit.sqlite", secret=secret).close()
    limits = kwargs.get("limits") or Limits()
    fd, rate_file = tempfile.mkstemp(prefix="healthnn-rate-")
    os.close(fd)
    kwargs["limits"] = dataclasses.replace(limits, rate_file=rate_file)
    try:
        sock = _listen(host, port)
    except HealthnnError:
        os.unlink(rate_file)
        raise
    print(f"healthnn serve: {workers} worker processes on http://{host}:{port}", flush=True)
    try:
        _supervise(sock, dirs, kwargs, workers)
    finally:
        sock.close()
        for path in (rate_file, rate_file + ".anon"):
            if os.path.exists(path):
                os.unlink(path)


def _supervise(sock: socket.socket, dirs: list[Path], kwargs: dict[str, Any],
               workers: int) -> None:
    ctx = multiprocessing.get_context("spawn")

    def start(i: int) -> Any:
        p = ctx.Process(target=_worker, args=(sock, dirs, kwargs), name=f"healthnn-worker-{i}")
        p.start()
        return p

    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs: list[Any] = []
    restarts: collections.deque[float] = collections.deque()
    failure = None
    try:
        procs = [start(i) for i in range(workers)]
        while not stopping and failure is None:
            time.sleep(0.2)
            for i, p in enumerate(procs):
                if p.exitcode is None or stopping:
                    continue
                failure = _restart_or_fail(i, p, restarts)
                if failure is not None:
                    break
                procs[i] = start(i)
    finally:
        for p in procs:  # graceful: uvicorn finishes open requests, the audit log is flushed
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
        for s, h in old.items():
            signal.signal(s, h)
    if failure is not None:
        raise HealthnnError(failure, hint="fix it and start the server again")


def _restart_or_fail(i: int, p: Any, restarts: collections.deque[float]) -> str | None:
    """Log a dead worker; None to restart it, else why the server stops."""
    what = _describe(p.exitcode)
    if p.exitcode == _START_FAILED:
        return f"a worker process could not start ({what}); its message is above"
    now = time.monotonic()
    while restarts and now - restarts[0] > RESTART_WINDOW_S:
        restarts.popleft()
    if len(restarts) >= MAX_RESTARTS:
        return (f"worker {i} (pid {p.pid}) stopped ({what}) after {MAX_RESTARTS} restarts "
                f"within {RESTART_WINDOW_S:g} s")
    restarts.append(now)
    print(f"healthnn serve: worker {i} (pid {p.pid}) stopped ({what}); restarting it "
          f"(restart {len(restarts)} of at most {MAX_RESTARTS} in {RESTART_WINDOW_S:g} s)",
          file=sys.stderr, flush=True)
    return None


def _worker(sock: Any, dirs: list[Path], kwargs: dict[str, Any]) -> None:
    import uvicorn

    from healthnn.serve.build import build_app, close_app, settle
    from healthnn.serve.isolation import die_with_parent

    die_with_parent(signal.SIGTERM)  # uvicorn stops gracefully on SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it sends SIGTERM
    try:
        app = build_app(dirs, **kwargs)
    except HealthnnError as exc:
        print(f"healthnn serve: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(_START_FAILED)
    settle()
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=False, ws="none"))
    try:
        server.run(sockets=[sock])
    finally:
        close_app(app)
