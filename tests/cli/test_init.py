"""healthnn init: a starter config that loads as written and trains (issue 24)."""

import shutil

import pytest
from helpers import DATASETS

from healthnn.cli import main
from healthnn.config import load_config
from healthnn.starter import field_comments
from healthnn.tasks import get_task_class, task_names


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("task", task_names())
def test_every_task_gets_a_config_that_loads(task, tmp_path, capsys):
    out = tmp_path / "c.toml"
    code, _, err = run_cli(capsys, "init", task, "--out", out)
    assert code == 0, err
    config = load_config(out)  # placeholders for the data, but valid keys and types
    assert config.task == task
    # every [data] key the task accepts is named in the file, so nothing has to be looked up
    text = out.read_text()
    for name in get_task_class(task).DataConfig.__dataclass_fields__:
        assert f"{name} = " in text, name


def test_columns_detected_from_the_data_and_the_config_trains(tmp_path, capsys):
    shutil.copy(DATASETS / "heart.csv", tmp_path / "heart.csv")
    out = tmp_path / "c.toml"
    code, _, err = run_cli(capsys, "init", "classification", "--data", tmp_path / "heart.csv",
                           "--target", "disease", "--out", out)
    assert code == 0
    assert "id: 'patient_id'" in err and "positive: '1'" in err
    config = load_config(out)
    assert (config.data.train, config.data.target, config.data.id, config.data.positive) == (
        "heart.csv", "disease", "patient_id", "1")  # relative to the config's folder
    code, _, err = run_cli(capsys, "train", out, "--out", tmp_path / "b", "--set",
                           "train.epochs=2", "--set", "eval.bootstrap=20", "--set",
                           "report.enabled=false")
    assert code == 0, err


def test_survival_columns_and_bad_target(tmp_path, capsys):
    out = tmp_path / "s.toml"
    code, _, _ = run_cli(capsys, "init", "survival", "--data", DATASETS / "whas_train.csv",
                         "--out", out)
    assert code == 0
    data = load_config(out).data
    assert (data.time, data.event) == ("time", "event")
    code, _, err = run_cli(capsys, "init", "classification", "--data",
                           DATASETS / "heart.csv", "--target", "nope", "--out", "-")
    assert code == 2 and "no column 'nope'" in err and "columns: " in err


def test_refuses_to_overwrite_and_prints_to_stdout(tmp_path, capsys):
    out = tmp_path / "c.toml"
    out.write_text("mine")
    code, _, err = run_cli(capsys, "init", "regression", "--out", out)
    assert code == 2 and "exists" in err and out.read_text() == "mine"
    code, stdout, _ = run_cli(capsys, "init", "regression", "--out", "-")
    assert code == 0 and stdout.startswith("# healthnn starter config")
    code, _, err = run_cli(capsys, "init", "clasification", "--out", "-")
    assert code == 2 and "did you mean 'classification'" in err


def test_field_comments_come_from_the_dataclass_source():
    from healthnn.tasks.events import EventData

    comments = field_comments(EventData)
    assert comments["outcomes"] == "one row per stay: id and target"
    assert "windows" in comments and "type: ignore" not in comments["windows"]


def test_default_threads_leave_busy_cores_alone(monkeypatch):
    """Without --threads, a busy machine gets fewer PyTorch threads; the caller's are restored."""
    import os

    import torch

    import healthnn.cli as cli

    seen = []
    add, _ = cli.COMMANDS["train"]
    monkeypatch.setitem(cli.COMMANDS, "train", (add, lambda a: seen.append(
        torch.get_num_threads()) or 0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # recorded, so teardown restores the original
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert cli.main(["train", "c.toml", "--out", "b"]) == 0
        assert seen == [1] and torch.get_num_threads() == 2
        assert cli.main(["--threads", "2", "train", "c.toml", "--out", "b"]) == 0
        assert seen[-1] == 2
    finally:
        torch.set_num_threads(before)
