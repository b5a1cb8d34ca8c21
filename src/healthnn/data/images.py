"""Reading medical images (PNG/JPEG, DICOM, NIfTI, MedMNIST .npz) and the tensor transforms.

Every reader returns a ``float32`` array of shape ``(H, W, C)`` with ``C`` 1 or 3 and values in
``[0, 1]``; every problem is an :class:`ImageError` (a :class:`~healthnn.errors.DataError`)
naming the file. Pillow, pydicom and nibabel are imported only when a file needs them (the
``image`` extra). Nothing from a DICOM header is ever put into a message or a log: headers hold
patient names.

Intensity scaling: 8-bit images are divided by 255; images with more bits (16-bit PNG, DICOM
after the modality and VOI LUTs, NIfTI) are min-max scaled per image. DICOM MONOCHROME1 images
are inverted so that higher is always brighter.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from healthnn.errors import DataError

__all__ = ["ImageError", "load_image", "load_image_bytes", "IMAGE_SUFFIXES", "image_files", "is_image_file",
           "resize", "to_channels", "augment_batch", "Augment"]

PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
NIFTI_SUFFIXES = {".nii", ".nii.gz"}
IMAGE_SUFFIXES = PIL_SUFFIXES | DICOM_SUFFIXES | NIFTI_SUFFIXES


class ImageError(DataError):
    """An image file cannot be used (missing, empty, corrupt, unsupported)."""


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def is_image_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and _suffix(path) in IMAGE_SUFFIXES


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), in a stable order."""
    return sorted(p for p in folder.rglob("*") if is_image_file(p))


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataError(f"reading this image needs the '{module}' package",
                        hint="pip install 'healthnn[image]'") from None


def load_image(path: str | Path, *, nifti_slice: int | None = None,
               window: list[float] | None = None, dicom_frame: int | None = None) -> np.ndarray:
    """Decode one image file into ``float32 (H, W, C)`` in ``[0, 1]``.

    ``nifti_slice``: the slice (last axis) of a 3D NIfTI volume; default the middle one.
    ``window``: DICOM ``[centre, width]`` overriding the file's VOI LUT / window.
    ``dicom_frame``: the frame of a multi-frame DICOM (an ultrasound cine loop, say); default the
    middle one. The file's shared rescale and window apply to every frame.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError("image file not found", file=str(path),
                         hint="check the path (manifest paths are relative to the manifest)")
    if path.is_dir():
        raise ImageError("is a folder, expected an image file", file=str(path))
    if path.stat().st_size == 0:
        raise ImageError("image file is empty (0 bytes)", file=str(path),
                         hint="re-export or remove it")
    suffix = _suffix(path)
    if suffix in DICOM_SUFFIXES or (suffix not in IMAGE_SUFFIXES and _has_dicom_magic(path)):
        arr = _read_dicom(path, window, dicom_frame)
    elif suffix in NIFTI_SUFFIXES:
        arr = _read_nifti(path, nifti_slice)
    elif suffix in PIL_SUFFIXES:
        arr = _read_pil(path)
    else:
        raise ImageError(f"unsupported image type '{suffix or path.name}'", file=str(path),
                         hint="use PNG, JPEG, DICOM (.dcm) or NIfTI (.nii, .nii.gz)")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    return np.ascontiguousarray(arr, dtype=np.float32)


def load_image_bytes(data: bytes, name: str, *, window: list[float] | None = None,
                     dicom_frame: int | None = None) -> np.ndarray | None:
    """Decode an image held in memory (an upload), as :func:`load_image` would decode the
    same bytes from a file named ``name``; ``None`` for formats read only from files
    (NIfTI), which the caller then writes to a temporary file."""
    import io

    suffix = _suffix(Path(name))
    if suffix not in PIL_SUFFIXES and suffix not in DICOM_SUFFIXES:
        return None
    if not data:
        raise ImageError("image file is empty (0 bytes)", file=name,
                         hint="re-export or remove it")
    buf = io.BytesIO(data)
    arr = (_read_dicom(buf, window, dicom_frame, name=name) if suffix in DICOM_SUFFIXES
           else _read_pil(buf, name=name))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    return np.ascontiguousarray(arr, dtype=np.float32)


def _has_dicom_magic(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:] == b"DICM"


def _minmax(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32)
    lo, hi = float(np.min(a)), float(np.max(a))
    return np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)


def _read_pil(path: Any, name: str | None = None) -> np.ndarray:
    Image = _need("PIL.Image")
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                mode = img.mode
            if mode in ("RGBA", "LA", "PA"):
                # composite on black, then drop the alpha channel
                img = img.convert("RGBA")
                rgba = np.asarray(img, dtype=np.float32) / 255.0
                rgb = rgba[..., :3] * rgba[..., 3:4]
                return rgb if mode == "RGBA" else rgb[..., :1]
            if mode in ("RGB", "CMYK", "YCbCr", "HSV", "LAB"):
                return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
            if mode in ("1", "L"):
                return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
            if mode.startswith("I") or mode == "F":
                return _minmax(np.asarray(img))  # 16-bit and 32-bit grey: per-image scaling
            return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except ImageError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
        raise ImageError(f"cannot decode image ({_reason(exc)}); the file is corrupt, truncated "
                         "or not an image", file=name or str(path),
                         hint="re-export or remove it") from None


def _read_dicom(path: Any, window: list[float] | None, frame: int | None = None,
                name: str | None = None) -> np.ndarray:
    pydicom = _need("pydicom")
    label = name or str(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise ImageError(f"cannot read DICOM ({_reason(exc)}); the file is corrupt, truncated or "
                         "not DICOM", file=label, hint="re-export or remove it") from None
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageError("DICOM file has no pixel data (a waveform, report or other non-image "
                         "object)", file=label, hint="remove it from the image list")
    try:
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        frames = 1
    k = None
    if frames > 1:
        k = frames // 2 if frame is None else frame
        if not -frames <= k < frames:
            raise ImageError(f"frame {k} is outside this multi-frame DICOM's {frames} frames",
                             file=label, hint="set [data] dicom_frame")
    try:
        from pydicom.pixels import apply_modality_lut, apply_voi_lut

        raw = ds.pixel_array
        if k is not None:
            raw = raw[k]
        arr = apply_modality_lut(raw, ds).astype(np.float32)
        photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
        if photometric.startswith("MONOCHROME"):
            if window is not None:
                c, w = float(window[0]), max(float(window[1]), 1e-6)
                arr = np.clip((arr - (c - w / 2)) / w, 0.0, 1.0)
            elif "VOILUTSequence" in ds or "WindowCenter" in ds:
                arr = apply_voi_lut(arr, ds).astype(np.float32)
            arr = _minmax(arr)
            if photometric == "MONOCHROME1":
                arr = 1.0 - arr
            return arr
        if arr.ndim == 3 and arr.shape[-1] == 3:
            if photometric.startswith("YBR"):
                from pydicom.pixels import convert_color_space

                arr = convert_color_space(raw, photometric, "RGB").astype(np.float32)
            return _minmax(arr)
        return _minmax(arr)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot decode DICOM pixel data ({_reason(exc)}); the file may be "
                         "truncated or use an unsupported compression", file=label,
                         hint="re-export it uncompressed, or remove it") from None


def _read_nifti(path: Path, nifti_slice: int | None) -> np.ndarray:
    nib = _need("nibabel")
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj).astype(np.float32)
    except Exception as exc:
        raise ImageError(f"cannot read NIfTI ({_reason(exc)}); the file is corrupt or truncated",
                         file=str(path), hint="re-export or remove it") from None
    while data.ndim > 2 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 3:
        k = data.shape[2] // 2 if nifti_slice is None else nifti_slice
        if not -data.shape[2] <= k < data.shape[2]:
            raise ImageError(f"slice {k} is outside the volume's {data.shape[2]} slices",
                             file=str(path), hint="set [data] nifti_slice")
        data = data[:, :, k]
    elif data.ndim != 2:
        raise ImageError(f"{data.ndim}D NIfTI image (shape {tuple(data.shape)}) is not supported",
                         file=str(path), hint="use a 2D image or one 3D volume")
    # NIfTI stores (x, y): transpose to rows x columns, the way viewers show it
    return _minmax(np.flipud(data.T))


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- tensors --------------------------------------------------------------------------------------
def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """``(H, W, C)`` to ``channels`` channels (grey repeated, colour to luminance)."""
    c = arr.shape[2]
    if c == channels:
        return arr
    if channels == 3 and c == 1:
        return np.repeat(arr, 3, axis=2)
    if channels == 1 and c == 3:
        return (arr @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[:, :, None]
    raise ValueError(f"cannot convert {c} channels to {channels}")


def resize(arr: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """``(H, W, C)`` array -> ``(C, h, w)`` float tensor, bilinear with antialiasing."""
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    if tuple(t.shape[1:]) == tuple(size):
        return t.float()
    out = F.interpolate(t[None].float(), size=size, mode="bilinear", align_corners=False,
                        antialias=True)[0]
    return out.clamp_(0.0, 1.0)


class Augment:
    """Random rotation, random resized crop and flips for a batch ``(N, C, H, W)`` in one
    ``grid_sample`` call (torch only)."""

    def __init__(self, rotation: float = 10.0, crop_scale: float = 0.85,
                 hflip: float = 0.0, vflip: float = 0.0) -> None:
        self.rotation, self.crop_scale, self.hflip, self.vflip = rotation, crop_scale, hflip, vflip

    @property
    def active(self) -> bool:
        return self.rotation > 0 or self.crop_scale < 1 or self.hflip > 0 or self.vflip > 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return augment_batch(x, self, generator)


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator | None = None):
    n = x.shape[0]
    if n == 0 or not aug.active:
        return x

    def rand(*shape):
        return torch.rand(*shape, generator=generator)

    angle = (rand(n) * 2 - 1) * math.radians(aug.rotation)
    # random resized crop: area fraction in [crop_scale, 1], aspect ratio in [3/4, 4/3]
    area = aug.crop_scale + (1 - aug.crop_scale) * rand(n)
    log_r = (rand(n) * 2 - 1) * math.log(4 / 3)
    ratio = torch.exp(log_r) if aug.crop_scale < 1 else torch.ones(n)
    sx = torch.sqrt(area * ratio).clamp(max=1.0)
    sy = torch.sqrt(area / ratio).clamp(max=1.0)
    tx = (rand(n) * 2 - 1) * (1 - sx)
    ty = (rand(n) * 2 - 1) * (1 - sy)
    fx = torch.where(rand(n) < aug.hflip, -1.0, 1.0)
    fy = torch.where(rand(n) < aug.vflip, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([
        torch.stack([cos * sx * fx, -sin * sy * fy, tx], 1),
        torch.stack([sin * sx * fx, cos * sy * fy, ty], 1),
    ], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
