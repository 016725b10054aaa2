"""The headless daemon: scrapers, rules, push, remote write and the HTTP API in one process.

Start order (stop is the reverse)::

    Runtime (store, engine, scrapers, rules)  ->  push receiver  ->  remote write
        ->  HTTP server (uvicorn on the running loop)

The store compacts and applies retention on its own schedule (`Store`'s
compaction thread), so the daemon needs no loop of its own for that.

Signals: SIGTERM and SIGINT stop the process (scrapers write their staleness
markers, the store flushes and closes) within 10 s; SIGHUP and `POST /-/reload`
(with `enable_lifecycle`) re-read the config file. A new config that does not
load or validate is rejected with an error in the log and the old one keeps
running. `listen` and `tls` changes need a restart (logged).

Files the daemon creates (the database and its WAL) are private to its user:
the process runs with umask 077. No Textual is imported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from nightowl.query.engine import EngineOptions
from nightowl.server.api import Api
from nightowl.server.app import ServerParts, create_app
from nightowl.server.security import Authenticator, ssl_options
from nightowl.server.selfmetrics import render

from nightowl.errors import ConfigError, NightowlError, UserError

__all__ = [
    "Daemon",
    "JsonFormatter",
    "bind",
    "configure_logging",
    "engine_options",
    "split_listen",
    "tune_malloc",
]

log = logging.getLogger("nightowl.daemon")

#: Longest a clean shutdown may take before the process gives up waiting.
STOP_TIMEOUT_S = 10.0


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg (and exc when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render `record` as a JSON line."""
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(fmt: str = "plain", level: str = "info") -> None:
    """Send logs to stderr as plain text or JSON lines at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
            )
        )
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)


#: glibc's mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc(mmap_threshold: int = 1 << 20, arenas: int = 2) -> bool:
    """Keep a long-running server's heap from growing with its query history.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB),
    so after a few big queries numpy's temporaries come from the heap, and freed
    heap rarely goes back to the system; every thread also gets its own arena. A
    fixed 1 MiB threshold (bigger arrays are mapped and unmapped) and two arenas
    keep the resident size near what is live: over the standard query set the peak
    fell from about 220 to 172 MB, for about a third more server CPU (fresh pages
    are zeroed by the kernel); see docs/operations.md. Call it before threads
    start. Returns False where it does not apply (not glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    return mallopt(_M_ARENA_MAX, arenas) == 1 and ok


def split_listen(listen: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) to (host, port); an empty host means 127.0.0.1."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def bind(listen: str) -> socket.socket:
    """A listening TCP socket on `listen`; UserError naming the address when that fails."""
    host, port = split_listen(listen)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise UserError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def engine_options(server: Any) -> EngineOptions:
    """The engine limits of a `[server]` section."""
    return EngineOptions(timeout_s=server.query_timeout / 1000, max_samples=server.max_samples)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the daemon owns the signals)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Daemon:
    """One running daemon.

    Args:
        config: The loaded `Config` (overrides already applied).
        runtime: Builds the composition root (`nightowl.runtime.Runtime`) for a config;
            passed in by the CLI so this package stays below the runtime in the layers.
        config_path: The file reloads re-read (None: the XDG default).
        db_path: `--db` (kept across reloads).
        listen: `--listen` (kept across reloads).
    """

    def __init__(
        self,
        config: Any,
        runtime: Callable[[Any], Any],
        *,
        config_path: str | None = None,
        db_path: str | None = None,
        listen: str | None = None,
    ) -> None:
        self.config = config
        self.make_runtime = runtime
        self.config_path = config_path
        self.db_path = db_path
        self.listen = listen
        self.runtime: Any = None
        self.push: Any = None
        self.remote_write: Any = None
        self.api: Api | None = None
        self.parts: ServerParts | None = None
        self.server: _Server | None = None
        self._stop = asyncio.Event()
        self._ready = False
        self._started_s = time.time()
        self._reload_ok = True
        self._last_config_ms = int(time.time() * 1000)
        self._reload_lock = asyncio.Lock()

    def request_stop(self) -> None:
        """Ask the daemon to stop (signal handlers, `/-/quit`)."""
        self._stop.set()

    async def run(self) -> int:
        """Start everything, serve until stopped, stop everything; the exit status."""
        os.umask(0o077)
        cfg = self.config
        self._sock = bind(cfg.server.listen)
        self.runtime = self.make_runtime(cfg)
        await self.runtime.start()
        if self.runtime.attached:
            reason = self.runtime.attached_reason
            await self.runtime.stop()
            raise UserError(f"cannot run the daemon: {reason}", where=str(self.runtime.db_path))
        store = self.runtime.store
        try:
            await self._start_parts(store)
            await self._serve()
        finally:
            await self._shutdown()
        return 0

    _sock: socket.socket | None = None

    async def _start_parts(self, store: Any) -> None:
        cfg = self.config
        g = cfg.global_
        if cfg.push.enabled:
            from nightowl.scrapers.push import PushReceiver

            self.push = PushReceiver.from_config(
                cfg.push, store, interval_ms=g.scrape_interval, max_body=cfg.server.max_body_size
            )
            self.push.start()
        if cfg.remote_write:
            from nightowl.server.remote_write import RemoteWriteManager

            # A target seen for the first time starts with what was scraped since start-up.
            since_start = int((time.time() - self._started_s) * 1000) + 1000
            self.remote_write = RemoteWriteManager(store, cfg.remote_write, backfill_ms=since_start)
            for err in await asyncio.to_thread(self.remote_write.start):
                log.warning("%s", err)
        rt = self.runtime
        self.api = Api(
            store,
            engine_options=engine_options(cfg.server),
            targets=rt.scrapers.targets if rt.scrapers is not None else None,
            dropped_targets=rt.scrapers.dropped_targets if rt.scrapers is not None else None,
            rules=_RulesView(self),
            runtime_info=self._runtime_info,
            retention=_retention_text(cfg.storage),
        )
        s = cfg.server
        self.parts = ServerParts(
            metrics=self._metrics,
            push=self.push,
            reload=self.reload if s.enable_lifecycle else None,
            quit=self.request_stop if s.enable_lifecycle else None,
            ready=lambda: self._ready,
            external_labels=dict(g.external_labels),
            auth=Authenticator.from_config(s),
            max_body_size=s.max_body_size,
            max_concurrent_queries=s.max_concurrent_queries,
            queue_timeout_s=s.query_timeout / 1000,
            admin=self._admin_api(s),
        )

    def _admin_api(self, server_cfg: Any) -> Any:
        """Delete-series, silences and acks over HTTP, each behind its [server] switch."""
        from nightowl.server.admin import AdminApi
        from nightowl.store.alertstate import AlertStateDB, alertstate_path

        rt = self.runtime
        state = rt.alert_state or AlertStateDB(alertstate_path(rt.db_path))
        return AdminApi.from_config(
            server_cfg, rt.store, state, on_silences_changed=self._silences_changed
        )

    def _silences_changed(self) -> None:
        """A silence was added or expired over HTTP: the notifier re-reads them now."""
        silencer = getattr(self.runtime.notifier, "is_muted", None)
        invalidate = getattr(silencer, "invalidate", None)
        if invalidate is not None:
            invalidate()

    def _metrics(self) -> str:
        rt = self.runtime
        return render(
            http=self._app.state.http_stats if self._app is not None else None,
            store=rt.store,
            api=self.api,
            targets=rt.scrapers.targets if rt.scrapers is not None else None,
            remote_write=self.remote_write.stats if self.remote_write is not None else None,
            start_time_s=self._started_s,
        )

    _app: Any = None

    def _runtime_info(self) -> dict[str, Any]:
        from nightowl.server.api import format_rfc3339

        return {
            "startTime": format_rfc3339(int(self._started_s * 1000)),
            "reloadConfigSuccess": self._reload_ok,
            "lastConfigTime": format_rfc3339(self._last_config_ms),
        }

    async def _serve(self) -> None:
        assert self.api is not None and self.parts is not None
        cfg = self.config
        self._app = create_app(self.api, self.parts)
        uv = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=3,
            **ssl_options(cfg.server.tls),
        )
        self.server = _Server(uv)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        serve = asyncio.create_task(self.server.serve(sockets=[self._sock]), name="http")
        while not self.server.started and not serve.done():
            await asyncio.sleep(0.02)
        if serve.done():
            exc = serve.exception()
            raise UserError(f"cannot listen on {cfg.server.listen}: {exc or 'server failed'}")
        if not self.server.started:
            raise UserError(f"cannot listen on {cfg.server.listen}")
        scheme = "https" if cfg.server.tls else "http"
        log.info(
            "nightowl daemon serving %s://%s (database %s)",
            scheme,
            cfg.server.listen,
            self.runtime.db_path,
        )
        self._ready = True
        stopper = asyncio.create_task(self._stop.wait())
        await asyncio.wait({serve, stopper}, return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping")
        self._ready = False
        self.server.should_exit = True
        stopper.cancel()
        try:
            await asyncio.wait_for(serve, 5)
        except (TimeoutError, asyncio.CancelledError):
            log.warning("HTTP server did not stop in time")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    async def _shutdown(self) -> None:
        async def steps() -> None:
            if self.remote_write is not None:
                await asyncio.to_thread(self.remote_write.stop)
                self.remote_write = None
            if self.push is not None:
                await self.push.stop()
                self.push = None
            if self.runtime is not None:  # rules, notifier, sources, scrapers, store
                await self.runtime.stop()

        try:
            await asyncio.wait_for(steps(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.error("shutdown took longer than %.0f s; exiting anyway", STOP_TIMEOUT_S)
        if self._app is not None:
            self._app.state.executor.shutdown(wait=False, cancel_futures=True)
        if self._sock is not None:
            self._sock.close()
        log.info("stopped")

    async def reload(self) -> str | None:
        """Re-read the config file and apply it; the error message when it was rejected."""
        async with self._reload_lock:
            error = await self._reload()
        self._reload_ok = error is None
        if error is None:
            self._last_config_ms = int(time.time() * 1000)
            log.info("config reloaded")
        else:
            log.error("config reload rejected, the old config keeps running: %s", error)
        return error

    async def _reload(self) -> str | None:
        from nightowl.config import load_config, with_overrides

        try:
            new = await asyncio.to_thread(load_config, self.config_path)
            new = with_overrides(new, db=self.db_path, listen=self.listen)
        except NightowlError as exc:
            return str(exc)
        old = self.config
        if new.storage.path != old.storage.path:
            return "[storage] path changed; restart nightowl to use another database"
        rt = self.runtime
        try:
            auth = await asyncio.to_thread(Authenticator.from_config, new.server)
        except OSError as exc:
            return f"cannot read a bearer token file: {exc}"
        except ConfigError as exc:
            return str(exc)
        try:  # scrapers, log/command/JSON/report sources, rules and their notifier
            warnings = await rt.reload(new)
        except NightowlError as exc:
            return str(exc)
        for warning in warnings:
            log.warning("%s", warning)
        if self.remote_write is not None or new.remote_write:
            if self.remote_write is None:
                from nightowl.server.remote_write import RemoteWriteManager

                self.remote_write = RemoteWriteManager(rt.store, ())
                await asyncio.to_thread(self.remote_write.start)
            for err in await asyncio.to_thread(self.remote_write.apply, new.remote_write):
                log.warning("%s", err)
        if new.server.listen != old.server.listen or new.server.tls != old.server.tls:
            log.warning("[server] listen/tls changed: restart nightowl to apply")
        assert self.api is not None and self.parts is not None
        self.api.engine_options = engine_options(new.server)
        self.parts.auth = auth
        self.parts.external_labels = dict(new.global_.external_labels)
        self.parts.admin = self._admin_api(new.server)
        self.config = new
        return None


class _RulesView:
    """The daemon's current rule manager (it may appear on reload), for the API."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def _manager(self) -> Any:
        return getattr(self.daemon.runtime, "rules", None)

    def groups(self) -> list[Any]:
        """The groups, or none."""
        m = self._manager()
        return [] if m is None else m.groups()

    def alerts(self) -> list[Any]:
        """The pending and firing alerts, or none."""
        m = self._manager()
        return [] if m is None else m.alerts()


def _retention_text(storage: Any) -> str:
    parts = []
    if storage.retention_time:
        days, rem = divmod(storage.retention_time, 86_400_000)
        parts.append(f"{days}d" if not rem else f"{storage.retention_time // 1000}s")
    if storage.retention_size:
        parts.append(f"{storage.retention_size}B")
    return " or ".join(parts)
