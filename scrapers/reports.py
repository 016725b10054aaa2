"""Reports from files: Trivy JSON, SARIF 2.1, JUnit XML and Cobertura coverage.

CI and security scanners leave their results in files. A :class:`ReportSource`
watches one path (or a glob of paths) by modification time and size, parses a
file again only when it changed (in a worker thread, so a large report never
stalls the event loop), and writes the parsed figures every interval so they
stay fresh in PromQL for as long as the file exists. A file that disappears or
stops parsing has its series ended with staleness markers.

The parsers are pure functions from bytes to :class:`ReportMetrics`, usable on
their own (``parse_report(data, "trivy", where=path)``). Metric names follow
the well-known exporters where one exists (Trivy counts are named as
trivy-operator names them); every metric is listed in docs/metrics.md.

A malformed report raises :class:`~nightowl.errors.ParseError` naming the file;
the source turns that into ``nightowl_report_up == 0``, counts it in
``nightowl_report_parse_errors_total`` and keeps the message as the source's
last error. It never crashes the source.
"""

from __future__ import annotations

import asyncio
import glob
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightowl.scrapers._sources import BatchBuilder, PeriodicSource, StaleTracker
from nightowl.store.api import Appender

from nightowl.errors import ConfigError, ParseError
from nightowl.model import MetricMeta, MetricType, SampleBatch
from nightowl.timeutil import Clock

__all__ = [
    "REPORT_FORMATS",
    "ReportMetrics",
    "ReportSource",
    "parse_cobertura",
    "parse_junit",
    "parse_report",
    "parse_sarif",
    "parse_trivy",
    "read_report_file",
]

#: The largest report file read (bigger ones are refused with an error, not read).
MAX_REPORT_BYTES = 256 * 1024 * 1024


@dataclass(slots=True)
class ReportMetrics:
    """What one report file yields: samples (name, labels, value) and family metadata."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    metadata: dict[str, MetricMeta] = field(default_factory=dict)

    def add(self, name: str, labels: Mapping[str, str], value: float) -> None:
        """Set one sample (the same series again replaces the value)."""
        self.samples[(name, tuple(sorted(labels.items())))] = float(value)

    def inc(self, name: str, labels: Mapping[str, str], by: float = 1.0) -> None:
        """Add `by` to one sample (created at 0)."""
        key = (name, tuple(sorted(labels.items())))
        self.samples[key] = self.samples.get(key, 0.0) + by

    def meta(self, name: str, type_: MetricType, help_: str, unit: str = "") -> None:
        """Record a family's metadata."""
        self.metadata.setdefault(name, MetricMeta(type_, help_, unit))

    def get(self, metric: str, /, **labels: str) -> float | None:
        """The value of one series (tests and callers that want a figure), or None."""
        return self.samples.get((metric, tuple(sorted(labels.items()))))

    def series(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """All series of metric `name`: labels (sorted pairs) -> value."""
        return {lbl: v for (n, lbl), v in self.samples.items() if n == name}


# --------------------------------------------------------------------------- Trivy

#: trivy-operator's severity label values, in its spelling.
TRIVY_SEVERITIES = ("Critical", "High", "Medium", "Low", "Unknown")


def _trivy_severity(raw: object) -> str:
    s = str(raw or "").strip().capitalize()
    return s if s in TRIVY_SEVERITIES else "Unknown"


def _image_labels(ref: str, digest: str) -> dict[str, str]:
    """Split an image reference the way trivy-operator labels it (registry/repository/tag)."""
    name, tag = ref, ""
    if "@" in name:
        name, _, at = name.partition("@")
        digest = digest or at
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "index.docker.io", name
        if "/" not in repository:
            repository = f"library/{repository}"
    return {
        "image_registry": registry,
        "image_repository": repository,
        "image_tag": tag,
        "image_digest": digest,
    }


def parse_trivy(
    data: bytes, *, where: str = "<trivy>", vulnerability_ids: bool = True
) -> ReportMetrics:
    """Parse a Trivy JSON report (schema version 2).

    Emits ``trivy_image_vulnerabilities{severity}`` per artifact (all five
    severities, zeros included, as trivy-operator does),
    ``trivy_package_vulnerabilities`` by target, class, package, severity and
    whether a fixed version exists, and with `vulnerability_ids` one
    ``trivy_vulnerability_id`` info series (value 1) per finding.
    """
    doc = _load_json(data, where)
    if not isinstance(doc, dict) or ("Results" not in doc and "SchemaVersion" not in doc):
        raise ParseError("not a Trivy JSON report (no SchemaVersion or Results)", where=where)
    version = doc.get("SchemaVersion")
    if version != 2:
        raise ParseError(
            f"unsupported Trivy SchemaVersion {version!r}; nightowl reads version 2 "
            "(trivy >= 0.20, `--format json`)",
            where=where,
        )
    results = doc.get("Results") or []
    if not isinstance(results, list):
        raise ParseError("Results must be a list", where=f"{where}: Results")
    meta = doc.get("Metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    artifact = str(doc.get("ArtifactName") or "")
    base = {"name": artifact}
    if doc.get("ArtifactType") == "container_image":
        tags = meta.get("RepoTags") or []
        digests = meta.get("RepoDigests") or []
        ref = str(tags[0] if tags else meta.get("Reference") or artifact)
        digest = ""
        if digests:
            digest = str(digests[0]).rpartition("@")[2]
        base |= _image_labels(ref, digest)

    out = ReportMetrics()
    out.meta(
        "trivy_image_vulnerabilities",
        MetricType.GAUGE,
        "Number of container image vulnerabilities, by severity (as trivy-operator).",
    )
    out.meta(
        "trivy_package_vulnerabilities",
        MetricType.GAUGE,
        "Number of vulnerabilities by target, class, package, severity and fix availability.",
    )
    if vulnerability_ids:
        out.meta(
            "trivy_vulnerability_id",
            MetricType.GAUGE,
            "One series per vulnerability found (value 1), as trivy-operator's vuln-id metric.",
        )
    by_severity: Counter[str] = Counter()
    for i, result in enumerate(results):
        if not isinstance(result, dict):
            raise ParseError("each result must be an object", where=f"{where}: Results[{i}]")
        vulns = result.get("Vulnerabilities") or []
        if not isinstance(vulns, list):
            raise ParseError(
                "Vulnerabilities must be a list", where=f"{where}: Results[{i}].Vulnerabilities"
            )
        target = str(result.get("Target") or "")
        rclass = str(result.get("Class") or "")
        rtype = str(result.get("Type") or "")
        for j, v in enumerate(vulns):
            if not isinstance(v, dict) or "VulnerabilityID" not in v:
                raise ParseError(
                    "a vulnerability must be an object with a VulnerabilityID",
                    where=f"{where}: Results[{i}].Vulnerabilities[{j}]",
                )
            sev = _trivy_severity(v.get("Severity"))
            by_severity[sev] += 1
            fixed_version = str(v.get("FixedVersion") or "")
            pkg = str(v.get("PkgName") or "")
            out.inc(
                "trivy_package_vulnerabilities",
                base
                | {
                    "target": target,
                    "class": rclass,
                    "package_type": rtype,
                    "package": pkg,
                    "severity": sev,
                    "fixed": "true" if fixed_version else "false",
                },
            )
            if vulnerability_ids:
                out.add(
                    "trivy_vulnerability_id",
                    base
                    | {
                        "target": target,
                        "class": rclass,
                        "package_type": rtype,
                        "resource": pkg,
                        "installed_version": str(v.get("InstalledVersion") or ""),
                        "fixed_version": fixed_version,
                        "status": str(v.get("Status") or ""),
                        "severity": sev,
                        "vuln_id": str(v["VulnerabilityID"]),
                    },
                    1.0,
                )
    for sev in TRIVY_SEVERITIES:
        out.add("trivy_image_vulnerabilities", base | {"severity": sev}, by_severity[sev])
    _trivy_secrets_and_misconfigs(results, base, out, where)
    return out


def _trivy_secrets_and_misconfigs(
    results: list[Any], base: dict[str, str], out: ReportMetrics, where: str
) -> None:
    """Secrets (`--scanners secret`) and misconfigurations (`--scanners misconfig`).

    Counted by severity as trivy-operator counts them: exposed secrets per
    image, failed configuration checks per report. Written only when the
    report ran that scanner (some result carries the key), all five
    severities then, zeros included.
    """
    secrets: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    saw_secrets = saw_misconfigs = False
    for i, result in enumerate(results):
        for key, counter in (("Secrets", secrets), ("Misconfigurations", failed)):
            if key not in result:
                continue
            items = result.get(key) or []
            if not isinstance(items, list):
                raise ParseError(f"{key} must be a list", where=f"{where}: Results[{i}].{key}")
            if key == "Secrets":
                saw_secrets = True
            else:
                saw_misconfigs = True
            for j, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ParseError("must be an object", where=f"{where}: Results[{i}].{key}[{j}]")
                if key == "Misconfigurations" and str(item.get("Status", "FAIL")) != "FAIL":
                    continue
                counter[_trivy_severity(item.get("Severity"))] += 1
    if saw_secrets:
        out.meta(
            "trivy_image_exposedsecrets",
            MetricType.GAUGE,
            "Number of exposed secrets found in the image, by severity (as trivy-operator).",
        )
        for sev in TRIVY_SEVERITIES:
            out.add("trivy_image_exposedsecrets", base | {"severity": sev}, secrets[sev])
    if saw_misconfigs:
        out.meta(
            "trivy_resource_configaudits",
            MetricType.GAUGE,
            "Number of failed configuration checks, by severity (as trivy-operator).",
        )
        for sev in TRIVY_SEVERITIES:
            out.add("trivy_resource_configaudits", base | {"severity": sev}, failed[sev])


# --------------------------------------------------------------------------- SARIF

_SARIF_LEVELS = ("error", "warning", "note", "none")


def parse_sarif(data: bytes, *, where: str = "<sarif>") -> ReportMetrics:
    """Parse a SARIF 2.1 log: findings by tool, rule and level.

    The level of a result is its own ``level``, else its rule's
    ``defaultConfiguration.level``, else ``warning`` (``none`` when the
    result's ``kind`` is not ``fail``), as SARIF 2.1.0 §3.27.10 specifies.
    """
    doc = _load_json(data, where)
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise ParseError("not a SARIF log (no `runs` list)", where=where)
    version = str(doc.get("version", ""))
    if not version.startswith("2.1"):
        raise ParseError(f"unsupported SARIF version {version!r}; expected 2.1.x", where=where)
    out = ReportMetrics()
    out.meta("sarif_findings", MetricType.GAUGE, "Number of SARIF results by tool, rule and level.")
    out.meta("sarif_run_findings", MetricType.GAUGE, "Number of SARIF results per tool run.")
    for i, run in enumerate(doc["runs"]):
        rwhere = f"{where}: runs[{i}]"
        if not isinstance(run, dict):
            raise ParseError("a run must be an object", where=rwhere)
        driver = (
            (run.get("tool") or {}).get("driver") if isinstance(run.get("tool"), dict) else None
        )
        if not isinstance(driver, dict) or not driver.get("name"):
            raise ParseError("run has no tool.driver.name", where=rwhere)
        tool = str(driver["name"])
        rules = driver.get("rules") or []
        rules_by_id: dict[str, dict[str, Any]] = {}
        for r in rules if isinstance(rules, list) else []:
            if isinstance(r, dict) and "id" in r:
                rules_by_id[str(r["id"])] = r
        results = run.get("results") or []
        if not isinstance(results, list):
            raise ParseError("results must be a list", where=f"{rwhere}.results")
        out.inc("sarif_run_findings", {"tool": tool}, 0)
        for j, res in enumerate(results):
            if not isinstance(res, dict):
                raise ParseError("a result must be an object", where=f"{rwhere}.results[{j}]")
            rule_obj: dict[str, Any] | None = None
            ref = res.get("rule") if isinstance(res.get("rule"), dict) else {}
            idx = res.get("ruleIndex", ref.get("index"))
            comp = ref.get("toolComponent")
            comp_rules: Any = rules
            if isinstance(comp, dict) and isinstance(comp.get("index"), int):
                # The rule lives in a tool extension (CodeQL query packs do this).
                exts = (run.get("tool") or {}).get("extensions") or []
                k = comp["index"]
                ext = exts[k] if isinstance(exts, list) and 0 <= k < len(exts) else None
                comp_rules = ext.get("rules") if isinstance(ext, dict) else None
            if (
                isinstance(idx, int)
                and isinstance(comp_rules, list)
                and 0 <= idx < len(comp_rules)
                and isinstance(comp_rules[idx], dict)
            ):
                rule_obj = comp_rules[idx]
            rule_id = res.get("ruleId")
            if rule_id is None and isinstance(res.get("rule"), dict):
                rule_id = res["rule"].get("id")
            if rule_id is None and rule_obj is not None:
                rule_id = rule_obj.get("id")
            rule_id = str(rule_id or "")
            if rule_obj is None:
                rule_obj = rules_by_id.get(rule_id)
            level = res.get("level")
            if level is None and rule_obj is not None:
                cfg = rule_obj.get("defaultConfiguration")
                if isinstance(cfg, dict):
                    level = cfg.get("level")
            if level is None:
                level = "warning" if res.get("kind", "fail") == "fail" else "none"
            level = str(level)
            if level not in _SARIF_LEVELS:
                raise ParseError(
                    f"invalid level {level!r} (expected one of {', '.join(_SARIF_LEVELS)})",
                    where=f"{rwhere}.results[{j}]",
                )
            out.inc("sarif_findings", {"tool": tool, "rule": rule_id, "level": level})
            out.inc("sarif_run_findings", {"tool": tool})
    return out


# --------------------------------------------------------------------------- JUnit

JUNIT_RESULTS = ("passed", "failed", "error", "skipped")


def _xml_root(data: bytes, where: str) -> ET.Element:
    # Reports come from CI jobs we do not control: refuse entity declarations
    # outright (billion laughs, external entities) instead of trusting the parser.
    if b"<!ENTITY" in data or b"<!entity" in data:
        raise ParseError("XML entity declarations are not accepted in reports", where=where)
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        line, col = exc.position
        raise ParseError(
            f"malformed XML: {exc}", where=f"{where}:{line}:{col + 1}", line=line, column=col + 1
        ) from None


def _float_attr(el: ET.Element, name: str) -> float | None:
    raw = el.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        v = float(raw.replace(",", ""))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _timestamp_seconds(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        dt = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def parse_junit(data: bytes, *, where: str = "<junit>") -> ReportMetrics:
    """Parse JUnit XML (pytest, Maven Surefire, Trivy, ...): tests by result, suite durations.

    Each `<testcase>` counts once: `failed` if it holds a `<failure>`,
    `error` for an `<error>`, `skipped` for `<skipped>`, else `passed`. Suites
    are the `<testsuite>` elements holding test cases directly; suites that
    share a name are summed. A suite's duration is its `time` attribute, or
    the sum of its test cases' times when that is missing or empty.
    """
    root = _xml_root(data, where)
    if root.tag not in ("testsuites", "testsuite"):
        raise ParseError(
            f"not a JUnit report: root element is <{root.tag}>, expected <testsuites> or "
            "<testsuite>",
            where=where,
        )
    out = ReportMetrics()
    out.meta("junit_tests", MetricType.GAUGE, "Number of test cases by suite and result.")
    out.meta("junit_suite_duration_seconds", MetricType.GAUGE, "Time a test suite took.", "seconds")
    out.meta(
        "junit_suite_timestamp_seconds",
        MetricType.GAUGE,
        "When a test suite ran (its timestamp attribute), Unix seconds.",
        "seconds",
    )
    suites = list(root.iter("testsuite"))  # the root itself too when it is a testsuite
    for suite in suites:
        cases = suite.findall("testcase")
        if not cases and suite.find("testsuite") is not None:
            continue  # a grouping suite; its children are counted on their own
        name = suite.get("name") or ""
        counts = dict.fromkeys(JUNIT_RESULTS, 0)
        case_time = 0.0
        for case in cases:
            if case.find("failure") is not None:
                counts["failed"] += 1
            elif case.find("error") is not None:
                counts["error"] += 1
            elif case.find("skipped") is not None:
                counts["skipped"] += 1
            else:
                counts["passed"] += 1
            case_time += _float_attr(case, "time") or 0.0
        for result, n in counts.items():
            out.inc("junit_tests", {"suite": name, "result": result}, n)
        duration = _float_attr(suite, "time")
        out.inc(
            "junit_suite_duration_seconds",
            {"suite": name},
            case_time if duration is None else duration,
        )
        ts = _timestamp_seconds(suite.get("timestamp"))
        if ts is not None:
            out.add("junit_suite_timestamp_seconds", {"suite": name}, ts)
    return out


# --------------------------------------------------------------------------- Cobertura

_CONDITION_RE = re.compile(r"\((\d+)/(\d+)\)")


def parse_cobertura(data: bytes, *, where: str = "<cobertura>") -> ReportMetrics:
    """Parse a Cobertura coverage report (coverage.py, JaCoCo converters, gcovr, ...).

    Totals come from the root's attributes; when the counts are missing (old
    Cobertura versions) they are computed from the `<line>` elements (a line
    is covered when `hits > 0`; branches from `condition-coverage="50% (1/2)"`).
    """
    root = _xml_root(data, where)
    if root.tag != "coverage":
        raise ParseError(
            f"not a Cobertura report: root element is <{root.tag}>, expected <coverage>",
            where=where,
        )
    out = ReportMetrics()
    helps = {
        "cobertura_line_rate": "Fraction of lines covered (0..1).",
        "cobertura_branch_rate": "Fraction of branches covered (0..1).",
        "cobertura_lines_valid": "Number of coverable lines.",
        "cobertura_lines_covered": "Number of covered lines.",
        "cobertura_branches_valid": "Number of branches.",
        "cobertura_branches_covered": "Number of covered branches.",
        "cobertura_package_line_rate": "Fraction of lines covered per package (0..1).",
        "cobertura_package_branch_rate": "Fraction of branches covered per package (0..1).",
    }
    for name, help_ in helps.items():
        out.meta(name, MetricType.GAUGE, help_, "ratio" if name.endswith("_rate") else "")

    lines_valid = _float_attr(root, "lines-valid")
    lines_covered = _float_attr(root, "lines-covered")
    branches_valid = _float_attr(root, "branches-valid")
    branches_covered = _float_attr(root, "branches-covered")
    if lines_valid is None or lines_covered is None:
        lv = lc = bv = bc = 0
        seen: set[tuple[str, str]] = set()
        for cls in root.iter("class"):
            fname = cls.get("filename") or cls.get("name") or ""
            for line in cls.iter("line"):
                key = (fname, line.get("number") or "")
                if key in seen:
                    continue
                seen.add(key)
                lv += 1
                if (_float_attr(line, "hits") or 0) > 0:
                    lc += 1
                m = _CONDITION_RE.search(line.get("condition-coverage") or "")
                if line.get("branch") == "true" and m:
                    bc += int(m.group(1))
                    bv += int(m.group(2))
        lines_valid, lines_covered = float(lv), float(lc)
        if branches_valid is None or branches_covered is None:
            branches_valid, branches_covered = float(bv), float(bc)
    line_rate = _float_attr(root, "line-rate")
    if line_rate is None:
        line_rate = lines_covered / lines_valid if lines_valid else 1.0
    branch_rate = _float_attr(root, "branch-rate")
    if branch_rate is None:
        bvalid = branches_valid or 0.0
        branch_rate = (branches_covered or 0.0) / bvalid if bvalid else 1.0
    out.add("cobertura_line_rate", {}, line_rate)
    out.add("cobertura_branch_rate", {}, branch_rate)
    out.add("cobertura_lines_valid", {}, lines_valid)
    out.add("cobertura_lines_covered", {}, lines_covered)
    if branches_valid is not None and branches_covered is not None:
        out.add("cobertura_branches_valid", {}, branches_valid)
        out.add("cobertura_branches_covered", {}, branches_covered)
    for pkg in root.iter("package"):
        pname = pkg.get("name") or ""
        for attr, metric in (
            ("line-rate", "cobertura_package_line_rate"),
            ("branch-rate", "cobertura_package_branch_rate"),
        ):
            v = _float_attr(pkg, attr)
            if v is not None:
                out.add(metric, {"package": pname}, v)
    return out


# --------------------------------------------------------------------------- dispatch


def _load_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text: {exc.reason}", where=where) from None
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"malformed JSON: {exc.msg}",
            where=f"{where}:{exc.lineno}:{exc.colno}",
            line=exc.lineno,
            column=exc.colno,
            position=exc.pos,
        ) from None


REPORT_FORMATS: dict[str, Callable[..., ReportMetrics]] = {
    "trivy": parse_trivy,
    "sarif": parse_sarif,
    "junit": parse_junit,
    "cobertura": parse_cobertura,
}


def parse_report(
    data: bytes, fmt: str, *, where: str = "<report>", **options: Any
) -> ReportMetrics:
    """Parse report bytes in format `fmt` (trivy, sarif, junit, cobertura)."""
    try:
        parser = REPORT_FORMATS[fmt]
    except KeyError:
        raise ConfigError(
            f"unknown report format {fmt!r}; expected one of {', '.join(REPORT_FORMATS)}"
        ) from None
    return parser(data, where=where, **options)


# --------------------------------------------------------------------------- source


@dataclass(slots=True)
class _FileState:
    key: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) of the parsed version
    metrics: ReportMetrics | None = None
    error: str = ""
    errors_total: int = 0
    mtime_s: float = 0.0


class ReportSource(PeriodicSource):
    """Watches report files and writes their figures every interval.

    Args:
        name: The config's name; every series gets `report="<name>"` and `file="<path>"`.
        path: A file path, or a glob (`reports/*.sarif`) watched for new and removed files.
        format: trivy | sarif | junit | cobertura.
        appender: Where samples go.
        interval_ms: How often files are checked for changes and figures written.
        labels: Static labels added to every series of this source.
        vulnerability_ids: Trivy only: also write one `trivy_vulnerability_id` series per finding.
        watch: Re-parse a file when it changes; False parses each file once (its figures
            are still written every interval).
        clock: Wall clock for timestamps.
    """

    kind = "report"

    def __init__(
        self,
        name: str,
        path: str | os.PathLike[str],
        format: str,
        appender: Appender,
        *,
        interval_ms: int = 15_000,
        labels: Mapping[str, str] | None = None,
        vulnerability_ids: bool = True,
        watch: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name, appender, interval_ms=interval_ms, clock=clock)
        if format not in REPORT_FORMATS:
            raise ConfigError(
                f"unknown report format {format!r}; expected one of {', '.join(REPORT_FORMATS)}",
                where=f"report_configs.{name}.format",
            )
        self.path = os.fspath(path)
        self.format = format
        self.labels = dict(labels or {})
        self.options: dict[str, Any] = (
            {"vulnerability_ids": vulnerability_ids} if format == "trivy" else {}
        )
        self.watch = watch
        self._files: dict[str, _FileState] = {}
        self._stale = StaleTracker()

    @classmethod
    def from_config(
        cls, cfg: Any, appender: Appender, *, clock: Clock | None = None, **overrides: Any
    ) -> ReportSource:
        """Build from a `[[report_configs]]` entry (nightowl.config.ReportConfig or alike).

        An empty `name` becomes the file name of `path` (`trivy.json`).
        """
        name = getattr(cfg, "name", "") or os.path.basename(os.fspath(cfg.path))
        kwargs: dict[str, Any] = {
            "interval_ms": cfg.interval,
            "labels": dict(getattr(cfg, "labels", {}) or {}),
            "watch": getattr(cfg, "watch", True),
        }
        if hasattr(cfg, "vulnerability_ids"):
            kwargs["vulnerability_ids"] = cfg.vulnerability_ids
        kwargs.update(overrides)
        return cls(name, cfg.path, cfg.format, appender, clock=clock, **kwargs)

    def describe(self) -> str:
        """The watched path or glob."""
        return self.path

    def _paths(self) -> list[str]:
        if glob.has_magic(self.path):
            return sorted(p for p in glob.glob(self.path) if os.path.isfile(p))
        return [self.path]

    def _read(self, path: str) -> tuple[ReportMetrics | None, str]:
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_REPORT_BYTES + 1)
        except OSError as exc:
            return None, f"{path}: cannot read: {exc.strerror or exc}"
        if len(data) > MAX_REPORT_BYTES:
            return None, f"{path}: report larger than {MAX_REPORT_BYTES} bytes, not read"
        try:
            return parse_report(data, self.format, where=path, **self.options), ""
        except ParseError as exc:
            return None, str(exc)
        except RecursionError:
            return None, f"{path}: document nested too deeply"

    async def collect(self, now_ms: int) -> SampleBatch:
        """Re-parse changed files, then write every file's figures and health."""
        paths = self._paths()
        for gone in set(self._files) - set(paths):
            del self._files[gone]
        for path in paths:
            st = self._files.setdefault(path, _FileState())
            try:
                s = os.stat(path)
            except OSError as exc:
                st.key, st.metrics = None, None
                st.error = f"{path}: {exc.strerror or exc}"
                continue
            key = (s.st_ino, s.st_size, s.st_mtime_ns)
            st.mtime_s = s.st_mtime
            if key == st.key or (not self.watch and st.key is not None):
                continue
            metrics, error = await asyncio.to_thread(self._read, path)
            st.key, st.metrics, st.error = key, metrics, error
            if error:
                st.errors_total += 1

        b = BatchBuilder(now_ms)
        b.meta("nightowl_report_up", MetricType.GAUGE, "1 if the report file was read and parsed.")
        b.meta(
            "nightowl_report_parse_errors_total",
            MetricType.COUNTER,
            "Times a changed report file failed to parse.",
        )
        b.meta(
            "nightowl_report_mtime_seconds",
            MetricType.GAUGE,
            "Modification time of the report file, Unix seconds.",
            "seconds",
        )
        errors = []
        for path in paths:
            st = self._files[path]
            base = self.labels | {"report": self.name, "file": path}
            b.add("nightowl_report_up", base, 0.0 if st.metrics is None else 1.0)
            b.add("nightowl_report_parse_errors_total", base, st.errors_total)
            if st.key is not None:
                b.add("nightowl_report_mtime_seconds", base, st.mtime_s)
            if st.metrics is None:
                errors.append(st.error)
                continue
            for fam, m in st.metrics.metadata.items():
                b.meta(fam, m.type, m.help, m.unit)
            for (metric, lbls), value in st.metrics.samples.items():
                b.add(metric, {**dict(lbls), **base}, value)
        self._stale.mark(b)
        self.last_error = "; ".join(e for e in errors if e)
        self.healthy = bool(paths) and not errors
        if not paths:
            self.last_error = f"no file matches {self.path}"
        return b.build()


def read_report_file(path: str | Path, fmt: str, **options: Any) -> ReportMetrics:
    """Read and parse one report file synchronously (for `nightowl import`-style callers)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read report: {exc.strerror or exc}", where=str(p)) from None
    return parse_report(data, fmt, where=str(p), **options)
