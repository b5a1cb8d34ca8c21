"""Issue 3: the CRF layer of ``bilstm_charcnn`` (``[model] crf``): forward algorithm, path
scores and Viterbi against brute force over every tag path of tiny inputs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import ner_config, ner_notes

import healthnn
from healthnn.bundle import load_bundle
from healthnn.models.ner import CRF, bio_allowed
from healthnn.tasks.ner import _viterbi_many


def _crf(k: int, seed: int) -> CRF:
    crf = CRF(k)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (crf.transitions, crf.start, crf.end):
            p.copy_(torch.randn(p.shape, generator=g))
    return crf


def _all_paths(crf: CRF, em: torch.Tensor, n: int) -> dict[tuple, float]:
    """Score of every tag path of length ``n`` (one sequence), summed by hand."""
    trans, start, end = (v.detach().double() for v in crf.scores())
    em = em.double()
    out = {}
    for path in itertools.product(range(em.shape[-1]), repeat=n):
        s = start[path[0]] + em[0, path[0]]
        for t in range(1, n):
            s = s + trans[path[t - 1], path[t]] + em[t, path[t]]
        out[path] = float(s + end[path[-1]])
    return out


@pytest.mark.parametrize("k", [3, 5])
def test_forward_path_score_and_viterbi_match_brute_force(k):
    lengths = [4, 1, 3, 0]
    T = max(lengths)
    g = torch.Generator().manual_seed(k)
    em = torch.randn(len(lengths), T, k, generator=g, dtype=torch.float64)
    mask = torch.tensor([[t < n for t in range(T)] for n in lengths])
    tags = torch.randint(0, k, (len(lengths), T), generator=g)
    tags[~mask] = -100
    allowed, first = bio_allowed(k)
    for b in range(len(lengths)):  # gold paths that obey the BIO constraints
        n = lengths[b]
        for t in range(n):
            while not (first[tags[b, t]] if t == 0 else allowed[tags[b, t - 1], tags[b, t]]):
                tags[b, t] = int(torch.randint(0, k, (1,), generator=g))
    crf = _crf(k, seed=k).double()
    with torch.no_grad():
        logz = crf.log_partition(em, mask)
        score = crf.path_score(em, tags, mask)
        nll = crf.nll(em, tags, mask)
        paths = crf.viterbi(em, mask)
    for b, n in enumerate(lengths):
        if n == 0:
            assert paths[b] == [] and float(nll[b]) == 0.0
            continue
        every = _all_paths(crf, em[b], n)
        scores = np.array(list(every.values()))
        ref_logz = np.log(np.exp(scores - scores.max()).sum()) + scores.max()
        assert float(logz[b]) == pytest.approx(ref_logz, abs=1e-6)
        gold = tuple(tags[b, :n].tolist())
        assert float(score[b]) == pytest.approx(every[gold], abs=1e-6)
        assert float(nll[b]) == pytest.approx(ref_logz - every[gold], abs=1e-6)
        best = max(every, key=every.get)
        assert tuple(paths[b]) == best
        # the numpy decoder of task 'ner' with the CRF's scores finds the same path
        trans, start, end = (v.detach().numpy() for v in crf.scores())
        got = _viterbi_many([em[b, :n].numpy()], trans, start, last=end)[0]
        assert tuple(got.tolist()) == best
        # a forbidden move (I-x after O, or first) is never chosen
        for t, tag in enumerate(best):
            assert first[tag] if t == 0 else allowed[best[t - 1], tag]


def test_nll_gradients_reach_the_transitions():
    crf = _crf(5, seed=0)
    em = torch.randn(2, 6, 5, requires_grad=True)
    mask = torch.ones(2, 6, dtype=torch.bool)
    tags = torch.tensor([[0, 1, 2, 2, 0, 0], [3, 4, 0, 1, 0, 3]])
    crf.nll(em, tags, mask).sum().backward()
    assert crf.transitions.grad.abs().sum() > 0 and em.grad.abs().sum() > 0
    assert torch.all(crf.nll(em, tags, mask) >= -1e-5)  # a log-likelihood is at most 0


def test_ner_with_a_crf_trains_reloads_and_finds_the_pattern(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(d) + "\n" for d in ner_notes(48, seed=0)))
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(d) + "\n" for d in ner_notes(12, seed=1)))
    cfg = ner_config(train, test=str(test), group="patient")
    cfg["model"]["crf"] = True
    cfg["train"]["epochs"] = 8
    bundle = healthnn.train(cfg, tmp_path / "b", log=lambda m: None)
    assert bundle.task._crf is not None
    assert bundle.metrics["test"]["token_recall"]["value"] >= 0.8
    docs = [json.loads(line)["text"] for line in test.read_text().splitlines()]
    df = pd.DataFrame({"text": docs})
    first = bundle.predict(df)["spans"].tolist()
    again = load_bundle(bundle.path)
    assert not torch.equal(again.model.crf.transitions, torch.zeros_like(again.model.crf.transitions))
    assert again.predict(df)["spans"].tolist() == first
