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
    # issue 20: no baseline is fitted (it would sit in the bundle without DP)
    assert not any(k.startswith("test_baseline_") for k in bundle.metrics)
    assert any(m.startswith("baselines skipped: [train] privacy is on") for m in logs)
    assert "baselines" not in json.loads((tmp_path / "b" / "task.json").read_text())
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


def test_dp_training_of_an_image_cnn(tmp_path):
    """Images batch through a DataLoader: DP-SGD draws Poisson batches from its dataset, and
    the CNN's BatchNorm layers and in-place activations are replaced with a message."""
    from image_helpers import image_config, manifest

    cfg = image_config(manifest(tmp_path / "img", n_per_class=10))
    cfg["train"].update(epochs=2, batch_size=8)
    cfg["train"]["privacy"] = {"epsilon": 5.0, "delta": 1e-5}
    notes: list[str] = []
    bundle = train(load_config(cfg), tmp_path / "b", log=notes.append)
    spent = json.loads((tmp_path / "b" / "manifest.json").read_text())["training"]["privacy"]
    assert 0 < spent["epsilon_spent"] <= 5.0 * 1.01 and spent["steps"] > 0
    assert any("BatchNorm2d replaced by GroupNorm" in n for n in notes)
    assert not any(getattr(m, "inplace", False) for m in bundle.model.modules())
    again = load_bundle(tmp_path / "b")
    df = pd.read_csv(tmp_path / "img" / "manifest.csv")
    pd.testing.assert_frame_equal(bundle.predict(df, file=tmp_path / "img" / "manifest.csv"),
                                  again.predict(df, file=tmp_path / "img" / "manifest.csv"))
