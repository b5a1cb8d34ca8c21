"""Reading span annotations for named-entity recognition (``task = "ner"``).

Three layouts, each validated where it is read:

* a **BRAT** folder: ``name.txt`` + ``name.ann`` pairs (standoff format, one entity a line:
  ``T1<TAB>LABEL start end<TAB>text``; discontinuous entities ``start end;start end`` become
  one span per fragment, and say so in the notes);
* a ``.tar.gz`` / ``.tgz`` / ``.tar`` of BRAT files (MEDDOCAN ships as one), read from the
  archive without unpacking it to disk;
* **span JSONL**: one document a line,
  ``{"id": ..., "text": ..., "spans": [{"start": .., "end": .., "label": ..}, ...]}``.

Offsets are character offsets into the text as decoded from UTF-8 (line ends kept as they
are). A span outside its text, a span whose ``.ann`` text differs from the document's text at
its offsets, or a malformed line is an error naming the file and the line. Overlapping spans
cannot be tagged token by token: the longer one (the first, on ties) is kept and every
dropped one is named in the notes. Relation, event, attribute and note lines of BRAT files
are not entities and are counted in the notes. Nothing here logs document text.

>>> docs, notes = read_span_lines(['{"id": "a", "text": "Seen by Dr Smith.", '
...     '"spans": [{"start": 11, "end": 16, "label": "NAME"}]}'], source="x.jsonl")
>>> docs[0]["spans"]
[{'start': 11, 'end': 16, 'label': 'NAME'}]
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from healthnn.errors import DataError

__all__ = ["read_annotations", "read_brat_pair", "read_span_lines", "annotation_format",
           "brat_entities", "ANNOTATION_SUFFIXES"]

ANNOTATION_SUFFIXES = (".jsonl", ".ndjson", ".tar.gz", ".tgz", ".tar")
_SHOW = 5


def annotation_format(path: Path) -> str:
    """``"brat"`` (a folder), ``"brat_tar"`` (an archive) or ``"jsonl"``."""
    name = path.name.lower()
    if path.is_dir():
        return "brat"
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "brat_tar"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise DataError(f"unsupported annotation file '{path.suffix or path.name}'", file=str(path),
                    hint="give a BRAT folder (.txt + .ann), a .tar.gz of one, or span JSONL")


def read_annotations(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Documents with their spans (columns ``id``, ``text``, ``spans``, then any other
    scalar fields of span-JSONL lines, such as a patient id) and notes.

    ``spans`` holds a list of ``{"start", "end", "label"}`` per document, sorted and
    non-overlapping.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("annotation file or folder not found", file=str(path),
                        hint="check the path")
    fmt = annotation_format(path)
    if fmt == "jsonl":
        if path.stat().st_size == 0:
            raise DataError("file is empty", file=str(path))
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise DataError("invalid UTF-8", file=str(path), row=line,
                            hint="save the file as UTF-8") from None
        docs, notes = read_span_lines(text.splitlines(), source=str(path))
    else:
        pairs = _brat_folder(path) if fmt == "brat" else _brat_tar(path)
        docs, notes = [], []
        skipped = 0
        for name, (txt, ann) in sorted(pairs.items()):
            if fmt == "brat":
                wt, wa = str(path / f"{name}.txt"), str(path / f"{name}.ann")
            else:
                wt, wa = f"{path}:{name}.txt", f"{path}:{name}.ann"
            doc, doc_notes, n_other = read_brat_pair(name, txt, ann, txt_file=wt, ann_file=wa)
            docs.append(doc)
            notes += doc_notes
            skipped += n_other
        if skipped:
            notes.append(f"{path}: {skipped} non-entity line(s) (relations, events, attributes, "
                         "notes) in the .ann files were not used")
    if not docs:
        raise DataError("no annotated documents found", file=str(path),
                        hint="a BRAT folder needs name.txt + name.ann pairs")
    ids = [d["id"] for d in docs]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"document id {dup!r} occurs more than once", file=str(path),
                        hint="give every document its own id")
    df = pd.DataFrame(docs)
    rest = [c for c in df.columns if c not in ("id", "text", "spans")]
    return df[["id", "text", "spans", *rest]], _summarise(notes)


def _summarise(notes: list[str]) -> list[str]:
    if len(notes) <= 20:
        return notes
    return notes[:20] + [f"... and {len(notes) - 20} more annotation notes"]


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError("invalid UTF-8 (BRAT offsets need the exact text)", file=where,
                        row=line, hint="save the file as UTF-8") from None


def _brat_folder(path: Path) -> dict[str, tuple[bytes, bytes]]:
    out: dict[str, tuple[bytes, bytes]] = {}
    for txt in sorted(path.rglob("*.txt")):
        ann = txt.with_suffix(".ann")
        if not ann.is_file():
            raise DataError("no .ann file beside this .txt file", file=str(txt),
                            hint="BRAT needs name.txt + name.ann (an empty .ann: no entities)")
        out[txt.relative_to(path).with_suffix("").as_posix()] = (txt.read_bytes(),
                                                               ann.read_bytes())
    for ann in path.rglob("*.ann"):
        if not ann.with_suffix(".txt").is_file():
            raise DataError("no .txt file beside this .ann file", file=str(ann))
    return out


def _brat_tar(path: Path) -> dict[str, tuple[bytes, bytes]]:
    files: dict[str, dict[str, bytes]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                p = PurePosixPath(member.name)
                if p.suffix not in (".txt", ".ann") or p.name.startswith("._"):
                    continue
                fh = tar.extractfile(member)
                if fh is not None:
                    files.setdefault(str(p.with_suffix("")), {})[p.suffix] = fh.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"cannot read the archive ({type(exc).__name__}: {exc})",
                        file=str(path), hint="a .tar.gz of BRAT .txt + .ann files") from None
    out = {}
    for stem, parts in files.items():
        if ".txt" not in parts:
            raise DataError("no .txt file beside this .ann file", file=f"{path}:{stem}.ann")
        if ".ann" not in parts:
            raise DataError("no .ann file beside this .txt file", file=f"{path}:{stem}.txt",
                            hint="BRAT needs name.txt + name.ann (an empty .ann: no entities)")
        out[stem] = (parts[".txt"], parts[".ann"])
    return out


def read_brat_pair(name: str, txt: bytes, ann: bytes, *, txt_file: str, ann_file: str
                   ) -> tuple[dict[str, Any], list[str], int]:
    """One BRAT document: (``{"id", "text", "spans"}``, notes, non-entity lines skipped).
    ``txt_file``/``ann_file`` name the files in messages."""
    doc_id = PurePosixPath(name).name
    where = ann_file
    text = _decode(txt, txt_file)
    lines = _decode(ann, where).splitlines()
    spans, notes, other = [], [], 0
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not line.startswith("T"):
            other += 1
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataError("expected 'T<n><TAB>LABEL start end<TAB>text'", file=where, row=n)
        head = parts[1].split(" ", 1)
        if len(head) != 2 or not head[0]:
            raise DataError("expected 'LABEL start end' after the entity id", file=where, row=n)
        label, ranges = head
        frags = []
        for frag in ranges.split(";"):
            bits = frag.split()
            if len(bits) != 2 or not all(b.isdigit() for b in bits):
                raise DataError(f"offsets {ranges!r} are not 'start end' integers", file=where,
                                row=n)
            frags.append((int(bits[0]), int(bits[1])))
        for s, e in frags:
            if not 0 <= s < e <= len(text):
                raise DataError(f"span {s}-{e} lies outside the text ({len(text)} characters)",
                                file=where, row=n,
                                hint="offsets count characters of the .txt file from 0")
        if len(parts) >= 3:
            expected = parts[2]
            got = " ".join(text[s:e] for s, e in frags)
            if got != expected and got.replace("\n", " ") != expected:
                raise DataError(f"the text at {ranges} does not match the .ann text "
                                f"({len(got)} vs {len(expected)} characters)", file=where, row=n,
                                hint="the .txt and .ann files do not belong together, or the "
                                     ".txt was changed (line ends, encoding) after annotation")
        if len(frags) > 1:
            notes.append(f"{where} line {n}: a discontinuous {label} entity became "
                         f"{len(frags)} spans")
        spans += [(s, e, label, n) for s, e in frags]
    kept, dropped = _non_overlapping(spans)
    notes += [f"{where} line {n}: {lab} span {s}-{e} overlaps the span of line {m} and was "
              "left out" for s, e, lab, n, m in dropped]
    return ({"id": doc_id, "text": text,
             "spans": [{"start": s, "end": e, "label": lab} for s, e, lab, _ in kept]},
            notes, other)


def read_span_lines(lines: Iterable[str], *, source: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Documents from span-JSONL lines (see the module docstring)."""
    docs, notes = [], []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg})", file=source, row=n) from None
        if not isinstance(rec, dict):
            raise DataError("expected a JSON object per line", file=source, row=n)
        text = rec.get("text")
        if not isinstance(text, str):
            raise DataError("no 'text' string in this line", file=source, row=n, column="text")
        raw = rec.get("spans", [])
        if not isinstance(raw, list):
            raise DataError("'spans' must be a list of {start, end, label}", file=source, row=n,
                            column="spans")
        spans = []
        for k, sp in enumerate(raw):
            if not isinstance(sp, dict) or not {"start", "end", "label"} <= set(sp):
                raise DataError(f"span {k + 1} needs start, end and label", file=source, row=n,
                                column="spans")
            s, e, lab = sp["start"], sp["end"], sp["label"]
            if not (isinstance(s, int) and isinstance(e, int)) or isinstance(s, bool):
                raise DataError(f"span {k + 1}: start and end must be integers", file=source,
                                row=n, column="spans")
            if not isinstance(lab, str) or not lab:
                raise DataError(f"span {k + 1}: label must be a non-empty string", file=source,
                                row=n, column="spans")
            if not 0 <= s < e <= len(text):
                raise DataError(f"span {k + 1} ({s}-{e}) lies outside the text "
                                f"({len(text)} characters)", file=source, row=n, column="spans")
            if "text" in sp and sp["text"] != text[s:e]:
                raise DataError(f"span {k + 1}: its 'text' does not match the text at {s}-{e}",
                                file=source, row=n, column="spans")
            spans.append((s, e, lab, k + 1))
        kept, dropped = _non_overlapping(spans)
        notes += [f"{source} line {n}: {lab} span {s}-{e} (span {k}) overlaps span {m} and was "
                  "left out" for s, e, lab, k, m in dropped]
        doc_id = rec.get("id", n)
        extra = {k: v for k, v in rec.items() if k not in ("id", "text", "spans")
                 and (v is None or isinstance(v, (str, int, float, bool)))}
        docs.append({"id": str(doc_id), "text": text,
                     "spans": [{"start": s, "end": e, "label": lab} for s, e, lab, _ in kept],
                     **extra})
    return docs, notes


def _non_overlapping(spans: list[tuple[int, int, str, int]]
                     ) -> tuple[list[tuple[int, int, str, int]], list[tuple]]:
    """Keep the longer of overlapping spans (the earlier on ties); exact duplicates merge
    silently (a duplicate says nothing new)."""
    uniq = list(dict.fromkeys(spans, None))
    seen: dict[tuple[int, int, str], int] = {}
    dedup = []
    for sp in uniq:
        key = sp[:3]
        if key not in seen:
            seen[key] = sp[3]
            dedup.append(sp)
    order = sorted(dedup, key=lambda t: (-(t[1] - t[0]), t[0], t[3]))
    kept: list[tuple[int, int, str, int]] = []
    dropped = []
    for sp in order:
        clash = next((k for k in kept if sp[0] < k[1] and k[0] < sp[1]), None)
        if clash is None:
            kept.append(sp)
        else:
            dropped.append((*sp, clash[3]))
    kept.sort()
    dropped.sort(key=lambda t: t[3])
    return kept, dropped


def brat_entities(text: str, spans: Sequence[Mapping[str, Any]]) -> str:
    """The ``.ann`` file (BRAT standoff entity lines) for ``spans`` (``{"start", "end",
    "label"}``) of ``text``, read back by :func:`read_brat_pair`; a span crossing a line break
    becomes a discontinuous entity (BRAT's text column is one line).

    >>> brat_entities("Dr Smith\\nWard 4", [{"start": 3, "end": 15, "label": "NAME"}])
    'T1\\tNAME 3 8;9 15\\tSmith Ward 4\\n'
    """
    out = []
    for k, sp in enumerate(spans, start=1):
        s, e = sp["start"], sp["end"]
        frags, pos = [], s
        for m in re.finditer(r"[\r\n]+", text[s:e]):
            if s + m.start() > pos:
                frags.append((pos, s + m.start()))
            pos = s + m.end()
        if pos < e:
            frags.append((pos, e))
        ranges = ";".join(f"{a} {b}" for a, b in frags)
        shown = " ".join(text[a:b] for a, b in frags)
        out.append(f"T{k}\t{sp['label']} {ranges}\t{shown}\n")
    return "".join(out)
