"""Experiment configuration: a TOML file validated into dataclasses.

A config names a ``task`` and has the sections ``[data]``, ``[split]``, ``[model]``, ``[train]``
and ``[eval]``. Everything but the data paths and the target has a default. Unknown keys,
typos and wrong types are reported with the key's full name and, for typos, a suggestion::

    task = "classification"

    [data]
    train = "heart.csv"      # relative to this file
    target = "disease"

    [train]
    epochs = 50

The ``[data]`` section's schema belongs to the task (see :mod:`healthnn.tasks`): an image task
accepts other keys than a table task. ``[model]`` holds ``name`` plus that model's
hyperparameters, checked against the model registry.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from healthnn.baselines.options import BaselineConfig, check_baseline_config
from healthnn.errors import ConfigError

__all__ = [
    "Config",
    "SplitConfig",
    "TrainConfig",
    "EvalConfig",
    "PrivacyConfig",
    "ModelConfig",
    "ReportConfig",
    "FederatedConfig",
    "TuneConfig",
    "load_config",
    "parse_section",
    "to_toml",
]


@dataclass
class SplitConfig:
    """How rows are split when no separate test file is given.

    ``method = "auto"`` stratifies classification by class and survival by event, uses a random
    split for regression, and a group split whenever ``[data] group`` is set. ``"scaffold"``
    (molecules) keeps molecules with one Bemis-Murcko scaffold in one split. Validation rows
    always come out of the training rows (``val_size`` is a fraction of them).

    ``method = "kfold"`` (with ``folds``) is K-fold cross-validation: every row is a test row
    exactly once; folds are stratified like ``auto`` (class or event) and grouped when
    ``[data] group`` is set (molecules: copies of one molecule always, and each Bemis-Murcko
    scaffold with ``by_scaffold = true``). ``healthnn train`` then reports per-fold and pooled metrics, and
    ``healthnn tune`` runs a nested cross-validation (see :mod:`healthnn.tuning`).

    ``method``: auto, random, stratified, group, scaffold or kfold (above).
    ``test_size``: the fraction of rows held out for testing (without ``[data] test``).
    ``val_size``: the fraction of the training rows used for early stopping and calibration.
    ``seed``: the split's random seed (separate from the training seed).
    """

    method: Literal["auto", "random", "stratified", "group", "scaffold", "kfold"] = "auto"
    test_size: float = 0.2
    val_size: float = 0.15
    seed: int = 42
    folds: int = 5  # method = "kfold" only
    by_scaffold: bool = False  # method = "kfold", molecules: each scaffold in one fold


@dataclass
class PrivacyConfig:
    """Differentially private training (DP-SGD): the (epsilon, delta) budget for the whole run
    and the per-example gradient clipping norm."""

    epsilon: float
    delta: float = 1e-5
    max_grad_norm: float = 1.0


@dataclass
class TrainConfig:
    """The one trainer's settings (shared by every task).

    ``epochs``: an upper limit; early stopping ends most runs sooner.
    ``batch_size``: rows per optimisation step. ``lr``: AdamW's learning rate.
    ``weight_decay``: AdamW's decoupled weight decay.
    ``patience``: epochs without improvement of ``monitor`` before training stops.
    ``seed``: the training seed (weights, batches, augmentation).
    ``scheduler``: plateau (halve the rate when the monitor stalls), cosine, or none.
    ``grad_clip``: the gradient norm is clipped to this (0: off).
    ``monitor``: ``val_loss`` or a validation metric of the task (``auroc``, ``c_index``...).
    ``device``: auto (a GPU when there is one), cpu, cuda or cuda:N.
    ``progress``: a progress bar on a terminal, one line per epoch elsewhere.
    ``privacy``: ``[train.privacy]``, differentially private training (below).
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 15
    seed: int = 42
    scheduler: Literal["plateau", "cosine", "none"] = "plateau"
    grad_clip: float = 5.0
    monitor: str = "val_loss"
    device: str = "auto"
    progress: bool = True
    privacy: PrivacyConfig | None = None
    ensemble: int = 1  # train this many copies (seeds seed, seed+1, ...) and average them


@dataclass
class EvalConfig:
    """How metrics are computed and reported.

    ``operating_point``: a decision threshold for binary outcomes, chosen by a rule on the
    validation outputs, or with ``operating_point_folds = K`` (K >= 2) on out-of-fold outputs
    of K extra models over the training and validation rows.
    ``conformal_alpha``: split-conformal prediction sets (classification) and intervals
    (regression) calibrated on the validation rows hold the true outcome for at least
    ``1 - alpha`` of new rows (see :mod:`healthnn.metrics.conformal`); 0 turns them off.
    ``conformal_method``: ``lac`` (smallest sets) or ``aps`` (adaptive sets), classification.
    """

    threshold: float = 0.5
    bootstrap: int = 1000
    ci: float = 0.95
    horizons: list[float] | None = None
    # binary classification: a decision threshold chosen on the validation outputs by this rule
    # (healthnn.metrics.operating_point), saved in the bundle; predictions get a 'decision'
    operating_point: Literal["none", "prevalence", "min_se_ppv", "youden"] = "none"
    # > 1: choose it instead on out-of-fold outputs over the training and validation rows
    # (this many extra models, each trained on the other folds); 0: on the validation split
    operating_point_folds: int = 0
    conformal_alpha: float = 0.1
    conformal_method: Literal["lac", "aps"] = "lac"


@dataclass
class ReportConfig:
    """What the model report (report.html / report.json) contains.

    ``subgroups``: columns of the data whose levels get their own metrics with intervals
    (e.g. ``["sex", "age_band"]``); a numeric column with many values is cut into quartiles.
    ``thresholds``: probability thresholds of the threshold table (classification).
    ``recalibrate``: fit a recalibration map on the validation outputs and report the test
    metrics after it too (``test_recalibrated`` in metrics.json); predictions are not changed.
    ``importance``: permutation feature importance on the test split (tables).
    ``examples``: how many test rows get an example explanation drawn into the report
    (Grad-CAM for images, atom attributions for molecules; tasks without drawn explanations
    add none). These show individual inputs: set 0 where the report leaves the hospital.
    """

    enabled: bool = True
    subgroups: list[str] = field(default_factory=list)
    thresholds: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.3, 0.5, 0.7])
    recalibrate: Literal["none", "temperature", "platt", "isotonic"] = "none"
    importance: bool = True
    importance_repeats: int = 5
    min_subgroup_size: int = 10
    examples: int = 4
    # learning curve: also train on these fractions of the training rows (e.g. [0.1, 0.25,
    # 0.5]) and report the test metric against training-set size (see healthnn.tuning)
    learning_curve: list[float] = field(default_factory=list)


@dataclass
class FederatedConfig:
    """``[federated]``: train across sites that keep their rows (simulated with Flower, FedAvg).

    ``site_column`` names each row's site (hospital); it is never a feature. Each round,
    ``fraction`` of the sites train ``local_epochs`` epochs on their own rows, starting from
    the global model, and the server averages their weights by row count. The round whose
    global model has the lowest validation loss (averaged over the sites' own validation
    rows) is kept.
    """

    site_column: str
    rounds: int = 10
    local_epochs: int = 1
    fraction: float = 1.0


@dataclass
class ModelConfig:
    """A registered model's name and its hyperparameters (validated by the registry).

    Two keys apply to every model (transfer learning, see :mod:`healthnn.models.transfer`):
    ``init`` (a bundle directory, a ``healthnn pretrain`` output or a .safetensors/.pt weights
    file to start from; tensors are matched by name and shape) and ``freeze`` (parameter-name
    prefixes, such as ``"stem"`` or ``"layer1"``, that are not trained).
    """

    name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    init: str | None = None
    freeze: list[str] = field(default_factory=list)


@dataclass
class TuneConfig:
    """``[tune]``: the hyperparameter search of ``healthnn tune`` (Optuna, TPE sampler).

    ``metric``: a validation metric of the task (``auroc``, ``c_index``, ``rmse``, ``val_loss``
    ...); ``direction``: ``"auto"`` minimises losses and errors and maximises the rest.
    ``model`` and ``train``: the search space, one entry per ``[model]`` or ``[train]`` key::

        [tune.model]
        hidden = [[32], [64, 64]]                   # a list: choose one of these values
        dropout = { low = 0.0, high = 0.5 }          # a float range
        [tune.train]
        lr = { low = 1e-4, high = 1e-2, log = true } # log-uniform
        batch_size = { choices = [32, 64, 128] }
        epochs = { low = 10, high = 60, step = 10 }  # integers: an integer range

    ``keep_trials``: keep every trial's bundle under ``DIR/trials/`` (off by default: the
    trials' values and scores are in ``tune.json`` and the chosen model is retrained into
    ``DIR/best``, so the trial bundles are removed once the search ends).
    """

    metric: str = "val_loss"
    direction: Literal["auto", "maximize", "minimize"] = "auto"
    trials: int = 20
    seed: int = 0
    pruning: bool = True
    keep_trials: bool = False
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    """A whole, validated experiment."""

    task: str
    data: Any
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    federated: FederatedConfig | None = None
    tune: TuneConfig | None = None
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "<config>"

    def resolve(self, path: str | Path) -> Path:
        """A data path from the config, resolved relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain data (what the bundle stores as config.toml)."""
        model = {"name": self.model.name, **self.model.params, "init": self.model.init,
                 "freeze": self.model.freeze or None}
        extra = {"tune": _asdict(self.tune)} if self.tune is not None else {}
        return {
            "task": self.task,
            "data": _asdict(self.data),
            "split": _asdict(self.split),
            "model": {k: v for k, v in model.items() if v is not None},
            "train": _asdict(self.train),
            "eval": _asdict(self.eval),
            "report": _asdict(self.report),
            "baseline": _asdict(self.baseline),
            **({"federated": _asdict(self.federated)} if self.federated else {}),
            **extra,
        }


SECTIONS = ("data", "split", "model", "train", "eval", "report", "federated", "tune", "baseline")


def load_config(
    source: str | Path | dict[str, Any],
    overrides: list[str] | None = None,
    base_dir: str | Path | None = None,
) -> Config:
    """Read and validate a config from a TOML file or a dict.

    ``overrides`` are ``"section.key=value"`` strings; the value is read as a TOML literal
    (``3``, ``0.1``, ``true``, ``[64, 32]``, ``"mlp"``) and, failing that, as a plain string.
    Data paths are resolved relative to the config file (or ``base_dir`` for a dict).
    """
    if isinstance(source, dict):
        raw = _deepcopy(source)
        name = "<config>"
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise ConfigError("config file not found", file=name, hint="check the path")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", file=name) from None
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8 text", file=name) from None
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
    for item in overrides or []:
        _apply_override(raw, item, name)
    try:
        return _build_config(raw, name, folder)
    except ConfigError as exc:
        raise _as_set_error(exc, overrides or []) from None


def _as_set_error(exc: ConfigError, overrides: list[str]) -> ConfigError:
    """An error about a key that came from ``--set`` names ``--set``, not the config file.

    >>> e = _as_set_error(ConfigError("unknown key", file="c.toml", key="train.epoch"),
    ...                   ["train.epoch=3"])
    >>> str(e)
    "--set train.epoch=3, key 'train.epoch': unknown key (the key comes from --set, not from c.toml)"
    """
    for item in overrides:
        dotted = item.split("=", 1)[0].strip()
        if exc.key is not None and (exc.key == dotted or exc.key.startswith(dotted + ".")):
            where = f"not from {exc.file}" if exc.file and exc.file != "<config>" else ""
            hint = "; ".join(h for h in (exc.hint, f"the key comes from --set, {where}"
                                         if where else "") if h) or None
            return ConfigError(exc.message, file=f"--set {item}", key=exc.key, hint=hint)
    return exc


def _build_config(raw: dict[str, Any], name: str, folder: Path) -> Config:
    from healthnn.models import validate_model_params
    from healthnn.tasks import get_task_class, task_names

    unknown = set(raw) - {"task", *SECTIONS}
    for key in sorted(unknown):
        raise ConfigError(
            f"unknown section or key{_suggest(key, ['task', *SECTIONS])}",
            file=name,
            key=key,
        )
    task = raw.get("task")
    if task is None:
        raise ConfigError(
            "missing 'task'", file=name, key="task", hint=f"one of: {', '.join(task_names())}"
        )
    if not isinstance(task, str):
        raise ConfigError("expected a string", file=name, key="task")
    task_cls = get_task_class(task, source=name)
    for section in SECTIONS:
        if section in raw and not isinstance(raw[section], dict):
            raise ConfigError("expected a [section] table", file=name, key=section)
    if "data" not in raw:
        raise ConfigError("missing [data] section", file=name, key="data")
    data = parse_section(task_cls.DataConfig, raw["data"], "data", name)
    split = parse_section(SplitConfig, raw.get("split", {}), "split", name)
    train = parse_section(TrainConfig, raw.get("train", {}), "train", name)
    evalc = parse_section(EvalConfig, raw.get("eval", {}), "eval", name)
    report = parse_section(ReportConfig, raw.get("report", {}), "report", name)
    baseline = parse_section(BaselineConfig, raw.get("baseline", {}), "baseline", name)
    check_baseline_config(task, baseline, name)  # healthnn.baselines
    federated = (parse_section(FederatedConfig, raw["federated"], "federated", name)
                 if "federated" in raw else None)
    model_raw = dict(raw.get("model", {}))
    model_name = model_raw.pop("name", None) or task_cls.default_model
    if not isinstance(model_name, str):
        raise ConfigError("expected a string", file=name, key="model.name")
    init = _coerce(model_raw.pop("init", None), str | None, "model.init", name)
    freeze = _coerce(model_raw.pop("freeze", []), list[str], "model.freeze", name)
    params = validate_model_params(model_name, model_raw, task=task, source=name)
    tune = parse_section(TuneConfig, raw["tune"], "tune", name) if "tune" in raw else None
    config = Config(
        task=task,
        data=data,
        split=split,
        model=ModelConfig(name=model_name, params=params, init=init, freeze=freeze),
        tune=tune,
        train=train,
        eval=evalc,
        report=report,
        baseline=baseline,
        federated=federated,
        base_dir=folder,
        source=name,
    )
    _check_ranges(config)
    task_cls.check_config(config)
    return config


def _check_ranges(c: Config) -> None:
    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(msg, file=c.source, key=key)

    if not 0.0 < c.split.test_size < 1.0:
        raise bad("split.test_size", "must be between 0 and 1")
    if not 0.0 < c.split.val_size < 1.0:
        raise bad("split.val_size", "must be between 0 and 1")
    if c.split.folds < 2:
        raise bad("split.folds", "must be at least 2 (e.g. 5 or 10)")
    if c.split.by_scaffold and (c.split.method != "kfold" or c.task != "molecule_property"):
        raise bad("split.by_scaffold", "scaffold folds are for K-fold cross-validation of "
                  "molecules (split.method = 'kfold'); a single scaffold split is "
                  "split.method = 'scaffold'")
    if c.model.freeze and not c.model.init:
        raise bad("model.freeze", "freezing layers needs a starting point: set [model] init "
                  "to a bundle, a 'healthnn pretrain' output or a weights file")
    if c.train.epochs < 1:
        raise bad("train.epochs", "must be at least 1")
    if c.train.batch_size < 2:
        raise bad("train.batch_size", "must be at least 2")
    if c.train.lr <= 0:
        raise bad("train.lr", "must be positive")
    if c.train.weight_decay < 0:
        raise bad("train.weight_decay", "must be zero or positive")
    if c.train.patience < 1:
        raise bad("train.patience", "must be at least 1")
    if c.train.ensemble < 1:
        raise bad("train.ensemble", "must be at least 1 (1 = a single model)")
    if c.train.grad_clip < 0:
        raise bad("train.grad_clip", "must be zero (off) or positive")
    if not 0.0 < c.eval.threshold < 1.0:
        raise bad("eval.threshold", "must be between 0 and 1")
    if c.eval.bootstrap < 0:
        raise bad("eval.bootstrap", "must be zero (no intervals) or positive")
    if not 0.5 <= c.eval.ci < 1.0:
        raise bad("eval.ci", "must be between 0.5 and 1, e.g. 0.95")
    if not 0.0 <= c.eval.conformal_alpha < 1.0:
        raise bad("eval.conformal_alpha", "must be between 0 and 1, e.g. 0.1 (90% sets and "
                  "intervals); 0 turns conformal prediction off")
    if c.eval.operating_point_folds == 1 or c.eval.operating_point_folds < 0:
        raise bad("eval.operating_point_folds", "must be 0 (choose on the validation split) "
                  "or at least 2 (out-of-fold outputs of that many extra models)")
    if c.eval.operating_point_folds and c.eval.operating_point == "none":
        raise bad("eval.operating_point_folds", "set [eval] operating_point (the rule) too, "
                  "e.g. operating_point = \"prevalence\"")
    if c.eval.operating_point_folds and (c.train.privacy is not None or c.federated is not None):
        raise bad("eval.operating_point_folds", "the extra models would be trained outside "
                  "[train] privacy / [federated]; use 0 (the validation split)")
    if c.eval.horizons is not None and any(h <= 0 for h in c.eval.horizons):
        raise bad("eval.horizons", "times must be positive")
    p = c.train.privacy
    if p is not None and c.train.ensemble > 1:
        raise bad("train.ensemble", "an ensemble of differentially private models spends the "
                  "budget once per member; use ensemble = 1 with [train] privacy")
    if p is not None:
        if p.epsilon <= 0:
            raise bad("train.privacy.epsilon", "must be positive")
        if not 0 < p.delta < 1:
            raise bad("train.privacy.delta", "must be between 0 and 1 (e.g. 1e-5)")
        if p.max_grad_norm <= 0:
            raise bad("train.privacy.max_grad_norm", "must be positive")
    if any(not 0.0 < t < 1.0 for t in c.report.thresholds):
        raise bad("report.thresholds", "thresholds must be between 0 and 1")
    if c.report.importance_repeats < 1:
        raise bad("report.importance_repeats", "must be at least 1")
    if any(not 0.0 < f <= 1.0 for f in c.report.learning_curve):
        raise bad("report.learning_curve", "fractions must be in (0, 1], e.g. [0.1, 0.25, 0.5]")
    if c.report.min_subgroup_size < 2:
        raise bad("report.min_subgroup_size", "must be at least 2")
    f = c.federated
    if f is not None:
        if f.rounds < 1:
            raise bad("federated.rounds", "must be at least 1")
        if f.local_epochs < 1:
            raise bad("federated.local_epochs", "must be at least 1")
        if not 0.0 < f.fraction <= 1.0:
            raise bad("federated.fraction", "must be in (0, 1]")
        if c.train.ensemble > 1:
            raise bad("train.ensemble", "use ensemble = 1 with [federated]")
    if not 0 <= c.report.examples <= 50:
        raise bad("report.examples", "must be between 0 and 50")
    if c.train.device not in ("auto", "cpu") and not c.train.device.startswith(("cuda", "mps")):
        raise bad("train.device", "expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def parse_section(cls: type, raw: dict[str, Any], section: str, source: str) -> Any:
    """Validate one ``[section]`` table into the dataclass ``cls``.

    Checks for unknown keys (with a did-you-mean suggestion), missing required keys and types.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ConfigError(
                f"unknown key{_suggest(key, list(fields))}",
                file=source,
                key=f"{section}.{key}",
            )
    values = {}
    for fname, f in fields.items():
        full = f"{section}.{fname}"
        if fname in raw:
            values[fname] = _coerce(raw[fname], hints[fname], full, source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError("missing required key", file=source, key=full)
    return cls(**values)


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, source)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[-1]
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            hint = _suggest(str(value), [str(a) for a in args])
            raise ConfigError(f"got {value!r}, expected one of {choices}{hint}", file=source, key=key)
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"expected a list, got {_typename(value)}", file=source, key=key)
        (item_tp,) = args or (Any,)
        return [_coerce(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict or tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table such as {{ key = value }}, got {_typename(value)}",
                              file=source, key=key)
        return parse_section(tp, value, key, source)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {_typename(value)}", file=source, key=key)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected an integer, got {_typename(value)}", file=source, key=key)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"expected a number, got {_typename(value)}", file=source, key=key)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {_typename(value)}", file=source, key=key)
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in a dataclass


def _typename(value: Any) -> str:
    return {str: "a string", bool: "true/false", int: "an integer", float: "a number",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__) + f" ({value!r})"


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _apply_override(raw: dict[str, Any], item: str, source: str) -> None:
    if "=" not in item:
        raise ConfigError(
            f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. train.epochs=20", file=source
        )
    dotted, text = item.split("=", 1)
    parts = dotted.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {item!r}: empty key", file=source)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {item!r}: '{part}' is not a section", file=source)
    node[parts[-1]] = value


def _asdict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj)


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def to_toml(data: dict[str, Any]) -> str:
    """Write a config dict (scalars, lists and one level of tables) as TOML."""
    lines = []
    tables = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        for key, value in table.items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (str, Path)):
        s = str(v).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{s}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()
                                if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
