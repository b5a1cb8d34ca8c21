"""The report's "Sample size" section (TRIPOD+AI item 10): Riley et al.'s minimum sample size
for the training split, from :mod:`healthnn.checks.sample_size` (the bundle manifest's
``sample_size``)."""

from __future__ import annotations

from typing import Any

__all__ = ["sample_size_section", "justification"]

_NAMES = {"shrinkage": "expected shrinkage ≥ 0.9 (little overfitting)",
          "optimism": "optimism in Nagelkerke R² ≤ 0.05",
          "overall_risk": "overall risk within ± 0.05"}


def justification(size: dict[str, Any] | None) -> str | None:
    """One sentence for the TRIPOD+AI checklist, or None without a computed minimum.

    >>> justification({"outcome": "binary", "parameters": 13, "n": 600, "rows": 200,
    ...                "meets": False})
    "Riley et al.'s minimum for a binary outcome with 13 predictor parameters is 600 rows; the training split has 200 (below it)"
    """
    if not size:
        return None
    return (f"Riley et al.'s minimum for a {size['outcome']} outcome with {size['parameters']} "
            f"predictor parameters is {size['n']} rows; the training split has {size['rows']} "
            f"({'meets it' if size['meets'] else 'below it'})")


def sample_size_section(size: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The section, or none without a computed minimum."""
    if not size:
        return []
    rows = [[_NAMES.get(k, k), v] for k, v in size["criteria"].items()]
    verdict = ("The training split meets the minimum." if size["meets"] else
               "The training split is BELOW the minimum: expect an overfitted model and "
               "wide intervals; fewer predictors or more rows would help.")
    given = {k: size[k] for k in ("prevalence", "rate", "mean_follow_up", "time_point")
             if k in size}
    return [{
        "id": "sample_size", "title": "Sample size (Riley et al.)",
        "text": (f"{justification(size)}. {verdict} Computed before training from the training "
                 f"split ({', '.join(f'{k} {v:.4g}' for k, v in given.items())}) with "
                 f"{size['assumption']}, R²cs {size['r2cs']:.4f}. Predictor parameters are the "
                 "encoded input columns; a neural network has many more weights, so this "
                 "minimum is a floor for it, not a guarantee (Riley et al., BMJ 2020;368:m441)."),
        "notes": [], "plots": [],
        "tables": [{"title": "Rows each criterion needs",
                    "columns": ["criterion", "rows needed"], "rows": rows}],
    }]
