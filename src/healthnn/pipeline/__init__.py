"""Train, evaluate and predict: the orchestration shared by the CLI, the Python API and the server.

>>> import healthnn
>>> bundle = healthnn.train("config.toml", "runs/heart")          # doctest: +SKIP
>>> bundle.metrics["test"]["auroc"]                               # doctest: +SKIP
{'value': 0.91, 'ci_low': 0.85, 'ci_high': 0.96}
>>> healthnn.predict_file("runs/heart", "new.csv", "scored.csv")  # doctest: +SKIP

Training is a few stages, each a function with a small typed input and output
(``docs/architecture.md``):

=====================  =====================================================================
:mod:`.data`           read labelled rows (training, test, evaluation, CV): :class:`Labelled`
:mod:`.split`          train / val / test, K folds: :class:`Splits`
:mod:`.fit`            preprocessing, encoding, the model(s): :class:`Fitted`
:mod:`.score`          validation then test, through an in-memory bundle: :class:`Scored`
:mod:`.manifest`       what the bundle records about the run
:mod:`.training`       :func:`train`: read, split, :func:`run_split` (or cross-validate)
:mod:`.run`            :func:`run_split` (fit, score, save, report, encrypt), :func:`run_at`
                       (a run on given row positions)
:mod:`.resample`       out-of-fold outputs, learning curves (runs within a run)
:mod:`.cv`             K-fold cross-validation
:mod:`.common`         logging, config, a fresh task
:mod:`.apply`          :func:`evaluate`, :func:`predict`, :func:`predict_file`, :func:`explain`
=====================  =====================================================================
"""

from __future__ import annotations

from healthnn.pipeline.apply import EvaluationResult, evaluate, explain, predict, predict_file
from healthnn.pipeline.data import Labelled, read_labelled, read_training
from healthnn.pipeline.fit import Fitted
from healthnn.pipeline.common import new_task, training_rows
from healthnn.pipeline.cv import cross_validate
from healthnn.pipeline.resample import learning_curve, out_of_fold_outputs
from healthnn.pipeline.run import Run, run_at, run_split
from healthnn.pipeline.score import Scored
from healthnn.pipeline.split import Splits, fold_indices, make_splits, splits_at
from healthnn.pipeline.training import train

__all__ = [
    "train", "evaluate", "predict", "predict_file", "explain", "EvaluationResult",
    "cross_validate", "learning_curve", "out_of_fold_outputs", "run_at", "run_split",
    "training_rows", "new_task", "read_labelled", "read_training", "make_splits", "splits_at",
    "fold_indices", "Labelled", "Splits", "Fitted", "Scored", "Run",
]
