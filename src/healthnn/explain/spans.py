"""Token attributions mapped back to the words of the original text (issue 19, item 13).

A tokenizer lower-cases, splits words into sub-word pieces (``hyper``, ``##tension``) and
replaces words outside its vocabulary with ``[UNK]``; a reader wants the note's own words.
:func:`word_attributions` sums the attributions of the tokens that fall in each
whitespace-delimited word of the text (by the tokens' character offsets) and returns the
word exactly as written, with its character span.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["word_attributions", "top_words", "explanation_rows"]

_WORD = re.compile(r"\S+")
_EDGE = re.compile(r"^[^\w]+|[^\w]+$")


def word_attributions(text: str, offsets: Sequence[tuple[int, int]],
                      scores: Sequence[float]) -> list[dict[str, Any]]:
    """Words of ``text`` with the summed attribution of their tokens.

    Parameters
    ----------
    text : str
        The text the tokens were made from.
    offsets : sequence of (int, int)
        Character span of each token in ``text``; empty spans (special tokens such as
        ``[CLS]``) are skipped.
    scores : sequence of float
        Attribution of each token (same length as ``offsets``, or shorter: tokens after it
        are left out).

    Returns
    -------
    list of dict
        ``{"start", "end", "word", "attribution", "tokens"}`` per word that has a token, in
        text order; ``word == text[start:end]`` (leading and trailing punctuation trimmed
        unless the word is punctuation only); ``tokens`` is how many tokens it had.

    Examples
    --------
    >>> text = "Pt has HTN, ketoacidosis."
    >>> offsets = [(0, 0), (0, 2), (3, 6), (7, 10), (10, 11), (12, 17), (17, 24), (24, 25)]
    >>> scores = [0.0, 0.1, 0.0, 0.5, 0.0, 0.2, 0.3, 0.0]
    >>> [(w["word"], round(w["attribution"], 2)) for w in word_attributions(text, offsets, scores)]
    [('Pt', 0.1), ('has', 0.0), ('HTN', 0.5), ('ketoacidosis', 0.5)]
    """
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if not spans:
        return []
    starts = np.asarray([s for s, _ in spans])
    total = np.zeros(len(spans))
    count = np.zeros(len(spans), dtype=int)
    for (s, e), w in zip(offsets, scores, strict=False):
        if e <= s:
            continue
        j = int(np.searchsorted(starts, s, side="right")) - 1
        if j < 0 or s >= spans[j][1]:
            continue  # whitespace only
        total[j] += float(w)
        count[j] += 1
    out = []
    for j in np.flatnonzero(count):
        s, e = spans[j]
        piece = text[s:e]
        trimmed = _EDGE.sub("", piece)
        if trimmed:
            s += piece.index(trimmed)
            e = s + len(trimmed)
        out.append({"start": int(s), "end": int(e), "word": text[s:e],
                    "attribution": float(total[j]), "tokens": int(count[j])})
    return out


def top_words(words: Sequence[dict[str, Any]], k: int = 10) -> list[str]:
    """The ``k`` words with the largest positive attribution, largest first.

    >>> top_words([{"word": "HTN", "attribution": 0.5}, {"word": "has", "attribution": -0.1},
    ...            {"word": "Pt", "attribution": 0.1}])
    ['HTN', 'Pt']
    """
    ranked = sorted((w for w in words if w["attribution"] > 0),
                    key=lambda w: -w["attribution"])
    return [w["word"] for w in ranked[:k]]


def explanation_rows(row: int, text: str, tokens: Sequence[str],
                     offsets: Sequence[tuple[int, int]], scores: Sequence[float]
                     ) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """What ``healthnn explain`` writes for one text: the top tokens and words (for
    attributions.csv), the token rows (tokens.csv: the model's token, its span and the
    original characters ``text``) and the word rows (words.csv).

    >>> top, toks, words = explanation_rows(1, "HTN noted", ["[CLS]", "h", "##tn", "noted"],
    ...                                     [(0, 0), (0, 1), (1, 3), (4, 9)], [0, .2, .3, -.1])
    >>> top, toks[1]["text"], words[0]
    ({'top_tokens': '##tn h', 'top_words': 'HTN'}, 'H', {'row': 1, 'word': 'HTN', \
'start': 0, 'end': 3, 'attribution': 0.5, 'tokens': 2})
    """
    scores = np.asarray(scores, dtype=float)[: len(tokens)]
    order = np.argsort(-scores, kind="stable")[:10]
    words = word_attributions(text, offsets, scores)
    top = {"top_tokens": " ".join(tokens[j] for j in order if scores[j] > 0),
           "top_words": " ".join(top_words(words))}
    token_rows = [{"row": row, "token": t, "start": int(a), "end": int(b),
                   "attribution": float(v), "text": text[int(a):int(b)]}
                  for t, (a, b), v in zip(tokens, offsets, scores, strict=False)]
    word_rows = [{"row": row, **{k: w[k] for k in ("word", "start", "end", "attribution",
                                                   "tokens")}} for w in words]
    return top, token_rows, word_rows
