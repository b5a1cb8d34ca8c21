import numpy as np

from healthnn.data.split import split_indices


def test_groups_never_cross_splits():
    groups = np.repeat(np.arange(50), 3).astype(str)
    parts = split_indices(150, test_size=0.2, val_size=0.2, seed=1, groups=groups)
    seen = [set(groups[idx]) for idx in parts.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert sum(len(v) for v in parts.values()) == 150


def test_stratified_keeps_proportions_and_is_deterministic():
    y = np.array([1] * 30 + [0] * 170)
    a = split_indices(200, test_size=0.2, val_size=0.2, seed=3, strata=y)
    b = split_indices(200, test_size=0.2, val_size=0.2, seed=3, strata=y)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert y[a["test"]].sum() == 6 and len(a["test"]) == 40
    assert sorted(np.concatenate(list(a.values()))) == list(range(200))
