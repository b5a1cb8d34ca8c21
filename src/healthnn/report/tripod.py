"""The TRIPOD+AI checklist (Collins et al., BMJ 2024;385:e078378), filled from what a run
knows. Items only a person can answer are marked "to complete"."""

from __future__ import annotations

from typing import Any

__all__ = ["checklist", "TO_COMPLETE"]

TO_COMPLETE = "to complete"


def _fmt_counts(split: dict[str, Any]) -> str:
    parts = [f"{split['rows']} rows"]
    for name, o in split.get("outcome", {}).items():
        if o["kind"] == "binary":
            parts.append(f"{o['positive']} with {name} = 1")
        elif o["kind"] == "categorical":
            parts.append(", ".join(f"{k}: {v}" for k, v in list(o["counts"].items())[:8]))
    return "; ".join(parts)


def _curves_in(rep: dict[str, Any]) -> str:
    """'; calibration curve and decision curve in this report' for the sections it has."""
    ids = {s.get("id") for s in rep.get("sections", [])}
    have = [name for keys, name in (({"calibration", "survival_calibration"}, "calibration curve"),
                                    ({"decision_curve", "survival_decision_curve"},
                                     "decision curve"),
                                    ({"thresholds"}, "threshold table")) if keys & ids]
    if not have:
        return ""
    return "; " + (", ".join(have[:-1]) + " and " if len(have) > 1 else "") + have[-1] + \
        " in this report"


def checklist(rep: dict[str, Any], metrics: dict[str, Any]) -> list[dict[str, str]]:
    """Rows ``{"item", "topic", "status": "filled" | "partly" | "to complete", "text"}``."""
    facts = rep.get("facts", {})
    cfg = rep.get("config", {})
    b = rep.get("bundle", {})
    data = b.get("data", {})
    splits = rep.get("splits", {})
    evaluation = rep.get("kind") == "evaluation"
    rows: list[dict[str, str]] = []

    def add(item: str, topic: str, text: str | None, status: str | None = None) -> None:
        if not text:
            rows.append({"item": item, "topic": topic, "status": TO_COMPLETE, "text": ""})
        else:
            rows.append({"item": item, "topic": topic, "status": status or "filled",
                         "text": text})

    add("1", "Title", None)
    add("2", "Abstract", None)
    add("3a", "Healthcare context and rationale", None)
    add("3b", "Target population, place in the care pathway, intended users", None)
    add("3c", "Known health inequalities between groups", None)
    add("4", "Objectives",
        ("External evaluation" if evaluation else "Development and internal validation")
        + f" of a model predicting {facts.get('outcome', 'the outcome')}. Clinical objective: "
        + TO_COMPLETE + ".", "partly")
    sources = [f"{k}: {v.get('path', '').rsplit('/', 1)[-1]} (sha256 {v.get('sha256', '')}, "
               f"{v.get('rows')} rows)" for k, v in data.items()]
    if evaluation:
        ev = rep.get("evaluation", {}).get("data", {})
        sources.append(f"evaluation: {str(ev.get('path', '')).rsplit('/', 1)[-1]} "
                       f"(sha256 {ev.get('sha256', '')}, {ev.get('rows')} rows)")
    add("5a", "Data sources", "; ".join(sources) + ". Representativeness: " + TO_COMPLETE,
        "partly")
    add("5b", "Dates of data collection and follow-up",
        f"Model trained {b.get('created', '?')}; dates of the data: {TO_COMPLETE}.", "partly")
    add("6a", "Setting and centres", None)
    add("6b", "Eligibility criteria",
        f"Rows with an observed outcome were used; clinical criteria: {TO_COMPLETE}.", "partly")
    add("6c", "Treatments received", None)
    prep = [facts.get("preprocessing", "")] + [f"dropped {d}" for d in facts.get("dropped", [])]
    add("7", "Data preparation", "; ".join(p for p in prep if p) or None)
    add("8a", "Outcome definition", facts.get("outcome"))
    add("8b", "Outcome assessment and blinding", None)
    preds = facts.get("predictors") or []
    add("9a", "Predictors", (f"{len(preds)} predictors: " + ", ".join(preds)) if preds else None)
    add("9b", "Predictor measurement and blinding", None)
    sizes = "; ".join(f"{name}: {_fmt_counts(s)}" for name, s in splits.items())
    from healthnn.report.sample_size import justification

    why = justification(rep.get("sample_size"))
    add("10", "Sample size", f"{sizes}. Justification of the sample size: "
        f"{why + ' (see Sample size)' if why else TO_COMPLETE}.", "filled" if why else "partly")
    add("11", "Missing data", facts.get("missing_data"))
    split = cfg.get("split", {})
    if evaluation:
        how = "the whole evaluation file is test data (external or temporal evaluation)"
    elif "test" in data:
        how = (f"separate test file; validation fraction {split.get('val_size')} of the "
               f"training rows (early stopping), seed {split.get('seed')}")
    elif cfg.get("data", {}).get("group"):
        how = (f"grouped split by '{cfg['data']['group']}' (no patient in two splits), "
               f"seed {split.get('seed')}")
    else:
        how = (f"split method '{split.get('method')}', test fraction {split.get('test_size')}, "
               f"validation fraction "
               f"{split.get('val_size')} of the training rows, seed {split.get('seed')}")
    add("12a", "Use of the data (development / evaluation)", how)
    add("12b", "Predictor handling", facts.get("preprocessing"))
    tr = cfg.get("train", {})
    model = rep.get("model", {})
    add("12c", "Model type, building and hyperparameters",
        f"{facts.get('mechanism', model.get('name'))}; model '{model.get('name')}' with "
        + ", ".join(f"{k}={v}" for k, v in (model.get("params") or {}).items())
        + f"; {model.get('n_parameters')} parameters; training: "
        + ", ".join(f"{k}={tr.get(k)}" for k in ("epochs", "batch_size", "lr", "weight_decay",
                                                  "patience", "scheduler", "grad_clip",
                                                  "monitor", "seed") if k in tr)
        + (f"; stopped at epoch {b.get('training', {}).get('epochs_run')} (best "
           f"{b.get('training', {}).get('best_epoch')})" if b.get("training") else ""))
    add("12d", "Heterogeneity across clusters",
        facts.get("clustering") or f"no cluster variable set; {TO_COMPLETE}",
        None if facts.get("clustering") else "partly")
    ev = cfg.get("eval", {})
    names = ", ".join(next(iter(metrics.values()), {}).keys()) if metrics else ""
    add("12e", "Performance measures",
        f"{names}; {ev.get('ci', 0.95):.0%} percentile bootstrap intervals "
        f"({ev.get('bootstrap')} resamples, stratified by outcome)" + _curves_in(rep))
    rc = cfg.get("report", {}).get("recalibrate", "none")
    add("12f", "Model updating / recalibration",
        "none" if rc == "none" else f"{rc} recalibration fitted on the validation split; test "
        "metrics before and after are reported")
    sg = cfg.get("report", {}).get("subgroups") or []
    add("12g", "Fairness: subgroups evaluated",
        ("metrics with intervals for each level of: " + ", ".join(sg)) if sg else
        "no subgroups configured ([report] subgroups)", None if sg else "partly")
    imb = []
    for name, o in splits.get("train", splits.get("evaluation", {})).get("outcome", {}).items():
        if o["kind"] == "binary":
            imb.append(f"{name}: {o['positive']} of {o['n']} positive")
        elif o["kind"] == "categorical":
            imb.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in o["counts"].items()))
    add("13", "Class imbalance",
        ("; ".join(imb) + ". No resampling or class weighting; splits and bootstrap "
         f"resamples stratified by outcome; decision threshold {ev.get('threshold')}")
        if imb else "not applicable (no class outcome)")
    add("14", "Fairness approaches", ("subgroup metrics with intervals, gaps flagged"
                                      if sg else None), "partly")
    add("15", "Model output", facts.get("output"))
    add("16", "Differences between development and evaluation data",
        "standardised mean differences between training and test data in this report; "
        f"clinical differences: {TO_COMPLETE}", "partly")
    add("-", "Ethical approval", None)
    add("-", "Funding and conflicts of interest", None)
    add("-", "Protocol and registration", None)
    add("-", "Data sharing", None)
    add("-", "Code and model availability",
        f"healthnn {rep.get('healthnn')}; the bundle holds the config, fitted preprocessing and "
        "weights (no pickle); library versions in manifest.json", "partly")
    add("-", "Patient and public involvement", None)
    add("-", "Participant flow and characteristics", "Table 1 and split sizes in this report")
    add("-", "Model performance with intervals", "metrics table (from metrics.json)")
    add("-", "Interpretation, limitations, usability in context", None)
    return rows
