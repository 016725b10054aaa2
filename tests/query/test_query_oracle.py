"""Differential test: random queries against a real Prometheus serving the same samples.

Generates a small data set whose sample times never fall on a window edge (so the
left-open windows of Prometheus 3 and the left-closed ones of the Prometheus 2.x
that Debian ships agree), backfills it with `promtool`, starts `prometheus` on
127.0.0.1 and compares ~200 generated queries, instant and range, series by
series within 1e-9 relative. Skips when the binaries are absent.
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
from nightowl.query.values import Scalar, Vector
from nightowl.store.memory import MemoryStore

from nightowl.errors import NightowlError
from nightowl.model import Labels

pytestmark = [pytest.mark.external, pytest.mark.slow]

T0 = 1_700_000_000_000


def _series(seed: int) -> dict[Labels, list[tuple[int, float]]]:
    rng = random.Random(seed)
    out: dict[Labels, list[tuple[int, float]]] = {}
    for job in ("a", "b"):
        for inst in ("1", "2", "3"):
            off, v, pts = rng.randint(1, 14_000), rng.uniform(0, 100), []
            for k in range(480):
                if rng.random() < 0.05:
                    continue
                v += rng.uniform(-5, 5)
                pts.append((T0 + k * 15_000 + off, round(v, 6)))
            out[Labels.of("m", job=job, inst=inst)] = pts
    for job in ("a", "b"):
        for inst in ("1", "2"):
            off, v, pts = rng.randint(1, 14_000), 0.0, []
            for k in range(480):
                v += rng.uniform(0, 10)
                if rng.random() < 0.01:
                    v = rng.uniform(0, 3)
                pts.append((T0 + k * 15_000 + off, round(v, 6)))
            out[Labels.of("c_total", job=job, inst=inst)] = pts
    for job, base in (("a", 40.0), ("b", 60.0)):
        off = rng.randint(1, 14_000)
        out[Labels.of("lim", job=job)] = [
            (T0 + k * 15_000 + off, base + (k % 7)) for k in range(480)
        ]
    return out


def _openmetrics(series: dict[Labels, list[tuple[int, float]]]) -> str:
    lines = []
    for family, typ in (("m", "gauge"), ("c", "counter"), ("lim", "gauge")):
        lines.append(f"# TYPE {family} {typ}")
        name = "c_total" if family == "c" else family
        for labels, pts in series.items():
            if labels.name != name:
                continue
            inner = ",".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
            for t, v in pts:
                lines.append(f"{name}{{{inner}}} {v} {t // 1000}.{t % 1000:03d}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def oracle(
    tmp_path_factory: pytest.TempPathFactory, prometheus_serving
) -> Iterator[tuple[str, Engine]]:
    tmp = tmp_path_factory.mktemp("oracle")
    series = _series(5)
    with prometheus_serving(tmp, _openmetrics(series)) as url:
        store = MemoryStore()
        for labels, pts in series.items():
            store.add_series(labels, [t for t, _ in pts], [v for _, v in pts])
        yield url, Engine(store)


_AGG = ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"]
_GROUP = ["", " by (job)", " without (inst)", " by (inst)", " without (job, inst)"]
_INNER = [
    "m", 'm{job="a"}', 'm{inst=~"1|2"}', "lim", "rate(c_total[5m])", "avg_over_time(m[7m])",
    "(m + on(job) group_left lim)", "(m > 50)", "(m * 2 - 1)", "delta(m[9m] offset 3m)",
]  # fmt: skip
_WHOLE = [
    "m + on(job) group_left lim", "m / ignoring(inst) group_left lim", "m > bool 50",
    "m and on(job) lim", "m or lim", "m unless on(job) (lim > 43)",
    "lim - on(job) group_right m", "50 < m", "m % 7", "m ^ 0.5", "-m", "m atan2 lim",
    "sum by (job) (m) / on(job) lim", "max_over_time(rate(c_total[5m])[30m:1m])",
    "avg_over_time(m[20m:3m] offset 7m)", "min_over_time(sum by (job) (m)[25m:2m])",
    "count_over_time(m[10m:] @ 1700002000)", "sum_over_time(rate(c_total[2m])[17m:45s] offset -3m)",
    "m @ start()", "m @ end() - m offset 10m", "rate(c_total[5m] @ end())",
    "time() - timestamp(m)", "vector(1) + sum(m)", 'scalar(lim{job="a"}) * m',
    'absent(nope{job="x"})', "count(count by (job) (m))", "sort(sum by (inst) (m))",
    "topk by (job) (1, m @ 1700003000)", "(m > 40) * on(inst, job) (m < 60)",
    "-sum(m) by (job) unless on(job) lim > 45", "max_over_time(m[1h] @ start())",
    "deriv(sum by (job) (m)[20m:1m])", "predict_linear(m[30m], 600)", "increase(c_total[10m])",
    "changes(m[20m])", "resets(c_total[30m])", "quantile_over_time(0.7, m[10m])",
]  # fmt: skip


def _query(r: random.Random) -> str:
    if r.random() < 0.4:
        inner, group = r.choice(_INNER), r.choice(_GROUP)
        op = r.choice([*_AGG, "topk", "bottomk", "quantile", "count_values"])
        if op in ("topk", "bottomk"):
            return f"{op}{group} ({r.choice([1, 2, 3])}, {inner})"
        if op == "quantile":
            return f"quantile{group} ({r.choice([0, 0.25, 0.5, 0.9, 1])}, {inner})"
        if op == "count_values":
            return f'count_values{group} ("v", round({inner}))'
        return f"{op}{group} ({inner})"
    return r.choice(_WHOLE)


def _prom(url: str, path: str, **params: object) -> dict:
    full = f"{url}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(full, timeout=30) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def _theirs(doc: dict) -> dict:
    data = doc["data"]
    if data["resultType"] == "scalar":
        return {(): [(round(data["result"][0] * 1000), float(data["result"][1]))]}
    if data["resultType"] == "vector":
        return {
            Labels(r["metric"].items()): [(round(r["value"][0] * 1000), float(r["value"][1]))]
            for r in data["result"]
        }
    return {
        Labels(r["metric"].items()): [(round(t * 1000), float(v)) for t, v in r["values"]]
        for r in data["result"]
    }


def _ours(value: object) -> dict:
    if isinstance(value, Scalar):
        return {(): [(value.t, value.v)]}
    if isinstance(value, Vector):
        return {s.labels: [(s.t, s.v)] for s in value}
    return {
        s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
        for s in value  # type: ignore[attr-defined]
    }


def _close(a: float, b: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def test_random_queries_agree_with_prometheus(oracle: tuple[str, Engine]) -> None:
    """Same errors, series, timestamps and values (1e-9 relative) as Prometheus."""
    url, engine = oracle
    r = random.Random(11)
    problems = []
    for _ in range(200):
        q = _query(r)
        if r.random() < 0.5:
            t = T0 + r.randint(1200, 7000) * 1000 + 500
            doc = _prom(url, "/api/v1/query", query=q, time=t / 1000)
            run = lambda q=q, t=t: engine.instant(q, t).value  # noqa: E731
        else:
            start = T0 + r.randint(1200, 5000) * 1000 + 500
            step = r.choice([60_000, 37_000, 300_000])
            end = start + step * r.randint(1, 60)
            doc = _prom(url, "/api/v1/query_range", query=q, start=start / 1000,
                        end=end / 1000, step=step / 1000)  # fmt: skip
            run = lambda q=q, s=start, e=end, st=step: engine.range(q, s, e, st).value  # noqa: E731
        try:
            ours = _ours(run())
        except NightowlError as exc:
            if doc["status"] == "success":
                problems.append(f"{q}: we fail ({exc}), Prometheus does not")
            continue
        if doc["status"] != "success":
            problems.append(f"{q}: Prometheus fails ({doc.get('error')}), we do not")
            continue
        theirs = _theirs(doc)
        if set(theirs) != set(ours):
            problems.append(f"{q}: series differ {set(theirs) ^ set(ours)}")
            continue
        for key, pts in theirs.items():
            got = ours[key]
            if [t for t, _ in pts] != [t for t, _ in got] or not all(
                _close(a, b) for (_, a), (_, b) in zip(pts, got, strict=True)
            ):
                problems.append(f"{q}: {key} differs: {pts[:3]} vs {got[:3]}")
                break
    assert not problems, "\n".join(problems)
