"""Functional training losses (torch), one place for every task's objective.

All losses are means over the batch and stay finite on degenerate batches (a batch with no
events gives a zero loss that still has a gradient graph, never NaN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cox_ph_loss", "logistic_hazard_loss", "breslow_cumulative_hazard"]


def cox_ph_loss(
    log_risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor, ties: str = "efron"
) -> torch.Tensor:
    """Negative Cox partial log-likelihood, divided by the number of events.

    Parameters
    ----------
    log_risk: (n,) or (n, 1) predicted log hazard ratios.
    time: (n,) observed times.
    event: (n,) 1 for an event, 0 for censoring.
    ties: ``"efron"`` (default) or ``"breslow"`` handling of tied event times.

    >>> import torch
    >>> f = torch.tensor([0.5, -0.2, 0.1, 0.0])
    >>> t = torch.tensor([1.0, 2.0, 2.0, 3.0])
    >>> e = torch.tensor([1, 1, 1, 0])
    >>> round(cox_ph_loss(f, t, e).item(), 4)
    0.9556
    >>> cox_ph_loss(f, t, torch.zeros(4)).item()  # no events: zero, not NaN
    0.0
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    f = log_risk.reshape(-1)
    e = event.reshape(-1).to(f.dtype)
    n_events = e.sum()
    if n_events.item() == 0:
        return f.sum() * 0.0
    t = time.reshape(-1)
    # Sort by time descending so a cumulative sum gives each risk set {j: T_j >= t}.
    order = torch.argsort(t, descending=True, stable=True)
    f, e, t = f[order], e[order], t[order]
    shift = f.max().detach()
    w = torch.exp(f - shift)
    # Group equal times: risk-set sums must include every row tied at that time.
    uniq, inverse, counts = torch.unique_consecutive(t, return_inverse=True, return_counts=True)
    group_w = torch.zeros(len(uniq), dtype=f.dtype, device=f.device).index_add(0, inverse, w)
    risk_sum = torch.cumsum(group_w, 0)  # sum of w over T >= uniq[g]
    group_d = torch.zeros(len(uniq), dtype=f.dtype, device=f.device).index_add(0, inverse, e)
    group_ew = torch.zeros(len(uniq), dtype=f.dtype, device=f.device).index_add(0, inverse, e * w)
    if ties == "breslow":
        log_den = torch.log(risk_sum[inverse])
    else:
        # Rank l = 0..d-1 of each event within its tied group.
        csum_e = torch.cumsum(e, 0)
        start = torch.cumsum(counts, 0) - counts
        before = torch.where(start > 0, csum_e[(start - 1).clamp(min=0)], torch.zeros_like(start, dtype=f.dtype))
        rank = csum_e - e - before[inverse]
        d = group_d[inverse].clamp(min=1.0)
        den = risk_sum[inverse] - rank / d * group_ew[inverse]
        log_den = torch.log(den.clamp(min=torch.finfo(f.dtype).tiny))
    ll = e * ((f - shift) - log_den)
    return -ll.sum() / n_events


def logistic_hazard_loss(
    logits: torch.Tensor, interval: torch.Tensor, event: torch.Tensor
) -> torch.Tensor:
    """Negative log-likelihood of the discrete-time logistic-hazard model.

    ``logits[i, k]`` is the logit of the hazard in interval ``k``; row ``i`` was observed up to
    interval ``interval[i]`` and had an event there when ``event[i] == 1`` (otherwise it was
    censored after surviving the intervals before it).

    >>> import torch
    >>> round(logistic_hazard_loss(torch.zeros(2, 3), torch.tensor([0, 2]), torch.tensor([1, 0])).item(), 4)
    1.0397
    """
    n, m = logits.shape
    k = torch.arange(m, device=logits.device).unsqueeze(0)
    idx = interval.reshape(-1, 1).long()
    e = event.reshape(-1, 1).to(logits.dtype)
    target = (k == idx).to(logits.dtype) * e
    # Intervals survived before the last one; the last counts only when it held an event.
    mask = (k < idx) | ((k == idx) & (e > 0))
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * mask).sum() / max(n, 1)


def breslow_cumulative_hazard(
    log_risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Breslow estimate of the baseline cumulative hazard at each distinct event time.

    Returns ``(event_times, cumulative_hazard)``; survival for a row with log risk ``f`` is
    ``exp(-H0(t) * exp(f))``.
    """
    f = log_risk.reshape(-1).double()
    t = time.reshape(-1).double()
    e = event.reshape(-1).double()
    order = torch.argsort(t, descending=True, stable=True)
    f, t, e = f[order], t[order], e[order]
    shift = f.max()
    uniq, inverse = torch.unique_consecutive(t, return_inverse=True)
    w = torch.zeros(len(uniq), dtype=f.dtype).index_add(0, inverse, torch.exp(f - shift))
    d = torch.zeros(len(uniq), dtype=f.dtype).index_add(0, inverse, e)
    risk = torch.cumsum(w, 0) * torch.exp(shift)
    has = d > 0
    times = torch.flip(uniq[has], [0])
    hazard = torch.flip(d[has] / risk[has], [0])
    return times, torch.cumsum(hazard, 0)
