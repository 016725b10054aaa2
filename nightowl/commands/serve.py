"""`nightowl serve --db PATH [--listen ADDR]`: the read-only HTTP API over a database.

Opens the database read-only (it works beside a running daemon or TUI that
writes it) and serves the query, series, label, metadata, status and
federation endpoints plus `/metrics`. Nothing is scraped or written; push and
lifecycle endpoints answer 403. Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from typing import Any

from nightowl.errors import UserError

__all__ = ["register", "run", "serve"]

log = logging.getLogger("nightowl.serve")


def register(subparsers: Any) -> None:
    """Add `nightowl serve` to the CLI."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the Prometheus HTTP API read-only over an existing database",
        description="Serve the Prometheus-compatible HTTP API over an existing database, "
        "read-only.",
    )
    parser.add_argument("--db", metavar="PATH", required=True, help="database file")
    parser.add_argument("--listen", metavar="ADDR", help="host:port (default 127.0.0.1:9095)")
    parser.add_argument("--config", metavar="FILE", help="config file ([server] limits, auth)")
    parser.add_argument("--log-format", choices=("plain", "json"), default="plain")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open the database read-only and serve until stopped."""
    from nightowl.config import load_config, with_overrides
    from nightowl.server.daemon import configure_logging, tune_malloc

    tune_malloc()
    configure_logging(args.log_format, args.log_level)
    config = with_overrides(load_config(args.config), listen=args.listen)
    return asyncio.run(serve(config, args.db))


async def serve(config: Any, db: str) -> int:
    """Serve `db` read-only with the `[server]` settings of `config`."""
    import uvicorn

    from nightowl.server.api import Api
    from nightowl.server.app import ServerParts, create_app
    from nightowl.server.daemon import _Server, bind, engine_options
    from nightowl.server.security import Authenticator, ssl_options
    from nightowl.server.selfmetrics import render
    from nightowl.store import Store

    sock = bind(config.server.listen)
    try:
        store = await asyncio.to_thread(Store.open, db, readonly=True)
    except BaseException:
        sock.close()
        raise
    started = time.time()
    try:
        s = config.server
        api = Api(store, engine_options=engine_options(s))
        app: Any = None

        def metrics() -> str:
            return render(http=app.state.http_stats, api=api, start_time_s=started)

        parts = ServerParts(
            metrics=metrics,
            external_labels=dict(config.global_.external_labels),
            auth=Authenticator.from_config(s),
            max_body_size=s.max_body_size,
            max_concurrent_queries=s.max_concurrent_queries,
            queue_timeout_s=s.query_timeout / 1000,
        )
        app = create_app(api, parts)
        server = _Server(
            uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                lifespan="off",
                server_header=False,
                **ssl_options(s.tls),
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if task.done() and not server.started:
            raise UserError(f"cannot listen on {s.listen}")
        log.info("nightowl serving %s read-only on %s", db, s.listen)
        await task
        app.state.executor.shutdown(wait=False, cancel_futures=True)
    finally:
        sock.close()
        await asyncio.to_thread(store.close)
    return 0
