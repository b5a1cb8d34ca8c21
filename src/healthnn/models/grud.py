"""GRU-D: a GRU for irregularly sampled, partly missing time series (Che et al. 2018).

At each time step the model sees, per variable, the value (if observed), the observation mask
and the time since the variable was last observed. A missing value is imputed by a learned
decay from the last observation towards the training mean (``x_hat = m x + (1 - m)(g x_last +
(1 - g) mean)`` with ``g = exp(-relu(w delta + b))``), and the hidden state decays with the time
since the last observations too. Static descriptors (age, sex, ...) join the final hidden state
before the output layer.

>>> import torch
>>> net = GRUD(n_variables=3, n_static=2, out_features=1, hidden=8)
>>> net(torch.zeros(5, 4 * 3 * 6 + 2)).shape       # 6 time steps, flattened, then 2 statics
torch.Size([5, 1])
"""

from __future__ import annotations

import torch
from torch import nn

from healthnn.models.registry import register
from healthnn.models._events import EventSequenceModel

__all__ = ["GRUD"]


class GRUD(EventSequenceModel):
    """GRU-D over inputs flattened to ``(batch, n_steps * 4 * n_variables + n_static)``.

    The four channels per step and variable are: standardised value (0 when missing), mask,
    delta (hours since last observed) and last observed standardised value; see
    :func:`healthnn.data.events.sequence_tensors`.
    """

    def __init__(self, n_variables: int, n_static: int, out_features: int, *, hidden: int = 64,
                 dropout: float = 0.2, static_hidden: int = 32) -> None:
        super().__init__()
        self._check_dropout(dropout)
        V = n_variables
        self.n_variables, self.n_static = V, n_static
        self.decay_x = nn.Parameter(torch.zeros(V))        # per-variable input decay rate
        self.decay_x_bias = nn.Parameter(torch.zeros(V))
        self.decay_h = nn.Linear(V, hidden)                 # hidden-state decay from deltas
        self.cell = nn.GRUCell(2 * V, hidden)               # input: imputed values and mask
        self._init_output(hidden, out_features, static_hidden=static_hidden, dropout=dropout)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102
        V, B = self.n_variables, inputs.shape[0]
        seq = self._steps(inputs)
        x, m, delta, last = seq.split(V, dim=2)
        gamma_x = torch.exp(-torch.relu(self.decay_x * delta + self.decay_x_bias))
        x_hat = m * x + (1 - m) * gamma_x * last          # the training mean is 0 (standardised)
        gamma_h = torch.exp(-torch.relu(self.decay_h(delta)))
        h = inputs.new_zeros(B, self.cell.hidden_size)
        # the GRU cell's equations (as torch.nn.GRUCell, same parameters), with the input
        # projections of all steps in one product: only the recurrent part loops
        c = self.cell
        gi = torch.nn.functional.linear(torch.cat([x_hat, m], 2), c.weight_ih, c.bias_ih)
        gi_r, gi_z, gi_n = gi.chunk(3, dim=2)
        for t in range(seq.shape[1]):
            h = gamma_h[:, t] * h
            gh_r, gh_z, gh_n = torch.nn.functional.linear(h, c.weight_hh, c.bias_hh).chunk(3, 1)
            r = torch.sigmoid(gi_r[:, t] + gh_r)
            z = torch.sigmoid(gi_z[:, t] + gh_z)
            n = torch.tanh(gi_n[:, t] + r * gh_n)
            h = (1 - z) * n + z * h
        return self._output(h, inputs)


@register("grud", tasks=("event_classification",), hidden=64, dropout=0.2, static_hidden=32)
def grud(in_features: int, out_features: int, *, n_variables: int = 0, n_static: int = 0,
         **params) -> GRUD:
    """GRU-D for irregular time series with missing values (Che et al. 2018)."""
    return GRUD(n_variables, n_static, out_features, **params)
