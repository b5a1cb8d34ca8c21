"""Reading documents (notes, abstracts) from CSV, TSV, Parquet, JSONL or .txt files.

Invalid UTF-8 bytes do not stop a run: they are replaced by U+FFFD and the rows that had them
are listed in the returned notes. Nothing here logs text.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from healthnn.data.limits import current_limits
from healthnn.data.tables import check_parquet, keep_blank_rows
from healthnn.errors import DataError

__all__ = ["read_documents", "text_values", "DOCUMENT_SUFFIXES"]

DOCUMENT_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".txt")
_SHOW = 5


def _rows(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_SHOW])
    return shown + (f" and {len(rows) - _SHOW} more" if len(rows) > _SHOW else "")


def read_documents(path: str | Path, *, text_column: str = "text",
                   as_text: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """A table of documents and notes about problems found while reading.

    * ``.csv`` / ``.tsv`` / ``.parquet``: one document per row;
    * ``.jsonl`` (one JSON object per line) or ``.json`` (a list of objects, or an object of
      objects keyed by id such as PubMedQA's, whose keys become an ``id`` column);
    * ``.txt``: the whole file is one document (column ``text_column``); a folder of ``.txt``
      files is one document per file with an ``id`` column holding the file name.

    ``as_text=True`` keeps CSV cells as strings. Rows with invalid UTF-8 are kept, the bad
    bytes replaced by U+FFFD, and named in the notes.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=str(path), hint="check the path")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise DataError("no .txt files in this folder", file=str(path),
                            hint="give a CSV, Parquet or JSONL file, or a folder of .txt files")
        texts, bad = [], []
        for i, f in enumerate(files):
            raw = f.read_bytes()
            text, ok = _decode(raw)
            texts.append(text)
            if not ok:
                bad.append(i + 1)
        df = pd.DataFrame({"id": [f.relative_to(path).as_posix() for f in files],
                           text_column: texts})
        return df, _bad_notes(path, bad)
    if path.stat().st_size == 0:
        raise DataError("file is empty", file=str(path))
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        lim = current_limits()  # rows and unpacked size from the footer, before reading
        check_parquet(path, max_rows=lim.max_rows, max_unpacked_bytes=lim.max_unpacked_bytes)
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a broken file
            raise DataError(f"cannot read Parquet ({type(exc).__name__})", file=str(path)) from None
        notes: list[str] = []
    elif suffix in (".csv", ".tsv", ".tab"):
        text, ok = _decode(path.read_bytes())
        try:
            df = pd.read_csv(io.StringIO(text), sep="\t" if suffix != ".csv" else ",",
                             dtype=str if as_text else None, keep_default_na=True,
                             skip_blank_lines=False)  # a note of blanks is a row
            df = keep_blank_rows(df, text[-4096:])
        except pd.errors.EmptyDataError:
            raise DataError("file has no header or rows", file=str(path)) from None
        except pd.errors.ParserError as exc:
            raise DataError(f"cannot parse as CSV: {exc}", file=str(path)) from None
        notes = [] if ok else _bad_notes(path, _replacement_rows(df))
    elif suffix in (".jsonl", ".ndjson"):
        df, notes = _read_jsonl(path)
    elif suffix == ".json":
        df, notes = _read_json(path)
    elif suffix == ".txt":
        text, ok = _decode(path.read_bytes())
        df = pd.DataFrame({"id": [path.name], text_column: [text]})
        notes = [] if ok else _bad_notes(path, [1])
    else:
        raise DataError(f"unsupported file type '{suffix}'", file=str(path),
                        hint="use .csv, .tsv, .parquet, .jsonl, .json, .txt or a folder of .txt")
    if len(df) == 0:
        raise DataError("no rows", file=str(path))
    from healthnn.data.tables import tidy_columns

    return tidy_columns(df, path).reset_index(drop=True), notes


def _decode(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8-sig"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), False


def _bad_notes(path: Path, rows: list[int]) -> list[str]:
    if not rows:
        return [f"{path}: invalid UTF-8 bytes replaced by U+FFFD"]
    return [f"{path}: row(s) {_rows(rows)}: invalid UTF-8 bytes replaced by U+FFFD (save the "
            "file as UTF-8 to keep those characters)"]


def _replacement_rows(df: pd.DataFrame) -> list[int]:
    mask = np.zeros(len(df), dtype=bool)
    for col in df.columns:
        s = df[col]
        if s.dtype == object:
            mask |= s.astype(str).str.contains("\ufffd", regex=False).to_numpy()
    return (np.flatnonzero(mask) + 1).tolist()


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, list[str]]:
    records, bad = [], []
    raw_lines = path.read_bytes().splitlines()
    for i, raw in enumerate(raw_lines):
        line, ok = _decode(raw)
        if not line.strip():
            continue
        if not ok:
            bad.append(len(records) + 1)
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"line {i + 1} is not valid JSON ({exc.msg})", file=str(path),
                            row=len(records) + 1, hint="one JSON object per line") from None
        if not isinstance(rec, dict):
            raise DataError(f"line {i + 1} is not a JSON object", file=str(path),
                            row=len(records) + 1, hint='e.g. {"text": "...", "label": "..."}')
        records.append(rec)
    if not records:
        raise DataError("no JSON objects", file=str(path))
    return pd.DataFrame.from_records(records), _bad_notes(path, bad) if bad else []


def _read_json(path: Path) -> tuple[pd.DataFrame, list[str]]:
    text, ok = _decode(path.read_bytes())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg}, line {exc.lineno})", file=str(path)) from None
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        df = pd.DataFrame.from_records([{"id": str(k), **v} for k, v in data.items()])
    elif isinstance(data, list) and all(isinstance(v, dict) for v in data):
        df = pd.DataFrame.from_records(data)
    else:
        raise DataError("expected a list of objects or an object of objects", file=str(path),
                        hint="or use JSONL: one object per line")
    return df, [] if ok else _bad_notes(path, _replacement_rows(df))


def text_values(series: pd.Series) -> list[str]:
    """Cells as strings; missing cells become ''. A list (e.g. PubMedQA contexts) is joined."""
    out = []
    for v in series.tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append("")
        elif isinstance(v, (list, tuple, np.ndarray)):
            out.append(" ".join(str(x) for x in v))
        else:
            out.append(str(v))
    return out
