"""[data] image_size = "auto" (the default): small images keep their size, large ones are capped,
nothing is upsampled, the choice is said and saved with the bundle (issue 24)."""

from __future__ import annotations

from image_helpers import image_config, manifest

from healthnn.bundle import load_bundle
from healthnn.pipeline import predict_file, train
from healthnn.tasks.image import AUTO_MAX_SIZE


def _auto(cfg: dict) -> dict:
    cfg["data"].pop("image_size")
    return cfg


def test_auto_keeps_the_native_size_and_reloads(tmp_path):
    train_file = manifest(tmp_path / "d", n_per_class=10, size=24)
    bundle = train(_auto(image_config(train_file)), tmp_path / "b", log=lambda m: None)
    assert bundle.task.size == (24, 24)
    notes = bundle.manifest["notes"]
    assert any("image size 24x24" in n and "their own size" in n for n in notes), notes
    again = load_bundle(tmp_path / "b")
    assert again.task.size == (24, 24)
    predict_file(again, train_file, tmp_path / "p.csv")  # the saved size scores new images
    assert (tmp_path / "p.csv").is_file()


def test_auto_caps_large_images_and_never_upsamples(tmp_path):
    from healthnn.config import load_config
    from healthnn.tasks import get_task_class

    big = manifest(tmp_path / "big", n_per_class=2, size=AUTO_MAX_SIZE + 40)
    config = load_config(_auto(image_config(big)))
    task = get_task_class(config.task)(config)
    df = task.read(big)
    notes = task.fit_input_shape(df, big)
    assert task.size == (AUTO_MAX_SIZE, AUTO_MAX_SIZE)
    assert "auto cap" in notes[0]
    fixed = load_config(image_config(big, size=16))  # an explicit size is kept, without a note
    task = get_task_class(fixed.task)(fixed)
    assert task.fit_input_shape(df, big) == [] and task.size == (16, 16)
