"""What a training run records in ``manifest.json``: data fingerprints, split sizes, seeds,
the training history; and the key that lets ``--resume`` trust a checkpoint."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from healthnn.config import Config
from healthnn.data.tables import fingerprint, fingerprint_files
from healthnn.pipeline.data import Labelled
from healthnn.pipeline.fit import Fitted
from healthnn.pipeline.score import Scored
from healthnn.pipeline.split import SPLITS, Splits

__all__ = ["data_info", "data_infos", "split_summary", "run_key", "train_manifest"]


def data_info(task: Any, data: Labelled) -> dict[str, Any]:
    """Path, sha256 and row count of a data file; with ``linked_files`` (the images a manifest
    names), a second fingerprint over those files' bytes."""
    file = Path(data.file)
    info: dict[str, Any] = {"path": str(file), "sha256": fingerprint(file), "rows": len(data)}
    linked = task.linked_files(data.df, file)
    if linked:
        info["linked_files"] = fingerprint_files(linked, file.parent)
    return info


def data_infos(task: Any, splits: Splits) -> dict[str, dict[str, Any]]:
    """:func:`data_info` of ``[data] train`` and, when it gave the test rows, ``[data] test``."""
    infos = {"train": data_info(task, splits.data)}
    if "test" not in splits.idx:
        infos["test"] = data_info(task, splits["test"])
    return infos


def split_summary(task: Any, y: dict[str, np.ndarray]) -> dict[str, Any]:
    """Rows of a split and, for tasks with strata, the count of each."""
    info: dict[str, Any] = {"rows": int(len(next(iter(y.values()))))}
    strata = task.strata(y)
    if strata is not None:
        values, counts = np.unique(strata.astype(str), return_counts=True)
        info["counts"] = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
    return info


def run_key(config: Config, infos: dict[str, Any]) -> str:
    """A hash of what determines training (config and data), so ``--resume`` only continues a
    checkpoint of the same run."""
    d = config.to_dict()
    for key in ("epochs", "progress", "patience"):  # may change when resuming
        d["train"].pop(key, None)
    d.pop("report", None)  # the report does not change training
    text = json.dumps([d, {k: v["sha256"] + v.get("linked_files", {}).get("sha256", "")
                           for k, v in infos.items()}],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def train_manifest(config: Config, task: Any, splits: Splits, infos: dict[str, Any],
                   fitted: Fitted, scored: Scored, *, notes: list[str], started: float,
                   curve: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's part of ``manifest.json`` (the bundle adds format, versions and model)."""
    result = fitted.result
    members = len(fitted.members)
    op = scored.operating
    return {
        "data": infos,
        "splits": {name: split_summary(task, splits[name].y) for name in SPLITS},
        "seed": {"split": config.split.seed, "train": config.train.seed},
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "stopped_early": result.stopped_early,
            "monitor": config.train.monitor,
            "seconds": round(time.time() - started, 2),
            "history": result.history,
            "privacy": result.privacy,
            **({"federated": result.federated} if result.federated else {}),
        },
        **({"ensemble": {"members": members,
                         "seeds": [config.train.seed + i for i in range(members)],
                         "best_epochs": [r.best_epoch for r in fitted.results]}}
           if members > 1 else {}),
        **({"learning_curve": curve} if curve else {}),
        **({"operating_point": task.operating_summary(op, scored.outputs["test"],
                                                      splits["test"].y)} if op else {}),
        "features": task.feature_names,
        "notes": notes,
    }
