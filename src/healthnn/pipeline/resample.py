"""Stage 5: resampling. K-fold cross-validation, out-of-fold outputs (to choose an operating
point on every training row) and learning curves: each fits extra models on splits of rows
already read, through :func:`healthnn.pipeline.run.run_split` (never :func:`train`)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from healthnn.bundle import write_json
from healthnn.config import Config, load_config
from healthnn.errors import ConfigError
from healthnn.pipeline.data import Labelled, strata_of
from healthnn.pipeline.run import (
    Run,
    as_config,
    check_single_process,
    new_task,
    quiet,
    run_split,
    stderr,
    training_rows,
)
from healthnn.pipeline.split import Splits, fold_indices, splits_at

__all__ = ["cross_validate", "out_of_fold_outputs", "learning_curve", "pooled_metrics",
           "run_at"]

Log = Callable[[str], None]


def run_at(config: Config, data: Labelled, idx: dict[str, np.ndarray], out: Path, *,
           test: Labelled | None = None, log: Log = quiet,
           on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> Run:
    """A fresh task fitted and scored on the rows of ``data`` at ``idx`` (``train``, ``val``
    and ``test``, or ``test`` from ``test``), saved as a bundle in ``out``."""
    task = new_task(config)
    run = run_split(config, task, splits_at(config, task, data, idx, test=test), Path(out),
                    log=log, on_epoch=on_epoch)
    assert run is not None  # resampling runs in one process
    return run


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


def out_of_fold_outputs(config: Config, data: Labelled, rows: np.ndarray,
                        strata: np.ndarray | None, groups: np.ndarray | None, work: Path, *,
                        log: Log | None = None) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Outputs of ``rows`` (positions in ``data``), each from a model that never saw it.

    ``rows`` are split into ``[eval] operating_point_folds`` (stratified / grouped as the
    config's split) and one extra model per fold is trained on the other folds (with its own
    validation split, ``[split] val_size``; one seed, no report) and scores its fold. Returns
    the outputs and labels in the order of ``rows``. Used to choose ``[eval]
    operating_point`` on every training row rather than on the validation split alone;
    ``work`` holds the extra bundles and is removed.
    """
    from healthnn.data.split import holdout, kfold_indices
    from healthnn.training import seed_everything

    log = log or quiet
    k = config.eval.operating_point_folds
    check_single_process(config)
    sub_strata = None if strata is None else np.asarray(strata)[rows]
    sub_groups = None if groups is None else np.asarray(groups)[rows]
    try:
        tests = kfold_indices(len(rows), k, seed=config.split.seed + 7919, strata=sub_strata,
                              groups=sub_groups)
    except ConfigError as exc:
        raise ConfigError(exc.message, file=config.source, key="eval.operating_point_folds",
                          hint="use fewer folds, or 0 (choose on the validation split)") from exc
    inner = replace(config,
                    eval=replace(config.eval, operating_point="none", operating_point_folds=0,
                                 bootstrap=0, conformal_alpha=0.0),
                    report=replace(config.report, enabled=False, learning_curve=[]),
                    train=replace(config.train, ensemble=1, progress=False))
    outputs, labels, order = [], [], []
    try:
        for j, test in enumerate(tests):
            rest = np.setdiff1d(np.arange(len(rows)), test)
            tr, va = holdout(len(rest), config.split.val_size, seed=config.split.seed + 7920 + j,
                             strata=None if sub_strata is None else sub_strata[rest],
                             groups=None if sub_groups is None else sub_groups[rest])
            log(f"operating point: extra model {j + 1} of {k} ({len(rest)} rows, scores "
                f"{len(test)})")
            seed_everything(config.train.seed + 7919 + j)
            fold = replace(inner, train=replace(inner.train, seed=config.train.seed + 7919 + j))
            run = run_at(fold, data, {"train": rows[rest[tr]], "val": rows[rest[va]],
                                      "test": rows[test]}, work / f"fold_{j + 1}")
            outputs.append(run.scored.outputs["test"])
            labels.append(run.splits["test"].y)
            order.append(test)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    back = np.argsort(np.concatenate(order), kind="stable")
    out = torch.cat(outputs)[torch.from_numpy(back)]
    y = {key: np.concatenate([lab[key] for lab in labels])[back] for key in labels[0]}
    return out, y


def learning_curve(config: Config, splits: Splits, full_metrics: dict[str, Any], *, out: Path,
                   log: Log | None = None) -> dict[str, Any]:
    """Test metrics of models trained on fractions of the training rows (``[report]
    learning_curve``), next to the full model's. Validation and test rows stay the same; each
    smaller training set is a stratified (and grouped) subsample of the full one. The small
    models are trained in ``out`` and deleted afterwards; only their metrics are kept."""
    from healthnn.data.split import holdout

    log = log or stderr
    raw = config.to_dict()
    raw["report"].update(enabled=False, learning_curve=[])
    raw["train"]["progress"] = False
    raw["train"]["ensemble"] = 1
    small = load_config(raw, base_dir=config.base_dir)
    small.source = config.source
    strata, groups = splits.strata, splits.groups
    train_idx = splits.idx["train"]
    test = None if "test" in splits.idx else splits["test"]
    points = []
    for frac in sorted(set(config.report.learning_curve)):
        if frac >= 1.0:
            continue
        keep, _ = holdout(len(train_idx), 1.0 - frac, seed=config.split.seed + 7,
                          strata=None if strata is None else strata[train_idx],
                          groups=None if groups is None else groups[train_idx])
        sub = {**splits.idx, "train": train_idx[keep]}
        log(f"learning curve: training on {len(keep)} of {len(train_idx)} training rows")
        run = run_at(small, splits.data, sub, out / f"fraction_{frac:g}", test=test)
        points.append({"fraction": frac, "train_rows": int(len(keep)),
                       "test": run.bundle.metrics["test"]})
    shutil.rmtree(out, ignore_errors=True)
    points.append({"fraction": 1.0, "train_rows": int(len(train_idx)), "test": full_metrics})
    return {"points": points, "split": "test",
            "note": "validation and test rows are the same for every point"}
