"""The Prometheus HTTP API's handlers, free of any web framework.

Each handler takes the request's form values (:class:`Params`: the query string
and, for POST, the urlencoded body, merged as Go's `ParseForm` does) and returns
an :class:`ApiResult` or raises :class:`~nightowl.server.envelope.ApiError`.
Parameters are parsed as Prometheus parses them (`web/api/v1/api.go`):

- times: a Unix float (rounded to the millisecond) or RFC 3339, plus
  Prometheus's min/max time strings; `start`/`end` default to all time where
  Prometheus lets them (series, labels, label values) and are required for
  `query_range`; `time` defaults to now;
- durations (`step`, `timeout`, `lookback_delta`): float seconds or a
  Prometheus duration (`1h30m`);
- `match[]` series selectors, each needing one matcher that does not match "";
- `limit`: a non-negative integer, 0 meaning no limit; a truncated answer
  carries the warning "results truncated due to limit".

The handlers are synchronous and may read the store: the web layer runs them in
worker threads. Error messages are Prometheus's own, so scripts that match on
them keep working.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nightowl.query.engine import Engine, EngineOptions
from nightowl.query.parser import parse_matchers
from nightowl.server.envelope import ApiError, RawJSON, query_data_json

from nightowl import __version__
from nightowl.errors import NightowlError, ParseError, QueryError
from nightowl.model import Labels, Matcher, TargetStatus, go_quote
from nightowl.timeutil import now_ms

__all__ = [
    "MAX_TIME_MS",
    "MIN_TIME_MS",
    "Api",
    "ApiResult",
    "Params",
    "format_rfc3339",
    "parse_duration_param",
    "parse_matcher_sets",
    "parse_time_param",
]

#: Prometheus's `MinTime` and `MaxTime` in ms, and how they are spelled as parameters.
MIN_TIME_MS = (-(2**63) // 1000 + 62135596801) * 1000
MAX_TIME_MS = ((2**63 - 1) // 1000 - 62135596801) * 1000 + 999
_MIN_TIME_TEXT = "-292273086-05-16T16:47:06Z"
_MAX_TIME_TEXT = "292277025-08-18T07:12:54.999999999Z"

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})\Z"
)
_PROM_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?\Z"
)
_DURATION_UNITS_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)\Z", re.IGNORECASE
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_MAX_INT64 = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EMPTY_MATCHERS = "match[] must contain at least one non-empty matcher"


class Params:
    """Form values of one request: name -> values in order (Go's `url.Values`)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, list[str]] = {}
        for k, v in pairs:
            self._values.setdefault(k, []).append(v)

    @classmethod
    def of(cls, **values: str | Sequence[str]) -> Params:
        """Build from keywords (tests): a list gives repeated values; `match` is `match[]`."""
        pairs = []
        for k, v in values.items():
            name = "match[]" if k == "match" else k
            for item in [v] if isinstance(v, str) else v:
                pairs.append((name, item))
        return cls(pairs)

    def get(self, name: str) -> str:
        """The first value of `name`, or "" (Go's `FormValue`)."""
        vals = self._values.get(name)
        return vals[0] if vals else ""

    def getall(self, name: str) -> list[str]:
        """Every value of `name`."""
        return list(self._values.get(name, ()))

    def __contains__(self, name: object) -> bool:
        return name in self._values


@dataclass(slots=True)
class ApiResult:
    """What a handler returns: `data` (JSON-able, may hold RawJSON) and annotations."""

    data: Any
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)


# -- parameter parsing -------------------------------------------------------------------


def _go_float(s: str) -> float | None:
    """`strconv.ParseFloat(s, 64)` for decimal text (None when Go would refuse it)."""
    if not _GO_FLOAT.match(s):
        return None
    try:
        return float(s)
    except ValueError:  # pragma: no cover - the pattern admits only valid floats
        return None


def parse_time(text: str) -> int:
    """A time parameter to Unix ms, as Prometheus's `parseTime` (raises ValueError)."""
    f = _go_float(text)
    if f is not None:
        # Go converts out-of-range floats to int64 without complaint; clamp to the
        # times Prometheus can represent instead (NaN: the earliest).
        if f != f or f * 1000 <= MIN_TIME_MS:
            return MIN_TIME_MS
        if f * 1000 >= MAX_TIME_MS:
            return MAX_TIME_MS
        whole = math.trunc(f)
        frac = round((f - whole) * 1000)
        return int(whole) * 1000 + int(frac)
    m = _RFC3339.match(text)
    if m:
        year, mon, day, hour, minute, sec = (int(g) for g in m.groups()[:6])
        frac, zone = m.group(7) or "", m.group(8)
        try:
            if zone == "Z":
                tz = UTC
            else:
                sign = 1 if zone[0] == "+" else -1
                zh, zm = int(zone[1:3]), int(zone[4:6])
                if zh > 23 or zm > 59:
                    raise ValueError
                from datetime import timezone

                tz = timezone(sign * timedelta(hours=zh, minutes=zm))
            dt = datetime(year, mon, day, hour, minute, sec, tzinfo=tz)
        except ValueError:
            pass
        else:
            delta = dt - _EPOCH
            ms = (delta.days * 86_400 + delta.seconds) * 1000
            return ms + int((frac + "000")[:3])
    if text == _MIN_TIME_TEXT:
        return MIN_TIME_MS
    if text == _MAX_TIME_TEXT:
        return MAX_TIME_MS
    raise ValueError(f"cannot parse {go_quote(text)} to a valid timestamp")


def parse_time_param(params: Params, name: str, default: int | None) -> int | None:
    """`name` as ms, `default` when absent (Prometheus's `parseTimeParam`); ApiError if bad."""
    text = params.get(name)
    if text == "":
        return default
    try:
        return parse_time(text)
    except ValueError as exc:
        raise _invalid(name, f"Invalid time value for '{name}': {exc}") from None


def parse_duration(text: str) -> int:
    """A duration parameter to ms, as Prometheus's `parseDuration` (raises ValueError)."""
    f = _go_float(text)
    if f is not None:
        ns = f * 1e9
        if ns != ns or ns > _MAX_INT64 or ns < -(2**63):
            if ns != ns:
                raise ValueError(f"cannot parse {go_quote(text)} to a valid duration")
            raise ValueError(
                f"cannot parse {go_quote(text)} to a valid duration. It overflows int64"
            )
        return int(ns) // 1_000_000 if ns >= 0 else -(int(-ns) // 1_000_000)
    m = _PROM_DURATION.match(text)
    if text and text != "0" and m and any(m.groups()):
        ms = sum(int(g) * u for g, u in zip(m.groups(), _DURATION_UNITS_MS, strict=True) if g)
        if ms * 1_000_000 > _MAX_INT64:
            raise ValueError(f"cannot parse {go_quote(text)} to a valid duration")
        return ms
    if text == "0":
        return 0
    raise ValueError(f"cannot parse {go_quote(text)} to a valid duration")


def parse_duration_param(params: Params, name: str) -> int | None:
    """`name` as ms (None when absent); ApiError naming the parameter if bad."""
    text = params.get(name)
    if text == "":
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise _invalid(name, str(exc)) from None


def _invalid(name: str, message: str) -> ApiError:
    return ApiError("bad_data", f"invalid parameter {go_quote(name)}: {message}")


def _parse_limit(params: Params) -> int | None:
    text = params.get("limit")
    if text == "":
        return None
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ApiError("bad_data", f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    n = int(text)
    if not -(2**63) <= n <= _MAX_INT64:
        raise ApiError("bad_data", f"strconv.Atoi: parsing {go_quote(text)}: value out of range")
    if n < 0:
        raise ApiError("bad_data", "limit must be non-negative")
    return n or None


def parse_matcher_sets(texts: Sequence[str]) -> list[list[Matcher]]:
    """Parse `match[]` values (ApiError bad_data on a bad or all-empty selector)."""
    sets = []
    for text in texts:
        try:
            matchers = parse_matchers(text)
        except ParseError as exc:
            if "at least one non-empty matcher" in exc.message:
                raise _invalid("match[]", _EMPTY_MATCHERS) from None
            raise _invalid("match[]", exc.message) from None
        except (ValueError, re.error) as exc:  # a regex Python cannot compile
            raise _invalid("match[]", f"invalid matcher {go_quote(text)}: {exc}") from None
        if all(m.matches_empty() for m in matchers):
            raise _invalid("match[]", _EMPTY_MATCHERS)
        sets.append(matchers)
    return sets


def _range(params: Params) -> tuple[int | None, int | None]:
    start = parse_time_param(params, "start", None)
    end = parse_time_param(params, "end", None)
    return _clip(start, MIN_TIME_MS), _clip(end, MAX_TIME_MS)


def _clip(t: int | None, edge: int) -> int | None:
    return None if t is None or t == edge else t


def format_rfc3339(ms: int | None) -> str:
    """A ms timestamp as Go's RFC3339Nano JSON time ("0001-01-01T00:00:00Z" for None/0)."""
    if not ms:
        return "0001-01-01T00:00:00Z"
    dt = _EPOCH + timedelta(milliseconds=ms)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = ms % 1000
    if frac:
        text += f".{frac:03d}".rstrip("0")
    return text + "Z"


def _go_duration(ms: int) -> str:
    """A duration as Prometheus's model.Duration prints it ("15s", "1m30s", "0s")."""
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in (
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ):
        if ms >= size:
            out += f"{ms // size}{unit}"
            ms %= size
    return out


def _truncate(items: list[Any], limit: int | None, warnings: list[str]) -> list[Any]:
    if limit is not None and len(items) > limit:
        warnings.append("results truncated due to limit")
        return items[:limit]
    return items


# -- the API -----------------------------------------------------------------------------


class Api:
    """The read side of the Prometheus HTTP API over one querier.

    Args:
        querier: The store (or any `Querier`).
        engine_options: Limits of every query (timeout, max samples).
        targets: Active scrape targets (None: no scrapers, an empty list).
        dropped_targets: Label sets of dropped targets.
        rules: The rule manager (anything with `groups()` and `alerts()`), or None.
        clock: Unix ms now (the default `time`).
        runtime_info: Extra facts for `/status/runtimeinfo` (e.g. reload state).
        retention: `storageRetention` text for runtimeinfo.
    """

    def __init__(
        self,
        querier: Any,
        *,
        engine_options: EngineOptions | None = None,
        targets: Callable[[], list[TargetStatus]] | None = None,
        dropped_targets: Callable[[], list[Labels]] | None = None,
        rules: Any = None,
        clock: Callable[[], int] = now_ms,
        runtime_info: Callable[[], Mapping[str, Any]] | None = None,
        retention: str = "",
    ) -> None:
        self.querier = querier
        self.engine_options = engine_options or EngineOptions()
        self.targets = targets
        self.dropped_targets = dropped_targets
        self.rules = rules
        self.clock = clock
        self.runtime_info_fn = runtime_info
        self.retention = retention
        self.started_ms = clock()
        self._lock = threading.Lock()
        self.query_count = 0
        self.query_seconds = 0.0
        self.query_failures = 0

    # -- queries ---------------------------------------------------------------------

    def _engine(self, params: Params) -> Engine:
        timeout_ms = parse_duration_param(params, "timeout")
        opts = self.engine_options
        if timeout_ms is not None and timeout_ms > 0:
            limit = opts.timeout_s
            t = timeout_ms / 1000
            opts = dataclasses.replace(opts, timeout_s=t if limit is None else min(t, limit))
        return Engine(self.querier, opts)

    def _run(self, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        ok = False
        try:
            result = fn()
            ok = True
            return result
        except ParseError as exc:
            raise _invalid("query", exc.message) from None
        except QueryError as exc:
            raise ApiError(exc.kind or "execution", exc.message) from None
        except RecursionError:
            raise ApiError("execution", "query is too deeply nested") from None
        except NightowlError as exc:
            raise ApiError("internal", exc.message) from None
        finally:
            with self._lock:
                self.query_count += 1
                self.query_seconds += time.perf_counter() - t0
                self.query_failures += not ok

    def query(self, params: Params) -> ApiResult:
        """`/api/v1/query`: an instant query."""
        t = parse_time_param(params, "time", None)
        if t is None:
            t = self.clock()
        engine = self._engine(params)
        lookback = parse_duration_param(params, "lookback_delta")
        query = params.get("query")
        res = self._run(lambda: engine.instant(query, t, lookback_delta_ms=lookback))
        return ApiResult(RawJSON(query_data_json(res.value)), res.warnings, res.infos)

    def query_range(self, params: Params) -> ApiResult:
        """`/api/v1/query_range`: a range query."""
        try:
            start = parse_time(params.get("start"))
        except ValueError as exc:
            raise _invalid("start", str(exc)) from None
        try:
            end = parse_time(params.get("end"))
        except ValueError as exc:
            raise _invalid("end", str(exc)) from None
        if end < start:
            raise _invalid("end", "end timestamp must not be before start time")
        try:
            step = parse_duration(params.get("step"))
        except ValueError as exc:
            raise _invalid("step", str(exc)) from None
        if step <= 0:
            raise _invalid(
                "step",
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer",
            )
        if (end - start) // step > 11_000:
            raise ApiError(
                "bad_data",
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)",
            )
        engine = self._engine(params)
        lookback = parse_duration_param(params, "lookback_delta")
        query = params.get("query")
        res = self._run(lambda: engine.range(query, start, end, step, lookback_delta_ms=lookback))
        return ApiResult(RawJSON(query_data_json(res.value)), res.warnings, res.infos)

    def query_exemplars(self, params: Params) -> ApiResult:
        """`/api/v1/query_exemplars`: always empty (nightowl stores no exemplars).

        The parameters are checked as Prometheus checks them, so a client's mistakes
        still come back as errors.
        """
        start = parse_time_param(params, "start", MIN_TIME_MS)
        end = parse_time_param(params, "end", MAX_TIME_MS)
        if start is not None and end is not None and end < start:
            raise ApiError("bad_data", "end timestamp must not be before start timestamp")
        from nightowl.query.parser import parse

        try:
            parse(params.get("query"))
        except ParseError as exc:
            raise ApiError("bad_data", exc.message) from None
        return ApiResult([])

    def format_query(self, params: Params) -> ApiResult:
        """`/api/v1/format_query`: the query pretty-printed."""
        from nightowl.query.parser import format_query

        query = params.get("query")
        try:
            return ApiResult(format_query(query))
        except ParseError as exc:
            raise _invalid("query", exc.message) from None

    # -- series and labels -----------------------------------------------------------

    def series(self, params: Params) -> ApiResult:
        """`/api/v1/series`: label sets of the series matching `match[]`."""
        texts = params.getall("match[]")
        if not texts:
            raise ApiError("bad_data", "no match[] parameter provided")
        limit = _parse_limit(params)
        mint, maxt = _range(params)
        sets = parse_matcher_sets(texts)
        found: set[Labels] = set()
        for matchers in sets:
            found.update(self.querier.series(matchers, mint, maxt))
        warnings: list[str] = []
        out = _truncate(sorted(found), limit, warnings)
        return ApiResult([dict(labels) for labels in out], warnings)

    def labels(self, params: Params) -> ApiResult:
        """`/api/v1/labels`: label names (of the series matching `match[]`, if given)."""
        limit = _parse_limit(params)
        mint, maxt = _range(params)
        sets = parse_matcher_sets(params.getall("match[]"))
        names: set[str] = set()
        for matchers in sets or [[]]:
            names.update(self.querier.label_names(matchers, mint, maxt))
        warnings: list[str] = []
        return ApiResult(_truncate(sorted(names), limit, warnings), warnings)

    def label_values(self, name: str, params: Params) -> ApiResult:
        """`/api/v1/label/<name>/values`."""
        if name.startswith("U__"):
            name = _unescape_name(name)
        if not _LABEL_NAME.match(name):
            raise ApiError("bad_data", f"invalid label name: {go_quote(name)}")
        limit = _parse_limit(params)
        mint, maxt = _range(params)
        sets = parse_matcher_sets(params.getall("match[]"))
        values: set[str] = set()
        for matchers in sets or [[]]:
            values.update(self.querier.label_values(name, matchers, mint, maxt))
        warnings: list[str] = []
        return ApiResult(_truncate(sorted(values), limit, warnings), warnings)

    def metadata(self, params: Params) -> ApiResult:
        """`/api/v1/metadata`: type, help and unit per metric family."""
        limit = _int_param(params, "limit")
        per_metric = _int_param(params, "limit_per_metric")
        metric = params.get("metric") or None
        meta = self.querier.metadata(metric)
        out: dict[str, Any] = {}
        for name in sorted(meta):
            if limit >= 0 and len(out) >= limit:
                break
            if per_metric == 0:
                continue
            m = meta[name]
            out[name] = [{"type": str(m.type), "help": m.help, "unit": m.unit}]
        return ApiResult(out)

    # -- targets, rules, alerts ------------------------------------------------------

    def targets_data(self, params: Params) -> ApiResult:
        """`/api/v1/targets`: active and dropped scrape targets."""
        state = params.get("state").lower()
        if state not in ("", "any", "active", "dropped"):
            state = "any"
        pool = params.get("scrapePool")
        active = [] if self.targets is None else list(self.targets())
        dropped = [] if self.dropped_targets is None else list(self.dropped_targets())
        data: dict[str, Any] = {}
        if state in ("", "any", "active"):
            data["activeTargets"] = [
                _target_json(t) for t in active if not pool or _pool(t) == pool
            ]
        if state in ("", "any", "dropped"):
            data["droppedTargets"] = [
                {"discoveredLabels": dict(labels)}
                for labels in dropped
                if not pool or labels.get("job") == pool
            ]
            counts: dict[str, int] = {}
            for labels in dropped:
                job = labels.get("job")
                counts[job] = counts.get(job, 0) + 1
            data["droppedTargetCounts"] = counts
        return ApiResult(data)

    def rules_data(self, params: Params) -> ApiResult:
        """`/api/v1/rules`: rule groups with their rules' health and alerts."""
        typ = params.get("type").lower()
        if typ not in ("", "alert", "record"):
            raise _invalid("type", f"not supported value {go_quote(typ)}")
        names = set(params.getall("rule_name[]"))
        group_names = set(params.getall("rule_group[]"))
        files = set(params.getall("file[]"))
        exclude_alerts = params.get("exclude_alerts").lower() == "true"
        groups = [] if self.rules is None else self.rules.groups()
        out = []
        for g in groups:
            if group_names and g.name not in group_names:
                continue
            if files and g.file not in files:
                continue
            rules = []
            for r in g.rules:
                is_alert = hasattr(r, "active")
                if (typ == "alert" and not is_alert) or (typ == "record" and is_alert):
                    continue
                if names and r.name not in names:
                    continue
                rules.append(_rule_json(r, exclude_alerts))
            if (typ or names) and not rules:
                continue
            out.append(
                {
                    "name": g.name,
                    "file": g.file,
                    "rules": rules,
                    "interval": g.interval_ms / 1000,
                    "limit": getattr(g.spec, "limit", 0),
                    "evaluationTime": g.last_duration_s,
                    "lastEvaluation": format_rfc3339(g.last_eval_ms),
                }
            )
        return ApiResult({"groups": out})

    def alerts_data(self, params: Params) -> ApiResult:
        """`/api/v1/alerts`: every pending and firing alert."""
        alerts = [] if self.rules is None else self.rules.alerts()
        return ApiResult({"alerts": [_alert_json(a) for a in alerts]})

    # -- status ----------------------------------------------------------------------

    def buildinfo(self, params: Params) -> ApiResult:
        """`/api/v1/status/buildinfo`."""
        return ApiResult(
            {
                "version": __version__,
                "revision": "",
                "branch": "",
                "buildUser": "nightowl",
                "buildDate": "",
                "goVersion": f"python{sys.version.split()[0]}",
            }
        )

    def runtimeinfo(self, params: Params) -> ApiResult:
        """`/api/v1/status/runtimeinfo`."""
        data: dict[str, Any] = {
            "startTime": format_rfc3339(self.started_ms),
            "CWD": os.getcwd(),
            "reloadConfigSuccess": True,
            "lastConfigTime": format_rfc3339(self.started_ms),
            "corruptionCount": 0,
            "goroutineCount": threading.active_count(),
            "GOMAXPROCS": os.cpu_count() or 1,
            "GOMEMLIMIT": 0,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": self.retention,
        }
        if self.runtime_info_fn is not None:
            data.update(self.runtime_info_fn())
        return ApiResult(data)

    def tsdb(self, params: Params) -> ApiResult:
        """`/api/v1/status/tsdb`: cardinality statistics of the whole database."""
        limit = 10
        text = params.get("limit")
        if text:
            if not re.fullmatch(r"\d+", text) or int(text) < 1:
                raise ApiError("bad_data", "limit must be a positive number")
            limit = int(text)
        all_series = self.querier.series([], None, None)
        by_name: dict[str, int] = {}
        by_pair: dict[str, int] = {}
        values_by_label: dict[str, set[str]] = {}
        for labels in all_series:
            name = labels.get("__name__")
            by_name[name] = by_name.get(name, 0) + 1
            for k, v in labels:
                pair = f"{k}={v}"
                by_pair[pair] = by_pair.get(pair, 0) + 1
                values_by_label.setdefault(k, set()).add(v)
        mint = maxt = None
        stats_fn = getattr(self.querier, "database_stats", None)
        chunks = 0
        if stats_fn is not None:
            st = stats_fn(0)
            mint, maxt, chunks = st.oldest_ms, st.newest_ms, st.chunks

        def top(counts: Mapping[str, int]) -> list[dict[str, Any]]:
            items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
            return [{"name": k, "value": v} for k, v in items]

        return ApiResult(
            {
                "headStats": {
                    "numSeries": len(all_series),
                    "numLabelPairs": len(by_pair),
                    "chunkCount": chunks,
                    "minTime": mint if mint is not None else 0,
                    "maxTime": maxt if maxt is not None else 0,
                },
                "seriesCountByMetricName": top(by_name),
                "labelValueCountByLabelName": top({k: len(v) for k, v in values_by_label.items()}),
                "memoryInBytesByLabelName": top(
                    {k: sum(len(x) for x in v) for k, v in values_by_label.items()}
                ),
                "seriesCountByLabelValuePair": top(by_pair),
            }
        )


def _int_param(params: Params, name: str) -> int:
    text = params.get(name)
    if text == "":
        return -1
    if not re.fullmatch(r"[+-]?\d{1,18}", text):
        raise ApiError("bad_data", f"{name} must be a number")
    return int(text)


def _unescape_name(name: str) -> str:
    """Prometheus's `U__` value escaping of UTF-8 label names (`_2e_` is '.', `__` is '_')."""
    body = name[3:]
    out = []
    i = 0
    while i < len(body):
        if body.startswith("__", i):
            out.append("_")
            i += 2
            continue
        if body[i] == "_":
            j = body.find("_", i + 1)
            if j > i + 1 and re.fullmatch(r"[0-9a-fA-F]+", body[i + 1 : j]):
                cp = int(body[i + 1 : j], 16)
                if cp <= 0x10FFFF:
                    out.append(chr(cp))
                    i = j + 1
                    continue
            return name
        out.append(body[i])
        i += 1
    return "".join(out)


def _pool(t: TargetStatus) -> str:
    return t.scrape_pool or t.job


def _target_json(t: TargetStatus) -> dict[str, Any]:
    return {
        "discoveredLabels": dict(t.discovered_labels),
        "labels": dict(t.labels),
        "scrapePool": _pool(t),
        "scrapeUrl": t.url,
        "globalUrl": t.url,
        "lastError": t.last_error,
        "lastScrape": format_rfc3339(t.last_scrape_ms),
        "lastScrapeDuration": t.last_duration_s,
        "health": str(t.health),
        "scrapeInterval": _go_duration(t.scrape_interval_ms),
        "scrapeTimeout": _go_duration(t.scrape_timeout_ms),
    }


def _alert_value(v: float) -> str:
    """Go's `FormatFloat(v, 'e', -1, 64)`, as Prometheus writes alert values ("1e+00")."""
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    v = float(v)
    for prec in range(17):
        cand = f"{v:.{prec}e}"
        if float(cand) == v:
            break
    mant, _, exp = cand.partition("e")
    e = int(exp)
    return f"{mant}e{'+' if e >= 0 else '-'}{abs(e):02d}"


def _alert_json(a: Any) -> dict[str, Any]:
    return {
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "state": str(a.state),
        "activeAt": format_rfc3339(a.active_at_ms),
        "value": _alert_value(a.value),
    }


def _rule_json(r: Any, exclude_alerts: bool) -> dict[str, Any]:
    common = {
        "name": r.name,
        "query": r.expr,
        "health": r.health if r.health in ("ok", "err", "unknown") else "unknown",
        "lastError": r.last_error,
        "evaluationTime": r.last_duration_s,
        "lastEvaluation": format_rfc3339(r.last_eval_ms),
    }
    if not hasattr(r, "active"):
        return {**common, "labels": dict(getattr(r, "labels", {}) or {}), "type": "recording"}
    alerts = [a for a in r.active.values() if str(a.state) != "inactive"]
    states = {str(a.state) for a in alerts}
    state = "firing" if "firing" in states else "pending" if "pending" in states else "inactive"
    out = {
        "state": state,
        **common,
        "duration": r.hold_ms / 1000,
        "keepFiringFor": r.keep_firing_for_ms / 1000,
        "labels": dict(r.spec.labels),
        "annotations": dict(r.spec.annotations),
        "type": "alerting",
    }
    if not exclude_alerts:
        out["alerts"] = [_alert_json(a) for a in alerts]
    return out
