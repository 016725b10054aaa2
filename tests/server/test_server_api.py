"""The HTTP API through ASGI: answers and errors shaped as Prometheus shapes them."""

from __future__ import annotations

import asyncio
import json
import math
import threading

import httpx
import pytest
from nightowl.server.api import Api
from nightowl.server.app import ServerParts, create_app

#: The workload of conftest.py: samples every STEP ms from T0, N of them.
T0 = 1_700_000_000_000
STEP = 15_000
N = 41

END_S = (T0 + (N - 1) * STEP) / 1000


async def test_instant_query_vector(client: httpx.AsyncClient) -> None:
    """An instant vector: metric maps, [float seconds, "string value"]."""
    r = await client.get("/api/v1/query", params={"query": "up", "time": str(END_S)})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "vector"
    got = {s["metric"]["job"]: s["value"] for s in body["data"]["result"]}
    assert got == {"api": [END_S, "1"], "db": [END_S, "0"]}


async def test_instant_query_defaults_time_to_now(client: httpx.AsyncClient) -> None:
    """Without `time`, the query runs at the server's now."""
    r = await client.get("/api/v1/query", params={"query": "time()"})
    assert r.json()["data"] == {"resultType": "scalar", "result": [END_S, str(int(END_S))]}


async def test_query_timestamps_keep_milliseconds(client: httpx.AsyncClient) -> None:
    """Vector times with a fraction have three decimals, scalar times the shortest form."""
    params = {"query": "vector(1.5)", "time": "1700000000.1"}
    r = await client.get("/api/v1/query", params=params)
    assert '"value":[1700000000.100,"1.5"]' in r.text
    r = await client.get("/api/v1/query", params={**params, "query": "1.5"})
    assert '"result":[1700000000.1,"1.5"]' in r.text


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("1/0", "+Inf"),
        ("-1/0", "-Inf"),
        ("0/0", "NaN"),
        ("1e21", "1e+21"),
        ("1e20", "100000000000000000000"),
    ],
)
async def test_special_values(client: httpx.AsyncClient, expr: str, want: str) -> None:
    """Infinities, NaN and big numbers are spelled as Prometheus spells them in vectors."""
    r = await client.get("/api/v1/query", params={"query": f"vector({expr})", "time": "100"})
    assert r.json()["data"]["result"][0]["value"] == [100, want]


async def test_scalar_values_are_never_exponents(client: httpx.AsyncClient) -> None:
    """A scalar result is written with 'f' formatting, as Prometheus's Scalar does."""
    r = await client.get("/api/v1/query", params={"query": "1e21", "time": "100"})
    assert r.json()["data"]["result"] == [100, "1000000000000000000000"]


async def test_string_result(client: httpx.AsyncClient) -> None:
    """A string literal comes back as resultType string."""
    r = await client.get("/api/v1/query", params={"query": '"hi"', "time": "5"})
    assert r.json()["data"] == {"resultType": "string", "result": [5, "hi"]}


async def test_range_query_get_and_post_agree(client: httpx.AsyncClient) -> None:
    """query_range as GET and as a POST form (Grafana) gives the same matrix."""
    params = {
        "query": "rate(http_requests_total[1m])",
        "start": str(T0 / 1000 + 60),
        "end": str(END_S),
        "step": "60",
    }
    g = await client.get("/api/v1/query_range", params=params)
    p = await client.post("/api/v1/query_range", data=params)
    assert g.status_code == p.status_code == 200
    assert g.json() == p.json()
    data = g.json()["data"]
    assert data["resultType"] == "matrix"
    by_instance = {s["metric"]["instance"]: s["values"] for s in data["result"]}
    assert set(by_instance) == {"a:1", "a:2"}
    assert all("__name__" not in s["metric"] for s in data["result"])
    assert len(by_instance["a:1"]) == 10
    for t, v in by_instance["a:1"]:
        assert math.isclose(float(v), 10 / 15)
        assert isinstance(t, int)


async def test_range_query_rfc3339_and_duration_step(client: httpx.AsyncClient) -> None:
    """start/end as RFC 3339 and step as a Prometheus duration."""
    r = await client.get(
        "/api/v1/query_range",
        params={
            "query": 'up{job="db"}',
            "start": "2023-11-14T22:13:20Z",
            "end": "2023-11-14T22:23:20.000Z",
            "step": "2m30s",
        },
    )
    values = r.json()["data"]["result"][0]["values"]
    assert [t for t, _ in values] == [T0 / 1000 + i * 150 for i in range(5)]
    assert [v for _, v in values] == ["1", "1", "1", "1", "0"]


async def test_staleness_marker_ends_series(client: httpx.AsyncClient) -> None:
    """A series ending in a staleness marker is absent right after it."""
    t = (T0 + 10 * STEP) / 1000
    r = await client.get("/api/v1/query", params={"query": "gone", "time": str(t)})
    assert r.json()["data"]["result"] == []
    r = await client.get("/api/v1/query", params={"query": "gone", "time": str(t - 1)})
    assert r.json()["data"]["result"][0]["value"] == [t - 1, "7.5"]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/v1/query", {"query": "up{"}, 'invalid parameter "query": 1:4: parse error'),
        ("/api/v1/query", {"query": ""}, 'invalid parameter "query": 1:1: parse error'),
        (
            "/api/v1/query",
            {"query": "up", "time": "yesterday"},
            "invalid parameter \"time\": Invalid time value for 'time': "
            'cannot parse "yesterday" to a valid timestamp',
        ),
        (
            "/api/v1/query",
            {"query": "up", "timeout": "soon"},
            'invalid parameter "timeout": cannot parse "soon" to a valid duration',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "end": "10", "step": "1"},
            'invalid parameter "start": cannot parse "" to a valid timestamp',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "10", "end": "5", "step": "1"},
            'invalid parameter "end": end timestamp must not be before start time',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "5", "step": "0"},
            'invalid parameter "step": zero or negative query resolution step widths',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "100000", "step": "1"},
            "exceeded maximum resolution of 11,000 points per timeseries",
        ),
        ("/api/v1/series", {}, "no match[] parameter provided"),
        (
            "/api/v1/series",
            {"match[]": '{job=~".*"}'},
            'invalid parameter "match[]": match[] must contain at least one non-empty matcher',
        ),
        ("/api/v1/series", {"match[]": "up", "limit": "-1"}, "limit must be non-negative"),
        ("/api/v1/series", {"match[]": "up", "limit": "x"}, 'strconv.Atoi: parsing "x"'),
        ("/api/v1/labels", {"start": "x"}, 'invalid parameter "start"'),
        ("/api/v1/label/0bad/values", {}, 'invalid label name: "0bad"'),
        ("/api/v1/rules", {"type": "x"}, 'invalid parameter "type": not supported value "x"'),
        ("/api/v1/metadata", {"limit": "x"}, "limit must be a number"),
    ],
)
async def test_bad_parameters(
    client: httpx.AsyncClient, path: str, params: dict[str, str], message: str
) -> None:
    """Every bad parameter is a 400 bad_data with Prometheus's message."""
    r = await client.get(path, params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == "error"
    assert body["errorType"] == "bad_data"
    assert message in body["error"]
    assert "data" not in body


async def test_execution_error_is_422(client: httpx.AsyncClient) -> None:
    """An evaluation failure (many-to-many match) is 422 execution."""
    r = await client.get(
        "/api/v1/query",
        params={"query": "http_requests_total + on(job) http_requests_total", "time": str(END_S)},
    )
    assert r.status_code == 422
    assert r.json()["errorType"] == "execution"


async def test_max_samples_limit(store: object) -> None:
    """Loading more samples than allowed is a 422 naming the limit."""
    from nightowl.query.engine import EngineOptions

    api = Api(store, engine_options=EngineOptions(max_samples=10), clock=lambda: T0 + N * STEP)
    app = create_app(api)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as c:
        r = await c.get("/api/v1/query", params={"query": "up[10m]"})
    assert r.status_code == 422
    assert "sample" in r.json()["error"]


async def test_series_labels_values(client: httpx.AsyncClient) -> None:
    """series (several match[] unioned), labels and label values."""
    r = await client.get("/api/v1/series", params=[("match[]", "up"), ("match[]", 'gone{job="x"}')])
    assert r.json() == {
        "status": "success",
        "data": [
            {"__name__": "gone", "job": "x"},
            {"__name__": "up", "instance": "a:1", "job": "api"},
            {"__name__": "up", "instance": "b:2", "job": "db"},
        ],
    }
    r = await client.get("/api/v1/labels")
    assert r.json()["data"] == ["__name__", "instance", "job"]
    r = await client.get("/api/v1/labels", params={"match[]": "gone"})
    assert r.json()["data"] == ["__name__", "job"]
    r = await client.get("/api/v1/label/__name__/values")
    assert r.json()["data"] == ["gone", "http_requests_total", "up"]
    r = await client.get("/api/v1/label/instance/values", params={"match[]": "up"})
    assert r.json()["data"] == ["a:1", "b:2"]


async def test_limit_truncates_with_warning(client: httpx.AsyncClient) -> None:
    """limit cuts the answer and says so in warnings."""
    r = await client.get("/api/v1/label/__name__/values", params={"limit": "2"})
    assert r.json() == {
        "status": "success",
        "data": ["gone", "http_requests_total"],
        "warnings": ["results truncated due to limit"],
    }


async def test_series_time_range(client: httpx.AsyncClient) -> None:
    """start/end restrict series to those with samples in the range."""
    late = (T0 + 20 * STEP) / 1000
    r = await client.get("/api/v1/series", params={"match[]": '{job=~"x|db"}', "start": late})
    assert [s["__name__"] for s in r.json()["data"]] == ["up"]


async def test_metadata(client: httpx.AsyncClient) -> None:
    """Metadata per family; `metric` filters, `limit` bounds."""
    r = await client.get("/api/v1/metadata", params={"metric": "up"})
    assert r.json()["data"] == {
        "up": [{"type": "gauge", "help": "1 if the target is up", "unit": ""}]
    }
    r = await client.get("/api/v1/metadata", params={"limit": "1"})
    assert list(r.json()["data"]) == ["http_requests_total"]


async def test_status_endpoints(client: httpx.AsyncClient) -> None:
    """buildinfo, runtimeinfo and tsdb answer in Prometheus's shapes."""
    b = (await client.get("/api/v1/status/buildinfo")).json()["data"]
    assert {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"} <= set(b)
    rt = (await client.get("/api/v1/status/runtimeinfo")).json()["data"]
    assert rt["reloadConfigSuccess"] is True
    tsdb = (await client.get("/api/v1/status/tsdb")).json()["data"]
    assert tsdb["headStats"]["numSeries"] == 5
    assert tsdb["headStats"]["minTime"] == T0
    assert tsdb["seriesCountByMetricName"][0] == {"name": "http_requests_total", "value": 2}


async def test_federate(client: httpx.AsyncClient) -> None:
    """/federate: newest sample per series with ms timestamps, stale series left out."""
    r = await client.get("/federate", params=[("match[]", '{job=~".+"}')])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    end = T0 + (N - 1) * STEP
    assert r.text == (
        "# TYPE http_requests_total untyped\n"
        f'http_requests_total{{instance="a:1",job="api"}} 400 {end}\n'
        f'http_requests_total{{instance="a:2",job="api"}} 200 {end}\n'
        "# TYPE up untyped\n"
        f'up{{instance="a:1",job="api"}} 1 {end}\n'
        f'up{{instance="b:2",job="db"}} 0 {end}\n'
    )


async def test_health_and_not_found(client: httpx.AsyncClient) -> None:
    """Health endpoints, 404 for unknown paths, 405 for wrong methods."""
    assert (await client.get("/-/healthy")).status_code == 200
    assert (await client.get("/-/ready")).status_code == 200
    assert (await client.get("/api/v1/nope")).status_code == 404
    assert (await client.delete("/api/v1/query")).status_code == 405
    # write endpoints are off unless enabled
    assert (await client.post("/-/reload")).status_code == 403
    assert (await client.put("/metrics/job/x", content=b"a 1\n")).status_code == 403


async def test_body_too_large(api: Api) -> None:
    """A form body over max_body_size is a 413 in the API's error shape."""
    app = create_app(api, ServerParts(max_body_size=100))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as c:
        r = await c.post("/api/v1/query", data={"query": "up" + " " * 200})
    assert r.status_code == 413
    assert r.json()["status"] == "error"


async def test_concurrency_limit(api: Api) -> None:
    """With every query slot busy past the queue timeout a request gets 503 unavailable."""
    gate = threading.Event()
    inner = api.query

    def slow(params: object) -> object:
        gate.wait(5)
        return inner(params)  # type: ignore[arg-type]

    api.query = slow  # type: ignore[method-assign]
    app = create_app(api, ServerParts(max_concurrent_queries=1, queue_timeout_s=0.2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as c:
        first = asyncio.create_task(c.get("/api/v1/query", params={"query": "up"}))
        await asyncio.sleep(0.05)
        second = await c.get("/api/v1/query", params={"query": "1"})
        gate.set()
        r1 = await first
    assert second.status_code == 503
    assert second.json()["errorType"] == "unavailable"
    assert r1.status_code == 200


async def test_query_timeout_parameter(client: httpx.AsyncClient) -> None:
    """A tiny `timeout` makes a heavy query fail with 503 timeout."""
    heavy = "count(count_over_time(up[10m:1ms]))"
    r = await client.get("/api/v1/query", params={"query": heavy, "timeout": "0.001"})
    assert r.status_code == 503
    assert r.json() == {
        "status": "error",
        "errorType": "timeout",
        "error": "query timed out in expression evaluation",
    }


async def test_success_envelope_is_compact_json(client: httpx.AsyncClient) -> None:
    """No warnings/infos keys when there are none (omitempty)."""
    r = await client.get("/api/v1/query", params={"query": "1", "time": "1"})
    assert json.loads(r.text) == {
        "status": "success",
        "data": {"resultType": "scalar", "result": [1, "1"]},
    }


async def test_query_exemplars(client: httpx.AsyncClient) -> None:
    """Exemplars: none stored, so an empty list; bad parameters still rejected."""
    r = await client.get(
        "/api/v1/query_exemplars", params={"query": "up", "start": "0", "end": "9"}
    )
    assert r.json() == {"status": "success", "data": []}
    r = await client.get("/api/v1/query_exemplars", params={"query": "up{", "start": "0"})
    assert r.status_code == 400
