"""Minimum sample size for developing a prediction model (Riley et al.), checked before training.

Riley et al. give criteria a development data set should meet so that a model is not overfitted
and its overall risk is estimated precisely: Riley RD et al., "Minimum sample size for developing
a multivariable prediction model: Part I (continuous outcomes), Part II (binary and time-to-event
outcomes)", Stat Med 2019; 38: 1262-1275 and 1276-1296; and "Calculating the sample size required
for developing a clinical prediction model", BMJ 2020; 368: m441. TRIPOD+AI item 9 asks a report
to say how the study size was arrived at.

Each function returns a :class:`SampleSize`: the rows each criterion needs and the largest of them.

- Binary outcomes and time-to-event outcomes: (i) expected uniform shrinkage of at least ``S``
  (0.9): ``n = p / ((S - 1) ln(1 - R2cs / S))``; (ii) a small optimism (0.05) in the Nagelkerke
  R²: the same formula with ``S = R2cs / (R2cs + 0.05 max R2cs)``; (iii) the overall risk within
  0.05: for binary outcomes ``n = (1.96 / 0.05)² φ (1 - φ)``; for time-to-event outcomes the 95%
  interval of the risk at the time point is checked at the largest n of (i) and (ii).
- Continuous outcomes: (i) shrinkage (the Van Houwelingen estimate, found by search over n),
  (ii) ``n = 1 + p (1 - R²) / 0.05``, (iii) the residual variance within a multiplicative margin
  of 1.1: ``n = 234 + p``, (iv) the mean outcome within a multiplicative margin of 1.1.

The anticipated Cox-Snell R² is rarely known before a model exists. Riley et al. suggest, for a
new model without earlier evidence, a conservative value whose Nagelkerke R² is 0.15:
``R2cs = 0.15 max R2cs`` (:func:`conservative_r2cs`), the default here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

__all__ = ["SampleSize", "binary", "survival", "continuous", "max_r2cs_binary",
           "max_r2cs_survival", "conservative_r2cs", "check_task", "warning"]

Z = 1.959963984540054  # the 97.5% normal quantile


@dataclass
class SampleSize:
    """The rows each criterion needs (``criteria``) and the largest of them (``n``)."""

    outcome: str
    parameters: int
    criteria: dict[str, int]
    r2: float
    events_per_parameter: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        """The minimum sample size: the largest of the criteria."""
        return max(self.criteria.values())


def _shrinkage_n(parameters: int, r2cs: float, shrinkage: float) -> int:
    if not 0 < r2cs < shrinkage:
        raise ValueError(f"R2cs {r2cs} must be in (0, shrinkage {shrinkage})")
    return math.ceil(parameters / ((shrinkage - 1) * math.log(1 - r2cs / shrinkage)))


def max_r2cs_binary(prevalence: float) -> float:
    """The largest Cox-Snell R² a binary outcome with this prevalence allows.

    >>> round(max_r2cs_binary(0.5), 4), round(max_r2cs_binary(0.174), 4)
    (0.75, 0.6032)
    """
    p = prevalence
    ln_null = p * math.log(p) + (1 - p) * math.log(1 - p)  # per row
    return 1 - math.exp(2 * ln_null)


def max_r2cs_survival(rate: float, mean_follow_up: float) -> float:
    """The largest Cox-Snell R² for an event rate (per unit of time) and mean follow-up.

    >>> round(max_r2cs_survival(0.065, 2.07), 4)
    0.5546
    """
    e = rate * mean_follow_up  # events per row
    return 1 - math.exp(2 * (e * math.log(e) - e))


def conservative_r2cs(max_r2cs: float, nagelkerke: float = 0.15) -> float:
    """The Cox-Snell R² whose Nagelkerke R² (R2cs / max R2cs) is ``nagelkerke``."""
    return nagelkerke * max_r2cs


def _small_optimism_n(parameters: int, r2cs: float, max_r2: float, delta: float = 0.05) -> int:
    s = r2cs / (r2cs + delta * max_r2)
    return _shrinkage_n(parameters, r2cs, s)


def binary(parameters: int, prevalence: float, r2cs: float | None = None, *,
           shrinkage: float = 0.9) -> SampleSize:
    """Riley et al.'s minimum sample size for a binary outcome.

    Parameters
    ----------
    parameters : int
        Candidate predictor parameters (a categorical predictor with k levels counts k - 1).
    prevalence : float
        The outcome's proportion.
    r2cs : float, optional
        The anticipated Cox-Snell R²; default :func:`conservative_r2cs`.
    shrinkage : float
        The expected uniform shrinkage to reach (0.9: 10% overfitting).

    Examples
    --------
    The worked example of Riley et al. (BMJ 2020): 24 parameters, prevalence 0.174, R2cs 0.288.

    >>> s = binary(24, 0.174, 0.288)
    >>> s.criteria, s.n, round(s.events_per_parameter, 2)
    ({'shrinkage': 623, 'optimism': 662, 'overall_risk': 221}, 662, 4.8)
    """
    if not 0 < prevalence < 1:
        raise ValueError("prevalence must be in (0, 1)")
    max_r2 = max_r2cs_binary(prevalence)
    r2 = conservative_r2cs(max_r2) if r2cs is None else r2cs
    criteria = {"shrinkage": _shrinkage_n(parameters, r2, shrinkage),
                "optimism": _small_optimism_n(parameters, r2, max_r2),
                "overall_risk": math.ceil((Z / 0.05) ** 2 * prevalence * (1 - prevalence))}
    n = max(criteria.values())
    return SampleSize("binary", parameters, criteria, r2, n * prevalence / parameters)


def survival(parameters: int, rate: float, mean_follow_up: float, time_point: float,
             r2cs: float | None = None, *, shrinkage: float = 0.9) -> SampleSize:
    """Riley et al.'s minimum sample size for a time-to-event outcome.

    ``rate``: events per unit of time (events / total follow-up); ``mean_follow_up`` and
    ``time_point`` (the horizon of the predicted risk) in the same unit.

    Examples
    --------
    The worked example of Riley et al. (BMJ 2020): 30 parameters, rate 0.065 per year, mean
    follow-up 2.07 years, risk at 2 years, R2cs 0.051.

    >>> s = survival(30, 0.065, 2.07, 2, 0.051)
    >>> s.n, round(s.n * 0.065 * 2.07), round(s.events_per_parameter, 2)
    (5143, 692, 23.07)
    """
    max_r2 = max_r2cs_survival(rate, mean_follow_up)
    r2 = conservative_r2cs(max_r2) if r2cs is None else r2cs
    criteria = {"shrinkage": _shrinkage_n(parameters, r2, shrinkage),
                "optimism": _small_optimism_n(parameters, r2, max_r2)}
    n = max(criteria.values())
    risk = 1 - math.exp(-rate * time_point)
    while True:  # (iii) the risk at the time point within 0.05, checked at n and grown if not
        se = math.sqrt(rate / (n * mean_follow_up))
        low = 1 - math.exp(-(rate - Z * se) * time_point)
        high = 1 - math.exp(-(rate + Z * se) * time_point)
        if max(high - risk, risk - low) <= 0.05:
            break
        n = math.ceil(n * 1.01) + 1
    criteria["overall_risk"] = n
    events = max(criteria.values()) * rate * mean_follow_up
    return SampleSize("time-to-event", parameters, criteria, r2, events / parameters)


def continuous(parameters: int, r2: float, mean: float, sd: float, *, shrinkage: float = 0.9,
               margin: float = 1.1) -> SampleSize:
    """Riley et al.'s minimum sample size for a continuous outcome (Part I).

    ``r2``: the anticipated (adjusted) R²; ``mean`` and ``sd``: the outcome's mean and
    standard deviation in the target population.

    Examples
    --------
    The worked example of Riley et al. (Stat Med 2019, Part I; BMJ 2020): fat-free mass in
    children, 25 parameters, R² 0.2, mean 1.9, SD 0.6.

    >>> continuous(25, 0.2, 1.9, 0.6).criteria
    {'shrinkage': 918, 'optimism': 401, 'residual_variance': 259, 'mean': 918}
    """
    p = parameters

    def vh_shrinkage(n: int) -> float:  # Van Houwelingen's expected shrinkage at n rows
        inner = 1 - (r2 * (n - p - 1) + p) / (n - 1)
        return 1 + (p - 2) / (n * math.log(inner)) if inner > 0 else -math.inf

    n1 = p + 2
    while vh_shrinkage(n1) < shrinkage:
        n1 += 1
    criteria = {"shrinkage": n1, "optimism": math.ceil(1 + p * (1 - r2) / 0.05),
                "residual_variance": 234 + p}
    n4 = max(criteria.values())
    residual_sd = sd * math.sqrt(1 - r2)
    while mean + stats.t.ppf(0.975, n4 - p - 1) * residual_sd / math.sqrt(n4) > margin * mean:
        n4 += 1
    criteria["mean"] = n4
    return SampleSize("continuous", p, criteria, r2)


def check_task(task: Any, y_train: dict[str, Any], rows: int) -> dict[str, Any] | None:
    """The minimum sample size of a fitted task's training split, as plain data (the bundle's
    ``manifest["sample_size"]``); None where the criteria do not apply.

    ``parameters`` counts the encoded input columns (a k-level categorical gives k columns,
    one more than Riley et al. count); a network has far more weights than that, so the
    minimum is a floor for it, not a guarantee.
    """
    p, outcome = task.candidate_parameters(), task.development_outcome(y_train)
    if not p or outcome is None:
        return None
    try:
        if outcome["outcome"] == "binary":
            size = binary(p, outcome["prevalence"])
        else:
            size = survival(p, outcome["rate"], outcome["mean_follow_up"], outcome["time_point"])
    except (ValueError, ZeroDivisionError, OverflowError):
        return None  # a degenerate outcome (no events); the run reports it elsewhere
    return {"outcome": size.outcome, "parameters": p, "criteria": size.criteria, "n": size.n,
            "rows": int(rows), "meets": rows >= size.n, "r2cs": size.r2,
            "assumption": "anticipated Cox-Snell R² with Nagelkerke R² 0.15 (conservative, "
                          "Riley et al. 2020)", **{k: v for k, v in outcome.items()
                                                   if k != "outcome"}}


def warning(result: dict[str, Any]) -> str | None:
    """The one-line warning when the training rows are fewer than the minimum."""
    if result["meets"]:
        return None
    return (f"sample size: {result['rows']} training rows, fewer than the {result['n']} that "
            f"Riley et al.'s criteria ask for a {result['outcome']} outcome with "
            f"{result['parameters']} predictor parameters (largest: "
            f"{max(result['criteria'], key=result['criteria'].get)}); expect overfitting and "
            "wide intervals, or use fewer predictors")
