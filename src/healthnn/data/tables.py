"""Reading and writing patient tables (CSV, TSV, Parquet), with errors that name the file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthnn.data.limits import TooLargeError
from healthnn.errors import DataError, short

__all__ = [
    "read_table",
    "write_table",
    "require_columns",
    "fingerprint",
    "fingerprint_files",
    "numeric_column",
    "check_parquet",
    "keep_blank_rows",
]

_CSV = {".csv", ".txt"}
_TSV = {".tsv", ".tab"}
_PARQUET = {".parquet", ".pq"}


def read_table(path: str | Path, *, as_text: bool = False, max_rows: int | None = None,
               max_unpacked_bytes: int | None = None) -> pd.DataFrame:
    """Read a CSV, TSV (optionally ``.gz``) or Parquet file into a DataFrame.

    ``as_text=True`` keeps CSV cells as strings (empty cells as missing), so a file written
    back out keeps its values exactly as they were. Every row of the file is a row of the
    frame, blank ones included (as missing cells): a batch job must not lose a row.

    ``max_rows`` and ``max_unpacked_bytes`` (default: :func:`~healthnn.data.limits.current_limits`)
    bound what the file may hold: a Parquet file's row count and unpacked size are checked
    from its metadata before any data is read, a ``.gz`` file is unpacked with the bound, and
    a CSV is read up to one row past ``max_rows``; over a limit is a
    :class:`~healthnn.data.limits.TooLargeError`.

    Raises :class:`DataError` for a missing, empty, unreadable or unsupported file.
    """
    from healthnn.data.limits import current_limits, gzip_size

    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=str(path), hint="check the path in the config")
    if path.is_dir():
        raise DataError("is a folder, expected a CSV or Parquet file", file=str(path))
    name = path.name.lower()
    gz = name.endswith(".gz")
    suffix = Path(name[:-3]).suffix if gz else path.suffix.lower()
    if path.stat().st_size == 0:
        raise DataError("file is empty", file=str(path))
    lim = current_limits()
    max_rows = lim.max_rows if max_rows is None else max_rows
    max_bytes = lim.max_unpacked_bytes if max_unpacked_bytes is None else max_unpacked_bytes
    try:
        if suffix in _PARQUET and not gz:
            check_parquet(path, max_rows=max_rows, max_unpacked_bytes=max_bytes)
            df = pd.read_parquet(path)
        elif suffix in _CSV or suffix in _TSV:
            if gz:
                gzip_size(path, max_bytes)
            df = pd.read_csv(path, sep="\t" if suffix in _TSV else ",", low_memory=False,
                             dtype=str if as_text else None, skip_blank_lines=False,
                             nrows=None if max_rows is None else max_rows + 1)
            df = keep_blank_rows(df, _file_tail(path))
        else:
            raise DataError(
                f"unsupported file type '{suffix or path.suffix}'",
                file=str(path),
                hint="use .csv, .tsv or .parquet (.csv.gz and .tsv.gz are read too)",
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
    if max_rows is not None and len(df) > max_rows:
        raise TooLargeError(f"the file has more than {max_rows} rows", file=str(path),
                            hint="split it, or raise max_rows")
    if len(df) == 0:
        raise DataError("file has a header but no rows", file=str(path))
    return tidy_columns(df, path)


def _file_tail(path: Path) -> str:
    """The last 4 KB of a file (unpacked for ``.gz``), enough to count its final empty lines."""
    if path.name.lower().endswith(".gz"):
        import gzip

        tail = b""
        with gzip.open(path, "rb") as g:  # already checked to unpack within the limit
            for block in iter(lambda: g.read(1 << 20), b""):
                tail = (tail + block)[-4096:]
    else:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            tail = f.read()
    return tail.decode("latin-1")


def keep_blank_rows(df: pd.DataFrame, tail: str) -> pd.DataFrame:
    """A frame read with ``skip_blank_lines=False``, less the empty lines after the last row
    (left by an editor); ``tail`` is the end of the file's text. A line holding only blanks
    (a note of spaces in a one-column file) stays a row, as it would in a file with more
    columns, so that rows in == rows out.

    >>> import io
    >>> text = "note\\nhello\\n   \\nbye\\n\\n"
    >>> df = pd.read_csv(io.StringIO(text), dtype=str, skip_blank_lines=False)
    >>> keep_blank_rows(df, text)["note"].tolist()
    ['hello', '   ', 'bye']
    """
    if len(df) == 0 or not df.iloc[-1].isna().all():
        return df
    tail = tail.replace("\r", "")
    empty_lines = len(tail) - len(tail.rstrip("\n")) - 1
    filled = np.flatnonzero(df.notna().any(axis=1).to_numpy())
    trailing = len(df) - (int(filled[-1]) + 1 if len(filled) else 0)
    drop = max(0, min(empty_lines, trailing))
    return df.iloc[:len(df) - drop] if drop else df


def check_parquet(path: str | Path, *, max_rows: int | None, max_unpacked_bytes: int) -> None:
    """Refuse a Parquet file whose metadata declares more than ``max_rows`` rows, or whose
    columns would take more than ``max_unpacked_bytes`` once read (the larger of the
    uncompressed page sizes and 8 bytes a value, 57 for text: a 9 KB zstd file of repeated
    strings is 442 MB in pandas). Nothing but the footer is read."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises many types for a broken file
        raise DataError(f"cannot read Parquet ({type(exc).__name__})", file=str(path),
                        hint="re-export the file") from None
    rows = int(meta.num_rows)
    if max_rows is not None and rows > max_rows:
        raise TooLargeError(f"the file has {rows} rows, more than the limit of {max_rows}",
                            file=str(path), hint="split it, or raise max_rows")
    schema = meta.schema
    per_row = sum(57 if schema.column(i).physical_type in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY")
                  else 8 for i in range(meta.num_columns))
    pages = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
    size = max(rows * per_row, pages)
    if size > max_unpacked_bytes:
        raise TooLargeError(f"Parquet data unpacks to at least {size / 2**20:.0f} MB "
                            f"({rows} rows, {meta.num_columns} columns), more than "
                            f"{max_unpacked_bytes / 2**20:.0f} MB", file=str(path),
                            hint="split it, or raise max_unpacked_bytes")


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
    """Parse a column (a target) as float, raising a :class:`DataError` at the first cell that
    is not a number, is infinite or is beyond the float32 range (3.4e38, where a model's
    target becomes infinite). A boolean column reads as 0/1 (a yes/no property).

    Missing cells (empty, NaN) become NaN; the caller decides whether that is allowed.
    """
    values = pd.to_numeric(series, errors="coerce")
    bad = (values.isna() & series.notna() & (series.astype(str).str.strip() != "")).to_numpy()
    arr = values.to_numpy(dtype=np.float64)
    huge = ~np.isnan(arr) & ~(np.abs(arr) <= float(np.finfo(np.float32).max))
    first = np.flatnonzero(bad | huge)
    if len(first):
        pos = int(first[0])
        got = ("an infinite value" if np.isinf(arr[pos])
               else "a value beyond the float32 range (3.4e38)" if huge[pos]
               else short(series.iloc[pos]))
        raise DataError(f"expected {what}, got {got}", file=str(file), row=pos + 1,
                        column=column)
    return arr


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
