"""A site checks de-identification on its own notes: ``healthnn deid-review sample``.

:func:`sample_for_review` draws a seeded, stratified random sample of notes (by a note-type
column, else by length quartile), runs the de-identifier on it and writes a review folder:

``review.html``
    A self-contained page (inline CSS, no scripts, nothing loaded from elsewhere) with every
    detection highlighted by PHI type.
``annotations.jsonl``
    Span JSONL (:mod:`healthnn.text.annotations`), one note a line, prefilled with the
    detections (each span also shows its ``text``, checked against the offsets when scored;
    a new span needs only ``start``, ``end`` and ``label``). The reviewer corrects it: adds
    what was missed, removes what is not PHI, fixes labels and boundaries. A note without
    PHI keeps an empty ``spans`` list.
``brat/``
    The same prefilled annotations as BRAT standoff (``note-0001.txt`` + ``.ann``), for a
    reviewer who prefers the BRAT editor. Either one is then scored.
``detections.jsonl``
    What the de-identifier found (never edit it): the reference that
    :func:`healthnn.privacy.review_score.score_review` compares the reviewer's file against.
``manifest.json``
    Settings (sample size, seed, strata, engine options) and counts; no note text.

The folder holds PHI: it is created with mode 0700 and every file 0600, each written to a
temporary name in the folder and renamed into place. Notes are named ``note-0001`` ... (never
by their own ids, which may be record numbers); ``detections.jsonl`` keeps each note's row in
the input file so the site can find it. Nothing here logs or prints note text.

>>> stratified_counts({"a": 6, "b": 3, "c": 1}, 5)    # notes to draw per stratum
{'a': 3, 'b': 1, 'c': 1}
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from healthnn.errors import DataError

__all__ = ["sample_for_review", "stratified_counts", "write_private", "make_private_dir",
           "WORD", "REVIEW_FILES"]

WORD = re.compile(r"[A-Za-z]+|\d+")  # the word (token) of bench/deid_physionet.py
REVIEW_FILES = ("review.html", "annotations.jsonl", "detections.jsonl", "manifest.json")
LENGTH_BINS = 4


def make_private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700), or check an existing folder is empty of review files."""
    if path.exists():
        if not path.is_dir():
            raise DataError("--out must be a folder", file=str(path))
        if any((path / name).exists() for name in (*REVIEW_FILES, "brat")):
            raise DataError("this folder already holds a review", file=str(path),
                            hint="choose a new --out folder (a review is never overwritten)")
    else:
        if not path.parent.is_dir():
            raise DataError("the folder above --out does not exist", file=str(path),
                            hint="create it first")
        path.mkdir(mode=0o700)
    os.chmod(path, 0o700)  # umask may have widened it; the folder holds PHI


def write_private(path: Path, data: str) -> None:
    """Write ``data`` (UTF-8) to ``path`` with mode 0600: a temporary name, then a rename."""
    tmp = path.with_name(f".{path.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def stratified_counts(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """How many notes to draw from each stratum: proportional to its size (largest
    remainders), at least one from each non-empty stratum while ``n`` allows, never more than
    it holds."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    keys = [k for k, v in sizes.items() if v > 0]
    out = {k: 0 for k in sizes}
    if n < len(keys):  # too few draws for every stratum: one from each of the largest
        for k in sorted(keys, key=lambda k: (-sizes[k], k))[:n]:
            out[k] = 1
        return out
    quota = {k: n * sizes[k] / total for k in keys}
    for k in keys:
        out[k] = min(sizes[k], max(1, int(quota[k])))
    while sum(out.values()) < n:  # largest remainders first
        k = max((k for k in keys if out[k] < sizes[k]), key=lambda k: (quota[k] - out[k], k))
        out[k] += 1
    while sum(out.values()) > n:  # the minimum of one overshot: take from the fullest
        k = max((k for k in keys if out[k] > 1), key=lambda k: (out[k] - quota[k], k))
        out[k] -= 1
    return out


def _strata(texts: list[str], labels: list[str] | None) -> tuple[list[str], str]:
    """Each note's stratum and a description of the stratification."""
    if labels is not None:
        return labels, "note-type column"
    words = np.array([len(WORD.findall(t)) for t in texts])
    edges = np.unique(np.quantile(words, np.linspace(0, 1, LENGTH_BINS + 1)[1:-1]))
    bins = np.searchsorted(edges, words, side="left")
    names = []
    for b in range(len(edges) + 1):
        lo = 0 if b == 0 else int(edges[b - 1]) + 1
        names.append(f"{lo}+ words" if b == len(edges) else f"{lo}-{int(edges[b])} words")
    return [names[b] for b in bins], f"length ({len(edges) + 1} bins of word count)"


def _read(notes: Path, column: str, strata_column: str | None, id_column: str | None
          ) -> tuple[list[int], list[str], list[str] | None, list[str] | None, int, list[str]]:
    from healthnn.text.io import read_documents, text_values

    df, problems = read_documents(notes, text_column=column)
    for c in (column, strata_column, id_column):
        if c and c not in df.columns:
            raise DataError(f"no column '{c}'", file=str(notes), column=c,
                            hint=f"columns: {', '.join(map(str, df.columns[:12]))}")
    texts = text_values(df[column])
    keep = [i for i, t in enumerate(texts) if t.strip()]
    labels = None
    if strata_column:
        raw = text_values(df[strata_column])
        labels = [raw[i].strip() or "(none)" for i in keep]
    ids = None
    if id_column:
        raw = text_values(df[id_column])
        ids = [raw[i] for i in keep]
    return ([i + 1 for i in keep], [texts[i] for i in keep], labels, ids,
            len(texts) - len(keep), problems)


def sample_for_review(notes: str | os.PathLike, out: str | os.PathLike, *, n: int = 200,
                      column: str = "text", strata_column: str | None = None,
                      id_column: str | None = None, seed: int = 0,
                      deid_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Draw a stratified sample of ``notes`` and write a review folder ``out``.

    Parameters
    ----------
    notes : path
        CSV, TSV, Parquet, JSONL, JSON or a folder of ``.txt`` files
        (:func:`healthnn.text.io.read_documents`). Empty notes are not sampled (counted).
    out : path
        A new (or empty) folder; created with mode 0700.
    n : int
        Sample size (all notes when there are fewer).
    column : str
        The column holding the notes.
    strata_column : str, optional
        A note-type column to stratify by; without it, quartiles of note length in words.
    id_column : str, optional
        The notes' own id column: each note's id is kept in ``detections.jsonl`` (``source_id``)
        so the site can find it; never in file names, the page or the annotation files.
    seed : int
        Seed of the draw: the same notes, seed and settings give the same sample.
    deid_options : mapping, optional
        Keyword arguments of :class:`healthnn.privacy.deid.Deidentifier` (``mode`` is
        always ``"tag"``).

    Returns
    -------
    dict
        The manifest written to ``out/manifest.json`` (counts and settings, no text).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DataError("--n must be a positive whole number")
    notes, out = Path(notes), Path(out)
    rows, texts, labels, ids, n_empty, problems = _read(notes, column, strata_column, id_column)
    if not texts:
        raise DataError(f"no non-empty notes in column '{column}'", file=str(notes),
                        column=column)
    strata, how = _strata(texts, labels)
    chosen = _draw(strata, n, seed)
    from healthnn.privacy.deid import Deidentifier

    options = dict(deid_options or {}, mode="tag")
    settings = options.pop("settings_file", None)  # recorded in the manifest only
    engine = Deidentifier(**options)
    picked = [texts[i] for i in chosen]
    found = engine.find_many(picked)
    make_private_dir(out)
    docs = [{"id": f"note-{k + 1:04d}", "row": rows[i], "stratum": strata[i], "text": texts[i],
             "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in spans]}
            for k, (i, spans) in enumerate(zip(chosen, found, strict=True))]
    if ids is not None:
        for d, i in zip(docs, chosen, strict=True):
            d["source_id"] = ids[i]
    manifest = _manifest(docs, strata, how, n, seed, column, strata_column, options,
                         n_empty, problems)
    manifest["deidentifier"]["settings_file"] = None if settings is None else str(settings)
    _write_folder(out, docs, manifest)
    return manifest


def _draw(strata: Sequence[str], n: int, seed: int) -> list[int]:
    """Indices of the sampled notes, grouped by stratum (sorted), in random order within."""
    by: dict[str, list[int]] = {}
    for i, s in enumerate(strata):
        by.setdefault(s, []).append(i)
    counts = stratified_counts({k: len(v) for k, v in sorted(by.items())}, n)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for k in sorted(by):
        idx = rng.permutation(len(by[k]))[:counts[k]]
        chosen += [by[k][j] for j in idx]
    return chosen


def _manifest(docs, strata, how, n, seed, column, strata_column, options, n_empty, problems):
    from healthnn import __version__

    population: dict[str, int] = {}
    for s in strata:
        population[s] = population.get(s, 0) + 1
    sampled: dict[str, int] = {}
    for d in docs:
        sampled[d["stratum"]] = sampled.get(d["stratum"], 0) + 1
    engine = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in options.items()
              if k not in ("key", "terms")}
    engine["terms"] = bool(options.get("terms"))
    engine.setdefault("keep_year", True)
    return {"healthnn": __version__, "n_requested": n, "n_sampled": len(docs), "seed": seed,
            "column": column, "strata_column": strata_column, "stratified_by": how,
            "population": dict(sorted(population.items())),
            "sampled": dict(sorted(sampled.items())),
            "n_empty_not_sampled": n_empty, "read_problems": problems,
            "n_detections": sum(len(d["spans"]) for d in docs), "deidentifier": engine,
            "words": sum(len(WORD.findall(d["text"])) for d in docs)}


def _write_folder(out: Path, docs: list[dict], manifest: dict) -> None:
    from healthnn.privacy.review_page import review_html
    from healthnn.text.annotations import brat_entities

    lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    write_private(out / "detections.jsonl", lines)
    ann = "".join(json.dumps({"id": d["id"], "text": d["text"], "spans": [
        {**sp, "text": d["text"][sp["start"]:sp["end"]]} for sp in d["spans"]]},
        ensure_ascii=False) + "\n" for d in docs)
    write_private(out / "annotations.jsonl", ann)
    brat = out / "brat"
    brat.mkdir(mode=0o700, exist_ok=True)
    os.chmod(brat, 0o700)
    for d in docs:
        write_private(brat / f"{d['id']}.txt", d["text"])
        write_private(brat / f"{d['id']}.ann", brat_entities(d["text"], d["spans"]))
    write_private(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    write_private(out / "review.html", review_html(docs, manifest))
