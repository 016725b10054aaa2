"""The label index answers =, !=, =~ and !~ exactly like brute force, at scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nightowl.store import Store, StoreOptions

from nightowl.model import Labels, Matcher, SampleBatch

N = 20_000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory):
    """20,000 series over 4 metrics, with optional and high-cardinality labels."""
    path = tmp_path_factory.mktemp("idx") / "x.db"
    series = []
    for i in range(N):
        labels = {
            "__name__": ("http_requests_total", "up", "node_cpu", "mem")[i % 4],
            "instance": f"host-{i % 997:04d}:9100",
            "job": ("api", "web", "worker", "batch", "db")[i % 5],
            "id": str(i),
        }
        if i % 3 == 0:
            labels["code"] = ("200", "404", "500")[(i // 3) % 3]
        if i % 7 == 0:
            labels["env"] = "prod"
        series.append(Labels.from_dict(labels))
    refs = np.arange(N, dtype=np.int64)
    batch = SampleBatch(series, refs, np.full(N, 1000, np.int64), np.ones(N))
    store = Store.open(path, options=StoreOptions(compaction_interval_ms=0, retention_time_ms=0))
    # Two batches: the index must also refresh incrementally.
    half = N // 2
    store.append_sync(
        SampleBatch(series[:half], refs[:half], batch.timestamps[:half], batch.values[:half])
    )
    store.select([Matcher("job", "=", "api")], 0, 2000)
    store.append_sync(
        SampleBatch(series[half:], refs[:half], batch.timestamps[half:], batch.values[half:])
    )
    yield store, series
    store.close()


CASES = [
    [Matcher("__name__", "=", "up")],
    [Matcher("__name__", "=", "up"), Matcher("job", "!=", "api")],
    [Matcher("job", "=~", "api|web")],
    [Matcher("job", "!~", "api|w.*")],
    [Matcher("instance", "=~", "host-00[0-4].*"), Matcher("code", "=", "404")],
    [Matcher("code", "=", "")],  # series without a code label
    [Matcher("code", "!=", "")],  # series with one
    [Matcher("env", "=~", "prod|")],  # prod or absent
    [Matcher("env", "!~", ".+")],  # absent only
    [Matcher("nosuch", "=", "")],  # every series
    [Matcher("nosuch", "=~", ".+")],  # none
    [Matcher("id", "=~", "1.*5"), Matcher("__name__", "!=", "mem")],
    [Matcher("job", "=~", "API")],  # case-sensitive, anchored: none
    [Matcher("job", "=~", "ap")],  # anchored: not a substring match
    [Matcher("__name__", "=~", ".*"), Matcher("job", "=", "db"), Matcher("env", "=", "prod")],
]


@pytest.mark.parametrize("matchers", CASES, ids=lambda ms: ",".join(map(str, ms)))
def test_matchers_equal_brute_force(big_store, matchers: list[Matcher]) -> None:
    """Each matcher set selects exactly the series brute force selects."""
    store, series = big_store
    expected = sorted(s for s in series if all(m.matches(s.get(m.name)) for m in matchers))
    assert store.series(matchers) == expected
    got = store.select(matchers, 0, 2000)
    assert sorted(x.labels for x in got) == expected


def test_label_names_and_values_at_scale(big_store) -> None:
    """label_names / label_values cover all series, with and without matchers."""
    store, series = big_store
    assert store.label_names() == ["__name__", "code", "env", "id", "instance", "job"]
    assert store.label_values("job") == ["api", "batch", "db", "web", "worker"]
    assert len(store.label_values("id")) == N
    got = store.label_values("code", [Matcher("__name__", "=", "up")])
    assert got == sorted({s.get("code") for s in series if s.name == "up"} - {""})
    assert store.label_names([Matcher("env", "=", "prod"), Matcher("code", "=", "")]) == [
        "__name__",
        "env",
        "id",
        "instance",
        "job",
    ]


def test_index_is_rebuilt_after_series_are_deleted(tmp_path: Path) -> None:
    """When retention removes series, readers stop returning them."""
    opts = StoreOptions(compaction_interval_ms=0, retention_time_ms=10_000)
    with Store.open(tmp_path / "x.db", options=opts) as s:
        old, new = Labels.of("m", k="old"), Labels.of("m", k="new")
        s.append_sync(SampleBatch([old], [0], [1000], [1.0]))
        assert s.series([]) == [old]
        s.append_sync(SampleBatch([new], [0], [100_000], [1.0]))
        res = s.compact_sync()
        assert res.series_deleted == 1
        assert s.series([]) == [new]
        assert s.label_values("k") == ["new"]
        # The writer forgot the series: it can come back as a new one.
        assert s.append_sync(SampleBatch([old], [0], [100_000], [2.0])).series_created == 1
