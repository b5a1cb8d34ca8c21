"""EHR event streams: long tables of (stay, time, variable, value) and PhysioNet 2012 stay files.

Real patient records are measurements at irregular times, not one row per patient. This module
reads them, checks them at the edge and turns them into what the models take:

* :func:`read_events` reads a long-format table (CSV, TSV or Parquet) or the PhysioNet/CinC
  Challenge 2012 per-stay files (a folder of ``<RecordID>.txt`` files, a ``.tar.xz`` /
  ``.tar.gz`` / ``.tar`` archive of them, or a folder of such archives) into one event table;
* :func:`clean_events` applies plausibility ranges, missing-value placeholders (``-1``), a list
  of known variables, merges duplicated time stamps and sorts unsorted times, and *counts*
  everything it changes (:class:`CleaningReport`): nothing is dropped silently;
* :func:`aggregate_events` computes per-stay features over time windows (first, last, min, max,
  mean, count, slope, sum, last_time; missing when a variable was not measured in a window);
* :func:`sequence_tensors` bins the events on a regular grid for GRU-D (values, masks and the
  time since each variable was last observed).

>>> import pandas as pd
>>> ev = pd.DataFrame({"stay": ["a", "a", "a"], "time": [0.0, 1.0, 2.0],
...                    "variable": ["HR", "HR", "HR"], "value": [80.0, 90.0, 100.0]})
>>> aggregate_events(ev, ["HR"], windows=[(0.0, 48.0)],
...                  aggregates=["mean", "slope", "count"]).round(2).to_dict("records")
[{'HR_mean': 90.0, 'HR_slope': 10.0, 'HR_count': 3.0}]
"""

from __future__ import annotations

import io
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthnn.errors import DataError, short

__all__ = [
    "AGGREGATES",
    "DEFAULT_AGGREGATES",
    "PHYSIONET2012_RANGES",
    "PHYSIONET2012_STATIC",
    "PHYSIONET2012_VARIABLES",
    "CleaningReport",
    "StayEvents",
    "aggregate_events",
    "clean_events",
    "feature_names",
    "parse_times",
    "read_events",
    "sequence_tensors",
]

AGGREGATES = ("first", "last", "min", "max", "mean", "count", "slope", "sum", "last_time")
# without [data] aggregates: the first seven ("sum" of values, e.g. urine output, and
# "last_time", the hour of the last measurement in the window, are asked for by name)
DEFAULT_AGGREGATES = AGGREGATES[:7]

# PhysioNet/CinC Challenge 2012: the 4 descriptors recorded at time 00:00 and the 37 time series
# (Weight is both: the admission weight at 00:00 and later measurements).
PHYSIONET2012_STATIC = ["Age", "Gender", "Height", "ICUType"]
PHYSIONET2012_SERIES = [
    "Albumin", "ALP", "ALT", "AST", "Bilirubin", "BUN", "Cholesterol", "Creatinine", "DiasABP",
    "FiO2", "GCS", "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "Mg", "MAP", "MechVent", "Na",
    "NIDiasABP", "NIMAP", "NISysABP", "PaCO2", "PaO2", "pH", "Platelets", "RespRate", "SaO2",
    "SysABP", "Temp", "TroponinI", "TroponinT", "Urine", "WBC", "Weight",
]
PHYSIONET2012_VARIABLES = PHYSIONET2012_STATIC + PHYSIONET2012_SERIES

# Plausible values (inclusive) in the challenge's units: wider than any real patient, so what
# falls outside is a recording error (0 blood pressure from a flushed line, pH 735, a
# temperature of -17.8 °C, a height of 13 cm), not an extreme patient.
PHYSIONET2012_RANGES: dict[str, tuple[float, float]] = {
    "Age": (0, 120), "Gender": (0, 1), "Height": (100, 250), "ICUType": (1, 4),
    "Weight": (20, 350), "Albumin": (0.5, 8), "ALP": (1, 5000), "ALT": (1, 20000),
    "AST": (1, 30000), "Bilirubin": (0, 70), "BUN": (0, 300), "Cholesterol": (10, 1000),
    "Creatinine": (0.05, 30), "DiasABP": (1, 300), "FiO2": (0.21, 1), "GCS": (3, 15),
    "Glucose": (5, 2500), "HCO3": (1, 70), "HCT": (5, 80), "HR": (1, 300), "K": (0.5, 15),
    "Lactate": (0.1, 40), "Mg": (0.2, 15), "MAP": (1, 300), "MechVent": (0, 1),
    "Na": (80, 200), "NIDiasABP": (1, 300), "NIMAP": (1, 300), "NISysABP": (1, 300),
    "PaCO2": (5, 200), "PaO2": (5, 800), "pH": (6.3, 8.0), "Platelets": (1, 2500),
    "RespRate": (0, 100), "SaO2": (20, 100), "SysABP": (1, 300), "Temp": (20, 45),
    "TroponinI": (0, 100), "TroponinT": (0, 50), "Urine": (0, 15000), "WBC": (0, 500),
}

_PHYSIONET_HEADER = "Time,Parameter,Value"
_STAY_FILE = re.compile(r"(?:^|/)(\d+)\.txt$")


@dataclass(frozen=True)
class StayEvents:
    """One stay's cleaned events (times in hours, variable names, values), in time order.

    Kept in the ``events`` column of a per-stay frame; prints as its number of events so a
    scored file shows the count, never the values.
    """

    time: np.ndarray
    variable: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    def __str__(self) -> str:
        return str(len(self.time))

    __repr__ = __str__


@dataclass
class CleaningReport:
    """Counts of everything :func:`clean_events` changed or left out."""

    events_in: int = 0
    events_out: int = 0
    unknown_variables: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    placeholders: dict[str, int] = field(default_factory=dict)
    non_numeric: int = 0
    first_non_numeric: str | None = None
    bad_time: int = 0
    first_bad_time: str | None = None
    outside_windows: int = 0
    duplicate_exact: int = 0
    duplicate_conflicting: int = 0
    unsorted_stays: int = 0
    unknown_hint: str = "add them to [data] variables to use them"

    def notes(self, file: str | Path) -> list[str]:
        """One plain sentence per kind of change (counts only, never values)."""
        f = str(file)
        out = []
        if self.unknown_variables:
            names = sorted(self.unknown_variables, key=lambda k: -self.unknown_variables[k])
            out.append(f"{f}: {sum(self.unknown_variables.values())} event(s) of "
                       f"{len(names)} unknown variable(s) left out: "
                       + ", ".join(f"{short(n, 30)} ({self.unknown_variables[n]})"
                                   for n in names[:10]) + (" ..." if len(names) > 10 else "")
                       + f" ({self.unknown_hint})")
        if self.placeholders:
            out.append(f"{f}: {sum(self.placeholders.values())} placeholder value(s) (e.g. -1) "
                       "set to missing: " + _counts(self.placeholders))
        if self.out_of_range:
            out.append(f"{f}: {sum(self.out_of_range.values())} out-of-range value(s) set to "
                       "missing: " + _counts(self.out_of_range)
                       + " (see [data] ranges)")
        if self.non_numeric:
            out.append(f"{f}: {self.non_numeric} event(s) with a non-numeric value left out "
                       f"(first: {self.first_non_numeric})")
        if self.bad_time:
            out.append(f"{f}: {self.bad_time} event(s) with a missing or unreadable time left "
                       f"out (first: {self.first_bad_time})")
        if self.outside_windows:
            out.append(f"{f}: {self.outside_windows} event(s) outside the [data] windows "
                       "not used")
        if self.duplicate_exact or self.duplicate_conflicting:
            out.append(f"{f}: duplicated time stamps (same stay, time and variable): "
                       f"{self.duplicate_exact} exact repeat(s) dropped, "
                       f"{self.duplicate_conflicting} group(s) with different values averaged")
        if self.unsorted_stays:
            out.append(f"{f}: {self.unsorted_stays} stay(s) had events out of time order "
                       "(sorted by time)")
        return out

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _counts(d: dict[str, int], limit: int = 12) -> str:
    items = sorted(d.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in items[:limit]) + (" ..." if len(items) > limit else "")


# -- reading -------------------------------------------------------------------------------------
def parse_times(raw: pd.Series, stays: pd.Series, *, unit: str = "hours") -> np.ndarray:
    """Event times in hours. Numbers are read in ``unit`` (hours, minutes, days); ``HH:MM``
    text is hours and minutes since the stay began (as in PhysioNet 2012, hours may pass 24);
    dates and times become hours since the stay's first event. Unreadable cells are NaN.

    >>> parse_times(pd.Series(["00:00", "36:30"]), pd.Series(["a", "a"])).tolist()
    [0.0, 36.5]
    """
    scale = {"hours": 1.0, "minutes": 1 / 60, "days": 24.0}[unit]
    if pd.api.types.is_numeric_dtype(raw):
        return raw.to_numpy(dtype=np.float64) * scale
    if pd.api.types.is_datetime64_any_dtype(raw):
        stamps = raw
    else:
        text = raw.astype("string").str.strip()
        num = pd.to_numeric(text, errors="coerce")
        hm = text.str.extract(r"^(-?\d+):(\d{1,2})$")
        present = text.notna() & (text != "")
        n_present = int(present.sum())
        if n_present == 0 or num.notna().sum() >= 0.5 * n_present:
            return num.to_numpy(dtype=np.float64) * scale
        if hm[0].notna().sum() >= 0.5 * n_present:
            h = pd.to_numeric(hm[0], errors="coerce")
            m = pd.to_numeric(hm[1], errors="coerce")
            sign = np.where(text.str.startswith("-").fillna(False).to_numpy(), -1.0, 1.0)
            return (h.abs().to_numpy(dtype=np.float64) + m.to_numpy(dtype=np.float64) / 60) * sign
        stamps = pd.to_datetime(text, errors="coerce", format="mixed")
    start = stamps.groupby(stays.to_numpy()).transform("min")
    return ((stamps - start).dt.total_seconds() / 3600.0).to_numpy(dtype=np.float64)


def read_events(
    path: str | Path,
    *,
    format: str = "auto",
    id: str | None = None,
    time: str | None = None,
    variable: str | None = None,
    value: str | None = None,
    time_unit: str = "hours",
) -> tuple[pd.DataFrame, str]:
    """Read events into a table with columns ``stay`` (text), ``time`` (hours, float),
    ``variable`` (text), ``value`` (float or NaN), ``raw`` (the value cell as text, for
    messages) and ``where`` (file and row of each event, for messages); returns it with the
    resolved format (``"long"`` or ``"physionet2012"``).
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file or folder not found", file=str(path),
                        hint="check [data] train / test in the config")
    fmt = _detect_format(path) if format == "auto" else format
    if fmt == "physionet2012":
        ev = _read_physionet(path)
    else:
        ev = _read_long(path, id or "stay_id", time or "time", variable or "variable",
                        value or "value", time_unit)
    return ev, fmt


def _detect_format(path: Path) -> str:
    if path.is_dir() or path.name.endswith((".tar", ".tar.gz", ".tgz", ".tar.xz")):
        return "physionet2012"
    if path.suffix.lower() == ".txt":
        with open(path, "rb") as f:
            if f.readline().decode("utf-8", "replace").strip() == _PHYSIONET_HEADER:
                return "physionet2012"
    return "long"


def _read_long(path: Path, id_col: str, time_col: str, var_col: str, value_col: str,
               time_unit: str) -> pd.DataFrame:
    from healthnn.data.tables import read_table, require_columns

    df = read_table(path)
    require_columns(df, [id_col, time_col, var_col, value_col], path)
    stays = df[id_col].astype("string").str.strip()
    missing_id = stays.isna() | (stays == "")
    if missing_id.any():
        pos = int(np.flatnonzero(missing_id.to_numpy())[0])
        raise DataError(f"{int(missing_id.sum())} event(s) have no stay id",
                        file=str(path), row=pos + 1, column=id_col,
                        hint="every event needs the id of its stay (or patient)")
    stays = stays.str.replace(r"\.0+$", "", regex=True)  # 12 and 12.0 are the same stay
    out = pd.DataFrame({
        "stay": stays.to_numpy(dtype=object),
        "time": parse_times(df[time_col], stays, unit=time_unit),
        "variable": df[var_col].astype("string").str.strip().fillna("").to_numpy(dtype=object),
    })
    _set_values(out, df[value_col])
    out["src"] = 0
    out["line"] = np.arange(1, len(df) + 1)
    out.attrs.update(sources=[path.name], where="row")
    return out


def _set_values(out: pd.DataFrame, raw: pd.Series) -> None:
    """``value`` (float) and, only when some cell is not a number, ``raw`` (text)."""
    if pd.api.types.is_numeric_dtype(raw):
        out["value"] = raw.to_numpy(dtype=np.float64)
        return
    text = raw.astype("string").str.strip()
    out["value"] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    out["raw"] = text.fillna("").to_numpy(dtype=object)


def where(ev: pd.DataFrame, i: int) -> str:
    """'file line N' (or 'row N') of the ``i``-th event of ``ev``, for messages."""
    sources = ev.attrs.get("sources") or ["<events>"]
    return (f"{sources[int(ev['src'].iloc[i])]} {ev.attrs.get('where', 'row')} "
            f"{int(ev['line'].iloc[i])}")


def _physionet_members(path: Path):
    """(name, text) of every stay file under ``path`` (folder, archive, folder of archives)."""
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if f.is_dir():
                yield from _physionet_members(f)
            elif _STAY_FILE.search(f.name):
                yield f.name, f.read_bytes()
            elif f.name.endswith((".tar", ".tar.gz", ".tgz", ".tar.xz")):
                yield from _physionet_members(f)
        return
    if _STAY_FILE.search(path.name) and not tarfile.is_tarfile(path):
        yield path.name, path.read_bytes()
        return
    try:
        with tarfile.open(path) as tar:  # compression detected from the file itself
            for m in tar:
                if m.isfile() and _STAY_FILE.search(m.name):
                    fh = tar.extractfile(m)
                    if fh is not None:
                        yield m.name, fh.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"cannot read the archive: {exc}", file=str(path),
                        hint="expected a .tar, .tar.gz or .tar.xz of PhysioNet 2012 stay "
                        "files") from None


_HHMM = re.compile(r"^(\d+):(\d+),", re.M)
_NOT_SPLIT = re.compile(r"^(?!\d+,\d+,)[^,\n]*,", re.M)


def _read_physionet(path: Path) -> pd.DataFrame:
    """PhysioNet 2012 stay files: a header ``Time,Parameter,Value``, then ``HH:MM,name,value``;
    the ``RecordID`` line names the stay (the file name does when it is missing)."""
    from tqdm.auto import tqdm

    chunks, names = [], []
    files = tqdm(_physionet_members(path), desc="reading stay files", unit=" files",
                 disable=None, leave=False)  # shown on a terminal only
    for name, data in files:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError("not UTF-8 text", file=f"{path}:{name}") from None
        text = text.replace("\r\n", "\n").strip("\n")
        head, _, body = text.partition("\n")
        if head.strip() != _PHYSIONET_HEADER:
            raise DataError(f"expected the header {_PHYSIONET_HEADER!r}",
                            file=f"{path}:{name}", row=0,
                            hint="a PhysioNet 2012 stay file; for other data use a long table")
        k = len(names)
        names.append(name)
        if not body.strip():
            continue
        # HH:MM -> HH,MM (an unreadable time becomes two empty fields)
        body = _NOT_SPLIT.sub(",,", _HHMM.sub(r"\1,\2,", body))
        chunks.append(f"{k}," + body.replace("\n", f"\n{k},") + "\n")
    if not names:
        raise DataError("no PhysioNet 2012 stay files (<RecordID>.txt) found", file=str(path),
                        hint="point [data] train at the folder or .tar.xz of set-a")
    if chunks:
        df = pd.read_csv(io.StringIO("".join(chunks)), header=None,
                         names=["src", "hh", "mm", "variable", "raw"],
                         dtype={"src": np.int64, "variable": str}, skip_blank_lines=False,
                         skipinitialspace=True)
    else:
        df = pd.DataFrame({"src": np.zeros(0, np.int64), "hh": [], "mm": [], "variable": [],
                           "raw": []})
    df["line"] = df.groupby("src").cumcount().to_numpy() + 2
    df["variable"] = df["variable"].fillna("").astype(str)
    # RecordID lines name the stay; they are not measurements
    stays = np.array([_STAY_FILE.search(n).group(1) for n in names], dtype=object)
    rid = df[df["variable"] == "RecordID"].drop_duplicates("src")
    for f, v in zip(rid["src"].to_numpy(), rid["raw"].astype(str)):
        v = v.strip()
        stays[f] = v[:-2] if v.endswith(".0") else v
    df = df[df["variable"] != "RecordID"].reset_index(drop=True)
    hh = pd.to_numeric(df["hh"], errors="coerce").to_numpy(dtype=np.float64)
    mm = pd.to_numeric(df["mm"], errors="coerce").to_numpy(dtype=np.float64)
    out = pd.DataFrame({"stay": stays[df["src"].to_numpy()], "time": hh + mm / 60.0,
                        "variable": df["variable"].to_numpy(dtype=object)})
    _set_values(out, df["raw"])
    out["src"] = df["src"].to_numpy()
    out["line"] = df["line"].to_numpy()
    # stays whose file holds nothing but the RecordID line still exist (with no events)
    out.attrs.update(sources=names, where="line", stays=list(dict.fromkeys(stays.tolist())))
    return out


# -- cleaning ------------------------------------------------------------------------------------
def clean_events(
    ev: pd.DataFrame,
    *,
    ranges: dict[str, tuple[float, float]] | None = None,
    missing_values: list[float] | None = None,
    variables: list[str] | None = None,
    windows: list[tuple[float, float]] | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Check events and return (clean events sorted by stay and time, what was changed).

    * events of variables not in ``variables`` (when given) are left out and counted by name;
    * a value equal to one of ``missing_values`` (a placeholder such as ``-1``) and a value
      outside its variable's ``ranges`` are set to missing: the event is removed, counted per
      variable;
    * non-numeric values and missing or unreadable times are left out and counted (the first
      one is named by file and row);
    * events outside every window are not used (counted);
    * several events of the same stay, time and variable: exact repeats are dropped, different
      values are averaged (both counted);
    * stays whose events were not in time order are sorted (counted).
    """
    rep = CleaningReport(events_in=len(ev))
    attrs = dict(ev.attrs)
    ev = ev.copy()
    ev.attrs.update(attrs)
    if variables is not None:
        unknown = ~ev["variable"].isin(set(variables))
        if unknown.any():
            rep.unknown_variables = {str(k): int(v) for k, v in
                                     ev.loc[unknown, "variable"].value_counts().items()}
            ev = ev[~unknown]
    bad_time = ~np.isfinite(ev["time"].to_numpy(dtype=np.float64))
    if bad_time.any():
        rep.bad_time = int(bad_time.sum())
        rep.first_bad_time = where(ev, int(np.flatnonzero(bad_time)[0]))
        ev = ev[~bad_time]
    values = ev["value"].to_numpy(dtype=np.float64)
    if "raw" in ev:
        raw = ev["raw"].to_numpy(dtype=object)
        non_num = np.isnan(values) & np.array([str(r).strip() not in ("", "nan", "NaN", "<NA>")
                                               for r in raw], dtype=bool)
        if non_num.any():
            rep.non_numeric = int(non_num.sum())
            first = int(np.flatnonzero(non_num)[0])
            rep.first_non_numeric = f"{where(ev, first)}, {short(raw[first])}"
        ev = ev.drop(columns="raw")
    drop = np.isnan(values)  # empty values carry no measurement; non-numeric counted above
    if missing_values:
        placeholder = np.isin(values, np.asarray(missing_values, dtype=np.float64)) & ~drop
        if placeholder.any():
            rep.placeholders = {str(k): int(v) for k, v in
                                pd.Series(ev["variable"].to_numpy()[placeholder])
                                .value_counts().items()}
        drop |= placeholder
    var = ev["variable"].to_numpy()
    out = ~drop & ~(np.abs(values) <= np.finfo(np.float32).max)  # inf, 1e40: always out
    if ranges:
        lo = np.array([ranges.get(v, (-np.inf, np.inf))[0] for v in var], dtype=np.float64)
        hi = np.array([ranges.get(v, (-np.inf, np.inf))[1] for v in var], dtype=np.float64)
        out |= ~drop & ((values < lo) | (values > hi))
    if out.any():
        rep.out_of_range = {str(k): int(v) for k, v in
                            pd.Series(var[out]).value_counts().items()}
        drop |= out
    ev = ev[~drop]
    if windows:
        t = ev["time"].to_numpy()
        inside = np.zeros(len(ev), dtype=bool)
        for a, b in windows:
            inside |= (t >= a) & (t <= b)
        rep.outside_windows = int((~inside).sum())
        ev = ev[inside]
    # unsorted times: a stay whose times go backwards in file order
    t = ev["time"].to_numpy()
    s = ev["stay"].to_numpy()
    if len(ev) > 1:
        back = (t[1:] < t[:-1]) & (s[1:] == s[:-1])
        rep.unsorted_stays = int(pd.unique(s[1:][back]).size)
    ev = ev.sort_values(["stay", "time"], kind="stable")
    # duplicated time stamps
    key = ["stay", "time", "variable"]
    dup = ev.duplicated(key, keep=False)
    if dup.any():
        d = ev[dup]
        exact = d.duplicated([*key, "value"], keep="first")
        rep.duplicate_exact = int(exact.sum())
        d = d[~exact]
        conflicting = d.groupby(key, sort=False)["value"].transform("size") > 1
        rep.duplicate_conflicting = int(d[conflicting].groupby(key, sort=False).ngroups)
        merged = d.groupby(key, sort=False, as_index=False).agg(
            value=("value", "mean"), src=("src", "first"), line=("line", "first"))
        ev = pd.concat([ev[~dup], merged], ignore_index=True)
        ev = ev.sort_values(["stay", "time"], kind="stable")
    ev = ev.reset_index(drop=True)
    ev.attrs.update(attrs)
    rep.events_out = len(ev)
    return ev, rep


# -- per-stay features ---------------------------------------------------------------------------
def _window_suffix(window: tuple[float, float], n_windows: int) -> str:
    if n_windows == 1:
        return ""
    a, b = window
    return f"@{a:g}-{b:g}h"


def feature_names(variables: list[str], windows: list[tuple[float, float]],
                  aggregates: list[str]) -> list[str]:
    """Column names of :func:`aggregate_events`: ``<variable>_<aggregate>[@<a>-<b>h]``."""
    return [f"{v}_{a}{_window_suffix(w, len(windows))}"
            for w in windows for v in variables for a in aggregates]


def aggregate_events(ev: pd.DataFrame, variables: list[str], *,
                     windows: list[tuple[float, float]], aggregates: list[str],
                     stays: list[str] | None = None) -> pd.DataFrame:
    """Per-stay aggregates of each variable in each window (``a <= time <= b`` hours).

    Rows are ``stays`` (default: the stays of ``ev`` in order of appearance), columns are
    :func:`feature_names`. A variable not measured in a window gives missing values (count 0);
    slope (change per hour, least squares) needs two different times. ``ev`` must be sorted
    by stay and time (as :func:`clean_events` returns it).
    """
    stays = list(dict.fromkeys(ev["stay"].tolist())) if stays is None else list(stays)
    ev = ev[ev["variable"].isin(set(variables))]
    parts = []
    for w in windows:
        a, b = w
        e = ev[(ev["time"] >= a) & (ev["time"] <= b)]
        suffix = _window_suffix(w, len(windows))
        g = e.groupby(["stay", "variable"], sort=False)
        stats = {}
        if "first" in aggregates:
            stats["first"] = g["value"].first()
        if "last" in aggregates:
            stats["last"] = g["value"].last()
        if "min" in aggregates:
            stats["min"] = g["value"].min()
        if "max" in aggregates:
            stats["max"] = g["value"].max()
        if "mean" in aggregates:
            stats["mean"] = g["value"].mean()
        if "count" in aggregates:
            stats["count"] = g["value"].size().astype(np.float64)
        if "sum" in aggregates:
            stats["sum"] = g["value"].sum()
        if "last_time" in aggregates:
            stats["last_time"] = g["time"].last()
        if "slope" in aggregates:
            t = e["time"] - g["time"].transform("mean")
            v = e["value"] - g["value"].transform("mean")
            tmp = pd.DataFrame({"stay": e["stay"], "variable": e["variable"],
                                "tv": t * v, "tt": t * t})
            sums = tmp.groupby(["stay", "variable"], sort=False)[["tv", "tt"]].sum()
            tt = sums["tt"].where(sums["tt"] > 1e-12)
            stats["slope"] = sums["tv"] / tt
        for agg in aggregates:
            wide = stats[agg].unstack("variable").reindex(index=stays, columns=variables)
            if agg == "count":
                wide = wide.fillna(0.0)
            wide.columns = [f"{v}_{agg}{suffix}" for v in wide.columns]
            parts.append(wide)
    out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=stays)
    out = out[feature_names(variables, windows, aggregates)]
    return out.reset_index(drop=True).astype(np.float64)


def static_values(ev: pd.DataFrame, static: list[str], stays: list[str]) -> pd.DataFrame:
    """The first value of each static variable (age, sex, height...) per stay."""
    e = ev[ev["variable"].isin(set(static))]
    first = e.groupby(["stay", "variable"], sort=False)["value"].first().unstack("variable")
    return first.reindex(index=stays, columns=static).reset_index(drop=True).astype(np.float64)


def split_by_stay(ev: pd.DataFrame, series: list[str], stays: list[str]) -> list[StayEvents]:
    """Each stay's time-series events (``series`` variables only) as :class:`StayEvents`."""
    e = ev[ev["variable"].isin(set(series))]
    index = {s: i for i, s in enumerate(stays)}
    out: list[StayEvents] = [StayEvents(np.zeros(0), np.zeros(0, dtype=object), np.zeros(0))
                             for _ in stays]
    if len(e) == 0:
        return out
    s = e["stay"].to_numpy()
    t = e["time"].to_numpy(dtype=np.float64)
    v = e["variable"].to_numpy(dtype=object)
    x = e["value"].to_numpy(dtype=np.float64)
    bounds = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        i = index.get(s[a])
        if i is not None:
            out[i] = StayEvents(t[a:b], v[a:b], x[a:b])
    return out


# -- sequences for GRU-D -------------------------------------------------------------------------
def sequence_tensors(stays: list[StayEvents], variables: list[str], *, start: float, end: float,
                     resolution: float, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Regular-grid inputs for GRU-D, shape ``(n_stays, n_steps, 4 * n_variables)``.

    Channels per step: standardised values (0 where not observed), the observation mask, the
    hours since each variable was last observed (GRU-D's delta; at most ``end - start``) and the
    last observed standardised value (0 = the training mean before the first observation).
    Several observations in one step are averaged.
    """
    n_steps = max(1, int(np.ceil((end - start) / resolution)))
    V = len(variables)
    col = {v: i for i, v in enumerate(variables)}
    x = np.zeros((len(stays), n_steps, V), dtype=np.float64)
    m = np.zeros((len(stays), n_steps, V), dtype=np.float64)
    for i, st in enumerate(stays):
        if len(st) == 0:
            continue
        c = np.array([col.get(v, -1) for v in st.variable], dtype=np.int64)
        k = np.clip(((st.time - start) // resolution).astype(np.int64), 0, n_steps - 1)
        ok = (c >= 0) & (st.time >= start) & (st.time <= end) & np.isfinite(st.value)
        if not ok.any():
            continue
        c, k, val = c[ok], k[ok], (st.value[ok] - mean[c[ok]]) / std[c[ok]]
        np.add.at(x[i], (k, c), val)
        np.add.at(m[i], (k, c), 1.0)
    obs = m > 0
    x = np.where(obs, x / np.maximum(m, 1), 0.0)
    m = obs.astype(np.float64)
    delta = np.zeros_like(x)
    last = np.zeros_like(x)
    cap = end - start
    for t in range(1, n_steps):
        delta[:, t] = np.where(m[:, t - 1] > 0, resolution,
                               np.minimum(delta[:, t - 1] + resolution, cap))
    for t in range(n_steps):
        prev = last[:, t - 1] if t else np.zeros_like(x[:, 0])
        last[:, t] = np.where(m[:, t] > 0, x[:, t], prev)
    return np.concatenate([x, m, delta, last], axis=2).astype(np.float32)
