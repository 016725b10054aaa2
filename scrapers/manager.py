"""The scrape manager: config in, running scrape loops out.

:class:`ScrapeManager` owns one *job* per `[[scrape_configs]]` entry (its options,
one shared `httpx.AsyncClient`, its file_sd watchers) and one loop per target,
plus the built-in host scraper. :meth:`ScrapeManager.apply` takes a whole config
and reconciles:

* a target that is still there keeps its loop, its staleness state and its
  schedule (new options such as relabel rules or limits are taken in place);
* a target that is gone is stopped and its series end with staleness markers;
* a new target gets a new loop, started at its own offset into the interval.

Each loop is its own asyncio task with its own timeout and body limit, so a
slow, hanging, huge, malformed or flapping target never holds up another.
:meth:`ScrapeManager.targets` is what the HTTP API (`/api/v1/targets`) and the
TUI's targets view read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightowl.scrapers.file_sd import FileDiscovery
from nightowl.scrapers.loop import BaseLoop, ScrapeLoop
from nightowl.scrapers.target import (
    ScrapeOptions,
    Target,
    TlsOptions,
    options_from_config,
    targets_from_groups,
)
from nightowl.store.api import Appender

from nightowl.errors import ConfigError
from nightowl.model import Labels, TargetStatus
from nightowl.timeutil import now_ms

if TYPE_CHECKING:
    import httpx

__all__ = ["ScrapeManager", "build_ssl_context"]

log = logging.getLogger("nightowl.scrapers")


def build_ssl_context(tls: TlsOptions) -> ssl.SSLContext:
    """An SSL context for a job's `tls_config` (CA, client certificate, skip verify)."""
    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass(slots=True)
class _Job:
    options: ScrapeOptions
    client: httpx.AsyncClient | None
    client_error: str
    discoveries: list[FileDiscovery]
    loops: dict[tuple[str, Labels, str], ScrapeLoop] = field(default_factory=dict)
    dropped: list[Labels] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sd_task: asyncio.Task[None] | None = None


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    value = cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)
    return default if value is None else value


class ScrapeManager:
    """Runs the scrape loops of a config and keeps them in step with reloads.

    Args:
        appender: Where every scrape's batch goes (the store's writer).
        transport: An httpx transport for every job's client (tests inject a
            `MockTransport`); None uses the network.
        clock: Unix-ms clock for sample timestamps.
        base_dir: Directory relative file_sd globs are resolved in.
        offset_seed: Mixed into each target's scrape offset (one per nightowl
            instance, so two instances scraping the same target spread out).
    """

    def __init__(
        self,
        appender: Appender,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], int] = now_ms,
        base_dir: Path | None = None,
        offset_seed: int = 0,
    ) -> None:
        self.appender = appender
        self.transport = transport
        self.clock = clock
        self.base_dir = base_dir
        self.offset_seed = offset_seed
        self._jobs: dict[str, _Job] = {}
        self._host: BaseLoop | None = None
        self._host_key: Any = None
        self._running = False
        self._lock = asyncio.Lock()

    # -- config --------------------------------------------------------------

    async def apply(self, config: Any) -> list[str]:
        """Apply a whole config (`scrape_configs`, `global`, `host`); returns target errors.

        Raises :class:`ConfigError` (and changes nothing) when a scrape config is
        invalid.
        """
        global_cfg = _get(config, "global_", None) or _get(config, "global", None)
        scrape_configs = _get(config, "scrape_configs", ()) or ()
        options = [
            options_from_config(sc, global_cfg, where=f"scrape_configs[{i}]")
            for i, sc in enumerate(scrape_configs)
        ]
        from nightowl.scrapers.host import HostOptions

        host = HostOptions.from_config(_get(config, "host", None))
        errors = await self.apply_jobs(options)
        await self.apply_host(host)
        return errors

    async def apply_jobs(self, jobs: Sequence[ScrapeOptions]) -> list[str]:
        """Reconcile the running jobs with `jobs`; returns target errors (bad addresses ...)."""
        names = [j.job_name for j in jobs]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ConfigError(f"duplicate job_name {sorted(dupes)[0]!r}", where="scrape_configs")
        async with self._lock:
            self._running = True
            wanted = {j.job_name: j for j in jobs}
            for name in [n for n in self._jobs if n not in wanted]:
                await self._remove_job(self._jobs.pop(name))
            errors: list[str] = []
            for name, opts in wanted.items():
                job = self._jobs.get(name)
                if job is None:
                    job = self._jobs[name] = self._new_job(opts)
                else:
                    self._update_job(job, opts)
                for disc in job.discoveries:
                    disc.refresh()
                await self._sync_targets(job)
                errors.extend(_job_errors(job))
                if job.discoveries and job.sd_task is None:
                    job.sd_task = asyncio.get_running_loop().create_task(
                        self._watch_files(job), name=f"file_sd {name}"
                    )
            return errors

    async def apply_host(self, host_cfg: Any) -> None:
        """Start, reconfigure or stop the built-in host scraper (`[host]`).

        `host_cfg` is the `[host]` section (or resolved `HostOptions`); with no
        section at all (None) it runs with its defaults, every 5 s.
        """
        from nightowl.scrapers.host import HostOptions, HostScrapeLoop

        opts = host_cfg if isinstance(host_cfg, HostOptions) else HostOptions.from_config(host_cfg)
        async with self._lock:
            old = self._host
            same_series = (
                old is not None
                and opts.enabled
                and (opts.job, opts.instance) == (self._host_key.job, self._host_key.instance)
            )
            if old is not None and (not opts.enabled or opts != self._host_key):
                # Same job/instance: the new loop carries on the series (no staleness gap;
                # series of a collector turned off go stale at its first scrape).
                await old.stop(mark_stale=not same_series)
                self._host = None
            if opts.enabled and self._host is None:
                self._host = HostScrapeLoop(
                    opts, self.appender, clock=self.clock, offset_seed=self.offset_seed
                )
                if same_series and old is not None:
                    self._host.adopt_state(old)
                self._host.start()
            self._host_key = opts

    def _new_job(self, opts: ScrapeOptions) -> _Job:
        client, error = self._make_client(opts)
        discoveries = [
            FileDiscovery(files, refresh, self.base_dir) for files, refresh in opts.file_sd
        ]
        return _Job(opts, client, error, discoveries)

    def _update_job(self, job: _Job, opts: ScrapeOptions) -> None:
        old = job.options
        if opts.client_key() != old.client_key() or job.client is None:
            if job.client is not None:
                task = asyncio.get_running_loop().create_task(job.client.aclose())
                task.add_done_callback(_log_task_error)
            job.client, job.client_error = self._make_client(opts)
        if opts.file_sd != old.file_sd:
            if job.sd_task is not None:
                job.sd_task.cancel()
                job.sd_task = None
            job.discoveries = [
                FileDiscovery(files, refresh, self.base_dir) for files, refresh in opts.file_sd
            ]
        job.options = opts

    def _make_client(self, opts: ScrapeOptions) -> tuple[httpx.AsyncClient | None, str]:
        # httpx is imported only when a scrape job exists, so the embedded default
        # (this host only) never loads it (nor the CLI extras it pulls in).
        import httpx

        verify: ssl.SSLContext | bool = True
        if opts.scheme == "https" or opts.tls != TlsOptions():
            try:
                verify = build_ssl_context(opts.tls)
            except (OSError, ssl.SSLError, ValueError) as exc:
                msg = f"tls_config of job {opts.job_name!r}: {exc}"
                log.error("%s", msg)
                return None, msg
        client = httpx.AsyncClient(
            transport=self.transport,
            verify=verify,
            follow_redirects=True,
            timeout=httpx.Timeout(opts.scrape_timeout_ms / 1000),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=200),
            trust_env=False,
        )
        return client, ""

    async def _sync_targets(self, job: _Job) -> None:
        groups = list(job.options.static_groups)
        for disc in job.discoveries:
            groups.extend(disc.groups())
        targets, dropped, errors = targets_from_groups(job.options, groups)
        job.dropped = dropped
        job.errors = errors
        wanted: dict[tuple[str, Labels, str], Target] = {t.key: t for t in targets}
        # Over target_limit every target of the job fails without being scraped (up 0,
        # its series go stale), as Prometheus does, until the targets fit again.
        client, client_error = job.client, job.client_error
        limit = job.options.target_limit
        if limit and len(wanted) > limit:
            client = None
            client_error = (
                f"target_limit exceeded (number of targets: {len(wanted)}, limit: {limit})"
            )
            log.warning("job %s: %s", job.options.job_name, client_error)
        for key in [k for k in job.loops if k not in wanted]:
            await job.loops.pop(key).stop(mark_stale=True)
        for key, target in wanted.items():
            loop = job.loops.get(key)
            if loop is not None and loop.target == target:
                loop.client = client
                loop.setup_error = client_error
                loop.update_options(job.options)
                continue
            new = ScrapeLoop(
                target,
                job.options,
                self.appender,
                client,
                setup_error=client_error,
                clock=self.clock,
                offset_seed=self.offset_seed,
            )
            if loop is not None:  # same target, new interval/timeout: keep its series state
                await loop.stop(mark_stale=False)
                new.adopt_state(loop)
            job.loops[key] = new
            new.start()

    async def _watch_files(self, job: _Job) -> None:
        interval = min(d.refresh_interval_ms for d in job.discoveries) / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                changed = False
                for disc in job.discoveries:
                    changed = disc.refresh() or changed
                if changed:
                    async with self._lock:
                        await self._sync_targets(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("file_sd refresh of job %s failed", job.options.job_name)

    async def refresh_discovery(self) -> None:
        """Re-read every file_sd file now (tests and `SIGHUP` use it)."""
        async with self._lock:
            for job in self._jobs.values():
                changed = False
                for disc in job.discoveries:
                    changed = disc.refresh() or changed
                if changed:
                    await self._sync_targets(job)

    async def _remove_job(self, job: _Job) -> None:
        if job.sd_task is not None:
            job.sd_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job.sd_task
        await asyncio.gather(*(loop.stop(mark_stale=True) for loop in job.loops.values()))
        job.loops.clear()
        if job.client is not None:
            await job.client.aclose()

    async def stop(self) -> None:
        """Stop every loop (writing staleness markers) and close the clients."""
        async with self._lock:
            for job in self._jobs.values():
                await self._remove_job(job)
            self._jobs.clear()
            if self._host is not None:
                await self._host.stop(mark_stale=True)
                self._host = None
            self._running = False

    # -- state ---------------------------------------------------------------

    def loops(self) -> list[BaseLoop]:
        """Every running loop (host scraper first)."""
        out: list[BaseLoop] = [self._host] if self._host is not None else []
        for job in self._jobs.values():
            out.extend(job.loops.values())
        return out

    def targets(self) -> list[TargetStatus]:
        """The state of every active target (host scraper included), by job then URL."""
        statuses = [loop.status() for loop in self.loops()]
        return sorted(statuses, key=lambda s: (s.job, s.url))

    def dropped_targets(self) -> list[Labels]:
        """Discovered labels of targets that relabeling dropped."""
        out: list[Labels] = []
        for job in self._jobs.values():
            out.extend(job.dropped)
        return out

    def errors(self) -> list[str]:
        """Current discovery/target errors (bad file_sd files, bad addresses)."""
        out: list[str] = []
        for job in self._jobs.values():
            out.extend(_job_errors(job))
        return out

    def jobs(self) -> Iterable[str]:
        """Names of the configured jobs."""
        return list(self._jobs)


def _job_errors(job: _Job) -> list[str]:
    out = [e for disc in job.discoveries for e in disc.errors]
    out.extend(job.errors)
    return out


def _log_task_error(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing an HTTP client failed: %s", task.exception())
