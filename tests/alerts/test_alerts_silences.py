"""Silences, acks and alert history: store, matching, CLI, hooks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from nightowl.alerts.group import Group
from nightowl.alerts.notify import Notifier, OutAlert
from nightowl.alerts.rulefile import parse_rule_text
from nightowl.alerts.rules import engine_query_fn, fingerprint
from nightowl.alerts.silences import (
    AlertStateHooks,
    Silencer,
    default_author,
    parse_silence_matchers,
)
from nightowl.query.engine import Engine
from nightowl.store.alertstate import AlertStateDB, alertstate_path
from nightowl.store.memory import MemoryStore

from nightowl.errors import UserError
from nightowl.model import Labels, Sample, SampleBatch

M = 60_000


def test_default_author_names_ssh_client() -> None:
    """$USER@host, plus the SSH client address when there is one."""
    a = default_author({"USER": "ana", "SSH_CONNECTION": "10.1.2.3 5555 10.0.0.1 22"})
    assert a.startswith("ana@") and a.endswith("(ssh from 10.1.2.3)")
    assert "ssh" not in default_author({"USER": "bo"})


def test_matchers_and_refusals() -> None:
    """Alertmanager rules: anchored regexes, missing label is "", one non-empty matcher."""
    ms = parse_silence_matchers(['alertname="Down"', 'instance=~"db.*"', 'env!="dev"'])
    from nightowl.alerts.silences import matchers_match

    assert matchers_match(ms, Labels.of(alertname="Down", instance="db1"))
    assert not matchers_match(ms, Labels.of(alertname="Down", instance="xdb1"))
    assert not matchers_match(ms, Labels.of(alertname="Down", instance="db1", env="dev"))
    with pytest.raises(UserError):
        parse_silence_matchers(['a=~".*"'])
    with pytest.raises(UserError, match="bad matcher"):
        parse_silence_matchers(['a=~"("'])


def test_silence_mutes_notifications_but_not_state(tmp_path: Path) -> None:
    """A silenced alert is not sent; it still fires (ALERTS, state)."""
    db = AlertStateDB(tmp_path / "s.sqlite")
    now = 10 * M
    db.add_silence(['alertname="Down"', 'i="a"'], 0, 20 * M, "me@h", "maint", 0)
    silencer = Silencer(db, clock=lambda: now)
    sent: list[OutAlert] = []
    notifier = Notifier(is_muted=silencer)
    notifier.webhooks = []
    notifier.alertmanagers = [type("AM", (), {"send": lambda self, a: sent.extend(a)})()]
    store = MemoryStore()
    store.append_sync(
        SampleBatch.from_samples(
            [Sample(Labels.of("up", i="a"), now, 0.0), Sample(Labels.of("up", i="b"), now, 0.0)]
        )
    )
    (spec,) = parse_rule_text("groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n")
    g = Group(spec, engine_query_fn(Engine(store)), notify=notifier, interval_ms=M)
    samples, due, _ = g.eval_sync(now)
    notifier(due)
    assert [a.labels.get("i") for a in sent] == ["b"]
    assert len([s for s in samples if s.labels.name == "ALERTS"]) == 2
    # expired silence: both notified
    (rec,) = db.silences(now)
    db.expire_silence(rec.id[:8], now)
    silencer.invalidate()
    sent.clear()
    notifier(due)
    assert sorted(a.labels.get("i") for a in sent) == ["a", "b"]


def test_history_and_ack_end_on_resolve(tmp_path: Path) -> None:
    """Every transition is stored; an ack ends when its alert resolves."""
    db = AlertStateDB(tmp_path / "s.sqlite")
    store = MemoryStore()
    for i, v in enumerate([0, 0, 1]):
        store.append_sync(SampleBatch.from_samples([Sample(Labels.of("up", i="a"), i * M, v)]))
    (spec,) = parse_rule_text(
        "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 1m\n"
    )
    g = Group(spec, engine_query_fn(Engine(store)), interval_ms=M)
    g.alerting_rules()[0].on_transition = AlertStateHooks(db)
    g.eval_sync(0)
    g.eval_sync(M)
    fp = fingerprint(Labels.of(alertname="Down", i="a"))
    db.add_ack(fp, "Down", {"alertname": "Down", "i": "a"}, "me", "looking", M, 100 * M)
    assert [a.fingerprint for a in db.acks(M)] == [fp]
    g.eval_sync(2 * M)
    assert db.acks(2 * M) == []
    hist = db.history(alertname="Down")
    assert [(h.from_state, h.to_state, h.t_ms) for h in reversed(hist)] == [
        ("inactive", "pending", 0),
        ("pending", "firing", M),
        ("firing", "inactive", 2 * M),
    ]
    assert hist[-1].labels == {"alertname": "Down", "i": "a"}


def _cli(*args: str, env_db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nightowl", *args, "--db", str(env_db)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_silence_and_ack(tmp_path: Path) -> None:
    """silence add / list / expire and ack through the real command line."""
    dbp = tmp_path / "m.db"
    r = _cli("silence", "add", "alertname=Down", 'instance=~"db.*"', "-c", "maint", env_db=dbp)
    assert r.returncode == 0, r.stderr
    sid = r.stdout.strip()
    r = _cli("silence", "list", env_db=dbp)
    assert sid in r.stdout and 'instance=~"db.*"' in r.stdout and "maint" in r.stdout
    r = _cli("silence", "add", 'x=~".*"', env_db=dbp)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert _cli("silence", "expire", sid[:8], env_db=dbp).returncode == 0
    assert "no silences" in _cli("silence", "list", env_db=dbp).stdout
    # ack needs a current alert: write one transition as the daemon would
    db = AlertStateDB(alertstate_path(dbp))
    from nightowl.store.alertstate import HistoryEntry

    fp = fingerprint(Labels.of(alertname="Down", instance="db1"))
    db.record_transitions(
        [
            HistoryEntry(
                1,
                fp,
                "Down",
                {"alertname": "Down", "instance": "db1"},
                "pending",
                "firing",
                0.0,
                {},
            )
        ]
    )
    r = _cli("ack", "alertname=Down", "-n", "on it", env_db=dbp)
    assert r.returncode == 0, r.stderr
    assert fp in _cli("ack", "--list", env_db=dbp).stdout
    assert _cli("ack", "alertname=Nope", env_db=dbp).returncode == 2


def test_alert_state_file_takes_concurrent_writers(tmp_path: Path) -> None:
    """Two processes adding silences at once: every one is stored (WAL + busy timeout)."""
    path = tmp_path / "s.sqlite"
    AlertStateDB(path)
    code = (
        "import sys\n"
        "from nightowl.store.alertstate import AlertStateDB\n"
        "db = AlertStateDB(sys.argv[1])\n"
        "for i in range(25):\n"
        "    db.add_silence(['a=\"%s\"' % i], 0, 10**13, sys.argv[2], '', 0)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), who]) for who in ("p1", "p2")]
    assert [p.wait(60) for p in procs] == [0, 0]
    recs = AlertStateDB(path).silences(0)
    assert len(recs) == 50 and {r.created_by for r in recs} == {"p1", "p2"}


def test_corrupt_alert_state_file(tmp_path: Path) -> None:
    """A file that is not SQLite is refused with a store error naming it."""
    from nightowl.errors import StoreError

    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as info:
        AlertStateDB(bad)
    assert str(bad) in str(info.value)
