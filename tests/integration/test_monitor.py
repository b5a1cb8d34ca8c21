"""Out-of-domain flags and healthnn monitor (issue 22): a model trained on one age band is
monitored on the same band and on an older one; the flag and the PSI tell them apart."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import FAST, config_dict, make_table

from healthnn.bundle import load_bundle
from healthnn.cli import main
from healthnn.errors import BundleError
from healthnn.metrics.classification import auroc
from healthnn.monitor import monitor
from healthnn.pipeline import train


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monitor")
    df = make_table(n=1600, seed=5)
    young, old = df[df["age"] < 62], df[df["age"] >= 68]
    young.iloc[:700].to_csv(tmp / "train.csv", index=False)
    young.iloc[700:].to_csv(tmp / "same.csv", index=False)
    old.to_csv(tmp / "older.csv", index=False)
    cfg = config_dict("classification", tmp / "train.csv", target="outcome")
    cfg["train"] = dict(FAST)
    cfg["eval"] = {"bootstrap": 50}
    cfg["report"] = {"enabled": False}
    train(cfg, tmp / "b", log=lambda m: None)
    return tmp


def test_prediction_rows_carry_a_domain_score_and_flag(setup):
    b = load_bundle(setup / "b")
    same = b.predict(pd.read_csv(setup / "same.csv"))
    older = b.predict(pd.read_csv(setup / "older.csv"))
    assert {"domain", "out_of_domain"} <= set(same.columns)
    assert same["out_of_domain"].mean() < 0.08 < older["out_of_domain"].mean()
    scores = np.r_[same["domain"], older["domain"]]
    shifted = np.r_[np.zeros(len(same)), np.ones(len(older))]
    assert auroc(shifted, scores) > 0.8  # the score tells shifted rows from unshifted ones


def test_monitor_report_psi_and_performance(setup, capsys):
    code = main(["monitor", str(setup / "b"), str(setup / "older.csv"), "--out",
                 str(setup / "m_old")])
    assert code == 0
    out = capsys.readouterr().out
    assert "out of domain:" in out and "age" in out
    r = json.loads((setup / "m_old" / "monitor.json").read_text())
    top = r["features"][0]
    assert top["feature"] == "age" and top["shift"] == "major"
    assert r["performance"]["rows"] == r["rows"] and "auroc" in r["performance"]["new"]
    same = monitor(setup / "b", setup / "same.csv", setup / "m_same")
    age = next(f for f in same["features"] if f["feature"] == "age")
    assert age["psi"] < 0.1 and same["out_of_domain"]["share"] < r["out_of_domain"]["share"]
    page = (setup / "m_old" / "report.html").read_text()
    assert "Population stability index" in page and "<script" not in page


def test_monitor_bad_input(setup, tmp_path, capsys):
    pd.read_csv(setup / "same.csv").drop(columns=["age"]).to_csv(tmp_path / "x.csv", index=False)
    code = main(["monitor", str(setup / "b"), str(tmp_path / "x.csv"), "--out",
                 str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "age" in err and len(err.strip().splitlines()) == 1
    b = load_bundle(setup / "b")
    b.manifest.pop("domain")
    with pytest.raises(BundleError, match="no training reference"):
        monitor(b, setup / "same.csv", tmp_path / "m2")
