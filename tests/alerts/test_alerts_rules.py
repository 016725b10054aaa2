"""Alert state machine, recording rules, groups, restore, hysteresis and flap damping."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from nightowl.alerts.group import Group
from nightowl.alerts.manager import RuleManager
from nightowl.alerts.rulefile import RuleFileError, parse_rule_text
from nightowl.alerts.rules import AlertingRule, AlertState, engine_query_fn
from nightowl.query.engine import Engine
from nightowl.store.memory import MemoryStore

from nightowl.model import Labels, Matcher, MatchOp, SampleBatch, is_stale

M = 60_000


def _store(series: dict[str, list[float | None]], step: int = M) -> MemoryStore:
    from nightowl.query.promqltest import parse_series_line

    store = MemoryStore()
    for text, values in series.items():
        labels, _ = parse_series_line(text)
        ts = [i * step for i, v in enumerate(values) if v is not None]
        vs = [v for v in values if v is not None]
        store.append_sync(SampleBatch([labels], [0] * len(ts), ts, vs))
    return store


def _group(text: str, store: MemoryStore, **kw: object) -> Group:
    (spec,) = parse_rule_text(text)
    return Group(spec, engine_query_fn(Engine(store)), interval_ms=M, **kw)  # type: ignore[arg-type]


RULE = """
groups:
- name: g
  rules:
  - alert: High
    expr: load > 5
    for: 2m
    keep_firing_for: 0s
    labels: {severity: "{{ if gt $value 8.0 }}page{{ else }}ticket{{ end }}"}
    annotations: {summary: "load {{ $value }}"}
"""


def _states(g: Group, store: MemoryStore, until: int) -> list[str]:
    out = []
    for i in range(until):
        samples, _, errors = g.eval_sync(i * M)
        assert not errors
        store.append_sync(SampleBatch.from_samples(samples))
        rule = g.alerting_rules()[0]
        out.append(",".join(sorted(a.state.value for a in rule.active.values())) or "-")
    return out


def test_pending_then_firing_then_resolved() -> None:
    """inactive -> pending -> firing after `for` -> inactive; ALERTS written; stale after."""
    store = _store({"load": [1, 6, 6, 6, 6, 1, 1]})
    g = _group(RULE, store)
    assert _states(g, store, 7) == [
        "-",
        "pending",
        "pending",
        "firing",
        "firing",
        "inactive",
        "inactive",
    ]
    eng = Engine(store)
    v = eng.instant('ALERTS{alertname="High"}', 3 * M).value
    assert [s.labels.get("alertstate") for s in v] == ["firing"]
    assert v[0].labels.get("severity") == "ticket"
    fs = eng.instant("ALERTS_FOR_STATE", 3 * M).value
    assert fs[0].v == 60.0  # active since 1m, in seconds
    # a staleness marker ends the ALERTS series at the resolve
    (sd,) = store.select(
        [Matcher("__name__", MatchOp.EQ, "ALERTS"), Matcher("alertstate", MatchOp.EQ, "firing")],
        0,
        10 * M,
    )
    assert sd.timestamps[-1] == 5 * M and is_stale(float(sd.values[-1]))
    assert eng.instant('ALERTS{alertname="High"}', 5 * M).value == []


def test_pending_dropped_when_condition_ends() -> None:
    """A pending alert whose expression stops is dropped, never fires."""
    store = _store({"load": [6, 6, 1, 1, 1]})
    g = _group(RULE, store)
    assert _states(g, store, 5) == ["pending", "pending", "-", "-", "-"]


def test_keep_firing_for() -> None:
    """keep_firing_for holds a firing alert after the expression stops."""
    store = _store({"load": [6, 6, 1, 1, 1, 1]})
    g = _group(
        RULE.replace("2m", "0s").replace("keep_firing_for: 0s", "keep_firing_for: 2m"), store
    )
    assert _states(g, store, 6) == ["firing", "firing", "firing", "firing", "inactive", "inactive"]


def test_hysteresis_recovery_expr() -> None:
    """Fires above 5, resolves only when the recovery expression stops (below 3)."""
    text = RULE.replace("for: 2m", "for: 0s\n    recovery_expr: load > 3")
    store = _store({"load": [6, 4, 4, 2, 6]})
    g = _group(text, store)
    assert _states(g, store, 5) == ["firing", "firing", "firing", "inactive", "firing"]


def test_flap_damping_holds_one_notification() -> None:
    """An alert flipping more than N times is held as firing: one page, no resolves."""
    text = RULE.replace("for: 2m", "for: 0s\n    flap_damping: {transitions: 2, window: 10m}")
    vals: list[float | None] = [6, 1, 6, 1, 6, 1, 6, 1] + [1] * 12
    store = _store({"load": vals})
    g = _group(text, store)
    sent = []
    for i in range(len(vals)):
        samples, due, _ = g.eval_sync(i * M)
        store.append_sync(SampleBatch.from_samples(samples))
        sent.extend((i, a.resolved) for a in due)
    resolves = [i for i, r in sent if r]
    # the first resolve precedes detection (3 transitions > 2); then the alert is held
    # as firing until no transition for a whole window (last flip at 7m, window 10m)
    assert resolves == [1, 17], sent
    rule = g.alerting_rules()[0]
    assert not any(a.flapping for a in rule.active.values())


def test_recording_rule_and_duplicates() -> None:
    """Recording rules rename and label; a duplicate label set is an error naming the rule."""
    store = _store({'x{a="1",b="1"}': [1], 'x{a="1",b="2"}': [2]})
    text = """
groups:
- name: r
  rules:
  - record: a:x:sum
    expr: sum by (a) (x)
    labels: {team: t}
  - record: bad
    expr: x
    labels: {b: same}
"""
    g = _group(text, store)
    samples, _, errors = g.eval_sync(0)
    assert [(str(s.labels), s.v) for s in samples] == [('a:x:sum{a="1", team="t"}', 3.0)]
    assert errors and "'bad'" in errors[0] and "same labelset" in errors[0]


def test_series_go_stale_when_rule_stops_producing() -> None:
    """A recorded series that disappears gets a staleness marker."""
    store = _store({"y": [1, None, None, None, None, None, None, None]})
    g = _group("groups:\n- name: r\n  rules:\n  - record: y2\n    expr: y\n", store)
    s0, _, _ = g.eval_sync(0)
    s1, _, _ = g.eval_sync(10 * M)
    assert [s.v for s in s0] == [1.0]
    assert len(s1) == 1 and is_stale(s1[0].v)


def test_limit() -> None:
    """A rule producing more than the group's limit fails."""
    store = _store({'up{i="1"}': [0], 'up{i="2"}': [0]})
    g = _group("groups:\n- name: r\n  limit: 1\n  rules:\n  - alert: D\n    expr: up == 0\n", store)
    _, _, errors = g.eval_sync(0)
    assert errors and "limit" in errors[0]


async def test_restart_mid_for_and_mid_firing(tmp_path: Path) -> None:
    """After a restart a pending alert keeps its active time; a firing one fires on
    with its old startsAt (no new page); one gone meanwhile is sent resolved."""
    rules = tmp_path / "r.yml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 3m\n"
    )
    store = _store({'up{i="a"}': [0] * 30, 'up{i="b"}': [0] * 6 + [1] * 24})
    q = engine_query_fn(Engine(store))
    sent1: list = []
    m1 = RuleManager(q, store, sent1.extend, interval_ms=M, querier=store)
    m1.load([rules])
    for i in range(5):
        await m1.groups()[0].eval(i * M)
    assert {a.labels.get("i") for a in sent1 if not a.resolved} == {"a", "b"}
    # restart: a new manager over the same store at 7m
    sent2: list = []
    m2 = RuleManager(q, store, sent2.extend, interval_ms=M, querier=store)
    m2.load([rules])
    m2.restore(7 * M)
    await m2.groups()[0].eval(7 * M)
    rule = m2.groups()[0].alerting_rules()[0]
    by = {a.labels.get("i"): a for a in rule.active.values()}
    assert by["a"].state is AlertState.FIRING and by["a"].active_at_ms == 0
    firing = [a for a in sent2 if not a.resolved]
    resolved = [a for a in sent2 if a.resolved]
    assert [a.starts_at_ms for a in firing] == [0]  # same startsAt: deduplicated downstream
    assert [a.labels.get("i") for a in resolved] == ["b"]


async def test_restart_mid_for_keeps_counting() -> None:
    """A pending alert restored mid-`for` fires when the original `for` ends."""
    store = _store({"up": [0] * 20})
    q = engine_query_fn(Engine(store))
    spec = parse_rule_text(
        "groups:\n- name: g\n  rules:\n  - alert: D\n    expr: up == 0\n    for: 5m\n"
    )
    g1 = Group(spec[0], q, store, interval_ms=M)
    for i in range(3):
        await g1.eval(i * M)
    m = RuleManager(q, store, interval_ms=M, querier=store)
    m._groups = {g.key: g for g in [Group(spec[0], q, store, interval_ms=M)]}
    m.restore(3 * M)
    g2 = m.groups()[0]
    states = []
    for i in range(3, 7):
        await g2.eval(i * M)
        states.append(g2.alerting_rules()[0].active[Labels.of(alertname="D")].state)
    assert states == [AlertState.PENDING, AlertState.PENDING, AlertState.FIRING, AlertState.FIRING]


def test_rule_file_errors_name_file_group_rule() -> None:
    """Every problem is reported with file:line, group and rule."""
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'rate(x[5m]'\n"
        "  - record: r\n    expr: x\n    annotations: {a: b}\n"
    )
    with pytest.raises(RuleFileError) as info:
        parse_rule_text(text, "f.yml")
    probs = info.value.problems
    assert probs[0].startswith('f.yml:4: group "g", rule 1, "A": could not parse expr')
    assert any("f.yml:6" in p and "annotations" in p for p in probs)


def test_toml_rule_file_and_config_groups() -> None:
    """The same structure in TOML, and the config's [[rule_groups]]."""
    from nightowl.alerts.rulefile import groups_from_config

    from nightowl.config import RuleConfig, RuleGroupConfig

    text = '[[groups]]\nname = "g"\n[[groups.rules]]\nalert = "A"\nexpr = "up == 0"\nfor = "5m"\n'
    (g,) = parse_rule_text(text, "r.toml", toml=True)
    assert g.rules[0].for_ms == 300_000
    cfg = RuleGroupConfig(name="c", rules=(RuleConfig(alert="B", expr="up", for_=60_000),))
    (c,) = groups_from_config([cfg])
    assert c.rules[0].name == "B" and c.rules[0].for_ms == 60_000


def test_anomaly_rule_compiles_and_fires() -> None:
    """An anomaly rule is plain PromQL: a spike far outside the learned band fires."""
    from nightowl.alerts.anomaly import band_exprs

    text = """
groups:
- name: a
  rules:
  - alert: Weird
    anomaly: {expr: lat, method: zscore, window: 30m, threshold: 3}
"""
    vals: list[float | None] = [10.0 + (i % 3) for i in range(40)] + [50.0]
    store = _store({"lat": vals})
    g = _group(text, store)
    _, _, errs = g.eval_sync(39 * M)
    assert not errs and not g.alerting_rules()[0].active
    g.eval_sync(40 * M)
    (alert,) = g.alerting_rules()[0].active.values()
    assert alert.value > 3
    lo, hi = band_exprs(g.spec.rules[0].anomaly)  # type: ignore[arg-type]
    eng = Engine(store)
    assert eng.instant(lo, 39 * M).value[0].v < 10 < eng.instant(hi, 39 * M).value[0].v
    mad = text.replace("zscore", "mad")
    g2 = _group(mad, store)
    g2.eval_sync(40 * M)
    assert g2.alerting_rules()[0].active


def test_alert_value_nan_is_not_lost() -> None:
    """An inactive (restored-resolved) alert has NaN value and is not listed as active."""
    spec = parse_rule_text("groups:\n- name: g\n  rules:\n  - alert: X\n    expr: vector(1)\n")[0]
    r = AlertingRule(spec.rules[0])
    r.prepare_restore({}, {Labels.of(alertname="X", i="gone")})
    r.eval(0, engine_query_fn(Engine(MemoryStore())))
    gone = r.active[Labels.of(alertname="X", i="gone")]
    assert gone.state is AlertState.INACTIVE and math.isnan(gone.value)


def test_reload_keeps_alert_state(tmp_path: Path) -> None:
    """Reloading keeps alerts of unchanged rules; a broken file changes nothing."""
    rules = tmp_path / "r.yml"
    rules.write_text("groups:\n- name: g\n  rules:\n  - alert: D\n    expr: up == 0\n    for: 5m\n")
    store = _store({"up": [0] * 10})
    m = RuleManager(engine_query_fn(Engine(store)), interval_ms=M)
    m.load([rules])
    m.groups()[0].eval_sync(0)
    m.groups()[0].eval_sync(M)
    rules.write_text(rules.read_text() + "  - record: x\n    expr: up\n")
    m.reload()
    (g,) = m.groups()
    assert len(g.rules) == 2
    (a,) = m.alerts()
    assert a.active_at_ms == 0
    rules.write_text("groups: [")
    with pytest.raises(RuleFileError):
        m.reload()
    assert m.groups()[0] is g


async def test_group_run_loop_on_schedule() -> None:
    """Group.run evaluates at first_ms, then every interval, until stopped."""
    import asyncio
    import itertools
    import time

    store = _store({"up": [0]})
    (spec,) = parse_rule_text(
        "groups:\n- name: g\n  interval: 100ms\n  rules:\n  - record: y\n    expr: vector(1)\n"
    )
    g = Group(spec, engine_query_fn(Engine(store)), store, interval_ms=M)
    times: list[int] = []
    orig = g.eval_sync

    def spy(t: int, commit=None):  # type: ignore[no-untyped-def]
        times.append(t)
        return orig(t, commit)

    g.eval_sync = spy  # type: ignore[method-assign]
    now = int(time.time() * 1000)
    task = asyncio.create_task(g.run(lambda: int(time.time() * 1000), first_ms=now))
    await asyncio.sleep(0.45)
    g.stop()
    await asyncio.wait_for(task, 2)
    assert len(times) >= 2
    # on schedule: multiples of the interval (a loaded machine may skip a slot)
    assert all((b - a) % 100 == 0 and b > a for a, b in itertools.pairwise(times))
    assert 0 <= g.next_eval_ms(now) - now < 100


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_YAML_BITS = [
    "groups:",
    "\n",
    "- name: g",
    "  rules:",
    "  - alert: A",
    "  - record: r",
    "    expr: up",
    "    expr: 'rate(x[5m]'",
    "    for: 5m",
    "    for: x",
    "    labels: {a: '{{ $value'}",
    "    annotations:",
    "      s: '{{ .Labels.x }}'",
    "  interval: 1m",
    "  limit: -1",
    ": ",
    "[",
    "{",
    "    anomaly: {expr: up, method: mad}",
    "    recovery_expr: up",
    "  - 3",
    "null",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_YAML_BITS), max_size=25))
def test_fuzz_rule_files_never_crash(bits: list[str]) -> None:
    """Any text is either rule groups or a RuleFileError listing problems."""
    text = "\n".join(bits)
    try:
        parse_rule_text(text, "f.yml")
    except RuleFileError as exc:
        assert exc.problems and all(p.startswith("f.yml") for p in exc.problems)


def test_seasonal_anomaly_compares_to_a_day_ago(tmp_path: Path) -> None:
    """seasonal: 1d learns the band from the same window a day earlier; check rules
    prints the band's PromQL."""
    import subprocess
    import sys

    from nightowl.alerts.anomaly import band_exprs, compile_anomaly
    from nightowl.alerts.rulefile import AnomalySpec

    spec = AnomalySpec("x", "zscore", 3_600_000, 3.0, 86_400_000, "above")
    assert "x[1h] offset 1d" in compile_anomaly(spec) and compile_anomaly(spec).endswith("> 3.0")
    lo, hi = band_exprs(spec)
    assert hi.startswith("avg_over_time(x[1h] offset 1d) + 3.0 *")
    assert lo.startswith("avg_over_time(x[1h] offset 1d) - 3.0 *")
    # data: yesterday around 100, today around 10 -> "below" fires against yesterday's band
    step = 5 * M
    n = (86_400_000 + 3_600_000) // step + 1
    vals: list[float | None] = [
        100.0 + (i % 2) if i * step < 86_400_000 else 10.0 for i in range(n)
    ]
    store = _store({"x": vals}, step=step)
    t = (n - 1) * step
    below = AnomalySpec("x", "zscore", 3_600_000, 3.0, 86_400_000, "below")
    res = Engine(store).instant(compile_anomaly(below), t).value
    assert len(res) == 1 and res[0].v < -3
    rules = tmp_path / "a.yml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: A\n"
        "    anomaly: {expr: x, seasonal: 1d, method: mad}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "nightowl", "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "band lower: quantile_over_time(0.5, x[1h] offset 1d)" in r.stdout


async def test_alerting_from_config_wires_history_and_silences(tmp_path: Path) -> None:
    """The runtime helper: rules from the config, history and silences in the state file."""
    from nightowl.alerts.manager import alerting_from_config
    from nightowl.store.alertstate import AlertStateDB, alertstate_path

    from nightowl.config import load_config

    rules = tmp_path / "r.yml"
    rules.write_text("groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'rule_files = ["{rules}"]\n'
        '[[rule_groups]]\nname = "inline"\n'
        '[[rule_groups.rules]]\nrecord = "up:sum"\nexpr = "sum(up)"\n'
    )
    store = _store({"up": [0, 0]})
    db = tmp_path / "m.db"
    manager, notifier, state = alerting_from_config(
        load_config(cfg), engine_query_fn(Engine(store)), store, store, db
    )
    assert sorted(g.name for g in manager.groups()) == ["g", "inline"]
    for g in manager.groups():
        await g.eval(0)
    hist = AlertStateDB(alertstate_path(db)).history()
    assert [(h.alertname, h.to_state) for h in hist] == [("Down", "firing"), ("Down", "pending")]
    assert state is not None and notifier is not None
