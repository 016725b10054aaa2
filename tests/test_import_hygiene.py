"""The headless core must not drag in the UI, the web framework, or SQL.

Each module is imported in a fresh interpreter and `sys.modules` is checked
for packages its layer must not load (see docs/architecture.md, "Layers").
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# `rich` is not listed: httpx imports it for its own CLI when it is installed.
UI_PACKAGES = ("textual", "plotext", "textual_plotext")
WEB_PACKAGES = ("starlette", "uvicorn")
SQL_PACKAGES = ("sqlite3", "aiosqlite")

# module -> packages it must not load (directly or transitively)
RULES: dict[str, tuple[str, ...]] = {
    "nightowl.model": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.timeutil": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.errors": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.paths": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.cli": UI_PACKAGES + WEB_PACKAGES,
    "nightowl.store.api": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.store.memory": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.query.values": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.query.block": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.config": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.query.engine": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.query.functions": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.scrapers.exposition": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.scrapers.manager": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.scrapers.host": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.alerts.manager": UI_PACKAGES + WEB_PACKAGES,
    "nightowl.store": UI_PACKAGES + WEB_PACKAGES,
    "nightowl.runtime": UI_PACKAGES,
    # `nightowl daemon` and `nightowl serve` never load the terminal UI.
    "nightowl.server.daemon": UI_PACKAGES,
    "nightowl.commands.daemon": UI_PACKAGES,
    "nightowl.commands.serve": UI_PACKAGES,
}

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""


def _loaded(module: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out))


@pytest.mark.parametrize(("module", "forbidden"), sorted(RULES.items()))
def test_module_stays_headless(module: str, forbidden: tuple[str, ...]) -> None:
    """Importing a module loads none of the packages its layer forbids."""
    loaded = _loaded(module)
    assert not (loaded & set(forbidden)), f"{module} loads {sorted(loaded & set(forbidden))}"
