"""Grad-CAM (Selvaraju et al. 2017) for any network that exposes ``cam_layer``.

The class score's gradient with respect to the last convolutional feature map, averaged over
space, weights the feature channels; their ReLU'd sum is the heatmap, upsampled to the
original image's size and drawn over it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["grad_cam", "overlay", "save_png", "colormap"]


def _cam_layer(model: nn.Module) -> nn.Module:
    layer = getattr(model, "cam_layer", None)
    if layer is None:
        last = None
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                last = m
        layer = last
    if layer is None:
        raise ValueError("the model has no convolutional layer for Grad-CAM")
    return layer


def grad_cam(model: nn.Module, x: torch.Tensor, target: int | None = None
             ) -> tuple[np.ndarray, int, float]:
    """Heatmap in [0, 1] at the feature map's resolution for one image ``x`` (1, C, H, W).

    ``target``: class index (default: the predicted class). A single-logit binary model
    explains class 1 with the logit and class 0 with its negative. Returns
    ``(cam, class index, predicted probability of that class)``.
    """
    model.eval()
    store: dict[str, torch.Tensor] = {}

    def hook(_module, _inp, output):
        output.retain_grad()
        store["a"] = output

    handle = _cam_layer(model).register_forward_hook(hook)
    try:
        with torch.enable_grad():
            x = x.detach().clone().requires_grad_(True)
            logits = model(x)
            if logits.shape[1] == 1:
                p1 = float(torch.sigmoid(logits[0, 0].detach()))
                probs = [1 - p1, p1]
                target = int(p1 >= 0.5) if target is None else target
                score = logits[0, 0] if target == 1 else -logits[0, 0]
            else:
                probs = torch.softmax(logits[0].detach(), 0).tolist()
                target = int(np.argmax(probs)) if target is None else target
                score = logits[0, target]
            model.zero_grad(set_to_none=True)
            score.backward()
        a = store["a"]
        weights = a.grad.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * a).sum(1))[0].detach()
    finally:
        handle.remove()
    cam = cam - cam.min()
    cam = cam / cam.max() if float(cam.max()) > 0 else cam
    return cam.numpy().astype(np.float32), target, float(probs[target])


def colormap(v: np.ndarray) -> np.ndarray:
    """A jet-like colour map: values in [0, 1] -> RGB in [0, 1]."""
    v = np.clip(v, 0.0, 1.0)[..., None]
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return np.concatenate([r, g, b], -1)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """The heatmap upsampled to ``image``'s (H, W) and blended over it: uint8 RGB (H, W, 3)."""
    h, w = image.shape[:2]
    heat = F.interpolate(torch.from_numpy(cam)[None, None], size=(h, w), mode="bilinear",
                         align_corners=False)[0, 0].numpy()
    base = image if image.shape[2] == 3 else np.repeat(image[:, :, :1], 3, axis=2)
    out = (1 - alpha) * base + alpha * colormap(heat)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def save_png(rgb: np.ndarray, path: Path) -> None:
    from PIL import Image

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    from healthnn.io import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(rgb)).save(tmp, format="PNG")
