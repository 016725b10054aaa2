"""`nightowl [ui] [--source URL] [--db PATH] [--config FILE] [--low-bandwidth] [--theme NAME]`.

Opens the terminal UI. Bare `nightowl` lands here (see `nightowl.cli.main`).
Three wirings, one UI:

- standalone: the runtime (store + engine + scrapers) runs in this process;
- attached: a daemon owns the database, so the runtime opens it read-only and
  the header says so;
- remote: `--source URL` reads any Prometheus-compatible HTTP API.

Textual is imported inside :func:`run_ui` only, so other commands never load it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from nightowl.errors import ConfigError, UsageError
from nightowl.paths import data_dir, default_config_path, state_dir
from nightowl.timeutil import parse_duration

__all__ = ["register", "run_ui"]


def register(subparsers: Any) -> None:
    """Add the `ui` subcommand."""
    p = subparsers.add_parser(
        "ui",
        help="open the terminal UI (the default when no command is given)",
        description="Open the terminal UI: live dashboards, alerts, query bar.",
    )
    p.add_argument("--source", metavar="URL", help="read a Prometheus-compatible HTTP API")
    p.add_argument(
        "--db", metavar="PATH", type=Path, help="database file (overrides [storage] path)"
    )
    p.add_argument("--config", metavar="FILE", type=Path, help="config file (default: XDG config)")
    p.add_argument(
        "--low-bandwidth",
        action="store_true",
        help="slow links: 10 s refresh, sparklines, 16 colours",
    )
    p.add_argument("--theme", metavar="NAME", help="dark, light, high-contrast, ansi16 or your own")
    p.add_argument("--refresh", metavar="DURATION", help="refresh interval (default 2s)")
    p.set_defaults(func=run_ui)


def _dashboards(config: Any, config_path: Path) -> tuple[list[Any], Path, list[str]]:
    from nightowl.tui.dashboards import (
        dashboards_from_config,
        default_dashboards_path,
        host_dashboard,
        load_dashboards_file,
        merge_dashboards,
    )

    notes: list[str] = []
    path = default_dashboards_path(config_path)
    try:
        saved = load_dashboards_file(path)
    except ConfigError as exc:
        notes.append(f"dashboards file ignored: {exc}")
        saved = []
    from_config = dashboards_from_config(config.dashboards, origin=config.source)
    return merge_dashboards([host_dashboard()], from_config, saved), path, notes


def _user_theme_dir() -> Path:
    return default_config_path().parent / "themes"


def _check_theme(name: str) -> None:
    """`--theme NAME` must name a theme (built-in or in the user's theme folder);
    a bad name in the config file is only a warning in the UI."""
    from nightowl.themes.loader import load_themes

    themes = load_themes(_user_theme_dir()).themes
    if name not in themes:
        builtin = [n for n in ("dark", "light", "high-contrast", "ansi16") if n in themes]
        names = builtin + sorted(n for n in themes if n not in builtin)
        raise UsageError(f"unknown theme {name!r}; available: {', '.join(names)}")


def run_ui(args: argparse.Namespace) -> int:
    """Build the source for the chosen mode and run the app until the user quits."""
    from nightowl.config import load_config

    if args.source and args.db:
        raise UsageError("--source reads a remote API; it cannot be combined with --db")
    config = load_config(args.config)
    config_path = args.config or default_config_path()
    refresh_ms = config.tui.refresh_interval
    if args.refresh:
        refresh_ms = parse_duration(args.refresh)
        if refresh_ms <= 0:
            raise UsageError("--refresh must be positive")
    if args.theme:
        _check_theme(args.theme)
    dashboards, dashboards_path, notes = _dashboards(config, Path(config_path))
    # Log lines on stderr would scribble over the UI: they go to a file instead.
    log_path = state_dir() / "ui.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.WARNING,
        handlers=[logging.FileHandler(log_path, encoding="utf-8")],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    return asyncio.run(
        _main(
            args,
            config,
            dashboards=dashboards,
            dashboards_path=dashboards_path,
            notes=notes,
            refresh_s=refresh_ms / 1000,
        )
    )


async def _main(
    args: argparse.Namespace,
    config: Any,
    *,
    dashboards: list[Any],
    dashboards_path: Path,
    notes: list[str],
    refresh_s: float,
) -> int:
    from nightowl.tui.app import NightowlApp

    runtime = None
    if args.source:
        from nightowl.query.source import RemoteSource

        source: Any = RemoteSource(args.source)
    else:
        from nightowl.runtime import Runtime
        from nightowl.sources import DeferredSource
        from nightowl.store.sqlite import sniff

        runtime = Runtime(config, db_path=args.db)
        # A file that is not a database fails here, before the first frame (reading
        # 16 bytes is cheap); opening the store, which may be slow, runs behind it.
        sniff(runtime.db_path)
        start_notes: list[str] = []

        async def start() -> Any:
            # runs while the UI draws its first frame
            try:
                await runtime.start()
            except BaseException:
                await runtime.stop()  # release the store (and its writer lock)
                raise
            if runtime.attached:
                start_notes.append(
                    f"another process writes this database ({runtime.attached_reason}); "
                    "attached read-only, no scraping here"
                )
            return runtime.source()

        source = DeferredSource(start(), start_notes)
    app = NightowlApp(
        source,
        dashboards=dashboards,
        theme=args.theme or config.tui.theme,
        refresh_s=refresh_s,
        low_bandwidth=args.low_bandwidth or config.tui.low_bandwidth,
        history_path=data_dir() / "query_history.jsonl",
        dashboards_path=dashboards_path,
        user_theme_dir=_user_theme_dir(),
        startup_notes=notes,
        bell=config.tui.bell,
        flash=config.tui.flash,
        history_size=config.tui.history_size or 1,
        event_queries=[(e.name, e.expr) for e in config.tui.event_queries],
    )
    try:
        await app.run_async()
    finally:
        await source.close()
        if runtime is not None:
            await runtime.stop()
    if app.start_error is not None:
        raise app.start_error
    return app.return_code or 0
