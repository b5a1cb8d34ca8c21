"""Hyperparameter search with Optuna (TPE sampler, median pruning) over a ``[tune]`` space.

Each trial trains a normal bundle through :func:`healthnn.pipeline.train` with the sampled
``[model]`` / ``[train]`` values and is scored by a *validation* metric; the test rows are never
used to choose. Trials run in this process (``jobs = 1``), in ``jobs`` worker processes on this
machine, or as Ray tasks on a cluster (``ray_address``); all share one Optuna study kept in a
journal file (``DIR/study.journal``), so a Ray cluster needs DIR on a shared file system.

With ``[split] method = "kfold"`` the search is nested in a cross-validation: for each outer fold
a separate search runs on the other folds (inner train/validation split), and the chosen
configuration is scored on the outer fold, which played no part in choosing it. That nested
estimate is what the report gives as the expected performance; the final model is then chosen
by one more search on all the data (with a held-out test split as for ``method = "auto"``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthnn.config import Config, TrainConfig, load_config, to_toml
from healthnn.errors import ConfigError, DataError, HealthnnError

Log = Callable[[str], None]

# metrics where smaller is better ("auto" direction)
_LOWER = {"val_loss", "loss", "rmse", "mae", "mse", "brier", "ece", "log_loss",
          "integrated_brier", "ibs", "brier_score"}
_NUMERIC_TRAIN = {"epochs", "batch_size", "lr", "weight_decay", "patience", "grad_clip",
                  "scheduler", "monitor", "seed", "ensemble"}


@dataclass
class Param:
    """One dimension of the search space."""

    key: str                      # "model.dropout"
    kind: str                     # "float" | "int" | "choice"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: list[Any] | None = None

    def suggest(self, trial: Any) -> Any:
        if self.kind == "choice":
            # Optuna stores categorical choices as JSON-able scalars: index lists/tables
            i = trial.suggest_categorical(self.key, list(range(len(self.choices))))
            return self.choices[i]
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high),
                                   step=self.step, log=self.log)

    def describe(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"choices": self.choices}
        d: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        if self.step is not None:
            d["step"] = self.step
        return d


def parse_space(config: Config) -> list[Param]:
    """The ``[tune.model]`` and ``[tune.train]`` entries as :class:`Param`; every bound and
    choice is checked by building the config it would give (so a bad value fails now, naming
    its ``tune.*`` key, not in trial 7)."""
    from healthnn.models import get_model_spec

    t = config.tune
    src = config.source
    if t is None:
        raise ConfigError("no [tune] section", file=src, key="tune",
                          hint="add [tune] with a metric and [tune.model] / [tune.train] ranges")
    if not t.model and not t.train:
        raise ConfigError("the search space is empty", file=src, key="tune",
                          hint="add ranges or choices, e.g. [tune.train] lr = { low = 1e-4, "
                               "high = 1e-2, log = true }")
    if t.trials < 1:
        raise ConfigError("must be at least 1", file=src, key="tune.trials")
    model_keys = set(get_model_spec(config.model.name, task=config.task).defaults)
    train_keys = set(TrainConfig.__dataclass_fields__) - {"device", "progress", "privacy"}
    params = []
    for section, table, allowed in (("model", t.model, model_keys), ("train", t.train, train_keys)):
        for name, spec in table.items():
            key = f"tune.{section}.{name}"
            if name not in allowed:
                import difflib

                close = difflib.get_close_matches(name, sorted(allowed), n=1)
                raise ConfigError(f"'{name}' is not a [{section}] setting of this config",
                                  file=src, key=key,
                                  hint=f"did you mean '{close[0]}'?" if close else
                                  f"[{section}] keys: {', '.join(sorted(allowed))}")
            params.append(_param(f"{section}.{name}", spec, key, src))
    for p in params:  # each bound / choice must make a valid config
        for value in (p.choices if p.kind == "choice" else [p.low, p.high]):
            try:
                with_values(config, {p.key: value})
            except ConfigError as exc:
                raise ConfigError(f"value {value!r} is not valid here: {exc.message}", file=src,
                                  key=f"tune.{p.key}", hint=exc.hint) from None
    return params


def _param(dotted: str, spec: Any, key: str, src: str) -> Param:
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"expected a range {{ low = ..., high = ... }} or a list of choices, "
                          f"got {spec!r}", file=src, key=key)
    unknown = set(spec) - {"low", "high", "log", "step", "choices"}
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(sorted(unknown))}", file=src, key=key,
                          hint="a range has low, high and optionally log or step; a choice "
                               "has choices")
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"}:
            raise ConfigError("give either choices or a low/high range, not both", file=src,
                              key=key)
        if not isinstance(choices, list) or not choices:
            raise ConfigError("the list of choices is empty", file=src, key=key,
                              hint="give at least one value, e.g. [32, 64]")
        return Param(dotted, "choice", choices=list(choices))
    if "low" not in spec or "high" not in spec:
        raise ConfigError("a range needs both low and high", file=src, key=key)
    low, high = spec["low"], spec["high"]
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"range bounds must be numbers, got {v!r}", file=src, key=key)
    if low > high:
        raise ConfigError(f"the range is empty: low ({low}) > high ({high})", file=src, key=key,
                          hint="swap low and high")
    log = bool(spec.get("log", False))
    if log and low <= 0:
        raise ConfigError("a log range needs low > 0", file=src, key=key)
    step = spec.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float))
                             or step <= 0):
        raise ConfigError("step must be a positive number", file=src, key=key)
    if step is not None and log:
        raise ConfigError("use either log or step, not both", file=src, key=key)
    is_int = isinstance(low, int) and isinstance(high, int) and (step is None or isinstance(step, int))
    return Param(dotted, "int" if is_int else "float", low=low, high=high, log=log, step=step)


def base_dict(config: Config) -> dict[str, Any]:
    """The config as a dict without ``[tune]`` (what a trial or the final model trains)."""
    raw = config.to_dict()
    raw.pop("tune", None)
    return raw


def with_values(config: Config, values: dict[str, Any], **section_overrides: dict[str, Any]
                ) -> Config:
    """``config`` with dotted ``values`` (``{"train.lr": 0.01}``) applied, re-validated."""
    raw = base_dict(config)
    for dotted, value in values.items():
        section, name = dotted.split(".", 1)
        raw.setdefault(section, {})[name] = value
    for section, d in section_overrides.items():
        raw.setdefault(section, {}).update(d)
    c = load_config(raw, base_dir=config.base_dir)
    c.source = config.source
    return c


def direction_of(config: Config) -> str:
    t = config.tune
    if t.direction != "auto":
        return t.direction
    return "minimize" if t.metric in _LOWER else "maximize"


def _trial_config(config: Config, values: dict[str, Any]) -> Config:
    return with_values(config, values, report={"enabled": False, "learning_curve": []},
                       eval={"bootstrap": 0}, train={"progress": False},
                       baseline={"models": []})  # trials compare on val; no baselines


def score_of(bundle: Any, metric: str, source: str, split: str = "val") -> float:
    """The tuned metric of a trained bundle on ``split`` (``val_loss``: the best epoch's)."""
    if metric == "val_loss" and split == "val":
        hist = bundle.manifest["training"]["history"]
        return float(min(r["val_loss"] for r in hist))
    metrics = bundle.metrics.get(split, {})
    if metric not in metrics:
        names = ", ".join(["val_loss", *metrics]) if split == "val" else ", ".join(metrics)
        raise ConfigError(f"metric {metric!r} does not exist for task '{bundle.config.task}'",
                          file=source, key="tune.metric", hint=f"one of: {names}")
    v = metrics[metric]["value"]
    return math.nan if v is None else float(v)


class Objective:
    """An Optuna objective: train one trial's config and return its validation metric.

    Picklable (plain data only), so worker processes and Ray tasks can run it."""

    def __init__(self, raw: dict[str, Any], base_dir: str, source: str, params: list[Param],
                 out: str, indices: dict[str, list[int]] | None, pruning: bool) -> None:
        self.raw, self.base_dir, self.source = raw, base_dir, source
        self.params, self.out, self.indices, self.pruning = params, out, indices, pruning

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"raw": self.raw, "base_dir": self.base_dir, "source": self.source,
                "params": [asdict(p) for p in self.params], "out": self.out,
                "indices": self.indices, "pruning": self.pruning}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Objective:
        return cls(d["raw"], d["base_dir"], d["source"], [Param(**p) for p in d["params"]],
                   d["out"], d["indices"], d["pruning"])

    def config(self) -> Config:
        c = load_config(self.raw, base_dir=self.base_dir)
        c.source = self.source
        return c

    def __call__(self, trial: Any) -> float:
        import optuna

        config = self.config()
        values = {p.key: p.suggest(trial) for p in self.params}
        trial.set_user_attr("values", values)
        trial.set_user_attr("pid", os.getpid())
        cfg = _trial_config(config, values)
        metric = config.tune.metric

        def on_epoch(epoch: int, row: dict[str, float]) -> None:
            v = row.get("val_loss") if metric == "val_loss" else row.get(f"val_{metric}")
            if v is None or not math.isfinite(v) or not self.pruning:
                return
            trial.report(float(v), epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        out = Path(self.out) / "trials" / f"trial_{trial.number:03d}"
        idx = None if self.indices is None else {k: np.asarray(v) for k, v in self.indices.items()}
        try:
            bundle = _fit_trial(cfg, out, idx, on_epoch)
        except (ConfigError, DataError):
            raise  # the config or the data is wrong: every trial would fail; stop now
        except HealthnnError as exc:
            # this trial's values failed (a learning rate that diverges, say): Optuna records
            # a NaN result as a FAIL and the search goes on
            trial.set_user_attr("error", str(exc))
            return math.nan
        finally:
            (out / "checkpoint.pt").unlink(missing_ok=True)
        value = score_of(bundle, metric, self.source)
        trial.set_user_attr("bundle", str(out))
        return value


def _fit_trial(config: Config, out: Path, idx: dict[str, np.ndarray] | None,
               on_epoch: Callable[[int, dict[str, float]], None]) -> Any:
    """One trial's bundle: on ``[split]``'s rows, or on the rows at ``idx`` (an outer fold's
    training rows in nested cross-validation)."""
    from healthnn.pipeline import (
        make_splits,
        new_task,
        read_training,
        run_at,
        run_split,
        training_rows,
    )

    if idx is None:
        task = new_task(config)
        splits = make_splits(config, task, *read_training(config, task))
        return run_split(config, task, splits, out, log=_quiet, on_epoch=on_epoch).bundle
    _, data = training_rows(config)
    return run_at(config, data, idx, out, on_epoch=on_epoch).bundle


def _quiet(msg: str) -> None:
    pass


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _storage(path: Path) -> Any:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def run_worker(objective: Objective, storage_path: str, study_name: str, total: int,
                seed: int) -> int:
    """One worker: pull trials from the shared study until ``total`` trials exist."""
    import optuna
    import torch
    from optuna.study import MaxTrialsCallback

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # workers share the cores; one thread each
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=study_name, storage=_storage(Path(storage_path)),
                                  sampler=optuna.samplers.TPESampler(seed=seed))
        done = len(study.trials)
        if done >= total:
            return 0
        study.optimize(objective, n_trials=total - done, catch=(),
                       callbacks=[MaxTrialsCallback(total, states=None)])
        return len(study.trials)
    finally:
        torch.set_num_threads(threads)


def search(config: Config, out: Path, *, trials: int, jobs: int = 1,
           ray_address: str | None = None, indices: dict[str, np.ndarray] | None = None,
           log: Log = _stderr, study_name: str = "healthnn") -> dict[str, Any]:
    """One Optuna study; returns the trials and the best one."""
    import optuna

    params = parse_space(config)
    out.mkdir(parents=True, exist_ok=True)
    storage_path = out / "study.journal"
    if storage_path.exists():
        storage_path.unlink()  # a new search; an old journal would mix studies
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
              if config.tune.pruning else optuna.pruners.NopPruner())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=_storage(storage_path),
                                direction=direction_of(config), pruner=pruner,
                                sampler=optuna.samplers.TPESampler(seed=config.tune.seed))
    objective = Objective(base_dict(config) | {"tune": _tune_dict(config)},
                          str(config.base_dir), config.source, params, str(out),
                          None if indices is None else {k: np.asarray(v).tolist()
                                                        for k, v in indices.items()},
                          config.tune.pruning)
    from tqdm.auto import tqdm

    bar = tqdm(total=trials, desc="trials", unit="trial", disable=not config.train.progress,
               file=sys.stderr)
    # the first trial runs here: a bad metric name or a failing config stops at once
    study.optimize(objective, n_trials=1, catch=())
    bar.update(1)
    if trials > 1:
        if ray_address:
            _run_ray(objective, storage_path, study_name, trials, jobs, ray_address,
                     config.tune.seed)
        elif jobs > 1:
            _run_processes(objective, storage_path, study_name, trials, jobs, config.tune.seed)
        else:
            study.optimize(objective, n_trials=trials - 1, catch=(),
                           callbacks=[lambda s, t: bar.update(1)])
        study = optuna.load_study(study_name=study_name, storage=_storage(storage_path))
    bar.n = len(study.trials)
    bar.close()
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE
                and t.value is not None and math.isfinite(t.value)]
    if not complete:
        raise HealthnnError("no trial finished with a finite validation score",
                            hint="widen the search space or train longer")
    best = study.best_trial
    return {
        "metric": config.tune.metric, "direction": direction_of(config),
        "space": {p.key: p.describe() for p in params},
        "trials": [{"number": t.number, "state": t.state.name, "value": t.value,
                    "values": t.user_attrs.get("values"), "pid": t.user_attrs.get("pid"),
                    "seconds": (t.duration.total_seconds() if t.duration else None)}
                   for t in study.trials],
        "best": {"number": best.number, "value": best.value,
                 "values": best.user_attrs["values"]},
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "failed": [{"number": t.number, "error": t.user_attrs.get("error", "")}
                   for t in study.trials if t.state == optuna.trial.TrialState.FAIL],
    }


def _tune_dict(config: Config) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(config.tune)


def _run_processes(objective: Objective, storage_path: Path, study_name: str, total: int,
                   jobs: int, seed: int) -> None:
    """``jobs`` worker processes (``python -m healthnn.tuning._worker SPEC SEED``), one torch
    thread each, pulling trials from the shared journal until ``total`` trials exist."""
    import subprocess

    spec = storage_path.with_name(f"{study_name}.workers.json")
    spec.write_text(json.dumps({
        "objective": objective.to_json(), "storage": str(storage_path),
        "study": study_name, "total": total}), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "healthnn.tuning._worker", str(spec),
                               str(seed + 1 + w)], env=env, stderr=subprocess.PIPE, text=True)
             for w in range(jobs)]
    failures = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            failures.append((err or "").strip().splitlines()[-1:] or ["(no message)"])
    spec.unlink(missing_ok=True)
    if failures:
        raise HealthnnError(f"{len(failures)} of {jobs} tuning worker(s) failed: "
                            f"{failures[0][0]}")


def _run_ray(objective: Objective, storage_path: Path, study_name: str, total: int, jobs: int,
             address: str, seed: int) -> None:
    try:
        import ray
    except ImportError:
        raise HealthnnError("--ray needs Ray", hint="pip install 'healthnn[ray]'") from None
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR")
            started = True
        except Exception as exc:  # noqa: BLE001 - any connection failure is a user error
            raise HealthnnError(f"cannot connect to the Ray cluster at {address!r} "
                                f"({type(exc).__name__})", hint="start one with 'ray start "
                                "--head' or pass --ray local for a local instance") from None
    try:
        worker = ray.remote(num_cpus=1)(run_worker)
        n = max(1, jobs if jobs > 1 else int(ray.cluster_resources().get("CPU", 1)))
        refs = [worker.remote(objective, str(storage_path), study_name, total, seed + 1 + w)
                for w in range(n)]
        ray.get(refs)
    finally:
        if started:
            ray.shutdown()


def tune(config: Config | str | Path | dict[str, Any], out: str | Path, *,
         trials: int | None = None, jobs: int = 1, ray_address: str | None = None,
         ensemble: int | None = None, log: Log | None = None) -> dict[str, Any]:
    """Search ``[tune]``'s space, write ``DIR/best.toml`` and train it into ``DIR/best``.

    Returns (and writes to ``DIR/tune.json``) the trials, the best values, the final bundle's
    test metrics and, with ``[split] method = "kfold"``, the nested cross-validation estimate.
    ``ensemble = K`` trains the best configuration as an ensemble of K seeds (predictions then
    carry the spread across members).
    """
    from healthnn.bundle import write_json
    from healthnn.pipeline import train

    log = log or _stderr
    if not isinstance(config, Config):
        config = load_config(config)
    parse_space(config)  # fail before any training
    trials = trials or config.tune.trials
    if trials < 1:
        raise ConfigError("--trials must be at least 1", key="tune.trials")
    if jobs < 1:
        raise HealthnnError("--jobs must be at least 1")
    if ensemble is not None and ensemble < 1:
        raise HealthnnError("--ensemble must be at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    result: dict[str, Any] = {"trials_requested": trials, "jobs": jobs,
                              "ray": ray_address or None}

    if config.split.method == "kfold":
        result["nested_cv"] = _nested_cv(config, out, trials=trials, jobs=jobs,
                                         ray_address=ray_address, log=log)
        # the final model: one more search on all rows, with a held-out test split
        tune_section = config.tune
        config = with_values(config, {}, split={"method": "auto"})
        config.tune = tune_section
    found = search(config, out, trials=trials, jobs=jobs, ray_address=ray_address,
                   log=log)
    if not config.tune.keep_trials:
        # tune.json keeps every trial's values and score; the bundles can be large (images)
        shutil.rmtree(out / "trials", ignore_errors=True)
    result.update(found)
    final_values = dict(found["best"]["values"])
    extra = {"train": {"ensemble": ensemble}} if ensemble else {}
    best_cfg = with_values(config, final_values, **extra)
    from healthnn.io import write_text

    write_text(out / "best.toml",
               f"# chosen by 'healthnn tune' ({trials} trials, validation {config.tune.metric})\n"
               + to_toml(_portable(best_cfg)))
    log(f"best trial {found['best']['number']}: validation {config.tune.metric} "
        f"{found['best']['value']:.4f} with " + ", ".join(f"{k}={v!r}" for k, v in final_values.items()))
    bundle = train(best_cfg, out / "best", log=log)
    result["final"] = {"bundle": "best", "config": "best.toml", "test": bundle.metrics["test"],
                       "ensemble": best_cfg.train.ensemble}
    result["seconds"] = round(time.time() - started, 2)
    write_json(out / "tune.json", result)
    return result


def _portable(config: Config) -> dict[str, Any]:
    """The config as a dict, data and init paths made absolute (best.toml lives elsewhere)."""
    from healthnn.bundle import absolute_paths

    raw = absolute_paths(config)
    raw.pop("tune", None)
    return raw


def _nested_cv(config: Config, out: Path, *, trials: int, jobs: int, ray_address: str | None,
               log: Log) -> dict[str, Any]:
    """For each outer fold, a search on the other folds and the chosen configuration scored
    on the outer fold (which played no part in choosing it)."""
    from healthnn.pipeline import fold_indices, run_at, training_rows
    from healthnn.pipeline.data import strata_of
    from healthnn.pipeline.cv import pooled_metrics

    if config.data.test:
        raise ConfigError("nested cross-validation uses [data] train only", file=config.source,
                          key="data.test", hint="remove [data] test or use split.method = 'auto'")
    task, data = training_rows(config)
    folds = fold_indices(config, len(data), strata_of(config, task, data.y),
                         task.fold_groups(data.df))
    outer, runs = [], []
    for k, idx in enumerate(folds, start=1):
        log(f"nested CV: outer fold {k} of {config.split.folds}: searching on "
            f"{len(idx['train']) + len(idx['val'])} rows, scoring on {len(idx['test'])}")
        fold_dir = out / f"outer_{k}"
        found = search(config, fold_dir, trials=trials, jobs=jobs, ray_address=ray_address,
                       indices=idx, log=log, study_name=f"outer_{k}")
        best_cfg = with_values(config, found["best"]["values"],
                               report={"enabled": False, "learning_curve": []},
                               train={"progress": False})
        run = run_at(best_cfg, data, idx, fold_dir / "best")
        runs.append(run)
        outer.append({"fold": k, "best_values": found["best"]["values"],
                      "inner_val": found["best"]["value"], "test": run.bundle.metrics["test"]})
        shutil.rmtree(fold_dir / "trials", ignore_errors=True)
    return {
        "folds": config.split.folds, "outer": outer,
        "pooled": pooled_metrics(runs, config.split.seed),
        "note": "each outer fold's score comes from a model whose hyperparameters were "
                "chosen without that fold",
    }
