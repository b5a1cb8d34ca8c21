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
:mod:`.run`            :func:`train` and :func:`run_split` (fit, score, save, report, encrypt)
:mod:`.resample`       cross-validation, out-of-fold outputs, learning curves
:mod:`.apply`          :func:`evaluate`, :func:`predict`, :func:`predict_file`, :func:`explain`
=====================  =====================================================================
"""

from __future__ import annotations

from healthnn.pipeline.apply import EvaluationResult, evaluate, explain, predict, predict_file
from healthnn.pipeline.data import Labelled, read_labelled, read_training
from healthnn.pipeline.fit import Fitted
from healthnn.pipeline.resample import cross_validate, learning_curve, out_of_fold_outputs, run_at
from healthnn.pipeline.run import Run, new_task, run_split, train, training_rows
from healthnn.pipeline.score import Scored
from healthnn.pipeline.split import Splits, fold_indices, make_splits, splits_at

__all__ = [
    "train", "evaluate", "predict", "predict_file", "explain", "EvaluationResult",
    "cross_validate", "learning_curve", "out_of_fold_outputs", "run_at", "run_split",
    "training_rows", "new_task", "read_labelled", "read_training", "make_splits", "splits_at",
    "fold_indices", "Labelled", "Splits", "Fitted", "Scored", "Run",
]
