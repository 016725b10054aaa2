"""Every file nightowl creates beside the database is private to its user (mode 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nightowl.store import Store
from nightowl.store.alertstate import AlertStateDB, alertstate_path
from nightowl.store.progress import ProgressStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_sidecars_are_0600(tmp_path: Path) -> None:
    """Even with a permissive umask, the database, its lock, the alert state and the
    remote-write progress files (and their WAL files) are readable by their owner only."""
    old = os.umask(0o022)
    try:
        db = tmp_path / "owl.db"
        store = Store.open(db)
        state = AlertStateDB(alertstate_path(db))
        state.acks(0)
        progress = ProgressStore.beside(db)
        progress.get("t", "k")
        modes = {p.name: _mode(p) for p in tmp_path.iterdir() if p.is_file()}
        progress.close()
        store.close()
    finally:
        os.umask(old)
    assert {"owl.db", "owl.db.lock", "owl.db-alerts.sqlite", "owl.db.remote-write"} <= set(modes)
    assert {name: oct(mode) for name, mode in modes.items() if mode != 0o600} == {}
