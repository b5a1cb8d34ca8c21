"""K-fold cross-validation and learning curves on top of :func:`healthnn.pipeline.train`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from healthnn.bundle import _write_json
from healthnn.config import Config, load_config
from healthnn.errors import ConfigError

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _quiet(msg: str) -> None:
    pass


def usable_rows(config: Config) -> tuple[Any, int, np.ndarray | None, np.ndarray | None]:
    """The task, and the number, strata and groups of the usable rows of ``[data] train``:
    the rows that :func:`healthnn.pipeline.train` positions ``indices`` refer to."""
    from healthnn.pipeline import _require_all, _strata, _take
    from healthnn.tasks import get_task_class

    task = get_task_class(config.task)(config)
    file = config.resolve(config.data.train)
    df = task.read(file)
    y, ok = task.labels(df, file)
    usable, _ = task.usable_rows(df, y, ok, file)
    if not usable.all():
        keep = np.flatnonzero(usable)
        df, y, ok = df.iloc[keep], _take(y, keep), ok[keep]
    _require_all(ok, file, task)
    return task, len(df), _strata(config, task, y), task.fold_groups(df)


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


def _reference_outputs(task: Any, ref: Any, outputs: torch.Tensor) -> torch.Tensor:
    """Outputs of a fold's model expressed in the reference fold's output scale: regression
    targets are standardised per fold (``y_mean_``/``y_std_``); other outputs are unchanged."""
    if hasattr(task, "y_mean_") and hasattr(ref, "y_mean_") and task is not ref:
        m, s = np.asarray(task.y_mean_, float), np.asarray(task.y_std_, float)
        rm, rs = np.asarray(ref.y_mean_, float), np.asarray(ref.y_std_, float)
        o = outputs.double().numpy()
        return torch.from_numpy(((o * s + m) - rm) / rs).to(outputs.dtype)
    return outputs


def pooled_metrics(parts: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Metrics (with bootstrap intervals) of the test rows of all folds together; ``parts``
    are the ``collect`` dicts filled by :func:`healthnn.pipeline.train`."""
    ref = parts[-1]["task"]
    outputs = torch.cat([_reference_outputs(p["task"], ref, p["test"][0]) for p in parts])
    labels = {k: np.concatenate([p["test"][1][k] for p in parts]) for k in parts[0]["test"][1]}
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


def cross_validate(config: Config | str | Path | dict[str, Any], out: str | Path, *,
                   log: Log | None = None) -> dict[str, Any]:
    """K-fold cross-validation (``[split] method = "kfold"``, ``folds = K``).

    Trains one bundle per fold (``out/fold_<k>``: a normal bundle with report, whose test
    split is that fold) and writes ``out/cv.json``: each fold's test metrics with bootstrap
    intervals, their mean and SD across folds, and *pooled* metrics computed over all
    out-of-fold predictions at once (every row scored once, by a model that never saw it).
    """
    from healthnn.pipeline import train

    log = log or _stderr
    if not isinstance(config, Config):
        config = load_config(config)
    if getattr(config.data, "test", None):
        raise ConfigError("split.method = 'kfold' cross-validates [data] train; a separate "
                          "test file is not used", file=config.source, key="data.test",
                          hint="remove [data] test, or use split.method = 'auto' to evaluate "
                               "on the test file")
    out = Path(out)
    _, n, strata, groups = usable_rows(config)
    folds = fold_indices(config, n, strata, groups)
    per_fold, parts = [], []
    for k, idx in enumerate(folds, start=1):
        log(f"fold {k} of {len(folds)}: train {len(idx['train'])}, val {len(idx['val'])}, "
            f"test {len(idx['test'])} rows")
        collect: dict[str, Any] = {}
        bundle = train(config, out / f"fold_{k}", indices=idx, collect=collect, log=log)
        per_fold.append(bundle.metrics["test"])
        parts.append(collect)
    result = {
        "method": "kfold", "folds": len(folds), "seed": config.split.seed,
        "rows": int(n), "fold_rows": [int(len(f["test"])) for f in folds],
        "per_fold": per_fold, "mean_sd": _summary(per_fold),
        "pooled": pooled_metrics(parts, config.split.seed),
        "bundles": [f"fold_{k}" for k in range(1, len(folds) + 1)],
    }
    if config.task == "survival":
        result["pooled_note"] = ("pooled survival metrics put the folds' risk scores on one "
                                 "scale and use the last fold's baseline for survival "
                                 "probabilities (integrated Brier score); per-fold metrics are "
                                 "each fold's own")
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "cv.json", result)
    return result


def learning_curve(config: Config, idx: dict[str, np.ndarray], full_metrics: dict[str, Any], *,
                   strata: np.ndarray | None, groups: np.ndarray | None, out: Path,
                   log: Log | None = None, key: bytes | None = None) -> dict[str, Any]:
    """Test metrics of models trained on fractions of the training rows (``[report]
    learning_curve``), next to the full model's. Validation and test rows stay the same; each
    smaller training set is a stratified (and grouped) subsample of the full one. The small
    models are trained in ``out`` (sealed with ``key`` when the bundle is encrypted) and
    deleted afterwards; only their metrics are kept."""
    import shutil

    from healthnn.data.split import holdout
    from healthnn.pipeline import train

    log = log or _stderr
    raw = config.to_dict()
    raw["report"].update(enabled=False, learning_curve=[])
    raw["train"]["progress"] = False
    raw["train"]["ensemble"] = 1
    small = load_config(raw, base_dir=config.base_dir)
    small.source = config.source
    train_idx = idx["train"]
    points = []
    for frac in sorted(set(config.report.learning_curve)):
        if frac >= 1.0:
            continue
        keep, _ = holdout(len(train_idx), 1.0 - frac, seed=config.split.seed + 7,
                          strata=None if strata is None else strata[train_idx],
                          groups=None if groups is None else groups[train_idx])
        sub = {**idx, "train": train_idx[keep]}
        log(f"learning curve: training on {len(keep)} of {len(train_idx)} training rows")
        bundle = train(small, out / f"fraction_{frac:g}", indices=sub, log=_quiet,
                       encrypt_with=key)
        points.append({"fraction": frac, "train_rows": int(len(keep)),
                       "test": bundle.metrics["test"]})
    shutil.rmtree(out, ignore_errors=True)
    points.append({"fraction": 1.0, "train_rows": int(len(train_idx)), "test": full_metrics})
    return {"points": points, "split": "test",
            "note": "validation and test rows are the same for every point"}


def learning_curve_section(curve: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The report section (see :mod:`healthnn.report.sections`) of a learning curve."""
    if not curve or not curve.get("points"):
        return []
    points = curve["points"]
    names = [m for m in points[-1]["test"] if all(m in p["test"] for p in points)][:3]
    plots, rows = [], []
    for name in names:
        plots.append({
            "kind": "lines", "title": f"Learning curve: test {name}",
            "xlabel": "training rows", "ylabel": name, "xlim": None, "ylim": None,
            "diagonal": False,
            "series": [{"label": f"test {name}", "style": "line",
                        "x": [p["train_rows"] for p in points],
                        "y": [p["test"][name]["value"] for p in points],
                        "lo": [p["test"][name]["ci_low"] for p in points],
                        "hi": [p["test"][name]["ci_high"] for p in points]}],
        })
    for p in points:
        rows.append([f"{p['fraction']:.0%}", p["train_rows"]] + [
            f"{_f(p['test'][n]['value'])} [{_f(p['test'][n]['ci_low'])}, "
            f"{_f(p['test'][n]['ci_high'])}]" for n in names])
    return [{
        "id": "learning_curve", "title": "Learning curve",
        "text": "Test metrics (with intervals) of models trained on fractions of the training "
                "rows, with the same validation and test rows. A curve still rising at 100% "
                "suggests that more labelled data would help.",
        "notes": [], "plots": plots,
        "tables": [{"title": "Learning curve", "columns": ["fraction", "training rows", *names],
                    "rows": rows}],
    }]


def _f(v: Any) -> str:
    return "n/a" if v is None or v != v else f"{v:.3f}"
