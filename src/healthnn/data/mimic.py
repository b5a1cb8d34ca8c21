"""A MIMIC-III cohort as an event stream: ICU stays, their events and in-hospital death.

:func:`build_mimic_cohort` joins the MIMIC-III tables ADMISSIONS, ICUSTAYS, PATIENTS,
PRESCRIPTIONS, OUTPUTEVENTS (and D_ITEMS for item names) and DIAGNOSES_ICD into

* ``events.csv``: ``stay_id, time, variable, value`` with ``time`` in hours since the ICU
  admission (``intime``): ``Age`` and ``Male`` at time 0, ``EmergencyAdmission`` at time 0,
  one ``rx:<drug>`` event per prescription start time (value: the number of prescriptions
  of that drug started then) (the ``top_drugs`` most
  frequent drugs by name, the rest as ``rx:other``), and one ``out:<item>`` event per output
  measurement time (urine and drains, in mL, summed over pooled items; the ``top_outputs`` most frequent items, the rest as
  ``out:other``). Output rows flagged ``iserror`` are left out (counted);
* ``cohort.csv``: one row per ICU stay: ``stay_id, subject_id, hadm_id, in_hospital_death``
  (ADMISSIONS.hospital_expire_flag), ``first_careunit``, ``los_days`` and ``n_diagnoses``.

Diagnoses (ICD-9) are coded at discharge, so they are *not* events by default: used as
predictors of in-hospital death they leak the outcome. ``n_diagnoses`` in the cohort table is for
description and subgroups only; ``diagnoses_as_events=True`` adds ``dx:<ICD-9 chapter>`` events
at time 0 for studies where that is legitimate.

Column names may be upper case (the full MIMIC-III) or lower case (the demo); files may be
``.csv`` or ``.csv.gz``. Ages above 89 are shifted in MIMIC (to about 300 years) and are set to
90 (counted).

The result trains with ``task = "event_classification"``::

    [data]
    train = "cohort/events.csv"
    outcomes = "cohort/cohort.csv"
    target = "in_hospital_death"
    group = "subject_id"
    windows = [[0, 24]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthnn.data.tables import write_table
from healthnn.errors import DataError

__all__ = ["build_mimic_cohort"]

_TABLES = ("ADMISSIONS", "ICUSTAYS", "PATIENTS", "PRESCRIPTIONS", "OUTPUTEVENTS",
           "DIAGNOSES_ICD")


def _find(folder: Path, name: str, required: bool = True) -> Path | None:
    for cand in (f"{name}.csv", f"{name}.csv.gz", f"{name.lower()}.csv",
                 f"{name.lower()}.csv.gz"):
        if (folder / cand).is_file():
            return folder / cand
    if required:
        raise DataError(f"{name}.csv not found", file=str(folder),
                        hint="point at the folder of the MIMIC-III CSV files")
    return None


def _read(folder: Path, name: str, columns: list[str], required: bool = True
          ) -> pd.DataFrame | None:
    path = _find(folder, name, required)
    if path is None:
        return None
    try:
        df = pd.read_csv(path, low_memory=False, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from None
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError("column not found", file=str(path), column=missing[0],
                        hint=f"a MIMIC-III {name} table has {', '.join(columns)}")
    df.attrs["path"] = str(path)
    return df


def _icd9_chapter(code: str) -> str:
    """The ICD-9-CM chapter of a diagnosis code (``E``/``V`` codes: external causes and
    supplementary factors)."""
    code = str(code).strip().upper()
    if not code:
        return "unknown"
    if code[0] in "EV":
        return code[0]
    try:
        n = int(code[:3])
    except ValueError:
        return "unknown"
    bounds = [(139, "infectious"), (239, "neoplasms"), (279, "endocrine"), (289, "blood"),
              (319, "mental"), (389, "nervous"), (459, "circulatory"), (519, "respiratory"),
              (579, "digestive"), (629, "genitourinary"), (679, "pregnancy"), (709, "skin"),
              (739, "musculoskeletal"), (759, "congenital"), (779, "perinatal"),
              (799, "ill-defined"), (999, "injury")]
    return next(name for top, name in bounds if n <= top)


def _top(names: pd.Series, k: int) -> pd.Series:
    keep = set(names.value_counts().index[:k])
    return names.where(names.isin(keep), "other")


def build_mimic_cohort(folder: str | Path, out: str | Path, *, top_drugs: int = 20,
                       top_outputs: int = 20, diagnoses_as_events: bool = False
                       ) -> dict[str, Any]:
    """Write ``events.csv`` and ``cohort.csv`` for the MIMIC-III tables in ``folder`` to
    ``out``; return a summary (counts of stays, deaths, events and everything left out)."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise DataError("folder not found", file=str(folder))
    adm = _read(folder, "ADMISSIONS", ["subject_id", "hadm_id", "admission_type",
                                       "hospital_expire_flag"])
    icu = _read(folder, "ICUSTAYS", ["subject_id", "hadm_id", "icustay_id", "intime", "outtime",
                                     "first_careunit", "los"])
    pat = _read(folder, "PATIENTS", ["subject_id", "gender", "dob"])
    rx = _read(folder, "PRESCRIPTIONS", ["hadm_id", "icustay_id", "startdate", "drug"])
    oe = _read(folder, "OUTPUTEVENTS", ["icustay_id", "charttime", "itemid", "value"])
    dx = _read(folder, "DIAGNOSES_ICD", ["hadm_id", "icd9_code"])
    items = _read(folder, "D_ITEMS", ["itemid", "label"], required=False)
    summary: dict[str, Any] = {"source": str(folder)}

    stays = icu.merge(adm[["hadm_id", "admission_type", "hospital_expire_flag"]], on="hadm_id",
                      how="left", validate="many_to_one")
    no_adm = stays["hospital_expire_flag"].isna()
    if no_adm.any():
        summary["stays_without_admission"] = int(no_adm.sum())
        stays = stays[~no_adm]
    stays = stays.merge(pat[["subject_id", "gender", "dob"]], on="subject_id", how="left")
    intime = pd.to_datetime(stays["intime"], errors="coerce")
    outtime = pd.to_datetime(stays["outtime"], errors="coerce")
    bad = intime.isna()
    if bad.any():
        summary["stays_without_intime"] = int(bad.sum())
        stays, intime, outtime = stays[~bad], intime[~bad], outtime[~bad]
    stays = stays.assign(stay_id=stays["icustay_id"].astype(str), intime_=intime)
    dob = pd.to_datetime(stays["dob"], errors="coerce")
    # year arithmetic: MIMIC shifts dates of birth of patients over 89 by about 300 years,
    # beyond what pandas' nanosecond timestamps subtract
    age = (intime.dt.year - dob.dt.year
           - ((intime.dt.month * 100 + intime.dt.day) < (dob.dt.month * 100 + dob.dt.day))
           ).astype(float)
    summary["ages_over_89_set_to_90"] = int((age > 89).sum())
    age = age.where(age <= 89, 90.0)

    t0 = stays.set_index("stay_id")["intime_"]
    parts = [pd.DataFrame({"stay_id": stays["stay_id"], "time": 0.0, "variable": "Age",
                           "value": age.to_numpy()}),
             pd.DataFrame({"stay_id": stays["stay_id"], "time": 0.0, "variable": "Male",
                           "value": (stays["gender"].str.upper() == "M").astype(float)
                           .where(stays["gender"].notna())}),
             pd.DataFrame({"stay_id": stays["stay_id"], "time": 0.0,
                           "variable": "EmergencyAdmission",
                           "value": stays["admission_type"].str.upper()
                           .isin(["EMERGENCY", "URGENT"]).astype(float)})]

    # prescriptions: by ICU stay when given, else every ICU stay of the admission
    rx = rx.assign(drug=rx["drug"].fillna("").str.strip().str.lower())
    by_stay = rx[rx["icustay_id"].notna() & (rx["icustay_id"] != "")]
    by_hadm = rx[~rx.index.isin(by_stay.index)]
    keys = stays[["stay_id", "hadm_id"]]
    rx_j = pd.concat([by_stay.assign(stay_id=by_stay["icustay_id"].str.replace(
                          r"\.0+$", "", regex=True)),
                      by_hadm.merge(keys, on="hadm_id", how="inner")], ignore_index=True)
    rx_j = rx_j[rx_j["stay_id"].isin(t0.index)]
    start = pd.to_datetime(rx_j["startdate"], errors="coerce")
    summary["prescriptions_without_start"] = int(start.isna().sum())
    rx_j = rx_j[start.notna()]
    start = start[start.notna()]
    rx_time = (start.to_numpy() - t0.reindex(rx_j["stay_id"]).to_numpy()) / np.timedelta64(1, "h")
    parts.append(pd.DataFrame({"stay_id": rx_j["stay_id"].to_numpy(), "time": rx_time,
                               "variable": "rx:" + _top(rx_j["drug"], top_drugs).to_numpy(),
                               "value": 1.0}))
    summary["prescriptions"] = int(len(rx_j))

    # output events (mL)
    if "iserror" in oe.columns:
        err = oe["iserror"].fillna("").str.strip().isin(["1", "1.0"])
        summary["output_events_flagged_iserror"] = int(err.sum())
        oe = oe[~err]
    oe = oe.assign(stay_id=oe["icustay_id"].fillna("").str.replace(r"\.0+$", "", regex=True))
    oe = oe[oe["stay_id"].isin(t0.index)]
    chart = pd.to_datetime(oe["charttime"], errors="coerce")
    val = pd.to_numeric(oe["value"], errors="coerce")
    ok = chart.notna() & val.notna()
    summary["output_events_without_time_or_value"] = int((~ok).sum())
    oe, chart, val = oe[ok], chart[ok], val[ok]
    label = oe["itemid"].astype(str)
    if items is not None:
        names = items.drop_duplicates("itemid").set_index("itemid")["label"]
        label = label.map(names).fillna("item " + label).str.strip().str.lower()
    oe_time = (chart.to_numpy() - t0.reindex(oe["stay_id"]).to_numpy()) / np.timedelta64(1, "h")
    parts.append(pd.DataFrame({"stay_id": oe["stay_id"].to_numpy(), "time": oe_time,
                               "variable": "out:" + _top(label, top_outputs).to_numpy(),
                               "value": val.to_numpy()}))
    summary["output_events"] = int(len(oe))

    n_dx = dx.groupby("hadm_id").size()
    if diagnoses_as_events:
        d = dx.merge(keys, on="hadm_id", how="inner")
        chap = d["icd9_code"].fillna("").map(_icd9_chapter)
        counts = (pd.DataFrame({"stay_id": d["stay_id"], "variable": "dx:" + chap})
                  .groupby(["stay_id", "variable"]).size().rename("value").reset_index())
        parts.append(counts.assign(time=0.0)[["stay_id", "time", "variable", "value"]])
        summary["diagnosis_events"] = int(len(counts))

    events = pd.concat(parts, ignore_index=True)
    events["time"] = events["time"].round(4)
    # several prescriptions (or outputs of pooled items) at one time: one event, their sum
    events = events.groupby(["stay_id", "time", "variable"], as_index=False, sort=False)[
        "value"].sum(min_count=1)
    events = events.sort_values(["stay_id", "time", "variable"], kind="stable")
    cohort = pd.DataFrame({
        "stay_id": stays["stay_id"].to_numpy(),
        "subject_id": stays["subject_id"].to_numpy(),
        "hadm_id": stays["hadm_id"].to_numpy(),
        "in_hospital_death": pd.to_numeric(stays["hospital_expire_flag"]).astype(int)
        .to_numpy(),
        "first_careunit": stays["first_careunit"].to_numpy(),
        "los_days": pd.to_numeric(stays["los"], errors="coerce").round(3).to_numpy(),
        "n_diagnoses": stays["hadm_id"].map(n_dx).fillna(0).astype(int).to_numpy(),
    })
    out.mkdir(parents=True, exist_ok=True)
    write_table(events, out / "events.csv")
    write_table(cohort, out / "cohort.csv")
    summary.update(stays=int(len(cohort)), subjects=int(cohort["subject_id"].nunique()),
                   deaths=int(cohort["in_hospital_death"].sum()), events=int(len(events)),
                   variables=int(events["variable"].nunique()),
                   files=[str(out / "events.csv"), str(out / "cohort.csv")])
    return summary
