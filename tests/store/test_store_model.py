"""Random batches, late samples and compactions against a plain-Python model of the rules."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.store import Store, StoreOptions

from nightowl.model import NORMAL_NAN_BITS, STALE_NAN_BITS, Labels, SampleBatch

SERIES = [Labels.of("m", k=str(i)) for i in range(3)]
VALUE_BITS = [
    int(np.float64(x).view(np.uint64)) for x in (0.0, 1.0, 2.5, -0.0, float("inf"), 1e300)
] + [STALE_NAN_BITS, NORMAL_NAN_BITS]
_MIN = -(2**63)

sample = st.tuples(
    st.integers(0, 2),  # series
    st.integers(-20, 60).map(lambda x: x * 1000 * 60 * 17),  # spans several chunk windows
    st.sampled_from(VALUE_BITS),
)
step = st.one_of(
    st.lists(sample, min_size=1, max_size=120).map(lambda b: ("append", b)),  # >= 32: bulk path
    st.booleans().map(lambda force: ("compact", force)),
)


def _model_append(store: dict, maxt: dict, batch: list, window: int) -> tuple[int, int, int]:
    accepted = dup = ooo = 0
    ordered = sorted(enumerate(batch), key=lambda x: (x[1][0], x[1][1], x[0]))
    first: dict[tuple[int, int], int] = {}
    unique = []
    for _, (s, t, bits) in ordered:
        if (s, t) in first:
            if first[(s, t)] == bits:
                accepted += 1
            else:
                dup += 1
            continue
        first[(s, t)] = bits
        unique.append((s, t, bits))
    before = dict(maxt)
    for s, t, bits in unique:
        mt = before.get(s, _MIN)
        series = store.setdefault(s, {})
        if t > mt:
            series[t] = bits
            accepted += 1
            maxt[s] = max(maxt.get(s, _MIN), t)
        elif t in series:  # a stored timestamp: no-op if bit-identical, else duplicate
            if series[t] == bits:
                accepted += 1
            else:
                dup += 1
        elif t >= max(_MIN, mt - window):
            series[t] = bits
            accepted += 1
        else:
            ooo += 1
    return accepted, dup, ooo


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([0, 3_600_000, 10**12]), st.lists(step, min_size=1, max_size=12))
def test_store_matches_model(window: int, steps: list) -> None:
    """Whatever the order of appends and compactions, the store holds what the rules say."""
    opts = StoreOptions(
        compaction_interval_ms=0,
        retention_time_ms=0,
        out_of_order_window_ms=window,
        rollup_5m_after_ms=0,
        rollup_1h_after_ms=0,
    )
    model: dict[int, dict[int, int]] = {}
    maxt: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "m.db", options=opts) as s:
        for kind, arg in steps:
            if kind == "compact":
                s.compact_sync(force=arg)
                continue
            refs = np.array([x[0] for x in arg])
            ts = np.array([x[1] for x in arg])
            vs = np.array([x[2] for x in arg], dtype=np.uint64).view(np.float64)
            res = s.append_sync(SampleBatch(SERIES, refs, ts, vs))
            expected = _model_append(model, maxt, arg, window)
            assert (res.accepted, res.duplicate, res.out_of_order) == expected
            assert res.over_limit == 0
        s.compact_sync(force=True)
        got = {x.labels: x for x in s.select([], _MIN, 2**63 - 1)}
        for i, series in model.items():
            if not series:
                continue
            data = got[SERIES[i]]
            want_t = sorted(series)
            assert data.timestamps.tolist() == want_t
            assert data.values.view(np.uint64).tolist() == [series[t] for t in want_t]
        assert len(got) == sum(1 for v in model.values() if v)
