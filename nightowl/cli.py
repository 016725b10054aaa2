"""The `nightowl` command line.

Each subcommand lives in its own module under `nightowl/commands/`, which
exposes `register(subparsers)` (adds its parser and sets `func`) and the
function it points `func` at. Modules are imported only for the subcommand
that runs, so `nightowl daemon` never loads Textual.

Errors: a :class:`~nightowl.errors.NightowlError` prints as `nightowl: <message>`
on stderr and exits with its `exit_code` (2 for user errors) without a
traceback. Argument errors exit 2 too (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nightowl import __version__
from nightowl.errors import NightowlError

__all__ = ["COMMANDS", "build_parser", "main"]

#: (name, module under nightowl.commands, one-line help). Order is the help's order.
COMMANDS: list[tuple[str, str, str]] = [
    ("init", "init", "write a commented starter config file"),
    ("check", "check", "validate config (and rule) files"),
    ("ui", "ui", "open the terminal UI (the default with no command)"),
    ("import", "importer", "import an OpenMetrics / Prometheus text file with timestamps"),
    ("export", "exporter", "write series as OpenMetrics text with timestamps"),
    ("db", "db", "database statistics and compaction"),
    ("query", "query", "evaluate a PromQL expression against the database"),
    ("test", "rules", "run rule unit tests (promtool's format)"),
    ("silence", "silence", "add, list or expire alert silences"),
    ("ack", "ack", "acknowledge one alert (ends when it resolves)"),
    ("daemon", "daemon", "run headless: scrape, evaluate rules, serve the HTTP API"),
    ("serve", "serve", "serve the Prometheus HTTP API read-only over a database"),
]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full argument parser (or, with `only`, just that subcommand's module loaded)."""
    parser = argparse.ArgumentParser(
        prog="nightowl",
        description="A metrics store with a terminal face, for the engineer on call.",
    )
    parser.add_argument("--version", action="version", version=f"nightowl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(f"nightowl.commands.{module}")
        mod.register(sub)
    return parser


def _find_command(argv: Sequence[str]) -> str | None:
    names = {name for name, _, _ in COMMANDS}
    for arg in argv:
        if arg in names:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = _find_command(args_list)
    registered = {n for n, _, _ in COMMANDS}
    if (
        command is None
        and "ui" in registered
        and not {"-h", "--help", "--version"} & set(args_list)
        and not any(not a.startswith("-") and a in registered for a in args_list)
    ):
        # Bare `nightowl [--source URL] [--db PATH] ...` opens the terminal UI.
        args_list = ["ui", *args_list]
        command = "ui"
    parser = build_parser(only=command if command is not None else None)
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        result = func(args)
    except NightowlError as exc:
        print(f"nightowl: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(result or 0)
