"""`nightowl check rules FILE...` and `nightowl test rules FILE...`.

`check rules` validates rule files (and prints the PromQL of each anomaly
rule's band, to draw it with `nightowl query`) (YAML as Prometheus writes them, or TOML):
syntax, unknown keys, PromQL and templates, each problem with file:line, group
and rule. Exit status 0 when valid, 2 otherwise.

`test rules` runs rule unit tests in promtool's format (see
:mod:`nightowl.alerts.ruletest`), with promtool's output and exit status (0 all
passed, 1 any failure).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register", "register_check", "run_check_rules", "run_test_rules"]


def register_check(kinds: Any) -> None:
    """Add `nightowl check rules FILE...` to the `check` command."""
    parser = kinds.add_parser(
        "rules",
        help="validate Prometheus rule files (YAML or TOML)",
        description=(
            "Validate rule files: syntax, keys, PromQL expressions and templates. Prints "
            "SUCCESS and the number of rules per file, or each problem as "
            "file:line: group, rule: message (exit status 2)."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="rule file")
    parser.set_defaults(func=run_check_rules)


def register(subparsers: Any) -> None:
    """Add `nightowl test rules FILE...`."""
    parser = subparsers.add_parser(
        "test",
        help="run rule unit tests (promtool's format)",
        description="Run unit tests. Exit status 0 when all pass, 1 when any fails.",
    )
    kinds = parser.add_subparsers(dest="test_kind", metavar="KIND", required=True)
    rules = kinds.add_parser(
        "rules",
        help="rule unit tests in promtool's test file format",
        description=(
            "Run rule unit tests written for `promtool test rules`: rule_files, "
            "evaluation_interval, tests with input_series, alert_rule_test, "
            "promql_expr_test and external_labels."
        ),
    )
    rules.add_argument("files", nargs="+", metavar="FILE", help="test file")
    rules.set_defaults(func=run_test_rules)


def run_check_rules(args: argparse.Namespace) -> int:
    """Validate each rule file; 0 when all are valid, 2 otherwise."""
    from nightowl.alerts.rulefile import RuleFileError, load_rule_file

    status = 0
    for name in args.files:
        print(f"Checking {name}")
        try:
            groups = load_rule_file(name)
        except RuleFileError as exc:
            print("  FAILED:", file=sys.stderr)
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            status = 2
            print()
            continue
        n = sum(len(g.rules) for g in groups)
        print(f"  SUCCESS: {n} rules found")
        _print_anomaly_bands(groups)
        print()
    return status


def _print_anomaly_bands(groups: list[Any]) -> None:
    """For anomaly rules: the compiled expression and the band, ready for `nightowl query`."""
    from nightowl.alerts.anomaly import band_exprs

    for g in groups:
        for r in g.rules:
            if r.anomaly is None:
                continue
            lower, upper = band_exprs(r.anomaly)
            print(f"  anomaly rule {r.name!r} (group {g.name!r}):")
            print(f"    alert when: {r.expr}")
            print(f"    band lower: {lower}")
            print(f"    band upper: {upper}")


def run_test_rules(args: argparse.Namespace) -> int:
    """Run the unit test files; 0 when all pass, 1 when any fails."""
    from nightowl.alerts.ruletest import run_test_files

    return run_test_files(list(args.files), sys.stdout, sys.stderr)
