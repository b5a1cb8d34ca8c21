"""The command line for event streams: mimic-cohort -> train -> predict, and bad input."""

from pathlib import Path

import pandas as pd
import pytest
from test_cli import bad, run_cli, write_config

pytestmark = pytest.mark.usefixtures("one_thread")

EHR = Path(__file__).resolve().parents[1] / "data" / "ehr"

EVENTS = """task = "event_classification"
[data]
train = "cohort/events.csv"
outcomes = "cohort/cohort.csv"
target = "in_hospital_death"
group = "subject_id"
static = ["Age", "Male"]
windows = [[0, 24]]
aggregates = ["count", "mean"]
[split]
test_size = 0.3
val_size = 0.3
[model]
hidden = [8]
[report]
enabled = false
"""


def test_mimic_cohort_train_predict(tmp_path, capsys):
    code, out, err = run_cli(capsys, "mimic-cohort", EHR / "mimic3_demo", "--out",
                             tmp_path / "cohort")
    assert code == 0, err
    assert "13 ICU stays of 12 patients, 6 in-hospital deaths" in out
    cfg = write_config(tmp_path, EVENTS)
    code, out, err = run_cli(capsys, "train", cfg, "--out", tmp_path / "b", "--set",
                             "train.epochs=2", "--set", "train.batch_size=4", "--set",
                             "eval.operating_point=prevalence")
    assert code == 0, err
    assert "auroc" in out
    # predict new events: an unknown variable is reported (count only), the stays predicted
    from healthnn.bundle import load_bundle

    ev = pd.read_csv(tmp_path / "cohort" / "events.csv")
    ev = ev[ev["variable"].isin(load_bundle(tmp_path / "b").task.variables_)]
    extra = pd.DataFrame({"stay_id": [ev["stay_id"].iloc[0]], "time": [1.0],
                          "variable": ["made_up_lab"], "value": [3.0]})
    pd.concat([ev, extra]).to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run_cli(capsys, "predict", tmp_path / "b", tmp_path / "new.csv", "--out",
                             tmp_path / "scored.csv")
    assert code == 0, err
    assert ("1 event(s) of 1 unknown variable(s) left out: 'made_up_lab' (1) (the model was "
            "not trained with them)") in err
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert len(scored) == ev["stay_id"].nunique() and "prob_1" in scored
    # the operating point chosen on the validation stays at training turns into a decision
    thr = load_bundle(tmp_path / "b").task.operating_point_["threshold"]
    assert (scored["decision"] == (scored["prob_1"] >= thr).astype(int)).all()
    # evaluate finds the outcome table named (relative to the config) in the bundle
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "b", tmp_path / "new.csv", "--out",
                             tmp_path / "ev")
    assert code == 0, err
    assert (tmp_path / "ev" / "metrics.json").is_file()


def test_event_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "cohort").mkdir()
    (tmp_path / "cohort" / "events.csv").write_text("stay,time,variable,value\n1,0,HR,80\n")
    (tmp_path / "cohort" / "cohort.csv").write_text("stay_id,in_hospital_death\n1,0\n")
    cfg = write_config(tmp_path, EVENTS)
    msg = bad(capsys, "train", cfg, "--out", tmp_path / "b")
    assert "events.csv" in msg and "column 'stay_id'" in msg and "did you mean 'stay'" in msg
    msg = bad(capsys, "mimic-cohort", tmp_path / "nowhere", "--out", tmp_path / "o")
    assert "folder not found" in msg
