"""Train / validation / test splits that never put one patient in two splits."""

from __future__ import annotations

import numpy as np

from healthnn.errors import DataError

__all__ = ["split_indices", "holdout"]


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
