"""Killable work processes: CPU-heavy request work that a timeout can really stop.

Python threads cannot be stopped, and a regular expression or an image decoder holds the GIL
while it runs, so work done in a thread keeps burning CPU (and stalls ``/health``) after the
request's timeout has answered. A :class:`WorkPool` runs such work in child processes
(``spawn``: clean interpreters; each one loads the bundles once, at start). A call that
overruns its timeout kills its child (SIGKILL) and starts a fresh one in the background; the
caller gets :class:`WorkTimeout` at once. Children exit with the server: they ask the kernel
for SIGKILL when their parent dies (``prctl(PR_SET_PDEATHSIG)``) and also watch the parent's
pid. Results travel back pickled (tensors included, by value).

>>> import time
>>> pool = WorkPool(1, None, ())
>>> pool.call(_echo, "hi", timeout=60)
'hi'
>>> try:
...     pool.call(_sleep, 30, timeout=0.5)
... except WorkTimeout:
...     print("stopped")
stopped
>>> pool.call(_echo, "again", timeout=60)
'again'
>>> pool.close()
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException

from healthnn.errors import HealthnnError

__all__ = ["WorkPool", "WorkTimeout", "WorkLost", "die_with_parent"]


class WorkTimeout(Exception):
    """The work did not finish in time; its process was killed."""


class WorkLost(Exception):
    """The work process died while working (it is replaced)."""


class _Remote(Exception):
    """An unexpected error in a work process: its type and location only."""


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux), and
    watch the parent's pid from a thread where that is not available."""
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os.kill(os.getpid(), sig)

    threading.Thread(target=watch, name="healthnn-parent-watch", daemon=True).start()


def _child(conn: Any, setup: Callable | None, setup_args: tuple) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when to stop
    try:
        if setup is not None:
            setup(*setup_args)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which logs it
        conn.send_bytes(pickle.dumps(("failed", type(exc).__name__)))
        return
    conn.send_bytes(pickle.dumps(("ready", None)))
    from healthnn.serve import work

    while True:
        try:
            fn, args = pickle.loads(conn.recv_bytes())
        except EOFError:
            return
        try:
            st = work.state() if setup is not None else None
            result = ("ok", fn(st, *args) if st is not None else fn(*args))
        except HTTPException as exc:
            result = ("http", (exc.status_code, str(exc.detail)))
        except HealthnnError as exc:
            result = ("user", (f"{type(exc).__module__}:{type(exc).__qualname__}", str(exc)))
        except Exception as exc:  # noqa: BLE001 - the type and place only (no message)
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
            result = ("internal", f"{type(exc).__name__} at {where}")
        conn.send_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


class _Proc:
    def __init__(self, ctx: Any, setup: Callable | None, setup_args: tuple) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child, setup, setup_args),
                                name="healthnn-work", daemon=True)
        self.proc.start()
        child.close()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


class WorkPool:
    """``size`` work processes; ``setup(*setup_args)`` runs once in each (then every call is
    ``fn(healthnn.serve.work.state(), *args)``; without a setup, ``fn(*args)``). The
    processes start at the first call (or at once with ``eager``), so a server that never
    gets CPU-heavy requests never pays for them, and its start is not slowed down."""

    RESTARTS = 50  # failed starts in a row before the pool gives up (a broken setup)

    def __init__(self, size: int, setup: Callable | None, setup_args: tuple, *,
                 eager: bool = False) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._setup, self._args = setup, setup_args
        self._idle: queue.Queue[_Proc] = queue.Queue()
        self._closed = False
        self._failed_starts = 0
        self.kills = 0
        self._starts: queue.Queue[bool] = queue.Queue()
        threading.Thread(target=self._spawner, name="healthnn-work-spawner",
                         daemon=True).start()
        self._size, self._started = size, False
        self._start_lock = threading.Lock()
        if eager:
            self._start_all()

    def _start_all(self) -> None:
        with self._start_lock:
            if not self._started:
                self._started = True
                for _ in range(self._size):
                    self._start()

    def _start(self) -> None:
        self._starts.put(True)

    def _spawner(self) -> None:
        # one long-lived thread starts every process: the kernel's parent-death signal
        # follows the thread that created a child, not the process
        while self._starts.get() and not self._closed:
            p = _Proc(self._ctx, self._setup, self._args)
            try:
                status, what = pickle.loads(p.conn.recv_bytes())
            except (EOFError, OSError):
                status, what = "failed", f"exit code {p.proc.exitcode}"
            if status == "ready" and not self._closed:
                self._failed_starts = 0
                self._idle.put(p)
                continue
            p.kill()
            if status != "ready" and not self._closed:
                self._failed_starts += 1
                print(f"healthnn serve: a work process failed to start ({what})",
                      file=sys.stderr, flush=True)
                if self._failed_starts < self.RESTARTS:
                    time.sleep(min(5.0, 0.1 * 2 ** self._failed_starts))
                    self._start()

    def call(self, fn: Callable, *args: Any, timeout: float) -> Any:
        """``fn``'s result, computed in a work process; blocks (call it from a thread).
        Raises :class:`WorkTimeout` after ``timeout`` seconds (waiting for a free process
        included), the work's ``HTTPException`` or ``HealthnnError`` as it was raised."""
        if not self._started:
            self._start_all()
        deadline = time.monotonic() + timeout
        try:
            p = self._idle.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise WorkTimeout from None
        try:
            p.conn.send_bytes(pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL))
            ready = p.conn.poll(max(0.0, deadline - time.monotonic()))
            if not ready:
                raise WorkTimeout
            status, value = pickle.loads(p.conn.recv_bytes())
        except WorkTimeout:
            self.kills += 1
            self._replace(p)
            raise
        except (EOFError, OSError, pickle.PickleError):
            self._replace(p)
            raise WorkLost from None
        self._idle.put(p)
        return _result(status, value)

    def _replace(self, p: _Proc) -> None:
        p.kill()
        self._start()

    def close(self) -> None:
        self._closed = True
        self._starts.put(False)
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return


def _result(status: str, value: Any) -> Any:
    if status == "ok":
        return value
    if status == "http":
        raise HTTPException(value[0], value[1])
    if status == "user":
        cls = _error_class(value[0])
        err = cls.__new__(cls)
        HealthnnError.__init__(err, value[1])
        raise err
    print(f"healthnn serve: internal error in a work process: {value}", file=sys.stderr,
          flush=True)
    raise _Remote("work process error")


def _error_class(name: str) -> type:
    """The HealthnnError subclass ``module:qualname`` (else HealthnnError itself)."""
    import importlib

    module, _, qualname = name.partition(":")
    try:
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError, ValueError):
        return HealthnnError
    return cls if isinstance(cls, type) and issubclass(cls, HealthnnError) else HealthnnError


def _echo(x: Any) -> Any:
    return x


def _sleep(s: float) -> None:
    time.sleep(s)
