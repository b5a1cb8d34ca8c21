"""Multilayer perceptrons for tables: classifier, regressor, DeepSurv and discrete-time survival."""

from __future__ import annotations

from torch import nn

from healthnn.models import register

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": nn.ReLU, "selu": nn.SELU, "gelu": nn.GELU, "tanh": nn.Tanh}


class MLP(nn.Module):
    """Linear -> [BatchNorm] -> activation -> dropout blocks, then a linear output layer.

    >>> import torch
    >>> MLP(4, 2, hidden=[8])(torch.zeros(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        hidden: list[int] = (64, 64),
        dropout: float = 0.1,
        batch_norm: bool = True,
        activation: str = "relu",
        output_bias: bool = True,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            from healthnn.errors import ConfigError

            raise ConfigError(
                f"unknown activation {activation!r}",
                key="model.activation",
                hint=f"one of: {', '.join(_ACTIVATIONS)}",
            )
        if not 0.0 <= dropout < 1.0:
            from healthnn.errors import ConfigError

            raise ConfigError("must be in [0, 1)", key="model.dropout")
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, out_features, bias=output_bias)

    def forward(self, x):  # noqa: D102
        return self.head(self.body(x))


_COMMON = dict(hidden=[64, 64], dropout=0.1, batch_norm=True, activation="relu")


@register("mlp", tasks=("classification", "regression", "event_classification"), **_COMMON)
def mlp(in_features: int, out_features: int, **params) -> MLP:
    """MLP classifier or regressor."""
    return MLP(in_features, out_features, **params)


@register("deepsurv", tasks=("survival",), objective="cox", **_COMMON)
def deepsurv(in_features: int, out_features: int, **params) -> MLP:
    """DeepSurv: an MLP trained with the Cox partial likelihood (Katzman et al. 2018)."""
    return MLP(in_features, 1, output_bias=False, **params)


@register("logistic_hazard", tasks=("survival",), objective="discrete", n_durations=20, **_COMMON)
def logistic_hazard(in_features: int, out_features: int, *, n_durations: int, **params) -> MLP:
    """Discrete-time logistic-hazard MLP (Gensheimer & Narasimhan 2019; Kvamme & Borgan 2021)."""
    return MLP(in_features, out_features, **params)
