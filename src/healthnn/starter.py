"""Starter configs: ``healthnn init TASK [--data FILE]`` (issue 24).

The first config is where new users stall, so ``init`` writes one that loads as it is: the keys a
task needs, filled in from the data file when one is given (columns read from its header and first
rows), and every other ``[data]`` setting as a comment with its default and meaning. The comments
come from the task's own ``[data]`` dataclass, so they cannot drift from what the parser accepts.

>>> text = starter_config("classification")
>>> "task = \\"classification\\"" in text and "[data]" in text
True
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import MISSING
from pathlib import Path
from typing import Any

import pandas as pd

from healthnn.config import SplitConfig, TrainConfig, to_toml
from healthnn.errors import DataError

__all__ = ["starter_config", "field_comments", "detect_columns"]

_FIELD = re.compile(r"^\s+(\w+)\s*:[^#]*?(?:#\s*(?P<c>.*))?$")
_COMMENT = re.compile(r"^\s+#\s?(.*)$")
# the [data] keys each task's starter writes uncommented (the rest become comments)
_SHOWN = {
    "classification": ["train", "target", "id", "positive", "categorical"],
    "regression": ["train", "target", "id", "categorical"],
    "survival": ["train", "time", "event", "id", "categorical"],
    "image_classification": ["train", "path", "target", "image_size"],
    "text_classification": ["train", "text", "target"],
    "molecule_property": ["train", "smiles", "target"],
    "event_classification": ["train", "outcomes", "target"],
    "ner": ["train"],
}
# keys a run needs although the parser has a default for them (None)
_NEEDED = {"classification": ("target",), "regression": ("target",),
           "survival": ("time", "event"), "event_classification": ("outcomes", "target")}
_ID_NAME = re.compile(r"(^|_)(id|mrn|patient|subject|stay|record)(_?id)?$", re.I)
_TIME_NAME = re.compile(r"(^|_)(time|duration|days|months|futime|survival|follow)", re.I)
_EVENT_NAME = re.compile(r"(^|_)(event|status|death|dead|died|censor|fstat|cens)", re.I)
_SMILES_NAME = re.compile(r"smiles", re.I)


def field_comments(cls: type) -> dict[str, str]:
    """Each dataclass field's comment in the source (inline, or the lines just above it).

    >>> from healthnn.tasks.image import ImageData
    >>> field_comments(ImageData)["group"]
    'patient id column: one patient never in two splits'
    """
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in inspect.getsource(cls).splitlines()[1:]:
        block = _COMMENT.match(line)
        if block:
            above.append(block.group(1).strip())
            continue
        m = _FIELD.match(line)
        if m and m.group(1) in {f.name for f in dataclasses.fields(cls)}:
            text = m.group("c") or " ".join(above)
            comments[m.group(1)] = re.sub(r"\s*type: ignore\S*\s*#?\s*", "", text).strip()
        above = []
    return comments


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _line(key: str, value: Any) -> str:
    return to_toml({key: value}).strip() if value is not None else f"{key} = ..."


def _read_head(path: Path, rows: int = 5000) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path).head(rows)
        if suffix in {".jsonl", ".json"}:
            return pd.read_json(path, lines=suffix == ".jsonl").head(rows)
        return pd.read_csv(path, nrows=rows, sep=None if suffix == ".tsv" else ",",
                           engine="python" if suffix == ".tsv" else "c")
    except FileNotFoundError:
        raise DataError("file not found", file=str(path), hint="check the path") from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"could not read it as a table ({type(exc).__name__})", file=str(path),
                        hint="give a CSV, TSV, Parquet or JSONL file with a header row") from None


def detect_columns(df: pd.DataFrame, task: str, target: str | None = None) -> dict[str, Any]:
    """Guess the ``[data]`` keys of ``task`` from a table's columns.

    Returns the chosen keys and, under ``"_notes"``, one line per guess, for the user to check.

    >>> df = pd.DataFrame({"patient_id": [1, 2, 3], "sex": ["f", "m", "f"],
    ...                    "age": [50, 60, 70], "died": [0, 1, 0]})
    >>> found = detect_columns(df, "classification", target="died")
    >>> found["id"], found["categorical"], found["positive"]
    ('patient_id', ['sex'], '1')
    """
    cols = list(df.columns)
    found: dict[str, Any] = {"_notes": []}
    notes = found["_notes"]

    def pick(pattern: re.Pattern, what: str, fallback: str | None = None) -> str | None:
        hit = next((c for c in cols if pattern.search(str(c))), fallback)
        if hit is not None:
            notes.append(f"{what}: '{hit}' (guessed from the column names)")
        return hit

    ids = [c for c in cols if _ID_NAME.search(str(c)) and df[c].is_unique]
    if ids and task in {"classification", "regression", "survival", "image_classification",
                        "text_classification", "molecule_property"}:
        found["id"] = ids[0]
        notes.append(f"id: '{ids[0]}' (unique on every row read)")
    if target is not None and target not in cols:
        raise DataError(f"no column {target!r}", column=target,
                        hint=f"columns: {', '.join(map(str, cols[:30]))}")
    if task == "survival":
        found["time"] = pick(_TIME_NAME, "time")
        found["event"] = pick(_EVENT_NAME, "event")
    elif task == "molecule_property":
        found["smiles"] = pick(_SMILES_NAME, "smiles", "smiles")
    elif task in {"text_classification", "image_classification"}:
        texts = [c for c in cols if df[c].dtype == object and c != target]
        key = "text" if task == "text_classification" else "path"
        if texts:  # the text: the longest strings; the path: the one that looks like a file
            lengths = {c: df[c].astype(str).str.len().mean() for c in texts}
            paths = [c for c in texts if df[c].astype(str).str.contains(r"[/\\.]").mean() > .9]
            found[key] = (paths[0] if key == "path" and paths else max(lengths, key=lengths.get))
            notes.append(f"{key}: '{found[key]}' (guessed from its values)")
    used = {found.get(k) for k in ("id", "time", "event", "smiles", "text", "path")}
    if task not in {"survival", "event_classification", "ner"}:
        if target is None:
            rest = [c for c in cols if c not in used]
            target = rest[-1] if rest else None
            if target is not None:
                notes.append(f"target: '{target}' (the last column; pass --target to choose)")
        found["target"] = target
    used.add(target)
    if task in {"classification", "regression", "survival"}:
        found["categorical"] = [c for c in cols if c not in used and
                                (df[c].dtype == object or df[c].dtype == bool)]
        codes = [c for c in cols if c not in used and pd.api.types.is_integer_dtype(df[c])
                 and 2 < df[c].nunique() <= 10]
        if codes:
            notes.append("integer columns with few values (codes? list them in categorical): "
                         + ", ".join(map(str, codes)))
    if task == "classification" and target is not None:
        values = sorted(df[target].dropna().astype(str).unique())
        if len(values) == 2:
            found["positive"] = "1" if "1" in values else values[-1]
            notes.append(f"positive: '{found['positive']}' of {values} (check it)")
    return found


def starter_config(task: str, data: str | Path | None = None, *, target: str | None = None,
                   relative_to: Path | None = None) -> str:
    """A commented TOML config for ``task`` that :func:`healthnn.config.load_config` accepts.

    ``data``: a table (CSV, TSV, Parquet, JSONL) whose columns fill in the ``[data]`` keys;
    written relative to ``relative_to`` (the config's folder) where it can be.
    """
    from healthnn.models import model_names
    from healthnn.tasks import get_task_class

    cls = get_task_class(task)
    fields = {f.name: f for f in dataclasses.fields(cls.DataConfig)}
    comments = field_comments(cls.DataConfig)
    values: dict[str, Any] = {}
    notes: list[str] = []
    if data is not None:
        path = Path(data)
        found = detect_columns(_read_head(path), task, target)
        notes = found.pop("_notes")
        values.update({k: v for k, v in found.items() if k in fields and v not in (None, [])})
        shown = path.resolve()
        if relative_to is not None:
            try:
                shown = shown.relative_to(relative_to.resolve())
            except ValueError:
                pass
        values["train"] = str(shown)
    elif target is not None and "target" in fields:
        values["target"] = target
    out = [f"# healthnn starter config for task = {task!r} (written by 'healthnn init').",
           "# Check every line; 'healthnn train THIS_FILE --out BUNDLE' trains it.",
           *(f"# guessed {n}" for n in notes), "", _line("task", task), "", "[data]"]
    for key in _SHOWN.get(task, ["train"]):
        if key not in fields:
            continue
        value = values.get(key, _default(fields[key]))
        required = fields[key].default is MISSING and fields[key].default_factory is MISSING
        if value is None and (required or key in _NEEDED.get(task, ())):
            value = "CHANGE-ME.csv" if key in ("train", "outcomes") else "CHANGE-ME"
        note = f"  # {comments[key]}" if comments.get(key) else ""
        shown_value = _line(key, value) if value is not None else f"{key} = (unset)"
        out.append((shown_value if value not in (None, []) else f"# {shown_value}") + note)
    out.append("# other [data] settings, with their defaults:")
    for key, f in fields.items():
        if key in _SHOWN.get(task, ["train"]):
            continue
        default = values.get(key, _default(f))
        note = f"  # {comments[key]}" if comments.get(key) else ""
        out.append(f"# {_line(key, default) if default is not None else key + ' = (unset)'}{note}")
    models = model_names(task)
    out += ["", "[model]", _line("name", cls.default_model) + f"  # one of: {', '.join(models)}",
            "", "[train]", *_defaults_as_comments(TrainConfig, ("epochs", "patience", "seed")),
            "", "[split]", *_defaults_as_comments(SplitConfig, ("test_size", "val_size")), ""]
    return "\n".join(out)


def _defaults_as_comments(cls: type, keys: tuple[str, ...]) -> list[str]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return [f"# {_line(k, _default(fields[k]))}" for k in keys]
