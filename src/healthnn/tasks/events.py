"""Outcome prediction from EHR event streams (``task = "event_classification"``).

Design: one task, a subclass of the table classification task. Its reader turns an event
stream (a long table of stay, time, variable, value, or the PhysioNet 2012 stay files) plus an
outcome table into *one row per stay*: the stay id, the outcome, the static descriptors, the
per-window aggregates of every variable and the stay's cleaned events (``events``; printed as
its number of events). From there everything is the classification task's: labels, splits,
bootstrap metrics, report, bundle. The models differ only in ``encode``:

* ``mlp`` (default): the aggregates and statics go through the foundation's
  :class:`~healthnn.data.preprocess.TablePreprocessor` (median imputation with missingness
  indicators, standardisation, one-hot for categorical statics);
* ``grud``: the events are binned on a regular grid (values, masks, time since last observed;
  standardised with training means) for :class:`~healthnn.models.grud.GRUD`, with the statics
  through the same preprocessor;
* ``event_transformer``: the same grid, one token per time step with a sinusoidal encoding of
  its time in hours, for :class:`~healthnn.models.event_transformer.EventTransformer`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from healthnn.config import Config
from healthnn.data import events as E
from healthnn.data.preprocess import TablePreprocessor
from healthnn.errors import ConfigError, DataError
from healthnn.tasks.base import Labels
from healthnn.tasks.tabular import ClassificationTask

__all__ = ["EventData", "EventClassificationTask"]

# models that read the event grid (the rest read per-stay aggregates), with their report names
_SEQUENCE_MODELS = {"grud": "GRU-D", "event_transformer": "Transformer with time encoding"}

_DEFAULT_COLUMNS = {"long": ("stay_id", "time", "variable", "value"),
                    "physionet2012": ("RecordID", "Time", "Parameter", "Value")}


@dataclass
class EventData:
    """``[data]`` for ``event_classification``."""

    train: str                                  # long table, or PhysioNet folder / archive
    outcomes: str | None = None                 # one row per stay: id and target
    target: str | None = None
    test: str | None = None
    format: Literal["auto", "long", "physionet2012"] = "auto"
    id: str | None = None                       # stay id column (events and outcomes)
    time: str | None = None
    variable: str | None = None
    value: str | None = None
    time_unit: Literal["hours", "minutes", "days"] = "hours"
    static: list[str] | None = None             # variables with one value per stay
    categorical: list[str] | None = None        # static variables that are codes
    variables: list[str] | str | None = None    # known variables (or "physionet2012")
    ranges: dict[str, list[float]] | str | None = None   # {var = [lo, hi]} or "physionet2012"
    missing_values: list[float] | None = None   # placeholders meaning "not measured" (-1)
    windows: list[list[float]] = None  # type: ignore[assignment]  # [[start, end]] hours
    aggregates: list[str] | None = None
    resolution: float = 1.0                     # grud: hours per time step
    group: str | None = None                    # outcome-table column: one patient, one split
    positive: str | None = None

    def __post_init__(self) -> None:
        if self.windows is None:
            self.windows = [[0.0, 48.0]]


class EventClassificationTask(ClassificationTask):
    """Binary (or multi-class) outcome of a stay from its event stream."""

    name = "event_classification"
    DataConfig = EventData
    default_model = "mlp"
    path_fields = ("train", "test", "outcomes")

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._notes: list[str] = []

    # -- config ------------------------------------------------------------------------------
    @classmethod
    def check_config(cls, config: Config) -> None:
        d, src = config.data, config.source
        if not d.target:
            raise ConfigError("event_classification needs [data] target (the outcome column "
                              "of the outcome table)", file=src, key="data.target")
        if not d.outcomes:
            raise ConfigError("event_classification needs [data] outcomes (a table with one "
                              "row per stay: its id and the outcome)", file=src,
                              key="data.outcomes")
        for i, w in enumerate(d.windows):
            if len(w) != 2 or not w[0] < w[1]:
                raise ConfigError(f"window {w!r} must be [start, end] hours with start < end",
                                  file=src, key=f"data.windows[{i}]")
        if not d.windows:
            raise ConfigError("give at least one window, e.g. [[0, 48]]", file=src,
                              key="data.windows")
        for a in d.aggregates or []:
            if a not in E.AGGREGATES:
                import difflib

                close = difflib.get_close_matches(a, E.AGGREGATES, n=1)
                raise ConfigError(f"unknown aggregate {a!r}", file=src, key="data.aggregates",
                                  hint=f"did you mean '{close[0]}'?" if close
                                  else f"one of: {', '.join(E.AGGREGATES)}")
        if d.resolution <= 0:
            raise ConfigError("must be positive (hours per time step)", file=src,
                              key="data.resolution")
        if isinstance(d.variables, str) and d.variables != "physionet2012":
            raise ConfigError("expected a list of variable names or \"physionet2012\"",
                              file=src, key="data.variables")
        if isinstance(d.ranges, str):
            if d.ranges not in ("physionet2012", "none"):
                raise ConfigError("expected {variable = [low, high], ...}, \"physionet2012\" or "
                                  "\"none\"", file=src, key="data.ranges")
        elif d.ranges is not None:
            for k, v in d.ranges.items():
                if (not isinstance(v, list) or len(v) != 2
                        or not all(isinstance(x, (int, float)) for x in v) or v[0] > v[1]):
                    raise ConfigError("expected [low, high] with low <= high", file=src,
                                      key=f"data.ranges.{k}")
        if config.model.name not in ("mlp", *_SEQUENCE_MODELS):
            raise ConfigError(f"model {config.model.name!r} does not serve event_classification",
                              file=src, key="model.name",
                              hint="use mlp, grud or event_transformer")
        if config.split.method == "group" and not d.group:
            raise ConfigError("split.method = 'group' needs [data] group (a patient id column "
                              "of the outcome table)", file=src, key="split.method")
        cls._check_monitor(config)

    # -- resolved settings -------------------------------------------------------------------
    def _format(self, path: Path) -> str:
        f = self.config.data.format
        return E._detect_format(path) if f == "auto" and path.exists() else (
            f if f != "auto" else "long")

    def _physionet(self) -> bool:
        return self._format(self.config.resolve(self.config.data.train)) == "physionet2012"

    def _columns(self, fmt: str) -> tuple[str, str, str, str]:
        d = self.config.data
        defaults = _DEFAULT_COLUMNS[fmt]
        return (d.id or defaults[0], d.time or defaults[1], d.variable or defaults[2],
                d.value or defaults[3])

    @property
    def id_column(self) -> str:
        return self.config.data.id or _DEFAULT_COLUMNS[
            "physionet2012" if self._physionet() else "long"][0]

    def _static(self) -> list[str]:
        s = self.config.data.static
        return list(s) if s is not None else (E.PHYSIONET2012_STATIC if self._physionet() else [])

    def _categorical(self) -> list[str]:
        c = self.config.data.categorical
        return list(c) if c is not None else (["ICUType"] if self._physionet() else [])

    def _known_variables(self) -> list[str] | None:
        if getattr(self, "variables_", None) is not None:  # a trained model knows its own
            return list(self.variables_)
        v = self.config.data.variables
        if v == "physionet2012" or (v is None and self._physionet()):
            return list(E.PHYSIONET2012_VARIABLES)
        return None if v is None else list(v)

    def _ranges(self) -> dict[str, tuple[float, float]]:
        r = self.config.data.ranges
        if r == "physionet2012" or (r is None and self._physionet()):
            return dict(E.PHYSIONET2012_RANGES)
        if isinstance(r, dict):
            return {k: (float(v[0]), float(v[1])) for k, v in r.items()}
        return {}

    def _missing_values(self) -> list[float]:
        m = self.config.data.missing_values
        return list(m) if m is not None else ([-1.0] if self._physionet() else [])

    def _windows(self) -> list[tuple[float, float]]:
        return [(float(a), float(b)) for a, b in self.config.data.windows]

    def _aggregates(self) -> list[str]:
        return list(self.config.data.aggregates or E.DEFAULT_AGGREGATES)

    @property
    def _sequence(self) -> bool:
        return self.config.model.name in _SEQUENCE_MODELS

    # -- reading -----------------------------------------------------------------------------
    def _frame(self, path: Path, *, outcomes: bool) -> pd.DataFrame:
        d = self.config.data
        fmt = self._format(path)
        id_col, time_col, var_col, value_col = self._columns(fmt)
        ev, fmt = E.read_events(path, format=fmt, id=id_col, time=time_col, variable=var_col,
                                value=value_col, time_unit=d.time_unit)
        ev, report = E.clean_events(ev, ranges=self._ranges(),
                                    missing_values=self._missing_values(),
                                    variables=self._known_variables(), windows=self._windows())
        if getattr(self, "variables_", None) is not None:
            report.unknown_hint = "the model was not trained with them"
        notes = report.notes(path.name)
        stays = list(dict.fromkeys([*(ev.attrs.get("stays") or []), *ev["stay"].tolist()]))
        frame = pd.DataFrame({self.id_column: pd.Series(stays, dtype=object)})
        if outcomes:
            frame, more = self._join_outcomes(frame, stays, path)
            notes += more
        order = frame[self.id_column].tolist()
        static = self._static()
        series = sorted(set(ev["variable"].unique()) - set(static),
                        key=_variable_order(self._known_variables()))
        per_stay = E.split_by_stay(ev, series, order)
        frame["events"] = pd.Series(per_stay, dtype=object)
        statics = E.static_values(ev, static, order)
        aggs = E.aggregate_events(ev, series, windows=self._windows(),
                                  aggregates=self._aggregates(), stays=order)
        frame = pd.concat([frame.reset_index(drop=True), statics, aggs], axis=1)
        self._notes = notes
        return frame

    def _join_outcomes(self, frame: pd.DataFrame, stays: list[str], events_file: Path
                       ) -> tuple[pd.DataFrame, list[str]]:
        from healthnn.data.tables import read_table, require_columns

        d = self.config.data
        path = self.config.resolve(d.outcomes)
        out = read_table(path, as_text=True)
        keep = [c for c in (d.target, d.group, *self.config.report.subgroups)
                if c and c in out.columns and c != self.id_column]
        require_columns(out, [self.id_column, d.target, *([d.group] if d.group else [])], path)
        ids = out[self.id_column].astype("string").str.strip().str.replace(
            r"\.0+$", "", regex=True)
        dup = ids.duplicated(keep=False) & ids.notna()
        if dup.any():
            pos = int(np.flatnonzero(dup.to_numpy())[0])
            raise DataError(f"{int(dup.sum())} row(s) share a stay id", file=str(path),
                            row=pos + 1, column=self.id_column,
                            hint="the outcome table needs one row per stay")
        out = out.assign(**{self.id_column: ids})
        notes = []
        rest = pd.DataFrame({self.id_column: [s for s in stays if s not in set(ids)]})
        merged = out[[self.id_column, *keep]].reset_index(drop=True)
        if len(rest):
            merged = pd.concat([merged, rest], ignore_index=True)
        # the outcome table decides the order; stays with events but no outcome row follow
        # (usable_rows reports and leaves them out)
        return merged, notes

    def read(self, path: Path) -> pd.DataFrame:
        return self._frame(path, outcomes=True)

    def use_label_file(self, path: Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise DataError("outcome table not found", file=str(path),
                            hint="one row per stay: its id and the outcome")
        self.config.data.outcomes = str(path.resolve())

    def read_inputs(self, path: Path) -> pd.DataFrame:
        frame = self._frame(path, outcomes=False)
        for note in self._notes:  # counts only: no values, no identifiers
            print(f"note: {note}", file=sys.stderr)
        return frame

    def usable_rows(self, df: pd.DataFrame, y: Labels, ok: np.ndarray,
                    file: Path) -> tuple[np.ndarray, list[str]]:
        notes = list(self._notes)
        has_events = np.array([len(e) > 0 for e in df["events"]], dtype=bool)
        usable = ok & has_events
        no_events = ok & ~has_events
        if no_events.any():
            rows = np.flatnonzero(no_events)[:10] + 1  # data rows of the outcome table
            notes.append(f"{int(no_events.sum())} stay(s) of the outcome table have no usable "
                         f"events and are left out (outcome table rows "
                         f"{', '.join(map(str, rows))}{' ...' if no_events.sum() > 10 else ''})")
        unlabelled = ~ok
        if unlabelled.any():
            notes.append(f"{int(unlabelled.sum())} stay(s) of {file.name} have events but no "
                         "outcome (no row in the outcome table, or an empty target) and are "
                         "left out")
        return usable, notes

    def row_ids(self, df: pd.DataFrame) -> pd.DataFrame:
        return df[[self.id_column]].copy()

    def groups(self, df: pd.DataFrame) -> np.ndarray | None:
        g = self.config.data.group
        return None if g is None else df[g].astype(str).to_numpy()

    # -- fitting and encoding ----------------------------------------------------------------
    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        self._fit_classes(y, file)
        counts: dict[str, int] = {}
        values: dict[str, list[np.ndarray]] = {}
        for st in df["events"]:
            for v in pd.unique(st.variable):
                counts[v] = counts.get(v, 0) + 1
            if self._sequence and len(st):
                for v in pd.unique(st.variable):
                    values.setdefault(v, []).append(st.value[st.variable == v])
        static = [c for c in self._static() if c in df.columns]
        self.series_ = sorted(counts, key=_variable_order(self._known_variables()))
        self.static_ = static
        self.variables_ = [*static, *self.series_]
        if not self.series_:
            raise DataError("no time-series events in the training data", file=str(file),
                            hint="check [data] variable / value columns and [data] static")
        cats = [c for c in self._categorical() if c in static]
        notes = [f"{len(self.series_)} time-series variable(s) and {len(static)} static "
                 f"variable(s) from {len(df)} training stays"]
        if self._sequence:
            self.mean_, self.std_ = [], []
            for v in self.series_:
                x = np.concatenate(values[v])
                self.mean_.append(float(x.mean()))
                self.std_.append(float(x.std()) or 1.0)
            cols = static
        else:
            cols = [*static, *E.feature_names(self.series_, self._windows(), self._aggregates())]
        self.preprocessor_ = (TablePreprocessor([c for c in cols if c not in cats], cats)
                              .fit(df, file) if cols else None)
        if self.preprocessor_ is not None:
            notes += self.preprocessor_.warnings_
        return notes

    def _grid(self) -> tuple[float, float]:
        w = self._windows()
        return min(a for a, _ in w), max(b for _, b in w)

    def n_steps(self) -> int:
        start, end = self._grid()
        return max(1, int(math.ceil((end - start) / self.config.data.resolution)))

    def encode(self, df: pd.DataFrame, file: Path) -> tuple[torch.Tensor, dict[int, str]]:
        errors: dict[int, str] = {}
        if "events" not in df.columns:
            raise DataError("not a per-stay event frame", file=str(file),
                            hint="read event files with task.read_inputs (healthnn predict "
                            "does this)")
        for i, st in enumerate(df["events"]):
            if len(st) == 0:
                errors[i] = "no usable time-series events for this stay"
        frame = df.reset_index(drop=True)
        pre = self.preprocessor_
        if pre is not None:
            missing = [c for c in pre.input_columns if c not in frame.columns]
            if missing:  # a variable never measured in this file: all missing
                frame = pd.concat([frame, pd.DataFrame(np.nan, index=frame.index,
                                                       columns=missing)], axis=1)
            X, bad = pre.transform(frame, file)
            for pos, msg in bad.items():
                errors.setdefault(pos, msg)
        else:
            X = np.zeros((len(frame), 0), dtype=np.float32)
        if self._sequence:
            start, end = self._grid()
            seq = E.sequence_tensors(list(frame["events"]), self.series_, start=start, end=end,
                                     resolution=self.config.data.resolution,
                                     mean=np.asarray(self.mean_), std=np.asarray(self.std_))
            X = np.concatenate([seq.reshape(len(frame), -1), X], axis=1)
        if errors:
            X[list(errors)] = 0.0
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)), errors

    def in_features(self) -> int:
        n_static = 0 if self.preprocessor_ is None else len(self.preprocessor_.feature_names_)
        if self._sequence:
            return self.n_steps() * 4 * len(self.series_) + n_static
        return n_static

    def build_model(self) -> nn.Module:
        if not self._sequence:
            return super().build_model()
        from healthnn.models import get_model_spec

        n_static = 0 if self.preprocessor_ is None else len(self.preprocessor_.feature_names_)
        name = self.config.model.name
        spec = get_model_spec(name, task=self.name)
        where = ({"step_hours": float(self.config.data.resolution), "start": self._grid()[0]}
                 if name == "event_transformer" else {})  # the steps' times, in hours
        model = spec.builder(self.in_features(), self.out_features(),
                             n_variables=len(self.series_), n_static=n_static,
                             **where, **self.config.model.params)
        if self.config.train.privacy is not None:
            from healthnn.training.privacy import make_private_compatible

            model = make_private_compatible(model)
        return model

    @property
    def feature_names(self) -> list[str]:
        names = [] if self.preprocessor_ is None else list(self.preprocessor_.feature_names_)
        if self._sequence:
            names = [f"{v} (sequence)" for v in self.series_] + names
        return names

    # -- report ------------------------------------------------------------------------------
    def _summary_columns(self) -> list[str]:
        """One aggregate per variable (the mean in the first window, or the first aggregate
        configured) for Table 1, shift and importance: every aggregate of every variable would
        make those tables unreadable and slow."""
        aggs = self._aggregates()
        agg = "mean" if "mean" in aggs else aggs[0]
        return E.feature_names(self.series_, self._windows(), [agg])[:len(self.series_)]

    def report_columns(self) -> dict[str, list[str]]:
        pre = self.preprocessor_
        if pre is None:
            return {"numeric": [], "categorical": []}
        wanted = set(self.static_) | set(self._summary_columns())
        return {"numeric": [c for c in pre.numeric_ if c in wanted],
                "categorical": [c for c in pre.levels_ if c in wanted]}

    def report_feature_groups(self) -> dict[str, list[int]] | None:
        if self._sequence or self.preprocessor_ is None:
            return None  # the statics follow the sequence block: re-encode instead
        return super().report_feature_groups()

    def report_facts(self) -> dict[str, Any]:
        facts = super().report_facts() if self.preprocessor_ is not None else {}
        col = self.config.data.target
        w = ", ".join(f"{a:g}-{b:g} h" for a, b in self._windows())
        facts.update({
            "outcome": f"'{col}' = {self.classes_[-1]!r} (positive class) vs "
                       f"{self.classes_[0]!r}" if len(self.classes_) == 2 else f"'{col}'",
            "output": f"probability of {col} = {self.classes_[-1]!r}",
            "kind": "classification",
            "input": f"a stay's event stream (time-stamped measurements) in the window(s) {w}",
        })
        if self._sequence:
            label = _SEQUENCE_MODELS[self.config.model.name]
            facts["predictors"] = [f"{v} (time series, {label})" for v in self.series_] + [
                f"{c} (static)" for c in self.static_]
            facts["missing_data"] = (
                "GRU-D: missing measurements decay from the last observation towards the "
                "training mean; masks and the time since the last observation are inputs"
                if self.config.model.name == "grud" else
                f"{label}: per time step the values (0 = the training mean where not "
                "measured), masks, hours since the last observation and the last observed "
                "values are inputs; each step's time enters through a sinusoidal encoding")
        else:
            facts["preprocessing"] = (
                f"per-stay aggregates ({', '.join(self._aggregates())}) of each variable in "
                f"each window; then {facts.get('preprocessing', 'standardisation')}")
        facts["data_cleaning"] = ("out-of-range values and placeholders set to missing, "
                                  "duplicated time stamps merged, unsorted times sorted; counts "
                                  "are in manifest.json (notes) of the bundle")
        return facts

    # -- persistence -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {"classes": self.classes_, "series": self.series_, "static": self.static_,
                 "variables": self.variables_,
                 "preprocessing": None if self.preprocessor_ is None
                 else self.preprocessor_.to_dict()}
        if self._sequence:
            state.update(mean=self.mean_, std=self.std_)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.classes_ = list(state["classes"])
        self.series_ = list(state["series"])
        self.static_ = list(state["static"])
        self.variables_ = list(state["variables"])
        pre = state["preprocessing"]
        self.preprocessor_ = None if pre is None else TablePreprocessor.from_dict(pre)
        if "mean" in state:
            self.mean_, self.std_ = list(state["mean"]), list(state["std"])


def _variable_order(known: list[str] | None):
    """Known variables in their listed order, then the rest alphabetically."""
    rank = {v: i for i, v in enumerate(known or [])}
    return lambda v: (rank.get(v, len(rank)), str(v))
