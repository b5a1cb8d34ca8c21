"""A Transformer with time encoding for event streams (``model = "event_transformer"``).

The stay's events are binned on the same regular grid as GRU-D
(:func:`healthnn.data.events.sequence_tensors`: per variable the standardised value, the
observation mask, the hours since it was last observed and the last observed value). Each time
step becomes one token: a linear embedding of its ``4 * n_variables`` channels plus a
sinusoidal encoding of the step's time in hours (continuous, so it means the same at any
``[data] resolution``; Vaswani et al. 2017's encoding with hours in place of positions, as in
time-aware Transformers for clinical series, e.g. Horn et al. 2020, Tipirneni & Reddy 2022).
A Transformer encoder attends over the steps; the tokens are mean-pooled, joined with the
static descriptors and mapped to the outputs. Hours since the last observation enter as
``log1p`` (they reach 48 h and more).

>>> import torch
>>> net = EventTransformer(n_variables=3, n_static=2, out_features=1, d_model=8, heads=2)
>>> net(torch.zeros(5, 4 * 3 * 6 + 2)).shape       # 6 time steps, flattened, then 2 statics
torch.Size([5, 1])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from healthnn.models.registry import register
from healthnn.models._events import EventSequenceModel

__all__ = ["EventTransformer", "time_encoding"]


def time_encoding(hours: torch.Tensor, dim: int, max_period: float = 1000.0) -> torch.Tensor:
    """Sinusoidal encoding of times in hours, shape ``hours.shape + (dim,)``: sines and
    cosines of ``hours / max_period ** (2i / dim)`` (periods from 2 pi hours up to about
    ``2 pi max_period`` hours).

    >>> time_encoding(torch.tensor([0.0, 1.0]), 4).shape
    torch.Size([2, 4])
    >>> time_encoding(torch.tensor([0.0]), 4)[0].tolist()
    [0.0, 0.0, 1.0, 1.0]
    """
    half = dim // 2
    freq = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    angle = hours.float().unsqueeze(-1) * freq.to(hours.device)
    enc = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
    if dim % 2:
        enc = torch.cat([enc, torch.zeros_like(enc[..., :1])], dim=-1)
    return enc


class EventTransformer(EventSequenceModel):
    """Transformer encoder over the time steps of inputs flattened to ``(batch, n_steps * 4 *
    n_variables + n_static)``; ``step_hours`` and ``start`` place the steps in time."""

    def __init__(self, n_variables: int, n_static: int, out_features: int, *,
                 d_model: int = 32, heads: int = 4, layers: int = 2, ff: int = 64,
                 dropout: float = 0.2, static_hidden: int = 16, step_hours: float = 1.0,
                 start: float = 0.0) -> None:
        super().__init__()
        from healthnn.errors import ConfigError

        self._check_dropout(dropout)
        if d_model < 2 or d_model % heads:
            raise ConfigError(f"d_model ({d_model}) must be a multiple of heads ({heads})",
                              key="model.d_model")
        if layers < 1 or heads < 1 or ff < 1:
            raise ConfigError("layers, heads and ff must be at least 1", key="model.layers")
        V = n_variables
        self.n_variables, self.n_static, self.d_model = V, n_static, d_model
        self.step_hours, self.start = float(step_hours), float(start)
        self.embed = nn.Linear(4 * V, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self._init_output(d_model, out_features, static_hidden=static_hidden, dropout=dropout)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102
        seq = self._steps(inputs)
        x, m, delta, last = seq.split(self.n_variables, dim=2)
        feats = torch.cat([x, m, torch.log1p(delta.clamp(min=0)), last], dim=2)
        hours = self.start + self.step_hours * (
            torch.arange(seq.shape[1], device=inputs.device, dtype=torch.float32) + 0.5)
        tokens = self.embed(feats) + time_encoding(hours, self.d_model).unsqueeze(0)
        return self._output(self.norm(self.encoder(tokens)).mean(dim=1), inputs)


@register("event_transformer", tasks=("event_classification",), d_model=32, heads=4, layers=2,
          ff=64, dropout=0.2, static_hidden=16)
def event_transformer(in_features: int, out_features: int, *, n_variables: int = 0,
                      n_static: int = 0, step_hours: float = 1.0, start: float = 0.0,
                      **params) -> EventTransformer:
    """Transformer encoder with a time encoding over the event grid (see module docstring)."""
    return EventTransformer(n_variables, n_static, out_features, step_hours=step_hours,
                            start=start, **params)
