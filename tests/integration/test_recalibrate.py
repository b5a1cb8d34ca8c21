"""healthnn recalibrate (issue 22): a model moved to a site whose outcome rate differs is
recalibrated on the site's rows; calibration improves on held-out local rows, the ranking is
kept, the new bundle predicts with the map, and bad local data gives one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import FAST, config_dict, make_table

from healthnn.bundle import load_bundle
from healthnn.cli import main
from healthnn.pipeline import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recal")
    make_table(n=400, seed=1).to_csv(tmp / "home.csv", index=False)
    cfg = config_dict("classification", tmp / "home.csv", target="outcome")
    cfg["train"] = dict(FAST)
    cfg["eval"] = {"bootstrap": 50}
    cfg["report"] = {"importance": False}
    train(cfg, tmp / "home", log=lambda m: None)
    site = make_table(n=600, seed=2)
    # the site's patients die far more often for the same inputs: risks need to move up
    site.loc[site.sample(frac=0.35, random_state=0).index, "outcome"] = 1
    site.to_csv(tmp / "site.csv", index=False)
    return tmp


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("method", ["intercept", "logistic", "isotonic"])
def test_recalibration_moves_risks_to_the_site(trained, tmp_path, capsys, method):
    out = tmp_path / "site_bundle"
    code, stdout, err = run_cli(capsys, "recalibrate", trained / "home", trained / "site.csv",
                                "--out", out, "--method", method)
    assert code == 0, err
    assert "calibration_intercept" in stdout and "before" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    before = metrics["local_before_recalibration"]
    after = metrics["local_after_recalibration"]
    # calibration-in-the-large moves towards 0 on rows the map was not fitted on
    assert abs(after["calibration_intercept"]["value"]) < abs(
        before["calibration_intercept"]["value"])
    if method != "isotonic":  # monotone maps keep the ranking
        assert after["auroc"]["value"] == pytest.approx(before["auroc"]["value"], abs=1e-9)
    assert (out / "recalibration" / "report.html").is_file()
    new, old = load_bundle(out), load_bundle(trained / "home")
    rows = pd.read_csv(trained / "site.csv").head(50)
    p_new = new.predict(rows)["prob_1"].to_numpy()
    p_old = old.predict(rows)["prob_1"].to_numpy()
    assert p_new.mean() > p_old.mean()  # the site's higher rate is in the predictions
    rec = new.manifest["recalibration"]
    assert rec["history"][0]["method"] == method and len(rec["history"][0]["data"]["sha256"]) == 64
    again = load_bundle(out).predict(rows)["prob_1"].to_numpy()
    assert np.array_equal(again, p_new)  # reload gives identical predictions


def test_bad_local_data_is_one_line(trained, tmp_path, capsys):
    one = pd.read_csv(trained / "site.csv")
    one["outcome"] = 0
    one.to_csv(tmp_path / "one.csv", index=False)
    code, _, err = run_cli(capsys, "recalibrate", trained / "home", tmp_path / "one.csv",
                           "--out", tmp_path / "x")
    assert code == 2 and "one outcome class" in err and len(err.strip().splitlines()) == 1
    pd.read_csv(trained / "site.csv").head(10).to_csv(tmp_path / "few.csv", index=False)
    code, _, err = run_cli(capsys, "recalibrate", trained / "home", tmp_path / "few.csv",
                           "--out", tmp_path / "y")
    assert code == 2 and "at least 20" in err
    code, _, err = run_cli(capsys, "recalibrate", trained / "home", trained / "site.csv",
                           "--out", tmp_path / "z", "--method", "baseline")
    assert code == 2 and "not available" in err and "intercept" in err


def test_survival_baseline_is_reestimated_on_the_site(tmp_path, capsys):
    make_table(n=300, seed=3).to_csv(tmp_path / "home.csv", index=False)
    cfg = config_dict("survival", tmp_path / "home.csv", time="time", event="event")
    cfg["train"] = dict(FAST)
    cfg["eval"] = {"bootstrap": 20}
    cfg["report"] = {"enabled": False}
    home = train(cfg, tmp_path / "home", log=lambda m: None)
    site = make_table(n=300, seed=4)
    site["time"] = site["time"] / 3  # events come three times sooner at the site
    site.to_csv(tmp_path / "site.csv", index=False)
    code, _, err = run_cli(capsys, "recalibrate", tmp_path / "home", tmp_path / "site.csv",
                           "--out", tmp_path / "site")
    assert code == 0, err
    new = load_bundle(tmp_path / "site")
    assert new.manifest["recalibration"]["history"][0]["method"] == "baseline"
    assert new.task.baseline_cumhaz_ != home.task.baseline_cumhaz_
    rows = site.head(20)
    surv = [c for c in new.predict(rows).columns if c.startswith("surv_")]
    assert (new.predict(rows)[surv[0]] < home.predict(rows)[surv[0]]).mean() > 0.9
    risk_new, risk_old = new.predict(rows)["risk"], home.predict(rows)["risk"]
    assert np.allclose(risk_new, risk_old)  # the network's ranking is untouched
