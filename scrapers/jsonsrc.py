"""JSON over HTTP: fetch a document (a CI system's API, say) and map its fields to metrics.

A :class:`JsonSource` GETs one URL every interval with httpx (the transport
can be injected, as everywhere in nightowl), parses the body as JSON and maps
field paths to metrics with :mod:`nightowl.scrapers._jsonpath`
(``jobs[*].duration`` fans out to one series per job, labels from sibling
fields). Every series it writes carries ``json="<name>"``.

A failed fetch (connection error, timeout, non-2xx status, body over the
size limit, malformed JSON) sets ``nightowl_json_up`` to 0, keeps the message
as the source's last error, and ends the mapped series with staleness
markers, as Prometheus does for a failed scrape. Secrets named by file
(`password_file`, `credentials_file`) are read at every fetch, so rotating
them needs no reload.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from nightowl.scrapers._jsonpath import JsonMapping, JsonMetric
from nightowl.scrapers._sources import BatchBuilder, PeriodicSource, StaleTracker
from nightowl.store.api import Appender

from nightowl import __version__
from nightowl.errors import ConfigError
from nightowl.model import MetricType, SampleBatch
from nightowl.timeutil import Clock

__all__ = ["JsonMetric", "JsonSource", "read_secret"]

#: Largest JSON body accepted by default.
DEFAULT_MAX_BODY = 16 * 1024 * 1024


def read_secret(value: str, path: str, where: str) -> str:
    """A secret given inline or in a file (the file wins; trailing newline stripped)."""
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", where=where) from None
    return value


class JsonSource(PeriodicSource):
    """Fetches a JSON document on an interval and writes the mapped fields.

    Args:
        name: The config's name (the `json` label).
        url: The URL fetched with GET.
        metrics: Field-to-metric mappings (:class:`JsonMetric` or config objects).
        appender: Where samples go.
        interval_ms: Time between fetches.
        timeout_ms: Limit for one fetch (connect + read).
        headers: Extra request headers.
        basic_auth: (username, password, password_file) or None.
        authorization: (type, credentials, credentials_file) or None.
        verify: TLS verification: True, False, or an SSLContext.
        transport: An httpx transport (tests inject one); None for the network.
        labels: Static labels added to every mapped series.
        max_body: Largest body accepted, in bytes.
        clock: Wall clock for timestamps.
    """

    kind = "json"

    def __init__(
        self,
        name: str,
        url: str,
        metrics: Sequence[Any],
        appender: Appender,
        *,
        interval_ms: int = 15_000,
        timeout_ms: int = 10_000,
        headers: Mapping[str, str] | None = None,
        basic_auth: tuple[str, str, str] | None = None,
        authorization: tuple[str, str, str] | None = None,
        verify: bool | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
        labels: Mapping[str, str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            name, appender, interval_ms=interval_ms, timeout_ms=timeout_ms, clock=clock
        )
        where = f"json_configs.{name}"
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"url must be http:// or https://, got {url!r}", where=f"{where}.url")
        self.url = url
        self.mapping = JsonMapping(metrics, f"{where}.metrics")
        if not len(self.mapping):
            raise ConfigError("a JSON source needs at least one metric", where=f"{where}.metrics")
        self.headers = dict(headers or {})
        self.basic_auth = basic_auth
        self.authorization = authorization
        self.labels = dict(labels or {})
        self.max_body = max_body
        self._verify = verify
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._stale = StaleTracker()
        self.last_status = 0

    @classmethod
    def from_config(
        cls, cfg: Any, appender: Appender, *, clock: Clock | None = None, **overrides: Any
    ) -> JsonSource:
        """Build from a `[[json_configs]]` entry (nightowl.config.JSONConfig or look-alike)."""
        ba = getattr(cfg, "basic_auth", None)
        au = getattr(cfg, "authorization", None)
        tls = getattr(cfg, "tls_config", None)
        kwargs: dict[str, Any] = {
            "interval_ms": cfg.interval,
            "timeout_ms": cfg.timeout,
            "headers": dict(getattr(cfg, "headers", {}) or {}),
            "basic_auth": (ba.username, ba.password, ba.password_file) if ba else None,
            "authorization": (
                (au.type or "Bearer", au.credentials, au.credentials_file) if au else None
            ),
        }
        if tls is not None and any(
            getattr(tls, k, None)
            for k in ("ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify")
        ):
            kwargs["verify"] = _ssl_context(tls, f"json_configs.{cfg.name}.tls_config")
        kwargs.update(overrides)
        return cls(cfg.name, cfg.url, cfg.metrics, appender, clock=clock, **kwargs)

    def describe(self) -> str:
        """The fetched URL."""
        return self.url

    def _client_for(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                verify=self._verify,
                follow_redirects=True,
                headers={"User-Agent": f"nightowl/{__version__}", "Accept": "application/json"},
            )
        return self._client

    def _request_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        where = f"json_configs.{self.name}"
        if self.authorization is not None:
            kind, creds, creds_file = self.authorization
            secret = read_secret(creds, creds_file, f"{where}.authorization")
            headers["Authorization"] = f"{kind} {secret}"
        return headers

    async def _fetch(self) -> Any:
        client = self._client_for()
        auth = None
        if self.basic_auth is not None:
            user, password, password_file = self.basic_auth
            where = f"json_configs.{self.name}.basic_auth"
            auth = httpx.BasicAuth(user, read_secret(password, password_file, where))
        timeout = httpx.Timeout(self.timeout_ms / 1000)
        request = client.build_request(
            "GET", self.url, headers=self._request_headers(), timeout=timeout
        )
        deadline = time.monotonic() + self.timeout_ms / 1000
        response = await client.send(request, stream=True, auth=auth or httpx.USE_CLIENT_DEFAULT)
        try:
            self.last_status = response.status_code
            if not 200 <= response.status_code < 300:
                raise _FetchError(f"HTTP status {response.status_code} {response.reason_phrase}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_body:
                    raise _FetchError(f"body larger than {self.max_body} bytes")
                if time.monotonic() > deadline:
                    raise _FetchError(f"timeout after {self.timeout_ms} ms reading the body")
                chunks.append(chunk)
        finally:
            await response.aclose()
        body = b"".join(chunks)
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _FetchError(f"malformed JSON: {exc}") from None
        except RecursionError:
            raise _FetchError("JSON nested too deeply") from None

    async def collect(self, now_ms: int) -> SampleBatch:
        """Fetch, map, and add the source's health series."""
        started = time.perf_counter()
        b = BatchBuilder(now_ms)
        added = skipped = 0
        error = ""
        self.last_status = 0
        try:
            async with asyncio.timeout(self.timeout_ms / 1000):  # the whole fetch, not per phase
                doc = await self._fetch()
        except (httpx.TimeoutException, TimeoutError):
            error = f"timeout after {self.timeout_ms} ms"
        except (httpx.HTTPError, _FetchError, ConfigError) as exc:
            error = str(exc) or type(exc).__name__
        else:
            added, skipped = self.mapping.apply(doc, b, self.labels | {"json": self.name})
        self._stale.mark(b)  # self-metrics below are always present, never stale
        src = {"json": self.name}
        b.meta("nightowl_json_up", MetricType.GAUGE, "1 if the last fetch and parse succeeded.")
        b.add("nightowl_json_up", src, 0.0 if error else 1.0)
        b.meta(
            "nightowl_json_duration_seconds",
            MetricType.GAUGE,
            "How long the last fetch took.",
            "seconds",
        )
        b.add("nightowl_json_duration_seconds", src, time.perf_counter() - started)
        b.meta(
            "nightowl_json_status_code",
            MetricType.GAUGE,
            "HTTP status of the last response (0: no response).",
        )
        b.add("nightowl_json_status_code", src, self.last_status)
        b.meta("nightowl_json_samples", MetricType.GAUGE, "Samples mapped from the last document.")
        b.add("nightowl_json_samples", src, added)
        b.meta(
            "nightowl_json_skipped_fields",
            MetricType.GAUGE,
            "Fields the last document matched that held no number.",
        )
        b.add("nightowl_json_skipped_fields", src, skipped)
        self.last_error = f"{self.url}: {error}" if error else ""
        self.healthy = not error
        return b.build()

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class _FetchError(Exception):
    """A fetch that reached the server but gave nothing usable."""


def _ssl_context(tls: Any, where: str) -> ssl.SSLContext:
    ca = getattr(tls, "ca_file", "") or None
    try:
        ctx = ssl.create_default_context(cafile=ca)
        cert = getattr(tls, "cert_file", "")
        if cert:
            ctx.load_cert_chain(cert, getattr(tls, "key_file", "") or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS files: {exc}", where=where) from None
    if getattr(tls, "insecure_skip_verify", False):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
