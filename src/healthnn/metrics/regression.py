"""Regression metrics as pure functions of numpy arrays.

Errors: arrays of different lengths or the wrong number of dimensions raise
:class:`ValueError`; NaN/infinite values or empty inputs raise
:class:`healthnn.errors.DataError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from healthnn.metrics._validation import as_float_array, check_same_length

__all__ = ["regression_metrics"]


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Root mean squared error, mean absolute error and coefficient of determination.

    ``r2 = 1 - SS_res / SS_tot`` as in ``sklearn.metrics.r2_score``, except that it is
    ``nan`` (not 0 or 1) when ``y_true`` is constant or has fewer than two values, where
    R² is undefined.

    Examples
    --------
    >>> m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 4.0])
    >>> {k: round(v, 4) for k, v in m.items()}
    {'rmse': 0.3536, 'mae': 0.25, 'r2': 0.9}
    """
    y = as_float_array(y_true, "y_true")
    p = as_float_array(y_pred, "y_pred")
    check_same_length(y_true=y, y_pred=p)
    resid = y - p
    ss_res = float(np.sum(resid**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if (y.size >= 2 and ss_tot > 0) else float("nan")
    return {
        "rmse": float(np.sqrt(np.mean(resid**2))),
        "mae": float(np.mean(np.abs(resid))),
        "r2": r2,
    }
