"""A rule group: its rules evaluated in order, every `interval`, through a QueryFn.

:meth:`Group.eval` is one evaluation at one timestamp; :meth:`Group.run` is the
asyncio loop that calls it on a schedule aligned to the interval (each group at
its own stable offset, as Prometheus spreads groups). Recording results,
``ALERTS`` and ``ALERTS_FOR_STATE`` go to the :class:`~nightowl.store.api.Appender`
in one batch per evaluation, with staleness markers for series a rule stopped
producing. Alerts due for (re)sending go to a :data:`NotifyFn`.

The rules run synchronously (the engine is CPU-bound): :meth:`run` hands each
evaluation to a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nightowl.alerts.notify import OutAlert
from nightowl.alerts.rulefile import GroupSpec
from nightowl.alerts.rules import (
    AlertingRule,
    AlertState,
    QueryFn,
    RecordingRule,
    Rule,
    RuleEvalError,
    build_rule,
)
from nightowl.store.api import Appender

from nightowl.model import STALE_NAN, Labels, Sample, SampleBatch

__all__ = ["Group", "GroupEvalResult", "NotifyFn"]

log = logging.getLogger(__name__)

#: Receives the alerts of one evaluation that are due to be sent.
NotifyFn = Callable[[list[OutAlert]], None]

#: Prometheus's default `--rules.alert.resend-delay`.
DEFAULT_RESEND_DELAY_MS = 60_000


@dataclass(slots=True)
class GroupEvalResult:
    """What one evaluation of a group did."""

    t_ms: int
    samples: int
    errors: list[str]
    sent: int
    duration_s: float


class Group:
    """Rules of one group, evaluated in order.

    Args:
        spec: the group as read from its file.
        query: how rules read data.
        appender: where recorded series and ALERTS go (None: nowhere).
        notify: where due alerts go (None: nowhere).
        interval_ms: used when the group sets no interval.
        external_labels: added to alerts sent out (never to the stored series).
        external_url: base of `generatorURL`.
        resend_delay_ms: minimum time before a firing alert is sent again.
    """

    def __init__(
        self,
        spec: GroupSpec,
        query: QueryFn,
        appender: Appender | None = None,
        notify: NotifyFn | None = None,
        *,
        interval_ms: int = 60_000,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        resend_delay_ms: int = DEFAULT_RESEND_DELAY_MS,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.file = spec.file
        self.interval_ms = spec.interval_ms or interval_ms
        self.query = query
        self.appender = appender
        self.notify = notify
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url
        self.resend_delay_ms = resend_delay_ms
        self.rules: list[Rule] = [build_rule(r) for r in spec.rules]
        self._previous: set[Labels] = set()
        self.last_eval_ms = 0
        self.last_duration_s = 0.0
        self._stop = asyncio.Event()

    @property
    def key(self) -> str:
        """`file;name`."""
        return self.spec.key

    def alerting_rules(self) -> list[AlertingRule]:
        """The group's alerting rules."""
        return [r for r in self.rules if isinstance(r, AlertingRule)]

    def _flush_points(self) -> list[bool]:
        """After which rules the output must be committed before the next rule runs.

        As in Prometheus, a rule sees what earlier rules of its group wrote in the
        same evaluation (a recording rule feeding an alert). Committing after every
        rule would cost a transaction each, so only where a later rule's
        expression mentions the series (the record name, or ALERTS).
        """
        out = []
        for i, rule in enumerate(self.rules):
            name = rule.name if isinstance(rule, RecordingRule) else "ALERTS"
            later = self.rules[i + 1 :]
            out.append(any(name in r.expr or name in r.spec.recovery_expr for r in later))
        return out

    def eval_sync(
        self, t_ms: int, commit: Callable[[list[Sample]], None] | None = None
    ) -> tuple[list[Sample], list[OutAlert], list[str]]:
        """Evaluate every rule at `t_ms`; the samples written, alerts to send, errors.

        With `commit`, samples are handed to it as soon as a later rule of the group
        needs them and the rest at the end (do not write the returned samples again);
        without it the caller writes the returned samples.
        """
        samples: list[Sample] = []
        pending: list[Sample] = []
        errors: list[str] = []
        flush_after = self._flush_points() if commit is not None else []
        for i, rule in enumerate(self.rules):
            started = time.perf_counter()
            try:
                out = rule.eval(
                    t_ms,
                    self.query,
                    limit=self.spec.limit,
                    external_labels=self.external_labels,
                    external_url=self.external_url,
                )
                rule.last_error = ""
                rule.health = "ok"
            except RuleEvalError as exc:
                out = []
                rule.last_error = exc.message
                rule.health = "err"
                errors.append(exc.message)
            rule.last_eval_ms = t_ms
            rule.last_duration_s = time.perf_counter() - started
            samples.extend(out)
            pending.extend(out)
            if commit is not None and pending and flush_after[i]:
                commit(pending)
                pending = []
        current = {s.labels for s in samples}
        for gone in sorted(self._previous - current):
            stale = Sample(gone, t_ms, STALE_NAN)
            samples.append(stale)
            pending.append(stale)
        self._previous = current
        if commit is not None and pending:
            commit(pending)
        due = self.due_alerts(t_ms)
        self.last_eval_ms = t_ms
        return samples, due, errors

    def due_alerts(self, t_ms: int) -> list[OutAlert]:
        """Alerts to send now: firing ones once per resend delay, resolved ones at once."""
        out: list[OutAlert] = []
        delay = self.resend_delay_ms
        for rule in self.alerting_rules():
            for alert in rule.active.values():
                state = alert.notify_state()
                if state is AlertState.PENDING:
                    continue
                if state is AlertState.INACTIVE:
                    if not alert.sent_firing or alert.resolve_sent:
                        continue  # never sent as firing, or the resolve went out already
                elif alert.last_sent_ms and t_ms < alert.last_sent_ms + delay:
                    continue
                alert.valid_until_ms = t_ms + 4 * max(delay, self.interval_ms)
                alert.last_sent_ms = t_ms
                ends = (
                    alert.resolved_at_ms if state is AlertState.INACTIVE else alert.valid_until_ms
                )
                labels = dict(self.external_labels)
                labels.update(alert.labels.to_dict())
                out.append(
                    OutAlert(
                        labels=Labels.from_dict(labels),
                        annotations=dict(alert.annotations),
                        starts_at_ms=alert.active_at_ms,
                        ends_at_ms=ends,
                        generator_url=self._generator_url(rule),
                        resolved=state is AlertState.INACTIVE,
                        flapping=alert.flapping,
                    )
                )
                if state is AlertState.INACTIVE:
                    alert.resolve_sent = True
                else:
                    alert.sent_firing = True
        return out

    def _generator_url(self, rule: Rule) -> str:
        from urllib.parse import quote

        base = self.external_url.rstrip("/")
        return f"{base}/graph?g0.expr={quote(rule.expr)}&g0.tab=1"

    async def eval(self, t_ms: int) -> GroupEvalResult:
        """Evaluate at `t_ms` in a worker thread, write the samples, hand alerts to notify."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        rejected = 0
        appender = self.appender

        def commit(batch: list[Sample]) -> None:
            nonlocal rejected
            assert appender is not None
            fut = asyncio.run_coroutine_threadsafe(
                appender.append(SampleBatch.from_samples(batch)), loop
            )
            rejected += fut.result().rejected

        samples, due, errors = await asyncio.to_thread(
            self.eval_sync, t_ms, commit if appender is not None else None
        )
        if rejected:
            errors.append(f"group {self.name!r}: {rejected} samples rejected by the store")
        if self.notify is not None and due:
            self.notify(due)
        for e in errors:
            log.warning("%s", e)
        self.last_duration_s = time.perf_counter() - started
        return GroupEvalResult(t_ms, len(samples), errors, len(due), self.last_duration_s)

    def offset_ms(self) -> int:
        """This group's stable offset within its interval (spreads groups' load)."""
        return zlib.crc32(self.key.encode()) % self.interval_ms

    def next_eval_ms(self, now_ms: int) -> int:
        """The first scheduled evaluation time at or after `now_ms`."""
        off = self.offset_ms()
        base = now_ms - (now_ms - off) % self.interval_ms
        return base if base >= now_ms else base + self.interval_ms

    async def run(self, clock: Callable[[], int], *, first_ms: int | None = None) -> None:
        """Evaluate on schedule until :meth:`stop` (errors are logged, never raised)."""
        t = first_ms if first_ms is not None else self.next_eval_ms(clock())
        while not self._stop.is_set():
            wait = (t - clock()) / 1000
            if wait > 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), wait)
                    return
                except TimeoutError:
                    pass
            try:
                await self.eval(t)
            except Exception:
                log.exception("rule group %s: evaluation failed", self.name)
            now = clock()
            t += self.interval_ms
            if t < now:  # missed iterations: skip them, as Prometheus does
                t += ((now - t) // self.interval_ms + 1) * self.interval_ms

    def stop(self) -> None:
        """Stop :meth:`run` after the current evaluation."""
        self._stop.set()

    def copy_state_from(self, other: Group) -> None:
        """Carry alert state over a reload (same group, same alerting rule names/exprs)."""
        old = {(r.name, r.expr): r for r in other.alerting_rules()}
        for r in self.alerting_rules():
            prev = old.get((r.name, r.expr))
            if prev is not None:
                r.active = prev.active
                r.restored = prev.restored
        self._previous = set(other._previous)
