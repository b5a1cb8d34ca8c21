"""What each task gives its baselines, and how a baseline's predictions become network outputs.

A baseline reads a numeric matrix (tables and survival: the network's own encoded inputs;
event streams: the per-window aggregates and numeric static descriptors of each stay;
molecules: Morgan count fingerprints, radius 2, 2048 bits, of the standardised molecule) and
predicts class probabilities, values or a log relative risk. :func:`to_outputs` turns that
into the network's output format, so the task's own ``evaluate`` scores baseline and network
with the same code (and the paired comparison resamples both alike).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = ["BaselineSkipped", "family", "inputs", "targets", "to_outputs", "evaluation_task"]

_EPS = 1e-12


class BaselineSkipped(Exception):
    """A baseline that cannot be fitted or scored here; the message is one plain line (never
    text derived from the input)."""


def family(task: Any) -> str:
    """``classes``, ``values``, ``survival`` or ``multilabel``: what the task predicts."""
    if task.name == "survival":
        return "survival"
    if task.name == "regression":
        return "values"
    if task.name == "molecule_property":
        return "binary_values" if task.kind_ == "binary" else "values"
    if getattr(task, "multilabel", False):
        return "multilabel"
    return "classes"


def inputs(task: Any, df: pd.DataFrame, file: Path, columns: list[str] | None = None
           ) -> tuple[np.ndarray, list[str] | None]:
    """The numeric matrix baselines read for the rows of ``df`` (and, for event streams, the
    columns it was taken from: the training rows decide them, later calls pass them)."""
    if task.name == "molecule_property":
        return _morgan_counts(task, df), None
    if task.name == "event_classification":
        if columns is None:  # aggregates and statics: never the outcome table's other columns
            d = task.config.data
            skip = {*task.target_columns(), task.id_column, d.group,
                    *task.config.report.subgroups}
            columns = [c for c in df.columns if c not in skip and c != "events"
                       and pd.api.types.is_numeric_dtype(df[c])]
        frame = df.reindex(columns=columns)
        return frame.to_numpy(dtype=np.float64, na_value=np.nan), columns
    x, errors = task.encode(df, file)
    if errors:
        raise BaselineSkipped(f"{len(errors)} row(s) could not be encoded")
    return x.detach().double().numpy().reshape(len(df), -1), None


def _morgan_counts(task: Any, df: pd.DataFrame) -> np.ndarray:
    from rdkit.Chem import rdFingerprintGenerator

    from healthnn.data.molecules import standardize

    smiles = [str(s) for s in df[task.config.data.smiles]]
    std = standardize(smiles, max_atoms=task.config.data.max_atoms)
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    out = np.zeros((len(smiles), 2048), dtype=np.float32)
    for i, mol in enumerate(std.mols):
        if mol is not None:
            out[i] = gen.GetCountFingerprintAsNumPy(mol)
    return out


def targets(task: Any, y: dict[str, np.ndarray], kind: str) -> dict[str, Any]:
    """Training targets in the form a baseline of ``kind`` (classes/values/risk) fits."""
    fam = family(task)
    if fam == "survival":
        d = task.config.data
        return {"time": np.asarray(y[d.time], dtype=np.float64),
                "event": np.asarray(y[d.event], dtype=bool)}
    if fam == "classes":
        codes, k = np.asarray(task.codes(y)), len(task.classes_)
        if kind == "values":  # a forest of regression trees on 0/1 class indicators
            return {"values": (codes[:, None] == (np.arange(k) if k > 2 else [1])).astype(float)}
        return {"codes": codes, "n_classes": k}
    if fam == "values" and task.name == "regression":
        return {"values": np.asarray(y[task.config.data.target], dtype=np.float64)[:, None]}
    if fam in ("values", "binary_values"):
        return {"values": np.column_stack([np.asarray(y[t], dtype=np.float64)
                                           for t in task.targets])}
    raise BaselineSkipped("no baseline for multi-label outcomes yet")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def to_outputs(task: Any, pred: np.ndarray, kind: str,
               hazard: tuple[np.ndarray, np.ndarray] | None = None) -> torch.Tensor:
    """The network-format outputs whose predictions are ``pred``."""
    fam = family(task)
    if fam == "classes":
        k = len(task.classes_)
        if kind == "values":  # forest on class indicators -> probabilities
            p = np.clip(pred, 0.0, 1.0)
            p = np.column_stack([1.0 - p[:, 0], p[:, 0]]) if k == 2 else p
            p = p / np.clip(p.sum(1, keepdims=True), _EPS, None)
        else:
            p = pred
        out = _logit(p[:, 1])[:, None] if k == 2 else np.log(np.clip(p, _EPS, None))
    elif fam == "multilabel":
        out = _logit(pred)
    elif fam == "binary_values":
        out = _logit(pred)
    elif fam == "values":
        out = (pred - np.asarray(task.y_mean_)) / np.asarray(task.y_std_)
    else:  # survival: a log relative risk
        out = pred[:, None]
        if task.objective == "discrete":
            out = _discrete_hazards(pred, task.cuts_, hazard)
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def _discrete_hazards(f: np.ndarray, cuts: list[float],
                      hazard: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Logits of the interval hazards that reproduce ``exp(-H0(t) exp(f))`` at the cuts."""
    times, cumhaz = hazard
    idx = np.searchsorted(times, np.asarray(cuts), side="right") - 1
    h0 = np.where(idx >= 0, cumhaz[np.clip(idx, 0, None)], 0.0)
    s = np.exp(-np.outer(np.exp(f), h0))
    h = 1.0 - s[:, 1:] / np.clip(s[:, :-1], _EPS, None)
    return _logit(h)


def evaluation_task(task: Any, hazard: tuple[np.ndarray, np.ndarray] | None) -> Any:
    """The task to score a baseline's outputs with: a survival task with a log-risk output
    takes the baseline's own Breslow baseline hazard; others are the task itself."""
    if hazard is None or family(task) != "survival" or task.objective != "cox":
        return task
    view = copy.copy(task)
    view.baseline_times_, view.baseline_cumhaz_ = hazard[0].tolist(), hazard[1].tolist()
    return view


def breslow(f: np.ndarray, target: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Breslow baseline cumulative hazard of a log risk fitted on the training rows."""
    from healthnn.losses import breslow_cumulative_hazard

    t, h = breslow_cumulative_hazard(torch.from_numpy(np.asarray(f, dtype=np.float64)),
                                     torch.from_numpy(target["time"]),
                                     torch.from_numpy(target["event"].astype(np.float64)))
    return t.numpy(), h.numpy()
