"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_table

pytest_plugins = ["serve_fixtures"]  # server tests: bundles, keys, uvicorn, PostgreSQL


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    path = tmp_path / "patients.csv"
    make_table().to_csv(path, index=False)
    return path


@pytest.fixture
def one_thread():
    """Small graphs parallelise poorly; on a busy 2-core runner two threads are much slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
