"""Train / validation / test splits that never put one patient in two splits."""

from __future__ import annotations

import numpy as np

from healthnn.errors import DataError

__all__ = ["split_indices", "holdout", "scaffold_split", "kfold_indices"]


def holdout(
    n: int,
    fraction: float,
    *,
    seed: int,
    strata: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into (keep, held_out) with about ``fraction`` of rows held out.

    With ``groups``, whole groups (patients) are held out. With ``strata``, each stratum is
    split separately so class or event proportions are kept; with both, groups are stratified
    by their most frequent stratum. Deterministic for a seed.

    >>> keep, out = holdout(10, 0.2, seed=0)
    >>> len(keep), len(out)
    (8, 2)
    """
    rng = np.random.default_rng(seed)
    if groups is not None:
        codes, inverse = np.unique(groups, return_inverse=True)
        unit_strata = None
        if strata is not None:
            unit_strata = np.empty(len(codes), dtype=object)
            for g in range(len(codes)):
                vals, counts = np.unique(strata[inverse == g], return_counts=True)
                unit_strata[g] = vals[np.argmax(counts)]
        out_units = _choose(len(codes), fraction, rng, unit_strata)
        mask = np.isin(inverse, out_units)
    else:
        mask = np.zeros(n, dtype=bool)
        mask[_choose(n, fraction, rng, strata)] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _choose(n: int, fraction: float, rng: np.random.Generator, strata: np.ndarray | None) -> np.ndarray:
    if strata is None:
        k = int(round(n * fraction))
        k = min(max(k, 1), n - 1)
        return rng.permutation(n)[:k]
    chosen = []
    levels = np.unique(strata.astype(str))
    labels = strata.astype(str)
    for level in levels:
        idx = np.flatnonzero(labels == level)
        k = int(round(len(idx) * fraction))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        chosen.append(rng.permutation(idx)[:k])
    return np.sort(np.concatenate(chosen))


def split_indices(
    n: int,
    *,
    test_size: float | None,
    val_size: float,
    seed: int,
    strata: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Indices for ``train``, ``val`` and (when ``test_size`` is given) ``test``.

    Validation always comes out of the rows left for training.
    """
    if n < 4:
        raise DataError(f"only {n} row(s): too few to split into train, validation and test")
    idx = np.arange(n)
    out: dict[str, np.ndarray] = {}
    if test_size is not None:
        keep, test = holdout(n, test_size, seed=seed, strata=strata, groups=groups)
        out["test"] = test
        idx = keep
    sub_strata = None if strata is None else strata[idx]
    sub_groups = None if groups is None else groups[idx]
    train, val = holdout(len(idx), val_size, seed=seed + 1, strata=sub_strata, groups=sub_groups)
    out["train"] = idx[train]
    out["val"] = idx[val]
    for name in ("train", "val", "test"):
        if name in out and len(out[name]) == 0:
            raise DataError(
                f"the {name} split is empty",
                hint="use more data, or change split.test_size / split.val_size",
            )
    return {k: out[k] for k in ("train", "val", "test") if k in out}


def scaffold_split(
    scaffolds: list[str] | np.ndarray,
    *,
    test_size: float | None,
    val_size: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Bemis-Murcko scaffold split: molecules sharing a scaffold always land in one split.

    Balanced as in chemprop's ``scaffold_balanced``: scaffold sets larger than half the
    test (or validation) size go to training first; the other sets are shuffled with ``seed``
    and fill test, then validation, then training. The same scaffolds and seed always give the
    same split. ``val_size`` is a fraction of the rows left for training, as in
    :func:`split_indices`.

    >>> parts = scaffold_split(["a", "a", "b", "c", "c", "c", "d", "e"], test_size=0.25,
    ...                        val_size=0.2, seed=0)
    >>> sorted(len(v) for v in parts.values())
    [1, 2, 5]
    """
    scaffolds = np.asarray(scaffolds, dtype=object)
    n = len(scaffolds)
    if n < 4:
        raise DataError(f"only {n} row(s): too few to split into train, validation and test")
    _, inverse = np.unique(scaffolds.astype(str), return_inverse=True)
    sets = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    n_test = 0 if test_size is None else int(round(n * test_size))
    n_val = int(round((n - n_test) * val_size))
    limit = max(n_test, n_val) / 2
    big = [s for s in sets if len(s) > limit]
    small = [s for s in sets if len(s) <= limit]
    big.sort(key=lambda s: (-len(s), s[0]))
    rng = np.random.default_rng(seed)
    small = [small[i] for i in rng.permutation(len(small))]
    out: dict[str, list[np.ndarray]] = {"train": list(big), "val": [], "test": []}
    filled = {"test": 0, "val": 0}
    for s in small:
        if filled["test"] + len(s) <= n_test:
            out["test"].append(s)
            filled["test"] += len(s)
        elif filled["val"] + len(s) <= n_val:
            out["val"].append(s)
            filled["val"] += len(s)
        else:
            out["train"].append(s)
    parts = {k: np.sort(np.concatenate(v)) if v else np.zeros(0, dtype=np.int64)
             for k, v in out.items()}
    names = ("train", "val", "test") if test_size is not None else ("train", "val")
    for name in names:
        if len(parts[name]) == 0:
            raise DataError(f"the {name} split is empty after grouping molecules by scaffold",
                            hint="use more data, or change split.test_size / split.val_size")
    return {k: parts[k] for k in names}


def kfold_indices(
    n: int,
    folds: int,
    *,
    seed: int,
    strata: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Test-row positions of each of ``folds`` folds; every row is in exactly one.

    With ``strata`` each class (or event status) is dealt round-robin over the folds after a
    seeded shuffle, so every fold keeps the proportions; with ``groups`` whole groups (patients)
    are dealt, stratified by each group's most frequent stratum. Too few rows, groups, or rows
    of the smallest class for the number of folds is a :class:`~healthnn.errors.ConfigError`
    naming ``split.folds``.

    >>> [len(f) for f in kfold_indices(10, 3, seed=0)]
    [4, 3, 3]
    """
    from healthnn.errors import ConfigError

    rng = np.random.default_rng(seed)
    if groups is not None:
        codes, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        units = len(codes)
        unit_strata = None
        if strata is not None:
            unit_strata = np.empty(units, dtype=object)
            for g in range(units):
                vals, counts = np.unique(strata[inverse == g].astype(str), return_counts=True)
                unit_strata[g] = vals[np.argmax(counts)]
        what = "groups (patients)"
    else:
        inverse, units = np.arange(n), n
        unit_strata = None if strata is None else np.asarray(strata).astype(str)
        what = "rows"
    if units < folds:
        raise ConfigError(f"{folds} folds need at least {folds} {what}; the data has {units}",
                          key="split.folds", hint=f"use split.folds = {max(units, 2)} or fewer")
    assignment = np.empty(units, dtype=np.int64)
    if unit_strata is None:
        order = rng.permutation(units)
        assignment[order] = np.arange(units) % folds
    else:
        levels, counts = np.unique(unit_strata, return_counts=True)
        smallest = int(np.argmin(counts))
        if counts[smallest] < folds:
            raise ConfigError(
                f"{folds} folds need at least {folds} {what} of every class; class "
                f"{str(levels[smallest])!r} has {int(counts[smallest])}", key="split.folds",
                hint=f"use split.folds = {max(int(counts[smallest]), 2)} or fewer, or "
                     "split.method = 'random'")
        offset = 0
        for level in levels:
            idx = rng.permutation(np.flatnonzero(unit_strata == level))
            assignment[idx] = (np.arange(len(idx)) + offset) % folds
            offset += len(idx)  # continue the deal where the last class stopped: even folds
    fold_of_row = assignment[inverse]
    return [np.flatnonzero(fold_of_row == k) for k in range(folds)]
