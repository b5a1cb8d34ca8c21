"""The shared trainer."""

from healthnn.training.trainer import (
    TensorBatches,
    Trainer,
    TrainResult,
    collect_outputs,
    resolve_device,
    seed_everything,
)

__all__ = ["Trainer", "TrainResult", "TensorBatches", "collect_outputs", "resolve_device",
           "seed_everything"]
