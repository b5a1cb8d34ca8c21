"""Stage 5: resampling within a run. Out-of-fold outputs (to choose an operating point on
every training row) and learning curves fit extra models on splits of rows already read,
through the ``runner`` they are given (:func:`healthnn.pipeline.run.run_at`; never
:func:`~healthnn.pipeline.train`). Cross-validation is :mod:`healthnn.pipeline.cv`."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from healthnn.config import Config, load_config
from healthnn.errors import ConfigError
from healthnn.pipeline.common import Log, check_single_process, quiet, stderr
from healthnn.pipeline.data import Labelled
from healthnn.pipeline.split import Splits

__all__ = ["out_of_fold_outputs", "learning_curve", "Runner"]

# run_at(config, data, idx, out, test=None) -> a Run (.scored.outputs, .splits, .bundle)
Runner = Callable[..., Any]


def out_of_fold_outputs(config: Config, data: Labelled, rows: np.ndarray,
                        strata: np.ndarray | None, groups: np.ndarray | None, work: Path, *,
                        runner: Runner, log: Log | None = None
                        ) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
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
                    baseline=replace(config.baseline, models=[]),  # the main run has them
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
            run = runner(fold, data, {"train": rows[rest[tr]], "val": rows[rest[va]],
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
                   runner: Runner, log: Log | None = None) -> dict[str, Any]:
    """Test metrics of models trained on fractions of the training rows (``[report]
    learning_curve``), next to the full model's. Validation and test rows stay the same; each
    smaller training set is a stratified (and grouped) subsample of the full one. The small
    models are trained in ``out`` and deleted afterwards; only their metrics are kept."""
    from healthnn.data.split import holdout

    log = log or stderr
    raw = config.to_dict()
    raw["report"].update(enabled=False, learning_curve=[])
    raw["baseline"] = {"models": []}  # baselines are fitted once, in the main run
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
        run = runner(small, splits.data, sub, out / f"fraction_{frac:g}", test=test)
        points.append({"fraction": frac, "train_rows": int(len(keep)),
                       "test": run.bundle.metrics["test"]})
    shutil.rmtree(out, ignore_errors=True)
    points.append({"fraction": 1.0, "train_rows": int(len(train_idx)), "test": full_metrics})
    return {"points": points, "split": "test",
            "note": "validation and test rows are the same for every point"}
