"""Assembling the server: :func:`build_app` (bundles, keys, audit log -> the FastAPI app),
:func:`close_app` and :func:`settle`; used by :func:`healthnn.serve.serve` and by each worker
process of ``--workers N``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_app", "close_app", "settle"]


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
