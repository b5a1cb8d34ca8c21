"""The CPU-heavy parts of requests, as plain functions of a :class:`WorkState`: reading and
decoding uploads, explanations, de-identification. They run in the server's threads, or in
the killable child processes of :mod:`healthnn.serve.isolation` (each child builds its own
state with :func:`setup`), with the same results.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import HTTPException

from healthnn.serve.quiet import quietly
from healthnn.serve.schemas import MAX_ROWS
from healthnn.serve.uploads import client_name, hide_internals, saved_upload

__all__ = ["WorkState", "setup", "state", "deid", "encode_upload", "predict_upload",
           "explain_rows", "explain_upload"]


@dataclass
class WorkState:
    """What the work functions need: the served models, the secret key (surrogates), the
    NER tagger for ``/deid`` and the upload limits."""

    models: dict[str, Any]
    secret_key: bytes | None = None
    deid_ner: Any = None
    limits: dict[str, int] = field(default_factory=dict)  # max_unpacked, max_pixels
    deidentifiers: dict[str, Any] = field(default_factory=dict)

    def model(self, name: str) -> Any:
        return self.models[name]


_STATE: WorkState | None = None


def _limited(fn: Any) -> Any:
    """Run ``fn(st, ...)`` with the server's limits applied to every reader inside it
    (:func:`healthnn.data.limits.read_limits`: pixels, unpacked bytes, rows)."""
    from functools import wraps

    @wraps(fn)
    def run(st: WorkState, *args: Any) -> Any:
        from healthnn.data.limits import read_limits

        with read_limits(max_pixels=st.limits.get("max_pixels"),
                         max_unpacked_bytes=st.limits.get("max_unpacked"), max_rows=MAX_ROWS):
            return fn(st, *args)
    return run


def setup(dirs: dict[str, str], key: bytes | None, runtime: str, ner: tuple | None,
          limits: dict[str, int]) -> None:
    """In a child process: load the bundles (``{name: folder}``) and the NER model."""
    global _STATE
    from healthnn.serve.models import load_models

    models = load_models([Path(d) for d in dirs.values()], key=key, runtime=runtime)
    tagger = None
    if ner is not None:
        from healthnn.tasks.ner import NerTagger

        tagger = NerTagger(Path(ner[0]), key=key, deid=True, min_score=ner[1])
    _STATE = WorkState(models, key, tagger, limits)
    for mode in ("tag", "mask", "surrogate") if key is not None else ("tag", "mask"):
        deid(_STATE, mode, "Seen by Dr. Jones on 01/02/2020.", None)  # load the rules now,
        # not in a request's time (a slow first call would be killed at the timeout)


def state() -> WorkState:
    """The state :func:`setup` built in this (child) process."""
    if _STATE is None:
        raise RuntimeError("work process not set up")
    return _STATE


@quietly
def deid(st: WorkState, mode: str, text: str, patient: str | None
         ) -> tuple[str, list[dict[str, Any]]]:
    """The de-identified note and its spans (``/deid``)."""
    if mode not in st.deidentifiers:
        from healthnn.privacy.deid import Deidentifier

        st.deidentifiers[mode] = Deidentifier(  # one NER model shared by the modes
            mode=mode, key=st.secret_key if mode == "surrogate" else None, ner=st.deid_ner)
    out, spans = st.deidentifiers[mode].deidentify(text, patient)
    return out, [{"start": s.start, "end": s.end, "label": s.label} for s in spans]


@quietly
@_limited
def encode_upload(st: WorkState, name: str, filename: str, data: bytes) -> Any:
    """An upload decoded in memory by the model's task (images), or None."""
    m = st.model(name)
    return m.bundle.task.encode_upload(client_name(filename), data)


@quietly
@_limited
def predict_upload(st: WorkState, name: str, filename: str, data: bytes
                   ) -> list[dict[str, Any]]:
    """Predict an uploaded file through a temporary file; the records of its rows."""
    m = st.model(name)
    with tempfile.TemporaryDirectory(prefix="healthnn-upload-") as tmp:
        path = saved_upload(m.schema, m.name, filename, data, Path(tmp), **st.limits)
        df = m.bundle.task.read_inputs(path)
        if len(df) > MAX_ROWS:
            raise HTTPException(413, f"the file has {len(df)} rows; at most {MAX_ROWS} a "
                                "request")
        out = m.predict(df, file=path)
        if "error" in out.columns:
            out["error"] = [hide_internals(e) if isinstance(e, str) else e
                            for e in out["error"]]
        return out.to_dict("records")


@quietly
@_limited
def explain_rows(st: WorkState, name: str, df: pd.DataFrame,
                 target_class: str | None) -> list[dict[str, Any]]:
    """The explanation files for JSON rows."""
    return _hidden(st.model(name).explain(df, None, target_class))


@quietly
@_limited
def explain_upload(st: WorkState, name: str, filename: str, data: bytes,
                   target_class: str | None) -> list[dict[str, Any]]:
    """The explanation files for an uploaded file (its first 20 rows)."""
    m = st.model(name)
    with tempfile.TemporaryDirectory(prefix="healthnn-upload-") as tmp:
        path = saved_upload(m.schema, m.name, filename, data, Path(tmp), **st.limits)
        df = m.bundle.task.read_inputs(path)
        return _hidden(m.explain(df.head(20), file=path, target_class=target_class))


def _hidden(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Explanation tables with the server's temporary paths taken out of their text."""
    for f in files:
        for row in f.get("rows") or []:
            for k, v in row.items():
                if isinstance(v, str):
                    row[k] = hide_internals(v)
    return files
