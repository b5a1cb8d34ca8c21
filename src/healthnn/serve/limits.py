"""Request limits: the body size, the rate per key and per client address, and the
(rate-limited) token buckets shared by ``--workers N`` processes.

>>> RateLimiter(per_minute=2).take("a"), RateLimiter(per_minute=0).take("a")
(0.0, 0.0)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Limits", "BodyLimitMiddleware", "RateLimiter", "SharedRateLimiter", "send_json"]


@dataclass
class Limits:
    """Request limits. ``rate_per_minute`` is per API key (a token bucket, bursts allowed up
    to the same number), counted across worker processes when ``rate_file`` names their
    shared bucket file; requests without a valid key share ``anon_rate_per_minute`` per
    client address. ``timeout_s`` bounds the model work of one request; with
    ``work_processes`` > 0 the CPU-heavy part (de-identification, decoding uploads,
    explanations) runs in that many child processes, and one that overruns is killed
    (:mod:`healthnn.serve.isolation`). ``max_pixels`` and ``max_unpacked_mb`` are checked
    from an upload's headers before anything decodes it (:mod:`healthnn.serve.uploads`)."""

    max_body_mb: float = 10.0
    rate_per_minute: int = 600
    timeout_s: float = 30.0
    max_unpacked_mb: float = 512.0  # any compressed upload may unpack to at most this
    rate_file: str | None = None  # shared by the worker processes of one server (--workers)
    anon_rate_per_minute: int = 60  # requests without a valid key, per client address
    max_pixels: int = 50_000_000  # an uploaded image's declared width x height x frames
    work_processes: int = 0  # CPU-heavy work in this many killable processes (0: threads)


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
                return await send_json(send, 400, "invalid Content-Length header")
            if n > self.max_bytes:
                return await send_json(send, 413, self._message())
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
                await send_json(send, 413, self._message())

    def _message(self) -> str:
        return (f"request body larger than {self.max_bytes / 2**20:g} MB; send fewer rows or a "
                "smaller file")


async def send_json(send: Callable, status: int, detail: str) -> None:
    """Send a complete ``{"detail": ...}`` response on a raw ASGI ``send``."""
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
