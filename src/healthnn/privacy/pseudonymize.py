"""Pseudonymised patient tables: keyed identifiers, per-patient date shifts, generalisation,
and a k-anonymity report.

* Identifiers become ``P`` + 16 hex digits of an HMAC-SHA256 under the secret key: the same
  value always gets the same pseudonym (tables stay linkable), nobody without the key can
  reverse or recompute it (a plain hash of an MRN can be brute-forced; a keyed one cannot).
* Dates move by a per-patient offset (from the key and the patient's id), so intervals within a
  patient are preserved exactly.
* Ages become 5-year bands with 90 and over grouped (HIPAA Safe Harbor); ZIP codes keep their
  first three digits, and the sparsely populated three-digit areas become ``000``.
* Cells that cannot be transformed (an unparseable date, say) are blanked, never passed
  through, and counted per column with their row numbers in the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthnn.data.tables import read_table, require_columns, write_table
from healthnn.errors import DataError
from healthnn.io import write_text
from healthnn.privacy.keys import key_id, keyed_hash

__all__ = ["pseudonymize", "pseudonymize_file", "k_anonymity", "age_band", "zip3",
           "date_offset_days"]

# Three-digit ZIP areas with 20,000 or fewer people (US Census 2000, as listed in the HIPAA
# Safe Harbor guidance): generalised to 000.
RESTRICTED_ZIP3 = frozenset({"036", "059", "063", "102", "203", "556", "692", "790", "821",
                             "823", "830", "831", "878", "879", "884", "890", "893"})


def pseudonym(key: bytes, value: str) -> str:
    return "P" + keyed_hash(key, "id", value)[:16]


def date_offset_days(key: bytes, patient: str, max_days: int) -> int:
    """A per-patient shift in ``[-max_days, max_days]``, never 0."""
    h = int(keyed_hash(key, "date-shift", patient)[:12], 16)
    offset = h % (2 * max_days + 1) - max_days
    return offset if offset != 0 else max_days


def age_band(age: float) -> str:
    """Five-year age band; 90 and over are one group.

    >>> [age_band(a) for a in (3, 47.5, 89.9, 90, 104)]
    ['0-4', '45-49', '85-89', '90+', '90+']
    """
    if age >= 90:
        return "90+"
    lo = int(age // 5 * 5)
    return f"{lo}-{lo + 4}"


def zip3(code: str) -> str | None:
    """First three digits of a ZIP code; sparse areas become 000; None if not a ZIP code.

    >>> zip3("02139"), zip3("03601-1234"), zip3("2139")
    ('021', '000', None)
    """
    digits = code.strip().split("-")[0]
    if len(digits) != 5 or not digits.isdigit():
        return None
    return "000" if digits[:3] in RESTRICTED_ZIP3 else digits[:3]


def k_anonymity(df: pd.DataFrame, columns: list[str], k: int) -> dict[str, Any]:
    """Equivalence-class sizes over ``columns`` (missing counts as a value)."""
    if not columns or len(df) == 0:
        return {"columns": columns, "k": k, "groups": 0, "min_group_size": None,
                "rows_in_small_groups": 0, "satisfied": True}
    keys = df[columns].astype(str).agg("\x1f".join, axis=1)
    sizes = keys.map(keys.value_counts())
    return {
        "columns": columns,
        "k": k,
        "groups": int(keys.nunique()),
        "min_group_size": int(sizes.min()),
        "rows_in_small_groups": int((sizes < k).sum()),
        "satisfied": bool(sizes.min() >= k),
    }


def pseudonymize(
    df: pd.DataFrame,
    *,
    key: bytes,
    id_columns: list[str] = (),
    date_columns: list[str] = (),
    age_columns: list[str] = (),
    zip_columns: list[str] = (),
    drop_columns: list[str] = (),
    quasi_identifiers: list[str] | None = None,
    k: int = 5,
    max_shift_days: int = 365,
    file: str = "<table>",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the transformed table and a report (counts and row numbers only, no values)."""
    require_columns(df, [*id_columns, *date_columns, *age_columns, *zip_columns, *drop_columns],
                    file)
    if date_columns and not id_columns:
        raise DataError("date shifting needs the patient's identifier column",
                        file=file, hint="pass --id-columns with the patient id first")
    if max_shift_days < 1:
        raise DataError("max shift must be at least one day", hint="--max-shift-days")
    out = df.copy()
    problems: dict[str, list[int]] = {}

    def blank(col: str, mask: np.ndarray) -> None:
        rows = (np.flatnonzero(mask) + 1).tolist()
        if rows:
            problems[col] = rows

    present = {c: df[c].notna() & (df[c].astype(str).str.strip() != "") for c in df.columns}
    if id_columns:
        patient = df[id_columns[0]].astype(str)
        missing_patient = ~present[id_columns[0]].to_numpy()
    for col in id_columns:
        cache: dict[str, str] = {}
        out[col] = [
            cache.setdefault(v, pseudonym(key, v)) if ok else None
            for v, ok in zip(df[col].astype(str).str.strip(), present[col], strict=True)
        ]
    for col in date_columns:
        parsed = pd.to_datetime(df[col], errors="coerce", format="mixed")
        bad = present[col].to_numpy() & (parsed.isna().to_numpy() | missing_patient)
        offsets = {p: date_offset_days(key, p, max_shift_days) for p in patient.unique()}
        shift = pd.to_timedelta(patient.map(offsets).astype(float), unit="D")
        shifted = parsed + shift
        has_time = (shifted.dt.normalize() != shifted).fillna(False).any()
        text = shifted.dt.strftime("%Y-%m-%d %H:%M:%S" if has_time else "%Y-%m-%d")
        keep = ~bad & present[col].to_numpy()
        out[col] = [t if ok else None for t, ok in zip(text, keep, strict=True)]
        blank(col, bad)
    for col in age_columns:
        ages = pd.to_numeric(df[col], errors="coerce")
        bad = present[col].to_numpy() & (ages.isna().to_numpy() | (ages < 0).to_numpy())
        out[col] = [age_band(a) if ok else None for a, ok in
                    zip(ages, present[col].to_numpy() & ~bad, strict=True)]
        blank(col, bad)
    for col in zip_columns:
        codes = [zip3(v) if ok else None for v, ok in
                 zip(df[col].astype(str), present[col], strict=True)]
        bad = present[col].to_numpy() & np.array([c is None for c in codes])
        out[col] = codes
        blank(col, bad)
    out = out.drop(columns=list(drop_columns))
    qi = quasi_identifiers
    if qi is None:
        qi = [*age_columns, *zip_columns, *date_columns]
    require_columns(out, qi, file)
    report = {
        "rows": len(out),
        "key_id": key_id(key),
        "pseudonymised": list(id_columns),
        "date_shifted": list(date_columns),
        "max_shift_days": max_shift_days,
        "generalised": {"age_bands": list(age_columns), "zip3": list(zip_columns)},
        "dropped": list(drop_columns),
        "blanked_cells": {c: {"count": len(r), "rows": r[:50]} for c, r in problems.items()},
        "k_anonymity": k_anonymity(out, list(qi), k),
    }
    return out, report


def pseudonymize_file(input: str | Path, out: str | Path, **kwargs: Any) -> dict[str, Any]:
    """Pseudonymise a CSV/Parquet file; the report goes to ``OUT.report.json``."""
    df = read_table(input, as_text=True)
    result, report = pseudonymize(df, file=str(input), **kwargs)
    write_table(result, out)
    report_path = Path(str(out) + ".report.json")
    write_text(report_path, json.dumps(report, indent=2) + "\n")
    report["report_path"] = str(report_path)
    return report
