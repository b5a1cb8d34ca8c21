"""Request and response models of the REST API (they make the published OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Health", "ColumnInfo", "InputSchema", "ModelInfo", "ModelList", "PredictRequest",
    "PredictionRow", "PredictResponse", "ExplainRequest", "ExplainFile", "ExplainResponse",
    "DeidRequest", "DeidSpan", "DeidResponse", "ErrorResponse", "MAX_ROWS", "MAX_EXPLAIN_ROWS",
]

MAX_ROWS = 1000
MAX_EXPLAIN_ROWS = 20
MAX_TEXT = 100_000

Cell = str | float | int | bool | None


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


class DeidSpan(BaseModel):
    start: int
    end: int
    label: str


class DeidResponse(BaseModel):
    text: str
    spans: list[DeidSpan]


class ErrorResponse(BaseModel):
    detail: str
