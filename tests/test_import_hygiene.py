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
}

# Optional modules: checked when they exist (they arrive as the packages grow).
OPTIONAL_RULES: dict[str, tuple[str, ...]] = {
    "nightowl.config": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.query.engine": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.query.functions": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.scrapers.exposition": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.scrapers.manager": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.scrapers.host": UI_PACKAGES + WEB_PACKAGES + SQL_PACKAGES,
    "nightowl.store": UI_PACKAGES + WEB_PACKAGES,
    "nightowl.runtime": UI_PACKAGES,
}

_PROBE = """
import importlib, importlib.util, json, sys
name = sys.argv[1]
if sys.argv[2] == "optional" and importlib.util.find_spec(name) is None:
    print(json.dumps(None)); raise SystemExit
importlib.import_module(name)
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""


def _loaded(module: str, optional: bool) -> set[str] | None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module, "optional" if optional else "required"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    return None if data is None else set(data)


@pytest.mark.parametrize(("module", "forbidden"), sorted(RULES.items()))
def test_core_module_stays_headless(module: str, forbidden: tuple[str, ...]) -> None:
    """Importing a core module loads none of the packages its layer forbids."""
    loaded = _loaded(module, optional=False)
    assert loaded is not None
    assert not (loaded & set(forbidden)), f"{module} loads {sorted(loaded & set(forbidden))}"


@pytest.mark.parametrize(("module", "forbidden"), sorted(OPTIONAL_RULES.items()))
def test_optional_module_stays_headless(module: str, forbidden: tuple[str, ...]) -> None:
    """Modules of the growing packages follow the same layer rules."""
    loaded = _loaded(module, optional=True)
    if loaded is None:
        pytest.skip(f"{module} does not exist yet")
    assert not (loaded & set(forbidden)), f"{module} loads {sorted(loaded & set(forbidden))}"
