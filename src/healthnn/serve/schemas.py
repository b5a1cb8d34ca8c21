"""Request and response models of the REST API (they make the published OpenAPI document).

Every string a request carries (cells, column names, notes, options) is checked at the edge:
a NUL, a lone UTF-16 surrogate (``"\\ud800"`` in JSON: not Unicode text) or a bidirectional
control character (U+202A-U+202E, U+2066-U+2069, which can make text display other than it
reads) is a 422 naming the field, as is a cell over :data:`MAX_TEXT` characters or a column
name over :data:`MAX_NAME`.

>>> check_text("Mr Smith", "text")
'Mr Smith'
>>> check_text("a" + chr(0xD800) + "b", "text")
Traceback (most recent call last):
...
ValueError: text holds a lone UTF-16 surrogate (not valid Unicode text)
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Health", "ColumnInfo", "InputSchema", "ModelInfo", "ModelList", "PredictRequest",
    "PredictionRow", "PredictResponse", "ExplainRequest", "ExplainFile", "ExplainResponse",
    "DeidRequest", "DeidSpan", "DeidResponse", "ErrorResponse", "MAX_ROWS", "MAX_EXPLAIN_ROWS",
    "MAX_TEXT", "MAX_NAME", "check_text",
]

MAX_ROWS = 1000
MAX_EXPLAIN_ROWS = 20
MAX_TEXT = 100_000
MAX_NAME = 256
_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")

Cell = str | float | int | bool | None


def check_text(value: str, what: str, limit: int = MAX_TEXT) -> str:
    """``value`` if it is clean text (see the module docstring), else a ValueError."""
    if len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    if "\x00" in value:
        raise ValueError(f"{what} holds a NUL character")
    if _SURROGATE.search(value):
        raise ValueError(f"{what} holds a lone UTF-16 surrogate (not valid Unicode text)")
    if _BIDI.search(value):
        raise ValueError(f"{what} holds a bidirectional control character "
                         "(U+202A-U+202E or U+2066-U+2069)")
    return value


def _check_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for i, row in enumerate(rows, 1):
        for name, value in row.items():
            check_text(name, f"row {i}: a column name", MAX_NAME)
            if isinstance(value, str):
                check_text(value, f"row {i}: a value")
    return rows


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    models: int
    version: str


class ColumnInfo(BaseModel):
    name: str
    type: str = Field(description="number, category or string")
    levels: list[str] | None = None
    default: float | None = Field(None, description="a typical value (the training median)")


class InputSchema(BaseModel):
    kind: str = Field(description="table (JSON rows), image (upload), smiles or text")
    column: str | None = Field(None, description="the column that holds the image path, "
                               "SMILES or text")
    columns: list[ColumnInfo] = []
    rows: bool = Field(True, description="whether /predict accepts JSON rows")
    upload: bool = Field(False, description="whether /predict/upload accepts a file")
    accept: list[str] = []


class ModelInfo(BaseModel):
    name: str
    version: str
    task: str
    runtime: str
    input: InputSchema
    metrics: dict[str, float | None] = Field(
        default_factory=dict, description="test-set metrics from training (point estimates)")
    conformal_level: float | None = Field(
        None, description="level of the prediction sets / intervals (see PredictResponse); "
        "their coverage on the test rows is metrics.conformal_coverage")


class ModelList(BaseModel):
    models: list[ModelInfo]


class PredictRequest(_Strict):
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_ROWS,
                                        description="one object per input row: column -> value")

    _clean = field_validator("rows")(classmethod(lambda cls, v: _check_rows(v)))


class PredictionRow(BaseModel):
    row: int = Field(description="1-based position in the request")
    values: dict[str, float | str | None] = Field(
        description="prediction columns; '<column>_sd' is the spread across ensemble members; "
        "'set' (classes joined by '|') or 'lo'/'hi' ('lo_<target>'/'hi_<target>') is the "
        "split-conformal prediction set or interval at conformal_level (null bound: unbounded)")
    error: str = Field("", description="why this row could not be predicted ('' if it was)")


class PredictResponse(BaseModel):
    model: str
    version: str
    rows: list[PredictionRow]
    n_errors: int
    conformal_level: float | None = Field(
        None, description="1 - alpha: the share of patients whose true outcome the 'set' or "
        "'lo'/'hi' columns hold (split-conformal, calibrated on validation rows); null when "
        "the model has no conformal calibration")


class ExplainRequest(_Strict):
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_EXPLAIN_ROWS)
    target_class: str | None = Field(None, max_length=200,
                                     description="explain this class or target "
                                     "(default: the predicted class / first target)")

    _clean = field_validator("rows")(classmethod(lambda cls, v: _check_rows(v)))

    @field_validator("target_class")
    @classmethod
    def _clean_target(cls, v: str | None) -> str | None:
        return v if v is None else check_text(v, "target_class")


class ExplainFile(BaseModel):
    name: str
    media_type: str
    data: str | None = Field(None, description="base64 of the file (images)")
    rows: list[dict[str, Any]] | None = Field(None, description="the rows of a CSV table")


class ExplainResponse(BaseModel):
    model: str
    version: str
    files: list[ExplainFile]


class DeidRequest(_Strict):
    text: str = Field(max_length=MAX_TEXT)
    mode: Literal["tag", "mask", "surrogate"] = Field(
        "tag", description="surrogate: consistent fake values; needs a server started with "
        "--key-file")
    patient: str | None = Field(None, max_length=200, description="scopes surrogates and the "
                                "date shift (surrogate mode)")

    @field_validator("text", "patient")
    @classmethod
    def _clean_text(cls, v: str | None, info: Any) -> str | None:
        return v if v is None else check_text(v, "the note" if info.field_name == "text"
                                              else "patient")


class DeidSpan(BaseModel):
    start: int
    end: int
    label: str


class DeidResponse(BaseModel):
    text: str
    spans: list[DeidSpan]


class ErrorResponse(BaseModel):
    detail: str
