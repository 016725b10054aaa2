"""The composition root: builds and starts the pieces in order, stops them in reverse.

Standalone (`nightowl` with no daemon running)::

    store (writable, takes the writer lock) -> engine -> scrape manager (host + targets)
        -> log / command / JSON / report sources
        -> rule manager (rule_files + [[rule_groups]]; writes ALERTS and recorded series)
           with its notifier ([alerting]: Alertmanagers, webhooks) and the alert state
           file beside the database (history, silences, acks)

Attached (a daemon already owns the database): opening it writable raises
`DatabaseLockedError`; the runtime then opens it read-only, builds only the
engine, and runs no scrapers (the daemon does). `attached_reason` says why, and
the UI shows it in its header.

Only this module knows every piece; the TUI gets a :class:`LocalSource` from
:meth:`Runtime.source` and nothing else. The daemon issue extends this with
rules, notifiers and the HTTP server. No Textual here.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from nightowl.errors import DatabaseLockedError
from nightowl.paths import default_db_path
from nightowl.query.source import AlertInfo, RuleInfo
from nightowl.sources import LocalSource
from nightowl.timeutil import Clock, SystemClock

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


class Runtime:
    """Store, engine and scrapers for one database.

    Args:
        config: A `nightowl.config.Config`.
        db_path: `--db`; overrides `[storage] path` and the XDG default.
        scrape: Run scrapers (False: only read; tests and `--no-scrape` uses).
        clock: Sample timestamps and "now".
        transport: httpx transport for scrape jobs (tests).
    """

    def __init__(
        self,
        config: Any,
        *,
        db_path: Path | None = None,
        scrape: bool = True,
        clock: Clock | None = None,
        transport: Any = None,
    ) -> None:
        self.config = config
        storage_path = getattr(getattr(config, "storage", None), "path", "") or ""
        self.db_path = Path(db_path or storage_path or default_db_path()).expanduser()
        self.scrape = scrape
        self.clock = clock or SystemClock()
        self.transport = transport
        self.store: Any = None
        self.engine: Any = None
        self.scrapers: Any = None
        self.rules: Any = None
        self.notifier: Any = None
        self.alert_state: Any = None
        self.devsec: Any = None
        self.attached_reason: str | None = None
        self._source: LocalSource | None = None

    @property
    def attached(self) -> bool:
        """True when another process owns the database and we only read it."""
        return self.attached_reason is not None

    def _store_options(self) -> Any:
        from nightowl.store import StoreOptions

        s = getattr(self.config, "storage", None)
        if s is None:
            return StoreOptions()
        return StoreOptions(
            retention_time_ms=s.retention_time,
            retention_size_bytes=s.retention_size,
            out_of_order_window_ms=s.out_of_order_time_window,
            max_series=s.max_series,
            max_series_per_metric=s.max_series_per_metric,
        )

    async def start(self) -> None:
        """Open the store (falling back to read-only attach), build the engine, start scrapers."""
        # Import the heavy modules off the event loop: the UI may be drawing its first frame.
        await asyncio.to_thread(_load_backends)
        from nightowl.query.engine import Engine
        from nightowl.store import Store

        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        options = self._store_options()
        try:
            self.store = await asyncio.to_thread(Store.open, self.db_path, options=options)
        except DatabaseLockedError as exc:
            self.attached_reason = exc.message
            self.store = await asyncio.to_thread(Store.open, self.db_path, readonly=True)
        self.engine = Engine(self.store)
        if self.scrape and not self.attached:
            from nightowl.scrapers.manager import ScrapeManager

            base_dir = None
            source = getattr(self.config, "source", "")
            if source and not source.startswith("<"):
                base_dir = Path(source).parent
            self.scrapers = ScrapeManager(
                self.store, transport=self.transport, clock=self.clock.now_ms, base_dir=base_dir
            )
            errors = await self.scrapers.apply(self.config)
            for err in errors:
                log.warning("scrape target: %s", err)
            from nightowl.scrapers._devsec import DevSecSources

            self.devsec = DevSecSources(self.store, clock=self.clock)
            for err in await self.devsec.apply(self.config):
                log.warning("source: %s", err)
        if not self.attached:
            await self._start_rules()

    async def _start_rules(self) -> None:
        """Load rule files and inline groups; run them, with notifications, when there are any."""
        files = tuple(getattr(self.config, "rule_files", ()) or ())
        inline = tuple(getattr(self.config, "rule_groups", ()) or ())
        if not files and not inline:
            return
        from nightowl.alerts.manager import alerting_from_config
        from nightowl.alerts.rules import engine_query_fn

        manager, notifier, state = await asyncio.to_thread(
            alerting_from_config,
            self.config,
            engine_query_fn(self.engine),
            self.store,
            self.store,
            self.db_path,
        )
        self.notifier, self.alert_state = notifier, state
        notifier.start()  # type: ignore[attr-defined]
        manager.start(self.clock.now_ms)
        self.rules = manager

    async def reload(self, config: Any) -> list[str]:
        """Apply a new config to the running pieces; returns warnings (bad targets, sources).

        Rule files and scrape configs are checked first: a bad one raises
        (:class:`~nightowl.errors.NightowlError`) and nothing changes. Then the scrape
        jobs, the log/command/JSON/report sources and the rules are replaced; rules
        keep their alert state, and a changed `[alerting]` gets a new notifier (the
        old one flushes and stops). `[storage]` is not re-applied (restart for that).
        """
        from nightowl.alerts.rulefile import groups_from_config, load_rule_files

        files = tuple(getattr(config, "rule_files", ()) or ())
        source = getattr(config, "source", "") or "config"
        inline = groups_from_config(tuple(getattr(config, "rule_groups", ()) or ()), file=source)
        await asyncio.to_thread(load_rule_files, files)  # raises RuleFileError, changes nothing
        notifier = None
        changed = getattr(config, "alerting", None) != getattr(self.config, "alerting", None)
        if self.rules is not None and changed:  # built first: a bad secret file changes nothing
            notifier = await asyncio.to_thread(self._notifier, config)
        warnings: list[str] = []
        try:
            if self.scrapers is not None:
                warnings += [f"scrape target: {e}" for e in await self.scrapers.apply(config)]
        except BaseException:
            if notifier is not None:
                await notifier.stop()
            raise
        if self.devsec is not None:
            warnings += [f"source: {e}" for e in await self.devsec.apply(config)]
        self.config = config
        if self.attached:
            return warnings
        if self.rules is None:
            await self._start_rules()
            return warnings
        if notifier is not None:
            notifier.start()
            self.rules.notify, stale = notifier, self.notifier
            self.notifier = notifier
            if stale is not None:
                await stale.stop()  # flushes what is still queued for the old Alertmanagers
        await asyncio.to_thread(self.rules.load, files, inline)
        # Restart the group loops on the new groups (state carried over). Not stop() +
        # start(): stop() marks the groups it stops, which after load are the new ones.
        self.rules.reload()
        return warnings

    def _notifier(self, config: Any) -> Any:
        """A notifier for `config`'s `[alerting]`, as at start-up (delivery state kept)."""
        from nightowl.alerts.manager import notifier_for

        return notifier_for(config, self.alert_state)

    def targets(self) -> list[Any]:
        """Scrape targets, then the log, command, JSON and report sources."""
        out = list(self.scrapers.targets()) if self.scrapers is not None else []
        if self.devsec is not None:
            out.extend(self.devsec.targets())
        return out

    def source(self) -> LocalSource:
        """The TUI's view of this runtime."""
        if self._source is None:
            if self.engine is None:
                raise RuntimeError("Runtime.source() before start()")
            where = _short_path(self.db_path)
            desc = f"attached read-only {where}" if self.attached else f"standalone {where}"
            from nightowl.store.alertstate import AlertStateDB, alertstate_path

            self._source = LocalSource(
                self.engine,
                self.store,
                description=desc,
                read_only=self.attached,
                targets_fn=self.targets if self.scrapers is not None else None,
                alerts_fn=self._alerts if self.rules is not None else None,
                rules_fn=self._rules if self.rules is not None else None,
                alert_state=AlertStateDB(alertstate_path(self.db_path)),
                clock=self.clock,
            )
        return self._source

    async def _alerts(self) -> list[AlertInfo]:
        return alerts_from_manager(self.rules.alerts())

    def _rules(self) -> list[RuleInfo]:
        return rules_from_manager(self.rules.groups())

    async def stop(self) -> None:
        """Stop rules and notifier, then sources and scrapers (stale markers), then the store."""
        if self.rules is not None:
            await self.rules.stop()
            self.rules = None
        if self.notifier is not None:
            await self.notifier.stop()
            self.notifier = None
        if self.devsec is not None:
            await self.devsec.stop()
            self.devsec = None
        if self.scrapers is not None:
            await self.scrapers.stop()
            self.scrapers = None
        if self._source is not None:
            await self._source.close()
            self._source = None
        if self.store is not None:
            store, self.store = self.store, None
            await asyncio.to_thread(store.close)


def alerts_from_manager(alerts: Any) -> list[AlertInfo]:
    """The rule manager's alerts as the alert pane's records (firing, most severe first)."""
    order = {"critical": 0, "page": 0, "error": 1, "warning": 2, "info": 3}
    out = [
        AlertInfo(
            name=a.labels.get("alertname"),
            state=str(a.state),
            severity=a.labels.get("severity", "none"),
            labels=a.labels,
            active_since_ms=a.active_at_ms or None,
            value=a.value,
            summary=a.annotations.get("summary", "") or a.annotations.get("description", ""),
            runbook=a.annotations.get("runbook_url", "") or a.annotations.get("runbook", ""),
        )
        for a in alerts
    ]
    out.sort(key=lambda a: (a.state != "firing", order.get(a.severity, 4), a.name))
    return out


def rules_from_manager(groups: Any) -> list[RuleInfo]:
    """Every rule of the rule manager's groups as the rules view's records."""
    out = []
    for g in groups:
        for r in g.rules:
            alerting = hasattr(r, "active")
            active = (
                [a for a in r.active.values() if str(a.state) != "inactive"] if alerting else []
            )
            state = ""
            if alerting:
                states = {str(a.state) for a in active}
                state = "firing" if "firing" in states else "pending" if states else "inactive"
            out.append(
                RuleInfo(
                    group=g.name,
                    file=g.file,
                    name=r.name,
                    kind="alerting" if alerting else "recording",
                    expr=r.expr,
                    health=r.health,
                    state=state,
                    active=len(active),
                    last_eval_ms=r.last_eval_ms or None,
                    last_duration_s=r.last_duration_s,
                    last_error=r.last_error,
                )
            )
    return out


def _short_path(path: Path) -> str:
    """`~/...` for paths under the home directory (the header is one line)."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def _load_backends() -> None:
    """Import the store, engine and scrapers (run in a thread by :meth:`Runtime.start`)."""
    import nightowl.query.engine
    import nightowl.scrapers.manager
    import nightowl.store.store  # noqa: F401
