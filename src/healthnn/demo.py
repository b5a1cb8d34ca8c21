"""``healthnn demo``: train, evaluate and predict end to end on the bundled data sets.

Each model is printed beside its ``[baseline]`` models (same training and test rows) with the
paired comparison; today the notes GRU, DeepSurv on WHAS and the ESOL D-MPNN lose to theirs
(BENCHMARKS.md, issue 20).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from healthnn.baselines.compare import comparison_lines
from healthnn.config import load_config
from healthnn.pipeline import explain, predict_file, train

__all__ = ["run_demo", "dataset_path"]

DEMOS = (
    ("heart", "heart.toml", "risk of heart disease (classification, UCI Cleveland)",
     ("auroc", "auprc", "accuracy", "brier", "calibration_slope")),
    ("whas", "whas.toml", "survival after heart attack (DeepSurv, WHAS)",
     ("c_index", "uno_c", "td_auc", "ibs")),
    ("pneumonia", "pneumonia.toml",
     "pneumonia on chest X-rays (CNN, PneumoniaMNIST subset) with Grad-CAM",
     ("auroc", "accuracy", "sensitivity", "specificity")),
    ("esol", "esol.toml", "aqueous solubility of molecules (D-MPNN on SMILES, ESOL)",
     ("rmse", "mae", "r2")),
    ("notes", "notes.toml", "topic of medical abstracts (GRU on text)",
     ("accuracy", "f1_macro", "auroc_macro")),
)
N_HEATMAPS = 4


def dataset_path(name: str) -> Path:
    """Path of a file bundled in ``healthnn/datasets``."""
    return Path(str(resources.files("healthnn") / "datasets" / name))


def run_demo(out: str | Path, *, overrides: list[str] | None = None, echo=print) -> dict[str, Path]:
    out = Path(out)
    bundles = {}
    for name, cfg_file, what, shown in DEMOS:
        echo(f"\n== {name}: {what}")
        config = load_config(dataset_path(cfg_file), overrides=overrides)
        if config.task == "image_classification" and not _has_extra("PIL"):
            echo("  skipped: needs the image extra (pip install 'healthnn[image]')")
            continue
        if config.task == "text_classification" and not _has_extra("tokenizers"):
            echo("  skipped: needs the text extra (pip install 'healthnn[text]')")
            continue
        bundle = train(config, out / name)
        # the network, then each [baseline] model on the same test rows (issue 20)
        splits = ["test", *(s for s in bundle.metrics if s.startswith("test_baseline_"))]
        for split in splits:
            for metric in shown:
                if metric in bundle.metrics.get(split, {}):
                    m = bundle.metrics[split][metric]
                    label = metric if split == "test" else \
                        f"{metric} ({split[len('test_baseline_'):]})"
                    echo(f"  test {label:<28} {_fmt(m['value'])}  (95% CI {_fmt(m['ci_low'])} "
                         f"to {_fmt(m['ci_high'])})")
        for line in comparison_lines(bundle.metrics):
            echo(f"  {line}")
        scored = out / f"{name}_predictions.csv"
        data = config.resolve(config.data.test or config.data.train)
        n, errors = predict_file(bundle, data, scored)
        echo(f"  bundle:      {bundle.path}")
        echo(f"  metrics:     {bundle.path / 'metrics.json'}")
        if (bundle.path / "report.html").is_file():
            echo(f"  report:      {bundle.path / 'report.html'}")
        echo(f"  predictions: {scored} ({n - errors} of {n} rows scored)")
        if config.task == "image_classification":
            cams = explain(bundle, data, out / f"{name}_gradcam", limit=N_HEATMAPS)
            echo(f"  Grad-CAM:    {len(cams)} overlays in {out / f'{name}_gradcam'}")
        bundles[name] = bundle.path
    echo("\nNext: healthnn predict DIR your.csv --out scored.csv | healthnn evaluate DIR labelled.csv --out DIR2"
         " | healthnn explain DIR images/ --out heatmaps/")
    return bundles


def _has_extra(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
