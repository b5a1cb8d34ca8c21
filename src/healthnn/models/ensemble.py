"""Ensembles of independently trained copies of one model (deep ensembles).

``[train] ensemble = 5`` trains five copies with seeds ``seed, seed + 1, ...`` (the split
stays the same) and averages their raw outputs (logits for classifiers); prediction files gain a ``<column>_sd`` column per
prediction column: the standard deviation across members, a simple uncertainty estimate
(Lakshminarayanan et al. 2017).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["Ensemble"]


class Ensemble(nn.Module):
    """Mean of the members' raw outputs; :meth:`member_outputs` gives each one.

    >>> m = Ensemble([nn.Linear(3, 2), nn.Linear(3, 2)])
    >>> m(torch.zeros(4, 3)).shape, m.member_outputs(torch.zeros(4, 3)).shape
    (torch.Size([4, 2]), torch.Size([2, 4, 2]))
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def member_outputs(self, *inputs: Any) -> torch.Tensor:
        return torch.stack([m(*inputs) for m in self.members])

    def forward(self, *inputs: Any) -> torch.Tensor:  # noqa: D102
        return self.member_outputs(*inputs).mean(0)
