"""K-fold cross-validation (``[split] method = "kfold"``): one run per fold on rows read
once, per-fold and pooled out-of-fold metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from healthnn.bundle import write_json
from healthnn.baselines.compare import cv_summary
from healthnn.config import Config
from healthnn.errors import ConfigError
from healthnn.pipeline.common import Log, as_config, stderr, training_rows
from healthnn.pipeline.data import strata_of
from healthnn.pipeline.run import Run, run_at
from healthnn.pipeline.split import fold_indices

__all__ = ["cross_validate", "pooled_metrics"]


def cross_validate(config: Config | str | Path | dict[str, Any], out: str | Path, *,
                   log: Log | None = None) -> dict[str, Any]:
    """K-fold cross-validation (``[split] method = "kfold"``, ``folds = K``).

    Trains one bundle per fold (``out/fold_<k>``: a normal bundle with report, whose test
    split is that fold) and writes ``out/cv.json``: each fold's test metrics with bootstrap
    intervals, their mean and SD across folds, and *pooled* metrics computed over all
    out-of-fold predictions at once (every row scored once, by a model that never saw it).
    """
    config, log = as_config(config), log or stderr
    if config.data.test:
        raise ConfigError("split.method = 'kfold' cross-validates [data] train; a separate "
                          "test file is not used", file=config.source, key="data.test",
                          hint="remove [data] test, or use split.method = 'auto' to evaluate "
                               "on the test file")
    out = Path(out)
    task, data = training_rows(config)
    folds = fold_indices(config, len(data), strata_of(config, task, data.y),
                         task.fold_groups(data.df))
    runs = []
    for k, idx in enumerate(folds, start=1):
        log(f"fold {k} of {len(folds)}: train {len(idx['train'])}, val {len(idx['val'])}, "
            f"test {len(idx['test'])} rows")
        runs.append(run_at(config, data, idx, out / f"fold_{k}", log=log))
    per_fold = [r.bundle.metrics["test"] for r in runs]
    result = {
        "method": "kfold", "folds": len(folds), "seed": config.split.seed,
        "rows": len(data), "fold_rows": [int(len(f["test"])) for f in folds],
        "per_fold": per_fold, "mean_sd": _summary(per_fold),
        "pooled": pooled_metrics(runs, config.split.seed),
        "bundles": [f"fold_{k}" for k in range(1, len(folds) + 1)],
        "baselines": cv_summary([r.bundle.metrics for r in runs]),  # issue 20
    }
    note = task.pooled_note()
    if note:
        result["pooled_note"] = note
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "cv.json", result)
    return result


def pooled_metrics(runs: list[Run], seed: int) -> dict[str, Any]:
    """Metrics (with bootstrap intervals) of the test rows of all runs together, each run's
    outputs put on the last run's output scale (:meth:`Task.outputs_on_scale_of`)."""
    ref = runs[-1].task
    outputs = torch.cat([r.task.outputs_on_scale_of(r.scored.outputs["test"], ref)
                         for r in runs])
    first = runs[0].splits["test"].y
    labels = {k: np.concatenate([r.splits["test"].y[k] for r in runs]) for k in first}
    return ref.evaluate(outputs, labels, seed=seed)


def _summary(per_fold: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation across folds of each metric's point estimate."""
    out = {}
    for name in per_fold[0]:
        vals = np.array([f[name]["value"] for f in per_fold if name in f], dtype=float)
        vals = vals[np.isfinite(vals)]
        if len(vals):
            out[name] = {"mean": float(vals.mean()),
                         "sd": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0}
    return out
