"""Search spaces, k-fold indices, transfer matching / freezing and the NT-Xent loss (no training)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import config_dict
from torch import nn

from healthnn.config import load_config
from healthnn.data.split import kfold_indices
from healthnn.errors import ConfigError
from healthnn.models.transfer import freeze, load_matching, read_weights
from healthnn.pretraining import nt_xent
from healthnn.tuning import parse_space


def _config(tune: dict, tmp_path: Path):
    c = config_dict("classification", tmp_path / "x.csv")
    c["tune"] = tune
    return load_config(c)


# -- search space -------------------------------------------------------------------------------
def test_space_kinds(tmp_path):
    cfg = _config({"metric": "auroc", "model": {"dropout": {"low": 0.0, "high": 0.5},
                                                "hidden": [[16], [32, 32]]},
                   "train": {"lr": {"low": 1e-4, "high": 1e-2, "log": True},
                             "epochs": {"low": 2, "high": 8, "step": 2}}}, tmp_path)
    space = {p.key: p for p in parse_space(cfg)}
    assert space["model.dropout"].kind == "float"
    assert space["model.hidden"].kind == "choice" and space["model.hidden"].choices == [[16], [32, 32]]
    assert space["train.lr"].log
    assert space["train.epochs"].kind == "int" and space["train.epochs"].step == 2


@pytest.mark.parametrize("tune, key, text", [
    ({"metric": "auroc"}, "tune", "search space is empty"),
    ({"model": {}, "train": {}}, "tune", "search space is empty"),
    ({"train": {"lr": {"low": 0.1, "high": 0.01}}}, "tune.train.lr", "low (0.1) > high (0.01)"),
    ({"train": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}, "tune.train.lr", "log range"),
    ({"train": {"lrr": {"low": 0.001, "high": 0.1}}}, "tune.train.lrr", "did you mean 'lr'"),
    ({"model": {"dropout": []}}, "tune.model.dropout", "choices is empty"),
    ({"model": {"dropout": {"low": 0.1}}}, "tune.model.dropout", "needs both low and high"),
    ({"train": {"batch_size": [1, 32]}}, "tune.train.batch_size", "value 1 is not valid"),
    ({"model": {"hidden": [[16], "wide"]}}, "tune.model.hidden", "value 'wide' is not valid"),
])
def test_space_errors_name_the_key(tmp_path, tune, key, text):
    with pytest.raises(ConfigError) as e:
        parse_space(_config(tune, tmp_path))
    assert e.value.key == key and text in str(e.value)


def test_tune_section_typos_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="tune.metrc"):
        _config({"metrc": "auroc"}, tmp_path)
    with pytest.raises(ConfigError, match="tune.direction"):
        _config({"direction": "up"}, tmp_path)


# -- k-fold indices ------------------------------------------------------------------------------
def test_kfold_every_row_once_and_stratified(rng):
    y = np.array(["a"] * 70 + ["b"] * 30)
    folds = kfold_indices(100, 5, seed=3, strata=y)
    allrows = np.sort(np.concatenate(folds))
    assert np.array_equal(allrows, np.arange(100))
    for f in folds:
        assert len(f) == 20 and (y[f] == "b").sum() == 6
    assert [f.tolist() for f in folds] == [f.tolist() for f in kfold_indices(100, 5, seed=3, strata=y)]


def test_kfold_groups_never_split(rng):
    groups = np.repeat(np.arange(30), 3)
    y = np.repeat(rng.integers(0, 2, 30), 3)
    folds = kfold_indices(90, 4, seed=0, strata=y, groups=groups)
    seen = {}
    for k, f in enumerate(folds):
        for g in set(groups[f]):
            assert seen.setdefault(g, k) == k
    assert sum(len(f) for f in folds) == 90


def test_kfold_too_many_folds():
    y = np.array(["a"] * 20 + ["b"] * 3)
    with pytest.raises(ConfigError) as e:
        kfold_indices(23, 5, seed=0, strata=y)
    assert e.value.key == "split.folds" and "class 'b' has 3" in str(e.value)
    with pytest.raises(ConfigError, match="need at least 4 groups"):
        kfold_indices(6, 4, seed=0, groups=np.array([1, 1, 2, 2, 3, 3]))


def test_kfold_config_checks(tmp_path):
    c = config_dict("classification", tmp_path / "x.csv")
    c["split"] = {"method": "kfold", "folds": 1}
    with pytest.raises(ConfigError, match="split.folds"):
        load_config(c)


# -- transfer ------------------------------------------------------------------------------------
def _net(out: int = 2) -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, out))


def test_load_matching_copies_backbone_keeps_new_head():
    src, dst = _net(5), _net(2)
    copied, total, skipped = load_matching(dst, src.state_dict(), source="s")
    assert (copied, total) == (4, 6) and skipped == ["4.weight", "4.bias"]
    assert torch.equal(dst[2].weight, src[2].weight) and not torch.equal(dst[4].bias[:2], src[4].bias[:2])


def test_load_matching_refuses_another_architecture():
    other = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3))
    with pytest.raises(ConfigError) as e:
        load_matching(_net(), other.state_dict(), source="w.safetensors")
    assert e.value.key == "model.init" and "does not match" in str(e.value)
    shapes = {"0.weight": torch.zeros(8, 3), "0.bias": torch.zeros(8), "2.weight": torch.zeros(3, 8)}
    with pytest.raises(ConfigError, match=r"'0.weight' is \(8, 3\) in the checkpoint, \(8, 4\)"):
        load_matching(_net(), shapes, source="w")


def test_read_weights_bundle_ensemble_and_missing(tmp_path):
    from safetensors.torch import save_file

    src = _net()
    state = {f"members.{i}.{k}": v.clone() for i in (0, 1) for k, v in src.state_dict().items()}
    (tmp_path / "b").mkdir()
    save_file(state, str(tmp_path / "b" / "model.safetensors"))
    got = read_weights(tmp_path / "b")
    assert set(got) == set(src.state_dict()) and torch.equal(got["0.weight"], src[0].weight)
    with pytest.raises(ConfigError, match="checkpoint not found"):
        read_weights(tmp_path / "nope.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="cannot read the checkpoint"):
        read_weights(tmp_path / "junk.pt")


def test_freeze_prefixes():
    net = _net()
    assert freeze(net, ["0", "2"]) == 4
    assert [p.requires_grad for p in net.parameters()] == [False] * 4 + [True] * 2
    with pytest.raises(ConfigError, match="no parameter of this model starts with 'stem'"):
        freeze(_net(), ["stem"])
    with pytest.raises(ConfigError, match="every parameter would be frozen"):
        freeze(_net(), ["0", "2", "4"])


# -- NT-Xent -------------------------------------------------------------------------------------
def _nt_xent_reference(z: np.ndarray, t: float) -> float:
    """Chen et al. (2020), eq. 1, summed over all 2N positive pairs, one loop per anchor."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        sims = np.array([z[i] @ z[k] / t for k in range(n2)])
        denom = sum(math.exp(sims[k]) for k in range(n2) if k != i)
        total += -math.log(math.exp(sims[j]) / denom)
    return total / n2


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_nt_xent_matches_reference(rng, t):
    z = rng.normal(size=(8, 5))
    assert nt_xent(torch.tensor(z), t).item() == pytest.approx(_nt_xent_reference(z, t), rel=1e-5)
