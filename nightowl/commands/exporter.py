"""`nightowl export [--db PATH] [--start T] [--end T] [-o FILE] [SELECTOR...]`: dump as OpenMetrics.

Writes the raw samples of every series matching any of the selectors (all
series when none is given) in [start, end] as OpenMetrics text with
timestamps, families grouped with their metadata, ending with `# EOF`, to
stdout or `-o FILE` (`.gz` compresses). `nightowl import` reads it back to
the same samples: timestamps are written in seconds with three decimals and
values as the shortest text that parses to the same float64.

Staleness markers are left out (OpenMetrics cannot express them; reading
`NaN` back gives an ordinary NaN), and counted in the summary on stderr.
Other NaNs are written as `NaN` and read back as Prometheus's ordinary NaN.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path
from typing import Any, BinaryIO

from nightowl.commands import db_path_arg
from nightowl.errors import UserError

__all__ = ["export_store", "register", "run_export"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def register(subparsers: Any) -> None:
    """Add `nightowl export` to the CLI."""
    parser = subparsers.add_parser(
        "export",
        help="write series as OpenMetrics text with timestamps",
        description=(
            "Write the samples of the series matching any SELECTOR (default: all) in "
            "[--start, --end] as OpenMetrics text with timestamps, ending with # EOF."
        ),
    )
    parser.add_argument(
        "selectors", nargs="*", metavar="SELECTOR", help='series selector, e.g. up{job="api"}'
    )
    parser.add_argument(
        "--db", metavar="PATH", type=db_path_arg, help="database file (default: config / XDG)"
    )
    parser.add_argument("--config", metavar="FILE", help="config file ([storage] path)")
    parser.add_argument("--start", metavar="T", help="RFC 3339, Unix seconds or now-1h")
    parser.add_argument("--end", metavar="T", help="RFC 3339, Unix seconds or now")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write here instead of stdout (.gz compresses)"
    )
    parser.set_defaults(func=run_export)


def export_store(
    querier: Any,
    out: BinaryIO,
    matcher_sets: list[list[Any]],
    mint: int = _INT64_MIN,
    maxt: int = _INT64_MAX,
) -> Any:
    """Write the series matching any of `matcher_sets` in [mint, maxt] to `out`.

    Reads one metric name at a time, so memory stays bounded by the largest
    metric. Returns the :class:`~nightowl.scrapers.expowriter.OpenMetricsWriter`
    (its counters say what was written).
    """
    from nightowl.model import METRIC_NAME, Matcher, MatchOp
    from nightowl.scrapers.expowriter import OpenMetricsWriter, family_of

    metadata = querier.metadata()
    names: set[str] = set()
    for matchers in matcher_sets:
        names.update(querier.label_values(METRIC_NAME, matchers, mint, maxt))
    ordered = sorted(names, key=lambda n: (family_of(n, metadata), n))
    writer = OpenMetricsWriter(out)
    current: str | None = None
    for name in ordered:
        fam = family_of(name, metadata)
        if fam != current:
            writer.family(fam, metadata.get(fam))
            current = fam
        found: dict[Any, Any] = {}
        for matchers in matcher_sets:
            sel = [*matchers, Matcher(METRIC_NAME, MatchOp.EQ, name)]
            for sd in querier.select(sel, mint, maxt):
                found.setdefault(sd.labels, sd)
        for labels in sorted(found):
            sd = found[labels]
            writer.series(labels, sd.timestamps, sd.values)
    writer.close()
    return writer


def _matcher_sets(selectors: list[str]) -> list[list[Any]]:
    from nightowl.model import METRIC_NAME, Matcher, MatchOp
    from nightowl.query.parser import parse_matchers

    if not selectors:
        return [[Matcher(METRIC_NAME, MatchOp.RE, ".+")]]
    sets = []
    for text in selectors:
        matchers = parse_matchers(text)
        if all(m.matches_empty() for m in matchers):
            raise UserError(
                f"selector {text!r} matches every series, even empty ones: "
                "give at least one matcher that needs a value",
                hint='use {__name__=~".+"} (or no selector at all) to export everything',
            )
        sets.append(matchers)
    return sets


def run_export(args: argparse.Namespace) -> int:
    """Run `nightowl export`."""
    from nightowl.commands.importer import _resolve_db
    from nightowl.store import Store
    from nightowl.timeutil import parse_time

    mint = parse_time(args.start) if args.start else _INT64_MIN
    maxt = parse_time(args.end) if args.end else _INT64_MAX
    if mint > maxt:
        raise UserError("--start is after --end")
    matcher_sets = _matcher_sets(args.selectors)
    db_path, _storage = _resolve_db(args)
    store = Store.open(db_path, readonly=True)
    try:
        if args.output:
            path = Path(args.output)
            try:
                raw = open(path, "wb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
            out: BinaryIO = gzip.GzipFile(fileobj=raw, mode="wb") if path.suffix == ".gz" else raw
            try:
                writer = export_store(store, out, matcher_sets, mint, maxt)
            finally:
                out.close()
                raw.close()
        else:
            writer = export_store(store, sys.stdout.buffer, matcher_sets, mint, maxt)
            sys.stdout.buffer.flush()
    finally:
        store.close()
    stale = f", {writer.stale_skipped} staleness markers left out" if writer.stale_skipped else ""
    print(
        f"exported {writer.samples_written} samples of {writer.series_written} series{stale}",
        file=sys.stderr,
    )
    return 0
