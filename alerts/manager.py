"""The rule manager: load and reload rule files, restore state, run the groups.

Who calls it: the runtime (daemon and standalone TUI) builds one
:class:`RuleManager` with a :data:`~nightowl.alerts.rules.QueryFn` over the
engine, the store's appender and a notifier; the HTTP API and the TUI read
:meth:`RuleManager.groups` and :meth:`RuleManager.alerts`.

Restart: before the first evaluation each alerting rule reads the last hour of
its ``ALERTS_FOR_STATE`` and firing ``ALERTS`` series back (the same samples it
wrote before the restart), so a pending alert keeps counting its ``for`` from
when it really started, a firing one fires on with its old ``startsAt`` (no new
page), and one that resolved while nightowl was down is sent as resolved.

Reload: groups are matched by file and name; alerting rules with the same
name and expression keep their alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from nightowl.alerts.group import Group, NotifyFn
from nightowl.alerts.rulefile import GroupSpec, load_rule_files
from nightowl.alerts.rules import (
    ALERTS_FOR_STATE_METRIC,
    ALERTS_METRIC,
    Alert,
    AlertingRule,
    AlertState,
    QueryFn,
)
from nightowl.store.api import Appender, Querier

from nightowl.model import METRIC_NAME, Labels

__all__ = ["RESTORE_LOOKBACK", "RuleManager", "alerting_from_config", "notifier_for"]

log = logging.getLogger(__name__)

#: How far back restore looks for ALERTS_FOR_STATE (Prometheus's outage tolerance).
RESTORE_LOOKBACK = "1h"


class RuleManager:
    """Owns the rule groups.

    Args:
        query: how rules (and restore) read data.
        appender: where recorded series and ALERTS go.
        notify: where due alerts go.
        interval_ms: default group interval (`global.evaluation_interval`).
        external_labels / external_url: for alerts sent out.
        on_transition: called on every alert state change (alert history).
        querier: the store, for restore to see staleness markers (optional).
    """

    def __init__(
        self,
        query: QueryFn,
        appender: Appender | None = None,
        notify: NotifyFn | None = None,
        *,
        interval_ms: int = 15_000,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        on_transition: Callable[[Alert, AlertState, int], None] | None = None,
        querier: Querier | None = None,
    ) -> None:
        self.query = query
        self.querier = querier
        self.appender = appender
        self.notify = notify
        self.interval_ms = interval_ms
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url
        self.on_transition = on_transition
        self._groups: dict[str, Group] = {}
        self._files: list[str] = []
        self._inline: list[GroupSpec] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- loading

    def _build(self, specs: Iterable[GroupSpec]) -> dict[str, Group]:
        out: dict[str, Group] = {}
        for spec in specs:
            g = Group(
                spec,
                self.query,
                self.appender,
                self.notify,
                interval_ms=self.interval_ms,
                external_labels=self.external_labels,
                external_url=self.external_url,
            )
            for r in g.alerting_rules():
                r.on_transition = self.on_transition
            out[g.key] = g
        return out

    def load(self, files: Sequence[str | Path] = (), inline: Sequence[GroupSpec] = ()) -> None:
        """Load rule files plus inline groups (raises RuleFileError; nothing changes then)."""
        specs = load_rule_files(files) + list(inline)
        new = self._build(specs)
        for key, g in new.items():
            old = self._groups.get(key)
            if old is not None:
                g.copy_state_from(old)
        self._files = [str(f) for f in files]
        self._inline = list(inline)
        self._groups = new

    def reload(self) -> None:
        """Re-read the same files (state carried over); restart running loops."""
        running = bool(self._tasks)
        self.load(self._files, self._inline)
        if running:
            self._restart_tasks()

    def groups(self) -> list[Group]:
        """The groups, in file order."""
        return list(self._groups.values())

    def alerts(self) -> list[Alert]:
        """Every pending and firing alert."""
        return [
            a
            for g in self._groups.values()
            for r in g.alerting_rules()
            for a in r.active.values()
            if a.state is not AlertState.INACTIVE
        ]

    # -- restore

    def restore(self, t_ms: int) -> None:
        """Read ALERTS_FOR_STATE / ALERTS back for every alerting rule (see module docs)."""
        for g in self._groups.values():
            for r in g.alerting_rules():
                self._restore_rule(r, t_ms)

    def _restore_rule(self, rule: AlertingRule, t_ms: int) -> None:
        name = rule.name.replace("\\", "\\\\").replace('"', '\\"')
        try:
            fs = self.query(
                f'last_over_time({ALERTS_FOR_STATE_METRIC}{{alertname="{name}"}}'
                f"[{RESTORE_LOOKBACK}])",
                t_ms,
            )
            fired = self.query(
                f'last_over_time({ALERTS_METRIC}{{alertname="{name}",alertstate="firing"}}'
                f"[{RESTORE_LOOKBACK}])",
                t_ms,
            )
        except Exception as exc:
            log.warning("restoring alert %s: %s", rule.name, exc)
            rule.restored = True
            return
        for_state = {s.labels.without(METRIC_NAME): s.v for s in fs}
        # last_over_time keeps a stale marker out, but a firing series that ended
        # with a stale marker has no sample in the window's end: check recency.
        was_firing = {s.labels.without(METRIC_NAME, "alertstate") for s in fired}
        was_firing = {lb for lb in was_firing if self._still_firing(lb, t_ms)}
        rule.prepare_restore(for_state, was_firing)

    def _still_firing(self, labels: Labels, t_ms: int) -> bool:
        """Was the alert's last ALERTS sample (within the restore window) a firing one?

        With a store `querier` the raw samples are read, so a staleness marker
        (written when the alert resolved before the restart) is seen; without one
        the instant lookback decides.
        """
        if self.querier is not None:
            from nightowl.model import Matcher, MatchOp, stale_mask

            matchers = [Matcher(k, MatchOp.EQ, v) for k, v in labels]
            matchers += [
                Matcher(METRIC_NAME, MatchOp.EQ, ALERTS_METRIC),
                Matcher("alertstate", MatchOp.EQ, "firing"),
            ]
            data = self.querier.select(matchers, t_ms - 3_600_000, t_ms)
            return any(len(d.values) and not stale_mask(d.values[-1:])[0] for d in data)
        sel = ",".join(f'{k}="{_esc(v)}"' for k, v in labels)
        try:
            return bool(self.query(f'{ALERTS_METRIC}{{{sel},alertstate="firing"}}', t_ms))
        except Exception:
            return True

    # -- running

    def start(self, clock: Callable[[], int]) -> None:
        """Restore, then run every group's loop on the current event loop."""
        self.restore(clock())
        self._restart_tasks(clock)

    def _restart_tasks(self, clock: Callable[[], int] | None = None) -> None:
        clk = clock or self._clock
        self._clock = clk
        for t in self._tasks.values():
            t.cancel()
        self._tasks = {
            key: asyncio.create_task(g.run(clk), name=f"rules:{key}")
            for key, g in self._groups.items()
        }

    def _clock(self) -> int:  # replaced by start()
        import time

        return int(time.time() * 1000)

    async def stop(self) -> None:
        """Stop every group loop."""
        for g in self._groups.values():
            g.stop()
        for t in self._tasks.values():
            t.cancel()
        for t in self._tasks.values():
            try:
                await t
            except asyncio.CancelledError:
                pass
        self._tasks.clear()


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def notifier_for(config: object, state: object | None) -> object:
    """The :class:`~nightowl.alerts.notify.Notifier` for `config`'s ``[alerting]``.

    Alertmanagers and webhook receivers, muted by the silences of the alert state
    file `state` (an :class:`~nightowl.store.alertstate.AlertStateDB`), which also
    keeps the receivers' delivery state so a restart or a reload neither re-pages
    nor loses a resolve. Used at start-up and again on every reload.
    """
    from nightowl.alerts.notify import notifier_from_config
    from nightowl.alerts.silences import Silencer

    return notifier_from_config(
        getattr(config, "alerting", None),
        Silencer(state) if state is not None else None,  # type: ignore[arg-type]
        state,  # type: ignore[arg-type]
    )


def alerting_from_config(
    config: object,
    query: QueryFn,
    appender: Appender | None,
    querier: Querier | None,
    db_path: str | Path | None,
) -> tuple[RuleManager, object, object | None]:
    """Everything alerting needs, wired from a loaded config (for the runtime).

    Returns ``(manager, notifier, state_db)``: the rule manager with the config's
    rule files and ``[[rule_groups]]`` loaded, a
    :class:`~nightowl.alerts.notify.Notifier` for ``[alerting]`` (Alertmanagers
    and webhook receivers, the receivers' delivery state kept in the alert state
    file) that skips silenced alerts, and the alert state file beside `db_path` (history,
    silences, acks; None without a database). The caller starts the notifier
    (``notifier.start()``) and the manager (``manager.start(clock)``) on its loop
    and stops both on shutdown.
    """
    from nightowl.alerts.rulefile import groups_from_config
    from nightowl.alerts.silences import AlertStateHooks
    from nightowl.store.alertstate import AlertStateDB, alertstate_path

    g = getattr(config, "global_", None)
    state = AlertStateDB(alertstate_path(db_path)) if db_path is not None else None
    notifier = notifier_for(config, state)
    manager = RuleManager(
        query,
        appender,
        notifier,
        interval_ms=getattr(g, "evaluation_interval", 15_000),
        external_labels=getattr(g, "external_labels", {}) or {},
        on_transition=AlertStateHooks(state) if state is not None else None,
        querier=querier,
    )
    inline = groups_from_config(
        getattr(config, "rule_groups", ()) or (), file=getattr(config, "source", "") or "config"
    )
    manager.load(tuple(getattr(config, "rule_files", ()) or ()), inline)
    return manager, notifier, state
