"""The models a server holds: bundles loaded once, predicting and explaining DataFrames.

Nothing here knows about tables, images or molecules: a model's input schema comes from its
task (:meth:`healthnn.tasks.base.Task.input_schema`), predictions from
:meth:`healthnn.bundle.Bundle.predict` (or an ONNX Runtime predictor with the same interface),
explanations from the task's ``explain`` hook, whose files are returned as they are.
"""

from __future__ import annotations

import base64
import hashlib
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from healthnn.errors import BundleError, HealthnnError

__all__ = ["ServedModel", "load_models", "RUNTIMES"]

RUNTIMES = ("torch", "onnx")
_MEDIA = {".png": "image/png", ".svg": "image/svg+xml", ".csv": "text/csv"}


@dataclass
class ServedModel:
    name: str
    version: str
    task: str
    runtime: str
    bundle: Any
    predictor: Any = None  # .predict(df) like Bundle.predict; None: the bundle itself
    schema: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the bundle's folder (work processes load it again)

    def predict(self, df: pd.DataFrame, file: Path | None = None) -> pd.DataFrame:
        """Prediction columns (and ``error``) for each row of ``df``."""
        runner = self.bundle if self.predictor is None else self.predictor
        f = Path(file or "request")
        if hasattr(runner, "predict_encoded"):  # a Bundle: no copy of the input columns
            inputs, errors = runner.task.encode(df, f)
            return runner.predict_encoded(df, inputs, errors, f, with_inputs=False)
        out = runner.predict(df, file=f)
        cols = [c for c in out.columns if c not in df.columns or c == "error"]
        return out[cols]

    @property
    def takes_encoded(self) -> bool:
        """Whether :meth:`predict_encoded` works (the runner is a Bundle)."""
        return hasattr(self.bundle if self.predictor is None else self.predictor,
                       "predict_encoded")

    def predict_encoded(self, df: pd.DataFrame, inputs: Any,
                        errors: dict[int, str]) -> pd.DataFrame:
        """:meth:`predict` for rows the task already encoded (see ``Task.encode_upload``)."""
        runner = self.bundle if self.predictor is None else self.predictor
        return runner.predict_encoded(df, inputs, errors, "request", with_inputs=False)

    def explain(self, df: pd.DataFrame, file: Path | None = None,
                target_class: str | None = None) -> list[dict[str, Any]]:
        """The task's explanation files for ``df``: images as base64, tables as rows."""
        with tempfile.TemporaryDirectory(prefix="healthnn-explain-") as tmp:
            out = Path(tmp)
            written = self.bundle.task.explain(
                self.bundle.model, df.reset_index(drop=True), out,
                file=file or Path("request"), target_class=target_class)
            names = sorted({p.name for p in written} | {p.name for p in out.iterdir()
                                                        if p.suffix in _MEDIA})
            items = []
            for name in names:
                path = out / name
                suffix = path.suffix.lower()
                if suffix == ".csv":
                    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
                    items.append({"name": name, "media_type": "text/csv", "data": None,
                                  "rows": [_clean_row(r) for r in table.to_dict("records")]})
                elif suffix in _MEDIA:
                    items.append({"name": name, "media_type": _MEDIA[suffix], "rows": None,
                                  "data": base64.b64encode(path.read_bytes()).decode("ascii")})
            return items


def _clean_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif hasattr(v, "item"):
            v = v.item()
        out[str(k)] = v
    return out


def _version(path: Path, manifest: dict[str, Any]) -> str:
    """``<created date>-<first 8 hex of the weights' SHA-256>``: changes when the model does."""
    weights = path / "model.safetensors"
    if not weights.is_file():
        weights = path / "model.safetensors.enc"
    h = hashlib.sha256()
    with weights.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    created = str(manifest.get("created", ""))[:10].replace("-", "")
    return f"{created}-{h.hexdigest()[:8]}" if created else h.hexdigest()[:8]


def load_models(dirs: list[Path], *, key: bytes | None = None,
                runtime: str = "torch") -> dict[str, ServedModel]:
    """Load every bundle in ``dirs``; the directory's name is the model's name."""
    from healthnn.bundle import load_bundle

    if runtime not in RUNTIMES:
        raise HealthnnError(f"unknown runtime {runtime!r}", key="--runtime",
                            hint=f"one of: {', '.join(RUNTIMES)}")
    if not dirs:
        raise HealthnnError("no bundle directories given", hint="healthnn serve DIR [DIR ...]")
    models: dict[str, ServedModel] = {}
    for d in dirs:
        d = Path(d)
        name = d.resolve().name
        if name in models:
            raise BundleError(f"two bundles are named {name!r}", file=str(d),
                              hint="serve bundles from directories with different names")
        bundle = load_bundle(d, key=key)
        predictor = _onnx_predictor(d, key) if runtime == "onnx" else None
        models[name] = ServedModel(
            name=name, version=_version(d, bundle.manifest), task=bundle.config.task,
            runtime=runtime, bundle=bundle, predictor=predictor,
            schema=bundle.task.input_schema(), path=d)
    return models


def _onnx_predictor(path: Path, key: bytes | None) -> Any:
    try:
        from healthnn.export import onnx_predictor
    except ImportError:
        raise HealthnnError("--runtime onnx needs ONNX export (healthnn.export), which this "
                            "installation does not have", key="--runtime",
                            hint="use --runtime torch, or update healthnn") from None
    return onnx_predictor(path, key=key)
