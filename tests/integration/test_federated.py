"""Federated training with Flower: a real FedAvg simulation (Ray workers on this machine) into
a normal bundle, and every bad input caught before any worker starts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import FAST, config_dict, make_table

from healthnn import load_bundle, load_config, train
from healthnn.cli import main
from healthnn.errors import ConfigError

pytest.importorskip("flwr")
pytest.importorskip("ray")


def _table(path, n=240, sites=("north", "south")):
    df = make_table(n, seed=4)
    df["hospital"] = np.array(sites)[np.arange(n) % len(sites)]
    df.to_csv(path, index=False)
    return df


def _config(path, **federated) -> dict:
    cfg = config_dict("classification", path, categorical=["sex", "smoker"])
    cfg["train"] = {**FAST, "epochs": 1}
    cfg["federated"] = {"site_column": "hospital", **federated}
    return cfg


@pytest.mark.slow
def test_fedavg_simulation_writes_a_normal_bundle(tmp_path, capsys):
    df = _table(tmp_path / "d.csv")
    code = main(["federate", str(_config_file(tmp_path)), "--site-column", "hospital",
                 "--rounds", "2", "--out", str(tmp_path / "b")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "federated: north" in out.err and "round 2/2 averaged" in out.err
    assert "test: auroc" in out.out
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    fed = manifest["training"]["federated"]
    assert fed["strategy"] == "FedAvg (Flower)" and fed["rounds"] == 2
    split_rows = manifest["splits"]["train"]["rows"]
    assert sum(s["train_rows"] for s in fed["sites"].values()) == split_rows
    assert set(fed["sites"]) == {"north", "south"}
    history = manifest["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert manifest["training"]["best_epoch"] in (1, 2)
    assert all(np.isfinite(h["val_loss"]) for h in history)
    # the site is not a feature: prediction needs no site column, reload is identical
    assert "hospital" not in manifest["features"]
    rows = df.drop(columns=["hospital", "outcome"]).head(20)
    b = load_bundle(tmp_path / "b")
    p1 = b.predict(rows)
    pd.testing.assert_frame_equal(p1, load_bundle(tmp_path / "b").predict(rows))
    assert (p1["error"] == "").all()
    config = (tmp_path / "b" / "config.toml").read_text()
    assert "[federated]" in config and 'site_column = "hospital"' in config


def _config_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('task = "classification"\n[data]\ntrain = "d.csv"\ntarget = "outcome"\n'
                 'id = "patient"\ncategorical = ["sex", "smoker"]\n'
                 '[train]\nepochs = 1\nbatch_size = 32\nprogress = false\n'
                 '[eval]\nbootstrap = 20\n')
    return p


@pytest.mark.parametrize("federated, key, message", [
    ({"rounds": 0}, "federated.rounds", "at least 1"),
    ({"local_epochs": 0}, "federated.local_epochs", "at least 1"),
    ({"fraction": 1.5}, "federated.fraction", "(0, 1]"),
    ({"sites": "x"}, "federated.sites", "unknown key"),
])
def test_bad_federated_config(tmp_path, federated, key, message):
    _table(tmp_path / "d.csv")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("]", r"\]")) as e:
        load_config(_config(tmp_path / "d.csv", **federated))
    assert e.value.key == key


@pytest.mark.slow
def test_dp_sgd_at_every_site_spends_one_budget_over_all_rounds(tmp_path):
    _table(tmp_path / "d.csv", n=200)
    cfg = _config(tmp_path / "d.csv", rounds=2)
    cfg["train"]["privacy"] = {"epsilon": 4.0, "delta": 1e-5}
    notes: list[str] = []
    b = train(load_config(cfg), tmp_path / "b", log=notes.append)
    p = json.loads((tmp_path / "b" / "manifest.json").read_text())["training"]["privacy"]
    assert set(p["sites"]) == {"north", "south"}
    for site in p["sites"].values():  # noise chosen for 2 rounds x 1 epoch, not for one round
        assert site["steps"] == 2 * int(1 / site["sample_rate"])
        assert 0 < site["epsilon"] <= 4.0 * 1.01
    assert p["epsilon_spent"] == max(s["epsilon"] for s in p["sites"].values())
    assert b.metrics["privacy"]["epsilon"]["value"] == p["epsilon_spent"]
    assert any("DP-SGD at every site" in n for n in notes)


@pytest.mark.parametrize("column, sites, message", [
    ("site", ("north", "south"), "site column 'site' is not in the data"),
    ("hospital", ("only",), "needs at least 2 sites"),
])
def test_site_problems_are_found_before_any_worker_starts(tmp_path, column, sites, message):
    _table(tmp_path / "d.csv", sites=sites)
    cfg = _config(tmp_path / "d.csv", site_column=column)
    with pytest.raises(ConfigError, match=message):
        train(load_config(cfg), tmp_path / "b", log=lambda m: None)


def test_cli_needs_a_site_column(tmp_path, capsys):
    _table(tmp_path / "d.csv")
    code = main(["federate", str(_config_file(tmp_path)), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and "--site-column" in err and "Traceback" not in err
