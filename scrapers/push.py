"""A receiver compatible with the Prometheus Pushgateway's push API.

CI jobs and other short-lived processes push their metrics with any
Pushgateway client (``prometheus_client.push_to_gateway``, ``curl
--data-binary``); the daemon's HTTP server hands each request under
``/metrics/`` to :meth:`PushReceiver.handle`. This module is framework-free
(only server/ imports starlette): ``handle`` takes the method, the raw path,
the body, the headers and the query string, and returns a
:class:`PushResponse` (status, headers, body) for the server to send.

API, as the Pushgateway's (github.com/prometheus/pushgateway, README "API"):

- ``/metrics/job/<job>{/<label>/<value>}`` names a *group* by its grouping key;
  ``<name>@base64/<value>`` carries a URL-safe base64 value (padding optional;
  ``=`` alone is the empty value), the only way to send a ``/``;
- ``PUT`` replaces the whole group (an empty body empties it), ``POST``
  replaces only the metric families present in the body, ``DELETE`` removes
  the group (202; deleting an unknown group is no error);
- bodies are the Prometheus text format (OpenMetrics when the Content-Type
  says so), optionally ``Content-Encoding: gzip``; the protobuf format is
  refused with 415;
- labels of the grouping key override the same labels in the body; pushed
  samples must not carry timestamps; a family must keep its type across
  groups; a bad push answers 400 with the reason and records
  ``push_failure_time_seconds`` for the group;
- every group has ``push_time_seconds`` and ``push_failure_time_seconds``
  (Unix seconds of the last successful / failed PUT or POST; 0: never).

Storage semantics. A Pushgateway keeps groups in memory and Prometheus scrapes
them; here the receiver writes a group's samples to the store at once when it
is pushed, and re-writes every group every `interval` (default 15 s) with the
current time, so pushed values stay visible to PromQL for as long as the group
exists, exactly as they would when scraped from a Pushgateway. Replaced or
deleted series end with staleness markers at once.

Time to live (nightowl's extension; the Pushgateway has none, see
pushgateway#19): a push may say how long its group lives after this push,
either as the query parameter ``?ttl=<duration>`` (``curl .../job/x?ttl=1h``)
or the header ``Nightowl-Ttl: <duration>`` (for clients that cannot add a
query, such as ``prometheus_client`` with a custom handler). Durations use
Prometheus syntax; ``0`` means no expiry. Without either, the receiver's
`default_ttl` applies (0 by default: groups live until deleted, as in the
Pushgateway). An expired group is removed and its series marked stale.
Groups live in memory; with a `persistence_file` they are saved (atomically)
after every change and loaded at start, like the Pushgateway's
``--persistence.file``, so a restart of the daemon keeps them (TTLs included).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import math
import os
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import numpy as np
from nightowl.scrapers import exposition
from nightowl.store.api import Appender

from nightowl.errors import ParseError, UserError
from nightowl.model import METRIC_NAME, STALE_NAN, Labels, MetricMeta, MetricType, SampleBatch
from nightowl.timeutil import Clock, SystemClock, parse_duration

__all__ = ["TTL_HEADER", "PushGroupInfo", "PushReceiver", "PushResponse"]

log = logging.getLogger("nightowl.scrapers.push")

#: The request header that sets a group's time to live.
TTL_HEADER = "nightowl-ttl"
#: Largest (decompressed) push body accepted by default.
DEFAULT_MAX_BODY = 16 * 1024 * 1024

_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created", "_info", "_gcount", "_gsum")
_PUSH_TIME = "push_time_seconds"
_PUSH_FAILURE_TIME = "push_failure_time_seconds"


@dataclass(slots=True)
class PushResponse:
    """What the HTTP server should answer."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class PushGroupInfo:
    """One pushed group, for listings (API, targets view)."""

    grouping_key: Labels
    series: int
    push_time_s: float
    push_failure_time_s: float
    expires_at_ms: int | None


@dataclass(slots=True)
class _Family:
    meta: MetricMeta
    samples: dict[Labels, float]  # full labels (with __name__ and the grouping key) -> value


@dataclass(slots=True)
class _Group:
    key: Labels
    families: dict[str, _Family] = field(default_factory=dict)
    push_time_s: float = 0.0
    failure_time_s: float = 0.0
    expires_at_ms: int | None = None
    live: set[Labels] = field(default_factory=set)


class _BadPush(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _text(status: int, message: str, **headers: str) -> PushResponse:
    return PushResponse(
        status, {"Content-Type": "text/plain; charset=utf-8", **headers}, message.encode() + b"\n"
    )


def parse_grouping_key(path: str) -> Labels:
    """The grouping key of a push path (`/metrics/job/<job>{/<label>/<value>}`).

    Segments are percent-decoded; `<label>@base64` values are URL-safe base64.
    Raises ``_BadPush`` (status 400/404) on a malformed path.
    """
    prefix = "/metrics/"
    if not path.startswith(prefix):
        raise _BadPush(404, f"not a push path: {path!r}")
    parts = path[len(prefix) :].split("/")
    if len(parts) < 2 or parts[0] not in ("job", "job@base64"):
        raise _BadPush(404, "push paths look like /metrics/job/<job>{/<label>/<value>}")
    if len(parts) % 2:
        raise _BadPush(400, "grouping key must be /<label>/<value> pairs after the job")
    pairs: dict[str, str] = {}
    for i in range(0, len(parts), 2):
        raw_name, raw_value = unquote(parts[i]), parts[i + 1]
        name, b64 = raw_name, False
        if raw_name.endswith("@base64"):
            name, b64 = raw_name[: -len("@base64")], True
        if not _LABEL_NAME_RE.match(name) or name.startswith("__"):
            raise _BadPush(400, f"invalid label name {name!r} in the grouping key")
        if name in pairs:
            raise _BadPush(400, f"label {name!r} appears twice in the grouping key")
        if b64:
            if raw_value == "":
                raise _BadPush(400, f"empty value for {name!r}: encode it as {name}@base64/=")
            enc = unquote(raw_value).rstrip("=")
            try:
                padded = (enc + "=" * (-len(enc) % 4)).encode("ascii")
                value = base64.b64decode(padded, altchars=b"-_", validate=True).decode("utf-8")
            except (binascii.Error, ValueError, UnicodeError):
                raise _BadPush(400, f"invalid base64 value for label {name!r}") from None
        else:
            value = unquote(raw_value)
            if value == "":
                raise _BadPush(
                    400, f"empty value for label {name!r}: use {name}@base64/= to push one"
                )
        pairs[name] = value
    if not pairs["job"]:
        raise _BadPush(400, "the job name must not be empty")
    return Labels(pairs.items())


def _family_of(name: str, metadata: Mapping[str, MetricMeta]) -> str:
    if name in metadata:
        return name
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in metadata:
            return name[: -len(suffix)]
    return name


class PushReceiver:
    """The in-memory group registry behind the push endpoints, writing to the store.

    Args:
        appender: Where pushed samples go.
        interval_ms: How often every group is re-written (keeps it fresh in PromQL).
        default_ttl_ms: Time to live of a group whose push names none; 0: no expiry.
        max_body: Largest (decompressed) body, in bytes; bigger pushes get 413.
        persistence_file: Where groups are saved after every change and loaded from at
            start (None: memory only, like a Pushgateway without `--persistence.file`).
        clock: Wall clock (tests pass a fake one).
    """

    def __init__(
        self,
        appender: Appender,
        *,
        interval_ms: int = 15_000,
        default_ttl_ms: int = 0,
        max_body: int = DEFAULT_MAX_BODY,
        persistence_file: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if interval_ms <= 0:
            raise UserError("push re-write interval must be positive")
        self.appender = appender
        self.interval_ms = interval_ms
        self.default_ttl_ms = default_ttl_ms
        self.max_body = max_body
        self.clock: Clock = clock or SystemClock()
        self.persistence_file = Path(persistence_file) if persistence_file else None
        self._groups: dict[Labels, _Group] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        if self.persistence_file is not None:
            self._groups = _load_groups(self.persistence_file)

    @classmethod
    def from_config(
        cls,
        cfg: Any,
        appender: Appender,
        *,
        interval_ms: int = 15_000,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> PushReceiver:
        """Build from the `[push]` section (nightowl.config.PushConfig or alike).

        `interval_ms` is how often groups are re-written: pass the global
        scrape interval. A `persistence_file` key, when the section has one,
        keeps groups across restarts.
        """
        kwargs: dict[str, Any] = {
            "interval_ms": interval_ms,
            "default_ttl_ms": getattr(cfg, "default_ttl", 0) or 0,
        }
        if getattr(cfg, "persistence_file", ""):
            kwargs["persistence_file"] = cfg.persistence_file
        kwargs.update(overrides)
        return cls(appender, clock=clock, **kwargs)

    # -- HTTP -------------------------------------------------------------------------

    async def handle(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        query: str = "",
    ) -> PushResponse:
        """Serve one request to `/metrics/...`.

        Args:
            method: PUT, POST or DELETE (others get 405).
            path: The request path as sent (percent-encoded; pass ASGI's `raw_path`).
            body: The request body as received (gzip is undone here).
            headers: Request headers (any case): Content-Type, Content-Encoding, Nightowl-Ttl.
            query: The raw query string (``ttl=1h``).
        """
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        method = method.upper()
        try:
            key = parse_grouping_key(path)
        except _BadPush as exc:
            return _text(exc.status, exc.message)
        if method not in ("PUT", "POST", "DELETE"):
            return _text(405, f"method {method} not allowed here", Allow="PUT, POST, DELETE")
        async with self._lock:
            if method == "DELETE":
                await self._delete(key)
                await self._save()
                return PushResponse(202)
            now = self.clock.now_ms()
            try:
                ttl_ms = self._ttl(hdrs, query)
                families = self._parse_body(key, body, hdrs)
                self._check_consistency(key, families)
            except _BadPush as exc:
                group = self._groups.get(key)
                if group is None:  # a group known only for failing (visible in PromQL)
                    group = self._groups[key] = _Group(key)
                    if self.default_ttl_ms > 0:
                        group.expires_at_ms = now + self.default_ttl_ms
                group.failure_time_s = now / 1000
                log.info("push to %s refused: %s", key, exc.message)
                stored = await self._write_logged(group, now)
                await self._save()
                return _text(exc.status, exc.message + ("" if stored else " (and storing failed)"))
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(key)
            if method == "PUT":
                group.families = families
            else:
                group.families.update(families)
            group.push_time_s = now / 1000
            group.expires_at_ms = now + ttl_ms if ttl_ms > 0 else None
            stored = await self._write_logged(group, now)
            await self._save()
            if not stored:
                return _text(500, "the push was accepted but storing it failed; see the log")
            return PushResponse(200)

    async def _write_logged(self, group: _Group, now: int) -> bool:
        try:
            await self._write([group], now)
        except Exception:  # the store failed: tell the client, keep serving
            log.exception("push to %s: store failed", group.key)
            return False
        return True

    def _ttl(self, hdrs: Mapping[str, str], query: str) -> int:
        raw = None
        if query:
            values = parse_qs(query, keep_blank_values=True).get("ttl")
            if values:
                raw = values[-1]
        if raw is None:
            raw = hdrs.get(TTL_HEADER)
        if raw is None:
            return self.default_ttl_ms
        try:
            return parse_duration(raw)
        except UserError as exc:
            raise _BadPush(400, f"invalid ttl: {exc}") from None

    def _parse_body(self, key: Labels, body: bytes, hdrs: Mapping[str, str]) -> dict[str, _Family]:
        ctype = hdrs.get("content-type", "")
        if "application/vnd.google.protobuf" in ctype:
            raise _BadPush(415, "the protobuf push format is not supported; push the text format")
        encoding = hdrs.get("content-encoding", "").strip().lower()
        if encoding == "gzip":
            try:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                body = d.decompress(body, self.max_body + 1)
            except zlib.error as exc:
                raise _BadPush(400, f"body is not valid gzip: {exc}") from None
            if not d.eof and len(body) <= self.max_body:
                raise _BadPush(400, "body is not valid gzip: truncated")
        elif encoding not in ("", "identity"):
            raise _BadPush(415, f"unsupported Content-Encoding {encoding!r}")
        if len(body) > self.max_body:
            raise _BadPush(413, f"body larger than {self.max_body} bytes")
        try:
            parsed = exposition.parse(
                body, openmetrics=exposition.content_type_is_openmetrics(ctype)
            )
        except ParseError as exc:
            where = f"line {exc.line}: " if exc.line else ""
            raise _BadPush(400, f"text format parsing error in {where}{exc.message}") from None
        if len(parsed) and bool(np.any(parsed.has_timestamp)):
            raise _BadPush(400, "pushed metrics must not have timestamps")
        grouping = dict(key)
        families: dict[str, _Family] = {}
        for labels, _t, v in parsed.samples():
            name = labels.name
            if name in (_PUSH_TIME, _PUSH_FAILURE_TIME):
                continue  # the receiver's own, as the Pushgateway overrides them
            pairs = dict(labels)
            pairs.update(grouping)
            full = Labels(pairs.items())
            fam_name = _family_of(name, parsed.metadata)
            fam = families.get(fam_name)
            if fam is None:
                fam = families[fam_name] = _Family(
                    parsed.metadata.get(fam_name, MetricMeta(MetricType.UNKNOWN)), {}
                )
            if full in fam.samples:
                raise _BadPush(400, f"duplicate sample {full} (after applying the grouping key)")
            fam.samples[full] = v
        for fam_name, meta in parsed.metadata.items():
            if fam_name not in families and fam_name not in (_PUSH_TIME, _PUSH_FAILURE_TIME):
                families[fam_name] = _Family(meta, {})
        return families

    def _check_consistency(self, key: Labels, families: Mapping[str, _Family]) -> None:
        for other in self._groups.values():
            if other.key == key:
                continue
            for name, fam in families.items():
                theirs = other.families.get(name)
                if (
                    theirs is not None
                    and fam.meta.type != theirs.meta.type
                    and MetricType.UNKNOWN not in (fam.meta.type, theirs.meta.type)
                ):
                    raise _BadPush(
                        400,
                        f"metric {name!r} is pushed as {fam.meta.type} but group "
                        f"{other.key} has it as {theirs.meta.type}",
                    )

    # -- writing ----------------------------------------------------------------------

    async def _delete(self, key: Labels) -> None:
        group = self._groups.pop(key, None)
        if group is not None and group.live:
            await self._append_stale(group.live, self.clock.now_ms())

    async def _append_stale(self, series: set[Labels], now: int) -> None:
        ordered = sorted(series)
        n = len(ordered)
        await self.appender.append(
            SampleBatch(
                ordered,
                np.arange(n, dtype=np.int64),
                np.full(n, now, np.int64),
                np.full(n, STALE_NAN, np.float64),
            )
        )

    async def _write(self, groups: list[_Group], now: int) -> None:
        series: list[Labels] = []
        values: list[float] = []
        metadata: dict[str, MetricMeta] = {
            _PUSH_TIME: MetricMeta(
                MetricType.GAUGE, "Last Unix time when changing this group succeeded."
            ),
            _PUSH_FAILURE_TIME: MetricMeta(
                MetricType.GAUGE, "Last Unix time when changing this group failed."
            ),
        }
        for g in groups:
            current: set[Labels] = set()
            for fname, fam in g.families.items():
                if fam.meta.type is not MetricType.UNKNOWN or fam.meta.help:
                    metadata.setdefault(fname, fam.meta)
                for labels, v in fam.samples.items():
                    series.append(labels)
                    values.append(v)
                    current.add(labels)
            for name, v in ((_PUSH_TIME, g.push_time_s), (_PUSH_FAILURE_TIME, g.failure_time_s)):
                labels = Labels([*g.key, (METRIC_NAME, name)])
                series.append(labels)
                values.append(v)
                current.add(labels)
            for labels in g.live - current:
                series.append(labels)
                values.append(STALE_NAN)
            g.live = current
        n = len(series)
        if n:
            await self.appender.append(
                SampleBatch(
                    series,
                    np.arange(n, dtype=np.int64),
                    np.full(n, now, np.int64),
                    np.array(values, np.float64),
                    metadata,
                )
            )

    async def expire(self) -> int:
        """Remove groups whose TTL has passed (their series go stale); returns how many."""
        async with self._lock:
            now = self.clock.now_ms()
            gone = [
                g
                for g in self._groups.values()
                if g.expires_at_ms is not None and g.expires_at_ms <= now
            ]
            for g in gone:
                del self._groups[g.key]
                log.info("pushed group %s expired", g.key)
            stale: set[Labels] = set().union(*(g.live for g in gone)) if gone else set()
            if stale:
                await self._append_stale(stale, now)
            if gone:
                await self._save()
            return len(gone)

    async def refresh(self) -> None:
        """Expire what is due, then re-write every group at the current time."""
        await self.expire()
        async with self._lock:
            if self._groups:
                await self._write(list(self._groups.values()), self.clock.now_ms())

    async def _save(self) -> None:
        if self.persistence_file is None:
            return
        data = _dump_groups(self._groups.values())
        try:
            await asyncio.to_thread(_write_atomic, self.persistence_file, data)
        except OSError as exc:  # pushes keep working; the file catches up on the next change
            log.warning("cannot save pushed groups to %s: %s", self.persistence_file, exc)

    # -- lifecycle --------------------------------------------------------------------

    async def run(self) -> None:
        """Refresh every `interval_ms` until cancelled; store errors are logged, not fatal."""
        while True:
            try:
                await self.refresh()  # at once first: groups loaded from the file show up
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-writing pushed groups failed")
            await asyncio.sleep(self.interval_ms / 1000)

    def start(self) -> None:
        """Start :meth:`run` on the running loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name="nightowl-push-refresh"
            )

    async def stop(self) -> None:
        """Stop the refresh task (groups are kept in memory until the process ends)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def groups(self) -> list[PushGroupInfo]:
        """The current groups, sorted by grouping key."""
        return [
            PushGroupInfo(
                g.key,
                sum(len(f.samples) for f in g.families.values()),
                g.push_time_s,
                g.failure_time_s,
                g.expires_at_ms,
            )
            for g in sorted(self._groups.values(), key=lambda g: g.key)
        ]


# --------------------------------------------------------------------------- persistence


def _fmt_float(v: float) -> str:
    return (
        repr(v) if math.isfinite(v) else ("NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf"))
    )


def _dump_groups(groups: Iterable[_Group]) -> bytes:
    out = []
    for g in groups:
        out.append(
            {
                "key": [list(p) for p in g.key],
                "push_time": g.push_time_s,
                "failure_time": g.failure_time_s,
                "expires_at_ms": g.expires_at_ms,
                "families": {
                    name: {
                        "type": str(f.meta.type),
                        "help": f.meta.help,
                        "unit": f.meta.unit,
                        "samples": [
                            [[list(p) for p in lbl], _fmt_float(v)] for lbl, v in f.samples.items()
                        ],
                    }
                    for name, f in g.families.items()
                },
            }
        )
    return json.dumps({"version": 1, "groups": out}).encode()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _load_groups(path: Path) -> dict[Labels, _Group]:
    """Groups saved by a previous run; a missing file is empty, a damaged one is logged."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable push persistence file %s: %s", path, exc)
        return {}
    groups: dict[Labels, _Group] = {}
    try:
        if doc.get("version") != 1:
            raise ValueError(f"unknown version {doc.get('version')!r}")
        for raw in doc["groups"]:
            key = Labels((str(k), str(v)) for k, v in raw["key"])
            fams = {}
            for name, f in raw["families"].items():
                meta = MetricMeta(MetricType(f["type"]), str(f["help"]), str(f["unit"]))
                samples = {
                    Labels((str(k), str(v)) for k, v in lbl): float(value)
                    for lbl, value in f["samples"]
                }
                fams[str(name)] = _Family(meta, samples)
            exp = raw.get("expires_at_ms")
            groups[key] = _Group(
                key,
                fams,
                float(raw["push_time"]),
                float(raw["failure_time"]),
                int(exp) if exp is not None else None,
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("ignoring damaged push persistence file %s: %s", path, exc)
        return {}
    return groups
