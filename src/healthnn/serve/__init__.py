"""Serving: a REST API and a web page for clinicians, with API keys and an audit log.

::

    healthnn keys add ward-7 --scopes predict,explain,deid     # prints the key once
    healthnn serve runs/heart runs/xray --port 8000            # http://127.0.0.1:8000/

Modules: :mod:`~healthnn.serve.app` (the FastAPI application, assembled from
:mod:`~healthnn.serve.routes`), :mod:`~healthnn.serve.models` (bundles behind the API),
:mod:`~healthnn.serve.keys` (API keys), :mod:`~healthnn.serve.audit` (the audit log) and
:mod:`~healthnn.serve.audit_trail` (verifying and exporting it),
:mod:`~healthnn.serve.limits`, :mod:`~healthnn.serve.uploads`, :mod:`~healthnn.serve.middleware`
(the edge), :mod:`~healthnn.serve.batching`, :mod:`~healthnn.serve.work` and
:mod:`~healthnn.serve.isolation` (CPU-heavy work in killable processes),
:mod:`~healthnn.serve.workers` (``--workers N``), :mod:`~healthnn.serve.schemas` (request and
response models), ``static/`` (the web page). FastAPI and uvicorn are imported only when
serving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_app", "serve", "close_app", "settle"]


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
    secret = keys.audit_secret()  # no keys yet: say how to make one before loading anything
    models = load_models([Path(d) for d in dirs], key=key, runtime=runtime)
    audit = open_audit_log(audit_db or "healthnn-audit.sqlite", secret=secret)
    deid = source = None
    if deid_ner is not None:
        from healthnn.tasks.ner import NerTagger

        deid = NerTagger(deid_ner, key=key, deid=True, min_score=deid_ner_min_score)
        source = (str(deid_ner), deid_ner_min_score)
    return create_app(models, keys, audit, limits, secret_key=key, deid_ner=deid,
                      deid_ner_source=source, runtime=runtime)


def serve(dirs: list[Path], *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          **kwargs: Any) -> None:
    """Build the app (see :func:`build_app`) and run it with uvicorn until interrupted.

    ``workers`` > 1: that many server processes share one listening socket (see
    :func:`healthnn.serve.workers.serve_workers`: a dead worker is restarted, workers exit
    with the parent).
    """
    if workers > 1:
        from healthnn.serve.workers import serve_workers

        return serve_workers(dirs, host=host, port=port, workers=workers, **kwargs)
    import uvicorn

    app = build_app(dirs, **kwargs)
    settle()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False,
                    ws="none")  # no websocket routes: nothing to load
    finally:
        close_app(app)


def close_app(app: Any) -> None:
    """Stop the app's work processes and write every queued audit record."""
    if getattr(app.state, "pool", None) is not None:
        app.state.pool.close()
    app.state.audit.close()


def settle() -> None:
    """After loading: collect once and move everything loaded so far (bundles, modules) out
    of the garbage collector's sight, so its full collections stay short under load (a full
    collection with a table model loaded: about 380 ms before, 28 ms after, measured on the
    loaded 2-core machine; each such pause stalls every request in flight)."""
    import gc

    gc.collect()
    gc.freeze()
