"""Federated training, simulated with Flower: sites train locally and share only weights.

``healthnn federate CONFIG --site-column hospital`` (or a ``[federated]`` config section)
partitions the training and validation rows by site. Each of ``rounds`` rounds, Flower's
FedAvg strategy sends the global weights to the sites; each site trains ``local_epochs`` epochs
on its own rows with healthnn's one :class:`~healthnn.training.Trainer` (early stopping on its
own validation rows) and returns its weights; the server averages them weighted by the sites'
row counts (McMahan et al. 2017). Every site then reports the global model's loss on its own
validation rows; the round with the lowest row-weighted mean is the one kept.

With ``[train] privacy`` every site trains with DP-SGD; its noise multiplier is chosen so that
all of its rounds together spend the budget, and the epsilon reported is the largest site's
(each patient's rows live at one site).

Flower's simulation runtime runs each site's ClientApp in a Ray worker process on this machine.
Everything else (preprocessing fitted on the pooled training rows, the split, the test
evaluation and the report) is healthnn's usual pipeline, so federated and centralised bundles
are directly comparable; in a real deployment, preprocessing statistics would have to be
agreed between sites too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from healthnn.config import Config
from healthnn.errors import ConfigError, HealthnnError
from healthnn.training.trainer import Trainer, TrainResult, collect_outputs

__all__ = ["federated_fit", "site_partitions"]

Encoded = tuple[Any, dict[str, torch.Tensor]]


def site_partitions(frame: pd.DataFrame, column: str, source: str) -> dict[str, np.ndarray]:
    """Row positions of each site, in site-name order."""
    if column not in frame.columns:
        raise ConfigError(f"site column '{column}' is not in the data", file=source,
                          key="federated.site_column",
                          hint=f"columns: {', '.join(map(str, frame.columns[:20]))}")
    sites = frame[column]
    if sites.isna().any():
        pos = int(np.flatnonzero(sites.isna().to_numpy())[0])
        raise ConfigError(f"site column '{column}' is empty in a training row (position "
                          f"{pos + 1} of the training split)", file=source,
                          key="federated.site_column", hint="every row needs its site")
    names = sites.astype(str).to_numpy()
    return {s: np.flatnonzero(names == s) for s in sorted(set(names))}


def _take(task: Any, data: Encoded, idx: np.ndarray) -> Encoded:
    inputs, targets = data
    t = torch.as_tensor(idx, dtype=torch.long)
    return task.subset(inputs, idx), {k: v[t] for k, v in targets.items()}


def federated_fit(
    model: nn.Module,
    task: Any,
    encoded: dict[str, Encoded],
    frames: dict[str, tuple[pd.DataFrame, Any, Any]],
    config: Config,
    *,
    log: Callable[[str], None],
) -> TrainResult:
    """Train ``model`` in place by FedAvg over the sites; return the per-round history."""
    try:
        from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
        from flwr.clientapp import ClientApp
        from flwr.serverapp import Grid, ServerApp
        from flwr.serverapp.strategy import FedAvg
        from flwr.simulation import run_simulation
    except ModuleNotFoundError as exc:
        raise HealthnnError(f"federated training needs the 'federated' extra ({exc.name} is "
                            "not installed)", hint="pip install 'healthnn[federated]'") from None

    fed = config.federated
    assert fed is not None
    train_sites = site_partitions(frames["train"][0].reset_index(drop=True), fed.site_column,
                                  config.source)
    val_frame = frames["val"][0].reset_index(drop=True)
    val_sites = site_partitions(val_frame, fed.site_column, config.source)
    names = list(train_sites)
    if len(names) < 2:
        raise ConfigError(f"federated training needs at least 2 sites; '{fed.site_column}' has "
                          f"{len(names)} in the training rows", file=config.source,
                          key="federated.site_column")
    data = {}
    for s in names:
        tr = _take(task, encoded["train"], train_sites[s])
        # a site without validation rows monitors its own training rows
        va = (_take(task, encoded["val"], val_sites[s]) if len(val_sites.get(s, [])) else tr)
        data[s] = (tr, va)
    log("federated: " + ", ".join(f"{s} {len(train_sites[s])} rows" for s in names)
        + f"; {fed.rounds} rounds of {fed.local_epochs} local epoch(s)")
    local_cfg = dataclasses.replace(config.train, epochs=fed.local_epochs,
                                    patience=fed.local_epochs, progress=False, monitor="val_loss",
                                    device="cpu")
    site_cfg = {s: local_cfg for s in names}
    privacy = None
    if config.train.privacy is not None:  # DP-SGD at every site, one budget over all rounds
        from healthnn.training.privacy import FixedNoise, epsilon_spent, site_noise

        p = config.train.privacy
        total_epochs = fed.rounds * fed.local_epochs
        privacy = {"epsilon_budget": p.epsilon, "delta": p.delta,
                   "max_grad_norm": p.max_grad_norm, "sites": {}}
        for s in names:
            sigma, q, steps = site_noise(p, n_rows=len(train_sites[s]),
                                         batch_size=config.train.batch_size, epochs=total_epochs)
            site_cfg[s] = dataclasses.replace(local_cfg, privacy=FixedNoise(
                p.epsilon, p.delta, p.max_grad_norm, noise_multiplier=sigma))
            privacy["sites"][s] = {"noise_multiplier": sigma, "sample_rate": q,
                                   "steps": steps,
                                   "epsilon": epsilon_spent(sigma, q, steps, p.delta)}
        # each patient's rows live at one site: the guarantee is the worst site's
        privacy["epsilon_spent"] = max(v["epsilon"] for v in privacy["sites"].values())
        sigmas = ", ".join(f"{v['noise_multiplier']:.2f}" for v in privacy["sites"].values())
        log(f"federated: DP-SGD at every site, epsilon {p.epsilon:g} over {fed.rounds} rounds "
            f"(noise multipliers {sigmas})")
    greater = task.greater_is_better
    seed = config.train.seed
    build = task.build_model
    loss_fn = task.loss

    def local_model(arrays: Any) -> nn.Module:
        m = build()
        m.load_state_dict(arrays.to_torch_state_dict())
        return m

    def val_loss(m: nn.Module, va: Encoded) -> float:
        out, targets = collect_outputs(m, task.batches(*va, shuffle=False, batch_size=4096),
                                       torch.device("cpu"))
        return float(loss_fn(out, targets))

    client = ClientApp()

    @client.train()
    def _train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        site = names[int(context.node_config["partition-id"])]
        rnd = int(msg.content["config"]["server-round"])
        torch.manual_seed(seed + 1000 * rnd + names.index(site))
        m = local_model(msg.content["arrays"])
        tr, va = data[site]
        gen = torch.Generator().manual_seed(seed + 1000 * rnd + names.index(site))
        res = Trainer(site_cfg[site], log=lambda _: None).fit(
            m, loss_fn, task.batches(*tr, shuffle=True, generator=gen),
            task.batches(*va, shuffle=False, batch_size=4096), score_fn=task.score,
            greater_is_better=greater)
        last = res.history[-1] if res.history else {}
        metrics = MetricRecord({"train_loss": float(last.get("train_loss", float("nan"))),
                                "num-examples": len(train_sites[site])})
        return Message(content=RecordDict({"arrays": ArrayRecord(m.state_dict()),
                                           "metrics": metrics}), reply_to=msg)

    @client.evaluate()
    def _evaluate(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        site = names[int(context.node_config["partition-id"])]
        _, va = data[site]
        loss = val_loss(local_model(msg.content["arrays"]), va)
        metrics = MetricRecord({"val_loss": loss, "num-examples": len(va[0])})
        return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)

    rounds: dict[int, Any] = {}
    outcome: dict[str, Any] = {}
    server = ServerApp()

    @server.main()
    def _main(grid: Grid, context: Context) -> None:
        k = len(names)
        n_train = max(1, round(fed.fraction * k))
        strategy = FedAvg(fraction_train=fed.fraction, fraction_evaluate=1.0,
                          min_train_nodes=n_train, min_evaluate_nodes=k, min_available_nodes=k)

        def keep(rnd: int, arrays: Any) -> None:
            rounds[rnd] = arrays
            if rnd:
                log(f"federated: round {rnd}/{fed.rounds} averaged")
            return None

        torch.manual_seed(seed)
        outcome["result"] = strategy.start(
            grid=grid, initial_arrays=ArrayRecord(model.state_dict()), num_rounds=fed.rounds,
            evaluate_fn=keep)

    with _quiet_flower():
        run_simulation(server_app=server, client_app=client, num_supernodes=len(names),
                       backend_config={"client_resources": {"num_cpus": 1},
                                       "init_args": {"num_cpus": min(len(names),
                                                                     os.cpu_count() or 1),
                                                     "include_dashboard": False,
                                                     "log_to_driver": False,
                                                     "logging_level": logging.ERROR}})
    result = outcome.get("result")
    if result is None or not result.evaluate_metrics_clientapp:
        raise HealthnnError("federated training did not finish: no round was evaluated",
                            hint="run again with --debug to see Flower's log")
    history = []
    for rnd in sorted(result.evaluate_metrics_clientapp):
        row = {"epoch": rnd, "val_loss": float(result.evaluate_metrics_clientapp[rnd]["val_loss"])}
        tm = result.train_metrics_clientapp.get(rnd)
        if tm is not None and "train_loss" in tm:
            row["train_loss"] = float(tm["train_loss"])
        history.append(row)
    best = min(history, key=lambda r: r["val_loss"])
    model.load_state_dict(rounds[best["epoch"]].to_torch_state_dict())
    log(f"federated: best round {best['epoch']} (mean site validation loss "
        f"{best['val_loss']:.4f})")
    return TrainResult(best_epoch=best["epoch"], best_score=best["val_loss"], history=history,
                       federated={"sites": {s: {"train_rows": int(len(train_sites[s])),
                                               "val_rows": int(len(val_sites.get(s, [])))}
                                           for s in names},
                                  "rounds": fed.rounds, "local_epochs": fed.local_epochs,
                                  "fraction": fed.fraction, "strategy": "FedAvg (Flower)"},
                       privacy=privacy)


@contextlib.contextmanager
def _quiet_flower() -> Iterator[None]:
    """Flower logs every round at INFO (and run_simulation's deprecation in favour of its
    deployment CLI) on its own console handler; keep errors only."""
    logger = logging.getLogger("flwr")
    level = logger.level
    logger.setLevel(logging.ERROR)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        yield
    finally:
        logger.setLevel(level)
