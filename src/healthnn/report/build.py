"""Compute the report's data (report.json) from a live run: the task, the model, the split
frames and the model outputs. Rendering (report.html) only reads report.json and metrics.json.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from healthnn import __version__
from healthnn.errors import HealthnnError
from healthnn.report.tables import describe_split, flag_gaps, shift, subgroup_levels
from healthnn.tasks.base import take

__all__ = ["build_train_report", "build_evaluation_report", "REPORT_FORMAT"]

REPORT_FORMAT = 1
Log = Callable[[str], None]

# metrics shown per subgroup, in this order, when the task reports them
_SUBGROUP_METRICS = ("auroc", "auroc_macro", "auprc", "accuracy", "brier",
                     "calibration_intercept", "sensitivity", "specificity", "rmse", "mae", "r2",
                     "c_index", "td_auc", "ibs")
_MECHANISMS = {"mlp": "feed-forward neural network (multilayer perceptron)"}
_LOWER_IS_BETTER = {"rmse", "mae", "brier", "log_loss", "ibs", "ece"}


def _safe(what: str, fn: Callable[[], Any], notes: list[str], log: Log) -> Any:
    """Run one part of the report; a failure becomes a note instead of failing the run."""
    try:
        return fn()
    except HealthnnError as exc:
        notes.append(f"{what}: not available ({exc})")
    except Exception as exc:  # noqa: BLE001 - the trained bundle must not be lost to a plot
        notes.append(f"{what}: not available ({type(exc).__name__}: {exc})")
        log(f"note: report {what} failed:\n{traceback.format_exc(limit=3)}")
    return None


def _n_params(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def _importance(bundle: Any, df: pd.DataFrame, y: dict[str, np.ndarray], file: Path,
                repeats: int, seed: int) -> dict[str, Any] | None:
    """Permutation importance of each input column on ``df`` (the test rows): the drop in the
    task's first quick score when the column's values are shuffled."""
    task = bundle.task
    cols = [*task.report_columns().get("numeric", []), *task.report_columns().get("categorical", [])]
    cols = [c for c in cols if c in df.columns]
    if not cols:
        return None
    targets = task.target_tensors(y)
    inputs, errors = task.encode(df, file)
    if errors:
        raise HealthnnError("rows with encoding errors in the test data")
    base = task.score(bundle.outputs(inputs), targets)
    if not base:
        raise HealthnnError("the task gives no score on these rows")
    metric = next(iter(base))
    sign = -1.0 if metric in _LOWER_IS_BETTER else 1.0
    rng = np.random.default_rng(seed)
    rows = []
    frame = df.reset_index(drop=True)
    groups = task.report_feature_groups()
    for col in cols:
        drops = []
        for _ in range(repeats):
            perm = rng.permutation(len(frame))
            if groups is not None and isinstance(inputs, torch.Tensor):
                # shuffling a column's encoded block = shuffling the column, without re-encoding
                x = inputs.clone()
                idx = torch.as_tensor(groups[col], dtype=torch.long)
                x[:, idx] = inputs[torch.as_tensor(perm)][:, idx]
            else:
                shuffled = frame.copy()
                shuffled[col] = frame[col].to_numpy()[perm]
                x, _ = task.encode(shuffled, file)
            score = task.score(bundle.outputs(x), targets).get(metric, math.nan)
            drops.append(sign * (base[metric] - score))
        d = np.asarray(drops, dtype=float)
        rows.append({"column": col, "mean": float(np.nanmean(d)),
                     "sd": float(np.nanstd(d, ddof=1)) if d.size > 1 else 0.0})
    rows.sort(key=lambda r: -r["mean"])
    return {"metric": metric, "baseline": float(base[metric]), "repeats": repeats,
            "columns": rows}


def _events(task: Any, outputs: torch.Tensor, y: dict[str, np.ndarray]) -> int | None:
    """Positives of a binary outcome, or events of a survival outcome (None otherwise)."""
    view = task.class_probabilities(outputs, y)
    if view is not None:
        return int(np.sum(view[0] == 1)) if view[1].shape[1] == 2 else None
    strata = task.strata(y)
    if strata is not None and np.asarray(strata).dtype.kind in "iub":
        return int(np.sum(np.asarray(strata) > 0))
    return None


def _subgroups(task: Any, df: pd.DataFrame, y: dict[str, np.ndarray], outputs: torch.Tensor,
               overall: dict[str, Any], columns: list[str], min_size: int, seed: int,
               notes: list[str]) -> list[dict[str, Any]]:
    out = []
    primary = next(iter(overall), None)
    shown = [m for m in _SUBGROUP_METRICS if m in overall][:6] or list(overall)[:4]
    for col in columns:
        if col not in df.columns:
            notes.append(f"subgroup column '{col}' is not in the evaluated data")
            continue
        levels, how, order = subgroup_levels(df[col].reset_index(drop=True),
                                             min_size=min_size)
        entries = []
        for level in order:
            idx = np.flatnonzero((levels == level).to_numpy())
            entry: dict[str, Any] = {"level": str(level), "n": int(idx.size), "metrics": None}
            entry["events"] = _events(task, task.subset(outputs, idx), take(y, idx))
            if idx.size < min_size:
                entry["note"] = f"fewer than {min_size} rows: not estimated"
            else:
                try:
                    entry["metrics"] = task.evaluate(task.subset(outputs, idx), take(y, idx),
                                                     seed=seed)
                except Exception as exc:  # noqa: BLE001 - e.g. a single class in this level
                    entry["note"] = f"not estimable: {exc}"
            entries.append(entry)
        if primary:
            flag_gaps(overall.get(primary), entries, primary)
        values = [e["metrics"][primary]["value"] for e in entries
                  if e["metrics"] and e["metrics"].get(primary, {}).get("value") is not None]
        out.append({"column": col, "grouping": how, "primary": primary, "shown": shown,
                    "gap": (max(values) - min(values)) if len(values) > 1 else None,
                    "levels": entries})
    return out


def _recalibrate(task: Any, method: str, val: tuple[torch.Tensor, dict] | None,
                 test: tuple[torch.Tensor, dict], seed: int) -> tuple[dict, dict, dict] | None:
    """(state, test metrics after recalibration, probability view after) or None."""
    from healthnn.metrics.recalibration import apply_recalibration, fit_recalibration

    if method == "none" or val is None:
        return None
    v = task.class_probabilities(*val)
    t = task.class_probabilities(*test)
    if v is None or t is None:
        raise HealthnnError(f"recalibration needs class probabilities; task '{task.name}' "
                            "has none")
    state = fit_recalibration(method, v[0], v[1])
    probs = apply_recalibration(state, t[1])
    metrics = task.evaluate_probabilities(t[0], probs, seed=seed)
    return state, metrics, {"codes": t[0], "probs": probs, "classes": t[2]}


def _sections(task: Any, outputs: torch.Tensor, y: dict, config: Any, seed: int,
              recal: dict | None) -> list[dict[str, Any]]:
    from healthnn.report.sections import probability_sections

    sections = task.report_sections(outputs, y, seed=seed)
    probs = task.class_probabilities(outputs, y) if sections is None else None
    sections = list(sections or [])
    op = task.operating_point_  # [eval] operating_point: its row too
    extra = [op["threshold"]] if op is not None and 0.0 < op["threshold"] < 1.0 else []
    kw = {"thresholds": sorted({*config.report.thresholds, config.eval.threshold, *extra}),
          "n_resamples": min(max(config.eval.bootstrap, 20), 200), "ci": config.eval.ci,
          "seed": seed}
    if probs is not None:
        sections += probability_sections(*probs, **kw)
    if recal is not None:
        extra = probability_sections(recal["codes"], recal["probs"], recal["classes"],
                                     title_suffix=" after recalibration", **kw)
        sections += [s | {"id": s["id"] + "_recalibrated"} for s in extra
                     if s["id"] in ("calibration", "thresholds")]
    return sections


def _examples(bundle: Any, df: pd.DataFrame, y: dict[str, np.ndarray], outputs: torch.Tensor,
              file: Path, k: int) -> list[dict[str, Any]]:
    """Drawn explanations (Grad-CAM, atom attributions, highlighted tokens) of ``k`` test
    rows spread over the range of the model's score, captioned with the observed outcome and
    the prediction; no section when the task draws no explanations."""
    import base64
    import contextlib
    import io
    import tempfile

    task = bundle.task
    n = len(df)
    if k == 0 or n == 0 or type(task).explain is _base_explain():
        return []
    score = outputs.float().reshape(n, -1)[:, -1].numpy()
    order = np.argsort(score, kind="stable")
    picked = list(dict.fromkeys(order[np.linspace(0, n - 1, min(k, n)).round().astype(int)]))
    rows = df.iloc[picked].reset_index(drop=True)
    labels = task.label_frame(take(y, np.asarray(picked))).reset_index(drop=True)
    preds = task.predictions(outputs[torch.as_tensor(picked)]).reset_index(drop=True)
    plots = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
        written = task.explain(bundle.model, rows, Path(tmp), file=Path(file))
        drawn = [p for p in written if p.suffix in (".png", ".svg")]
        # text: the note's own words (healthnn.explain.spans), not the model's tokens
        tokens = next((p for p in written if p.name == "words.csv"), None)
        per_row: list[dict[str, Any]]
        if len(drawn) == len(rows):
            per_row = []
            for path in drawn:
                key = "png_base64" if path.suffix == ".png" else "svg_base64"
                per_row.append({"kind": "image",
                                key: base64.b64encode(path.read_bytes()).decode("ascii")})
        elif tokens is not None:  # text: highlighted words (word, attribution) per row
            t = pd.read_csv(tokens, keep_default_na=False)
            per_row = [{"kind": "tokens",
                        "tokens": [[str(a), float(b)] for a, b in
                                   t.loc[t["row"] == j + 1, ["word", "attribution"]].values]}
                       for j in range(len(rows))]
            if any(not p["tokens"] for p in per_row):
                return []
        else:  # nothing drawn per row (or a row failed): captions would not match
            return []
        for j, plot in enumerate(per_row):
            obs = ", ".join(f"{c} = {_cell(v)}" for c, v in labels.iloc[j].items())
            pred = ", ".join(f"{c} = {_cell(v)}" for c, v in preds.iloc[j].items()
                             if c != "rank")
            plots.append({**plot, "title": f"example {j + 1}: observed {obs}; predicted {pred}"})
    return [{
        "id": "examples", "title": "Example explanations",
        "text": f"{len(plots)} test rows chosen across the range of the model's score (lowest "
                "to highest), explained as 'healthnn explain' does. These show individual "
                "inputs; [report] examples = 0 leaves them out.",
        "plots": plots, "tables": [],
    }]


def _base_explain():
    from healthnn.tasks.base import Task

    return Task.explain


def _cell(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.3g}"
    return str(v)


def _common(bundle: Any) -> dict[str, Any]:
    config, task, manifest = bundle.config, bundle.task, bundle.manifest
    facts = dict(task.report_facts())
    facts.setdefault("mechanism", _MECHANISMS.get(config.model.name,
                                                  f"neural network '{config.model.name}'"))
    return {
        "format": REPORT_FORMAT,
        "healthnn": __version__,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": config.task,
        "facts": facts,
        "model": {"name": config.model.name, "params": config.model.params,
                  "n_parameters": _n_params(bundle.model),
                  "in_features": manifest.get("model", {}).get("in_features"),
                  "out_features": manifest.get("model", {}).get("out_features")},
        "bundle": {"created": manifest.get("created"), "data": manifest.get("data", {}),
                   "seed": manifest.get("seed"), "versions": manifest.get("versions", {}),
                   "training": {k: v for k, v in manifest.get("training", {}).items()
                                if k != "history"},
                   "notes": manifest.get("notes", [])},
        "config": {"split": vars(config.split), "train": vars(config.train),
                   "eval": vars(config.eval), "report": vars(config.report),
                   "data": {k: v for k, v in vars(config.data).items()
                            if k not in ("train", "test")}},
        "notes": [],
    }


def _data_checks(config: Any, task: Any, frames: dict) -> list[dict[str, Any]] | None:
    """The leakage check's findings on the training split (None when ``[data] leakage =
    "off"`` or the task is not a table)."""
    from healthnn.checks import leakage_findings

    if getattr(config.data, "leakage", "off") == "off" or task.name not in (
            "classification", "regression", "survival"):
        return None
    return leakage_findings(config, task, frames)


def build_train_report(
    bundle: Any,
    *,
    frames: dict[str, tuple[pd.DataFrame, dict[str, np.ndarray], Path]],
    outputs: dict[str, torch.Tensor],
    log: Log,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """report.json data for a freshly trained bundle, and the recalibration state (or None).

    May add ``test_recalibrated`` to ``bundle.metrics``.
    """
    config, task = bundle.config, bundle.task
    seed = config.split.seed
    rep = _common(bundle)
    notes = rep["notes"]
    cols = task.report_columns()
    rep["kind"] = "train"
    rep["splits"] = {name: describe_split(frames[name][0], frames[name][1], cols)
                     for name in ("train", "val", "test")}
    rep["shift"] = {"reference": "train", "other": "test",
                    "rows": shift(rep["splits"]["train"], rep["splits"]["test"])}
    df_test, y_test, file_test = frames["test"]
    test_out = outputs["test"]
    recal = None
    if config.report.recalibrate != "none":
        recal = _safe("recalibration", lambda: _recalibrate(
            task, config.report.recalibrate, (outputs["val"], frames["val"][1]),
            (test_out, y_test), seed), notes, log)
    state = None
    recal_view = None
    if recal is not None:
        state, metrics_after, recal_view = recal
        bundle.metrics["test_recalibrated"] = metrics_after
        rep["recalibration"] = {"method": config.report.recalibrate, "fitted_on": "val",
                                "state": state}
    rep["sections"] = _safe("task sections", lambda: _sections(
        task, test_out, y_test, config, seed, recal_view), notes, log) or []
    rep["sections"] += _safe("example explanations", lambda: _examples(
        bundle, df_test, y_test, test_out, file_test, config.report.examples), notes, log) or []
    if bundle.manifest.get("learning_curve"):  # [report] learning_curve (pipeline.resample)
        from healthnn.report.sections import learning_curve_section

        rep["sections"] += learning_curve_section(bundle.manifest["learning_curve"])
    if bundle.manifest.get("sample_size"):  # checks.sample_size (TRIPOD+AI item 10)
        from healthnn.report.sample_size import sample_size_section

        rep["sample_size"] = bundle.manifest["sample_size"]
        rep["sections"] += sample_size_section(rep["sample_size"])
    if bundle.manifest.get("operating_point"):  # [eval] operating_point
        from healthnn.report.sections import operating_point_section

        rep["sections"].append(operating_point_section(bundle.manifest["operating_point"]))
    checks = _safe("data checks", lambda: _data_checks(config, task, frames), notes, log)
    if checks is not None:  # healthnn.checks: leakage findings, rendered after Table 1
        rep["data_checks"] = checks
    rep["subgroups"] = _safe("subgroups", lambda: _subgroups(
        task, df_test.reset_index(drop=True), y_test, test_out, bundle.metrics["test"],
        config.report.subgroups, config.report.min_subgroup_size, seed, notes),
        notes, log) or []
    if config.report.importance:
        rep["importance"] = _safe("feature importance", lambda: _importance(
            bundle, df_test, y_test, file_test, config.report.importance_repeats, seed),
            notes, log)
    return rep, state


def build_evaluation_report(
    bundle: Any,
    *,
    df: pd.DataFrame,
    y: dict[str, np.ndarray],
    outputs: torch.Tensor,
    metrics: dict[str, Any],
    evaluation: dict[str, Any],
    file: Path,
    log: Log,
) -> dict[str, Any]:
    """report.json data for ``healthnn evaluate`` (new labelled data). May add
    ``test_recalibrated`` to ``metrics`` when the bundle holds a recalibration map."""
    import json

    from healthnn.metrics.recalibration import apply_recalibration

    config, task = bundle.config, bundle.task
    seed = config.split.seed
    rep = _common(bundle)
    notes = rep["notes"]
    rep["kind"] = "evaluation"
    rep["evaluation"] = evaluation
    cols = task.report_columns()
    rep["splits"] = {"evaluation": describe_split(df, y, cols)}
    trained = bundle.path / "report.json"
    if trained.is_file():
        try:
            ref = json.loads(trained.read_text(encoding="utf-8"))["splits"]["train"]
            rep["splits_training"] = {k: ref[k] for k in ("rows", "outcome") if k in ref}
            rep["shift"] = {"reference": "train", "other": "evaluation",
                            "rows": shift(ref, rep["splits"]["evaluation"])}
        except (KeyError, ValueError, OSError) as exc:
            notes.append(f"shift against the training data: not available ({exc})")
    else:
        notes.append("shift against the training data: the bundle has no report.json")
    recal_view = None
    recal_file = bundle.path / "recalibration.json"
    if recal_file.is_file():
        def after():
            state = json.loads(recal_file.read_text(encoding="utf-8"))
            view = task.class_probabilities(outputs, y)
            probs = apply_recalibration(state, view[1])
            metrics["test_recalibrated"] = task.evaluate_probabilities(view[0], probs, seed=seed)
            rep["recalibration"] = {"method": state["method"], "fitted_on": "val (training run)",
                                    "state": state}
            return {"codes": view[0], "probs": probs, "classes": view[2]}
        recal_view = _safe("recalibration", after, notes, log)
    rep["sections"] = _safe("task sections", lambda: _sections(
        task, outputs, y, config, seed, recal_view), notes, log) or []
    rep["sections"] += _safe("example explanations", lambda: _examples(
        bundle, df, y, outputs, file, config.report.examples), notes, log) or []
    rep["subgroups"] = _safe("subgroups", lambda: _subgroups(
        task, df.reset_index(drop=True), y, outputs, metrics["test"], config.report.subgroups,
        config.report.min_subgroup_size, seed, notes), notes, log) or []
    if config.report.importance:
        rep["importance"] = _safe("feature importance", lambda: _importance(
            bundle, df, y, file, config.report.importance_repeats, seed), notes, log)
    return rep
