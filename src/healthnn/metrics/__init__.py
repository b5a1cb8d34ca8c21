"""Evaluation metrics as pure functions of numpy arrays.

Classification (:mod:`~healthnn.metrics.classification`), regression
(:mod:`~healthnn.metrics.regression`) and survival (:mod:`~healthnn.metrics.survival`)
metrics, plus percentile bootstrap intervals (:mod:`~healthnn.metrics.bootstrap`).
Only numpy and scipy are needed at run time. Each metric is checked against the
scikit-learn / scikit-survival reference in the test suite.

Errors: a wrong call (mismatched lengths, wrong dimensions, invalid parameters) raises
:class:`ValueError`; data that cannot give the metric (NaN, a single class, no events,
negative times, ...) raises :class:`healthnn.errors.DataError`.

Examples
--------
>>> from healthnn.metrics import auroc, harrell_c
>>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
>>> harrell_c([1, 2, 3, 4], [1, 1, 0, 1], [4.0, 1.0, 3.0, 2.0])
0.6
"""

from __future__ import annotations

from healthnn.metrics.bootstrap import bootstrap
from healthnn.metrics.classification import (
    auprc,
    auroc,
    binary_metrics,
    brier_score,
    calibration_slope_intercept,
    confusion_matrix,
    expected_calibration_error,
    multiclass_metrics,
    per_class_metrics,
    threshold_metrics,
)
from healthnn.metrics.curves import (
    calibration_bins,
    curve_bands,
    decision_curve,
    net_benefit,
    pr_curve,
    roc_curve,
    survival_decision_curve,
    threshold_table,
    OPERATING_RULES,
    operating_point,
)
from healthnn.metrics.delong import delong_test
from healthnn.metrics.multilabel import multilabel_metrics
from healthnn.metrics.recalibration import apply_recalibration, fit_recalibration
from healthnn.metrics.regression import regression_metrics
from healthnn.metrics.survival import (
    brier_scores,
    evaluate_step_function,
    harrell_c,
    integrated_brier_score,
    kaplan_meier,
    survival_metrics,
    time_dependent_auc,
    uno_c,
)

__all__ = [
    # classification
    "auroc",
    "auprc",
    "brier_score",
    "expected_calibration_error",
    "calibration_slope_intercept",
    "threshold_metrics",
    "binary_metrics",
    "multiclass_metrics",
    "confusion_matrix",
    "per_class_metrics",
    "multilabel_metrics",
    "delong_test",  # issue 20: paired AUROC comparison
    # curves for the report
    "roc_curve",
    "pr_curve",
    "curve_bands",
    "calibration_bins",
    "net_benefit",
    "decision_curve",
    "survival_decision_curve",
    "threshold_table",
    "OPERATING_RULES",
    "operating_point",
    # recalibration
    "fit_recalibration",
    "apply_recalibration",
    # regression
    "regression_metrics",
    # survival
    "kaplan_meier",
    "evaluate_step_function",
    "harrell_c",
    "uno_c",
    "time_dependent_auc",
    "brier_scores",
    "integrated_brier_score",
    "survival_metrics",
    # uncertainty
    "bootstrap",
]
