"""Named-entity metrics: strict span and token-level precision, recall and F1.

A span is ``(start, end, label)``. **Strict** span matching (as the CoNLL and MEDDOCAN
evaluations): a predicted span is a true positive only when a gold span has exactly the same
start, end and label. **Token-level**: every token gets the label of the span covering it (or
none); a token is a true positive when gold and prediction give it the same label, a false
positive when the prediction gives it a label the gold does not, a false negative when the
gold gives it a label the prediction does not (a token with two different labels counts as
both).

Micro averages pool the counts of all labels; per-label values use that label's counts. An
undefined ratio (no predicted spans for precision, no gold spans for recall) is NaN.

>>> gold = [[(0, 5, "NAME"), (10, 14, "DATE")]]
>>> pred = [[(0, 5, "NAME"), (10, 12, "DATE"), (20, 22, "ID")]]
>>> m = span_metrics(gold, pred)
>>> m["precision"], m["recall"], round(m["f1"], 3)
(0.3333333333333333, 0.5, 0.4)
>>> bio_to_spans(["B-NAME", "I-NAME", "O", "I-DATE", "B-DATE"])
[(0, 2, 'NAME'), (3, 4, 'DATE'), (4, 5, 'DATE')]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["bio_to_spans", "span_counts", "span_metrics", "token_counts", "token_metrics",
           "prf_from_counts"]

Span = tuple[int, int, str]


def bio_to_spans(tags: Sequence[str]) -> list[Span]:
    """Entity spans ``(first token, last token + 1, label)`` of a BIO tag sequence. An ``I-X``
    that does not continue an ``X`` entity starts a new one (as conlleval reads it)."""
    spans: list[Span] = []
    start, label = None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, lab = tag.partition("-")
        if start is not None and (prefix != "I" or lab != label):
            spans.append((start, i, label))
            start, label = None, None
        if prefix == "B" or (prefix == "I" and start is None):
            start, label = i, lab
    return spans


def span_counts(gold: Sequence[Span], pred: Sequence[Span], labels: Sequence[str]
                ) -> np.ndarray:
    """``(len(labels), 3)`` counts of true positives, false positives and false negatives of
    one document under strict matching."""
    idx = {lab: k for k, lab in enumerate(labels)}
    g, p = set(map(tuple, gold)), set(map(tuple, pred))
    out = np.zeros((len(labels), 3), dtype=np.int64)
    for s in p:
        out[idx[s[2]], 0 if s in g else 1] += 1
    for s in g - p:
        out[idx[s[2]], 2] += 1
    return out


def _char_labels(spans: Sequence[Span], tokens: Sequence[tuple[int, int]]) -> list[str | None]:
    out: list[str | None] = [None] * len(tokens)
    if not spans:
        return out
    ordered = sorted(spans)
    j = 0
    for i, (a, b) in enumerate(tokens):
        while j < len(ordered) and ordered[j][1] <= a:
            j += 1
        for s, e, lab in ordered[j:]:
            if s >= b:
                break
            if s < b and e > a:
                out[i] = lab
                break
    return out


def token_counts(gold: Sequence[Span], pred: Sequence[Span], tokens: Sequence[tuple[int, int]],
                 labels: Sequence[str]) -> np.ndarray:
    """``(len(labels), 3)`` token-level tp, fp, fn of one document; ``tokens`` are the
    document's token character offsets."""
    idx = {lab: k for k, lab in enumerate(labels)}
    out = np.zeros((len(labels), 3), dtype=np.int64)
    for gl, pl in zip(_char_labels(gold, tokens), _char_labels(pred, tokens), strict=True):
        if gl is not None and gl == pl:
            out[idx[gl], 0] += 1
            continue
        if pl is not None:
            out[idx[pl], 1] += 1
        if gl is not None:
            out[idx[gl], 2] += 1
    return out


def prf_from_counts(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """(precision, recall, F1); F1 = 2 tp / (2 tp + fp + fn). NaN where undefined (no
    predictions: precision; no gold: recall; neither: all three)."""
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return float(p), float(r), float(f)


def _metrics(counts: np.ndarray, labels: Sequence[str], prefix: str) -> dict[str, float]:
    total = counts.sum(0)
    p, r, f = prf_from_counts(*total)
    out = {f"{prefix}precision": p, f"{prefix}recall": r, f"{prefix}f1": f}
    for k, lab in enumerate(labels):
        p, r, f = prf_from_counts(*counts[k])
        out.update({f"{prefix}precision_{lab}": p, f"{prefix}recall_{lab}": r,
                    f"{prefix}f1_{lab}": f})
    return out


def _labels(*docs_lists: Sequence[Sequence[Span]]) -> list[str]:
    return sorted({s[2] for docs in docs_lists for d in docs for s in d})


def span_metrics(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]],
                 labels: Sequence[str] | None = None) -> dict[str, float]:
    """Strict span precision, recall and F1 (micro, and ``..._<label>`` per label) over
    documents: ``gold[i]`` and ``pred[i]`` are the spans of document i."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold documents but {len(pred)} predicted")
    labels = list(labels) if labels is not None else _labels(gold, pred)
    counts = sum((span_counts(g, p, labels) for g, p in zip(gold, pred, strict=True)),
                 np.zeros((len(labels), 3), dtype=np.int64))
    return _metrics(counts, labels, "")


def token_metrics(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]],
                  tokens: Sequence[Sequence[tuple[int, int]]],
                  labels: Sequence[str] | None = None) -> dict[str, float]:
    """Token-level precision, recall and F1 (micro and per label), keys ``token_...``."""
    labels = list(labels) if labels is not None else _labels(gold, pred)
    counts = sum((token_counts(g, p, t, labels) for g, p, t in zip(gold, pred, tokens,
                                                                    strict=True)),
                 np.zeros((len(labels), 3), dtype=np.int64))
    return _metrics(counts, labels, "token_")
