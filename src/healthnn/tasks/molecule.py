"""Molecular property prediction from SMILES (solubility, permeability, toxicity, ...).

One or more targets per molecule: regression (e.g. log solubility) or binary (e.g. blood-brain
barrier penetration), multi-task with missing labels (an empty cell means "not measured": that
entry is left out of its target's loss and metrics). Molecules are parsed and standardised with
RDKit (largest fragment, neutralised, canonical SMILES); rows whose SMILES cannot be used are
reported and left out of training, and get an ``error`` at prediction time.

Models: ``dmpnn`` (message passing on the molecular graph) and ``fingerprint_mlp`` (Morgan
count fingerprints); either can add RDKit 2D descriptors (``[model] descriptors = true``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from healthnn.config import Config
from healthnn.data.tables import numeric_column, read_table, require_columns, write_table
from healthnn.errors import ConfigError, DataError
from healthnn.io import write_bytes
from healthnn.tasks.base import Labels, Task, rescale_outputs

__all__ = ["MoleculeData", "MoleculePropertyTask"]

_REGRESSION_MONITORS = ("val_loss", "rmse", "mae", "r2")
_BINARY_MONITORS = ("val_loss", "auroc", "auprc")
_SHOW_ROWS = 5
_PROGRESS_ROWS = 5000  # a progress bar when featurising at least this many molecules


@dataclass
class MoleculeData:
    """``[data]`` for ``task = "molecule_property"``."""

    train: str
    target: str | list[str]
    test: str | None = None
    smiles: str = "smiles"
    task_type: Literal["auto", "regression", "binary"] = "auto"
    id: str | None = None
    group: str | None = None
    max_atoms: int = 200
    rank_by: str | None = None        # target that orders the 'rank' column (default: first)
    rank_ascending: bool = False      # rank 1 = highest predicted value unless true


class MoleculePropertyTask(Task):
    """Regression, binary or multi-task prediction of molecular properties from SMILES."""

    name = "molecule_property"
    DataConfig = MoleculeData
    default_model = "dmpnn"
    parallel_inputs = True
    explanation_formats = ("svg", "png")
    predict_batch_size = 256  # D-MPNN inference: 256 molecules per batch ran ~1.8x faster than 4096

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.kind_: str | None = None
        self.workers = 1  # processes for RDKit work on large libraries (healthnn predict --workers)
        self.image_format = "svg"  # atom-attribution drawings: "svg" or "png" (explain --format)
        self._cache: dict[str, tuple[Any, str | None, str | None, str | None]] = {}

    # -- config ------------------------------------------------------------------------------
    @property
    def targets(self) -> list[str]:
        t = self.config.data.target
        return [t] if isinstance(t, str) else list(t)

    @property
    def greater_is_better(self) -> bool:  # type: ignore[override]
        return self.config.train.monitor not in ("rmse", "mae")

    @classmethod
    def check_config(cls, config: Config) -> None:
        d = config.data
        targets = [d.target] if isinstance(d.target, str) else list(d.target)
        if not targets:
            raise ConfigError("give at least one target column", file=config.source,
                              key="data.target")
        if len(set(targets)) != len(targets):
            raise ConfigError("a target is listed twice", file=config.source, key="data.target")
        if d.smiles in targets:
            raise ConfigError(f"'{d.smiles}' is the SMILES column and cannot be a target",
                              file=config.source, key="data.target")
        if d.rank_by is not None and d.rank_by not in targets:
            raise ConfigError(f"rank_by {d.rank_by!r} is not a target", file=config.source,
                              key="data.rank_by", hint=f"one of: {', '.join(targets)}")
        if d.max_atoms < 1:
            raise ConfigError("must be at least 1", file=config.source, key="data.max_atoms")
        monitors = {"auto": _REGRESSION_MONITORS + _BINARY_MONITORS,
                    "regression": _REGRESSION_MONITORS, "binary": _BINARY_MONITORS}[d.task_type]
        if config.train.monitor not in monitors:
            raise ConfigError(f"cannot monitor {config.train.monitor!r} here",
                              file=config.source, key="train.monitor",
                              hint=f"use one of: {', '.join(dict.fromkeys(monitors))}")
        if config.split.method == "group" and not d.group:
            raise ConfigError("split.method = 'group' needs [data] group", file=config.source,
                              key="split.method")

    # -- data --------------------------------------------------------------------------------
    def target_columns(self) -> list[str]:
        return self.targets

    def read(self, path: Path) -> pd.DataFrame:
        df = read_table(path)
        d = self.config.data
        self._require_smiles(df, path)
        require_columns(df, [*self.targets, *(c for c in (d.id, d.group) if c)], path)
        return df

    def _require_smiles(self, df: pd.DataFrame, path: Path) -> None:
        col = self.config.data.smiles
        if col not in df.columns:
            guess = [c for c in df.columns if str(c).lower() in ("smiles", "canonical_smiles",
                                                                 "mol", "molecule")]
            hint = (f"set [data] smiles = \"{guess[0]}\"" if guess else
                    f"set [data] smiles to the column holding SMILES; the file has: "
                    f"{', '.join(map(str, df.columns[:12]))}")
            raise DataError("SMILES column not found", file=str(path), column=col, hint=hint)

    def labels(self, df: pd.DataFrame, file: Path) -> tuple[Labels, np.ndarray]:
        y = {}
        for t in self.targets:
            y[t] = numeric_column(df[t], file=file, column=t,
                                  what="a number (0 or 1 for a yes/no property; empty = not measured)")
        if self.kind_ == "binary":
            for t, v in y.items():
                bad = np.isfinite(v) & ~np.isin(v, (0.0, 1.0))
                if bad.any():
                    pos = int(np.flatnonzero(bad)[0])
                    raise DataError(f"expected 0 or 1 (this model predicts a yes/no property), "
                                    f"got {v[pos]:g}", file=str(file), row=pos + 1, column=t)
        ok = np.isfinite(np.column_stack([y[t] for t in self.targets])).any(1)
        return y, ok

    def _infer_kind(self, y: Labels) -> str:
        want = self.config.data.task_type
        values = np.concatenate([v[np.isfinite(v)] for v in y.values()])
        is_binary = bool(len(values)) and bool(np.isin(values, (0.0, 1.0)).all())
        if want == "auto":
            return "binary" if is_binary else "regression"
        if want == "binary" and not is_binary:
            t, pos = next((t, int(np.flatnonzero(np.isfinite(v) & ~np.isin(v, (0.0, 1.0)))[0]))
                          for t, v in y.items() if (np.isfinite(v) & ~np.isin(v, (0.0, 1.0))).any())
            raise DataError(f"task_type = 'binary' needs 0/1 labels, got {y[t][pos]:g}",
                            column=t, hint="use task_type = 'regression' for a measured value")
        return want

    def strata(self, y: Labels) -> np.ndarray | None:
        kind = self.kind_ or self._infer_kind(y)
        if kind == "binary" and len(self.targets) == 1:
            return y[self.targets[0]]
        return None

    def groups(self, df: pd.DataFrame) -> np.ndarray | None:
        g = self.config.data.group
        return None if g is None else df[g].astype(str).to_numpy()

    def fold_groups(self, df: pd.DataFrame) -> np.ndarray:
        """K-fold groups: ``[data] group`` if set, else each scaffold (``[split] by_scaffold``)
        or each molecule, so that copies of one molecule never sit in two folds."""
        if self.config.data.group is not None:
            return self.groups(df)
        parsed = self._standardize(df[self.config.data.smiles].tolist(), remember=True)
        if self.config.split.by_scaffold:
            return np.array(_scaffolds(parsed), dtype=object)
        return np.array([p[1] for p in parsed], dtype=object)

    def row_ids(self, df: pd.DataFrame) -> pd.DataFrame:
        cols = [c for c in (self.config.data.id, self.config.data.smiles) if c]
        return df[cols].copy()

    def _standardize(self, smiles: list[Any], remember: bool = False):
        from healthnn.data.molecules import standardize

        todo = [s for s in dict.fromkeys(map(_key, smiles)) if s not in self._cache]
        if todo:
            std = standardize(todo, max_atoms=self.config.data.max_atoms)
            fresh = {s: (std.mols[i], std.canonical[i], std.errors.get(i), std.notes.get(i))
                     for i, s in enumerate(todo)}
        else:
            fresh = {}
        if remember:
            self._cache.update(fresh)
        look = {**self._cache, **fresh} if fresh else self._cache
        return [look[_key(s)] for s in smiles]

    def usable_rows(self, df: pd.DataFrame, y: Labels, ok: np.ndarray,
                    file: Path) -> tuple[np.ndarray, list[str]]:
        """Leave out (and report) rows with unusable SMILES or no label; report duplicates."""
        parsed = self._standardize(df[self.config.data.smiles].tolist(), remember=True)
        bad = {i: p[2] for i, p in enumerate(parsed) if p[2] is not None}
        notes = []
        if bad:
            first = "; ".join(f"row {i + 1}: {msg}" for i, msg in list(bad.items())[:_SHOW_ROWS])
            notes.append(f"{file}: {len(bad)} row(s) left out because their SMILES cannot be "
                         f"used (first: {first})")
        unlabeled = [i for i in np.flatnonzero(~ok) if i not in bad]
        if unlabeled:
            notes.append(f"{file}: {len(unlabeled)} row(s) left out with no value in any target "
                         f"(first rows: {', '.join(str(i + 1) for i in unlabeled[:_SHOW_ROWS])})")
        stripped = sum(1 for i, p in enumerate(parsed) if p[3] and i not in bad)
        if stripped:
            notes.append(f"{file}: {stripped} molecule(s) had several fragments (salts, "
                         "solvents, counter-ions); the largest fragment was kept")
        usable = np.array([i not in bad for i in range(len(df))]) & ok
        notes += self._duplicate_notes([p[1] for p in parsed], y, usable, file)
        return usable, notes

    def _duplicate_notes(self, canon: list[str | None], y: Labels, usable: np.ndarray,
                         file: Path) -> list[str]:
        rows = pd.DataFrame({"canon": canon, "row": np.arange(len(canon)) + 1})[usable]
        dup = rows[rows.duplicated("canon", keep=False)]
        if dup.empty:
            return []
        conflicts = []
        for _, g in dup.groupby("canon", sort=False):
            idx = g["row"].to_numpy() - 1
            for t in self.targets:
                v = y[t][idx]
                v = v[np.isfinite(v)]
                if len(v) > 1 and np.ptp(v) > 1e-9:
                    conflicts.append((g["row"].tolist(), t, v))
                    break
        note = (f"{file}: {dup['canon'].nunique()} molecule(s) appear more than once "
                f"({len(dup)} rows, compared after standardisation); all rows are kept and each "
                "molecule's copies stay in one split")
        if conflicts:
            shown = "; ".join(f"rows {', '.join(map(str, r[:4]))} ('{t}': "
                              f"{', '.join(f'{x:g}' for x in v[:4])})"
                              for r, t, v in conflicts[:_SHOW_ROWS])
            note += f". {len(conflicts)} of them have conflicting labels: {shown}"
        return [note]

    def split(self, df: pd.DataFrame, y: Labels, *, test_size: float | None, val_size: float,
              seed: int, strata: np.ndarray | None = None,
              groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
        from healthnn.data.split import scaffold_split, split_indices

        parsed = self._standardize(df[self.config.data.smiles].tolist(), remember=True)
        if self.config.split.method == "scaffold":
            return scaffold_split(_scaffolds(parsed), test_size=test_size, val_size=val_size,
                                  seed=seed)
        if groups is None:  # copies of one molecule never sit in two splits
            groups = np.array([p[1] for p in parsed], dtype=object)
        return split_indices(len(df), test_size=test_size, val_size=val_size, seed=seed,
                             strata=strata, groups=groups)

    # -- features ----------------------------------------------------------------------------
    @property
    def _params(self) -> dict[str, Any]:
        return self.config.model.params

    @property
    def _graph(self) -> bool:
        return self.config.model.name == "dmpnn"

    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        self.kind_ = self._infer_kind(y)
        notes = []
        self.y_mean_, self.y_std_ = [], []
        for t in self.targets:
            v = y[t][np.isfinite(y[t])]
            if len(v) == 0:
                raise DataError("no training row has a value in this target", file=str(file),
                                column=t)
            if self.kind_ == "binary" and len(np.unique(v)) < 2:
                raise DataError(f"the training rows have a single class ({v[0]:g})",
                                file=str(file), column=t, hint="a binary target needs 0s and 1s")
            mean, std = (float(v.mean()), float(v.std()) or 1.0) if self.kind_ == "regression" \
                else (0.0, 1.0)
            self.y_mean_.append(mean)
            self.y_std_.append(std)
        self.desc_names_, self.desc_mean_, self.desc_std_ = [], [], []
        if self._params.get("descriptors"):
            from healthnn.data.molecules import descriptor_names, descriptors

            names = descriptor_names()
            mols = [p[0] for p in self._standardize(df[self.config.data.smiles].tolist())]
            d = descriptors(mols, names)
            keep = np.isfinite(d).mean(0) > 0.5
            d = np.clip(d, -1e6, 1e6)
            mean, std = np.nanmean(d, 0), np.nanstd(d, 0)
            keep &= np.isfinite(std) & (std > 0)
            self.desc_names_ = [n for n, k in zip(names, keep, strict=True) if k]
            self.desc_mean_ = mean[keep].tolist()
            self.desc_std_ = std[keep].tolist()
            notes.append(f"{len(self.desc_names_)} RDKit descriptors added to the model inputs")
        notes.append(f"{self.kind_} task on {len(self.targets)} target(s): {', '.join(self.targets)}")
        return notes

    def _descriptors(self, mols: list[Any]) -> np.ndarray | None:
        if not self.desc_names_:
            return None
        from healthnn.data.molecules import descriptors

        return self._scale_descriptors(descriptors(mols, self.desc_names_))

    def _scale_descriptors(self, raw: np.ndarray) -> np.ndarray:
        d = (np.clip(raw, -1e6, 1e6) - np.asarray(self.desc_mean_)) / np.asarray(self.desc_std_)
        return np.clip(np.nan_to_num(d, nan=0.0), -10, 10).astype(np.float32)

    def encode(self, df: pd.DataFrame, file: Path) -> tuple[Any, dict[int, str]]:
        """Model inputs for every row (a placeholder where the SMILES failed) and the errors."""
        from healthnn.data.molecules import mol_graphs, morgan_counts, require_rdkit

        self._require_smiles(df, file)
        col = self.config.data.smiles
        smiles = df[col].tolist()
        if not all(_key(s) in self._cache for s in smiles):  # new molecules: e.g. a library
            return self._encode_library(smiles)
        parsed = self._standardize(smiles)
        errors = {i: f"column '{col}': {p[2]}" for i, p in enumerate(parsed) if p[2] is not None}
        placeholder = require_rdkit().MolFromSmiles("C") if errors else None
        mols = [placeholder if p[0] is None else p[0] for p in parsed]
        extra = self._descriptors(mols)
        if self._graph:
            return mol_graphs(mols, extra), errors
        fp = np.log1p(morgan_counts(mols, radius=self._params["radius"],
                                    n_bits=self._params["n_bits"]))
        if extra is not None:
            fp = np.concatenate([fp, extra], 1)
        return torch.from_numpy(fp), errors

    def _encode_library(self, smiles: list[Any]) -> tuple[Any, dict[int, str]]:
        """Molecules not seen in training (a library to screen): standardise and featurise in
        chunks, in ``self.workers`` processes, each SMILES parsed once; the same numbers as the
        training path, without canonical SMILES and without keeping the molecules."""
        from healthnn.data.molecules import featurize_smiles

        col = self.config.data.smiles
        f = featurize_smiles(smiles, kind="graph" if self._graph else "fingerprint",
                             max_atoms=self.config.data.max_atoms,
                             radius=self._params.get("radius", 2),
                             n_bits=self._params.get("n_bits", 2048),
                             descriptor_names=self.desc_names_ or None, workers=self.workers,
                             canonical=False, progress=len(smiles) >= _PROGRESS_ROWS)
        errors = {i: f"column '{col}': {msg}" for i, msg in f.errors.items()}
        extra = None if f.descriptors is None else self._scale_descriptors(f.descriptors)
        if self._graph:
            g = f.graphs
            if extra is not None:
                g.extra = torch.from_numpy(extra)
            return g, errors
        fp = np.log1p(f.fingerprints)
        if extra is not None:
            fp = np.concatenate([fp, extra], 1)
        return torch.from_numpy(fp), errors

    def in_features(self) -> int:
        n_desc = len(self.desc_names_)
        return n_desc if self._graph else self._params["n_bits"] + n_desc

    def out_features(self) -> int:
        return len(self.targets)

    def target_tensors(self, y: Labels) -> dict[str, torch.Tensor]:
        cols = [(y[t] - m) / s for t, m, s in zip(self.targets, self.y_mean_, self.y_std_,
                                                  strict=True)]
        return {"y": torch.from_numpy(np.column_stack(cols).astype(np.float32))}

    # -- training ----------------------------------------------------------------------------
    def loss(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean loss over the observed (target, molecule) entries; NaN labels are skipped."""
        y = targets["y"].to(outputs.dtype)
        mask = torch.isfinite(y)
        if not mask.any():
            return outputs.sum() * 0.0
        o, t = outputs[mask], y[mask]
        if self.kind_ == "binary":
            return F.binary_cross_entropy_with_logits(o, t)
        return F.mse_loss(o, t)

    def values(self, outputs: torch.Tensor) -> np.ndarray:
        """Predictions in the targets' units (regression) or probabilities (binary)."""
        o = outputs.double()
        if self.kind_ == "binary":
            return torch.sigmoid(o).numpy()
        return o.numpy() * np.asarray(self.y_std_) + np.asarray(self.y_mean_)

    def conformal_outputs(self, outputs):
        # binary targets: no conformal sets yet (each label would need its own calibration)
        if self.kind_ == "binary":
            return None
        return "values", self.values(outputs), list(self.targets)

    def conformal_targets(self, y: Labels) -> np.ndarray:
        return np.column_stack([np.asarray(y[t], dtype=float) for t in self.targets])

    def _observed(self, targets: dict[str, torch.Tensor]) -> np.ndarray:
        return targets["y"].double().numpy() * np.asarray(self.y_std_) + np.asarray(self.y_mean_)

    def predictions(self, outputs: torch.Tensor) -> pd.DataFrame:
        v = self.values(outputs)
        prefix = "prob_" if self.kind_ == "binary" else "pred_"
        df = pd.DataFrame({f"{prefix}{t}": v[:, j] for j, t in enumerate(self.targets)})
        by = self.config.data.rank_by or self.targets[0]
        df["rank"] = (df[f"{prefix}{by}"].rank(method="first",
                                               ascending=self.config.data.rank_ascending)
                      .astype("Int64"))
        return df

    def score(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
        fn = _multi_metrics(self.kind_, self.targets, per_target=False)
        with np.errstate(all="ignore"):
            return {k: v for k, v in fn(self._observed(targets), self.values(outputs)).items()
                    if np.isfinite(v)}

    def evaluate(self, outputs: torch.Tensor, y: Labels, *, seed: int = 0):
        p = self.values(outputs)
        if len(self.targets) == 1:
            t = y[self.targets[0]]
            if self.kind_ == "binary":
                from healthnn.metrics import binary_metrics

                thr = self.config.eval.threshold
                return self._bootstrap(lambda a, b: binary_metrics(a, b, threshold=thr),
                                       [t.astype(int), p[:, 0]], strata=t, seed=seed)
            from healthnn.metrics import regression_metrics

            return self._bootstrap(regression_metrics, [t, p[:, 0]], seed=seed)
        Y = np.column_stack([y[t] for t in self.targets])
        return self._bootstrap(_multi_metrics(self.kind_, self.targets), [Y, p], seed=seed)

    # -- serving -------------------------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        col = self.config.data.smiles
        return {"kind": "smiles", "column": col,
                "columns": [{"name": col, "type": "string"}], "rows": True, "upload": True,
                "accept": [".csv", ".tsv", ".parquet"]}

    # -- explanations ------------------------------------------------------------------------
    def explain(self, model, df: pd.DataFrame, out: Path, *, file: Path,
                target_class: str | None = None) -> list[Path]:
        """Atom attributions (gradient x input) drawn on each molecule as an SVG (or a PNG with
        ``self.image_format = "png"``, drawn by RDKit's Cairo backend).

        D-MPNN: gradient x input on the atom features, summed per atom. Fingerprint MLP:
        gradient x input per fingerprint bit, shared among the atoms at the centre of that
        bit's environments. Red atoms push the prediction up, blue ones down. Rows whose SMILES
        cannot be used are listed in ``attributions.csv`` with the reason.
        """
        from healthnn.data.molecules import morgan_atom_map

        fmt = self.image_format
        if fmt not in ("svg", "png"):
            raise DataError(f"cannot draw molecules as {fmt!r}", hint="use svg or png")
        if fmt == "png":
            _require_cairo()
        target = target_class or self.config.data.rank_by or self.targets[0]
        if target not in self.targets:
            raise DataError(f"{target!r} is not a target of this model",
                            hint=f"--class one of: {', '.join(self.targets)}")
        k = self.targets.index(target)
        inputs, errors = self.encode(df, file)
        good = np.array([i for i in range(len(df)) if i not in errors], dtype=np.int64)
        model = model.cpu().eval()
        rows, written = [], []
        sub = self.subset(inputs, good) if len(good) else None
        if sub is not None:
            if self._graph:
                x = sub.x.clone().requires_grad_(True)
                out_t = model(sub, x)
            else:
                x = sub.clone().requires_grad_(True)
                out_t = model(x)
            out_t[:, k].sum().backward()
            contrib = (x.grad * x).detach()
            pred = self.values(out_t.detach())[:, k]
        parsed = self._standardize(df[self.config.data.smiles].tolist())
        for j, i in enumerate(good):
            mol = parsed[i][0]
            if self._graph:
                a, b = int(sub.atom_ptr[j]), int(sub.atom_ptr[j + 1])
                w = contrib[a:b].sum(1).numpy()
            else:
                bits = contrib[j, : self._params["n_bits"]].numpy()
                w = np.zeros(mol.GetNumAtoms())
                for bit, atoms in morgan_atom_map(mol, radius=self._params["radius"],
                                                  n_bits=self._params["n_bits"]).items():
                    for atom in atoms:
                        w[atom] += bits[bit] / len(atoms)
            path = out / f"row{i + 1}_{_safe(target)}.{fmt}"
            label = "probability" if self.kind_ == "binary" else "predicted"
            drawing = _draw(mol, w, f"row {i + 1}: {label} {target} = {pred[j]:.3g}", fmt)
            write_bytes(path, drawing if isinstance(drawing, bytes) else drawing.encode("utf-8"))
            written.append(path)
            rows.append({"row": i + 1, "smiles": parsed[i][1], "target": target,
                         "prediction": pred[j], "file": path.name, "error": ""})
        for i, msg in errors.items():
            rows.append({"row": i + 1, "smiles": "", "target": target, "prediction": np.nan,
                         "file": "", "error": msg})
        table = pd.DataFrame(rows).sort_values("row")
        write_table(table, out / "attributions.csv")
        return [*written, out / "attributions.csv"]

    # -- persistence -------------------------------------------------------------------------
    def outputs_on_scale_of(self, outputs: torch.Tensor, other: Any) -> torch.Tensor:
        """Regression targets are standardised per fit: put ``outputs`` on ``other``'s scale."""
        if other is self or not self.y_mean_:
            return outputs
        return rescale_outputs(outputs, self.y_mean_, self.y_std_, other.y_mean_, other.y_std_)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind_, "targets": self.targets, "y_mean": self.y_mean_,
                "y_std": self.y_std_, "descriptors": self.desc_names_,
                "descriptor_mean": self.desc_mean_, "descriptor_std": self.desc_std_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.kind_ = state["kind"]
        self.y_mean_, self.y_std_ = list(state["y_mean"]), list(state["y_std"])
        self.desc_names_ = list(state["descriptors"])
        self.desc_mean_ = list(state["descriptor_mean"])
        self.desc_std_ = list(state["descriptor_std"])


def _scaffolds(parsed: list[tuple[Any, ...]]) -> list[str]:
    """Bemis-Murcko scaffold of each standardised molecule; an acyclic molecule has none and
    is a group of its own (its canonical SMILES)."""
    from healthnn.data.molecules import bemis_murcko_scaffolds

    scaffolds = bemis_murcko_scaffolds([p[0] for p in parsed])
    return [s or f"acyclic:{p[1]}" for s, p in zip(scaffolds, parsed, strict=True)]


def _key(s: Any) -> str:
    return "" if s is None or (isinstance(s, float) and np.isnan(s)) else str(s)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _multi_metrics(kind: str, names: list[str], per_target: bool = True):
    """Metrics per target on its observed rows, and their mean over targets (macro)."""
    from healthnn.metrics import auprc, auroc, regression_metrics

    def fn(Y: np.ndarray, P: np.ndarray) -> dict[str, float]:
        per: dict[str, dict[str, float]] = {}
        for j, t in enumerate(names):
            m = np.isfinite(Y[:, j])
            try:
                if kind == "binary":
                    per[t] = {"auroc": auroc(Y[m, j], P[m, j]), "auprc": auprc(Y[m, j], P[m, j])}
                else:
                    per[t] = regression_metrics(Y[m, j], P[m, j])
            except DataError:  # e.g. one class only among this target's rows
                per[t] = {k: np.nan for k in (("auroc", "auprc") if kind == "binary"
                                              else ("rmse", "mae", "r2"))}
        keys = list(next(iter(per.values())))
        out = {}
        for key in keys:
            vals = np.array([per[t][key] for t in names], dtype=float)
            out[key] = float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
        if per_target and len(names) > 1:
            for t in names:
                for key in keys:
                    out[f"{key}_{t}"] = per[t][key]
        return out

    return fn


def _require_cairo() -> None:
    from rdkit.Chem.Draw import rdMolDraw2D

    if not hasattr(rdMolDraw2D, "MolDraw2DCairo"):  # pragma: no cover - depends on the build
        raise DataError("this RDKit was built without Cairo, so it cannot draw PNG files",
                        hint="use --format svg, or install the RDKit wheel from PyPI")


def _draw(mol: Any, weights: np.ndarray, legend: str, fmt: str = "svg") -> str | bytes:
    """An SVG (text) or PNG (bytes) of ``mol`` with atoms coloured by ``weights`` (red up, blue
    down)."""
    from rdkit.Chem.Draw import rdMolDraw2D

    scale = float(np.abs(weights).max()) or 1.0
    colors = {}
    radii = {}
    for i, w in enumerate(weights):
        a = min(abs(float(w)) / scale, 1.0)
        colors[i] = (1.0, 1.0 - 0.7 * a, 1.0 - 0.7 * a) if w >= 0 else \
            (1.0 - 0.7 * a, 1.0 - 0.7 * a, 1.0)
        radii[i] = 0.3 + 0.25 * a
    d = rdMolDraw2D.MolDraw2DCairo(420, 360) if fmt == "png" else rdMolDraw2D.MolDraw2DSVG(420, 360)
    rdMolDraw2D.PrepareAndDrawMolecule(d, mol, legend=legend, highlightAtoms=list(colors),
                                       highlightAtomColors=colors, highlightAtomRadii=radii,
                                       highlightBonds=[])
    d.FinishDrawing()
    return d.GetDrawingText()
