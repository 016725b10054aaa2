"""Scrape targets: the options of one scrape job, and the targets it produces.

A `[[scrape_configs]]` entry becomes a :class:`ScrapeOptions` (durations in ms,
relabel rules compiled). Its target groups (static or from file_sd) become
:class:`Target` s through :func:`populate_target`, which does what Prometheus's
`populateLabels` does:

1. start from the group's labels and the target's `__address__`, then add
   `job`, `__metrics_path__`, `__scheme__`, `__scrape_interval__`,
   `__scrape_timeout__` and `__param_<name>` unless the group already set them;
2. apply `relabel_configs` (a `keep`/`drop` may discard the target);
3. require `__address__`, default `instance` to it, read the scheme, path,
   parameters, interval and timeout back from the labels;
4. drop every label starting with `__`.

The labels before step 2 are the target's *discovered* labels (shown by
`/api/v1/targets`); the result is the set of target labels every scraped
series gets. :func:`options_from_config` reads the config dataclasses
(`nightowl.config`) or plain mappings with prometheus.yml key names.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from nightowl.scrapers.redact import Redactor
from nightowl.scrapers.relabel import RelabelRule, compile_rules, relabel

from nightowl.errors import ConfigError
from nightowl.model import Labels
from nightowl.timeutil import format_duration, parse_duration, parse_size

__all__ = [
    "Authorization",
    "BasicAuth",
    "ScrapeOptions",
    "Target",
    "TargetError",
    "TargetGroup",
    "TlsOptions",
    "options_from_config",
    "populate_target",
    "targets_from_groups",
]

DEFAULT_INTERVAL_MS = 60_000
DEFAULT_TIMEOUT_MS = 10_000


class TargetError(ConfigError):
    """A target's labels are unusable (no `__address__`, a bad interval ...)."""


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP basic auth; the password may come from a file (read at every scrape)."""

    username: str = ""
    password: str = ""
    password_file: str = ""


@dataclass(frozen=True, slots=True)
class Authorization:
    """An `Authorization: <type> <credentials>` header; credentials may come from a file."""

    type: str = "Bearer"
    credentials: str = ""
    credentials_file: str = ""


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """TLS client options, as prometheus.yml's `tls_config`."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """A list of `host:port` addresses sharing labels (a static_config or file_sd entry)."""

    targets: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    """Where the group came from (`static_configs[0]`, a file name), for the API."""


@dataclass(frozen=True, slots=True)
class ScrapeOptions:
    """Everything a scrape loop needs to know about its job, with durations in ms."""

    job_name: str
    scrape_interval_ms: int = DEFAULT_INTERVAL_MS
    scrape_timeout_ms: int = DEFAULT_TIMEOUT_MS
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    honor_labels: bool = False
    honor_timestamps: bool = True
    sample_limit: int = 0
    sample_limit_mode: str = "fail"
    """"fail" (Prometheus: the whole scrape fails) or "truncate" (keep the first N)."""
    label_limit: int = 0
    target_limit: int = 0
    """Most targets after relabeling; over it every target of the job fails (0: no limit)."""
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    body_size_limit: int = 0
    enable_compression: bool = True
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    tls: TlsOptions = field(default_factory=TlsOptions)
    relabel_rules: tuple[RelabelRule, ...] = ()
    metric_relabel_rules: tuple[RelabelRule, ...] = ()
    static_groups: tuple[TargetGroup, ...] = ()
    file_sd: tuple[tuple[tuple[str, ...], int], ...] = ()
    """(file globs, refresh interval ms) per file_sd_configs entry."""
    redactor: Redactor | None = field(default=None, compare=False)

    def client_key(self) -> tuple[Any, ...]:
        """What decides whether two jobs may share one HTTP client."""
        return (self.tls, self.enable_compression)


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint to scrape, with its final labels."""

    job: str
    labels: Labels
    """Target labels (job, instance, user labels) attached to every series."""
    discovered_labels: Labels
    url: str
    interval_ms: int
    timeout_ms: int
    source: str = ""

    @property
    def key(self) -> tuple[str, Labels, str]:
        """Identity across reloads: same key, same loop (state and series kept)."""
        return (self.job, self.labels, self.url)

    def offset_ms(self, seed: int = 0) -> int:
        """A stable per-target phase in [0, interval), as Prometheus hashes targets.

        Spreads the targets of a job across the interval instead of scraping all
        of them at once, and keeps each one's phase across restarts.
        """
        h = zlib.crc32(f"{self.job}\x00{self.url}\x00{self.labels}".encode(), seed)
        h = (h * 0x9E3779B97F4A7C15 + seed) & 0xFFFFFFFFFFFFFFFF
        return h % max(self.interval_ms, 1)


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    value = cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)
    return default if value is None else value


def _duration(value: Any, where: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ConfigError(f"expected a duration, got {value!r}", where=where)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    try:
        return parse_duration(str(value))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(str(exc), where=where) from exc


def _size(value: Any, where: str) -> int:
    if value is None or value == "":
        return 0
    try:
        return parse_size(value)
    except Exception as exc:
        raise ConfigError(str(exc), where=where) from exc


def _groups(static: Any, where: str) -> tuple[TargetGroup, ...]:
    groups = []
    for i, sc in enumerate(static or ()):
        targets = _get(sc, "targets", ())
        if isinstance(targets, str):
            targets = (targets,)
        labels = dict(_get(sc, "labels", {}) or {})
        groups.append(TargetGroup(tuple(str(t) for t in targets), labels, source=f"{where}[{i}]"))
    return tuple(groups)


def options_from_config(
    cfg: Any, global_cfg: Any = None, *, where: str = "scrape_configs"
) -> ScrapeOptions:
    """Build :class:`ScrapeOptions` from one `[[scrape_configs]]` entry.

    `cfg` may be the config dataclass or a mapping with prometheus.yml key names;
    durations may be ms ints or Prometheus duration strings. Unset interval and
    timeout fall back to `global_cfg` (then 1m and 10s as in Prometheus).
    """
    job = str(_get(cfg, "job_name", ""))
    if not job:
        raise ConfigError("scrape config without 'job_name'", where=where)
    g_interval = _duration(
        _get(global_cfg, "scrape_interval_ms", _get(global_cfg, "scrape_interval")),
        "global.scrape_interval",
        DEFAULT_INTERVAL_MS,
    )
    g_timeout = _duration(
        _get(global_cfg, "scrape_timeout_ms", _get(global_cfg, "scrape_timeout")),
        "global.scrape_timeout",
        DEFAULT_TIMEOUT_MS,
    )
    interval = _duration(
        _get(cfg, "scrape_interval_ms", _get(cfg, "scrape_interval")),
        f"{where}.scrape_interval",
        g_interval,
    )
    timeout = _duration(
        _get(cfg, "scrape_timeout_ms", _get(cfg, "scrape_timeout")),
        f"{where}.scrape_timeout",
        min(g_timeout, interval),
    )
    if interval <= 0:
        raise ConfigError("scrape_interval must be positive", where=f"{where}.scrape_interval")
    if timeout > interval:
        raise ConfigError(
            f"scrape_timeout ({format_duration(timeout)}) is greater than scrape_interval "
            f"({format_duration(interval)})",
            where=f"{where}.scrape_timeout",
        )
    params_raw = _get(cfg, "params", {}) or {}
    params = {
        str(k): ((v,) if isinstance(v, str) else tuple(str(x) for x in v))
        for k, v in dict(params_raw).items()
    }
    ba = _get(cfg, "basic_auth")
    basic = (
        BasicAuth(
            str(_get(ba, "username", "")),
            str(_get(ba, "password", "")),
            str(_get(ba, "password_file", "")),
        )
        if ba
        else None
    )
    au = _get(cfg, "authorization")
    authz = None
    if au:
        authz = Authorization(
            str(_get(au, "type", "Bearer")) or "Bearer",
            str(_get(au, "credentials", "")),
            str(_get(au, "credentials_file", "")),
        )
    elif _get(cfg, "bearer_token") or _get(cfg, "bearer_token_file"):
        authz = Authorization(
            "Bearer", str(_get(cfg, "bearer_token", "")), str(_get(cfg, "bearer_token_file", ""))
        )
    tc = _get(cfg, "tls_config")
    tls = TlsOptions(
        str(_get(tc, "ca_file", "")),
        str(_get(tc, "cert_file", "")),
        str(_get(tc, "key_file", "")),
        str(_get(tc, "server_name", "")),
        bool(_get(tc, "insecure_skip_verify", False)),
    )
    mode = str(_get(cfg, "sample_limit_mode", "fail")).lower()
    if mode not in ("fail", "truncate"):
        raise ConfigError(
            f"sample_limit_mode must be 'fail' or 'truncate', not {mode!r}",
            where=f"{where}.sample_limit_mode",
        )
    file_sd = []
    for i, fs in enumerate(_get(cfg, "file_sd_configs", ()) or ()):
        files = _get(fs, "files", ())
        if isinstance(files, str):
            files = (files,)
        refresh = _duration(
            _get(fs, "refresh_interval_ms", _get(fs, "refresh_interval")),
            f"{where}.file_sd_configs[{i}].refresh_interval",
            300_000,
        )
        file_sd.append((tuple(str(f) for f in files), refresh))
    redact_patterns = _get(cfg, "redact_patterns", None)
    if redact_patterns is None:
        redact_patterns = _get(global_cfg, "redact_patterns", ())
    redact_defaults = _get(cfg, "redact_secrets", None)
    if redact_defaults is None:
        redact_defaults = _get(global_cfg, "redact_secrets", True)
    redactor = Redactor(
        tuple(redact_patterns or ()), use_defaults=bool(redact_defaults), where=f"{where}.redact"
    )
    return ScrapeOptions(
        job_name=job,
        scrape_interval_ms=interval,
        scrape_timeout_ms=timeout,
        metrics_path=str(_get(cfg, "metrics_path", "/metrics")) or "/metrics",
        scheme=str(_get(cfg, "scheme", "http")) or "http",
        params=params,
        honor_labels=bool(_get(cfg, "honor_labels", False)),
        honor_timestamps=bool(_get(cfg, "honor_timestamps", True)),
        sample_limit=int(_get(cfg, "sample_limit", 0)),
        sample_limit_mode=mode,
        label_limit=int(_get(cfg, "label_limit", 0)),
        target_limit=int(_get(cfg, "target_limit", 0)),
        label_name_length_limit=int(_get(cfg, "label_name_length_limit", 0)),
        label_value_length_limit=int(_get(cfg, "label_value_length_limit", 0)),
        body_size_limit=_size(_get(cfg, "body_size_limit", 0), f"{where}.body_size_limit"),
        enable_compression=bool(_get(cfg, "enable_compression", True)),
        basic_auth=basic,
        authorization=authz,
        tls=tls,
        relabel_rules=tuple(
            compile_rules(_get(cfg, "relabel_configs"), f"{where}.relabel_configs")
        ),
        metric_relabel_rules=tuple(
            compile_rules(_get(cfg, "metric_relabel_configs"), f"{where}.metric_relabel_configs")
        ),
        static_groups=_groups(_get(cfg, "static_configs", ()), f"{where}.static_configs"),
        file_sd=tuple(file_sd),
        redactor=redactor if redactor.enabled else None,
    )


def populate_target(
    opts: ScrapeOptions, group_labels: Mapping[str, str], address: str, source: str = ""
) -> tuple[Target | None, Labels]:
    """Turn one discovered address into a target (None when relabeling dropped it).

    Returns the target and its discovered labels. Raises :class:`TargetError`
    when the labels after relabeling cannot make a scrape URL.
    """
    lb: dict[str, str] = {str(k): str(v) for k, v in group_labels.items()}
    lb["__address__"] = address
    defaults = {
        "job": opts.job_name,
        "__scrape_interval__": format_duration(opts.scrape_interval_ms),
        "__scrape_timeout__": format_duration(opts.scrape_timeout_ms),
        "__metrics_path__": opts.metrics_path,
        "__scheme__": opts.scheme,
    }
    for name, value in defaults.items():
        lb.setdefault(name, value)
    for name, values in opts.params.items():
        if values:
            lb.setdefault(f"__param_{name}", values[0])
    discovered = Labels(lb.items())
    out = relabel(lb, opts.relabel_rules)
    if out is None:
        return None, discovered
    addr = out.get("__address__", "")
    if not addr:
        raise TargetError(f"target {address!r} has no __address__ after relabeling", where=source)
    if "/" in addr or any(c.isspace() for c in addr):
        raise TargetError(f"invalid target address {addr!r}", where=source)
    try:
        interval = parse_duration(out.get("__scrape_interval__", ""))
        timeout = parse_duration(out.get("__scrape_timeout__", ""))
    except Exception as exc:
        raise TargetError(f"target {addr!r}: {exc}", where=source) from exc
    if interval <= 0 or timeout <= 0:
        raise TargetError(f"target {addr!r}: scrape interval and timeout must be > 0", where=source)
    if timeout > interval:
        raise TargetError(
            f"target {addr!r}: scrape timeout greater than scrape interval", where=source
        )
    scheme = out.get("__scheme__", "http")
    path = out.get("__metrics_path__", "/metrics") or "/"
    if not path.startswith("/"):
        path = "/" + path
    query: list[tuple[str, str]] = []
    for name, values in opts.params.items():
        param = out.get(f"__param_{name}")
        if param is not None:
            query.append((name, param))
            query.extend((name, v) for v in values[1:])
        else:
            query.extend((name, v) for v in values)
    for name, value in out.items():
        if name.startswith("__param_") and name[8:] not in opts.params:
            query.append((name[8:], value))
    url = f"{scheme}://{addr}{path}"
    if query:
        url += ("&" if "?" in path else "?") + urlencode(query)
    out.setdefault("instance", addr)
    final = Labels((k, v) for k, v in out.items() if not k.startswith("__"))
    return (
        Target(
            job=opts.job_name,
            labels=final,
            discovered_labels=discovered,
            url=url,
            interval_ms=interval,
            timeout_ms=timeout,
            source=source,
        ),
        discovered,
    )


def targets_from_groups(
    opts: ScrapeOptions, groups: Sequence[TargetGroup]
) -> tuple[list[Target], list[Labels], list[str]]:
    """Targets of a job from its groups: (targets, dropped discovered labels, errors).

    Duplicate targets (same labels and URL) are scraped once. A bad target is
    reported in `errors` and skipped; the others go on.
    """
    targets: dict[tuple[str, Labels, str], Target] = {}
    dropped: list[Labels] = []
    errors: list[str] = []
    for group in groups:
        for address in group.targets:
            try:
                target, discovered = populate_target(opts, group.labels, address, group.source)
            except TargetError as exc:
                errors.append(str(exc))
                continue
            if target is None:
                dropped.append(discovered)
            else:
                targets.setdefault(target.key, target)
    return list(targets.values()), dropped, errors
