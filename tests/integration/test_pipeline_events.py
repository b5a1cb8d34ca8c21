"""Event streams end to end: train (aggregates + mlp, GRU-D, Transformer) -> bundle -> reload -> predict,
evaluate; PhysioNet 2012 archives and MIMIC-III long tables; stays without events."""

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthnn.bundle import load_bundle
from healthnn.config import load_config
from healthnn.errors import ConfigError, DataError
from healthnn.pipeline import (
    evaluate,
    make_splits,
    new_task,
    predict_file,
    read_training,
    run_split,
    train,
)
from helpers import FAST

pytestmark = pytest.mark.usefixtures("one_thread")

EHR = Path(__file__).resolve().parents[1] / "data" / "ehr"
ARCHIVE = EHR / "physionet2012_set-a_subset.tar.xz"
OUTCOMES = EHR / "physionet2012_outcomes.txt"


def physionet_config(model: str = "mlp", **data) -> dict:
    params = {"mlp": {"hidden": [16]}, "grud": {"hidden": 8, "static_hidden": 4},
              "event_transformer": {"d_model": 8, "heads": 2, "layers": 1, "ff": 16,
                                    "static_hidden": 4}}[model]
    return {
        "task": "event_classification",
        "data": {"train": str(ARCHIVE), "outcomes": str(OUTCOMES),
                 "target": "In-hospital_death", "positive": "1", **data},
        "model": {"name": model, **params},
        "train": {**FAST, "epochs": 3, "batch_size": 16},
        "eval": {"bootstrap": 20},
        "report": {"importance_repeats": 1},
    }


@pytest.mark.parametrize("model", ["mlp", "grud", "event_transformer"])
def test_physionet_archive_train_reload_predict(tmp_path, model):
    notes = []
    cfg = physionet_config(model)
    if model != "mlp":  # the report is tested with the mlp
        cfg["report"] = {"enabled": False}
    else:
        cfg["eval"]["operating_point"] = "prevalence"
    bundle = train(load_config(cfg), tmp_path / "b", log=notes.append)
    text = "\n".join(notes)
    # the outcome row without a stay file is left out, and said so
    assert "1 stay(s) of the outcome table have no usable events" in text
    assert "placeholder value(s) (e.g. -1) set to missing" in text
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert sum(manifest["splits"][s]["rows"] for s in ("train", "val", "test")) == 60
    assert "auroc" in bundle.metrics["test"]
    for name in ("logistic", "xgboost"):  # issue 20: on the per-window aggregates
        assert "auroc" in bundle.metrics[f"test_baseline_{name}"]
        assert "auroc_delong" in bundle.metrics[f"test_vs_baseline_{name}"]
    cols = bundle.task.baselines_[0].columns  # the stays' aggregates and statics only
    assert len(cols) > 10 and not {"In-hospital_death", "RecordID", "events"} & set(cols)
    again = load_bundle(tmp_path / "b")
    frame = again.task.read_inputs(ARCHIVE)
    pd.testing.assert_frame_equal(bundle.predict(frame), again.predict(frame))
    saved = pd.read_csv(tmp_path / "b" / "predictions_test.csv", dtype={"RecordID": str})
    p = again.predict(frame).set_index("RecordID").loc[saved["RecordID"], "prob_1"]
    np.testing.assert_allclose(p.to_numpy(dtype=float), saved["prob_1"], rtol=1e-5)
    assert (tmp_path / "b" / "report.html").is_file() == (model == "mlp")
    if model == "mlp":  # the report shows the operating point chosen on the validation stays
        rep = json.loads((tmp_path / "b" / "report.json").read_text())
        section = next(x for x in rep["sections"] if x["id"] == "operating_point")
        assert f"{bundle.task.operating_point_['threshold']:.4g}" in section["text"]
        assert "Operating point (decision threshold)" in (tmp_path / "b" / "report.html"
                                                           ).read_text()
        assert "decision" in again.predict(frame)


def test_predict_and_evaluate_files_with_stays_without_events(tmp_path):
    from healthnn.metrics import operating_point

    cfg = physionet_config()
    cfg["report"] = {"enabled": False}
    cfg["eval"]["operating_point"] = "min_se_ppv"
    config = load_config(cfg)
    task = new_task(config)
    splits = make_splits(config, task, *read_training(config, task))
    run = run_split(config, task, splits, tmp_path / "b", log=lambda m: None)
    bundle = run.bundle
    # the operating point is chosen on the validation outputs only, and saved in the bundle
    outputs, y_val = run.scored.outputs["val"], run.splits["val"].y
    ref = operating_point(task.codes(y_val) == 1, task.probabilities(outputs)[:, 1],
                          "min_se_ppv")
    op = json.loads((tmp_path / "b" / "task.json").read_text())["operating_point"]
    assert op["threshold"] == pytest.approx(ref["threshold"]) and op["chosen_on"] == "val"
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["operating_point"][
        "threshold"] == op["threshold"]
    saved = pd.read_csv(tmp_path / "b" / "predictions_test.csv", dtype={"decision": str})
    assert (saved["decision"] == np.where(saved["prob_1"] >= op["threshold"], "1", "0")).all()
    assert load_bundle(tmp_path / "b").task.operating_point_ == bundle.task.operating_point_
    # a folder of stay files: one file holds only its header and RecordID line
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(tmp_path / "in", filter="data")
    folder = tmp_path / "in" / "set-a"
    (folder / "999999.txt").write_text("Time,Parameter,Value\n00:00,RecordID,999999\n")
    n, n_err = predict_file(tmp_path / "b", folder, tmp_path / "scored.csv")
    assert (n, n_err) == (61, 1)
    scored = pd.read_csv(tmp_path / "scored.csv", dtype={"RecordID": str},
                         keep_default_na=False)
    assert scored["RecordID"].nunique() == 61
    row = scored.set_index("RecordID").loc["999999"]
    assert row["error"] == "no usable time-series events for this stay" and row["prob_1"] == ""
    assert row["decision"] == ""  # no prediction, no decision
    ok = scored[scored["error"] == ""]
    assert (ok["decision"] == np.where(ok["prob_1"].astype(float) >= op["threshold"], "1",
                                       "0")).all()
    assert (scored["events"].astype(int) > 0).sum() == 60  # the count, never the values
    # evaluate: the outcome row without a stay file is reported, the rest evaluated
    result = evaluate(tmp_path / "b", ARCHIVE, tmp_path / "ev")
    assert result.n_rows == 61 and result.n_errors == 1
    assert "auroc" in json.loads((tmp_path / "ev" / "metrics.json").read_text())["test"]


def test_mimic_long_table_with_patient_groups(tmp_path):
    from healthnn.data.mimic import build_mimic_cohort

    build_mimic_cohort(EHR / "mimic3_demo", tmp_path / "cohort")
    # one stay loses its outcome row: reported and left out, the rest trains
    cohort = pd.read_csv(tmp_path / "cohort" / "cohort.csv")
    cohort.iloc[1:].to_csv(tmp_path / "cohort" / "cohort.csv", index=False)
    cfg = {
        "task": "event_classification",
        "data": {"train": str(tmp_path / "cohort" / "events.csv"),
                 "outcomes": str(tmp_path / "cohort" / "cohort.csv"),
                 "target": "in_hospital_death", "group": "subject_id",
                 "static": ["Age", "Male", "EmergencyAdmission"],
                 "windows": [[-24, 0], [0, 24]], "aggregates": ["count", "mean", "last"]},
        "split": {"test_size": 0.3, "val_size": 0.3},
        "model": {"hidden": [8]},
        "train": {**FAST, "epochs": 2, "batch_size": 4},
        "eval": {"bootstrap": 10},
        "report": {"enabled": False},
    }
    notes = []
    bundle = train(load_config(cfg), tmp_path / "b", log=notes.append)
    assert "note: 1 stay(s) of events.csv have events but no outcome" in "\n".join(notes)
    names = bundle.task.feature_names
    assert "Age" in names and any(n.endswith("_count@-24-0h") for n in names)
    preds = pd.read_csv(tmp_path / "b" / "predictions_test.csv")
    test_subjects = set(cohort.set_index("stay_id").loc[preds["stay_id"], "subject_id"])
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["splits"]["test"]["rows"] == len(preds) and test_subjects
    assert sum(manifest["splits"][s]["rows"] for s in ("train", "val", "test")) == 12


def test_bad_event_configs_and_tables(tmp_path):
    with pytest.raises(ConfigError, match="data.outcomes"):
        load_config({**physionet_config(), "data": {"train": str(ARCHIVE),
                                                    "target": "In-hospital_death"}})
    with pytest.raises(ConfigError, match="did you mean 'slope'"):
        load_config(physionet_config(aggregates=["mean", "slop"]))
    with pytest.raises(ConfigError, match="windows"):
        load_config(physionet_config(windows=[[48, 0]]))
    with pytest.raises(ConfigError, match="does not serve task 'event_classification'"):
        load_config({**physionet_config(), "model": {"name": "dmpnn"}})
    dup = tmp_path / "outcomes.csv"
    dup.write_text(OUTCOMES.read_text() + OUTCOMES.read_text().splitlines()[1] + "\n")
    with pytest.raises(DataError, match="share a stay id"):
        train(load_config(physionet_config(outcomes=str(dup))), tmp_path / "b",
              log=lambda m: None)


def test_evaluate_with_another_outcome_table(tmp_path, capsys):
    """External validation in one command: events of another set with its own outcome table
    (healthnn evaluate BUNDLE set-b/ --outcomes Outcomes-b.txt), issue 21."""
    from healthnn.cli import main

    cfg = physionet_config("mlp")
    cfg["report"] = {"enabled": False}
    train(load_config(cfg), tmp_path / "b", log=lambda m: None)
    other = pd.read_csv(OUTCOMES)
    other["In-hospital_death"] = 1 - other["In-hospital_death"]  # a different set of labels
    other.to_csv(tmp_path / "Outcomes-other.txt", index=False)
    code = main(["evaluate", str(tmp_path / "b"), str(ARCHIVE), "--out", str(tmp_path / "ev"),
                 "--outcomes", str(tmp_path / "Outcomes-other.txt")])
    assert code == 0
    table = pd.read_csv(tmp_path / "ev" / "predictions.csv")
    scored = table[table["error"].isna()].merge(other, on="RecordID", how="left")
    assert len(scored) > 10
    assert (scored["In-hospital_death_x"] == scored["In-hospital_death_y"]).all()  # its labels
    code = main(["evaluate", str(tmp_path / "b"), str(ARCHIVE), "--out", str(tmp_path / "e2"),
                 "--outcomes", str(tmp_path / "missing.txt")])
    assert code == 2 and "outcome table not found" in capsys.readouterr().err
