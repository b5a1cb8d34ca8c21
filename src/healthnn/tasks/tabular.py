"""Tasks on patient tables: classification (risk) and regression."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from healthnn.config import Config
from healthnn.data.columns import check_class_target, check_exclude, require_excluded
from healthnn.data.preprocess import MISSING, OTHER, TablePreprocessor, infer_column_kinds

SPECIAL_LEVELS = (MISSING, OTHER)  # not values a user types
from healthnn.data.tables import numeric_column, read_table, require_columns, write_table
from healthnn.errors import ConfigError, DataError
from healthnn.tasks.base import Labels, Task, rescale_outputs

__all__ = ["TableData", "TableTask", "ClassificationTask", "RegressionTask"]


MISSING_VALUES = (".", "NA", "N/A", "-", "?", "")  # read as missing in numeric columns


@dataclass
class TableData:
    """``[data]`` for table tasks (``classification``, ``regression``, ``survival``).

    ``train``: the table (CSV, TSV, Parquet; relative to the config file).
    ``test``: an optional separate test table; without it ``[split]`` holds out test rows.
    ``target``: the outcome column (classification and regression).
    ``time``: the follow-up time column (survival). ``event``: 1 = event, 0 = censored.
    ``features``: the input columns (default: every column but the outcome, id and group).
    ``exclude``: columns left out of the features (each must be a column of the table).
    ``missing_values``: cells read as missing in numeric columns (default ``.``, ``NA``,
    ``N/A``, ``-``, ``?`` and empty; counted in the training notes; ``[]`` turns it off).
    ``categorical``: columns read as categories (text columns are, by default).
    ``group``: a patient id column: one patient's rows never in two splits.
    ``id``: a column copied into prediction files. ``positive``: the positive class of a
    binary target (default: the last in natural order).
    ``leakage``: the leakage check of the training split before training (``warn``: report
    and train; ``error``: refuse; ``off``). ``time_unit``: the unit of the survival times
    (``days``), shown with horizons and times in the report.
    """

    train: str
    test: str | None = None
    target: str | None = None
    time: str | None = None
    event: str | None = None
    features: list[str] | None = None
    exclude: list[str] = field(default_factory=list)  # columns never used as features
    categorical: list[str] = field(default_factory=list)
    # placeholders read as missing in numeric columns, counted in the notes; [] turns it off
    missing_values: list[str] = field(default_factory=lambda: list(MISSING_VALUES))
    group: str | None = None
    id: str | None = None
    positive: str | None = None
    leakage: Literal["warn", "error", "off"] = "warn"  # leakage check before training
    time_unit: str | None = None  # the unit of survival times ("days"), shown in the report


class TableTask(Task):
    """Shared parts of every task whose inputs are the columns of a table."""

    DataConfig = TableData
    default_model = "mlp"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.preprocessor_: TablePreprocessor | None = None

    # columns that hold targets (never features)
    def target_columns(self) -> list[str]:
        raise NotImplementedError

    @classmethod
    def check_config(cls, config: Config) -> None:
        d = config.data
        reserved = {c for c in (d.group, d.id) if c}
        check_exclude(config)
        for col in d.features or []:
            if col in reserved:
                raise ConfigError(
                    f"'{col}' identifies patients or rows and cannot be a feature",
                    file=config.source, key="data.features",
                )
        if config.split.method == "group" and not d.group:
            raise ConfigError("split.method = 'group' needs [data] group (a patient id column)",
                              file=config.source, key="split.method")

    def read(self, path: Path) -> pd.DataFrame:
        df = read_table(path)
        d = self.config.data
        needed = [*self.target_columns(), *(d.features or []), *d.categorical]
        needed += [c for c in (d.group, d.id) if c]
        require_columns(df, needed, path)
        require_excluded(df, d.exclude, path)
        return df

    def feature_columns(self, df: pd.DataFrame) -> list[str]:
        d = self.config.data
        if d.features is not None:
            return [c for c in d.features if c not in d.exclude]
        excluded = {*self.target_columns(), *(c for c in (d.group, d.id) if c), *d.exclude}
        if self.config.federated is not None:  # the site is where a row lives, not a feature
            excluded.add(self.config.federated.site_column)
        return [c for c in df.columns if c not in excluded]

    def groups(self, df: pd.DataFrame) -> np.ndarray | None:
        g = self.config.data.group
        return None if g is None else df[g].astype(str).to_numpy()

    def row_ids(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.config.data.id:
            return df[[self.config.data.id]].copy()
        return super().row_ids(df)

    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        d = self.config.data
        features = self.feature_columns(df)
        for col in d.categorical:
            if col not in features:
                raise ConfigError(f"categorical column '{col}' is not a feature",
                                  file=self.config.source, key="data.categorical")
        if not features:
            raise DataError("no feature columns", file=str(file), hint="check [data] features")
        numeric, cats = infer_column_kinds(df, features, d.categorical, file=file,
                                           missing_values=d.missing_values)
        notes = []
        if d.features is None:
            # a text column with mostly distinct values is an identifier, not a feature
            ids = [c for c in cats if c not in d.categorical
                   and df[c].nunique(dropna=True) > max(30, 0.5 * len(df))]
            if ids:
                cats = [c for c in cats if c not in ids]
                notes.append(f"column(s) {', '.join(ids)} look like identifiers (mostly distinct "
                             "text) and are not used as features; set [data] id or group, or "
                             "list them in [data] features to use them")
        self.preprocessor_ = TablePreprocessor(numeric, cats,
                                               missing_values=d.missing_values).fit(df, file)
        notes += self.preprocessor_.warnings_
        auto = [c for c in cats if c not in d.categorical]
        if auto:
            notes.append(f"text column(s) treated as categorical: {', '.join(auto)}")
        return notes

    def encode(self, df: pd.DataFrame, file: Path) -> tuple[torch.Tensor, dict[int, str]]:
        assert self.preprocessor_ is not None, "fit() first"
        require_columns(df, self.preprocessor_.input_columns, file)
        X, errors = self.preprocessor_.transform(df, file)
        return torch.from_numpy(X), errors

    def in_features(self) -> int:
        return len(self.preprocessor_.feature_names_)

    def candidate_parameters(self) -> int | None:
        return self.in_features()

    def domain_features(self, inputs: Any) -> np.ndarray | None:
        if isinstance(inputs, torch.Tensor) and inputs.ndim == 2 and inputs.is_floating_point():
            return inputs.double().numpy()
        return None  # e.g. an event model that reads the stream itself

    @property
    def feature_names(self) -> list[str]:
        return list(self.preprocessor_.feature_names_)

    # -- serving and explanations ---------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        pre = self.preprocessor_
        if pre is None:  # a subclass whose inputs are not table columns (images)
            return super().input_schema()
        columns: list[dict[str, Any]] = [
            {"name": c, "type": "number", "default": round(st.median, 6)}
            for c, st in pre.numeric_.items()]
        columns += [{"name": c, "type": "category", "levels": [lv for lv in levels
                                                                if lv not in SPECIAL_LEVELS]}
                    for c, levels in pre.levels_.items()]
        return {"kind": "table", "column": None, "columns": columns, "rows": True,
                "upload": True, "accept": [".csv", ".tsv", ".parquet"]}

    def explain_column(self, preds: pd.DataFrame, target_class: str | None = None) -> str:
        """The prediction column that :meth:`explain` attributes to the input columns."""
        return preds.columns[0]

    @torch.no_grad()
    def explain(self, model, df: pd.DataFrame, out: Path, *, file: Path,
                target_class: str | None = None) -> list[Path]:
        """Feature contributions by occlusion, one row per (input row, column).

        Each column in turn is set to a reference value (numeric: the training median;
        categorical: no level, as for an unseen value) and the contribution is the prediction
        minus the prediction without that column's information. Positive contributions push
        the explained output (``explain_column``) up. Written to ``contributions.csv``; rows
        that cannot be predicted are listed with their reason.
        """
        pre = self.preprocessor_
        df = df.reset_index(drop=True)
        X, errors = self.encode(df, Path(file))
        groups = self.report_feature_groups()
        reference = torch.zeros(X.shape[1])
        for col, st in pre.numeric_.items():
            reference[groups[col][0]] = (st.median - st.mean) / st.std
        model = model.cpu().eval()
        good = [i for i in range(len(df)) if i not in errors]
        rows: list[dict[str, Any]] = []
        for i in good:
            x = X[i:i + 1]
            variants = [x]
            for col in groups:
                v = x.clone()
                v[0, groups[col]] = reference[groups[col]]
                variants.append(v)
            preds = self.predictions(model(torch.cat(variants)).float())
            name = self.explain_column(preds, target_class)
            values = preds[name].to_numpy(dtype=float)
            for j, col in enumerate(groups):
                rows.append({"row": i + 1, "output": name, "prediction": values[0],
                             "feature": col, "contribution": values[0] - values[j + 1],
                             "error": ""})
        for i, msg in errors.items():
            rows.append({"row": i + 1, "output": "", "prediction": np.nan, "feature": "",
                         "contribution": np.nan, "error": msg})
        table = pd.DataFrame(rows, columns=["row", "output", "prediction", "feature",
                                            "contribution", "error"])
        path = Path(out) / "contributions.csv"
        write_table(table.sort_values("row", kind="stable"), path)
        return [path]

    # -- report --------------------------------------------------------------------------------
    def report_columns(self) -> dict[str, list[str]]:
        pre = self.preprocessor_
        if pre is None:  # a subclass whose inputs are not table columns (images)
            return super().report_columns()
        return {"numeric": list(pre.numeric_), "categorical": list(pre.levels_)}

    def report_feature_groups(self) -> dict[str, list[int]]:
        # the encoding is column by column, in this order (see TablePreprocessor._names)
        pre = self.preprocessor_
        if pre is None:
            return super().report_feature_groups()
        groups: dict[str, list[int]] = {}
        i = 0
        for col, st in pre.numeric_.items():
            width = 2 if st.indicator else 1
            groups[col] = list(range(i, i + width))
            i += width
        for col, levels in pre.levels_.items():
            groups[col] = list(range(i, i + len(levels)))
            i += len(levels)
        assert i == len(pre.feature_names_)
        return groups

    def report_facts(self) -> dict[str, Any]:
        pre = self.preprocessor_
        if pre is None:
            return super().report_facts()
        d = self.config.data
        predictors = [f"{c} (numeric)" for c in pre.numeric_]
        predictors += [f"{c} (categorical, {len(lv)} levels)" for c, lv in pre.levels_.items()]
        with_missing = [c for c, st in pre.numeric_.items() if st.indicator]
        missing = ("numeric predictors: median imputation (training median) with a "
                   "missingness indicator" + (f" for {', '.join(with_missing)}" if with_missing
                                              else " where training data had missing values")
                   + "; categorical predictors: a missing value is its own level; rows "
                   "without an outcome are not used for training")
        facts: dict[str, Any] = {
            "input": "one row of a patient table",
            "predictors": predictors,
            "missing_data": missing,
            "preprocessing": "standardisation with training mean and SD; one-hot categoricals "
                             f"(at most {pre.max_levels} levels, the rest pooled); unseen "
                             "levels encode as zeros",
            "dropped": [f"{c}: {why}" for c, why in pre.dropped_.items()],
        }
        if d.group:
            facts["clustering"] = f"rows grouped by '{d.group}' are kept in one split"
        return facts

    def _table_state(self) -> dict[str, Any]:
        return {"preprocessing": self.preprocessor_.to_dict()}

    def _load_table_state(self, state: dict[str, Any]) -> None:
        self.preprocessor_ = TablePreprocessor.from_dict(state["preprocessing"])


class ClassificationTask(TableTask):
    """Binary or multi-class risk classification. Outputs: one probability per class."""

    name = "classification"

    @classmethod
    def check_config(cls, config: Config) -> None:
        if not config.data.target:
            raise ConfigError("classification needs [data] target (the label column)",
                              file=config.source, key="data.target")
        super().check_config(config)
        cls._check_monitor(config)

    @classmethod
    def _check_monitor(cls, config: Config) -> None:
        m = config.train.monitor
        if m not in ("val_loss", "auroc", "accuracy", "auprc", "balanced_accuracy", "auroc_macro"):
            raise ConfigError(f"cannot monitor {m!r} for classification", file=config.source,
                              key="train.monitor", hint="use val_loss, auroc or accuracy")

    def target_columns(self) -> list[str]:
        return [self.config.data.target]

    def labels(self, df: pd.DataFrame, file: Path) -> tuple[Labels, np.ndarray]:
        col = self.config.data.target
        raw = df[col]
        ok = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
        text = label_text(raw)
        return {col: text}, ok

    def strata(self, y: Labels) -> np.ndarray:
        return y[self.config.data.target]

    def usable_rows(self, df: pd.DataFrame, y: Labels, ok: np.ndarray,
                    file: Path) -> tuple[np.ndarray, list[str]]:
        col = self.config.data.target  # before the split: a continuous target is refused
        check_class_target(np.asarray(y[col])[ok], column=col, file=file)
        return super().usable_rows(df, y, ok, file)

    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        self._fit_classes(y, file)
        return super().fit(df, y, file)

    def _fit_classes(self, y: Labels, file: Path) -> None:
        """The class list (natural order; a binary ``positive`` class last)."""
        col = self.config.data.target
        classes = sorted(np.unique(y[col]).tolist(), key=natural_key)
        if len(classes) < 2:
            raise DataError(
                f"the training data has a single class ({classes[0]!r}); "
                "classification needs at least two",
                file=str(file), column=col,
            )
        pos = self.config.data.positive
        if pos is not None:
            if pos not in classes:
                raise ConfigError(f"positive class {pos!r} is not a value of '{col}'",
                                  file=self.config.source, key="data.positive",
                                  hint=f"values: {', '.join(classes[:10])}")
            if len(classes) == 2:
                classes = [c for c in classes if c != pos] + [pos]
        self.classes_ = classes

    def out_features(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def development_outcome(self, y: Labels) -> dict[str, Any] | None:
        if len(self.classes_) != 2:  # Riley et al.'s criteria are for binary outcomes
            return None
        codes = self.codes(y)
        return {"outcome": "binary", "prevalence": float(np.mean(codes[codes >= 0] == 1))}

    def codes(self, y: Labels) -> np.ndarray:
        col = self.config.data.target
        index = {c: i for i, c in enumerate(self.classes_)}
        values = y[col]
        codes = np.array([index.get(v, -1) for v in values], dtype=np.int64)
        return codes

    def unknown_label_errors(self, y: Labels) -> dict[int, str]:
        col = self.config.data.target
        return {int(i): f"column '{col}': label not seen in training (known: "
                        f"{', '.join(self.classes_[:10])})"
                for i in np.flatnonzero(self.codes(y) < 0)}

    def target_tensors(self, y: Labels) -> dict[str, torch.Tensor]:
        return {"y": torch.from_numpy(self.codes(y))}

    def loss(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        y = targets["y"]
        if outputs.shape[1] == 1:
            return F.binary_cross_entropy_with_logits(outputs[:, 0], y.to(outputs.dtype))
        return F.cross_entropy(outputs, y)

    def probabilities(self, outputs: torch.Tensor) -> np.ndarray:
        if outputs.shape[1] == 1:
            p1 = torch.sigmoid(outputs[:, 0].double())
            return torch.stack([1 - p1, p1], 1).numpy()
        return torch.softmax(outputs.double(), 1).numpy()

    def predictions(self, outputs: torch.Tensor) -> pd.DataFrame:
        probs = self.probabilities(outputs)
        df = pd.DataFrame({f"prob_{c}": probs[:, i] for i, c in enumerate(self.classes_)})
        if len(self.classes_) == 2:
            pred = np.where(probs[:, 1] >= self.config.eval.threshold, 1, 0)
        else:
            pred = probs.argmax(1)
        df["prediction"] = np.asarray(self.classes_, dtype=object)[pred]
        op = getattr(self, "operating_point_", None)
        if op is not None and len(self.classes_) == 2:  # [eval] operating_point, chosen on val
            df["decision"] = np.asarray(self.classes_, dtype=object)[
                (probs[:, 1] >= op["threshold"]).astype(int)]
        return df

    def fit_operating_point(self, outputs: torch.Tensor, y: Labels, y_train: Labels
                            ) -> dict[str, Any] | None:
        """The ``[eval] operating_point`` threshold on the positive-class probability, chosen
        on the validation outputs (:func:`healthnn.metrics.operating_point`; ``prevalence``
        flags the training prevalence); kept as ``operating_point_`` and saved in the bundle."""
        rule = self.config.eval.operating_point
        if rule == "none" or len(self.classes_) != 2 or getattr(self, "multilabel", False):
            return None
        from healthnn.metrics import operating_point

        codes = self.codes(y)
        op = operating_point(codes == 1, self.probabilities(outputs)[:, 1], rule,
                             prevalence=float(np.mean(self.codes(y_train) == 1)))
        op["chosen_on"] = "val"
        self.operating_point_ = op
        return op

    def operating_summary(self, op: dict[str, Any], outputs: torch.Tensor, y: Labels
                          ) -> dict[str, Any]:
        """Sensitivity, specificity, PPV, ... and min(Se, PPV) of the threshold on the test
        outputs (the threshold was fixed before they were looked at)."""
        from healthnn.metrics import threshold_table

        codes, probs, _ = self.class_probabilities(outputs, y)
        test = threshold_table(codes == 1, probs[:, 1], [op["threshold"]])[0]
        sens, ppv = test["sensitivity"], test["ppv"]
        test["min_se_ppv"] = (float(np.nanmin([sens, ppv])) if test["tp"] + test["fp"]
                              else float("nan"))
        return {**op, "test": test}

    def explain_column(self, preds: pd.DataFrame, target_class: str | None = None) -> str:
        if target_class is not None:
            if target_class not in self.classes_:
                raise ConfigError(f"unknown class {target_class!r}", key="--class",
                                  hint=f"classes: {', '.join(self.classes_)}")
            return f"prob_{target_class}"
        if len(self.classes_) == 2:
            return f"prob_{self.classes_[1]}"
        return f"prob_{preds['prediction'].iloc[0]}"

    def _metric_fn(self):
        from healthnn.metrics import binary_metrics, multiclass_metrics

        thr = self.config.eval.threshold
        if len(self.classes_) == 2:
            return lambda y, p: binary_metrics(y, p[:, 1], threshold=thr)
        return lambda y, p: multiclass_metrics(y, p)

    def score(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
        y = targets["y"].numpy()
        if len(np.unique(y)) < 2:
            return {}
        m = self._metric_fn()(y, self.probabilities(outputs))
        keep = ("auroc", "auroc_macro", "accuracy", "auprc", "balanced_accuracy")
        return {k: v for k, v in m.items() if k in keep}

    def evaluate(self, outputs: torch.Tensor, y: Labels, *, seed: int = 0):
        return self.evaluate_probabilities(self.codes(y), self.probabilities(outputs), seed=seed)

    def evaluate_probabilities(self, codes, probs, *, seed: int = 0):
        return self._bootstrap(self._metric_fn(), [codes, probs], strata=codes, seed=seed)

    @property
    def recalibration_methods(self) -> tuple[str, ...]:
        binary = ("intercept",) if len(self.classes_) == 2 else ()
        return (*binary, "logistic", "isotonic")

    def class_probabilities(self, outputs, y):
        return self.codes(y), self.probabilities(outputs), list(self.classes_)

    def conformal_outputs(self, outputs):
        return "classes", self.probabilities(outputs), list(self.classes_)

    def conformal_targets(self, y: Labels) -> np.ndarray:
        return self.codes(y)

    def report_facts(self) -> dict[str, Any]:
        col = self.config.data.target
        if len(self.classes_) == 2:
            outcome = f"'{col}' = {self.classes_[1]!r} (positive class) vs {self.classes_[0]!r}"
            output = f"probability of {col} = {self.classes_[1]!r}"
        else:
            outcome = f"'{col}', one of {len(self.classes_)} classes: " + ", ".join(
                repr(c) for c in self.classes_)
            output = "a probability for each class"
        return {"outcome": outcome, "output": output, "kind": "classification",
                **super().report_facts()}

    def state_dict(self) -> dict[str, Any]:
        return {"classes": self.classes_, **self._table_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.classes_ = list(state["classes"])
        self._load_table_state(state)


class RegressionTask(TableTask):
    """Continuous outcome (e.g. length of stay). Output: ``prediction``."""

    name = "regression"
    greater_is_better = False

    @classmethod
    def check_config(cls, config: Config) -> None:
        if not config.data.target:
            raise ConfigError("regression needs [data] target (the outcome column)",
                              file=config.source, key="data.target")
        super().check_config(config)
        if config.train.monitor not in ("val_loss", "rmse", "mae"):
            raise ConfigError(f"cannot monitor {config.train.monitor!r} for regression",
                              file=config.source, key="train.monitor", hint="use val_loss or rmse")

    def target_columns(self) -> list[str]:
        return [self.config.data.target]

    def labels(self, df: pd.DataFrame, file: Path) -> tuple[Labels, np.ndarray]:
        col = self.config.data.target
        y = numeric_column(df[col], file=file, column=col)
        return {col: y}, np.isfinite(y)

    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        v = y[self.config.data.target]
        self.y_mean_, self.y_std_ = float(v.mean()), float(v.std()) or 1.0
        return super().fit(df, y, file)

    def out_features(self) -> int:
        return 1

    def target_tensors(self, y: Labels) -> dict[str, torch.Tensor]:
        v = (y[self.config.data.target] - self.y_mean_) / self.y_std_
        return {"y": torch.from_numpy(v.astype(np.float32))}

    def loss(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.mse_loss(outputs[:, 0], targets["y"].to(outputs.dtype))

    def values(self, outputs: torch.Tensor) -> np.ndarray:
        return outputs[:, 0].double().numpy() * self.y_std_ + self.y_mean_

    def predictions(self, outputs: torch.Tensor) -> pd.DataFrame:
        return pd.DataFrame({"prediction": self.values(outputs)})

    def conformal_outputs(self, outputs):
        return "values", self.values(outputs)[:, None], [self.config.data.target]

    def conformal_targets(self, y: Labels) -> np.ndarray:
        return np.asarray(y[self.config.data.target], dtype=float)[:, None]

    def score(self, outputs, targets):
        from healthnn.metrics import regression_metrics

        y = targets["y"].double().numpy() * self.y_std_ + self.y_mean_
        return regression_metrics(y, self.values(outputs))

    def evaluate(self, outputs: torch.Tensor, y: Labels, *, seed: int = 0):
        from healthnn.metrics import regression_metrics

        return self._bootstrap(regression_metrics, [y[self.config.data.target],
                                                    self.values(outputs)], seed=seed)

    def report_facts(self) -> dict[str, Any]:
        col = self.config.data.target
        return {"outcome": f"'{col}' (continuous)", "output": f"predicted value of '{col}'",
                "kind": "regression", **super().report_facts()}

    def report_sections(self, outputs, y, *, seed: int = 0):
        from healthnn.report.sections import regression_sections

        return regression_sections(y[self.config.data.target], self.values(outputs))

    def outputs_on_scale_of(self, outputs: torch.Tensor, other: Any) -> torch.Tensor:
        """Targets are standardised per fit: put ``outputs`` on ``other``'s scale."""
        if other is self:
            return outputs
        return rescale_outputs(outputs, self.y_mean_, self.y_std_, other.y_mean_, other.y_std_)

    def state_dict(self) -> dict[str, Any]:
        return {"y_mean": self.y_mean_, "y_std": self.y_std_, **self._table_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.y_mean_, self.y_std_ = state["y_mean"], state["y_std"]
        self._load_table_state(state)


def label_text(s: pd.Series) -> np.ndarray:
    """Class labels as strings; 1 and 1.0 are the same class."""
    out = s.astype(object).where(s.notna(), "").astype(str).str.strip()
    return out.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True).to_numpy(dtype=object)


def natural_key(v: str):
    """Sort key of class labels: numbers in numeric order, then text."""
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)
