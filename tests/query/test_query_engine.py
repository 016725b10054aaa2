"""The evaluator core, through scripts in Prometheus's test format (no shared/ needed).

Each script's expectations are Prometheus 3.x answers worked out by hand from its
semantics; the runner also re-checks every instant eval pinned with `@` and in
range mode, as Prometheus's own runner does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from nightowl.query.engine import Engine, EngineOptions
from nightowl.query.promqltest import run_script
from nightowl.query.values import Matrix, Scalar, String, Vector
from nightowl.store.memory import MemoryStore

from nightowl.errors import QueryError
from nightowl.model import Labels


def _run(script: str) -> None:
    results = run_script(script, name="inline.test")
    assert results, "the script has no eval"
    bad = [f"{r.where}: {r.expr}: {r.message}" for r in results if r.status != "pass"]
    assert not bad, "\n".join(bad)


SELECTORS = """
load 1m
  metric{job="a"} 0+1x20
  metric{job="b"} 0+2x20

eval instant at 10m metric offset 2m
  metric{job="a"} 8
  metric{job="b"} 16

eval instant at 10m metric offset -2m
  metric{job="a"} 12
  metric{job="b"} 24

eval instant at 10m metric @ 5m
  metric{job="a"} 5
  metric{job="b"} 10

eval instant at 10m metric @ 300 offset 1m
  metric{job="a"} 4
  metric{job="b"} 8

eval range from 0 to 4m step 2m metric @ 10m
  metric{job="a"} 10 10 10
  metric{job="b"} 20 20 20

eval range from 1m to 3m step 1m metric{job="a"} @ start()
  metric{job="a"} 1 1 1

eval range from 1m to 3m step 1m metric{job="a"} @ end()
  metric{job="a"} 3 3 3

eval instant at 10m metric{job=~"a|c"}
  metric{job="a"} 10

eval instant at 10m metric{job!~"a"}
  metric{job="b"} 20

eval instant at 10m {__name__=~"met.*", job!="a"}
  metric{job="b"} 20

eval instant at 10m count_over_time(metric[5m])
  {job="a"} 5
  {job="b"} 5

eval instant at 10m metric[3m]
  expect range vector from 8m to 10m step 1m
  metric{job="a"} 8 9 10
  metric{job="b"} 16 18 20
"""


def test_selectors_offset_at_and_windows() -> None:
    """Offsets (negative too), @ with start()/end(), matchers, left-open windows."""
    _run(SELECTORS)


SUBQUERIES = """
load 1m
  metric{job="a"} 0+1x20

eval instant at 10m max_over_time(metric[5m:2m])
  {job="a"} 10

eval instant at 10m sum_over_time(metric[5m:2m])
  {job="a"} 24

eval instant at 10m count_over_time(metric[5m:2m] offset 1m)
  {job="a"} 2

eval instant at 10m count_over_time(metric[5m:])
  {job="a"} 5

eval instant at 10m count_over_time(metric[5m:1m] @ 3m)
  {job="a"} 4

eval instant at 10m metric[4m:2m]
  expect range vector from 8m to 10m step 2m
  metric{job="a"} 8 10

eval range from 5m to 7m step 1m sum_over_time(metric[3m:2m])
  {job="a"} 4 10 6

eval instant at 10m max_over_time(rate(metric[2m])[6m:3m])
  {job="a"} 0.016666666666666666
"""


def test_subqueries_align_to_absolute_steps() -> None:
    """Subquery steps are multiples of the step in absolute time; offset and @ apply."""
    _run(SUBQUERIES)


STALENESS = """
load 1m
  gauge 1 _ _ _ _ _ _ 2 stale

eval instant at 4m59s gauge
  gauge 1

eval instant at 5m gauge

eval instant at 7m30s gauge
  gauge 2

eval instant at 8m gauge

eval range from 0 to 9m step 1m gauge
  gauge 1 1 1 1 1 _ _ 2 _ _
"""


def test_lookback_and_staleness() -> None:
    """A sample is visible for 5 m (left-open); a staleness marker ends it at once."""
    _run(STALENESS)


OPERATORS = r"""
load 1m
  req{job="a", inst="1"} 10
  req{job="a", inst="2"} 20
  req{job="b", inst="1"} 30
  limit{job="a"} 100
  limit{job="b"} 200
  info{job="a", team="x"} 1

eval instant at 0 req / on(job) group_left limit
  {job="a", inst="1"} 0.1
  {job="a", inst="2"} 0.2
  {job="b", inst="1"} 0.15

eval instant at 0 limit / on(job) group_right req
  {job="a", inst="1"} 10
  {job="a", inst="2"} 5
  {job="b", inst="1"} 6.666666666666667

eval instant at 0 req * on(job) group_left(team) info
  {job="a", inst="1", team="x"} 10
  {job="a", inst="2", team="x"} 20

eval instant at 0 limit / on(job) req
  expect fail regex: @DUPLICATE@

eval instant at 0 req + ignoring(inst) limit
  expect fail regex: ^multiple matches for labels: many-to-one matching must be explicit

eval instant at 0 req and on(job) info
  req{job="a", inst="1"} 10
  req{job="a", inst="2"} 20

eval instant at 0 req unless on(job) info
  req{job="b", inst="1"} 30

eval instant at 0 limit or info
  limit{job="a"} 100
  limit{job="b"} 200
  info{job="a", team="x"} 1

eval instant at 0 req > 15
  req{job="a", inst="2"} 20
  req{job="b", inst="1"} 30

eval instant at 0 15 < req
  req{job="a", inst="2"} 20
  req{job="b", inst="1"} 30

eval instant at 0 req > bool 15
  {job="a", inst="1"} 0
  {job="a", inst="2"} 1
  {job="b", inst="1"} 1

eval instant at 0 -req
  {job="a", inst="1"} -10
  {job="a", inst="2"} -20
  {job="b", inst="1"} -30

eval instant at 0 req % 7 ^ 2
  {job="a", inst="1"} 10
  {job="a", inst="2"} 20
  {job="b", inst="1"} 30

eval instant at 0 2 ^ 3 ^ 2
  512

eval instant at 0 limit atan2 0
  {job="a"} 1.5707963267948966
  {job="b"} 1.5707963267948966

eval instant at 0 1 > bool 2
  0

eval instant at 0 req{inst="1"} == on(job) limit - 90
  {job="a"} 10
"""


_DUPLICATE = (
    r'^found duplicate series for the match group \{job="a"\} on the right hand-side of the '
    r'operation: \[\{__name__="req", inst="1", job="a"\}, '
    r'\{__name__="req", inst="2", job="a"\}\];many-to-many matching not allowed'
)


def test_binary_operators_and_matching() -> None:
    """Arithmetic, comparisons, bool, set operators, group_left/right and their errors."""
    _run(OPERATORS.replace("@DUPLICATE@", _DUPLICATE))


AGGREGATIONS = """
load 1m
  req{job="a", inst="1"} 10
  req{job="a", inst="2"} 20
  req{job="b", inst="1"} 30
  limit{job="a"} 100
  limit{job="b"} 200

eval instant at 0 sum by (job) (req)
  {job="a"} 30
  {job="b"} 30

eval instant at 0 sum without (inst) (req)
  {job="a"} 30
  {job="b"} 30

eval instant at 0 avg(req)
  {} 20

eval instant at 0 count(req)
  {} 3

eval instant at 0 group(req)
  {} 1

eval instant at 0 min(req)
  {} 10

eval instant at 0 max by (inst) (req)
  {inst="1"} 30
  {inst="2"} 20

eval instant at 0 stddev(req)
  {} 8.16496580927726

eval instant at 0 stdvar(req)
  {} 66.66666666666667

eval instant at 0 quantile(0.5, req)
  {} 20

eval instant at 0 quantile(0.25, req)
  {} 15

eval instant at 0 count_values("v", limit)
  {v="100"} 1
  {v="200"} 1

eval_ordered instant at 0 topk(2, req)
  req{job="b", inst="1"} 30
  req{job="a", inst="2"} 20

eval_ordered instant at 0 bottomk by (job) (1, req)
  req{job="a", inst="1"} 10
  req{job="b", inst="1"} 30

eval instant at 0 limitk(1, req)
  req{job="a", inst="1"} 10

eval instant at 0 sum by (__name__) (req)
  req 60

eval instant at 0 topk(0, req)

clear

load 1m
  t{i="a"} 1
  t{i="b"} 1
  t{i="c"} 1
  t{i="d"} 0

eval_ordered instant at 0 bottomk(2, t)
  t{i="d"} 0
  t{i="b"} 1

eval instant at 0 topk(2, t)
  t{i="a"} 1
  t{i="b"} 1

clear

load 1m
  req{job="a", inst="1"} 10
  req{job="a", inst="2"} 20
  req{job="b", inst="1"} 30

eval instant at 0 topk(NaN, req)
  expect fail msg: Parameter value is NaN

clear

load 1m
  c{i="1"} 1 2 3 _ _
  c{i="2"} _ _ 10 20 30
  big{i="1"} 1e308
  big{i="2"} 1e308
  big{i="3"} -1e308

eval range from 0 to 4m step 1m sum(c)
  {} 1 2 13 23 33

eval range from 0 to 4m step 1m topk(1, c)
  c{i="1"} 1 2 _ _ _
  c{i="2"} _ _ 10 20 30

eval instant at 0 avg(big)
  {} 3.3333333333333335e307

eval instant at 0 sum(big)
  {} +Inf
"""


def test_aggregations() -> None:
    """Every aggregation, grouping with by/without, over steps where series come and go."""
    _run(AGGREGATIONS)


def test_runner_fails_wrong_expectations() -> None:
    """A result that differs from the script's expectation is a failure, never a pass."""
    script = """
load 1m
  m{a="1"} 1+1x5

eval instant at 2m m
  m{a="1"} 4

eval instant at 2m m
  m{a="2"} 3

eval instant at 2m m

eval instant at 2m m * 2
  {a="1"} 6
  {a="3"} 1

eval instant at 2m m
  expect fail

eval range from 0 to 2m step 1m m
  m{a="1"} 1 2 4

eval range from 0 to 2m step 1m m
  m{a="1"} 1 2

eval instant at 2m sum(m)
  5

eval instant at 2m m
  m{a="1"} 3
"""
    results = run_script(script, name="wrong.test")
    assert [r.status for r in results] == ["fail"] * 8 + ["pass"]
    assert all(r.where.startswith("wrong.test:") for r in results)
    assert results[0].line == 5


def test_runner_skips_native_histograms() -> None:
    """Native-histogram evals are skipped with the reason, not passed."""
    script = """
load 1m
  h {{schema:0 sum:1 count:1}}x3
  f 1

eval instant at 1m h
  h {{schema:0 sum:1 count:1}}

eval instant at 1m count({__name__=~"h|f"})
  {} 2

eval instant at 1m f
  f 1
"""
    results = run_script(script)
    assert [r.status for r in results] == ["skip", "skip", "pass"]
    assert "native histograms" in results[0].message


def test_runner_value_notation() -> None:
    """Expanding notation: a+bxN, a-bxN, axN, _, _xN, stale; range expectations with _."""
    script = """
load 1m
  up 0+10x3 1-1x2 _x2 5x1 stale 7

eval range from 0 to 11m step 1m up
  up 0 10 20 30 1 0 -1 -1 -1 5 5 _

eval instant at 12m up
  up 7
"""
    assert [r.status for r in run_script(script)] == ["pass", "pass"]
    wrong = script.replace("5 5 _", "5 5 5")
    assert [r.status for r in run_script(wrong)] == ["fail", "pass"]


# -- the engine API ------------------------------------------------------------------


def _store() -> MemoryStore:
    s = MemoryStore()
    for i in range(3):
        s.add_series(Labels.of("m", i=str(i)), range(0, 3_600_000, 15_000), np.arange(240.0) * i)
    return s


def test_instant_and_range_result_types() -> None:
    """Instant: Vector/Scalar/String/Matrix; range: Matrix sorted by labels."""
    eng = Engine(_store())
    v = eng.instant("m", 60_000).value
    assert isinstance(v, Vector) and [s.v for s in v] == [0.0, 4.0, 8.0]
    assert isinstance(eng.instant("1 + 2", 0).value, Scalar)
    assert eng.instant('"x"', 5).value == String(5, "x")
    assert isinstance(eng.instant("m[1m]", 60_000).value, Matrix)
    r = eng.range("m * 2", 0, 120_000, 60_000).value
    assert isinstance(r, Matrix)
    assert [s.labels for s in r] == sorted(s.labels for s in r)
    assert r[2].timestamps.tolist() == [0, 60_000, 120_000]
    assert r[2].values.tolist() == [0.0, 16.0, 32.0]
    sc = eng.range("time()", 0, 120_000, 60_000).value
    assert sc[0].labels == Labels() and sc[0].values.tolist() == [0.0, 60.0, 120.0]


def test_lookback_override() -> None:
    """A per-query lookback delta (the API's `lookback_delta`) replaces the engine's."""
    s = MemoryStore()
    s.add_series(Labels.of("g"), [0], [1.0])
    eng = Engine(s)
    assert len(eng.instant("g", 200_000).value) == 1
    assert len(eng.instant("g", 200_000, lookback_delta_ms=60_000).value) == 0
    r = eng.range("g", 0, 300_000, 60_000, lookback_delta_ms=120_001)
    assert r.value[0].timestamps.tolist() == [0, 60_000, 120_000]
    with pytest.raises(QueryError):
        eng.instant("g", 0, lookback_delta_ms=-1)


def test_range_of_range_vector_is_refused() -> None:
    """A range query over a range vector is a bad_data error."""
    with pytest.raises(QueryError) as info:
        Engine(_store()).range("m[5m]", 0, 60_000, 60_000)
    assert info.value.kind == "bad_data"
    assert "range vector" in info.value.message


def test_limit_points_per_series() -> None:
    """More than 11,000 steps is Prometheus's resolution error."""
    eng = Engine(_store())
    with pytest.raises(QueryError) as info:
        eng.range("m", 0, 11_000_000, 1_000)
    assert "exceeded maximum resolution of 11,000 points per timeseries" in info.value.message
    assert eng.range("m", 0, 10_999_000, 1_000).value  # 11,000 points are fine


def test_limit_samples_loaded() -> None:
    """Loading more samples than allowed is an execution error."""
    eng = Engine(_store(), EngineOptions(max_samples=100))
    with pytest.raises(QueryError) as info:
        eng.instant("count_over_time(m[1h])", 3_600_000)
    assert info.value.kind == "execution"
    assert "too many samples" in info.value.message
    assert (
        Engine(_store(), EngineOptions(max_samples=1000))
        .instant("count_over_time(m[1h])", 3_600_000)
        .value
    )


def test_limit_counts_subquery_points() -> None:
    """A fine-grained subquery's points count against the sample limit too."""
    q = "max_over_time(m[1h:1s])"
    with pytest.raises(QueryError, match="too many samples"):
        Engine(_store(), EngineOptions(max_samples=5000)).instant(q, 3_600_000)
    assert Engine(_store(), EngineOptions(max_samples=20_000)).instant(q, 3_600_000).value


def test_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A query past its deadline raises a timeout error."""
    import nightowl.query.engine as engine_mod

    ticks = iter(range(0, 10**6, 10))
    monkeypatch.setattr(engine_mod.time, "monotonic", lambda: float(next(ticks)))
    eng = Engine(_store(), EngineOptions(timeout_s=5))
    with pytest.raises(QueryError) as info:
        eng.instant("sum(m) + sum(m) + sum(m)", 60_000)
    assert info.value.kind == "timeout"


def test_duplicate_labelsets_after_name_removal() -> None:
    """Series that collide once `__name__` is dropped are an error at the end."""
    s = MemoryStore()
    s.add_series(Labels.of("a", x="1"), [0], [1.0])
    s.add_series(Labels.of("b", x="1"), [0], [2.0])
    eng = Engine(s)
    with pytest.raises(QueryError, match="same labelset"):
        eng.instant('-{__name__=~"a|b"}', 0)
    # names a query keeps tell the series apart
    v = eng.instant('sum by (__name__) ({__name__=~"a|b"})', 0).value
    assert sorted((x.labels.name, x.v) for x in v) == [("a", 1.0), ("b", 2.0)]


def test_nan_and_inf_values() -> None:
    """NaN and Inf samples flow through like any value."""
    s = MemoryStore()
    s.add_series(Labels.of("v", k="nan"), [0], [math.nan])
    s.add_series(Labels.of("v", k="inf"), [0], [math.inf])
    eng = Engine(s)
    v = {x.labels.get("k"): x.v for x in eng.instant("v * 2", 0).value}
    assert math.isnan(v["nan"]) and v["inf"] == math.inf
    assert eng.instant("max(v)", 0).value[0].v == math.inf
    assert len(eng.instant("v == v", 0).value) == 1


@pytest.mark.parametrize("script", [SELECTORS, SUBQUERIES, STALENESS, OPERATORS, AGGREGATIONS])
def test_scripts_over_the_sqlite_store(tmp_path: Path, script: str) -> None:
    """The same answers when the samples come from a real database file."""
    from itertools import count

    from nightowl.store.options import StoreOptions
    from nightowl.store.store import Store

    n = count()
    opts = StoreOptions(
        retention_time_ms=0, out_of_order_window_ms=10**13, compaction_interval_ms=0
    )

    def make_store() -> Store:
        return Store.open(tmp_path / f"db{next(n)}.sqlite", options=opts)

    results = run_script(
        script.replace("@DUPLICATE@", _DUPLICATE), name="sqlite.test", make_store=make_store
    )
    bad = [f"{r.where}: {r.expr}: {r.message}" for r in results if r.status != "pass"]
    assert results and not bad, "\n".join(bad)


def test_expand_series_notation() -> None:
    """The public series-notation helpers (shared with rule unit tests)."""
    from nightowl.query.promqltest import expand_series, expand_values

    from nightowl.model import is_stale

    labels, vals = expand_series('up{job="a b}", x="1"} 1+1x2 _x2 -2-0.5x1 stale 3x1')
    assert labels == Labels.of("up", job="a b}", x="1")
    assert vals[:7] == [1.0, 2.0, 3.0, None, None, -2.0, -2.5]
    assert is_stale(vals[7]) and vals[8:] == [3.0, 3.0]
    assert expand_values("Inf -Inf")[:2] == [math.inf, -math.inf]
    # as in Prometheus's series notation, `0x10` is 0 repeated, not hexadecimal
    assert expand_values("0x10") == [0.0] * 11
    with pytest.raises(ValueError):
        expand_values("{{schema:0 sum:1 count:1}}")


NAMES = """
load 1m
  a{job="x"} 0+1x10
  b{job="x"} 0+2x10

eval instant at 10m rate(b[5m]) > rate(a[5m])
  {job="x"} 0.03333333333333333

eval instant at 10m b > a
  b{job="x"} 20

eval instant at 10m b > bool a
  {job="x"} 1

eval instant at 10m last_over_time(b[5m]) unless a

eval instant at 10m label_replace(rate(b[5m]), "foo", "bar", "", "")
  {job="x", foo="bar"} 0.03333333333333333

eval instant at 10m label_replace(rate(b[5m]), "__name__", "renamed", "", "")
  renamed{job="x"} 0.03333333333333333

eval instant at 10m sort_desc(rate(b[5m]))
  {job="x"} 0.03333333333333333

eval instant at 10m30s timestamp(a)
  {job="x"} 600

eval instant at 10m30s timestamp(((a)))
  {job="x"} 600

eval instant at 10m30s timestamp(-a)
  {job="x"} 630
"""


def test_name_dropping_through_comparisons() -> None:
    """A comparison keeps the name a function already dropped; `bool` always drops it."""
    _run(NAMES)


COUNT_VALUES = """
load 1m
  z{i="1"} 0 1 1
  z{i="2"} -0 1 2
  z{i="3"} NaN 1 3
  z{i="4"} NaN 1e21 3

eval instant at 0 count_values("v", z)
  {v="0"} 1
  {v="-0"} 1
  {v="NaN"} 2

eval range from 0 to 2m step 1m count_values by (i) ("i", z)
  {i="0"} 1 _ _
  {i="-0"} 1 _ _
  {i="NaN"} 2 _ _
  {i="1"} _ 3 1
  {i="1000000000000000000000"} _ 1 _
  {i="2"} _ _ 1
  {i="3"} _ _ 2
"""


def test_count_values_formats_like_go() -> None:
    """Values become label values as Go's FormatFloat(v, 'f', -1) writes them."""
    _run(COUNT_VALUES)


def test_runner_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m nightowl.query.promqltest` prints failures with file:line and sets the status."""
    from nightowl.query.promqltest import main

    good = tmp_path / "good.test"
    good.write_text("load 1m\n  x 1\n\neval instant at 0 x\n  x 1\n")
    bad = tmp_path / "bad.test"
    bad.write_text("load 1m\n  x 1\n\neval instant at 0 x\n  x 2\n")
    assert main([str(good)]) == 0
    assert "1 passed, 0 failed, 0 skipped" in capsys.readouterr().out
    assert main([str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.test:4: FAIL x" in out and "1 passed, 1 failed" in out


FILL = """
load 1m
  a{job="x"} 1
  a{job="y"} 2
  b{job="y"} 10
  b{job="z"} 20

eval instant at 0 a + fill(0) b
  {job="x"} 1
  {job="y"} 12
  {job="z"} 20

eval instant at 0 a + fill_left(100) b
  {job="y"} 12
  {job="z"} 120

eval instant at 0 a + fill_right(5) b
  {job="x"} 6
  {job="y"} 12

eval instant at 0 a > fill(0) b
  a{job="x"} 1

eval instant at 0 a - on(job) group_left fill(0) b
  {job="x"} 1
  {job="y"} -8
  {job="z"} -20
"""


def test_fill_modifiers() -> None:
    """Prometheus 3's experimental fill()/fill_left()/fill_right() stand in for missing sides."""
    _run(FILL)


def test_one_engine_many_threads() -> None:
    """Concurrent queries on one engine give the same answers as one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    eng = Engine(_store())
    queries = [
        "sum by (i) (rate(m[5m]))",
        "m * on(i) group_left m",
        "topk(2, m)",
        'count_values("v", m)',
        "max_over_time(m[10m:1m])",
        "x $ y",
        'm{i=~"1|2"} offset 5m',
    ] * 6

    def run(q: str) -> str:
        try:
            return repr(eng.range(q, 600_000, 3_000_000, 60_000).value)
        except Exception as exc:  # errors must be the same too
            return f"{type(exc).__name__}: {exc}"

    expected = [run(q) for q in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(run, queries)) == expected


INFO = """
load 1m
  up{instance="h1", job="node"} 1 1 1
  up{instance="h2", job="node"} 1 1 1
  target_info{instance="h1", job="node", region="eu", version="1.0"} 1 1 _
  target_info{instance="h1", job="node", region="us", version="1.0"} _ _ 1
  build_info{instance="h2", job="node", version="2.0"} 1 1 1

eval range from 0 to 2m step 1m info(up)
  up{instance="h1", job="node", region="eu", version="1.0"} 1 1 _
  up{instance="h1", job="node", region="us", version="1.0"} _ _ 1
  up{instance="h2", job="node"} 1 1 1

eval instant at 2m info(up, {__name__="build_info"})
  up{instance="h1", job="node"} 1
  up{instance="h2", job="node", version="2.0"} 1

eval instant at 0 info(up, {region=~".+"})
  up{instance="h1", job="node", region="eu"} 1

eval instant at 0 info(up, {__name__=~".+_info", version=~".+"})
  up{instance="h1", job="node", version="1.0"} 1
  up{instance="h2", job="node", version="2.0"} 1

eval instant at 0 info(target_info)
  target_info{instance="h1", job="node", region="eu", version="1.0"} 1

eval instant at 0 info(up, {__name__!="target_info"})
  up{instance="h1", job="node"} 1
  up{instance="h2", job="node", version="2.0"} 1

clear

load 1m
  m{instance="a", job="j"} 1
  m{instance="b", job="j"} 1
  target_info{instance="a", job="j", x="1"} 1
  other_info{instance="a", job="j", x="2"} 1
  target_info{instance="b", job="j", v="1"} 1
  target_info{instance="b", job="j", v="2"} 1

eval instant at 0 info(m{instance="a"}, {__name__=~".+_info"})
  expect fail msg: conflicting label: x

eval instant at 0 info(m{instance="b"})
  expect fail regex: ^found duplicate series for info metric
"""


def test_info_function() -> None:
    """info() adds info metrics' data labels, newest info sample first, with its errors."""
    _run(INFO)


def test_dense_blocks_are_bounded() -> None:
    """A subquery or selector whose dense block would exceed the limit is refused up front."""
    eng = Engine(_store(), EngineOptions(max_samples=20_000))
    with pytest.raises(QueryError, match="too many samples"):
        eng.instant("max_over_time(m[1d:1s])", 3_600_000)
    with pytest.raises(QueryError, match="too many samples"):
        eng.range("m", 0, 9_999_000, 1_000)
    assert eng.range("m", 0, 3_600_000, 1_000).value


def _two_metrics() -> MemoryStore:
    s = MemoryStore()
    s.add_series(Labels.of("mem_bytes", job="a", i="1"), [0, 60_000], [5.0, 6.0])
    s.add_series(Labels.of("cpu_seconds_total", job="a", i="2"), [0, 60_000], [7.0, 9.0])
    return s


def test_name_removed_at_once_by_default() -> None:
    """Default (Prometheus's default): a function drops `__name__` at once, so grouping by it
    afterwards sees no name; `label_replace` can no longer read it."""
    eng = Engine(_two_metrics())
    v = eng.instant('count by (__name__) (abs({job="a"}))', 60_000).value
    assert [(s.labels, s.v) for s in v] == [(Labels(), 2.0)]
    r = eng.range('count by (__name__) (abs({job="a"}))', 0, 60_000, 60_000).value
    assert [(s.labels, s.values.tolist()) for s in r] == [(Labels(), [2.0, 2.0])]
    q = 'label_replace(abs({job="a"}), "n", "x$1", "__name__", "(.*)")'
    v = eng.instant(q, 60_000).value
    assert sorted(s.labels.get("n") for s in v) == ["x", "x"]
    assert all(s.labels.name == "" for s in v)


def test_delayed_name_removal_option() -> None:
    """delayed_name_removal=True (Prometheus's runner): names go at the end, so groups by a
    to-be-dropped name collide, and `label_replace` still reads the name."""
    eng = Engine(_two_metrics(), EngineOptions(delayed_name_removal=True))
    with pytest.raises(QueryError, match=r"^vector cannot contain metrics with the same labelset$"):
        eng.instant('count by (__name__) (abs({job="a"}))', 60_000)
    q = 'label_replace(abs({job="a"}), "n", "x$1", "__name__", "(.*)")'
    v = eng.instant(q, 60_000).value
    assert sorted(s.labels.get("n") for s in v) == ["xcpu_seconds_total", "xmem_bytes"]
    assert all(s.labels.name == "" for s in v)


def test_name_collision_without_delay_is_an_error() -> None:
    """Dropping the name at once still refuses two series left with the same labels."""
    s = MemoryStore()
    s.add_series(Labels.of("a", job="x"), [0], [1.0])
    s.add_series(Labels.of("b", job="x"), [0], [2.0])
    with pytest.raises(QueryError, match="same labelset"):
        Engine(s).instant('abs({job="x"})', 0)
    # but a comparison keeps the name, so both stay apart
    v = Engine(s).instant('{job="x"} > 0', 0).value
    assert sorted(x.labels.name for x in v) == ["a", "b"]


def test_many_to_many_error_names_series_sorted() -> None:
    """The two clashing series appear sorted whatever order they were created in."""
    s = MemoryStore()
    s.add_series(Labels.of("dup", k="zeta"), [0], [1.0])
    s.add_series(Labels.of("dup", k="alpha"), [0], [2.0])
    s.add_series(Labels.of("one"), [0], [3.0])
    pattern = (
        r"^found duplicate series for the match group \{\} on the right hand-side of the "
        r'operation: \[\{__name__="dup", k="alpha"\}, \{__name__="dup", k="zeta"\}\];'
        r"many-to-many matching not allowed: matching labels must be unique on one side$"
    )
    with pytest.raises(QueryError, match=pattern):
        Engine(s).instant("one + on() dup", 0)


def test_runner_pins_start_and_end_like_prometheus() -> None:
    """The runner's `@` variants replace `@ start()`/`@ end()` with the eval time (Prometheus's
    parser leaves their timestamp unset), keep fixed `@ t`, and leave subquery bodies alone."""
    from nightowl.query import ast
    from nightowl.query.promqltest import _at_variants

    eng = Engine(_store())
    t = 600_000
    expr = eng.parse("m @ start() + m @ end() + m @ 30 + max_over_time(m[5m:1m] @ start())")
    variants = _at_variants(expr, t)
    assert [vt for _, vt in variants] == [-10 * t, 0, t // 5, t, 10 * t]
    pinned = variants[0][0]
    ats = [n.at for n in ast.walk(pinned) if isinstance(n, ast.VectorSelector | ast.SubqueryExpr)]
    # three selectors, the subquery (pinned) and the selector inside it (untouched)
    assert ats.count(ast.At("time", t)) == 3
    assert ast.At("time", 30_000) in ats
    assert None in ats
    assert _at_variants(eng.parse("timestamp(m @ start())"), t) == []
    # and a script using them passes only with the right answer
    script = """
load 1m
  m 0+1x20

eval instant at 10m m @ start()
  m 10

eval instant at 10m m @ end()
  m 11
"""
    assert [r.status for r in run_script(script)] == ["pass", "fail"]
