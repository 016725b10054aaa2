"""Messages the UI's workers post back to the event loop.

Workers never touch widgets: they await the :class:`~nightowl.query.source.Source`
and post one of these. Periodic ones (panel data, alerts, targets) replace a
queued message of the same kind (`can_replace`), so a burst after a stall
becomes one repaint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nightowl.query.source import AlertInfo, MetricSummary, RuleInfo
from nightowl.query.values import QueryResult
from nightowl.tui.plot import PlotSeries
from textual.message import Message

from nightowl.model import TargetStatus

__all__ = [
    "AlertsChanged",
    "CompletionsReady",
    "EventsChanged",
    "MetricSummaryReady",
    "MetricsListed",
    "PanelData",
    "QueryAnswered",
    "RulesChanged",
    "TargetsChanged",
]


@dataclass
class PanelData(Message):
    """New data for one panel. Handled by `DashboardScreen.on_panel_data`."""

    dashboard: str
    index: int
    series: list[PlotSeries]
    start_ms: int
    end_ms: int
    step_ms: int
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    body: tuple[tuple, QueryResult] | None = None
    """For live charts: (bounds key, range result) to reuse until a new step begins."""

    def can_replace(self, message: Message) -> bool:
        """A newer result for the same panel supersedes a queued one."""
        return (
            isinstance(message, PanelData)
            and message.dashboard == self.dashboard
            and message.index == self.index
        )


@dataclass
class AlertsChanged(Message):
    """Pending and firing alerts. Handled by `DashboardScreen.on_alerts_changed`."""

    alerts: list[AlertInfo]
    error: str | None = None

    def can_replace(self, message: Message) -> bool:
        """Only the newest alert list matters."""
        return isinstance(message, AlertsChanged)


@dataclass
class EventsChanged(Message):
    """Alert firings and resolutions, and events of the configured event queries.
    Handled by `DashboardScreen.on_events_changed`."""

    events: list[tuple[int, str]]
    """(time ms, "fired" | "resolved" | "event:NAME"), by time."""

    def can_replace(self, message: Message) -> bool:
        """Only the newest events matter."""
        return isinstance(message, EventsChanged)


@dataclass
class TargetsChanged(Message):
    """Scrape targets' health. Handled by `TargetsScreen.on_targets_changed`."""

    targets: list[TargetStatus]
    error: str | None = None

    def can_replace(self, message: Message) -> bool:
        """Only the newest target list matters."""
        return isinstance(message, TargetsChanged)


@dataclass
class RulesChanged(Message):
    """Rule state (None: no rule evaluator reachable). Handled by `RulesScreen`."""

    rules: list[RuleInfo] | None
    error: str | None = None

    def can_replace(self, message: Message) -> bool:
        """Only the newest rule list matters."""
        return isinstance(message, RulesChanged)


@dataclass
class QueryAnswered(Message):
    """The query view's result (or error). Handled by `QueryScreen.on_query_answered`."""

    query: str
    series: list[PlotSeries]
    start_ms: int
    end_ms: int
    step_ms: int
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class CompletionsReady(Message):
    """Names the query bar can complete. Handled by `QueryBar.on_completions_ready`."""

    metrics: list[str]
    labels: dict[str, list[str]] = field(default_factory=dict)
    """Label name -> values (filled lazily for the label being typed)."""


@dataclass
class MetricsListed(Message):
    """Metric names with metadata for the explorer. Handled by `ExplorerScreen`."""

    rows: list[tuple[str, str, str]]
    """(name, type, help)."""
    error: str | None = None


@dataclass
class MetricSummaryReady(Message):
    """Series count and label cardinality of one metric. Handled by `ExplorerScreen`."""

    summary: MetricSummary | None
    error: str | None = None
