"""The `nightowl` subcommands: one module each, loaded only when that subcommand runs.

Each module exposes `register(subparsers)`; see `nightowl.cli`. Helpers shared by
several subcommands' argument parsers live here.
"""

from __future__ import annotations

import argparse

__all__ = ["db_path_arg"]


def db_path_arg(text: str) -> str:
    """argparse `type=` for `--db`: refuse an empty path (an unset `$DB` in a script).

    An empty value would otherwise fall through to the default database and
    write into the live store. argparse reports the error and exits with 2.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("empty database path; give a file name or leave --db out")
    return text
