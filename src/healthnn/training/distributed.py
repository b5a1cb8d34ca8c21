"""Multi-process data-parallel training on torch.distributed (gloo on CPU, NCCL on GPU).

``healthnn train CONFIG --nproc N`` starts N processes on this machine with torchrun; for
several machines run torchrun yourself on each (see the README). Every process trains on its
own shard of each epoch's shuffled rows; gradients are averaged by DistributedDataParallel;
every process evaluates the full validation set (so early stopping agrees everywhere); only
the main process writes checkpoints and the bundle.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["init_from_env", "is_distributed", "rank", "world_size", "is_main", "shard", "cleanup"]


def init_from_env() -> bool:
    """Join the process group described by torchrun's environment; False when not launched so."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return is_distributed()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def shard(order: torch.Tensor) -> torch.Tensor:
    """This process's share of a permutation that every process drew identically.

    Shares have equal length (a few rows are left out of each epoch, different ones each
    epoch), so every process runs the same number of steps.
    """
    w = world_size()
    if w == 1:
        return order
    n = len(order) - len(order) % w
    return order[rank():n:w]


def cleanup() -> None:
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()
