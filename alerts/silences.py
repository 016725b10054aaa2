"""Silences and acknowledgements, and the alert-history hook.

- A *silence* mutes every alert whose labels match all its matchers between its
  start and end (Alertmanager's semantics: `=`, `!=`, `=~`, `!~`, anchored
  regexes, a missing label is ""). Silenced alerts are not notified but stay
  visible in the TUI, the API and `ALERTS`.
- An *ack* says that someone is on one alert (by fingerprint): who, when, a
  note and an expiry. It ends by itself when its alert resolves, so the next
  firing pages again.
- :class:`AlertStateHooks` is the rule manager's ``on_transition``: it writes
  every transition to the history and ends acks of resolved alerts.

The author defaults to ``$USER@host``, plus the SSH client address when the
command runs in an SSH session (``SSH_CONNECTION``), so the rest of the
rotation can see who acted from where.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Sequence

from nightowl.alerts.rules import Alert, AlertState, fingerprint
from nightowl.store.alertstate import AlertStateDB, HistoryEntry, SilenceRecord

from nightowl.errors import UserError
from nightowl.model import Labels, Matcher

__all__ = [
    "AlertStateHooks",
    "Silencer",
    "default_author",
    "matchers_match",
    "parse_silence_matchers",
]


def default_author(env: dict[str, str] | None = None) -> str:
    """`$USER@host`, with ` (ssh from ADDR)` when SSH_CONNECTION names a client."""
    env = dict(os.environ) if env is None else env
    user = env.get("USER") or env.get("LOGNAME") or "unknown"
    author = f"{user}@{socket.gethostname()}"
    ssh = env.get("SSH_CONNECTION", "").split()
    if ssh:
        author += f" (ssh from {ssh[0]})"
    return author


def parse_silence_matchers(texts: Sequence[str]) -> list[Matcher]:
    """Matchers from `name="v"` / `name=~"re"` strings (or one `{a="b", c!="d"}`).

    Raises :class:`UserError` naming the bad matcher. A silence needs at least
    one matcher that does not match the empty string, as Alertmanager requires.
    """
    from nightowl.query.parser import parse_matchers

    from nightowl.errors import NightowlError

    out: list[Matcher] = []
    for text in texts:
        t = text.strip()
        inner = t[1:-1] if t.startswith("{") and t.endswith("}") else t
        if not inner.strip():
            continue
        # a placeholder matcher lets `x!="y"` alone parse (PromQL wants one non-empty)
        body = '{__silence__="1", ' + inner + "}"
        try:
            out.extend(m for m in parse_matchers(body) if m.name != "__silence__")
        except NightowlError as exc:
            raise UserError(f"bad matcher {text!r}: {exc.message}") from None
    if not out:
        raise UserError('a silence needs at least one matcher, e.g. alertname="Down"')
    if all(m.matches_empty() for m in out):
        raise UserError("at least one matcher must not match the empty string")
    return out


def matchers_match(matchers: Sequence[Matcher], labels: Labels) -> bool:
    """True if `labels` satisfy every matcher."""
    return all(m.matches(labels.get(m.name)) for m in matchers)


class Silencer:
    """Answers "is this alert silenced?" from the stored silences (re-read every few s)."""

    def __init__(
        self,
        db: AlertStateDB,
        clock: Callable[[], int] | None = None,
        refresh_ms: int = 5_000,
    ) -> None:
        self.db = db
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.refresh_ms = refresh_ms
        self._loaded_ms: int | None = None
        self._silences: list[tuple[SilenceRecord, list[Matcher]]] = []
        self._lock = threading.Lock()

    def _load(self, now: int) -> None:
        if self._loaded_ms is not None and now - self._loaded_ms < self.refresh_ms:
            return
        recs = self.db.silences(now)
        self._silences = [(r, parse_silence_matchers(r.matchers)) for r in recs]
        self._loaded_ms = now

    def invalidate(self) -> None:
        """Re-read the silences at the next question."""
        self._loaded_ms = None

    def silenced_by(self, labels: Labels) -> list[SilenceRecord]:
        """The active silences covering an alert."""
        now = self.clock()
        with self._lock:
            self._load(now)
            return [
                r
                for r, ms in self._silences
                if r.state(now) == "active" and matchers_match(ms, labels)
            ]

    def __call__(self, labels: Labels) -> bool:
        """`is_muted` for the notifier."""
        return bool(self.silenced_by(labels))


class AlertStateHooks:
    """The rule manager's `on_transition`: history rows, and acks ended on resolve."""

    def __init__(self, db: AlertStateDB) -> None:
        self.db = db

    def __call__(self, alert: Alert, old: AlertState, t_ms: int) -> None:
        """Record one transition (and end acks when a firing alert resolves)."""
        self.db.record_transitions(
            [
                HistoryEntry(
                    t_ms,
                    fingerprint(alert.labels),
                    alert.name,
                    alert.labels.to_dict(),
                    old.value,
                    alert.state.value,
                    alert.value,
                    dict(alert.annotations),
                )
            ]
        )
        if alert.state is AlertState.INACTIVE:
            self.db.end_acks(fingerprint(alert.labels), t_ms)
