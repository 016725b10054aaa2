"""`nightowl db stats` and `nightowl db compact`, run as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from nightowl.store import Store, StoreOptions

from nightowl.model import Labels, Sample, SampleBatch


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nightowl", *args], capture_output=True, text=True, timeout=60
    )


def _fill(path: Path) -> None:
    opts = StoreOptions(compaction_interval_ms=0, retention_time_ms=0)
    with Store.open(path, options=opts) as s:
        series = [Labels.of("a", i=str(i)) for i in range(5)] + [Labels.of("b")]
        n = 100
        refs = np.repeat(np.arange(6), n)
        ts = np.tile(1_700_000_000_000 + 15_000 * np.arange(n), 6)
        s.append_sync(SampleBatch(series, refs, ts, np.ones(6 * n)))
        s.append_sync(SampleBatch.from_samples([Sample(Labels.of("b"), 1_700_086_400_000, 2.0)]))


def test_db_stats_json_and_text(tmp_path: Path) -> None:
    """Stats count series and samples, list top metrics, and work read-only."""
    db = tmp_path / "x.db"
    _fill(db)
    out = _run("db", "stats", "--db", str(db), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["series"] == 6
    assert data["samples"] == 601
    assert data["head_samples"] == 1
    assert data["oldest_ms"] == 1_700_000_000_000
    assert data["newest_ms"] == 1_700_086_400_000
    assert data["top_metrics"][0] == {"metric": "a", "series": 5}
    assert data["bytes_per_sample"] > 0
    text = _run("db", "stats", "--db", str(db))
    assert text.returncode == 0
    assert "series:            6" in text.stdout
    assert "2023-11-14T22:13:20.000Z" in text.stdout


def test_db_compact_seals_the_head(tmp_path: Path) -> None:
    """Compact moves head samples into chunks; the data reads the same afterwards."""
    db = tmp_path / "x.db"
    _fill(db)
    out = _run("db", "compact", "--db", str(db), "--vacuum")
    assert out.returncode == 0, out.stderr
    assert "sealed 1 head samples" in out.stdout
    data = json.loads(_run("db", "stats", "--db", str(db), "--json").stdout)
    assert data["head_samples"] == 0 and data["samples"] == 601


def test_db_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    """Missing, foreign and locked databases are user errors: exit 2, one clear line."""
    missing = _run("db", "stats", "--db", str(tmp_path / "nope.db"))
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    junk = tmp_path / "junk.db"
    junk.write_text("not a database\n")
    for sub in ("stats", "compact"):
        out = _run("db", sub, "--db", str(junk))
        assert out.returncode == 2
        assert "not an SQLite database" in out.stderr and "Traceback" not in out.stderr
    assert junk.read_text() == "not a database\n"
    db = tmp_path / "x.db"
    _fill(db)
    with Store.open(db, options=StoreOptions(compaction_interval_ms=0)):
        locked = _run("db", "compact", "--db", str(db))
        assert locked.returncode == 2
        assert "process" in locked.stderr and "Traceback" not in locked.stderr
        # Stats still work while another process writes.
        assert _run("db", "stats", "--db", str(db)).returncode == 0
