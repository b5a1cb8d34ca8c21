"""What the routers share: the :class:`Server` (models, keys, audit log, limits, batchers,
work pool) kept on ``app.state.server``, and the FastAPI dependencies that authorize a
request and name it in the audit log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from healthnn.errors import HealthnnError
from healthnn.serve.audit import AuditLog
from healthnn.serve.batching import Batcher, EncodedBatcher
from healthnn.serve.isolation import WorkLost, WorkPool, WorkTimeout
from healthnn.serve.keys import ApiKey, KeyStore
from healthnn.serve.limits import Limits, RateLimiter, SharedRateLimiter
from healthnn.serve.models import ServedModel
from healthnn.serve.schemas import ErrorResponse
from healthnn.serve.work import WorkState

__all__ = ["Server", "server_of", "authorize", "mark", "ERRORS"]

ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 413, 422, 429)}
_bearer = HTTPBearer(auto_error=False, description="an API key from 'healthnn keys add'")


@dataclass
class Server:
    """The state behind one application (see :func:`healthnn.serve.app.create_app`)."""

    models: dict[str, ServedModel]
    keys: KeyStore
    audit: AuditLog
    limits: Limits
    work: WorkState
    pool: WorkPool | None = None
    limiter: RateLimiter = field(init=False)
    anon_limiter: RateLimiter = field(init=False)
    batchers: dict[str, Batcher] = field(init=False)
    upload_batchers: dict[str, EncodedBatcher] = field(init=False)
    audit_secret: bytes = field(init=False)

    def __post_init__(self) -> None:
        lim = self.limits
        self.audit_secret = self.keys.audit_secret()  # fails early, with a hint, when no key
        if lim.rate_file is None:
            self.limiter = RateLimiter(lim.rate_per_minute)
            self.anon_limiter = RateLimiter(lim.anon_rate_per_minute)
        else:
            self.limiter = SharedRateLimiter(lim.rate_per_minute, lim.rate_file)
            self.anon_limiter = SharedRateLimiter(lim.anon_rate_per_minute,
                                                  lim.rate_file + ".anon")
        self.batchers = {n: Batcher(m) for n, m in self.models.items()}
        self.upload_batchers = {n: EncodedBatcher(m, max_rows=64)
                                for n, m in self.models.items()}

    def model_named(self, request: Request, name: str) -> ServedModel:
        m = self.models.get(name)
        if m is None:
            raise HTTPException(404, f"no model named {name[:80]!r} (models: "
                                f"{', '.join(self.models)})")
        request.state.model, request.state.model_version = m.name, m.version
        return m

    def input_hash(self, request: Request, *parts: bytes) -> None:
        """The keyed hash of the request's input, for its audit row."""
        h = hmac.new(self.audit_secret, b"healthnn audit input", hashlib.sha256)
        for p in parts:
            h.update(len(p).to_bytes(8, "big") + p)
        request.state.input_hash = h.hexdigest()

    def timed_out(self) -> HTTPException:
        return HTTPException(503, f"no answer within {self.limits.timeout_s:g} s; send fewer "
                             "rows")

    async def bounded(self, work: Awaitable[Any]) -> Any:
        try:
            return await asyncio.wait_for(work, self.limits.timeout_s)
        except TimeoutError:
            raise self.timed_out() from None

    async def in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.bounded(run_in_threadpool(fn, *args))

    async def heavy(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(state, *args)`` (a :mod:`healthnn.serve.work` function) within the timeout:
        in a work process that the timeout kills, or in a thread without a pool."""
        if self.pool is None:
            return await self.in_thread(fn, self.work, *args)
        try:
            return await run_in_threadpool(self.pool.call, fn, *args,
                                           timeout=self.limits.timeout_s)
        except WorkTimeout:
            raise self.timed_out() from None
        except WorkLost:
            raise HTTPException(503, "the work process stopped; try again") from None


def server_of(request: Request) -> Server:
    return request.app.state.server


def mark(request: Request, endpoint: str) -> None:
    """Name the request's endpoint (the route template) for its audit row."""
    request.state.endpoint = endpoint


def _client(request: Request) -> str:
    return "addr:" + (request.client.host if request.client else "?")


def _anonymous(srv: Server, request: Request, status: int, detail: str) -> HTTPException:
    """401 for a request without a valid key, or 429 once its address used its share."""
    wait = srv.anon_limiter.take(_client(request))
    if wait > 0:
        return HTTPException(429, "too many requests without a valid API key from this "
                             f"address; retry in {math.ceil(wait)} s",
                             headers={"Retry-After": str(math.ceil(wait))})
    return HTTPException(status, detail, headers={"WWW-Authenticate": "Bearer"})


def _verify(srv: Server, token: str) -> ApiKey | None:
    try:
        return srv.keys.verify(token)
    except HealthnnError as exc:  # the operator's problem: logged, not told to clients
        print(f"healthnn serve: error: {exc}", file=sys.stderr, flush=True)
        raise HTTPException(503, "the server cannot read its API key file; tell its "
                            "operator") from None


def authorize(scope: str, endpoint: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the request's verified key with ``scope``, within its rate limit."""
    async def dependency(request: Request, cred: HTTPAuthorizationCredentials | None =
                         Depends(_bearer)) -> ApiKey:
        mark(request, endpoint)
        srv = server_of(request)
        if cred is None:
            raise _anonymous(srv, request, 401,
                             "missing API key: send 'Authorization: Bearer KEY'")
        key = _verify(srv, cred.credentials)
        if key is None:
            raise _anonymous(srv, request, 401, "invalid or revoked API key")
        request.state.key_name = key.name
        if scope not in key.scopes:
            raise HTTPException(403, f"this key may not use '{scope}' (its scopes: "
                                f"{', '.join(key.scopes)})")
        wait = srv.limiter.take(key.name)
        if wait > 0:
            raise HTTPException(429, f"rate limit of {srv.limits.rate_per_minute} requests a "
                                f"minute reached; retry in {math.ceil(wait)} s",
                                headers={"Retry-After": str(math.ceil(wait))})
        return key
    return dependency
