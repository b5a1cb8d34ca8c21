"""Cross-validation, hyperparameter search (serial, parallel, nested), learning curves and
ensemble spread, end to end on a small table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import config_dict, make_table
from sklearn.metrics import mean_squared_error, roc_auc_score

import healthnn
from healthnn.errors import ConfigError
from healthnn.tuning import cross_validate, tune

pytest.importorskip("optuna")

QUICK = {"epochs": 4, "batch_size": 32, "patience": 3, "progress": False}


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tune") / "patients.csv"
    make_table(n=160, seed=1).to_csv(path, index=False)
    return path


def _cfg(task: str, path: Path, **extra) -> dict:
    c = config_dict(task, path)
    c["train"] = dict(QUICK)
    c["report"] = {"enabled": False}
    c.update(extra)
    return c


@pytest.mark.slow
def test_kfold_cv_pooled_metrics_match_sklearn(table, tmp_path, one_thread):
    c = _cfg("classification", table, split={"method": "kfold", "folds": 3, "seed": 5})
    cv = cross_validate(c, tmp_path / "cv", log=lambda m: None)
    assert cv["folds"] == 3 and sum(cv["fold_rows"]) == 160
    preds = pd.concat([pd.read_csv(tmp_path / "cv" / f"fold_{k}" / "predictions_test.csv")
                       for k in (1, 2, 3)])
    assert sorted(preds["row"]) == list(range(1, 161))  # every row scored exactly once
    y = (preds["outcome"].astype(str) == "1").astype(int)
    assert cv["pooled"]["auroc"]["value"] == pytest.approx(roc_auc_score(y, preds["prob_1"]), abs=1e-6)
    per_fold = [f["auroc"]["value"] for f in cv["per_fold"]]
    assert cv["mean_sd"]["auroc"]["mean"] == pytest.approx(np.mean(per_fold))
    lo, hi = cv["pooled"]["auroc"]["ci_low"], cv["pooled"]["auroc"]["ci_high"]
    assert lo < cv["pooled"]["auroc"]["value"] < hi
    assert json.loads((tmp_path / "cv" / "cv.json").read_text())["folds"] == 3
    # issue 20: each baseline across the folds, and the paired difference to the network
    base = cv["baselines"]["logistic"]
    folds = [json.loads((tmp_path / "cv" / f"fold_{k}" / "metrics.json").read_text())
             for k in (1, 2, 3)]
    assert base["baseline"]["auroc"]["mean"] == pytest.approx(
        np.mean([f["test_baseline_logistic"]["auroc"]["value"] for f in folds]))
    assert base["difference"]["auroc"]["mean"] == pytest.approx(
        np.mean([f["test_vs_baseline_logistic"]["auroc"]["value"] for f in folds]))
    assert 0 <= base["folds_baseline_better"] <= 3 and "xgboost" in cv["baselines"]


@pytest.mark.slow
def test_kfold_regression_pools_on_one_scale(table, tmp_path, one_thread):
    c = _cfg("regression", table, split={"method": "kfold", "folds": 2})
    cv = cross_validate(c, tmp_path / "cv", log=lambda m: None)
    preds = pd.concat([pd.read_csv(tmp_path / "cv" / f"fold_{k}" / "predictions_test.csv")
                       for k in (1, 2)])
    rmse = mean_squared_error(preds["los"], preds["prediction"]) ** 0.5
    assert cv["pooled"]["rmse"]["value"] == pytest.approx(rmse, rel=1e-5)


@pytest.mark.slow
def test_tune_writes_best_config_and_bundle(table, tmp_path, one_thread):
    c = _cfg("classification", table)
    c["tune"] = {"metric": "auroc", "seed": 1,
                 "model": {"dropout": {"low": 0.0, "high": 0.5}, "hidden": [[8], [16, 16]]},
                 "train": {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}}
    result = tune(c, tmp_path / "t", trials=3, ensemble=2, log=lambda m: None)
    trials = result["trials"]
    assert len(trials) == 3 and result["direction"] == "maximize"
    done = [t for t in trials if t["state"] == "COMPLETE"]
    assert result["best"]["value"] == max(t["value"] for t in done)
    best = healthnn.load_config(tmp_path / "t" / "best.toml")
    assert best.tune is None and best.train.ensemble == 2
    assert best.model.params["hidden"] == result["best"]["values"]["model.hidden"]
    assert best.train.lr == pytest.approx(result["best"]["values"]["train.lr"])
    # the final bundle: a normal bundle that reloads to identical predictions, with spread
    bundle = healthnn.load_bundle(tmp_path / "t" / "best")
    rows = pd.read_csv(table).head(20)
    first = bundle.predict(rows)
    assert "prob_1_sd" in first and (first["prob_1_sd"] > 0).all()
    again = healthnn.load_bundle(tmp_path / "t" / "best").predict(rows)
    pd.testing.assert_frame_equal(first, again)
    test_csv = pd.read_csv(tmp_path / "t" / "best" / "predictions_test.csv")
    assert "prob_1_sd" in test_csv.columns
    saved = json.loads((tmp_path / "t" / "tune.json").read_text())
    assert saved["final"]["test"]["auroc"]["value"] == pytest.approx(
        bundle.metrics["test"]["auroc"]["value"])


@pytest.mark.slow
def test_tune_unknown_metric(table, tmp_path, one_thread):
    c = _cfg("classification", table)
    c["tune"] = {"metric": "auroc_typo", "train": {"lr": [0.001, 0.01]}}
    with pytest.raises(ConfigError) as e:
        tune(c, tmp_path / "t", trials=2, log=lambda m: None)
    assert e.value.key == "tune.metric" and "auroc" in e.value.hint


@pytest.mark.slow
def test_tune_parallel_processes_share_one_study(table, tmp_path):
    c = _cfg("regression", table)
    c["tune"] = {"metric": "rmse", "keep_trials": True,
                 "train": {"lr": {"low": 1e-3, "high": 1e-2}}}
    result = tune(c, tmp_path / "t", trials=2, jobs=2, log=lambda m: None)
    assert result["direction"] == "minimize"
    kept = sorted(p.name for p in (tmp_path / "t" / "trials").iterdir())
    assert kept[:2] == ["trial_000", "trial_001"]  # [tune] keep_trials = true keeps them
    numbers = sorted(t["number"] for t in result["trials"])
    assert len(numbers) >= 2 and numbers == list(range(len(numbers)))
    pids = {t["number"]: t["pid"] for t in result["trials"]}
    assert pids[0] == os.getpid() and pids[1] != os.getpid()  # trial 1 ran in a worker process
    assert result["best"]["value"] == min(t["value"] for t in result["trials"]
                                          if t["state"] == "COMPLETE")


@pytest.mark.slow
def test_nested_cv_scores_outer_folds_with_models_chosen_without_them(table, tmp_path, one_thread):
    c = _cfg("classification", table, split={"method": "kfold", "folds": 2})
    c["tune"] = {"metric": "auroc", "train": {"lr": [0.003, 0.03]}}
    result = tune(c, tmp_path / "n", trials=2, log=lambda m: None)
    nested = result["nested_cv"]
    assert len(nested["outer"]) == 2
    for fold in nested["outer"]:
        assert fold["best_values"]["train.lr"] in (0.003, 0.03)
        assert 0 <= fold["test"]["auroc"]["value"] <= 1
    assert "auroc" in nested["pooled"]
    assert (tmp_path / "n" / "best" / "model.safetensors").is_file()


@pytest.mark.slow
def test_learning_curve_in_report(table, tmp_path, one_thread):
    c = _cfg("classification", table)
    c["report"] = {"learning_curve": [0.25, 0.5], "importance": False}
    c["eval"] = {"bootstrap": 20}
    b = healthnn.train(c, tmp_path / "b", log=lambda m: None)
    curve = b.manifest["learning_curve"]["points"]
    assert [p["fraction"] for p in curve] == [0.25, 0.5, 1.0]
    assert curve[0]["train_rows"] < curve[1]["train_rows"] < curve[2]["train_rows"]
    assert curve[-1]["test"] == b.metrics["test"]
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    section = next(s for s in rep["sections"] if s["id"] == "learning_curve")
    assert section["tables"][0]["rows"][0][1] == curve[0]["train_rows"]
    assert "Learning curve" in (tmp_path / "b" / "report.html").read_text()
    assert not (tmp_path / "b" / "learning_curve").exists()


@pytest.mark.slow
def test_tune_on_a_local_ray_instance(table, tmp_path):
    pytest.importorskip("ray")
    c = _cfg("classification", table)
    c["tune"] = {"metric": "auroc", "train": {"lr": {"low": 1e-3, "high": 1e-2}}}
    result = tune(c, tmp_path / "t", trials=3, jobs=2, ray_address="local", log=lambda m: None)
    assert result["ray"] == "local"
    assert len(result["trials"]) >= 3 and all(t["state"] == "COMPLETE" for t in result["trials"])
    assert (tmp_path / "t" / "best" / "model.safetensors").is_file()


def test_a_diverging_trial_fails_alone(table, tmp_path, one_thread):
    """A trial whose values make training diverge scores NaN (Optuna: FAIL); the search goes on."""
    import optuna

    from healthnn.tuning._search import Objective, Param, base_dict

    c = _cfg("classification", table)
    c["train"]["grad_clip"] = 0.0
    c["tune"] = {"metric": "auroc", "train": {"lr": [1e-3, 1e30]}}
    cfg = healthnn.load_config(c)
    objective = Objective(base_dict(cfg) | {"tune": c["tune"]}, str(cfg.base_dir), cfg.source,
                          [Param("train.lr", "choice", choices=[1e-3, 1e30])], str(tmp_path),
                          None, True)
    trial = optuna.trial.FixedTrial({"train.lr": 1})
    assert np.isnan(objective(trial)) and "training loss became nan" in trial.user_attrs["error"]
    assert 0 <= objective(optuna.trial.FixedTrial({"train.lr": 0})) <= 1
