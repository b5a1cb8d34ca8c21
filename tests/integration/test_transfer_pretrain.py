"""Self-supervised pretraining on unlabelled images, then training that starts from it."""

from __future__ import annotations

import json

import pytest
import torch
from image_helpers import IMAGES, image_folder
from safetensors.torch import load_file

import healthnn
from healthnn.errors import ConfigError
from healthnn.pretraining import pretrain

pytest.importorskip("PIL")

NPZ = IMAGES / "pneumoniamnist_tiny.npz"


def _cfg(model: str = "simple_cnn", **model_extra) -> dict:
    return {"task": "image_classification",
            "data": {"train": str(NPZ), "image_size": 28},
            "model": {"name": model, **model_extra},
            "train": {"epochs": 2, "batch_size": 32, "patience": 5, "progress": False},
            "eval": {"bootstrap": 10}, "report": {"enabled": False}}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "enc"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        info = pretrain(_cfg(), out, epochs=4, batch_size=40, log=lambda m: None)
    finally:
        torch.set_num_threads(n)
    return out, info


@pytest.mark.slow
def test_pretrain_uses_train_images_only_and_learns(encoder):
    out, info = encoder
    assert info["data"]["images"] == 120  # train_images of the .npz; val/test never read
    assert info["method"] == "simclr" and len(info["history"]) == 4
    assert info["history"][-1]["loss"] < info["history"][0]["loss"]
    assert json.loads((out / "pretrain.json").read_text())["channels"] == 1
    assert "features.0.weight" in load_file(str(out / "encoder.safetensors"))


@pytest.mark.slow
def test_train_starts_from_pretrained_and_freezes(encoder, tmp_path, one_thread):
    out, _ = encoder
    msgs = []
    cfg = _cfg(init=str(out), freeze=["features.0", "features.1"])
    b = healthnn.train(cfg, tmp_path / "b", log=msgs.append)
    assert any("tensors copied" in m and "head.4.weight" in m for m in msgs)  # new head
    enc = load_file(str(out / "encoder.safetensors"))
    state = b.model.state_dict()
    assert torch.equal(state["features.0.weight"], enc["features.0.weight"])  # frozen
    # a frozen BatchNorm keeps the checkpoint's running statistics (evaluation mode in training)
    assert torch.equal(state["features.1.running_mean"], enc["features.1.running_mean"])
    assert not torch.equal(state["features.4.weight"], enc["features.4.weight"])  # fine-tuned
    assert b.config.model.init == str(out)
    again = healthnn.load_bundle(tmp_path / "b")  # the bundle reloads without the checkpoint
    assert torch.equal(again.model.state_dict()["head.1.weight"], state["head.1.weight"])


@pytest.mark.slow
def test_init_from_a_bundle_of_another_architecture(encoder, tmp_path):
    out, _ = encoder
    with pytest.raises(ConfigError) as e:
        healthnn.train(_cfg("resnet18", init=str(out)), tmp_path / "b", log=lambda m: None)
    assert e.value.key == "model.init" and "does not match this model's architecture" in str(e.value)


def test_pretrain_folder_of_unlabelled_images(tmp_path, one_thread):
    folder = image_folder(tmp_path / "imgs", n_per_class=4, size=16)
    cfg = _cfg()
    cfg["data"] = {"train": str(folder), "image_size": 16}
    info = pretrain(cfg, tmp_path / "enc", epochs=1, batch_size=8, log=lambda m: None)
    assert info["data"]["images"] == 8


def test_pretrain_refuses_tables(tmp_path):
    cfg = {"task": "classification", "data": {"train": str(tmp_path / "x.csv"), "target": "y"}}
    with pytest.raises(ConfigError, match="available for images and text"):
        pretrain(cfg, tmp_path / "enc", epochs=1)


@pytest.mark.parametrize("model", ["bigru_attention", "text_transformer"])
def test_masked_token_pretraining_then_training_shares_the_tokenizer(tmp_path, one_thread,
                                                                      model):
    """Text: pretrain on unlabelled notes, then train from the folder: the bundle uses the
    pretrained tokenizer (token ids must mean the same) and the encoder's weights."""
    import pandas as pd
    from helpers import TEXT, text_config

    pytest.importorskip("tokenizers")
    df = pd.read_csv(TEXT / "medical_abstracts_250.csv")
    df.drop(columns="label").to_csv(tmp_path / "unlabelled.csv", index=False)  # no labels
    df.head(120).to_csv(tmp_path / "labelled.csv", index=False)
    cfg = text_config(tmp_path / "unlabelled.csv", model=model)
    logs: list[str] = []
    info = pretrain(cfg, tmp_path / "pre", epochs=3, batch_size=32, lr=3e-3, log=logs.append)
    assert info["method"] == "masked-token" and info["data"]["texts"] == len(df)
    assert info["history"][-1]["loss"] < info["history"][0]["loss"]  # it learns
    assert {"encoder.safetensors", "tokenizer.json", "pretrain.json"} <= {
        p.name for p in (tmp_path / "pre").iterdir()}
    enc = load_file(str(tmp_path / "pre" / "encoder.safetensors"))
    assert not any(k.startswith("head.") for k in enc)
    train_cfg = text_config(tmp_path / "labelled.csv", model=model)
    train_cfg["model"]["init"] = str(tmp_path / "pre")
    train_cfg["train"]["epochs"] = 1
    notes: list[str] = []
    bundle = healthnn.train(train_cfg, tmp_path / "b", log=notes.append)
    assert any("tokenizer of the pretrained model" in n for n in notes)
    assert any("tensors copied" in n for n in notes)
    state = json.loads((tmp_path / "b" / "task.json").read_text())
    assert json.loads(state["tokenizer"]) == json.loads(
        (tmp_path / "pre" / "tokenizer.json").read_text())
    # the embedding started from the pretrained one (1 epoch of fine-tuning moves it little)
    start = enc["embedding.weight"]
    now = bundle.model.state_dict()["embedding.weight"]
    assert now.shape == start.shape
    assert torch.corrcoef(torch.stack([now.flatten(), start.flatten()]))[0, 1] > 0.5
