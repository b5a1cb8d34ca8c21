from pathlib import Path

import pytest

from healthnn.config import load_config, to_toml
from healthnn.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


BASE = 'task = "classification"\n[data]\ntrain = "x.csv"\ntarget = "y"\n'


def test_defaults_and_relative_paths(tmp_path):
    c = load_config(write(tmp_path, BASE))
    assert c.model.name == "mlp" and c.model.params["hidden"] == [64, 64]
    assert c.train.epochs == 100 and c.eval.bootstrap == 1000 and c.split.method == "auto"
    assert c.resolve(c.data.train) == tmp_path / "x.csv"


@pytest.mark.parametrize(
    "extra, key, fragment",
    [
        ("[train]\nepocs = 3\n", "train.epocs", "did you mean 'epochs'"),
        ("[train]\nepochs = 'ten'\n", "train.epochs", "expected an integer"),
        ("[train]\nlr = -1\n", "train.lr", "must be positive"),
        ("[split]\nmethod = 'stratifed'\n", "split.method", "did you mean 'stratified'"),
        ("[model]\nname = 'mlpp'\n", "model.name", "did you mean 'mlp'"),
        ("[model]\nhiden = [3]\n", "model.hiden", "did you mean 'hidden'"),
        ("[model]\nhidden = 'big'\n", "model.hidden", "expected a list"),
        ("[model]\nname = 'deepsurv'\n", "model.name", "does not serve task"),
        ("[dta]\nx = 1\n", "dta", "did you mean 'data'"),
        ("[report]\nsubgroup = ['sex']\n", "report.subgroup", "did you mean 'subgroups'"),
        ("[report]\nexamples = -1\n", "report.examples", "between 0 and 50"),
        ("[report]\nrecalibrate = 'plat'\n", "report.recalibrate", "did you mean 'platt'"),
        ("[report]\nthresholds = [0.2, 1.5]\n", "report.thresholds", "between 0 and 1"),
    ],
)
def test_errors_name_the_key(tmp_path, extra, key, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, BASE + extra))
    assert err.value.key == key
    assert fragment in str(err.value)
    assert str(tmp_path / "c.toml") in str(err.value)


def test_missing_target_and_unknown_task(tmp_path):
    with pytest.raises(ConfigError, match="needs \\[data\\] target"):
        load_config(write(tmp_path, 'task = "classification"\n[data]\ntrain = "x.csv"\n'))
    with pytest.raises(ConfigError, match="did you mean 'survival'"):
        load_config(write(tmp_path, 'task = "survivl"\n[data]\ntrain = "x.csv"\n'))
    with pytest.raises(ConfigError, match="missing required key"):
        load_config(write(tmp_path, 'task = "regression"\n[data]\ntarget = "y"\n'))


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "task = \n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_overrides(tmp_path):
    c = load_config(write(tmp_path, BASE), overrides=[
        "train.epochs=7", "model.hidden=[8, 4]", "train.scheduler=cosine", "eval.threshold=0.3"])
    assert c.train.epochs == 7 and c.model.params["hidden"] == [8, 4]
    assert c.train.scheduler == "cosine" and c.eval.threshold == 0.3
    with pytest.raises(ConfigError, match="SECTION.KEY=VALUE"):
        load_config(write(tmp_path, BASE), overrides=["epochs"])


def test_toml_round_trip(tmp_path):
    c = load_config(write(tmp_path, BASE + "[model]\nhidden = [16]\n"))
    text = to_toml(c.to_dict())
    again = load_config(write(tmp_path, text))
    assert again.to_dict() == c.to_dict()


def test_survival_config_checks(tmp_path):
    text = 'task = "survival"\n[data]\ntrain = "x.csv"\ntime = "t"\n'
    with pytest.raises(ConfigError, match="needs \\[data\\] event"):
        load_config(write(tmp_path, text))
    c = load_config(write(tmp_path, text + 'event = "e"\n'))
    assert c.model.name == "deepsurv"
