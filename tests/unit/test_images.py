"""Image readers (PNG, DICOM, NIfTI), transforms, CNNs, Grad-CAM and the per-class metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from image_helpers import IMAGES, synthetic, write_png
from sklearn import metrics as skm

from healthnn.data.images import Augment, ImageError, load_image, resize, to_channels
from healthnn.errors import ConfigError
from healthnn.metrics import confusion_matrix, per_class_metrics

PIL = pytest.importorskip("PIL.Image")
pydicom = pytest.importorskip("pydicom")


# -- PNG / JPEG ------------------------------------------------------------------------------------
def test_png_8bit_grey_rgb_and_jpeg(tmp_path):
    grey = synthetic(0, 1)
    a = load_image(write_png(tmp_path / "g.png", grey))
    assert a.shape == (20, 20, 1) and a.dtype == np.float32
    np.testing.assert_allclose(a[:, :, 0], grey / 255.0, atol=1e-6)
    rgb = np.stack([grey, grey // 2, 255 - grey], -1)
    b = load_image(write_png(tmp_path / "c.png", rgb))
    assert b.shape == (20, 20, 3)
    np.testing.assert_allclose(b, rgb / 255.0, atol=1e-6)
    PIL.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)
    assert load_image(tmp_path / "c.jpg").shape == (20, 20, 3)


def test_png_16bit_is_scaled_per_image(tmp_path):
    arr = (np.arange(400, dtype=np.uint16).reshape(20, 20) * 100 + 1000)
    PIL.fromarray(arr).save(tmp_path / "s.png")
    assert PIL.open(tmp_path / "s.png").mode.startswith("I")
    a = load_image(tmp_path / "s.png")
    assert a.shape == (20, 20, 1)
    assert a.min() == 0.0 and a.max() == 1.0
    np.testing.assert_allclose(a[:, :, 0], (arr - arr.min()) / (arr.max() - arr.min()), atol=1e-6)


def test_rgba_is_composited_on_black(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 255
    rgba[:4, :, 3] = 0  # top half transparent
    PIL.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    a = load_image(tmp_path / "a.png")
    assert a.shape == (8, 8, 3)
    assert np.allclose(a[:4], 0.0) and np.allclose(a[4:], 200 / 255)


@pytest.mark.parametrize("content, message", [
    (b"", r"empty \(0 bytes\)"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot decode image"),
    (b"this is not an image at all", "cannot decode image"),
])
def test_bad_png_names_the_file(tmp_path, content, message):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ImageError, match=message) as e:
        load_image(p)
    assert str(p) in str(e.value)


def test_truncated_png(tmp_path):
    good = write_png(tmp_path / "g.png", synthetic(1, 3, size=64))
    data = good.read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt, truncated") as e:
        load_image(tmp_path / "t.png")
    assert "t.png" in str(e.value)


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ImageError, match="unsupported image type"):
        load_image(tmp_path / "x.txt")


# -- DICOM -------------------------------------------------------------------------------------
def test_dicom_ct_rescale_and_window(tmp_path):
    a = load_image(IMAGES / "CT_small.dcm")
    assert a.shape == (128, 128, 1) and 0.0 <= a.min() and a.max() <= 1.0
    # an explicit window clips: a narrow window saturates more pixels than the full range
    w = load_image(IMAGES / "CT_small.dcm", window=[40, 80])
    assert (w == 1.0).mean() > (a == 1.0).mean()
    ds = pydicom.dcmread(IMAGES / "CT_small.dcm")
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(a[:, :, 0], (hu - hu.min()) / (hu.max() - hu.min()), atol=1e-5)


def test_dicom_monochrome1_is_inverted(tmp_path):
    ds = pydicom.dcmread(IMAGES / "MR_small.dcm")
    normal = load_image(IMAGES / "MR_small.dcm")
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(tmp_path / "m1.dcm")
    inverted = load_image(tmp_path / "m1.dcm")
    np.testing.assert_allclose(inverted, 1.0 - normal, atol=1e-6)


def test_dicom_without_pixels_truncated_and_multiframe(tmp_path):
    with pytest.raises(ImageError, match="no pixel data") as e:
        load_image(IMAGES / "waveform_ecg.dcm")
    assert "waveform_ecg.dcm" in str(e.value)
    data = (IMAGES / "CT_small.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 5000])
    with pytest.raises(ImageError, match="truncated") as e:
        load_image(tmp_path / "cut.dcm")
    assert "cut.dcm" in str(e.value)
    (tmp_path / "head.dcm").write_bytes(data[:300])
    with pytest.raises(ImageError, match="truncated|corrupt|no pixel data"):
        load_image(tmp_path / "head.dcm")


def test_multiframe_dicom_reads_the_chosen_frame(tmp_path):
    ds = pydicom.dcmread(IMAGES / "MR_small.dcm")
    base = ds.pixel_array
    frames = np.stack([base, base[::-1], base[:, ::-1]])  # three different frames
    ds.NumberOfFrames = 3
    ds.PixelData = frames.astype(base.dtype).tobytes()
    ds.save_as(tmp_path / "cine.dcm")
    single = [_single_frame(tmp_path, f, i) for i, f in enumerate(frames)]
    np.testing.assert_allclose(load_image(tmp_path / "cine.dcm"), single[1])  # the middle one
    for k in (0, 2, -1):
        np.testing.assert_allclose(load_image(tmp_path / "cine.dcm", dicom_frame=k), single[k])
    with pytest.raises(ImageError, match="frame 3 is outside .* 3 frames") as e:
        load_image(tmp_path / "cine.dcm", dicom_frame=3)
    assert "cine.dcm" in str(e.value) and "dicom_frame" in str(e.value)


def _single_frame(tmp_path, frame: np.ndarray, i: int) -> np.ndarray:
    ds = pydicom.dcmread(IMAGES / "MR_small.dcm")
    ds.PixelData = np.ascontiguousarray(frame).astype(ds.pixel_array.dtype).tobytes()
    ds.save_as(tmp_path / f"frame{i}.dcm")
    return load_image(tmp_path / f"frame{i}.dcm")


def test_dicom_messages_hold_no_header_values(tmp_path):
    ds = pydicom.dcmread(IMAGES / "waveform_ecg.dcm")
    name = str(ds.get("PatientName", ""))
    with pytest.raises(ImageError) as e:
        load_image(IMAGES / "waveform_ecg.dcm")
    if name:
        assert name not in str(e.value)


# -- NIfTI -------------------------------------------------------------------------------------
def test_nifti_slices():
    nib = pytest.importorskip("nibabel")
    vol = np.asanyarray(nib.load(str(IMAGES / "anatomical.nii")).dataobj)
    mid = load_image(IMAGES / "anatomical.nii")
    assert mid.shape == (vol.shape[1], vol.shape[0], 1)
    first = load_image(IMAGES / "anatomical.nii", nifti_slice=0)
    assert not np.array_equal(mid, first)
    with pytest.raises(ImageError, match="outside the volume"):
        load_image(IMAGES / "anatomical.nii", nifti_slice=10_000)


# -- transforms ----------------------------------------------------------------------------------
def test_channels_and_resize():
    g = np.random.default_rng(0).random((10, 12, 1)).astype(np.float32)
    assert to_channels(g, 3).shape == (10, 12, 3)
    rgb = np.repeat(g, 3, axis=2)
    np.testing.assert_allclose(to_channels(rgb, 1), g, atol=1e-6)
    t = resize(g, (20, 24))
    assert t.shape == (1, 20, 24) and float(t.min()) >= 0 and float(t.max()) <= 1
    assert torch.equal(resize(g, (10, 12)), torch.from_numpy(g.transpose(2, 0, 1)))


def test_augment_is_random_but_seeded_and_keeps_shape():
    x = torch.rand(6, 1, 16, 16)
    aug = Augment(rotation=15, crop_scale=0.7, hflip=0.5, vflip=0.5)
    a = aug(x, torch.Generator().manual_seed(1))
    b = aug(x, torch.Generator().manual_seed(1))
    c = aug(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    off = Augment(rotation=0, crop_scale=1.0)
    assert not off.active and torch.equal(off(x), x)
    flip = Augment(rotation=0, crop_scale=1.0, hflip=1.0)(x)
    torch.testing.assert_close(flip, x.flip(3), atol=1e-5, rtol=0)


# -- models --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["simple_cnn", "resnet18", "resnet50", "densenet121"])
@pytest.mark.parametrize("channels, size", [(1, 12), (3, 64)])
def test_models_any_size_and_channels(name, channels, size):
    from healthnn.models import get_model_spec, validate_model_params

    params = validate_model_params(name, {}, task="image_classification")
    net = get_model_spec(name).builder(channels, 3, **params, input_size=size).eval()
    with torch.no_grad():
        out = net(torch.zeros(1, channels, size, size + 4))  # not square
    assert out.shape == (1, 3)
    assert net.cam_layer in list(net.modules())
    names = list(net.state_dict())
    assert len(names) == len(set(names)) and not any(n.startswith("cam_layer") for n in names)


def test_model_config_errors():
    from healthnn.models import validate_model_params

    with pytest.raises(ConfigError, match="model.depth"):
        validate_model_params("resnet18", {"depth": 3}, task="image_classification")
    with pytest.raises(ConfigError, match="does not serve"):
        validate_model_params("resnet18", {}, task="classification")


def test_grad_cam_heatmap_and_overlay():
    from healthnn.explain.gradcam import grad_cam, overlay
    from healthnn.models.cnn import resnet18, simple_cnn

    for net in (simple_cnn(1, 1, dropout=0.0, input_size=28), resnet18(1, 3, input_size=28)):
        cam, cls, prob = grad_cam(net, torch.rand(1, 1, 28, 28))
        assert cam.ndim == 2 and cam.min() >= 0 and cam.max() <= 1
        assert 0 <= prob <= 1 and 0 <= cls < 3
        img = overlay(np.random.default_rng(0).random((50, 40, 1)).astype(np.float32), cam)
        assert img.shape == (50, 40, 3) and img.dtype == np.uint8


def test_pretrained_weights_are_loaded_by_name_and_shape(tmp_path):
    from safetensors.torch import save_file

    from healthnn.models.cnn import load_pretrained, resnet18

    src = resnet18(1, 5, input_size=28)
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, tmp_path / "w.safetensors")
    dst = resnet18(1, 2, input_size=28)
    copied, total = load_pretrained(dst, tmp_path / "w.safetensors")
    assert copied == total - 2  # all but the output layer (5 classes vs 2)
    assert torch.equal(dst.layer1[0].conv1.weight, src.layer1[0].conv1.weight)
    with pytest.raises(ConfigError, match="not found"):
        load_pretrained(dst, tmp_path / "none.safetensors")


# -- per-class metrics (against scikit-learn) ------------------------------------------------------
@pytest.mark.parametrize("seed, k, n", [(0, 3, 50), (1, 4, 200), (2, 5, 17)])
def test_confusion_and_per_class_metrics_match_sklearn(seed, k, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)
    p = rng.dirichlet(np.ones(k), n)
    pred = p.argmax(1)
    cm = confusion_matrix(y, pred, k)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, pred, labels=range(k)))
    m = per_class_metrics(y, p)
    np.testing.assert_allclose(m["sensitivity"], skm.recall_score(y, pred, average=None,
                                                                  labels=range(k)))
    spec = [skm.recall_score(y != c, pred != c) for c in range(k)]
    np.testing.assert_allclose(m["specificity"], spec)


def test_per_class_metrics_absent_class_is_nan():
    m = per_class_metrics([0, 0, 1], [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    assert np.isnan(m["sensitivity"][2]) and m["specificity"][2] == 1.0
