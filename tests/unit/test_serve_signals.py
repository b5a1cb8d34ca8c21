"""healthnn.serve.signals: a SIGINT handler clobbered behind Python's back (as RDKit's
concurrent standardisation does) is repaired by the server's guard."""

from __future__ import annotations

import asyncio
import ctypes
import signal

from healthnn.serve.signals import _repair_forever


def _caught(sig: int) -> bool:
    with open("/proc/self/status") as fh:
        mask = next(int(line.split()[1], 16) for line in fh if line.startswith("SigCgt"))
    return bool(mask >> (sig - 1) & 1)


def test_a_clobbered_sigint_handler_is_reinstalled():
    hits = []
    old = signal.signal(signal.SIGINT, lambda *a: hits.append(1))
    try:
        libc = ctypes.CDLL(None)
        libc.signal.restype = ctypes.c_void_p
        libc.signal(signal.SIGINT, ctypes.c_void_p(1))  # SIG_IGN, set in C as RDKit does
        assert not _caught(signal.SIGINT)

        async def one_round() -> None:
            task = asyncio.create_task(_repair_forever(10))
            await asyncio.sleep(0.05)
            task.cancel()

        asyncio.run(one_round())
        assert _caught(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        assert hits == [1]
    finally:
        signal.signal(signal.SIGINT, old)
