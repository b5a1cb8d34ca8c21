"""Progress a person can read where no progress bar shows (issue 24).

Under ``nohup``, CI or a batch scheduler standard error is not a terminal, so tqdm hides its bar
and a long run would look dead. :class:`EpochLines` then writes one line per epoch (losses, the
monitored metric, seconds) with an estimate of the time left. On a terminal the bar shows the
epochs, and the estimate is written once, after the first epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["EpochLines", "bar_is_hidden", "format_seconds"]


def bar_is_hidden(bar: Any) -> bool:
    """True when a tqdm bar exists but does not show (its output is not a terminal)."""
    return bar is None or bool(getattr(bar, "disable", False))


def format_seconds(seconds: float) -> str:
    """A short human duration.

    >>> format_seconds(4.2), format_seconds(75), format_seconds(7300)
    ('4 s', '1 min 15 s', '2 h 1 min')
    """
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {(s % 3600) // 60} min"


class EpochLines:
    """Writes epoch lines through ``log``.

    Parameters
    ----------
    epochs : int
        The epoch limit (``[train] epochs``).
    monitor : str
        The monitored quantity (``[train] monitor``), shown in each line.
    log : callable
        Where lines go (the trainer's log).
    every : bool
        True to write a line per epoch (no visible bar); False writes only the estimate after
        the first epoch.
    enabled : bool
        False writes nothing (``[train] progress = false``, or a worker process).

    Examples
    --------
    >>> out = []
    >>> lines = EpochLines(10, "auroc", out.append, every=True, enabled=True)
    >>> lines.start()
    >>> lines.done({"epoch": 1, "train_loss": 0.5, "val_loss": 0.4, "val_auroc": 0.8},
    ...            best_epoch=1, patience_left=5)
    >>> out[0].startswith("epoch 1/10: train loss 0.5000, val loss 0.4000, val auroc 0.8000, ")
    True
    >>> out[0].split("; ")[-1]
    'at most 0 s left (stops after 5 more without improvement)'

    """

    def __init__(self, epochs: int, monitor: str, log: Callable[[str], None], *,
                 every: bool, enabled: bool) -> None:
        self.epochs, self.monitor, self.log = epochs, monitor, log
        self.every, self.enabled = every, enabled
        self._started = 0.0
        self._seconds: list[float] = []

    def start(self) -> None:
        """Call at the start of an epoch."""
        self._started = time.perf_counter()

    def done(self, row: dict[str, float], *, best_epoch: int, patience_left: int) -> None:
        """Call after an epoch with its history row."""
        self._seconds.append(time.perf_counter() - self._started)
        epoch = int(row["epoch"])
        if not self.enabled or (not self.every and len(self._seconds) > 1):
            return
        left = self._left(epoch, patience_left)
        if not self.every:  # a bar shows the rest; one estimate after the first epoch
            self.log(f"first epoch took {format_seconds(self._seconds[0])}; {left}")
            return
        parts = [f"train loss {row['train_loss']:.4f}", f"val loss {row['val_loss']:.4f}"]
        key = f"val_{self.monitor}"
        if self.monitor != "val_loss" and key in row:
            parts.append(f"val {self.monitor} {row[key]:.4f}")
        best = "" if best_epoch == epoch else f" (best: epoch {best_epoch})"
        self.log(f"epoch {epoch}/{self.epochs}: {', '.join(parts)}{best}, "
                 f"{self._seconds[-1]:.1f} s; {left}")

    def _left(self, epoch: int, patience_left: int) -> str:
        remaining = self.epochs - epoch
        if remaining <= 0:
            return "last epoch"
        per_epoch = sum(self._seconds) / len(self._seconds)
        most = f"at most {format_seconds(per_epoch * remaining)} left"
        if 0 < patience_left < remaining:  # early stopping may end it sooner
            return f"{most} (stops after {patience_left} more without improvement)"
        return most
