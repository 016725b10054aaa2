"""JSON over HTTP: field paths, fan-out labels, failures, auth; against a real local server."""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.scrapers._jsonpath import JsonPath
from nightowl.scrapers._sources import BatchBuilder
from nightowl.scrapers.jsonsrc import JsonMetric, JsonSource
from nightowl.store.memory import MemoryStore

from nightowl.config import parse_config
from nightowl.errors import ConfigError
from nightowl.model import Labels, Matcher, MatchOp, is_stale

CI_DOC = {
    "project": {"name": "web"},
    "pipelines": [
        {
            "id": 101,
            "ref": "main",
            "status": "success",
            "duration": 312.5,
            "jobs": [
                {"name": "lint", "duration": 20, "retried": False},
                {"name": "test", "duration": 240.25, "retried": True},
            ],
        },
        {
            "id": 102,
            "ref": "feature/x",
            "status": "failed",
            "duration": 45,
            "jobs": [{"name": "lint", "duration": "19.5", "retried": False}],
        },
        {"id": 103, "ref": "main", "status": "running", "duration": None, "jobs": []},
    ],
    "runners": {"r1": {"busy": True}, "r2": {"busy": False}},
}


class _Server:
    """A tiny HTTP server whose response the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = json.dumps(CI_DOC).encode()
        self.delay = 0.0
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(dict(self.headers))
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                try:
                    self.wfile.write(outer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/pipelines"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


class FakeClock:
    def __init__(self, t: int = 1_700_000_000_000) -> None:
        self.t = t

    def now_ms(self) -> int:
        return self.t


def _series(store: MemoryStore, name: str) -> dict[Labels, float]:
    return {
        d.labels.without_name(): float(d.values[-1])
        for d in store.select([Matcher("__name__", MatchOp.EQ, name)], 0, 2**62)
    }


METRICS = [
    JsonMetric(
        "ci_pipeline_duration_seconds",
        "pipelines[*].duration",
        {"ref": "pipelines[*].ref", "status": "pipelines[*].status", "project": "project.name"},
    ),
    JsonMetric(
        "ci_job_duration_seconds",
        "pipelines[*].jobs[*].duration",
        {"pipeline": "pipelines[*].id", "job": "pipelines[*].jobs[*].name"},
    ),
    JsonMetric(
        "ci_job_retried",
        "pipelines[*].jobs[*].retried",
        {"job": "pipelines[*].jobs[*].name", "pipeline": "pipelines[*].id"},
    ),
    JsonMetric("ci_runner_busy", "runners[*].busy", {"runner": "runners[*]~"}),
]


async def test_ci_document_fans_out_with_sibling_labels(server: _Server) -> None:
    """Each pipeline and job becomes one series labelled from its own fields."""
    store = MemoryStore()
    src = JsonSource("ci", server.url, METRICS, store, clock=FakeClock())
    await src.collect_once()
    await src.stop()

    expected_p = {
        Labels.of(ref=p["ref"], status=p["status"], project="web", json="ci"): float(p["duration"])
        for p in CI_DOC["pipelines"]
        if p["duration"] is not None
    }
    assert _series(store, "ci_pipeline_duration_seconds") == expected_p
    expected_j = {
        Labels.of(pipeline=str(p["id"]), job=j["name"], json="ci"): float(j["duration"])
        for p in CI_DOC["pipelines"]
        for j in p["jobs"]
    }
    assert _series(store, "ci_job_duration_seconds") == expected_j
    retried = _series(store, "ci_job_retried")
    assert retried[Labels.of(pipeline="101", job="test", json="ci")] == 1.0
    assert retried[Labels.of(pipeline="101", job="lint", json="ci")] == 0.0
    assert _series(store, "ci_runner_busy") == {
        Labels.of(runner=k, json="ci"): float(v["busy"]) for k, v in CI_DOC["runners"].items()
    }
    assert _series(store, "nightowl_json_up") == {Labels.of(json="ci"): 1.0}
    assert _series(store, "nightowl_json_skipped_fields") == {Labels.of(json="ci"): 1.0}  # null
    assert _series(store, "nightowl_json_status_code") == {Labels.of(json="ci"): 200.0}
    assert server.requests[0]["Accept"] == "application/json"


async def test_failures_go_down_and_end_series(server: _Server) -> None:
    """Status 500, malformed JSON, oversize and timeouts: up 0, mapped series stale."""
    store, clock = MemoryStore(), FakeClock()
    src = JsonSource("ci", server.url, METRICS[:1], store, clock=clock, timeout_ms=500)
    src.max_body = 10_000
    await src.collect_once()
    assert src.status().health == "up"

    cases = [
        ({"status": 500}, "HTTP status 500"),
        ({"body": b'{"pipelines": ['}, "malformed JSON"),
        ({"body": b"[" + b"1," * 10_000 + b"1]"}, "larger than"),
        ({"delay": 3.0}, "timeout"),
    ]
    for change, fragment in cases:
        server.status, server.body, server.delay = 200, json.dumps(CI_DOC).encode(), 0.0
        for k, v in change.items():
            setattr(server, k, v)
        clock.t += 1000
        started = time.monotonic()
        await src.collect_once()
        assert time.monotonic() - started < 2.5, fragment
        assert fragment in src.last_error and src.status().health == "down"
        assert _series(store, "nightowl_json_up") == {Labels.of(json="ci"): 0.0}
        assert all(is_stale(v) for v in _series(store, "ci_pipeline_duration_seconds").values())
        # recovers
        server.status, server.body, server.delay = 200, json.dumps(CI_DOC).encode(), 0.0
        clock.t += 1000
        await src.collect_once()
        assert src.last_error == ""
    await src.stop()


async def test_unreachable_server_is_down() -> None:
    """A closed port: up 0 and the error names the URL."""
    store = MemoryStore()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = JsonSource("x", f"http://127.0.0.1:{port}/", METRICS[:1], store, timeout_ms=1000)
    await src.collect_once()
    await src.stop()
    assert _series(store, "nightowl_json_up") == {Labels.of(json="x"): 0.0}
    assert f"127.0.0.1:{port}" in src.last_error


async def test_auth_from_files_read_each_fetch(server: _Server, tmp_path: Path) -> None:
    """Bearer token and basic password come from files, re-read at every fetch."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    src = JsonSource(
        "ci",
        server.url,
        METRICS[:1],
        MemoryStore(),
        authorization=("Bearer", "", str(token)),
    )
    await src.collect_once()
    token.write_text("rotated")
    await src.collect_once()
    await src.stop()
    assert [r["Authorization"] for r in server.requests] == ["Bearer s3cret", "Bearer rotated"]

    pw = tmp_path / "pw"
    pw.write_text("hunter2")
    src = JsonSource("ci", server.url, METRICS[:1], MemoryStore(), basic_auth=("ci", "", str(pw)))
    await src.collect_once()
    await src.stop()
    assert (
        server.requests[-1]["Authorization"] == "Basic " + base64.b64encode(b"ci:hunter2").decode()
    )


async def test_from_config(server: _Server, tmp_path: Path) -> None:
    """A [[json_configs]] entry from TOML builds a working source."""
    cfg = parse_config(
        f"""
[[json_configs]]
name = "ci"
url = "{server.url}"
interval = "30s"
[[json_configs.metrics]]
name = "ci_pipeline_duration_seconds"
path = "pipelines[*].duration"
labels = {{ ref = "pipelines[*].ref" }}
""",
        base_dir=tmp_path,
    )
    store = MemoryStore()
    src = JsonSource.from_config(cfg.json_configs[0], store)
    assert src.interval_ms == 30_000
    await src.collect_once()
    await src.stop()
    got = _series(store, "ci_pipeline_duration_seconds")
    assert got[Labels.of(ref="feature/x", json="ci")] == 45.0


@pytest.mark.parametrize(
    ("metric", "fragment"),
    [
        (JsonMetric("bad name", "a"), "invalid metric name"),
        (JsonMetric("m", "a..b"), "invalid field path"),
        (JsonMetric("m", "a.b", {"x": "c[*].d"}), "more [*]"),
        (JsonMetric("m", "a", {"__x": "b"}), "invalid label name"),
        (JsonMetric("m", "a", type="histogram"), "gauge or counter"),  # type: ignore[arg-type]
        (JsonMetric("m", "a", {"k": "b~"}), "`~` needs a [*]"),
    ],
)
def test_bad_mappings_name_the_key(metric: JsonMetric, fragment: str) -> None:
    """Bad metric specs are config errors naming json_configs.<name>.metrics[i]."""
    with pytest.raises(ConfigError) as err:
        JsonSource("ci", "http://127.0.0.1:1/", [metric], MemoryStore())
    assert fragment in str(err.value) and "json_configs.ci.metrics[0]" in str(err.value)


# -- paths --------------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=3),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,4}", fullmatch=True), c, max_size=3
        )
    ),
    max_leaves=15,
)


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{prefix}[{i}]")
    elif prefix:
        yield prefix, node


@settings(max_examples=200, deadline=None)
@given(doc=_json)
def test_every_leaf_is_reachable_by_its_path(doc: Any) -> None:
    """A path spelled from the document's structure finds exactly that leaf."""
    for text, leaf in _leaves(doc):
        [(value, bound)] = JsonPath(text).find(doc)
        assert bound == ()
        assert value == leaf or (isinstance(leaf, float) and math.isnan(leaf))


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet='ab.[]*0-1"~\\', max_size=12), doc=_json)
def test_path_parser_fuzz(text: str, doc: Any) -> None:
    """Any text compiles or raises ConfigError; compiled paths never crash on any document."""
    try:
        p = JsonPath(text)
    except ConfigError:
        return
    for _, bound in p.find(doc):
        p.get(doc, bound)


def test_wildcard_star_count_matches_items() -> None:
    """`[*]` over a root list yields one value per item, in order."""
    doc = [{"n": i, "v": i * i} for i in range(5)]
    found = JsonPath("[*].v").find(doc)
    assert [v for v, _ in found] == [d["v"] for d in doc]
    b = BatchBuilder(0)
    from nightowl.scrapers._jsonpath import JsonMapping

    JsonMapping([JsonMetric("sq", "[*].v", {"n": "[*].n"})], "t").apply(doc, b, {})
    assert len(b) == len(doc)
