"""`nightowl test rules` against the real `promtool test rules`: same verdicts, same output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nightowl.alerts.template import Template, TemplateData

DATA = Path(__file__).parent / "data"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
HAVE_PROMTOOL = os.path.exists(PROMTOOL)

pytestmark = pytest.mark.skipif(
    not HAVE_PROMTOOL and not os.environ.get("CI"),
    reason="promtool (Debian package prometheus) is not installed",
)


def _run(cmd: list[str], cwd: Path) -> tuple[int, str]:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def _both(path: Path) -> tuple[tuple[int, str], tuple[int, str]]:
    prom = _run([PROMTOOL, "test", "rules", path.name], path.parent)
    ours = _run([sys.executable, "-m", "nightowl", "test", "rules", path.name], path.parent)
    return prom, ours


@pytest.mark.parametrize(
    "name",
    ["test_basic_pass.yml", "test_basic_fail.yml", "test_chain_pass.yml", "test_chain_fail.yml"],
)
def test_promtool_agrees_on_files(name: str, tmp_path: Path) -> None:
    """Both tools pass the passing file and fail the failing one, with the same output.

    The chain files cover group_eval_order, a recording rule feeding an alert in the
    same group and evaluation, `query` in templates, external labels, several test
    groups, and an expected empty label (kept by promtool, so it fails)."""
    for f in ("rules_basic.yml", "rules_chain.yml", name):
        shutil.copy(DATA / f, tmp_path / f)
    prom, ours = _both(tmp_path / name)
    assert prom[0] == (0 if "pass" in name else 1)
    assert ours[0] == prom[0]
    assert ours[1] == prom[1]


VALUES = [0.0, 1.0, -1.5, 0.000123, 1234.5, 1234567.0, 5e9, 0.5, 86399.0, 90061.0, 3.25, 1e-7]


def test_template_functions_agree_with_promtool(tmp_path: Path) -> None:
    """Annotations with every humanize function: our expansion is what promtool expects."""
    funcs = [
        "{{ $value }}",
        "{{ $value | humanize }}",
        "{{ $value | humanize1024 }}",
        "{{ $value | humanizeDuration }}",
        "{{ $value | humanizePercentage }}",
        "{{ $value | humanizeTimestamp }}",
        '{{ printf "%.3f|%g|%v" $value $value $value }}',
        "{{ if gt $value 100.0 }}big{{ else if lt $value 0.0 }}neg{{ else }}small{{ end }}",
        '{{ $labels.k | title }} {{ "a-b-c" | reReplaceAll "-(.)" "[$1]" }} {{ toUpper "x" }}',
        "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
    ]
    rules = ["groups:", "  - name: g", "    rules:"]
    tests = [
        "rule_files: [r.yml]",
        "tests:",
        "  - interval: 1m",
        "    input_series:",
    ]
    cases = []
    for i, v in enumerate(VALUES):
        tests.append(f'      - series: \'m{{k="key {i}", i="{i}"}}\'')
        tests.append(f"        values: '{v!r}'")
    for j, text in enumerate(funcs):
        rules += [
            f"      - alert: A{j}",
            "        expr: m",
            "        annotations:",
            f"          t: {_yaml_str(text)}",
        ]
        exp = []
        for i, v in enumerate(VALUES):
            labels = {"k": f"key {i}", "i": str(i)}
            got = Template.parse(text).expand(TemplateData({**labels, "__name__": "m"}, v))
            exp.append((labels, got))
        cases.append((f"A{j}", exp))
    tests.append("    alert_rule_test:")
    for name, exp in cases:
        tests += ["      - eval_time: 0m", f"        alertname: {name}", "        exp_alerts:"]
        for labels, text in exp:
            tests.append(
                f"          - exp_labels: {{k: {_yaml_str(labels['k'])}, i: '{labels['i']}'}}"
            )
            tests.append(f"            exp_annotations: {{t: {_yaml_str(text)}}}")
    (tmp_path / "r.yml").write_text("\n".join(rules) + "\n")
    (tmp_path / "t.yml").write_text("\n".join(tests) + "\n")
    prom, ours = _both(tmp_path / "t.yml")
    assert prom[0] == 0, prom[1]
    assert ours == prom


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_check_rules_agrees_on_validity(tmp_path: Path) -> None:
    """`nightowl check rules` and `promtool check rules` accept and refuse the same files."""
    files = {
        "ok.yml": "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 1m\n",
        "badexpr.yml": "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n",
        "badtmpl.yml": (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n"
            "    annotations:\n      s: '{{ $labels.x '\n"
        ),
        "badrec.yml": "groups:\n- name: g\n  rules:\n  - record: a b\n    expr: up\n",
        "dupgroup.yml": ("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n"),
        "unknown.yml": "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    fo: 1m\n",
        "both.yml": "groups:\n- name: g\n  rules:\n  - alert: A\n    record: b\n    expr: up\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        prom = _run([PROMTOOL, "check", "rules", name], tmp_path)
        ours = _run([sys.executable, "-m", "nightowl", "check", "rules", name], tmp_path)
        assert (prom[0] == 0) == (ours[0] == 0), (name, prom, ours)
        if ours[0]:
            assert ours[0] == 2 and name in ours[1]


def _scenario(seed: int) -> tuple[str, str]:
    """A random rule file and a test file whose expectations are nightowl's answers."""
    import random

    from nightowl.alerts.group import Group
    from nightowl.alerts.rulefile import parse_rule_text
    from nightowl.alerts.rules import AlertState, engine_query_fn
    from nightowl.query.engine import Engine
    from nightowl.query.promqltest import expand_series
    from nightowl.store.memory import MemoryStore

    from nightowl.model import SampleBatch

    rnd = random.Random(seed)
    series = []
    for i in range(3):
        vals = " ".join(rnd.choice(["0", "0", "1", "5", "_"]) for _ in range(18))
        series.append((f'm{{i="{i}"}}', vals))
    rules = ["groups:", "  - name: g", "    rules:"]
    names = []
    for j in range(4):
        for_ = rnd.choice(["0s", "1m", "2m", "3m"])
        kff = rnd.choice(["0s", "0s", "2m"])
        thr = rnd.choice(["== 0", "> 2", ">= 1"])
        names.append(f"R{j}")
        rules += [
            f"      - alert: R{j}",
            f"        expr: m {thr}",
            f"        for: {for_}",
            f"        keep_firing_for: {kff}",
            "        annotations: {v: '{{ $value }}'}",
        ]
    rule_text = "\n".join(rules) + "\n"
    store = MemoryStore()
    for s, v in series:
        labels, values = expand_series(f"{s} {v}")
        ts = [k * 60_000 for k, x in enumerate(values) if x is not None]
        xs = [x for x in values if x is not None]
        store.append_sync(SampleBatch([labels], [0] * len(ts), ts, xs))
    (spec,) = parse_rule_text(rule_text)
    g = Group(spec, engine_query_fn(Engine(store)), interval_ms=60_000)
    tests = ["rule_files: [r.yml]", "tests:", "  - interval: 1m", "    input_series:"]
    for s, v in series:
        tests += [f"      - series: '{s}'", f"        values: '{v}'"]
    tests.append("    alert_rule_test:")
    for t in range(18):
        samples, _, errs = g.eval_sync(t * 60_000)
        assert not errs
        store.append_sync(SampleBatch.from_samples(samples))
        for r in g.alerting_rules():
            firing = [a for a in r.active.values() if a.state is AlertState.FIRING]
            tests += [f"      - eval_time: {t}m", f"        alertname: {r.name}"]
            if not firing:
                tests.append("        exp_alerts: []")
                continue
            tests.append("        exp_alerts:")
            for a in sorted(firing, key=lambda a: a.labels.get("i")):
                tests.append(f"          - exp_labels: {{i: '{a.labels.get('i')}'}}")
                tests.append(f"            exp_annotations: {{v: '{a.annotations['v']}'}}")
    return rule_text, "\n".join(tests) + "\n"


@pytest.mark.parametrize("seed", range(6))
def test_random_alert_timelines_agree_with_promtool(seed: int, tmp_path: Path) -> None:
    """Random series and `for` / `keep_firing_for` rules: promtool accepts, at every
    minute, exactly the firing alerts nightowl computes."""
    rule_text, test_text = _scenario(seed)
    (tmp_path / "r.yml").write_text(rule_text)
    (tmp_path / "t.yml").write_text(test_text)
    prom, ours = _both(tmp_path / "t.yml")
    assert prom[0] == 0, prom[1][:3000]
    assert ours == prom


BROKEN_TEST_FILES = {
    "missing_rules.yml": (
        "rule_files: [nope.yml]\ntests:\n - input_series: [{series: up, values: '1 1'}]\n"
        "   alert_rule_test: [{eval_time: 1m}]\n"
    ),
    "bad_yaml.yml": "tests: [\n",
    "unknown_key.yml": "rule_files: []\nbogus: 1\n",
    "bad_series.yml": (
        "tests:\n - input_series: [{series: 'up{', values: '1 1'}]\n"
        "   promql_expr_test: [{expr: 'up', eval_time: 1m}]\n"
    ),
    "bad_expr.yml": "tests:\n - promql_expr_test: [{expr: 'up +', eval_time: 1m}]\n",
}


@pytest.mark.parametrize("name", sorted(BROKEN_TEST_FILES))
def test_broken_test_files_fail_like_promtool(name: str, tmp_path: Path) -> None:
    """Broken test files: both tools fail (exit 1), ours without a traceback."""
    (tmp_path / name).write_text(BROKEN_TEST_FILES[name])
    prom, ours = _both(tmp_path / name)
    assert prom[0] == 1 and ours[0] == 1, (prom, ours)
    assert "Traceback" not in ours[1] and "FAILED" in ours[1]
