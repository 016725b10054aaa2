"""What the terminal UI reads, and a remote implementation of it.

The TUI never sees a store, an engine or a scraper: it talks to one
:class:`Source`. Three implementations exist, chosen by wiring only:

- `nightowl.sources.LocalSource`: engine, store and scrapers in this process
  (standalone mode), or a read-only attach to a daemon's database;
- :class:`RemoteSource` (this module): any Prometheus-compatible HTTP API
  (`nightowl --source http://host:9090`): Prometheus, VictoriaMetrics, Thanos,
  Mimir, or another nightowl daemon.

Every method is async and must not block the event loop: local sources run
the engine in a thread, the remote one uses httpx's async client. Methods
raise :class:`~nightowl.errors.ParseError` for a bad query,
:class:`~nightowl.errors.QueryError` (with Prometheus's error kind) when
evaluation fails or the remote end is unreachable, and nothing else on
purpose. The values are the query package's (`Vector`, `Matrix`, ...) and the
model's (`TargetStatus`), so this module sits below both `alerts` and `tui`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import httpx
import numpy as np
from nightowl.query.values import (
    InstantSample,
    Matrix,
    QueryResult,
    RangeSeries,
    Scalar,
    String,
    Value,
    Vector,
)

from nightowl.errors import ParseError, QueryError
from nightowl.model import Labels, MetricMeta, MetricType, TargetHealth, TargetStatus
from nightowl.timeutil import parse_duration

__all__ = [
    "PROMQL_FUNCTIONS",
    "AlertInfo",
    "MetricSummary",
    "RemoteSource",
    "RuleInfo",
    "Source",
    "alerts_from_vectors",
    "validate_promql",
]

#: Function names offered by the query bar's completion (Prometheus 2.x/3.x set).
PROMQL_FUNCTIONS: tuple[str, ...] = tuple(
    sorted(
        """abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil
        changes clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week
        day_of_year days_in_month deg delta deriv exp floor histogram_avg histogram_count
        histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum
        holt_winters hour idelta increase irate label_join label_replace last_over_time ln log10
        log2 mad_over_time max_over_time min_over_time minute month pi predict_linear
        present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort
        sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time
        sum_over_time tan tanh time timestamp vector year
        sum avg min max count group stddev stdvar topk bottomk quantile count_values
        limitk limit_ratio""".split()  # noqa: SIM905
    )
)


def validate_promql(query: str) -> None:
    """Check that `query` parses as PromQL; raise :class:`ParseError` (with the
    0-based `position` of the problem) if not.

    Cheap enough to call on every keystroke: it parses, it does not evaluate.
    """
    if not query.strip():
        raise ParseError("empty query", position=0)
    from nightowl.query.parser import parse  # the one PromQL parser adapter

    parse(query)


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """What the metric explorer shows about one metric name."""

    name: str
    meta: MetricMeta
    series_count: int
    label_cardinality: dict[str, int] = field(default_factory=dict)
    """Distinct values per label name (without `__name__`)."""


@dataclass(frozen=True, slots=True)
class AlertInfo:
    """A pending or firing alert, as the alert pane shows it."""

    name: str
    state: str
    """"firing" or "pending"."""
    severity: str
    labels: Labels
    active_since_ms: int | None = None
    value: float | None = None
    summary: str = ""
    runbook: str = ""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What the rules view shows about one recording or alerting rule."""

    group: str
    file: str
    name: str
    kind: str
    """"alerting" or "recording"."""
    expr: str
    health: str
    """"ok", "err" or "unknown" (not evaluated yet)."""
    state: str = ""
    """Alerting rules: "firing", "pending" or "inactive"."""
    active: int = 0
    """Alerting rules: how many alerts are pending or firing."""
    last_eval_ms: int | None = None
    last_duration_s: float = 0.0
    last_error: str = ""


@runtime_checkable
class Source(Protocol):
    """Everything the TUI reads. See the module docstring for the error contract."""

    @property
    def description(self) -> str:
        """One line for the header: the mode and where the data comes from."""
        ...

    @property
    def read_only(self) -> bool:
        """True when this UI cannot write (attached to a daemon's DB, or remote)."""
        ...

    def validate(self, query: str) -> None:
        """Raise ParseError when `query` is not valid PromQL (synchronous, cheap)."""
        ...

    async def instant(self, query: str, t_ms: int) -> QueryResult:
        """Evaluate `query` at `t_ms`."""
        ...

    async def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        """Evaluate `query` over [start_ms, end_ms] every `step_ms`; always a Matrix."""
        ...

    async def metric_names(self) -> list[str]:
        """Every metric name the source knows, sorted."""
        ...

    async def label_names(self, metric: str | None = None) -> list[str]:
        """Label names (of one metric's series, when given), sorted."""
        ...

    async def label_values(self, label: str, metric: str | None = None) -> list[str]:
        """Values of `label` (on one metric's series, when given), sorted."""
        ...

    async def metadata(self) -> dict[str, MetricMeta]:
        """Type/help/unit by metric family name."""
        ...

    async def metric_summary(self, metric: str) -> MetricSummary:
        """Series count and label cardinality of one metric."""
        ...

    async def targets(self) -> list[TargetStatus]:
        """Scrape targets and their health."""
        ...

    async def alerts(self) -> list[AlertInfo]:
        """Pending and firing alerts, most severe first."""
        ...

    async def rules(self) -> list[RuleInfo] | None:
        """Rule state, or None when no rule evaluator is reachable through this source."""
        ...

    async def silence(self, alert: AlertInfo, duration_ms: int, comment: str) -> str:
        """Silence exactly this alert's label set for `duration_ms`; returns what was done."""
        ...

    async def ack(self, alert: AlertInfo, note: str) -> str:
        """Acknowledge this alert (someone is on it); returns what was done."""
        ...

    async def close(self) -> None:
        """Release connections; the source is unusable afterwards."""
        ...


_SEVERITY_ORDER = {"critical": 0, "page": 0, "error": 1, "warning": 2, "info": 3}


def _alert_sort_key(a: AlertInfo) -> tuple[int, int, str]:
    return (0 if a.state == "firing" else 1, _SEVERITY_ORDER.get(a.severity, 4), a.name)


def alerts_from_vectors(
    alerts: Sequence[InstantSample], for_state: Sequence[InstantSample]
) -> list[AlertInfo]:
    """Build alert records from the `ALERTS` and `ALERTS_FOR_STATE` series.

    Every Prometheus-style rule evaluator writes these two series, so this works
    over any store: `ALERTS{alertname, alertstate, ...}` is 1 while an alert is
    pending or firing; `ALERTS_FOR_STATE{alertname, ...}` holds the Unix second
    it became active.
    """
    since: dict[Labels, int] = {}
    for s in for_state:
        if math.isfinite(s.v):
            since[s.labels.without_name()] = int(s.v * 1000)
    out = []
    for s in alerts:
        key = s.labels.without_name().without("alertstate")
        out.append(
            AlertInfo(
                name=s.labels.get("alertname"),
                state=s.labels.get("alertstate", "firing"),
                severity=s.labels.get("severity", "none"),
                labels=key,
                active_since_ms=since.get(key),
                value=None,
            )
        )
    out.sort(key=_alert_sort_key)
    return out


# -- remote ------------------------------------------------------------------


def _labels(d: Mapping[str, str]) -> Labels:
    return Labels.from_dict(d)


def _float(text: Any) -> float:
    return float(text)  # Prometheus encodes values as strings: "1", "NaN", "+Inf"


def _decode_value(data: Mapping[str, Any]) -> Value:
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return Scalar(round(float(result[0]) * 1000), _float(result[1]))
    if kind == "string":
        return String(round(float(result[0]) * 1000), str(result[1]))
    if kind == "vector":
        return Vector(
            InstantSample(
                _labels(r["metric"]), round(float(r["value"][0]) * 1000), _float(r["value"][1])
            )
            for r in result
        )
    if kind == "matrix":
        m = Matrix()
        for r in result:
            pairs = r.get("values") or []
            ts = np.array([round(float(p[0]) * 1000) for p in pairs], dtype=np.int64)
            vs = np.array([_float(p[1]) for p in pairs], dtype=np.float64)
            m.append(RangeSeries(_labels(r["metric"]), ts, vs))
        return m
    raise QueryError(f"remote answered with an unknown result type {kind!r}", kind="internal")


def _rfc3339_ms(text: str | None) -> int | None:
    if not text or text.startswith("0001-01-01"):
        return None
    try:
        return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


class RemoteSource:
    """A :class:`Source` over a Prometheus-compatible HTTP API.

    Args:
        base_url: The server's root, e.g. `http://prometheus:9090` (the `/api/v1`
            paths are appended).
        transport: An httpx transport to use instead of the network (tests).
        timeout_s: Per-request timeout.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout_s,
            headers={"Accept": "application/json"},
        )

    @property
    def description(self) -> str:
        """The header line: remote mode and the URL."""
        return f"remote {self.base_url}"

    @property
    def read_only(self) -> bool:
        """A remote API is only read."""
        return True

    def validate(self, query: str) -> None:
        """Parse locally; the remote end is not asked."""
        validate_promql(query)

    async def _get(self, path: str, params: Any = None) -> Any:
        try:
            resp = await self._client.get(f"/api/v1/{path}", params=params)
        except httpx.HTTPError as exc:
            raise QueryError(
                f"cannot reach {self.base_url}: {exc.__class__.__name__}: {exc}", kind="unavailable"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            raise QueryError(
                f"{self.base_url}/api/v1/{path} answered HTTP {resp.status_code} without JSON",
                kind="unavailable" if resp.status_code >= 500 else "internal",
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            err = body.get("error", f"HTTP {resp.status_code}") if isinstance(body, dict) else body
            kind = body.get("errorType", "internal") if isinstance(body, dict) else "internal"
            if kind == "bad_data" and "parse" in str(err):
                raise ParseError(str(err))
            raise QueryError(str(err), kind=str(kind))
        return body

    async def instant(self, query: str, t_ms: int) -> QueryResult:
        """`GET /api/v1/query`."""
        body = await self._get("query", {"query": query, "time": f"{t_ms / 1000:.3f}"})
        return QueryResult(
            _decode_value(body["data"]), list(body.get("warnings", [])), list(body.get("infos", []))
        )

    async def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        """`GET /api/v1/query_range`."""
        params = {
            "query": query,
            "start": f"{start_ms / 1000:.3f}",
            "end": f"{end_ms / 1000:.3f}",
            "step": f"{max(step_ms, 1) / 1000:.3f}",
        }
        body = await self._get("query_range", params)
        return QueryResult(
            _decode_value(body["data"]), list(body.get("warnings", [])), list(body.get("infos", []))
        )

    async def metric_names(self) -> list[str]:
        """`GET /api/v1/label/__name__/values`."""
        return sorted((await self._get("label/__name__/values"))["data"])

    async def label_names(self, metric: str | None = None) -> list[str]:
        """`GET /api/v1/labels`."""
        params = {"match[]": metric} if metric else None
        return sorted((await self._get("labels", params))["data"])

    async def label_values(self, label: str, metric: str | None = None) -> list[str]:
        """`GET /api/v1/label/<name>/values`."""
        params = {"match[]": metric} if metric else None
        return sorted((await self._get(f"label/{label}/values", params))["data"])

    async def metadata(self) -> dict[str, MetricMeta]:
        """`GET /api/v1/metadata`."""
        data = (await self._get("metadata"))["data"]
        out: dict[str, MetricMeta] = {}
        for name, entries in data.items():
            if not entries:
                continue
            e = entries[0]
            try:
                mtype = MetricType(e.get("type", "unknown"))
            except ValueError:
                mtype = MetricType.UNKNOWN
            out[name] = MetricMeta(mtype, e.get("help", ""), e.get("unit", ""))
        return out

    async def metric_summary(self, metric: str) -> MetricSummary:
        """`GET /api/v1/series` for the metric, counted here, plus its metadata."""
        series = (await self._get("series", {"match[]": metric}))["data"]
        values: dict[str, set[str]] = {}
        for s in series:
            for k, v in s.items():
                if k != "__name__":
                    values.setdefault(k, set()).add(v)
        meta_all = (await self._get("metadata", {"metric": metric}))["data"]
        entries = meta_all.get(metric) or []
        meta = MetricMeta()
        if entries:
            try:
                meta = MetricMeta(
                    MetricType(entries[0].get("type", "unknown")), entries[0].get("help", "")
                )
            except ValueError:
                meta = MetricMeta(MetricType.UNKNOWN, entries[0].get("help", ""))
        return MetricSummary(
            metric, meta, len(series), {k: len(v) for k, v in sorted(values.items())}
        )

    async def targets(self) -> list[TargetStatus]:
        """`GET /api/v1/targets` (active targets)."""
        data = (await self._get("targets", {"state": "active"}))["data"]
        out = []
        for t in data.get("activeTargets", []):
            labels = _labels(t.get("labels", {}))
            try:
                health = TargetHealth(t.get("health", "unknown"))
            except ValueError:
                health = TargetHealth.UNKNOWN
            interval = t.get("scrapeInterval") or "0"
            timeout = t.get("scrapeTimeout") or "0"
            try:
                interval_ms, timeout_ms = parse_duration(interval), parse_duration(timeout)
            except Exception:
                interval_ms = timeout_ms = 0
            out.append(
                TargetStatus(
                    job=labels.get("job", t.get("scrapePool", "")),
                    url=t.get("scrapeUrl", ""),
                    labels=labels,
                    discovered_labels=_labels(t.get("discoveredLabels", {})),
                    health=health,
                    last_scrape_ms=_rfc3339_ms(t.get("lastScrape")),
                    last_duration_s=float(t.get("lastScrapeDuration", 0.0) or 0.0),
                    last_error=t.get("lastError", "") or "",
                    scrape_interval_ms=interval_ms,
                    scrape_timeout_ms=timeout_ms,
                    scrape_pool=t.get("scrapePool", ""),
                )
            )
        return out

    async def alerts(self) -> list[AlertInfo]:
        """`GET /api/v1/alerts`."""
        data = (await self._get("alerts"))["data"]
        out = []
        for a in data.get("alerts", []):
            labels = _labels(a.get("labels", {}))
            ann = a.get("annotations", {}) or {}
            try:
                value = float(a.get("value", "nan"))
            except (TypeError, ValueError):
                value = None
            out.append(
                AlertInfo(
                    name=labels.get("alertname"),
                    state=a.get("state", "firing"),
                    severity=labels.get("severity", "none"),
                    labels=labels,
                    active_since_ms=_rfc3339_ms(a.get("activeAt")),
                    value=value,
                    summary=ann.get("summary", "") or ann.get("description", ""),
                    runbook=ann.get("runbook_url", "") or ann.get("runbook", ""),
                )
            )
        out.sort(key=_alert_sort_key)
        return out

    async def rules(self) -> list[RuleInfo] | None:
        """`GET /api/v1/rules`."""
        data = (await self._get("rules"))["data"]
        out = []
        for g in data.get("groups", []):
            for r in g.get("rules", []):
                kind = r.get("type", "recording")
                out.append(
                    RuleInfo(
                        group=g.get("name", ""),
                        file=g.get("file", ""),
                        name=r.get("name", ""),
                        kind=kind,
                        expr=r.get("query", ""),
                        health=r.get("health", "unknown"),
                        state=r.get("state", "") if kind == "alerting" else "",
                        active=len(r.get("alerts", []) or []),
                        last_eval_ms=_rfc3339_ms(r.get("lastEvaluation")),
                        last_duration_s=float(r.get("evaluationTime", 0.0) or 0.0),
                        last_error=r.get("lastError", "") or "",
                    )
                )
        return out

    async def silence(self, alert: AlertInfo, duration_ms: int, comment: str) -> str:
        """Not over a Prometheus API: silences live in Alertmanager (or nightowl's own state)."""
        raise QueryError(
            "a Prometheus-compatible API has no silences; use its Alertmanager, "
            "or run the UI on the nightowl host",
            kind="unavailable",
        )

    async def ack(self, alert: AlertInfo, note: str) -> str:
        """Not over a Prometheus API (acks are nightowl's own alert state)."""
        raise QueryError(
            "a Prometheus-compatible API has no acknowledgements; run the UI on the nightowl host",
            kind="unavailable",
        )

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
