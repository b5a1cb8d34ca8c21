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

from healthnn.privacy._deid_lexicon import MONTHS, lexicon

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
    def replace(self, label: str, value: str, patient: str) -> str:
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
        if kind == "NAME":
            first = lex.first_rank.get(lw, 10**9) * 10 < lex.surname_rank.get(lw, 10**9)
            pool = lex.first_names_ranked[:1000] if first else lex.surnames_ranked[:5000]
        elif kind == "CITY":
            pool = lex.cities_ranked
        else:
            pool = lex.surnames_ranked[:5000]
        h = self._int(patient, kind, lw)
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
        return self._words(value, patient, "NAME")

    def _city(self, value: str, patient: str) -> str:
        lex = lexicon()
        h = self._int(patient, "CITY", value.lower())
        new = lex.cities_ranked[h % len(lex.cities_ranked)]
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
        return self._shape(value, patient, "ZIP")

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


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _pad(n: int, like: str) -> str:
    return f"{n:02d}" if len(like) == 2 and like.startswith("0") else str(n)
