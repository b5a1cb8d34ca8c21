"""Realistic fake values for ``mode="surrogate"``, chosen by keyed HMAC-SHA256.

The same (key, patient, label, value) always gives the same surrogate, so a name or phone number
is replaced consistently within a note and across all notes of a patient, and the mapping cannot
be reversed or recomputed without the key. Dates move by a per-patient offset (30 to 730 days
back, drawn from the key), so intervals between the dates of one patient are preserved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from healthnn.privacy._deid_lexicon import MONTHS, US_STATES, lexicon

_MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December"]
_ORG_KEEP = {"st", "saint", "of", "the", "memorial", "general", "university", "hospital",
             "medical", "center", "centre", "clinic", "regional", "community", "va", "rehab",
             "hosp", "and", "u", "univ"}
_STREET = {"street", "st", "avenue", "ave", "road", "rd", "boulevard", "blvd", "lane", "ln",
           "drive", "dr", "court", "ct", "way", "place", "pl", "terrace", "circle", "highway",
           "hwy", "parkway", "pkwy"}


def _case_like(src: str, new: str) -> str:
    if src.isupper() and len(src) > 1:
        return new.upper()
    if src.islower():
        return new.lower()
    if src[:1].isupper():
        return " ".join(w[:1].upper() + w[1:].lower() for w in new.split(" "))
    return new


class Surrogates:
    def __init__(self, key: bytes) -> None:
        self.key = key

    # ---------------------------------------------------------------------------- primitives
    def _int(self, *parts: str) -> int:
        msg = "\x1f".join(parts).encode("utf-8", "surrogatepass")
        return int.from_bytes(hmac.new(self.key, msg, hashlib.sha256).digest(), "big")

    def _digits(self, n: int, *parts: str) -> str:
        v = self._int(*parts)
        out = []
        for _ in range(n):
            v, d = divmod(v, 10)
            out.append(str(d))
        return "".join(out)

    def shift_days(self, patient: str) -> int:
        return -(30 + self._int("date-shift", patient) % 701)

    # ------------------------------------------------------------------------------ by label
    def replace(self, label: str, value: str, patient: str, after: str = "") -> str:
        """The surrogate of ``value``; ``after`` is the text that follows it in the note (a city
        followed by ", MA" is replaced by another city of Massachusetts)."""
        if label == "CITY":
            return self._city(value, patient, after)
        fn = getattr(self, "_" + label.lower(), None)
        out = fn(value, patient) if fn else None
        return out if out is not None else f"[{label}]"

    def _word(self, w: str, patient: str, kind: str) -> str:
        lex = lexicon()
        lw = w.lower()
        if len(w) == 1:
            return _case_like(w, chr(ord("A") + self._int(patient, "initial", lw) % 26))
        if kind == "NAME" and len(w) <= 3 and w.isupper() and lw not in lex.first_names and lw not in lex.surnames:
            # initials ("LW RN") become other initials of the same length
            h = self._int(patient, "initials", lw)
            return "".join(chr(ord("A") + (h >> (5 * k)) % 26) for k in range(len(w)))
        if kind in ("NAME", "FIRST"):
            first = kind == "FIRST" or lex.first_rank.get(lw, 10**9) * 10 < lex.surname_rank.get(lw, 10**9)
            pool = lex.surnames_ranked[:5000]
            if first:  # issue 18: a woman's first name becomes a woman's first name
                sex = lex.first_sex.get(lw)
                pool = _first_pool(sex) if sex else lex.first_names_ranked[:1000]
        elif kind == "CITY":
            pool = lex.cities_ranked
        else:
            pool = lex.surnames_ranked[:5000]
        h = self._int(patient, "NAME" if kind == "FIRST" else kind, lw)
        new = pool[h % len(pool)]
        if new == lw:
            new = pool[(h + 1) % len(pool)]
        return _case_like(w, new.title())

    def _words(self, value: str, patient: str, kind: str, keep: set[str] = frozenset()) -> str:
        def one(m: re.Match) -> str:
            w = m.group()
            if w.lower() in keep or (w in ("s", "S") and m.start() > 0 and value[m.start() - 1] == "'") \
                    or (w in ("O", "o", "D", "d") and value[m.end():m.end() + 1] == "'"):
                return w  # kept words, the possessive "'s" and the O' of O'Rourke
            return self._word(w, patient, kind)

        return re.sub(r"[A-Za-z]+", one, value)

    def _name(self, value: str, patient: str) -> str:
        # "George Okonjo": the first of two or more words, if a first name, is one ("George"
        # alone may be a surname); the same person keeps the same surrogate either way
        m = re.match(r"([A-Za-z]{2,})([ ]+)(?=[A-Za-z])", value)
        if m and m.group(1).lower() in lexicon().first_sex:
            rest = self._words(value[m.end():], patient, "NAME")
            return self._word(m.group(1), patient, "FIRST") + m.group(2) + rest
        return self._words(value, patient, "NAME")

    def _city(self, value: str, patient: str, after: str = "") -> str:
        """Another city of the same state: the state written after it (", MA", " Texas"), else
        the state of the city when the bundled list knows only one."""
        lex = lexicon()
        state = _state_after(after)
        if state is None:
            states = lex.city_states.get(value.lower(), ())
            state = next(iter(states)) if len(states) == 1 else None
        pool = lex.state_cities.get(state) or lex.cities_ranked
        h = self._int(patient, "CITY", value.lower())
        new = pool[h % len(pool)]
        if new == value.lower() and len(pool) > 1:
            new = pool[(h + 1) % len(pool)]
        return _case_like(value, new.title()) if not value.isupper() else new.upper()

    def _hospital(self, value: str, patient: str) -> str:
        return self._words(value, patient, "ORG", _ORG_KEEP)

    _organization = _hospital

    def _address(self, value: str, patient: str) -> str:
        out = re.sub(r"\d+", lambda m: self._digits(len(m.group()), patient, "ADDR", value, m.group()).lstrip("0") or "1", value)
        return self._words(out, patient, "ORG", _STREET | {"apt", "suite", "unit", "n", "s", "e", "w"})

    def _shape(self, value: str, patient: str, label: str, first: str = "") -> str:
        """Same layout, every digit and letter replaced."""
        h = self._int(patient, label, re.sub(r"\W", "", value).lower())
        out = []
        for i, c in enumerate(value):
            h, r = divmod(h, 36) if h > 36 else (self._int(patient, label, value, str(i)), 0)
            if c.isdigit():
                out.append(str(r % 10))
            elif c.isalpha():
                out.append(_case_like(c, chr(ord("a") + r % 26)))
            else:
                out.append(c)
        s = "".join(out)
        if first:
            k = next((i for i, c in enumerate(s) if c.isdigit()), None)
            if k is not None:
                s = s[:k] + first + s[k + 1:]
        return s

    def _phone(self, value: str, patient: str) -> str:
        return self._shape(value, patient, "PHONE", first="5")

    def _ssn(self, value: str, patient: str) -> str:
        return self._shape(value, patient, "SSN", first="9")  # 9xx: never an issued SSN

    def _id(self, value: str, patient: str) -> str:
        return self._shape(value, patient, "ID")

    def _zip(self, value: str, patient: str) -> str:
        """A ZIP code of the same state (its first three digits in that state's ranges)."""
        state = _zip_state(value)
        if state is None:
            return self._shape(value, patient, "ZIP")
        h = self._int(patient, "ZIP", value)
        prefixes = [p for lo, hi in ZIP3_BY_STATE[state] for p in range(lo, hi + 1)]
        new = f"{prefixes[h % len(prefixes)]:03d}{(h >> 16) % 100:02d}"
        if new == value[:5]:
            new = f"{prefixes[(h + 1) % len(prefixes)]:03d}{(h >> 16) % 100:02d}"
        return new + self._shape(value[5:], patient, "ZIP4")

    def _email(self, value: str, patient: str) -> str:
        lex = lexicon()
        h = self._int(patient, "EMAIL", value.lower())
        return f"{lex.first_names_ranked[h % 500]}.{lex.surnames_ranked[(h >> 20) % 2000]}@example.org"

    def _url(self, value: str, patient: str) -> str:
        return "https://example.org/" + format(self._int(patient, "URL", value) % 16**8, "08x")

    def _ip(self, value: str, patient: str) -> str:
        h = self._int(patient, "IP", value)
        if ":" in value:
            return f"2001:db8::{h % 65536:x}"
        return f"192.0.2.{h % 254 + 1}"  # TEST-NET-1, never routed

    def _age(self, value: str, patient: str) -> str:
        return "90+"  # HIPAA: ages over 89 are aggregated into one category

    # -------------------------------------------------------------------------------- dates
    def _date(self, value: str, patient: str) -> str | None:
        days = dt.timedelta(days=self.shift_days(patient))
        v = value.strip()

        m = re.fullmatch(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})", v)
        if m:
            a, sep, b, y = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
            year = int(y) if len(y) == 4 else (2000 + int(y) if int(y) <= 30 else 1900 + int(y))
            month, day, swap = (a, b, False) if a <= 12 else (b, a, True)
            d = _safe_date(year, month, day)
            if d is None:
                return None
            n = d + days
            first, second = (n.day, n.month) if swap else (n.month, n.day)
            ys = str(n.year) if len(y) == 4 else f"{n.year % 100:02d}"
            return f"{_pad(first, m.group(1))}{sep}{_pad(second, m.group(3))}{sep}{ys}"
        m = re.fullmatch(r"(\d{4})([/.-])(\d{1,2})\2(\d{1,2})", v)
        if m:
            d = _safe_date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
            if d is None:
                return None
            n = d + days
            sep = m.group(2)
            return f"{n.year}{sep}{_pad(n.month, m.group(3))}{sep}{_pad(n.day, m.group(4))}"
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})", v)
        if m:
            d = _safe_date(2000, int(m.group(1)), int(m.group(2)))
            if d is None:
                return None
            n = d + days
            return f"{_pad(n.month, m.group(1))}/{_pad(n.day, m.group(2))}"
        m = re.fullmatch(r"(\d{1,2})/(\d{2}|\d{4})", v)
        if m:
            y = m.group(2)
            year = int(y) if len(y) == 4 else (2000 + int(y) if int(y) <= 30 else 1900 + int(y))
            d = _safe_date(year, int(m.group(1)), 15)
            if d is None:
                return None
            n = d + days
            return f"{_pad(n.month, m.group(1))}/{n.year if len(y) == 4 else f'{n.year % 100:02d}'}"
        m = re.fullmatch(r"(')?((?:19|20)?\d{2})(')?", v)
        if m and (len(m.group(2)) == 4 or m.group(1) or m.group(3)):
            y = m.group(2)
            year = int(y) if len(y) == 4 else (2000 + int(y) if int(y) <= 30 else 1900 + int(y))
            n = dt.date(year, 7, 1) + days
            ys = str(n.year) if len(y) == 4 else f"{n.year % 100:02d}"
            return f"{m.group(1) or ''}{ys}{m.group(3) or ''}"
        return self._written_date(v, days)

    def _written_date(self, v: str, days: dt.timedelta) -> str | None:
        words = re.findall(r"[A-Za-z]+", v)
        month_word = next((w for w in words if w.lower() in MONTHS), None)
        if month_word is None or any(w.lower() in _ORDINAL_WORDS for w in words):
            return None  # a written-out day ("the fourteenth of March") becomes [DATE]
        month = MONTHS[month_word.lower()]
        nums = re.findall(r"\d+", v)
        day = next((int(n) for n in nums if len(n) <= 2 and not v.endswith("'" + n)), None)
        year = next((int(n) for n in nums if len(n) == 4), None)
        d = _safe_date(year or 2000, month, day or 15)
        if d is None:
            return None
        n = d + days
        if day is None:
            # month alone or month and year: move by whole months only
            n = _safe_date(n.year, n.month, 1) or n
        new_month = _MONTH_NAMES[n.month - 1]
        if len(month_word) <= 4 and month_word.lower() not in ("may", "june", "july"):
            new_month = new_month[:3] if month_word.lower() != "sept" else new_month[:4]
        new_month = _case_like(month_word, new_month)
        out = v.replace(month_word, "\x00", 1)
        if day is not None:
            out = re.sub(rf"(?<!\d){day:d}(?!\d)|(?<!\d)0{day:d}(?!\d)", str(n.day), out, count=1)
        if year is not None:
            out = out.replace(str(year), str(n.year), 1)
        return out.replace("\x00", new_month)


_ORDINAL_WORDS = {
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
    "eighteenth", "nineteenth", "twentieth", "twenty", "thirtieth", "thirty",
}


# First three digits of the ZIP codes of each state (USPS prefix ranges; a few prefixes inside a
# range are unassigned).
ZIP3_BY_STATE = {
    "AL": [(350, 369)], "AK": [(995, 999)], "AZ": [(850, 865)], "AR": [(716, 729)],
    "CA": [(900, 961)], "CO": [(800, 816)], "CT": [(60, 69)], "DE": [(197, 199)], "DC": [(200, 205)],
    "FL": [(320, 349)], "GA": [(300, 319), (398, 399)], "HI": [(967, 968)], "ID": [(832, 838)],
    "IL": [(600, 629)], "IN": [(460, 479)], "IA": [(500, 528)], "KS": [(660, 679)],
    "KY": [(400, 427)], "LA": [(700, 714)], "ME": [(39, 49)], "MD": [(206, 219)], "MA": [(10, 27)],
    "MI": [(480, 499)], "MN": [(550, 567)], "MS": [(386, 397)], "MO": [(630, 658)],
    "MT": [(590, 599)], "NE": [(680, 693)], "NV": [(889, 898)], "NH": [(30, 38)], "NJ": [(70, 89)],
    "NM": [(870, 884)], "NY": [(100, 149)], "NC": [(270, 289)], "ND": [(580, 588)],
    "OH": [(430, 459)], "OK": [(730, 749)], "OR": [(970, 979)], "PA": [(150, 196)], "RI": [(28, 29)],
    "SC": [(290, 299)], "SD": [(570, 577)], "TN": [(370, 385)], "TX": [(750, 799), (885, 885)],
    "UT": [(840, 847)], "VT": [(50, 59)], "VA": [(220, 246)], "WA": [(980, 994)],
    "WV": [(247, 268)], "WI": [(530, 549)], "WY": [(820, 831)],
}
_STATE_NAMES = {name: code for code, name in US_STATES.items()}
_RE_STATE_AFTER = re.compile(r"[ \t]{0,2},?[ \t]{0,2}([A-Z]{2}\b|[A-Z][a-z]+(?: [A-Z][a-z]+)?)")


def _state_after(after: str) -> str | None:
    """The state written right after a city: ", MA", " Texas", ", New York"."""
    m = _RE_STATE_AFTER.match(after)
    if m is None:
        return None
    w = m.group(1)
    if w in US_STATES:
        return w
    return _STATE_NAMES.get(w.lower()) or _STATE_NAMES.get(w.split()[0].lower())


def _zip_state(value: str) -> str | None:
    if not re.fullmatch(r"\d{5}(?:-\d{4})?", value):
        return None
    p = int(value[:3])
    return next((st for st, ranges in ZIP3_BY_STATE.items() if any(lo <= p <= hi for lo, hi in ranges)), None)


_POOLS: dict[str, list[str]] = {}


def _first_pool(sex: str) -> list[str]:
    """The 1,000 most frequent first names of one sex (a name of both lists counts for the one
    where it ranks higher)."""
    if sex not in _POOLS:
        lex = lexicon()
        ranked = lex.female_ranked if sex == "F" else lex.male_ranked
        _POOLS[sex] = [w for w in ranked if lex.first_sex.get(w) == sex][:1000]
    return _POOLS[sex]


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _pad(n: int, like: str) -> str:
    return f"{n:02d}" if len(like) == 2 and like.startswith("0") else str(n)
