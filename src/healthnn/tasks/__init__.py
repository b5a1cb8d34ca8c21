"""Tasks: what makes an application (tables, survival, images, text, molecules) different.

A task says how to read its data and labels, which preprocessing and default model it uses,
which loss, which metrics, and what a prediction row looks like. The pipeline, trainer,
bundle and CLI only talk to this interface (:class:`healthnn.tasks.base.Task`), so a new
modality is a new module here plus its models and readers.
"""

from __future__ import annotations

import difflib
from importlib import import_module

from healthnn.errors import ConfigError

__all__ = ["get_task_class", "task_names"]

# task name -> "module:Class"; modules are imported only when their task is used
_TASKS = {
    "classification": "healthnn.tasks.tabular:ClassificationTask",
    "regression": "healthnn.tasks.tabular:RegressionTask",
    "survival": "healthnn.tasks.survival:SurvivalTask",
    "image_classification": "healthnn.tasks.image:ImageClassificationTask",
    "molecule_property": "healthnn.tasks.molecule:MoleculePropertyTask",
    "event_classification": "healthnn.tasks.events:EventClassificationTask",
    "text_classification": "healthnn.tasks.text:TextClassificationTask",
    "ner": "healthnn.tasks.ner:NerTask",  # issue 3: named-entity recognition
}


def task_names() -> list[str]:
    return list(_TASKS)


def get_task_class(name: str, source: str | None = None) -> type:
    if name not in _TASKS:
        close = difflib.get_close_matches(name, list(_TASKS), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(_TASKS)}"
        raise ConfigError(f"unknown task {name!r}", file=source, key="task", hint=hint)
    module, cls = _TASKS[name].split(":")
    return getattr(import_module(module), cls)
