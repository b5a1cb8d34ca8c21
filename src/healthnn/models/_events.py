"""What the models over the event grid share: the input layout and the output block.

Inputs are flattened to ``(batch, n_steps * 4 * n_variables + n_static)``: per time step and
variable the standardised value (0 when missing), the mask, the hours since last observed and
the last observed value (:func:`healthnn.data.events.sequence_tensors`), then the static
descriptors (age, sex, ...). A model summarises the steps into one vector; the statics, through
one ReLU layer, join it before dropout and the output layer.
"""

from __future__ import annotations

import torch
from torch import nn


class EventSequenceModel(nn.Module):
    """Base class: call :meth:`_init_output` last in ``__init__`` (the summary's width), then
    :meth:`_steps` and :meth:`_output` in ``forward``."""

    n_variables: int
    n_static: int

    @staticmethod
    def _check_dropout(dropout: float) -> None:
        if not 0.0 <= dropout < 1.0:
            from healthnn.errors import ConfigError

            raise ConfigError("must be in [0, 1)", key="model.dropout")

    def _init_output(self, summary_width: int, out_features: int, *, static_hidden: int,
                     dropout: float) -> None:
        S = self.n_static
        self.static = nn.Sequential(nn.Linear(S, static_hidden), nn.ReLU()) if S else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(summary_width + (static_hidden if S else 0), out_features)

    def _steps(self, inputs: torch.Tensor) -> torch.Tensor:
        """The time steps, ``(batch, n_steps, 4 * n_variables)``."""
        return inputs[:, : inputs.shape[1] - self.n_static].reshape(
            inputs.shape[0], -1, 4 * self.n_variables)

    def _output(self, summary: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        parts = [summary]
        if self.static is not None:
            parts.append(self.static(inputs[:, inputs.shape[1] - self.n_static:]))
        return self.head(self.dropout(torch.cat(parts, 1)))
