"""DP-SGD: trains, spends no more than the budget, replaces BatchNorm, reloads identically."""

import json

import pandas as pd
import pytest
from helpers import config_dict

from healthnn.bundle import load_bundle
from healthnn.config import load_config
from healthnn.errors import ConfigError
from healthnn.pipeline import train

pytest.importorskip("opacus")


@pytest.mark.parametrize("task", ["classification", "survival"])
def test_dp_training_reports_epsilon(tmp_path, table_csv, task):
    d = config_dict(task, table_csv)
    d["train"].update(epochs=4, privacy={"epsilon": 2.0, "delta": 1e-5, "max_grad_norm": 1.0})
    logs = []
    bundle = train(d, tmp_path / "b", log=logs.append)
    eps = bundle.metrics["privacy"]["epsilon"]["value"]
    assert 0 < eps <= 2.0 + 1e-6
    assert any("BatchNorm1d replaced by GroupNorm" in m for m in logs)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["training"]["privacy"]["noise_multiplier"] > 0
    assert "BatchNorm" not in repr(bundle.model) and "GroupNorm" in repr(bundle.model)
    df = pd.read_csv(table_csv)
    pred = bundle.predict(df)
    pd.testing.assert_frame_equal(load_bundle(tmp_path / "b").predict(df), pred)
    # the replacement normalisation must not erase the inputs (constant predictions)
    col = "prob_1" if task == "classification" else "risk"
    assert pred[col].std() > 1e-3


def test_dp_config_validation(table_csv):
    d = config_dict("classification", table_csv)
    d["train"]["privacy"] = {"epsilon": -1}
    with pytest.raises(ConfigError, match="train.privacy.epsilon"):
        load_config(d)
    d["train"]["privacy"] = {"epsilon": 1, "delt": 0.1}
    with pytest.raises(ConfigError, match="did you mean 'delta'"):
        load_config(d)
    d["train"]["privacy"] = {"epsilon": 1}
    d["train"]["ensemble"] = 3
    with pytest.raises(ConfigError, match="spends the budget once per member"):
        load_config(d)
