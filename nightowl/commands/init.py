"""`nightowl init [--config FILE] [--force]`: write a commented starter config.

The starter is short on purpose: what a bastion host needs on day one (this
host, one example job, retention, the UI), each line commented, everything
else left at its default. config.example.toml in the repository documents
every key. The file is written with mode 0600 (it may later hold secrets) and
never replaces an existing file unless `--force` says so.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from nightowl.config import DEFAULT_LISTEN, parse_config
from nightowl.errors import ConfigError
from nightowl.paths import default_config_path

__all__ = ["STARTER_CONFIG", "register", "run_init", "write_starter"]

STARTER_CONFIG = f"""\
# nightowl configuration (TOML). Check it with: nightowl check config
# Every key is optional; see config.example.toml and docs/configuration.md for all of them.
# Key names follow prometheus.yml, so most of yours translate line by line.
# Durations use Prometheus syntax ("15s", "1h30m", "2d"); sizes take units ("512MiB").
# Top-level keys must come before the first [section].

# Alerting and recording rules: Prometheus rule files, unchanged (globs allowed).
# rule_files = ["rules/*.yml"]

[global]
# How often scrape jobs are scraped, unless a job says otherwise.
scrape_interval = "15s"
# How long one scrape may take.
scrape_timeout = "10s"
# How often rule groups are evaluated.
evaluation_interval = "15s"
# Labels added to alerts and to samples sent by remote-write (not to the local store).
# external_labels = {{ site = "bastion-1" }}

[storage]
# Database file; empty means $XDG_DATA_HOME/nightowl/nightowl.db. `--db` overrides it.
# path = "/var/lib/nightowl/nightowl.db"
# Delete samples older than this ("0s" keeps everything).
retention_time = "15d"
# Also delete the oldest data when the database grows past this ("0" means no limit).
retention_size = "0"

[host]
# Scrape this machine (node_exporter's metric names) every few seconds.
enabled = true
scrape_interval = "5s"
# Labels of the host series; instance defaults to the host name.
job = "host"
# instance = "bastion-1"

# A Prometheus/OpenMetrics target, e.g. a node_exporter on another machine:
# [[scrape_configs]]
# job_name = "node"
# static_configs = [{{ targets = ["10.0.0.5:9100"], labels = {{ env = "prod" }} }}]

[server]
# Where `nightowl daemon` serves its Prometheus-compatible API.
listen = "{DEFAULT_LISTEN}"

[tui]
# How often charts are redrawn, and the colour theme (dark, light, high-contrast, ansi16).
refresh_interval = "2s"
theme = "dark"
# Ring the terminal bell when an alert starts firing.
bell = false

# A dashboard of your own (the built-in host dashboard is always there):
# [[dashboards]]
# name = "web"
# [[dashboards.panels]]
# title = "HTTP requests/s"
# expr = 'sum by (code) (rate(http_requests_total[5m]))'
# kind = "area"
# unit = "reqps"
"""


def register(subparsers: Any) -> None:
    """Add `nightowl init` to the CLI."""
    parser = subparsers.add_parser(
        "init",
        help="write a commented starter config file",
        description=(
            "Write a commented starter config (mode 0600). Refuses to replace an existing "
            "file unless --force is given."
        ),
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"where to write it (default: {default_config_path()})",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.set_defaults(func=run_init)


def run_init(args: argparse.Namespace) -> int:
    """Write the starter config and say where it went."""
    path = Path(args.config).expanduser() if args.config else default_config_path()
    write_starter(path, force=args.force)
    print(f"wrote {path}")
    print(f"check it with: nightowl check config {path}")
    return 0


def write_starter(path: Path, *, force: bool = False) -> None:
    """Write :data:`STARTER_CONFIG` to `path` atomically, mode 0600.

    Raises:
        ConfigError: the file exists and `force` is false, or it cannot be written.
    """
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; name a file, e.g. {path / 'config.toml'}")
    if path.exists() and not force:
        raise ConfigError(
            f"{path} already exists; not overwriting it",
            hint="use --force to replace it, or --config to write somewhere else",
        )
    parse_config(STARTER_CONFIG, "<starter>")  # never write a file we would reject
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(STARTER_CONFIG)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
