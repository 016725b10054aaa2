"""`--db ''` is refused by every subcommand that takes a database, never the default used."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = [
    ["import", "--db", "", "x.om"],
    ["export", "--db", ""],
    ["db", "stats", "--db", ""],
    ["db", "compact", "--db", ""],
    ["query", "--db", "", "up"],
    ["silence", "list", "--db", ""],
    ["ack", "--db", "", "--list"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_empty_db_path_exits_2(argv: list[str], tmp_path) -> None:
    """An unset `$DB` in a script must not write into the live store."""
    proc = subprocess.run(
        [sys.executable, "-m", "nightowl", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "empty database path" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("*.db"))
