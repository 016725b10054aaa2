"""nightowl's configuration: one TOML file turned into a tree of frozen dataclasses.

Who reads what:

=====================  =====================================================
caller                 reads
=====================  =====================================================
`nightowl` (TUI)       ``load_config(args.config)``: [tui], [[dashboards]], all sources
`nightowl daemon`      ``load_config(...)``; reloads build a new Config and keep the
                       old one when the new file is bad
`nightowl check config`  :func:`load_config` + :func:`file_warnings`
scrapers/              [global], [[scrape_configs]], [host], [[log_configs]],
                       [[command_configs]], [[json_configs]], [[report_configs]], [push]
store/                 [storage] (plain values, taken from :class:`StorageConfig`)
alerts/                rule_files, [[rule_groups]], [alerting]
server/                [server], [[remote_write]]
=====================  =====================================================

Why it is shaped this way:

* The key names mirror prometheus.yml wherever Prometheus has the concept, so a
  user translates theirs line by line (docs/configuration.md shows how).
* Every section is a frozen dataclass with a docstring under each field. The
  loader (:class:`_Builder`) is generic: it walks the dataclass fields and their
  type hints, so adding a key to a section is one annotated line plus its
  docstring. Field ``metadata`` carries what a type hint cannot say: the TOML key
  when it is a Python keyword (``global``, ``for``), value kinds (duration, size,
  regex, host:port, PromQL...), inheritance from [global], secrets.
* Durations are int milliseconds (:func:`nightowl.timeutil.parse_duration`),
  sizes int bytes (:func:`nightowl.timeutil.parse_size`); file paths are
  resolved against the config file's folder, as Prometheus does.
* Validation never stops at the first problem: every problem is collected with
  its key path (``scrape_configs[2].scrape_interval``) and all of them are raised
  together in one :class:`ConfigValidationError`, one per line.
* Secrets (passwords, tokens, credentials) are kept out of ``repr`` and a file
  holding any of them inline is refused when it is world-readable.

An empty file, and no file at all, give :func:`default_config`: the built-in
host scraper every 5 s into ``nightowl.paths.default_db_path()``.

Adding a key: one annotated field with a docstring under it, in its section's
dataclass; the same key with a comment in config.example.toml (same section);
then refresh the reference in docs/configuration.md with
``python -m nightowl.config`` (paste between the markers). tests/test_config.py
fails until all three agree.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import itertools
import re
import socket
import stat
import sys
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import tomli_w

from nightowl.errors import ConfigError, UserError
from nightowl.paths import default_config_path, default_db_path
from nightowl.timeutil import format_duration, parse_duration, parse_size

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_LISTEN",
    "HOST_COLLECTORS",
    "PANEL_UNITS",
    "AlertingConfig",
    "AlertmanagerConfig",
    "Authorization",
    "BasicAuth",
    "BearerToken",
    "CommandConfig",
    "Config",
    "ConfigValidationError",
    "DashboardConfig",
    "EventQueryConfig",
    "FileSDConfig",
    "GlobalConfig",
    "HostConfig",
    "JSONConfig",
    "JSONMetricConfig",
    "LogConfig",
    "LogMetricConfig",
    "LoggingConfig",
    "PanelConfig",
    "Problem",
    "PushConfig",
    "QueueConfig",
    "RelabelConfig",
    "RemoteWriteConfig",
    "ReportConfig",
    "RuleConfig",
    "RuleGroupConfig",
    "ScrapeConfig",
    "ServerConfig",
    "ServerTLSConfig",
    "StaticConfig",
    "StorageConfig",
    "TLSConfig",
    "ThresholdConfig",
    "TuiConfig",
    "WebhookConfig",
    "config_to_dict",
    "config_to_toml",
    "default_config",
    "field_docs",
    "file_warnings",
    "load_config",
    "parse_config",
    "schema_key_paths",
    "schema_markdown",
    "secret_key_paths",
    "section_to_dict",
    "with_overrides",
]

#: Where `nightowl daemon` listens when neither `[server] listen` nor `--listen` say.
#: 9095 sits beside Prometheus (9090), the Pushgateway (9091) and Alertmanager (9093),
#: so nightowl can run on a host that already runs any of them.
DEFAULT_LISTEN = "127.0.0.1:9095"

#: The built-in host scraper's collectors (named after node_exporter's).
HOST_COLLECTORS = (
    "cpu",
    "diskstats",
    "filesystem",
    "loadavg",
    "meminfo",
    "netdev",
    "pressure",
    "processes",
    "stat",
    "time",
    "uname",
    "vmstat",
    "filefd",
    "entropy",
    "os",
    "netclass",
    "netstat",
    "sockstat",
    "softnet",
    "conntrack",
    "arp",
    "udp_queues",
    "timex",
    "textfile",
)

#: Units a dashboard panel may declare (the same list as nightowl.tui.format.UNITS,
#: which formats values with them; config cannot import the UI package).
PANEL_UNITS = (
    "",
    "none",
    "short",
    "percent",
    "percentunit",
    "ratio",
    "bytes",
    "bytes/s",
    "bits/s",
    "seconds",
    "ms",
    "ops/s",
    "reqps",
    "celsius",
)

#: Prometheus's default histogram buckets (client_golang's DefBuckets).
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

RelabelAction = Literal[
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
]
Role = Literal["read", "write", "admin"]


def _m(
    *,
    key: str | None = None,
    kind: str | None = None,
    secret: bool = False,
    required: bool = False,
    inherit: str | None = None,
    positive: bool = False,
    minimum: float | None = None,
    default_doc: str | None = None,
    keys: str | None = None,
    hide: bool = False,
    writes: bool = False,
) -> dict[str, Any]:
    """Field metadata understood by the loader, the writer and the docs generator.

    Args:
        key: TOML key when it differs from the field name (Python keywords).
        kind: Value kind beyond the type hint: duration, size, regex, hostport,
            listen, url, path, promql, metric_name, label_name, bcrypt, jsonpath.
        secret: Never shown; a file holding it inline must not be world-readable.
        required: The key must be present (and non-empty).
        inherit: Default taken from another loaded value ("global.scrape_interval").
        positive: Numbers and durations must be > 0.
        minimum: Numbers must be >= this.
        default_doc: How the docs should describe a computed default.
        keys: Kind of the keys of a table-valued field (label_name).
        hide: Values may be secret: error messages name their type, never the value.
        writes: A file nightowl creates (its absence is no warning).
    """
    meta: dict[str, Any] = {}
    for name, value in (
        ("key", key),
        ("kind", kind),
        ("inherit", inherit),
        ("minimum", minimum),
        ("default_doc", default_doc),
        ("keys", keys),
    ):
        if value is not None:
            meta[name] = value
    for name, flag in (
        ("secret", secret),
        ("required", required),
        ("positive", positive),
        ("hide", hide),
        ("writes", writes),
    ):
        if flag:
            meta[name] = True
    return meta


# --------------------------------------------------------------------------------------
# Shared building blocks (HTTP client auth, TLS, relabeling, static targets)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic authentication for an outgoing request (Prometheus `basic_auth`)."""

    username: str = field(default="", metadata=_m(required=True))
    """User name sent to the target."""
    password: str = field(default="", repr=False, metadata=_m(secret=True))
    """Password inline. Prefer `password_file`; a file holding it must not be world-readable."""
    password_file: str = field(default="", metadata=_m(kind="path"))
    """File whose content (trailing newline stripped) is the password; read at each request."""


@dataclass(frozen=True)
class Authorization:
    """An `Authorization: <type> <credentials>` header (Prometheus `authorization`)."""

    type: str = "Bearer"
    """Scheme put before the credentials; `Basic` is refused, use `basic_auth`."""
    credentials: str = field(default="", repr=False, metadata=_m(secret=True))
    """The credentials inline (a token). Prefer `credentials_file`."""
    credentials_file: str = field(default="", metadata=_m(kind="path"))
    """File whose content (trailing newline stripped) is the credentials."""


@dataclass(frozen=True)
class TLSConfig:
    """TLS settings for outgoing connections (Prometheus `tls_config`)."""

    ca_file: str = field(default="", metadata=_m(kind="path"))
    """CA certificate(s) to verify the server with; the system's store when empty."""
    cert_file: str = field(default="", metadata=_m(kind="path"))
    """Client certificate for mutual TLS (needs `key_file`)."""
    key_file: str = field(default="", metadata=_m(kind="path"))
    """Private key of the client certificate (needs `cert_file`)."""
    server_name: str = ""
    """Server name to verify the certificate against (and to send as SNI)."""
    insecure_skip_verify: bool = False
    """Do not verify the server's certificate at all. For tests only."""


@dataclass(frozen=True)
class RelabelConfig:
    """One relabeling step, with Prometheus's semantics and defaults."""

    source_labels: tuple[str, ...] = field(default=(), metadata=_m(keys="label_name"))
    """Labels whose values are joined with `separator` and matched against `regex`."""
    separator: str = ";"
    """Put between the values of `source_labels`."""
    target_label: str = ""
    """Label written by replace, hashmod, lowercase, uppercase, keepequal, dropequal."""
    regex: str = field(default="(.*)", metadata=_m(kind="regex"))
    """Regular expression, fully anchored, matched against the joined source values."""
    modulus: int = field(default=0, metadata=_m(minimum=0))
    """Modulus for `hashmod`."""
    replacement: str = "$1"
    """Value written on a match; `$1`, `${1}`, `$name` expand the regex's groups."""
    action: RelabelAction = "replace"
    """replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep,
    lowercase, uppercase."""


@dataclass(frozen=True)
class StaticConfig:
    """A fixed list of targets sharing labels (Prometheus `static_configs`)."""

    targets: tuple[str, ...] = field(default=(), metadata=_m(kind="hostport"))
    """Targets as `host:port` (IPv6 in brackets: `[::1]:9100`)."""
    labels: dict[str, str] = field(default_factory=dict, metadata=_m(keys="label_name"))
    """Labels added to every series scraped from these targets."""


@dataclass(frozen=True)
class FileSDConfig:
    """Targets read from JSON or YAML files in Prometheus's file_sd format."""

    files: tuple[str, ...] = field(default=(), metadata=_m(kind="path", required=True))
    """Files (globs allowed: `targets/*.json`) holding `[{targets, labels}]` lists."""
    refresh_interval: int = field(default=300_000, metadata=_m(kind="duration", positive=True))
    """How often the files are checked for changes."""


# --------------------------------------------------------------------------------------
# [global]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalConfig:
    """Defaults for every scrape job and rule group (prometheus.yml's `global`)."""

    scrape_interval: int = field(default=15_000, metadata=_m(kind="duration", positive=True))
    """How often targets are scraped unless their job says otherwise."""
    scrape_timeout: int = field(default=10_000, metadata=_m(kind="duration", positive=True))
    """How long a scrape may take unless its job says otherwise."""
    evaluation_interval: int = field(default=15_000, metadata=_m(kind="duration", positive=True))
    """How often rule groups are evaluated unless their group says otherwise."""
    external_labels: dict[str, str] = field(default_factory=dict, metadata=_m(keys="label_name"))
    """Labels added to alerts sent out, federation and remote-write (never to the local store)."""


# --------------------------------------------------------------------------------------
# [[scrape_configs]]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScrapeConfig:
    """One scrape job: a set of Prometheus/OpenMetrics targets scraped alike."""

    job_name: str = field(default="", metadata=_m(required=True))
    """Name of the job; the `job` label of its series. Unique within the file."""
    scrape_interval: int = field(
        default=15_000,
        metadata=_m(kind="duration", positive=True, inherit="global.scrape_interval"),
    )
    """How often this job's targets are scraped."""
    scrape_timeout: int = field(
        default=10_000, metadata=_m(kind="duration", positive=True, inherit="global.scrape_timeout")
    )
    """How long one scrape may take; at most `scrape_interval`."""
    metrics_path: str = "/metrics"
    """HTTP path the metrics are fetched from."""
    scheme: Literal["http", "https"] = "http"
    """http or https."""
    params: dict[str, tuple[str, ...]] = field(default_factory=dict, metadata=_m())
    """URL query parameters: `{ module = ["http_2xx"] }`."""
    honor_labels: bool = False
    """On a clash with server-side labels keep the target's (else they become `exported_*`)."""
    honor_timestamps: bool = True
    """Use the timestamps the target exposes (else the scrape time)."""
    static_configs: tuple[StaticConfig, ...] = ()
    """Fixed targets with their labels."""
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    """Targets read from files (file-based service discovery)."""
    relabel_configs: tuple[RelabelConfig, ...] = ()
    """Relabeling applied to each target before it is scraped."""
    metric_relabel_configs: tuple[RelabelConfig, ...] = ()
    """Relabeling applied to each scraped series before it is stored."""
    sample_limit: int = field(default=0, metadata=_m(minimum=0))
    """Most samples one scrape may return after metric relabeling; 0 means no limit."""
    sample_limit_mode: Literal["fail", "truncate"] = "fail"
    """Over `sample_limit`: fail the whole scrape (as Prometheus) or keep the first ones."""
    label_limit: int = field(default=0, metadata=_m(minimum=0))
    """Most labels a series may have; 0 means no limit. Over it the scrape fails."""
    target_limit: int = field(default=0, metadata=_m(minimum=0))
    """Most targets the job may have after relabeling; 0 means no limit. Over it every
    target of the job fails (`up` 0, "target_limit exceeded"), as in Prometheus."""
    label_name_length_limit: int = field(default=0, metadata=_m(minimum=0))
    """Longest label name allowed; 0 means no limit."""
    label_value_length_limit: int = field(default=0, metadata=_m(minimum=0))
    """Longest label value allowed; 0 means no limit."""
    body_size_limit: int = field(default=0, metadata=_m(kind="size"))
    """Largest uncompressed response body (`10MiB`); 0 means no limit."""
    basic_auth: BasicAuth | None = None
    """Basic authentication for the targets."""
    authorization: Authorization | None = None
    """Authorization header for the targets."""
    bearer_token: str = field(default="", repr=False, metadata=_m(secret=True))
    """Bearer token inline (older Prometheus spelling of `authorization.credentials`)."""
    bearer_token_file: str = field(default="", metadata=_m(kind="path"))
    """File holding the bearer token (older spelling of `authorization.credentials_file`)."""
    tls_config: TLSConfig = field(default_factory=TLSConfig, metadata=_m())
    """TLS settings for https targets."""
    enable_compression: bool = True
    """Ask targets for gzip-compressed responses."""
    redact_secrets: bool = True
    """Replace label values that look like secrets (passwords in URLs, tokens, AWS keys,
    JWTs) with `<redacted>` before they are stored."""
    redact_patterns: tuple[str, ...] = field(default=(), metadata=_m(kind="regex"))
    """Extra regexes of secrets to redact in label values (a group named `secret` limits
    what is replaced)."""


# --------------------------------------------------------------------------------------
# [[rule_groups]]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleConfig:
    """One alerting (`alert`) or recording (`record`) rule, as in a Prometheus rule file."""

    alert: str = ""
    """Name of the alert (the `alertname` label). Exactly one of `alert` and `record`."""
    record: str = field(default="", metadata=_m(kind="metric_name"))
    """Name of the series a recording rule writes."""
    expr: str = field(default="", metadata=_m(kind="promql", required=True))
    """The PromQL expression."""
    for_: int = field(default=0, metadata=_m(kind="duration", key="for"))
    """Alerts: how long the expression must hold before the alert fires (pending until then)."""
    keep_firing_for: int = field(default=0, metadata=_m(kind="duration"))
    """Alerts: how long an alert keeps firing after its expression stopped returning it."""
    labels: dict[str, str] = field(default_factory=dict, metadata=_m(keys="label_name"))
    """Labels added to the alert or the recorded series (templates allowed for alerts)."""
    annotations: dict[str, str] = field(default_factory=dict, metadata=_m(keys="label_name"))
    """Alerts: annotations such as summary, description, runbook_url (templates allowed)."""


@dataclass(frozen=True)
class RuleGroupConfig:
    """A group of rules evaluated in order on one interval, as in a Prometheus rule file."""

    name: str = field(default="", metadata=_m(required=True))
    """Name of the group; unique within the file."""
    interval: int = field(
        default=15_000,
        metadata=_m(kind="duration", positive=True, inherit="global.evaluation_interval"),
    )
    """How often the group is evaluated."""
    limit: int = field(default=0, metadata=_m(minimum=0))
    """Most alerts or series one rule may produce; 0 means no limit."""
    rules: tuple[RuleConfig, ...] = ()
    """The rules, evaluated in this order."""


# --------------------------------------------------------------------------------------
# [alerting]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertmanagerConfig:
    """One set of Alertmanagers that firing alerts are sent to (API v2)."""

    static_configs: tuple[StaticConfig, ...] = ()
    """Alertmanager addresses as `host:port`."""
    timeout: int = field(default=10_000, metadata=_m(kind="duration", positive=True))
    """How long one push of alerts may take."""
    api_version: Literal["v2"] = "v2"
    """Alertmanager API version; only v2 exists in current Alertmanagers."""
    path_prefix: str = "/"
    """Prefix of the API path, when Alertmanager is served under a sub-path."""
    scheme: Literal["http", "https"] = "http"
    """http or https."""
    basic_auth: BasicAuth | None = None
    """Basic authentication towards Alertmanager."""
    authorization: Authorization | None = None
    """Authorization header towards Alertmanager."""
    tls_config: TLSConfig = field(default_factory=TLSConfig, metadata=_m())
    """TLS settings for https."""


@dataclass(frozen=True)
class WebhookConfig:
    """A webhook receiver: nightowl groups alerts itself, as Alertmanager's route does,
    and posts Alertmanager's webhook JSON (`version: "4"`) to `url`."""

    name: str = field(default="", metadata=_m(required=True))
    """Receiver name (`receiver` in the payload; keys its delivery state). Unique."""
    url: str = field(default="", metadata=_m(kind="url", required=True))
    """Where notifications are POSTed, e.g. `http://127.0.0.1:5001/hook`."""
    matchers: tuple[str, ...] = ()
    """Only alerts matching all of these go here (`severity="critical"`, `team=~"db|ops"`,
    Alertmanager's route syntax); every alert when empty."""
    group_by: tuple[str, ...] = ("alertname",)
    """Label names alerts are grouped by; `["..."]` groups by every label."""
    group_wait: int = field(default=30_000, metadata=_m(kind="duration"))
    """How long a new group waits for more alerts before its first notification."""
    group_interval: int = field(default=300_000, metadata=_m(kind="duration", positive=True))
    """How long a group waits before notifying about changes (new or resolved alerts)."""
    repeat_interval: int = field(default=14_400_000, metadata=_m(kind="duration", positive=True))
    """How long before an unchanged, still firing group is notified again."""
    send_resolved: bool = True
    """Notify when alerts resolve (else resolved alerts leave their group silently)."""
    max_alerts: int = field(default=0, metadata=_m(minimum=0))
    """Most alerts in one payload (the rest are counted in `truncatedAlerts`); 0: all."""
    timeout: int = field(default=10_000, metadata=_m(kind="duration", positive=True))
    """How long one POST may take; failed posts are retried with doubling backoff."""
    headers: dict[str, str] = field(default_factory=dict, repr=False, metadata=_m(hide=True))
    """Extra HTTP headers sent with every notification."""
    basic_auth: BasicAuth | None = None
    """Basic authentication towards the receiver."""
    authorization: Authorization | None = None
    """Authorization header towards the receiver."""
    tls_config: TLSConfig = field(default_factory=TLSConfig, metadata=_m())
    """TLS settings for https."""


@dataclass(frozen=True)
class AlertingConfig:
    """Where alerts go (prometheus.yml's `alerting`)."""

    alert_relabel_configs: tuple[RelabelConfig, ...] = ()
    """Relabeling applied to every alert before it is sent."""
    alertmanagers: tuple[AlertmanagerConfig, ...] = ()
    """Alertmanagers to send alerts to."""
    webhooks: tuple[WebhookConfig, ...] = ()
    """Webhook receivers notified directly, with Alertmanager's grouping and payload."""


# --------------------------------------------------------------------------------------
# [[remote_write]]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueConfig:
    """Batching and retry of a remote-write queue (Prometheus defaults)."""

    capacity: int = field(default=10_000, metadata=_m(positive=True))
    """Samples buffered per shard before reading from the store pauses."""
    max_shards: int = field(default=50, metadata=_m(positive=True))
    """Most concurrent senders."""
    min_shards: int = field(default=1, metadata=_m(positive=True))
    """Fewest concurrent senders."""
    max_samples_per_send: int = field(default=2_000, metadata=_m(positive=True))
    """Most samples in one request."""
    batch_send_deadline: int = field(default=5_000, metadata=_m(kind="duration", positive=True))
    """Longest a sample waits for its batch to fill."""
    min_backoff: int = field(default=30, metadata=_m(kind="duration", positive=True))
    """First wait before retrying a failed request (doubles up to `max_backoff`)."""
    max_backoff: int = field(default=5_000, metadata=_m(kind="duration", positive=True))
    """Longest wait between retries."""


@dataclass(frozen=True)
class RemoteWriteConfig:
    """A Prometheus remote-write 1.0 receiver samples are shipped to."""

    url: str = field(default="", metadata=_m(kind="url", required=True))
    """Endpoint, e.g. `http://vm:8428/api/v1/write`."""
    name: str = ""
    """Name used in logs and self-metrics; unique; derived from the URL when empty."""
    remote_timeout: int = field(default=30_000, metadata=_m(kind="duration", positive=True))
    """How long one request may take."""
    headers: dict[str, str] = field(default_factory=dict, repr=False, metadata=_m(hide=True))
    """Extra HTTP headers sent with every request (e.g. `X-Scope-OrgID` for Mimir)."""
    write_relabel_configs: tuple[RelabelConfig, ...] = ()
    """Relabeling applied to series before they are sent (drop what the cluster need not see)."""
    queue_config: QueueConfig = field(default_factory=QueueConfig, metadata=_m())
    """Batching and retry settings."""
    basic_auth: BasicAuth | None = None
    """Basic authentication towards the receiver."""
    authorization: Authorization | None = None
    """Authorization header towards the receiver."""
    tls_config: TLSConfig = field(default_factory=TLSConfig, metadata=_m())
    """TLS settings for https."""


# --------------------------------------------------------------------------------------
# [storage]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StorageConfig:
    """The local SQLite time-series database."""

    path: str = field(
        default="",
        metadata=_m(kind="path", writes=True, default_doc="$XDG_DATA_HOME/nightowl/nightowl.db"),
    )
    """Database file; `--db` overrides it."""
    retention_time: int = field(default=15 * 86_400_000, metadata=_m(kind="duration"))
    """Samples older than this are deleted, oldest first; 0 keeps them forever."""
    retention_size: int = field(default=0, metadata=_m(kind="size"))
    """Largest the database may grow (`10GiB`) before the oldest data goes; 0 means no limit."""
    out_of_order_time_window: int = field(default=0, metadata=_m(kind="duration"))
    """How far behind a series' newest sample another sample may still be accepted."""
    max_series: int = field(default=1_000_000, metadata=_m(minimum=0))
    """Most series in the database; samples of new series beyond it are dropped and counted.
    0 means no limit."""
    max_series_per_metric: int = field(default=100_000, metadata=_m(minimum=0))
    """Most series of one metric name; beyond it new series are dropped and counted.
    0 means no limit."""


# --------------------------------------------------------------------------------------
# [server]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerTLSConfig:
    """TLS for nightowl's own HTTP server (Prometheus web config's `tls_server_config`)."""

    cert_file: str = field(default="", metadata=_m(kind="path", required=True))
    """Server certificate (PEM)."""
    key_file: str = field(default="", metadata=_m(kind="path", required=True))
    """Private key of the server certificate (PEM)."""
    client_ca_file: str = field(default="", metadata=_m(kind="path"))
    """When set, clients must present a certificate signed by this CA."""


@dataclass(frozen=True)
class BearerToken:
    """A bearer token accepted by the HTTP server, with the roles it grants."""

    name: str = field(default="", metadata=_m(required=True))
    """Who holds the token (shown in logs instead of the token)."""
    token: str = field(default="", repr=False, metadata=_m(secret=True))
    """The token inline. Prefer `token_file`."""
    token_file: str = field(default="", metadata=_m(kind="path"))
    """File whose content (trailing newline stripped) is the token."""
    roles: tuple[Role, ...] = ("read",)
    """What it may do: read (queries), write (push, silences, acks), admin (reload, delete)."""


@dataclass(frozen=True)
class ServerConfig:
    """nightowl's HTTP server (Prometheus-compatible API), used by `nightowl daemon`."""

    listen: str = field(default=DEFAULT_LISTEN, metadata=_m(kind="listen"))
    """Address to listen on, `host:port`; `--listen` overrides it."""
    tls: ServerTLSConfig | None = None
    """Serve HTTPS instead of HTTP."""
    basic_auth_users: dict[str, str] = field(default_factory=dict, metadata=_m(kind="bcrypt"))
    """Users allowed in, each with a bcrypt hash of the password (`htpasswd -nbBC 10`)."""
    user_roles: dict[str, tuple[Role, ...]] = field(default_factory=dict, metadata=_m())
    """Roles of each user of `basic_auth_users`; a user not listed may only read."""
    bearer_tokens: tuple[BearerToken, ...] = ()
    """Bearer tokens allowed in, each with its roles."""
    enable_lifecycle: bool = False
    """Allow `POST /-/reload` and `/-/quit` (as Prometheus's --web.enable-lifecycle)."""
    enable_admin_api: bool = False
    """Allow the admin endpoints such as delete series (as --web.enable-admin-api)."""
    enable_alert_writes: bool = False
    """Allow creating and expiring silences and posting acks over HTTP (`/api/v2/silences`,
    `/api/v1/acks`)."""
    query_timeout: int = field(default=120_000, metadata=_m(kind="duration", positive=True))
    """Longest a query may run."""
    max_samples: int = field(default=50_000_000, metadata=_m(positive=True))
    """Most samples one query may load into memory."""
    max_concurrent_queries: int = field(default=20, metadata=_m(positive=True))
    """Most queries running at once; later ones wait."""
    max_body_size: int = field(default=10 * 1024 * 1024, metadata=_m(kind="size", positive=True))
    """Largest request body accepted (push, remote-write, form posts)."""


# --------------------------------------------------------------------------------------
# [host]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostConfig:
    """The built-in scraper of this host (node_exporter's metric names)."""

    enabled: bool = True
    """Scrape this host. On unless set to false."""
    scrape_interval: int = field(default=5_000, metadata=_m(kind="duration", positive=True))
    """How often the host is scraped."""
    job: str = "host"
    """Value of the `job` label on host series."""
    instance: str = field(default="", metadata=_m(default_doc="this machine's host name"))
    """Value of the `instance` label on host series."""
    collectors: tuple[str, ...] = HOST_COLLECTORS
    """Which collectors run: cpu, diskstats, filesystem, loadavg, meminfo, netdev, pressure,
    processes, stat, time, uname, vmstat, filefd, entropy, os, netclass, netstat, sockstat,
    softnet, conntrack, arp, udp_queues, timex, textfile."""
    textfile_directory: str = field(default="", metadata=_m(kind="path"))
    """Directory of `*.prom` files whose samples are added to the host's (node_exporter's
    textfile collector: cron jobs write metrics there); empty = none."""


# --------------------------------------------------------------------------------------
# [[log_configs]]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogMetricConfig:
    """A metric counted from the lines of a followed log file (mtail / grok_exporter style)."""

    name: str = field(default="", metadata=_m(kind="metric_name", required=True))
    """Metric name, e.g. `ssh_failed_logins_total`."""
    type: Literal["counter", "gauge", "histogram"] = "counter"
    """counter: one per matching line (or adds the `value_group` number); gauge: the last
    `value_group` number; histogram: observes the `value_group` number."""
    regex: str = field(default="", metadata=_m(kind="regex", required=True))
    """Python regular expression searched in each line; named groups become labels."""
    labels: tuple[str, ...] = field(default=(), metadata=_m(keys="label_name"))
    """Named groups that become labels; empty means every named group but `value_group`."""
    value_group: str = ""
    """Named group holding the number (required for gauges and histograms; optional for
    counters, which then add it instead of 1)."""
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    """Histogram bucket upper bounds, increasing."""
    help: str = ""
    """HELP text stored with the metric."""


@dataclass(frozen=True)
class LogConfig:
    """A log file followed like `tail -F`; lines matching patterns become metrics."""

    name: str = field(default="", metadata=_m(required=True))
    """Name of this source (the `log` label and the key of its saved offset)."""
    path: str = field(default="", metadata=_m(kind="path", required=True))
    """File to follow; rotation and truncation are handled, it may appear later. A glob
    (`/var/log/nginx/*.log`) follows every matching file, including ones created later."""
    metrics: tuple[LogMetricConfig, ...] = ()
    """Metrics counted from its lines."""
    start_at: Literal["end", "beginning"] = "end"
    """Where to start in a file that exists at startup with no saved offset: "end" (like
    `tail -F`) or "beginning". A file appearing later is always read from its start."""
    state_file: str = field(
        default="",
        metadata=_m(kind="path", writes=True, default_doc="$XDG_STATE_HOME/nightowl/logs/"),
    )
    """Where the read offset is kept across restarts (default under the XDG state dir; a
    glob `path` keeps one file per match there and takes no `state_file`)."""


# --------------------------------------------------------------------------------------
# [[command_configs]] and [[json_configs]]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JSONMetricConfig:
    """A metric taken from a field of a JSON document."""

    name: str = field(default="", metadata=_m(kind="metric_name", required=True))
    """Metric name."""
    path: str = field(default="", metadata=_m(kind="jsonpath", required=True))
    """Where the number is: `a.b[0].c`; `items[*].duration` gives one series per item."""
    labels: dict[str, str] = field(
        default_factory=dict, metadata=_m(keys="label_name", kind="jsonpath")
    )
    """Labels from fields: `{ job = "items[*].name" }` (relative to the same `[*]` item)."""
    type: Literal["gauge", "counter"] = "gauge"
    """gauge or counter."""
    help: str = ""
    """HELP text stored with the metric."""


@dataclass(frozen=True)
class CommandConfig:
    """A command run on an interval (never through a shell) whose output becomes metrics."""

    name: str = field(default="", metadata=_m(required=True))
    """Name of this source (the `command` label of its series)."""
    command: tuple[str, ...] = field(default=(), metadata=_m(required=True))
    """The argv: `["/usr/bin/df", "--output=pcent", "/"]`."""
    interval: int = field(
        default=15_000,
        metadata=_m(kind="duration", positive=True, inherit="global.scrape_interval"),
    )
    """How often the command runs."""
    timeout: int = field(default=10_000, metadata=_m(kind="duration", positive=True))
    """How long it may run before it is killed; at most `interval`."""
    format: Literal["number", "prometheus", "json"] = "number"
    """How stdout is read: one number, Prometheus text format, or JSON with `metrics` paths."""
    metric: str = field(default="", metadata=_m(kind="metric_name"))
    """format = number: name of the metric holding the number (required then)."""
    labels: dict[str, str] = field(default_factory=dict, metadata=_m(keys="label_name"))
    """Labels added to every series of this command."""
    metrics: tuple[JSONMetricConfig, ...] = ()
    """format = json: metrics taken from fields of the output."""


@dataclass(frozen=True)
class JSONConfig:
    """A JSON document fetched over HTTP (a CI system's API, say) mapped to metrics."""

    name: str = field(default="", metadata=_m(required=True))
    """Name of this source."""
    url: str = field(default="", metadata=_m(kind="url", required=True))
    """URL fetched with GET."""
    interval: int = field(
        default=15_000,
        metadata=_m(kind="duration", positive=True, inherit="global.scrape_interval"),
    )
    """How often it is fetched."""
    timeout: int = field(default=10_000, metadata=_m(kind="duration", positive=True))
    """How long one fetch may take; at most `interval`."""
    headers: dict[str, str] = field(default_factory=dict, repr=False, metadata=_m(hide=True))
    """Extra HTTP headers (`Accept`, API tokens: then keep the file private)."""
    basic_auth: BasicAuth | None = None
    """Basic authentication."""
    authorization: Authorization | None = None
    """Authorization header."""
    tls_config: TLSConfig = field(default_factory=TLSConfig, metadata=_m())
    """TLS settings for https."""
    metrics: tuple[JSONMetricConfig, ...] = ()
    """Metrics taken from fields of the document."""


# --------------------------------------------------------------------------------------
# [[report_configs]]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportConfig:
    """A CI or security report file turned into metrics whenever it changes."""

    path: str = field(default="", metadata=_m(kind="path", required=True))
    """The report file (globs allowed: `reports/*.sarif`)."""
    format: Literal["trivy", "sarif", "junit", "cobertura"] = field(
        default="trivy", metadata=_m(required=True)
    )
    """trivy (JSON), sarif (2.1), junit (XML) or cobertura (XML)."""
    name: str = ""
    """Name of this source (the `report` label); the file name when empty."""
    interval: int = field(default=60_000, metadata=_m(kind="duration", positive=True))
    """How often the file is checked for changes (by modification time)."""
    watch: bool = True
    """Re-read the file when it changes; false reads it once at start."""
    labels: dict[str, str] = field(default_factory=dict, metadata=_m(keys="label_name"))
    """Labels added to every series of this report."""


# --------------------------------------------------------------------------------------
# [push]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushConfig:
    """The Pushgateway-compatible receiver on the daemon's HTTP server."""

    enabled: bool = False
    """Accept pushes at `/metrics/job/<job>`. Off by default (a write endpoint)."""
    default_ttl: int = field(default=0, metadata=_m(kind="duration"))
    """How long a pushed group lives when the push names no TTL; 0 keeps it until deleted."""
    persistence_file: str = field(default="", metadata=_m(kind="path", writes=True))
    """File the pushed groups are saved to after every change and loaded from at start
    (as the Pushgateway's `--persistence.file`); empty keeps them in memory only."""


# --------------------------------------------------------------------------------------
# [tui] and [[dashboards]]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventQueryConfig:
    """A query whose results are events (deploys, restarts) marked on the charts."""

    name: str = field(default="", metadata=_m(required=True))
    """Name in the chart legends (`◆ deploys`)."""
    expr: str = field(default="", metadata=_m(kind="promql", required=True))
    """PromQL expression; an event is each time one of its series appears after a gap,
    e.g. `changes(deploy_timestamp_seconds[5m]) > 0`."""


@dataclass(frozen=True)
class TuiConfig:
    """The terminal UI."""

    refresh_interval: int = field(default=2_000, metadata=_m(kind="duration", positive=True))
    """How often charts are refreshed."""
    theme: str = "dark"
    """Theme name: dark, light, high-contrast, ansi16, or a theme file of yours."""
    bell: bool = False
    """Ring the terminal bell when a new alert fires."""
    flash: bool = True
    """Flash the alert pane when a new alert fires."""
    low_bandwidth: bool = False
    """Fewer colours, slower refresh, sparklines (as `--low-bandwidth`)."""
    history_size: int = field(default=1_000, metadata=_m(minimum=0))
    """How many queries the query bar remembers."""
    event_queries: tuple[EventQueryConfig, ...] = ()
    """Queries whose events are marked (◆) on every line and area chart's time axis."""


@dataclass(frozen=True)
class ThresholdConfig:
    """A value from which a panel is drawn in a warning colour."""

    value: float = 0.0
    """From this value up (the level applies until the next threshold)."""
    level: Literal["ok", "info", "warning", "critical"] = "warning"
    """ok, info, warning or critical; colours come from the theme."""


@dataclass(frozen=True)
class PanelConfig:
    """One panel of a dashboard: a PromQL expression drawn one way."""

    title: str = ""
    """Title shown on the panel's border; the expression when empty."""
    expr: str = field(default="", metadata=_m(kind="promql", required=True))
    """The PromQL expression."""
    kind: Literal["line", "area", "bar", "sparkline", "stat", "gauge", "table", "heatmap"] = "line"
    """line, area (stacked), bar, sparkline, stat, gauge, table or heatmap (histograms)."""
    unit: str = ""
    """Unit for formatting values: bytes, bytes/s, bits/s, seconds, ms, percent (0-100),
    percentunit or ratio (0-1), ops/s, reqps, short, celsius, none."""
    legend: str = ""
    """Legend template: `{{instance}} {{mode}}`; the label set when empty."""
    thresholds: tuple[ThresholdConfig, ...] = ()
    """Thresholds, increasing by value."""
    min: float | None = None
    """Lowest value of the axis or gauge; automatic when unset."""
    max: float | None = None
    """Highest value of the axis or gauge; automatic when unset."""
    width: int = field(default=1, metadata=_m(positive=True))
    """Columns of the dashboard grid the panel spans."""
    height: int = field(default=1, metadata=_m(positive=True))
    """Rows of the dashboard grid the panel spans."""


@dataclass(frozen=True)
class DashboardConfig:
    """A named grid of panels; switch between dashboards with keys."""

    name: str = field(default="", metadata=_m(required=True))
    """Name shown in the tab bar; unique."""
    columns: int = field(default=2, metadata=_m(positive=True))
    """Columns of the grid."""
    panels: tuple[PanelConfig, ...] = ()
    """Panels, laid out left to right, top to bottom."""


# --------------------------------------------------------------------------------------
# [logging]
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggingConfig:
    """nightowl's own log (stderr of the daemon)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level logged."""
    format: Literal["plain", "json"] = "plain"
    """plain text lines or JSON lines."""


# --------------------------------------------------------------------------------------
# The whole file
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """A whole nightowl config file. Build it with :func:`load_config` or :func:`parse_config`."""

    global_: GlobalConfig = field(default_factory=GlobalConfig, metadata=_m(key="global"))
    """Defaults for scrape jobs and rule groups."""
    scrape_configs: tuple[ScrapeConfig, ...] = ()
    """Prometheus/OpenMetrics targets to scrape."""
    rule_files: tuple[str, ...] = field(default=(), metadata=_m(kind="path"))
    """Prometheus rule files (YAML or TOML; globs allowed)."""
    rule_groups: tuple[RuleGroupConfig, ...] = ()
    """Rule groups written inline, with the structure of a Prometheus rule file."""
    alerting: AlertingConfig = field(default_factory=AlertingConfig, metadata=_m())
    """Where alerts are sent."""
    remote_write: tuple[RemoteWriteConfig, ...] = ()
    """Remote-write receivers samples are shipped to."""
    storage: StorageConfig = field(default_factory=StorageConfig, metadata=_m())
    """The local database."""
    server: ServerConfig = field(default_factory=ServerConfig, metadata=_m())
    """The daemon's HTTP server."""
    host: HostConfig = field(default_factory=HostConfig, metadata=_m())
    """The built-in host scraper."""
    log_configs: tuple[LogConfig, ...] = ()
    """Log files turned into metrics."""
    command_configs: tuple[CommandConfig, ...] = ()
    """Commands whose output becomes metrics."""
    json_configs: tuple[JSONConfig, ...] = ()
    """JSON documents over HTTP turned into metrics."""
    report_configs: tuple[ReportConfig, ...] = ()
    """CI and security report files turned into metrics."""
    push: PushConfig = field(default_factory=PushConfig, metadata=_m())
    """The Pushgateway-compatible receiver."""
    tui: TuiConfig = field(default_factory=TuiConfig, metadata=_m())
    """The terminal UI."""
    dashboards: tuple[DashboardConfig, ...] = ()
    """Dashboards of the terminal UI."""
    logging: LoggingConfig = field(default_factory=LoggingConfig, metadata=_m())
    """nightowl's own log."""
    source: str = field(default="<defaults>", compare=False, metadata={"internal": True})
    """Where this config came from (a file path, or `<defaults>`); not a TOML key."""


# ======================================================================================
# Errors
# ======================================================================================


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file.

    Args:
        key: Key path (`scrape_configs[2].scrape_interval`); empty for the whole file.
        message: What is wrong, in words a user can act on.
        line: 1-based line, for TOML syntax errors.
        column: 1-based column, for TOML syntax errors.
    """

    key: str
    message: str
    line: int | None = None
    column: int | None = None

    def render(self, source: str) -> str:
        """One line: `file:line:col: message` (syntax) or `file:line: key.path: message`."""
        where = source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.key:
            return f"{where}: {self.key}: {self.message}"
        return f"{where}: {self.message}"


class ConfigValidationError(ConfigError):
    """Every problem found in a config file, reported together (one per line).

    Args:
        source: The file (or `<string>`) the problems are in.
        problems: What is wrong, each with its key path or line.
    """

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(p.render(source) for p in self.problems))


# ======================================================================================
# Schema introspection
# ======================================================================================


def _key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def _public_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a config dataclass, by field name."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    tree = ast.parse(inspect.cleandoc("\n" + source) if source[:1].isspace() else source)
    cls_node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))
    docs: dict[str, str] = {}
    body = cls_node.body
    for node, nxt in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


# ======================================================================================
# Loading
# ======================================================================================

_BAD = object()
_INT64 = 2**63
#: Longest duration Prometheus accepts: int64 nanoseconds, in whole milliseconds.
_MAX_DURATION_MS = (2**63 - 1) // 1_000_000
_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_HOSTPORT_RE = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.%a-zA-Z]+)\]|(?P<host>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?))"
    r":(?P<port>[0-9]{1,5})$"
)
_LISTEN_RE = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]*)):(?P<port>[0-9]{1,5})$"
)
_URL_RE = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
_BCRYPT_RE = re.compile(r"^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$")
# Field paths (see scrapers/_jsonpath.py): a.b[0].c, items[*].x, a["odd.key"], [-1], and a
# trailing `~` (the key of the last [*]) in label paths.
_JSONPATH_RE = re.compile(
    r'^(?:[A-Za-z0-9_@$-]+|\[(?:-?\d+|\*|"(?:[^"\\]|\\.)*")\])'
    r'(?:\.[A-Za-z0-9_@$-]+|\[(?:-?\d+|\*|"(?:[^"\\]|\\.)*")\])*~?$'
)
_SECRET_HEADER_RE = re.compile(r"auth|token|key|secret|passw|cookie", re.IGNORECASE)

#: prometheus.yml keys nightowl deliberately does not support, with what to do instead.
_UNSUPPORTED = {
    "kubernetes_sd_configs": "nightowl discovers targets from static_configs and file_sd_configs",
    "consul_sd_configs": "nightowl discovers targets from static_configs and file_sd_configs",
    "dns_sd_configs": "nightowl discovers targets from static_configs and file_sd_configs",
    "ec2_sd_configs": "nightowl discovers targets from static_configs and file_sd_configs",
    "http_sd_configs": "nightowl discovers targets from static_configs and file_sd_configs",
    "oauth2": "use authorization with a token file",
    "proxy_url": "proxies are not supported",
    "remote_read": "nightowl answers queries from its own store only",
    "scrape_config_files": "put the jobs in this file",
    "query_log_file": "not supported",
}


def _join(path: str, key: str) -> str:
    if not _LABEL_NAME_RE.match(key):
        key = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _type_name(tp: Any, meta: Mapping[str, Any]) -> str:
    kind = meta.get("kind")
    tp, _ = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if kind == "duration":
        return "duration"
    if kind == "size":
        return "size"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if _is_section(inner):
            return "array of tables"
        return f"array of {_plural(_type_name(inner, {}))}"
    if origin is dict:
        inner = typing.get_args(tp)[1]
        return f"table of {_plural(_type_name(inner, {}))}"
    if _is_section(tp):
        return "table"
    return {str: "string", int: "integer", float: "float", bool: "boolean"}.get(tp, str(tp))


def _plural(type_name: str) -> str:
    if type_name.startswith(("array of", "table of", "one of")):
        return type_name.replace("array of", "arrays of", 1).replace("table of", "tables of", 1)
    return type_name + "s"


class _Builder:
    """Turns parsed TOML into config dataclasses, collecting every problem on the way."""

    def __init__(self, base_dir: Path | None) -> None:
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.ctx: dict[str, Any] = {}
        self.failed: set[str] = set()
        self.hide = False

    def err(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def ok(self, *keys: str) -> bool:
        """True when none of `keys` of the section being checked was refused."""
        return not self.failed.intersection(keys)

    def describe(self, value: Any) -> str:
        """What `value` is, for a message; only its type while converting a secret."""
        if self.hide:
            return _describe(value).split(" (", 1)[0]
        return _describe(value)

    # -- sections --------------------------------------------------------------------

    def build(self, cls: type, raw: Any, path: str) -> Any:
        if not isinstance(raw, dict):
            self.err(path, f"expected a table, got {self.describe(raw)}")
            raw = {}
        hints = _hints(cls)
        fields = {_key(f): f for f in _public_fields(cls)}
        for key in raw:
            if key not in fields:
                self.err(_join(path, key), self._unknown(key, list(fields)))
        kwargs: dict[str, Any] = {}
        failed: set[str] = set()
        for key, f in fields.items():
            p = _join(path, key)
            tp, optional = _strip_optional(hints[f.name])
            if key in raw:
                value = self.convert(tp, raw[key], p, f.metadata)
                if value is _BAD:
                    failed.add(key)
                else:
                    if f.metadata.get("required") and value in ("", ()):
                        self.err(p, "must not be empty")
                        failed.add(key)
                    kwargs[f.name] = value
            elif f.metadata.get("required"):
                self.err(p, "missing required key")
                failed.add(key)
            elif "inherit" in f.metadata and f.metadata["inherit"] in self.ctx:
                kwargs[f.name] = self.ctx[f.metadata["inherit"]]
            elif _is_section(tp) and not optional:
                kwargs[f.name] = self.build(tp, {}, p)
        obj = cls(**kwargs)
        check = _CHECKS.get(cls)
        # Cross-field checks compare values; after a value was refused they would
        # compare a default and report a second, misleading problem. Sections that
        # fill in computed values always run theirs, and consult `self.failed`.
        if check is not None and (not failed or cls in _ALWAYS_CHECK):
            self.failed = failed
            obj = check(self, obj, raw, path)
        return obj

    def _unknown(self, key: str, valid: list[str]) -> str:
        if key in _UNSUPPORTED:
            return f"unknown key {key!r}: {_UNSUPPORTED[key]}"
        msg = f"unknown key {key!r}"
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        return msg

    # -- values ----------------------------------------------------------------------

    def convert(self, tp: Any, value: Any, path: str, meta: Mapping[str, Any]) -> Any:
        if (meta.get("secret") or meta.get("hide")) and not self.hide:
            self.hide = True  # a secret's value never appears in an error message
            try:
                return self.convert(tp, value, path, meta)
            finally:
                self.hide = False
        tp, _ = _strip_optional(tp)
        origin = typing.get_origin(tp)
        if _is_section(tp):
            if isinstance(value, list):
                self.err(path, f"expected one table [{path.split('.')[-1]}], got an array")
                return _BAD
            return self.build(tp, value, path)
        if origin is tuple:
            return self._convert_tuple(tp, value, path, meta)
        if origin is dict:
            return self._convert_dict(tp, value, path, meta)
        if origin is Literal:
            choices = typing.get_args(tp)
            if value in choices and type(value) is type(choices[0]):
                return value
            shown = ", ".join(repr(c) for c in choices)
            close = (
                difflib.get_close_matches(value, [str(c) for c in choices], n=1, cutoff=0.6)
                if isinstance(value, str)
                else []
            )
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.err(path, f"must be one of {shown}, got {self.describe(value)}{hint}")
            return _BAD
        kind = meta.get("kind")
        if kind == "duration":
            return self._duration(value, path, meta)
        if kind == "size":
            try:
                result = parse_size(value)
            except UserError as exc:
                self.err(path, exc.message)
                return _BAD
            except (OverflowError, ValueError):
                self.err(path, f"size {value!r} is too large")
                return _BAD
            return self._number_bounds(result, path, meta)
        if tp is bool:
            if isinstance(value, bool):
                return value
            self.err(path, f"expected true or false, got {self.describe(value)}")
            return _BAD
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return self._number_bounds(value, path, meta)
            self.err(path, f"expected an integer, got {self.describe(value)}")
            return _BAD
        if tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return self._number_bounds(float(value), path, meta)
            self.err(path, f"expected a number, got {self.describe(value)}")
            return _BAD
        if tp is str:
            if not isinstance(value, str):
                self.err(path, f"expected a string, got {self.describe(value)}")
                return _BAD
            return self._string_kind(value, path, kind)
        raise TypeError(f"config schema: unsupported type {tp!r} at {path}")  # pragma: no cover

    def _convert_tuple(self, tp: Any, value: Any, path: str, meta: Mapping[str, Any]) -> Any:
        inner = typing.get_args(tp)[0]
        if not isinstance(value, list):
            if _is_section(inner) and isinstance(value, dict):
                name = path.rsplit(".", 1)[-1]
                self.err(path, f"expected an array of tables ([[{name}]]), got one table")
            else:
                self.err(path, f"expected an array, got {self.describe(value)}")
            return _BAD
        item_meta = {k: v for k, v in meta.items() if k in ("kind", "positive", "minimum")}
        out = []
        ok = True
        for i, item in enumerate(value):
            converted = self.convert(inner, item, f"{path}[{i}]", item_meta)
            if converted is _BAD:
                ok = False
            elif meta.get("keys") == "label_name" and not _LABEL_NAME_RE.match(converted):
                self.err(f"{path}[{i}]", f"invalid label name {converted!r}")
                ok = False
            else:
                out.append(converted)
        return tuple(out) if ok else _BAD

    def _convert_dict(self, tp: Any, value: Any, path: str, meta: Mapping[str, Any]) -> Any:
        inner = typing.get_args(tp)[1]
        if not isinstance(value, dict):
            self.err(path, f"expected a table, got {self.describe(value)}")
            return _BAD
        item_meta = {k: v for k, v in meta.items() if k in ("kind", "hide")}
        out = {}
        ok = True
        for k, item in value.items():
            p = _join(path, k)
            if meta.get("keys") == "label_name" and not _LABEL_NAME_RE.match(k):
                self.err(p, f"invalid label name {k!r}: use letters, digits and _")
                ok = False
                continue
            converted = self.convert(inner, item, p, item_meta)
            if converted is _BAD:
                ok = False
            else:
                out[k] = converted
        return out if ok else _BAD

    def _duration(self, value: Any, path: str, meta: Mapping[str, Any]) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value == 0:
            ms = 0
        elif not isinstance(value, str):
            self.err(
                path, f"expected a duration such as '15s' or '1h30m', got {self.describe(value)}"
            )
            return _BAD
        else:
            try:
                ms = parse_duration(value)
            except UserError as exc:
                self.err(path, exc.message)
                return _BAD
        if ms > _MAX_DURATION_MS:
            # Prometheus keeps durations as int64 nanoseconds: at most ~292 years.
            self.err(path, f"duration {value!r} is out of range (at most 292 years)")
            return _BAD
        if meta.get("positive") and ms <= 0:
            self.err(path, f"must be greater than 0, got {value!r}")
            return _BAD
        return ms

    def _number_bounds(self, value: float, path: str, meta: Mapping[str, Any]) -> Any:
        if meta.get("positive") and value <= 0:
            self.err(path, f"must be greater than 0, got {value}")
            return _BAD
        if isinstance(value, int) and abs(value) >= _INT64:
            self.err(path, f"{value} is too large")
            return _BAD
        minimum = meta.get("minimum")
        if minimum is not None and value < minimum:
            self.err(path, f"must be at least {minimum:g}, got {value}")
            return _BAD
        if isinstance(value, float) and value != value:
            self.err(path, "must be a number, not nan")
            return _BAD
        return value

    def _string_kind(self, value: str, path: str, kind: str | None) -> Any:
        if kind is None or (value == "" and kind not in ("hostport",)):
            return value
        if kind == "path":
            p = Path(value).expanduser()
            if not p.is_absolute() and self.base_dir is not None:
                p = self.base_dir / p
            return str(p)
        if kind == "regex":
            try:
                re.compile(value)
            except re.error as exc:
                self.err(path, f"invalid regular expression {value!r}: {exc}")
                return _BAD
            return value
        if kind == "hostport":
            m = _HOSTPORT_RE.match(value)
            if not m or not 0 < int(m.group("port")) < 65536:
                self.err(path, f"target {value!r} is not host:port (e.g. 'localhost:9100')")
                return _BAD
            return value
        if kind == "listen":
            m = _LISTEN_RE.match(value)
            if not m or int(m.group("port")) > 65535:
                self.err(path, f"{value!r} is not host:port (e.g. '127.0.0.1:9095')")
                return _BAD
            return value
        if kind == "url":
            if not _URL_RE.match(value):
                self.err(path, f"{value!r} is not an http:// or https:// URL")
                return _BAD
            return value
        if kind == "metric_name":
            if not _METRIC_NAME_RE.match(value):
                self.err(path, f"invalid metric name {value!r}: use letters, digits, _ and :")
                return _BAD
            return value
        if kind == "bcrypt":
            if not _BCRYPT_RE.match(value):
                self.err(path, "is not a bcrypt hash (make one with `htpasswd -nbBC 10 USER PASS`)")
                return _BAD
            return value
        if kind == "jsonpath":
            if not _JSONPATH_RE.match(value):
                self.err(path, f"invalid field path {value!r}: use a.b[0].c or items[*].name")
                return _BAD
            return value
        if kind == "promql":
            problem = _promql_problem(value)
            if problem:
                self.err(path, f"invalid PromQL expression {value!r}: {problem}")
                return _BAD
            return value
        raise TypeError(f"config schema: unknown kind {kind!r}")  # pragma: no cover


def _promql_problem(expr: str) -> str | None:
    """Why `expr` is not valid PromQL, or None. Uses the same parser as the engine."""
    try:
        import promql_parser
    except ImportError:  # pragma: no cover - it is a declared dependency
        return None
    try:
        promql_parser.parse(expr)
    except (KeyboardInterrupt, SystemExit):  # pragma: no cover
        raise
    except BaseException as exc:  # the Rust side may raise a PanicException (BaseException)
        return str(exc) or type(exc).__name__
    return None


# ======================================================================================
# Cross-field checks (one function per section; they may return an adjusted object)
# ======================================================================================

_Check = Callable[[_Builder, Any, Mapping[str, Any], str], Any]
_CHECKS: dict[type, _Check] = {}


def _check(cls: type) -> Callable[[_Check], _Check]:
    def register(fn: _Check) -> _Check:
        _CHECKS[cls] = fn
        return fn

    return register


def _only_one(b: _Builder, path: str, obj: Any, *names: str) -> None:
    present = [n for n in names if getattr(obj, n, None) not in ("", None, ())]
    if len(present) > 1:
        b.err(path, f"set only one of {', '.join(present)}")


@_check(GlobalConfig)
def _check_global(b: _Builder, g: GlobalConfig, raw: Mapping[str, Any], path: str) -> GlobalConfig:
    if (
        g.scrape_timeout > g.scrape_interval
        and not {"scrape_timeout", "scrape_interval"} & b.failed
    ):
        if "scrape_timeout" in raw:
            b.err(
                _join(path, "scrape_timeout"),
                f"{format_duration(g.scrape_timeout)} is longer than scrape_interval "
                f"{format_duration(g.scrape_interval)}",
            )
        else:
            g = dataclasses.replace(g, scrape_timeout=g.scrape_interval)
    b.ctx["global.scrape_interval"] = g.scrape_interval
    b.ctx["global.scrape_timeout"] = g.scrape_timeout
    b.ctx["global.evaluation_interval"] = g.evaluation_interval
    return g


@_check(BasicAuth)
def _check_basic_auth(b: _Builder, a: BasicAuth, raw: Mapping[str, Any], path: str) -> BasicAuth:
    _only_one(b, path, a, "password", "password_file")
    return a


@_check(Authorization)
def _check_authorization(
    b: _Builder, a: Authorization, raw: Mapping[str, Any], path: str
) -> Authorization:
    _only_one(b, path, a, "credentials", "credentials_file")
    if not b.ok("type"):
        pass
    elif a.type.strip().lower() == "basic":
        b.err(_join(path, "type"), "authorization type 'Basic' is not allowed; use basic_auth")
    elif not a.type.strip():
        b.err(_join(path, "type"), "must not be empty")
    return a


@_check(TLSConfig)
def _check_tls(b: _Builder, t: TLSConfig, raw: Mapping[str, Any], path: str) -> TLSConfig:
    if bool(t.cert_file) != bool(t.key_file) and b.ok("cert_file", "key_file"):
        b.err(path, "cert_file and key_file must be set together")
    return t


_NEEDS_TARGET = {"replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"}


@_check(RelabelConfig)
def _check_relabel(
    b: _Builder, r: RelabelConfig, raw: Mapping[str, Any], path: str
) -> RelabelConfig:
    if r.action in _NEEDS_TARGET and not r.target_label:
        b.err(path, f"action {r.action!r} needs target_label")
    if r.action == "hashmod" and r.modulus <= 0:
        b.err(_join(path, "modulus"), "action 'hashmod' needs a modulus greater than 0")
    # Like Prometheus, compare with the defaults: writing a default out is harmless.
    changed = {
        f.name
        for f in dataclasses.fields(RelabelConfig)
        if getattr(r, f.name) != f.default and f.name != "action"
    }
    if r.action in ("keepequal", "dropequal"):
        extra = [k for k in ("regex", "replacement", "modulus") if k in changed]
        if extra:
            b.err(path, f"action {r.action!r} takes no {', '.join(extra)}")
    if r.action in ("labeldrop", "labelkeep"):
        extra = [
            k for k in ("source_labels", "target_label", "replacement", "modulus") if k in changed
        ]
        if extra:
            b.err(path, f"action {r.action!r} takes only regex, not {', '.join(extra)}")
    if (
        r.action in ("replace", "labelmap")
        and r.target_label
        and "$" not in r.target_label
        and not _LABEL_NAME_RE.match(r.target_label)
    ):
        b.err(_join(path, "target_label"), f"invalid label name {r.target_label!r}")
    return r


def _check_client_auth(b: _Builder, obj: Any, path: str) -> None:
    names = [n for n in ("basic_auth", "authorization") if getattr(obj, n) is not None]
    for n in ("bearer_token", "bearer_token_file"):
        if getattr(obj, n, ""):
            names.append(n)
    if len(names) > 1:
        b.err(path, f"set only one of {', '.join(names)}")


@_check(ScrapeConfig)
def _check_scrape(b: _Builder, s: ScrapeConfig, raw: Mapping[str, Any], path: str) -> ScrapeConfig:
    if s.scrape_timeout > s.scrape_interval and b.ok("scrape_timeout", "scrape_interval"):
        if "scrape_timeout" in raw:
            b.err(
                _join(path, "scrape_timeout"),
                f"{format_duration(s.scrape_timeout)} is longer than scrape_interval "
                f"{format_duration(s.scrape_interval)}",
            )
        else:
            s = dataclasses.replace(s, scrape_timeout=s.scrape_interval)
    if not s.metrics_path.startswith("/"):
        b.err(_join(path, "metrics_path"), f"must start with '/', got {s.metrics_path!r}")
    _check_client_auth(b, s, path)
    return s


@_check(RuleConfig)
def _check_rule(b: _Builder, r: RuleConfig, raw: Mapping[str, Any], path: str) -> RuleConfig:
    if bool(r.alert) == bool(r.record) and b.ok("alert", "record"):
        b.err(path, "set exactly one of alert and record")
    if r.record:
        extra = [
            k
            for k, v in (
                ("for", r.for_),
                ("keep_firing_for", r.keep_firing_for),
                ("annotations", r.annotations),
            )
            if v
        ]
        if extra:
            b.err(path, f"a recording rule takes no {', '.join(extra)}")
    return r


def _check_duplicates(b: _Builder, items: Any, attr: str, path: str) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        name = getattr(item, attr)
        if not name:
            continue
        if name in seen:
            b.err(f"{path}[{i}].{attr}", f"duplicate {attr} {name!r} (also {path}[{seen[name]}])")
        else:
            seen[name] = i


@_check(AlertmanagerConfig)
def _check_am(
    b: _Builder, a: AlertmanagerConfig, raw: Mapping[str, Any], path: str
) -> AlertmanagerConfig:
    if not a.path_prefix.startswith("/") and b.ok("path_prefix"):
        b.err(_join(path, "path_prefix"), f"must start with '/', got {a.path_prefix!r}")
    _check_client_auth(b, a, path)
    return a


_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@_check(WebhookConfig)
def _check_webhook(
    b: _Builder, w: WebhookConfig, raw: Mapping[str, Any], path: str
) -> WebhookConfig:
    _check_client_auth(b, w, path)
    if b.ok("group_by") and w.group_by != ("...",):
        for i, name in enumerate(w.group_by):
            if name == "...":
                b.err(
                    f"{path}.group_by[{i}]", "'...' must be the only entry (it means every label)"
                )
            elif not _LABEL_NAME_RE.match(name):
                b.err(f"{path}.group_by[{i}]", f"invalid label name {name!r}")
    if b.ok("matchers") and w.matchers:
        from nightowl.alerts.notify import route_matchers

        for i, text in enumerate(w.matchers):
            try:
                route_matchers([text])
            except UserError as exc:
                b.err(f"{path}.matchers[{i}]", exc.message)
    if b.ok("headers"):
        for k, v in w.headers.items():
            if not _HEADER_NAME_RE.match(k):
                b.err(_join(_join(path, "headers"), k), f"invalid HTTP header name {k!r}")
            elif "\r" in v or "\n" in v:
                b.err(_join(_join(path, "headers"), k), "a header value cannot span lines")
    return w


@_check(AlertingConfig)
def _check_alerting(
    b: _Builder, a: AlertingConfig, raw: Mapping[str, Any], path: str
) -> AlertingConfig:
    if b.ok("webhooks"):
        _check_duplicates(b, a.webhooks, "name", _join(path, "webhooks"))
    return a


@_check(QueueConfig)
def _check_queue(b: _Builder, q: QueueConfig, raw: Mapping[str, Any], path: str) -> QueueConfig:
    if q.min_backoff > q.max_backoff and b.ok("min_backoff", "max_backoff"):
        b.err(path, "min_backoff is longer than max_backoff")
    if q.min_shards > q.max_shards and b.ok("min_shards", "max_shards"):
        b.err(path, "min_shards is larger than max_shards")
    return q


@_check(RemoteWriteConfig)
def _check_rw(
    b: _Builder, r: RemoteWriteConfig, raw: Mapping[str, Any], path: str
) -> RemoteWriteConfig:
    _check_client_auth(b, r, path)
    if r.url and not r.name:
        r = dataclasses.replace(r, name=re.sub(r"^https?://", "", r.url))
    return r


@_check(StorageConfig)
def _check_storage(
    b: _Builder, s: StorageConfig, raw: Mapping[str, Any], path: str
) -> StorageConfig:
    if not s.path:
        s = dataclasses.replace(s, path=str(default_db_path()))
    return s


@_check(BearerToken)
def _check_token(b: _Builder, t: BearerToken, raw: Mapping[str, Any], path: str) -> BearerToken:
    _only_one(b, path, t, "token", "token_file")
    if not t.token and not t.token_file:
        b.err(path, "set token_file (or token)")
    return t


@_check(ServerConfig)
def _check_server(b: _Builder, s: ServerConfig, raw: Mapping[str, Any], path: str) -> ServerConfig:
    if {"user_roles", "basic_auth_users"} & b.failed:
        return s
    for user in s.user_roles:
        if user not in s.basic_auth_users:
            b.err(_join(_join(path, "user_roles"), user), f"{user!r} is not in basic_auth_users")
    _check_duplicates(b, s.bearer_tokens, "name", _join(path, "bearer_tokens"))
    return s


@_check(HostConfig)
def _check_host(b: _Builder, h: HostConfig, raw: Mapping[str, Any], path: str) -> HostConfig:
    for i, c in enumerate(h.collectors):
        if c not in HOST_COLLECTORS:
            close = difflib.get_close_matches(c, HOST_COLLECTORS, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            b.err(f"{_join(path, 'collectors')}[{i}]", f"unknown collector {c!r}{hint}")
    if not h.job:
        b.err(_join(path, "job"), "must not be empty")
    if not h.instance:
        h = dataclasses.replace(h, instance=socket.gethostname())
    return h


@_check(LogMetricConfig)
def _check_log_metric(
    b: _Builder, m: LogMetricConfig, raw: Mapping[str, Any], path: str
) -> LogMetricConfig:
    try:
        groups = set(re.compile(m.regex).groupindex) if m.regex else set()
    except re.error:
        return m  # already reported
    for i, label in enumerate(m.labels):
        if label not in groups:
            b.err(f"{_join(path, 'labels')}[{i}]", f"{label!r} is not a named group of regex")
    if m.type in ("histogram", "gauge") and not m.value_group:
        b.err(path, f"a {m.type} needs value_group (the named group holding the number)")
    elif m.value_group and m.value_group not in groups:
        b.err(_join(path, "value_group"), f"{m.value_group!r} is not a named group of regex")
    if m.type == "histogram" and not m.buckets:
        b.err(_join(path, "buckets"), "a histogram needs at least one bucket")
    if any(x >= y for x, y in itertools.pairwise(m.buckets)):
        b.err(_join(path, "buckets"), "bucket bounds must increase")
    return m


@_check(LogConfig)
def _check_log(b: _Builder, c: LogConfig, raw: Mapping[str, Any], path: str) -> LogConfig:
    if not c.metrics and b.ok("metrics"):
        b.err(_join(path, "metrics"), "a log source needs at least one metric")
    _check_duplicates(b, c.metrics, "name", _join(path, "metrics"))
    return c


def _clamp_timeout(b: _Builder, c: Any, raw: Mapping[str, Any], path: str) -> Any:
    """A timeout longer than the interval is an error when written, clamped when defaulted."""
    if c.timeout <= c.interval or not b.ok("timeout", "interval"):
        return c
    if "timeout" in raw:
        b.err(
            _join(path, "timeout"),
            f"{format_duration(c.timeout)} is longer than interval {format_duration(c.interval)}",
        )
        return c
    return dataclasses.replace(c, timeout=c.interval)


@_check(CommandConfig)
def _check_command(
    b: _Builder, c: CommandConfig, raw: Mapping[str, Any], path: str
) -> CommandConfig:
    c = _clamp_timeout(b, c, raw, path)
    if b.ok("format", "metric"):
        if c.format == "number" and not c.metric:
            b.err(path, "format 'number' needs metric (the name of the metric)")
        if c.format != "number" and c.metric:
            b.err(_join(path, "metric"), "only format 'number' takes metric")
    if b.ok("format", "metrics"):
        if c.format == "json" and not c.metrics:
            b.err(path, "format 'json' needs metrics (field paths)")
        if c.format != "json" and c.metrics:
            b.err(_join(path, "metrics"), "only format 'json' takes metrics")
    return c


@_check(JSONConfig)
def _check_json(b: _Builder, c: JSONConfig, raw: Mapping[str, Any], path: str) -> JSONConfig:
    c = _clamp_timeout(b, c, raw, path)
    if not c.metrics and b.ok("metrics"):
        b.err(_join(path, "metrics"), "a JSON source needs at least one metric")
    _check_client_auth(b, c, path)
    return c


@_check(PanelConfig)
def _check_panel(b: _Builder, p: PanelConfig, raw: Mapping[str, Any], path: str) -> PanelConfig:
    if p.unit not in PANEL_UNITS:
        close = difflib.get_close_matches(p.unit, PANEL_UNITS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        b.err(_join(path, "unit"), f"unknown unit {p.unit!r}{hint}")
    values = [t.value for t in p.thresholds]
    if any(x >= y for x, y in itertools.pairwise(values)):
        b.err(_join(path, "thresholds"), "threshold values must increase")
    if p.min is not None and p.max is not None and p.min >= p.max:
        b.err(path, "min must be below max")
    return p


@_check(DashboardConfig)
def _check_dashboard(
    b: _Builder, d: DashboardConfig, raw: Mapping[str, Any], path: str
) -> DashboardConfig:
    for i, p in enumerate(d.panels):
        if p.width > d.columns:
            b.err(f"{_join(path, 'panels')}[{i}].width", f"is wider than the {d.columns} columns")
    return d


#: Sections whose check fills in values (or records them for inheritance) or reports
#: independent problems even when one of their keys was refused; their checks skip
#: comparisons that involve a refused key (`_Builder.ok`).
_ALWAYS_CHECK = frozenset(
    {
        GlobalConfig,
        StorageConfig,
        HostConfig,
        RemoteWriteConfig,
        ServerConfig,
        Config,
        ScrapeConfig,
        CommandConfig,
        JSONConfig,
        BasicAuth,
        Authorization,
        TLSConfig,
        RuleConfig,
        AlertmanagerConfig,
        WebhookConfig,
        QueueConfig,
        LogConfig,
    }
)


@_check(Config)
def _check_config(b: _Builder, c: Config, raw: Mapping[str, Any], path: str) -> Config:
    _check_duplicates(b, c.scrape_configs, "job_name", "scrape_configs")
    if c.host.enabled:
        for i, s in enumerate(c.scrape_configs):
            if s.job_name == c.host.job:
                b.err(
                    f"scrape_configs[{i}].job_name",
                    f"{s.job_name!r} is the job of the built-in host scraper; "
                    "rename it or set [host] job",
                )
    _check_duplicates(b, c.rule_groups, "name", "rule_groups")
    _check_duplicates(b, c.remote_write, "name", "remote_write")
    _check_duplicates(b, c.log_configs, "name", "log_configs")
    _check_duplicates(b, c.command_configs, "name", "command_configs")
    _check_duplicates(b, c.json_configs, "name", "json_configs")
    _check_duplicates(b, c.report_configs, "name", "report_configs")
    _check_duplicates(b, c.dashboards, "name", "dashboards")
    return c


# ======================================================================================
# Public API
# ======================================================================================

_TOML_POS_RE = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def parse_config(text: str, source: str = "<string>", *, base_dir: Path | None = None) -> Config:
    """Parse and validate config text.

    Args:
        text: The TOML text.
        source: Where it came from, used in error messages (a file path).
        base_dir: Folder relative file paths are resolved against; the folder of
            `source` when it is a path, else the working directory.

    Raises:
        ConfigValidationError: with every problem found (TOML syntax errors carry a
            line and column).
    """
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        raise ConfigValidationError(
            source, [Problem("", "invalid TOML: nested too deeply")]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS_RE.match(msg)
        if m:
            problem = Problem(
                "",
                f"invalid TOML: {m.group('msg')}",
                line=int(m.group("line")),
                column=int(m.group("col")),
            )
        else:
            problem = Problem("", f"invalid TOML: {msg}")
        raise ConfigValidationError(source, [problem]) from None
    if base_dir is None:
        base_dir = Path(source).absolute().parent if not source.startswith("<") else _cwd()
    builder = _Builder(base_dir)
    config = builder.build(Config, raw, "")
    if builder.problems:
        key_lines = _key_lines(text)
        problems = [
            dataclasses.replace(p, line=_line_of(p.key, key_lines)) for p in builder.problems
        ]
        problems.sort(key=lambda p: p.line or 0)  # in file order, as an editor lists them
        raise ConfigValidationError(source, problems)
    return dataclasses.replace(config, source=source)


_KEY_PART = r"(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[A-Za-z0-9_-]+)"
_KEY_PATH = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER_RE = re.compile(rf"^(?P<open>\[\[?)\s*(?P<name>{_KEY_PATH})\s*\]\]?\s*(?:#.*)?$")
_KEY_RE = re.compile(rf"^(?P<key>{_KEY_PATH})\s*=")
_KEY_PARTS_RE = re.compile(_KEY_PART)
_LAST_SEGMENT_RE = re.compile(r'(?:^|\.)(?:"(?:[^"\\]|\\.)*"|[^."\[]+)$|\[\d+\]$')


def _key_parts(dotted: str) -> list[str]:
    parts = []
    for part in _KEY_PARTS_RE.findall(dotted):
        if part[:1] in ('"', "'"):
            try:  # let TOML itself undo its escapes (\\, \", \u001f...)
                part = tomllib.loads(f"k = {part}")["k"]
            except tomllib.TOMLDecodeError:
                part = part[1:-1]
        parts.append(part)
    return parts


def _key_lines(text: str) -> dict[str, int]:
    """Line of each key path written in valid TOML `text` (first occurrence).

    A light scan, not a parser: it follows table headers (`[a.b]`, `[[a]]` with
    their array indices) and `key = ` lines at the top of a table. Keys inside
    inline tables and multi-line arrays take the line of the key that holds them
    (see :func:`_line_of`).
    """
    lines: dict[str, int] = {}
    counters: dict[str, int] = {}
    table = ""
    depth = 0
    multiline: str | None = None

    def resolve(parts: list[str]) -> str:
        path = ""
        for part in parts:
            path = _join(path, part)
            lines.setdefault(path, number)  # implicitly defined parent tables
            if path in counters:
                path = f"{path}[{counters[path] - 1}]"
        return path

    number = 0
    # TOML ends lines with \n only; str.splitlines() would also split on \x85, \u2028...
    for number, raw_line in enumerate(text.split("\n"), 1):
        line = raw_line.strip()
        if multiline is None and depth == 0:
            header = _HEADER_RE.match(line)
            if header:
                parts = _key_parts(header.group("name"))
                if header.group("open") == "[[":
                    base = resolve(parts[:-1])
                    base = _join(base, parts[-1]) if parts else base
                    counters[base] = counters.get(base, 0) + 1
                    table = f"{base}[{counters[base] - 1}]"
                    lines.setdefault(base, number)
                else:
                    table = resolve(parts)
                lines.setdefault(table, number)
                continue
            key = _KEY_RE.match(line)
            if key:
                path = table
                for part in _key_parts(key.group("key")):
                    path = _join(path, part)
                    lines.setdefault(path, number)
        depth, multiline = _scan_brackets(line, depth, multiline)
    return lines


def _scan_brackets(line: str, depth: int, multiline: str | None) -> tuple[int, str | None]:
    """Bracket depth after `line`, skipping strings and comments."""
    i = 0
    n = len(line)
    while i < n:
        if multiline is not None:
            end = line.find(multiline, i)
            if end < 0:
                return depth, multiline
            i = end + 3
            multiline = None
            continue
        c = line[i]
        if c == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            multiline = line[i : i + 3]
            i += 3
            continue
        if c == '"':
            i += 1
            while i < n and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
        elif c == "'":
            end = line.find("'", i + 1)
            i = n if end < 0 else end
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return depth, multiline


def _line_of(key: str, key_lines: Mapping[str, int]) -> int | None:
    """The line of `key`, or of its nearest written ancestor."""
    while key:
        if key in key_lines:
            return key_lines[key]
        m = _LAST_SEGMENT_RE.search(key)
        if not m:
            return None
        key = key[: m.start()]
    return None


def _cwd() -> Path | None:
    try:
        return Path.cwd()
    except OSError:  # the working directory was deleted under us
        return None


def default_config() -> Config:
    """The embedded default: host scraper every 5 s into the XDG database, nothing else."""
    return parse_config("", "<defaults>")


def load_config(path: Path | str | None) -> Config:
    """Load the config file at `path`.

    `None` means the XDG default (`$XDG_CONFIG_HOME/nightowl/config.toml`); when
    that file does not exist the embedded default is returned. An explicit path
    that does not exist is an error. A file holding secrets inline (passwords,
    tokens) that every user may read is refused.

    Raises:
        ConfigError: unreadable or missing (explicit) file, world-readable secrets.
        ConfigValidationError: syntax and validation problems, all of them.
    """
    explicit = path is not None
    file = Path(path) if path is not None else default_config_path()
    file = file.expanduser()
    if not file.exists():
        if explicit:
            raise ConfigError(
                f"config file {file} does not exist",
                hint=f"create one with `nightowl init --config {file}`",
            )
        return default_config()
    if file.is_dir():
        raise ConfigError(f"{file} is a directory, not a config file")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {file} is not UTF-8 text (byte {exc.start})", where=str(file)
        ) from None
    config = parse_config(text, str(file), base_dir=file.resolve().parent)
    _refuse_world_readable_secrets(file, config)
    return config


def with_overrides(
    config: Config, *, db: str | Path | None = None, listen: str | None = None
) -> Config:
    """`config` with the command line's `--db` and `--listen` applied (flags beat the file).

    `db` is resolved against the working directory (it was typed in a shell);
    `listen` is checked like `[server] listen`.

    Raises:
        ConfigError: `listen` is not host:port.
    """
    if db is not None:
        path = Path(db).expanduser()
        config = dataclasses.replace(
            config, storage=dataclasses.replace(config.storage, path=str(path.absolute()))
        )
    if listen is not None:
        m = _LISTEN_RE.match(listen)
        if not m or int(m.group("port")) > 65535:
            raise ConfigError(f"--listen {listen!r} is not host:port (e.g. '127.0.0.1:9095')")
        config = dataclasses.replace(
            config, server=dataclasses.replace(config.server, listen=listen)
        )
    return config


def _refuse_world_readable_secrets(file: Path, config: Config) -> None:
    if sys.platform == "win32":  # pragma: no cover - POSIX permissions only
        return
    secrets = secret_key_paths(config)
    if not secrets:
        return
    mode = file.stat().st_mode
    if mode & stat.S_IROTH:
        shown = ", ".join(secrets[:3]) + (" ..." if len(secrets) > 3 else "")
        raise ConfigError(
            f"{file} holds secrets ({shown}) and every user on this machine can read it",
            hint=f"run `chmod 600 {file}`, or move the secrets to *_file keys",
        )


def secret_key_paths(config: Any, path: str = "") -> list[str]:
    """Key paths of every non-empty secret written inline in `config` (never their values)."""
    found: list[str] = []
    for f in _public_fields(type(config)):
        value = getattr(config, f.name)
        p = _join(path, _key(f))
        if f.metadata.get("secret") and value:
            found.append(p)
        elif f.name == "headers" and isinstance(value, dict):
            found.extend(_join(p, k) for k, v in value.items() if v and _SECRET_HEADER_RE.search(k))
        elif _is_section(type(value)):
            found.extend(secret_key_paths(value, p))
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                if _is_section(type(item)):
                    found.extend(secret_key_paths(item, f"{p}[{i}]"))
    return found


def file_warnings(config: Config) -> list[str]:
    """Things worth a warning but not an error: files that do not exist (yet).

    Prometheus reads rule files, service-discovery files and credential files
    at run time, so their absence does not make the config invalid.
    """
    warnings: list[str] = []

    def missing(pattern: str) -> bool:
        if any(ch in pattern for ch in "*?["):
            p = Path(pattern)
            return not any(p.parent.glob(p.name)) if p.parent.exists() else True
        return not Path(pattern).exists()

    for i, pattern in enumerate(config.rule_files):
        if missing(pattern):
            warnings.append(f"rule_files[{i}]: {pattern} matches no file")

    def walk(obj: Any, path: str) -> None:
        for f in _public_fields(type(obj)):
            value = getattr(obj, f.name)
            p = _join(path, _key(f))
            if (
                f.metadata.get("kind") == "path"
                and p != "rule_files"
                and not f.metadata.get("writes")
            ):
                values = value if isinstance(value, tuple) else (value,)
                for v in values:
                    if isinstance(v, str) and v and missing(v):
                        glob_chars = any(ch in v for ch in "*?[")
                        what = "matches no file" if glob_chars else "does not exist"
                        warnings.append(f"{p}: {v} {what}")
            elif _is_section(type(value)):
                walk(value, p)
            elif isinstance(value, tuple):
                for i, item in enumerate(value):
                    if _is_section(type(item)):
                        walk(item, f"{p}[{i}]")

    walk(config, "")
    return warnings


# ======================================================================================
# Writing
# ======================================================================================


def section_to_dict(obj: Any, *, include_defaults: bool = False) -> dict[str, Any]:
    """A config dataclass as plain TOML-ready data (durations as '15s', paths as strings).

    With `include_defaults=False` (the default) keys equal to the field's
    default are left out, so a written file says only what differs.
    """
    hints = _hints(type(obj))
    out: dict[str, Any] = {}
    for f in _public_fields(type(obj)):
        value = getattr(obj, f.name)
        if not include_defaults and not f.metadata.get("required") and _is_default(f, value):
            continue
        encoded = _encode(hints[f.name], value, f.metadata, include_defaults)
        if encoded is None:
            continue
        out[_key(f)] = encoded
    return out


def _is_default(f: dataclasses.Field[Any], value: Any) -> bool:
    if f.default is not dataclasses.MISSING:
        return bool(value == f.default)
    if f.default_factory is not dataclasses.MISSING:
        return bool(value == f.default_factory())
    return False


def _encode(tp: Any, value: Any, meta: Mapping[str, Any], include_defaults: bool) -> Any:
    if value is None:
        return None
    kind = meta.get("kind")
    if kind == "duration":
        return format_duration(value)
    if _is_section(type(value)):
        return section_to_dict(value, include_defaults=include_defaults)
    if isinstance(value, tuple):
        tp, _ = _strip_optional(tp)
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else Any
        return [_encode(inner, v, {"kind": kind}, include_defaults) for v in value]
    if isinstance(value, dict):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in value.items()}
    return value


def config_to_dict(config: Config, *, include_defaults: bool = False) -> dict[str, Any]:
    """The whole config as plain TOML-ready data (see :func:`section_to_dict`)."""
    return section_to_dict(config, include_defaults=include_defaults)


def config_to_toml(config: Config, *, include_defaults: bool = False) -> str:
    """The config as TOML text (tomli-w) that :func:`parse_config` reads back to an equal Config.

    Secrets are written (it is the user's own file); write it with mode 0600.
    """
    return tomli_w.dumps(config_to_dict(config, include_defaults=include_defaults))


# ======================================================================================
# Documentation
# ======================================================================================


def _section_heading(path: str, is_array: bool) -> str:
    return f"`[[{path}]]`" if is_array else f"`[{path}]`"


def _default_text(f: dataclasses.Field[Any], tp: Any) -> str:
    meta = f.metadata
    if "default_doc" in meta:
        return str(meta["default_doc"])
    if "inherit" in meta:
        return f"`{meta['inherit']}`"
    if meta.get("required"):
        return "required"
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:  # pragma: no cover
        return ""
    if value is None:
        return "unset"
    if _is_section(type(value)):
        return "see below"
    if meta.get("kind") == "duration":
        return f'`"{format_duration(value)}"`'
    if meta.get("kind") == "size":
        return "`0` (no limit)" if value == 0 else f"`{value}` bytes"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return "`[]`" if not value else "`[" + ", ".join(_toml_scalar(v) for v in value) + "]`"
    if isinstance(value, dict):
        return "`{}`"
    return f"`{_toml_scalar(value)}`"


def _toml_scalar(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    return str(value)


def schema_markdown() -> str:
    """The key reference of docs/configuration.md, generated from the dataclasses.

    One table per section (key, type, default, meaning). A test keeps the
    committed docs equal to this, so the reference cannot drift from the code.
    """
    lines: list[str] = []
    documented: dict[type, str] = {}

    def section(cls: type, path: str, is_array: bool) -> None:
        heading = _section_heading(path, is_array)
        if cls in documented:
            lines.append(f"### {heading}")
            lines.append("")
            lines.append(f"Same keys as {documented[cls]}.")
            lines.append("")
            return
        documented[cls] = heading
        hints = _hints(cls)
        docs = field_docs(cls)
        nested: list[tuple[type, str, bool]] = []
        lines.append(f"### {heading}")
        lines.append("")
        lines.append(" ".join((cls.__doc__ or "").split()))
        lines.append("")
        lines.append("| key | type | default | meaning |")
        lines.append("|---|---|---|---|")
        for f in _public_fields(cls):
            tp, _ = _strip_optional(hints[f.name])
            key = _key(f)
            sub_path = f"{path}.{key}"
            if _is_section(tp):
                nested.append((tp, sub_path, False))
            elif typing.get_origin(tp) is tuple and _is_section(typing.get_args(tp)[0]):
                nested.append((typing.get_args(tp)[0], sub_path, True))
            doc = docs.get(f.name, "").replace("|", "\\|")
            if f.metadata.get("secret"):
                doc += " *Secret.*"
            type_name = _type_name(tp, f.metadata).replace("|", "\\|")
            lines.append(f"| `{key}` | {type_name} | {_default_text(f, tp)} | {doc} |")
        lines.append("")
        for sub_cls, sub_path, sub_array in nested:
            section(sub_cls, sub_path, sub_array)

    hints = _hints(Config)
    lines.append("### Top level")
    lines.append("")
    lines.append("| key | type | default | meaning |")
    lines.append("|---|---|---|---|")
    tops: list[tuple[type, str, bool]] = []
    docs = field_docs(Config)
    for f in _public_fields(Config):
        tp, _ = _strip_optional(hints[f.name])
        key = _key(f)
        if _is_section(tp):
            tops.append((tp, key, False))
        elif typing.get_origin(tp) is tuple and _is_section(typing.get_args(tp)[0]):
            tops.append((typing.get_args(tp)[0], key, True))
        type_name = _type_name(tp, f.metadata)
        lines.append(f"| `{key}` | {type_name} | {_default_text(f, tp)} | {docs.get(f.name, '')} |")
    lines.append("")
    for cls, path, is_array in tops:
        section(cls, path, is_array)
    return "\n".join(lines).rstrip() + "\n"


def schema_key_paths() -> list[str]:
    """Every key path of the schema, arrays written as `scrape_configs.basic_auth.username`."""
    paths: list[str] = []

    def walk(cls: type, prefix: str) -> None:
        hints = _hints(cls)
        for f in _public_fields(cls):
            tp, _ = _strip_optional(hints[f.name])
            p = f"{prefix}.{_key(f)}" if prefix else _key(f)
            if _is_section(tp):
                walk(tp, p)
            elif typing.get_origin(tp) is tuple and _is_section(typing.get_args(tp)[0]):
                walk(typing.get_args(tp)[0], p)
            else:
                paths.append(p)

    walk(Config, "")
    return paths


if __name__ == "__main__":  # pragma: no cover - `python -m nightowl.config` prints the reference
    print(schema_markdown(), end="")
