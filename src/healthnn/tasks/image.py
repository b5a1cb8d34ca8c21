"""Image classification (chest X-ray, pathology, ultrasound): CNNs with Grad-CAM explanations.

Inputs (``[data] train`` / ``test``, and ``healthnn predict|evaluate|explain`` inputs):

* a CSV manifest with a ``path`` column (relative to the CSV) and a label column (``target``,
  default ``label``), optionally a ``group`` (patient) column;
* a folder with one subfolder per class (for prediction: any folder of images);
* a MedMNIST-style ``.npz`` (``train_images``, ``train_labels``, ``val_*``, ``test_*``): as
  ``train`` its official split is used; as ``test`` or for evaluate/predict, its ``test_*`` part.

Class handling, losses, predictions and metrics are those of
:class:`~healthnn.tasks.tabular.ClassificationTask`; this module adds image reading, the
decoded-image cache, augmentation, a torch ``DataLoader`` and Grad-CAM.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from healthnn.config import Config
from healthnn.data.images import (
    Augment,
    ImageError,
    image_files,
    is_image_file,
    load_image,
    resize,
    to_channels,
)
from healthnn.data.tables import read_table, require_columns, write_table
from healthnn.errors import ConfigError, DataError
from healthnn.tasks.base import Labels
from healthnn.tasks.tabular import ClassificationTask

__all__ = ["ImageData", "ImageClassificationTask", "ImageInputs"]

_NPZ_SPLITS = ("train", "val", "test")


AUTO_MAX_SIZE = 128  # image_size = "auto": largest side kept (MedMNIST+: little gain beyond)


@dataclass
class ImageData:
    """``[data]`` for image tasks."""

    train: str
    test: str | None = None
    target: str = "label"            # manifest label column
    path: str = "path"               # manifest column with the image paths
    group: str | None = None         # patient id column: one patient never in two splits
    id: str | None = None            # copied into prediction files
    positive: str | None = None      # the positive class of a binary label
    # "auto": the training images' own size (median side of a sample), at most 128 pixels;
    # never upsampled. An int (e.g. 224) or [height, width] fixes it.
    image_size: int | list[int] | Literal["auto"] = "auto"
    channels: int | None = None      # 1 or 3; default: 3 if any training image has colour
    nifti_slice: int | None = None   # slice of a 3D NIfTI volume (default: the middle one)
    dicom_frame: int | None = None   # frame of a multi-frame DICOM (default: the middle one)
    window: list[float] | None = None  # DICOM [centre, width], overriding the file's VOI LUT
    max_pixels: int | None = None    # refuse images declaring more pixels (default 50 M)
    augment: bool = True             # train-time augmentation (below); evaluation never augments
    rotation: float = 10.0           # degrees, uniform in [-rotation, rotation]
    crop_scale: float = 0.85         # random resized crop: smallest area fraction (1 = off)
    hflip: float = 0.0               # probability of a horizontal flip
    vflip: float = 0.0               # probability of a vertical flip
    balance: Literal["none", "loss", "sampler"] = "none"  # class imbalance handling
    workers: int = 0                 # DataLoader worker processes (and decoding threads)
    cache_mb: int = 2048             # keep decoded images in memory up to this size


class ImageInputs:
    """Encoded images of one data set: a decoded cache ``(N, C, H, W)`` (float16, [0, 1]) or,
    for sets larger than ``cache_mb``, the sources to decode again when a batch needs them."""

    def __init__(self, images: torch.Tensor | None, sources: list[Any], decode) -> None:
        self.images = images
        self.sources = sources
        self.decode = decode

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, index: np.ndarray) -> ImageInputs:
        idx = np.asarray(index, dtype=np.int64)
        images = None if self.images is None else self.images[torch.from_numpy(idx)]
        return ImageInputs(images, [self.sources[i] for i in idx], self.decode)

    def take(self, index: list[int]) -> torch.Tensor:
        if self.images is not None:
            return self.images[torch.as_tensor(index, dtype=torch.long)].float()
        return torch.stack([self.decode(self.sources[i]) for i in index]).float()


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, inputs: ImageInputs, targets: dict[str, torch.Tensor]) -> None:
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int):
        return self.__getitems__([i])

    def __getitems__(self, index: list[int]):  # a whole batch at once (DataLoader >= 2.0)
        return self.inputs.take(index), {k: v[index] for k, v in self.targets.items()}


class _Collate:
    """Augment (training only) and normalise a batch; runs in the DataLoader workers."""

    def __init__(self, mean: list[float], std: list[float], augment: Augment | None) -> None:
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)
        self.augment = augment

    def __call__(self, batch):
        x, targets = batch
        if self.augment is not None:
            x = self.augment(x)
        return (x - self.mean) / self.std, targets


class ImageClassificationTask(ClassificationTask):
    """Binary or multi-class diagnosis from 2D images."""

    name = "image_classification"
    DataConfig = ImageData
    default_model = "resnet18"
    pretraining = "simclr"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._npz: dict[Path, Any] = {}
        self._encoded: tuple[Any, ...] | None = None
        self._pretrained_pending = False

    # -- config ------------------------------------------------------------------------------
    @classmethod
    def check_config(cls, config: Config) -> None:
        d, src = config.data, config.source
        size = d.image_size if isinstance(d.image_size, list) else [d.image_size]
        if size == ["auto"]:
            size = [AUTO_MAX_SIZE]
        if len(size) not in (1, 2) or any(s < 8 or s > 4096 for s in size):
            raise ConfigError("expected a size (e.g. 224) or [height, width], each 8..4096",
                              file=src, key="data.image_size")
        if d.channels not in (None, 1, 3):
            raise ConfigError("must be 1 or 3", file=src, key="data.channels")
        if d.window is not None and len(d.window) != 2:
            raise ConfigError("expected [centre, width]", file=src, key="data.window")
        if not 0 < d.crop_scale <= 1:
            raise ConfigError("must be in (0, 1]", file=src, key="data.crop_scale")
        for key in ("hflip", "vflip"):
            if not 0 <= getattr(d, key) <= 1:
                raise ConfigError("must be a probability in [0, 1]", file=src, key=f"data.{key}")
        if d.rotation < 0 or d.rotation > 180:
            raise ConfigError("must be in [0, 180] degrees", file=src, key="data.rotation")
        for key in ("workers", "cache_mb"):
            if getattr(d, key) < 0:
                raise ConfigError("must be zero or positive", file=src, key=f"data.{key}")
        if d.max_pixels is not None and d.max_pixels <= 0:
            raise ConfigError("must be positive", file=src, key="data.max_pixels")
        if config.split.method == "group" and not d.group:
            raise ConfigError("split.method = 'group' needs [data] group (a patient id column)",
                              file=src, key="split.method")
        cls._check_monitor(config)

    @property
    def size(self) -> tuple[int, int]:
        s = getattr(self, "size_", None) or self.config.data.image_size
        if s == "auto":
            raise RuntimeError("image_size 'auto' is chosen by fit()")
        return (s[0], s[-1]) if isinstance(s, list) else (s, s)

    def fit_input_shape(self, df: pd.DataFrame, file: Path) -> list[str]:
        """Choose the channels and the size of the network's input from the training images
        (``[data] channels`` and ``image_size``, where not given); returns notes."""
        self.channels_ = self.config.data.channels or self._detect_channels(df, file)
        self.size_, note = self._choose_size(df, file)
        return [note] if note else []

    def _choose_size(self, df: pd.DataFrame, file: Path) -> tuple[list[int], str | None]:
        """``[data] image_size``, with "auto" resolved from a sample of the training images."""
        s = self.config.data.image_size
        if s != "auto":
            return (list(s) if isinstance(s, list) else [s, s]), None
        base, npz = self._base(file)
        sides = []
        for src in df[self.config.data.path].head(200):
            try:
                sides.append(min(self._decode_raw(src, base, npz).shape[:2]))
            except DataError:
                continue
            if len(sides) >= 32:
                break
        native = int(np.median(sides)) if sides else AUTO_MAX_SIZE
        side = max(8, min(native, AUTO_MAX_SIZE))
        how = ("their own size" if side == native else
               f"their own size {native} is larger than {AUTO_MAX_SIZE}, the auto cap")
        return [side, side], (f"image size {side}x{side} (image_size = \"auto\": {how}; "
                              "set [data] image_size to choose)")

    # -- reading -----------------------------------------------------------------------------
    def target_columns(self) -> list[str]:
        return [self.config.data.target]

    def read(self, path: Path) -> pd.DataFrame:
        """Labelled images: one row per image with its path (relative to ``path``) and label."""
        path = Path(path)
        d = self.config.data
        if not path.exists():
            raise DataError("not found", file=str(path),
                            hint="give a CSV manifest, a folder of class subfolders or an .npz")
        if path.is_dir():
            df = self._read_class_folders(path)
        elif path.suffix.lower() == ".npz":
            df = self._read_npz(path, all_splits=self._npz_all_splits(path))
        else:
            df = read_table(path, as_text=True)
            needed = [d.path, d.target] + [c for c in (d.group, d.id) if c]
            require_columns(df, needed, path)
        return df

    def read_inputs(self, path: Path) -> pd.DataFrame:
        """Images to predict or explain: a manifest (labels optional), a folder (searched
        recursively), an .npz or a single image file."""
        path = Path(path)
        if not path.exists():
            raise DataError("not found", file=str(path),
                            hint="give a CSV manifest, a folder of images, an .npz or an image")
        if path.is_dir():
            files = image_files(path)
            if not files:
                raise DataError("no image files in this folder", file=str(path),
                                hint="PNG, JPEG, DICOM (.dcm) and NIfTI (.nii, .nii.gz) are read")
            return pd.DataFrame({self.config.data.path: [p.relative_to(path).as_posix()
                                                         for p in files]})
        if path.suffix.lower() == ".npz":
            return self._read_npz(path, all_splits=False)
        if is_image_file(path):
            return pd.DataFrame({self.config.data.path: [path.name]})
        df = read_table(path, as_text=True)
        require_columns(df, [self.config.data.path], path)
        return df

    def linked_files(self, df: pd.DataFrame, file: Path) -> list[Path]:
        file = Path(file)
        if file.is_dir() or file.suffix.lower() == ".npz" or not file.is_file():
            return []  # a folder is fingerprinted whole; an .npz holds its images
        out = []
        for src in df[self.config.data.path].dropna():
            p = Path(str(src).strip())
            if str(src).strip():
                out.append(p if p.is_absolute() else file.parent / p)
        return out

    def _npz_all_splits(self, path: Path) -> bool:
        if hasattr(self, "classes_"):
            return False  # a trained model evaluates on the test part
        train = self.config.resolve(self.config.data.train)
        try:
            return path.resolve() == train.resolve()
        except OSError:
            return False

    def _read_class_folders(self, folder: Path) -> pd.DataFrame:
        d = self.config.data
        rows = []
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for f in image_files(sub):
                rows.append((f.relative_to(folder).as_posix(), sub.name))
        if not rows:
            raise DataError("no class subfolders with images", file=str(folder),
                            hint="put each class's images in its own subfolder (normal/, "
                                 "pneumonia/), or give a CSV manifest with path and label columns")
        return pd.DataFrame(rows, columns=[d.path, d.target])

    def _npz_arrays(self, path: Path):
        key = path.resolve()
        if key not in self._npz:
            try:
                with np.load(path, allow_pickle=False) as z:
                    self._npz[key] = {k: z[k] for k in z.files}
            except Exception as exc:
                raise DataError(f"cannot read .npz ({type(exc).__name__})", file=str(path),
                                hint="expected a MedMNIST-style file with train_images, "
                                     "train_labels, val_*, test_*") from None
        return self._npz[key]

    def _read_npz(self, path: Path, *, all_splits: bool) -> pd.DataFrame:
        d = self.config.data
        z = self._npz_arrays(path)
        splits = [s for s in _NPZ_SPLITS if f"{s}_images" in z]
        if not all_splits:
            splits = ["test"] if "test" in splits else splits
        if not splits:
            raise DataError("no '<split>_images' arrays in this .npz", file=str(path),
                            hint="expected train_images/train_labels (and val_*, test_*)")
        frames = []
        for s in splits:
            images = z[f"{s}_images"]
            if images.ndim not in (3, 4):
                raise DataError(f"'{s}_images' has shape {images.shape}; expected (N, H, W) or "
                                "(N, H, W, C)", file=str(path))
            n = len(images)
            frame = pd.DataFrame({d.path: [f"{s}/{i}" for i in range(n)], "split": s})
            if f"{s}_labels" in z:
                labels = np.asarray(z[f"{s}_labels"])
                if labels.ndim == 2 and labels.shape[1] != 1:
                    raise DataError(f"'{s}_labels' has {labels.shape[1]} columns (multi-label)",
                                    file=str(path), hint="one label per image is supported")
                if len(labels) != n:
                    raise DataError(f"'{s}_labels' has {len(labels)} rows for {n} images",
                                    file=str(path))
                frame[d.target] = labels.reshape(n).astype(str)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def predefined_split(self, df: pd.DataFrame) -> dict[str, np.ndarray] | None:
        if "split" not in df.columns or not df[self.config.data.path].astype(str).str.match(
                r"^(train|val|test)/\d+$").all():
            return None
        s = df["split"].to_numpy()
        idx = {k: np.flatnonzero(s == k) for k in _NPZ_SPLITS}
        need = ("train", "val") if self.config.data.test else _NPZ_SPLITS
        return idx if all(len(idx[k]) for k in need) else None

    def labels(self, df: pd.DataFrame, file: Path) -> tuple[Labels, np.ndarray]:
        col = self.config.data.target
        if col not in df.columns:
            raise DataError("column not found", file=str(file), column=col,
                            hint="labelled images need a label column, class subfolders or "
                                 "*_labels arrays")
        return super().labels(df, file)

    def groups(self, df: pd.DataFrame) -> np.ndarray | None:
        g = self.config.data.group
        return None if g is None else df[g].astype(str).to_numpy()

    def row_ids(self, df: pd.DataFrame) -> pd.DataFrame:
        cols = [self.config.data.path] + ([self.config.data.id] if self.config.data.id else [])
        return df[[c for c in cols if c in df.columns]].copy()

    @property
    def feature_names(self) -> None:
        return None

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        self._fit_classes(y, file)
        d = self.config.data
        notes = []
        notes += self.fit_input_shape(df, file)
        inputs, errors = self.encode(df, file)
        self._encoded = (df, Path(file), inputs, errors)  # reused by the pipeline's encode
        good = [i for i in range(len(df)) if i not in errors]
        sample = good if inputs.images is not None else good[:512]
        if sample:
            x = inputs.take(sample[:20000]).double()
            self.mean_ = x.mean((0, 2, 3)).tolist()
            self.std_ = [max(s, 1e-3) for s in x.std((0, 2, 3)).tolist()]
        else:
            self.mean_, self.std_ = [0.5] * self.channels_, [0.25] * self.channels_
        codes = self.codes(y)
        counts = np.bincount(codes[codes >= 0], minlength=len(self.classes_)).astype(float)
        self.class_counts_ = counts.astype(int).tolist()
        self.class_weights_ = None
        if d.balance == "loss":
            if len(self.classes_) == 2:
                self.class_weights_ = [float(counts[0] / max(counts[1], 1.0))]  # pos_weight
            else:
                self.class_weights_ = (counts.sum() / (len(counts) * np.maximum(counts, 1))).tolist()
        if counts.min() < 0.2 * counts.max() and d.balance == "none":
            notes.append("classes are imbalanced (" + ", ".join(
                f"{c}: {int(n)}" for c, n in zip(self.classes_, counts, strict=True))
                + "); consider [data] balance = \"loss\" or \"sampler\"")
        if inputs.images is None:
            notes.append(f"{len(df)} images exceed cache_mb = {d.cache_mb}: decoding on the fly")
        self._pretrained_pending = bool(self.config.model.params.get("weights"))
        return notes

    def _detect_channels(self, df: pd.DataFrame, file: Path) -> int:
        """1 (grey) or 3 (colour): what the first readable images of ``df`` hold."""
        base, npz = self._base(file)
        seen = 0
        for src in df[self.config.data.path].head(200):
            try:
                arr = self._decode_raw(src, base, npz)
            except DataError:
                continue
            if arr.shape[2] == 3:
                return 3
            seen += 1
            if seen >= 32:
                break
        return 1

    # -- encoding ----------------------------------------------------------------------------
    def _base(self, file: Path) -> tuple[Path, Any]:
        file = Path(file)
        if file.suffix.lower() == ".npz" and file.is_file():
            return file.parent, self._npz_arrays(file)
        return (file if file.is_dir() else file.parent), None

    def _decode_raw(self, src: Any, base: Path, npz: Any, size=None) -> np.ndarray:
        d = self.config.data
        if npz is not None:
            split, i = str(src).split("/")
            img = npz[f"{split}_images"][int(i)]
            arr = img.astype(np.float32)
            arr = arr / 255.0 if img.dtype == np.uint8 else _minmax01(arr)
            return arr[:, :, None] if arr.ndim == 2 else arr[:, :, :3]
        if src is None or (isinstance(src, float) and np.isnan(src)) or str(src).strip() == "":
            raise DataError("no image path in this row")
        p = Path(str(src).strip())
        return load_image(p if p.is_absolute() else base / p, nifti_slice=d.nifti_slice,
                          window=d.window, dicom_frame=d.dicom_frame, max_pixels=d.max_pixels,
                          size=size)

    def _decode(self, src: Any, base: Path, npz: Any) -> torch.Tensor:
        arr = to_channels(self._decode_raw(src, base, npz, self.size), self.channels_)
        return resize(arr, self.size).to(torch.float16)

    def encode(self, df: pd.DataFrame, file: Path) -> tuple[ImageInputs, dict[int, str]]:
        if self._encoded is not None and self._encoded[0] is df and self._encoded[1] == Path(file):
            _, _, inputs, errors = self._encoded
            self._encoded = None
            return inputs, dict(errors)
        d = self.config.data
        require_columns(df, [d.path], file)
        base, npz = self._base(file)
        sources = df[d.path].tolist()
        c, (h, w) = self.channels_, self.size
        empty = torch.zeros((c, h, w), dtype=torch.float16)

        def one(src):
            try:
                return self._decode(src, base, npz), None
            except DataError as exc:
                return empty, _row_error(exc, src)

        if d.workers > 1 and len(sources) > 64:
            with ThreadPoolExecutor(d.workers) as pool:
                results = list(pool.map(one, sources))
        else:
            results = [one(s) for s in sources]
        errors = {i: e for i, (_, e) in enumerate(results) if e is not None}
        mb = len(sources) * c * h * w * 2 / 2**20
        images = torch.stack([t for t, _ in results]) if results and mb <= d.cache_mb else None
        if not results:
            images = torch.zeros((0, c, h, w), dtype=torch.float16)
        return ImageInputs(images, sources, _Decoder(self, base, npz)), errors

    def subset(self, inputs: ImageInputs, index: np.ndarray) -> ImageInputs:
        return inputs.subset(index)

    # -- serving -------------------------------------------------------------------------------
    def encode_upload(self, name: str, data: bytes
                      ) -> tuple[pd.DataFrame, ImageInputs, dict[int, str]] | None:
        """PNG, JPEG, ... and DICOM uploads are decoded from memory (no temporary file);
        NIfTI is read from a file (None)."""
        from healthnn.data.images import load_image_bytes

        d = self.config.data
        df = pd.DataFrame({d.path: [name]})
        try:
            arr = load_image_bytes(data, name, window=d.window, dicom_frame=d.dicom_frame,
                                   max_pixels=d.max_pixels, size=self.size)
            if arr is None:
                return None
            image, errors = resize(to_channels(arr, self.channels_), self.size).to(
                torch.float16), {}
        except DataError as exc:
            c, (h, w) = self.channels_, self.size
            image, errors = torch.zeros((c, h, w), dtype=torch.float16), {0: _row_error(exc, name)}
        return df, ImageInputs(image[None], [name], None), errors

    def concat_inputs(self, parts: list[ImageInputs]) -> ImageInputs:
        return ImageInputs(torch.cat([p.images for p in parts]),
                           [s for p in parts for s in p.sources], None)

    def batches(self, inputs: ImageInputs, targets: dict[str, torch.Tensor], *, shuffle: bool,
                generator: torch.Generator | None = None, batch_size: int | None = None):
        d = self.config.data
        n = len(inputs)
        if shuffle:
            bs = batch_size or self.config.train.batch_size
        else:
            bs = min(batch_size or 256, 256)
        dataset = _Dataset(inputs, targets)
        sampler = None
        if shuffle:
            if d.balance == "sampler" and "y" in targets:
                y = targets["y"].numpy()
                counts = np.bincount(y, minlength=len(self.classes_)).astype(float)
                w = torch.as_tensor(1.0 / np.maximum(counts, 1)[y], dtype=torch.double)
                sampler = torch.utils.data.WeightedRandomSampler(w, n, replacement=True,
                                                                 generator=generator)
            else:
                sampler = torch.utils.data.RandomSampler(dataset, generator=generator)
        aug = None
        if shuffle and d.augment:
            aug = Augment(d.rotation, d.crop_scale, d.hflip, d.vflip)
            aug = aug if aug.active else None
        workers = d.workers if n > bs else 0
        return torch.utils.data.DataLoader(
            dataset, batch_size=bs, sampler=sampler, shuffle=False,
            drop_last=bool(shuffle and n > 1 and n % bs == 1),  # BatchNorm: no batch of one
            collate_fn=_Collate(self.mean_, self.std_, aug), num_workers=workers,
            persistent_workers=workers > 0, generator=generator,
        )

    # -- model -------------------------------------------------------------------------------
    def candidate_parameters(self) -> int | None:
        return None  # not a fixed set of predictors: the sample-size criteria do not apply

    def domain_features(self, inputs: Any) -> np.ndarray | None:
        return None  # no fixed feature columns (embedding statistics: not yet)

    def in_features(self) -> int:
        return self.channels_

    def build_model(self):
        from healthnn.models.cnn import load_pretrained

        params = dict(self.config.model.params)
        model = self.model_spec.builder(self.channels_, self.out_features(), **params,
                                        input_size=min(self.size))
        weights = params.get("weights")
        if weights and self._pretrained_pending:
            copied, total = load_pretrained(model, self.config.resolve(weights))
            print(f"note: loaded {copied} of {total} weight tensors from the pretrained file",
                  file=sys.stderr)
            self._pretrained_pending = False
        if self.config.train.privacy is not None:  # BatchNorm -> GroupNorm for DP-SGD
            from healthnn.training.privacy import make_private_compatible

            model = make_private_compatible(model)
        return model

    def loss(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.class_weights_:
            return super().loss(outputs, targets)
        y = targets["y"]
        w = torch.tensor(self.class_weights_, dtype=outputs.dtype, device=outputs.device)
        if outputs.shape[1] == 1:
            return F.binary_cross_entropy_with_logits(outputs[:, 0], y.to(outputs.dtype),
                                                      pos_weight=w)
        return F.cross_entropy(outputs, y, weight=w)

    def _metric_fn(self):
        if len(self.classes_) == 2:
            return super()._metric_fn()
        from healthnn.metrics import confusion_matrix, multiclass_metrics, per_class_metrics

        names = self.classes_

        def fn(y, p):
            m = multiclass_metrics(y, p)
            per = per_class_metrics(y, p)
            for i, c in enumerate(names):
                m[f"sensitivity_{c}"] = per["sensitivity"][i]
                m[f"specificity_{c}"] = per["specificity"][i]
            cm = confusion_matrix(y, p.argmax(1), len(names))
            for i, a in enumerate(names):
                for j, b in enumerate(names):
                    m[f"confusion_{a}_as_{b}"] = float(cm[i, j])
            return m

        return fn

    # -- serving -------------------------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {"kind": "image", "column": self.config.data.path, "columns": [],
                "rows": False, "upload": True, "accept": [".png", ".jpg", ".jpeg", ".dcm", ".nii", ".nii.gz"]}

    # -- explanations ------------------------------------------------------------------------
    def explain(self, model, df: pd.DataFrame, out: Path, *, file: Path,
                target_class: str | None = None) -> list[Path]:
        from healthnn.explain.gradcam import grad_cam, overlay, save_png

        if target_class is not None and target_class not in self.classes_:
            raise ConfigError(f"unknown class {target_class!r}", key="--class",
                              hint=f"classes: {', '.join(self.classes_)}")
        df = df.reset_index(drop=True)
        inputs, errors = self.encode(df, Path(file))
        base, npz = self._base(Path(file))
        collate = _Collate(self.mean_, self.std_, None)
        model = model.cpu().eval()
        written, rows = [], []
        for i, src in enumerate(df[self.config.data.path].tolist()):
            rec = {"row": i + 1, self.config.data.path: src}
            if i in errors:
                rows.append({**rec, "error": errors[i]})
                print(f"warning: row {i + 1}: {errors[i]}", file=sys.stderr)
                continue
            x, _ = collate((inputs.take([i]), {}))
            cls = None if target_class is None else self.classes_.index(target_class)
            cam, cls, prob = grad_cam(model, x, cls)
            original = self._decode_raw(src, base, npz)
            image = overlay(original, cam)
            name = f"{i + 1:04d}_{_safe_name(src)}_gradcam_{_safe_name(self.classes_[cls])}.png"
            save_png(image, out / name)
            written.append(out / name)
            rows.append({**rec, "class": self.classes_[cls], "probability": prob,
                         "file": name, "error": ""})
        write_table(pd.DataFrame(rows), out / "gradcam.csv")
        return written

    # -- persistence -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"classes": self.classes_, "channels": self.channels_, "size": self.size_,
                "mean": self.mean_,
                "std": self.std_, "class_counts": self.class_counts_,
                "class_weights": self.class_weights_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.classes_ = list(state["classes"])
        self.channels_ = int(state["channels"])
        if state.get("size"):  # bundles before image_size = "auto" use the config's size
            self.size_ = [int(v) for v in state["size"]]
        self.mean_, self.std_ = list(state["mean"]), list(state["std"])
        self.class_counts_ = state.get("class_counts")
        self.class_weights_ = state.get("class_weights")


class _Decoder:
    """Picklable decode function for DataLoader workers (sets beyond the cache)."""

    def __init__(self, task: ImageClassificationTask, base: Path, npz: Any) -> None:
        self.task, self.base, self.npz = task, base, npz

    def __call__(self, src):
        try:
            return self.task._decode(src, self.base, self.npz)
        except DataError as exc:  # a file changed since it was checked
            raise ImageError(f"image became unreadable during training: {exc.message}",
                             file=exc.file) from None


def _minmax01(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)


def _row_error(exc: DataError, src: Any) -> str:
    where = f"image '{src}'" if exc.file is None else f"image {exc.file}"
    text = f"{where}: {exc.message}"
    return text + (f" ({exc.hint})" if exc.hint else "")


def _safe_name(src: Any) -> str:
    import re

    stem = str(src).replace("\\", "/").rsplit("/", 1)[-1]
    for suf in (".nii.gz", ".png", ".jpg", ".jpeg", ".dcm", ".nii", ".tif", ".tiff", ".bmp"):
        if stem.lower().endswith(suf):
            stem = stem[: -len(suf)]
            break
    if "/" in str(src) and str(src).split("/")[0] in _NPZ_SPLITS:
        stem = str(src).replace("/", "_")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:60] or "image"
