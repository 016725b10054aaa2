"""`LocalSource`: the TUI's :class:`~nightowl.query.source.Source` over an engine
and a store in this process.

Standalone mode gives it the scrape manager's live target list; attached mode
(another process owns the database, we opened it read-only) has no scrape
manager, so targets are read back from the `up` and `scrape_duration_seconds`
series every Prometheus-style scraper writes. Alerts are read from the
`ALERTS`/`ALERTS_FOR_STATE` series the same way, unless the composition root
passes a function that asks the rule manager directly.

The engine and the store's reader are synchronous; every call runs on one
dedicated thread (one reader connection, no thread hopping), so the event loop
never waits on SQLite or evaluation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from nightowl.errors import NightowlError, QueryError
from nightowl.model import METRIC_NAME, Matcher, MatchOp, MetricMeta, TargetHealth, TargetStatus
from nightowl.query.source import (
    AlertInfo,
    MetricSummary,
    RuleInfo,
    alerts_from_vectors,
    validate_promql,
)
from nightowl.query.values import QueryResult, Vector
from nightowl.store.api import Querier
from nightowl.timeutil import Clock, SystemClock

__all__ = ["DeferredSource", "LocalSource", "QueryEngine"]

T = TypeVar("T")

#: How long an ack from the UI lasts at most (it also ends when its alert resolves).
ACK_EXPIRY_MS = 12 * 3_600_000

_FAMILY_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_info")


class QueryEngine(Protocol):
    """What LocalSource needs of `nightowl.query.engine.Engine`."""

    def instant(self, query: str, t_ms: int) -> QueryResult:
        """Evaluate at one time."""
        ...

    def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        """Evaluate over a range."""
        ...


class LocalSource:
    """A Source over an in-process engine and querier.

    Args:
        engine: Evaluates PromQL (synchronous).
        querier: The store (synchronous reads).
        description: Header text, e.g. `standalone ~/.local/share/nightowl/nightowl.db`.
        read_only: True when attached read-only to another process's database.
        targets_fn: The scrape manager's `targets` (standalone); None reads `up`.
        alerts_fn: Asks the rule manager for alerts; None reads `ALERTS`.
        rules_fn: The rule manager's state (standalone); None: rules run elsewhere.
        alert_state: The alert state sidecar (`store.alertstate.AlertStateDB`) silences
            and acks are written to; safe next to a running daemon. None: not writable.
        clock: Tells "now" for alerts and targets.
    """

    def __init__(
        self,
        engine: QueryEngine,
        querier: Querier,
        *,
        description: str = "local",
        read_only: bool = False,
        targets_fn: Callable[[], list[TargetStatus]] | None = None,
        alerts_fn: Callable[[], Awaitable[list[AlertInfo]]] | None = None,
        rules_fn: Callable[[], list[RuleInfo]] | None = None,
        alert_state: Any = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.querier = querier
        self._description = description
        self._read_only = read_only
        self.targets_fn = targets_fn
        self.alerts_fn = alerts_fn
        self.rules_fn = rules_fn
        self.alert_state = alert_state
        self.clock = clock or SystemClock()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nightowl-query")

    @property
    def description(self) -> str:
        """The header line."""
        return self._description

    @property
    def read_only(self) -> bool:
        """True when attached to another process's database."""
        return self._read_only

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except NightowlError:
            raise
        except RuntimeError as exc:
            if "shutdown" in str(exc):
                raise QueryError("the source is closed", kind="canceled") from None
            raise

    def validate(self, query: str) -> None:
        """Parse only (raises ParseError)."""
        validate_promql(query)

    async def instant(self, query: str, t_ms: int) -> QueryResult:
        """Evaluate at `t_ms` on the query thread."""
        return await self._call(self.engine.instant, query, t_ms)

    async def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        """Evaluate over a range on the query thread."""
        return await self._call(self.engine.range, query, start_ms, end_ms, step_ms)

    async def metric_names(self) -> list[str]:
        """Values of `__name__`."""
        return await self._call(self.querier.label_values, METRIC_NAME)

    async def label_names(self, metric: str | None = None) -> list[str]:
        """Label names, of one metric's series when given."""
        matchers = [Matcher(METRIC_NAME, MatchOp.EQ, metric)] if metric else []
        return await self._call(self.querier.label_names, matchers)

    async def label_values(self, label: str, metric: str | None = None) -> list[str]:
        """Values of `label`, on one metric's series when given."""
        matchers = [Matcher(METRIC_NAME, MatchOp.EQ, metric)] if metric else []
        return await self._call(self.querier.label_values, label, matchers)

    async def metadata(self) -> dict[str, MetricMeta]:
        """Metadata by family name."""
        return await self._call(self.querier.metadata)

    async def metric_summary(self, metric: str) -> MetricSummary:
        """Series count and label cardinality of `metric`, with its family's metadata."""

        def work() -> MetricSummary:
            series = self.querier.series([Matcher(METRIC_NAME, MatchOp.EQ, metric)])
            values: dict[str, set[str]] = {}
            for labels in series:
                for k, v in labels:
                    if k != METRIC_NAME:
                        values.setdefault(k, set()).add(v)
            meta = self.querier.metadata(metric).get(metric)
            if meta is None:
                for suffix in _FAMILY_SUFFIXES:
                    if metric.endswith(suffix):
                        family = metric[: -len(suffix)]
                        meta = self.querier.metadata(family).get(family)
                        if meta is not None:
                            break
            return MetricSummary(
                metric,
                meta or MetricMeta(),
                len(series),
                {k: len(v) for k, v in sorted(values.items())},
            )

        return await self._call(work)

    async def targets(self) -> list[TargetStatus]:
        """The scrape manager's targets, or (attached) targets read from `up`."""
        if self.targets_fn is not None:
            return self.targets_fn()
        now = self.clock.now_ms()
        up = await self.instant("up", now)
        duration = await self.instant("scrape_duration_seconds", now)
        stamps = await self.instant("timestamp(up)", now)
        return targets_from_up(up.value, duration.value, stamps.value)

    async def alerts(self) -> list[AlertInfo]:
        """Pending and firing alerts, from the rule manager or the ALERTS series."""
        if self.alerts_fn is not None:
            return await self.alerts_fn()
        now = self.clock.now_ms()
        alerts = await self.instant("ALERTS", now)
        if not isinstance(alerts.value, Vector) or not alerts.value:
            return []
        for_state = await self.instant("ALERTS_FOR_STATE", now)
        fs = for_state.value if isinstance(for_state.value, Vector) else Vector()
        return alerts_from_vectors(alerts.value, fs)

    async def rules(self) -> list[RuleInfo] | None:
        """The rule manager's rules, or None when rules are evaluated by another process."""
        return None if self.rules_fn is None else self.rules_fn()

    def _state(self) -> Any:
        if self.alert_state is None:
            raise QueryError(
                "no alert state file to write silences and acks to", kind="unavailable"
            )
        return self.alert_state

    async def silence(self, alert: AlertInfo, duration_ms: int, comment: str) -> str:
        """Silence this alert's exact label set in the alert state file (the rule
        evaluator, here or in the daemon, reads it before notifying)."""
        from nightowl.alerts.silences import default_author

        db = self._state()
        now = self.clock.now_ms()
        matchers = [str(Matcher(k, MatchOp.EQ, v)) for k, v in alert.labels]
        if not any(k == "alertname" for k, _ in alert.labels):
            matchers.append(str(Matcher("alertname", MatchOp.EQ, alert.name)))
        rec = await asyncio.to_thread(
            db.add_silence, matchers, now, now + duration_ms, default_author(), comment, now
        )
        return f"silenced {alert.name} until {_hhmm(rec.ends_ms)} (silence {rec.id[:8]})"

    async def ack(self, alert: AlertInfo, note: str) -> str:
        """Acknowledge this alert in the alert state file; it ends when the alert resolves."""
        from nightowl.alerts.rules import fingerprint
        from nightowl.alerts.silences import default_author

        db = self._state()
        now = self.clock.now_ms()
        labels = (
            alert.labels
            if alert.labels.get("alertname")
            else alert.labels.with_(alertname=alert.name)
        )
        rec = await asyncio.to_thread(
            db.add_ack,
            fingerprint(labels),
            alert.name,
            labels.to_dict(),
            default_author(),
            note,
            now,
            now + ACK_EXPIRY_MS,
        )
        return f"acked {alert.name} as {rec.acked_by}"

    async def close(self) -> None:
        """Stop the query thread (the store is closed by its owner)."""
        self.shutdown()

    def shutdown(self) -> None:
        """Synchronous :meth:`close`, for callers without an event loop."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class DeferredSource:
    """A Source that is still starting: it becomes `ready`'s result.

    The `ui` command hands the app one of these so the first frame does not wait
    for the store to open and the scrapers to start: calls made before the real
    source exists wait for it (shielded, so a cancelled worker never cancels the
    start-up). If start-up fails, every call raises its error and
    :meth:`wait_ready` re-raises it, so the app can exit with the message.

    Args:
        ready: Builds the real source (e.g. starts the runtime).
        notes: Filled by `ready` with things the user should be told (attached mode).
    """

    def __init__(self, ready: Awaitable[Any], notes: list[str] | None = None) -> None:
        self._task: asyncio.Future[Any] = asyncio.ensure_future(ready)
        self.notes = notes if notes is not None else []

    @property
    def inner(self) -> Any:
        """The real source, or None while starting (or after a failed start)."""
        t = self._task
        if t.done() and not t.cancelled() and t.exception() is None:
            return t.result()
        return None

    @property
    def description(self) -> str:
        """The real source's description, or "starting" while it starts."""
        inner = self.inner
        return inner.description if inner is not None else "starting"

    @property
    def read_only(self) -> bool:
        """The real source's answer (read-only until it is known)."""
        inner = self.inner
        return inner.read_only if inner is not None else True

    async def wait_ready(self) -> Any:
        """The real source once started; raises the start-up error."""
        return await asyncio.shield(self._task)

    def validate(self, query: str) -> None:
        """Parse only (needs nothing started)."""
        validate_promql(query)

    async def instant(self, query: str, t_ms: int) -> QueryResult:
        """See Source.instant."""
        return await (await self.wait_ready()).instant(query, t_ms)

    async def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        """See Source.range."""
        return await (await self.wait_ready()).range(query, start_ms, end_ms, step_ms)

    async def metric_names(self) -> list[str]:
        """See Source.metric_names."""
        return await (await self.wait_ready()).metric_names()

    async def label_names(self, metric: str | None = None) -> list[str]:
        """See Source.label_names."""
        return await (await self.wait_ready()).label_names(metric)

    async def label_values(self, label: str, metric: str | None = None) -> list[str]:
        """See Source.label_values."""
        return await (await self.wait_ready()).label_values(label, metric)

    async def metadata(self) -> dict[str, MetricMeta]:
        """See Source.metadata."""
        return await (await self.wait_ready()).metadata()

    async def metric_summary(self, metric: str) -> MetricSummary:
        """See Source.metric_summary."""
        return await (await self.wait_ready()).metric_summary(metric)

    async def targets(self) -> list[TargetStatus]:
        """See Source.targets."""
        return await (await self.wait_ready()).targets()

    async def alerts(self) -> list[AlertInfo]:
        """See Source.alerts."""
        return await (await self.wait_ready()).alerts()

    async def rules(self) -> list[RuleInfo] | None:
        """See Source.rules."""
        return await (await self.wait_ready()).rules()

    async def silence(self, alert: AlertInfo, duration_ms: int, comment: str) -> str:
        """See Source.silence."""
        return await (await self.wait_ready()).silence(alert, duration_ms, comment)

    async def ack(self, alert: AlertInfo, note: str) -> str:
        """See Source.ack."""
        return await (await self.wait_ready()).ack(alert, note)

    async def close(self) -> None:
        """Close the real source if it started; stop waiting for it otherwise."""
        inner = self.inner
        if inner is not None:
            await inner.close()
        elif not self._task.done():
            self._task.cancel()


def _hhmm(t_ms: int) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(t_ms / 1000).astimezone().strftime("%H:%M")


def targets_from_up(up: Any, duration: Any, stamps: Any) -> list[TargetStatus]:
    """Target records rebuilt from the `up`, `scrape_duration_seconds` and `timestamp(up)`
    vectors, for a UI attached to a database another process scrapes into."""
    if not isinstance(up, Vector):
        return []

    def key(labels: Any) -> tuple[str, str]:
        return labels.get("job"), labels.get("instance")

    dur = {key(s.labels): s.v for s in duration} if isinstance(duration, Vector) else {}
    ts = {key(s.labels): s.v for s in stamps} if isinstance(stamps, Vector) else {}
    out = []
    for s in up:
        k = key(s.labels)
        stamp = ts.get(k)
        out.append(
            TargetStatus(
                job=k[0],
                url=k[1],
                labels=s.labels.without_name(),
                discovered_labels=s.labels.without_name(),
                health=TargetHealth.UP if s.v == 1 else TargetHealth.DOWN,
                last_scrape_ms=None if stamp is None else int(stamp * 1000),
                last_duration_s=float(dur.get(k, 0.0)),
                last_error="" if s.v == 1 else "down (error text is kept by the scraping process)",
                scrape_interval_ms=0,
                scrape_timeout_ms=0,
                scrape_pool=k[0],
            )
        )
    out.sort(key=lambda t: (t.job, t.url))
    return out
