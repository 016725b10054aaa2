"""Report sources: Trivy, SARIF, JUnit and Cobertura parsed from the real fixtures.

Expected figures are computed here by reading each file a different way
(regexes over the raw text, element attributes instead of test cases, line
elements instead of totals), never typed in by hand.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.scrapers.reports import (
    ReportSource,
    parse_cobertura,
    parse_junit,
    parse_report,
    parse_sarif,
    parse_trivy,
    read_report_file,
)
from nightowl.store.memory import MemoryStore

from nightowl.errors import ParseError
from nightowl.model import Labels, Matcher, MatchOp, is_stale


class FakeClock:
    """A settable wall clock."""

    def __init__(self, t: int = 1_700_000_000_000) -> None:
        self.t = t

    def now_ms(self) -> int:
        return self.t


def _value(store: MemoryStore, name: str, **labels: str) -> list[tuple[Labels, float]]:
    ms = [Matcher("__name__", MatchOp.EQ, name)]
    ms += [Matcher(k, MatchOp.EQ, v) for k, v in labels.items()]
    return [(d.labels, float(d.values[-1])) for d in store.select(ms, 0, 2**62)]


# -- Trivy --------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["trivy-centos-7.json", "trivy-debian-buster.json"])
def test_trivy_counts_match_raw_text(shared_dir: Path, fixture: str) -> None:
    """Severity counts equal the `"Severity": "X"` occurrences in the raw JSON."""
    path = shared_dir / "fixtures" / "security" / fixture
    raw = path.read_text()
    expected = Counter(m.capitalize() for m in re.findall(r'"Severity":\s*"(\w+)"', raw))
    m = read_report_file(path, "trivy")
    got = {dict(lbl)["severity"]: v for lbl, v in m.series("trivy_image_vulnerabilities").items()}
    assert set(got) == {"Critical", "High", "Medium", "Low", "Unknown"}
    for sev, v in got.items():
        assert v == expected.get(sev, 0), sev
    assert sum(got.values()) == len(re.findall(r'"VulnerabilityID":', raw))


def test_trivy_image_labels_and_fixed_split(shared_dir: Path) -> None:
    """Image labels come from RepoTags; fixed/unfixed split follows FixedVersion."""
    path = shared_dir / "fixtures" / "security" / "trivy-debian-buster.json"
    doc = json.loads(path.read_text())
    ref = doc["Metadata"]["RepoTags"][0]
    registry, _, rest = ref.partition("/")
    repository, _, tag = rest.rpartition(":")
    m = parse_trivy(path.read_bytes(), where=str(path))
    for lbl in m.series("trivy_image_vulnerabilities"):
        d = dict(lbl)
        assert (d["image_registry"], d["image_repository"], d["image_tag"]) == (
            registry,
            repository,
            tag,
        )
    vulns = [v for r in doc["Results"] for v in r.get("Vulnerabilities") or []]
    fixed = sum(1 for v in vulns if v.get("FixedVersion"))
    pkgs = m.series("trivy_package_vulnerabilities")
    assert sum(v for lbl, v in pkgs.items() if dict(lbl)["fixed"] == "true") == fixed
    assert sum(v for lbl, v in pkgs.items() if dict(lbl)["fixed"] == "false") == len(vulns) - fixed
    ids = {dict(lbl)["vuln_id"] for lbl in m.series("trivy_vulnerability_id")}
    assert ids == {v["VulnerabilityID"] for v in vulns}


def test_trivy_without_vulnerability_ids(shared_dir: Path) -> None:
    """The per-finding info series can be turned off."""
    path = shared_dir / "fixtures" / "security" / "trivy-centos-7.json"
    m = parse_trivy(path.read_bytes(), vulnerability_ids=False)
    assert not m.series("trivy_vulnerability_id")
    assert m.series("trivy_image_vulnerabilities")


def test_trivy_docker_hub_reference() -> None:
    """A bare Docker Hub name gets trivy-operator's registry and library/ prefix."""
    doc = {
        "SchemaVersion": 2,
        "ArtifactName": "nginx:1.25",
        "ArtifactType": "container_image",
        "Metadata": {"RepoTags": ["nginx:1.25"], "RepoDigests": ["nginx@sha256:abc"]},
        "Results": [
            {
                "Target": "nginx:1.25 (debian 12)",
                "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "Severity": "WEIRD"}],
            }
        ],
    }
    m = parse_trivy(json.dumps(doc).encode())
    assert (
        m.get(
            "trivy_image_vulnerabilities",
            name="nginx:1.25",
            image_registry="index.docker.io",
            image_repository="library/nginx",
            image_tag="1.25",
            image_digest="sha256:abc",
            severity="Unknown",
        )
        == 1
    )


def test_trivy_secrets_and_failed_misconfigurations() -> None:
    """Secrets by severity; only FAIL misconfigurations count; absent scanners write nothing."""
    results = [
        {
            "Target": "app/.env",
            "Class": "secret",
            "Secrets": [{"RuleID": "aws-key", "Severity": "CRITICAL"}, {"Severity": "HIGH"}],
        },
        {
            "Target": "Dockerfile",
            "Class": "config",
            "Misconfigurations": [
                {"ID": "DS002", "Severity": "HIGH", "Status": "FAIL"},
                {"ID": "DS001", "Severity": "MEDIUM", "Status": "PASS"},
                {"ID": "DS026", "Severity": "LOW", "Status": "FAIL"},
            ],
        },
    ]
    doc = {"SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem"}
    m = parse_trivy(json.dumps(doc | {"Results": results}).encode())
    secrets = {dict(k)["severity"]: v for k, v in m.series("trivy_image_exposedsecrets").items()}
    assert secrets == {"Critical": 1, "High": 1, "Medium": 0, "Low": 0, "Unknown": 0}
    audits = {dict(k)["severity"]: v for k, v in m.series("trivy_resource_configaudits").items()}
    assert audits == {"Critical": 0, "High": 1, "Medium": 0, "Low": 1, "Unknown": 0}
    plain = parse_trivy(json.dumps(doc | {"Results": []}).encode())
    assert not plain.series("trivy_image_exposedsecrets")
    assert not plain.series("trivy_resource_configaudits")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "malformed JSON"),
        (b'{"SchemaVersion": 1, "Results": []}', "SchemaVersion"),
        (b"[1, 2]", "not a Trivy"),
        (b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"x": 1}]}]}', "Results[0]"),
        (b'{"SchemaVersion": 2, "Results": {"a": 1}}', "Results must be a list"),
        (b"\xff\xfe\x00", "UTF-8"),
    ],
)
def test_trivy_malformed_names_file(body: bytes, fragment: str) -> None:
    """Malformed Trivy input raises ParseError naming the file and what is wrong."""
    with pytest.raises(ParseError) as err:
        parse_trivy(body, where="scan.json")
    assert "scan.json" in str(err.value)
    assert fragment in str(err.value)


# -- SARIF --------------------------------------------------------------------------------


def _walk(node: object):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_sarif_findings_by_rule_match_generic_walk(shared_dir: Path) -> None:
    """Per-rule counts equal the objects carrying a ruleId, found by a generic tree walk."""
    path = shared_dir / "fixtures" / "security" / "trivy-alpine-310.sarif"
    doc = json.loads(path.read_text())
    expected = Counter(d["ruleId"] for d in _walk(doc) if "ruleId" in d)
    tool = doc["runs"][0]["tool"]["driver"]["name"]
    m = parse_sarif(path.read_bytes())
    got = Counter()
    for lbl, v in m.series("sarif_findings").items():
        d = dict(lbl)
        assert d["tool"] == tool
        assert d["level"] in {"error", "warning", "note", "none"}
        got[d["rule"]] += int(v)
    assert got == expected
    assert m.get("sarif_run_findings", tool=tool) == sum(expected.values())


def test_sarif_level_defaults() -> None:
    """Result level, then rule default, then warning (none for non-fail kinds)."""
    doc = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "lint",
                        "rules": [{"id": "R1", "defaultConfiguration": {"level": "error"}}],
                    }
                },
                "results": [
                    {"ruleId": "R1"},
                    {"ruleIndex": 0, "level": "note"},
                    {"ruleId": "R2"},
                    {"ruleId": "R2", "kind": "pass"},
                ],
            },
            {"tool": {"driver": {"name": "clean"}}, "results": []},
        ],
    }
    m = parse_sarif(json.dumps(doc).encode())
    assert m.get("sarif_findings", tool="lint", rule="R1", level="error") == 1
    assert m.get("sarif_findings", tool="lint", rule="R1", level="note") == 1
    assert m.get("sarif_findings", tool="lint", rule="R2", level="warning") == 1
    assert m.get("sarif_findings", tool="lint", rule="R2", level="none") == 1
    assert m.get("sarif_run_findings", tool="clean") == 0


def test_sarif_rule_in_tool_extension() -> None:
    """CodeQL-style results point at a rule in tool.extensions; its default level applies."""
    doc = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {"name": "CodeQL"},
                    "extensions": [
                        {
                            "name": "pack",
                            "rules": [
                                {
                                    "id": "py/sql-injection",
                                    "defaultConfiguration": {"level": "error"},
                                }
                            ],
                        }
                    ],
                },
                "results": [
                    {"rule": {"id": "py/sql-injection", "index": 0, "toolComponent": {"index": 0}}}
                ],
            }
        ],
    }
    m = parse_sarif(json.dumps(doc).encode())
    assert m.get("sarif_findings", tool="CodeQL", rule="py/sql-injection", level="error") == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"version": "2.1.0"}', "no `runs`"),
        (b'{"version": "1.0", "runs": []}', "unsupported SARIF version"),
        (b'{"version": "2.1.0", "runs": [{"tool": {}}]}', "runs[0]"),
        (
            b'{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},'
            b'"results":[{"level":"fatal"}]}]}',
            "invalid level",
        ),
    ],
)
def test_sarif_malformed(body: bytes, fragment: str) -> None:
    """Malformed SARIF names the file and the place."""
    with pytest.raises(ParseError) as err:
        parse_sarif(body, where="out.sarif")
    assert "out.sarif" in str(err.value) and fragment in str(err.value)


# -- JUnit --------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["ci/pytest-junit.xml", "security/trivy-alpine-310.junit"])
def test_junit_counts_match_suite_attributes(shared_dir: Path, fixture: str) -> None:
    """Per-case classification agrees with each suite's own tests/failures/errors/skipped."""
    path = shared_dir / "fixtures" / fixture
    root = ET.parse(path).getroot()
    m = parse_junit(path.read_bytes())
    # Suites sharing a name (Trivy writes one per scanner class) are summed.
    totals: dict[str, Counter[str]] = {}
    for suite in root.iter("testsuite"):
        c = totals.setdefault(suite.get("name"), Counter())
        for attr in ("tests", "failures", "errors", "skipped"):
            c[attr] += int(suite.get(attr) or 0)
        t = suite.get("time")
        c["time"] += float(t) if t else 0.0
    assert totals
    for name, c in totals.items():
        assert m.get("junit_tests", suite=name, result="failed") == c["failures"]
        assert m.get("junit_tests", suite=name, result="error") == c["errors"]
        assert m.get("junit_tests", suite=name, result="skipped") == c["skipped"]
        assert m.get("junit_tests", suite=name, result="passed") == (
            c["tests"] - c["failures"] - c["errors"] - c["skipped"]
        )
        if c["time"]:
            assert m.get("junit_suite_duration_seconds", suite=name) == pytest.approx(c["time"])


def test_junit_nested_suites() -> None:
    """Suites inside a root <testsuite> are counted; a grouping-only suite adds nothing."""
    xml = (
        b'<testsuite name="all"><testsuite name="unit"><testcase name="a"/>'
        b'<testcase name="b"><error/></testcase></testsuite>'
        b'<testsuite name="e2e"><testcase name="c"><failure/></testcase></testsuite></testsuite>'
    )
    m = parse_junit(xml)
    assert m.get("junit_tests", suite="unit", result="passed") == 1
    assert m.get("junit_tests", suite="unit", result="error") == 1
    assert m.get("junit_tests", suite="e2e", result="failed") == 1
    assert m.get("junit_tests", suite="all", result="passed") is None


def test_junit_timestamp_and_case_time_fallback() -> None:
    """A suite without `time` sums its cases; `timestamp` becomes Unix seconds."""
    xml = (
        b'<testsuite name="s" timestamp="2024-01-02T03:04:05"><testcase name="a" time="1.5"/>'
        b'<testcase name="b" time="2"><skipped/></testcase></testsuite>'
    )
    m = parse_junit(xml)
    assert m.get("junit_suite_duration_seconds", suite="s") == 3.5
    assert m.get("junit_suite_timestamp_seconds", suite="s") == 1704164645.0
    assert m.get("junit_tests", suite="s", result="skipped") == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<testsuite><testcase></testsuite>", "malformed XML"),
        (b"<html/>", "not a JUnit report"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite>&a;</testsuite>',
            "entity",
        ),
    ],
)
def test_junit_malformed(body: bytes, fragment: str) -> None:
    """Malformed JUnit names the file (with line:column for XML syntax errors)."""
    with pytest.raises(ParseError) as err:
        parse_junit(body, where="junit.xml")
    assert "junit.xml" in str(err.value) and fragment in str(err.value)


# -- Cobertura ----------------------------------------------------------------------------


def test_cobertura_rates_match_line_elements(shared_dir: Path) -> None:
    """Totals agree with counting the <line> elements and their condition coverage."""
    path = shared_dir / "fixtures" / "ci" / "cobertura-coverage.xml"
    lines = ET.parse(path).getroot().findall(".//line")
    covered = sum(1 for ln in lines if int(ln.get("hits")) > 0)
    conds = [
        tuple(map(int, re.search(r"\((\d+)/(\d+)\)", ln.get("condition-coverage")).groups()))
        for ln in lines
        if ln.get("branch") == "true"
    ]
    m = parse_cobertura(path.read_bytes())
    assert m.get("cobertura_lines_valid") == len(lines)
    assert m.get("cobertura_lines_covered") == covered
    assert m.get("cobertura_line_rate") == pytest.approx(covered / len(lines))
    assert m.get("cobertura_branches_valid") == sum(t for _, t in conds)
    assert m.get("cobertura_branch_rate") == pytest.approx(
        sum(c for c, _ in conds) / sum(t for _, t in conds)
    )


def test_cobertura_without_totals_counts_lines() -> None:
    """Old reports without counts: computed from the lines."""
    xml = (
        b'<coverage><packages><package name="p"><classes><class filename="a.py"><lines>'
        b'<line number="1" hits="3"/><line number="2" hits="0" branch="true" '
        b'condition-coverage="50% (1/2)"/></lines></class></classes></package></packages>'
        b"</coverage>"
    )
    m = parse_cobertura(xml)
    assert m.get("cobertura_lines_valid") == 2
    assert m.get("cobertura_line_rate") == 0.5
    assert m.get("cobertura_branch_rate") == 0.5


@settings(max_examples=150, deadline=None)
@given(
    fmt=st.sampled_from(["trivy", "sarif", "junit", "cobertura"]),
    data=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
    ),
)
def test_reports_fuzz_never_crash(fmt: str, data: bytes) -> None:
    """Arbitrary bytes or JSON either parse or raise ParseError, nothing else."""
    try:
        parse_report(data, fmt, where="fuzz")
    except ParseError as exc:
        assert "fuzz" in str(exc)


# -- the source ---------------------------------------------------------------------------


async def test_report_source_watches_mtime_and_marks_stale(
    shared_dir: Path, tmp_path: Path
) -> None:
    """Re-parses on change, keeps writing unchanged figures, goes down on a broken file."""
    src_file = shared_dir / "fixtures" / "ci" / "pytest-junit.xml"
    target = tmp_path / "junit.xml"
    shutil.copy(src_file, target)
    store, clock = MemoryStore(), FakeClock()
    source = ReportSource("ci", str(target), "junit", store, labels={"team": "a"}, clock=clock)

    await source.collect_once()
    [(labels, v)] = _value(store, "junit_tests", result="failed")
    assert v == 1 and labels.get("report") == "ci" and labels.get("team") == "a"
    assert _value(store, "nightowl_report_up")[0][1] == 1
    assert source.status().health == "up"

    clock.t += 15_000
    batch = await source.collect_once()
    assert len(batch) > 0  # unchanged file: figures re-written so they stay fresh

    # Rewrite with one more failure.
    text = src_file.read_text().replace('failures="1"', 'failures="2"')
    text = text.replace(
        '<testcase classname="test_calc" name="test_add" time="0.001" />',
        '<testcase classname="test_calc" name="test_add" time="0.001"><failure/></testcase>',
    )
    target.write_text(text)
    os.utime(target, ns=(10**18, 10**18))
    clock.t += 15_000
    await source.collect_once()
    assert _value(store, "junit_tests", result="failed")[0][1] == 2

    target.write_text("<testsuite><broken")
    clock.t += 15_000
    await source.collect_once()
    up = _value(store, "nightowl_report_up")
    assert up[0][1] == 0
    assert _value(store, "nightowl_report_parse_errors_total")[0][1] == 1
    assert is_stale(_value(store, "junit_tests", result="failed")[0][1])
    assert "junit.xml" in source.last_error and source.status().health == "down"


async def test_report_source_glob_and_missing(shared_dir: Path, tmp_path: Path) -> None:
    """A glob picks up new files; a removed file's series end with stale markers."""
    store, clock = MemoryStore(), FakeClock()
    source = ReportSource("scans", str(tmp_path / "*.json"), "trivy", store, clock=clock)
    await source.collect_once()
    assert source.status().health == "down" and "no file matches" in source.last_error
    for name in ("trivy-centos-7.json", "trivy-debian-buster.json"):
        shutil.copy(shared_dir / "fixtures" / "security" / name, tmp_path / name)
    clock.t += 1000
    await source.collect_once()
    crit = _value(store, "trivy_image_vulnerabilities", severity="Low")
    assert len(crit) == 2
    (tmp_path / "trivy-centos-7.json").unlink()
    clock.t += 1000
    await source.collect_once()
    after = {
        lbl.get("image_tag"): v
        for lbl, v in _value(store, "trivy_image_vulnerabilities", severity="Low")
    }
    assert is_stale(after["centos-7"]) and not math.isnan(after["debian-buster"])


async def test_report_source_runs_as_task(shared_dir: Path, tmp_path: Path) -> None:
    """start()/stop() run the periodic task on the loop."""
    target = tmp_path / "cov.xml"
    shutil.copy(shared_dir / "fixtures" / "ci" / "cobertura-coverage.xml", target)
    store = MemoryStore()
    source = ReportSource("cov", target, "cobertura", store, interval_ms=20)
    source.start()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if _value(store, "cobertura_line_rate"):
            break
    await source.stop()
    expected = float(ET.parse(target).getroot().get("line-rate"))
    assert _value(store, "cobertura_line_rate")[0][1] == pytest.approx(expected)


async def test_from_config_name_defaults_and_watch_false(shared_dir: Path, tmp_path: Path) -> None:
    """A [[report_configs]] entry: name defaults to the file name; watch=false parses once."""
    from nightowl.config import parse_config

    target = tmp_path / "coverage.xml"
    shutil.copy(shared_dir / "fixtures" / "ci" / "cobertura-coverage.xml", target)
    cfg = parse_config(
        f"""
[[report_configs]]
path = "{target}"
format = "cobertura"
interval = "2m"
watch = false
labels = {{ repo = "app" }}
""",
        base_dir=tmp_path,
    )
    store, clock = MemoryStore(), FakeClock()
    src = ReportSource.from_config(cfg.report_configs[0], store, clock=clock)
    assert (src.name, src.interval_ms, src.watch) == ("coverage.xml", 120_000, False)
    await src.collect_once()
    [(labels, rate)] = _value(store, "cobertura_line_rate")
    assert labels.get("report") == "coverage.xml" and labels.get("repo") == "app"
    target.write_text(target.read_text().replace('line-rate="0.7"', 'line-rate="0.9"', 1))
    os.utime(target, ns=(10**18, 10**18))
    clock.t += 1000
    await src.collect_once()
    assert _value(store, "cobertura_line_rate")[0][1] == rate  # not re-read
