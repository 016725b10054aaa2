"""The scrape loop over httpx's MockTransport: labels, limits, staleness, synthetic series."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.scrapers.loop import ACCEPT_HEADER, ScrapeLoop
from nightowl.scrapers.target import options_from_config, populate_target
from nightowl.store.api import AppendResult

from nightowl.model import Labels, SampleBatch, TargetHealth, is_stale

PAGE = b"""# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/"} 10
http_requests_total{code="500",path="/"} 2
# TYPE temperature gauge
temperature 21.5
"""


class Recorder:
    """An Appender that keeps every batch."""

    def __init__(self) -> None:
        self.batches: list[SampleBatch] = []

    async def append(self, batch: SampleBatch) -> AppendResult:
        self.batches.append(batch)
        return AppendResult(accepted=len(batch))

    @property
    def last(self) -> dict[Labels, float]:
        return {s.labels: s.v for s in self.batches[-1]}


def by_name(batch: SampleBatch, name: str) -> dict[Labels, float]:
    return {s.labels: s.v for s in batch if s.labels.name == name}


def value(batch: SampleBatch, name: str) -> float:
    vals = list(by_name(batch, name).values())
    assert len(vals) == 1, (name, vals)
    return vals[0]


class Clock:
    def __init__(self, t: int = 1_700_000_000_000) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def make_loop(
    handler: Callable[[httpx.Request], httpx.Response],
    recorder: Recorder | None = None,
    clock: Clock | None = None,
    address: str = "app:8080",
    group_labels: dict[str, str] | None = None,
    **cfg: Any,
) -> tuple[ScrapeLoop, Recorder, httpx.AsyncClient]:
    cfg.setdefault("job_name", "app")
    opts = options_from_config(cfg)
    target, _ = populate_target(opts, group_labels or {}, address)
    assert target is not None
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    rec = recorder or Recorder()
    loop = ScrapeLoop(target, opts, rec, client, clock=clock or Clock())
    return loop, rec, client


def page_handler(body: bytes = PAGE, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "text/plain", **headers})

    return handler


async def test_successful_scrape_writes_samples_and_report_series() -> None:
    """A good page: every sample with target labels, up=1 and the scrape_* series."""
    loop, rec, client = make_loop(page_handler())
    async with client:
        batch = await loop.scrape_once()
    assert len(rec.batches) == 1
    samples = by_name(batch, "http_requests_total")
    assert samples == {
        Labels.of(
            "http_requests_total", code="200", path="/", job="app", instance="app:8080"
        ): 10.0,
        Labels.of("http_requests_total", code="500", path="/", job="app", instance="app:8080"): 2.0,
    }
    assert value(batch, "up") == 1.0
    assert value(batch, "scrape_samples_scraped") == 3.0
    assert value(batch, "scrape_samples_post_metric_relabeling") == 3.0
    assert value(batch, "scrape_series_added") == 3.0
    assert value(batch, "scrape_duration_seconds") >= 0.0
    up_labels = next(iter(by_name(batch, "up")))
    assert up_labels == Labels.of("up", job="app", instance="app:8080")
    assert batch.metadata["http_requests_total"].type == "counter"
    assert batch.metadata["up"].type == "gauge"
    assert set(batch.timestamps.tolist()) == {1_700_000_000_000}
    assert loop.health is TargetHealth.UP
    status = loop.status()
    assert status.health is TargetHealth.UP
    assert status.last_error == ""
    assert status.url == "http://app:8080/metrics"
    assert status.last_scrape_ms == 1_700_000_000_000


async def test_request_headers_as_prometheus_sends() -> None:
    """Accept with q-values, gzip, the timeout header and a user agent."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=PAGE)

    loop, _, client = make_loop(handler, scrape_timeout="7s")
    async with client:
        await loop.scrape_once()
    h = seen[0].headers
    assert h["accept"] == ACCEPT_HEADER
    assert "application/openmetrics-text;version=1.0.0" in h["accept"]
    assert "text/plain;version=0.0.4;q=0.5" in h["accept"]
    assert h["accept-encoding"] == "gzip"
    assert h["x-prometheus-scrape-timeout-seconds"] == "7"
    assert h["user-agent"].startswith("nightowl/")

    loop2, _, client2 = make_loop(handler, enable_compression=False)
    async with client2:
        await loop2.scrape_once()
    assert seen[1].headers["accept-encoding"] == "identity"


async def test_gzip_body_is_decoded() -> None:
    """A gzip-encoded page is decompressed before parsing."""
    body = gzip.compress(PAGE)
    loop, _rec, client = make_loop(page_handler(body, **{"Content-Encoding": "gzip"}))
    async with client:
        batch = await loop.scrape_once()
    assert value(batch, "up") == 1.0
    assert value(batch, "temperature") == 21.5


async def test_openmetrics_content_type_is_parsed_as_openmetrics() -> None:
    """OpenMetrics pages (float second timestamps, # EOF) are read by content type."""
    body = b"# TYPE m gauge\nm 1 1700000000.5\n# EOF\n"
    handler = page_handler(
        body, **{"Content-Type": "application/openmetrics-text; version=1.0.0; charset=utf-8"}
    )
    loop, _, client = make_loop(handler)
    async with client:
        batch = await loop.scrape_once()
    m = [s for s in batch if s.labels.name == "m"]
    assert m[0].t == 1_700_000_000_500


@pytest.mark.parametrize(
    ("cfg", "files", "expected"),
    [
        ({"authorization": {"credentials": "s3cret"}}, {}, "Bearer s3cret"),
        ({"authorization": {"type": "Token", "credentials": "abc"}}, {}, "Token abc"),
        ({"bearer_token": "tok"}, {}, "Bearer tok"),
        (
            {"authorization": {"credentials_file": "{tok}"}},
            {"tok": "from-file\n"},
            "Bearer from-file",
        ),
        ({"basic_auth": {"username": "u", "password": "p"}}, {}, "Basic dTpw"),
        ({"basic_auth": {"username": "u", "password_file": "{pw}"}}, {"pw": "p\n"}, "Basic dTpw"),
    ],
)
async def test_auth_headers(tmp_path: Path, cfg: dict, files: dict, expected: str) -> None:
    """Bearer, custom-type and basic credentials, inline or from files."""
    paths = {}
    for name, text in files.items():
        p = tmp_path / name
        p.write_text(text)
        paths[name] = str(p)

    def fill(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: fill(v) for k, v in obj.items()}
        if isinstance(obj, str) and obj.startswith("{"):
            return paths[obj[1:-1]]
        return obj

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(200, content=PAGE)

    loop, _, client = make_loop(handler, **fill(cfg))
    async with client:
        await loop.scrape_once()
    assert seen == [expected]


async def test_unreadable_credentials_file_fails_the_scrape(tmp_path: Path) -> None:
    """A missing credentials file is a scrape error naming the file, not a crash."""
    missing = tmp_path / "nope"
    loop, _, client = make_loop(page_handler(), authorization={"credentials_file": str(missing)})
    async with client:
        batch = await loop.scrape_once()
    assert value(batch, "up") == 0.0
    assert str(missing) in loop.last_error


async def test_params_go_into_the_url() -> None:
    """`params` and `__param_*` labels become the query string."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=PAGE)

    loop, _, client = make_loop(
        handler, params={"module": ["http_2xx"], "target": ["a", "b"]}, metrics_path="/probe"
    )
    async with client:
        await loop.scrape_once()
    assert seen == ["http://app:8080/probe?module=http_2xx&target=a&target=b"]


async def test_http_error_status_marks_target_down() -> None:
    """A non-200 answer: up=0, no data, the status in last_error."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, content=b"busy")

    loop, _, client = make_loop(handler)
    async with client:
        batch = await loop.scrape_once()
    assert value(batch, "up") == 0.0
    assert value(batch, "scrape_samples_scraped") == 0.0
    assert "503" in loop.last_error
    assert loop.status().health is TargetHealth.DOWN
    assert {s.labels.name for s in batch} == {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }


async def test_connection_error_marks_target_down() -> None:
    """A refused connection is recorded, not raised."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    loop, _, client = make_loop(handler)
    async with client:
        batch = await loop.scrape_once()
    assert value(batch, "up") == 0.0
    assert "connection refused" in loop.last_error


async def test_malformed_page_marks_target_down_with_line() -> None:
    """A parse error fails the scrape and names the line."""
    body = b"ok 1\nbad{ 2\n"
    loop, _, client = make_loop(page_handler(body))
    async with client:
        batch = await loop.scrape_once()
    assert value(batch, "up") == 0.0
    assert "parse error" in loop.last_error
    assert "2" in loop.last_error


async def test_staleness_for_disappearing_series_and_down_target() -> None:
    """A vanished series gets one stale marker; a failed scrape ends all series."""
    pages = [
        b"a 1\nb 2\nc 3\n",
        b"a 1\nc 3\n",
    ]
    state = {"i": 0, "fail": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if state["fail"]:
            return httpx.Response(500)
        body = pages[min(state["i"], len(pages) - 1)]
        state["i"] += 1
        return httpx.Response(200, content=body)

    clock = Clock()
    loop, _rec, client = make_loop(handler, clock=clock)
    async with client:
        await loop.scrape_once()
        clock.t += 15_000
        second = await loop.scrape_once()
        stale = [s for s in second if is_stale(s.v)]
        assert [s.labels.name for s in stale] == ["b"]
        assert stale[0].t == clock.t
        assert value(second, "scrape_series_added") == 0.0
        clock.t += 15_000
        state["fail"] = True
        third = await loop.scrape_once()
        assert sorted(s.labels.name for s in third if is_stale(s.v)) == ["a", "c"]
        assert value(third, "up") == 0.0
        clock.t += 15_000
        state["fail"] = False
        fourth = await loop.scrape_once()
        assert not any(is_stale(s.v) for s in fourth)
        assert value(fourth, "scrape_series_added") == 2.0


async def test_stop_writes_stale_markers_for_everything() -> None:
    """Stopping a loop (target removed) ends its series and its synthetic series."""
    clock = Clock()
    loop, rec, client = make_loop(page_handler(), clock=clock)
    async with client:
        await loop.scrape_once()
        clock.t += 1000
        await loop.stop()
    last = rec.batches[-1]
    assert all(is_stale(s.v) for s in last)
    names = sorted(s.labels.name for s in last)
    assert names.count("http_requests_total") == 2
    assert "up" in names and "temperature" in names
    assert len(rec.batches) == 2


async def test_explicit_timestamps_honored_and_not_tracked_for_staleness() -> None:
    """honor_timestamps keeps exposed timestamps; such series get no stale markers."""
    clock = Clock()
    pages = iter([b"a 1 1600000000000\nb 2\n", b"c 3\n"])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=next(pages))

    loop, _, client = make_loop(handler, clock=clock)
    async with client:
        first = await loop.scrape_once()
        assert {s.labels.name: s.t for s in first if s.labels.name in "ab"} == {
            "a": 1_600_000_000_000,
            "b": clock.t,
        }
        clock.t += 1000
        second = await loop.scrape_once()
    assert [s.labels.name for s in second if is_stale(s.v)] == ["b"]


async def test_honor_timestamps_false_uses_scrape_time() -> None:
    """With honor_timestamps = false every sample gets the scrape's time."""
    loop, _, client = make_loop(page_handler(b"a 1 1600000000000\n"), honor_timestamps=False)
    async with client:
        batch = await loop.scrape_once()
    assert {s.t for s in batch} == {1_700_000_000_000}


async def test_conflicting_labels_are_prefixed_unless_honor_labels() -> None:
    """Exposed job/instance become exported_*; with honor_labels the exposed ones win."""
    body = b'm{job="other",instance="x",exported_job="e"} 1\n'
    loop, _, client = make_loop(page_handler(body))
    async with client:
        batch = await loop.scrape_once()
    (labels,) = by_name(batch, "m")
    assert labels.to_dict() == {
        "__name__": "m",
        "job": "app",
        "instance": "app:8080",
        "exported_instance": "x",
        "exported_exported_job": "other",
        "exported_job": "e",
    }

    loop2, _, client2 = make_loop(page_handler(body), honor_labels=True)
    async with client2:
        batch2 = await loop2.scrape_once()
    (labels2,) = by_name(batch2, "m")
    assert labels2.get("job") == "other"
    assert labels2.get("instance") == "x"
    # The synthetic series keep the target's own labels.
    assert next(iter(by_name(batch2, "up"))).get("job") == "app"


async def test_metric_relabel_configs_drop_and_rewrite() -> None:
    """metric_relabel_configs run on scraped series; post-relabel count reported."""
    loop, _, client = make_loop(
        page_handler(),
        metric_relabel_configs=[
            {"action": "drop", "source_labels": ["code"], "regex": "5.."},
            {"source_labels": ["path"], "target_label": "route", "replacement": "root"},
        ],
    )
    async with client:
        batch = await loop.scrape_once()
    reqs = by_name(batch, "http_requests_total")
    assert len(reqs) == 1
    assert next(iter(reqs)).get("route") == "root"
    assert value(batch, "scrape_samples_scraped") == 3.0
    assert value(batch, "scrape_samples_post_metric_relabeling") == 2.0


async def test_secret_label_values_are_redacted() -> None:
    """Label values that look like credentials are stored as <redacted>."""
    body = b'info{dsn="postgres://app:hunter2@db:5432/app",key="AKIAABCDEFGHIJKLMNOP"} 1\n'
    loop, _, client = make_loop(page_handler(body))
    async with client:
        batch = await loop.scrape_once()
    (labels,) = by_name(batch, "info")
    assert labels.get("dsn") == "postgres://app:<redacted>@db:5432/app"
    assert labels.get("key") == "<redacted>"

    loop2, _, client2 = make_loop(page_handler(body), redact_secrets=False)
    async with client2:
        batch2 = await loop2.scrape_once()
    assert "hunter2" in next(iter(by_name(batch2, "info"))).get("dsn")


async def test_sample_limit_fails_the_scrape() -> None:
    """Over sample_limit: nothing ingested, up=0, previous series stale."""
    clock = Clock()
    pages = iter([b"a 1\n", PAGE])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=next(pages))

    loop, _, client = make_loop(handler, clock=clock, sample_limit=2)
    async with client:
        await loop.scrape_once()
        clock.t += 1000
        batch = await loop.scrape_once()
    assert value(batch, "up") == 0.0
    assert "sample_limit exceeded" in loop.last_error
    assert by_name(batch, "http_requests_total") == {}
    assert [s.labels.name for s in batch if is_stale(s.v)] == ["a"]
    assert value(batch, "scrape_samples_scraped") == 3.0


async def test_sample_limit_truncate_mode_keeps_the_first_samples() -> None:
    """sample_limit_mode = truncate ingests up to the limit and says so."""
    loop, _, client = make_loop(page_handler(), sample_limit=2, sample_limit_mode="truncate")
    async with client:
        batch = await loop.scrape_once()
    assert value(batch, "up") == 1.0
    assert len(by_name(batch, "http_requests_total")) == 2
    assert by_name(batch, "temperature") == {}
    assert "kept the first 2 of 3" in loop.last_error
    assert value(batch, "scrape_samples_post_metric_relabeling") == 2.0


@pytest.mark.parametrize(
    ("cfg", "fragment"),
    [
        ({"label_limit": 4}, "label_limit exceeded"),
        ({"label_name_length_limit": 3}, "label_name_length_limit exceeded"),
        ({"label_value_length_limit": 5}, "label_value_length_limit exceeded"),
    ],
)
async def test_label_limits_fail_the_scrape(cfg: dict, fragment: str) -> None:
    """label_limit and the length limits fail the scrape as in Prometheus."""
    loop, _, client = make_loop(page_handler(), **cfg)
    async with client:
        batch = await loop.scrape_once()
    assert value(batch, "up") == 0.0
    assert fragment in loop.last_error


async def test_body_size_limit() -> None:
    """A body over body_size_limit fails the scrape, also when gzip hides the size."""
    big = b"".join(b"metric_%d 1\n" % i for i in range(2000))
    loop, _, client = make_loop(page_handler(big), body_size_limit="1KiB")
    async with client:
        batch = await loop.scrape_once()
    assert value(batch, "up") == 0.0
    assert "body size limit exceeded" in loop.last_error

    loop2, _, client2 = make_loop(
        page_handler(gzip.compress(big), **{"Content-Encoding": "gzip"}), body_size_limit="1KiB"
    )
    async with client2:
        batch2 = await loop2.scrape_once()
    assert value(batch2, "up") == 0.0
    assert "body size limit exceeded" in loop2.last_error


async def test_repeat_scrapes_reuse_label_work() -> None:
    """The second scrape of the same page produces identical series objects (cache)."""
    clock = Clock()
    loop, _, client = make_loop(page_handler(), clock=clock)
    async with client:
        a = await loop.scrape_once()
        clock.t += 1
        b = await loop.scrape_once()
    assert a.series[:3] == b.series[:3]
    assert all(x is y for x, y in zip(a.series[:3], b.series[:3], strict=True))


async def test_store_failure_is_reported_not_raised() -> None:
    """If the store refuses the batch the loop records it and goes on."""

    class Broken:
        async def append(self, batch: SampleBatch) -> AppendResult:
            raise RuntimeError("disk full")

    opts = options_from_config({"job_name": "app"})
    target, _ = populate_target(opts, {}, "app:8080")
    assert target is not None
    async with httpx.AsyncClient(transport=httpx.MockTransport(page_handler())) as client:
        loop = ScrapeLoop(target, opts, Broken(), client)
        await loop.scrape_once()
    assert "disk full" in loop.last_error
    assert loop.health is TargetHealth.DOWN


async def test_run_scrapes_on_the_targets_phase() -> None:
    """start(): scrapes every interval at the target's stable offset into it; stop() ends it."""
    import asyncio

    from nightowl.timeutil import now_ms

    loop, rec, client = make_loop(page_handler(), clock=now_ms, scrape_interval="200ms")
    async with client:
        loop.start()
        await asyncio.sleep(1.0)
        await loop.stop()
    ups = [s.t for b in rec.batches for s in b if s.labels.name == "up" and not is_stale(s.v)]
    assert 2 <= len(ups) <= 6
    gaps = [b - a for a, b in itertools.pairwise(ups)]
    # Each gap is one interval (or two if a busy machine made the loop skip a tick).
    assert all(100 <= g <= 500 for g in gaps), gaps
    offset = loop.target.offset_ms()
    phase_error = [min((t - offset) % 200, (offset - t) % 200) for t in ups]
    assert sorted(phase_error)[len(phase_error) // 2] <= 80, (offset, ups)
    # Stopped: the last batch holds only staleness markers.
    assert all(is_stale(s.v) for s in rec.batches[-1])


_lines = st.sampled_from(
    [
        b"a 1\n",
        b'b{x="1"} 2\n',
        b'b{x="2"} NaN\n',
        b"# TYPE c counter\n",
        b"c_total 5 1600000000000\n",
        b"# EOF\n",
        b"bad{ 1\n",
        b"\xff\xfe\n",
        b'd{job="j",instance="i"} 3\n',
        b"",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_lines, max_size=8).map(b"".join), min_size=1, max_size=4))
def test_any_sequence_of_pages_is_handled(pages: list[bytes]) -> None:
    """Whatever pages a target serves, each scrape yields up=0|1 and never raises."""
    import asyncio

    async def run() -> None:
        bodies = iter(pages)
        clock = Clock()
        loop, rec, client = make_loop(
            lambda request: httpx.Response(200, content=next(bodies)), clock=clock
        )
        async with client:
            for _ in pages:
                batch = await loop.scrape_once()
                assert value(batch, "up") in (0.0, 1.0)
                clock.t += 1000
            await loop.stop()
        assert all(is_stale(s.v) for s in rec.batches[-1])

    asyncio.run(run())
