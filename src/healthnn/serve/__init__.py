"""Serving: a REST API and a web page for clinicians, with API keys and an audit log.

::

    healthnn keys add ward-7 --scopes predict,explain,deid     # prints the key once
    healthnn serve runs/heart runs/xray --port 8000            # http://127.0.0.1:8000/

Modules: :mod:`~healthnn.serve.app` (the FastAPI application), :mod:`~healthnn.serve.models`
(bundles behind the API), :mod:`~healthnn.serve.keys` (API keys), :mod:`~healthnn.serve.audit`
(the audit log), :mod:`~healthnn.serve.schemas` (request and response models), ``static/``
(the web page). FastAPI and uvicorn are imported only when serving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_app", "serve"]


def build_app(dirs: list[Path], *, keys_path: Path | None = None,
              audit_db: str | Path | None = None, runtime: str = "torch",
              key: bytes | None = None, limits: Any = None,
              deid_ner: Path | None = None, deid_ner_min_score: float | None = None) -> Any:
    """Load the bundles in ``dirs`` and return the FastAPI application serving them.

    ``audit_db``: a SQLite file (default ``healthnn-audit.sqlite`` in the current folder) or
    a ``postgresql://`` URL. ``key``: for encrypted bundles and surrogate de-identification.
    ``deid_ner``: a ``task = "ner"`` bundle whose spans ``/deid`` adds to the rules' (loaded
    now, so a wrong path fails at start), keeping those scoring at least
    ``deid_ner_min_score`` (None: the threshold chosen on the bundle's validation notes).
    """
    from healthnn.serve.app import create_app
    from healthnn.serve.audit import open_audit_log
    from healthnn.serve.keys import KeyStore, default_keys_path
    from healthnn.serve.models import load_models

    keys = KeyStore(keys_path or default_keys_path())
    keys.audit_secret()  # no keys yet: say how to make one before loading anything
    models = load_models([Path(d) for d in dirs], key=key, runtime=runtime)
    audit = open_audit_log(audit_db or "healthnn-audit.sqlite")
    deid = None
    if deid_ner is not None:
        from healthnn.tasks.ner import NerTagger

        deid = NerTagger(deid_ner, key=key, deid=True, min_score=deid_ner_min_score)
    return create_app(models, keys, audit, limits, secret_key=key, deid_ner=deid)


def serve(dirs: list[Path], *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          **kwargs: Any) -> None:
    """Build the app (see :func:`build_app`) and run it with uvicorn until interrupted.

    ``workers`` > 1: that many server processes share one listening socket (the kernel hands
    each new connection to one of them); each loads the bundles and writes the audit log
    through its own connection, and the per-key rate limit is kept in one shared file, so it
    holds across the processes.
    """
    if workers > 1:
        return _serve_workers(dirs, host=host, port=port, workers=workers, **kwargs)
    import uvicorn

    app = build_app(dirs, **kwargs)
    _settle()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False,
                    ws="none")  # no websocket routes: nothing to load
    finally:
        app.state.audit.close()  # every queued audit record is written before exit


def _settle() -> None:
    """After loading: collect once and move everything loaded so far (bundles, modules) out
    of the garbage collector's sight, so its full collections stay short under load (a full
    collection with a table model loaded: about 380 ms before, 28 ms after, measured on the
    loaded 2-core machine; each such pause stalls every request in flight)."""
    import gc

    gc.collect()
    gc.freeze()


def _serve_workers(dirs: list[Path], *, host: str, port: int, workers: int,
                   **kwargs: Any) -> None:
    import dataclasses
    import multiprocessing
    import os
    import signal
    import socket
    import tempfile
    import time

    from healthnn.errors import HealthnnError
    from healthnn.serve.app import Limits
    from healthnn.serve.keys import KeyStore, default_keys_path

    KeyStore(kwargs.get("keys_path") or default_keys_path()).audit_secret()  # fail early
    # create the audit database and its table once, here: workers opening a new database at
    # the same moment race for it (SQLite: switching to WAL mode, "database is locked";
    # PostgreSQL: concurrent CREATE TABLE IF NOT EXISTS)
    from healthnn.serve.audit import open_audit_log

    open_audit_log(kwargs.get("audit_db") or "healthnn-audit.sqlite").close()
    limits = kwargs.get("limits") or Limits()
    fd, rate_file = tempfile.mkstemp(prefix="healthnn-rate-")
    os.close(fd)
    kwargs["limits"] = dataclasses.replace(limits, rate_file=rate_file)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        os.unlink(rate_file)
        raise HealthnnError(f"cannot listen on {host}:{port}: {exc.strerror}", key="--port",
                            hint="choose another port, or stop what uses it") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    # spawn, not fork: each worker starts a clean interpreter (no copied threads or locks);
    # the socket and settings (the secret key included) travel through a pipe, not the
    # environment or the disk
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(sock, dirs, kwargs), name=f"healthnn-worker-{i}")
             for i in range(workers)]
    print(f"healthnn serve: {workers} worker processes on http://{host}:{port}", flush=True)
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in procs:
            p.start()
        failed = None
        while not stopping and failed is None:
            time.sleep(0.2)
            failed = next((p for p in procs if p.exitcode not in (None, 0)), None)
            if failed is None and all(p.exitcode == 0 for p in procs):
                break
        for p in procs:  # graceful: uvicorn finishes open requests, the audit log is flushed
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
        if failed is not None and not stopping:
            raise HealthnnError(f"a worker process stopped (exit code {failed.exitcode}); its "
                                "message is above", hint="fix it and start the server again")
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        sock.close()
        os.unlink(rate_file)


def _worker(sock: Any, dirs: list[Path], kwargs: dict[str, Any]) -> None:
    import signal
    import sys

    import uvicorn

    from healthnn.errors import HealthnnError

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it sends SIGTERM
    try:
        app = build_app(dirs, **kwargs)
    except HealthnnError as exc:
        print(f"healthnn serve: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    _settle()
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=False, ws="none"))
    try:
        server.run(sockets=[sock])
    finally:
        app.state.audit.close()
