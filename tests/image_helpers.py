"""Test helpers for images: tiny synthetic two-class image sets and fast configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

IMAGES = Path(__file__).resolve().parent / "data" / "images"
FAST_IMG = {"epochs": 2, "batch_size": 16, "patience": 5, "progress": False}


def synthetic(label: int, seed: int, size: int = 20) -> np.ndarray:
    """A grey image: class 0 has a bright blob top-left, class 1 bottom-right (uint8)."""
    r = np.random.default_rng(seed)
    img = r.normal(60, 20, (size, size))
    q = size // 2
    ys, xs = (slice(1, q), slice(1, q)) if label == 0 else (slice(q, size - 1), slice(q, size - 1))
    img[ys, xs] += 120
    return np.clip(img, 0, 255).astype(np.uint8)


def write_png(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr)
    (img if mode is None else img.convert(mode)).save(path)
    return path


def image_folder(root: Path, n_per_class: int = 12, size: int = 20,
                 classes=("normal", "pneumonia")) -> Path:
    """root/<class>/<i>.png with one subfolder per class."""
    for c, name in enumerate(classes):
        for i in range(n_per_class):
            write_png(root / name / f"{name}_{i:02d}.png", synthetic(c % 2, seed=100 * c + i,
                                                                     size=size) + 10 * c)
    return root


def manifest(root: Path, n_per_class: int = 12, size: int = 20) -> Path:
    """root/images/*.png and root/manifest.csv (path, label, patient)."""
    rows = []
    for c in (0, 1):
        for i in range(n_per_class):
            rel = f"images/{c}_{i:02d}.png"
            write_png(root / rel, synthetic(c, seed=1000 * c + i, size=size))
            rows.append({"path": rel, "label": ["normal", "pneumonia"][c], "patient": f"p{i}"})
    df = pd.DataFrame(rows)
    df.to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


def image_config(train: Path, *, model: str = "simple_cnn", size: int = 20, **data) -> dict:
    return {
        "task": "image_classification",
        "data": {"train": str(train), "image_size": size, **data},
        "model": {"name": model},
        "train": dict(FAST_IMG),
        "eval": {"bootstrap": 10},
    }
