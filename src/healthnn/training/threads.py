"""How many CPU threads PyTorch gets when the user does not say (issue 24).

PyTorch takes one thread per core. On a machine that other jobs share that is the slowest choice:
the threads of a training step wait for each other while the cores serve someone else (the notes
demo ran 3x faster with one thread beside another training job on 2 cores). The default here
leaves the cores that are busy alone: the cores minus the load average of the last minute,
rounded, at least 1. ``--threads N`` or ``OMP_NUM_THREADS`` still decide when given.
"""

from __future__ import annotations

import os

__all__ = ["free_cores"]


def free_cores(cores: int | None = None, load: float | None = None) -> int:
    """Cores not busy with other work: ``round(cores - load)``, between 1 and ``cores``.

    >>> free_cores(2, 0.1), free_cores(2, 1.2), free_cores(2, 3.5), free_cores(8, 2.4)
    (2, 1, 1, 6)
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform
            load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))
