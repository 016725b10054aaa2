"""The HTTP server: a Starlette app over :class:`~nightowl.server.api.Api` and friends.

:func:`create_app` takes everything as arguments (an `Api`, callables, optional
push receiver), so `nightowl serve` (read-only, over an existing database) and
`nightowl daemon` build the same app with different parts, and tests drive it
through `httpx.ASGITransport` without a socket.

What the web layer adds to the handlers:

- form parsing as Go's `ParseForm` (POST urlencoded body first, then the query string);
- limits, each answered in Prometheus's error shape: request bodies over
  `max_body_size` (413), more than `max_concurrent_queries` running at once (a
  request waits up to `queue_timeout_s`, then 503 `unavailable`);
- handlers run in a small thread pool (`query_threads` plus two), never on the
  event loop: every thread holds a read connection and its caches, so the
  pool is sized for the cores, not for `max_concurrent_queries`;
- authentication and roles (:mod:`nightowl.server.security`): read for the
  API, write for push, silences and acks, admin for reload/quit and the TSDB
  admin API; push and lifecycle endpoints answer 403 unless their switch is on,
  the TSDB admin API 503 "admin APIs disabled" as Prometheus does (see
  :mod:`nightowl.server.admin` for silences and acks);
- per-handler request counters and latency histograms for `/metrics`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from nightowl.server.admin import admin_routes
from nightowl.server.api import Api, ApiResult, Params, parse_matcher_sets
from nightowl.server.envelope import ApiError, error_body, success_body
from nightowl.server.federate import federate
from nightowl.server.security import ANONYMOUS_ALL, Authenticator, Principal
from nightowl.server.selfmetrics import HttpStats
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from nightowl.timeutil import now_ms

__all__ = ["ServerParts", "create_app"]

log = logging.getLogger(__name__)

_JSON = "application/json"
_TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class ServerParts:
    """What the app serves besides the API.

    Attributes:
        metrics: Renders `/metrics` (None: 404).
        push: A `PushReceiver` for `/metrics/job/...` (None: push is off, 403).
        reload: Reloads the config; returns an error message or None (None: lifecycle off).
        quit: Asks the process to stop (None: lifecycle off).
        ready: Whether `/-/ready` says ready.
        external_labels: Added to federated series.
        auth: Who may do what (None: everyone everything).
        max_body_size: Largest request body, bytes.
        max_concurrent_queries: Requests evaluated at once; others wait.
        query_threads: Most threads evaluating at once (a request holding a slot
            waits for one). Each thread keeps its own read connection, SQLite page
            cache and malloc arena, so more threads than cores cost memory, not speed.
        queue_timeout_s: How long a request may wait for a slot.
        clock: Unix ms now (federation).
        admin: A `nightowl.server.admin.AdminApi` for delete series, silences and acks
            (None: those endpoints answer 503).
    """

    metrics: Callable[[], str] | None = None
    push: Any = None
    reload: Callable[[], Awaitable[str | None]] | None = None
    quit: Callable[[], None] | None = None
    ready: Callable[[], bool] = lambda: True
    external_labels: Mapping[str, str] = field(default_factory=dict)
    auth: Authenticator | None = None
    max_body_size: int = 10 * 1024 * 1024
    max_concurrent_queries: int = 20
    query_threads: int = 4
    queue_timeout_s: float = 120.0
    clock: Callable[[], int] = now_ms
    admin: Any = None


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _TooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _pairs(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True, errors="replace", separator="&")


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=_JSON)


def _error(exc: ApiError) -> Response:
    return _json(error_body(exc.kind, exc.message), exc.status)


def create_app(api: Api, parts: ServerParts | None = None) -> Starlette:
    """The ASGI app serving `api` plus `parts` (see the module docs for the routes)."""
    parts = parts or ServerParts()
    stats = HttpStats()
    executor = ThreadPoolExecutor(
        max_workers=max(1, min(parts.max_concurrent_queries, parts.query_threads)) + 2,
        thread_name_prefix="nightowl-api",
    )
    slots = asyncio.Semaphore(parts.max_concurrent_queries)

    async def principal(request: Request) -> Principal | None:
        auth = parts.auth  # read per request: a reload may replace it
        if auth is None or not auth.enabled:
            return ANONYMOUS_ALL
        header = request.headers.get("authorization")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, auth.authenticate, header)

    async def guard(request: Request, role: str) -> Response | None:
        who = await principal(request)
        if who is None:
            return PlainTextResponse(
                "Unauthorized\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="nightowl"'},
            )
        if not who.allows(role):
            log.info("%s may not %s %s", who.name, request.method, request.url.path)
            return PlainTextResponse(f"Forbidden: the {role} role is needed\n", status_code=403)
        return None

    async def params_of(request: Request) -> Params:
        pairs: list[tuple[str, str]] = []
        body = await _read_body(request, parts.max_body_size)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if (
            request.method in ("POST", "PUT", "PATCH")
            and ctype == "application/x-www-form-urlencoded"
        ):
            pairs += _pairs(body.decode("utf-8", "replace"))
        pairs += _pairs(request.scope.get("query_string", b"").decode("utf-8", "replace"))
        return Params(pairs)

    def api_route(
        path: str,
        name: str,
        fn: Callable[..., ApiResult],
        methods: tuple[str, ...] = ("GET", "POST"),
        *,
        path_param: str | None = None,
    ) -> Route:
        async def endpoint(request: Request) -> Response:
            t0 = time.perf_counter()
            response = await handle(request)
            stats.observe(name, response.status_code, time.perf_counter() - t0)
            return response

        async def handle(request: Request) -> Response:
            denied = await guard(request, "read")
            if denied is not None:
                return denied
            try:
                params = await params_of(request)
            except _TooLarge:
                return _error(ApiError("too_large", "request body too large", status=413))
            args: tuple[Any, ...] = (params,)
            if path_param is not None:
                args = (request.path_params[path_param], params)
            try:
                await asyncio.wait_for(slots.acquire(), parts.queue_timeout_s)
            except TimeoutError:
                return _error(
                    ApiError("unavailable", "too many concurrent queries; try again later")
                )
            try:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(executor, fn, *args)
            except ApiError as exc:
                return _error(exc)
            except Exception:  # a bug: log it, answer in the API's shape
                log.exception("%s failed", name)
                return _error(ApiError("internal", "internal error; see the server log"))
            finally:
                slots.release()
            return _json(success_body(result.data, result.warnings, result.infos))

        return Route(path, endpoint, methods=list(methods), name=name)

    async def federate_endpoint(request: Request) -> Response:
        t0 = time.perf_counter()
        denied = await guard(request, "read")
        if denied is not None:
            return denied
        try:
            params = await params_of(request)
            sets = parse_matcher_sets(params.getall("match[]"))
        except _TooLarge:
            return _error(ApiError("too_large", "request body too large", status=413))
        except ApiError as exc:
            return PlainTextResponse(exc.message + "\n", status_code=400)
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(
            executor,
            lambda: federate(
                api.querier, sets, parts.clock(), external_labels=parts.external_labels
            ),
        )
        stats.observe("/federate", 200, time.perf_counter() - t0)
        return Response(text, media_type=_TEXT_FORMAT)

    async def metrics_endpoint(request: Request) -> Response:
        denied = await guard(request, "read")
        if denied is not None:
            return denied
        if parts.metrics is None:
            return PlainTextResponse("404 page not found\n", status_code=404)
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(executor, parts.metrics)
        return Response(text, media_type=_TEXT_FORMAT)

    async def healthy(request: Request) -> Response:
        denied = await guard(request, "read")
        if denied is not None:
            return denied
        return PlainTextResponse("nightowl is Healthy.\n")

    async def ready(request: Request) -> Response:
        denied = await guard(request, "read")
        if denied is not None:
            return denied
        if parts.ready():
            return PlainTextResponse("nightowl is Ready.\n")
        return PlainTextResponse("Service Unavailable\n", status_code=503)

    async def reload(request: Request) -> Response:
        denied = await guard(request, "admin")
        if denied is not None:
            return denied
        if parts.reload is None:
            return PlainTextResponse("Lifecycle API is not enabled.\n", status_code=403)
        error = await parts.reload()
        if error:
            return PlainTextResponse(f"failed to reload config: {error}\n", status_code=500)
        return PlainTextResponse("")

    async def quit_endpoint(request: Request) -> Response:
        denied = await guard(request, "admin")
        if denied is not None:
            return denied
        if parts.quit is None:
            return PlainTextResponse("Lifecycle API is not enabled.\n", status_code=403)
        parts.quit()
        return PlainTextResponse("Requesting termination... Goodbye!\n")

    async def push_endpoint(request: Request) -> Response:
        t0 = time.perf_counter()
        denied = await guard(request, "write")
        if denied is not None:
            return denied
        if parts.push is None:
            return PlainTextResponse("push is not enabled ([push] enabled)\n", status_code=403)
        try:
            body = await _read_body(request, parts.max_body_size)
        except _TooLarge:
            return PlainTextResponse("request body too large\n", status_code=413)
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        resp = await parts.push.handle(
            request.method,
            raw_path.decode("latin-1"),
            body,
            dict(request.headers),
            request.scope.get("query_string", b"").decode("latin-1"),
        )
        stats.observe("/metrics/job", resp.status, time.perf_counter() - t0)
        return Response(resp.body, status_code=resp.status, headers=dict(resp.headers))

    routes = [
        api_route("/api/v1/query", "/api/v1/query", api.query),
        api_route("/api/v1/query_range", "/api/v1/query_range", api.query_range),
        api_route("/api/v1/format_query", "/api/v1/format_query", api.format_query),
        api_route("/api/v1/query_exemplars", "/api/v1/query_exemplars", api.query_exemplars),
        api_route("/api/v1/series", "/api/v1/series", api.series),
        api_route("/api/v1/labels", "/api/v1/labels", api.labels),
        api_route(
            "/api/v1/label/{name}/values",
            "/api/v1/label/:name/values",
            api.label_values,
            ("GET",),
            path_param="name",
        ),
        api_route("/api/v1/metadata", "/api/v1/metadata", api.metadata, ("GET",)),
        api_route("/api/v1/targets", "/api/v1/targets", api.targets_data, ("GET",)),
        api_route("/api/v1/rules", "/api/v1/rules", api.rules_data, ("GET",)),
        api_route("/api/v1/alerts", "/api/v1/alerts", api.alerts_data, ("GET",)),
        api_route("/api/v1/status/buildinfo", "/api/v1/status/buildinfo", api.buildinfo, ("GET",)),
        api_route(
            "/api/v1/status/runtimeinfo", "/api/v1/status/runtimeinfo", api.runtimeinfo, ("GET",)
        ),
        api_route("/api/v1/status/tsdb", "/api/v1/status/tsdb", api.tsdb, ("GET",)),
        Route("/federate", federate_endpoint, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/-/healthy", healthy, methods=["GET", "HEAD"]),
        Route("/-/ready", ready, methods=["GET", "HEAD"]),
        Route("/-/reload", reload, methods=["POST", "PUT"]),
        Route("/-/quit", quit_endpoint, methods=["POST", "PUT"]),
        Route("/metrics/job/{rest:path}", push_endpoint, methods=["PUT", "POST", "DELETE"]),
    ]

    async def admin_body(request: Request) -> bytes | None:
        try:
            return await _read_body(request, parts.max_body_size)
        except _TooLarge:
            return None

    routes += admin_routes(lambda: parts.admin, guard, admin_body, executor)

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("404 page not found\n", status_code=404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("Method Not Allowed\n", status_code=405)

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.state.http_stats = stats
    app.state.executor = executor
    return app
