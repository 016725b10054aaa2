"""Sending alerts out: Alertmanager API v2 and webhook receivers.

Rule groups hand due alerts (:class:`OutAlert`) to a :class:`Notifier`, which
fans them out:

- :class:`AlertmanagerSender`: ``POST /api/v2/alerts`` to every configured
  Alertmanager, like Prometheus's notifier: a bounded queue that drops the
  oldest alerts when full, batches of at most `max_batch`, external labels
  already applied by the group, ``startsAt``/``endsAt``/``generatorURL``.
  Firing alerts are re-sent by the groups every resend delay, so an
  Alertmanager that was down gets the current state when it returns.
- :class:`WebhookReceiver`: Alertmanager's own grouping and webhook payload
  (``version: "4"``) for receivers that take it directly (chat bridges, pagers):
  group by labels, ``group_wait`` / ``group_interval`` / ``repeat_interval``,
  retries with exponential backoff. Its outbox keeps at most one undelivered
  notification per group (a newer one replaces it), so a dead receiver costs
  bounded memory, and when it returns it gets each group's latest state once:
  nothing lost, nothing repeated. A notification leaves the outbox only after
  a 2xx answer. Configured by ``[[alerting.webhooks]]``: ``matchers`` route a
  subset of alerts to it, ``send_resolved`` and ``max_alerts`` as in
  Alertmanager's ``webhook_config``.

Silenced alerts (``is_muted``) are not sent but stay visible everywhere else. A
receiver asks again at each flush, so an alert silenced after its first page is
not repeated at ``repeat_interval``, and pages again once the silence ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from nightowl.scrapers.relabel import RelabelRule, compile_rules, relabel_labels

from nightowl.errors import NightowlError, UserError
from nightowl.model import Labels, Matcher

__all__ = [
    "AlertmanagerSender",
    "Notifier",
    "OutAlert",
    "WebhookReceiver",
    "alertmanager_payload",
    "alertmanager_urls",
    "notifier_from_config",
    "rfc3339",
    "route_matchers",
]

log = logging.getLogger(__name__)


def rfc3339(ms: int) -> str:
    """Unix ms as RFC 3339 UTC with milliseconds (`2026-01-02T03:04:05.678Z`)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class OutAlert:
    """One alert as sent to Alertmanager (labels include alertname and external labels)."""

    labels: Labels
    annotations: dict[str, str]
    starts_at_ms: int
    ends_at_ms: int
    generator_url: str = ""
    resolved: bool = False
    flapping: bool = False

    @property
    def fingerprint(self) -> str:
        """A stable id of the label set (16 hex digits)."""
        h = hashlib.blake2b(digest_size=8)
        for k, v in self.labels:
            h.update(f"{k}\xff{v}\xff".encode())
        return h.hexdigest()

    def to_api(self) -> dict[str, Any]:
        """The Alertmanager API v2 `postableAlert` object."""
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": rfc3339(self.starts_at_ms),
            "endsAt": rfc3339(self.ends_at_ms),
            "generatorURL": self.generator_url,
        }


def alertmanager_payload(alerts: Sequence[OutAlert]) -> list[dict[str, Any]]:
    """The JSON body of `POST /api/v2/alerts`."""
    return [a.to_api() for a in alerts]


# ---------------------------------------------------------------------- Alertmanager


class AlertmanagerSender:
    """Posts alerts to one or more Alertmanagers (API v2).

    Args:
        urls: Alertmanager base URLs (`http://127.0.0.1:9093`, path prefix included).
        queue_capacity: most alerts waiting; the oldest are dropped beyond it.
        max_batch: most alerts per request.
        timeout_s: per request.
        transport: an httpx transport (tests inject one).
        headers / verify: extra request headers; TLS verification (an SSL
            context, or a bool).
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        queue_capacity: int = 10_000,
        max_batch: int = 256,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
        verify: Any = True,
    ) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.queue: deque[OutAlert] = deque()
        self.capacity = queue_capacity
        self.max_batch = max_batch
        self.dropped = 0
        self.sent = 0
        self.errors = 0
        self.last_error = ""
        self._client = httpx.AsyncClient(
            timeout=timeout_s, transport=transport, headers=headers or {}, verify=verify
        )
        self._wake = asyncio.Event()

    def send(self, alerts: Sequence[OutAlert]) -> None:
        """Queue alerts (never blocks; drops the oldest when full)."""
        for a in alerts:
            if len(self.queue) >= self.capacity:
                self.queue.popleft()
                self.dropped += 1
            self.queue.append(a)
        self._wake.set()

    async def flush(self) -> bool:
        """Send everything queued now; True if every Alertmanager took every batch."""
        ok = True
        while self.queue:
            batch = [self.queue.popleft() for _ in range(min(self.max_batch, len(self.queue)))]
            body = alertmanager_payload(batch)
            any_ok = False
            for url in self.urls:
                try:
                    r = await self._client.post(f"{url}/api/v2/alerts", json=body)
                    if 200 <= r.status_code < 300:
                        any_ok = True
                        continue
                    self.last_error = f"{url}: HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    self.last_error = f"{url}: {exc}"
                self.errors += 1
                ok = False
                log.warning("alertmanager: %s", self.last_error)
            if any_ok:
                self.sent += len(batch)
        return ok

    async def run(self) -> None:
        """Send whatever is queued as it arrives, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


# ---------------------------------------------------------------------- webhook receivers


@dataclass(slots=True)
class _AggGroup:
    key: str
    labels: dict[str, str]
    alerts: dict[str, OutAlert] = field(default_factory=dict)
    created_ms: int = 0
    last_flush_ms: int = 0
    flushed_once: bool = False
    sent_state: dict[str, bool] = field(default_factory=dict)
    """fingerprint -> resolved? as of the last notification."""


@dataclass(slots=True)
class _Outgoing:
    group_key: str
    payload: dict[str, Any]
    attempts: int = 0
    next_try_ms: int = 0
    group_labels: dict[str, str] = field(default_factory=dict)
    firing: list[str] = field(default_factory=list)
    """Fingerprints still firing once this is delivered (what a restart must remember)."""


class WebhookReceiver:
    """Groups alerts and posts Alertmanager's webhook payload to one URL.

    Args:
        name: the receiver name in payloads.
        url: where to POST.
        group_by: label names alerts are grouped by (`["..."]` = every label).
        group_wait_ms / group_interval_ms / repeat_interval_ms: Alertmanager's timers.
        max_outbox: most groups with an undelivered notification.
        backoff_ms / max_backoff_ms: retry delays (doubling).
        clock: ms clock (tests drive it).
        external_url: `externalURL` in the payload.
        state: where delivered state is remembered across restarts (an
            :class:`~nightowl.store.alertstate.AlertStateDB`; None: memory only).
        matchers: only alerts matching all of them are taken (None: every alert).
        send_resolved: notify resolves (else resolved alerts leave silently).
        max_alerts: most alerts per payload, the rest counted in
            `truncatedAlerts` (0: no limit).
        is_muted: True for a silenced alert; asked at every flush.
        headers / verify: extra request headers; TLS verification (an SSL
            context, or a bool).
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        group_by: Sequence[str] = ("alertname",),
        group_wait_ms: int = 30_000,
        group_interval_ms: int = 300_000,
        repeat_interval_ms: int = 4 * 3_600_000,
        max_outbox: int = 1000,
        backoff_ms: int = 500,
        max_backoff_ms: int = 60_000,
        timeout_s: float = 10.0,
        clock: Callable[[], int] | None = None,
        external_url: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
        state: Any = None,
        matchers: Sequence[Matcher] | None = None,
        send_resolved: bool = True,
        max_alerts: int = 0,
        is_muted: Callable[[Labels], bool] | None = None,
        headers: Mapping[str, str] | None = None,
        verify: Any = True,
    ) -> None:
        self.name = name
        self.url = url
        self.group_by = list(group_by)
        self.group_wait_ms = group_wait_ms
        self.group_interval_ms = group_interval_ms
        self.repeat_interval_ms = repeat_interval_ms
        self.max_outbox = max_outbox
        self.backoff_ms = backoff_ms
        self.max_backoff_ms = max_backoff_ms
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.external_url = external_url
        self.groups: dict[str, _AggGroup] = {}
        self.outbox: OrderedDict[str, _Outgoing] = OrderedDict()
        self.delivered: list[dict[str, Any]] = []
        """Payloads delivered (the newest 100), for inspection."""
        self.dropped = 0
        self.failures = 0
        self.matchers = list(matchers or ())
        self.send_resolved = send_resolved
        self.max_alerts = max_alerts
        self.is_muted = is_muted
        self._client = httpx.AsyncClient(
            timeout=timeout_s, transport=transport, headers=dict(headers or {}), verify=verify
        )
        self.state = state
        if state is not None:
            now = self.clock()
            for saved in state.notify_groups(name):
                self.groups[saved.group_key] = _AggGroup(
                    saved.group_key,
                    dict(saved.labels),
                    created_ms=now,
                    last_flush_ms=saved.last_flush_ms,
                    flushed_once=True,
                    sent_state=dict(saved.sent_state),
                )

    def _group_labels(self, labels: Labels) -> dict[str, str]:
        if self.group_by == ["..."]:
            return labels.to_dict()
        return {k: labels.get(k) for k in self.group_by if labels.get(k)}

    def add(self, alerts: Sequence[OutAlert]) -> None:
        """Take alerts (firing or resolved) into their aggregation groups."""
        now = self.clock()
        for a in alerts:
            if self.matchers and not all(m.matches(a.labels.get(m.name)) for m in self.matchers):
                continue
            gl = self._group_labels(a.labels)
            key = "{}:" + json.dumps(gl, sort_keys=True)
            g = self.groups.get(key)
            if g is None:
                if a.resolved:
                    continue  # a resolve for a group we never notified
                g = self.groups[key] = _AggGroup(key, gl, created_ms=now)
            g.alerts[a.fingerprint] = a

    def _payload(self, g: _AggGroup, alerts: Sequence[OutAlert]) -> dict[str, Any]:
        alerts = sorted(alerts, key=lambda a: tuple(a.labels))
        firing = [a for a in alerts if not a.resolved]
        common_labels = _common([a.labels.to_dict() for a in alerts])
        common_ann = _common([a.annotations for a in alerts])
        truncated = 0
        if self.max_alerts and len(alerts) > self.max_alerts:
            truncated = len(alerts) - self.max_alerts
            alerts = alerts[: self.max_alerts]
        return {
            "version": "4",
            "groupKey": g.key,
            "truncatedAlerts": truncated,
            "status": "firing" if firing else "resolved",
            "receiver": self.name,
            "groupLabels": dict(g.labels),
            "commonLabels": common_labels,
            "commonAnnotations": common_ann,
            "externalURL": self.external_url,
            "alerts": [
                {
                    "status": "resolved" if a.resolved else "firing",
                    "labels": a.labels.to_dict(),
                    "annotations": dict(a.annotations),
                    "startsAt": rfc3339(a.starts_at_ms),
                    "endsAt": rfc3339(a.ends_at_ms) if a.resolved else "0001-01-01T00:00:00Z",
                    "generatorURL": a.generator_url,
                    "fingerprint": a.fingerprint,
                }
                for a in alerts
            ],
        }

    def tick(self) -> None:
        """Flush aggregation groups whose timers are due into the outbox."""
        now = self.clock()
        for key, g in list(self.groups.items()):
            if not self.send_resolved:
                self._drop_resolved(key, g)
            if not g.alerts:
                continue  # restored from the state file; waiting for its alerts to return
            if not g.flushed_once:
                if now - g.created_ms < self.group_wait_ms:
                    continue
            elif now - g.last_flush_ms < self.group_interval_ms:
                continue
            shown = {
                fp: a
                for fp, a in g.alerts.items()
                if a.resolved or self.is_muted is None or not self.is_muted(a.labels)
            }
            if not shown:
                continue  # every alert of the group is silenced: nothing to say
            state = {fp: a.resolved for fp, a in shown.items()}
            changed = state != g.sent_state
            repeat = g.flushed_once and now - g.last_flush_ms >= self.repeat_interval_ms
            if not changed and not repeat:
                if g.flushed_once and not any(not r for r in state.values()):
                    del self.groups[key]  # all resolved and told: forget the group
                continue
            firing = sorted(fp for fp, r in state.items() if not r)
            self._enqueue(key, self._payload(g, list(shown.values())), dict(g.labels), firing)
            g.sent_state = state
            g.flushed_once = True
            g.last_flush_ms = now
            # resolved alerts are reported once; then they leave the group
            for fp in [fp for fp, r in state.items() if r]:
                del g.alerts[fp]
            g.sent_state = {fp: r for fp, r in state.items() if not r}
            if not g.alerts:
                del self.groups[key]

    def _drop_resolved(self, key: str, g: _AggGroup) -> None:
        """With `send_resolved` off: resolved alerts leave their group untold."""
        gone = [fp for fp, a in g.alerts.items() if a.resolved]
        if not gone:
            return
        for fp in gone:
            del g.alerts[fp]
            g.sent_state.pop(fp, None)
        if self.state is not None and g.flushed_once:
            from nightowl.store.alertstate import NotifyGroupState

            firing = {fp: False for fp, r in g.sent_state.items() if not r}
            self.state.save_notify_group(
                self.name, NotifyGroupState(key, dict(g.labels), firing, g.last_flush_ms)
            )
        if not g.alerts:
            del self.groups[key]

    def _enqueue(
        self, key: str, payload: dict[str, Any], labels: dict[str, str], firing: list[str]
    ) -> None:
        old = self.outbox.pop(key, None)
        if old is not None:
            # a newer state of the same group replaces the undelivered one; keep resolves it held
            payload = _merge(old.payload, payload)
        elif len(self.outbox) >= self.max_outbox:
            self.outbox.popitem(last=False)
            self.dropped += 1
        self.outbox[key] = _Outgoing(key, payload, group_labels=labels, firing=firing)

    async def deliver(self) -> int:
        """Try every due outbox entry once; the number delivered."""
        now = self.clock()
        done = 0
        for key, item in list(self.outbox.items()):
            if item.next_try_ms > now:
                continue
            try:
                r = await self._client.post(self.url, json=item.payload)
                ok = 200 <= r.status_code < 300
            except httpx.HTTPError:
                ok = False
            if ok:
                if self.outbox.get(key) is item:
                    del self.outbox[key]
                self.delivered.append(item.payload)
                del self.delivered[:-100]
                done += 1
                if self.state is not None:
                    from nightowl.store.alertstate import NotifyGroupState

                    self.state.save_notify_group(
                        self.name,
                        NotifyGroupState(
                            key, item.group_labels, dict.fromkeys(item.firing, False), now
                        ),
                    )
            else:
                self.failures += 1
                item.attempts += 1
                delay = min(self.max_backoff_ms, self.backoff_ms * 2 ** (item.attempts - 1))
                item.next_try_ms = now + delay
        return done

    async def run(self, poll_s: float = 0.25) -> None:
        """Tick and deliver until cancelled."""
        while True:
            self.tick()
            await self.deliver()
            await asyncio.sleep(poll_s)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def _common(maps: list[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    out = dict(maps[0])
    for m in maps[1:]:
        out = {k: v for k, v in out.items() if m.get(k) == v}
    return out


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new`, plus resolved alerts that only the undelivered `old` carried."""
    have = {a["fingerprint"] for a in new["alerts"]}
    extra = [a for a in old["alerts"] if a["status"] == "resolved" and a["fingerprint"] not in have]
    if not extra:
        return new
    merged = dict(new)
    merged["alerts"] = [*new["alerts"], *extra]
    return merged


class Notifier:
    """Fans due alerts out to Alertmanagers and webhook receivers, minus muted ones.

    Args:
        alertmanagers: senders to Alertmanager API v2.
        webhooks: webhook receivers.
        is_muted: True for an alert that a silence covers (not sent; still shown).
        relabel_rules: `[alerting] alert_relabel_configs`, compiled: applied to every
            alert's labels before it is sent (and before silences are checked, as an
            Alertmanager would see the relabeled alert); an alert a rule drops is not sent.
    """

    def __init__(
        self,
        alertmanagers: Sequence[AlertmanagerSender] = (),
        webhooks: Sequence[WebhookReceiver] = (),
        is_muted: Callable[[Labels], bool] | None = None,
        relabel_rules: Sequence[RelabelRule] = (),
    ) -> None:
        self.alertmanagers = list(alertmanagers)
        self.webhooks = list(webhooks)
        self.is_muted = is_muted
        self.relabel_rules = list(relabel_rules)
        self._tasks: list[asyncio.Task[None]] = []

    def _relabeled(self, alerts: list[OutAlert]) -> list[OutAlert]:
        out = []
        for a in alerts:
            labels = relabel_labels(a.labels, self.relabel_rules)
            if labels is not None:
                out.append(dataclasses.replace(a, labels=Labels(labels.items())))
        return out

    def __call__(self, alerts: list[OutAlert]) -> None:
        """The :data:`~nightowl.alerts.group.NotifyFn`: route alerts out."""
        if self.relabel_rules:
            alerts = self._relabeled(alerts)
        if self.is_muted is not None:
            alerts = [a for a in alerts if a.resolved or not self.is_muted(a.labels)]
        if not alerts:
            return
        for am in self.alertmanagers:
            am.send(alerts)
        for wh in self.webhooks:
            wh.add(alerts)

    def start(self) -> None:
        """Start the send loops on the running event loop."""
        for am in self.alertmanagers:
            self._tasks.append(asyncio.create_task(am.run()))
        for wh in self.webhooks:
            self._tasks.append(asyncio.create_task(wh.run()))

    async def stop(self) -> None:
        """Flush Alertmanager queues once, stop the loops, close clients."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        for am in self.alertmanagers:
            await am.flush()
            await am.aclose()
        for wh in self.webhooks:
            await wh.aclose()


def route_matchers(texts: Sequence[str]) -> list[Matcher]:
    """Matchers from Alertmanager route strings: `name="v"`, `name!~"re"`, or `{a="b", c="d"}`.

    Unlike a silence, a route may match the empty string (`team!="db"` alone).
    Raises :class:`UserError` naming the bad matcher.
    """
    from nightowl.query.parser import parse_matchers

    out: list[Matcher] = []
    for text in texts:
        t = text.strip()
        inner = t[1:-1] if t.startswith("{") and t.endswith("}") else t
        if not inner.strip():
            raise UserError(f"bad matcher {text!r}: empty")
        # a placeholder matcher lets `x!="y"` alone parse (PromQL wants one non-empty)
        try:
            parsed = parse_matchers('{__route__="1", ' + inner + "}")
        except NightowlError as exc:
            # the position would count the placeholder: leave it out
            why = re.sub(r"^\d+:\d+: (parse error: )?", "", exc.message)
            raise UserError(f"bad matcher {text!r}: {why}") from None
        out.extend(m for m in parsed if m.name != "__route__")
    return out


def _auth_headers(cfg: Any) -> dict[str, str]:
    """`Authorization` from a section's basic_auth / authorization (secrets read here)."""
    import base64

    headers: dict[str, str] = {}
    basic = getattr(cfg, "basic_auth", None)
    if basic is not None:
        pw = _read_secret(basic.password, basic.password_file)
        token = base64.b64encode(f"{basic.username}:{pw}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    authz = getattr(cfg, "authorization", None)
    if authz is not None:
        cred = _read_secret(authz.credentials, authz.credentials_file)
        headers["Authorization"] = f"{authz.type} {cred}"
    return headers


def _verify(tls: Any) -> Any:
    """What httpx's `verify` takes for a `tls_config` (True: the system's CAs)."""
    if tls is None or not (tls.ca_file or tls.cert_file or tls.insecure_skip_verify):
        return True
    import ssl

    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    return ctx


def _read_secret(value: str, file: str) -> str:
    if file:
        from pathlib import Path

        return Path(file).expanduser().read_text(encoding="utf-8").strip()
    return value


def alertmanager_urls(am: Any) -> list[str]:
    """Base URLs of one `[[alerting.alertmanagers]]` entry (scheme, targets, path_prefix)."""
    prefix = "/" + str(getattr(am, "path_prefix", "/") or "/").strip("/")
    prefix = "" if prefix == "/" else prefix
    return [f"{am.scheme}://{target}{prefix}" for sc in am.static_configs for target in sc.targets]


def notifier_from_config(
    alerting: Any,
    is_muted: Callable[[Labels], bool] | None = None,
    state: Any = None,
    *,
    external_url: str = "",
) -> Notifier:
    """A :class:`Notifier` for the config's ``[alerting]`` section.

    `alerting` is :class:`nightowl.config.AlertingConfig`: API v2 senders for
    ``[[alerting.alertmanagers]]`` and a :class:`WebhookReceiver` for each
    ``[[alerting.webhooks]]``, with basic auth / authorization headers and TLS
    settings applied (secrets in files are read here). `state` (an
    :class:`~nightowl.store.alertstate.AlertStateDB`) keeps what each webhook
    receiver delivered, so a restart neither re-pages nor loses a resolve.
    `is_muted` (silences) is applied to both.

    Raises:
        UserError: a secret file or TLS file cannot be read.
    """
    senders: list[AlertmanagerSender] = []
    for i, am in enumerate(getattr(alerting, "alertmanagers", ())):
        where = f"alerting.alertmanagers[{i}]"
        headers, verify = _client_options(am, where)
        urls = alertmanager_urls(am)
        if urls:
            senders.append(
                AlertmanagerSender(
                    urls, timeout_s=am.timeout / 1000, headers=headers, verify=verify
                )
            )
    webhooks: list[WebhookReceiver] = []
    for i, wh in enumerate(getattr(alerting, "webhooks", ())):
        where = f"alerting.webhooks[{i}]"
        headers, verify = _client_options(wh, where)
        try:
            matchers = route_matchers(wh.matchers)
        except UserError as exc:
            raise UserError(f"{where}.matchers: {exc.message}") from None
        webhooks.append(
            WebhookReceiver(
                wh.name,
                wh.url,
                group_by=wh.group_by,
                group_wait_ms=wh.group_wait,
                group_interval_ms=wh.group_interval,
                repeat_interval_ms=wh.repeat_interval,
                timeout_s=wh.timeout / 1000,
                external_url=external_url,
                state=state,
                matchers=matchers,
                send_resolved=wh.send_resolved,
                max_alerts=wh.max_alerts,
                is_muted=is_muted,
                headers={**wh.headers, **headers},
                verify=verify,
            )
        )
    relabel_rules = compile_rules(
        getattr(alerting, "alert_relabel_configs", ()), where="alerting.alert_relabel_configs"
    )
    return Notifier(senders, webhooks, is_muted=is_muted, relabel_rules=relabel_rules)


def _client_options(cfg: Any, where: str) -> tuple[dict[str, str], Any]:
    try:
        return _auth_headers(cfg), _verify(getattr(cfg, "tls_config", None))
    except (OSError, ValueError) as exc:
        raise UserError(f"{where}: {exc}") from None
