"""`nightowl silence add|list|expire`: silences in the database's alert state file.

    nightowl silence add alertname=Down 'instance=~"db.*"' --duration 2h -c "maintenance"
    nightowl silence list [--expired]
    nightowl silence expire ID            (a unique prefix of the id is enough)

Silences live in the sidecar file of the metrics database (see
:mod:`nightowl.store.alertstate`), so they can be added while the daemon runs,
from any SSH session. Matchers use PromQL syntax (`name="v"`, `!=`, `=~`, `!~`;
a bare `name=v` is taken as `name="v"`). The author defaults to `$USER@host`
plus the SSH client address. Exit status 2 on bad input.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightowl.commands import db_path_arg

__all__ = ["db_for", "fmt_ms", "normalize_matcher", "register"]


def register(subparsers: Any) -> None:
    """Add `nightowl silence`."""
    parser = subparsers.add_parser(
        "silence",
        help="add, list or expire alert silences",
        description="Silenced alerts are not notified but stay visible.",
    )
    kinds = parser.add_subparsers(dest="silence_cmd", metavar="ACTION", required=True)
    add = kinds.add_parser("add", help="add a silence")
    add.add_argument("matchers", nargs="+", metavar="MATCHER", help='e.g. alertname="Down"')
    add.add_argument("-d", "--duration", default="1h", help="how long (default 1h)")
    add.add_argument("--start", help="start time (RFC 3339, Unix seconds or now-1h; default now)")
    add.add_argument("--end", help="end time (overrides --duration)")
    add.add_argument("-c", "--comment", default="", help="why")
    add.add_argument("-a", "--author", help="who (default $USER@host and SSH client)")
    _db_args(add)
    add.set_defaults(func=run_add)
    ls = kinds.add_parser("list", help="list pending and active silences")
    ls.add_argument("--expired", action="store_true", help="include expired silences")
    _db_args(ls)
    ls.set_defaults(func=run_list)
    ex = kinds.add_parser("expire", help="end silences now")
    ex.add_argument("ids", nargs="+", metavar="ID", help="silence id (or unique prefix)")
    _db_args(ex)
    ex.set_defaults(func=run_expire)


def _db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", metavar="PATH", type=db_path_arg, help="metrics database (default: config / XDG)"
    )
    p.add_argument("--config", metavar="FILE", help="config file ([storage] path)")


def db_for(args: argparse.Namespace) -> Any:
    """The alert state file beside the metrics database named by --db / config / XDG."""
    from nightowl.config import load_config
    from nightowl.paths import default_db_path
    from nightowl.store.alertstate import AlertStateDB, alertstate_path

    path = args.db
    if not path:
        config = load_config(args.config)
        storage = getattr(config, "storage", None)
        path = storage.path if storage is not None and storage.path else None
    return AlertStateDB(alertstate_path(Path(path or default_db_path()).expanduser()))


def fmt_ms(ms: int) -> str:
    """Unix ms as `2026-01-02T03:04:05Z`."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"


_BARE = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=(?!~))\s*(.*?)\s*$")


def normalize_matcher(text: str) -> str:
    """`name=value` -> `name="value"`; quoted matchers pass through."""
    m = _BARE.match(text)
    if m and not m.group(3).startswith(("'", '"', "`")):
        value = m.group(3).replace("\\", "\\\\").replace('"', '\\"')
        return f'{m.group(1)}{m.group(2)}"{value}"'
    return text


def run_add(args: argparse.Namespace) -> int:
    """Store a silence and print its id."""
    from nightowl.alerts.silences import default_author, parse_silence_matchers
    from nightowl.timeutil import now_ms, parse_duration, parse_time

    now = now_ms()
    texts = [normalize_matcher(t) for t in args.matchers]
    matchers = parse_silence_matchers(texts)
    start = parse_time(args.start, now=now) if args.start else now
    end = parse_time(args.end, now=now) if args.end else start + parse_duration(args.duration)
    if end <= start:
        from nightowl.errors import UsageError

        raise UsageError("the silence must end after it starts")
    rec = db_for(args).add_silence(
        [str(m) for m in matchers], start, end, args.author or default_author(), args.comment, now
    )
    print(rec.id)
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print silences as a table."""
    from nightowl.timeutil import now_ms

    now = now_ms()
    recs = db_for(args).silences(now, include_expired=args.expired)
    if not recs:
        print("no silences")
        return 0
    print(f"{'ID':<36}  {'STATE':<8}  {'ENDS':<20}  {'CREATED BY':<24}  MATCHERS / COMMENT")
    for r in recs:
        print(
            f"{r.id:<36}  {r.state(now):<8}  {fmt_ms(r.ends_ms):<20}  {r.created_by:<24}  "
            f"{', '.join(r.matchers)}" + (f"  # {r.comment}" if r.comment else "")
        )
    return 0


def run_expire(args: argparse.Namespace) -> int:
    """Expire each silence; 2 if any id is unknown or ambiguous."""
    import sys

    from nightowl.timeutil import now_ms

    db = db_for(args)
    status = 0
    for sid in args.ids:
        rec = db.expire_silence(sid, now_ms())
        if rec is None:
            print(f"nightowl: no single silence with id {sid!r}", file=sys.stderr)
            status = 2
        else:
            print(f"expired {rec.id}")
    return status
