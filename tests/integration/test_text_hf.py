"""``hf_local``: fine-tune a local Hugging Face checkpoint (a tiny random BERT made here)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from healthnn.bundle import load_bundle
from healthnn.config import load_config
from healthnn.errors import ConfigError
from healthnn.pipeline import explain, train
from helpers import FAST, TEXT

transformers = pytest.importorskip(
    "transformers", reason="the 'hf' extra (transformers) is not installed")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A randomly initialised 1-layer BERT and a WordPiece tokenizer with [CLS] ... [SEP]."""
    from tokenizers import processors

    from healthnn.text.tokenizer import TextTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    texts = pd.read_csv(TEXT / "medical_abstracts_250.csv")["text"].tolist()
    tok = TextTokenizer.train(texts, vocab_size=600).tokenizer
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.save(str(folder / "tokenizer.json"))
    config = transformers.BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32,
                                     num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=128,
                                     pad_token_id=0)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def _config(train_csv, checkpoint, **model) -> dict:
    return {"task": "text_classification",
            "data": {"train": str(train_csv), "max_length": 48, "baseline": False},
            "model": {"name": "hf_local", "path": str(checkpoint), **model},
            "train": {**FAST, "epochs": 1}, "eval": {"bootstrap": 10},
            "report": {"enabled": False}}


def test_fine_tune_reload_without_checkpoint_and_explain(tmp_path, checkpoint):
    df = pd.read_csv(TEXT / "medical_abstracts_250.csv").head(100)
    df.to_csv(tmp_path / "d.csv", index=False)
    bundle = train(load_config(_config(tmp_path / "d.csv", checkpoint, pooling="mean")),
                   tmp_path / "b", log=lambda m: None)
    state = json.loads((tmp_path / "b" / "task.json").read_text())
    assert state["hf_config"]["model_type"] == "bert" and state["add_special_tokens"]
    ids = bundle.task.encode(df.head(2), tmp_path / "d.csv")[0]
    assert ids[0, 0].item() == bundle.task.tokenizer_.tokenizer.token_to_id("[CLS]")
    # the bundle reloads from its own files: the checkpoint folder is not read again
    moved = checkpoint.rename(checkpoint.with_name(checkpoint.name + "-moved"))
    try:
        again = load_bundle(tmp_path / "b")
        rows = df[["text"]].head(8)
        pd.testing.assert_frame_equal(bundle.predict(rows), again.predict(rows))
        rows.head(2).to_csv(tmp_path / "x.csv", index=False)
        explain(tmp_path / "b", tmp_path / "x.csv", tmp_path / "ex")
        table = pd.read_csv(tmp_path / "ex" / "attributions.csv")
        assert table["error"].isna().all() and len(table) == 2
    finally:
        moved.rename(checkpoint)


def test_checkpoint_errors(tmp_path, checkpoint):
    with pytest.raises(ConfigError, match="needs path"):
        load_config({**_config(tmp_path / "d.csv", checkpoint), "model": {"name": "hf_local"}})
    pd.read_csv(TEXT / "medical_abstracts_250.csv").head(40).to_csv(tmp_path / "d.csv",
                                                                   index=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="config.json not found"):
        train(load_config(_config(tmp_path / "d.csv", tmp_path / "empty")), tmp_path / "b",
              log=lambda m: None)
    cfg = _config(tmp_path / "d.csv", checkpoint)
    cfg["data"]["max_length"] = 512
    with pytest.raises(ConfigError, match="max_position_embeddings 128"):
        train(load_config(cfg), tmp_path / "b2", log=lambda m: None)
