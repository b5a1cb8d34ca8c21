"""``/models``: list the models; predict and explain JSON rows and uploaded files."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse

from healthnn.serve import work
from healthnn.serve.context import ERRORS, authorize, server_of
from healthnn.serve.keys import ApiKey
from healthnn.serve.models import ServedModel
from healthnn.serve.schemas import (
    ExplainRequest,
    ExplainResponse,
    ModelInfo,
    ModelList,
    PredictRequest,
    PredictResponse,
)
from healthnn.serve.uploads import check_upload, hide_internals

router = APIRouter(tags=["models"])


@router.get("/models", response_model=ModelList, responses=ERRORS)
async def list_models(request: Request,
                      key: ApiKey = Depends(authorize("predict", "/models"))) -> ModelList:
    """The models served: name, version, task, input schema and test metrics."""
    return ModelList(models=[_info(m) for m in server_of(request).models.values()])


@router.post("/models/{name}/predict", response_model=PredictResponse, responses=ERRORS)
async def predict(request: Request, name: str, body: PredictRequest,
                  key: ApiKey = Depends(authorize("predict", "/models/{name}/predict"))
                  ) -> JSONResponse:
    """Predict JSON rows (tables, SMILES, text). Rows that cannot be predicted say why in
    ``error``; the others are predicted."""
    srv = server_of(request)
    m = srv.model_named(request, name)
    srv.input_hash(request, name.encode(), _canonical(body.rows))
    columns, values = _rows_text(body.rows, m)
    records = await srv.bounded(srv.batchers[m.name].predict(columns, values))
    return _predict_response(m, records)


@router.post("/models/{name}/predict/upload", response_model=PredictResponse,
             responses=ERRORS)
async def predict_upload(request: Request, name: str, file: UploadFile = File(...),
                         key: ApiKey = Depends(authorize("predict",
                                                         "/models/{name}/predict/upload"))
                         ) -> JSONResponse:
    """Predict an uploaded file: an image for image models, a CSV/TSV/Parquet table of
    rows for the others (see the model's ``input.accept``)."""
    srv = server_of(request)
    m = srv.model_named(request, name)
    data = await file.read()
    srv.input_hash(request, name.encode(), data)
    filename = file.filename or ""
    await srv.in_thread(lambda: check_upload(m.schema, m.name, filename, data,
                                             **srv.work.limits))
    # decoded in memory where the format allows (images), then predicted in one batch
    # with the uploads that arrived meanwhile; other files go through a temporary file
    got = (await srv.heavy(work.encode_upload, m.name, filename, data)
           if m.takes_encoded else None)
    if got is not None:
        records = await srv.bounded(srv.upload_batchers[m.name].predict_encoded(*got))
        return _predict_response(m, records)
    records = await srv.heavy(work.predict_upload, m.name, filename, data)
    return _predict_response(m, records)


@router.post("/models/{name}/explain", response_model=ExplainResponse, responses=ERRORS)
async def explain(request: Request, name: str, body: ExplainRequest,
                  key: ApiKey = Depends(authorize("explain", "/models/{name}/explain"))
                  ) -> ExplainResponse:
    """Explain JSON rows: feature contributions (tables), atom attributions drawn on the
    molecule (SMILES)."""
    srv = server_of(request)
    m = srv.model_named(request, name)
    srv.input_hash(request, name.encode(), _canonical(body.rows))
    df = _rows_frame(body.rows, m)
    files = await srv.heavy(work.explain_rows, m.name, df, body.target_class)
    return ExplainResponse(model=m.name, version=m.version, files=files)


@router.post("/models/{name}/explain/upload", response_model=ExplainResponse,
             responses=ERRORS)
async def explain_upload(request: Request, name: str, file: UploadFile = File(...),
                         target_class: str | None = Form(None, max_length=200),
                         key: ApiKey = Depends(authorize("explain",
                                                         "/models/{name}/explain/upload"))
                         ) -> ExplainResponse:
    """Explain an uploaded file (Grad-CAM overlay for an image)."""
    srv = server_of(request)
    m = srv.model_named(request, name)
    data = await file.read()
    srv.input_hash(request, name.encode(), data)
    files = await srv.heavy(work.explain_upload, m.name, file.filename or "", data,
                            target_class)
    return ExplainResponse(model=m.name, version=m.version, files=files)


# -- helpers ---------------------------------------------------------------------------------
def _info(m: ServedModel) -> ModelInfo:
    test = (m.bundle.metrics or {}).get("test", {})
    metrics = {k: (v.get("value") if isinstance(v, dict) else None) for k, v in test.items()}
    metrics = {k: (None if v is None or (isinstance(v, float) and not math.isfinite(v))
                   else float(v)) for k, v in metrics.items()}
    return ModelInfo(name=m.name, version=m.version, task=m.task, runtime=m.runtime,
                     input=m.schema, metrics=metrics, conformal_level=_level(m))


def _level(m: ServedModel) -> float | None:
    c = getattr(m.bundle, "conformal", None)
    return round(1.0 - float(c["alpha"]), 6) if c else None


def _canonical(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str).encode()


def _rows_text(rows: list[dict[str, Any]], m: ServedModel
               ) -> tuple[tuple[str, ...], list[list[str | None]]]:
    """JSON rows as the text cells a file would give (so a row scores as it would in a CSV):
    the columns in order of appearance, and one list of cells per row."""
    if not m.schema.get("rows", True):
        raise HTTPException(422, f"model '{m.name}' takes files: POST them to "
                            f"/models/{m.name}/predict/upload")
    if any(len(r) > 10_000 for r in rows):
        raise HTTPException(422, "a row has more than 10000 columns")
    columns = tuple(dict.fromkeys(c for r in rows for c in r))
    values = [[None if r.get(c) is None else str(r[c]) for c in columns] for r in rows]
    return columns, values


def _rows_frame(rows: list[dict[str, Any]], m: ServedModel) -> pd.DataFrame:
    columns, values = _rows_text(rows, m)
    return pd.DataFrame(values, columns=list(columns), dtype=object)


def _predict_response(m: ServedModel, records: list[dict[str, Any]]) -> JSONResponse:
    """The PredictResponse document, built directly (FastAPI would otherwise validate it a
    second time; the OpenAPI document still declares PredictResponse)."""
    rows = []
    n_errors = 0
    for i, rec in enumerate(records):
        values: dict[str, Any] = {}
        for c, v in rec.items():
            if c == "error":
                continue
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                v = None
            elif isinstance(v, str):
                pass
            elif hasattr(v, "item"):
                v = v.item()
            if v is not None and not isinstance(v, str):
                v = float(v)
                v = v if math.isfinite(v) else None
            values[str(c)] = v
        error = rec.get("error")
        error = ("" if error is None or (isinstance(error, float) and error != error)
                 else hide_internals(str(error)))
        n_errors += bool(error)
        rows.append({"row": i + 1, "values": values, "error": error})
    return JSONResponse({"model": m.name, "version": m.version, "rows": rows,
                         "n_errors": n_errors, "conformal_level": _level(m)})
