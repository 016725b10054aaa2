"""`nightowl daemon`: run headless (scrapers, rules, push, remote write, HTTP API).

    nightowl daemon [--config FILE] [--db PATH] [--listen ADDR]
                    [--log-format plain|json] [--log-level LEVEL]

Runs until SIGTERM/SIGINT; SIGHUP reloads the config. Logs go to stderr. A
config that does not load, a database another process writes, or an address
in use exit with status 2 and one line saying why. See docs/operations.md.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add `nightowl daemon` to the CLI."""
    parser = subparsers.add_parser(
        "daemon",
        help="run headless: scrape, evaluate rules, serve the Prometheus HTTP API",
        description="Run nightowl without a terminal: scrapers, rules, push receiver, "
        "remote write and the Prometheus-compatible HTTP API in one process.",
    )
    parser.add_argument("--config", metavar="FILE", help="config file (default: XDG)")
    parser.add_argument("--db", metavar="PATH", help="database file (default: config / XDG)")
    parser.add_argument("--listen", metavar="ADDR", help="host:port to serve on")
    parser.add_argument("--log-format", choices=("plain", "json"), default="plain")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the config and run the daemon until it is stopped."""
    from pathlib import Path

    from nightowl.config import load_config, with_overrides
    from nightowl.runtime import Runtime
    from nightowl.server.daemon import Daemon, configure_logging, tune_malloc

    tune_malloc()
    configure_logging(args.log_format, args.log_level)
    config = with_overrides(load_config(args.config), db=args.db, listen=args.listen)
    db = Path(args.db) if args.db else None
    daemon = Daemon(
        config,
        lambda cfg: Runtime(cfg, db_path=db),
        config_path=args.config,
        db_path=args.db,
        listen=args.listen,
    )
    return asyncio.run(daemon.run())
