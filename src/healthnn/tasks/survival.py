"""Survival analysis on patient tables: DeepSurv (Cox) and discrete-time logistic hazard.

Outputs per row: ``risk`` (higher means an earlier event) and the predicted survival
probability ``surv_<t>`` at a few horizons. Cox models get survival curves through the Breslow
baseline hazard fitted on the training rows after training; the discrete-time model predicts
the hazard in each interval of a grid cut at quantiles of the training event times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from healthnn.config import Config
from healthnn.data.tables import numeric_column
from healthnn.errors import ConfigError, DataError
from healthnn.losses import breslow_cumulative_hazard, cox_ph_loss, logistic_hazard_loss
from healthnn.tasks.base import Labels
from healthnn.tasks.tabular import TableTask

__all__ = ["SurvivalTask"]


class SurvivalTask(TableTask):
    name = "survival"
    default_model = "deepsurv"

    @classmethod
    def check_config(cls, config: Config) -> None:
        d = config.data
        for key in ("time", "event"):
            if not getattr(d, key):
                raise ConfigError(f"survival needs [data] {key}", file=config.source,
                                  key=f"data.{key}")
        if d.target:
            raise ConfigError("survival uses [data] time and event, not target",
                              file=config.source, key="data.target")
        super().check_config(config)
        if config.train.monitor not in ("val_loss", "c_index"):
            raise ConfigError(f"cannot monitor {config.train.monitor!r} for survival",
                              file=config.source, key="train.monitor",
                              hint="use val_loss or c_index")

    @property
    def objective(self) -> str:
        return self.model_spec.objective

    def target_columns(self) -> list[str]:
        return [self.config.data.time, self.config.data.event]

    # -- labels --------------------------------------------------------------------------------
    def labels(self, df: pd.DataFrame, file: Path) -> tuple[Labels, np.ndarray]:
        tcol, ecol = self.config.data.time, self.config.data.event
        time = numeric_column(df[tcol], file=file, column=tcol, what="a time (a number)")
        event = _event_column(df[ecol], file, ecol)
        neg = np.flatnonzero(time < 0)
        if len(neg):
            raise DataError(f"negative survival time ({time[neg[0]]:g})", file=str(file),
                            row=int(neg[0]) + 1, column=tcol,
                            hint="times are durations from baseline, so they must be >= 0")
        ok = np.isfinite(time) & np.isfinite(event)
        return {tcol: time, ecol: event}, ok

    def strata(self, y: Labels) -> np.ndarray:
        return y[self.config.data.event].astype(int)

    @property
    def recalibration_methods(self) -> tuple[str, ...]:
        return ("baseline",) if self.objective == "cox" else ()  # Breslow on the site's rows

    def development_outcome(self, y: Labels) -> dict[str, Any] | None:
        time, event = self._te(y)
        horizons = self.config.eval.horizons
        return {"outcome": "survival", "rate": float(event.sum() / max(time.sum(), 1e-12)),
                "mean_follow_up": float(time.mean()),
                "time_point": float(max(horizons) if horizons else np.median(time))}

    def _te(self, y: Labels) -> tuple[np.ndarray, np.ndarray]:
        return (y[self.config.data.time].astype(np.float64),
                y[self.config.data.event].astype(bool))

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        time, event = self._te(y)
        if not event.any():
            raise DataError("every training row is censored (no events)", file=str(file),
                            column=self.config.data.event,
                            hint="survival models need observed events (event = 1)")
        self.train_time_ = time.tolist()
        self.train_event_ = event.astype(int).tolist()
        ev_times = time[event]
        horizons = self.config.eval.horizons
        if horizons is None:
            horizons = np.unique(np.quantile(ev_times, [0.25, 0.5, 0.75])).tolist()
        self.horizons_ = [float(f"{h:.3g}") for h in horizons]
        # evaluation grid for time-dependent AUC and integrated Brier score
        self.eval_times_ = np.unique(np.quantile(ev_times, np.linspace(0.1, 0.8, 10))).tolist()
        unit = f" {self.config.data.time_unit}" if self.config.data.time_unit else ""
        notes = [f"time-dependent metrics (Uno's C, time-dependent AUC, integrated Brier score) "
                 f"are truncated at tau = {self.eval_times_[-1]:.4g}{unit} (the 80th percentile "
                 f"of training event times, within the training follow-up of "
                 f"{time.max():.4g}{unit}), as scikit-survival's tau"]
        if self.objective == "discrete":
            m = int(self.config.model.params["n_durations"])
            qs = np.unique(np.quantile(ev_times, np.linspace(0, 1, m + 1)[1:]))
            self.cuts_ = [0.0, *[float(q) for q in qs]]
        return notes + super().fit(df, y, file)

    def out_features(self) -> int:
        return len(self.cuts_) - 1 if self.objective == "discrete" else 1

    def target_tensors(self, y: Labels) -> dict[str, torch.Tensor]:
        time, event = self._te(y)
        out = {"time": torch.from_numpy(time.astype(np.float32)),
               "event": torch.from_numpy(event.astype(np.float32))}
        if self.objective == "discrete":
            out["interval"] = torch.from_numpy(self._interval(time))
        return out

    def _interval(self, time: np.ndarray) -> np.ndarray:
        upper = np.asarray(self.cuts_[1:])
        return np.minimum(np.searchsorted(upper, time, side="left"), len(upper) - 1).astype(np.int64)

    def loss(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.objective == "discrete":
            return logistic_hazard_loss(outputs, targets["interval"], targets["event"])
        return cox_ph_loss(outputs[:, 0], targets["time"], targets["event"])

    def after_fit(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> None:
        if self.objective == "cox":
            times, cumhaz = breslow_cumulative_hazard(outputs[:, 0], targets["time"],
                                                      targets["event"])
            self.baseline_times_ = times.tolist()
            self.baseline_cumhaz_ = cumhaz.tolist()

    # -- predictions ---------------------------------------------------------------------------
    def survival(self, outputs: torch.Tensor, times: list[float] | np.ndarray) -> np.ndarray:
        """Predicted survival probabilities, shape (rows, len(times))."""
        times = np.asarray(times, dtype=np.float64)
        if self.objective == "discrete":
            hazard = torch.sigmoid(outputs.double()).numpy()
            surv = np.cumprod(1.0 - hazard, axis=1)
            grid = np.asarray(self.cuts_)
            curve = np.concatenate([np.ones((len(surv), 1)), surv], axis=1)
            return np.stack([np.interp(times, grid, row) for row in curve]) if len(curve) else \
                np.zeros((0, len(times)))
        bt = np.asarray(self.baseline_times_)
        bh = np.asarray(self.baseline_cumhaz_)
        idx = np.searchsorted(bt, times, side="right") - 1
        h0 = np.where(idx >= 0, bh[np.clip(idx, 0, None)], 0.0)
        f = outputs[:, 0].double().numpy()
        return np.exp(-np.outer(np.exp(f), h0))

    def risk(self, outputs: torch.Tensor) -> np.ndarray:
        if self.objective == "discrete":
            # minus the restricted mean survival time over the grid
            grid = np.asarray(self.cuts_)
            s = self.survival(outputs, grid)
            return -np.trapezoid(s, grid, axis=1)
        return outputs[:, 0].double().numpy()

    def predictions(self, outputs: torch.Tensor) -> pd.DataFrame:
        df = pd.DataFrame({"risk": self.risk(outputs)})
        surv = self.survival(outputs, self.horizons_)
        for j, h in enumerate(self.horizons_):
            df[f"surv_{h:g}"] = surv[:, j]
        return df

    # -- metrics -------------------------------------------------------------------------------
    def score(self, outputs, targets):
        from healthnn.metrics import harrell_c

        ev = targets["event"].numpy().astype(bool)
        if not ev.any():
            return {}
        return {"c_index": harrell_c(targets["time"].numpy().astype(np.float64), ev,
                                     self.risk(outputs))}

    def metric_times(self, time: np.ndarray) -> np.ndarray:
        """The evaluation grid for time-dependent metrics on test times ``time``: inside the
        test follow-up and truncated at the training follow-up (the censoring distribution
        is unknown beyond it), as scikit-survival's ``tau``."""
        times = np.asarray(self.eval_times_)
        last_train = max(self.train_time_)
        return times[(times < time.max()) & (times > time.min()) & (times < last_train)]

    def evaluate(self, outputs: torch.Tensor, y: Labels, *, seed: int = 0):
        from healthnn.metrics import harrell_c, survival_metrics
        from healthnn.metrics.estimable import MIN_CLASS_ROWS, not_estimable

        time, event = self._te(y)
        train_time = np.asarray(self.train_time_)
        train_event = np.asarray(self.train_event_, dtype=bool)
        times = self.metric_times(time)
        risk = self.risk(outputs)
        names = ("c_index", "uno_c", "td_auc", "ibs")
        n_events = int(event.sum())
        if n_events < MIN_CLASS_ROWS:  # never lose the model: say why instead
            note = (f"{n_events} event{'s' if n_events != 1 else ''} in the evaluation rows; "
                    f"at least {MIN_CLASS_ROWS} are needed")
            return {name: not_estimable(note) for name in names}
        if len(times) < 2:
            out = self._bootstrap(lambda t, e, r: {"c_index": harrell_c(t, e, r)},
                                  [time, event, risk], strata=event.astype(int), seed=seed,
                                  min_stratum=0)
            note = ("the follow-up of the evaluation rows is too short for time-dependent "
                    "metrics (fewer than two evaluation times inside it)")
            return {**out, **{name: not_estimable(note) for name in names[1:]}}
        surv = self.survival(outputs, times)

        def fn(t, e, r, s):
            return survival_metrics(t, e, r, s, times, train_time, train_event)

        # events are checked above; a few censored rows do not make the metrics unestimable
        return self._bootstrap(fn, [time, event, risk, surv], strata=event.astype(int),
                               seed=seed, min_stratum=0)

    def report_facts(self) -> dict[str, Any]:
        from healthnn.report.sections import time_label

        d = self.config.data
        model = ("Cox proportional hazards neural network (DeepSurv), Breslow baseline hazard"
                 if self.objective == "cox" else "discrete-time logistic-hazard network")
        return {"outcome": f"time to event: time '{d.time}', event indicator '{d.event}' "
                           "(1 = event, 0 = censored)",
                "output": "risk score (higher = earlier event) and survival probability at "
                          + ", ".join(time_label(h) for h in self.horizons_)
                          + (f" {d.time_unit}" if d.time_unit else ""),
                "kind": "survival", "mechanism": model, **super().report_facts()}

    def report_sections(self, outputs, y, *, seed: int = 0):
        from healthnn.report.sections import survival_sections

        time, event = self._te(y)
        horizons = [h for h in self.horizons_ if time.min() < h < time.max()]
        times = self.metric_times(time)
        return survival_sections(
            time, event, self.risk(outputs), horizons, self.survival(outputs, horizons),
            times, np.asarray(self.train_time_), np.asarray(self.train_event_, dtype=bool),
            unit=self.config.data.time_unit)

    def label_frame(self, y: Labels) -> pd.DataFrame:
        d = self.config.data
        return pd.DataFrame({d.time: y[d.time], d.event: y[d.event].astype(int)})

    # -- persistence ---------------------------------------------------------------------------
    _STATE = ("train_time_", "train_event_", "horizons_", "eval_times_", "cuts_",
              "baseline_times_", "baseline_cumhaz_")

    def pooled_note(self) -> str:
        return ("pooled survival metrics put the folds' risk scores on one scale and use the "
                "last fold's baseline for survival probabilities (integrated Brier score); "
                "per-fold metrics are each fold's own")

    def state_dict(self) -> dict[str, Any]:
        state = {k.rstrip("_"): getattr(self, k) for k in self._STATE if hasattr(self, k)}
        return {**state, **self._table_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self._STATE:
            if k.rstrip("_") in state:
                setattr(self, k, state[k.rstrip("_")])
        self._load_table_state(state)


def _event_column(s: pd.Series, file: Path, col: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_numpy()
    text = s.astype(str).str.strip().str.lower()
    mapped = text.map({"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0})
    values = pd.to_numeric(s.where(mapped.isna(), mapped), errors="coerce").to_numpy(dtype=float)
    missing = s.isna().to_numpy() | (text == "").to_numpy() | (text == "nan").to_numpy()
    bad = np.flatnonzero(~missing & ~np.isin(values, [0.0, 1.0]))
    if len(bad):
        raise DataError(f"event must be 0 (censored) or 1 (event), got {str(s.iloc[bad[0]])[:20]!r}",
                        file=str(file), row=int(bad[0]) + 1, column=col)
    values[missing] = np.nan
    return values
