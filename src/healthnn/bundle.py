"""A trained bundle: one directory that holds everything needed to predict, evaluate and audit.

::

    bundle/
      model.safetensors     weights
      config.toml           the resolved experiment config
      task.json             fitted preprocessing and task state (classes, baseline hazard, ...)
      metrics.json          split -> metric -> {value, ci_low, ci_high}
      predictions_test.csv  test rows: id, observed outcome, predictions
      conformal.json        split-conformal calibration (sets / intervals), when the task has one
      manifest.json         data fingerprints, split sizes, versions, seed, training history
      integrity.json        SHA-256 of every other file, checked at load (healthnn.bundle_files)

Nothing in a bundle is pickled: weights are safetensors, everything else is JSON or TOML, so
loading a bundle from elsewhere cannot run code.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from healthnn import __version__
from healthnn.config import Config, load_config, to_toml
from healthnn.errors import BundleError, DataError
from healthnn.io import json_ready, write_json
from healthnn.models.ensemble import Ensemble

__all__ = ["Bundle", "load_bundle", "save_bundle", "library_versions", "write_json",
           "recalibrated_outputs", "absolute_paths", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_REQUIRED = ("model.safetensors", "config.toml", "task.json", "manifest.json")


@dataclass
class Bundle:
    """A loaded bundle: config, fitted task, model (in eval mode) and records."""

    path: Path
    config: Config
    task: Any
    model: nn.Module
    manifest: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    conformal: dict[str, Any] | None = None  # conformal.json: see healthnn.metrics.conformal
    key: bytes | None = field(default=None, repr=False)  # an encrypted bundle's key (memory only)

    @torch.no_grad()
    def outputs(self, inputs: Any, batch_size: int | None = None,
                model: nn.Module | None = None, device: torch.device | None = None
                ) -> torch.Tensor:
        """Raw model outputs for encoded inputs, computed in batches (``batch_size``: the
        task's ``predict_batch_size`` unless given; ``device``: ``[train] device`` when
        "auto", else the CPU, unless given)."""
        from healthnn.training import collect_outputs, resolve_device

        model = self.model if model is None else model
        if device is None:
            device = resolve_device("auto" if self.config.train.device == "auto" else "cpu")
        model.to(device)
        n = len(inputs)
        if n == 0:
            return torch.zeros((0, self.task.out_features()))
        empty = {"_": torch.zeros(n)}
        batch_size = batch_size or self.task.predict_batch_size
        with torch.inference_mode():
            out, _ = collect_outputs(model, self.task.batches(inputs, empty, shuffle=False,
                                                             batch_size=batch_size), device)
        return out.clone()  # an ordinary tensor again, usable outside inference mode

    def recalibrated(self, outputs: torch.Tensor) -> torch.Tensor:
        """Outputs through the site recalibration maps of ``healthnn recalibrate``, if any."""
        maps = self.manifest.get("recalibration", {}).get("maps")
        if not maps:
            return outputs
        return recalibrated_outputs(maps, outputs)

    def score_inputs(self, inputs: Any, *, batch_size: int | None = None,
                     device: torch.device | None = None) -> tuple[torch.Tensor, pd.DataFrame]:
        """Raw outputs and prediction columns of encoded inputs: the one place prediction
        columns are built (training's test rows, ``evaluate``, ``predict``, the server).

        Columns: the task's predictions; for an ensemble, ``<column>_sd``, the standard
        deviation across members of each numeric prediction; with ``conformal.json``, the
        conformal set (``set``) or interval (``lo``/``hi``) columns.
        """
        members = getattr(self.model, "members", None)  # an Ensemble, or ONNX members
        each = None
        if members is not None and len(inputs):
            # each member runs once; their mean is exactly the ensemble's output
            each = [self.outputs(inputs, batch_size, model=m, device=device) for m in members]
            outputs = self.recalibrated(torch.stack(each).mean(0))
            each = [self.recalibrated(o) for o in each]
        else:
            outputs = self.recalibrated(self.outputs(inputs, batch_size, device=device))
        preds = self.task.predictions_for(inputs, outputs)
        if each is not None:
            per_member = [self.task.predictions_for(inputs, o) for o in each]
            for col in preds.select_dtypes("floating").columns:
                stacked = np.stack([p[col].to_numpy(dtype=float) for p in per_member])
                preds[f"{col}_sd"] = stacked.std(0, ddof=1)
        domain = self.manifest.get("domain")
        x = self.task.domain_features(inputs) if domain and len(inputs) else None
        if x is not None:  # healthnn.domain: distance to the training rows, and the flag
            from healthnn.domain import domain_scores

            scores = domain_scores(domain, x)
            preds["domain"] = scores
            preds["out_of_domain"] = scores > domain["threshold"]
        got = self.task.conformal_outputs(outputs) if self.conformal else None
        if got is not None:
            from healthnn.metrics.conformal import conformal_columns

            for col, values in conformal_columns(self.conformal, got[1]).items():
                preds[col] = values
        return outputs, preds

    def predict(self, df: pd.DataFrame, file: str | Path = "<input>") -> pd.DataFrame:
        """The input rows with prediction columns added and an ``error`` column.

        A task may add columns about the input too (text: ``truncated``, the note was longer
        than ``max_length`` and only its beginning was read).

        Rows that cannot be predicted keep empty prediction cells and say why in ``error``;
        every other row is predicted. A missing required column fails the whole call.
        """
        inputs, errors = self.task.encode(df, Path(file))
        return self.predict_encoded(df, inputs, errors, file)

    def predict_encoded(self, df: pd.DataFrame, inputs: Any, errors: dict[int, str],
                        file: str | Path = "<input>", *, with_inputs: bool = True
                        ) -> pd.DataFrame:
        """:meth:`predict` for rows already encoded by the task (``errors``: row position ->
        why it could not be encoded), e.g. uploads decoded in memory by the server.
        ``with_inputs=False``: the prediction columns and ``error`` only (the server's path)."""
        good = np.array([i not in errors for i in range(len(df))], dtype=bool)
        good_inputs = self.task.subset(inputs, np.flatnonzero(good))
        outputs, preds = self.score_inputs(good_inputs)
        finite = torch.isfinite(outputs)
        finite = (finite.flatten(1).all(1) if finite.ndim > 1 else finite).numpy()
        if not finite.all():  # a NaN/inf output is a row error, never an empty prediction
            pos = np.flatnonzero(good)[~finite]
            errors = {**errors, **{int(i): "the model's output is not a finite number for "
                                   "this row (check its values)" for i in pos}}
            good[pos] = False
            preds = preds[finite].reset_index(drop=True)
        flags = self.task.row_flags(df).reset_index(drop=True)
        clash = ([c for c in [*preds.columns, *flags.columns, "error"] if c in df.columns]
                 if with_inputs else [])
        if clash:
            raise DataError(
                f"the input already has column(s) {', '.join(clash)}",
                file=str(file),
                hint="rename or remove them; predict adds these columns",
            )
        if not with_inputs:
            if not good.all():
                preds.index = np.flatnonzero(good)
                preds = preds.reindex(range(len(df)))
            for col in flags.columns:
                preds[col] = flags[col].to_numpy()
            preds["error"] = [errors.get(i, "") for i in range(len(df))] if errors else ""
            return preds
        preds.index = np.flatnonzero(good)
        full = preds.reindex(range(len(df)))
        out = df.reset_index(drop=True).copy()
        for col in preds.columns:
            out[col] = full[col]
        for col in flags.columns:
            out[col] = flags[col].to_numpy()
        out["error"] = [errors.get(i, "") for i in range(len(df))]
        return out


def recalibrated_outputs(maps: list[dict[str, Any]], outputs: torch.Tensor) -> torch.Tensor:
    """Raw classification outputs mapped through a bundle's recalibration maps, in order.

    The result is again a logit (one output: binary) or log-probabilities (several), so every
    consumer of outputs sees recalibrated risks.
    """
    from healthnn.metrics.recalibration import apply_recalibration

    for m in maps:
        if m.get("kind") != "probabilities" or len(outputs) == 0:
            continue
        z = outputs.double()
        if z.shape[1] == 1:
            p1 = torch.sigmoid(z[:, 0]).numpy()
            p = apply_recalibration(m["state"], np.column_stack([1 - p1, p1]))[:, 1]
            p = np.clip(p, _RECAL_EPS, 1 - _RECAL_EPS)
            outputs = torch.from_numpy(np.log(p / (1 - p))[:, None]).to(outputs.dtype)
        else:
            p = apply_recalibration(m["state"], torch.softmax(z, 1).numpy())
            outputs = torch.from_numpy(np.log(np.clip(p, _RECAL_EPS, 1))).to(outputs.dtype)
    return outputs


_RECAL_EPS = 1e-7


def library_versions() -> dict[str, str]:
    import sklearn

    return {
        "healthnn": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
    }


def save_bundle(
    path: Path,
    *,
    config: Config,
    task: Any,
    model: nn.Module,
    metrics: dict[str, Any],
    manifest: dict[str, Any],
    predictions: pd.DataFrame | None = None,
    conformal: dict[str, Any] | None = None,
    key: bytes | None = None,
) -> Bundle:
    """Write a bundle's files into ``path``, each atomically, and its integrity list last.

    A ``path`` made an encrypted bundle by :func:`healthnn.bundle_files.staged_bundle` gets
    every file sealed with ``key`` as it is written (no integrity list: the encrypted index
    authenticates the files).
    """
    from safetensors.torch import save

    from healthnn.bundle_files import write_bundle_file, write_integrity
    from healthnn.privacy.encryption import is_encrypted

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    def put(name: str, data: bytes | str) -> None:
        write_bundle_file(path, name, data.encode("utf-8") if isinstance(data, str) else data,
                          key)

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    put("model.safetensors", save(state))
    put("config.toml", to_toml(absolute_paths(config)))
    task_state = task.state_dict()
    if task.operating_point_ is not None:  # [eval] operating_point
        task_state["operating_point"] = task.operating_point_
    if getattr(task, "baselines_", None):  # [baseline] models, as JSON (healthnn.baselines)
        from healthnn.baselines.run import baseline_state

        task_state["baselines"] = baseline_state(task)
    put("task.json", _json_text(task_state))
    put("metrics.json", _json_text(metrics))
    if predictions is not None:
        put("predictions_test.csv", predictions.to_csv(index=False))
    if conformal is not None:
        put("conformal.json", _json_text(conformal))
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": config.task,
        "model": {"name": config.model.name, "params": config.model.params,
                  "in_features": task.in_features(), "out_features": task.out_features()},
        "versions": library_versions(),
        "integrity": INTEGRITY_NOTE,
        **manifest,
    }
    put("manifest.json", _json_text(manifest))
    if not is_encrypted(path):
        write_integrity(path)
    return Bundle(path, config, task, model.eval(), manifest, metrics, conformal, key=key)


INTEGRITY_NOTE = "integrity.json (plain) or encrypted.json (encrypted) lists every file"


def load_bundle(path: str | Path, *, key: bytes | None = None,
                allow_modified: bool = False) -> Bundle:
    """Load a bundle written by :func:`save_bundle` (or ``healthnn train``).

    An encrypted bundle (see :mod:`healthnn.privacy.encryption`) needs its ``key``; it is
    decrypted in memory only. A ``key`` given for a bundle that is not encrypted is refused
    (a plaintext copy put in place of an encrypted bundle). The bundle's files are checked
    against its integrity list (:func:`healthnn.bundle_files.verify_bundle`); a modified,
    missing or added file is an error unless ``allow_modified``.
    """
    import tomllib

    from safetensors.torch import load as load_safetensors

    from healthnn.bundle_files import verify_bundle
    from healthnn.privacy.encryption import is_encrypted, read_bundle_file
    from healthnn.tasks import get_task_class

    path = Path(path)
    if not path.is_dir():
        raise BundleError("bundle directory not found", file=str(path),
                          hint="pass the --out directory of 'healthnn train'")
    encrypted = is_encrypted(path)
    if key is not None and not encrypted:
        raise BundleError("a key was given but this bundle is not encrypted", file=str(path),
                          hint="a plaintext copy may have replaced an encrypted bundle; to "
                          "load a plaintext bundle give no --key-file (and unset "
                          "HEALTHNN_KEY_FILE), or encrypt it with 'healthnn encrypt'")
    for name in _REQUIRED:
        if not (path / (name + ".enc" if encrypted else name)).is_file():
            raise BundleError(f"incomplete bundle: {name} is missing", file=str(path),
                              hint="train again, or copy the whole directory")

    def read(name: str) -> bytes:
        return read_bundle_file(path, name, key)

    if encrypted:
        verify_bundle(path, key=key)
    manifest = _parse_json(read("manifest.json"), path / "manifest.json")
    if not encrypted:
        verify_bundle(path, allow_modified=allow_modified,
                      expects_list=isinstance(manifest, dict) and "integrity" in manifest)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"bundle format {manifest.get('format_version')} is not supported by healthnn "
            f"{__version__} (format {FORMAT_VERSION})", file=str(path))
    config = load_config(tomllib.loads(read("config.toml").decode("utf-8")), base_dir=path)
    config.source = str(path / "config.toml")
    task = get_task_class(config.task)(config)
    task_state = _parse_json(read("task.json"), path / "task.json")
    task.load_state_dict(task_state)
    if task_state.get("operating_point") is not None:
        task.operating_point_ = task_state["operating_point"]
    if task_state.get("baselines"):
        from healthnn.baselines.run import load_baseline_state

        load_baseline_state(task, task_state["baselines"])
    model = task.build_model()
    if config.train.ensemble > 1:
        model = Ensemble([model, *(task.build_model() for _ in range(config.train.ensemble - 1))])
    try:
        model.load_state_dict(load_safetensors(read("model.safetensors")))
    except BundleError:
        raise
    except Exception as exc:  # corrupted or mismatched weights
        raise BundleError(f"cannot load weights: {exc}", file=str(path / "model.safetensors")) from None
    model.eval()
    try:
        metrics = _parse_json(read("metrics.json"), path / "metrics.json")
    except FileNotFoundError:
        metrics = {}
    try:
        conformal = _parse_json(read("conformal.json"), path / "conformal.json")
    except FileNotFoundError:
        conformal = None
    return Bundle(path, config, task, model, manifest, metrics, conformal, key=key)


def absolute_paths(config: Config) -> dict[str, Any]:
    """The config as a dict with its data and ``[model] init`` paths made absolute."""
    from healthnn.tasks import get_task_class

    d = config.to_dict()
    for key in get_task_class(config.task).path_fields:  # declared by each task
        if d["data"].get(key):
            d["data"][key] = str(config.resolve(d["data"][key]).resolve())
    if d["model"].get("init"):  # transfer learning's starting point (issue 9)
        d["model"]["init"] = str(config.resolve(d["model"]["init"]).resolve())
    return d


def _json_text(obj: Any) -> str:
    return json.dumps(json_ready(obj), indent=2) + "\n"


def _parse_json(data: bytes, path: Path) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read: {exc}", file=str(path)) from None
