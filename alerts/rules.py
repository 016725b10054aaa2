"""Recording and alerting rules: one evaluation step each, as Prometheus does it.

A :class:`RecordingRule` turns its expression's vector into samples of a new
series. An :class:`AlertingRule` keeps one :class:`Alert` per label set and
moves it through an explicit state machine::

    inactive --expr returns it--> pending --held for `for`--> firing
    pending  --expr stops-------> (dropped)
    firing   --expr stops (and keep_firing_for / recovery_expr allow)--> inactive (resolved)

Each evaluation returns the samples Prometheus writes: ``ALERTS{alertstate=...}``
= 1 for pending and firing alerts and ``ALERTS_FOR_STATE`` = the alert's active
time in Unix seconds (what a restart restores ``for`` from).

Two nightowl additions, both opt-in per rule (docs/alerting.md):

- *hysteresis*: with ``recovery_expr``, a firing alert stays firing while that
  expression still returns its series (fire above 90 %, resolve below 80 %);
- *flap damping*: an alert that changed state more than N times within a window is
  marked flapping; notifiers then see it as firing, once, until it has been
  stable for a whole window, and only then its resolve.

Rules see the data through a :data:`QueryFn` callable, never the engine or the
store, so tests and `nightowl test rules` can run them over any data.
"""

from __future__ import annotations

import abc
import enum
import hashlib
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nightowl.alerts.rulefile import RuleSpec
from nightowl.alerts.template import Template, TemplateData, TemplateError
from nightowl.query.values import InstantSample, Scalar, Vector

from nightowl.errors import QueryError
from nightowl.model import METRIC_NAME, Labels, Sample

__all__ = [
    "ALERTS_FOR_STATE_METRIC",
    "ALERTS_METRIC",
    "RESOLVED_RETENTION_MS",
    "Alert",
    "AlertState",
    "AlertingRule",
    "QueryFn",
    "RecordingRule",
    "Rule",
    "RuleEvalError",
    "build_rule",
    "engine_query_fn",
]

ALERTS_METRIC = "ALERTS"
ALERTS_FOR_STATE_METRIC = "ALERTS_FOR_STATE"
#: A resolved alert is kept this long so it is reported as resolved to notifiers.
RESOLVED_RETENTION_MS = 15 * 60_000

#: `query(expr, t_ms)` -> instant vector (a scalar becomes one sample without labels).
QueryFn = Callable[[str, int], list[InstantSample]]


class RuleEvalError(QueryError):
    """A rule's evaluation failed; the message names the rule."""


def engine_query_fn(engine: object) -> QueryFn:
    """Adapt a :class:`nightowl.query.engine.Engine` to :data:`QueryFn` (as Prometheus's
    EngineQueryFunc does: a scalar becomes a one-element vector, anything else fails)."""

    def query(expr: str, t_ms: int) -> list[InstantSample]:
        value = engine.instant(expr, t_ms).value  # type: ignore[attr-defined]
        if isinstance(value, Vector):
            return list(value)
        if isinstance(value, Scalar):
            return [InstantSample(Labels(), value.t, value.v)]
        raise RuleEvalError("rule result is not a vector or scalar", kind="bad_data")

    return query


class AlertState(enum.StrEnum):
    """Where one alert is in its life cycle."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(slots=True)
class Alert:
    """One alert of one alerting rule (one label set)."""

    labels: Labels
    """Labels of the alert: the series' labels, the rule's labels, `alertname`."""
    annotations: dict[str, str]
    state: AlertState
    value: float
    active_at_ms: int
    fired_at_ms: int = 0
    resolved_at_ms: int = 0
    last_sent_ms: int = 0
    valid_until_ms: int = 0
    keep_firing_since_ms: int = 0
    series_labels: Labels = field(default_factory=Labels)
    """The expression's labels (without `__name__`), used to match `recovery_expr`."""
    transitions: deque[int] = field(default_factory=deque)
    """Times (ms) of firing/resolved changes inside the flap window."""
    flapping: bool = False
    sent_firing: bool = False
    """A firing notification went out for this activation."""
    resolve_sent: bool = False

    @property
    def fingerprint(self) -> str:
        """A stable id of the alert's label set (hex)."""
        return fingerprint(self.labels)

    @property
    def name(self) -> str:
        """The alert's `alertname`."""
        return self.labels.get("alertname")

    def notify_state(self) -> AlertState:
        """The state notifiers should see: a flapping alert is held as firing."""
        if self.flapping:
            return AlertState.FIRING
        return self.state


def fingerprint(labels: Labels) -> str:
    """A stable 16-hex-digit id of a label set."""
    h = hashlib.blake2b(digest_size=8)
    for k, v in labels:
        h.update(k.encode())
        h.update(b"\xff")
        h.update(v.encode())
        h.update(b"\xff")
    return h.hexdigest()


class Rule(abc.ABC):
    """Common part of recording and alerting rules."""

    def __init__(self, spec: RuleSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.expr = spec.expr
        self.last_error: str = ""
        self.last_eval_ms: int = 0
        self.last_duration_s: float = 0.0
        self.health = "unknown"

    @abc.abstractmethod
    def eval(
        self,
        t_ms: int,
        query: QueryFn,
        *,
        limit: int = 0,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
    ) -> list[Sample]:
        """Evaluate at `t_ms`; the samples to write. Raises :class:`RuleEvalError`."""


class RecordingRule(Rule):
    """`record: name` + `expr`: writes the expression's result as series `name`."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__(spec)
        self.labels = dict(spec.labels)

    def eval(
        self,
        t_ms: int,
        query: QueryFn,
        *,
        limit: int = 0,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
    ) -> list[Sample]:
        """The expression's samples renamed to the rule's name, with its labels set."""
        vec = _query(self, query, self.expr, t_ms)
        out: list[Sample] = []
        seen: set[Labels] = set()
        for s in vec:
            d = s.labels.to_dict()
            d[METRIC_NAME] = self.name
            d.update(self.labels)
            lbls = Labels.from_dict(d)
            if lbls in seen:
                raise RuleEvalError(
                    f"rule {self.name!r}: vector contains metrics with the same labelset "
                    "after applying rule labels"
                )
            seen.add(lbls)
            out.append(Sample(lbls, t_ms, s.v))
        if limit and len(out) > limit:
            raise RuleEvalError(
                f"rule {self.name!r}: exceeded limit of {limit} with {len(out)} series"
            )
        return out


def _query(rule: Rule, query: QueryFn, expr: str, t_ms: int) -> list[InstantSample]:
    try:
        return query(expr, t_ms)
    except RuleEvalError:
        raise
    except Exception as exc:
        msg = getattr(exc, "message", None) or str(exc)
        raise RuleEvalError(f"rule {rule.name!r}: {msg}") from exc


class AlertingRule(Rule):
    """`alert: name` + `expr` (+ `for`, `keep_firing_for`, labels, annotations)."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__(spec)
        self.hold_ms = spec.for_ms
        self.keep_firing_for_ms = spec.keep_firing_for_ms
        self.label_templates = [(k, Template.parse(v)) for k, v in spec.labels]
        self.annotation_templates = [(k, Template.parse(v)) for k, v in spec.annotations]
        self.active: dict[Labels, Alert] = {}
        self.restored = False
        self._restore: tuple[dict[Labels, float], set[Labels]] | None = None
        self.on_transition: Callable[[Alert, AlertState, int], None] | None = None
        """Called as (alert, previous state, t_ms) on every state change (history)."""

    # -- helpers

    def _expand(
        self,
        templates: list[tuple[str, Template]],
        labels: Mapping[str, str],
        value: float,
        external_labels: Mapping[str, str],
        external_url: str,
        query: QueryFn,
        t_ms: int,
    ) -> dict[str, str]:
        data = TemplateData(
            labels,
            value,
            external_labels,
            external_url,
            query=lambda q: [(s.labels.to_dict(), s.v) for s in query(q, t_ms)],
        )
        out: dict[str, str] = {}
        for k, tmpl in templates:
            try:
                out[k] = tmpl.expand(data)
            except TemplateError as exc:
                out[k] = f"<error expanding template: {exc.message}>"
            except Exception as exc:
                out[k] = f"<error expanding template: {exc}>"
        return out

    def _transition(self, alert: Alert, old: AlertState, t_ms: int) -> None:
        flap = self.spec.flap
        if flap is not None and {old, alert.state} & {AlertState.FIRING}:
            alert.transitions.append(t_ms)
            while alert.transitions and alert.transitions[0] <= t_ms - flap.window_ms:
                alert.transitions.popleft()
            if len(alert.transitions) > flap.transitions:
                alert.flapping = True
        if self.on_transition is not None:
            self.on_transition(alert, old, t_ms)

    def _settle(self, alert: Alert, t_ms: int) -> None:
        flap = self.spec.flap
        if flap is None or not alert.flapping:
            return
        while alert.transitions and alert.transitions[0] <= t_ms - flap.window_ms:
            alert.transitions.popleft()
        if not alert.transitions:
            alert.flapping = False

    # -- evaluation

    def eval(
        self,
        t_ms: int,
        query: QueryFn,
        *,
        limit: int = 0,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
    ) -> list[Sample]:
        """One step of the state machine at `t_ms`; returns ALERTS and ALERTS_FOR_STATE samples."""
        ext = dict(external_labels or {})
        vec = _query(self, query, self.expr, t_ms)
        seen: dict[Labels, InstantSample] = {}
        for s in vec:
            series = s.labels.without_name()
            lbls_map = s.labels.to_dict()  # templates see __name__ too, as in Prometheus
            rule_labels = self._expand(
                self.label_templates, lbls_map, s.v, ext, external_url, query, t_ms
            )
            d = series.to_dict()
            d.update(rule_labels)
            d["alertname"] = self.name
            lbls = Labels.from_dict(d)
            if lbls in seen:
                raise RuleEvalError(
                    f"rule {self.name!r}: vector contains metrics with the same labelset "
                    "after applying alert labels"
                )
            seen[lbls] = s
            annotations = self._expand(
                self.annotation_templates, lbls_map, s.v, ext, external_url, query, t_ms
            )
            alert = self.active.get(lbls)
            if alert is not None and alert.state is not AlertState.INACTIVE:
                alert.value = s.v
                alert.annotations = annotations
                alert.series_labels = series
                continue
            if alert is not None:  # resolved earlier, now back: a new activation
                old = alert.state
                alert.state = AlertState.PENDING
                alert.value = s.v
                alert.annotations = annotations
                alert.active_at_ms = t_ms
                alert.resolved_at_ms = 0
                alert.fired_at_ms = 0
                alert.keep_firing_since_ms = 0
                alert.series_labels = series
                alert.sent_firing = alert.flapping and alert.sent_firing
                alert.resolve_sent = False
                self._transition(alert, old, t_ms)
                continue
            alert = Alert(lbls, annotations, AlertState.PENDING, s.v, t_ms, series_labels=series)
            self.active[lbls] = alert
            self._transition(alert, AlertState.INACTIVE, t_ms)
        self._apply_restore(t_ms)

        recovering: set[Labels] | None = None
        n_active = 0
        for lbls, alert in list(self.active.items()):
            if lbls not in seen:
                keep = False
                if alert.state is AlertState.FIRING and self.keep_firing_for_ms > 0:
                    if not alert.keep_firing_since_ms:
                        alert.keep_firing_since_ms = t_ms
                    if t_ms - alert.keep_firing_since_ms < self.keep_firing_for_ms:
                        keep = True
                if alert.state is AlertState.FIRING and self.spec.recovery_expr and not keep:
                    if recovering is None:
                        rv = _query(self, query, self.spec.recovery_expr, t_ms)
                        recovering = {s.labels.without_name() for s in rv}
                    keep = alert.series_labels in recovering
                if alert.state is AlertState.PENDING or (
                    alert.resolved_at_ms
                    and t_ms - alert.resolved_at_ms > RESOLVED_RETENTION_MS
                    and not alert.flapping
                ):
                    del self.active[lbls]
                if alert.state is not AlertState.INACTIVE and not keep:
                    old = alert.state
                    alert.state = AlertState.INACTIVE
                    alert.resolved_at_ms = t_ms
                    alert.keep_firing_since_ms = 0
                    self._transition(alert, old, t_ms)
                if not keep:
                    self._settle(alert, t_ms)
                    continue
            else:
                alert.keep_firing_since_ms = 0
            n_active += 1
            if alert.state is AlertState.PENDING and t_ms - alert.active_at_ms >= self.hold_ms:
                alert.state = AlertState.FIRING
                alert.fired_at_ms = t_ms
                self._transition(alert, AlertState.PENDING, t_ms)
            self._settle(alert, t_ms)

        if limit and n_active > limit:
            self.active.clear()
            raise RuleEvalError(
                f"rule {self.name!r}: exceeded limit of {limit} with {n_active} alerts"
            )
        out: list[Sample] = []
        for alert in self.active.values():
            if alert.state is AlertState.INACTIVE:
                continue
            out.append(
                Sample(
                    alert.labels.with_(__name__=ALERTS_METRIC, alertstate=alert.state.value),
                    t_ms,
                    1.0,
                )
            )
            out.append(
                Sample(
                    alert.labels.with_(__name__=ALERTS_FOR_STATE_METRIC),
                    t_ms,
                    float(alert.active_at_ms // 1000),
                )
            )
        return out

    def prepare_restore(
        self, for_state: Mapping[Labels, float], was_firing: set[Labels] | frozenset[Labels]
    ) -> None:
        """Restore state after a restart; applied by the next :meth:`eval`.

        `for_state` maps alert labels (ALERTS_FOR_STATE without `__name__`) to the
        stored active time in Unix seconds; `was_firing` holds the labels of alerts
        that were firing (ALERTS without `__name__`/`alertstate`). At the next
        evaluation an alert the expression still returns keeps its old active time,
        and one that was firing and has held `for` fires again at once (with its
        old `startsAt`, so receivers see the same alert, not a new page). An alert
        that was firing but is gone is reported resolved: no resolve is lost.
        """
        self._restore = (dict(for_state), set(was_firing))

    def _apply_restore(self, t_ms: int) -> None:
        restore = getattr(self, "_restore", None)
        if restore is None:
            return
        self._restore = None
        for_state, was_firing = restore
        for lbls, alert in self.active.items():
            ts = for_state.get(lbls)
            if ts is None or math.isnan(ts) or alert.state is not AlertState.PENDING:
                continue
            restored = int(ts * 1000)
            if restored > alert.active_at_ms:
                continue
            alert.active_at_ms = restored
            if lbls in was_firing and t_ms - restored >= self.hold_ms:
                alert.state = AlertState.FIRING
                alert.fired_at_ms = t_ms
                alert.last_sent_ms = 0
                alert.sent_firing = True
        for lbls in was_firing:
            if lbls in self.active:
                continue
            ts = for_state.get(lbls)
            active_at = int(ts * 1000) if ts is not None and not math.isnan(ts) else t_ms
            gone = Alert(lbls, {}, AlertState.INACTIVE, math.nan, active_at)
            gone.resolved_at_ms = t_ms
            gone.sent_firing = True  # it was sent as firing before the restart
            self.active[lbls] = gone
            if self.on_transition is not None:
                self.on_transition(gone, AlertState.FIRING, t_ms)
        self.restored = True

    def firing(self) -> list[Alert]:
        """Alerts currently firing (not counting held flapping ones)."""
        return [a for a in self.active.values() if a.state is AlertState.FIRING]


def build_rule(spec: RuleSpec) -> Rule:
    """The rule object for a spec."""
    return AlertingRule(spec) if spec.is_alert else RecordingRule(spec)
