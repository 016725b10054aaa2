"""Fixtures for the SQLite store tests: real database files in temporary directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from nightowl.store import Store, StoreOptions

from nightowl.model import Labels, SampleBatch

#: No background compaction and no time retention, so tests decide when things happen.
QUIET = StoreOptions(compaction_interval_ms=0, retention_time_ms=0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of a database file that does not exist yet."""
    return tmp_path / "data" / "nightowl.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    """A writable store without background compaction or retention."""
    s = Store.open(db_path, options=QUIET)
    try:
        yield s
    finally:
        s.close()


def _grid_batch(
    series: list[Labels], start: int, count: int, step: int = 15_000, value: float = 0.0
) -> SampleBatch:
    """Every series gets `count` samples from `start` every `step` ms; value = base + index."""
    n = len(series)
    refs = np.repeat(np.arange(n, dtype=np.int64), count)
    ts = np.tile(start + step * np.arange(count, dtype=np.int64), n)
    vs = np.tile(np.arange(count, dtype=np.float64), n) + value + refs * 1000.0
    return SampleBatch(list(series), refs, ts, vs)


@pytest.fixture
def grid():
    """The `grid_batch(series, start, count, step=15_000, value=0.0)` builder."""
    return _grid_batch


@pytest.fixture
def quiet() -> StoreOptions:
    """Options without background compaction or time retention."""
    return QUIET
