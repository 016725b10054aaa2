"""`nightowl import` and `nightowl export`, run as real subprocesses on real files."""

from __future__ import annotations

import gzip
import math
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nightowl.model import NORMAL_NAN_BITS, Labels, Matcher, MatchOp

NIGHTOWL = str(Path(sys.executable).with_name("nightowl"))

OM_TEXT = """# TYPE req counter
# HELP req Requests "served".
req_total{code="200",path="/a b"} 1 0.000
req_total{code="200",path="/a b"} 2 15.000
req_total{code="200",path="/a b"} 3.5 30.001
req_total{code="500",path="/a b"} NaN 15.000
req_total{code="500",path="/a b"} +Inf 30.000
req_total{code="500",path="/a b"} -Inf 45.000
# TYPE temp gauge
# UNIT temp_celsius celsius
temp_celsius{room="x\\\\y\\"z\\nw"} -0.0 1700000000.123
temp_celsius{room="x\\\\y\\"z\\nw"} 1e-300 1700000015.123
temp_celsius{room="x\\\\y\\"z\\nw"} 123456789.25 1700000030.999
# EOF
"""


def run(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NIGHTOWL, *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )


def all_samples(db: Path) -> dict[Labels, tuple[list[int], list[bytes]]]:
    from nightowl.store import Store

    with Store.open(db, readonly=True) as store:
        out = {}
        for sd in store.select([Matcher("__name__", MatchOp.RE, ".+")], -(2**63), 2**63 - 1):
            out[sd.labels] = (
                sd.timestamps.tolist(),
                [struct.pack("<d", v) for v in sd.values.tolist()],
            )
        return out


def test_cli_import_export_roundtrip_exact(tmp_path: Path) -> None:
    """import -> export -> import -> export: identical text and identical samples."""
    src = tmp_path / "in.om"
    src.write_text(OM_TEXT)
    db1, db2 = tmp_path / "one.db", tmp_path / "two.db"
    res = run("import", "--db", str(db1), str(src))
    assert res.returncode == 0, res.stderr.decode()
    summary = res.stdout.decode()
    assert "imported 9 samples of 3 series" in summary and "0 malformed lines" in summary
    assert "samples/s" in summary
    out1 = tmp_path / "out1.om"
    res = run("export", "--db", str(db1), "-o", str(out1))
    assert res.returncode == 0, res.stderr.decode()
    assert "exported 9 samples of 3 series" in res.stderr.decode()
    res = run("import", "--db", str(db2), str(out1))
    assert res.returncode == 0, res.stderr.decode()
    res = run("export", "--db", str(db2))
    assert res.returncode == 0
    assert res.stdout == out1.read_bytes()
    one, two = all_samples(db1), all_samples(db2)
    assert one == two
    code500 = one[Labels.of("req_total", code="500", path="/a b")]
    assert code500[0] == [15000, 30000, 45000]
    assert code500[1][0] == struct.pack("<Q", NORMAL_NAN_BITS)
    assert code500[1][1:] == [struct.pack("<d", math.inf), struct.pack("<d", -math.inf)]
    temp = one[Labels.of("temp_celsius", room='x\\y"z\nw')]
    assert temp[0] == [1700000000123, 1700000015123, 1700000030999]
    assert temp[1][0] == struct.pack("<d", -0.0)
    assert one[Labels.of("req_total", code="200", path="/a b")][0] == [0, 15000, 30001]
    gz = tmp_path / "out.om.gz"
    assert run("export", "--db", str(db2), "-o", str(gz)).returncode == 0
    assert gzip.decompress(gz.read_bytes()) == out1.read_bytes()
    text = out1.read_text()
    assert text.endswith("# EOF\n") and "# TYPE req counter" in text
    assert "# UNIT temp_celsius celsius" in text


def test_cli_export_leaves_out_staleness_markers(tmp_path: Path) -> None:
    """Staleness markers in the store are not exported (OpenMetrics cannot say them)."""
    from nightowl.store import Store

    from nightowl.model import STALE_NAN, SampleBatch

    db = tmp_path / "stale.db"
    up = Labels.of("up", job="a")
    with Store.open(db) as store:
        store.append_sync(
            SampleBatch([up], [0, 0, 0], [1000, 2000, 3000], [1.0, STALE_NAN, math.nan])
        )
    res = run("export", "--db", str(db))
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.decode().splitlines() == [
        'up{job="a"} 1 1.000',
        'up{job="a"} NaN 3.000',
        "# EOF",
    ]
    assert b"1 staleness markers left out" in res.stderr


def test_cli_import_export_selectors_and_range(tmp_path: Path) -> None:
    """Export honours selectors (union) and --start/--end (inclusive)."""
    src = tmp_path / "in.om"
    src.write_text(OM_TEXT)
    db = tmp_path / "x.db"
    assert run("import", "--db", str(db), str(src)).returncode == 0
    res = run("export", "--db", str(db), 'req_total{code="200"}', "--start", "10", "--end", "30")
    assert res.returncode == 0, res.stderr.decode()
    lines = [ln for ln in res.stdout.decode().splitlines() if not ln.startswith("#")]
    assert lines == ['req_total{code="200",path="/a b"} 2 15.000']
    res = run("export", "--db", str(db), 'req_total{code="500"}', "temp_celsius")
    body = [ln for ln in res.stdout.decode().splitlines() if not ln.startswith("#")]
    assert len(body) == 6
    res = run("export", "--db", str(db), "up{")
    assert res.returncode == 2 and b"Traceback" not in res.stderr
    res = run("export", "--db", str(db), '{job=""}')
    assert res.returncode == 2 and b"non-empty matcher" in res.stderr
    res = run("export", "--db", str(tmp_path / "missing.db"))
    assert res.returncode != 0 and b"Traceback" not in res.stderr


def test_cli_import_gzip_stdin_and_prometheus_text(tmp_path: Path) -> None:
    """`.gz` files and stdin (`-`, gzipped or not) import; Prometheus text with ms works."""
    gz = tmp_path / "in.om.gz"
    gz.write_bytes(gzip.compress(OM_TEXT.encode()))
    db = tmp_path / "g.db"
    res = run("import", "--db", str(db), str(gz))
    assert res.returncode == 0, res.stderr.decode()
    assert "imported 9 samples" in res.stdout.decode()
    db2 = tmp_path / "s.db"
    res = run("import", "--db", str(db2), "-", stdin=gzip.compress(OM_TEXT.encode()))
    assert res.returncode == 0, res.stderr.decode()
    assert all_samples(db) == all_samples(db2)
    db3 = tmp_path / "p.db"
    prom = b'# TYPE up gauge\nup{job="a"} 1 1000\nup{job="a"} 0 2000\n'
    res = run("import", "--db", str(db3), "-", stdin=prom)
    assert res.returncode == 0, res.stderr.decode()
    assert all_samples(db3)[Labels.of("up", job="a")][0] == [1000, 2000]


def test_cli_import_malformed_exit_2_and_skip_errors(tmp_path: Path) -> None:
    """A malformed line: exit 2 naming file:line:col; --skip-errors goes on and counts."""
    bad = tmp_path / "bad.om"
    bad.write_text('up 1 1.000\nup{job="x} 2 2.000\nup 3 3.000\nup 4 four\n# EOF\n')
    db = tmp_path / "b.db"
    res = run("import", "--db", str(db), str(bad))
    assert res.returncode == 2
    err = res.stderr.decode()
    assert f"{bad}:2:" in err and "Traceback" not in err
    res = run("import", "--db", str(tmp_path / "c.db"), "--skip-errors", str(bad))
    assert res.returncode == 0, res.stderr.decode()
    assert "2 malformed lines" in res.stdout.decode()
    assert f"{bad}:4:" in res.stderr.decode()
    got = all_samples(tmp_path / "c.db")[Labels.of("up")]
    assert got[0] == [1000, 3000]
    missing = run("import", "--db", str(db), str(tmp_path / "nope.om"))
    assert missing.returncode == 2 and b"no such file" in missing.stderr
    notgz = tmp_path / "x.gz"
    notgz.write_bytes(b"\x1f\x8bgarbage")
    res = run("import", "--db", str(db), str(notgz))
    assert res.returncode == 2 and b"Traceback" not in res.stderr


def test_cli_import_1970_history_and_retention_warning(tmp_path: Path) -> None:
    """1970 samples import; a retention window that would drop them is named on stderr."""
    src = tmp_path / "old.om"
    src.write_text("up 1 0.000\nup 2 86400.000\nup 3 1700000000.000\n# EOF\n")
    res = run("import", "--db", str(tmp_path / "a.db"), str(src))
    assert res.returncode == 0, res.stderr.decode()
    assert b"retention window" in res.stderr and b"retention_time" in res.stderr
    assert all_samples(tmp_path / "a.db")[Labels.of("up")][0] == [0, 86_400_000, 1_700_000_000_000]
    cfg = tmp_path / "keep.toml"
    cfg.write_text('[storage]\nretention_time = "0s"\n')
    res = run("import", "--db", str(tmp_path / "b.db"), "--config", str(cfg), str(src))
    assert res.returncode == 0, res.stderr.decode()
    assert res.stderr == b""


def test_cli_import_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """With stderr on a terminal a progress bar is drawn there; piped, stderr stays quiet."""
    import pty

    src = tmp_path / "p.om"
    _big_file(src, series=20, points=500)
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [NIGHTOWL, "import", "--db", str(tmp_path / "p.db"), str(src)],
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=60,
            check=False,
        )
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave != -1:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    drawn = b"".join(chunks).decode()
    assert "100.0%" in drawn and "10,000 samples" in drawn
    assert "imported 10000 samples" in proc.stdout.decode()
    quiet = run("import", "--db", str(tmp_path / "q.db"), str(src))
    assert quiet.returncode == 0 and quiet.stderr == b""


def _big_file(path: Path, series: int, points: int) -> int:
    with path.open("w") as f:
        f.write("# TYPE m gauge\n")
        for s in range(series):
            base = f'm{{series="{s:04d}",job="crash"}} '
            f.write(
                "".join(
                    f"{base}{(s * 7 + k) % 1000} {1_600_000_000 + 15 * k}.000\n"
                    for k in range(points)
                )
            )
        f.write("# EOF\n")
    return series * points


@pytest.mark.slow
def test_cli_import_kill_9_keeps_committed_batches(tmp_path: Path) -> None:
    """kill -9 mid-import: the file passes integrity_check and every reported batch is there."""
    src = tmp_path / "big.om"
    _big_file(src, series=200, points=2000)
    db = tmp_path / "crash.db"
    proc = subprocess.Popen(
        [NIGHTOWL, "import", "--db", str(db), "--verbose", "--batch-size", "5000", str(src)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reported = 0
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline().decode()
            if not line:
                break
            if line.startswith("committed batch"):
                reported = int(line.rsplit(",", 1)[1].split()[0])
                if line.startswith("committed batch 5:"):
                    os.kill(proc.pid, signal.SIGKILL)
                    break
    finally:
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    assert reported >= 25_000
    assert proc.returncode == -signal.SIGKILL, "import finished before it could be killed"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    stored = sum(len(ts) for ts, _ in all_samples(db).values())
    assert stored >= reported
    # The database is usable again: the import can be re-run to completion.
    res = run("import", "--db", str(db), str(src), timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    total = sum(len(ts) for ts, _ in all_samples(db).values())
    assert total == 400_000
    assert np.all(np.diff(all_samples(db)[Labels.of("m", series="0000", job="crash")][0]) > 0)


def _seconds_file(path: Path, lines: int, *, eof: bool = True) -> bytes:
    """Integer-second OpenMetrics timestamps, longer than the parser's 64 KiB sniffing window."""
    text = "".join(f'm{{i="{i}"}} 1 {1_700_000_000 + i}\n' for i in range(lines))
    data = (text + ("# EOF\n" if eof else "")).encode()
    path.write_bytes(data)
    return data


def _timestamps(db: Path) -> list[int]:
    return sorted(t for ts, _ in all_samples(db).values() for t in ts)


def _feed_fifo(fifo: Path, data: bytes) -> threading.Thread:
    def write() -> None:
        with fifo.open("wb") as f:
            f.write(data)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


def test_cli_import_auto_format_same_for_every_input_kind(tmp_path: Path) -> None:
    """OpenMetrics with integer-second timestamps: file, stdin, .gz, gzip stdin and a FIFO agree."""
    src = tmp_path / "f.om"
    data = _seconds_file(src, 5000)
    assert len(data) > 1 << 16
    want = [(1_700_000_000 + i) * 1000 for i in range(5000)]
    gz = tmp_path / "f.om.gz"
    gz.write_bytes(gzip.compress(data))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    cases = {
        "file": ([str(src)], None),
        "stdin": (["-"], data),
        "gz": ([str(gz)], None),
        "gzip stdin": (["-"], gzip.compress(data)),
    }
    for kind, (argv, stdin) in cases.items():
        db = tmp_path / f"{kind}.db"
        res = run("import", "--db", str(db), *argv, stdin=stdin)
        assert res.returncode == 0, (kind, res.stderr.decode())
        assert res.stderr == b"", kind
        assert _timestamps(db) == want, kind
    # A FIFO (what `<(cat f.om)` gives) is copied aside, then read like a file.
    writer = _feed_fifo(fifo, data)
    res = run("import", "--db", str(tmp_path / "fifo.db"), str(fifo))
    writer.join(10)
    assert res.returncode == 0, res.stderr.decode()
    assert _timestamps(tmp_path / "fifo.db") == want
    # An explicit format streams the FIFO without the copy.
    writer = _feed_fifo(fifo, data)
    res = run("import", "--db", str(tmp_path / "fifo2.db"), "--format", "openmetrics", str(fifo))
    writer.join(10)
    assert res.returncode == 0, res.stderr.decode()
    assert _timestamps(tmp_path / "fifo2.db") == want


def test_cli_import_auto_format_says_what_it_chose(tmp_path: Path) -> None:
    """No `# EOF` and timestamps that could be seconds: the choice is named on stderr."""
    src = tmp_path / "noeof.txt"
    _seconds_file(src, 3000, eof=False)
    res = run("import", "--db", str(tmp_path / "a.db"), str(src))
    assert res.returncode == 0, res.stderr.decode()
    err = res.stderr.decode()
    assert "note:" in err and "Prometheus text" in err and "--format openmetrics" in err
    assert _timestamps(tmp_path / "a.db")[0] == 1_700_000_000
    res = run("import", "--db", str(tmp_path / "b.db"), "--format", "openmetrics", str(src))
    assert res.returncode == 2 and b"does not end with # EOF" in res.stderr
    # Millisecond timestamps of this century are no guess: nothing to say.
    prom = tmp_path / "ms.txt"
    prom.write_text("".join(f"up {i} {1_700_000_000_000 + i}\n" for i in range(5000)))
    res = run("import", "--db", str(tmp_path / "c.db"), str(prom))
    assert res.returncode == 0 and res.stderr == b"", res.stderr.decode()


def test_cli_import_unreadable_input_exit_2(tmp_path: Path) -> None:
    """Read errors (here /proc/self/mem) exit 2 naming the file, in auto and explicit format."""
    for extra in ([], ["--format", "prometheus"]):
        res = run("import", "--db", str(tmp_path / "x.db"), *extra, "/proc/self/mem")
        err = res.stderr.decode()
        assert res.returncode == 2, err
        assert "cannot read /proc/self/mem" in err and "Traceback" not in err
    res = run("import", "--db", str(tmp_path / "x.db"), str(tmp_path))
    assert res.returncode == 2 and b"is a directory" in res.stderr


def test_cli_import_truncated_gzip_says_so_and_counts(tmp_path: Path) -> None:
    """A cut .gz: exit 2, 'truncated', and the committed batches stay, as the hint counts."""
    src = tmp_path / "w.om"
    _big_file(src, series=60, points=4000)  # 11 MB: the cut comes after two 4 MiB reads
    packed = gzip.compress(src.read_bytes())
    cut = tmp_path / "t.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    db = tmp_path / "t.db"
    res = run("import", "--db", str(db), "--batch-size", "5000", str(cut))
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert f"{cut}: truncated gzip file" in err and "Traceback" not in err
    hint = next(line for line in err.splitlines() if "hint:" in line)
    assert hint.endswith("samples committed before this point stay in the database")
    committed = int(hint.split("hint:")[1].split()[0])
    assert committed >= 5000
    assert sum(len(ts) for ts, _ in all_samples(db).values()) == committed


def test_cli_import_refuses_samples_without_timestamp(tmp_path: Path) -> None:
    """As promtool: a sample without a timestamp is an error (file:line); --skip-errors counts."""
    src = tmp_path / "nots.om"
    src.write_text("has 1 10.000\nnots 5\nhas 2 20.000\n# EOF\n")
    res = run("import", "--db", str(tmp_path / "a.db"), str(src))
    assert res.returncode == 2
    assert f"{src}:2:7: expected a timestamp, got none" in res.stderr.decode()
    res = run("import", "--db", str(tmp_path / "b.db"), "--skip-errors", str(src))
    assert res.returncode == 0, res.stderr.decode()
    assert "1 malformed lines" in res.stdout.decode()
    got = all_samples(tmp_path / "b.db")
    assert list(got) == [Labels.of("has")] and got[Labels.of("has")][0] == [10_000, 20_000]
    prom = b"up 1 1000\nup 2\n"
    res = run("import", "--db", str(tmp_path / "c.db"), "--format", "prometheus", "-", stdin=prom)
    assert res.returncode == 2 and b"<stdin>:2:5: expected a timestamp" in res.stderr


def test_cli_empty_db_path_is_refused(tmp_path: Path) -> None:
    """`--db ''` is a usage error for import and export, not the default database."""
    src = tmp_path / "in.om"
    src.write_text(OM_TEXT)
    for argv in (["import", "--db", "", str(src)], ["export", "--db", ""]):
        res = run(*argv)
        assert res.returncode == 2, argv
        assert b"empty database path" in res.stderr
    assert not list(Path(os.environ["XDG_DATA_HOME"]).glob("**/*.db"))


def test_cli_import_data_after_eof_is_an_error(tmp_path: Path) -> None:
    """In OpenMetrics (as auto mode reads a text with `# EOF`) nothing may follow `# EOF`."""
    small = tmp_path / "after.om"
    small.write_text("a 1 1\n# EOF\nb 1 1\n")
    big = tmp_path / "after_big.om"
    big.write_bytes(_seconds_file(tmp_path / "x.om", 4000) + b"late 1 1\n")
    for src in (small, big):
        db = tmp_path / f"{src.stem}.db"
        res = run("import", "--db", str(db), str(src))
        assert res.returncode == 2, res.stdout
        lineno = 3 if src is small else 4002
        assert f"{src}:{lineno}:1: unexpected data after # EOF" in res.stderr.decode()
    res = run("import", "--db", str(tmp_path / "s.db"), "--skip-errors", str(small))
    assert res.returncode == 0 and "1 malformed lines" in res.stdout.decode()
    assert list(all_samples(tmp_path / "s.db")) == [Labels.of("a")]


def test_cli_import_long_lines_limit(tmp_path: Path) -> None:
    """A line over --max-line-size is malformed (named, exit 2); the limit is configurable."""
    value = "x" * (2 << 20)
    src = tmp_path / "long.txt"
    src.write_text(f'short 1 1000\na{{l="{value}"}} 1 1000\nafter 1 1000\n')
    res = run("import", "--db", str(tmp_path / "a.db"), "--format", "prometheus", str(src))
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert f"{src}:2:1: line longer than the limit of 1,048,576 bytes" in err
    assert "--max-line-size" in err
    res = run(
        "import",
        "--db",
        str(tmp_path / "b.db"),
        "--skip-errors",
        "--format",
        "prometheus",
        str(src),
    )
    assert res.returncode == 0 and "1 malformed lines" in res.stdout.decode()
    assert set(all_samples(tmp_path / "b.db")) == {Labels.of("short"), Labels.of("after")}
    res = run("import", "--db", str(tmp_path / "c.db"), "--max-line-size", "4MiB", str(src))
    assert res.returncode == 0, res.stderr.decode()
    assert Labels.of("a", l=value) in all_samples(tmp_path / "c.db")
    res = run("import", "--db", str(tmp_path / "d.db"), "--max-line-size", "lots", str(src))
    assert res.returncode == 2 and b"--max-line-size" in res.stderr
