"""End to end: the real `nightowl` in tmux against a database with known data.

The screen is read with `tmux capture-pane -p`, the way a person would see it.
Skipped (with the reason) when tmux is not installed, unless CI is set.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from nightowl.store import Store

from nightowl.model import Labels, SampleBatch
from nightowl.timeutil import now_ms

pytestmark = pytest.mark.slow

if shutil.which("tmux") is None:
    if os.environ.get("CI"):
        raise RuntimeError("tmux is required for the end-to-end UI tests in CI")
    pytest.skip(
        "tmux is not installed (needed to drive the real terminal UI)", allow_module_level=True
    )


def write_known_data(db: Path, store: Store | None = None) -> None:
    """An hour of a fictional host ending now: two filesystems (one nearly full), load, an alert."""
    end = now_ms()
    ts = np.arange(end - 3_600_000, end + 1, 15_000, dtype=np.int64)
    inst = {"job": "host", "instance": "owl"}
    series: list[Labels] = []
    refs, times, values = [], [], []

    def add(labels: Labels, vals: np.ndarray) -> None:
        series.append(labels)
        refs.append(np.full(len(ts), len(series) - 1))
        times.append(ts)
        values.append(vals)

    n = len(ts)
    for mp, used in (("/", 0.62), ("/home", 0.93)):
        add(
            Labels.of("node_filesystem_size_bytes", **inst, mountpoint=mp, fstype="ext4"),
            np.full(n, 1e11),
        )
        add(
            Labels.of("node_filesystem_avail_bytes", **inst, mountpoint=mp, fstype="ext4"),
            np.full(n, 1e11 * (1 - used)),
        )
    add(Labels.of("node_load1", **inst), 1 + np.sin(np.arange(n) / 10))
    add(Labels.of("node_load15", **inst), np.full(n, 1.0))
    add(Labels.of("node_memory_MemTotal_bytes", **inst), np.full(n, 8.0 * 2**30))
    add(Labels.of("node_memory_MemAvailable_bytes", **inst), np.full(n, 2.0 * 2**30))
    add(
        Labels.of("ALERTS", alertname="DiskAlmostFull", alertstate="firing", severity="critical"),
        np.ones(n),
    )
    batch = SampleBatch(series, np.concatenate(refs), np.concatenate(times), np.concatenate(values))
    if store is not None:
        store.append_sync(batch)
        return
    with Store.open(db) as s:
        s.append_sync(batch)


class Terminal:
    """One tmux session running a command; read with `screen()`, type with `keys()`."""

    def __init__(
        self, command: str, env: dict[str, str], size: tuple[int, int] = (100, 30)
    ) -> None:
        self.name = f"nightowl-e2e-{uuid.uuid4().hex[:8]}"
        # a server of its own: sessions of other tmux users on the machine cannot
        # change this window's size
        self.tmux = ["tmux", "-L", self.name]
        envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        subprocess.run(
            [
                *self.tmux,
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                str(size[0]),
                "-y",
                str(size[1]),
                # COLUMNS/LINES from the test runner's environment would override the
                # window's real size (shutil.get_terminal_size reads them first)
                f"env -u COLUMNS -u LINES {envs} {command}; sleep 30",
            ],
            check=True,
        )

    def screen(self) -> str:
        out = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"screen never matched; last screen:\n{text}")

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        socket = subprocess.run(
            [*self.tmux, "display-message", "-p", "#{socket_path}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, check=False)
        if socket:
            Path(socket).unlink(missing_ok=True)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """XDG dirs in the test's tmp dir and a config with the host scraper off (only known data)."""
    cfg = tmp_path / "config" / "nightowl"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text("[host]\nenabled = false\n")
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", ""),
    }


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Sessions opened by a test, killed at its end."""
    opened: list[Terminal] = []
    yield opened
    for t in opened:
        t.close()


def nightowl(*args: str) -> str:
    return " ".join([shlex.quote(sys.executable), "-m", "nightowl", *map(shlex.quote, args)])


def test_standalone_dashboard_shows_known_data(tmp_path: Path, env, terminals) -> None:
    """The dashboard draws the stored data and the firing alert; views and query work; q quits."""
    db = tmp_path / "known.db"
    write_known_data(db)
    term = Terminal(nightowl("--db", str(db)), env)
    terminals.append(term)
    screen = term.wait_for(lambda s: "93%" in s and "DiskAlmostFull" in s)
    assert "Filesystems used" in screen and "/home" in screen and "62%" in screen
    assert f"standalone {db}" in screen.replace("\n", "") or "standalone" in screen
    assert "Memory used" in screen and "75%" in screen
    term.keys("t")
    term.wait_for(lambda s: "0 targets" in s)
    term.keys("/")
    term.wait_for(lambda s: "query" in s.splitlines()[0])
    term.keys("node_load15", "Enter")
    screen = term.wait_for(lambda s: "1 series" in s)
    assert "node_load15" in screen
    term.keys("Escape")
    term.wait_for(lambda s: "Filesystems used" in s)
    term.keys("q")
    term.wait_for(lambda s: "Filesystems used" not in s, timeout=10)


def test_attached_read_only_when_a_daemon_owns_the_db(tmp_path: Path, env, terminals) -> None:
    """With the writer lock held elsewhere, the UI attaches read-only and says so in the header."""
    db = tmp_path / "owned.db"
    with Store.open(db) as owner:
        write_known_data(db, owner)
        term = Terminal(nightowl("--db", str(db)), env, size=(120, 40))
        terminals.append(term)
        screen = term.wait_for(lambda s: "attached read-only" in s and "93%" in s)
        assert "DiskAlmostFull" in screen
        term.keys("q")
        term.wait_for(lambda s: "attached read-only" not in s, timeout=10)


def _write_deploys(db: Path) -> None:
    """CI's deploy times (deploy_timestamp_seconds) over the last hour: deploys 40 and 15
    minutes ago."""
    end = now_ms()
    ts = np.arange(end - 3_600_000, end + 1, 15_000, dtype=np.int64)
    first, second = end - 40 * 60_000, end - 15 * 60_000
    at = np.where(ts >= second, second, np.where(ts >= first, first, end - 7_200_000))
    labels = [Labels.of("deploy_timestamp_seconds", job="ci")]
    batch = SampleBatch(labels, np.zeros(len(ts), np.int64), ts, at / 1000.0)
    with Store.open(db) as s:
        s.append_sync(batch)


def test_configured_events_are_marked_and_frames_fit(tmp_path: Path, env, terminals) -> None:
    """[tui] event_queries: the deploys are marked ◆ on the charts and named in the legends
    at 120x40; at 80x24 the panels are title rules (no box cut off at the bottom)."""
    db = tmp_path / "deploys.db"
    write_known_data(db)
    _write_deploys(db)
    cfg = Path(env["XDG_CONFIG_HOME"]) / "nightowl" / "config.toml"
    expr = "changes(deploy_timestamp_seconds[5m]) > 0"
    event = f'{{ name = "deploys", expr = "{expr}" }}'
    cfg.write_text(f"[host]\nenabled = false\n[tui]\nevent_queries = [{event}]\n")
    term = Terminal(nightowl("--db", str(db)), env, size=(120, 40))
    terminals.append(term)
    screen = term.wait_for(lambda s: "◆ deploys" in s and "93%" in s, timeout=30)
    load_axis = [ln for ln in screen.splitlines() if "└" in ln and "◆" in ln]
    assert load_axis and max(ln.count("◆") for ln in load_axis) == 2
    term.close()
    small = Terminal(nightowl("--db", str(db)), env, size=(80, 24))
    terminals.append(small)
    screen = small.wait_for(lambda s: "93%" in s and "Load" in s and "◆" in s, timeout=30)
    lines = screen.splitlines()
    assert any(ln.startswith("─ Load ") or "─ Load ─" in ln for ln in lines)
    assert not any(ln.lstrip().startswith(("╭", "╰")) for ln in lines[1:-1])
