"""The server's edge, as plain ASGI middleware (no buffering): the audit row of each request,
security headers, and a last guard that turns any unexpected error into a 500 without logging
or echoing anything derived from the request.

Order, outermost first: :class:`AuditMiddleware` (sees the final status, the guard's 500
included), :class:`SecurityHeadersMiddleware`, :class:`GuardMiddleware`, then the body limit
(:class:`healthnn.serve.limits.BodyLimitMiddleware`) and the application.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from healthnn.serve.audit import AuditLog, AuditRecord
from healthnn.serve.limits import send_json

__all__ = ["AuditMiddleware", "GuardMiddleware", "SecurityHeadersMiddleware", "route_path",
           "SECURITY_HEADERS", "AUDIT_WAIT_S"]

AUDIT_WAIT_S = 10.0  # the longest a response waits for its audit row to be committed

# the web page loads its script and style from /static and draws explanations from data: URLs
_CSP = ("default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_NO_STORE = (b"cache-control", b"no-store")


def route_path(scope: dict) -> str:
    """The route's template (``/models/{name}/predict``), never the path the client sent
    (which may carry anything, a patient's name included)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(unrouted)"


def _outcome(status: int) -> str:
    return {200: "ok", 400: "bad_request", 401: "unauthorized", 403: "forbidden",
            404: "not_found", 405: "method_not_allowed", 413: "too_large",
            415: "unsupported_media", 422: "bad_input", 429: "rate_limited",
            503: "timeout"}.get(status, "ok" if status < 400 else "error")


class AuditMiddleware:
    """One audit row per HTTP request, committed *before* the response is sent (the response
    waits for it, at most :data:`AUDIT_WAIT_S`): a worker killed after answering has already
    written the row. Concurrent requests share one commit (the log writes in batches)."""

    def __init__(self, app: Any, audit: AuditLog) -> None:
        self.app, self.audit = app, audit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        recorded = False

        def record(status: int) -> Any:
            endpoint = state.get("endpoint") or route_path(scope)
            return self.audit.record(AuditRecord(
                time=datetime.now(UTC).isoformat(timespec="milliseconds"),
                key_name=state.get("key_name"),
                endpoint=f"{scope.get('method', '')} {endpoint}"[:200],
                model=state.get("model"), version=state.get("model_version"),
                input_hash=state.get("input_hash"), status=status, outcome=_outcome(status),
                latency_ms=round((time.perf_counter() - start) * 1000, 3)))

        async def audited_send(msg: dict) -> None:
            nonlocal recorded
            if msg["type"] == "http.response.start" and not recorded:
                recorded = True
                written = record(msg["status"])
                try:
                    # shielded: a timeout here must not cancel the log's own future
                    await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(written)),
                                           AUDIT_WAIT_S)
                except (TimeoutError, Exception):  # noqa: BLE001 - counted by the log
                    pass
            await send(msg)

        try:
            await self.app(scope, receive, audited_send)
        finally:
            if not recorded:  # no response was started (the client went away)
                record(499)


class SecurityHeadersMiddleware:
    """Content-Security-Policy (``frame-ancestors 'none'``), ``X-Content-Type-Options``,
    ``Referrer-Policy`` on every response; ``Cache-Control: no-store`` on all but the web
    page's static files (answers hold patient data)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                names = {k.lower() for k, _ in msg.get("headers", [])}
                extra = [h for h in SECURITY_HEADERS if h[0] not in names]
                if not static and _NO_STORE[0] not in names:
                    extra.append(_NO_STORE)
                msg = {**msg, "headers": [*msg.get("headers", []), *extra]}
            await send(msg)

        await self.app(scope, receive, with_headers)


class GuardMiddleware:
    """Any exception that escapes the application becomes a 500 ``internal error``; one
    line goes to the log with the exception's type, the code location and the route
    template only (exception messages and tracebacks may quote request content). The
    exception is not re-raised, so the server (uvicorn) neither prints a traceback nor drops
    the keep-alive connection."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watch(msg: dict) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:  # noqa: BLE001 - the one place that catches everything
            log_internal_error(exc, scope)
            if not started:
                await send_json(send, 500, "internal error")


def log_internal_error(exc: BaseException, scope: dict) -> None:
    """One log line about an unexpected error: type, innermost code location, route."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
    print(f"healthnn serve: internal error {type(exc).__name__} at {where} "
          f"({scope.get('method', '')} {route_path(scope)})", file=sys.stderr, flush=True)
