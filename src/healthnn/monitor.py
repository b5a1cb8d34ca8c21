"""``healthnn monitor BUNDLE NEW_DATA --out DIR``: drift and out-of-domain report (issue 22).

Compares new rows with the training reference the bundle keeps (:mod:`healthnn.domain`): the
share of out-of-domain rows (about 1% is expected: the threshold flags 1% of the validation
rows), and per input feature the population stability index (PSI over the training deciles;
> 0.1 moderate, > 0.25 major shift, the usual credit-scoring rule of thumb) and the
Kolmogorov-Smirnov distance. Where the new rows carry outcomes, performance and calibration
with bootstrap intervals beside the bundle's own test metrics. Writes ``monitor.json`` and a
self-contained ``report.html`` (aggregates only: no row of the data is in either).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from healthnn.bundle import Bundle, load_bundle
from healthnn.domain import domain_scores, ks_from_quantiles, psi
from healthnn.errors import BundleError, DataError

__all__ = ["monitor"]

_SHOWN = ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept", "c_index",
          "rmse", "mae")


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _performance(b: Bundle, df: Any, file: Path, good: np.ndarray, outputs: Any
                 ) -> dict[str, Any] | None:
    task = b.task
    if not all(c in df.columns for c in task.target_columns()):
        return None  # no outcomes in the new rows
    y, ok = task.labels(df, file)
    rows = np.flatnonzero(good)
    keep = ok[rows] & np.array([i not in task.unknown_label_errors(y) for i in rows])
    if keep.sum() < 10:
        return None
    y_keep = {k: np.asarray(v)[rows[keep]] for k, v in y.items()}
    try:
        new = task.evaluate(outputs[np.flatnonzero(keep)], y_keep, seed=b.config.split.seed)
    except (ValueError, ZeroDivisionError):
        return None  # one class among the labelled rows: nothing estimable
    return {"rows": int(keep.sum()), "new": new, "training_test": b.metrics.get("test", {})}


def monitor(bundle: str | Path | Bundle, data: str | Path, out: str | Path, *,
            key: bytes | None = None) -> dict[str, Any]:
    """Write the drift report of ``data`` against ``bundle``'s training reference to ``out``."""
    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, key=key)
    ref = b.manifest.get("domain")
    if not ref:
        raise BundleError("this bundle has no training reference of its inputs", file=str(b.path),
                          hint="monitoring works for table and event-aggregate models trained "
                               "with this version; retrain the bundle")
    task, file = b.task, Path(data)
    df = task.read_inputs(file)
    inputs, errors = task.encode(df, file)
    good = np.array([i not in errors for i in range(len(df))], dtype=bool)
    if not good.any():
        raise DataError("no row of the new data can be encoded", file=str(file),
                        row=min(errors) + 1 if errors else None, hint=next(iter(errors.values()),
                                                                             ""))
    sub = task.subset(inputs, np.flatnonzero(good))
    x = task.domain_features(sub)
    outputs, _ = b.score_inputs(sub)
    scores = domain_scores(ref, x)
    flagged = int((scores > ref["threshold"]).sum())
    features = []
    for j, name in enumerate(ref["features"]):
        value = psi(ref["props"][j], ref["deciles"][j], x[:, j])
        features.append({"feature": name, "psi": round(value, 4),
                         "ks": round(ks_from_quantiles(ref["quantiles"][j], x[:, j]), 4),
                         "shift": "major" if value > 0.25 else "moderate" if value > 0.1 else ""})
    features.sort(key=lambda f: -f["psi"])
    used = set(getattr(getattr(task, "preprocessor_", None), "input_columns", []) or [])
    result = {
        "bundle": str(b.path), "data": str(file), "rows": len(df), "rows_unusable": int((~good).sum()),
        "out_of_domain": {"rows": flagged, "share": flagged / len(scores),
                          "ci": _wilson(flagged, len(scores)), "expected": ref["flag_rate"],
                          "threshold": ref["threshold"], "chosen_on": ref["chosen_on"]},
        "features": features,
        "columns_not_used": sorted(c for c in df.columns if used and c not in used),
        "performance": _performance(b, df, file, good, outputs),
    }
    _write(Path(out), result)
    return result


def _atomic(path: Path, text: str) -> None:
    from healthnn.io import write_text

    write_text(path, text)  # synced, renamed into place, no partial file left on an error


def _write(out: Path, r: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / "monitor.json", json.dumps(r, indent=2, default=float))
    _atomic(out / "report.html", _html(r))


def _fmt(m: dict[str, Any] | None) -> str:
    if not m or m.get("value") is None:
        return "n/a"
    return f"{m['value']:.3f} [{m.get('ci_low', math.nan):.3f}, {m.get('ci_high', math.nan):.3f}]"


def _html(r: dict[str, Any]) -> str:
    e = html.escape
    o = r["out_of_domain"]
    rows = "".join(f"<tr><td>{e(f['feature'])}</td><td>{f['psi']:.3f}</td><td>{f['ks']:.3f}</td>"
                   f"<td>{e(f['shift'])}</td></tr>" for f in r["features"])
    perf = ""
    if r["performance"]:
        p = r["performance"]
        names = [n for n in _SHOWN if n in p["new"]]
        perf = (f"<h2>Performance on the {p['rows']} labelled new rows</h2><table><tr><th>metric"
                "</th><th>new data</th><th>training test split</th></tr>" + "".join(
                    f"<tr><td>{n}</td><td>{_fmt(p['new'].get(n))}</td>"
                    f"<td>{_fmt(p['training_test'].get(n))}</td></tr>" for n in names)
                + "</table>")
    alarm = ("above" if o["ci"][0] > o["expected"] else "consistent with")
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>healthnn monitor</title><style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .6em}}</style></head>
<body><h1>Drift and out-of-domain report</h1>
<p>{r['rows']} new rows ({r['rows_unusable']} could not be encoded). Aggregates only.</p>
<h2 id="ood">Out of domain</h2><p>{o['rows']} rows ({o['share']:.1%}, 95% CI
{o['ci'][0]:.1%} to {o['ci'][1]:.1%}) lie beyond the threshold that flags {o['expected']:.0%} of
the {e(o['chosen_on'])}: {alarm} what the training data lead one to expect.</p>
<h2 id="features">Input features</h2><p>Population stability index over the training deciles
(&gt; 0.1 moderate, &gt; 0.25 major shift) and Kolmogorov-Smirnov distance, most shifted first.</p>
<table id="psi"><tr><th>feature</th><th>PSI</th><th>KS</th><th>shift</th></tr>{rows}</table>
{perf}</body></html>
"""
