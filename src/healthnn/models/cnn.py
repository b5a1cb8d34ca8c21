"""Convolutional networks for 2D images of any size and channel count.

``simple_cnn`` (three conv + max-pool blocks of 32/64/128 filters, dense 512), ``resnet18``,
``resnet50`` (He et al. 2016) and ``densenet121`` (Huang et al. 2017), written here in plain
torch so that nothing heavy is imported and nothing is downloaded. Every network exposes
``cam_layer``: the last convolutional feature map, used by Grad-CAM.

Images smaller than 64 pixels (MedMNIST's 28x28) get the small-input stem (a 3x3 stride-1
convolution, no max-pool), as in MedMNIST's ResNet-18 (28); ``stem = "imagenet"`` or
``"small"`` forces one. An optional local pretrained-weights file (``weights = "path"``,
.safetensors or a torch state dict) is loaded by the task when training starts: layers whose
shapes match are copied, never downloaded.

>>> import torch
>>> net = resnet18(1, 2, input_size=28)
>>> net(torch.zeros(2, 1, 28, 28)).shape
torch.Size([2, 2])
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from healthnn.errors import ConfigError
from healthnn.models.registry import register

__all__ = ["SimpleCNN", "ResNet", "DenseNet", "load_pretrained"]

TASKS = ("image_classification",)


def _check(dropout: float, stem: str) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ConfigError("must be in [0, 1)", key="model.dropout")
    if stem not in ("auto", "small", "imagenet"):
        raise ConfigError(f"unknown stem {stem!r}", key="model.stem",
                          hint="one of: auto, small, imagenet")


def _small(stem: str, input_size: int) -> bool:
    return stem == "small" or (stem == "auto" and input_size < 64)


class SimpleCNN(nn.Module):
    """Three conv(3x3) + ReLU + max-pool blocks (32, 64, 128 filters), dense 512, output."""

    def __init__(self, in_channels: int, out_features: int, *, dropout: float = 0.5,
                 filters: list[int] = (32, 64, 128), dense: int = 512) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for f in filters:
            layers += [nn.Conv2d(width, f, 3, padding=1), nn.BatchNorm2d(f), nn.ReLU(inplace=True)]
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
            width = f
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(width * 9, dense), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(dense, out_features))

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-2]  # the last ReLU, before pooling

    def forward(self, x):  # noqa: D102
        return self.head(self.pool(self.features(x)))


class _Basic(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.down = _downsample(cin, width, stride)

    def forward(self, x):  # noqa: D102
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = _downsample(cin, cout, stride)

    def forward(self, x):  # noqa: D102
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


def _downsample(cin: int, cout: int, stride: int):
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """ResNet with a configurable stem; ``layers`` = blocks per stage."""

    def __init__(self, block, layers: list[int], in_channels: int, out_features: int, *,
                 small_input: bool, dropout: float = 0.0) -> None:
        super().__init__()
        if small_input:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 64
        for i, (n, width) in enumerate(zip(layers, (64, 128, 256, 512), strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, out_features)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # zero-init the last BN of each block: starts as identity
            if isinstance(m, (_Basic, _Bottleneck)):
                nn.init.zeros_((m.bn3 if isinstance(m, _Bottleneck) else m.bn2).weight)

    @property
    def cam_layer(self) -> nn.Module:
        return self.layer4

    def forward(self, x):  # noqa: D102
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(self.drop(torch.flatten(self.pool(x), 1)))


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, bn_size * growth, 1, bias=False),
            nn.BatchNorm2d(bn_size * growth), nn.ReLU(inplace=True),
            nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False))

    def forward(self, x):  # noqa: D102
        return torch.cat([x, self.body(x)], 1)


class DenseNet(nn.Module):
    """DenseNet-BC (121: blocks 6/12/24/16, growth 32)."""

    def __init__(self, in_channels: int, out_features: int, *, small_input: bool,
                 blocks=(6, 12, 24, 16), growth: int = 32, init: int = 64, bn_size: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if small_input:
            feats: list[nn.Module] = [nn.Conv2d(in_channels, init, 3, 1, 1, bias=False)]
        else:
            feats = [nn.Conv2d(in_channels, init, 7, 2, 3, bias=False), nn.BatchNorm2d(init),
                     nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        c = init
        for i, n in enumerate(blocks):
            for _ in range(n):
                feats.append(_DenseLayer(c, growth, bn_size))
                c += growth
            if i < len(blocks) - 1:
                feats += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c // 2, 1, bias=False),
                          nn.AvgPool2d(2, ceil_mode=True)]
                c //= 2
        feats += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*feats)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(c, out_features)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-1]

    def forward(self, x):  # noqa: D102
        return self.fc(self.drop(torch.flatten(self.pool(self.features(x)), 1)))


_COMMON = dict(dropout=0.0, stem="auto", weights="")


@register("simple_cnn", tasks=TASKS, dropout=0.5, weights="")
def simple_cnn(in_features: int, out_features: int, *, dropout: float, weights: str = "",
               input_size: int = 224) -> SimpleCNN:
    """Small CNN: three conv + max-pool blocks (32/64/128 filters), dense 512."""
    _check(dropout, "auto")
    return SimpleCNN(in_features, out_features, dropout=dropout)


@register("resnet18", tasks=TASKS, **_COMMON)
def resnet18(in_features: int, out_features: int, *, dropout: float = 0.0, stem: str = "auto",
             weights: str = "", input_size: int = 224) -> ResNet:
    """ResNet-18 (basic blocks 2/2/2/2)."""
    _check(dropout, stem)
    return ResNet(_Basic, [2, 2, 2, 2], in_features, out_features,
                  small_input=_small(stem, input_size), dropout=dropout)


@register("resnet50", tasks=TASKS, **_COMMON)
def resnet50(in_features: int, out_features: int, *, dropout: float = 0.0, stem: str = "auto",
             weights: str = "", input_size: int = 224) -> ResNet:
    """ResNet-50 (bottleneck blocks 3/4/6/3)."""
    _check(dropout, stem)
    return ResNet(_Bottleneck, [3, 4, 6, 3], in_features, out_features,
                  small_input=_small(stem, input_size), dropout=dropout)


@register("densenet121", tasks=TASKS, **_COMMON)
def densenet121(in_features: int, out_features: int, *, dropout: float = 0.0, stem: str = "auto",
                weights: str = "", input_size: int = 224) -> DenseNet:
    """DenseNet-121 (dense blocks 6/12/24/16, growth rate 32)."""
    _check(dropout, stem)
    return DenseNet(in_features, out_features, small_input=_small(stem, input_size),
                    dropout=dropout)


def load_pretrained(model: nn.Module, path: Path) -> tuple[int, int]:
    """Copy the tensors of a local weights file whose names and shapes match ``model``'s.

    Returns ``(copied, total)`` parameter-tensor counts. The output layer of another task
    (a different number of classes) simply does not match and keeps its initialisation.
    """
    if not path.is_file():
        raise ConfigError("pretrained weights file not found", file=str(path), key="model.weights",
                          hint="give a local .safetensors or .pt file (nothing is downloaded)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = state["state_dict"]
    except Exception as exc:
        raise ConfigError(f"cannot read pretrained weights: {type(exc).__name__}", file=str(path),
                          key="model.weights") from None
    own = model.state_dict()
    match = {k: v for k, v in state.items()
             if k in own and isinstance(v, torch.Tensor) and v.shape == own[k].shape}
    if not match:
        raise ConfigError("no tensor in the weights file matches this model", file=str(path),
                          key="model.weights",
                          hint="use weights saved from the same architecture (model.safetensors "
                               "of an earlier bundle works)")
    model.load_state_dict(match, strict=False)
    return len(match), len(own)
