"""End-to-end: train -> bundle -> reload -> predict/evaluate, for every table task."""

import json

import numpy as np
import pandas as pd
import pytest

import healthnn
from healthnn.bundle import load_bundle
from healthnn.config import load_config
from healthnn.pipeline import evaluate, predict_file, train

from helpers import config_dict, make_table

METRICS = {
    "classification": ["auroc", "auprc", "accuracy", "balanced_accuracy", "sensitivity",
                       "specificity", "ppv", "npv", "f1", "brier", "ece", "calibration_slope",
                       "calibration_intercept", "conformal_coverage", "conformal_set_size"],
    "regression": ["rmse", "mae", "r2", "conformal_coverage", "conformal_width"],
    "survival": ["c_index", "uno_c", "td_auc", "ibs"],
}


@pytest.mark.parametrize("task, model", [("classification", "mlp"), ("regression", "mlp"),
                                         ("survival", "deepsurv"),
                                         ("survival", "logistic_hazard")])
def test_train_reload_predict(tmp_path, table_csv, task, model):
    cfg = load_config(config_dict(task, table_csv, categorical=["smoker"]),
                      overrides=[f"model.name={model!r}".replace("'", '"')])
    bundle = train(cfg, tmp_path / "b", log=lambda m: None)
    files = {p.name for p in (tmp_path / "b").iterdir()}
    assert {"model.safetensors", "config.toml", "task.json", "metrics.json", "manifest.json",
            "predictions_test.csv"} <= files
    assert "checkpoint.pt" not in files

    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    base = {"classification": ["logistic", "xgboost"], "regression": ["linear", "xgboost"],
            "survival": ["cox", "xgboost_cox"]}[task]  # issue 20: [baseline] defaults
    assert set(metrics) == {"val", "test", *(f"test_{w}_{b}" for b in base
                                             for w in ("baseline", "vs_baseline"))}
    assert list(metrics["test"]) == METRICS[task]
    for m in metrics["test"].values():
        assert set(m) == {"value", "ci_low", "ci_high"}
    m = metrics["test"][METRICS[task][0]]
    assert m["ci_low"] <= m["value"] <= m["ci_high"]

    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert len(manifest["data"]["train"]["sha256"]) == 64
    assert manifest["versions"]["torch"] and manifest["seed"]["train"] == 42
    assert sum(s["rows"] for s in manifest["splits"].values()) == 240

    # reload: identical predictions, and the saved test predictions are reproduced
    df = pd.read_csv(table_csv)
    again = load_bundle(tmp_path / "b")
    p1, p2 = bundle.predict(df), again.predict(df)
    pd.testing.assert_frame_equal(p1, p2)
    saved = pd.read_csv(tmp_path / "b" / "predictions_test.csv")
    assert len(saved) == manifest["splits"]["test"]["rows"]
    pred_cols = [c for c in p1.columns if c.startswith(("prob_", "risk", "surv_", "prediction"))]
    redo = p2.iloc[saved["row"] - 1]
    assert (saved["patient"].to_numpy() == redo["patient"].to_numpy()).all()
    for col in pred_cols:
        if col == "prediction" and task == "classification":
            assert (saved[col].astype(str).to_numpy() == redo[col].astype(str).to_numpy()).all()
        else:
            np.testing.assert_allclose(saved[col], redo[col].astype(float), rtol=1e-12)
    # split-conformal uncertainty: calibrated on the validation rows, saved, reproduced
    conformal = json.loads((tmp_path / "b" / "conformal.json").read_text()) \
        if task != "survival" else None
    if task == "classification":
        assert conformal["kind"] == "classes" and conformal["alpha"] == 0.1
        assert conformal["n_calibration"] == manifest["splits"]["val"]["rows"]
        assert set(p1["set"]) <= {"0", "1", "0|1", ""}
        assert (saved["set"].fillna("").astype(str).to_numpy()
                == redo["set"].astype(str).to_numpy()).all()
    elif task == "regression":
        q = conformal["qhat"][0]
        np.testing.assert_allclose(p1["hi"] - p1["prediction"], q)
        np.testing.assert_allclose(p1["prediction"] - p1["lo"], q)
        np.testing.assert_allclose(saved["lo"], redo["lo"].astype(float), rtol=1e-12)
        inside = (saved["los"] >= saved["lo"]) & (saved["los"] <= saved["hi"])
        assert metrics["test"]["conformal_coverage"]["value"] == pytest.approx(inside.mean())
    else:
        assert not (tmp_path / "b" / "conformal.json").exists()  # no simple valid choice
        assert not {"set", "lo", "hi"} & set(p1.columns)
    if task == "survival":
        surv = [c for c in saved.columns if c.startswith("surv_")]
        assert len(surv) == 3
        assert ((saved[surv] >= 0) & (saved[surv] <= 1)).all().all()
        assert (np.diff(saved[surv].to_numpy(), axis=1) <= 1e-12).all()  # decreasing in t


def test_predict_reports_bad_rows_and_keeps_the_rest(tmp_path, table_csv):
    cfg = load_config(config_dict("classification", table_csv))
    train(cfg, tmp_path / "b", log=lambda m: None)
    df = pd.read_csv(table_csv).head(10).drop(columns=["outcome"])
    df["age"] = df["age"].astype(object)
    df.loc[3, "age"] = "unknown"
    df.loc[5, "sex"] = "X"  # unseen category: still predicted
    df.to_csv(tmp_path / "new.csv", index=False)
    n, errors = predict_file(tmp_path / "b", tmp_path / "new.csv", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert (n, errors) == (10, 1)
    assert "age" in out.loc[3, "error"] and out.loc[3, "prob_1"] == ""
    assert out.drop(index=3)["prob_1"].astype(float).between(0, 1).all()
    assert list(out.columns[: len(df.columns)]) == list(df.columns)
    assert out.loc[3, "age"] == "unknown"  # input values written back unchanged
    # parquet in, parquet out
    df.astype({"age": str}).to_parquet(tmp_path / "new.parquet")
    predict_file(tmp_path / "b", tmp_path / "new.parquet", tmp_path / "out.parquet")
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 10
    # the conformal set is written beside each prediction; 'evaluate' checks its coverage on
    # new labelled rows (the hand count from predictions.csv equals metrics.json)
    assert out.loc[3, "set"] == "" and set(out.drop(index=3)["set"]) <= {"0", "1", "0|1"}
    make_table(150, seed=9).to_csv(tmp_path / "ext.csv", index=False)
    result = evaluate(tmp_path / "b", tmp_path / "ext.csv", tmp_path / "ev")
    table = pd.read_csv(tmp_path / "ev" / "predictions.csv", keep_default_na=False, dtype=str)
    hits = [o in s.split("|") for o, s in zip(table["outcome"], table["set"], strict=True)]
    assert result.metrics["test"]["conformal_coverage"]["value"] == pytest.approx(np.mean(hits))


def test_evaluate_on_new_labelled_data(tmp_path, table_csv):
    cfg = load_config(config_dict("survival", table_csv))
    train(cfg, tmp_path / "b", log=lambda m: None)
    other = make_table(120, seed=7)
    other.loc[2, "time"] = np.nan  # no outcome: reported, not used
    other.to_csv(tmp_path / "ext.csv", index=False)
    result = evaluate(tmp_path / "b", tmp_path / "ext.csv", tmp_path / "ev")
    assert result.n_errors == 1 and result.n_rows == 120
    assert 0.5 < result.metrics["test"]["c_index"]["value"] <= 1
    table = pd.read_csv(tmp_path / "ev" / "predictions.csv", keep_default_na=False)
    assert table.loc[2, "error"] == "no observed outcome in this row"
    assert (tmp_path / "ev" / "metrics.json").is_file()


def test_group_split_keeps_patients_together(tmp_path, table_csv):
    d = config_dict("classification", table_csv, group="patient")
    d["data"].pop("id")
    bundle = train(load_config(d), tmp_path / "b", log=lambda m: None)
    assert bundle.manifest["splits"]["test"]["rows"] % 2 == 0  # both rows of each patient
    assert "patient" not in bundle.manifest["features"]


def test_public_api_and_multiclass(tmp_path):
    df = make_table(300, seed=3)
    df["stage"] = np.where(df["age"] > 65, "III", np.where(df["age"] > 55, "II", "I"))
    df.drop(columns=["age"]).to_csv(tmp_path / "t.csv", index=False)
    d = config_dict("classification", tmp_path / "t.csv", target="stage")
    bundle = healthnn.train(d, tmp_path / "b", log=lambda m: None)
    assert list(bundle.metrics["test"])[:2] == ["auroc_macro", "auroc_micro"]
    out = bundle.predict(pd.read_csv(tmp_path / "t.csv"))
    assert {"prob_I", "prob_II", "prob_III", "prediction"} <= set(out.columns)
    np.testing.assert_allclose(out[["prob_I", "prob_II", "prob_III"]].sum(1), 1)


def test_resume_after_interruption(tmp_path, table_csv, monkeypatch):
    def cfg(epochs):
        d = config_dict("classification", table_csv)
        d["train"].update(epochs=epochs, patience=50)
        return d

    full = train(cfg(6), tmp_path / "full", log=lambda m: None)

    import healthnn.training.trainer as trainer_mod

    real = trainer_mod.Trainer._save_checkpoint

    def interrupt_after_3(self, *, epoch, **kw):
        real(self, epoch=epoch, **kw)
        if epoch == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer_mod.Trainer, "_save_checkpoint", interrupt_after_3)
    with pytest.raises(KeyboardInterrupt):
        train(cfg(6), tmp_path / "part", log=lambda m: None)
    monkeypatch.setattr(trainer_mod.Trainer, "_save_checkpoint", real)
    assert (tmp_path / "part" / "checkpoint.pt").is_file()
    resumed = train(cfg(6), tmp_path / "part", resume=True, log=lambda m: None)
    assert resumed.manifest["training"]["epochs_run"] == 6
    assert resumed.metrics == full.metrics
    with pytest.raises(healthnn.BundleError, match="no checkpoint"):
        train(cfg(6), tmp_path / "fresh", resume=True, log=lambda m: None)


def test_identifier_like_text_column_is_not_a_feature(tmp_path, table_csv):
    d = config_dict("classification", table_csv)
    d["data"].pop("id")
    notes = []
    bundle = train(d, tmp_path / "b", log=notes.append)
    assert not any(f.startswith("patient") for f in bundle.manifest["features"])
    assert any("look like identifiers" in n for n in notes)
