"""`nightowl ack ALERT [--note TEXT] [--expires 4h]`: say you are on an alert.

ALERT is an alert fingerprint (or a unique prefix), or matchers that pick
exactly one pending or firing alert (`alertname=Down instance=db1`). The ack is
stored beside the metrics database (see :mod:`nightowl.store.alertstate`), shown
to the rest of the rotation, and ends by itself when the alert resolves, so the
next firing pages again. `nightowl ack --list` prints the active acks.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nightowl.commands import db_path_arg

__all__ = ["register", "run_ack"]


def register(subparsers: Any) -> None:
    """Add `nightowl ack`."""
    parser = subparsers.add_parser(
        "ack",
        help="acknowledge one alert (ends when it resolves)",
        description=(
            "Acknowledge one pending or firing alert so the rotation sees someone is on it."
        ),
    )
    parser.add_argument("alert", nargs="*", metavar="ALERT", help="fingerprint or matchers")
    parser.add_argument("-n", "--note", default="", help="what you are doing")
    parser.add_argument("-e", "--expires", default="4h", help="ack lifetime (default 4h)")
    parser.add_argument("-a", "--author", help="who (default $USER@host and SSH client)")
    parser.add_argument("--list", action="store_true", help="list active acks")
    parser.add_argument(
        "--db", metavar="PATH", type=db_path_arg, help="metrics database (default: config / XDG)"
    )
    parser.add_argument("--config", metavar="FILE", help="config file ([storage] path)")
    parser.set_defaults(func=run_ack)


def _current_alerts(db: Any) -> dict[str, Any]:
    """fingerprint -> latest history entry, for alerts whose last state is not inactive."""
    latest: dict[str, Any] = {}
    for e in db.history(limit=100_000):  # newest first
        latest.setdefault(e.fingerprint, e)
    return {fp: e for fp, e in latest.items() if e.to_state != "inactive"}


def run_ack(args: argparse.Namespace) -> int:
    """Ack one alert (or list acks); 2 when the alert is unknown or ambiguous."""
    from nightowl.alerts.silences import default_author, matchers_match, parse_silence_matchers
    from nightowl.commands.silence import db_for, fmt_ms, normalize_matcher
    from nightowl.errors import UsageError
    from nightowl.model import Labels
    from nightowl.timeutil import now_ms, parse_duration

    db = db_for(args)
    now = now_ms()
    if args.list:
        acks = db.acks(now)
        if not acks:
            print("no active acks")
        for a in acks:
            print(
                f"{a.fingerprint}  {a.alertname:<20}  by {a.acked_by}  at {fmt_ms(a.at_ms)}  "
                f"until {fmt_ms(a.expires_ms)}" + (f"  # {a.note}" if a.note else "")
            )
        return 0
    if not args.alert:
        raise UsageError("name the alert: a fingerprint or matchers such as alertname=Down")
    current = _current_alerts(db)
    if len(args.alert) == 1 and all(c in "0123456789abcdef" for c in args.alert[0]):
        hits = [e for fp, e in current.items() if fp.startswith(args.alert[0])]
    else:
        ms = parse_silence_matchers([normalize_matcher(t) for t in args.alert])
        hits = [e for e in current.values() if matchers_match(ms, Labels.from_dict(e.labels))]
    if len(hits) != 1:
        what = "no pending or firing alert" if not hits else f"{len(hits)} alerts"
        print(f"nightowl: {what} matches {' '.join(args.alert)}", file=sys.stderr)
        for e in hits[:10]:
            print(f"  {e.fingerprint}  {Labels.from_dict(e.labels)}", file=sys.stderr)
        return 2
    (e,) = hits
    rec = db.add_ack(
        e.fingerprint,
        e.alertname,
        e.labels,
        args.author or default_author(),
        args.note,
        now,
        now + parse_duration(args.expires),
    )
    print(f"acked {e.fingerprint} {Labels.from_dict(e.labels)} by {rec.acked_by}")
    return 0
