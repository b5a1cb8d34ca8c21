"""Stage 2: splitting the labelled rows into train / val / test, and the folds of K-fold CV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from healthnn.config import Config
from healthnn.errors import ConfigError
from healthnn.pipeline.data import Labelled, strata_of

__all__ = ["Splits", "make_splits", "splits_at", "fold_indices"]

SPLITS = ("train", "val", "test")


@dataclass
class Splits:
    """The rows of each split, and where they came from.

    ``data`` is the usable rows of ``[data] train``; ``idx`` the positions in ``data`` of the
    ``train`` and ``val`` rows (and of ``test`` unless a test file supplied it); ``strata``
    and ``groups`` are those of ``data`` (for resampling within the split).
    """

    parts: dict[str, Labelled]
    data: Labelled
    idx: dict[str, np.ndarray]
    strata: np.ndarray | None
    groups: np.ndarray | None

    def __getitem__(self, name: str) -> Labelled:
        return self.parts[name]

    def frames(self) -> dict[str, tuple[Any, Any, Any]]:
        """``{split: (df, labels, file)}``, as baselines, reports and federated training take."""
        return {name: part.frame() for name, part in self.parts.items()}

    @property
    def notes(self) -> list[str]:
        """Rows the task left out of the training (and test) file."""
        return self.data.notes + (self.parts["test"].notes if "test" not in self.idx else [])


def make_splits(config: Config, task: Any, data: Labelled, test: Labelled | None = None
                ) -> Splits:
    """``[split]`` applied to ``data``: a test file, when given, is the test split; the data's
    own official split (a MedMNIST .npz) is used when it has one."""
    groups = task.groups(data.df) if config.data.group else None
    strata = strata_of(config, task, data.y)
    preset = task.predefined_split(data.df)
    s = config.split
    if test is not None:
        idx = ({k: preset[k] for k in ("train", "val")} if preset else
               task.split(data.df, data.y, test_size=None, val_size=s.val_size, seed=s.seed,
                          strata=strata, groups=groups))
    else:
        idx = preset or task.split(data.df, data.y, test_size=s.test_size, val_size=s.val_size,
                                   seed=s.seed, strata=strata, groups=groups)
    return _build(data, idx, test, strata, groups)


def splits_at(config: Config, task: Any, data: Labelled, idx: dict[str, np.ndarray], *,
              test: Labelled | None = None) -> Splits:
    """Splits at given positions of ``data`` (``train``, ``val`` and ``test``, or the rows of
    ``test``): the folds of cross-validation, learning-curve subsets, a benchmark's split."""
    idx = {k: np.asarray(v, dtype=np.int64) for k, v in idx.items()}
    if test is not None:
        idx.pop("test", None)
    groups = task.groups(data.df) if config.data.group else None
    return _build(data, idx, test, strata_of(config, task, data.y), groups)


def _build(data: Labelled, idx: dict[str, np.ndarray], test: Labelled | None,
           strata: np.ndarray | None, groups: np.ndarray | None) -> Splits:
    parts = {name: data.take(idx[name]) for name in ("train", "val")}
    if test is not None:
        reset = test.df.reset_index(drop=True)
        parts["test"] = Labelled(reset, test.y, test.ok, test.rows, test.file, test.notes)
    else:
        parts["test"] = data.take(idx["test"])
    return Splits({k: parts[k] for k in SPLITS}, data, dict(idx), strata, groups)


def fold_indices(config: Config, n: int, strata: np.ndarray | None,
                 groups: np.ndarray | None) -> list[dict[str, np.ndarray]]:
    """``{"train", "val", "test"}`` row positions of each fold of ``[split] folds``."""
    from healthnn.data.split import holdout, kfold_indices

    s = config.split
    try:
        tests = kfold_indices(n, s.folds, seed=s.seed, strata=strata, groups=groups)
    except ConfigError as exc:
        exc.file = exc.file or config.source
        raise
    out = []
    for k, test in enumerate(tests):
        rest = np.setdiff1d(np.arange(n), test)
        tr, va = holdout(len(rest), s.val_size, seed=s.seed + 1 + k,
                         strata=None if strata is None else strata[rest],
                         groups=None if groups is None else groups[rest])
        out.append({"train": rest[tr], "val": rest[va], "test": test})
    return out
