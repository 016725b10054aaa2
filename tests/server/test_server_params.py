"""Parameter parsing and value formatting, checked against Prometheus's rules; API fuzzing."""

from __future__ import annotations

import json
import math

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.query.values import InstantSample, Scalar, String, Vector
from nightowl.query.wire import dumps_data
from nightowl.server.api import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    format_rfc3339,
    parse_duration,
    parse_time,
)
from nightowl.server.app import create_app
from nightowl.server.envelope import error_body, query_data_json, success_body

from nightowl.model import Labels


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("1.5", 1500),
        ("-1.5", -1500),
        ("1700000000.1234", 1700000000123),
        ("1e3", 1_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000_500),
        ("2023-11-15T00:13:20.123456789+02:00", 1_700_000_000_123),
        ("-292273086-05-16T16:47:06Z", MIN_TIME_MS),
        ("292277025-08-18T07:12:54.999999999Z", MAX_TIME_MS),
        ("1e20", MAX_TIME_MS),
        ("-Inf", MIN_TIME_MS),
        ("NaN", MIN_TIME_MS),
    ],
)
def test_parse_time(text: str, ms: int) -> None:
    """Unix floats (ms-rounded), RFC 3339 with zones, and the min/max time strings."""
    assert parse_time(text) == ms


@pytest.mark.parametrize("text", ["", "now", " 1", "1_0", "2023-11-14 22:13:20Z", "1h", "0x10"])
def test_parse_time_rejects(text: str) -> None:
    """What Go's ParseFloat and time.Parse refuse is refused."""
    with pytest.raises(ValueError, match="to a valid timestamp"):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("15", 15_000),
        ("0.5", 500),
        ("15s", 15_000),
        ("1h30m", 5_400_000),
        ("1d", 86_400_000),
        ("100ms", 100),
        ("1y", 365 * 86_400_000),
        ("0", 0),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    """Float seconds or a Prometheus duration."""
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "1.5s", "s", "1m1h", "-1s", "1e400"])
def test_parse_duration_rejects(text: str) -> None:
    """Out-of-order units, fractions with units and overflow are refused."""
    with pytest.raises(ValueError, match="valid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("v", "t", "text"),
    [
        (1e-7, 62_500, '[62.5,"0.0000001"]'),
        (1e21, 62_000, '[62,"1000000000000000000000"]'),
        (-1.5e-7, 1, '[0.001,"-0.00000015"]'),
        (0.1, 62_500, '[62.5,"0.1"]'),
        (math.inf, 0, '[0,"+Inf"]'),
        (math.nan, -1500, '[-1.5,"NaN"]'),
    ],
)
def test_scalar_data_as_prometheus(v: float, t: int, text: str) -> None:
    """A scalar answer: plain-decimal value and shortest time (recorded from Prometheus 2.42)."""
    assert query_data_json(Scalar(t, v)) == '{"resultType":"scalar","result":' + text + "}"


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**12), 10**12))
def test_scalar_value_round_trips(v: float, t: int) -> None:
    """The plain-decimal scalar value reads back to the same float, the time to the same ms."""
    data = json.loads(query_data_json(Scalar(t, v)))
    assert "e" not in data["result"][1]
    assert float(data["result"][1]) == v
    assert round(data["result"][0] * 1000) == t


def test_vector_data_is_query_wire() -> None:
    """Vectors, matrices and strings are query.wire's bytes (one implementation)."""
    vec = Vector([InstantSample(Labels.of("m", v="<a&b>"), 1500, 1e-7)])
    assert query_data_json(vec) == dumps_data(vec)
    assert '"1e-07"' in query_data_json(vec)
    assert "\\u003ca\\u0026b\\u003e" in query_data_json(vec)
    assert query_data_json(String(1500, "<")) == '{"resultType":"string","result":[1.5,"\\u003c"]}'


def test_format_rfc3339() -> None:
    """Go's time JSON (zero time for none, fraction trimmed)."""
    assert format_rfc3339(None) == "0001-01-01T00:00:00Z"
    assert format_rfc3339(1_700_000_000_120) == "2023-11-14T22:13:20.12Z"


def test_envelopes() -> None:
    """omitempty: no data on errors, no warnings when there are none."""
    assert success_body([1], ["w"]) == b'{"status":"success","data":[1],"warnings":["w"]}'
    assert error_body("bad_data", 'x "y"') == (
        b'{"status":"error","errorType":"bad_data","error":"x \\"y\\""}'
    )


def test_strings_escaped_as_go() -> None:
    """`<`, `>`, `&`, U+2028 and U+2029 are escaped everywhere, as Go's encoder does."""
    body = success_body({"l<": ["a&b>\u2028\u2029"]}, ["w<"])
    assert body == (
        b'{"status":"success","data":{"l\\u003c":["a\\u0026b\\u003e\\u2028\\u2029"]},'
        b'"warnings":["w\\u003c"]}'
    )
    assert b"\\u003c" in error_body("bad_data", "a<b")


_PATHS = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/job/values",
    "/api/v1/metadata",
    "/api/v1/targets",
    "/api/v1/rules",
    "/api/v1/alerts",
    "/api/v1/status/tsdb",
    "/api/v1/format_query",
    "/federate",
]
_NAMES = [
    "query",
    "time",
    "start",
    "end",
    "step",
    "timeout",
    "match[]",
    "limit",
    "lookback_delta",
    "metric",
    "type",
    "state",
    "limit_per_metric",
]
_VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "up",
            "1",
            "-1",
            "1e9",
            "NaN",
            "+Inf",
            "15s",
            "0",
            '{a=~"("}',
            "2023-11-14T22:13:20Z",
            "rate(up[5m])",
            "up[5m]",
            "9" * 30,
            "sum by(",
            '{__name__=~".+"}',
            "-292273086-05-16T16:47:06Z",
        ]
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(_PATHS) | st.text("abxz_/.%-", max_size=12).map("/api/v1/".__add__),
    params=st.lists(st.tuples(st.sampled_from(_NAMES), _VALUES), max_size=5),
    post=st.booleans(),
    body=st.binary(max_size=40),
)
async def test_fuzz_no_server_errors(
    store: object, path: str, params: list[tuple[str, str]], post: bool, body: bytes
) -> None:
    """Random paths, parameters and bodies never make a 500."""
    from nightowl.query.engine import EngineOptions
    from nightowl.server.api import Api

    api = Api(
        store,
        engine_options=EngineOptions(timeout_s=2, max_samples=100_000),
        clock=lambda: 1_700_000_600_000,
    )
    app = create_app(api)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as c:
        if post:
            r = await c.post(
                path,
                params=params,
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        else:
            r = await c.get(path, params=params)
    app.state.executor.shutdown(wait=False)
    assert r.status_code < 500 or r.status_code == 503, (path, params, r.text)
    if path.startswith("/api/v1/") and r.status_code in (200, 400, 422):
        assert r.json()["status"] in ("success", "error")
