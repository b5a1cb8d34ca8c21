"""Scoring a completed review: ``healthnn deid-review score REVIEW ANNOTATIONS``.

The reviewer's annotations (span JSONL or a BRAT folder, read by
:func:`healthnn.text.annotations.read_annotations`) are the truth; the detections the
de-identifier made when the sample was drawn (``REVIEW/detections.jsonl``) are scored against
them, note by note:

* **token** recall and precision: a token (a run of letters or of digits) inside a reviewer's
  span is recalled when a detection overlaps it, whatever its label (a leak is a leak); a
  detected token is correct when it lies in a reviewer's span
  (:func:`healthnn.metrics.spans.token_metrics` with one label);
* **span** recall and precision, strict (same start, end and label;
  :func:`healthnn.metrics.spans.span_metrics`), and the share of the reviewer's spans whose
  every token was removed (``span_removed``);
* **leaks per 100,000 words**, by PHI type: reviewer spans with at least one token left.

Intervals are 95% percentile bootstrap intervals over notes, resampled within the sample's
strata (:func:`healthnn.metrics.bootstrap.bootstrap`); where nothing was missed (every
resample the same), exact intervals instead: Poisson for a type without leaks, Clopper-Pearson
for a token recall of 1. The worst leaks (whole values first)
go to ``REVIEW/worst_leaks.html`` for the reviewer's eyes; the scores (numbers only) to
``REVIEW/score.json``. Nothing here logs or prints note text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from healthnn.errors import DataError
from healthnn.metrics.spans import span_counts, token_counts
from healthnn.privacy.review import WORD, write_private

__all__ = ["score_review", "read_detections", "SEVERITY"]

# direct identifiers first: the order in which leaks of equal extent are listed
SEVERITY = ("NAME", "SSN", "ID", "PHONE", "EMAIL", "ADDRESS", "URL", "IP", "DATE", "AGE", "ZIP",
            "CITY", "HOSPITAL", "ORGANIZATION")
PHI = ["PHI"]


def read_detections(review: Path) -> list[dict[str, Any]]:
    """The sampled notes and their detections (``REVIEW/detections.jsonl``)."""
    path = review / "detections.jsonl"
    if not review.is_dir():
        raise DataError("review folder not found", file=str(review),
                        hint="give the --out folder of 'healthnn deid-review sample'")
    if not path.is_file():
        raise DataError("no detections.jsonl in this folder", file=str(review),
                        hint="give the --out folder of 'healthnn deid-review sample'")
    docs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            d = json.loads(line)
            ok = (isinstance(d["id"], str) and isinstance(d["text"], str)
                  and all(0 <= s["start"] < s["end"] <= len(d["text"])
                          and isinstance(s["label"], str) for s in d["spans"]))
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise DataError("damaged line (this file is written by 'deid-review sample' and "
                            "must not be edited)", file=str(path), row=n,
                            hint="draw the sample again")
        docs.append(d)
    if not docs:
        raise DataError("no notes", file=str(path), hint="draw the sample again")
    return docs


def _ann_lines(path: Path) -> dict[str, str]:
    """Where each note is in the annotation file, for messages: 'line N' or its .ann file."""
    from healthnn.text.annotations import annotation_format

    if path.is_dir():
        return {p.with_suffix("").name: str(p) for p in path.rglob("*.ann")}
    if annotation_format(path) != "jsonl":  # a BRAT archive: messages name the archive
        return {}
    where, n = {}, 0
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            n += 1
            try:
                where[str(json.loads(line).get("id", n))] = k
            except (ValueError, AttributeError):
                pass
    return where


def _check_note(by_id: dict, doc_id: str, text: str, file: str, row: int | None) -> None:
    """The note must be one of the sample's, with its text unchanged."""
    if doc_id not in by_id:
        raise DataError(f"note {doc_id!r} is not one of this review's notes", file=file,
                        row=row, hint="score the annotations against the review folder they "
                                      "were made for")
    ref = by_id[doc_id]["text"]
    if text != ref:
        k = next((i for i, (a, b) in enumerate(zip(text, ref)) if a != b),
                 min(len(text), len(ref)))
        raise DataError(f"note {doc_id!r}: its text differs from the sampled note from "
                        f"character {k} on ({len(text)} vs {len(ref)} characters)",
                        file=file, row=row, hint="correct only the spans, never the text; "
                                                 "offsets count characters of the note")


def _precheck_jsonl(path: Path, by_id: dict) -> None:
    """Changed note texts first: a changed text is why offsets no longer fit."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return  # read_annotations says what is wrong
    for k, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("text"), str) and "id" in rec:
            _check_note(by_id, str(rec["id"]), rec["text"], str(path), k)


def _match(det: list[dict], ann_path: Path) -> tuple[list[list[tuple[int, int, str]]], list[str]]:
    """The reviewer's spans for each sampled note, in the sample's order; every mismatch is an
    error naming the note and where it is in the annotation file."""
    from healthnn.text.annotations import annotation_format, read_annotations

    by_id = {d["id"]: d for d in det}
    if ann_path.exists() and annotation_format(ann_path) == "jsonl":
        _precheck_jsonl(ann_path, by_id)
    df, notes = read_annotations(ann_path)
    where = _ann_lines(ann_path)
    gold: dict[str, list] = {}
    for doc_id, text, spans in zip(df["id"], df["text"], df["spans"], strict=True):
        loc = where.get(doc_id)
        _check_note(by_id, doc_id, text, loc if isinstance(loc, str) else str(ann_path),
                    loc if isinstance(loc, int) else None)
        gold[doc_id] = [(s["start"], s["end"], s["label"]) for s in spans]
    missing = [d["id"] for d in det if d["id"] not in gold]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        raise DataError(f"{len(missing)} sampled note(s) are not in the annotations: {shown}",
                        file=str(ann_path),
                        hint="keep every note; a note without PHI keeps an empty span list")
    return [gold[d["id"]] for d in det], notes


def _note_counts(text: str, gold: list, pred: list, labels: list[str]) -> dict[str, np.ndarray]:
    """One note's counts: binary token tp/fp/fn, strict span tp/fp/fn per label, reviewer spans
    per label, those fully removed, those leaked, and the note's words."""
    tokens = [m.span() for m in WORD.finditer(text)]
    covered = np.zeros(len(text) + 1, dtype=np.int64)
    for s, e, _ in pred:
        covered[s:e] = 1
    cum = np.concatenate(([0], np.cumsum(covered)))
    per = np.zeros((len(labels), 3), dtype=np.int64)  # reviewer spans, removed, leaked
    idx = {lab: k for k, lab in enumerate(labels)}
    for s, e, lab in gold:
        toks = [(a, b) for a, b in tokens if a < e and b > s]
        if not toks:  # punctuation only: nothing to leak
            continue
        left = sum(1 for a, b in toks if cum[b] - cum[a] == 0)
        per[idx[lab]] += (1, int(left == 0), int(left > 0))
    one = lambda spans: [(s, e, "PHI") for s, e, _ in spans]  # noqa: E731
    return {"token": token_counts(one(gold), one(pred), tokens, PHI)[0],
            "span": span_counts(gold, pred, labels), "leak": per,
            "words": np.array([len(tokens)])}


def _metrics(c: dict[str, np.ndarray], labels: list[str]) -> dict[str, float]:
    """Metrics from summed counts (the function the bootstrap resamples)."""
    nan = float("nan")
    tp, fp, fn = (float(x) for x in c["token"])
    words = float(c["words"][0])
    out = {"token_recall": tp / (tp + fn) if tp + fn else nan,
           "token_precision": tp / (tp + fp) if tp + fp else nan}
    stp, sfp, sfn = (float(x) for x in c["span"].sum(0))
    out["span_recall"] = stp / (stp + sfn) if stp + sfn else nan
    out["span_precision"] = stp / (stp + sfp) if stp + sfp else nan
    n_gold, removed, leaked = (float(x) for x in c["leak"].sum(0))
    out["span_removed"] = removed / n_gold if n_gold else nan
    out["leaks_per_100k_words"] = 1e5 * leaked / words if words else nan
    for k, lab in enumerate(labels):
        g, _, lk = (float(x) for x in c["leak"][k])
        if g:
            out[f"leaks_per_100k_words_{lab}"] = 1e5 * lk / words if words else nan
    return out


def score_review(review: str | os.PathLike, annotations: str | os.PathLike, *,
                 n_resamples: int = 1000, seed: int = 0, worst: int = 50) -> dict[str, Any]:
    """Score the detections of a review folder against the reviewer's annotations.

    Parameters
    ----------
    review : path
        The folder written by :func:`healthnn.privacy.review.sample_for_review`.
    annotations : path
        The completed ``annotations.jsonl`` (or any span JSONL) or a BRAT folder.
    n_resamples, seed : int
        Bootstrap resamples (0: no intervals) and their seed.
    worst : int
        How many of the worst leaks to write to ``worst_leaks.html``.

    Returns
    -------
    dict
        ``metrics`` (name -> value, ci_low, ci_high), counts by type, ``annotation_notes``
        (overlapping spans left out, by file and line), ``unchanged`` (the annotations are
        the detections exactly: not reviewed yet?) and the paths written (``score.json``
        and ``worst_leaks.html`` in ``review``). No text.
    """
    from healthnn.metrics.bootstrap import bootstrap

    review, ann_path = Path(review), Path(annotations)
    det = read_detections(review)
    gold, notes = _match(det, ann_path)
    pred = [[(s["start"], s["end"], s["label"]) for s in d["spans"]] for d in det]
    labels = sorted({s[2] for g in gold for s in g} | {s[2] for p in pred for s in p})
    per_note = [_note_counts(d["text"], g, p, labels) for d, g, p in zip(det, gold, pred,
                                                                         strict=True)]
    stacked = {k: np.stack([c[k] for c in per_note]) for k in per_note[0]}

    def fn(idx: np.ndarray) -> dict[str, float]:
        return _metrics({k: v[idx].sum(0) for k, v in stacked.items()}, labels)

    metrics = bootstrap(fn, [np.arange(len(det))], n_resamples=n_resamples, seed=seed,
                        strata=np.array([str(d.get("stratum", "")) for d in det]))
    leak = stacked["leak"].sum(0)
    _exact_when_degenerate(metrics, {k: v.sum(0) for k, v in stacked.items()}, labels)
    by_type = {lab: {"reviewer_spans": int(leak[k][0]), "removed": int(leak[k][1]),
                     "leaked": int(leak[k][2])} for k, lab in enumerate(labels) if leak[k][0]}
    examples = _worst(det, gold, pred, worst)
    from healthnn.privacy.review_page import leaks_html

    write_private(review / "worst_leaks.html", leaks_html(examples))
    result = {"notes": len(det), "words": int(stacked["words"].sum()),
              "reviewer_spans": int(leak[:, 0].sum()), "detections": sum(map(len, pred)),
              "leaked_spans": int(leak[:, 2].sum()), "by_type": by_type, "metrics": metrics,
              "n_resamples": n_resamples, "seed": seed, "worst_leaks_listed": len(examples),
              "annotation_notes": notes,
              "unchanged": all(set(g) == set(p) for g, p in zip(gold, pred, strict=True)),
              "files": {"score": str(review / "score.json"),
                        "worst_leaks": str(review / "worst_leaks.html")}}
    write_private(review / "score.json", json.dumps(result, indent=2) + "\n")
    return result


def _exact_when_degenerate(metrics: dict, totals: dict[str, np.ndarray], labels: list[str]
                           ) -> None:
    """Exact 95% intervals where every bootstrap resample gave the same value because nothing
    was missed: no leak of a type (Poisson over the words reviewed: 0 to 3.69 per ``words``)
    and a token recall of 1 (Clopper-Pearson over the reviewer's tokens: 0.025^(1/n) to 1,
    counting tokens as independent). A site that finds no leak learns how few it has shown."""
    words = float(totals["words"][0])
    tp, _, fn = (int(x) for x in totals["token"])
    upper = float(-np.log(0.025))  # chi2.ppf(0.975, 2) / 2, the exact bound for 0 events
    names = ["leaks_per_100k_words", *(f"leaks_per_100k_words_{lab}" for lab in labels)]
    for name in names:
        m = metrics.get(name)
        if m and m.get("value") == 0.0 and m.get("note") and words:
            m.update(ci_low=0.0, ci_high=1e5 * upper / words,
                     note=f"no leak seen: exact Poisson interval over {int(words)} words")
    m = metrics.get("token_recall")
    if m and m.get("value") == 1.0 and m.get("note") and tp and not fn:
        m.update(ci_low=float(0.025 ** (1.0 / tp)), ci_high=1.0,
                 note=f"none missed: exact binomial interval over {tp} tokens")


def _worst(det: list[dict], gold: Sequence[list], pred: Sequence[list], k: int) -> list[dict]:
    """The ``k`` reviewer spans with the most left in the text (share of non-space characters
    not covered by a detection), then by type (:data:`SEVERITY`), then longest."""
    rank = {lab: i for i, lab in enumerate(SEVERITY)}
    out = []
    for d, g, p in zip(det, gold, pred, strict=True):
        text = d["text"]
        mask = np.zeros(len(text), dtype=bool)
        for s, e, _ in p:
            mask[s:e] = True
        for s, e, lab in g:
            chars = [i for i in range(s, e) if not text[i].isspace()]
            left = sum(1 for i in chars if not mask[i])
            if not left or not any(WORD.finditer(text[s:e])):
                continue
            hit = sorted({pl for ps, pe, pl in p if ps < e and pe > s})
            out.append({"id": d["id"], "label": lab, "text": text, "start": s, "end": e,
                        "uncovered": left, "n_chars": len(chars), "share": left / len(chars),
                        "detected_as": hit})
    out.sort(key=lambda x: (-x["share"], rank.get(x["label"], len(rank)), x["start"] - x["end"]))
    return out[:k]
