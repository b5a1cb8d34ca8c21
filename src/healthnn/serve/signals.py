"""Keep Ctrl-C and SIGTERM working while the server runs.

RDKit's long-running operations (molecule standardisation among them) install their own
SIGINT handler and restore the previous one afterwards; when two run at once in different
threads, RDKit's handler can stay installed, and from then on SIGINT no longer reaches the
server (``healthnn serve`` with a molecule model then ignored Ctrl-C and its stop signal
after a few hundred predictions; reproduced with four threads standardising at once).
:func:`guard_signals` re-installs the Python-level handlers of SIGINT and SIGTERM (uvicorn's)
twice a second from the event loop's thread, so a clobbered handler is repaired at once.
"""

from __future__ import annotations

import asyncio
import signal
import threading

__all__ = ["guard_signals", "SIGNALS"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _repair_forever(period: float) -> None:
    while True:
        for sig in SIGNALS:
            handler = signal.getsignal(sig)
            if callable(handler):
                signal.signal(sig, handler)  # sets the C-level handler again
        await asyncio.sleep(period)


async def guard_signals(period: float = 0.5) -> None:
    """A startup hook: start the repair loop when the server runs in the main thread (the
    command line); in other threads (tests) signals are not the server's to handle."""
    if threading.current_thread() is threading.main_thread():
        task = asyncio.get_running_loop().create_task(_repair_forever(period))
        _TASKS.add(task)  # keep a reference: the loop holds tasks weakly


_TASKS: set[asyncio.Task] = set()
