"""Issue 19 on scikit-survival's public data sets: Veterans trains with defaults (item 6),
FLCHAIN's leaking 'chapter' is flagged before training (item 2), and 'evaluate' on the
training data says so (item 5)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from healthnn.cli import main

datasets = pytest.importorskip("sksurv.datasets")


def _write(X, y, time, event, path):
    df = X.copy()
    df[time] = y[time]
    df[event] = y[event].astype(int)
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def veterans(tmp_path_factory):
    root = tmp_path_factory.mktemp("veterans")
    X, y = datasets.load_veterans_lung_cancer()
    y = pd.DataFrame({"days": y["Survival_in_days"], "died": y["Status"]})
    _write(X, y, "days", "died", root / "vet.csv")
    (root / "vet.toml").write_text('task = "survival"\n[data]\ntrain = "vet.csv"\n'
                                   'time = "days"\nevent = "died"\n')
    return root


def test_veterans_trains_with_defaults_and_keeps_the_bundle(veterans, capsys):
    # the test split's follow-up (999 days) goes beyond the training split's (991)
    out = veterans / "bundle"
    assert main(["train", str(veterans / "vet.toml"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "truncated at tau" in err
    assert (out / "model.safetensors").is_file() and not (out / "checkpoint.pt").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    # the validation split holds the 999-day patient, beyond the training split's 991 days
    for split in ("val", "test"):
        assert set(metrics[split]) == {"c_index", "uno_c", "td_auc", "ibs"}
        for m in metrics[split].values():
            assert m["ci_low"] < m["value"] < m["ci_high"]
    assert (out / "report.html").is_file()


def test_evaluate_on_the_training_data_warns(veterans, capsys):
    out = veterans / "bundle"
    if not out.is_dir():
        pytest.skip("needs the Veterans bundle")
    assert main(["evaluate", str(out), str(veterans / "vet.csv"), "--out",
                 str(veterans / "ev")]) == 0
    err = capsys.readouterr().err
    assert "warning: this is the training data file" in err
    ev = json.loads((veterans / "ev" / "evaluation.json").read_text())
    assert ev["warnings"] and "SHA-256" in ev["warnings"][0]
    assert "Evaluation data: this is the training data file" in (
        veterans / "ev" / "report.html").read_text()
    # a file of its own with some training rows among new ones
    df = pd.read_csv(veterans / "vet.csv")
    test_rows = pd.read_csv(out / "predictions_test.csv")["row"].to_numpy() - 1
    mixed = pd.concat([df.drop(index=test_rows).head(12), df.iloc[test_rows]])
    mixed.to_csv(veterans / "mixed.csv", index=False)
    assert main(["evaluate", str(out), str(veterans / "mixed.csv"), "--out",
                 str(veterans / "ev2")]) == 0
    err = capsys.readouterr().err
    assert f"12 of {len(mixed)} evaluation rows are identical to rows of the training" in err
    # the held-out test rows alone: nothing to warn about
    df.iloc[test_rows].to_csv(veterans / "held_out.csv", index=False)
    assert main(["evaluate", str(out), str(veterans / "held_out.csv"), "--out",
                 str(veterans / "ev3")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_survival_with_too_few_test_events_is_not_estimable_and_keeps_the_model(
        veterans, tmp_path, capsys):
    df = pd.read_csv(veterans / "vet.csv")
    test = pd.concat([df[df.died == 1].head(3), df[df.died == 0].head(6)])
    test.to_csv(tmp_path / "few.csv", index=False)
    df.drop(index=test.index).to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "c.toml").write_text('task = "survival"\n[data]\ntrain = "train.csv"\n'
                                     'test = "few.csv"\ntime = "days"\nevent = "died"\n'
                                     '[train]\nepochs = 3\n[eval]\nbootstrap = 50\n')
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "c_index not estimable (3 events in the evaluation rows; at least 5" in out
    test_metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())["test"]
    assert test_metrics["c_index"]["estimable"] is False
    assert test_metrics["c_index"]["value"] is None  # null in JSON, not a number
    assert (tmp_path / "b" / "model.safetensors").is_file()
    html = (tmp_path / "b" / "report.html").read_text()
    assert "not estimable: 3 events in the evaluation rows" in html


def test_flchain_chapter_is_flagged_in_the_cli_and_the_report(tmp_path, capsys):
    X, y = datasets.load_flchain()
    keep = np.random.default_rng(0).random(len(X)) < 0.25  # 2,000 rows keep it quick
    y = pd.DataFrame({"futime": y["futime"], "death": y["death"]})
    _write(X[keep], y[keep].reset_index(drop=True).set_index(X[keep].index), "futime",
           "death", tmp_path / "flchain.csv")
    cfg = tmp_path / "fl.toml"
    cfg.write_text('task = "survival"\n[data]\ntrain = "flchain.csv"\ntime = "futime"\n'
                   'event = "death"\n[train]\nepochs = 2\n[eval]\nbootstrap = 20\n'
                   '[report]\nimportance = false\n')
    assert main(["train", str(cfg), "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "possible leakage" in ln]
    assert len(lines) == 1 and "'chapter' alone predicts the outcome" in lines[0]
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    assert [f["column"] for f in rep["data_checks"]] == ["chapter"]
    html = (tmp_path / "b" / "report.html").read_text()
    assert "Data checks (leakage)" in html and "Possible leakage: &#x27;chapter&#x27;" in html
    # refusable: [data] leakage = "error" stops before training, "off" says nothing
    assert main(["train", str(cfg), "--out", str(tmp_path / "e"), "--set",
                 "data.leakage=error"]) == 2
    assert "possible leakage: 'chapter'" in capsys.readouterr().err
    assert not (tmp_path / "e" / "model.safetensors").exists()
    assert main(["train", str(cfg), "--out", str(tmp_path / "o"), "--set",
                 "data.leakage=off"]) == 0
    assert "possible leakage" not in capsys.readouterr().err
    assert math.isfinite(json.loads((tmp_path / "o" / "metrics.json").read_text())
                         ["test"]["c_index"]["value"])
