"""[model] input_dropout of the MLP (issue 8, third round): drops inputs while training only,
keeps the weight names of bundles without it, and is validated like every hyperparameter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import healthnn
from healthnn.errors import ConfigError
from healthnn.models import validate_model_params
from healthnn.models.mlp import MLP
from tests.helpers import config_dict, make_table


def test_input_dropout_only_while_training() -> None:
    torch.manual_seed(0)
    with_drop = MLP(6, 2, hidden=[8], input_dropout=0.5)
    plain = MLP(6, 2, hidden=[8])
    # same parameter names: a bundle saved without input dropout loads into one with it
    assert list(with_drop.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(with_drop.state_dict())
    x = torch.randn(16, 6)
    with_drop.eval(), plain.eval()
    assert torch.equal(with_drop(x), plain(x))  # evaluation: no dropout at all
    with_drop.train()
    plain.train()
    torch.manual_seed(1)
    # training: about half the inputs are zeroed, the rest scaled by 1 / (1 - p)
    dropped = with_drop.input_dropout(x)
    zero = dropped == 0
    assert 0.3 < zero.float().mean().item() < 0.7
    assert torch.allclose(dropped[~zero], x[~zero] * 2)
    torch.manual_seed(2)
    out_a = with_drop(x)
    torch.manual_seed(3)
    assert not torch.equal(out_a, with_drop(x))  # noisy while training


def test_input_dropout_validated() -> None:
    with pytest.raises(ConfigError) as e:
        MLP(4, 2, input_dropout=1.0)
    assert e.value.key == "model.input_dropout"
    with pytest.raises(ConfigError) as e:
        validate_model_params("mlp", {"input_dropout": "high"}, task="classification")
    assert e.value.key == "model.input_dropout"
    with pytest.raises(ConfigError, match="input_dropout"):  # did-you-mean
        validate_model_params("mlp", {"input_droput": 0.1}, task="classification")
    assert validate_model_params("mlp", {"input_dropout": 0}, task="classification")[
        "input_dropout"] == 0.0


def test_trained_with_input_dropout_reloads_to_identical_predictions(tmp_path) -> None:
    csv = tmp_path / "t.csv"
    make_table(160).to_csv(csv, index=False)
    cfg = config_dict("classification", csv)
    cfg["model"] = {"name": "mlp", "hidden": [16], "input_dropout": 0.3}
    cfg["train"].update(epochs=3)
    cfg["eval"] = {"bootstrap": 0}
    cfg["report"] = {"enabled": False}
    bundle = healthnn.train(cfg, tmp_path / "b", log=lambda m: None)
    assert isinstance(bundle.model.input_dropout, torch.nn.Dropout)
    again = healthnn.load_bundle(tmp_path / "b")
    rows = pd.read_csv(csv).head(20)
    p1 = bundle.predict(rows)["prob_1"].to_numpy()
    p2 = again.predict(rows)["prob_1"].to_numpy()
    assert np.array_equal(p1, p2)
    assert np.array_equal(p1, again.predict(rows)["prob_1"].to_numpy())  # eval mode: no noise
