"""`nightowl check KIND ...`: validate files without running anything.

`nightowl check config [FILE]` is defined here. Other areas add kinds (the
alerting package adds `nightowl check rules FILE...`) without editing this
module's logic: append `(kind, module, help)` to :data:`CHECK_KINDS`; the named
module exposes ``register_check(kinds)``, which receives the `check`
sub-parsers object, adds its ``kinds.add_parser(kind, help=help)`` and sets
``func`` on it. Every kind's module is imported when `check` runs, so keep
their top-level imports light (import heavy things inside ``func``).

Exit status: 0 when valid, 2 on any problem (a user error, never a traceback).
"""

from __future__ import annotations

import argparse
import glob
import importlib
import sys
from pathlib import Path
from typing import Any

from nightowl.config import Config, ConfigValidationError, file_warnings, load_config
from nightowl.errors import ConfigError
from nightowl.paths import default_config_path
from nightowl.timeutil import format_duration

__all__ = [
    "CHECK_KINDS",
    "register",
    "register_check",
    "run_check_config",
    "run_time_problems",
    "summarize",
]

#: (kind, module, one-line help); each module has `register_check(kinds)`.
CHECK_KINDS: list[tuple[str, str, str]] = [
    ("config", "nightowl.commands.check", "validate a config file (default: the XDG config)"),
    ("rules", "nightowl.commands.rules", "validate Prometheus rule files (YAML or TOML)"),
]


def register(subparsers: Any) -> None:
    """Add `nightowl check` and its kinds to the CLI."""
    parser = subparsers.add_parser(
        "check",
        help="validate config (and rule) files",
        description="Validate files without running anything. Exit status 2 on any problem.",
    )
    kinds = parser.add_subparsers(dest="check_kind", metavar="KIND", required=True)
    for _kind, module, _help in CHECK_KINDS:
        importlib.import_module(module).register_check(kinds)


def register_check(kinds: Any) -> None:
    """Add `nightowl check config [FILE...] [--config FILE]`."""
    parser = kinds.add_parser(
        "config",
        help="validate config files (default: the XDG config)",
        description=(
            "Validate nightowl config files: TOML syntax, unknown keys, types, durations, "
            "sizes, regexes, PromQL expressions. Prints OK and a summary per file, or every "
            "problem one per line as file:line: key.path: message (exit status 2)."
        ),
    )
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help=f"config file (default: {default_config_path()})"
    )
    parser.add_argument("--config", dest="config_file", metavar="FILE", help="same as FILE")
    parser.set_defaults(func=run_check_config)


def run_check_config(args: argparse.Namespace) -> int:
    """Validate each file; print OK + summary, or the problems on stderr. 2 if any failed."""
    given = [*args.files, *([args.config_file] if args.config_file else [])]
    if not given:
        path = default_config_path()
        if not path.exists():
            config = load_config(None)
            print(f"OK: no config file at {path}; nightowl runs on its embedded defaults")
            print(summarize(config))
            return 0
        given = [str(path)]
    status = 0
    for name in given:
        status = max(status, _check_one(Path(name)))
    return status


def _check_one(path: Path) -> int:
    try:
        config = load_config(path)
    except ConfigValidationError as exc:
        for problem in exc.problems:
            print(problem.render(exc.source), file=sys.stderr)
        n = len(exc.problems)
        print(f"FAILED: {path} ({n} problem{'s' if n != 1 else ''})", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"nightowl: {exc}", file=sys.stderr)
        print(f"FAILED: {path}", file=sys.stderr)
        return 2
    for warning in file_warnings(config):
        print(f"warning: {path}: {warning}", file=sys.stderr)
    problems = run_time_problems(config)
    if problems:
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        n = len(problems)
        print(f"FAILED: {path} ({n} problem{'s' if n != 1 else ''})", file=sys.stderr)
        return 2
    print(f"OK: {path}")
    print(summarize(config))
    return 0


def run_time_problems(config: Config) -> list[str]:
    """What would fail when nightowl starts, beyond the file itself (as promtool checks).

    - `file_sd_configs` target files that exist but do not parse;
    - relabel rules the scrapers' relabel engine refuses.
    """
    from nightowl.scrapers.file_sd import FileSDError, parse_target_file
    from nightowl.scrapers.relabel import compile_rules

    problems: list[str] = []
    for i, job in enumerate(config.scrape_configs):
        for j, sd in enumerate(job.file_sd_configs):
            where = f"scrape_configs[{i}].file_sd_configs[{j}]"
            for pattern in sd.files:
                for name in sorted(glob.glob(pattern)):
                    if not name.endswith((".json", ".yml", ".yaml")):
                        problems.append(f"{where}: {name}: not a .json, .yml or .yaml file")
                        continue
                    try:
                        parse_target_file(name, Path(name).read_text(encoding="utf-8"))
                    except (OSError, UnicodeDecodeError) as exc:
                        problems.append(f"{where}: cannot read {name}: {exc}")
                    except FileSDError as exc:
                        problems.append(f"{where}: {exc}")
        for key in ("relabel_configs", "metric_relabel_configs"):
            try:
                compile_rules(getattr(job, key), where=f"scrape_configs[{i}].{key}")
            except ConfigError as exc:
                problems.append(str(exc))
    for i, rw in enumerate(config.remote_write):
        try:
            compile_rules(
                rw.write_relabel_configs, where=f"remote_write[{i}].write_relabel_configs"
            )
        except ConfigError as exc:
            problems.append(str(exc))
    try:
        compile_rules(config.alerting.alert_relabel_configs, where="alerting.alert_relabel_configs")
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def summarize(config: Config) -> str:
    """One line saying what a config will do (jobs, targets, rules, sources, database)."""
    targets = sum(len(sc.targets) for job in config.scrape_configs for sc in job.static_configs)
    file_sd = sum(len(job.file_sd_configs) for job in config.scrape_configs)
    rules = sum(len(g.rules) for g in config.rule_groups)
    parts = [
        _plural(len(config.scrape_configs), "scrape job")
        + f" ({_plural(targets, 'static target')}"
        + (f", {_plural(file_sd, 'file_sd config')}" if file_sd else "")
        + ")",
        _plural(len(config.rule_groups), "rule group") + f" ({_plural(rules, 'rule')})",
        _plural(len(config.rule_files), "rule file"),
        _plural(len(config.remote_write), "remote-write target"),
    ]
    sources = [
        (len(config.log_configs), "log"),
        (len(config.command_configs), "command"),
        (len(config.json_configs), "JSON"),
        (len(config.report_configs), "report"),
    ]
    parts.append(", ".join(f"{n} {name}" for n, name in sources) + " sources")
    if config.host.enabled:
        parts.append(f"host scraper every {format_duration(config.host.scrape_interval)}")
    else:
        parts.append("host scraper off")
    parts.append(_plural(len(config.dashboards), "dashboard"))
    parts.append(f"database {config.storage.path}")
    return "; ".join(parts)
