"""Position and layout rules of the de-identifier (issue 18): signals that hold across writing styles.

The rules of :mod:`healthnn.privacy._deid_rules` lean on dictionaries: a word is a name when it
is in a name list and not an English word. People write names, places and identifiers in
positions that say what they are, whatever the word: "Patient: Rose Green", "Dear Frank,",
"Thanks, Mark", "Baker, Frank", "John P.", "at Elm Clinic", "in Cedar Crest", "our New York
clinic", "Admission #A2023-77812". These rules read the position and the capitalisation;
:func:`keep_drugs` then gives drug names and doses back ("on warfarin 5 mg" is not a ward).

Only offsets and labels leave this module, never text.
"""

from __future__ import annotations

import itertools
import re

from healthnn.privacy._deid_lexicon import (
    CLINICAL_KEEP,
    CLINICAL_WORDS,
    CREDENTIALS,
    MONTHS,
    RELATIONS,
    STRONG_TITLES,
    TITLES,
    lexicon,
)
from healthnn.privacy._deid_text import Hit, Note, gap

__all__ = ["context_hits", "keep_drugs", "merge_names"]

_I = re.IGNORECASE

# Words that introduce a name in the next words of the line.
_LABEL_CUES = {  # followed by ":" (or "-"): "Patient: John Smith", "PCP - Dr Hill"
    "patient", "pt", "name", "attending", "pcp", "provider", "physician", "surgeon", "nurse",
    "referring", "referred", "cc", "from", "to", "signed", "contact", "kin", "nok", "guardian",
    "caregiver", "proxy", "hcp", "poa", "author", "resident", "fellow", "dictated", "transcribed",
    "by", "np", "rn", "md", "pa", "therapist", "witness", "interpreter", "mother", "father",
    "spouse", "husband", "wife", "son", "daughter", "parent", "emergency",
}
_PHRASE_CUES = (  # followed by the name directly (mixed case: capitalised words only)
    ("seen", "by"), ("referred", "by"), ("signed", "by"), ("dictated", "by"), ("examined", "by"),
    ("evaluated", "by"), ("reviewed", "by"), ("written", "by"), ("covered", "by"), ("cc",),
    ("patient",), ("pt",), ("dear",), ("hi",), ("hello",), ("hey",), ("attn",),
)
_PHRASE_FIRST = {c[0] for c in _PHRASE_CUES}
_SIGN_OFFS = {
    "thanks", "thank", "regards", "sincerely", "cheers", "best", "yours", "respectfully", "cordially",
    "warmly", "thx",
}
_NOT_NAME = set(
    """
    the a an and or of to in on at for with by from is was are be been has had have not no yes
    this that these those he she they it his her their him them we you i me my our your
    all any some each other new old same today tomorrow yesterday now then here there again
    please thanks thank regards dear hi hello re fyi asap pt patient patients doctor team
    unit ward floor room bed clinic hospital office service department dept center
    am pm hours hour days day weeks week months month years year time date
    male female man woman boy girl gentleman lady mr mrs ms dr
    """.split()
)
# Words that name a clinical service before "Clinic" / "Center": "Pain Clinic" is not PHI.
_SERVICE_WORDS = set(
    """
    pain heart cancer diabetes diabetic cardiology cardiac oncology urgent care primary family
    women women's children children's pediatric paediatric geriatric senior adult emergency
    trauma surgical surgery medical medicine outpatient inpatient community general memorial
    regional university county state city veterans behavioral mental health wound sleep eye
    dental kidney renal dialysis transplant rehab rehabilitation infusion imaging radiology lab
    laboratory walk walk-in anticoagulation coumadin warfarin lipid memory stroke spine
    orthopedic orthopaedic sports fertility breast vascular vein allergy asthma travel weight
    obesity endocrine endocrinology liver hepatology headache epilepsy sickle hiv std tb
    prenatal ob gyn obgyn neuro neurology pulmonary lung urology skin dermatology wellness
    rheumatology hematology psychiatry psychiatric psych addiction methadone hospice clinical
    research day night main north south east west central our the this that your his her
    their student employee occupational physical therapy speech hearing audiology foot podiatry
    hand plastic burn cystic fibrosis autism developmental genetics genetic infectious disease
    diseases internal gastro gastroenterology gi ent ophthalmology optometry vision retina
    hypertension heart failure arrhythmia device pacemaker coagulation thrombosis clot
    anticoag nephrology colorectal bariatric cosmetic maternity birthing birth neonatal
    newborn well baby teen adolescent youth men's mens womens sexual reproductive hiv/aids
    public free mobile virtual telehealth nurse-led nurse pharmacy pharmacist
    """.split()
)
_ORG_HEADS = {"clinic", "hospital", "center", "centre", "institute", "infirmary", "hospice",
              "healthcare", "health", "pavilion", "medical", "practice", "associates", "group"}
_ORG_TAILS = {"clinic", "hospital", "center", "centre", "institute", "infirmary", "hospice",
              "healthcare", "pavilion", "practice", "associates"}
# lower-case words after a place that make it a site: "our New York clinic"
_SITE_WORDS = {"clinic", "office", "hospital", "practice", "campus", "location", "branch",
               "facility", "center", "centre", "offices", "clinics"}
_STREETS = {"street", "st", "avenue", "ave", "road", "rd", "boulevard", "blvd", "lane", "drive", "way"}
_WARD_WORDS = {"ward", "wing", "pavilion", "building", "tower"}
_DIRECTIONS = {"north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest",
               "upper", "lower", "main", "new", "old", "central", "front", "back"}
# last words of a place name: "in Cedar Crest", "from Shaker Heights"
_PLACE_TAILS = {
    "crest", "hills", "hill", "heights", "springs", "spring", "valley", "park", "falls", "lake",
    "lakes", "creek", "ridge", "point", "beach", "harbor", "harbour", "grove", "village", "meadows",
    "woods", "glen", "bay", "port", "haven", "ville", "town", "city", "junction", "station",
    "county", "township", "mills", "forest", "gardens", "estates", "plains", "shores", "landing",
    "bluff", "bluffs", "rapids", "hollow", "center", "borough", "burg", "view", "vista",
}
_LOCATIVES = {"in", "at", "from", "near", "to", "of", "outside", "around"}
# well-known abbreviations of hospitals and health systems (US academic centres)
_HOSPITAL_ACRONYMS = set(
    """
    ucsf ucla ucsd uci ucd uch ucmc ucdmc mgh bwh bidmc mskcc mdacc nyu nyulmc upmc chop ohsu uab
    unc vumc jhh jhu ccf bmc hup nyp cumc wcmc uic ummc uwmc smh tgh osumc uva uvm utsw
    usc hfh mcw bch cchmc choa chla sjcrh bumc tmc utmb dumc vcu gwu mgb cpmc sfgh zsfg hmc
    mayo nwh bch lahey ochsner
    """.split()
)
_CLINICAL_ACRONYMS = {"msk", "chb", "lac", "mda", "kp", "nih", "cdc", "fda", "cms", "who"}

RE_MOUNT = re.compile(r"\b(?:Mt\.?|Mount|MT\.|MOUNT)[ ]{1,2}([A-Z][a-z]+|[A-Z]{3,})(?:'s)?\b")
RE_FIRST_INITIAL = re.compile(r"\b([A-Z][a-z]{1,15})[ ]([A-Z])\.(?=[ ,;:)\n]|$)")
RE_SURNAME_FIRST = re.compile(r"\b([A-Z][a-z]{1,20}(?:-[A-Z][a-z]{1,20})?),[ ]{1,2}([A-Z][a-z]{1,15})\b")
# initials that sign a message at its very end: "... pls call back. -KL"
RE_END_INITIALS = re.compile(r"(?:^|[ \t\n])[-~/][ ]?([A-Z]{2,3})[ \t.]{0,3}\Z")
RE_ID_CUE = re.compile(
    r"\b(?:admission|adm|encounter|enc|visit|accession|acc|specimen|order|requisition|req|episode|"
    r"fin|csn|har|chart|study|exam|barcode|ticket|confirmation|mrn|acct|account|patient id|pt id)"
    r"[ \t]{0,3}(?:no\.?|number|num|id|#)?[ \t]{0,3}[:#=][ \t]{0,3}#?[ \t]{0,3}"
    r"((?=[A-Za-z0-9-]*\d{3})[A-Za-z0-9][A-Za-z0-9-]{3,}[A-Za-z0-9])",
    _I,
)
_DIGIT = re.compile(r"\d")
RE_HASH_ID = re.compile(r"(?<![\w#&])#[ ]?(?=(?:[A-Za-z-]{0,6}\d){4})([A-Za-z]{0,4}\d[A-Za-z0-9-]{3,}[A-Za-z0-9])(?![\w-])")
RE_PREFIXED_ID = re.compile(r"(?<![\w-])([A-Z]{2,6}-\d{5,}|[A-Z]{1,3}\d{6,})(?![\w-])")
RE_DOSE_AFTER = re.compile(
    r"[ \t]{0,2}(?:\(|,)?[ \t]{0,2}(?<![\d.,])\d{1,6}(?:[.,]\d{1,4})?[ \t]{0,2}(?:mg|mcg|µg|ug|g|gm|gram|grams|units?|u|iu|ml|"
    r"meq|mmol|%|tabs?|tablets?|caps?|capsules?|puffs?|drops?|mg/kg|mcg/kg|mg/m2)\b",
    _I,
)


def _title_case(w: str) -> bool:
    return w[0].isupper() and (len(w) == 1 or w[1:].islower() or (w[1:2].islower() and w[2:3].isupper()))


def _word_ok(note: Note, k: int) -> bool:
    """Can token k be part of a name in a name position (whatever its dictionary status)?"""
    lex = lexicon()
    w = note.tokens[k][2]
    if not w[0].isalpha():
        return False
    lw = w.lower()
    if lw in _NOT_NAME or lw in CREDENTIALS or lw in STRONG_TITLES or lw in RELATIONS or lw in MONTHS \
            or lw in lex.drugs or lw in CLINICAL_WORDS and lw not in lex.first_names:
        return False
    if note.case == "mixed":
        return _title_case(w) or (w.isupper() and len(w) <= 3 and lw not in CLINICAL_WORDS)
    # no case information ("PT: ALERT", "pt tolerated"): only words of the name lists
    if len(w) == 1:
        return k + 1 < len(note.tokens) and note.tokens[k + 1][2] == "."
    return lex.any_name_word(lw) and lw not in CLINICAL_KEEP


def _name_run(note: Note, k: int, most: int = 3) -> int | None:
    """Last token of a run of up to ``most`` name words starting at token k (same line), or None."""
    toks = note.tokens
    end = None
    n = 0
    while k < len(toks) and n < most and _word_ok(note, k):
        end = k
        n += 1
        nxt = k + 1
        if nxt < len(toks) and toks[nxt][2] == "." and len(toks[k][2]) == 1:
            end = nxt  # an initial: "John P."
            nxt += 1
        if nxt >= len(toks) or gap(note, end, nxt) not in (" ", "") or not toks[nxt][2][0].isalpha():
            break
        k = nxt
    return end


def _line_ends(note: Note, k: int) -> bool:
    """Nothing but punctuation after token k on its line."""
    e = note.text.find("\n", note.tokens[k][1])
    return not re.search(r"[A-Za-z0-9]", note.text[note.tokens[k][1]:e if e >= 0 else len(note.text)])


def _names(note: Note) -> list[Hit]:
    lex = lexicon()
    toks = note.tokens
    hits: list[Hit] = []
    low = [t[2].lower() for t in toks]
    for i in note.words:
        lw = low[i]
        start = None
        if lw in _LABEL_CUES and i + 1 < len(toks) and toks[i + 1][2] in (":", "-") \
                and "\n" not in gap(note, i, i + 1):
            start = i + 2
            if start < len(toks) and low[start] in STRONG_TITLES:
                continue  # "Attending: Dr. Hill": the title rule has it
        elif lw in _SIGN_OFFS and i + 1 < len(toks):
            k = i + 1
            if lw == "thank" and k < len(toks) and low[k] == "you":
                k += 1
            if lw in ("best", "kind", "warm") and k < len(toks) and low[k] in ("regards", "wishes"):
                k += 1
            if k < len(toks) and toks[k][2] in (",", "!", "-"):
                start = k + 1
                if start < len(toks) and "\n\n" in gap(note, k, start):
                    start = None
        elif lw in _PHRASE_FIRST:
            for cue in _PHRASE_CUES:
                if low[i:i + len(cue)] == list(cue) and (len(cue) == 1 or gap(note, i, i + 1) == " "):
                    start = i + len(cue)
                    break
            if start is not None and (start >= len(toks) or "\n" in gap(note, start - 1, start)):
                start = None
            if start is not None and note.case == "mixed" and not toks[start][2][:1].isupper():
                start = None
            if start is not None and lw in ("pt", "patient", "cc") and (
                    note.case != "mixed" or not lex.any_name_word(low[start]) or low[start] in lex.common
                    and low[start] not in lex.first_names):
                start = None  # "pt tolerated", "500 cc", "PT ALERT": a name must look like one
        if start is None or start >= len(toks):
            continue
        if start < len(toks) and toks[start][2] in (":", ","):
            start += 1
        end = _name_run(note, start) if start < len(toks) else None
        if end is None or end == start and len(toks[start][2]) < 2:
            continue
        if note.case != "mixed" and any(low[q] in lex.common for q in range(start, end + 1)) \
                and not (lw in _LABEL_CUES and _line_ends(note, end)):
            continue  # no case information: an English word is a name only alone after "NAME:"
        hits.append((toks[start][0], toks[end][1], "NAME", 0.9))
    hits.extend(_name_shapes(note))
    m = RE_END_INITIALS.search(note.text, max(0, len(note.text) - 12))
    if m and m.group(1).lower() not in CLINICAL_WORDS and m.group(1).lower() not in lex.common:
        hits.append((m.start(1), m.end(1), "NAME", 0.8))
    return hits


def _name_shapes(note: Note) -> list[Hit]:
    """"John P.", "Baker, Frank", "Rose Green": shapes of names, with the name lists."""
    lex = lexicon()
    hits: list[Hit] = []
    if note.case != "mixed":
        return hits
    t = note.text
    for m in RE_FIRST_INITIAL.finditer(t):
        w = m.group(1).lower()
        if (w in lex.first_names or w in lex.extra_first and w not in lex.common) and w not in CLINICAL_WORDS and w not in CLINICAL_KEEP and w not in lex.drugs \
                and (w not in lex.common or lex.first_rank.get(w, 10**9) < 1000):
            hits.append((m.start(1), m.end(), "NAME", 0.85))
    for m in RE_SURNAME_FIRST.finditer(t):
        last, first = m.group(1).lower(), m.group(2).lower()
        if first in lex.first_names and lex.first_rank.get(first, 10**9) < 2000 \
                and (last in lex.top_surnames or last in lex.frequent_surnames and last not in lex.common) \
                and last not in CLINICAL_WORDS and first not in CLINICAL_WORDS and first not in CLINICAL_KEEP \
                and last not in _NOT_NAME and last not in lex.drugs and first not in lex.drugs:
            hits.append((m.start(1), m.end(2), "NAME", 0.85))
    hits.extend(_first_last(note))
    return hits


def _first_last(note: Note) -> list[Hit]:
    """Two capitalised words, a first name and a surname, inside a sentence (not a heading)."""
    lex = lexicon()
    toks = note.tokens
    hits: list[Hit] = []
    words = note.words
    for a, b in itertools.pairwise(words):
        if b != a + 1 or gap(note, a, b) != " ":
            continue
        w1, w2 = toks[a][2], toks[b][2]
        if not (_title_case(w1) and _title_case(w2)) or len(w1) < 3 or len(w2) < 3:
            continue
        l1, l2 = w1.lower(), w2.lower()
        first = l1 in lex.first_names or l1 in lex.extra_first and l1 not in lex.common
        last = lex.surname_rank.get(l2, 10**9) <= 20000 or l2 in lex.extra_surnames and l2 not in lex.common
        if not first or not last:
            continue
        if l1 in lex.common and lex.first_rank.get(l1, 10**9) > 1500 or l2 in lex.common and l2 not in lex.top_surnames:
            continue
        if l1 in CLINICAL_KEEP or any(
                w in CLINICAL_WORDS or w in _NOT_NAME or w in MONTHS or w in lex.drugs
                or w in _SERVICE_WORDS or w in _ORG_HEADS or w in _PLACE_TAILS or w in lex.states
                or w in TITLES or w in CREDENTIALS for w in (l1, l2)):
            continue  # an eponym surname ("Jack White") is still a name after a first name
        if _heading_line(note, a):
            continue
        hits.append((toks[a][0], toks[b][1], "NAME", 0.8))
    return hits


def _heading_line(note: Note, k: int) -> bool:
    """Is token k on a line of four or more words that are all capitalised (a title)?"""
    t = note.text
    s = t.rfind("\n", 0, note.tokens[k][0]) + 1
    e = t.find("\n", note.tokens[k][1])
    line = t[s:e if e >= 0 else len(t)]
    ws = re.findall(r"[A-Za-z]+", line[:300])
    return len(ws) >= 4 and all(w[0].isupper() for w in ws)


def _places(note: Note) -> list[Hit]:
    lex = lexicon()
    toks = note.tokens
    low = [t[2].lower() for t in toks]
    hits: list[Hit] = []
    for m in RE_MOUNT.finditer(note.text):
        if m.group(1).lower() not in _NOT_NAME and m.group(1).lower() not in CLINICAL_WORDS:
            hits.append((m.start(), m.end(), "HOSPITAL", 0.8))
    for i in note.words:
        lw = low[i]
        w = toks[i][2]
        # "Elm Clinic", "UCLA Medical Center", "NY Presbyterian Hospital", "Ellison ward"
        if (lw in _ORG_TAILS and (note.case != "mixed" or w[0].isupper())) or lw in _WARD_WORDS:
            k = i - 1
            if lw in _ORG_TAILS and k >= 0 and low[k] in ("medical", "health") and "\n" not in gap(note, k, i):
                k -= 1
            last, first = k, None
            while k >= 0 and i - k <= 4 and "\n" not in gap(note, k, k + 1) and _org_word(note, k):
                first = k
                k -= 1
                if k >= 0 and toks[k][2] in ".'" and k >= 1:
                    k -= 1
            if first is not None and any(low[q] not in _SERVICE_WORDS and low[q] not in _DIRECTIONS
                                         for q in range(first, i) if toks[q][2][0].isalpha()):
                # the name without its generic head: "[Elm] Clinic", "[UCLA] Medical Center"
                hits.append((toks[first][0], toks[last][1], "HOSPITAL", 0.8))
        # "our New York clinic", "the Boston office"
        if lw in _SITE_WORDS and w.islower() and i >= 1 and note.case == "mixed":
            k, first = i - 1, None
            while k >= 0 and i - k <= 3 and toks[k][2][:1].isupper() and gap(note, k, k + 1) == " ":
                first = k
                k -= 1
            if first is not None:
                name = " ".join(low[first:i])
                if name in lex.cities or name in lex.states or i - first >= 2 and low[i - 1] in _STREETS:
                    hits.append((toks[first][0], toks[i - 1][1], "HOSPITAL", 0.8))
        # "in Cedar Crest", "from Dallas", "to UCSF"
        if lw in _LOCATIVES and i + 1 < len(toks) and gap(note, i, i + 1) == " ":
            hit = _place_after(note, i + 1)
            if hit is not None:
                hits.append(hit)
        if lw in _HOSPITAL_ACRONYMS and (w.isupper() or lw in ("mayo", "lahey", "ochsner") and w[0].isupper()):
            hits.append((toks[i][0], toks[i][1], "HOSPITAL", 0.8))
    return hits


def _org_word(note: Note, k: int) -> bool:
    """A word of an organisation's own name before "Clinic": capitalised, an acronym, "St", "'s"."""
    w = note.tokens[k][2]
    lw = w.lower()
    if not w[0].isalpha() or lw in _NOT_NAME and lw not in ("new",) or lw in CREDENTIALS and len(w) > 2:
        return False
    if lw in lexicon().drugs or lw in MONTHS:
        return False
    if note.case != "mixed":  # no case information: only words that are not English words
        return lw not in lexicon().common or lw in lexicon().cities
    return w[0].isupper() or lw in ("s",) and k > 0 and note.tokens[k - 1][2] == "'"


def _place_after(note: Note, k: int) -> Hit | None:
    lex = lexicon()
    toks = note.tokens
    if note.case != "mixed" or not toks[k][2][0].isalpha():
        return None
    ks = []
    q = k
    while q < len(toks) and len(ks) < 3 and toks[q][2][0].isalpha() and _title_case(toks[q][2]) \
            and len(toks[q][2]) > 1:
        ks.append(q)
        if q + 1 >= len(toks) or gap(note, q, q + 1) != " ":
            break
        q += 1
    if not ks:
        return None
    lws = [toks[q][2].lower() for q in ks]
    if any(w in CLINICAL_WORDS or w in _NOT_NAME or w in MONTHS or w in lex.drugs or w in _SERVICE_WORDS
           or w in TITLES or w in RELATIONS for w in lws):
        return None
    # two or three words ending with a place word ("Cedar Crest"), or a listed city that is
    # also a first name ("Dallas", "Austin")
    for n in range(len(ks), 0, -1):
        name = " ".join(lws[:n])
        if n >= 2 and lws[n - 1] in _PLACE_TAILS:
            return toks[ks[0]][0], toks[ks[n - 1]][1], "CITY", 0.75
        if name in lex.cities and (n >= 2 or name not in lex.common and len(name) > 3):
            return toks[ks[0]][0], toks[ks[n - 1]][1], "CITY", 0.75
    return None


def _ids(note: Note) -> list[Hit]:
    t = note.text
    hits: list[Hit] = []
    if _DIGIT.search(t):
        for rx in (RE_ID_CUE, RE_HASH_ID):
            for m in rx.finditer(t):
                hits.append((m.start(1), m.end(1), "ID", 0.9))
        for m in RE_PREFIXED_ID.finditer(t):
            if m.group(1).split("-")[0].lower() not in ("icd", "cpt", "covid", "sars", "hla", "cd", "il"):
                hits.append((m.start(1), m.end(1), "ID", 0.8))
    return hits


def context_hits(note: Note) -> list[Hit]:
    """Names, places and identifiers found by their position and shape (offsets and labels)."""
    return _names(note) + _places(note) + _ids(note)


def keep_drugs(note: Note, hits: list[Hit]) -> list[Hit]:
    """Drop name and place spans that are drug names or stand before a dose ("on Eliquis 5 mg").

    A span found after a title ("Dr. Warfarin", score 0.95 or more) stays.
    """
    lex = lexicon()
    t = note.text
    out = []
    for h in hits:
        if h[2] in ("NAME", "HOSPITAL", "CITY", "ORGANIZATION") and h[3] < 0.95:
            words = re.findall(r"[A-Za-z]+", t[h[0]:h[1]])
            if words and all(w.lower() in lex.drugs or w.lower() in CLINICAL_KEEP for w in words):
                continue
            if len(words) == 1 and RE_DOSE_AFTER.match(t, h[1]):
                continue
        out.append(h)
    return out


def merge_names(hits: list[Hit]) -> list[Hit]:
    """Overlapping NAME spans of different rules become one ("cc: Grace Young" and "Young,
    Penny" -> "Grace Young, Penny"), so that resolving overlaps keeps every word of both.

    >>> merge_names([(4, 15, "NAME", 0.9), (10, 22, "NAME", 0.85), (30, 34, "DATE", 0.9)])
    [(30, 34, 'DATE', 0.9), (4, 22, 'NAME', 0.9)]
    """
    names = sorted(h for h in hits if h[2] == "NAME")
    out = [h for h in hits if h[2] != "NAME"]
    merged: list[list] = []
    for s, e, lab, sc in names:
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            merged[-1][3] = max(merged[-1][3], sc)
        else:
            merged.append([s, e, lab, sc])
    return out + [tuple(m) for m in merged]
