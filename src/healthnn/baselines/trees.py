"""Tree baselines: gradient-boosted trees (XGBoost) and a random forest (scikit-learn).

Gradient boosting (``xgboost``, ``xgboost_cox``): learning rate 0.05, depth 4, row and column
subsampling 0.8, up to 1000 rounds stopped early after 50 rounds without improvement of the
validation loss (the network's validation rows), histogram trees on the CPU. The trees are saved
in XGBoost's own JSON model format (no pickle) and reloaded with ``xgboost.Booster``.

Random forest (``random_forest``): 100 regression trees (0/1 targets for yes/no properties give
probabilities), ``max_features = 1/3`` and at least 3 rows per leaf (regression) or ``sqrt`` (yes/no), one
forest per target
on its observed rows. The trees are kept as node arrays (feature, threshold, children, leaf
value) and applied with numpy, so the forest is JSON in the bundle.

>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(200, 4))
>>> y = (x[:, 0] > 0).astype(float)[:, None]
>>> rf = RandomForestBaseline(n_trees=20).fit(x, {"values": y})
>>> again = RandomForestBaseline.from_dict(rf.to_dict())
>>> bool(np.allclose(again.predict(x), rf.predict(x)))
True
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from healthnn.baselines.arrays import pack, unpack

__all__ = ["XGBoostBaseline", "RandomForestBaseline"]

_PARAMS = {"eta": 0.05, "max_depth": 4, "subsample": 0.8, "colsample_bytree": 0.8,
           "min_child_weight": 1.0, "tree_method": "hist"}
_ROUNDS, _PATIENCE = 1000, 50


def _xgb() -> Any:
    import xgboost

    return xgboost


class XGBoostBaseline:
    """Gradient-boosted trees: ``kind`` ``classes`` (probabilities), ``values`` (one booster
    per target) or ``risk`` (``survival:cox``: log relative risk)."""

    def __init__(self, kind: str, seed: int = 0) -> None:
        self.kind, self.seed = kind, seed

    def _objective(self, target: dict[str, Any]) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Booster parameters and the label column(s)."""
        if self.kind == "classes":
            k = int(target["n_classes"])
            codes = np.asarray(target["codes"], dtype=np.float64)
            if k == 2:
                return {"objective": "binary:logistic", "eval_metric": "logloss"}, [codes]
            return {"objective": "multi:softprob", "num_class": k,
                    "eval_metric": "mlogloss"}, [codes]
        if self.kind == "risk":  # XGBoost's Cox label: the time, negative when censored
            t = np.asarray(target["time"], dtype=np.float64)
            e = np.asarray(target["event"], dtype=bool)
            return {"objective": "survival:cox", "eval_metric": "cox-nloglik"}, \
                [np.where(e, t, -t)]
        y = np.asarray(target["values"], dtype=np.float64)
        return ({"objective": "reg:squarederror", "eval_metric": "rmse"},
                [y[:, j] for j in range(y.shape[1])])

    def fit(self, x: np.ndarray, target: dict[str, Any], x_val: np.ndarray | None = None,
            target_val: dict[str, Any] | None = None) -> XGBoostBaseline:
        xgb = _xgb()
        params, labels = self._objective(target)
        val_labels = self._objective(target_val)[1] if target_val is not None else None
        params = {**_PARAMS, **params, "seed": self.seed,
                  "nthread": max(1, min(2, os.cpu_count() or 1))}
        self.models_: list[str] = []
        for j, lab in enumerate(labels):
            ok = np.isfinite(lab)
            dtrain = xgb.DMatrix(x[ok], label=lab[ok])
            evals, rounds = [], 200
            if val_labels is not None:
                vok = np.isfinite(val_labels[j])
                if vok.sum() > 1:
                    evals = [(xgb.DMatrix(x_val[vok], label=val_labels[j][vok]), "val")]
                    rounds = _ROUNDS
            bst = xgb.train(params, dtrain, num_boost_round=rounds, evals=evals,
                            early_stopping_rounds=_PATIENCE if evals else None,
                            verbose_eval=False)
            if evals:
                bst = bst[: bst.best_iteration + 1]
            self.models_.append(bytes(bst.save_raw("json")).decode("utf-8"))
        self.n_classes_ = int(target.get("n_classes", 0))
        self._boosters = None
        return self

    def _loaded(self) -> list[Any]:
        if getattr(self, "_boosters", None) is None:
            xgb = _xgb()
            self._boosters = []
            for raw in self.models_:
                b = xgb.Booster()
                b.load_model(bytearray(raw.encode("utf-8")))
                self._boosters.append(b)
        return self._boosters

    def predict(self, x: np.ndarray) -> np.ndarray:
        d = _xgb().DMatrix(np.asarray(x, dtype=np.float32))
        preds = [b.predict(d, output_margin=self.kind == "risk").astype(np.float64)
                 for b in self._loaded()]
        if self.kind == "classes":
            p = preds[0]
            return np.column_stack([1.0 - p, p]) if p.ndim == 1 else p
        if self.kind == "risk":
            return preds[0]
        return np.column_stack(preds)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seed": self.seed, "n_classes": self.n_classes_,
                "models": self.models_}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> XGBoostBaseline:
        self = cls(d["kind"], seed=int(d["seed"]))
        self.n_classes_, self.models_, self._boosters = int(d["n_classes"]), list(d["models"]), None
        return self


class RandomForestBaseline:
    """Random forest on numeric inputs (``values``: one forest per target column)."""

    kind = "values"

    def __init__(self, n_trees: int = 100, binary: bool = False, seed: int = 0) -> None:
        self.n_trees, self.binary, self.seed = n_trees, binary, seed

    def fit(self, x: np.ndarray, target: dict[str, Any], *_: Any) -> RandomForestBaseline:
        from sklearn.ensemble import RandomForestRegressor

        y = np.asarray(target["values"], dtype=np.float64)
        x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0)
        self.forests_ = []
        for j in range(y.shape[1]):
            ok = np.isfinite(y[:, j])
            rf = RandomForestRegressor(n_estimators=self.n_trees, random_state=self.seed,
                                       max_features="sqrt" if self.binary else 1 / 3,
                                       min_samples_leaf=1 if self.binary else 3, n_jobs=min(2, os.cpu_count() or 1))
            rf.fit(x[ok], y[ok, j])
            self.forests_.append([_tree_arrays(est.tree_) for est in rf.estimators_])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0)
        return np.column_stack([np.mean([_apply(t, x) for t in forest], axis=0)
                                for forest in self.forests_])

    def to_dict(self) -> dict[str, Any]:
        return {"n_trees": self.n_trees, "binary": self.binary, "seed": self.seed,
                "forests": [[{k: pack(v, _NODE_TYPES[k]) for k, v in t.items()} for t in f]
                            for f in self.forests_]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RandomForestBaseline:
        self = cls(int(d["n_trees"]), bool(d["binary"]), int(d["seed"]))
        self.forests_ = [[{k: unpack(v) for k, v in t.items()} for t in f] for f in d["forests"]]
        return self


_NODE_TYPES = {"left": "<i4", "right": "<i4", "feature": "<i4", "threshold": "<f8",
               "value": "<f4"}


def _tree_arrays(tree: Any) -> dict[str, np.ndarray]:
    return {"left": tree.children_left, "right": tree.children_right, "feature": tree.feature,
            "threshold": tree.threshold, "value": tree.value[:, 0, 0]}


def _apply(t: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Leaf values of a tree for every row (scikit-learn's rule: go left when x <= threshold)."""
    left, right = t["left"].astype(np.int64), t["right"].astype(np.int64)
    feature, thr = t["feature"].astype(np.int64), t["threshold"]
    node = np.zeros(len(x), dtype=np.int64)
    rows = np.arange(len(x))
    active = left[node] >= 0
    while active.any():
        r, n = rows[active], node[active]
        go_left = x[r, feature[n]] <= thr[n]
        node[r] = np.where(go_left, left[n], right[n])
        active = left[node] >= 0
    return t["value"][node].astype(np.float64)
