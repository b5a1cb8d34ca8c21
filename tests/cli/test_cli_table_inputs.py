"""Table inputs through the command line and the bundle (issue 19 items 3, 8, 9; issue 23
items 8, 24): ``[data] exclude``, a continuous classification target, missing-value
placeholders, out-of-range and true/false inputs, non-finite model outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import make_table
from test_cli import bad, run_cli

from healthnn.bundle import load_bundle

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(tmp_path, extra: str = "", target: str = "outcome") -> str:
    p = tmp_path / "c.toml"
    p.write_text(f'task = "classification"\n[data]\ntrain = "d.csv"\ntarget = "{target}"\n'
                 f'id = "patient"\n{extra}\n[train]\nepochs = 2\nprogress = false\n'
                 '[eval]\nbootstrap = 5\n[report]\nenabled = false\n')
    return p


@pytest.fixture
def table(tmp_path):
    df = make_table(160)
    df.to_csv(tmp_path / "d.csv", index=False)
    return tmp_path


@pytest.fixture
def bundle(table, capsys):
    cfg = _config(table, 'exclude = ["los", "time", "event"]')
    code, out, err = run_cli(capsys, "train", cfg, "--out", table / "b")
    assert code == 0, err
    return table / "b"


def test_exclude_leaves_columns_out(bundle):
    b = load_bundle(bundle)
    assert b.task.preprocessor_.input_columns == ["age", "bmi", "sex", "smoker"]


def test_exclude_typo_and_conflicts_are_clear_errors(table, capsys):
    msg = bad(capsys, "train", _config(table, 'exclude = ["bmii"]'), "--out", table / "x")
    assert "column 'bmii'" in msg and "exclude" in msg and "did you mean 'bmi'" in msg
    msg = bad(capsys, "train", _config(table, 'exclude = ["outcome"]'), "--out", table / "x")
    assert "data.exclude" in msg and "target" in msg
    msg = bad(capsys, "train", _config(table, 'exclude = ["age"]\nfeatures = ["age", "sex"]'),
              "--out", table / "x")
    assert "both excluded and in [data] features" in msg


def test_continuous_target_is_refused_for_classification(table, capsys):
    msg = bad(capsys, "train", _config(table, 'exclude = ["outcome", "event"]', target="time"),
              "--out", table / "x")
    assert "column 'time'" in msg and "looks continuous" in msg and 'task = "regression"' in msg


def test_placeholders_are_missing_and_reported(table, capsys):
    df = pd.read_csv(table / "d.csv")
    df["bmi"] = df["bmi"].astype(object)
    df.loc[:9, "bmi"] = "."
    df.loc[10:12, "bmi"] = "?"
    df.to_csv(table / "d.csv", index=False)
    code, out, err = run_cli(capsys, "train", _config(table, 'exclude = ["los", "time", "event"]'),
                             "--out", table / "b")
    assert code == 0, err
    import re

    assert re.search(r"column 'bmi': \d+ cell\(s\) '\.', \d+ cell\(s\) '\?' of the training "
                     "rows read as missing", out + err), out + err
    assert "treated as categorical: bmi" not in out + err
    b = load_bundle(table / "b")
    assert "bmi" in b.task.preprocessor_.numeric_
    msg = bad(capsys, "train", _config(table, 'exclude = ["los", "time", "event"]\n'
                                             'missing_values = []'), "--out", table / "x")
    assert "column 'bmi'" in msg and "expected a number" in msg


def test_out_of_range_and_boolean_inputs_are_row_errors(bundle, tmp_path, capsys):
    rows = pd.DataFrame({"patient": ["a", "b", "c", "d", "e", "f"],
                         "age": ["61", "1e40", "-1e308", "inf", "true", "70"],
                         "sex": ["F"] * 6, "bmi": ["25"] * 6, "smoker": ["never"] * 6})
    rows.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run_cli(capsys, "predict", bundle, tmp_path / "new.csv", "--out",
                             tmp_path / "p.csv")
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert len(pred) == 6
    errors = pred["error"].tolist()
    assert errors[0] == errors[5] == ""
    assert "float32" in errors[1] and "float32" in errors[2] and "infinite" in errors[3]
    assert "true/false" in errors[4]
    assert (pred["prediction"].astype(str).str.len() > 0).tolist() == [True] + [False] * 4 + [True]
    # the API's path: JSON values (a boolean, a huge number) through the same encode
    b = load_bundle(bundle)
    api = b.predict(pd.DataFrame([{"age": True, "sex": "F", "bmi": 25, "smoker": "never"},
                                  {"age": 1e40, "sex": "F", "bmi": 25, "smoker": "never"},
                                  {"age": 63, "sex": "F", "bmi": 25, "smoker": "never"}]))
    assert "true/false" in api["error"][0] and "float32" in api["error"][1]
    assert api["error"][2] == "" and np.isfinite(api["prob_1"][2])


def test_non_finite_model_outputs_are_row_errors(bundle):
    b = load_bundle(bundle)
    layer = next(m for m in b.model.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        layer.weight[:, 0] = float("inf")  # the first feature (age) now overflows the model
    rows = pd.DataFrame({"age": [61, 75], "sex": ["F", "M"], "bmi": [25, 30],
                         "smoker": ["never", "current"]})
    out = b.predict(rows)
    assert len(out) == 2
    assert all("not a finite number" in e for e in out["error"])
    assert out["prob_1"].isna().all()
