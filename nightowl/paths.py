"""Where nightowl keeps its files. Only this module knows the XDG rules.

- data: `$XDG_DATA_HOME/nightowl/` (default `~/.local/share/nightowl/`), holding
  `nightowl.db` and the query history;
- config: `$XDG_CONFIG_HOME/nightowl/config.toml` (default `~/.config/nightowl/`);
- state: `$XDG_STATE_HOME/nightowl/` for logs and offsets of followed files.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "config_dir",
    "data_dir",
    "default_config_path",
    "default_db_path",
    "state_dir",
]


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var, "").strip()
    base = Path(value) if value and os.path.isabs(value) else Path.home() / fallback
    return base / "nightowl"


def data_dir() -> Path:
    """`$XDG_DATA_HOME/nightowl` (default `~/.local/share/nightowl`)."""
    return _xdg("XDG_DATA_HOME", ".local/share")


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/nightowl` (default `~/.config/nightowl`)."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def state_dir() -> Path:
    """`$XDG_STATE_HOME/nightowl` (default `~/.local/state/nightowl`)."""
    return _xdg("XDG_STATE_HOME", ".local/state")


def default_db_path() -> Path:
    """The database used when neither `--db` nor `[storage] path` names one."""
    return data_dir() / "nightowl.db"


def default_config_path() -> Path:
    """The config file read when `--config` is not given (it need not exist)."""
    return config_dir() / "config.toml"
