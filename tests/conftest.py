"""Shared fixtures for the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NIGHTOWL_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture(autouse=True)
def _isolated_xdg(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep every test's XDG data/config/state dirs out of the real home directory."""
    base = tmp_path_factory.mktemp("xdg")
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(base / var.lower()))


@pytest.fixture
def shared_dir() -> Path:
    """The workplace's shared/ folder; tests needing it skip when it is absent (a user's clone)."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} is absent (only present in the dev workplace)")
    return SHARED
