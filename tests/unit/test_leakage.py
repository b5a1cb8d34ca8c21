"""Leakage check before training (issue 19 item 2), on FLCHAIN whose 'chapter' leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthnn.checks.leakage import duplicate_rows, leakage_check

datasets = pytest.importorskip("sksurv.datasets")


@pytest.fixture(scope="module")
def flchain():
    X, y = datasets.load_flchain()
    return X, y["futime"].astype(float), y["death"].astype(bool)


def test_flchain_chapter_is_flagged_and_nothing_else(flchain):
    X, t, e = flchain
    found = leakage_check(X, None, kind="survival", time=t, event=e)
    assert [(f["kind"], f["column"]) for f in found] == [("value", "chapter")]
    assert found[0]["scores"]["auroc for the event indicator"] == pytest.approx(1.0)
    # the check is about the training split: a random 60 % gives the same finding
    keep = np.random.default_rng(0).random(len(X)) < 0.6
    sub = leakage_check(X[keep].reset_index(drop=True), None, kind="survival", time=t[keep],
                        event=e[keep])
    assert [f["column"] for f in sub] == ["chapter"]


def test_missingness_alone_is_flagged_for_numeric_columns(flchain):
    X, t, e = flchain
    df = X[["age", "kappa"]].copy()
    df["days_in_hospice"] = np.where(e, np.random.default_rng(1).uniform(1, 30, len(e)), np.nan)
    found = leakage_check(df, None, kind="survival", time=t, event=e)
    assert [(f["kind"], f["column"]) for f in found] == [("missingness", "days_in_hospice")]
    assert "missing predicts the outcome" in found[0]["text"]


def test_clean_public_tables_give_no_finding():
    whas_X, whas_y = datasets.load_whas500()
    assert leakage_check(whas_X, None, kind="survival", time=whas_y["lenfol"],
                         event=whas_y["fstat"]) == []
    from sklearn.datasets import load_diabetes

    d = load_diabetes(as_frame=True)
    assert leakage_check(d.data, d.target, kind="regression") == []


def test_transformation_of_the_target_and_identifiers():
    from sklearn.datasets import load_diabetes

    d = load_diabetes(as_frame=True)
    df = d.data.copy()
    df["log_progression"] = np.log(d.target)  # derived from the outcome
    df["record_id"] = np.arange(len(df)) + 1000  # a row number
    found = {f["column"]: f["kind"] for f in leakage_check(df, d.target, kind="regression")}
    assert found == {"log_progression": "transformation", "record_id": "identifier"}
    # classification: a text recoding of the classes
    y = np.array(["yes", "no"] * 30)
    df = pd.DataFrame({"x": np.random.default_rng(2).normal(size=60),
                       "label_text": np.where(y == "yes", "positive", "negative")})
    kinds = [(f["kind"], f["column"]) for f in leakage_check(df, y, kind="classification")]
    assert kinds == [("transformation", "label_text")]


def test_duplicated_rows_across_splits():
    whas_X, _ = datasets.load_whas500()
    train, test = whas_X.iloc[:400], whas_X.iloc[400:].copy()
    assert duplicate_rows(train, {"test": test}) == []
    test = pd.concat([test, train.iloc[:7]])
    found = duplicate_rows(train, {"test": test})
    assert found[0]["scores"] == {"rows": 7} and found[0]["column"] == "test"
    # a table whose rows repeat by nature (few discrete columns) is not flagged
    small = pd.DataFrame({"sex": [0, 1] * 50, "smoker": [0, 0, 1, 1] * 25})
    assert duplicate_rows(small, {"test": small.iloc[:10]}) == []


def test_bad_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="kind must be"):
        leakage_check(pd.DataFrame({"a": range(30)}), range(30), kind="ner")
