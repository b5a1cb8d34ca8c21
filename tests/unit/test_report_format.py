"""Report formatting on real data (issue 19 item 10): numbers-at-risk headers, horizons with
a unit, calibration intervals, Table 1 for 0/1 columns, the events and shift warnings and
Model Facts."""

from __future__ import annotations

import re

import numpy as np
import pytest

from healthnn.report.render import render_html
from healthnn.report.sections import probability_sections, survival_sections
from healthnn.report.tables import describe_split, shift

datasets = pytest.importorskip("sksurv.datasets")


@pytest.fixture(scope="module")
def veterans():
    X, y = datasets.load_veterans_lung_cancer()
    return X, y["Survival_in_days"].astype(float), y["Status"].astype(bool)


def _tables(sections):
    return {t["title"]: t for s in sections for t in s.get("tables", [])}


def test_survival_tables_show_times_with_their_unit(veterans):
    X, t, e = veterans
    rng = np.random.default_rng(0)
    risk = -np.log(t) + rng.normal(size=t.size)
    horizons = [30.0, 110.0]
    surv = np.exp(-np.outer(np.exp(risk - risk.mean()), np.asarray(horizons) / 150))
    times = np.quantile(t[e], np.linspace(0.1, 0.7, 5))
    secs = survival_sections(t, e, risk, horizons, surv, times, t, e, unit="days")
    tables = _tables(secs)
    header = tables["Numbers at risk"]["columns"]
    assert header[3:] == ["at risk at 1 days", "at risk at 25 days", "at risk at 80 days",
                          "at risk at 144 days"] or all(
        re.fullmatch(r"at risk at [\d,.]+ days", h) for h in header[3:])
    assert not any("e+" in h for h in header)
    assert {r[0] for r in tables["Calibration bins"]["rows"]} == {"30 days", "110 days"}
    # a time over 1000 reads as a reader writes it
    secs = survival_sections(t * 10, e, risk, horizons, surv, times, t * 10, e)
    header = _tables(secs)["Numbers at risk"]["columns"]
    assert any(re.fullmatch(r"at risk at \d,\d{3}", h) for h in header), header
    assert not any("e+" in h for h in header)


def test_calibration_interval_never_reads_minus_zero():
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.1).astype(int)
    p = np.clip(rng.beta(1, 8, 300), 0, 1)
    secs = probability_sections(y, np.c_[1 - p, p], ["no", "yes"], thresholds=[0.1],
                                n_resamples=20, ci=0.95, seed=0)
    rows = _tables(secs)["Calibration bins"]["rows"]
    for r in rows:
        assert re.fullmatch(r"\[\d\.\d{3}, \d\.\d{3}\]", r[4]), r
        assert re.fullmatch(r"\d\.\d to \d\.\d", r[0]), r


def _report(splits, task="classification", sections=(), facts=None):
    return {"kind": "train", "task": task, "facts": facts or {"predictors": ["a", "b"]},
            "splits": splits, "sections": list(sections), "bundle": {}, "model": {},
            "config": {}, "notes": [], "shift": {"reference": "train", "other": "test",
                                                  "rows": shift(splits["train"],
                                                                splits["test"])}}


def test_table1_binary_columns_events_and_shift_warnings(veterans):
    X, t, e = veterans
    df = X.copy()
    df["prior"] = (df["Prior_therapy"] == "yes").astype(int)
    cols = {"numeric": ["Age_in_years", "prior", "Karnofsky_score"], "categorical": []}
    labels = np.where(e, "died", "alive").astype(object)
    test = np.arange(len(df)) % 5 == 0
    splits = {"train": describe_split(df[~test], {"status": labels[~test]}, cols),
              "test": describe_split(df[test], {"status": labels[test]}, cols)}
    html = render_html(_report(splits), {"test": {}})
    row = re.search(r"<tr><td>prior</td><td>= 1, n \(%\)</td><td class=\"num\">([^<]*)</td>",
                    html) or re.search(r"<td>prior</td><td>= 1, n \(%\)</td><td>([^<]*)</td>",
                                       html)
    assert row, "a 0/1 column is shown as n (%)"
    n1 = int(df.loc[~test, "prior"].sum())
    assert row.group(1).startswith(f"{n1} (")
    assert "<td>Age_in_years</td><td>mean (SD); median [IQR]</td>" in html
    # the smallest test class (alive: a handful of censored rows), not a pooled count
    alive = int((labels[test] == "alive").sum())
    assert alive < 5
    noun = "row" if alive == 1 else "rows"
    assert f"Only {alive} {noun} in the smallest outcome class in the test data" in html
    # every flagged characteristic is named
    flagged = [r for r in splits and shift(splits["train"], splits["test"]) if r["flag"]]
    if flagged:
        text = re.search(r"(\d+) characteristics? differs? between training", html)
        assert int(text.group(1)) == len(flagged)
        for r in flagged:
            assert f"{r['variable']} ({r['level']})" in html


def test_model_facts_mention_only_what_the_report_has():
    splits = {s: describe_split(None, {"y": np.array([0, 1] * 20)}, {}) for s in
              ("train", "test")}
    html = render_html(_report(splits, facts={"predictors": ["wordpiece subword tokens "
                                                              "of the note"]}), {"test": {}})
    assert "from 1 predictors" not in html and "from wordpiece subword tokens" in html
    assert "threshold table" not in html and "not assessed in this report" in html
    html = render_html(_report(splits, sections=[{"id": "decision_curve", "title": "DC"},
                                                 {"id": "thresholds", "title": "T"}]),
                       {"test": {}})
    assert "see the decision curve and the threshold table" in html
    assert "from 2 predictors" in html
