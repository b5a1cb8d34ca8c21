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
              key: bytes | None = None, limits: Any = None) -> Any:
    """Load the bundles in ``dirs`` and return the FastAPI application serving them.

    ``audit_db``: a SQLite file (default ``healthnn-audit.sqlite`` in the current folder) or
    a ``postgresql://`` URL. ``key``: for encrypted bundles and surrogate de-identification.
    """
    from healthnn.serve.app import create_app
    from healthnn.serve.audit import open_audit_log
    from healthnn.serve.keys import KeyStore, default_keys_path
    from healthnn.serve.models import load_models

    keys = KeyStore(keys_path or default_keys_path())
    keys.audit_secret()  # no keys yet: say how to make one before loading anything
    models = load_models([Path(d) for d in dirs], key=key, runtime=runtime)
    audit = open_audit_log(audit_db or "healthnn-audit.sqlite")
    return create_app(models, keys, audit, limits, secret_key=key)


def serve(dirs: list[Path], *, host: str = "127.0.0.1", port: int = 8000,
          **kwargs: Any) -> None:
    """Build the app (see :func:`build_app`) and run it with uvicorn until interrupted."""
    import uvicorn

    app = build_app(dirs, **kwargs)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    finally:
        app.state.audit.close()
