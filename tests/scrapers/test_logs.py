"""Log sources: patterns into counters/histograms, and tail -F following across rotation."""

from __future__ import annotations

import asyncio
import math
import os
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.scrapers.logs import FileFollower, LogMetric, LogSource
from nightowl.store.memory import MemoryStore

from nightowl.errors import ConfigError
from nightowl.model import Labels, Matcher, MatchOp

SSH_FAILED = LogMetric(
    name="ssh_failed_logins_total",
    regex=(
        r"sshd\[\d+\]: Failed password for (?:invalid user )?(?P<user>\S+) "
        r"from (?P<source>\S+) port"
    ),
    help="Failed SSH password logins by user and source address.",
)


class FakeClock:
    """A settable wall clock."""

    def __init__(self, t: int = 1_700_000_000_000) -> None:
        self.t = t

    def now_ms(self) -> int:
        return self.t


def _series(store: MemoryStore, name: str) -> dict[Labels, float]:
    return {
        d.labels.without_name(): float(d.values[-1])
        for d in store.select([Matcher("__name__", MatchOp.EQ, name)], 0, 2**62)
    }


@pytest.fixture
def follow():
    """Make followers that are closed after the test."""
    made: list[FileFollower] = []

    def make(*args, **kwargs) -> FileFollower:
        f = FileFollower(*args, **kwargs)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def _drain(f: FileFollower) -> list[str]:
    out: list[str] = []
    while True:
        lines, more = f.read_lines()
        out += lines
        if not more:
            return out


# -- the sshd example ---------------------------------------------------------------------


async def test_failed_ssh_logins_per_user_and_source(shared_dir: Path, tmp_path: Path) -> None:
    """Counts per (user, source) equal an independent count by splitting words."""
    log = shared_dir / "fixtures" / "logs" / "auth.log"
    expected: Counter[tuple[str, str]] = Counter()
    for line in log.read_text().splitlines():
        words = line.split()
        if len(words) > 5 and words[4].startswith("sshd[") and words[5:7] == ["Failed", "password"]:
            rest = words[8:]  # after "for"
            if rest[:2] == ["invalid", "user"]:
                rest = rest[2:]
            assert rest[1] == "from"
            expected[(rest[0], rest[2])] += 1
    assert sum(expected.values()) > 10

    store = MemoryStore()
    source = LogSource(
        "auth",
        log,
        [SSH_FAILED],
        store,
        start_at="beginning",
        state_file=tmp_path / "state.json",
        clock=FakeClock(),
    )
    await source.collect_once()
    await source.stop()
    got = {
        (lbl.get("user"), lbl.get("source")): v
        for lbl, v in _series(store, "ssh_failed_logins_total").items()
    }
    assert all(lbl.get("log") == "auth" for lbl in _series(store, "ssh_failed_logins_total"))
    assert got == {k: float(v) for k, v in expected.items()}
    lines = _series(store, "nightowl_log_lines_total")[Labels.of(log="auth")]
    assert lines == len(log.read_bytes().splitlines())
    assert store.metadata("ssh_failed_logins_total")["ssh_failed_logins_total"].type == "counter"
    assert source.status().health == "up"


# -- following ----------------------------------------------------------------------------


def test_partial_line_waits_for_newline(tmp_path: Path, follow) -> None:
    """A line without its newline is held back until the newline arrives."""
    p = tmp_path / "app.log"
    p.write_bytes(b"")
    f = follow(p, start_at="beginning")
    with open(p, "ab") as fh:
        fh.write(b"first\nsec")
    assert _drain(f) == ["first"]
    with open(p, "ab") as fh:
        fh.write(b"ond\r\nthird\n")
    assert _drain(f) == ["second", "third"]
    assert f.offset == p.stat().st_size


def test_start_at_end_skips_existing_lines(tmp_path: Path, follow) -> None:
    """tail -F default: what is there at start is not replayed."""
    p = tmp_path / "app.log"
    p.write_text("old 1\nold 2\nhalf")
    f = follow(p)
    assert _drain(f) == []
    with open(p, "a") as fh:
        fh.write(" done\nnew\n")
    assert _drain(f) == ["half done", "new"]


def test_file_appearing_later_is_read_from_start(tmp_path: Path, follow) -> None:
    """A file that does not exist yet is read from its first byte once it appears."""
    p = tmp_path / "late.log"
    f = follow(p)
    assert _drain(f) == [] and not f.present
    p.write_text("a\nb\n")
    assert _drain(f) == ["a", "b"]


def test_rename_rotation_drains_old_file_first(tmp_path: Path, follow) -> None:
    """logrotate's rename: late writes to the old file are read, then the new file."""
    p = tmp_path / "app.log"
    p.write_text("")
    f = follow(p, start_at="beginning")
    with open(p, "a") as fh:
        fh.write("1\n2\n")
        fh.flush()
        assert _drain(f) == ["1", "2"]
        os.rename(p, tmp_path / "app.log.1")
        fh.write("3\n")  # the writer still holds the old file
        fh.flush()
        assert _drain(f) == ["3"]  # path missing: keep reading the old file
        p.write_text("4\n5")
        assert _drain(f) == ["4"]
    assert f.stats.rotations == 1
    with open(p, "a") as fh:
        fh.write("\n")
    assert _drain(f) == ["5"]


def test_copytruncate_detected_even_when_refilled(tmp_path: Path, follow) -> None:
    """Truncation is seen by size, and by the head hash when refilled past our offset."""
    p = tmp_path / "app.log"
    p.write_text("alpha\nbeta\n")
    f = follow(p, start_at="beginning")
    assert _drain(f) == ["alpha", "beta"]
    shutil.copy(p, tmp_path / "app.log.1")
    with open(p, "r+") as fh:
        fh.truncate(0)
    assert _drain(f) == []
    assert f.stats.truncations == 1
    with open(p, "a") as fh:
        fh.write("gamma\n")
    assert _drain(f) == ["gamma"]
    # Truncate and refill beyond the old offset before the next poll.
    with open(p, "w") as fh:
        fh.write("X" * 40 + "\nomega\n")
    assert _drain(f) == ["X" * 40, "omega"]
    assert f.stats.truncations == 2


def test_restart_resumes_at_saved_offset(tmp_path: Path, follow) -> None:
    """A new follower with the same state file continues where the old one stopped."""
    p, state = tmp_path / "app.log", tmp_path / "st" / "off.json"
    p.write_text("1\n2\n")
    f = follow(p, state_file=state, start_at="beginning")
    assert _drain(f) == ["1", "2"]
    f.save_state()
    f.close()
    with open(p, "a") as fh:
        fh.write("3\n")
    f2 = follow(p, state_file=state, start_at="end")
    assert _drain(f2) == ["3"]
    f2.save_state()
    f2.close()
    # Replaced while we were down (new inode): the new file is read from the start.
    os.rename(p, tmp_path / "app.log.1")
    p.write_text("new 1\n")
    f3 = follow(p, state_file=state, start_at="end")
    assert _drain(f3) == ["new 1"]
    f3.save_state()
    f3.close()
    # Same inode, rewritten in place with different first bytes: from the start too.
    with open(p, "r+") as fh:
        fh.write("NEW 1\nmore\n")
    f4 = follow(p, state_file=state, start_at="end")
    assert _drain(f4) == ["NEW 1", "more"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("write"), st.text(alphabet="ab\n", min_size=1, max_size=30)),
            st.tuples(st.just("poll"), st.just("")),
            st.tuples(st.just("rotate"), st.just("")),
        ),
        max_size=25,
    )
)
def test_follower_fuzz_every_line_once(tmp_path_factory: pytest.TempPathFactory, ops) -> None:
    """Whatever the interleaving of writes, polls and rotations, each line comes out once."""
    d = tmp_path_factory.mktemp("fuzz")
    p = d / "f.log"
    p.write_text("")
    f = FileFollower(p, start_at="beginning")
    got: list[str] = _drain(f)  # opens the file
    opened_current = True
    written = ""
    gen = 0
    for op, text in ops:
        if op == "write":
            with open(p, "a") as fh:
                fh.write(text)
            written += text
        elif op == "poll":
            got += _drain(f)
            opened_current = True
        else:
            # Rotation only at a line boundary, as loggers reopen between lines.
            if written and not written.endswith("\n"):
                with open(p, "a") as fh:
                    fh.write("\n")
                written += "\n"
            if not opened_current:
                # A poller cannot see a file that came and went between two polls
                # (neither can tail -F): poll once per rotated file.
                got += _drain(f)
            gen += 1
            os.rename(p, d / f"f.log.{gen}")
            p.write_text("")
            opened_current = False
    with open(p, "a") as fh:
        fh.write("\n")
    written += "\n"
    got += _drain(f)
    assert got == written.split("\n")[:-1]
    f.close()


# -- patterns -----------------------------------------------------------------------------


async def test_histogram_from_captured_number(tmp_path: Path) -> None:
    """Bucket counts equal counting the captured values against each bound."""
    rng = random.Random(7)
    values = [round(rng.uniform(0, 3), 3) for _ in range(200)]
    p = tmp_path / "access.log"
    p.write_text("".join(f"GET /x status={200 if v < 2 else 500} took={v}s\n" for v in values))
    buckets = (0.1, 0.5, 1.0, 2.5)
    metric = LogMetric(
        "http_request_seconds",
        r"status=(?P<status>\d+) took=(?P<took>[\d.]+)s",
        type="histogram",
        value_group="took",
        buckets=buckets,
    )
    store = MemoryStore()
    src = LogSource("access", p, [metric], store, start_at="beginning", state_file=False)
    await src.collect_once()
    await src.stop()
    got = _series(store, "http_request_seconds_bucket")
    for status in ("200", "500"):
        mine = [v for v in values if (v < 2) == (status == "200")]
        for le in buckets:
            assert got[Labels.of(status=status, le=str(le), log="access")] == sum(
                1 for v in mine if v <= le
            )
        assert got[Labels.of(status=status, le="+Inf", log="access")] == len(mine)
        count = _series(store, "http_request_seconds_count")[Labels.of(status=status, log="access")]
        total = _series(store, "http_request_seconds_sum")[Labels.of(status=status, log="access")]
        assert count == len(mine)
        assert total == pytest.approx(math.fsum(mine))


async def test_counter_with_value_gauge_and_value_errors(tmp_path: Path) -> None:
    """Counters add a captured number, gauges keep the last, bad numbers are counted."""
    p = tmp_path / "x.log"
    p.write_text("sent=10 q=3\nsent=5 q=7\nsent=oops q=1\nsent=-4 q=2\n")
    metrics = [
        LogMetric("bytes_sent_total", r"sent=(?P<n>\S+)", value_group="n"),
        LogMetric("queue_depth", r"(?P<queue>q)=(?P<q>\d+)", type="gauge", value_group="q"),
        LogMetric("lines_seen_total", r"."),
    ]
    store = MemoryStore()
    src = LogSource("x", p, metrics, store, start_at="beginning", state_file=False)
    await src.collect_once()
    await src.stop()
    assert _series(store, "bytes_sent_total") == {Labels.of(log="x"): 15.0}
    assert _series(store, "queue_depth") == {Labels.of(queue="q", log="x"): 2.0}
    assert _series(store, "lines_seen_total") == {Labels.of(log="x"): 4.0}
    assert _series(store, "nightowl_log_value_errors_total") == {Labels.of(log="x"): 2.0}


async def test_missing_file_is_visible_and_counters_start_at_zero(tmp_path: Path) -> None:
    """A missing file: file_present 0, unlabelled counters already at 0, status down."""
    store = MemoryStore()
    src = LogSource("gone", tmp_path / "nope.log", [LogMetric("errs_total", "ERROR")], store)
    await src.collect_once()
    await src.stop()
    assert _series(store, "errs_total") == {Labels.of(log="gone"): 0.0}
    assert _series(store, "nightowl_log_file_present") == {Labels.of(log="gone"): 0.0}
    assert src.status().health == "down" and "does not exist" in src.last_error


async def test_source_task_follows_appends(tmp_path: Path) -> None:
    """The running task picks up appended lines without blocking the loop."""
    p = tmp_path / "live.log"
    p.write_text("")
    store = MemoryStore()
    src = LogSource(
        "live",
        p,
        [LogMetric("errs_total", r"ERROR (?P<code>\w+)")],
        store,
        interval_ms=20,
        poll_interval_ms=10,
        state_file=tmp_path / "s.json",
    )
    src.start()
    while src.last_run_ms is None:  # the file is opened (at its end) on the first round
        await asyncio.sleep(0.005)
    with open(p, "a") as fh:
        fh.write("ERROR E1\nok\nERROR E2\nERROR E1\n")
    for _ in range(200):
        await asyncio.sleep(0.01)
        if _series(store, "errs_total").get(Labels.of(code="E1", log="live")) == 2:
            break
    await src.stop()
    assert _series(store, "errs_total") == {
        Labels.of(code="E1", log="live"): 2.0,
        Labels.of(code="E2", log="live"): 1.0,
    }
    assert (tmp_path / "s.json").exists()


@pytest.mark.parametrize(
    ("metric", "fragment"),
    [
        (LogMetric("x_total", "(unclosed"), "invalid regex"),
        (LogMetric("bad name", "x"), "invalid metric name"),
        (LogMetric("h", "(?P<v>\\d+)", type="histogram"), "needs `value_group`"),
        (LogMetric("h", "(?P<v>\\d+)", value_group="w"), "not a named group"),
        (LogMetric("h", "(?P<v>\\d+)", labels=("x",)), "not named groups"),
        (
            LogMetric("h", "(?P<v>\\d+)", type="histogram", value_group="v", buckets=(2, 1)),
            "buckets",
        ),
        (LogMetric("h", "x", type="summary"), "counter, gauge or histogram"),  # type: ignore[arg-type]
    ],
)
def test_bad_patterns_name_the_key(tmp_path: Path, metric: LogMetric, fragment: str) -> None:
    """Config errors name the log source and the metric's index."""
    with pytest.raises(ConfigError) as err:
        LogSource("auth", tmp_path / "a.log", [metric], MemoryStore())
    assert fragment in str(err.value)
    assert "log_configs.auth.metrics[0]" in str(err.value)


async def test_from_config_example_section(shared_dir: Path, tmp_path: Path) -> None:
    """The sshd example of the config, loaded through nightowl.config, counts the fixture."""
    from nightowl.config import parse_config

    log = shared_dir / "fixtures" / "logs" / "auth.log"
    cfg = parse_config(
        f"""
[[log_configs]]
name = "sshd"
path = "{log}"
start_at = "beginning"
state_file = "{tmp_path / "sshd.offset"}"

[[log_configs.metrics]]
name = "ssh_failed_logins_total"
regex = 'Failed password for (?:invalid user )?(?P<user>\\S+) from (?P<source>\\S+) port \\d+'
labels = ["user", "source"]
""",
        base_dir=tmp_path,
    )
    store = MemoryStore()
    src = LogSource.from_config(cfg.log_configs[0], store)
    await src.collect_once()
    await src.stop()
    total = sum(_series(store, "ssh_failed_logins_total").values())
    assert total == sum(1 for ln in log.read_text().splitlines() if "Failed password" in ln)
    assert (tmp_path / "sshd.offset").exists()


async def test_attacker_controlled_labels_are_bounded(tmp_path: Path) -> None:
    """New label sets beyond the limit are dropped and counted; known ones still count."""
    p = tmp_path / "auth.log"
    lines = [f"Failed password for user{i} from 10.0.0.1 port 22\n" for i in range(50)]
    p.write_text("".join(lines) + "Failed password for user0 from 10.0.0.1 port 22\n")
    store = MemoryStore()
    src = LogSource(
        "auth",
        p,
        [LogMetric("fails_total", r"for (?P<user>\S+) from")],
        store,
        start_at="beginning",
        state_file=False,
        max_series_per_metric=10,
    )
    await src.collect_once()
    await src.stop()
    got = _series(store, "fails_total")
    assert len(got) == 10
    assert got[Labels.of(user="user0", log="auth")] == 2.0
    dropped = _series(store, "nightowl_log_series_dropped_total")
    assert dropped == {Labels.of(log="auth", metric="fails_total"): 40.0}


async def test_source_restart_counts_each_line_once(shared_dir: Path, tmp_path: Path) -> None:
    """Stop after half the auth log, restart: the two runs' counts add up to the whole file."""
    lines = (shared_dir / "fixtures" / "logs" / "auth.log").read_text().splitlines(keepends=True)
    half = len(lines) // 2
    p, state = tmp_path / "auth.log", tmp_path / "auth.offset"
    p.write_text("".join(lines[:half]))

    async def run_once() -> float:
        store = MemoryStore()
        src = LogSource("auth", p, [SSH_FAILED], store, start_at="beginning", state_file=state)
        await src.collect_once()
        await src.stop()
        return sum(_series(store, "ssh_failed_logins_total").values())

    first = await run_once()
    with open(p, "a") as fh:
        fh.write("".join(lines[half:]))
    second = await run_once()
    assert first == sum("Failed password" in ln for ln in lines[:half])
    assert second == sum("Failed password" in ln for ln in lines[half:])
    assert await run_once() == 0  # nothing new


async def test_config_gauge_and_counter_with_value(tmp_path: Path) -> None:
    """Through the config: a counter adding a captured number and a gauge of the last one."""
    from nightowl.config import parse_config

    p = tmp_path / "nginx.log"
    p.write_text("sent=100 conns=3\nsent=50 conns=9\nsent=7 conns=4\n")
    cfg = parse_config(
        f"""
[[log_configs]]
name = "web"
path = "{p}"
start_at = "beginning"
[[log_configs.metrics]]
name = "bytes_sent_total"
regex = 'sent=(?P<n>\\d+)'
value_group = "n"
[[log_configs.metrics]]
name = "open_connections"
type = "gauge"
regex = 'conns=(?P<c>\\d+)'
value_group = "c"
""",
        base_dir=tmp_path,
    )
    store = MemoryStore()
    src = LogSource.from_config(cfg.log_configs[0], store, state_file=False)
    await src.collect_once()
    await src.stop()
    assert _series(store, "bytes_sent_total") == {Labels.of(log="web"): 157.0}
    assert _series(store, "open_connections") == {Labels.of(log="web"): 4.0}


async def test_shipped_example_counts_the_fixture(shared_dir: Path, tmp_path: Path) -> None:
    """The sshd entry of config.example.toml, as shipped, on the fixture auth.log."""
    import dataclasses

    from nightowl.config import load_config

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    [sshd] = [c for c in load_config(example).log_configs if c.name == "sshd"]
    log = shared_dir / "fixtures" / "logs" / "auth.log"
    cfg = dataclasses.replace(
        sshd, path=str(log), start_at="beginning", state_file=str(tmp_path / "o.json")
    )
    store = MemoryStore()
    src = LogSource.from_config(cfg, store)
    await src.collect_once()
    await src.stop()
    expected: Counter[tuple[str, str]] = Counter()
    for line in log.read_text().splitlines():
        if "sshd[" not in line or "Failed password for " not in line:
            continue
        words = line.split("Failed password for ", 1)[1].split()
        if words[:2] == ["invalid", "user"]:
            words = words[2:]
        expected[(words[0], words[2])] += 1
    got = {
        (lbl.get("user"), lbl.get("source")): v
        for lbl, v in _series(store, "ssh_failed_logins_total").items()
    }
    assert got == {k: float(v) for k, v in expected.items()}


# -- globs --------------------------------------------------------------------------------


def _lines_total(store: MemoryStore, name: str) -> float:
    return _series(store, "nightowl_log_lines_total")[Labels.of(log=name)]


async def test_glob_follows_every_match_and_new_files(tmp_path: Path) -> None:
    """Files matching at start follow start_at; files appearing later are read from the start."""
    (tmp_path / "a.log").write_text("ERROR x\nok\n")
    (tmp_path / "b.log").write_text("ERROR y\n")
    (tmp_path / "c.txt").write_text("ERROR not matched by the glob\n")
    store, clock = MemoryStore(), FakeClock()
    src = LogSource(
        "app",
        str(tmp_path / "*.log"),
        [LogMetric("errors_total", r"ERROR (?P<what>\w+)")],
        store,
        start_at="beginning",
        clock=clock,
    )
    await src.collect_once()
    assert set(src.followers) == {str(tmp_path / "a.log"), str(tmp_path / "b.log")}
    (tmp_path / "d.log").write_text("ERROR z\n")
    clock.t += 1000
    await src.collect_once()
    got = _series(store, "errors_total")
    assert got == {Labels.of(what=w, log="app"): 1.0 for w in ("x", "y", "z")}
    assert src.describe() == str(tmp_path / "*.log")

    # A deleted file's follower goes; what it read still counts.
    (tmp_path / "a.log").unlink()
    clock.t += 1000
    await src.collect_once()
    await src.stop()
    assert str(tmp_path / "a.log") not in src.followers
    assert _lines_total(store, "app") == 4


async def test_glob_rotation_into_the_glob_is_not_read_twice(tmp_path: Path) -> None:
    """app.log -> app.log.1 with glob app.log*: old lines once, late writes to .1 once."""
    live = tmp_path / "app.log"
    live.write_text("")
    store, clock = MemoryStore(), FakeClock()
    src = LogSource(
        "app", str(tmp_path / "app.log*"), [LogMetric("hits_total", "HIT")], store, clock=clock
    )
    await src.collect_once()
    with open(live, "a") as fh:
        fh.write("HIT 1\nHIT 2\n")
        fh.flush()
        clock.t += 1000
        await src.collect_once()
        os.rename(live, tmp_path / "app.log.1")
        live.write_text("HIT 3\n")
        fh.write("HIT late\n")  # the writer still has the rotated file open
    for _ in range(3):
        clock.t += 1000
        await src.collect_once()
    with open(tmp_path / "app.log.1", "a") as fh:
        fh.write("HIT later still\n")
    clock.t += 1000
    await src.collect_once()
    await src.stop()
    assert _series(store, "hits_total") == {Labels.of(log="app"): 5.0}
    assert _lines_total(store, "app") == 5


def test_glob_with_state_file_is_refused(tmp_path: Path) -> None:
    """One state file cannot hold the offsets of many files."""
    with pytest.raises(ConfigError) as err:
        LogSource(
            "g",
            str(tmp_path / "*.log"),
            [LogMetric("m_total", "x")],
            MemoryStore(),
            state_file=tmp_path / "s.json",
        )
    assert "log_configs.g.state_file" in str(err.value)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.sampled_from(["write", "write_rotated", "poll", "rotate"]), min_size=1, max_size=20
    )
)
def test_glob_rotation_fuzz_each_line_once(tmp_path_factory: pytest.TempPathFactory, ops) -> None:
    """Writes to the live and rotated files, polls and rotations: every line counted once."""
    d = tmp_path_factory.mktemp("globfuzz")
    live = d / "app.log"
    live.write_text("")

    async def go() -> tuple[int, int]:
        src = LogSource(
            "g",
            str(d / "app.log*"),
            [LogMetric("m_total", "x")],
            MemoryStore(),
            start_at="beginning",
            state_file=False,
        )
        await src.poll()
        written, gen, polled_since_rotation = 0, 0, True
        for op in ops:
            if op == "write":
                with open(live, "a") as fh:
                    fh.write("x\n")
                written += 1
            elif op == "write_rotated" and gen:
                with open(d / f"app.log.{gen}", "a") as fh:
                    fh.write("x\n")
                written += 1
            elif op == "poll":
                await src.poll()
                polled_since_rotation = True
            elif op == "rotate":
                if not polled_since_rotation:
                    await src.poll()  # a poller must see each file once (as tail -F)
                gen += 1
                os.rename(live, d / f"app.log.{gen}")
                live.write_text("")
                polled_since_rotation = False
        for _ in range(3):
            await src.poll()
        lines = src._stats().lines
        await src.stop()
        return written, lines

    written, lines = asyncio.run(go())
    assert lines == written


async def test_glob_restart_resumes_each_file(tmp_path: Path) -> None:
    """Each matching file keeps its own offset (under the XDG state dir) across restarts."""
    for n in ("a", "b"):
        (tmp_path / f"{n}.log").write_text("x\nx\n")

    async def run_once() -> float:
        src = LogSource(
            "g",
            str(tmp_path / "*.log"),
            [LogMetric("m_total", "x")],
            MemoryStore(),
            start_at="beginning",
        )
        await src.poll()
        await src.stop()
        return src._stats().lines

    assert await run_once() == 4
    with open(tmp_path / "b.log", "a") as fh:
        fh.write("x\n")
    assert await run_once() == 1
    assert await run_once() == 0
