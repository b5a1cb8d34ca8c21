"""The command line for tune, k-fold train and pretrain, and each bad input of issue 9: one line,
exit code 2, naming the key."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import make_table
from safetensors.torch import save_file

from healthnn.cli import main

pytest.importorskip("optuna")

CFG = """task = "classification"
[data]
train = "p.csv"
target = "outcome"
id = "patient"
[train]
epochs = 3
batch_size = 32
progress = false
[eval]
bootstrap = 20
[report]
enabled = false
"""

TUNE = """
[tune]
metric = "auroc"
[tune.train]
lr = { low = 0.001, high = 0.03, log = true }
[tune.model]
hidden = [[8], [16]]
"""


@pytest.fixture
def root(tmp_path):
    make_table(n=120, seed=2).to_csv(tmp_path / "p.csv", index=False)
    return tmp_path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_tune_command(root, capsys, one_thread):
    (root / "c.toml").write_text(CFG + TUNE)
    code, out, err = run(capsys, "tune", root / "c.toml", "--trials", "2", "--out", root / "t")
    assert code == 0, err
    assert "2 trials" in out and "best config:" in out and "test: auroc" in out
    saved = json.loads((root / "t" / "tune.json").read_text())
    assert len(saved["trials"]) == 2 and (root / "t" / "best" / "model.safetensors").is_file()
    assert not (root / "t" / "trials").exists()  # removed unless [tune] keep_trials = true


@pytest.mark.slow
def test_train_kfold_command(root, capsys, one_thread):
    (root / "c.toml").write_text(CFG.replace("[train]", "[split]\nmethod = \"kfold\"\nfolds = 3\n[train]"))
    code, out, err = run(capsys, "train", root / "c.toml", "--out", root / "cv")
    assert code == 0, err
    assert out.count("fold ") >= 3 and "pooled (120 rows, 3 folds): auroc" in out
    assert "baseline logistic: auroc" in out and "of 3 folds" in out  # issue 20
    assert all((root / "cv" / f"fold_{k}" / "model.safetensors").is_file() for k in (1, 2, 3))


def _error(capsys, *args) -> str:
    code, out, err = run(capsys, *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()  # progress notes may come first; then one error line
    assert "Traceback" not in err and sum(": error:" in line for line in lines) == 1
    assert lines[-1].startswith("healthnn ") and ": error: " in lines[-1]
    return lines[-1]


def test_empty_search_space(root, capsys):
    (root / "c.toml").write_text(CFG + "\n[tune]\nmetric = \"auroc\"\n")
    err = _error(capsys, "tune", root / "c.toml", "--trials", "2", "--out", root / "t")
    assert "key 'tune'" in err and "search space is empty" in err


def test_range_low_above_high(root, capsys):
    (root / "c.toml").write_text(CFG + TUNE.replace("low = 0.001, high = 0.03", "low = 0.03, high = 0.001"))
    err = _error(capsys, "tune", root / "c.toml", "--out", root / "t")
    assert "key 'tune.train.lr'" in err and "low (0.03) > high (0.001)" in err


def test_metric_that_does_not_exist(root, capsys, one_thread):
    (root / "c.toml").write_text(CFG + TUNE.replace('metric = "auroc"', 'metric = "c_index"'))
    err = _error(capsys, "tune", root / "c.toml", "--trials", "3", "--out", root / "t")
    assert "key 'tune.metric'" in err and "'c_index' does not exist" in err and "auroc" in err


def test_more_folds_than_smallest_class(root, capsys):
    (root / "c.toml").write_text(CFG.replace("[train]", "[split]\nmethod = \"kfold\"\nfolds = 200\n[train]"))
    err = _error(capsys, "train", root / "c.toml", "--out", root / "cv")
    assert "key 'split.folds'" in err and "200 folds need at least 200" in err


def test_checkpoint_of_another_architecture(root, capsys):
    save_file({"conv.weight": torch.zeros(8, 1, 3, 3), "conv.bias": torch.zeros(8)},
              str(root / "cnn.safetensors"))
    (root / "c.toml").write_text(CFG.replace("[train]", "[model]\ninit = \"cnn.safetensors\"\n"
                                             "freeze = [\"net.0\"]\n[train]"))
    err = _error(capsys, "train", root / "c.toml", "--out", root / "b")
    assert "key 'model.init'" in err and "does not match this model's architecture" in err
    (root / "c.toml").write_text(CFG.replace("[train]", "[model]\ninit = \"missing\"\n[train]"))
    assert "checkpoint not found" in _error(capsys, "train", root / "c.toml", "--out", root / "b")


def test_freeze_without_init(root, capsys):
    (root / "c.toml").write_text(CFG.replace("[train]", "[model]\nfreeze = [\"net.0\"]\n[train]"))
    assert "key 'model.freeze'" in _error(capsys, "train", root / "c.toml", "--out", root / "b")


def test_pretrain_a_table_config(root, capsys):
    (root / "c.toml").write_text(CFG)
    err = _error(capsys, "pretrain", root / "c.toml", "--out", root / "enc")
    assert "available for images" in err


@pytest.mark.slow
def test_train_ensemble_flag_gives_spread(root, capsys, one_thread):
    import pandas as pd

    (root / "c.toml").write_text(CFG)
    code, out, err = run(capsys, "train", root / "c.toml", "--out", root / "b", "--ensemble", "2")
    assert code == 0, err
    preds = pd.read_csv(root / "b" / "predictions_test.csv")
    assert (preds["prob_1_sd"] > 0).all() and "prob_0_sd" in preds
