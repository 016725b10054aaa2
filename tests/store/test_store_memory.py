"""Tests for the in-memory store used by the PromQL runner and rule tests."""

from __future__ import annotations

import math

import numpy as np
from nightowl.store.api import Appender, Querier
from nightowl.store.memory import MemoryStore

from nightowl.model import (
    STALE_NAN,
    Labels,
    Matcher,
    MatchOp,
    MetricMeta,
    MetricType,
    Sample,
    SampleBatch,
    stale_mask,
)


def _batch(*rows: tuple[Labels, int, float]) -> SampleBatch:
    return SampleBatch.from_samples(Sample(*r) for r in rows)


async def test_append_select_sorted_and_ranged() -> None:
    """Samples come back sorted by time and cut to the inclusive range."""
    store = MemoryStore()
    assert isinstance(store, Appender) and isinstance(store, Querier)
    a = Labels.of("m", job="x")
    res = await store.append(_batch((a, 3000, 3.0), (a, 1000, 1.0), (a, 2000, 2.0)))
    assert res.accepted == 3 and res.series_created == 1
    (d,) = store.select([Matcher("__name__", MatchOp.EQ, "m")], 1000, 2000)
    assert d.timestamps.tolist() == [1000, 2000]
    assert d.values.tolist() == [1.0, 2.0]
    assert store.select([Matcher("__name__", MatchOp.EQ, "m")], 4000, 5000) == []


async def test_duplicates_and_stale_bits() -> None:
    """Same timestamp: equal bits are a no-op, other values are rejected duplicates."""
    store = MemoryStore()
    a = Labels.of("m")
    await store.append(_batch((a, 1000, STALE_NAN)))
    res = await store.append(_batch((a, 1000, STALE_NAN), (a, 1000, math.nan), (a, 1000, 1.0)))
    assert res.accepted == 1 and res.duplicate == 2
    (d,) = store.select([], 0, 10_000)
    assert stale_mask(d.values).tolist() == [True]


def test_labels_and_metadata() -> None:
    """Label names and values honour matchers; metadata is kept by family."""
    store = MemoryStore()
    store.add_series(Labels.of("up", job="a", instance="1"), [0], [1.0])
    store.add_series(Labels.of("up", job="b"), [0], [0.0])
    store.set_metadata("up", MetricMeta(MetricType.GAUGE, "Target up."))
    assert store.label_names() == ["__name__", "instance", "job"]
    assert store.label_values("job") == ["a", "b"]
    assert store.label_values("job", [Matcher("instance", MatchOp.EQ, "")]) == ["b"]
    assert store.metadata("up")["up"].type is MetricType.GAUGE
    assert store.metadata("nope") == {}
    assert store.rollups([], 0, 1, 300_000) is None
    assert np.array_equal(store.select([], 0, 0)[0].timestamps, np.array([0]))
