"""Detectors of the de-identifier: regular expressions, dictionaries and context rules.

Each detector takes a :class:`_Note` and yields ``(start, end, label, score)`` tuples with
offsets into the original text. :func:`detect` runs them all and resolves overlaps.
No detector logs or returns text: only offsets and labels leave this module.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from healthnn.privacy._deid_context import context_hits, keep_drugs, merge_names
from healthnn.privacy._deid_lexicon import (
    CLINICAL_KEEP,
    CREDENTIALS,
    HOLIDAYS,
    MONTHS,
    RELATIONS,
    STREET_TYPES,
    STRONG_TITLES,
    US_STATES,
    lexicon,
)
from healthnn.privacy._deid_lexicon import CLINICAL_WORDS as _CLINICAL_ONLY
from healthnn.privacy._deid_text import Hit
from healthnn.privacy._deid_text import Note as _Note
from healthnn.privacy._deid_text import gap as _gap
from healthnn.privacy._deid_text import prev_word as _prev_word

# Higher wins when two spans overlap.
PRIORITY = {
    "EMAIL": 90, "URL": 88, "IP": 87, "SSN": 86, "PHONE": 80, "ID": 75, "ADDRESS": 72,
    "ZIP": 70, "DATE": 65, "AGE": 64, "HOSPITAL": 50, "ORGANIZATION": 50, "NAME": 50,
    "CITY": 50,
}

_MONTH_ALT = "|".join(sorted(MONTHS, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th)?"
_ORDINAL_WORDS = (
    "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
    "thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
    "twenty-first|twenty-second|twenty-third|twenty-fourth|twenty-fifth|twenty-sixth|"
    "twenty-seventh|twenty-eighth|twenty-ninth|thirtieth|thirty-first"
)
_I = re.IGNORECASE

RE_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
RE_URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"')\]]+|(?<![A-Za-z0-9.-])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\."
    r"(?:com|org|net|edu|gov|info|io|us|uk)(?:/[^\s<>\"')\]]*)?\b",
    _I,
)
RE_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])"
)
RE_IPV6 = re.compile(r"\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:){2,6}:(?:[0-9a-f]{1,4})?\b", _I)
RE_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
RE_SSN_CTX = re.compile(r"\b(?:ssn|social security(?: number| no\.?| #)?)\s{0,8}[:#]?\s{0,8}(\d{9}|\d{3} \d{2} \d{4})\b", _I)
RE_PHONE = re.compile(
    r"(?<![\w/.])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s{0,8}|\d{3}\s{0,8}[\s./-]\s{0,8})\d{3}\s{0,8}[\s./-]\s{0,8}\d{4,5}(?![\w/-])"
    r"(?:\s{0,8}(?:x|ext\.?|extension)\s{0,8}\d{1,5})?",
    _I,
)
RE_PHONE7 = re.compile(r"(?<![\w/.-])(?:\d{3}-\d{4}|\d{6}-\d{4}|\d{3} \d{7})(?![\w/-])")
_PHONE_CUE = re.compile(
    r"(call|phone|tel|cell|home|work|office|pager|beeper|number|contact|reach|reached|#|fax|mobile|"
    r"son|daughter|wife|husband|sister|brother|friend|\(|-)\W*$",
    re.IGNORECASE,
)
RE_PHONE_CTX = re.compile(
    r"\b(?:pager|page|paged|pg|pgr|beeper|beep|bpr|ext|extension|phone|ph|tel|telephone|cell|"
    r"mobile|fax|callback|call back|contact|number|no|#|x)\s{0,8}[:#.]?\s{0,8}(?:#|is|at|number)?\s{0,8}"
    r"[:#]?\s{0,8}(\d{4,5}|\d{3}[ -]\d{4})(?!\d|[/:]|\.\d|-\d)",
    _I,
)
RE_ID_CTX = re.compile(
    r"\b(?:mrn|mr#|mr ?no|medical record(?: number| no\.?| #)?|record(?: number| no\.?| #)|"
    r"acct|account(?: number| no\.?| #)?|policy(?: number| no\.?| #)?|member(?: id)?|"
    r"subscriber(?: id)?|plan(?: id| number| #)|insurance(?: id| number| #)|group(?: number| #)|"
    r"licen[cs]e(?: number| no\.?| #)?|lic(?:\.|#)?|dea(?: #)?|npi|serial(?: number| no\.?| #)?|"
    r"s/n|device(?: id| number| #)|vin|plate(?: number| #)?|tag(?: number| #)|"
    r"ref(?:erence)?(?: number| no\.?| #)?|case(?: number| no\.?| #)|claim(?: number| #)?|"
    r"unit(?: number| no\.?)|hospital (?:number|no\.?|#)|id(?: number| no\.?| #)?|pin|"
    r"history number|hx #|policy #)\s{0,8}(?:is|was)?\s{0,8}[:#=.]?\s{0,8}(?:#\s{0,8})?"
    r"((?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{2,})",
    _I,
)
# a signature of initials on a line of its own: "LW RN", "- DPK, RN"
RE_SIGNATURE_INITIALS = re.compile(
    r"(?m)^[ \t]*(?:[-/]+[ \t]*)?([A-Z]{2,3})[ \t]*(?:,[ \t]*)?(?:RN|MD|NP|PA|RRT|RT|LPN|CNA|PA-C|SN)\.?[ \t]*$"
)
RE_LONG_NUMBER = re.compile(r"(?<![\d.,/:-])\d{7,}(?![\d.,/:%-])")
RE_VIN = re.compile(r"\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b")
RE_AGE = re.compile(
    r"\b(9\d|1[0-4]\d)(?=\s{0,8}(?:-\s{0,8})?(?:yo\b|y/o|y\.o\.|yr|yrs|year|years|y\b|yoM|yoF|yowm|yowf|"
    r"[MF]\b|-year-old|year-old|yo[mfwb]))",
    _I,
)
RE_AGE_NUMBER = re.compile(r"(?<![\d.])(9\d|1[0-4]\d)(?![\d.])(?!\s{0,8}(?:%|mg|mcg|ml|cc|kg|lb|bpm|/))", _I)
RE_AGE_CUE_BEFORE = re.compile(r"\b(?:age|aged|age:|age of|turned|turns|turning|will be|is now)\s{0,8}$", _I)
# "in her 90s", "a nonagenarian": decades and words that say the age is over 89
RE_AGE_DECADE = re.compile(
    r"\b(?:in\s+(?:his|her|their|my)\s+(?:early\s+|mid\s+|late\s+|mid-|early-|late-)?)"
    r"((?:9|1[0-4])0'?s|nineties)\b|\b(nonagenarian|centenarian|supercentenarian)s?\b",
    _I,
)
_UNITS = "one|two|three|four|five|six|seven|eight|nine"
RE_AGE_WORDS = re.compile(
    rf"\b((?:ninety(?:[\s-]+(?:{_UNITS}))?|(?:one\s+|a\s+)?hundred(?:\s+and)?(?:[\s-]+(?:{_UNITS}|ten|eleven|twelve))?))"
    r"(?=[\s-]+(?:year|yr)s?[\s-]+old|[\s-]+years?\s+of\s+age|[\s-]+y/?o\b)",
    _I,
)
RE_DATE_FULL = re.compile(r"(?<![\d/])(?<!\d[.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/%-]|\.\d)")
RE_DATE_ISO = re.compile(r"(?<![\d/.-])((?:19|20)\d{2})([/.-])(\d{1,2})\2(\d{1,2})(?![\d/-]|\.\d)")
RE_DATE_MD = re.compile(r"(?<![\d/A-Za-z])(?<!\d:)(?<!\d\.)(\d{1,2})/(\d{1,2})(?![\d/%]|\.\d|[A-Za-z])")
RE_DATE_MY = re.compile(r"(?<![\d/:])(?<!\d\.)(\d{1,2})/((?:19|20)?\d{2})(?![\d/%]|\.\d)")
RE_DATE_MONTH = re.compile(
    rf"\b(?=[A-Za-z]|\d{{1,2}}[^\n]{{0,12}}?[A-Za-z]{{3}})(?:(?=[A-Za-z])(?:{_MONTH_ALT})\.?\s{{0,8}}(?:\d{{1,2}}(?!\d){_ORD}|{_ORDINAL_WORDS})(?:\s{{0,8}},?\s{{0,8}}(?:\d{{4}}|'\d{{2}}))?"
    rf"|(?:\d{{1,2}}{_ORD}|{_ORDINAL_WORDS}|the\s+(?:\d{{1,2}}{_ORD}|{_ORDINAL_WORDS}))"
    rf"(?:\s+of)?[\s-]*(?=[A-Za-z])(?:{_MONTH_ALT})\.?(?:[\s,-]*(?:\d{{4}}|'?\d{{2}}\b))?"
    rf"|(?=[A-Za-z])(?:{_MONTH_ALT})\.?,?\s{{0,8}}(?:of\s+)?(?:\d{{4}}|'\d{{2}}))(?![A-Za-z])",
    _I,
)
_RE_MONTH_TOKEN = re.compile(rf"(?<![A-Za-z])(?=[A-Za-z])(?:{_MONTH_ALT})(?![A-Za-z])", _I)
RE_MONTH_WORD = re.compile(
    r"\b(january|february|april|june|july|august|september|october|november|december|"
    r"march|may|sept|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec)\b\.?",
    _I,
)
_MONTH_CUES = {"in", "of", "since", "early", "late", "mid", "last", "next", "until", "by", "during", "this",
               "from", "before", "after", "end", "beginning", "start"}
RE_HOLIDAY = re.compile(r"\b(?=[A-Za-z])(?:" + "|".join(re.escape(h) for h in sorted(HOLIDAYS, key=len, reverse=True)) + r")\b", _I)
RE_YEAR = re.compile(
    r"(?<![\d/.:-])(?:19[0-9]{2}|20[0-9]{2})(?!\d|[/:%-]|\.\d)|(?<![\w'])'\d{2}(?![\d'])|(?<![\w/.'])\d{2}'(?![\w'])"
)
RE_DAY_ORDINAL = re.compile(
    r"\b(?:the|on|of)\s+(\d{1,2}(?:st|nd|rd|th))\b(?=\s{0,8}(?:[.,;:)!?\"']|$|of\b|at\b|and\b|in\b|\n))", _I
)
_STREET_ALT = "|".join(sorted(STREET_TYPES, key=len, reverse=True))
_STREET_FULL = ["Street", "Avenue", "Road", "Boulevard", "Lane", "Drive", "Court", "Way", "Place",
                "Terrace", "Circle", "Highway", "Parkway", "Square", "Trail", "Alley", "Pike",
                "Turnpike"]
_STREET_ABBR = ["St", "Ave", "Av", "Rd", "Blvd", "Ln", "Dr", "Ct", "Pl", "Ter", "Cir", "Hwy",
                "Pkwy", "Sq", "Trl", "Rte"]
_STREET_FORMS = "|".join(
    _STREET_FULL + [w.upper() for w in _STREET_FULL] + [w.lower() for w in _STREET_FULL]
    + [a + r"\b\.?" for a in _STREET_ABBR] + [a.upper() + r"\." for a in _STREET_ABBR]
)
RE_ADDRESS = re.compile(
    r"\b\d{1,6}[A-Za-z]?\s+(?:[NSEW]\.?\s+)?(?:[A-Z][A-Za-z'-]*\.?\s+|[a-z][a-z'-]+\s+|\d{1,3}(?:st|nd|rd|th)\s+){1,3}"
    rf"(?:{_STREET_FORMS})(?![A-Za-z])"
    r"(?:,?\s{0,8}(?:apt|apartment|suite|ste|unit|#)\.?\s{0,8}#?\s{0,8}[A-Za-z0-9-]+)?"
)
RE_POBOX = re.compile(r"\bP\.?\s?O\.?\s{0,8}Box\s+\d+\b", _I)
_STATE_ALT = "|".join(list(US_STATES) + [s for s in US_STATES.values()])
RE_ZIP = re.compile(r"(?<![\d-])\d{5}(?:-\d{4})?(?![\d-])")
_RE_STATE_BEFORE = re.compile(rf"\b(?=[A-Za-z])(?:{_STATE_ALT}),?\s+$", _I)
RE_ZIP_CTX = re.compile(r"\b(?:zip|zipcode|zip code|postal code)\s{0,8}[:#]?\s{0,8}(\d{5}(?:-\d{4})?)\b", _I)

_RE_DAY_RANGE = re.compile(r"(?<![\d/.:-])(\d{1,2})(?:st|nd|rd|th)?\s{0,8}(?:-+>?|to|thru|through|and|&|,)\s{0,8}$", _I)
_URL_HINTS = ("http", "www", ".com", ".org", ".net", ".edu", ".gov", ".info", ".io", ".us", ".uk")
_HAS_17 = re.compile(r"[A-Z0-9]{17}")

# Words before or after "a/b" that make it a measurement, not a date.
_NOT_DATE_BEFORE = set(
    """
    bp b/p nbp abp sbp dbp map art aline a-line cuff bps pressure pressures peep ps cpap bipap
    ipap epap vent psv imv simv fio2 strength str motor pain grade gr murmur sem ratio ie i:e
    rails x times apgar apgars score gcs ett abg vbg hr rr sats spo2 o2 tv vt rate rates
    pa pap pas cvp pcwp wedge svr co ci co/ci ef lvef rvsp tr pr drip mm cm ml mg
    bipap cpap flowby perrl perrla pupils
    """.split()
)
_NOT_DATE_AFTER = set(
    """
    sem sm hsm murmur murmurs ns strength str pain rails assist assists scale ratio mmhg mm
    hg ml cc mg mcg units u peep ps ie times x systolic diastolic hsm holosystolic drip
    tablet tablets tab tabs strength ns d5 nss lr bipap cpap bl bottles bottle bc bcx cx
    """.split()
)
_FRACTIONS = {"1/2", "1/3", "2/3", "1/4", "3/4", "1/8"}
_DATE_CUES = set(
    """
    on since from until till by admitted admit adm dc dc'd discharged seen started began begun
    last since date dated dos doa dob born surgery procedure cabg cath echo ct mri placed
    changed removed due scheduled appt appointment visit s/p sp
    """.split()
)

_ORG_GENERIC = {
    "campus", "hospital", "hosp", "hospitals", "clinic", "clinics", "center", "centre", "ctr", "rehab",
    "rehabilitation", "nursing", "home", "infirmary", "healthcare", "hospice", "manor",
    "institute", "ew", "er", "ed", "icu", "ccu",
}
_ORG_NAMEPART = {"memorial", "general", "university", "regional", "community", "medical",
                 "va", "vamc", "adventist", "sacred", "heart", "holy", "cross", "mercy", "saint",
                 "med", "greater", "county"}
_ORG_HEAD = {
    "campus", "hospital", "hosp", "hospitals", "clinic", "clinics", "center", "centre", "ctr", "rehab",
    "rehabilitation", "infirmary", "healthcare", "hospice", "manor", "institute", "memorial",
    "general", "vamc", "medical", "nursing", "ew", "er", "ed", "regional",
}
_TRANSFER_VERBS = set(
    """
    transferred transfered transfer trans tx txd xfer xferred xfered admitted admit sent
    discharged dc'd dcd returned return came arrived brought taken went go going back
    transported flown medflighted flew referred presented
    """.split()
)
_NOT_HOSPITAL_NAME = set(
    """
    outside other local previous prior another referring transferring current state private
    psychiatric same this that community county city regional teaching receiving sending
    their his her the a an our your any
    """.split()
)
_CLINICAL_ACRONYMS = set(
    """
    ich sdh edh sah bph lvh rvh pah pph nph iph ash dh ch mch mchc tsh fsh lh acth adh
    pth ldh hh th bh pdh hmh ugh nh mh hs prn hs ohs
    """.split()
)
_DRUG_SUFFIX = re.compile(
    r"(?:one|ine|ide|pam|lam|lol|pril|sartan|mycin|cillin|azole|statin|parin|mab|nib|ium|ate|"
    r"olol|cin|xin|fen|done|tion|ing|ed|ive|ous|id|ix|ex|yl|ol)$"
)
_ADJECTIVE_SUFFIX = re.compile(r"(?:al|ic|ar|ary|ory|ous|ful|less|ish)$")
_AMBIGUOUS_STATES = {"PA", "IN", "OR", "ID", "CO", "ME", "OK", "HI", "DE", "LA", "AL", "MS", "MO", "SC",
                     "NE", "MD", "VA", "MA", "CT", "NC", "ND", "SD", "UT", "MI", "GA", "WA", "DC"}
_RE_STATE_AFTER = re.compile(
    r",[ \t]*(" + "|".join(US_STATES) + r")\b(?:[ \t]*(\d{5})(?:-\d{4})?\b|(?=[ \t]*(?:\n|$|[.;)])))"
)
_RE_CITY_BEFORE = re.compile(r"((?:[A-Z][a-z]+|[A-Z]{3,})(?:[ \t](?:[A-Z][a-z]+|[A-Z]{3,})){0,2})$")
_RE_RELIGIOUS_HOSPITAL = re.compile(
    r"\b(?:holy\s+cross|sacred\s+heart|good\s+sam(?:aritan)?|holy\s+family|our\s+lady\s+of\s+\w+|"
    r"mercy\s+(?:hospital|medical))\b",
    _I,
)
_LOCATION_STOP = set(
    """
    the a an his her their this that floor unit home rehab hospital ccu micu sicu csru nicu
    icu ed er or pacu ct mri cath lab ir us ultrasound xray x-ray radiology room bed ward
    stepdown step tele telemetry nursing dialysis surgery medicine service team osh ew ew.
    """.split()
)


# ---------------------------------------------------------------------------------- patterns

def _patterns(note: _Note) -> Iterator[Hit]:
    t = note.text
    tl = t.lower()
    if "@" in t:
        for m in RE_EMAIL.finditer(t):
            yield m.start(), m.end(), "EMAIL", 0.99
    if any(k in tl for k in _URL_HINTS):
        for m in RE_URL.finditer(t):
            s = m.group()
            if "." in s and not re.fullmatch(r"[\d.]+", s):
                yield m.start(), m.end(), "URL", 0.95
    if t.count(".") >= 3:
        for m in RE_IPV4.finditer(t):
            yield m.start(), m.end(), "IP", 0.95
    if "::" in t or t.count(":") >= 5:
        for m in RE_IPV6.finditer(t):
            if m.group().count(":") >= 3:
                yield m.start(), m.end(), "IP", 0.9
    if "-" in t:
        for m in RE_SSN.finditer(t):
            yield m.start(), m.end(), "SSN", 0.95
    for m in RE_SSN_CTX.finditer(t):
        yield m.start(1), m.end(1), "SSN", 0.95
    for m in RE_PHONE.finditer(t):
        yield m.start(), m.end(), "PHONE", 0.9
    for m in RE_PHONE7.finditer(t):
        if len(m.group()) > 8 or _PHONE_CUE.search(t[max(0, m.start() - 30):m.start()]):
            yield m.start(), m.end(), "PHONE", 0.7
    for m in RE_PHONE_CTX.finditer(t):
        yield m.start(1), m.end(1), "PHONE", 0.8
    for m in RE_ID_CTX.finditer(t):
        yield m.start(1), m.end(1), "ID", 0.9
    for m in RE_LONG_NUMBER.finditer(t):
        yield m.start(), m.end(), "ID", 0.6
    if _HAS_17.search(t):
        for m in RE_VIN.finditer(t):
            yield m.start(), m.end(), "ID", 0.8
    for m in RE_AGE.finditer(t):
        yield m.start(1), m.end(1), "AGE", 0.9
    for m in RE_AGE_NUMBER.finditer(t):
        if RE_AGE_CUE_BEFORE.search(t, max(0, m.start() - 12), m.start()):
            yield m.start(1), m.end(1), "AGE", 0.9
    if "0s" in t or "0's" in t or "0S" in t or "enarian" in tl or "nineties" in tl:
        for m in RE_AGE_DECADE.finditer(t):
            g = 1 if m.group(1) else 2
            yield m.start(g), m.end(g), "AGE", 0.85
    if "inety" in t or "undred" in t or "INETY" in t or "UNDRED" in t:
        for m in RE_AGE_WORDS.finditer(t):
            yield m.start(1), m.end(1), "AGE", 0.9
    for m in RE_SIGNATURE_INITIALS.finditer(t):
        if m.group(1).lower() not in _CLINICAL_ONLY and m.group(1).lower() not in lexicon().common:
            yield m.start(1), m.end(1), "NAME", 0.8
    for m in RE_ADDRESS.finditer(t):
        parts = re.findall(r"[A-Za-z]+", m.group())
        lex = lexicon()
        if any(p.lower() in _FUNCTION_WORDS or p.lower() in CLINICAL_KEEP
               or p.lower() in lex.common and p.lower() in _CLINICAL_ONLY for p in parts[:-1]):
            continue
        yield m.start(), m.end(), "ADDRESS", 0.85
    for m in RE_POBOX.finditer(t):
        yield m.start(), m.end(), "ADDRESS", 0.9
    for m in RE_ZIP.finditer(t):
        if _RE_STATE_BEFORE.search(t[max(0, m.start() - 25):m.start()]):
            yield m.start(), m.end(), "ZIP", 0.9
    for m in RE_ZIP_CTX.finditer(t):
        yield m.start(1), m.end(1), "ZIP", 0.9


# ------------------------------------------------------------------------------------- dates

def _word_before(text: str, pos: int) -> str:
    m = re.search(r"([A-Za-z][A-Za-z0-9:/'-]*)[\s:=,(]*$", text[max(0, pos - 25):pos])
    return m.group(1).lower() if m else ""


def _word_after(text: str, pos: int) -> str:
    m = re.match(r"[\s,]*([A-Za-z][A-Za-z0-9']*)", text[pos:pos + 25])
    return m.group(1).lower() if m else ""


def _measurement_context(text: str, start: int, end: int) -> bool:
    before = _word_before(text, start)
    after = _word_after(text, end)
    if before in _NOT_DATE_BEFORE or after in _NOT_DATE_AFTER:
        return True
    window = text[max(0, start - 30):start].lower()
    # "pain 4/10", "strength 5/5", "murmur II/VI"
    if re.search(r"\b(pain|strength|murmur|bp|b/p|peep|ps|psv|simv|fio2|vent|settings?|abg|"
                 r"apgars?|bipap|bi-pap|cpap|perrla?|pupils|discomfort|headache|scale)\b\W*(\w+\W+){0,1}$", window):
        return True
    if re.search(r"\b(wean|weaned|weaning|changed|decreased|increased|down|up)\s+(back\s+)?to\s*$", window):
        return True
    if text[end:end + 1] == "/" or re.match(r"\s*(x|X)\s*\d", text[end:end + 4]):
        return True
    if "%" in text[max(0, start - 6):start] or text[end:end + 2].startswith((" %", "%")):
        return True
    if re.match(r"\s*,?\s*(?:\d{2,3}\s*%|fio2|peep|x\s*\d)", text[end:end + 12], _I):
        return True  # "12/5 50%", "5/10 FiO2 .4": ventilator settings
    return False


def _dates(note: _Note, keep_year: bool) -> Iterator[Hit]:
    t = note.text
    for m in RE_DATE_FULL.finditer(t):
        a, b = int(m.group(1)), int(m.group(3))
        if len(m.group(4)) == 4 and not 1900 <= int(m.group(4)) <= 2099:
            continue
        if (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31):
            if m.group(2) == "." and len(m.group(4)) == 2:
                continue  # "1.5.10" is rarely a date
            yield m.start(), m.end(), "DATE", 0.95
    for m in RE_DATE_ISO.finditer(t):
        if 1 <= int(m.group(3)) <= 12 and 1 <= int(m.group(4)) <= 31:
            yield m.start(), m.end(), "DATE", 0.95
    for m in RE_DATE_MD.finditer(t):
        a, b = int(m.group(1)), int(m.group(2))
        if not (1 <= a <= 12 and 1 <= b <= 31):
            continue
        if m.group(1).startswith("0") and len(m.group(1)) == 1:
            continue
        if _measurement_context(t, m.start(), m.end()):
            continue
        if a == b and a <= 5:
            continue  # "5/5" strength or vent settings far more often than May 5
        if b == 10 and re.search(r"(pain|\bcp\b|ache|discomfort|c/o|rates?|scale|#|angina|severe)", t[max(0, m.start() - 40):m.end() + 15], _I):
            continue
        score = 0.85
        if m.group() in _FRACTIONS and _word_before(t, m.start()) not in _DATE_CUES:
            continue
        yield m.start(), m.end(), "DATE", score
    for m in RE_DATE_MY.finditer(t):
        a, y = int(m.group(1)), m.group(2)
        if 1 <= a <= 12 and (len(y) == 4 or int(y) > 31) and not _measurement_context(t, m.start(), m.end()):
            yield m.start(), m.end(), "DATE", 0.8
    seen_month = set()
    month_matches = []
    month_tokens = list(_RE_MONTH_TOKEN.finditer(t))
    for mw in month_tokens:
        for m in RE_DATE_MONTH.finditer(t, max(0, mw.start() - 24), min(len(t), mw.end() + 12)):
            if m.start() <= mw.start() < m.end() and (m.start(), m.end()) not in seen_month:
                seen_month.add((m.start(), m.end()))
                month_matches.append(m)
    for m in month_matches:
        s = m.group()
        if s[:3].lower() == "may" and not s[0].isdigit():
            # "may 15" is a date, "may 2 tabs" or "May 3 times" are not always: need a plain day
            if re.match(r"may\s+\d{1,2}\s*(?:mg|cc|ml|tabs?|times|x|hours?|hrs?|days?)\b", s + t[m.end():m.end() + 10], _I):
                continue
        mt = _RE_MONTH_TOKEN.search(s)
        abbreviated = mt is not None and len(mt.group()) <= 4 and mt.group().lower() not in ("may", "june", "july")
        if abbreviated and s[0].isdigit() and not re.search(r"\d{2,4}", s[mt.end():]) \
                and not (note.case == "mixed" and mt.group()[0].isupper()) and not s[mt.end():].startswith("."):
            continue  # "02 dec from 4": "dec" is "decreased"
        yield m.start(), m.end(), "DATE", 0.9
        if s[0].isdigit():
            r = _RE_DAY_RANGE.search(t, max(0, m.start() - 14), m.start())
            if r and 1 <= int(r.group(1)) <= 31:
                yield r.start(1), r.end(1), "DATE", 0.85
    for mw in month_tokens:
        m = RE_MONTH_WORD.match(t, mw.start())
        if m is None or mw.start() > 0 and (t[mw.start() - 1].isalnum() or t[mw.start() - 1] == "_"):
            continue
        w = m.group().lower().rstrip(".")
        if len(w) <= 3 or w in ("may", "march"):
            # "mid-March", "late Oct.": a short or ambiguous month needs a time word before it
            # ("dec" is also decreased, "mar" marked, "may" the verb)
            before = _word_before(t, m.start()).rstrip("-")
            if before not in _MONTH_CUES:
                continue
            if len(w) <= 4 and w != "may" and note.case == "mixed" and not m.group()[0].isupper():
                continue
            if w == "may" and m.group() == "may" and note.case == "mixed":
                continue
        yield m.start(), m.end(), "DATE", 0.7
    for m in RE_DAY_ORDINAL.finditer(t):
        if 1 <= int(re.match(r"\d+", m.group(1)).group()) <= 31:
            yield m.start(1), m.end(1), "DATE", 0.7
    for m in RE_HOLIDAY.finditer(t):
        yield m.start(), m.end(), "DATE", 0.75
    if not keep_year:
        for m in RE_YEAR.finditer(t):
            yield m.start(), m.end(), "DATE", 0.6


# ------------------------------------------------------------------------------------- names

def _is_initial(note: _Note, i: int) -> bool:
    w = note.tokens[i][2]
    start = note.tokens[i][0]
    if start > 0 and note.text[start - 1] not in " \t\n(\"":
        return False  # "90'S.", "Q4H.", "d/c'd." are not initials
    nxt = note.tokens[i + 1][2] if i + 1 < len(note.tokens) else ""
    if w in "SOAPsoap" and (start == 0 or note.text[start - 1] == "\n"):
        return False  # SOAP headings at a line start ("A. More alert")
    if nxt == "." and note.tokens[i + 1][0] != note.tokens[i][1]:
        return False  # "from L . Both tubes": a side, not an initial
    return len(w) == 1 and w.isalpha() and nxt == "." and (w.isupper() or note.case != "mixed")


def _name_like(note: _Note, i: int, strong: bool) -> bool:
    """Could token i be (part of) a person's name?"""
    lex = lexicon()
    w = note.tokens[i][2]
    if not w[0].isalpha():
        return False
    lw = w.lower()
    if lw in CREDENTIALS or lw in STRONG_TITLES:
        return False
    if strong:
        if len(w) == 1:
            return _is_initial(note, i) or (
                i + 2 < len(note.tokens) and note.tokens[i + 1][2] == "'" and w in "OoDd"
                and note.tokens[i + 2][2][0].isalpha() and _gap(note, i, i + 2) == "'"
            )
        if lw in lex.common and not lex.is_name_word(lw):
            return False
        if lw in lex.common and not note.capitalised(i):
            return False
        if note.case == "mixed" and not w[0].isupper() and lw in lex.common:
            return False
        if len(w) == 1:
            return _is_initial(note, i) or (
                i + 2 < len(note.tokens) and note.tokens[i + 1][2] == "'" and w in "OoDd"
                and note.tokens[i + 2][2][0].isalpha() and _gap(note, i, i + 2) == "'"
            )
        return True
    return lex.unambiguous_name(lw) and note.capitalised(i)


def _extend(note: _Note, i: int, j: int, strong: bool = False) -> tuple[int, int]:
    """Grow the name token range [i, j] over adjacent first names, surnames and initials."""
    lex = lexicon()
    toks = note.tokens

    def joinable(a: int, b: int) -> bool:
        g = _gap(note, a, b)
        return g in (" ", "  ", "") or (g.strip() == "" and "\n" not in g and len(g) < 4)

    # left: a first name or an initial before a surname
    while True:
        k = i - 1
        if k >= 1 and toks[k][2] == "." and _is_initial(note, k - 1) and joinable(k, i):
            i = k - 1
            continue
        if k >= 1 and toks[k][2] == "'" and toks[k - 1][2] in ("O", "o", "D", "d") \
                and _gap(note, k - 1, i) == "'" and (k < 2 or not toks[k - 2][2][0].isalnum()
                                                     or _gap(note, k - 2, k - 1) != ""):
            i = k - 1  # "nora o'keefe np", "O'Neill MD"
            continue
        if k >= 2 and toks[k][2] == "-" and _gap(note, k - 1, i) == "-" and toks[k - 1][2][0].isalpha() \
                and len(toks[k - 1][2]) > 2 and note.capitalised(k - 1) and toks[i][2][:1].isupper() \
                and toks[k - 1][2].lower() not in _CLINICAL_ONLY and toks[k - 1][2].lower() not in CLINICAL_KEEP \
                and (note.case != "mixed" or toks[k - 1][2][0].isupper()):
            i = k - 1  # a double-barrelled surname: "Brandt-Tolliver MD"
            continue
        if k >= 0 and toks[k][2][0].isalpha() and joinable(k, i):
            lw = toks[k][2].lower()
            if (lw in lex.first_names and note.capitalised(k) and lw not in lex.common
                    and lw not in CLINICAL_KEEP and lw not in STRONG_TITLES and lw not in RELATIONS):
                i = k
                continue
            if strong and lw in lex.first_names and lw not in _FUNCTION_WORDS and lw not in _CLINICAL_ONLY \
                    and lw not in _TITLE_STOP and lw not in STRONG_TITLES and lw not in RELATIONS \
                    and lw not in SOFT_TITLES and lw not in CREDENTIALS \
                    and (note.case != "mixed" or toks[k][2][0].isupper() or _line_start_name(note, k)):
                i = k
                continue
            if strong and lw not in lex.common and lw not in _CLINICAL_ONLY and lw not in CLINICAL_KEEP \
                    and lw not in CREDENTIALS and lw not in RELATIONS and len(lw) > 2 and note.capitalised(k) \
                    and toks[i][2][:1].isupper() and not _DRUG_SUFFIX.search(lw) \
                    and (note.case != "mixed" or toks[k][2][0].isupper() and not toks[k][2].isupper()):
                i = k  # an unlisted first name before a name found in context: "Odalys Przywara (niece)"
                continue
        break
    # right: surnames, hyphenated or apostrophe parts, initials
    while True:
        k = j + 1
        if strong and k + 2 < len(toks) and toks[k][2] in ("O", "o", "D", "d") and toks[k + 1][2] == "'" \
                and _gap(note, j, k) == " " and _gap(note, k, k + 2) == "'" and toks[k + 2][2][0].isalpha():
            j = k + 2  # "Sarah O'Driscoll"
            continue
        if strong and note.case == "mixed" and k < len(toks) and toks[k][2][:1].isupper() \
                and not toks[k][2].isupper() and len(toks[k][2]) > 2 and _gap(note, j, k) == " " \
                and toks[k][2].lower() not in _FUNCTION_WORDS and toks[k][2].lower() not in _TITLE_STOP \
                and toks[k][2].lower() not in _CLINICAL_ONLY and toks[k][2].lower() not in CREDENTIALS \
                and toks[k][2].lower() not in STRONG_TITLES and toks[k][2].lower() not in RELATIONS \
                and not _eponym_follows(note.text, toks[k][1]) and toks[j][2][:1].isupper() \
                and toks[j][2].lower() in lex.first_names and toks[k][2].lower() not in SOFT_TITLES:
            j = k  # "Dr. Ferdinand Halfpenny": a capitalised word after a first name
            continue
        if len(toks[j][2]) == 1 and toks[j][2].isupper() and k < len(toks) and _gap(note, j, k) == " " \
                and toks[k][2][0].isupper() and len(toks[k][2]) > 2 \
                and (toks[k][2].lower() not in lex.common or lex.is_name_word(toks[k][2].lower())):
            j = k
            continue
        if _is_initial(note, j) and k + 1 < len(toks) and toks[k + 1][2][0].isalpha() \
                and "\n" not in _gap(note, k, k + 1) and len(toks[k + 1][2]) > 1:
            lw = toks[k + 1][2].lower()
            if lw not in lex.common or lex.is_name_word(lw) and note.capitalised(k + 1):
                j = k + 1
                continue
        if k + 1 < len(toks) and toks[k][2] in "-'" and _gap(note, j, k) == "" and toks[k + 1][2][0].isalpha() \
                and _gap(note, k, k + 1) == "" and len(toks[k + 1][2]) > 1 and toks[k + 1][2].lower() != "s" \
                and _hyphen_part(note, k + 1, toks[k][2]):
            j = k + 1
            continue
        if k < len(toks) and toks[k][2][0].isalpha() and joinable(j, k):
            lw = toks[k][2].lower()
            if _is_initial(note, k) and k + 2 < len(toks) and toks[k + 2][2][0].isalpha() \
                    and lexicon().is_name_word(toks[k + 2][2].lower()):
                j = k
                continue
            if strong and note.capitalised(k) and lex.is_name_word(lw) and len(lw) > 2 \
                    and (note.case == "mixed" or lw not in lex.common or lw in lex.first_names
                         or lw in lex.top_surnames) \
                    and lw not in _FUNCTION_WORDS and lw not in _CLINICAL_ONLY and lw not in _TITLE_STOP \
                    and lw not in CREDENTIALS and lw not in STRONG_TITLES and lw not in RELATIONS \
                    and (note.case != "mixed" or toks[k][2][0].isupper()) \
                    and not (k + 1 < len(toks) and toks[k + 1][2] == "'"):
                j = k
                continue
            if strong and note.capitalised(k) and lw not in lex.common and len(lw) > 1 \
                    and lw not in CLINICAL_KEEP and lw not in CREDENTIALS and lw not in STRONG_TITLES \
                    and (note.case == "mixed" or lex.is_name_word(lw) or len(lw) > 3):
                j = k
                continue
            if (lex.is_name_word(lw) and note.capitalised(k)
                    and (lw not in lex.common or note.case == "mixed" or lw in lex.top_surnames)
                    and lw not in _FUNCTION_WORDS and lw not in _CLINICAL_ONLY
                    and lw not in CLINICAL_KEEP and lw not in CREDENTIALS and lw not in STRONG_TITLES):
                j = k
                continue
        break
    return i, j


SOFT_TITLES = {
    "np", "rn", "md", "nurse", "caseworker", "attending", "resident", "fellow",
    "intern", "chaplain", "pharmacist", "rrt", "pa-c", "manager", "worker",
    "therapist", "dietician", "dietitian", "nutritionist", "physician", "surgeon", "cardiologist",
    "oncologist", "neurologist", "intensivist", "hospitalist", "coordinator", "liaison", "dr's",
    "nurses", "nsg", "rn's", "msw", "lcsw", "licsw", "cnm", "crna", "anesthesiologist",
}
_TITLE_STOP = set(
    """
    aware notified called paged informed office orders order note notes team here present
    unaware made making said states stated wants wanted ordered ordering following follow
    came come came called updated spoke talked rounds rounded saw see sees evaluated examined
    service services staff input consult consulted aware. re regarding about also already
    """.split()
)


def _title_target(note: _Note, i: int) -> bool:
    """Can token i be the name after "Dr."? Anything but function, clinical and role words."""
    lex = lexicon()
    w = note.tokens[i][2]
    lw = w.lower()
    if not w[0].isalpha():
        return False
    if len(w) == 1:
        nxt = note.tokens[i + 1] if i + 1 < len(note.tokens) else None
        if w.isupper() and nxt is not None and nxt[2][0].isupper() and len(nxt[2]) > 2 \
                and _gap(note, i, i + 1) == " " and (nxt[2].lower() not in lex.common or lex.is_name_word(nxt[2].lower())):
            return True  # "Dr B Castellano"
        return _name_like(note, i, strong=True)
    if note.case == "mixed" and w[0].isupper() and not w.isupper() and lex.is_name_word(lw) \
            and lw not in _TITLE_STOP and lw not in CREDENTIALS and lw not in STRONG_TITLES:
        return True  # "Dr Will Cole", "Dr. Art White", "Dr. Foley"
    if lw in _FUNCTION_WORDS or lw in _CLINICAL_ONLY or lw in _TITLE_STOP or lw in CREDENTIALS \
            or lw in STRONG_TITLES or lw in RELATIONS:
        return False
    if lw.endswith(("ed", "ing")) and not lex.is_name_word(lw):
        return False
    if note.case == "mixed" and not w[0].isupper() and lw in lex.common and not lex.is_name_word(lw):
        return False
    return True


_TALK_FIRST = {
    "spoke", "speaking", "spoken", "talked", "talking", "discussed", "met", "conferred", "d", "s",
    "called", "paged", "notified", "informed", "updated", "contacted", "told", "asked", "phoned",
    "texted", "reassured", "consoled", "report", "message", "msg", "voicemail", "vm", "care",
}
_RE_TALK_CUE = re.compile(
    r"\b(?=[A-Za-z])(?:(?:spoke|speaking|spoken|talked|talking|discussed|met|conferred)\s+(?:with|to)"
    r"|(?:d/w|s/w|called|paged|notified|informed|updated|contacted|told|asked|phoned|texted|reassured|consoled)"
    r"|(?:report|message|msg|voicemail|vm)\s+(?:given\s+|left\s+|called\s+)?(?:to|for)"
    r"|(?:care|report)\s+(?:assumed|taken|received)\s+from)"
    r"[ \t]+([A-Za-z][a-z]+|[A-Z]+)\b",
    _I,
)


_SERVICES = set(
    """
    pharmacy renal surgery team social case nursing admitting lab labs blood bank neuro ortho
    pulmonary pulm cards cardiac medicine medical surgical trauma transplant respiratory
    security police physician doctor doctors nurse nurses staff house family patient pt pts
    everyone anyone someone nobody both all home office unit floor wife husband son daughter
    him her them his hers their about regarding re with to and the a an of at on in for from
    echo ct mri ir ep gi id heme onc icu ed er or micu sicu ccu nicu pacu dialysis interpreter
    spanish english pcp hcp hospice chaplain clergy priest rabbi pastor ems fire attorney lawyer
    again back today tonight now later soon earlier
    """.split()
)


def _cue_name_ok(note: _Note, i: int) -> bool:
    """The word after "spoke with": a name if capitalised and not an English or clinical word
    (first names count even when they are words: "Called Teddy")."""
    lex = lexicon()
    w = note.tokens[i][2]
    lw = w.lower()
    if len(lw) < 3 or lw in _FUNCTION_WORDS or lw in _CLINICAL_ONLY or lw in CLINICAL_KEEP or lw in _TITLE_STOP \
            or lw in RELATIONS or lw in STRONG_TITLES or lw in SOFT_TITLES or lw in CREDENTIALS or lw in MONTHS \
            or lw in _NOT_NAME_AFTER_RELATION or lw in _PLACE_NOT or lw in lex.states:
        return False
    if note.case == "mixed":
        # a capitalised word: a name unless it is a service or a plain word ("Paged Renal")
        return w[0].isupper() and w[1:].islower() and lw not in _SERVICES and lw not in _LOCATION_STOP \
            and not lw.endswith(("ology", "ogy", "ics", "ing", "ed", "ly"))
    return lw in lex.first_names and lw not in lex.common or lw in lex.frequent_surnames and lw not in lex.common


_AFTER_NAME_CUES = {"aware", "notified", "paged", "informed", "updated", "called", "ordered"}
_VISIT_CUES = {"visited", "called", "phoned", "came", "verbalizes", "verbalized", "states", "stated"}


def _signature(note: _Note) -> tuple[int, int] | None:
    lex = lexicon()
    toks = note.tokens
    end = len(note.text.rstrip())
    start = note.text.rfind("\n", 0, end) + 1
    idx = [k for k, t in enumerate(toks) if t[0] >= start and t[1] <= end]
    words = [k for k in idx if toks[k][2][0].isalpha()]
    while words and toks[words[-1]][2].lower() in CREDENTIALS | {"bsn", "rn", "msn"}:
        words.pop()
    if not 2 <= len(words) <= 4 or any(toks[k][2] not in ".,-'/" for k in idx if not toks[k][2][0].isalpha()):
        return None
    lws = [toks[k][2].lower() for k in words]
    if any(w in _FUNCTION_WORDS or w in _CLINICAL_ONLY or w in _TITLE_STOP for w in lws):
        return None
    if not any(w in lex.first_names for w in lws) or not any(len(w) > 2 and w not in lex.common for w in lws):
        return None
    return words[0], words[-1]


def _title_ok(note: _Note, p: int, i: int) -> bool:
    """"MS" is also mental status, morphine sulfate and multiple sclerosis."""
    t = note.tokens[p][2]
    if t.lower() != "ms":
        return True
    lw = note.tokens[i][2].lower()
    lex = lexicon()
    if note.case == "mixed":
        return t == "Ms" and note.tokens[i][2][0].isupper()
    return lex.is_name_word(lw) and lw not in lex.common


# Words before a credential that name a role, not a person ("Charge RN", "Ostomy RN").
_ROLE_WORDS = set(
    """
    charge staff resource primary night evening float agency ostomy wound transplant dialysis
    covering attending cardiology renal neuro surgical oncall icu micu sicu ccu csru admitting
    triage research
    """.split()
)


def _credential_at(note: _Note, n: int) -> bool:
    """Is token n a credential ("RN", "MD", "D.O.") rather than a word ("do not", "pa line")?"""
    w = note.tokens[n][2]
    lw = w.lower()
    nxt = note.tokens[n + 1][2].lower() if n + 1 < len(note.tokens) else ""
    if lw in ("do", "ot", "pa", "sn", "np", "rt") and nxt in ("not", "n", "you", "so", "line", "the", "a"):
        return False
    if note.case == "mixed" and w.islower() and lw in ("do", "ot", "pa", "sn", "rt", "crt"):
        return False
    return True


def _hyphen_part(note: _Note, k: int, joiner: str) -> bool:
    """Can token k continue a name after "-" or "'"? ("Brandt-Tolliver", "O'Rourke"; not "Jill-who")."""
    lex = lexicon()
    w = note.tokens[k][2]
    lw = w.lower()
    if lw in _FUNCTION_WORDS or lw in _CLINICAL_ONLY or lw in CREDENTIALS or lw in _TITLE_STOP \
            or lw in RELATIONS or lw in CLINICAL_KEEP:
        return False
    if note.case == "mixed":
        return w[0].isupper() or joiner == "'"
    return lw not in lex.common or lex.is_name_word(lw) and not lw.endswith(("ing", "ive"))


def _hyphen_name(note: _Note, i: int) -> bool:
    """The second half of a capitalised double-barrelled name ("Brandt-Tolliver")."""
    toks = note.tokens
    return (i >= 2 and toks[i - 1][2] == "-" and _gap(note, i - 2, i) == "-" and toks[i - 2][2][:1].isupper()
            and toks[i][2][:1].isupper() and len(toks[i - 2][2]) > 2 and toks[i - 2][2].lower() not in _CLINICAL_ONLY
            and toks[i - 2][2].lower() not in CLINICAL_KEEP)


def _line_start_name(note: _Note, i: int) -> bool:
    """A signature line: the name words start the line ("anita morris rn")."""
    line_start = note.text.rfind("\n", 0, note.tokens[i][0]) + 1
    before = note.text[line_start:note.tokens[i][0]]
    return len(before.split()) <= 2


def _names(note: _Note) -> tuple[list[Hit], set[str]]:
    lex = lexicon()
    toks = note.tokens
    hits: list[Hit] = []
    strong_words: set[str] = set()

    def add(i: int, j: int, score: float, strong: bool) -> None:
        i, j = _extend(note, i, j, strong)
        hits.append((toks[i][0], toks[j][1], "NAME", score))
        if strong:
            for k in range(i, j + 1):
                lw = toks[k][2].lower()
                if len(lw) > 2 and lw not in CLINICAL_KEEP and lw not in lex.common:
                    strong_words.add(lw)

    starts = [t[0] for t in toks]
    cue_targets = set()
    for i in note.words:
        if toks[i][2].lower() in _TALK_FIRST:
            m = _RE_TALK_CUE.match(note.text, toks[i][0])
            if m:
                cue_targets.add(bisect.bisect_left(starts, m.start(1)))
    for i in note.words:
        lw = toks[i][2].lower()
        p = _prev_word(note, i)
        plw = toks[p][2].lower() if p is not None else ""
        # 1. after a title: "Dr. Smith", "mr renzi", "Dr J. Smith"
        if plw in STRONG_TITLES and p is not None and "\n" not in _gap(note, p, i) and _title_ok(note, p, i):
            if _title_target(note, i) and lw not in lex.states:
                add(i, i, 0.95, True)
                continue
        # 1b. after a role: "NP Carol", "nurse Virginia Okonjo", "caseworker Odalys"
        if plw in SOFT_TITLES and p is not None and "\n" not in _gap(note, p, i) and _gap(note, p, i).strip() in ("", ":", ",") \
                and _title_target(note, i) and len(lw) > 2 and lw not in CLINICAL_KEEP \
                and (lw not in lex.common or lw in lex.first_names) \
                and (note.case != "mixed" or toks[i][2][0].isupper()) \
                and (lex.is_name_word(lw) or note.case == "mixed"):
            add(i, i, 0.85, True)
            continue
        # 1c. after a role abbreviation written in capitals in a mixed-case note: "HO Brightwater",
        #     "RT Bobby", "SW Marguerite" (lower-case "rt"/"pt" are right and patient)
        if p is not None and note.case == "mixed" and toks[p][2] in _ROLE_ABBREVIATIONS \
                and _gap(note, p, i) in (" ", ": ") and toks[i][2][0].isupper() and not toks[i][2].isupper() \
                and len(lw) > 2 and lw not in _CLINICAL_ONLY and lw not in CLINICAL_KEEP and lw not in _TITLE_STOP \
                and (lw in lex.first_names or lw not in lex.common):
            add(i, i, 0.85, True)
            continue
        # 2. after a relation: "wife Mary", "son, bill,", "daughter (Marcela Vandermeer)"
        rp, rplw = p, plw
        if rp is None or rplw not in RELATIONS:
            rp = _prev_word(note, i, ".,:;'(\"")
            rplw = toks[rp][2].lower() if rp is not None else ""
        if rplw in RELATIONS and rp is not None and "\n" not in _gap(note, rp, i):
            gap = _gap(note, rp, i)
            known = lw in lex.first_names and (lw not in CLINICAL_KEEP or note.case == "mixed" and note.capitalised(i))
            unknown = (lw not in lex.common and lw not in _CLINICAL_ONLY and lw not in CLINICAL_KEEP
                       and len(lw) > 2 and (note.case != "mixed" or toks[i][2][0].isupper()))
            # mixed case: a capitalised word after a relation is a name even if it is also an
            # English word ("Son Sparky", "niece: Svetlana")
            cased = (note.case == "mixed" and toks[i][2][0].isupper() and not toks[i][2].isupper()
                     and len(lw) > 2 and lw not in _CLINICAL_ONLY and lw not in CLINICAL_KEEP
                     and lw not in _TITLE_STOP and lw not in CREDENTIALS and lw not in SOFT_TITLES
                     and not lw.endswith(("ed", "ing", "ly")) and lw not in _NOT_NAME_AFTER_RELATION)
            if len(gap.strip()) <= 2 and all(c in ',(:-"' for c in gap.strip()) and (known or unknown or cased) \
                    and lw not in _FUNCTION_WORDS and lw not in RELATIONS \
                    and (note.case != "mixed" or note.capitalised(i) or lw not in lex.common):
                add(i, i, 0.85, True)
                continue
        # 3. before a credential: "Marie Okonjo, RN", "David Tolliver RRT"
        n = i + 1
        while n < len(toks) and toks[n][2] in ",.":
            n += 1
        if n < len(toks) and toks[n][2].lower() in CREDENTIALS and _credential_at(note, n) \
                and _name_like(note, i, strong=True) and lw not in _ROLE_WORDS \
                and "\n" not in _gap(note, i, n) and lw not in _FUNCTION_WORDS and lw not in _CLINICAL_ONLY \
                and (lw not in lex.common or lex.is_name_word(lw) and (_line_start_name(note, i) or _hyphen_name(note, i))):
            end_ok = n + 1 >= len(toks) or toks[n + 1][2] in ".,;\n/)" or "\n" in _gap(note, n, n + 1) \
                or n + 1 < len(toks) and toks[n + 1][2][0].isalpha()
            prev_first = i >= 1 and toks[i - 1][2].lower() in lex.first_names and _gap(note, i - 1, i) == " " \
                or i >= 2 and toks[i - 1][2] == "-" and _gap(note, i - 2, i) == "-" and toks[i - 2][2][:1].isupper() \
                and toks[i][2][:1].isupper() and len(toks[i - 2][2]) > 2 and toks[i - 2][2].lower() not in _CLINICAL_ONLY
            if end_ok and (lex.is_name_word(lw) or note.capitalised(i) and note.case == "mixed" or prev_first):
                add(i, i, 0.85, True)
                continue
        # 3b. "name is Barbara Quill", "B. Tolliver" (an initial and a surname)
        if plw == "is" and p is not None and p >= 1:
            q = _prev_word(note, p)
            if q is not None and note.tokens[q][2].lower() == "name" and note.capitalised(i) \
                    and lw not in _FUNCTION_WORDS and (lw not in lex.common or lex.is_name_word(lw)) \
                    and (note.case == "mixed" or lw not in lex.common or lw in lex.first_names):
                add(i, i, 0.85, True)
                continue
        if i >= 2 and toks[i - 1][2] == "." and _is_initial(note, i - 2) and note.capitalised(i) \
                and _gap(note, i - 1, i) in (" ", "") \
                and len(lw) > 2 and lw not in CLINICAL_KEEP and lw not in _CLINICAL_ONLY \
                and lw not in _FUNCTION_WORDS and (lw not in lex.common or lw in lex.frequent_surnames) \
                and (note.case != "lower" or lex.is_name_word(lw)):
            add(i - 2, i, 0.8, True)
            continue
        # 3b'. after a verb of talking to someone: "Spoke with Ignatius", "Informed Beatrix",
        #      "report given to Ophelia", "message left for Brunhilde"; "Mary's husband"
        if i in cue_targets and _cue_name_ok(note, i):
            add(i, i, 0.85, True)
            continue
        if i + 3 < len(toks) and toks[i + 1][2] == "'" and toks[i + 2][2].lower() == "s" \
                and _gap(note, i, i + 3) == "'s " and toks[i + 3][2].lower() in RELATIONS \
                and toks[i + 3][2].lower() not in ("attending", "resident", "fellow", "intern", "pcp", "pt") \
                and _cue_name_ok(note, i):
            add(i, i, 0.85, True)
            continue
        # 3c. a name before its relation: "Hank Okonjo (son)", "Nancy Przywara his niece"
        n = i + 1
        while n < len(toks) and toks[n][2] in "(,-" :
            n += 1
        if n < len(toks) and n > i + 0 and "\n" not in _gap(note, i, n):
            q = n
            if toks[q][2].lower() in ("his", "her", "their", "pt's", "pts") and q + 1 < len(toks):
                q += 1
            if toks[q][2].lower() in RELATIONS and toks[q][2].lower() not in ("attending", "resident", "fellow", "intern", "pcp") \
                    and (toks[n - 1][2] == "(" or q > n) and _title_target(note, i) and len(lw) > 2 \
                    and (lex.is_name_word(lw) or lw not in lex.common) and note.capitalised(i) \
                    and (note.case != "mixed" or toks[i][2][0].isupper()):
                add(i, i, 0.8, True)
                continue
        # 3d. "grace przywara aware", "BEA QUILL AWARE", "per carol vandermeer"
        n = i + 1
        if n < len(toks) and toks[n][2].lower() in _VISIT_CUES and _gap(note, i, n) in (" ", "  ") \
                and lw in lex.first_names and lw not in _FUNCTION_WORDS and lw not in _CLINICAL_ONLY \
                and lw not in CLINICAL_KEEP and len(lw) > 2 and (note.case != "mixed" or toks[i][2][0].isupper()):
            add(i, i, 0.8, True)  # "social: bill called", "Bob visited"
            continue
        if n < len(toks) and toks[n][2].lower() in _AFTER_NAME_CUES and _gap(note, i, n) in (" ", "  ") \
                and len(lw) > 2 and _title_target(note, i) and lw not in lex.common and lw not in CLINICAL_KEEP \
                and lw not in SOFT_TITLES and (note.case != "mixed" or toks[i][2][0].isupper()) \
                and (lex.is_name_word(lw) or i >= 1 and toks[i - 1][2].lower() in lex.first_names):
            add(i, i, 0.8, True)
            continue
        if plw == "per" and p is not None and lw in lex.first_names and lw not in _FUNCTION_WORDS \
                and lw not in _CLINICAL_ONLY and i + 1 < len(toks) and _gap(note, i, i + 1) == " " \
                and toks[i + 1][2][0].isalpha() and len(toks[i + 1][2]) > 2 \
                and toks[i + 1][2].lower() not in lex.common and toks[i + 1][2].lower() not in _CLINICAL_ONLY:
            add(i, i + 1, 0.8, True)
            continue
        # 4. the dictionaries alone
        if _name_like(note, i, strong=False) and lw not in RELATIONS:
            add(i, i, 0.6, False)
    # a signature: the last line of the note is two to four name words ("Karen Ann Tolliver")
    sig = _signature(note)
    if sig is not None:
        add(sig[0], sig[1], 0.8, True)
    # "Drs. Okonjo and Quill", "Daughters Sunny, Ingrid and Rosemary": a list continues a strong name
    ends = {h[1] for h in hits if h[3] >= 0.8}
    for i in range(1, len(toks)):
        if (toks[i][2].lower() in ("and", "&", ",") or toks[i][2] == "/" and note.case == "mixed"
                and i + 1 < len(toks) and _gap(note, i - 1, i + 1) == "/") and toks[i - 1][1] in ends:
            k = i + 1
            if k < len(toks) and toks[k][2].lower() in ("and", "&"):
                k += 1
            lk = toks[k][2].lower() if k < len(toks) else ""
            if k < len(toks) and toks[k][2][0].isalpha() and _name_like(note, k, strong=True) \
                    and (lk not in lex.common or note.case == "mixed" and toks[k][2][0].isupper()
                         and not toks[k][2].isupper() and lk in lex.first_names) \
                    and lk not in STRONG_TITLES and lk not in RELATIONS:
                add(k, k, 0.8, True)
                ends.add(hits[-1][1])
    return hits, strong_words


_ROLE_ABBREVIATIONS = {"HO", "RT", "PT", "OT", "SW", "CM", "SLP", "NP", "PA", "RN", "MD", "RRT", "PCP", "HCP", "CNA"}

# Capitalised words after a relation that are not names ("Wife Present", "Son Also").
_NOT_NAME_AFTER_RELATION = set(
    """
    present also here there now still today tonight yesterday tomorrow not never very both all
    none each other others who which whom when where has have had does did says said asks asked
    would could should might must wants want needs need feels felt thinks knows agrees agree
    unable able available involved primary main only one two three first second youngest oldest
    older younger eldest lives living called visiting visit phone phoned family home health care
    """.split()
)

_FUNCTION_WORDS = set(
    """
    will may can is was at in on to and or the a an here there aware called came visited
    phoned updated notified present with from by for of who that this not per pt via see
    seen spoke paged informed told asked she he they we it his her him them their also then
    """.split()
)


# ---------------------------------------------------------------------------------- places

def _places(note: _Note) -> tuple[list[Hit], set[str]]:
    lex = lexicon()
    toks = note.tokens
    hits: list[Hit] = []
    found: set[str] = set()

    def place_word(k: int) -> bool:
        w = toks[k][2]
        lw = w.lower()
        if not w[0].isalpha() or lw in _LOCATION_STOP or lw in CREDENTIALS:
            return False
        if note.case == "mixed" and not w[0].isupper():
            return lw in {"of", "st"}
        return lw not in lex.common or lw in _ORG_NAMEPART or (lw in lex.cities and len(lw) > 3 and lw not in _CLINICAL_ONLY)

    # 1. names before a hospital word: "Ashgrove Hospital", "ashgrove hosp", "Valley Memorial"
    for i in note.words:
        lw = toks[i][2].lower()
        if lw not in _ORG_HEAD:
            continue
        j = i - 1
        start = None
        n = 0
        named_head = False
        while j >= 0 and n < 4:
            w = toks[j][2]
            if w in ".'" and j > 0:
                j -= 1
                continue
            if w.lower() in ("s",) and j > 0 and toks[j - 1][2] == "'":
                j -= 1
                continue
            loose = (n == 0 and lw in ("memorial", "hospital", "hosp", "campus", "regional") and w[0].isalpha() and note.case == "mixed"
                     and w.lower() not in _FUNCTION_WORDS and w.lower() not in _CLINICAL_ONLY
                     and w.lower() not in _LOCATION_STOP and w.lower() not in _NOT_HOSPITAL_NAME
                     and len(w) > 2 and (note.case != "mixed" or w[0].isupper()))
            state = w.lower() in lex.states and lw in ("rehab", "hospital", "hosp", "medical", "general", "memorial")
            # a person's name or a town before an emergency ward or rehab: "Corbin Holloway EW"
            named = (n == 0 and lw in ("ew", "er", "ed", "rehab") and note.case == "mixed" and toks[i][2] != lw
                     and w[0].isupper() and w[1:].islower() and len(w) > 2
                     and (lex.is_name_word(w.lower()) or w.lower() in lex.cities)
                     and w.lower() not in _FUNCTION_WORDS and w.lower() not in _CLINICAL_ONLY
                     and w.lower() not in _LOCATION_STOP and w.lower() not in _NOT_HOSPITAL_NAME
                     and w.lower() not in CLINICAL_KEEP and w.lower() not in _PLACE_NOT)
            named_head = named_head or named
            if w[0].isalpha() and (place_word(j) or loose or state or named or w.lower() in _ORG_NAMEPART) and "\n" not in _gap(note, j, j + 1):
                start = j
                n += 1
                j -= 1
                continue
            break
        if start is None:
            continue
        words = [toks[k][2].lower() for k in range(start, i) if toks[k][2][0].isalpha()]
        if all(w in _ORG_NAMEPART or w in ("of", "st", "s", "the") for w in words) and lw in _ORG_GENERIC:
            if not any(w in ("memorial", "general", "adventist", "sacred", "holy", "mercy") for w in words):
                continue
        if words and all(w in lex.common and w not in _ORG_NAMEPART for w in words) \
                and not any(w in lex.states for w in words) and not named_head \
                and (lw not in ("memorial", "general", "hospital", "hosp", "campus", "regional")
                     or any(w in _NOT_HOSPITAL_NAME for w in words)):
            continue
        end = i if lw not in _ORG_GENERIC else i - 1
        while end > start and not toks[end][2][0].isalnum():
            end -= 1
        hits.append((toks[start][0], toks[end][1], "HOSPITAL", 0.85))
        for k in range(start, end + 1):
            w = toks[k][2].lower()
            if w[0].isalpha() and w not in _ORG_NAMEPART and w not in lex.common and len(w) > 1:
                found.add(w)

    # 2. transfer context: "transferred to NWH", "admitted to Wexcombe 3", "from Ashgrove"
    for i in note.words:
        lw = toks[i][2].lower()
        if lw not in ("to", "from", "at", "@", "in"):
            continue
        p = _prev_word(note, i)
        if p is None:
            continue
        plw = toks[p][2].lower()
        if lw == "in" and plw not in _RESIDE_VERBS:
            continue
        if plw not in _TRANSFER_VERBS and plw not in _RESIDE_VERBS and plw not in ("followed", "seen", "work", "works"):
            continue
        k = i + 1
        if k < len(toks) and toks[k][2].lower() == "the":
            k += 1
        city = _city_at(note, k)
        if city is not None:
            hits.append((toks[k][0], toks[city][1], "CITY", 0.75))
            continue
        ks = []
        if k < len(toks) and note.case == "mixed" and toks[k][2][0].isupper() and toks[k][2][1:].islower() \
                and len(toks[k][2]) > 3 and not place_word(k) and _titled_place(note, k):
            hits.append((toks[k][0], toks[k][1], "CITY" if plw in _RESIDE_VERBS else "HOSPITAL", 0.7))
            continue
        while k < len(toks) and len(ks) < 3 and toks[k][2][0].isalpha() and place_word(k) \
                and toks[k][2].lower() not in _ORG_HEAD and toks[k][2].lower() not in ("of",) \
                and toks[k][2].lower() not in lex.states and not toks[k][2].lower().endswith(("icu", "ccu")) \
                and (note.case != "lower" or len(toks[k][2]) > 2):
            ks.append(k)
            k += 1
        if ks:
            label = "CITY" if plw in _RESIDE_VERBS else "HOSPITAL"
            hits.append((toks[ks[0]][0], toks[ks[-1]][1], label, 0.75))
            for q in ks:
                w = toks[q][2].lower()
                if w not in lex.common and len(w) > 1 and label == "HOSPITAL":
                    found.add(w)

    # 3. "University of X", "U of MD", "St. Mary's", "Holy Cross"
    for m in RE_UNIVERSITY.finditer(note.text):
        w = m.group(1).lower()
        if m.group().lower().startswith("u") and " of" not in m.group().lower() and len(w) <= 2:
            continue  # "f/u IN 2 days": a bare "U" needs a full name after it ("U Delaware")
        if w in lex.states or w in lex.cities or m.group(1).upper() in US_STATES and len(w) == 2:
            hits.append((m.start(), m.end(), "HOSPITAL", 0.8))
    for m in RE_SAINT.finditer(note.text):
        w = m.group(1).lower()
        if w in lex.first_names and w not in lex.common and (note.case != "mixed" or m.group(1)[0].isupper()):
            hits.append((m.start(), m.end(), "HOSPITAL", 0.8))
    for m in _RE_RELIGIOUS_HOSPITAL.finditer(note.text):
        hits.append((m.start(), m.end(), "HOSPITAL", 0.75))

    # 3b. a ward or site followed by its number: "to Wexcombe 3", "on WEXCOMBE 2";
    #     a hospital acronym: "to NWH", "at SVMC", "from VAMC"
    for i in note.words:
        lw = toks[i][2].lower()
        if lw not in ("to", "from", "at", "in", "on", "@", "by", "into", "leave", "left"):
            continue
        k = i + 1
        if k < len(toks) and toks[k][2].lower() == "the":
            k += 1
        if k >= len(toks) or not toks[k][2][0].isalpha():
            continue
        w = toks[k][2]
        wl = w.lower()
        if wl in _LOCATION_STOP or wl in _CLINICAL_ONLY or wl in CLINICAL_KEEP or wl in _FUNCTION_WORDS:
            continue
        nxt = toks[k + 1][2] if k + 1 < len(toks) else ""
        numbered = (nxt.isdigit() and len(nxt) <= 2 and _gap(note, k, k + 1) in (" ", "")
                    and (k + 2 >= len(toks) or not toks[k + 2][2][0].isalpha() or _gap(note, k + 1, k + 2) != "")
                    and (k + 2 >= len(toks) or toks[k + 2][2] not in "'%/-" or _gap(note, k + 1, k + 2) != "")
                    and (w.islower() or w.isupper() or w[0].isupper() and w[1:].islower()))
        if numbered and lw != "by" and wl not in lex.common and len(wl) > 3 \
                and (note.case != "mixed" or w[0].isupper() or len(wl) > 6) \
                and not _DRUG_SUFFIX.search(wl) and not _ADJECTIVE_SUFFIX.search(wl):
            hits.append((toks[k][0], toks[k][1], "HOSPITAL", 0.7))
            found.add(wl)
            continue
        if lw != "on" and (w.isupper() or note.case == "lower" and len(w) <= 4) and 2 <= len(w) <= 5 \
                and re.fullmatch(r"[A-Z]+(?:H|MC|HC|HS)", w.upper()) \
                and wl not in _CLINICAL_ACRONYMS and wl not in lex.common and (note.case == "mixed" or len(w) <= 4):
            hits.append((toks[k][0], toks[k][1], "HOSPITAL", 0.7))
            found.add(wl)

    # 3b'. a ward name with its number anywhere: "Per Wexcombe 4 RN", "TRANSFER WEXCOMBE 2.",
    #      "WEXCOMBE7": an unknown word of six letters or more, then one digit that ends the
    #      phrase (not a dose, not a score)
    for m in _RE_WARD.finditer(note.text):
        w = m.group(1)
        wl = w.lower()
        if wl in lex.common or wl in _CLINICAL_ONLY or wl in CLINICAL_KEEP or wl in lex.first_names \
                or _DRUG_SUFFIX.search(wl) or _ADJECTIVE_SUFFIX.search(wl) or wl in lex.states \
                or wl.endswith(("icu", "ccu", "unit")):
            continue
        if note.case == "mixed" and not (w[0].isupper() and (w[1:].islower() or w.isupper())):
            continue
        if wl.endswith("x") and m.end(1) == m.start(2):
            continue  # "orientedx2", "emesisx3": times, not a ward
        hits.append((m.start(1), m.end(1), "HOSPITAL", 0.7))
        found.add(wl)

    # 3c. "Cedar Falls, IA", "Towson, MD 21204": words before a state abbreviation
    for m in _RE_STATE_AFTER.finditer(note.text):
        if m.group(1) in _AMBIGUOUS_STATES and not m.group(2) and note.case == "upper":
            continue
        c = _RE_CITY_BEFORE.search(note.text, max(0, m.start() - 40), m.start())
        if not c:
            continue
        ws = c.group(1).split()
        if all(w.lower() not in _FUNCTION_WORDS and w.lower() not in _CLINICAL_ONLY
               and w.lower() not in CLINICAL_KEEP and (note.case != "upper" or w.lower() not in lex.common)
               for w in ws):
            hits.append((c.start(1), c.end(1), "CITY", 0.7))

    # 4. cities from the bundled list (one to three words)
    words = note.words
    for idx, i in enumerate(words):
        if toks[i][2].lower() not in lex.city_first:
            continue
        for n in (3, 2, 1):
            if idx + n > len(words):
                continue
            ks = words[idx:idx + n]
            if ks[-1] - ks[0] != n - 1:
                continue
            name = " ".join(toks[k][2].lower() for k in ks)
            if name not in lex.cities:
                continue
            if n == 1 and (name in lex.common or name in lex.first_names or name in CLINICAL_KEEP
                           or name in lex.states or len(name) < 4):
                continue
            if n > 1 and all(toks[k][2].lower() in lex.common for k in ks):
                continue
            if not all(note.capitalised(k) for k in ks):
                continue
            hits.append((toks[ks[0]][0], toks[ks[-1]][1], "CITY", 0.7))
            break
    return hits, found


RE_UNIVERSITY = re.compile(r"\b(?:university|univ|u)\.?\s{1,3}(?:of\s{1,3})?([A-Z][a-z]+|[a-z]+|[A-Z]+)\b", _I)
RE_SAINT = re.compile(r"\b(?:st|saint)\.?\s{1,3}([A-Za-z]+)(?:'s)?\b", _I)
_RE_WARD = re.compile(
    r"(?<![A-Za-z0-9'/-])([A-Za-z]{6,})[ ]?(\d)(?![\d.,]\d)(?=[ \t]*(?:$|\n|[.,;)]|RN\b|rn\b|MD\b|md\b|nurse|team|unit|for\b|to\b|and\b))",
)
def _titled_place(note: _Note, k: int) -> bool:
    """A capitalised ordinary word after "transferred from" that names a place ("from Sinai")."""
    lw = note.tokens[k][2].lower()
    if lw in _LOCATION_STOP or lw in _CLINICAL_ONLY or lw in CLINICAL_KEEP or lw in _FUNCTION_WORDS \
            or lw in MONTHS or lw in _PLACE_NOT or lw in lexicon().states or lw in RELATIONS or lw in SOFT_TITLES:
        return False
    nxt = note.tokens[k + 1] if k + 1 < len(note.tokens) else None
    if nxt is None or "\n" in _gap(note, k, k + 1):
        return True
    return nxt[2] in ".,;:)(" or nxt[2].lower() in ("at", "for", "on", "in", "via", "with", "and", "by", "after", "where", "s")


_PLACE_NOT = set(
    """
    home house bed chair commode bathroom floor unit room stretcher table scanner procedure
    operating recovery holding preop postop radiology imaging surgery medicine cardiology
    neurology oncology dialysis rehab hospice outside clinic office work school church jail
    prison shelter street car ambulance helicopter plane airport vacation florida abroad
    morning afternoon evening night today tomorrow yesterday monday tuesday wednesday thursday
    friday saturday sunday there here nursing facility skilled acute chronic long short
    main north south east west central adult pediatric peds trauma cardiac surgical new old
    """.split()
)


_RESIDE_VERBS = {"lives", "living", "resides", "residing", "lived", "alone", "reside", "live"}


def _city_at(note: _Note, k: int) -> int | None:
    """Index of the last word of a bundled city name of two or three words starting at word k."""
    lex = lexicon()
    toks = note.tokens
    if k >= len(toks) or toks[k][2].lower() not in lex.city_first:
        return None
    for n in (3, 2):
        ks = list(range(k, k + n))
        if ks[-1] >= len(toks) or any(not toks[q][2][0].isalpha() or _gap(note, q, q + 1) != " " for q in ks[:-1]):
            continue
        if " ".join(toks[q][2].lower() for q in ks) in lex.cities \
                and (note.case != "mixed" or all(toks[q][2][0].isupper() for q in ks)):
            return ks[-1]
    return None


# ------------------------------------------------------------------------------- resolution

def _propagate(note: _Note, words: set[str], label: str) -> Iterator[Hit]:
    """Every other occurrence of a word found with strong context is PHI too."""
    if not words:
        return
    for i in note.words:
        lw = note.tokens[i][2].lower()
        if lw in words:
            yield note.tokens[i][0], note.tokens[i][1], label, 0.8


# Nouns after which a name is an eponym ("Parkinson's disease", "Foley catheter", "Merkel cell").
_EPONYM_NOUNS = set(
    """
    disease syndrome sign signs cell cells virus test score scale catheter tube procedure
    operation classification criteria sarcoma lymphoma ulcer reflex maneuver manoeuvre position
    phenomenon gland glands duct space node nodes body bodies canal fracture palsy anemia edema
    oedema disorder infection stain staining method technique index formula equation law effect
    ratio line filter shunt valve clamp forceps retractor needle mask collar splint cast
    traction stockings bed mattress boots apparatus rat rats mice mouse strain assay blot plot
    analysis curve regression coefficient albicans aureus pylori coli difficile pneumoniae
    cholerae aeruginosa tear tears tubes bag drain drains stent pump boot bandage dressing wrap
    hose tumor tumour anaemia
    """.split()
)
# the one or two words after a span: "'s disease", " catheter", " Coma Scale"
_RE_NEXT_WORDS = re.compile(r"(?:'s)?(?:[ \t]{1,3}|-)([A-Za-z]+)(?:(?:[ \t]{1,3}|-)([A-Za-z]+))?")


def _eponym_follows(text: str, pos: int) -> bool:
    """Does an eponym noun follow ``pos`` (directly or after one more word)?"""
    m = _RE_NEXT_WORDS.match(text, pos)
    if m is None:
        return False
    return m.group(1).lower() in _EPONYM_NOUNS or (m.group(2) is not None and m.group(2).lower() in _EPONYM_NOUNS)


def _keep_clinical(note: _Note, hits: list[Hit]) -> list[Hit]:
    """Drop names and places that are eponyms ("Buerger's disease", "Merkel cell") or touch a
    digit ("VO2"); a title before them ("Dr. Merkel", score 0.95) still makes them names."""
    out = []
    t = note.text
    for h in hits:
        if h[2] in ("NAME", "CITY") and h[3] < 0.95:
            if _eponym_follows(t, h[1]) or (h[2] == "NAME" and h[1] < len(t) and t[h[1]].isdigit()):
                continue
        out.append(h)
    return out


def detect(text: str, *, keep_year: bool = True) -> list[Hit]:
    """All PHI spans in ``text`` as non-overlapping ``(start, end, label, score)``, sorted."""
    if not text:
        return []
    note = _Note(text)
    hits: list[Hit] = list(_patterns(note))
    hits.extend(_dates(note, keep_year))
    name_hits, strong_names = _names(note)
    place_hits, places = _places(note)
    hits.extend(name_hits)
    hits.extend(place_hits)
    hits.extend(_propagate(note, places - strong_names, "HOSPITAL"))
    hits.extend(_propagate(note, strong_names, "NAME"))
    hits.extend(context_hits(note))  # issue 18: names, places and ids by position and shape
    return resolve(merge_names(keep_drugs(note, _keep_clinical(note, hits))))


def resolve(hits: list[Hit]) -> list[Hit]:
    """Keep the best of overlapping spans (priority, then length, then score)."""
    hits = [h for h in hits if h[1] > h[0]]
    hits.sort(key=lambda h: (-PRIORITY.get(h[2], 0), -(h[1] - h[0]), -h[3], h[0]))
    taken: list[Hit] = []
    occupied: list[tuple[int, int]] = []
    for h in hits:
        k = bisect.bisect_left(occupied, (h[0], -1))
        if k > 0 and occupied[k - 1][1] > h[0]:
            continue
        if k < len(occupied) and occupied[k][0] < h[1]:
            continue
        occupied.insert(k, (h[0], h[1]))
        taken.append(h)
    taken.sort()
    return taken
