"""De-identification of clinical notes: find protected health information (PHI) and replace it.

A pattern, dictionary and context-rule engine that runs offline (nothing is downloaded)::

    from healthnn.privacy.deid import Deidentifier

    deid = Deidentifier(mode="tag")                 # or "surrogate" (needs a key) or "mask"
    spans = deid.find(text)                         # [Span(start, end, label, score), ...]
    new_text, spans = deid.deidentify(text, patient="p42")

Labels: NAME, DATE, AGE (over 89), PHONE, EMAIL, SSN, ID (record, account, plan, licence,
device, vehicle and other numbers), ADDRESS, CITY, ZIP, HOSPITAL, ORGANIZATION, URL, IP.
Bare years are kept by default (HIPAA Safe Harbor allows them); ``keep_year=False`` removes them.

Clinical meaning is kept: eponyms (Parkinson's disease, Foley catheter, Apgar score, Glasgow
Coma Scale), drug names and doses, lab values, vital signs ("BP 120/80"), scores and times of
day are not PHI.

Modes
-----
``tag``        each PHI becomes ``[LABEL]``.
``mask``       each PHI character becomes ``*`` (same length, line breaks kept).
``surrogate``  each PHI becomes a realistic fake value chosen by keyed HMAC-SHA256 from
               (key, patient, label, value): consistent within a note and across the notes of a
               patient. Dates move back by a per-patient offset of 30-730 days, so intervals are
               preserved. Needs a secret key (``load_key``).

Spans always hold offsets into the *original* text. Nothing in this module logs text.

A site with annotated notes can train a model (``task = "ner"``, :mod:`healthnn.tasks.ner`) and
add its spans to the rules' with ``Deidentifier(ner="runs/ner")`` (``healthnn deid --ner DIR``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from healthnn.errors import DataError
from healthnn.privacy.keys import load_key  # the one key loader; re-exported for callers here

__all__ = ["Span", "Deidentifier", "SpanFinder", "load_key", "load_terms", "union_spans",
           "rule_spans", "word_lists", "LABELS", "MODES", "KEY_ENV"]


class SpanFinder(Protocol):
    """What :class:`Deidentifier` needs of a trained model that finds PHI spans (such as
    :class:`healthnn.tasks.ner.NerTagger`; a bundle provides one through its task's
    ``span_finder`` hook)."""

    operating_point: dict[str, Any] | None  # its validation-chosen ``combine``, if any
    rule_features: bool  # the rules' spans are among its inputs (a stacked model)
    rule_keep_year: bool  # the rules' setting it was trained with

    def find_many(self, texts: list[str], rules: list[list] | None = None
                  ) -> list[list[tuple[int, int, str, float]]]: ...


def rule_spans(text: str, *, keep_year: bool = True) -> list[tuple[int, int, str, float]]:
    """The rules' PHI spans of ``text`` (no local terms, no model), sorted, non-overlapping."""
    from healthnn.privacy._deid_rules import detect

    return detect(text, keep_year=keep_year)


def word_lists() -> tuple[Any, frozenset[str] | set[str]]:
    """The bundled dictionaries (``first_names``, ``surnames``, ``city_first``, ``common``
    English words) and the clinical words that are never PHI."""
    from healthnn.privacy._deid_lexicon import CLINICAL_KEEP, lexicon

    return lexicon(), CLINICAL_KEEP

LABELS = (
    "NAME", "DATE", "AGE", "PHONE", "EMAIL", "SSN", "ID", "ADDRESS", "CITY", "ZIP", "HOSPITAL",
    "ORGANIZATION", "URL", "IP",
)
MODES = ("tag", "surrogate", "mask")
MIN_KEY_BYTES = 16  # keys passed in directly (key files hold 32 bytes)
KEY_ENV = "HEALTHNN_KEY_FILE"


@dataclass(frozen=True)
class Span:
    """One PHI mention: ``text[start:end]`` of the original text."""

    start: int
    end: int
    label: str
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


def load_terms(path: str | os.PathLike) -> dict[str, list[str]]:
    """A local dictionary file: one ``LABEL<TAB>word or phrase`` per line, ``#`` starts a comment.

    For the names a hospital knows are PHI in its own notes: its sites and wards, its staff.
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError("terms file not found", file=str(p)) from None
    except UnicodeDecodeError:
        raise DataError("terms file is not UTF-8 text", file=str(p)) from None
    terms: dict[str, list[str]] = {}
    for n, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        label, sep, phrase = line.partition("\t")
        label = label.strip().upper()
        if not sep or not phrase.strip():
            raise DataError("expected LABEL<TAB>phrase", file=str(p), row=n)
        if label not in LABELS:
            raise DataError(f"unknown label {label!r}", file=str(p), row=n, hint=f"use one of {', '.join(LABELS)}")
        terms.setdefault(label, []).append(phrase.strip())
    return terms


class Deidentifier:
    """Find and replace PHI in clinical text.

    Parameters
    ----------
    mode:
        ``"tag"``, ``"surrogate"`` or ``"mask"``.
    key:
        Secret for surrogate mode (bytes or str, at least 16 bytes). See :func:`load_key`.
    keep_year:
        Keep bare years such as "1992" (HIPAA allows them). ``False`` removes them as DATE.
    terms:
        Local dictionaries, label -> words or phrases that are always PHI (the hospital's own
        site names, staff lists), matched case-insensitively on word boundaries.
    ner:
        A bundle of ``healthnn train`` with ``task = "ner"`` (trained on the site's annotated
        notes). Its spans are added to the rules' spans (union: overlapping spans merge into
        one covering both, labelled as the longer), its labels mapped to the tags above by
        the bundle's ``deid_labels`` (see :mod:`healthnn.tasks.ner`). An already loaded
        ``NerTagger(bundle, deid=True)`` is used as it is (one model shared by several
        de-identifiers; its own ``min_score`` applies).
    ner_min_score:
        Use only the NER spans that score at least this (0 to 1; 0: all). ``None``: the
        bundle's operating point, chosen on its validation notes when it was trained with
        ``[data] target_precision`` (else 0).
    ner_combine:
        ``"union"``: the rules' spans united with the NER's (recall first: nothing the rules
        find is lost); ``"ner"``: the NER's spans alone (for a stacked bundle, ``[data]
        rule_features``, whose model has read the rules' spans and learned when to overrule
        them), plus any ``terms``. ``None``: the bundle's validation-chosen combination, else
        ``"union"``.
    spacy_model:
        A spaCy NER pipeline (installed package name or folder, loaded offline) whose
        person, place, organisation and date entities are added to the spans (union); see
        :mod:`healthnn.privacy.spacy_finder`. Needs the ``deid-spacy`` extra.
    finders:
        Further :class:`SpanFinder` objects (``find_many(texts)`` gives per text a list of
        ``(start, end, label, score)``), such as
        :class:`healthnn.privacy.spacy_finder.SpacyFinder`; their spans are united with the
        others (after ``ner`` and its combination).
    """

    def __init__(
        self,
        mode: str = "tag",
        key: bytes | str | None = None,
        *,
        keep_year: bool = True,
        terms: Mapping[str, Iterable[str]] | None = None,
        ner: str | os.PathLike | SpanFinder | None = None,
        ner_min_score: float | None = None,
        ner_combine: str | None = None,
        spacy_model: str | os.PathLike | None = None,
        finders: Iterable[SpanFinder] = (),
    ) -> None:
        if mode not in MODES:
            raise DataError(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
        self.mode = mode
        self.keep_year = keep_year
        self._surrogates = None
        if mode == "surrogate":
            if key is None:
                key = load_key(required=False)
            if key is None:
                raise DataError("surrogate mode needs a secret key",
                                hint=f"pass --key-file KEY or set {KEY_ENV}; create one with "
                                     "'healthnn keygen KEY'")
            if isinstance(key, str):
                key = key.encode("utf-8")
            if len(key) < MIN_KEY_BYTES:
                raise DataError(f"key is too short (at least {MIN_KEY_BYTES} bytes)")
            from healthnn.privacy._deid_surrogate import Surrogates

            self._surrogates = Surrogates(key)
        self._terms: list[tuple[re.Pattern, str]] = []
        for label, words in (terms or {}).items():
            label = label.upper()
            if label not in LABELS:
                raise DataError(f"unknown label {label!r} in terms", hint=f"use one of {', '.join(LABELS)}")
            words = sorted({w.strip() for w in words if w and w.strip()}, key=len, reverse=True)
            if words:
                alt = "|".join(re.escape(w) for w in words)
                self._terms.append((re.compile(rf"(?<![A-Za-z0-9])(?:{alt})(?![A-Za-z0-9])", re.I), label))
        from healthnn.privacy._deid_lexicon import lexicon

        lexicon()  # load the dictionaries now, not inside the first note
        self.ner = None  # issue 3: a trained NER model adds its spans to the rules'
        self.ner_combine = "union"
        if isinstance(ner, (str, os.PathLike)):  # a bundle: its task gives the span finder
            from healthnn.bundle import load_bundle

            if ner_min_score is not None and not ner_min_score >= 0.0:
                raise DataError("--ner-min-score must be 0 or more (scores lie in 0 to 1)")
            bundle = load_bundle(ner)
            self.ner = bundle.task.span_finder(bundle, deid=True, min_score=ner_min_score)
        elif ner is not None:  # a loaded span finder (NerTagger(..., deid=True)), shared
            self.ner = ner
        if self.ner is not None:
            op = self.ner.operating_point
            self.ner_combine = ner_combine or (op["combine"] if op else "union")
            if self.ner_combine not in ("union", "ner"):
                raise DataError(f"unknown NER combination {self.ner_combine!r}",
                                hint="use union or ner")
        self.finders = list(finders)  # issue 18: more signals, united with the rules'
        if spacy_model is not None:
            from healthnn.privacy.spacy_finder import SpacyFinder

            self.finders.append(SpacyFinder(spacy_model, keep_year=keep_year))

    def find(self, text: str) -> list[Span]:
        """PHI spans in ``text``, sorted and non-overlapping, with offsets into ``text``."""
        return self.find_many([text])[0]

    def find_many(self, texts: list[str]) -> list[list[Span]]:
        """:meth:`find` for each of ``texts``; the NER model, if any, runs on them as one batch."""
        from healthnn.privacy._deid_rules import detect, resolve

        found, bases, extras = [], [], []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"text must be str, not {type(text).__name__}")
            hits = base = detect(text, keep_year=self.keep_year)
            extra: list = []
            if self._terms:
                extra = [(m.start(), m.end(), label, 0.99) for rx, label in self._terms for m in rx.finditer(text)]
                hits = resolve(extra + hits)
            found.append(hits)
            bases.append(base)
            extras.append(extra)
        if self.ner is not None and texts:
            # a stacked NER reads the rules' spans: reuse them when its settings are ours
            same = self.ner.rule_features and self.ner.rule_keep_year == self.keep_year
            ner_found = self.ner.find_many(list(texts), bases if same else None)
            if self.ner_combine == "ner":  # the NER's spans alone (plus the site's terms)
                found = [union_spans(resolve(ex) + nf) if ex else nf
                         for ex, nf in zip(extras, ner_found, strict=True)]
            else:
                found = [union_spans(list(hits) + nf)
                         for hits, nf in zip(found, ner_found, strict=True)]
        for finder in self.finders if texts else ():
            more = finder.find_many(list(texts))
            found = [union_spans(list(hits) + list(m)) for hits, m in zip(found, more, strict=True)]
        return [[Span(s, e, label, round(score, 3)) for s, e, label, score in hits] for hits in found]

    def replace(self, text: str, spans: Iterable[Span], patient: str | None = None) -> str:
        """``text`` with each span replaced according to the mode."""
        out = []
        pos = 0
        pid = "" if patient is None else str(patient)
        for s in sorted(spans, key=lambda s: s.start):
            if s.start < pos:
                continue
            out.append(text[pos:s.start])
            value = text[s.start:s.end]
            if self.mode == "tag":
                out.append(f"[{s.label}]")
            elif self.mode == "mask":
                out.append(re.sub(r"[^\n]", "*", value))
            else:
                # the text after the span: a surrogate city keeps the state written after it
                out.append(self._surrogates.replace(s.label, value, pid, after=text[s.end:s.end + 40]))
            pos = s.end
        out.append(text[pos:])
        return "".join(out)

    def deidentify(self, text: str, patient: str | None = None) -> tuple[str, list[Span]]:
        """``(new_text, spans)``; ``patient`` scopes surrogates and the date shift."""
        spans = self.find(text)
        return self.replace(text, spans, patient), spans

    def date_shift_days(self, patient: str | None = None) -> int:
        """The (negative) number of days surrogate mode moves this patient's dates by."""
        if self._surrogates is None:
            raise DataError("date shifting needs mode='surrogate'")
        return self._surrogates.shift_days("" if patient is None else str(patient))


def union_spans(hits: Iterable[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    """Merge overlapping spans into one covering them all (recall first), labelled as the
    longest of them, with the highest score.

    >>> union_spans([(0, 5, "NAME", 0.9), (3, 9, "ID", 0.5), (20, 24, "DATE", 0.8)])
    [(0, 9, 'ID', 0.9), (20, 24, 'DATE', 0.8)]
    """
    out: list[list] = []
    for s, e, lab, sc in sorted(h for h in hits if h[1] > h[0]):
        if out and s < out[-1][1]:
            cur = out[-1]
            if e - s > cur[4]:
                cur[2], cur[4] = lab, e - s
            cur[1], cur[3] = max(cur[1], e), max(cur[3], sc)
        else:
            out.append([s, e, lab, sc, e - s])
    return [(s, e, lab, float(sc)) for s, e, lab, sc, _ in out]

