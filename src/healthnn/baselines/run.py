"""Fit the ``[baseline]`` models in a training run, score them, and pair them with the network.

:func:`baseline_metrics` is what :meth:`healthnn.tasks.base.Task.baseline_metrics` calls: at
training time (``frames`` holds ``train``, ``val`` and ``test``) it fits every selected baseline
on the training rows (validation rows for early stopping), keeps them on the task (saved in
task.json by :func:`baseline_state`), and scores them on the test rows; in ``healthnn evaluate``
(only ``test``) it scores the saved ones on the new rows. A baseline that cannot be fitted or
scored is skipped with one line in the log; it never stops the network's run.

The paired comparison evaluates the network and each baseline on *the same* bootstrap
resamples of the test rows (``[baseline] bootstrap`` of them, stratified as the network's own
test metrics are, with the same seed) and reports the interval of the difference
``network - baseline`` per metric (``test_vs_baseline_<name>``), with DeLong's test for AUROC
where the outcome is binary. The baselines' own intervals come from those resamples.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from healthnn.baselines import adapt
from healthnn.baselines.adapt import BaselineSkipped
from healthnn.baselines.options import default_baselines, resamples

__all__ = ["baseline_metrics", "baseline_state", "load_baseline_state", "selected_baselines"]

Log = Callable[[str], None]


class _TaskTfidf:
    """The text task's own TF-IDF + logistic regression (fitted with its tokenizer; saved in its
    task state), seen as a baseline."""

    kind = "classes"

    def fit(self, *_: Any) -> _TaskTfidf:
        return self

    def to_dict(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_dict(cls, _: dict[str, Any]) -> _TaskTfidf:
        return cls()


def _model(name: str, task: Any, seed: int) -> Any:
    from healthnn.baselines.linear import CoxBaseline, LinearBaseline, LogisticBaseline
    from healthnn.baselines.trees import RandomForestBaseline, XGBoostBaseline

    fam = adapt.family(task)
    if name == "logistic":
        return LogisticBaseline(seed=seed)
    if name == "linear":
        return LinearBaseline()
    if name == "cox":
        return CoxBaseline()
    if name == "xgboost":
        return XGBoostBaseline("classes" if fam == "classes" else "values", seed=seed)
    if name == "xgboost_cox":
        return XGBoostBaseline("risk", seed=seed)
    if name == "random_forest":
        return RandomForestBaseline(binary=fam in ("classes", "binary_values"), seed=seed)
    if name == "tfidf":
        return _TaskTfidf()
    raise BaselineSkipped("unknown baseline")


def _loader(name: str) -> Any:
    from healthnn.baselines.linear import CoxBaseline, LinearBaseline, LogisticBaseline
    from healthnn.baselines.trees import RandomForestBaseline, XGBoostBaseline

    return {"logistic": LogisticBaseline, "linear": LinearBaseline, "cox": CoxBaseline,
            "xgboost": XGBoostBaseline, "xgboost_cox": XGBoostBaseline,
            "random_forest": RandomForestBaseline, "tfidf": _TaskTfidf}[name]


def selected_baselines(task: Any) -> list[str]:
    """``[baseline] models`` or the task's defaults (the text task's TF-IDF model only when
    ``[data] baseline`` is on); none under ``[train] privacy`` or federated training."""
    if _not_here(task.config):
        return []
    models = task.config.baseline.models
    names = default_baselines(task.name) if models is None else list(models)
    if task.name == "text_classification" and not getattr(task.config.data, "baseline", True):
        names = [n for n in names if n != "tfidf"]
    return names


def _skip_reason(exc: Exception, doing: str = "fitted") -> str:
    """One line for a skipped baseline; only messages written by healthnn are shown."""
    if isinstance(exc, ImportError):
        return "its library is not installed (pip install 'healthnn[baselines]')"
    if isinstance(exc, BaselineSkipped):
        return str(exc)
    return f"it could not be {doing} on these rows ({type(exc).__name__})"


def _not_here(config: Any) -> str | None:
    """Why no baseline may be fitted in this run (None: they may)."""
    if config.train.privacy is not None:
        return ("[train] privacy is on, and a baseline fitted on the training rows would be "
                "saved in the bundle without differential privacy")
    if config.federated is not None:
        return "federated training: the sites' training rows are not pooled to fit them"
    return None


class _Fitted:
    def __init__(self, name: str, model: Any, columns: list[str] | None = None,
                 hazard: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.name, self.model, self.columns, self.hazard = name, model, columns, hazard

    def outputs(self, task: Any, df: Any, file: Any) -> torch.Tensor:
        if isinstance(self.model, _TaskTfidf):
            probs = task.baseline_probabilities(df)
            if probs is None:
                raise BaselineSkipped("the bundle has no TF-IDF model")
            return adapt.to_outputs(task, probs, "classes")
        x, _ = adapt.inputs(task, df, file, self.columns)
        return adapt.to_outputs(task, self.model.predict(x), self.model.kind, self.hazard)

    def to_dict(self) -> dict[str, Any]:
        from healthnn.baselines.arrays import pack

        return {"name": self.name, "model": self.model.to_dict(), "columns": self.columns,
                "hazard": None if self.hazard is None else [pack(a) for a in self.hazard]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Fitted:
        from healthnn.baselines.arrays import unpack

        hazard = None if d.get("hazard") is None else tuple(unpack(a) for a in d["hazard"])
        return cls(d["name"], _loader(d["name"]).from_dict(d["model"]), d.get("columns"), hazard)


def _fit_one(task: Any, name: str, frames: dict, seed: int) -> _Fitted:
    model = _model(name, task, seed)
    if isinstance(model, _TaskTfidf):
        if task.baseline_probabilities(frames["train"][0].iloc[:1]) is None:
            raise BaselineSkipped("the TF-IDF model could not be fitted on the training texts")
        return _Fitted(name, model)
    df, y, file = frames["train"]
    x, columns = adapt.inputs(task, df, file)
    target = adapt.targets(task, y, model.kind)
    xv, tv = None, None
    if "val" in frames and len(frames["val"][0]):
        dv, yv, fv = frames["val"]
        xv, _ = adapt.inputs(task, dv, fv, columns)
        tv = adapt.targets(task, yv, model.kind)
    model.fit(x, target, xv, tv)
    hazard = adapt.breslow(model.predict(x), target) if model.kind == "risk" else None
    return _Fitted(name, model, columns, hazard)


def _point_task(task: Any) -> Any:
    """A view of ``task`` whose ``evaluate`` gives point estimates only (no resamples)."""
    view = copy.copy(task)
    view.config = dataclasses.replace(task.config,
                                      eval=dataclasses.replace(task.config.eval, bootstrap=0))
    return view


def _take(y: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[idx] for k, v in y.items()}


def _values(view: Any, out: torch.Tensor, y: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: v["value"] for k, v in view.evaluate(out, y).items()}


def _binary_scores(task: Any, out: torch.Tensor, y: dict[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """(0/1 outcomes, scores) when the outcome is one yes/no question (for DeLong's test)."""
    if adapt.family(task) == "binary_values" and len(task.targets) == 1:
        t = np.asarray(y[task.targets[0]], dtype=float)
        ok = np.isfinite(t)
        return t[ok].astype(int), task.values(out)[ok, 0]
    cp = task.class_probabilities(out, y) if adapt.family(task) == "classes" else None
    if cp is None or len(cp[2]) != 2:
        return None
    codes, probs, _ = cp
    ok = codes >= 0
    return codes[ok], probs[ok, 1]


def _delong(task: Any, ev: Any, net: torch.Tensor, base: torch.Tensor,
            y: dict[str, np.ndarray], ci: float) -> dict[str, float] | None:
    from healthnn.metrics.delong import delong_test

    a, b = _binary_scores(task, net, y), _binary_scores(ev, base, y)
    if a is None or b is None:
        return None
    try:
        r = delong_test(a[0], a[1], b[1], ci=ci)
    except Exception:  # noqa: BLE001 - e.g. one class among the rows: no DeLong line
        return None
    return {"value": r["difference"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "p_value": r["p_value"], "se": r["se"]}


def _joint(task: Any, net: torch.Tensor | None, items: list[tuple[str, Any, torch.Tensor]],
           y: dict[str, np.ndarray], seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """One bootstrap over the test rows: on every resample the network and each baseline."""
    from healthnn.metrics import bootstrap

    net_view = _point_task(task)
    views = [(name, _point_task(ev), out) for name, ev, out in items]

    def fn(idx: np.ndarray) -> dict[str, float]:
        yy = _take(y, idx)
        ref = _values(net_view, net[idx], yy) if net is not None else {}
        res: dict[str, float] = {}
        for name, view, out in views:
            for k, v in _values(view, out[idx], yy).items():
                res[f"b\t{name}\t{k}"] = v
                if k in ref:
                    res[f"d\t{name}\t{k}"] = ref[k] - v
        return res

    ev = task.config.eval
    joint = bootstrap(fn, [np.arange(len(items[0][2]))], n_resamples=resamples(task.config),
                      ci=ev.ci, seed=seed, strata=task.strata(y))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key, m in joint.items():
        what, name, metric = key.split("\t")
        split = f"test_baseline_{name}" if what == "b" else f"test_vs_baseline_{name}"
        out.setdefault(split, {})[metric] = m
    if net is not None:
        for name, view, base in items:
            d = _delong(task, view, net, base, y, ev.ci)
            if d is not None:
                out.setdefault(f"test_vs_baseline_{name}", {})["auroc_delong"] = d
    return out


def _stderr(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr)


def baseline_metrics(task: Any, frames: dict, *, seed: int = 0,
                     outputs: torch.Tensor | None = None, log: Log | None = None
                     ) -> dict[str, dict[str, dict[str, float]]]:
    """Fit (when ``frames`` has ``train``) and score the task's baselines on ``frames["test"]``;
    with the network's test ``outputs``, also the paired differences. See the module text."""
    log = log or _stderr
    if "train" in frames:
        task.baselines_ = []
        why = _not_here(task.config)
        if why and default_baselines(task.name):
            log(f"baselines skipped: {why}")
        for name in selected_baselines(task):
            start = time.time()
            try:
                task.baselines_.append(_fit_one(task, name, frames, seed))
            except Exception as exc:  # noqa: BLE001 - a baseline never fails the run
                log(f"baseline {name} skipped: {_skip_reason(exc)}")
                continue
            when = ("with the task's preprocessing" if name == "tfidf"
                    else f"in {time.time() - start:.1f} s")
            log(f"baseline {name}: fitted on {len(frames['train'][0])} training rows {when}")
    df, y, file = frames["test"]
    items = []
    saved = getattr(task, "baselines_", None)
    if saved is None:  # a bundle from before [baseline]: the text task's TF-IDF model only
        saved = [_Fitted("tfidf", _TaskTfidf())] if task.name == "text_classification" else []
    for fitted in saved:
        try:
            out = fitted.outputs(task, df, file)
            ev = adapt.evaluation_task(task, fitted.hazard)
            _values(_point_task(ev), out, y)  # can it be scored on these rows at all?
        except Exception as exc:  # noqa: BLE001
            log(f"baseline {fitted.name} not scored: {_skip_reason(exc, 'scored')}")
            continue
        items.append((fitted.name, ev, out))
    if not items:
        return {}
    start = time.time()
    result = _joint(task, outputs, items, y, seed)
    log(f"baselines scored on {len(df)} test rows ({resamples(task.config)} bootstrap resamples "
        f"paired with the network) in {time.time() - start:.1f} s")
    return result


def baseline_state(task: Any) -> list[dict[str, Any]]:
    """The fitted baselines as JSON-compatible data (for task.json)."""
    return [f.to_dict() for f in getattr(task, "baselines_", [])]


def load_baseline_state(task: Any, state: list[dict[str, Any]] | None) -> None:
    """Restore what :func:`baseline_state` wrote (nothing for bundles written before)."""
    task.baselines_ = [_Fitted.from_dict(d) for d in state or []]
