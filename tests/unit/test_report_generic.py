"""A task without any report hook (a future image or molecule task) still gets Model Facts,
TRIPOD, metrics, Table 1 and subgroups; section plot kinds render."""

import base64
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from healthnn.config import load_config
from healthnn.report.build import build_train_report
from healthnn.report.plots import plot_png
from healthnn.report.render import fmt_metric, render_html
from healthnn.tasks.base import Task


class Hookless(Task):
    name = "hookless"

    def strata(self, y):
        return y["label"]

    def evaluate(self, outputs, y, *, seed=0):
        acc = float(np.mean((outputs[:, 0].numpy() > 0) == (y["label"] == "b")))
        return {"accuracy": {"value": acc, "ci_low": acc - 0.1, "ci_high": acc + 0.1}}


def test_task_without_hooks_gets_the_generic_report(tmp_path):
    config = load_config({"task": "classification", "data": {"train": "x.csv", "target": "y"},
                          "report": {"subgroups": ["site"], "min_subgroup_size": 5}})
    rng = np.random.default_rng(0)
    frames, outputs = {}, {}
    for split, n in (("train", 60), ("val", 20), ("test", 40)):
        df = pd.DataFrame({"path": [f"img{i}.png" for i in range(n)],
                           "site": rng.choice(["A", "B"], n)})
        y = {"label": rng.choice(["a", "b"], n).astype(object)}
        frames[split] = (df, y, Path("x.csv"))
        outputs[split] = torch.from_numpy(rng.normal(size=(n, 1)))
    task = Hookless(config)
    model = torch.nn.Linear(3, 1)
    metrics = {"test": task.evaluate(outputs["test"], frames["test"][1])}
    bundle = SimpleNamespace(config=config, task=task, model=model, metrics=metrics,
                             path=tmp_path, manifest={"created": "2026-01-01T00:00:00+00:00",
                                                      "data": {}, "model": {}})
    rep, state = build_train_report(bundle, frames=frames, outputs=outputs, log=print)
    assert state is None and rep["sections"] == [] and rep["importance"] is None
    assert rep["notes"] == []
    assert rep["splits"]["test"]["outcome"]["label"]["kind"] == "categorical"
    assert [lv["level"] for lv in rep["subgroups"][0]["levels"]] == ["A", "B"]
    import json

    from healthnn.io import json_ready

    html = render_html(json.loads(json.dumps(json_ready(rep))), metrics)
    for text in ("Model Facts", "TRIPOD+AI", "Table 1", "No task-specific plots",
                 fmt_metric(metrics["test"]["accuracy"]), "site"):
        assert text in html
    assert "img0.png" not in html  # no row of the data is shown


def test_plot_kinds_render_to_png():
    buf = io.BytesIO()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.add_subplot(1, 1, 1).plot([0, 1], [0, 1])
    fig.savefig(buf, format="png")
    saliency = base64.b64encode(buf.getvalue()).decode()
    assert plot_png({"kind": "image", "png_base64": saliency}) == saliency
    bars = plot_png({"kind": "bars", "title": "t", "bars": [
        {"label": "a", "value": 0.5, "lo": 0.4, "hi": 0.6}, {"label": "b", "value": 0.2}],
        "reference": 0.3})
    assert base64.b64decode(bars).startswith(b"\x89PNG")
    hist_only = plot_png({"kind": "lines", "series": [],
                          "hist": {"edges": [0, 1, 2], "counts": [3, 4]}})
    assert base64.b64decode(hist_only).startswith(b"\x89PNG")
    assert plot_png({"kind": "unknown"}) is None
