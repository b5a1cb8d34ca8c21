"""Streaming, multi-process de-identification of files (the engine behind ``healthnn deid``).

CSV and JSONL are read and written in chunks, so a file of any size is never held in memory;
Parquet is read batch by batch; a folder of ``.txt`` files is mirrored file by file. Chunks go to
a pool of worker processes with a bounded number in flight, and come back in order.

Rows are never dropped: a row that cannot be read as it should (invalid UTF-8, a line that is
not JSON, a missing text field) is still written, and is listed in the returned report by row
and column. Reports and progress output hold row numbers and labels only, never text.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from healthnn.errors import DataError
from healthnn.io import atomic_write, write_text

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MAX_LISTED_PROBLEMS = 1000
_BAD_UTF8 = "invalid UTF-8 bytes in the text, each replaced by U+FFFD before de-identification"


@dataclass
class Problem:
    row: int
    column: str | None
    message: str


@dataclass
class DeidReport:
    n_notes: int = 0
    n_empty: int = 0
    n_spans: int = 0
    seconds: float = 0.0
    n_problems: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def notes_per_s(self) -> float:
        return self.n_notes / self.seconds if self.seconds > 0 else 0.0

    def add(self, row: int, column: str | None, message: str) -> None:
        self.n_problems += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(Problem(row, column, message))


# ----------------------------------------------------------------------------- worker side

_ENGINE = None
_IN_POOL = False


def _init_worker(options: dict) -> None:
    global _ENGINE
    from healthnn.privacy.deid import Deidentifier

    if options.get("ner") is not None and _IN_POOL:  # one torch thread per worker process
        import torch

        torch.set_num_threads(1)
    _ENGINE = Deidentifier(**options)


WITHHELD = "[DEID_ERROR]"


def _work(batch: list[tuple[str, str | None]]) -> list[tuple[str, list[tuple], str | None]]:
    """De-identify a batch; a note the engine fails on is withheld, never passed through.

    The notes are searched together (an NER model then runs on the batch, not note by note);
    if that fails, one note at a time, so that only the failing notes are withheld."""
    texts = [text for text, _ in batch if text]
    try:
        found = iter(_ENGINE.find_many(texts))
    except Exception:  # an engine bug must not stop the batch nor leak the note
        found = None
    out = []
    for text, patient in batch:
        if not text:
            out.append((text, [], None))
            continue
        try:
            spans = next(found) if found is not None else _ENGINE.find(text)
            new = _ENGINE.replace(text, spans, patient)
        except Exception as exc:
            out.append((WITHHELD, [], f"de-identification failed ({type(exc).__name__}); text withheld as {WITHHELD}"))
            continue
        out.append((new, [(s.start, s.end, s.label, s.score) for s in spans], None))
    return out


def _note_failures(results, report: DeidReport, first_row: int, column: str | None) -> None:
    for k, r in enumerate(results):
        if r[2]:
            report.add(first_row + k, column, r[2])


def _ordered_map(batches: Iterable, options: dict, workers: int) -> Iterator:
    """Yield ``(meta, results)`` per batch of ``(meta, [(text, patient), ...])``, in order."""
    if workers <= 1:
        _init_worker(options)
        for meta, batch in batches:
            yield meta, _work(batch)
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    global _IN_POOL
    _IN_POOL = True  # read by the forked workers' initializer
    with ctx.Pool(workers, initializer=_init_worker, initargs=(options,)) as pool:
        pending: deque = deque()
        for meta, batch in batches:
            pending.append((meta, pool.apply_async(_work, (batch,))))
            if len(pending) >= 2 * workers:
                m, r = pending.popleft()
                yield m, r.get()
        while pending:
            m, r = pending.popleft()
            yield m, r.get()


def _clean(text: str, report: DeidReport, row: int, column: str) -> str:
    """Replace undecodable bytes (kept as lone surrogates by 'surrogateescape')."""
    if any("\udc80" <= c <= "\udcff" for c in text):
        report.add(row, column, _BAD_UTF8)
        return "".join("\ufffd" if "\udc80" <= c <= "\udcff" else c for c in text)
    return text


# ------------------------------------------------------------------------------ entry point

def detect_format(path: Path) -> str:
    if path.is_dir():
        return "txt"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"unsupported input type '{path.suffix or '(none)'}'",
            file=str(path),
            hint="use .csv, .parquet, .jsonl or a folder of .txt files",
        )
    return fmt


def deidentify_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    text_column: str = "text",
    id_column: str | None = None,
    mode: str = "tag",
    key: bytes | None = None,
    keep_year: bool = True,
    terms: dict | None = None,
    ner: str | os.PathLike | None = None,
    ner_min_score: float | None = None,
    ner_combine: str | None = None,
    spacy_model: str | os.PathLike | None = None,
    spans_path: str | os.PathLike | None = None,
    workers: int | None = None,
    chunk_rows: int = 500,
    progress: bool | None = None,
) -> DeidReport:
    """De-identify the text column of ``input`` into ``output`` (same format, rows and order).

    ``spans_path`` (JSONL) receives one line per row: ``{"row": n, "spans": [...]}`` with
    offsets into the original text. ``progress=None`` shows a bar only on a terminal.
    """
    src, dst = Path(input), Path(output)
    if not src.exists():
        raise DataError("input not found", file=str(src), hint="check the path")
    fmt = detect_format(src)
    if fmt == "txt":
        if dst.exists() and not dst.is_dir():
            raise DataError("output must be a folder when the input is a folder", file=str(dst))
        if id_column:
            raise DataError("--id-column needs a table (CSV, Parquet, JSONL), not a folder", file=str(src))
    else:
        if FORMATS.get(dst.suffix.lower()) != fmt:
            raise DataError(
                f"output must have the input's format ({fmt})",
                file=str(dst),
                hint=f"name it *{src.suffix}",
            )
    if not dst.parent.exists():
        raise DataError("the output's folder does not exist", file=str(dst), hint="create it first")
    if dst.resolve() == src.resolve():
        raise DataError("output would overwrite the input", file=str(dst), hint="choose another --out")
    if spans_path is not None and Path(spans_path).resolve() in (src.resolve(), dst.resolve()):
        raise DataError("--spans must be a separate file", file=str(spans_path))

    from healthnn.privacy.deid import Deidentifier

    # validate mode and key in this process, so errors come before any work
    Deidentifier(mode=mode, key=key, keep_year=keep_year, terms=terms, ner=ner,
                 ner_min_score=ner_min_score, ner_combine=ner_combine, spacy_model=spacy_model)
    options = {"mode": mode, "key": key, "keep_year": keep_year, "terms": terms}
    if spacy_model is not None:  # issue 18: a spaCy pipeline's entities, loaded by each worker
        options["spacy_model"] = str(spacy_model)
    if ner is not None:  # issue 3: NER spans join the rules' spans in every worker
        options["ner"], options["ner_min_score"] = str(ner), ner_min_score
        options["ner_combine"] = ner_combine
    workers = max(1, workers if workers else (os.cpu_count() or 1))
    report = DeidReport()
    t0 = time.perf_counter()
    from tqdm import tqdm

    bar = tqdm(total=None, unit="notes", file=sys.stderr, disable=(None if progress is None else not progress),
               mininterval=0.5, desc="deid")
    # --spans is renamed into place only when complete, like the output (issue 23)
    spans_out = atomic_write(spans_path) if spans_path is not None else nullcontext()
    try:
        with spans_out as spans_fh:
            runner = {"csv": _run_csv, "jsonl": _run_jsonl, "parquet": _run_parquet, "txt": _run_txt}[fmt]
            runner(src, dst, text_column, id_column, options, workers, chunk_rows, report, spans_fh, bar)
    finally:
        bar.close()
    report.seconds = time.perf_counter() - t0
    return report


def _write_spans(fh, row: int, spans: list[tuple], extra: dict | None = None) -> None:
    if fh is None:
        return
    rec = {"row": row}
    if extra:
        rec.update(extra)
    rec["spans"] = [{"start": s, "end": e, "label": lab, "score": sc} for s, e, lab, sc in spans]
    fh.write(json.dumps(rec) + "\n")


def _tmp(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}.partial")


# -------------------------------------------------------------------------------------- CSV

def _run_csv(src, dst, col, id_col, options, workers, chunk_rows, report, spans_fh, bar) -> None:
    import pandas as pd

    if src.stat().st_size == 0:
        raise DataError("file is empty", file=str(src), hint=f"expected a header row with a '{col}' column")
    try:
        reader = pd.read_csv(
            src, dtype=str, keep_default_na=False, na_filter=False, chunksize=chunk_rows,
            skip_blank_lines=False,  # a note of only blanks is a row (rows in == rows out)
            encoding="utf-8-sig", encoding_errors="surrogateescape",
        )
    except pd.errors.EmptyDataError:
        raise DataError("file is empty", file=str(src), hint=f"expected a header row with a '{col}' column") from None
    tmp = _tmp(dst)

    def batches():
        row0 = 0
        try:
            for chunk in reader:
                _check_columns(list(chunk.columns), col, id_col, src)
                texts = [_clean(t, report, row0 + k + 1, col) for k, t in enumerate(chunk[col].tolist())]
                pids = chunk[id_col].tolist() if id_col else [None] * len(texts)
                yield (row0, chunk), list(zip(texts, pids))
                row0 += len(chunk)
        except pd.errors.ParserError as exc:
            raise DataError(f"not a valid CSV ({str(exc).strip()})", file=str(src)) from None

    header_done = False
    try:
        for (row0, chunk), results in _ordered_map(batches(), options, workers):
            chunk = chunk.copy()
            chunk[col] = [r[0] for r in results]
            _note_failures(results, report, row0 + 1, col)
            for k, (text, spans, _) in enumerate(results):
                row = row0 + k + 1
                if not text:
                    report.n_empty += 1
                report.n_spans += len(spans)
                _write_spans(spans_fh, row, spans)
            chunk.to_csv(tmp, mode="a" if header_done else "w", header=not header_done, index=False,
                         encoding="utf-8", errors="surrogateescape")
            header_done = True
            report.n_notes += len(results)
            bar.update(len(results))
        if not header_done:
            # header only, no rows: write the header back
            cols = pd.read_csv(src, nrows=0, encoding="utf-8", encoding_errors="surrogateescape").columns
            _check_columns(list(cols), col, id_col, src)
            pd.DataFrame(columns=cols).to_csv(tmp, index=False, encoding="utf-8")
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_columns(columns: list[str], col: str, id_col: str | None, src: Path) -> None:
    for c in (col, id_col):
        if c and c not in columns:
            shown = ", ".join(repr(x) for x in columns[:20])
            raise DataError(
                "column not found",
                file=str(src),
                column=c,
                hint=f"the file has {shown}{' ...' if len(columns) > 20 else ''}; "
                f"choose with --{'text' if c == col else 'id'}-column",
            )


# ------------------------------------------------------------------------------------ JSONL

def _run_jsonl(src, dst, col, id_col, options, workers, chunk_rows, report, spans_fh, bar) -> None:
    tmp = _tmp(dst)
    checked = [False]

    def batches():
        with open(src, "rb") as fh:
            rows: list = []
            batch: list = []
            for n, raw in enumerate(fh, start=1):
                line = raw.decode("utf-8", "surrogateescape")
                if not line.strip():
                    rows.append(("blank", line, None))
                    batch.append(("", None))
                else:
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        obj = None
                    if not isinstance(obj, dict):
                        report.add(n, None, "not a JSON object; written as {text: null, deid_error: ...}")
                        rows.append(("bad", line, None))
                        batch.append(("", None))
                    else:
                        if not checked[0]:
                            _check_columns(list(obj), col, id_col, src)
                            checked[0] = True
                        value = obj.get(col)
                        if col not in obj:
                            report.add(n, col, "field missing; row written unchanged")
                            text = ""
                        elif value is None:
                            text = ""
                        elif not isinstance(value, str):
                            report.add(n, col, f"not a string ({type(value).__name__}); de-identified as text")
                            text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
                        else:
                            text = _clean(value, report, n, col)
                        pid = obj.get(id_col) if id_col else None
                        rows.append(("ok", line, obj))
                        batch.append((text, None if pid is None else str(pid)))
                if len(batch) >= chunk_rows:
                    yield (n - len(batch) + 1, rows), batch
                    rows, batch = [], []
            if batch:
                yield (n - len(batch) + 1, rows), batch

    try:
        with open(tmp, "wb") as out:
            for (row0, rows), results in _ordered_map(batches(), options, workers):
                _note_failures(results, report, row0, col)
                for k, ((kind, line, obj), (text, spans, _)) in enumerate(zip(rows, results)):
                    row = row0 + k
                    if kind == "blank":
                        out.write(line.encode("utf-8", "surrogateescape"))
                        report.n_empty += 1
                        _write_spans(spans_fh, row, [])
                        continue
                    if kind == "bad":
                        rec = {col: None, "deid_error": f"input line {row} is not a JSON object"}
                        out.write((json.dumps(rec) + "\n").encode("utf-8"))
                        _write_spans(spans_fh, row, [])
                        continue
                    if col in obj and obj[col] is not None:
                        obj[col] = text
                    if not text:
                        report.n_empty += 1
                    report.n_spans += len(spans)
                    _write_spans(spans_fh, row, spans)
                    s = json.dumps(obj, ensure_ascii=False) + "\n"
                    out.write(s.encode("utf-8", "surrogateescape"))
                report.n_notes += len(results)
                bar.update(len(results))
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()


# ---------------------------------------------------------------------------------- Parquet

def _run_parquet(src, dst, col, id_col, options, workers, chunk_rows, report, spans_fh, bar) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(src)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", file=str(src)) from None
    schema = pf.schema_arrow
    _check_columns(schema.names, col, id_col, src)
    ftype = schema.field(col).type
    if not (pa.types.is_string(ftype) or pa.types.is_large_string(ftype)):
        raise DataError(f"column is {ftype}, not text", file=str(src), column=col)
    bar.total = pf.metadata.num_rows
    tmp = _tmp(dst)

    def batches():
        row0 = 0
        for rb in pf.iter_batches(batch_size=chunk_rows):
            texts = rb.column(col).to_pylist()
            pids = rb.column(id_col).to_pylist() if id_col else [None] * len(texts)
            batch = [("" if t is None else t, None if p is None else str(p)) for t, p in zip(texts, pids)]
            yield (row0, rb, texts), batch
            row0 += rb.num_rows

    writer = None
    try:
        for (row0, rb, texts), results in _ordered_map(batches(), options, workers):
            new = [None if t is None else r[0] for t, r in zip(texts, results)]
            _note_failures(results, report, row0 + 1, col)
            idx = rb.schema.get_field_index(col)
            rb = rb.set_column(idx, rb.schema.field(col), pa.array(new, type=ftype))
            if writer is None:
                writer = pq.ParquetWriter(tmp, rb.schema)
            writer.write_batch(rb)
            for k, (text, spans, _) in enumerate(results):
                if not text:
                    report.n_empty += 1
                report.n_spans += len(spans)
                _write_spans(spans_fh, row0 + k + 1, spans)
            report.n_notes += len(results)
            bar.update(len(results))
        if writer is None:
            writer = pq.ParquetWriter(tmp, schema)
        writer.close()
        writer = None
        os.replace(tmp, dst)
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()


# ------------------------------------------------------------------------------ .txt folder

def _run_txt(src, dst, col, id_col, options, workers, chunk_rows, report, spans_fh, bar) -> None:
    files = sorted(p for p in src.rglob("*.txt") if p.is_file())
    if not files:
        raise DataError("no .txt files in the folder", file=str(src))
    bar.total = len(files)
    dst.mkdir(parents=True, exist_ok=True)

    def batches():
        for i in range(0, len(files), chunk_rows):
            group = files[i:i + chunk_rows]
            batch = []
            for k, p in enumerate(group):
                text = p.read_bytes().decode("utf-8", "surrogateescape")
                batch.append((_clean(text, report, i + k + 1, str(p.relative_to(src))), None))
            yield (i, group), batch

    for (i, group), results in _ordered_map(batches(), options, workers):
        _note_failures(results, report, i + 1, None)
        for k, (p, (text, spans, _)) in enumerate(zip(group, results)):
            rel = p.relative_to(src)
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            write_text(target, text, newline="")
            if not text:
                report.n_empty += 1
            report.n_spans += len(spans)
            _write_spans(spans_fh, i + k + 1, spans, {"file": rel.as_posix()})
        report.n_notes += len(results)
        bar.update(len(results))
