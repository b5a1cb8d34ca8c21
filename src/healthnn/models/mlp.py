"""Multilayer perceptrons for tables: classifier, regressor, DeepSurv and discrete-time survival."""

from __future__ import annotations

from torch import nn

from healthnn.models.registry import register

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": nn.ReLU, "selu": nn.SELU, "gelu": nn.GELU, "tanh": nn.Tanh}


class MLP(nn.Module):
    """Linear -> [BatchNorm] -> activation -> dropout blocks, then a linear output layer.

    ``input_dropout`` (default 0: none) drops input features while training, a regulariser
    for wide inputs with few rows (e.g. ~1,000 aggregates of ~2,700 ICU stays).

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
        input_dropout: float = 0.0,
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
        if not 0.0 <= input_dropout < 1.0:
            from healthnn.errors import ConfigError

            raise ConfigError("must be in [0, 1)", key="model.input_dropout")
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
        # a separate module with no parameters, so bundles without it keep their weight names
        self.input_dropout = nn.Dropout(input_dropout) if input_dropout > 0 else None
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, out_features, bias=output_bias)

    def forward(self, x):  # noqa: D102
        if self.input_dropout is not None:
            x = self.input_dropout(x)
        return self.head(self.body(x))


_COMMON = dict(hidden=[64, 64], dropout=0.1, batch_norm=True, activation="relu",
               input_dropout=0.0)


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
