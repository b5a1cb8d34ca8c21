"""Reading and writing patient tables (CSV, TSV, Parquet), with errors that name the file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthnn.errors import DataError, short

__all__ = [
    "read_table",
    "write_table",
    "require_columns",
    "fingerprint",
    "fingerprint_files",
    "numeric_column",
]

_CSV = {".csv", ".txt"}
_TSV = {".tsv", ".tab"}
_PARQUET = {".parquet", ".pq"}


def read_table(path: str | Path, *, as_text: bool = False) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file into a DataFrame.

    ``as_text=True`` keeps CSV cells as strings (empty cells as missing), so a file written
    back out keeps its values exactly as they were.

    Raises :class:`DataError` for a missing, empty, unreadable or unsupported file.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=str(path), hint="check the path in the config")
    if path.is_dir():
        raise DataError("is a folder, expected a CSV or Parquet file", file=str(path))
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise DataError("file is empty", file=str(path))
    try:
        if suffix in _PARQUET:
            df = pd.read_parquet(path)
        elif suffix in _CSV or suffix in _TSV:
            df = pd.read_csv(path, sep="\t" if suffix in _TSV else ",", low_memory=False,
                             dtype=str if as_text else None)
        else:
            raise DataError(
                f"unsupported file type '{suffix}'",
                file=str(path),
                hint="use .csv, .tsv or .parquet",
            )
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError("file has no header or rows", file=str(path)) from None
    except pd.errors.ParserError as exc:
        raise DataError(f"cannot parse as CSV: {exc}", file=str(path)) from None
    except UnicodeDecodeError:
        raise DataError("not UTF-8 text", file=str(path), hint="save the file as UTF-8") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from None
    if len(df) == 0:
        raise DataError("file has a header but no rows", file=str(path))
    return tidy_columns(df, path)


def tidy_columns(df: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Column names as stripped strings; a name that occurs twice is an error naming the file."""
    df.columns = [str(c).strip() for c in df.columns]
    dup = df.columns[df.columns.duplicated()].tolist()
    if dup:
        raise DataError(f"duplicate column name(s): {', '.join(dup)}", file=str(path))
    return df


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write a DataFrame as CSV or Parquet, chosen by the file's extension.

    The file appears complete or not at all (:func:`healthnn.io.atomic_path`): an
    interrupted write leaves a previous file of that name untouched.
    """
    from healthnn.io import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _PARQUET | _CSV | _TSV:
        raise DataError(
            f"unsupported output type '{suffix}'", file=str(path), hint="use .csv or .parquet"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if suffix in _PARQUET:
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False, sep="\t" if suffix in _TSV else ",")


def require_columns(df: pd.DataFrame, columns: Iterable[str], file: str | Path) -> None:
    """Raise a :class:`DataError` naming every column that ``df`` lacks (all at once, each
    with a did-you-mean suggestion when a close name exists).

    >>> frame = pd.DataFrame({"age": [1], "sex": ["f"]})
    >>> require_columns(frame, ["age", "sexx", "bmi"], "x.csv")
    Traceback (most recent call last):
    ...
    healthnn.errors.DataError: x.csv: column not found (2 columns): 'sexx', 'bmi' (did you mean 'sex' for 'sexx'?; the file has: age, sex)
    """
    import difflib

    have = [str(c) for c in df.columns]
    missing = [c for c in dict.fromkeys(columns) if c not in df.columns]
    if not missing:
        return
    close = {c: difflib.get_close_matches(c, have, n=1) for c in missing}
    listing = (f"the file has: {', '.join(have[:12])}" + (" ..." if len(have) > 12 else ""))
    if len(missing) == 1:
        col = missing[0]
        hint = f"did you mean '{close[col][0]}'?" if close[col] else listing
        raise DataError("column not found", file=str(file), column=col, hint=hint)
    means = [f"'{m[0]}' for '{c}'" for c, m in close.items() if m]
    hint = "; ".join(([f"did you mean {', '.join(means)}?"] if means else []) + [listing])
    raise DataError(f"column not found ({len(missing)} columns): "
                    + ", ".join(f"'{c}'" for c in missing), file=str(file), hint=hint)


def numeric_column(
    series: pd.Series, *, file: str | Path, column: str, what: str = "a number"
) -> np.ndarray:
    """Parse a column as float, raising a :class:`DataError` at the first non-numeric cell.

    Missing cells (empty, NaN) become NaN; the caller decides whether that is allowed.
    """
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna() & (series.astype(str).str.strip() != "")
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"expected {what}, got {short(series.iloc[pos])}",
            file=str(file),
            row=pos + 1,
            column=column,
        )
    return values.to_numpy(dtype=np.float64)


def fingerprint_files(files: list[Path], base: Path) -> dict[str, Any]:
    """The sha256 over distinct ``files`` (name relative to ``base`` and each file's sha256, in
    name order), with how many were hashed and how many do not exist."""
    h = hashlib.sha256()
    unique = sorted({Path(f) for f in files})
    missing = 0
    for f in unique:
        if not f.is_file():
            missing += 1
            continue
        try:
            name = f.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            name = f.as_posix()
        h.update(name.encode() + b"\0" + fingerprint(f).encode())
    return {"files": len(unique) - missing, "missing": missing, "sha256": h.hexdigest()}


def fingerprint(path: str | Path) -> str:
    """The sha256 of a file's bytes, hex encoded: identifies exactly which data trained a model.

    For a folder (of images, say): the hash of every file's relative path and bytes, in order.
    """
    h = hashlib.sha256()
    path = Path(path)
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
            h.update(fingerprint(f).encode())
        return h.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
