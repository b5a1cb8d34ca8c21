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

from healthnn.serve.build import build_app, close_app, settle

__all__ = ["build_app", "serve", "close_app", "settle"]


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
