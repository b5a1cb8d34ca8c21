"""Simple reference models fitted in every training run beside the network (issue 20).

``[baseline] models`` (:mod:`~healthnn.baselines.options`) picks them; the defaults per task:
tables, logistic (or ridge) regression and gradient-boosted trees (XGBoost); survival, a linear
Cox model and gradient-boosted Cox trees; event streams, logistic regression and gradient-boosted
trees on the per-window aggregates; molecules, a random forest on Morgan counts; text, the TF-IDF
+ logistic regression model; images and NER, none.

:mod:`~healthnn.baselines.run` fits them on the network's training rows, scores them on its
test rows (``test_baseline_<name>``) and pairs each with the network on the same bootstrap
resamples (``test_vs_baseline_<name>``, plus DeLong's test for AUROC);
:mod:`~healthnn.baselines.compare` turns that into the lines ``healthnn train`` prints and the
report's "Model comparison". Models: :mod:`~healthnn.baselines.linear` and
:mod:`~healthnn.baselines.trees`, saved as JSON (no pickle). This package's ``__init__`` stays
import-light (the config reads :mod:`~healthnn.baselines.options`).
"""

from healthnn.baselines.options import (
    BaselineConfig,
    available_baselines,
    check_baseline_config,
    default_baselines,
)

__all__ = ["BaselineConfig", "available_baselines", "check_baseline_config", "default_baselines"]
