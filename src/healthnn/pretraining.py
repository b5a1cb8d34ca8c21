"""Self-supervised pretraining on unlabelled images (``healthnn pretrain``).

SimCLR (Chen et al. 2020): two random augmentations of each image (resized crop, rotation,
flips, brightness/contrast jitter, noise) are pulled together and pushed away from the other
images of the batch by the NT-Xent contrastive loss, through a small projection head. No label
is read. The output folder holds ``encoder.safetensors`` (the network named in ``[model]``,
its output layer being the first layer of the projection head) and ``pretrain.json`` (settings,
loss per epoch, data fingerprint). ``healthnn train`` starts from it with::

    [model]
    name = "resnet18"          # the same network as in pretraining
    init = "pretrained/"       # this folder; the output layer is fitted afresh
    # freeze = ["stem", "layer1"]

Data: the image config's ``[data] train``: a folder of images (any layout), a CSV manifest
(labels, if any, are ignored) or a MedMNIST-style .npz (its ``train_images`` only, never the
validation or test images).

Text (``task = "text_classification"``): masked-token pretraining (Devlin et al. 2019) of the
``[model]`` text network (``bigru_attention`` or ``text_transformer``) on the texts of
``[data] train`` (labels, if any, are ignored; de-identified first when ``[data] deidentify``).
A tokenizer is trained on those texts; 15 % of the tokens are hidden ([MASK] 80 %, a random
token 10 %, unchanged 10 %) and the network's per-token states predict them through a linear
head. The output folder also holds ``tokenizer.json``: ``healthnn train`` with ``[model] init``
pointing at the folder uses that tokenizer, so token ids mean the same in both runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from healthnn.config import Config, load_config
from healthnn.errors import ConfigError, DataError

__all__ = ["pretrain", "nt_xent", "mask_tokens"]

Log = Callable[[str], None]


def nt_xent(z: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent loss of ``2n`` embeddings where rows ``i`` and ``i + n`` are two views of one image.

    >>> z = torch.eye(4)[[0, 1, 0, 1]]          # each pair identical, pairs orthogonal
    >>> bool(nt_xent(z, 0.1) < nt_xent(torch.eye(4), 0.1))
    True
    """
    z = F.normalize(z.float(), dim=1)
    n2 = z.shape[0]
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(n2, dtype=torch.bool, device=z.device), float("-inf"))
    targets = (torch.arange(n2, device=z.device) + n2 // 2) % n2
    return F.cross_entropy(sim, targets)


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor, model: nn.Module, epoch: int) -> None:
    """One optimiser step of pretraining (gradients clipped at norm 5)."""
    if not torch.isfinite(loss):
        raise ConfigError(f"pretraining loss became {loss.item()} in epoch {epoch}",
                          hint="try a lower --lr")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()


def _views(x: torch.Tensor, aug: Any, gen: torch.Generator, mean: torch.Tensor,
           std: torch.Tensor) -> torch.Tensor:
    """One random view of each image: geometry, then brightness/contrast jitter and noise."""
    v = aug(x, gen)
    n = v.shape[0]
    brightness = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.4
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.6
    m = v.mean((1, 2, 3), keepdim=True)
    v = (v - m) * contrast + m + brightness
    v = v + 0.02 * torch.randn(v.shape, generator=gen)
    return (v.clamp(0, 1) - mean) / std


def _images(task: Any, config: Config, log: Log) -> tuple[torch.Tensor, Path, int]:
    file = config.resolve(config.data.train)
    if file.suffix.lower() == ".npz" and file.is_file():
        df = task.read(file)
        if "split" in df.columns:
            df = df[df["split"] == "train"].reset_index(drop=True)
    else:
        df = task.read_inputs(file)
    if len(df) == 0:
        raise DataError("no images to pretrain on", file=str(file))
    for note in task.fit_input_shape(df, file):
        log(f"note: {note}")
    inputs, errors = task.encode(df, file)
    for pos in sorted(errors)[:5]:
        log(f"note: {file}: row {pos + 1}: {errors[pos]} (left out)")
    good = [i for i in range(len(df)) if i not in errors]
    if len(good) < 4:
        raise DataError(f"only {len(good)} readable image(s); contrastive pretraining needs "
                        "at least 4", file=str(file))
    return inputs.take(good), file, len(errors)


def pretrain(
    config: Config | str | Path | dict[str, Any],
    out: str | Path,
    *,
    epochs: int = 20,
    batch_size: int | None = None,
    lr: float = 1e-3,
    temperature: float = 0.5,
    projection: int = 64,
    log: Log | None = None,
) -> dict[str, Any]:
    """SimCLR pretraining of ``[model]`` on the images of ``[data] train``; writes
    ``out/encoder.safetensors`` and ``out/pretrain.json`` and returns the latter's content."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from healthnn.io import atomic_path

    from healthnn.data.images import Augment
    from healthnn.tasks import get_task_class
    from healthnn.training import resolve_device, seed_everything

    log = log or (lambda msg: print(msg, file=sys.stderr))
    if not isinstance(config, Config):
        config = load_config(config)
    kind = get_task_class(config.task).pretraining  # declared by the task class
    if kind == "masked_tokens":
        return _pretrain_text(config, Path(out), epochs=epochs, batch_size=batch_size, lr=lr,
                              log=log)
    if kind != "simclr":
        raise ConfigError(f"'healthnn pretrain' is available for images and text, not task "
                          f"'{config.task}'", file=config.source, key="task")
    batch_size = _check_simclr_args(config, epochs, batch_size, lr, temperature, projection)
    started = time.time()
    seed_everything(config.train.seed)
    task = get_task_class(config.task)(config)
    x, file, n_bad = _images(task, config, log)
    n = len(x)
    mean = x.double().mean((0, 2, 3)).float().view(1, -1, 1, 1)
    std = x.double().std((0, 2, 3)).clamp(min=1e-3).float().view(1, -1, 1, 1)
    d = config.data
    aug = Augment(rotation=max(d.rotation, 15.0), crop_scale=min(d.crop_scale, 0.5),
                  hflip=max(d.hflip, 0.5), vflip=d.vflip)
    device = resolve_device(config.train.device)
    model, head, params = _simclr_networks(task, config, projection, device)
    opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(config.train.seed)
    bs = min(batch_size, n)
    history = []
    bar = tqdm(range(1, epochs + 1), desc="pretrain", unit="epoch", file=sys.stderr,
               disable=not config.train.progress)
    for epoch in bar:
        model.train()
        head.train()
        order = torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            if len(idx) >= 2:
                views = torch.cat([_views(x[idx].float(), aug, gen, mean, std) for _ in (0, 1)])
                loss = nt_xent(head(model(views.to(device))), temperature)
                _step(opt, loss, model, epoch)
                total, count = total + loss.item() * len(idx), count + len(idx)
        sched.step()
        history.append({"epoch": epoch, "loss": total / max(count, 1)})
        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(out / "encoder.safetensors") as tmp:
        save_file(state, str(tmp))
    info = _write_info(
        out, config, params, history, started, method="simclr",
        channels=task.channels_, image_size=list(task.size),
        data=_data(file, images=n, unreadable=n_bad),
        settings={"epochs": epochs, "batch_size": bs, "lr": lr, "temperature": temperature,
                  "projection": projection, "seed": config.train.seed})
    log(f"pretrained {config.model.name} on {n} images for {epochs} epochs: contrastive loss "
        f"{history[0]['loss']:.3f} -> {history[-1]['loss']:.3f}")
    return info


def _simclr_networks(task: Any, config: Config, projection: int, device: torch.device
                     ) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """The encoder (``[model]``, no dropout), its projection head, and the parameters used."""
    params = {k: v for k, v in config.model.params.items() if k != "weights"}
    if "dropout" in params:  # dropout is not a weight: none while pretraining (kept on record)
        params = {**params, "dropout": 0.0}
    model = task.model_spec.builder(task.channels_, projection, **params,
                                    input_size=min(task.size))
    head = nn.Sequential(nn.ReLU(), nn.Linear(projection, projection))
    return model.to(device), head.to(device), params


def _check_simclr_args(config: Config, epochs: int, batch_size: int | None, lr: float,
                       temperature: float, projection: int) -> int:
    """The batch size, once every argument of image pretraining is checked."""
    for name, value, low in (("--epochs", epochs, 1), ("--projection", projection, 2)):
        if value < low:
            raise ConfigError(f"{name} must be at least {low}")
    if lr <= 0 or temperature <= 0:
        raise ConfigError("--lr and --temperature must be positive")
    batch_size = batch_size or config.train.batch_size
    if batch_size < 4:
        raise ConfigError("--batch-size must be at least 4 (contrast needs other images)")
    return batch_size


def _data(file: Path, **counts: Any) -> dict[str, Any]:
    from healthnn.data.tables import fingerprint

    return {"path": str(file), "sha256": fingerprint(file) if file.is_file() else None, **counts}


def _write_info(out: Path, config: Config, params: dict[str, Any], history: list[dict],
                started: float, *, method: str, **fields: Any) -> dict[str, Any]:
    """``pretrain.json``: what was pretrained, on which data, how, and how to use it."""
    from healthnn.bundle import write_json

    info = {"method": method, "model": {"name": config.model.name, "params": params},
            **fields, "history": history, "seconds": round(time.time() - started, 2),
            "use": "[model] init = \"<this folder>\" in a train config with the same model"}
    write_json(out / "pretrain.json", info)
    return info


def mask_tokens(ids: torch.Tensor, *, mask_id: int, vocab_size: int, gen: torch.Generator,
                rate: float = 0.15, pad_id: int = 0, first_regular: int = 5
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-style masking: (inputs, labels), labels -100 where nothing is to be predicted.

    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = mask_tokens(torch.tensor([[7, 8, 9, 0]]), mask_id=4, vocab_size=20, gen=g,
    ...                    rate=1.0)
    >>> y.tolist(), int((x[0, :3] == torch.tensor([7, 8, 9])).sum() + (x[0, :3] == 4).sum()) >= 0
    ([[7, 8, 9, -100]], True)
    """
    real = ids != pad_id
    chosen = (torch.rand(ids.shape, generator=gen) < rate) & real
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    x = ids.clone()
    r = torch.rand(ids.shape, generator=gen)
    x[chosen & (r < 0.8)] = mask_id
    swap = chosen & (r >= 0.8) & (r < 0.9)
    x[swap] = torch.randint(first_regular, max(vocab_size, first_regular + 1), (int(swap.sum()),),
                            generator=gen)
    return x, labels


def _pretrain_text(config: Config, out: Path, *, epochs: int, batch_size: int | None,
                   lr: float, log: Log) -> dict[str, Any]:
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from healthnn.io import atomic_path, write_text

    from healthnn.tasks import get_task_class
    from healthnn.text.tokenizer import TextTokenizer
    from healthnn.training import resolve_device, seed_everything

    if config.model.name not in ("bigru_attention", "text_transformer"):
        raise ConfigError(f"masked-token pretraining is for bigru_attention and "
                          f"text_transformer, not '{config.model.name}'", key="model.name",
                          file=config.source)
    if epochs < 1 or lr <= 0:
        raise ConfigError("--epochs must be at least 1 and --lr positive")
    started = time.time()
    seed_everything(config.train.seed)
    d = config.data
    task = get_task_class(config.task)(config)
    file = config.resolve(d.train)
    df = task.read_inputs(file)
    texts = [t for t in task.prepared_texts(task.texts_of(df)) if t.strip()]
    if len(texts) < 2:
        raise DataError("pretraining needs at least 2 non-empty texts", file=str(file),
                        column=d.text)
    tok = TextTokenizer.train(texts, kind=d.tokenizer, vocab_size=d.vocab_size,
                              min_frequency=d.min_frequency, lowercase=d.lowercase)
    ids, _, _ = tok.encode(texts, d.max_length)
    vocab = tok.vocab_size
    mask_id = tok.tokenizer.token_to_id("[MASK]")
    params = dict(config.model.params)
    model = task.model_spec.builder(vocab, 2, **params)
    with torch.no_grad():
        width = model.encoder.tokens(model.embedding(ids[:1]), ids[:1] != tok.pad_id).shape[-1]
    device = resolve_device(config.train.device)
    model, head = model.to(device), nn.Linear(width, vocab).to(device)
    opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(config.train.seed)
    bs = min(batch_size or config.train.batch_size, len(texts))
    history = []
    bar = tqdm(range(1, epochs + 1), desc="pretrain", unit="epoch", file=sys.stderr,
               disable=not config.train.progress)
    for epoch in bar:
        model.train()
        head.train()
        order = torch.randperm(len(ids), generator=gen)
        total, count = 0.0, 0
        for start in range(0, len(ids), bs):
            batch = ids[order[start:start + bs]]
            used = int((batch != tok.pad_id).any(0).nonzero().max()) + 1
            batch = batch[:, :used]
            x, labels = mask_tokens(batch, mask_id=mask_id, vocab_size=vocab, gen=gen,
                                    pad_id=tok.pad_id)
            if not (labels != -100).any():
                continue
            x, labels = x.to(device), labels.to(device)
            h = model.encoder.tokens(model.embedding(x), batch.to(device) != tok.pad_id)
            loss = F.cross_entropy(head(h).reshape(-1, vocab), labels.reshape(-1),
                                   ignore_index=-100)
            _step(opt, loss, model, epoch)
            n_pred = int((labels != -100).sum())
            total, count = total + loss.item() * n_pred, count + n_pred
        history.append({"epoch": epoch, "loss": total / max(count, 1)})
        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
             if not k.startswith("head.")}  # the classifier head is fitted when training
    with atomic_path(out / "encoder.safetensors") as tmp:
        save_file(state, str(tmp))
    write_text(out / "tokenizer.json", tok.to_json())
    info = _write_info(
        out, config, params, history, started, method="masked-token",
        tokenizer={"kind": d.tokenizer, "vocab_size": vocab, "lowercase": d.lowercase},
        data=_data(file, texts=len(texts), deidentified=bool(d.deidentify)),
        settings={"epochs": epochs, "batch_size": bs, "lr": lr, "mask_rate": 0.15,
                  "max_length": d.max_length, "seed": config.train.seed})
    log(f"pretrained {config.model.name} on {len(texts)} texts for {epochs} epochs: "
        f"masked-token loss {history[0]['loss']:.3f} -> {history[-1]['loss']:.3f}")
    return info
