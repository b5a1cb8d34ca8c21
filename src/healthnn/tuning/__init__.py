"""Model selection for small data: hyperparameter search, cross-validation, learning curves.

* :func:`tune` (``healthnn tune``): Optuna search over ``[tune]``, optionally nested in a
  cross-validation, then the best configuration trained into a normal bundle.
* :func:`cross_validate` (``healthnn train`` with ``[split] method = "kfold"``): one bundle per
  fold, per-fold and pooled out-of-fold metrics with intervals (a stage of
  :mod:`healthnn.pipeline.cv`, re-exported here).
* :func:`learning_curve` (``[report] learning_curve = [0.1, 0.25, 0.5]``): the test metric
  against training-set size, in the report (also :mod:`healthnn.pipeline.resample`).

Optuna is imported only when a search runs.
"""

from __future__ import annotations

from healthnn.pipeline.cv import cross_validate
from healthnn.pipeline.resample import learning_curve
from healthnn.report.sections import learning_curve_section
from healthnn.tuning._search import parse_space, tune

__all__ = ["tune", "cross_validate", "learning_curve", "learning_curve_section", "parse_space"]
