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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from healthnn.data.limits import TooLargeError, check_pixels, gzip_size, resolve
from healthnn.data.pixels import ImageError, describe_error, minmax01
from healthnn.errors import DataError

__all__ = ["ImageError", "load_image", "load_image_bytes", "IMAGE_SUFFIXES", "image_files", "is_image_file",
           "resize", "to_channels", "augment_batch", "Augment"]

PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
NIFTI_SUFFIXES = {".nii", ".nii.gz"}
IMAGE_SUFFIXES = PIL_SUFFIXES | DICOM_SUFFIXES | NIFTI_SUFFIXES


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
               window: list[float] | None = None, dicom_frame: int | None = None,
               max_pixels: int | None = None, max_unpacked_bytes: int | None = None,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one image file into ``float32 (H, W, C)`` in ``[0, 1]``.

    ``nifti_slice``: the slice (last axis) of a 3D NIfTI volume; default the middle one.
    ``window``: DICOM ``[centre, width]`` overriding the file's VOI LUT / window.
    ``dicom_frame``: the frame of a multi-frame DICOM (an ultrasound cine loop, say); default the
    middle one. The file's shared rescale and window apply to every frame.
    ``max_pixels``: refuse (:class:`~healthnn.data.limits.TooLargeError`) an image whose header
    declares more pixels (height x width of the decoded image or slice), before decoding;
    ``max_unpacked_bytes`` bounds what a ``.nii.gz`` or a deflated DICOM may unpack to. Both
    default to :func:`~healthnn.data.limits.current_limits`.
    ``size``: the ``(height, width)`` the caller will resize to: PNG/JPEG are then decoded
    smaller (JPEG DCT scaling, Pillow's integer ``reduce``) and DICOM pixels averaged over
    whole-factor blocks before the float conversion, never below ``size``.
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
    lim = resolve(max_pixels, max_unpacked_bytes)
    suffix = _suffix(path)
    if suffix in DICOM_SUFFIXES or (suffix not in IMAGE_SUFFIXES and _has_dicom_magic(path)):
        from healthnn.data.dicom import read_dicom

        arr = read_dicom(path, window=window, frame=dicom_frame, max_pixels=lim.max_pixels,
                         max_unpacked_bytes=lim.max_unpacked_bytes, size=size)
    elif suffix in NIFTI_SUFFIXES:
        arr = _read_nifti(path, nifti_slice, lim)
    elif suffix in PIL_SUFFIXES:
        arr = _read_pil(path, max_pixels=lim.max_pixels, size=size)
    else:
        raise ImageError(f"unsupported image type '{suffix or path.name}'", file=str(path),
                         hint="use PNG, JPEG, DICOM (.dcm) or NIfTI (.nii, .nii.gz)")
    return _finish(arr)


def load_image_bytes(data: bytes, name: str, *, window: list[float] | None = None,
                     dicom_frame: int | None = None, max_pixels: int | None = None,
                     max_unpacked_bytes: int | None = None,
                     size: tuple[int, int] | None = None) -> np.ndarray | None:
    """Decode an image held in memory (an upload), as :func:`load_image` would decode the
    same bytes from a file named ``name`` (the same limits); ``None`` for formats read only
    from files (NIfTI), which the caller then writes to a temporary file."""
    import io

    suffix = _suffix(Path(name))
    if suffix not in PIL_SUFFIXES and suffix not in DICOM_SUFFIXES:
        return None
    if not data:
        raise ImageError("image file is empty (0 bytes)", file=name,
                         hint="re-export or remove it")
    lim = resolve(max_pixels, max_unpacked_bytes)
    buf = io.BytesIO(data)
    if suffix in DICOM_SUFFIXES:
        from healthnn.data.dicom import read_dicom

        arr = read_dicom(buf, window=window, frame=dicom_frame, name=name, size=size,
                         max_pixels=lim.max_pixels, max_unpacked_bytes=lim.max_unpacked_bytes)
    else:
        arr = _read_pil(buf, name=name, max_pixels=lim.max_pixels, size=size)
    return _finish(arr)


def _finish(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    return np.ascontiguousarray(arr, dtype=np.float32)


def _has_dicom_magic(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:] == b"DICM"


def _read_pil(path: Any, name: str | None = None, *, max_pixels: int,
              size: tuple[int, int] | None = None) -> np.ndarray:
    Image = _need("PIL.Image")
    label = name or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit rules
            with Image.open(path) as img:
                check_pixels((img.height, img.width), max_pixels, file=label)
                if size is not None and img.format == "JPEG":
                    img.draft(None, (size[1], size[0]))  # DCT scaling: 1/2, 1/4, 1/8
                img.load()
                return _pil_array(img, size)
    except DataError:
        raise
    except Image.DecompressionBombError:
        raise TooLargeError("image is over Pillow's decompression-bomb limit", file=label,
                            hint="downscale it") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
        raise ImageError(f"cannot decode image ({describe_error(exc)}); the file is corrupt, "
                         "truncated or not an image", file=label,
                         hint="re-export or remove it") from None


def _pil_array(img: Any, size: tuple[int, int] | None) -> np.ndarray:
    """A decoded Pillow image as float32 in [0, 1], reduced (in its own 8-bit or float mode,
    by a whole factor that keeps it at least ``size``) before the float copy is made."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGBA")
    elif mode in ("1", "L"):
        img = img.convert("L")
    elif mode.startswith("I") or mode == "F":
        img = img.convert("F")
    else:  # RGB, CMYK, YCbCr, HSV, LAB and anything else
        img = img.convert("RGB")
    if size is not None:
        factor = min(img.width // max(size[1], 1), img.height // max(size[0], 1))
        if factor >= 2:
            img = img.reduce(factor)
    if img.mode == "F":
        return minmax01(np.asarray(img))  # 16-bit and 32-bit grey: per-image scaling
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if img.mode == "RGBA":  # composite on black, then drop the alpha channel
        rgb = arr[..., :3] * arr[..., 3:4]
        return rgb if mode == "RGBA" else rgb[..., :1]
    return arr


def _read_nifti(path: Path, nifti_slice: int | None, lim: Any) -> np.ndarray:
    """One 2D image or one slice of a 3D volume; only that slice is read from the file. A
    ``.nii.gz`` is checked to unpack within ``max_unpacked_bytes`` before nibabel opens it,
    and the slice's declared size against ``max_pixels``."""
    nib = _need("nibabel")
    if path.name.lower().endswith(".gz"):
        gzip_size(path, lim.max_unpacked_bytes)
    try:
        img = nib.load(str(path))
        shape = [int(s) for s in img.shape]
    except Exception as exc:
        raise ImageError(f"cannot read NIfTI ({describe_error(exc)}); the file is corrupt or "
                         "truncated", file=str(path), hint="re-export or remove it") from None
    dims = list(shape)
    while len(dims) > 2 and dims[-1] == 1:
        dims.pop()
    if len(dims) not in (2, 3):
        raise ImageError(f"{len(dims)}D NIfTI image (shape {tuple(shape)}) is not supported",
                         file=str(path), hint="use a 2D image or one 3D volume")
    check_pixels((dims[1], dims[0]), lim.max_pixels, file=str(path), what="NIfTI slice")
    index: tuple[Any, ...] = (slice(None), slice(None))
    if len(dims) == 3:
        k = dims[2] // 2 if nifti_slice is None else nifti_slice
        if not -dims[2] <= k < dims[2]:
            raise ImageError(f"slice {k} is outside the volume's {dims[2]} slices",
                             file=str(path), hint="set [data] nifti_slice")
        index += (k % dims[2],)
    index += (0,) * (len(shape) - len(index))
    try:
        data = np.asarray(img.dataobj[index], dtype=np.float32)
    except Exception as exc:
        raise ImageError(f"cannot read NIfTI ({describe_error(exc)}); the file is corrupt or "
                         "truncated", file=str(path), hint="re-export or remove it") from None
    # NIfTI stores (x, y): transpose to rows x columns, the way viewers show it
    return minmax01(np.flipud(data.T))


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
