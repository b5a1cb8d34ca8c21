"""Integrated gradients (Sundararajan et al. 2017) for models with continuous inputs, such as
the token embeddings of a text model.

``attribution_i = (x_i - baseline_i) * mean over alpha of d f(baseline + alpha (x - baseline)) / d x_i``
with a Riemann (midpoint) sum over ``steps`` points. Completeness: the attributions sum to
``f(x) - f(baseline)`` up to the approximation error, which is returned as ``delta``.

>>> import torch
>>> f = lambda x: (x ** 2).sum(-1, keepdim=True)
>>> attr, delta = integrated_gradients(f, torch.tensor([[1.0, 2.0]]), target=0, steps=64)
>>> [round(v, 3) for v in attr[0].tolist()], abs(delta[0].item()) < 1e-3
([1.0, 4.0], True)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["integrated_gradients"]


def integrated_gradients(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    target: int | torch.Tensor,
    baseline: torch.Tensor | None = None,
    steps: int = 32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attributions with the shape of ``x`` (a batch) to output column ``target`` (an int, or
    one column per row), and the completeness gap per row."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    x = x.detach()
    base = torch.zeros_like(x) if baseline is None else baseline.detach().expand_as(x)
    n = x.shape[0]
    tgt = (torch.full((n,), int(target), dtype=torch.long) if isinstance(target, int)
           else target.long())
    rows = torch.arange(n)
    total = torch.zeros_like(x)
    for k in range(steps):
        alpha = (k + 0.5) / steps
        point = (base + alpha * (x - base)).requires_grad_(True)
        out = forward(point)[rows, tgt].sum()
        (grad,) = torch.autograd.grad(out, point)
        total += grad
    attr = (x - base) * total / steps
    with torch.no_grad():
        delta = (attr.reshape(n, -1).sum(1)
                 - (forward(x)[rows, tgt] - forward(base)[rows, tgt]))
    return attr, delta
