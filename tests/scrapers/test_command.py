"""Command sources: real subprocesses, no shell, timeouts that kill the process group."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from pathlib import Path

import pytest
from nightowl.scrapers._jsonpath import JsonMetric
from nightowl.scrapers.command import CommandSource, run_command
from nightowl.store.memory import MemoryStore

from nightowl.config import parse_config
from nightowl.errors import ConfigError
from nightowl.model import Labels, Matcher, MatchOp, is_stale

PY = sys.executable


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


def _one(store: MemoryStore, name: str) -> float:
    [v] = _series(store, name).values()
    return v


async def _run(src: CommandSource) -> None:
    await src.collect_once()
    await src.stop()


async def test_number_from_sh_echo() -> None:
    """`sh -c 'echo 42'` as an argv: the number, exit code 0, success 1, a duration."""
    store = MemoryStore()
    src = CommandSource("answer", ["sh", "-c", "echo 42"], store, metric="the_answer")
    await _run(src)
    assert _series(store, "the_answer") == {Labels.of(command="answer"): 42.0}
    assert _one(store, "nightowl_command_exit_code") == 0
    assert _one(store, "nightowl_command_success") == 1
    assert 0 < _one(store, "nightowl_command_duration_seconds") < 10
    assert src.status().health == "up"


async def test_no_shell_arguments_are_literal(tmp_path: Path) -> None:
    """Shell syntax in arguments is passed through untouched, never interpreted."""
    marker = tmp_path / "pwned"
    arg = f"$(touch {marker}); `touch {marker}` | & > {marker}"
    store = MemoryStore()
    src = CommandSource(
        "len", [PY, "-c", "import sys; print(len(sys.argv[1]))", arg], store, metric="arg_len"
    )
    await _run(src)
    assert _one(store, "arg_len") == len(arg)
    assert not marker.exists()


async def test_nonzero_exit_reports_stderr_tail() -> None:
    """Exit status 3: success 0, exit_code 3, the last stderr line in the error."""
    store = MemoryStore()
    argv = ["sh", "-c", "echo 5; echo 'disk on fire' >&2; exit 3"]
    src = CommandSource("check", argv, store, metric="m")
    await _run(src)
    assert _one(store, "nightowl_command_exit_code") == 3
    assert _one(store, "nightowl_command_success") == 0
    assert _series(store, "m") == {}
    assert "exit status 3: disk on fire" in src.last_error
    assert src.status().health == "down"


async def test_unparsable_number_and_missing_program(tmp_path: Path) -> None:
    """Text instead of a number, or a program that does not exist: clear errors, no crash."""
    store = MemoryStore()
    src = CommandSource("words", ["echo", "not a number"], store, metric="m")
    await _run(src)
    assert "expected one number" in src.last_error
    assert _one(store, "nightowl_command_exit_code") == 0

    store2 = MemoryStore()
    missing = str(tmp_path / "no-such-tool")
    src2 = CommandSource("ghost", [missing], store2, metric="m")
    await _run(src2)
    assert "cannot run" in src2.last_error and missing in src2.last_error
    assert math.isnan(_one(store2, "nightowl_command_exit_code"))
    assert _one(store2, "nightowl_command_success") == 0


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """A hanging script and its background child are both killed at the timeout."""
    pidfile = tmp_path / "child.pid"
    script = f"sleep 30 & echo $! > {pidfile}; sleep 30"
    store = MemoryStore()
    src = CommandSource("hang", ["sh", "-c", script], store, metric="m", timeout_ms=300)
    started = time.monotonic()
    await _run(src)
    assert time.monotonic() - started < 5
    assert "timed out" in src.last_error
    assert _one(store, "nightowl_command_exit_code") == -9
    assert _one(store, "nightowl_command_timeouts_total") == 1
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":  # killed, waiting for its new parent to reap it
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"background child {child} survived the timeout")


async def test_background_child_holding_stdout_is_killed(tmp_path: Path) -> None:
    """The script exits at once but its child keeps stdout open: killed at the timeout."""
    pidfile = tmp_path / "child.pid"
    store = MemoryStore()
    src = CommandSource(
        "bg", ["sh", "-c", f"sleep 30 & echo $! > {pidfile}"], store, metric="m", timeout_ms=300
    )
    started = time.monotonic()
    await _run(src)
    assert time.monotonic() - started < 5
    assert "timed out" in src.last_error
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"background child {child} survived")


async def test_oversize_output_is_refused() -> None:
    """More stdout than allowed: the run fails instead of buffering without bound."""
    res = await run_command([PY, "-c", "print('x' * 100000)"], timeout_s=5, max_output=1000)
    assert "larger than 1000 bytes" in res.error


async def test_prometheus_output_with_labels_metadata_and_staleness(tmp_path: Path) -> None:
    """Text-format output: labels merged, own timestamps kept, vanished series go stale."""
    out = tmp_path / "out.prom"
    out.write_text(
        "# HELP backup_age_seconds Age of the last backup.\n"
        "# TYPE backup_age_seconds gauge\n"
        'backup_age_seconds{db="main"} 120\n'
        'backup_age_seconds{db="logs"} 7200 1700000000000\n'
    )
    store, clock = MemoryStore(), FakeClock()
    src = CommandSource(
        "backups", ["cat", str(out)], store, format="prometheus", labels={"site": "a"}, clock=clock
    )
    await src.collect_once()
    got = _series(store, "backup_age_seconds")
    assert got == {
        Labels.of(db="main", site="a", command="backups"): 120.0,
        Labels.of(db="logs", site="a", command="backups"): 7200.0,
    }
    [logs] = store.select([Matcher("db", MatchOp.EQ, "logs")], 0, 2**62)
    assert int(logs.timestamps[-1]) == 1_700_000_000_000
    assert store.metadata("backup_age_seconds")["backup_age_seconds"].help.startswith("Age")

    out.write_text('backup_age_seconds{db="main"} 130\n')
    clock.t += 15_000
    await src.collect_once()
    await src.stop()
    got = _series(store, "backup_age_seconds")
    assert got[Labels.of(db="main", site="a", command="backups")] == 130.0
    assert is_stale(got[Labels.of(db="logs", site="a", command="backups")])


async def test_malformed_prometheus_output_names_the_line(tmp_path: Path) -> None:
    """A bad line: success 0 and the error carries the parser's position."""
    store = MemoryStore()
    src = CommandSource("bad", ["printf", "ok 1\\nbroken{ 2\\n"], store, format="prometheus")
    await _run(src)
    assert _one(store, "nightowl_command_success") == 0
    assert "stdout line 2" in src.last_error, src.last_error
    assert _series(store, "ok") == {}


async def test_json_output_with_paths() -> None:
    """JSON on stdout is mapped with the same field paths as JSON sources."""
    doc = '{"disks": [{"name": "sda", "realloc": 0}, {"name": "sdb", "realloc": 12}]}'
    store = MemoryStore()
    src = CommandSource(
        "disk-health",
        [PY, "-c", f"print({doc!r})"],
        store,
        format="json",
        metrics=[
            JsonMetric("disk_reallocated_sectors", "disks[*].realloc", {"device": "disks[*].name"})
        ],
    )
    await _run(src)
    assert _series(store, "disk_reallocated_sectors") == {
        Labels.of(device="sda", command="disk-health"): 0.0,
        Labels.of(device="sdb", command="disk-health"): 12.0,
    }


async def test_stop_while_running_kills_the_command(tmp_path: Path) -> None:
    """Stopping the source mid-run leaves no process behind."""
    pidfile = tmp_path / "pid"
    store = MemoryStore()
    src = CommandSource(
        "slow",
        ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"],
        store,
        metric="m",
        timeout_ms=20_000,
        interval_ms=60_000,
    )
    src.start()
    while not pidfile.exists() or not pidfile.read_text().strip():
        await asyncio.sleep(0.01)
    pid = int(pidfile.read_text())
    await src.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_from_config(tmp_path: Path) -> None:
    """A [[command_configs]] entry from TOML builds a working source."""
    cfg = parse_config(
        f"""
[[command_configs]]
name = "updates"
command = ["{PY}", "-c", "print(7)"]
interval = "10m"
timeout = "5s"
metric = "apt_pending_updates"
labels = {{ team = "ops" }}
""",
        base_dir=tmp_path,
    )
    store = MemoryStore()
    src = CommandSource.from_config(cfg.command_configs[0], store)
    assert (src.interval_ms, src.timeout_ms) == (600_000, 5_000)
    await _run(src)
    assert _series(store, "apt_pending_updates") == {Labels.of(team="ops", command="updates"): 7.0}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"argv": "echo 1"}, "list of strings"),
        ({"argv": []}, "list of strings"),
        ({"format": "yaml"}, "number, prometheus or json"),
        ({"metric": ""}, "needs `metric`"),
        ({"metric": "1bad"}, "invalid metric name"),
        ({"format": "json"}, "needs `metrics`"),
        ({"labels": {"bad-label": "x"}}, "invalid label name"),
    ],
)
def test_bad_config_names_the_key(kwargs: dict, fragment: str) -> None:
    """Config errors are clear and name command_configs.<name>."""
    args = {"argv": ["true"], "metric": "m"} | kwargs
    with pytest.raises(ConfigError) as err:
        CommandSource("c", args.pop("argv"), MemoryStore(), **args)
    assert fragment in str(err.value) and "command_configs.c" in str(err.value)


class _BrokenStore(MemoryStore):
    async def append(self, batch):
        raise OSError("disk full")


async def test_store_failure_keeps_the_task_alive() -> None:
    """A failing store is reported as the last error; the periodic task keeps running."""
    src = CommandSource("c", ["echo", "1"], _BrokenStore(), metric="m", interval_ms=20)
    src.start()
    for _ in range(200):
        await asyncio.sleep(0.01)
        if "disk full" in src.last_error:
            break
    await asyncio.sleep(0.05)
    running = src._task is not None and not src._task.done()
    await src.stop()
    assert "disk full" in src.last_error
    assert running
