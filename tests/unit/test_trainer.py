import pytest
import torch
from torch import nn

from healthnn.config import TrainConfig
from healthnn.errors import BundleError
from healthnn.training import TensorBatches, Trainer, seed_everything


def data(n=200):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 5, generator=g)
    y = (X[:, 0] - X[:, 1] + 0.3 * torch.randn(n, generator=g) > 0).float()
    return X, {"y": y}


def loss_fn(out, t):
    return nn.functional.binary_cross_entropy_with_logits(out[:, 0], t["y"])


def run(tmp_path, epochs, resume=False, **kw):
    seed_everything(0)
    X, t = data()
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))
    if resume:
        seed_everything(0)
    cfg = TrainConfig(epochs=epochs, batch_size=32, patience=kw.pop("patience", 50),
                      progress=False, **kw)
    gen = torch.Generator().manual_seed(1)
    trainer = Trainer(cfg, checkpoint=tmp_path / "ckpt.pt", log=lambda m: None)
    result = trainer.fit(model, loss_fn,
                         TensorBatches(X[:150], {"y": t["y"][:150]}, 32, shuffle=True, generator=gen),
                         TensorBatches(X[150:], {"y": t["y"][150:]}, 64),
                         resume=resume, fingerprint="k")
    return model, result


def test_training_reduces_loss_and_is_deterministic(tmp_path):
    m1, r1 = run(tmp_path, 15)
    m2, r2 = run(tmp_path, 15)
    assert r1.history[-1]["train_loss"] < r1.history[0]["train_loss"]
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_early_stopping_restores_best(tmp_path):
    _, r = run(tmp_path, 200, patience=3, lr=0.5)
    assert r.stopped_early and len(r.history) < 200
    best = min(h["val_loss"] for h in r.history)
    assert r.history[r.best_epoch - 1]["val_loss"] == best


def test_resume_continues_from_checkpoint(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight, r_full = run(tmp_path / "a", 10)
    run(tmp_path / "b", 5)
    assert (tmp_path / "b" / "ckpt.pt").is_file()
    resumed, r = run(tmp_path / "b", 10, resume=True)
    assert r.resumed_from == 5 and len(r.history) == 10
    assert [h["train_loss"] for h in r.history] == pytest.approx(
        [h["train_loss"] for h in r_full.history], rel=1e-6)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match="no checkpoint"):
        run(tmp_path, 3, resume=True)


def test_batches_skip_single_row_batch():
    X, t = data(33)
    sizes = [len(x) for x, _ in TensorBatches(X, t, 32, shuffle=True,
                                               generator=torch.Generator().manual_seed(0))]
    assert sizes == [32]


def test_epoch_lines_when_stderr_is_not_a_terminal(tmp_path):
    """Under nohup/CI (no terminal) every epoch logs one line with the time left (issue 24)."""
    X, t = data()
    lines = []
    cfg = TrainConfig(epochs=4, batch_size=32, patience=10, progress=True)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))
    Trainer(cfg, log=lines.append).fit(
        model, loss_fn, TensorBatches(X[:150], {"y": t["y"][:150]}, 32),
        TensorBatches(X[150:], {"y": t["y"][150:]}, 64))  # pytest captures stderr: no tty
    epochs = [m for m in lines if m.startswith("epoch ")]
    assert [m.split(":")[0] for m in epochs] == [f"epoch {i}/4" for i in range(1, 5)]
    assert "train loss" in epochs[0] and "val loss" in epochs[0] and "s left" in epochs[0]
    assert epochs[-1].endswith("last epoch")


def test_no_epoch_lines_when_progress_is_off(tmp_path):
    lines = []
    X, t = data()
    cfg = TrainConfig(epochs=2, batch_size=32, progress=False)
    Trainer(cfg, log=lines.append).fit(
        nn.Linear(5, 1), loss_fn, TensorBatches(X[:150], {"y": t["y"][:150]}, 32),
        TensorBatches(X[150:], {"y": t["y"][150:]}, 64))
    assert lines == []
