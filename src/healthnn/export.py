"""Portable models: export a bundle's network to ONNX and predict with ONNX Runtime.

::

    healthnn export BUNDLE                      # writes BUNDLE/model.onnx, checked against PyTorch
    healthnn export BUNDLE --quantize           # also BUNDLE/model.int8.onnx (dynamic int8)

Only the network is exported. Preprocessing (scaling and one-hot encoding of table columns,
image decoding, SMILES featurisation) and post-processing (probabilities, survival curves)
stay in Python and are shared with PyTorch prediction, so both runtimes give the same
prediction columns: :func:`onnx_predictor` returns a :class:`~healthnn.bundle.Bundle` whose
model runs in ONNX Runtime.

Models whose input is one tensor (tables, images) export as they are; models whose input is a
batch object (the molecular graphs of ``dmpnn``) export with one ONNX input per tensor field.
Every dimension that depends on the batch stays dynamic. Ensembles export the members' stacked
outputs, so predictions keep their ``*_sd`` uncertainty columns.

The ONNX file records the SHA-256 of the weights it came from; loading it beside different
weights (the bundle was retrained) is refused. An encrypted bundle's export is written into the
bundle, sealed with the bundle's key like every other bundle file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from healthnn.errors import BundleError, DataError

__all__ = ["ExportResult", "export_onnx", "onnx_predictor", "ONNX_FILE", "INT8_FILE"]

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOLERANCE = 1e-5
_OPSET = 18


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote and how closely ONNX Runtime matches PyTorch.

    ``metrics`` maps a runtime (``torch``, ``onnx``, ``int8``) to the task's quick metrics on
    the checked rows, when those rows have labels.
    """

    path: Path
    rows_checked: int
    checked_on: str
    max_abs_diff: float
    int8_path: Path | None = None
    int8_max_abs_diff: float | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


# -- inputs --------------------------------------------------------------------------------------
def _fields(batch: Any) -> list[tuple[str, torch.Tensor]]:
    """The tensors a model input consists of, with their ONNX input names."""
    if isinstance(batch, torch.Tensor):
        return [("input", batch)]
    if dataclasses.is_dataclass(batch):
        out = [(f.name, getattr(batch, f.name)) for f in dataclasses.fields(batch)]
        if all(isinstance(t, torch.Tensor) for _, t in out):
            return out
    raise BundleError(f"the model takes {type(batch).__name__} inputs, which cannot be "
                      "exported to ONNX", hint="serve it with the PyTorch runtime")


class _FromFields(nn.Module):
    """Rebuild a dataclass input from its tensors (ONNX inputs are flat)."""

    def __init__(self, model: nn.Module, kind: type, names: list[str]) -> None:
        super().__init__()
        self.model, self.kind, self.names = model, kind, names

    def forward(self, fields: tuple[torch.Tensor, ...]) -> torch.Tensor:  # noqa: D102
        return self.model(self.kind(**dict(zip(self.names, fields, strict=True))))


class _Stacked(nn.Module):
    """An ensemble's member outputs, stacked: ``(members, n, outputs)``."""

    def __init__(self, ensemble: nn.Module) -> None:
        super().__init__()
        self.ensemble = ensemble

    def forward(self, inputs: Any) -> torch.Tensor:  # noqa: D102
        return self.ensemble.member_outputs(inputs)


def _test_rows(bundle: Any, key: bytes | None) -> tuple[Any, Path, str]:
    """The bundle's own test rows, read again from the file they came from."""
    import pandas as pd

    from healthnn.data.tables import fingerprint
    from healthnn.privacy.encryption import read_bundle_file

    d = bundle.config.data
    split = "test" if d.test else "train"
    file = Path(bundle.config.resolve(getattr(d, split)))
    hint = "pass --data FILE with some input rows (for example your test set)"
    if not file.exists():
        raise DataError("the data the bundle was trained on is not here, so there are no rows "
                        "to check the export on", file=str(file), hint=hint)
    recorded = bundle.manifest.get("data", {}).get(split, {}).get("sha256")
    if recorded and fingerprint(file) != recorded:
        raise DataError("the file has changed since the bundle was trained, so its test rows "
                        "are unknown", file=str(file), hint=hint)
    try:
        table = pd.read_csv(io.BytesIO(read_bundle_file(bundle.path, "predictions_test.csv", key)))
    except FileNotFoundError:
        raise DataError("the bundle has no predictions_test.csv", file=str(bundle.path),
                        hint=hint) from None
    df = bundle.task.read(file)
    rows = table["row"].to_numpy(dtype=np.int64) - 1
    what = f"the bundle's {len(rows)} test rows"
    if len(rows) and rows.min() >= 0 and rows.max() < len(df):
        return df.iloc[rows].reset_index(drop=True), file, what
    # the task reads a different view of the file once trained (an .npz's test part, say):
    # find the test rows by their identifier columns instead
    ids = [c for c in bundle.task.row_ids(df).columns if c in table.columns and c in df.columns]
    if ids:
        keyed = df.astype({c: str for c in ids}).set_index(ids)
        wanted = pd.MultiIndex.from_frame(table[ids].astype(str)) if len(ids) > 1 \
            else pd.Index(table[ids[0]].astype(str))
        if keyed.index.is_unique and wanted.isin(keyed.index).all():
            return keyed.loc[wanted].reset_index(), file, what
    return None, file, ""


def _sample(bundle: Any, data: str | Path | None, rows: int, key: bytes | None
            ) -> tuple[Any, Any, str, Any]:
    """Encoded check rows: (inputs, labels or None, description, a first batch)."""
    task = bundle.task
    with_metrics = True
    if data is None:
        df, file, what = _test_rows(bundle, key)
        if df is None:  # the test rows cannot be located: check on the file's first rows,
            # which may be training rows, so show no metrics for them
            df, what, with_metrics = task.read_inputs(file), "", False
    else:
        file = Path(data)
        if not file.exists():
            raise DataError("file not found", file=str(file))
        df, what = task.read_inputs(file), ""
    if len(df) == 0:
        raise DataError("no rows to check the exported model with", file=str(file))
    inputs, errors = task.encode(df, file)
    good = np.array([i for i in range(len(df)) if i not in errors][:rows], dtype=np.int64)
    if len(good) == 0:
        raise DataError(f"none of the {len(df)} rows could be encoded", file=str(file),
                        hint=next(iter(errors.values()), ""))
    inputs = task.subset(inputs, good)
    labels = None
    try:
        if not with_metrics:
            raise LookupError
        y, ok = task.labels(df.iloc[good].reset_index(drop=True), file)
        if bool(np.all(ok)):
            labels = task.target_tensors(y)
    except Exception:  # noqa: BLE001 - no labels (a prediction-only file): no metric table
        labels = None
    first = next(iter(task.batches(inputs, {"_": torch.zeros(len(good))}, shuffle=False,
                                   batch_size=min(len(good), 64))))[0]
    if not what:
        what = (f"{len(good)} rows of {file}" if len(good) == len(df)
                else f"the first {len(good)} of {len(df)} rows of {file}")
    return inputs, labels, what, first


# -- export --------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_exporter():
    """torch.onnx prints progress and warns about optional torchvision operators."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch._dynamo", "torch.export",
                                              "torch._export", "onnxscript")]
    loggers.append(logging.getLogger())  # onnxruntime.quantization warns on the root logger
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _weights_sha(path: Path, key: bytes | None) -> str:
    from healthnn.privacy.encryption import read_bundle_file

    return hashlib.sha256(read_bundle_file(path, "model.safetensors", key)).hexdigest()


def _to_onnx_bytes(bundle: Any, first: Any, key: bytes | None) -> bytes:
    model: nn.Module = bundle.model.eval()
    from healthnn.models.ensemble import Ensemble

    ensemble = isinstance(model, Ensemble)
    core: nn.Module = _Stacked(model) if ensemble else model
    named = _fields(first)
    names = [n for n, _ in named]
    tensors = tuple(t.float() if t.is_floating_point() else t for _, t in named)
    auto = torch.export.Dim.AUTO
    if isinstance(first, torch.Tensor):
        wrapped, args = core, tensors
        dynamic: Any = ({0: auto},)
    else:
        wrapped, args = _FromFields(core, type(first), names), (tensors,)
        dynamic = (tuple({0: auto} for _ in tensors),)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(wrapped, args, input_names=names,
                                        output_names=["member_outputs" if ensemble else "outputs"],
                                        dynamic_shapes=dynamic, dynamo=True, opset_version=_OPSET,
                                        verbose=False)
    except ModuleNotFoundError as exc:
        raise BundleError(f"ONNX export needs the 'onnx' extra ({exc.name} is not installed)",
                          hint="pip install 'healthnn[onnx]'") from None
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types; say which model
        raise BundleError(f"model '{bundle.config.model.name}' cannot be exported to ONNX: "
                          f"{_reason(exc)}", file=str(bundle.path),
                          hint="serve it with the PyTorch runtime (--runtime torch)") from None
    proto = program.model_proto
    meta = {"healthnn_weights_sha256": _weights_sha(bundle.path, key),
            "healthnn_task": bundle.config.task, "healthnn_model": bundle.config.model.name,
            "healthnn_ensemble": str(int(ensemble)), "healthnn_inputs": json.dumps(names)}
    from healthnn import __version__

    meta["healthnn_version"] = __version__
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    return proto.SerializeToString()


def _reason(exc: Exception) -> str:
    """The informative line of an exporter error (it wraps the cause in advice)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if "## Exception summary" in lines:
        lines = lines[lines.index("## Exception summary") + 1:]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _quantize(data: bytes) -> bytes:
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(data)
        with _quiet_exporter():
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        return dst.read_bytes()


def _write(bundle_dir: Path, out: Path, data: bytes, key: bytes | None) -> None:
    """Into the bundle: sealed, or recorded in its integrity list; elsewhere: atomically."""
    from healthnn.bundle_files import write_bundle_file
    from healthnn.io import write_bytes

    if out.parent.resolve() == Path(bundle_dir).resolve():
        write_bundle_file(bundle_dir, out.name, data, key)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(out, data)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) if a.numel() else 0.0


def export_onnx(
    bundle: Any,
    out: str | Path | None = None,
    *,
    data: str | Path | None = None,
    rows: int = 256,
    quantize: bool = False,
    key: bytes | None = None,
    tolerance: float = TOLERANCE,
) -> ExportResult:
    """Export a bundle's model to ONNX and check it against PyTorch on real input rows.

    ``bundle`` is a bundle directory (or a loaded :class:`~healthnn.bundle.Bundle`); ``out``
    defaults to ``model.onnx`` inside it. The check rows come from ``data`` (a file in the
    bundle's input format) or else from the data files named in the bundle's config. Raises
    :class:`~healthnn.errors.BundleError` when ONNX Runtime's outputs differ from PyTorch's
    by more than ``tolerance``. ``quantize`` also writes a dynamically int8-quantised copy
    (``model.int8.onnx`` beside ``out``) and reports how much the task's metrics change.
    """
    b = _loaded(bundle, key)
    from healthnn.privacy.encryption import is_encrypted

    if any(m.get("kind") == "probabilities"
           for m in b.manifest.get("recalibration", {}).get("maps", [])):
        raise BundleError("this bundle was recalibrated (healthnn recalibrate): the ONNX model "
                          "would not carry the recalibration map", file=str(b.path),
                          hint="serve it with --runtime torch, or export the original bundle")
    default = b.path / ONNX_FILE
    out = default if out is None else Path(out)
    if is_encrypted(b.path) and out.resolve() != default.resolve():
        raise BundleError("an encrypted bundle's model is exported into the bundle, sealed with "
                          "its key", file=str(out), hint="leave out --out")
    if out.suffix != ".onnx":
        raise BundleError("the output file must end in .onnx", file=str(out))
    inputs, labels, checked_on, first = _sample(b, data, rows, key)
    blob = _to_onnx_bytes(b, first, key)
    reference = b.outputs(inputs)
    session = _OrtModel.from_bytes(blob)
    got = b.outputs(inputs, model=session)
    diff = _max_diff(got, reference)
    if not diff <= tolerance:
        raise BundleError(f"ONNX Runtime's outputs differ from PyTorch's by up to {diff:.3g} "
                          f"(tolerance {tolerance:g}) on {checked_on}", file=str(b.path),
                          hint="serve this model with the PyTorch runtime")
    _write(b.path, out, blob, key)
    metrics: dict[str, dict[str, float]] = {}
    if labels is not None:
        metrics = {"torch": b.task.score(reference, labels), "onnx": b.task.score(got, labels)}
    int8_path, int8_diff = None, None
    if quantize:
        int8 = _quantize(blob)
        int8_path = out.with_name(out.name.removesuffix(".onnx") + ".int8.onnx")
        got8 = b.outputs(inputs, model=_OrtModel.from_bytes(int8))
        int8_diff = _max_diff(got8, reference)
        if labels is not None:
            metrics["int8"] = b.task.score(got8, labels)
        _write(b.path, int8_path, int8, key)
    return ExportResult(out, len(inputs), checked_on, diff, int8_path, int8_diff, metrics)


def _loaded(bundle: Any, key: bytes | None) -> Any:
    from healthnn.bundle import Bundle, load_bundle

    return bundle if isinstance(bundle, Bundle) else load_bundle(bundle, key=key)


# -- prediction ----------------------------------------------------------------------------------
class _OrtModel(nn.Module):
    """An ONNX Runtime session behind the ``nn.Module`` interface that bundles use.

    ``member`` selects one ensemble member's output (for the ``*_sd`` columns); ``members``
    lists those views, like :class:`~healthnn.models.ensemble.Ensemble` does.
    """

    def __init__(self, session: Any, member: int | None = None) -> None:
        super().__init__()
        self.session, self.member = session, member
        self.input_names = [i.name for i in session.get_inputs()]
        self.input_types = {i.name: _NUMPY[i.type] for i in session.get_inputs()}
        self.stacked = session.get_outputs()[0].name == "member_outputs"
        self._members: list[_OrtModel] | None = None

    @classmethod
    def from_bytes(cls, data: bytes, threads: int | None = None) -> _OrtModel:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        return cls(ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]))

    @property
    def members(self) -> list[_OrtModel] | None:  # noqa: D102
        return self._members

    def forward(self, inputs: Any) -> torch.Tensor:  # noqa: D102
        feeds = {name: t.detach().cpu().numpy().astype(self.input_types[name], copy=False)
                 for name, t in _fields(inputs)}
        (out,) = self.session.run(None, {n: feeds[n] for n in self.input_names})
        out = torch.from_numpy(np.asarray(out))
        if not self.stacked:
            return out
        return out.mean(0) if self.member is None else out[self.member]


_NUMPY = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(double)": np.float64,
          "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(float16)": np.float16}


def onnx_predictor(
    bundle_dir: str | Path,
    key: bytes | None = None,
    *,
    path: str | Path | None = None,
    threads: int | None = None,
) -> Any:
    """A :class:`~healthnn.bundle.Bundle` whose model runs in ONNX Runtime.

    Its ``predict(df)`` returns the same columns as PyTorch prediction. ``path`` picks the ONNX
    file (default: ``model.onnx`` in the bundle; ``model.int8.onnx`` for the quantised one).
    """
    from healthnn.privacy.encryption import is_encrypted, read_bundle_file

    b = _loaded(bundle_dir, key)
    file = b.path / ONNX_FILE if path is None else Path(path)
    inside = file.parent.resolve() == b.path.resolve()
    try:
        data = (read_bundle_file(b.path, file.name, key) if inside and is_encrypted(b.path)
                else file.read_bytes())
    except (FileNotFoundError, IsADirectoryError):
        raise BundleError("no ONNX export of this bundle", file=str(file),
                          hint=f"run: healthnn export {b.path}") from None
    try:
        model = _OrtModel.from_bytes(data, threads)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise BundleError(f"cannot load the ONNX model: {str(exc).splitlines()[0][:200]}",
                          file=str(file), hint=f"run: healthnn export {b.path}") from None
    meta = dict(model.session.get_modelmeta().custom_metadata_map)
    if meta.get("healthnn_weights_sha256") != _weights_sha(b.path, key):
        raise BundleError("the ONNX file was exported from different weights than this bundle's",
                          file=str(file), hint=f"export again: healthnn export {b.path}")
    if model.stacked:
        model._members = [_OrtModel(model.session, i) for i in range(b.config.train.ensemble)]
    return dataclasses.replace(b, model=model)
