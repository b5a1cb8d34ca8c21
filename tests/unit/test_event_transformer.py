"""The Transformer with time encoding for event streams (issue 8): shapes, the time encoding
(steps are placed in hours, so order and resolution matter), config checks, and the task
passing the grid's time step to the model."""

from __future__ import annotations

import math

import pytest
import torch

from healthnn.errors import ConfigError
from healthnn.models import get_model_spec, validate_model_params
from healthnn.models.event_transformer import EventTransformer, time_encoding


def test_time_encoding_is_the_sinusoid_of_hours() -> None:
    h = torch.tensor([0.0, 1.5, 30.0])
    enc = time_encoding(h, 6, max_period=100.0)
    assert enc.shape == (3, 6)
    freq = [100.0 ** (-i / 3) for i in range(3)]
    for r, hours in enumerate(h.tolist()):
        want = [math.sin(hours * f) for f in freq] + [math.cos(hours * f) for f in freq]
        assert enc[r].tolist() == pytest.approx(want, abs=1e-6)
    assert time_encoding(h, 5).shape == (3, 5)  # odd widths pad with zeros


def _inputs(b: int = 4, steps: int = 6, v: int = 3, s: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    seq = torch.randn(b, steps, 4 * v, generator=g)
    seq[..., v:2 * v] = (seq[..., v:2 * v] > 0).float()  # masks
    seq[..., 2 * v:3 * v] = seq[..., 2 * v:3 * v].abs() * 5  # hours since last observed
    return torch.cat([seq.reshape(b, -1), torch.randn(b, s, generator=g)], 1)


def test_output_depends_on_when_steps_happen() -> None:
    torch.manual_seed(0)
    net = EventTransformer(3, 2, 1, d_model=8, heads=2, layers=1, ff=16).eval()
    x = _inputs()
    assert net(x).shape == (4, 1)
    # reversing the steps changes the output (without a time encoding, mean pooling over a
    # Transformer encoder would be order-blind)
    seq, stat = x[:, :-2].reshape(4, 6, 12), x[:, -2:]
    flipped = torch.cat([seq.flip(1).reshape(4, -1), stat], 1)
    assert not torch.allclose(net(x), net(flipped))
    # the same steps placed at other hours (a finer grid) give another output
    other = EventTransformer(3, 2, 1, d_model=8, heads=2, layers=1, ff=16, step_hours=0.5)
    other.load_state_dict(net.state_dict())
    assert not torch.allclose(net(x), other.eval()(x))


def test_config_checks() -> None:
    with pytest.raises(ConfigError) as e:
        EventTransformer(3, 0, 1, d_model=10, heads=4)
    assert e.value.key == "model.d_model"
    with pytest.raises(ConfigError) as e:
        EventTransformer(3, 0, 1, dropout=1.0)
    assert e.value.key == "model.dropout"
    with pytest.raises(ConfigError, match="d_model"):  # did-you-mean
        validate_model_params("event_transformer", {"dmodel": 8}, task="event_classification")
    with pytest.raises(ConfigError):  # not a table model
        get_model_spec("event_transformer", task="classification")


def test_task_places_the_steps_in_hours(tmp_path) -> None:
    from healthnn.config import load_config
    from healthnn.tasks import get_task_class

    cfg = load_config({"task": "event_classification",
                       "data": {"train": str(tmp_path / "e.csv"), "outcomes": "o.csv",
                                "target": "y", "windows": [[6, 30]], "resolution": 0.5},
                       "model": {"name": "event_transformer", "d_model": 8, "heads": 2}})
    task = get_task_class("event_classification")(cfg)
    task.series_, task.preprocessor_ = ["HR", "Temp"], None
    task.classes_ = ["0", "1"]
    net = task.build_model()
    assert isinstance(net, EventTransformer)
    assert (net.step_hours, net.start) == (0.5, 6.0)
    assert task.n_steps() == 48
    assert net(torch.zeros(2, task.in_features())).shape == (2, task.out_features())
