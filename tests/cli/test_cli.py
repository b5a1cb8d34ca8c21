"""The command line: the contract users and other tools rely on, and every bad input."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import FAST, make_table

from healthnn.cli import main


def write_config(tmp_path: Path, body: str, name="c.toml") -> Path:
    train = "\n".join(f"{k} = {v!r}".replace("'", '"').replace("False", "false")
                      for k, v in FAST.items())
    p = tmp_path / name
    p.write_text(body + f"\n[train]\n{train}\n\n[eval]\nbootstrap = 20\n")
    return p


CLS = 'task = "classification"\n[data]\ntrain = "d.csv"\ntarget = "outcome"\n'
SURV = 'task = "survival"\n[data]\ntrain = "d.csv"\ntime = "time"\nevent = "event"\n'


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def data(tmp_path):
    make_table().to_csv(tmp_path / "d.csv", index=False)
    return tmp_path


def test_train_predict_evaluate_round_trip(data, capsys):
    cfg = write_config(data, CLS)
    code, out, err = run_cli(capsys, "train", cfg, "--out", data / "b", "--set", "train.epochs=3")
    assert code == 0, err
    assert "auroc" in out and "metrics.json" in out
    assert (data / "b" / "metrics.json").is_file()
    # issue 20: one line per baseline, beside the network, with the paired difference
    lines = [x for x in out.splitlines() if x.startswith("baseline ")]
    assert [x.split(":")[0] for x in lines] == ["baseline logistic", "baseline xgboost"]
    assert all("vs network" in x and "network - baseline" in x and "DeLong p =" in x
               for x in lines)
    new = pd.read_csv(data / "d.csv").drop(columns="outcome").head(20)
    new.to_csv(data / "new.csv", index=False)
    code, out, err = run_cli(capsys, "predict", data / "b", data / "new.csv", "--out", data / "p.csv")
    assert code == 0 and "predicted 20 of 20 rows" in out
    code, out, err = run_cli(capsys, "evaluate", data / "b", data / "d.csv", "--out", data / "ev")
    assert code == 0 and (data / "ev" / "metrics.json").is_file()
    assert "baseline xgboost: auroc" in out  # the saved baselines scored on the new rows


def bad(capsys, *args):
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_data_file(data, capsys):
    cfg = write_config(data, CLS.replace("d.csv", "missing.csv"))
    msg = bad(capsys, "train", cfg, "--out", data / "b")
    assert "missing.csv" in msg and "file not found" in msg


def test_missing_column(data, capsys):
    cfg = write_config(data, CLS.replace('"outcome"', '"outcom"'))
    msg = bad(capsys, "train", cfg, "--out", data / "b")
    assert "column 'outcom'" in msg and "did you mean 'outcome'" in msg and "d.csv" in msg


def test_text_in_numeric_column(data, capsys):
    df = make_table()
    df["bmi"] = df["bmi"].astype(object)
    df.loc[17, "bmi"] = "n/a?"
    df.to_csv(data / "d.csv", index=False)
    msg = bad(capsys, "train", write_config(data, CLS), "--out", data / "b")
    assert "row 18" in msg and "column 'bmi'" in msg and "expected a number" in msg


@pytest.mark.parametrize("value, fragment", [(np.nan, "no value in 'time'"),
                                             (-3.0, "negative survival time")])
def test_bad_survival_times(data, capsys, value, fragment):
    df = make_table()
    df.loc[9, "time"] = value
    df.to_csv(data / "d.csv", index=False)
    msg = bad(capsys, "train", write_config(data, SURV), "--out", data / "b")
    assert fragment in msg and "row 10" in msg


def test_all_censored(data, capsys):
    df = make_table()
    df["event"] = 0
    df.to_csv(data / "d.csv", index=False)
    msg = bad(capsys, "train", write_config(data, SURV), "--out", data / "b")
    assert "censored" in msg and "column 'event'" in msg


def test_single_class(data, capsys):
    df = make_table()
    df["outcome"] = 1
    df.to_csv(data / "d.csv", index=False)
    msg = bad(capsys, "train", write_config(data, CLS), "--out", data / "b")
    assert "single class" in msg and "column 'outcome'" in msg


def test_empty_file(data, capsys):
    (data / "d.csv").write_text("")
    msg = bad(capsys, "train", write_config(data, CLS), "--out", data / "b")
    assert "d.csv" in msg and "empty" in msg
    (data / "d.csv").write_text("age,outcome\n")
    msg = bad(capsys, "train", write_config(data, CLS), "--out", data / "b")
    assert "no rows" in msg


def test_unknown_model_and_typo(data, capsys):
    msg = bad(capsys, "train", write_config(data, CLS + '[model]\nname = "resnet999"\n'),
              "--out", data / "b")
    assert "unknown model 'resnet999'" in msg and "model.name" in msg
    msg = bad(capsys, "train", write_config(data, CLS.replace("target", "targte")),
              "--out", data / "b")
    assert "data.targte" in msg and "did you mean 'target'" in msg


def test_predict_with_missing_bundle_or_column(data, capsys):
    msg = bad(capsys, "predict", data / "nope", data / "d.csv", "--out", data / "p.csv")
    assert "bundle directory not found" in msg
    run_cli(capsys, "train", write_config(data, CLS), "--out", data / "b")
    pd.read_csv(data / "d.csv").drop(columns="age").to_csv(data / "x.csv", index=False)
    msg = bad(capsys, "predict", data / "b", data / "x.csv", "--out", data / "p.csv")
    assert "column 'age'" in msg and "x.csv" in msg


def test_real_process_debug_and_help(data):
    cfg = write_config(data, CLS.replace("d.csv", "missing.csv"))
    cmd = [sys.executable, "-m", "healthnn"]
    r = subprocess.run([*cmd, "train", str(cfg), "--out", str(data / "b")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "file not found" in r.stderr
    r = subprocess.run([*cmd, "--debug", "train", str(cfg), "--out", str(data / "b")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr
    r = subprocess.run([*cmd, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout and "predict" in r.stdout


def test_explain_tables_writes_feature_contributions(data, capsys):
    run_cli(capsys, "train", write_config(data, CLS), "--out", data / "b")
    df = pd.read_csv(data / "d.csv", dtype=str).head(5)
    df.loc[2, "age"] = "old"
    df.to_csv(data / "few.csv", index=False)
    code, out, _ = run_cli(capsys, "explain", data / "b", data / "few.csv", "--out", data / "ex")
    assert code == 0 and "1 explanation file" in out
    got = pd.read_csv(data / "ex" / "contributions.csv", keep_default_na=False)
    assert sorted(set(got["row"])) == [1, 2, 3, 4, 5]
    assert "expected a number" in got[got["row"] == 3]["error"].iloc[0]
    ok = got[got["row"] != 3]
    assert set(ok["output"]) == {"prob_1"} and np.isfinite(ok["contribution"].astype(float)).all()


def test_threads_option(data, capsys, monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", str(before))  # restored after the test
    cfg = write_config(data, CLS)
    try:
        code, _, err = run_cli(capsys, "--threads", "1", "train", cfg, "--out", data / "b",
                               "--set", "train.epochs=1", "--set", "report.enabled=false")
        assert code == 0, err
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    line = bad(capsys, "--threads", "0", "train", cfg, "--out", data / "b2")
    assert "--threads must be at least 1" in line
