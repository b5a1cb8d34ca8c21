"""Extractive summaries: rank a document's sentences and keep the best, with their offsets.

Sentences are split on ``.``, ``!``, ``?``, blank lines, list items (``-``, ``*``, ``•``,
``1.``, ``2)``) and line breaks, not after common abbreviations (``Dr.``, ``e.g.``, ``vs.``),
inside decimals (``2.5 mg``) or before a lower-case word. A line break ends a sentence unless
the next line goes on in lower case or the line is a long one without end punctuation (prose
wrapped at a fixed width), so a note's header block (``Name: ...``, ``Date: ...``) becomes one
sentence per line. Sentences are ranked by TextRank: PageRank over the graph of TF-IDF cosine
similarities between sentences (Mihalcea & Tarau 2004), with a small preference for earlier
sentences (abstracts and notes state their point early). Administrative sentences (contact
details, phone numbers, employer, insurance, signatures, header fields) are down-weighted
(:func:`administrative`). The summary lists the chosen sentences in their original order; each
keeps ``start``/``end`` character offsets so ``text[start:end]`` is exactly the sentence.

>>> text = ("Patient admitted with chest pain. Troponin was elevated. "
...         "ECG showed ST elevation and chest pain persisted. Discharged on aspirin.")
>>> [s.text for s in split_sentences(text)][:2]
['Patient admitted with chest pain.', 'Troponin was elevated.']
>>> s = summarize(text, n_sentences=2)
>>> all(text[x.start:x.end] == x.text for x in s)
True
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from healthnn.errors import DataError

__all__ = ["Sentence", "split_sentences", "summarize", "summarize_file", "administrative",
           "ADMIN_WEIGHT"]

_ABBREV = frozenset("""dr mr mrs ms prof st vs e.g i.e etc al fig no approx dept est inc jr sr
mg ml min max pt pts hr hrs wk wks mo yr yrs b.i.d t.i.d q.d p.o i.v i.m q.i.d a.m p.m""".split())
_END = re.compile(r"[.!?]+[\"')\]]*(?=\s+|$)|\n\s*\n|\n(?=\s*(?:[-*\u2022]|\d+[.)]\s))|\n")
_ITEM = re.compile(r"[-*\u2022]|\d+[.)]\s")  # a list item starts a new sentence
_WRAP = 60  # a line this long without end punctuation is prose wrapped at a fixed width
#: Sentences about the administration of care rather than the patient's condition.
_ADMIN = re.compile(
    r"\b(?:phone|telephone|tel|cell|fax|pager|e-?mail)\s*(?:no\.?|number)?\s*[:#]"
    r"|\b(?:can be reached|contact (?:number|details)|emergency contact|next of kin"
    r"|home address|lives at|employer|works? (?:at|as|for)|employed (?:at|by|as)"
    r"|electronically signed|(?:signed|dictated|transcribed) by\s*(?::|dr\b)|cc\s*:"
    r"|insurance (?:carrier|company|id|number)|policy number|copyright|funded by"
    r"|grant (?:no|number))\b"
    r"|\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}|\b[\w.]+@\w+\.\w"
    r"|^(?:patient )?(?:name|date|dob|mrn|attending|physician|provider|address|phone|service"
    r"|unit|room|account|insurance|cc|signed by|dictated by|admitted|discharged)\s*:",
    re.IGNORECASE)
ADMIN_WEIGHT = 0.3  # an administrative sentence's score is multiplied by this


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str
    score: float = 0.0
    position: int = 0


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` with character offsets (whitespace around them excluded)."""
    out: list[Sentence] = []
    start = 0
    for m in _END.finditer(text):
        end = m.end()
        piece = text[start:end]
        if m.group() == "\n" and _wrapped(text, m.start(), end):
            continue
        if m.group().startswith((".",)) and "\n" not in m.group():
            word = re.search(r"([A-Za-z][A-Za-z.]*)\.+[\"')\]]*$", piece)
            if word and word.group(1).lower().rstrip(".") in _ABBREV:
                continue
            if re.search(r"\b[A-Z]\.$", piece.rstrip()):  # an initial: "J. Smith"
                continue
            nxt = text[end:].lstrip()[:1]
            if nxt.islower():  # "10 a.m. today": a sentence does not start in lower case
                continue
        _add(out, text, start, end)
        start = end
    _add(out, text, start, len(text))
    return [Sentence(s.start, s.end, s.text, position=i) for i, s in enumerate(out)]


def _wrapped(text: str, at: int, end: int) -> bool:
    """Whether the line break at ``at`` continues a sentence (not a new line of a list or
    header): the next line goes on in lower case, or this line is long prose without end
    punctuation."""
    line = text[text.rfind("\n", 0, at) + 1:at].rstrip()
    nxt = text[end:].lstrip(" \t")[:1]
    if not line or not nxt or nxt == "\n" or _ITEM.match(text, end + len(text[end:]) -
                                                        len(text[end:].lstrip(" \t"))):
        return False
    if nxt.islower():
        return True
    return len(line) >= _WRAP and not line.endswith((".", ":", ";", "!", "?"))


def administrative(sentence: str) -> bool:
    """Whether a sentence is about the administration of care (contact details, employer,
    family phone numbers, signatures, header fields) rather than the patient's condition.

    >>> administrative("His wife can be reached at 555-123-4567.")
    True
    >>> administrative("He works at the shipyard as a welder.")
    True
    >>> administrative("Troponin was elevated and ECG showed ST elevation.")
    False
    """
    return bool(_ADMIN.search(sentence.strip()))


def _add(out: list[Sentence], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece) - len(piece.rstrip())
    s, e = start + lead, end - trail
    if e > s and re.search(r"\w", text[s:e]):
        out.append(Sentence(s, e, text[s:e]))


def summarize(text: str, *, n_sentences: int = 3, ratio: float | None = None,
              damping: float = 0.85, position_weight: float = 0.15) -> list[Sentence]:
    """The best ``n_sentences`` (or ``ratio`` of the sentences, at least one) in source order."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if n_sentences < 1:
        raise DataError("the number of sentences must be at least 1")
    sents = split_sentences(text)
    if not sents:
        return []
    k = n_sentences if ratio is None else max(1, round(ratio * len(sents)))
    if len(sents) <= k:
        return [Sentence(s.start, s.end, s.text, 1.0, s.position) for s in sents]
    try:
        X = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(
            [s.text for s in sents])
        sim = (X @ X.T).toarray()
    except ValueError:  # only stop words
        sim = np.zeros((len(sents), len(sents)))
    np.fill_diagonal(sim, 0.0)
    n = len(sents)
    rows = sim.sum(1, keepdims=True)
    trans = np.where(rows > 0, sim / np.where(rows > 0, rows, 1), 1.0 / n)
    prior = 1.0 / np.arange(1, n + 1) ** 0.5
    prior /= prior.sum()
    r = np.full(n, 1.0 / n)
    for _ in range(100):
        new = (1 - damping) * prior + damping * trans.T @ r
        if np.abs(new - r).sum() < 1e-9:
            r = new
            break
        r = new
    score = (1 - position_weight) * r / r.max() + position_weight * prior / prior.max()
    score *= np.where([administrative(x.text) for x in sents], ADMIN_WEIGHT, 1.0)
    best = sorted(np.argsort(-score, kind="stable")[:k])
    return [Sentence(sents[i].start, sents[i].end, sents[i].text, float(score[i]), int(i))
            for i in best]


def summarize_file(input: str | Path, out: str | Path, *, text_column: str = "text",
                   id_column: str | None = None, n_sentences: int = 3,
                   ratio: float | None = None) -> dict:
    """Summarise every document of ``input`` into ``out``.

    ``out`` ending in ``.jsonl``: one object per document with ``id``, ``summary`` and
    ``sentences`` (``start``, ``end``, ``score``, ``position``). ``.csv`` / ``.parquet``: the
    input rows with ``summary``, ``summary_offsets`` (JSON ``[[start, end], ...]``) and
    ``error`` columns. Empty documents get an empty summary and an ``error``; nothing is dropped.
    """
    from tqdm.auto import tqdm

    from healthnn.data.tables import require_columns, write_table
    from healthnn.text.io import read_documents, text_values

    input, out = Path(input), Path(out)
    if out.suffix.lower() not in (".jsonl", ".csv", ".parquet", ".pq"):
        raise DataError(f"unsupported output type '{out.suffix}'", file=str(out),
                        hint="use .jsonl, .csv or .parquet")
    df, notes = read_documents(input, text_column=text_column)
    require_columns(df, [text_column], input)
    if id_column is not None:
        require_columns(df, [id_column], input)
    texts = text_values(df[text_column])
    ids = (df[id_column].astype(str).tolist() if id_column else
           df["id"].astype(str).tolist() if "id" in df.columns else
           [str(i + 1) for i in range(len(df))])
    summaries, offsets, errors, records = [], [], [], []
    for i, text in enumerate(tqdm(texts, desc="summarize", unit="doc", disable=len(texts) < 200)):
        err = "" if text.strip() else f"row {i + 1}: empty text"
        sents = summarize(text, n_sentences=n_sentences, ratio=ratio) if not err else []
        summaries.append(" ".join(s.text for s in sents))
        offsets.append(json.dumps([[s.start, s.end] for s in sents]))
        errors.append(err)
        records.append({"row": i + 1, "id": ids[i], "summary": summaries[-1],
                        "sentences": [asdict(s) for s in sents], "error": err})
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".jsonl":
        from healthnn.io import atomic_write

        with atomic_write(out) as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    else:
        clash = [c for c in ("summary", "summary_offsets", "error") if c in df.columns]
        if clash:
            raise DataError(f"the input already has column(s) {', '.join(clash)}",
                            file=str(input), hint="rename them; summarize adds these columns")
        table = df.copy()
        table["summary"], table["summary_offsets"], table["error"] = summaries, offsets, errors
        write_table(table, out)
    return {"documents": len(texts), "empty": sum(1 for e in errors if e), "notes": notes,
            "out": str(out)}
