"""Plain words for the paired comparison in metrics.json (``test_vs_baseline_<name>``).

Used by ``healthnn train`` / ``evaluate`` (the lines printed at the end), ``healthnn demo`` and
the report's "Model comparison" section, so the three always say the same thing.

>>> m = {"test": {"auroc": {"value": 0.80, "ci_low": 0.7, "ci_high": 0.9}},
...      "test_baseline_logistic": {"auroc": {"value": 0.85, "ci_low": 0.75, "ci_high": 0.93}},
...      "test_vs_baseline_logistic": {"auroc": {"value": -0.05, "ci_low": -0.09,
...                                              "ci_high": -0.01}}}
>>> comparisons(m)[0]["verdict"]
'the baseline is better'
>>> print(comparison_lines(m)[0])
baseline logistic: auroc 0.850 [0.750, 0.930] vs network 0.800; network - baseline -0.050 [-0.090, -0.010] (paired bootstrap): the baseline is better
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["comparisons", "comparison_lines", "cv_summary", "direction", "HIGHER", "LOWER"]

HIGHER = {"auroc", "auprc", "accuracy", "balanced_accuracy", "f1", "f1_macro", "f1_micro",
          "f1_weighted", "auroc_macro", "auprc_macro", "c_index", "uno_c", "td_auc", "r2",
          "sensitivity", "specificity", "ppv", "npv", "mcc", "kappa"}
LOWER = {"brier", "ece", "ibs", "rmse", "mae", "mse", "log_loss", "cross_entropy",
         "hamming_loss"}


def direction(metric: str) -> int:
    """+1 when higher is better, -1 when lower is, 0 when neither (calibration slope...)."""
    base = metric.rsplit("_", 1)[0] if metric not in HIGHER | LOWER else metric
    if metric in HIGHER or base in HIGHER:
        return 1
    if metric in LOWER or base in LOWER:
        return -1
    return 0


def _verdict(diff: dict[str, float], sign: int) -> str:
    v, lo, hi = (math.nan if diff.get(k) is None else float(diff[k])
                 for k in ("value", "ci_low", "ci_high"))
    if not math.isfinite(v):
        return "not comparable on these rows"
    better = v * sign  # > 0: the network is better
    if math.isfinite(lo) and math.isfinite(hi):
        if sign * lo > 0 and sign * hi > 0:
            return "the network is better"
        if sign * lo < 0 and sign * hi < 0:
            return "the baseline is better"
    if better < 0:
        return "the baseline is ahead, within the interval"
    return "no clear difference"


def headline(metrics: dict[str, Any]) -> str | None:
    """The first directional metric of the network's test metrics (AUROC, C-index, ...)."""
    return next((k for k in metrics.get("test", {}) if direction(k)), None)


def comparisons(metrics: dict[str, Any], metric: str | None = None) -> list[dict[str, Any]]:
    """One entry per baseline: its name, the metric, baseline and network values, the paired
    difference (network - baseline) with its interval, DeLong's test when present and a
    verdict (``the baseline is better`` when the whole interval favours it)."""
    metric = metric or headline(metrics)
    out = []
    for split, values in metrics.items():
        if not split.startswith("test_baseline_") or metric is None:
            continue
        name = split[len("test_baseline_"):]
        diff = metrics.get(f"test_vs_baseline_{name}", {})
        if metric not in values:
            continue
        sign = direction(metric)
        entry = {"name": name, "metric": metric, "baseline": values[metric],
                 "network": metrics.get("test", {}).get(metric), "difference": diff.get(metric),
                 "delong": diff.get("auroc_delong") if metric == "auroc" else None}
        entry["verdict"] = (_verdict(diff[metric], sign) if metric in diff
                            else "no network outputs to pair with")
        out.append(entry)
    return out


def _n(v: Any, sign: bool = False) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not math.isfinite(v) else (f"{v:+.3f}" if sign else f"{v:.3f}")


def _ci(m: dict[str, float]) -> str:
    return f"[{_n(m.get('ci_low'))}, {_n(m.get('ci_high'))}]"


def comparison_lines(metrics: dict[str, Any]) -> list[str]:
    """The lines ``healthnn train`` prints after the network's metrics."""
    lines = []
    for c in comparisons(metrics):
        b, d, net = c["baseline"], c["difference"], c["network"]
        text = f"baseline {c['name']}: {c['metric']} {_n(b['value'])} {_ci(b)}"
        if net is not None:
            text += f" vs network {_n(net['value'])}"
        if d is not None:
            text += f"; network - baseline {_n(d.get('value'), True)} {_ci(d)} (paired bootstrap"
            if c["delong"]:
                text += f"; DeLong p = {c['delong']['p_value']:.3g}"
            text += ")"
        lines.append(f"{text}: {c['verdict']}")
    return lines


def cv_summary(fold_metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Across K folds (each fold's metrics.json): for every baseline fitted in all folds, the
    mean and SD of its test metrics and of the paired difference network - baseline, and in
    how many folds the paired interval favoured the baseline on the headline metric.

    >>> f = {"test": {"auroc": {"value": 0.8}},
    ...      "test_baseline_logistic": {"auroc": {"value": 0.7}},
    ...      "test_vs_baseline_logistic": {"auroc": {"value": 0.1, "ci_low": 0.0,
    ...                                              "ci_high": 0.2}}}
    >>> cv_summary([f, f])["logistic"]["difference"]["auroc"]["mean"]
    0.1
    """
    import numpy as np

    names = [s[len("test_baseline_"):] for s in fold_metrics[0] if s.startswith("test_baseline_")]
    out: dict[str, Any] = {}
    for name in names:
        if not all(f"test_baseline_{name}" in m for m in fold_metrics):
            continue
        entry: dict[str, Any] = {}
        for part, split in (("baseline", "test_baseline_"), ("difference", "test_vs_baseline_")):
            table = entry.setdefault(part, {})
            for metric in fold_metrics[0].get(f"{split}{name}", {}):
                v = np.array([_value(m.get(f"{split}{name}", {}).get(metric))
                              for m in fold_metrics], dtype=float)
                v = v[np.isfinite(v)]
                if len(v):
                    table[metric] = {"mean": float(v.mean()),
                                     "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
        entry["folds_baseline_better"] = sum(
            any(c["name"] == name and c["verdict"] == "the baseline is better"
                for c in comparisons(m)) for m in fold_metrics)
        out[name] = entry
    return out


def _value(m: Any) -> float:
    try:
        return float(m["value"])
    except (TypeError, KeyError, ValueError):
        return math.nan
