"""Keep task code's console notes out of the server's log.

The tasks print notes and per-row warnings for the command line (``warning: row 3: image
/path/x.png: cannot decode ...``); in the server those lines would put uploaded file names
and row content into the log (issue 23.11). :func:`quiet` silences ``print`` to stdout and
stderr *in the calling thread only* (a thread-aware wrapper around both streams, installed
once), so the server's own log lines from other threads still appear; the same text reaches
the client as the row's ``error``.

>>> import sys
>>> with quiet():
...     print("patient Zebediah", file=sys.stderr)
>>> print("shown")
shown
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

__all__ = ["quiet", "quietly"]


class _Flag(threading.local):
    on = False


_FLAG = _Flag()


class _ThreadFiltered:
    """A stream that drops writes from threads inside :func:`quiet`."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def write(self, text: str) -> int:
        return len(text) if _FLAG.on else self._real.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _install() -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, _ThreadFiltered):
            setattr(sys, name, _ThreadFiltered(stream))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence this thread's prints while the block runs."""
    _install()
    before = _FLAG.on
    _FLAG.on = True
    try:
        yield
    finally:
        _FLAG.on = before


def quietly(fn: Callable) -> Callable:
    """``fn`` run inside :func:`quiet` (a decorator; the function stays picklable)."""
    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with quiet():
            return fn(*args, **kwargs)
    return run
