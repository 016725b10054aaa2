"""Every function the installed Prometheus knows, compared with it on the same data.

The machine's Prometheus is 2.42 (Debian), so the comparison keeps to what 2.42
and 3.x agree on: sample times never fall on a window edge (2.42's windows are
left-closed), `holt_winters` stands for `double_exponential_smoothing` (same
algorithm, renamed in 3.0), and functions 2.42 lacks are not asked. Values must
agree within 1e-9 (relative, or 1e-11 absolute near zero, where 2.42 sums
without Kahan compensation). Skips when the binaries are absent.
"""

from __future__ import annotations

import json
import math
import random
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from nightowl.query.engine import Engine
from nightowl.query.values import Matrix, Scalar, Vector
from nightowl.store.memory import MemoryStore

from nightowl.errors import NightowlError
from nightowl.model import Labels

pytestmark = [pytest.mark.external, pytest.mark.slow]

T0 = 1_700_000_000_000
N = 480  # samples per series, every 15 s: two hours
LES = ("0.1", "0.5", "1", "5", "+Inf")


def _offset(rng: random.Random) -> int:
    """A sample phase whose milliseconds never meet the evaluation grid (…x500 ms)."""
    return rng.randint(0, 14) * 1000 + rng.choice([130, 250, 777, 901])


def _data(seed: int) -> dict[Labels, list[tuple[int, float]]]:
    rng = random.Random(seed)
    out: dict[Labels, list[tuple[int, float]]] = {}
    for job in ("a", "b"):
        for inst in ("1", "2"):
            off, v = _offset(rng), rng.uniform(20, 80)
            pts = []
            for k in range(N):
                v = min(99.0, max(1.0, v + rng.uniform(-4, 4)))
                if rng.random() > 0.05:
                    pts.append((T0 + k * 15_000 + off, round(v, 6)))
            out[Labels.of("g", job=job, inst=inst)] = pts
            off, c = _offset(rng), rng.uniform(0, 50)
            pts = []
            for k in range(N):
                c = rng.uniform(0, 5) if rng.random() < 0.01 else c + rng.uniform(0, 9)
                pts.append((T0 + k * 15_000 + off, round(c, 6)))
            out[Labels.of("c_total", job=job, inst=inst)] = pts
        off = _offset(rng)
        counts = [0.0] * len(LES)
        series: dict[str, list[tuple[int, float]]] = {le: [] for le in LES}
        for k in range(N):
            for _ in range(rng.randint(0, 6)):
                obs = rng.expovariate(1.5)
                for i, le in enumerate(LES):
                    if obs <= float(le):
                        counts[i] += 1
            for i, le in enumerate(LES):
                series[le].append((T0 + k * 15_000 + off, counts[i]))
        for le, pts in series.items():
            out[Labels.of("h_bucket", job=job, le=le)] = pts
        off = _offset(rng)
        out[Labels.of("d", job=job)] = [
            (T0 + k * 15_000 + off, 86_400.0 * rng.uniform(-2_000, 40_000) + 0.25) for k in range(N)
        ]
    return out


def _openmetrics(data: dict[Labels, list[tuple[int, float]]]) -> str:
    lines = []
    for family, kind in (("g", "gauge"), ("c", "counter"), ("h", "histogram"), ("d", "gauge")):
        lines.append(f"# TYPE {family} {kind}")
        for labels, pts in data.items():
            if labels.name.split("_")[0] != family:
                continue
            inner = ",".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
            lines.extend(f"{labels.name}{{{inner}}} {v} {t // 1000}.{t % 1000:03d}" for t, v in pts)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, prometheus_serving
) -> Iterator[tuple[str, Engine]]:
    """A Prometheus on 127.0.0.1 and a nightowl engine, holding the same samples."""
    tmp = tmp_path_factory.mktemp("fn-oracle")
    data = _data(3)
    with prometheus_serving(tmp, _openmetrics(data)) as url:
        store = MemoryStore()
        for labels, pts in data.items():
            store.add_series(labels, [t for t, _ in pts], [v for _, v in pts])
        yield url, Engine(store)


_MATH = [
    "abs(g - 50)", "ceil(g)", "floor(g)", "exp(g / 50)", "sqrt(g)", "ln(g)", "log2(g)",
    "log10(g)", "sin(g)", "cos(g)", "tan(g)", "asin(g / 100)", "acos(g / 100)", "atan(g)",
    "sinh(g / 20)", "cosh(g / 20)", "tanh(g / 20)", "asinh(g)", "acosh(g)", "atanh(g / 100)",
    "deg(g)", "rad(g)", "sgn(g - 50)", "round(g)", "round(g, 0.3)", "round(g, 5)",
    "clamp(g, 40, 60)", "clamp(g, 60, 40)", "clamp_max(g, 50)", "clamp_min(g, 50)", "pi()",
    "timestamp(g)", "time()", "vector(time())", 'scalar(g{job="a", inst="1"})', "scalar(g)",
]  # fmt: skip
_DATES = [
    f"{fn}({arg})"
    for fn in ("year", "month", "day_of_month", "day_of_week", "day_of_year", "days_in_month",
               "hour", "minute")
    for arg in ("d", "")
]  # fmt: skip
_LABELS = [
    'label_replace(g, "x", "$1-$2", "inst", "(\\\\d)(.*)")',
    'label_replace(g, "job", "", "job", "a")',
    'label_replace(g, "y", "${1}z", "job", "(b)")',
    'label_replace(g, "__name__", "new_$1", "job", "(.*)")',
    'label_join(g, "x", "-", "job", "inst", "nope")',
    'label_join(g, "job", "", "inst")',
    'absent(nope{job="x", a=~"b"})', "absent(g)", 'absent_over_time(nope{job="y"}[5m])',
    "absent_over_time(g[5m])", "present_over_time(g[1m])",
]  # fmt: skip
_HIST = [
    "histogram_quantile(0.9, rate(h_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(h_bucket[10m])))",
    "histogram_quantile(0.99, h_bucket)",
    "histogram_quantile(0, h_bucket)",
    "histogram_quantile(1.5, h_bucket)",
    "histogram_quantile(0.3, h_bucket offset 20m)",
]
_RANGE = [
    "rate(c_total[5m])", "rate(c_total[1m])", "increase(c_total[17m])", "delta(g[9m])",
    "irate(c_total[3m])", "idelta(g[2m])", "deriv(g[10m])", "predict_linear(g[15m], 300)",
    "predict_linear(c_total[10m] offset 5m, -60)", "changes(g[30m])", "resets(c_total[1h])",
    "avg_over_time(g[7m])", "min_over_time(g[7m])", "max_over_time(g[7m])",
    "sum_over_time(c_total[11m])", "count_over_time(g[4m])", "last_over_time(g[2m])",
    "quantile_over_time(0.3, g[20m])", "quantile_over_time(1, g[5m])",
    "quantile_over_time(-1, g[5m])", "stddev_over_time(g[13m])", "stdvar_over_time(g[13m])",
    "double_exponential_smoothing(g[10m], 0.3, 0.6)", f"rate(c_total[5m] @ {T0 // 1000 + 3000})",
    "max_over_time(deriv(g[5m])[20m:1m])", "rate(sum by (job) (c_total)[10m:30s])",
    "avg_over_time(g[1h] offset 30m)", "changes(round(g)[15m:15s])",
]  # fmt: skip
QUERIES = _MATH + _DATES + _LABELS + _HIST + _RANGE


def _prom(url: str, path: str, **params: object) -> dict:
    full = f"{url}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(full, timeout=30) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def _series_of_doc(doc: dict) -> list[tuple[Labels, list[tuple[int, float]]]]:
    data = doc["data"]
    kind, res = data["resultType"], data["result"]
    if kind == "scalar":
        return [(Labels(), [(round(res[0] * 1000), float(res[1]))])]
    if kind == "vector":
        return [
            (Labels(r["metric"].items()), [(round(r["value"][0] * 1000), float(r["value"][1]))])
            for r in res
        ]
    return [
        (Labels(r["metric"].items()), [(round(t * 1000), float(v)) for t, v in r["values"]])
        for r in res
    ]


def _series_of_value(value: object) -> list[tuple[Labels, list[tuple[int, float]]]]:
    if isinstance(value, Scalar):
        return [(Labels(), [(value.t, value.v)])]
    if isinstance(value, Vector):
        return [(s.labels, [(s.t, s.v)]) for s in value]
    assert isinstance(value, Matrix)
    return [
        (s.labels, list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))) for s in value
    ]


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    return abs(a - b) <= max(1e-9 * max(abs(a), abs(b)), 1e-11)


def _compare(query: str, doc: dict, run: object, ordered: bool) -> str | None:
    try:
        ours = _series_of_value(run())  # type: ignore[operator]
    except NightowlError as exc:
        return None if doc["status"] != "success" else f"{query}: we fail ({exc})"
    if doc["status"] != "success":
        return f"{query}: Prometheus fails ({doc.get('error')}), we do not"
    theirs = _series_of_doc(doc)
    if ordered and [k for k, _ in theirs] != [k for k, _ in ours]:
        return (
            f"{query}: order differs {[str(k) for k, _ in theirs]} vs {[str(k) for k, _ in ours]}"
        )
    t_map, o_map = dict(theirs), dict(ours)
    if set(t_map) != set(o_map):
        return f"{query}: series differ: {sorted(map(str, set(t_map) ^ set(o_map)))[:4]}"
    for key, pts in t_map.items():
        got = o_map[key]
        if [t for t, _ in pts] != [t for t, _ in got]:
            return f"{query}: {key} times differ"
        for (t, a), (_, b) in zip(pts, got, strict=True):
            if not _close(a, b):
                return f"{query}: {key} at {t}: Prometheus {a!r}, nightowl {b!r}"
    return None


def _for_prometheus(query: str) -> str:
    return query.replace("double_exponential_smoothing", "holt_winters")


@pytest.mark.parametrize("query", QUERIES)
def test_function_agrees_with_prometheus(servers: tuple[str, Engine], query: str) -> None:
    """Instant (at two times) and range (two step sizes) results equal Prometheus's."""
    url, engine = servers
    rng = random.Random(query)
    problems = []
    for _ in range(2):
        t = T0 + rng.randint(1_900, 7_000) * 1000 + 500
        doc = _prom(url, "/api/v1/query", query=_for_prometheus(query), time=t / 1000)
        problem = _compare(query, doc, lambda t=t: engine.instant(query, t).value, "sort" in query)
        if problem:
            problems.append(f"instant @{t}: {problem}")
    for step in (60_000, 37_000):
        start = T0 + rng.randint(1_900, 4_000) * 1000 + 500
        end = start + step * rng.randint(5, 60)
        doc = _prom(
            url, "/api/v1/query_range", query=_for_prometheus(query),
            start=start / 1000, end=end / 1000, step=step / 1000,
        )  # fmt: skip
        problem = _compare(
            query, doc, lambda s=start, e=end, st=step: engine.range(query, s, e, st).value, False
        )
        if problem:
            problems.append(f"range step {step}: {problem}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("query", ["sort(g)", "sort_desc(g)", "sort(rate(c_total[5m]))"])
def test_sort_order_agrees_with_prometheus(servers: tuple[str, Engine], query: str) -> None:
    """Instant sort results come in Prometheus's order."""
    url, engine = servers
    t = T0 + 5_000_500
    doc = _prom(url, "/api/v1/query", query=query, time=t / 1000)
    problem = _compare(query, doc, lambda: engine.instant(query, t).value, True)
    assert problem is None, problem


def test_comparison_detects_a_wrong_answer(servers: tuple[str, Engine]) -> None:
    """The comparison is not vacuous: Prometheus's irate is not our rate."""
    url, engine = servers
    t = T0 + 5_000_500
    doc = _prom(url, "/api/v1/query", query="irate(c_total[5m])", time=t / 1000)
    problem = _compare("rate", doc, lambda: engine.instant("rate(c_total[5m])", t).value, False)
    assert problem is not None and "nightowl" in problem
    doc = _prom(url, "/api/v1/query", query="sort_desc(g)", time=t / 1000)
    problem = _compare("sort", doc, lambda: engine.instant("sort(g)", t).value, True)
    assert problem is not None and "order differs" in problem
