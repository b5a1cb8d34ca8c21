"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import make_table


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    path = tmp_path / "patients.csv"
    make_table().to_csv(path, index=False)
    return path
