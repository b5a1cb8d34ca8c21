"""Issue 20 end to end: baselines fitted in the run, saved as JSON, scored again by evaluate."""

from __future__ import annotations

import json

import pytest

from healthnn.config import load_config
from healthnn.pipeline import evaluate, train

from helpers import config_dict


def test_survival_baselines_train_save_evaluate(tmp_path, table_csv):
    pytest.importorskip("xgboost")
    logs: list[str] = []
    cfg = load_config(config_dict("survival", table_csv, categorical=["smoker"]))
    bundle = train(cfg, tmp_path / "b", log=logs.append)
    m = bundle.metrics
    for name in ("cox", "xgboost_cox"):
        assert list(m[f"test_baseline_{name}"]) == list(m["test"])
        diff = m[f"test_vs_baseline_{name}"]["c_index"]
        # the paired difference is the difference of the two point estimates
        want = m["test"]["c_index"]["value"] - m[f"test_baseline_{name}"]["c_index"]["value"]
        assert diff["value"] == pytest.approx(want, abs=1e-12)
        assert diff["ci_low"] <= diff["value"] <= diff["ci_high"]
    assert any(line.startswith("baseline cox: fitted") for line in logs)
    state = json.loads((tmp_path / "b" / "task.json").read_text())
    assert [b["name"] for b in state["baselines"]] == ["cox", "xgboost_cox"]
    assert isinstance(state["baselines"][1]["model"]["models"][0], str)  # XGBoost's JSON
    # evaluate scores the saved baselines on the same rows again: same numbers
    test_rows = tmp_path / "test.csv"
    import pandas as pd

    df = pd.read_csv(table_csv)
    rows = pd.read_csv(tmp_path / "b" / "predictions_test.csv")["row"] - 1
    df.iloc[rows].to_csv(test_rows, index=False)
    ev = evaluate(tmp_path / "b", test_rows, tmp_path / "ev")
    for name in ("cox", "xgboost_cox"):
        assert ev.metrics[f"test_baseline_{name}"]["c_index"]["value"] == pytest.approx(
            m[f"test_baseline_{name}"]["c_index"]["value"], abs=1e-9)
    html = (tmp_path / "ev" / "report.html").read_text()
    assert "Model comparison" in html and "xgboost_cox" in html
    assert "Model comparison" in (tmp_path / "b" / "report.html").read_text()


def test_a_baseline_that_cannot_be_fitted_is_one_line(tmp_path, table_csv, monkeypatch):
    import healthnn.baselines.trees as trees

    def missing():
        raise ImportError("no xgboost here")

    monkeypatch.setattr(trees, "_xgb", missing)
    logs: list[str] = []
    cfg = load_config(config_dict("classification", table_csv, categorical=["smoker"]))
    bundle = train(cfg, tmp_path / "b", log=logs.append)
    skipped = [line for line in logs if "xgboost" in line]
    assert skipped == ["baseline xgboost skipped: its library is not installed "
                       "(pip install 'healthnn[baselines]')"]
    assert "test_baseline_logistic" in bundle.metrics
    assert "test_baseline_xgboost" not in bundle.metrics
    assert "auroc_delong" in bundle.metrics["test_vs_baseline_logistic"]


def test_no_baselines_when_the_list_is_empty(tmp_path, table_csv):
    cfg = load_config({**config_dict("regression", table_csv), "baseline": {"models": []}})
    bundle = train(cfg, tmp_path / "b", log=lambda m: None)
    assert set(bundle.metrics) == {"val", "test"}
    assert "No baseline was fitted" in (tmp_path / "b" / "report.html").read_text()
