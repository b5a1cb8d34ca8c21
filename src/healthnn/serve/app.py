"""The FastAPI application: health, models, predict, explain, de-identify, and the web page.

Every endpoint but ``/health``, the web page and the OpenAPI document needs an API key
(``Authorization: Bearer KEY``) with the endpoint's scope. Every request is written to the
audit log (see :mod:`healthnn.serve.audit`). Bad input gets a 4xx with a one-line ``detail``.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import hmac
import json
import math
import mmap
import os
import re
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from healthnn import __version__
from healthnn.errors import HealthnnError
from healthnn.serve.audit import AuditLog, AuditRecord
from healthnn.serve.keys import ApiKey, KeyStore
from healthnn.serve.models import ServedModel
from healthnn.serve.schemas import (
    MAX_ROWS,
    DeidRequest,
    DeidResponse,
    ErrorResponse,
    ExplainRequest,
    ExplainResponse,
    Health,
    ModelInfo,
    ModelList,
    PredictRequest,
    PredictResponse,
)

__all__ = ["Limits", "create_app"]

_ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 413, 422, 429)}


@dataclass
class Limits:
    """Request limits. ``rate_per_minute`` is per API key (a token bucket, bursts allowed up
    to the same number), counted across worker processes when ``rate_file`` names their
    shared bucket file; ``timeout_s`` bounds the model work of one request."""

    max_body_mb: float = 10.0
    rate_per_minute: int = 600
    timeout_s: float = 30.0
    max_unpacked_mb: float = 512.0  # a gzip upload (.nii.gz) may unpack to at most this
    rate_file: str | None = None  # shared by the worker processes of one server (--workers)


# -- middleware (plain ASGI: no buffering, no per-request overhead beyond a few checks) -------
class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for a body over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await _send_json(send, 400, "invalid Content-Length header")
            if n > self.max_bytes:
                return await _send_json(send, 413, self._message())
        received = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return msg

        async def watch_send(msg: dict) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, watch_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, self._message())

    def _message(self) -> str:
        return (f"request body larger than {self.max_bytes / 2**20:g} MB; send fewer rows or a "
                "smaller file")


class AuditMiddleware:
    """One audit row per HTTP request, written after the response is sent."""

    def __init__(self, app: Any, audit: AuditLog) -> None:
        self.app, self.audit = app, audit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        status = 500

        async def watch_send(msg: dict) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, watch_send)
        finally:
            endpoint = state.get("endpoint") or _route_path(scope)
            self.audit.record(AuditRecord(
                time=datetime.now(UTC).isoformat(timespec="milliseconds"),
                key_name=state.get("key_name"),
                endpoint=f"{scope.get('method', '')} {endpoint}"[:200],
                model=state.get("model"), version=state.get("model_version"),
                input_hash=state.get("input_hash"), status=status, outcome=_outcome(status),
                latency_ms=round((time.perf_counter() - start) * 1000, 3)))


def _route_path(scope: dict) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(unrouted)"


def _outcome(status: int) -> str:
    return {200: "ok", 400: "bad_request", 401: "unauthorized", 403: "forbidden",
            404: "not_found", 405: "method_not_allowed", 413: "too_large",
            415: "unsupported_media", 422: "bad_input", 429: "rate_limited",
            503: "timeout"}.get(status, "ok" if status < 400 else "error")


async def _send_json(send: Callable, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# -- rate limiting ---------------------------------------------------------------------------
class RateLimiter:
    """A token bucket per key name: ``per_minute`` requests a minute, bursts up to the same."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str) -> float:
        """0 if allowed, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(name, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / self.rate


class SharedRateLimiter(RateLimiter):
    """The same token buckets, kept in a file that several processes map into memory and lock
    (``flock``) around each update, so ``--workers N`` enforce one limit per key, not N.

    Slots (1024 of them, open addressing on a 64-bit hash of the key's name) hold the hash,
    the tokens left and the time of the last update (``CLOCK_MONOTONIC``, one clock for every
    process on the machine). More than 1024 key names: the extra ones are not limited.
    """

    SLOTS = 1024
    _REC = struct.Struct("<Qdd")

    def __init__(self, per_minute: int, path: str | Path) -> None:
        super().__init__(per_minute)
        size = self.SLOTS * self._REC.size
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < size:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                if os.fstat(self._fd).st_size < size:
                    os.ftruncate(self._fd, size)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._mm = mmap.mmap(self._fd, size)

    def take(self, name: str) -> float:
        if self.rate <= 0:
            return 0.0
        h = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little") or 1
        rec = self._REC
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                now = time.monotonic()
                i = h % self.SLOTS
                for _ in range(self.SLOTS):
                    kh, tokens, last = rec.unpack_from(self._mm, i * rec.size)
                    if kh in (h, 0):
                        break
                    i = (i + 1) % self.SLOTS
                else:
                    return 0.0
                if kh == 0:
                    tokens, last = self.capacity, now
                tokens = min(self.capacity, tokens + max(0.0, now - last) * self.rate)
                wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
                rec.pack_into(self._mm, i * rec.size, h, tokens - 1.0 if wait == 0 else tokens,
                              now)
                return wait
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


# -- micro-batching ----------------------------------------------------------------------------
class Batcher:
    """Predict the rows of concurrent requests to one model in one call.

    A request's rows wait in a queue while the model works on the previous batch; the next
    batch takes everything waiting (up to ``max_rows``), grouped by column set, so a request
    sees exactly the columns it sent. Per-call costs (pandas, the model's Python) are paid once
    a batch instead of once a request; no request waits for a timer. If a batch fails as a
    whole (a missing column, say), each request in it is predicted on its own, so the error
    reaches only the request that caused it.

    Rows go in as ``(columns, values)`` (lists of cells) and come back as records (dicts of
    prediction columns and ``error``), so a request costs no DataFrame of its own.
    """

    def __init__(self, model: Any, max_rows: int = 512) -> None:
        self.model, self.max_rows = model, max_rows
        self._queue: asyncio.Queue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task | None = None

    async def predict(self, columns: tuple[str, ...],
                      values: list[list[Any]]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:  # first use, or a new event loop
            self._queue, self._loop, self._worker = asyncio.Queue(), loop, None
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        fut: asyncio.Future = loop.create_future()
        await self._queue.put((columns, values, fut))
        return await fut

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            items = [await self._queue.get()]
            rows = len(items[0][1])
            while not self._queue.empty() and rows < self.max_rows:
                items.append(self._queue.get_nowait())
                rows += len(items[-1][1])
            groups: dict[tuple, list] = {}
            for columns, values, fut in items:
                if not fut.done():  # not cancelled by a timeout
                    groups.setdefault(columns, []).append((values, fut))
            for columns, group in groups.items():
                await self._predict_group(columns, group)

    def _records(self, columns: tuple[str, ...], values: list[list[Any]]) -> list[dict]:
        df = pd.DataFrame(values, columns=list(columns), dtype=object)
        return self.model.predict(df).to_dict("records")

    async def _predict_group(self, columns: tuple[str, ...], group: list) -> None:
        if len(group) > 1:
            try:
                results = self._per_request(
                    await self._call(columns, self._joined(group)), group)
            except Exception:  # noqa: BLE001 - retried one by one below, errors go to each
                pass
            else:
                for (_, fut), res in zip(group, results, strict=True):
                    if not fut.done():
                        fut.set_result(res)
                return
        for item in group:
            fut = item[1]
            try:
                res = self._per_request(await self._call(columns, self._joined([item])),
                                        [item])[0]
            except Exception as exc:  # noqa: BLE001 - handed to the request's handler
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(res)

    @staticmethod
    def _joined(group: list) -> list[Any]:
        """The rows of a group's requests, in one list for one model call."""
        return [row for values, _ in group for row in values]

    @staticmethod
    def _per_request(records: list[Any], group: list) -> list[Any]:
        """One model call's records, split back into each request's own."""
        out, start = [], 0
        for values, _ in group:
            out.append(records[start:start + len(values)])
            start += len(values)
        return out

    async def _call(self, columns: tuple[str, ...], values: list[Any]) -> Any:
        # in a thread: the event loop keeps reading requests (the next batch) meanwhile;
        # running small batches on the loop itself was slower (measured: half the throughput)
        return await run_in_threadpool(self._records, columns, values)


class EncodedBatcher(Batcher):
    """The same micro-batching for uploads the task decoded in memory (images): each request
    brings ``(rows, encoded inputs, errors)`` of one file; a batch concatenates them
    (``Task.concat_inputs``) and runs the model once."""

    async def predict_encoded(self, df: pd.DataFrame, inputs: Any,
                              errors: dict[int, str]) -> list[dict[str, Any]]:
        # one queue item per request; its "rows" are its file's rows
        return await self.predict(("<encoded>",), [(df, inputs, errors)])

    def _records(self, columns: tuple[str, ...], values: list[Any]) -> list[dict]:
        frames, parts, errs = zip(*values, strict=True)
        errors: dict[int, str] = {}
        offset = 0
        for frame, e in zip(frames, errs, strict=True):
            errors.update({offset + i: msg for i, msg in e.items()})
            offset += len(frame)
        df = pd.concat(frames, ignore_index=True)
        inputs = self.model.bundle.task.concat_inputs(list(parts))
        records = self.model.predict_encoded(df, inputs, errors).to_dict("records")
        # one record list per request (a request's file may hold several rows)
        out, start = [], 0
        for frame in frames:
            out.append(records[start:start + len(frame)])
            start += len(frame)
        return out

    @staticmethod
    def _joined(group: list) -> list[Any]:
        return [values[0] for values, _ in group]  # each request: one (df, inputs, errors)

    @staticmethod
    def _per_request(records: list[Any], group: list) -> list[Any]:
        return records  # _records already answers per request


# -- the app ---------------------------------------------------------------------------------
def create_app(models: dict[str, ServedModel], keys: KeyStore, audit: AuditLog,
               limits: Limits | None = None, secret_key: bytes | None = None,
               deid_ner: Any = None) -> FastAPI:
    """The application serving ``models`` (see :func:`healthnn.serve.models.load_models`).

    ``secret_key`` (the ``--key-file`` key) enables surrogate de-identification; ``deid_ner``
    (a :class:`healthnn.tasks.ner.NerTagger`) adds a trained NER model's spans to ``/deid``."""
    limits = limits or Limits()
    audit_secret = keys.audit_secret()  # fails early, with a hint, when no key exists
    limiter = (RateLimiter(limits.rate_per_minute) if limits.rate_file is None
               else SharedRateLimiter(limits.rate_per_minute, limits.rate_file))
    bearer = HTTPBearer(auto_error=False, description="an API key from 'healthnn keys add'")
    deidentifiers: dict[str, Any] = {}
    batchers = {name: Batcher(m) for name, m in models.items()}
    upload_batchers = {name: EncodedBatcher(m, max_rows=64) for name, m in models.items()}
    unpack_limit = int(limits.max_unpacked_mb * 2**20)

    app = FastAPI(
        title="healthnn", version=__version__, docs_url=None, redoc_url=None,
        description="Predictions, explanations and de-identification from trained healthnn "
        "bundles. Send 'Authorization: Bearer KEY' (keys from 'healthnn keys add').")
    app.state.models, app.state.audit, app.state.keys = models, audit, keys

    def mark(request: Request, endpoint: str) -> None:
        request.state.endpoint = endpoint

    def authorize(scope: str, endpoint: str) -> Callable[..., Awaitable[ApiKey]]:
        async def dependency(request: Request, cred: HTTPAuthorizationCredentials | None =
                             Depends(bearer)) -> ApiKey:
            mark(request, endpoint)
            if cred is None:
                raise HTTPException(401, "missing API key: send 'Authorization: Bearer KEY'",
                                    headers={"WWW-Authenticate": "Bearer"})
            key = keys.verify(cred.credentials)
            if key is None:
                raise HTTPException(401, "invalid or revoked API key",
                                    headers={"WWW-Authenticate": "Bearer"})
            request.state.key_name = key.name
            if scope not in key.scopes:
                raise HTTPException(403, f"this key may not use '{scope}' (its scopes: "
                                    f"{', '.join(key.scopes)})")
            wait = limiter.take(key.name)
            if wait > 0:
                raise HTTPException(429, f"rate limit of {limits.rate_per_minute} requests a "
                                    f"minute reached; retry in {math.ceil(wait)} s",
                                    headers={"Retry-After": str(math.ceil(wait))})
            return key
        return dependency

    def model_named(request: Request, name: str) -> ServedModel:
        m = models.get(name)
        if m is None:
            raise HTTPException(404, f"no model named {name[:80]!r} (models: "
                                f"{', '.join(models)})")
        request.state.model, request.state.model_version = m.name, m.version
        return m

    def input_hash(request: Request, *parts: bytes) -> None:
        h = hmac.new(audit_secret, b"healthnn audit input", hashlib.sha256)
        for p in parts:
            h.update(len(p).to_bytes(8, "big") + p)
        request.state.input_hash = h.hexdigest()

    async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
        return await bounded(run_in_threadpool(fn, *args))

    async def bounded(work: Awaitable[Any]) -> Any:
        try:
            return await asyncio.wait_for(work, limits.timeout_s)
        except TimeoutError:
            raise HTTPException(503, f"no answer within {limits.timeout_s:g} s; send fewer "
                                "rows") from None

    # -- errors ------------------------------------------------------------------------------
    @app.exception_handler(HealthnnError)
    async def _user_error(request: Request, exc: HealthnnError) -> JSONResponse:
        return JSONResponse({"detail": _hide_tmp(str(exc))}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else err.get("msg", ""))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # nothing about the input is echoed or logged (messages may quote it): the type and
        # the place only; the audit log records the 500
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
        print(f"healthnn serve: internal error {type(exc).__name__} at {where} "
              f"({request.method} {request.url.path[:100]})", file=sys.stderr)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    # -- endpoints ---------------------------------------------------------------------------
    @app.get("/health", response_model=Health, tags=["service"])
    async def health(request: Request) -> Health:
        """Liveness: no key needed."""
        mark(request, "/health")
        return Health(models=len(models), version=__version__)

    @app.get("/models", response_model=ModelList, responses=_ERRORS, tags=["models"])
    async def list_models(key: ApiKey = Depends(authorize("predict", "/models"))) -> ModelList:
        """The models served: name, version, task, input schema and test metrics."""
        return ModelList(models=[_info(m) for m in models.values()])

    @app.post("/models/{name}/predict", response_model=PredictResponse, responses=_ERRORS,
              tags=["models"])
    async def predict(request: Request, name: str, body: PredictRequest,
                      key: ApiKey = Depends(authorize("predict", "/models/{name}/predict"))
                      ) -> JSONResponse:
        """Predict JSON rows (tables, SMILES, text). Rows that cannot be predicted say why in
        ``error``; the others are predicted."""
        m = model_named(request, name)
        input_hash(request, name.encode(), _canonical(body.rows))
        columns, values = _rows_text(body.rows, m)
        records = await bounded(batchers[m.name].predict(columns, values))
        return _predict_response(m, records)

    @app.post("/models/{name}/predict/upload", response_model=PredictResponse,
              responses=_ERRORS, tags=["models"])
    async def predict_upload(request: Request, name: str, file: UploadFile = File(...),
                             key: ApiKey = Depends(authorize("predict",
                                                             "/models/{name}/predict/upload"))
                             ) -> JSONResponse:
        """Predict an uploaded file: an image for image models, a CSV/TSV/Parquet table of
        rows for the others (see the model's ``input.accept``)."""
        m = model_named(request, name)
        data = await file.read()
        input_hash(request, name.encode(), data)
        filename = file.filename or ""
        _check_upload(m, filename, data, unpack_limit)
        # decoded in memory where the format allows (images), then predicted in one batch
        # with the uploads that arrived meanwhile; other files go through a temporary file
        got = (await in_thread(m.bundle.task.encode_upload, _client_name(filename), data)
               if m.takes_encoded else None)
        if got is not None:
            records = await bounded(upload_batchers[m.name].predict_encoded(*got))
            return _predict_response(m, records)
        out = await in_thread(_predict_upload, m, filename, data, unpack_limit)
        return _predict_response(m, out.to_dict("records"))

    @app.post("/models/{name}/explain", response_model=ExplainResponse, responses=_ERRORS,
              tags=["models"])
    async def explain(request: Request, name: str, body: ExplainRequest,
                      key: ApiKey = Depends(authorize("explain", "/models/{name}/explain"))
                      ) -> ExplainResponse:
        """Explain JSON rows: feature contributions (tables), atom attributions drawn on the
        molecule (SMILES)."""
        m = model_named(request, name)
        input_hash(request, name.encode(), _canonical(body.rows))
        df = _rows_frame(body.rows, m)
        files = await in_thread(m.explain, df, None, body.target_class)
        return ExplainResponse(model=m.name, version=m.version, files=files)

    @app.post("/models/{name}/explain/upload", response_model=ExplainResponse,
              responses=_ERRORS, tags=["models"])
    async def explain_upload(request: Request, name: str, file: UploadFile = File(...),
                             target_class: str | None = Form(None, max_length=200),
                             key: ApiKey = Depends(authorize("explain",
                                                             "/models/{name}/explain/upload"))
                             ) -> ExplainResponse:
        """Explain an uploaded file (Grad-CAM overlay for an image)."""
        m = model_named(request, name)
        data = await file.read()
        input_hash(request, name.encode(), data)
        files = await in_thread(_explain_upload, m, file.filename or "", data, target_class,
                                unpack_limit)
        return ExplainResponse(model=m.name, version=m.version, files=files)

    @app.post("/deid", response_model=DeidResponse, responses=_ERRORS, tags=["privacy"])
    async def deid(request: Request, body: DeidRequest,
                   key: ApiKey = Depends(authorize("deid", "/deid"))) -> DeidResponse:
        """Remove protected health information from a note (tag: [NAME]; mask: ****;
        surrogate: consistent fake values, per ``patient``)."""
        input_hash(request, body.text.encode("utf-8", "surrogatepass"),
                   (body.patient or "").encode("utf-8", "surrogatepass"))
        if body.mode == "surrogate" and secret_key is None:
            raise HTTPException(422, "surrogate mode needs a server started with --key-file; "
                                "use mode tag or mask")
        if body.mode not in deidentifiers:
            from healthnn.privacy.deid import Deidentifier

            deidentifiers[body.mode] = Deidentifier(  # one NER model shared by the modes
                mode=body.mode, key=secret_key if body.mode == "surrogate" else None,
                ner=deid_ner)
        text, spans = await in_thread(deidentifiers[body.mode].deidentify, body.text,
                                      body.patient)
        return DeidResponse(text=text, spans=[{"start": s.start, "end": s.end, "label": s.label}
                                              for s in spans])

    # -- web page ----------------------------------------------------------------------------
    static = resources.files("healthnn.serve") / "static"

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        mark(request, "/")
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.add_middleware(BodyLimitMiddleware, max_bytes=int(limits.max_body_mb * 2**20))
    app.add_middleware(AuditMiddleware, audit=audit)
    return app


# -- helpers ---------------------------------------------------------------------------------
def _info(m: ServedModel) -> ModelInfo:
    test = (m.bundle.metrics or {}).get("test", {})
    metrics = {k: (v.get("value") if isinstance(v, dict) else None) for k, v in test.items()}
    metrics = {k: (None if v is None or (isinstance(v, float) and not math.isfinite(v))
                   else float(v)) for k, v in metrics.items()}
    return ModelInfo(name=m.name, version=m.version, task=m.task, runtime=m.runtime,
                     input=m.schema, metrics=metrics, conformal_level=_level(m))


def _level(m: ServedModel) -> float | None:
    c = getattr(m.bundle, "conformal", None)
    return round(1.0 - float(c["alpha"]), 6) if c else None


def _canonical(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str).encode()


def _rows_text(rows: list[dict[str, Any]], m: ServedModel
               ) -> tuple[tuple[str, ...], list[list[str | None]]]:
    """JSON rows as the text cells a file would give (so a row scores as it would in a CSV):
    the columns in order of appearance, and one list of cells per row."""
    if not m.schema.get("rows", True):
        raise HTTPException(422, f"model '{m.name}' takes files: POST them to "
                            f"/models/{m.name}/predict/upload")
    if any(len(r) > 10_000 for r in rows):
        raise HTTPException(422, "a row has more than 10000 columns")
    columns = tuple(dict.fromkeys(c for r in rows for c in r))
    values = [[None if r.get(c) is None else str(r[c]) for c in columns] for r in rows]
    return columns, values


def _rows_frame(rows: list[dict[str, Any]], m: ServedModel) -> pd.DataFrame:
    columns, values = _rows_text(rows, m)
    return pd.DataFrame(values, columns=list(columns), dtype=object)


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_UPLOAD_DIR = re.compile(r"[^\s'\"]*healthnn-upload-[^/\s'\"]+/")


def _hide_tmp(text: str) -> str:
    """Messages about an uploaded file name it as the client sent it, not the server's
    temporary folder (which tells a client nothing and leaks the server's layout)."""
    return _UPLOAD_DIR.sub("", text)


def _client_name(filename: str) -> str:
    """The uploaded file's own name (no folders), as messages about it show it."""
    return Path(filename.replace("\\", "/")).name[:100] or "upload"


def _check_upload(m: ServedModel, filename: str, data: bytes,
                  unpack_limit: int = 512 * 2**20) -> str:
    """The accepted suffix of an upload, or a 4xx saying what is wrong with it."""
    accept = m.schema.get("accept") or []
    if not m.schema.get("upload") or not accept:
        raise HTTPException(422, f"model '{m.name}' does not take file uploads; POST JSON rows "
                            f"to /models/{m.name}/predict")
    lower = filename.lower()
    suffix = next((s for s in sorted(accept, key=len, reverse=True) if lower.endswith(s)), None)
    if suffix is None:
        raise HTTPException(422, f"file type of {filename[:60]!r} is not accepted by model "
                            f"'{m.name}' (accepted: {', '.join(accept)})")
    if not data:
        raise HTTPException(422, "the uploaded file is empty")
    if suffix.endswith(".gz"):
        _check_gzip(data, unpack_limit)
    return suffix


def _saved_upload(m: ServedModel, filename: str, data: bytes, tmp: Path,
                  unpack_limit: int = 512 * 2**20) -> Path:
    suffix = _check_upload(m, filename, data, unpack_limit)
    stem = _SAFE.sub("_", Path(filename[: -len(suffix)]).name)[:60].strip("._") or "upload"
    path = tmp / f"{stem}{suffix}"
    path.write_bytes(data)
    return path


def _check_gzip(data: bytes, limit: int) -> None:
    """Refuse a compressed upload that would unpack to more than ``limit`` bytes (a
    decompression bomb) or is not gzip at all, before any reader unpacks it whole."""
    import zlib

    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    try:
        chunk = d.decompress(data, 1 << 20)
        while chunk:
            total += len(chunk)
            if total > limit:
                raise HTTPException(413, f"the file unpacks to more than {limit // 2**20} MB")
            chunk = d.decompress(d.unconsumed_tail, 1 << 20)
    except zlib.error:
        raise HTTPException(422, "the file is not valid gzip") from None


def _predict_upload(m: ServedModel, filename: str, data: bytes,
                    unpack_limit: int) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="healthnn-upload-") as tmp:
        path = _saved_upload(m, filename, data, Path(tmp), unpack_limit)
        df = m.bundle.task.read_inputs(path)
        if len(df) > MAX_ROWS:
            raise HTTPException(413, f"the file has {len(df)} rows; at most {MAX_ROWS} a "
                                "request")
        out = m.predict(df, file=path)
        if "error" in out.columns:
            out["error"] = [_hide_tmp(e) if isinstance(e, str) else e for e in out["error"]]
        return out


def _explain_upload(m: ServedModel, filename: str, data: bytes, target_class: str | None,
                    unpack_limit: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="healthnn-upload-") as tmp:
        path = _saved_upload(m, filename, data, Path(tmp), unpack_limit)
        df = m.bundle.task.read_inputs(path)
        return m.explain(df.head(20), file=path, target_class=target_class)


def _predict_response(m: ServedModel, records: list[dict[str, Any]]) -> JSONResponse:
    """The PredictResponse document, built directly (FastAPI would otherwise validate it a
    second time; the OpenAPI document still declares PredictResponse)."""
    rows = []
    n_errors = 0
    for i, rec in enumerate(records):
        values: dict[str, Any] = {}
        for c, v in rec.items():
            if c == "error":
                continue
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                v = None
            elif isinstance(v, str):
                pass
            elif hasattr(v, "item"):
                v = v.item()
            if v is not None and not isinstance(v, str):
                v = float(v)
                v = v if math.isfinite(v) else None
            values[str(c)] = v
        error = rec.get("error")
        error = "" if error is None or (isinstance(error, float) and error != error) else str(error)
        n_errors += bool(error)
        rows.append({"row": i + 1, "values": values, "error": error})
    return JSONResponse({"model": m.name, "version": m.version, "rows": rows,
                         "n_errors": n_errors, "conformal_level": _level(m)})
