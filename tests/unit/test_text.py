"""Text building blocks: reading, tokenizer, BM25, summaries, multi-label metrics, IG."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from healthnn.errors import DataError
from healthnn.text.io import read_documents, text_values
from healthnn.text.search import BM25Index, tokenize
from healthnn.text.summarize import split_sentences, summarize
from healthnn.text.tokenizer import TextTokenizer

TEXT_DATA = Path(__file__).resolve().parents[1] / "data" / "text"


# -- reading ---------------------------------------------------------------------------------
def test_invalid_utf8_is_replaced_and_reported(tmp_path):
    p = tmp_path / "notes.csv"
    p.write_bytes(b"text,label\nfine note,a\nbad \xff\xfe bytes,b\nother,a\n")
    df, notes = read_documents(p)
    assert len(df) == 3
    assert "\ufffd" in df.loc[1, "text"]
    assert len(notes) == 1 and "row(s) 2" in notes[0] and "UTF-8" in notes[0]


def test_jsonl_lists_and_bad_line(tmp_path):
    p = tmp_path / "notes.jsonl"
    p.write_text('{"text": "a", "label": ["x", "y"]}\n\n{"text": "b", "label": []}\n')
    df, notes = read_documents(p)
    assert df["label"].tolist() == [["x", "y"], []] and notes == []
    p.write_text('{"text": "a"}\nnot json\n')
    with pytest.raises(DataError, match="row 2.*line 2 is not valid JSON"):
        read_documents(p)


def test_json_object_of_objects_and_txt_folder(tmp_path):
    p = tmp_path / "q.json"
    p.write_text(json.dumps({"11": {"QUESTION": "q?", "CONTEXTS": ["one.", "two."]}}))
    df, _ = read_documents(p)
    assert df["id"].tolist() == ["11"] and text_values(df["CONTEXTS"]) == ["one. two."]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("first")
    (tmp_path / "notes" / "b.txt").write_bytes(b"second \xff")
    df, notes = read_documents(tmp_path / "notes")
    assert df["id"].tolist() == ["a.txt", "b.txt"] and "row(s) 2" in notes[0]


def test_unsupported_and_missing(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_documents(tmp_path / "nope.csv")
    (tmp_path / "x.docx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type"):
        read_documents(tmp_path / "x.docx")


# -- tokenizer -------------------------------------------------------------------------------
def test_tokenizer_round_trip_truncation_and_offsets():
    texts = pd.read_csv(TEXT_DATA / "medical_abstracts_250.csv")["text"].tolist()[:80]
    tok = TextTokenizer.train(texts, vocab_size=500)
    assert tok.vocab_size <= 500
    ids, lengths, truncated = tok.encode(texts[:5] + [""], max_length=32)
    assert ids.shape == (6, 32) and ids.dtype == torch.int64
    assert truncated[:5].all() and not truncated[5] and lengths[5] == 0 and (ids[5] == 0).all()
    again = TextTokenizer.from_json(tok.to_json()).encode(texts[:5], max_length=32)[0]
    assert torch.equal(again, ids[:5])
    text = "Acute myocardial infarction, treated."
    tokens, offsets = tok.offsets(text, 64)
    assert len(tokens) == len(offsets) > 0
    # offsets point into the original (not lower-cased) text
    assert all(text[s:e].lower().startswith(t.replace("##", "")[:1]) for t, (s, e)
               in zip(tokens, offsets) if t != "[UNK]")


def test_tokenizer_very_long_document_is_cut():
    tok = TextTokenizer.train(["alpha beta gamma"] * 10, vocab_size=40, min_frequency=1)
    ids, lengths, truncated = tok.encode(["alpha " * 200_000], max_length=16)
    assert truncated[0] and lengths[0] == 16


# -- BM25 ------------------------------------------------------------------------------------
def _reference_bm25(docs: list[list[str]], query: list[str], k1: float, b: float) -> np.ndarray:
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    out = np.zeros(n)
    for i, d in enumerate(docs):
        for t in query:
            df = sum(1 for x in docs if t in x)
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = d.count(t)
            out[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return out


def test_bm25_matches_reference_formula(rng):
    vocab = [f"w{i}" for i in range(30)]
    docs = [" ".join(rng.choice(vocab, rng.integers(3, 40))) for _ in range(60)]
    index = BM25Index.build(docs, k1=1.2, b=0.6)
    for _ in range(10):
        q = " ".join(rng.choice(vocab, 3))
        want = _reference_bm25([tokenize(d) for d in docs], tokenize(q), 1.2, 0.6)
        np.testing.assert_allclose(index.bm25_scores(q), want, rtol=1e-10)
    hits = index.search(q, k=5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_bm25_save_load_and_fusion(tmp_path):
    docs = ["chest pain radiating to arm", "renal failure dialysis", "chest x-ray clear",
            "   "]
    index = BM25Index.build(docs, ["a", "b", "c", "d"])
    index.embeddings = np.eye(4, dtype=np.float32)
    index.save(tmp_path / "idx")
    loaded, meta = BM25Index.load(tmp_path / "idx")
    assert loaded.ids == ["a", "b", "c", "d"] and meta["documents"] == 4
    np.testing.assert_allclose(loaded.bm25_scores("chest pain"), index.bm25_scores("chest pain"))
    assert loaded.search("dialysis", k=1)[0].id == "b"
    # a query embedding pointing at document c lifts it in the fused ranking
    fused = loaded.search("chest pain", k=4, query_embedding=np.array([0, 0, 1, 0]))
    assert fused[0].id in ("a", "c") and fused[1].id in ("a", "c")
    assert {h.id for h in fused} == {"a", "b", "c", "d"}
    with pytest.raises(DataError, match="not a search index"):
        BM25Index.load(tmp_path)


# -- summaries -------------------------------------------------------------------------------
def test_sentence_split_keeps_offsets_and_abbreviations():
    text = ("Dr. Smith saw the pt. at 10 a.m. today. BP was 120/80 and temp 37.5 C.\n\n"
            "- aspirin 81 mg\n- metoprolol 25 mg\nFollow up e.g. in 2 wks. Done!")
    sents = split_sentences(text)
    assert all(text[s.start:s.end] == s.text for s in sents)
    assert sents[0].text.startswith("Dr. Smith") and "37.5 C." in sents[1].text
    assert any(s.text == "- aspirin 81 mg" for s in sents)


def test_summary_picks_central_sentences_in_order():
    abstracts = pd.read_csv(TEXT_DATA / "medical_abstracts_250.csv")["text"].tolist()
    for text in abstracts[:20]:
        summary = summarize(text, n_sentences=3)
        assert 1 <= len(summary) <= 3
        assert [s.start for s in summary] == sorted(s.start for s in summary)
        assert all(text[s.start:s.end] == s.text for s in summary)
    assert summarize("", n_sentences=2) == []
    assert len(summarize("One. Two. Three. Four.", ratio=0.5)) == 2


# -- multi-label metrics ---------------------------------------------------------------------
def test_multilabel_metrics_match_sklearn(rng):
    from sklearn.metrics import f1_score, hamming_loss, roc_auc_score

    from healthnn.metrics import multilabel_metrics

    for _ in range(5):
        Y = (rng.random((80, 4)) < 0.35).astype(int)
        P = np.clip(Y * 0.3 + rng.random((80, 4)) * 0.7, 0, 1)
        m = multilabel_metrics(Y, P, threshold=0.5)
        pred = (P >= 0.5).astype(int)
        assert m["f1_micro"] == pytest.approx(f1_score(Y, pred, average="micro"))
        assert m["f1_macro"] == pytest.approx(f1_score(Y, pred, average="macro",
                                                       zero_division=0))
        assert m["hamming_loss"] == pytest.approx(hamming_loss(Y, pred))
        assert m["subset_accuracy"] == pytest.approx((pred == Y).all(1).mean())
        assert m["auroc_macro"] == pytest.approx(roc_auc_score(Y, P, average="macro"))
    with pytest.raises(DataError):
        multilabel_metrics([[0, 2]], [[0.1, 0.2]])


# -- models and integrated gradients ----------------------------------------------------------
@pytest.mark.parametrize("name", ["bigru_attention", "text_transformer"])
def test_text_models_ignore_padding_and_ig_is_complete(name, one_thread):
    from healthnn.explain.integrated_gradients import integrated_gradients
    from healthnn.models import build_model, validate_model_params

    torch.manual_seed(0)
    small = {"bigru_attention": {"embed_dim": 16, "hidden": 16},
             "text_transformer": {"dim": 16, "heads": 2, "layers": 1, "ff": 32}}[name]
    params = validate_model_params(name, small, task="text_classification")
    model = build_model(name, params, 100, 3).eval()
    ids = torch.tensor([[5, 9, 13, 0, 0, 0], [7, 0, 0, 0, 0, 0]])
    out = model(ids)
    assert out.shape == (2, 3)
    # trailing padding does not change the output
    torch.testing.assert_close(model(ids[:, :3]), out)
    assert model.embed(ids).shape[0] == 2
    emb = model.embedding(ids[:1, :3]).detach()
    mask = ids[:1, :3] != 0
    attr, delta = integrated_gradients(lambda x: model.forward_embeddings(x, mask), emb,
                                       target=1, steps=64)
    assert attr.shape == emb.shape
    gap = (model.forward_embeddings(emb, mask)[0, 1]
           - model.forward_embeddings(torch.zeros_like(emb), mask)[0, 1]).item()
    assert abs(delta.item()) < 0.05 * max(abs(gap), 1e-3) + 1e-3


def test_wordlevel_tokenizer_is_the_same_in_every_process():
    """HF's subword trainers break ties in hash-map order (huggingface/tokenizers #1794), so
    'wordlevel' exists for exact repeats: two processes, the same vocabulary."""
    import subprocess
    import sys

    code = ("import sys, pandas as pd; from healthnn.text.tokenizer import TextTokenizer; "
            f"t = pd.read_csv({str(TEXT_DATA / 'medical_abstracts_250.csv')!r})['text'].tolist(); "
            "sys.stdout.write(TextTokenizer.train(t, kind='wordlevel', vocab_size=600).to_json())")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] and '"[MASK]":4' in runs[0].replace(" ", "")
    from healthnn.text.tokenizer import TextTokenizer

    tok = TextTokenizer.train(["b a c", "a b", "c"], kind="wordlevel", vocab_size=100,
                              min_frequency=1)
    ids, _, _ = tok.encode(["a b c d"], 4)
    assert ids[0].tolist() == [5, 6, 7, 1]  # equal counts: alphabetical; unseen 'd' -> [UNK]
