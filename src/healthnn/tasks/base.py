"""The task interface the pipeline talks to."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from healthnn.config import Config
from healthnn.errors import ConfigError
from healthnn.models import build_model, get_model_spec
from healthnn.training import TensorBatches

__all__ = ["Task", "Labels", "take", "rescale_outputs"]

Labels = dict[str, np.ndarray]


def take(y: Labels, idx: np.ndarray) -> Labels:
    """The labels of the rows at positions ``idx``.

    >>> take({"y": np.array([10, 20, 30])}, np.array([2, 0]))
    {'y': array([30, 10])}
    """
    return {k: v[idx] for k, v in y.items()}


class Task:
    """Base class of every task.

    Lifecycle (driven by :mod:`healthnn.pipeline`)::

        task = TaskClass(config)
        df = task.read(path)                       # validated table
        y, ok = task.labels(df, path)              # labels, and which rows have one
        task.fit(df_train, y_train, path)          # preprocessing, label encoding (train only)
        X, errors = task.encode(df, path)          # model inputs; per-row problems
        model = task.build_model()
        loss = task.loss(model(X), targets)
        task.after_fit(train_outputs, train_targets)   # e.g. a survival baseline hazard
        task.predictions(outputs) -> DataFrame     # prediction columns
        task.evaluate(outputs, y) -> metrics       # {name: {value, ci_low, ci_high}}

    State learned in ``fit``/``after_fit`` ends in ``_`` and round-trips through
    ``state_dict``/``load_state_dict`` (JSON-compatible) so a bundle reloads exactly.
    """

    name: ClassVar[str]
    DataConfig: ClassVar[type]
    default_model: ClassVar[str]
    greater_is_better: ClassVar[bool] = True
    predict_batch_size: ClassVar[int] = 4096  # rows per batch when predicting
    feature_names: list[str] | None = None  # model-input columns (tables), for the manifest
    operating_point_: dict[str, Any] | None = None  # [eval] operating_point, once chosen
    parallel_inputs: ClassVar[bool] = False  # read_inputs/encode use ``workers`` processes
    workers: int = 1
    explanation_formats: ClassVar[tuple[str, ...]] = ()  # choices of ``explain --format``
    image_format: str | None = None  # the chosen one (tasks with explanation_formats)
    pretraining: ClassVar[str | None] = None  # 'healthnn pretrain': "simclr", "masked_tokens"
    path_fields: ClassVar[tuple[str, ...]] = ("train", "test")  # [data] keys holding paths

    def __init__(self, config: Config) -> None:
        self.config = config

    # -- config ------------------------------------------------------------------------------
    @classmethod
    def check_config(cls, config: Config) -> None:
        """Cross-field checks beyond types (raise ConfigError)."""

    # -- data --------------------------------------------------------------------------------
    def read(self, path: Path) -> pd.DataFrame:
        raise NotImplementedError

    def read_inputs(self, path: Path) -> pd.DataFrame:
        """Rows to predict or explain (no labels needed). Tables keep cells as text so a
        scored file writes every input value back unchanged."""
        from healthnn.data.tables import read_table

        return read_table(path, as_text=True)

    def labels(self, df: pd.DataFrame, file: Path) -> tuple[Labels, np.ndarray]:
        """Targets for every row and a boolean mask of rows whose target is present."""
        raise NotImplementedError

    def usable_rows(self, df: pd.DataFrame, y: Labels, ok: np.ndarray,
                    file: Path) -> tuple[np.ndarray, list[str]]:
        """Training rows the task can use, and notes naming the rows it leaves out. The
        default keeps every row (rows without a label are then an error)."""
        return np.ones(len(df), dtype=bool), []

    def split(self, df: pd.DataFrame, y: Labels, *, test_size: float | None, val_size: float,
              seed: int, strata: np.ndarray | None = None,
              groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Positional indices of the train / val (/ test) rows of ``df``."""
        from healthnn.data.split import split_indices

        if self.config.split.method not in ("auto", "random", "stratified", "group"):
            from healthnn.errors import ConfigError

            raise ConfigError(f"split.method {self.config.split.method!r} is not available for "
                              f"task '{self.name}'", file=self.config.source, key="split.method",
                              hint="use auto, random, stratified or group")
        return split_indices(len(df), test_size=test_size, val_size=val_size, seed=seed,
                             strata=strata, groups=groups)

    def unknown_label_errors(self, y: Labels) -> dict[int, str]:
        """``{row position: message}`` for labels the trained model cannot score (a class
        never seen in training); none by default."""
        return {}

    def strata(self, y: Labels) -> np.ndarray | None:
        """Labels to stratify splits and bootstrap resamples by (None: no stratification)."""
        return None

    def groups(self, df: pd.DataFrame) -> np.ndarray | None:
        return None

    def fold_groups(self, df: pd.DataFrame) -> np.ndarray | None:
        """Groups of rows that K-fold cross-validation keeps in one fold (and in one side of
        each fold's validation split): ``[data] group`` (a patient's rows) when set."""
        return self.groups(df) if getattr(self.config.data, "group", None) else None

    def predefined_split(self, df: pd.DataFrame) -> dict[str, np.ndarray] | None:
        """Positions of the rows of ``df`` in ``train``/``val``/``test`` when the data carries
        its own official split (a MedMNIST .npz); None lets ``[split]`` decide."""
        return None

    def row_flags(self, df: pd.DataFrame) -> pd.DataFrame:
        """Facts about each input row that a reader of its prediction should see (a note cut
        at ``max_length``, say), as columns added by ``predict``; none by default."""
        return pd.DataFrame(index=range(len(df)))

    def linked_files(self, df: pd.DataFrame, file: Path) -> list[Path]:
        """Files that rows of ``df`` (read from ``file``) point to, such as the images of a CSV
        manifest: the data fingerprint covers their bytes too, not only the table's."""
        return []

    def row_ids(self, df: pd.DataFrame) -> pd.DataFrame:
        """Identifier columns (such as a patient id) copied into prediction files, after the
        1-based ``row`` number that the pipeline always writes."""
        return pd.DataFrame(index=df.index)

    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        """Fit preprocessing on training rows; return warnings for the user."""
        raise NotImplementedError

    def encode(self, df: pd.DataFrame, file: Path) -> tuple[Any, dict[int, str]]:
        raise NotImplementedError

    def target_tensors(self, y: Labels) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def batches(
        self, inputs: Any, targets: dict[str, torch.Tensor], *, shuffle: bool,
        generator: torch.Generator | None = None, batch_size: int | None = None,
    ):
        return TensorBatches(inputs, targets, batch_size or self.config.train.batch_size,
                             shuffle=shuffle, generator=generator)

    def subset(self, inputs: Any, index: np.ndarray) -> Any:
        return inputs[torch.as_tensor(index, dtype=torch.long)]

    # -- model -------------------------------------------------------------------------------
    @property
    def model_spec(self):
        return get_model_spec(self.config.model.name, task=self.name)

    def in_features(self) -> int:
        raise NotImplementedError

    def out_features(self) -> int:
        raise NotImplementedError

    def domain_features(self, inputs: Any) -> np.ndarray | None:
        """Encoded inputs as a numeric matrix (rows, features) for out-of-domain scores
        (:mod:`healthnn.domain`); None where the inputs are not one (images, text, graphs)."""
        return None

    @property
    def recalibration_methods(self) -> tuple[str, ...]:
        """Methods of ``healthnn recalibrate`` for this task (the first is the default);
        none: it cannot be recalibrated."""
        return ()

    def use_label_file(self, path: Path) -> None:
        """Read the labels of later :meth:`read` calls from ``path`` (``healthnn evaluate
        --outcomes``): for tasks whose labels live apart from their inputs. Others refuse."""
        raise ConfigError(f"task {self.name!r} reads its labels from the data file itself",
                          key="--outcomes", hint="leave out --outcomes")

    def candidate_parameters(self) -> int | None:
        """Candidate predictor parameters after :meth:`fit` (Riley et al.'s ``p`` of the
        minimum sample size, :mod:`healthnn.checks.sample_size`); None where the inputs are not
        a fixed set of predictors (images, text, molecules)."""
        return None

    def development_outcome(self, y: Labels) -> dict[str, Any] | None:
        """What the minimum sample size needs of the training labels (``{"outcome":
        "binary", "prevalence": ...}`` or ``"survival"`` with ``rate``, ``mean_follow_up``,
        ``time_point``); None where the criteria do not apply."""
        return None

    def build_model(self) -> nn.Module:
        model = build_model(self.config.model.name, self.config.model.params,
                            self.in_features(), self.out_features())
        if self.config.train.privacy is not None:
            from healthnn.training.privacy import make_private_compatible

            model = make_private_compatible(model)
        return model

    def loss(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def after_fit(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> None:
        """Fit anything that needs the trained model's training-set outputs."""

    def outputs_on_scale_of(self, outputs: torch.Tensor, other: Task) -> torch.Tensor:
        """``outputs`` of this task's model on the output scale of ``other`` (the same task
        fitted on other rows), for metrics pooled over cross-validation folds. The default:
        unchanged (outputs that do not depend on fitted scaling)."""
        return outputs

    def pooled_note(self) -> str | None:
        """What a reader of metrics pooled over cross-validation folds should know; none by
        default."""
        return None

    def fit_operating_point(self, outputs: torch.Tensor, y: Labels, y_train: Labels
                            ) -> dict[str, Any] | None:
        """Choose a decision threshold on the validation outputs (``[eval] operating_point``);
        tasks without binary decisions return None."""
        return None

    def operating_summary(self, op: dict[str, Any], outputs: torch.Tensor, y: Labels
                          ) -> dict[str, Any]:
        """The operating point ``op`` with what it gives on the test outputs (``"test"``)."""
        return dict(op)

    # -- outputs -----------------------------------------------------------------------------
    def predictions(self, outputs: torch.Tensor) -> pd.DataFrame:
        raise NotImplementedError

    def predictions_for(self, inputs: Any, outputs: torch.Tensor) -> pd.DataFrame:
        """:meth:`predictions` of ``outputs`` computed from ``inputs``; a task whose outputs
        alone cannot be turned into predictions (NER: windows back to documents) overrides it,
        so that concurrent predictions (the server's threads) never share state."""
        return self.predictions(outputs)

    def score(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
        """Quick validation metrics (no intervals) for monitoring during training."""
        return {}

    def evaluate(self, outputs: torch.Tensor, y: Labels, *, seed: int = 0) -> dict[str, dict[str, float]]:
        raise NotImplementedError

    def explain(self, model: nn.Module, df: pd.DataFrame, out: Path, *, file: Path,
                target_class: str | None = None) -> list[Path]:
        """Write explanation files for the rows of ``df`` into ``out``; return their paths."""
        from healthnn.errors import HealthnnError

        raise HealthnnError(f"'healthnn explain' is not available for task '{self.name}' yet",
                            hint="global feature importance for tables is in the report")

    def baseline_metrics(self, frames: dict[str, tuple[pd.DataFrame, Labels, Path]], *,
                         seed: int = 0, outputs: torch.Tensor | None = None,
                         log: Any = None) -> dict[str, dict[str, dict[str, float]]]:
        """The ``[baseline]`` models (fitted here when ``frames`` has ``train``) on the test rows
        (``{"test_baseline_<name>": {metric: {value, ci_low, ci_high}}}``) and, given the
        network's test ``outputs``, the paired differences (``test_vs_baseline_<name>``); see
        :mod:`healthnn.baselines.run`. Tasks without baselines give ``{}``."""
        from healthnn.baselines.run import baseline_metrics

        return baseline_metrics(self, frames, seed=seed, outputs=outputs, log=log)

    def write_predictions(self, result: pd.DataFrame, out: Path) -> None:
        """Write ``healthnn predict``'s table to ``out`` (its format from the suffix)."""
        from healthnn.data.tables import write_table

        write_table(result, out)

    def label_frame(self, y: Labels) -> pd.DataFrame:
        """Observed targets as columns for prediction files."""
        return pd.DataFrame(y)

    def span_finder(self, bundle: Any, *, deid: bool = False,
                    min_score: float | None = 0.0) -> Any:
        """``bundle`` (of this task) as a finder of text spans for de-identification
        (:class:`healthnn.privacy.deid.SpanFinder`); only span-tagging tasks have one."""
        from healthnn.errors import BundleError

        raise BundleError(f"not an NER bundle (task '{self.name}')", file=str(bundle.path),
                          hint="train one with task = \"ner\"")

    # -- uncertainty (see healthnn.metrics.conformal) -------------------------------------------
    def conformal_outputs(self, outputs: torch.Tensor
                          ) -> tuple[str, np.ndarray, list[str]] | None:
        """What split-conformal prediction calibrates: ``("classes", probabilities (n, K),
        class names)`` or ``("values", predictions (n, T), target names)``. None (the
        default): the task gives no conformal sets or intervals."""
        return None

    def conformal_targets(self, y: Labels) -> np.ndarray:
        """The observed outcomes that match :meth:`conformal_outputs`: class codes ``(n,)``
        (-1: unknown) or values ``(n, T)`` (NaN: not observed)."""
        raise NotImplementedError

    # -- serving (see healthnn.serve) ---------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        """What one prediction input is, for the server's model list and its web page.

        ``kind`` is ``"table"`` (JSON rows), ``"image"`` (an uploaded image file),
        ``"smiles"`` or ``"text"`` (a JSON row whose ``column`` holds the string);
        ``columns`` lists the input columns (``name``, ``type`` = number|category|string,
        ``levels`` for categories); ``rows`` whether JSON rows are accepted (not for inputs
        that are file paths, which a client must not choose on the server); ``upload``
        whether a file with a suffix in ``accept`` is (read with :meth:`read_inputs`). The default: JSON rows with any columns, which is
        right for any task that predicts from a DataFrame.
        """
        return {"kind": "table", "column": None, "columns": [], "rows": True, "upload": False}

    def encode_upload(self, name: str, data: bytes
                      ) -> tuple[pd.DataFrame, Any, dict[int, str]] | None:
        """A file uploaded to the server, decoded in memory: ``(rows, encoded inputs,
        {row position: error})`` as :meth:`read_inputs` and :meth:`encode` would give for the
        same file. None (the default): the server writes the upload to a temporary file and
        reads it with those two."""
        return None

    def concat_inputs(self, parts: list[Any]) -> Any:
        """Encoded inputs of several requests as one batch (the server predicts concurrent
        requests together); the default concatenates tensors."""
        return torch.cat(parts)

    # -- report (see healthnn.report) --------------------------------------------------------
    # Every hook has a default, so a task without them still gets Model Facts, the TRIPOD
    # checklist, metrics, Table 1 (counts and outcomes per split) and subgroup metrics.
    def report_facts(self) -> dict[str, Any]:
        """Plain-language facts for Model Facts and TRIPOD: ``outcome``, ``predictors``,
        ``missing_data``, ``output``, ``input`` (strings or lists of strings)."""
        return {}

    def report_columns(self) -> dict[str, list[str]]:
        """Input columns summarised in Table 1, compared between train and test (shift) and
        permuted for feature importance: ``{"numeric": [...], "categorical": [...]}``."""
        return {"numeric": [], "categorical": []}

    def report_feature_groups(self) -> dict[str, list[int]] | None:
        """Model-input columns that encode each :meth:`report_columns` column (for a fast
        permutation importance that shuffles encoded blocks); None: re-encode each time."""
        return None

    def class_probabilities(self, outputs: torch.Tensor, y: Labels
                            ) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        """(class codes, probabilities of shape (n, K), class names) for tasks that predict
        class probabilities; None otherwise. Gives ROC, PR, calibration, decision curve,
        threshold table and recalibration in the report."""
        return None

    def evaluate_probabilities(self, codes: np.ndarray, probs: np.ndarray, *, seed: int = 0
                               ) -> dict[str, dict[str, float]]:
        """Metrics (with intervals) of given class probabilities, e.g. after recalibration."""
        raise NotImplementedError

    def report_sections(self, outputs: torch.Tensor, y: Labels, *, seed: int = 0
                        ) -> list[dict[str, Any]] | None:
        """Task-specific report sections (see :mod:`healthnn.report.sections` for the format);
        None: the generic ones (probability curves when :meth:`class_probabilities` gives
        probabilities)."""
        return None

    # -- persistence -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------
    def bootstrap(self, fn, arrays, strata=None, seed: int = 0, min_stratum: int | None = None):
        """``fn(*arrays)`` (a dict of metrics) with ``[eval]`` bootstrap intervals; with
        ``strata`` (the classes), a class with fewer than a handful of rows makes its metrics
        not estimable (``min_stratum``, default
        :data:`~healthnn.metrics.estimable.MIN_CLASS_ROWS`; 0: no such check)."""
        from healthnn.metrics import bootstrap
        from healthnn.metrics.estimable import MIN_CLASS_ROWS, POOLED_METRICS

        ev = self.config.eval
        min_stratum = MIN_CLASS_ROWS if min_stratum is None and strata is not None else min_stratum
        return bootstrap(fn, arrays, n_resamples=ev.bootstrap, ci=ev.ci, seed=seed, strata=strata,
                         min_stratum=min_stratum or 0, pooled=POOLED_METRICS, strata_name="class")

    _bootstrap = bootstrap  # the name the task classes use


def rescale_outputs(outputs: torch.Tensor, mean: Any, std: Any, ref_mean: Any, ref_std: Any
                    ) -> torch.Tensor:
    """Standardised regression outputs (``(y - mean) / std``) re-expressed with another
    fold's ``ref_mean`` / ``ref_std``.

    >>> rescale_outputs(torch.tensor([[1.0]]), 0.0, 2.0, 1.0, 1.0)
    tensor([[1.]])
    """
    m, s = np.asarray(mean, float), np.asarray(std, float)
    rm, rs = np.asarray(ref_mean, float), np.asarray(ref_std, float)
    o = outputs.double().numpy()
    return torch.from_numpy(((o * s + m) - rm) / rs).to(outputs.dtype)
