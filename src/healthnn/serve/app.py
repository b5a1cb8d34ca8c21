"""The FastAPI application: health, models, predict, explain, de-identify, and the web page.

Every endpoint but ``/health``, the web page and the OpenAPI document needs an API key
(``Authorization: Bearer KEY``) with the endpoint's scope. Every request is written to the
audit log (see :mod:`healthnn.serve.audit`) before its response is sent. Bad input gets a 4xx
with a one-line ``detail``; nothing a client sent reaches the server's log.

The endpoints live in :mod:`healthnn.serve.routes`, the shared state and the authorization in
:mod:`healthnn.serve.context`, the limits in :mod:`healthnn.serve.limits`, the edge (audit,
security headers, error guard) in :mod:`healthnn.serve.middleware`, micro-batching in
:mod:`healthnn.serve.batching`, and the CPU-heavy work in :mod:`healthnn.serve.work` (run in
killable processes by :mod:`healthnn.serve.isolation` when ``Limits.work_processes`` > 0).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from healthnn import __version__
from healthnn.errors import HealthnnError
from healthnn.serve.audit import AuditLog
from healthnn.serve.batching import Batcher, EncodedBatcher
from healthnn.serve.context import Server
from healthnn.serve.isolation import WorkPool
from healthnn.serve.keys import KeyStore
from healthnn.serve.limits import BodyLimitMiddleware, Limits, RateLimiter, SharedRateLimiter
from healthnn.serve.middleware import AuditMiddleware, GuardMiddleware, SecurityHeadersMiddleware
from healthnn.serve.models import ServedModel
from healthnn.serve.routes import deid, health, web
from healthnn.serve.routes import models as model_routes
from healthnn.serve.signals import guard_signals
from healthnn.serve.uploads import hide_internals
from healthnn.serve.work import WorkState

__all__ = ["Limits", "create_app", "Batcher", "EncodedBatcher", "RateLimiter",
           "SharedRateLimiter"]


def create_app(models: dict[str, ServedModel], keys: KeyStore, audit: AuditLog,
               limits: Limits | None = None, secret_key: bytes | None = None,
               deid_ner: Any = None, deid_ner_source: tuple | None = None,
               runtime: str = "torch") -> FastAPI:
    """The application serving ``models`` (see :func:`healthnn.serve.models.load_models`).

    ``secret_key`` (the ``--key-file`` key) enables surrogate de-identification; ``deid_ner``
    (a :class:`healthnn.tasks.ner.NerTagger`) adds a trained NER model's spans to ``/deid``;
    work processes load it again from ``deid_ner_source`` = (folder, min_score)."""
    limits = limits or Limits()
    upload_limits = {"max_unpacked": int(limits.max_unpacked_mb * 2**20),
                     "max_pixels": int(limits.max_pixels)}
    pool = None
    if limits.work_processes > 0:
        from healthnn.serve import work

        dirs = {n: str(m.path) for n, m in models.items()}
        pool = WorkPool(limits.work_processes, work.setup,
                        (dirs, secret_key, runtime, deid_ner_source, upload_limits))
    server = Server(models, keys, audit, limits,
                    WorkState(models, secret_key, deid_ner, upload_limits), pool)
    app = FastAPI(
        title="healthnn", version=__version__, docs_url=None, redoc_url=None,
        description="Predictions, explanations and de-identification from trained healthnn "
        "bundles. Send 'Authorization: Bearer KEY' (keys from 'healthnn keys add').")
    app.state.server = server
    app.state.models, app.state.audit, app.state.keys = models, audit, keys
    app.state.pool = pool
    for r in (health.router, model_routes.router, deid.router, web.router):
        app.include_router(r)
    web.mount_static(app)
    app.router.on_startup.append(guard_signals)
    _add_error_handlers(app)
    # added innermost first: the audit row sees the guard's 500s and the body limit's 413s
    app.add_middleware(BodyLimitMiddleware, max_bytes=int(limits.max_body_mb * 2**20))
    app.add_middleware(GuardMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(AuditMiddleware, audit=audit)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HealthnnError)
    async def _user_error(request: Request, exc: HealthnnError) -> JSONResponse:
        from healthnn.data.limits import TooLargeError

        status = 413 if isinstance(exc, TooLargeError) else 422
        return JSONResponse({"detail": hide_internals(str(exc))}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            if err.get("type") == "json_invalid":  # loc is ("body", character offset)
                at = [x for x in err.get("loc", ()) if isinstance(x, int)]
                parts.append("the request body is not valid JSON"
                             + (f" (at character {at[0]})" if at else ""))
                continue
            loc = ".".join(_printable(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else err.get("msg", ""))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)


def _printable(part: Any) -> str:
    """A location part of a validation error, safe to encode (a column name may hold a lone
    surrogate or control characters)."""
    text = str(part)[:80]
    return "".join(ch if ch.isprintable() and not 0xD800 <= ord(ch) < 0xE000 else "?"
                   for ch in text)
