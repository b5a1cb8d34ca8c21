"""Stage 1: reading labelled rows, the one place for training, testing, evaluation and CV."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthnn.config import Config
from healthnn.errors import DataError
from healthnn.tasks.base import Labels, take

__all__ = ["Labelled", "read_labelled", "read_training", "take", "strata_of", "require_all"]



@dataclass
class Labelled:
    """Labelled rows read from one file.

    ``df`` keeps the file's row index (so errors found later name the right row); ``rows``
    holds the file's 1-based row numbers of each kept row, for messages and prediction files;
    ``ok`` says which rows have an observed outcome; ``notes`` name the rows a task left out.
    """

    df: pd.DataFrame
    y: Labels
    ok: np.ndarray
    rows: np.ndarray
    file: Path
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.df)

    def take(self, idx: np.ndarray) -> Labelled:
        """The rows at positions ``idx`` (file row numbers kept)."""
        return Labelled(self.df.iloc[idx], take(self.y, idx), self.ok[idx], self.rows[idx],
                        self.file, [])

    def frame(self) -> tuple[pd.DataFrame, Labels, Path]:
        """``(df, labels, file)``: the form baselines, reports and federated training take."""
        return self.df, self.y, self.file


def read_labelled(task: Any, file: Path, *, training: bool) -> Labelled:
    """Read ``file`` with its labels.

    ``training=True``: only the rows the task can use (the others are named in ``notes``),
    and every one must have an observed outcome (a :class:`DataError` otherwise).
    ``training=False`` (evaluation): every row, in file order, with ``ok`` marking the rows
    that have an outcome; the caller reports the others by row.
    """
    file = Path(file)
    df = task.read(file)
    if not training:
        df = df.reset_index(drop=True)
    y, ok = task.labels(df, file)
    data = Labelled(df, y, np.asarray(ok, dtype=bool), np.arange(len(df)) + 1, file)
    if not training:
        return data
    usable, notes = task.usable_rows(df, y, ok, file)
    if not usable.all():
        data = data.take(np.flatnonzero(usable))
    data.notes = list(notes)
    require_all(data.ok, file, task)
    return data


def read_training(config: Config, task: Any) -> tuple[Labelled, Labelled | None]:
    """The usable rows of ``[data] train`` and, when the config names one, ``[data] test``."""
    train = read_labelled(task, config.resolve(config.data.train), training=True)
    if not config.data.test:
        return train, None
    return train, read_labelled(task, config.resolve(config.data.test), training=True)


def require_all(ok: np.ndarray, file: Path, task: Any) -> None:
    """A :class:`DataError` naming the first training row without an observed outcome."""
    if not ok.all():
        pos = int(np.flatnonzero(~ok)[0])
        cols = ", ".join(f"'{c}'" for c in task.target_columns())
        raise DataError(
            f"{int((~ok).sum())} row(s) have no value in {cols}; the first is row {pos + 1}",
            file=str(file), hint="training needs an observed outcome in every row: remove or "
            "complete these rows")


def strata_of(config: Config, task: Any, y: Labels) -> np.ndarray | None:
    """Labels to stratify splits by (None for ``[split] method`` random or group)."""
    if config.split.method in ("random", "group"):
        return None
    return task.strata(y)
