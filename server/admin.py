"""Write and admin endpoints: delete series, silences and acks.

Routes (mounted by :func:`nightowl.server.app.create_app` through
:func:`admin_routes`):

- `POST|PUT /api/v1/admin/tsdb/delete_series?match[]=...&start=...&end=...`
  (Prometheus's): the matched series' samples in [start, end] are deleted at
  once (default: all time); 204. `POST|PUT /api/v1/admin/tsdb/clean_tombstones`:
  204 (nightowl keeps no tombstones, a delete is complete when it answers).
  Both need `[server] enable_admin_api = true` (else 503 `unavailable`
  "admin APIs disabled", as Prometheus) and the `admin` role.
- `GET /api/v2/silences`, `GET /api/v2/silence/{id}`, `POST /api/v2/silences`,
  `DELETE /api/v2/silence/{id}`: Alertmanager v2's silence shapes over the
  alert state sidecar. Reading needs the `read` role; creating and expiring
  need `[server] enable_alert_writes = true` (else 503 `unavailable`) and the
  `write` role.
- `GET /api/v1/acks` (active acks; `?all=true` for ended and expired ones too)
  and `POST /api/v1/acks` (nightowl's own, in Prometheus's envelope), gated
  like silences.

Errors are Prometheus's error JSON (`status`, `errorType`, `error`) with the
matching HTTP status; bodies over the server's `max_body_size` are 413.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any
from urllib.parse import parse_qsl

from nightowl.server.api import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    Params,
    format_rfc3339,
    parse_duration,
    parse_matcher_sets,
    parse_time,
    parse_time_param,
)
from nightowl.server.envelope import ApiError, error_body, success_body
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nightowl.errors import NightowlError
from nightowl.model import Labels, Matcher, MatchOp, go_quote
from nightowl.timeutil import now_ms

__all__ = ["AdminApi", "admin_routes"]

log = logging.getLogger(__name__)

_JSON = "application/json"
#: How long an ack lasts when the request names no expiry (as `nightowl ack`).
DEFAULT_ACK_MS = 4 * 3_600_000

Guard = Callable[[Request, str], Awaitable[Response | None]]
BodyReader = Callable[[Request], Awaitable[bytes | None]]


class AdminApi:
    """What the write and admin endpoints act on, and whether they are switched on.

    Args:
        store: The writable store (`Store.delete_series`), or None.
        alert_state: The alert state sidecar (`store.alertstate.AlertStateDB`), or None.
        enable_admin_api: Allow delete_series and clean_tombstones.
        enable_alert_writes: Allow creating and expiring silences and posting acks.
        on_silences_changed: Called after a silence was created or expired (e.g. the
            `Silencer`'s `invalidate`, so a new silence mutes at once).
        clock: Unix ms now.
    """

    def __init__(
        self,
        store: Any = None,
        alert_state: Any = None,
        *,
        enable_admin_api: bool = False,
        enable_alert_writes: bool = False,
        on_silences_changed: Callable[[], None] | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.alert_state = alert_state
        self.enable_admin_api = enable_admin_api
        self.enable_alert_writes = enable_alert_writes
        self.on_silences_changed = on_silences_changed
        self.clock = clock

    @classmethod
    def from_config(
        cls,
        server: Any,
        store: Any,
        alert_state: Any,
        *,
        on_silences_changed: Callable[[], None] | None = None,
    ) -> AdminApi:
        """Build from a `ServerConfig` (its `enable_admin_api` and `enable_alert_writes`)."""
        return cls(
            store,
            alert_state,
            enable_admin_api=bool(getattr(server, "enable_admin_api", False)),
            enable_alert_writes=bool(getattr(server, "enable_alert_writes", False)),
            on_silences_changed=on_silences_changed,
        )

    # -- delete series -----------------------------------------------------------------

    def delete_series(self, params: Params) -> None:
        """Delete the samples of `match[]` in [start, end] (Prometheus's parameters)."""
        texts = params.getall("match[]")
        if not texts:
            raise ApiError("bad_data", "no match[] parameter provided")
        start = parse_time_param(params, "start", MIN_TIME_MS)
        end = parse_time_param(params, "end", MAX_TIME_MS)
        assert start is not None and end is not None
        sets = parse_matcher_sets(texts)
        if self.store is None:
            raise ApiError("unavailable", "no writable database to delete from")
        try:
            res = self.store.delete_series(sets, start, end)
        except NightowlError as exc:
            raise ApiError("internal", exc.message) from None
        log.info(
            "delete_series %s [%d, %d]: %d series matched, %d samples and %d series deleted",
            texts,
            start,
            end,
            res.series_matched,
            res.samples_deleted,
            res.series_deleted,
        )

    # -- silences ----------------------------------------------------------------------

    def _db(self) -> Any:
        if self.alert_state is None:
            raise ApiError("unavailable", "no alert state database (silences, acks)")
        return self.alert_state

    def silences(self) -> list[dict[str, Any]]:
        """Every silence, expired ones too, as Alertmanager's `gettableSilences`."""
        now = self.clock()
        return [_silence_json(r, now) for r in self._db().silences(now, include_expired=True)]

    def silence(self, silence_id: str) -> dict[str, Any]:
        """One silence by its full id (404 when unknown)."""
        now = self.clock()
        for r in self._db().silences(now, include_expired=True):
            if r.id == silence_id:
                return _silence_json(r, now)
        raise ApiError("not_found", f"silence {go_quote(silence_id)} not found", status=404)

    def create_silence(self, body: Any) -> str:
        """Store a `postableSilence`; its id. With an `id` the old silence is expired and
        replaced (the new one has a new id, as Alertmanager does for a changed silence)."""
        db = self._db()
        if not isinstance(body, dict):
            raise ApiError("bad_data", "the body must be a JSON object (a postableSilence)")
        matchers = _silence_matchers(body.get("matchers"))
        now = self.clock()
        starts = _time_field(body, "startsAt")
        ends = _time_field(body, "endsAt")
        if ends <= starts:
            raise ApiError("bad_data", "silence invalid: end time must not be before start time")
        if ends <= now:
            raise ApiError("bad_data", "silence invalid: end time can't be in the past")
        created_by = body.get("createdBy")
        comment = body.get("comment")
        if not isinstance(created_by, str) or not created_by.strip():
            raise ApiError("bad_data", "silence invalid: createdBy must not be empty")
        if not isinstance(comment, str) or not comment.strip():
            raise ApiError("bad_data", "silence invalid: comment must not be empty")
        old_id = body.get("id")
        if old_id not in (None, ""):
            if not isinstance(old_id, str):
                raise ApiError("bad_data", "silence invalid: id must be a string")
            self.silence(old_id)  # 404 when unknown
            db.expire_silence(old_id, now)
        rec = db.add_silence(
            [str(m) for m in matchers], max(starts, now), ends, created_by, comment, now
        )
        if self.on_silences_changed is not None:
            self.on_silences_changed()
        return rec.id

    def expire_silence(self, silence_id: str) -> None:
        """End a silence now (404 when unknown, 400 when already expired)."""
        now = self.clock()
        current = self.silence(silence_id)
        if current["status"]["state"] == "expired":
            raise ApiError("bad_data", f"silence {silence_id} already expired")
        self._db().expire_silence(silence_id, now)
        if self.on_silences_changed is not None:
            self.on_silences_changed()

    # -- acks --------------------------------------------------------------------------

    def acks(self, params: Params) -> list[dict[str, Any]]:
        """Active acks, newest first (`all=true`: ended and expired ones too)."""
        flag = params.get("all").lower()
        if flag not in ("", "true", "false", "1", "0"):
            raise ApiError("bad_data", f'invalid parameter "all": {go_quote(flag)} is no bool')
        now = self.clock()
        recs = self._db().acks(now, active_only=flag not in ("true", "1"))
        return [_ack_json(r, now) for r in recs]

    def add_ack(self, body: Any) -> dict[str, Any]:
        """Acknowledge one alert: by `fingerprint` (a pending or firing alert) or by its
        full label set (`labels`, with `alertname`)."""
        db = self._db()
        if not isinstance(body, dict):
            raise ApiError("bad_data", "the body must be a JSON object")
        author = body.get("author")
        if not isinstance(author, str) or not author.strip():
            raise ApiError("bad_data", "ack invalid: author must not be empty")
        note = body.get("note", "")
        if not isinstance(note, str):
            raise ApiError("bad_data", "ack invalid: note must be a string")
        now = self.clock()
        expires = self._ack_expiry(body, now)
        fp, labels = self._ack_target(db, body)
        rec = db.add_ack(fp, labels.get("alertname"), dict(labels), author, note, now, expires)
        return _ack_json(rec, now)

    @staticmethod
    def _ack_expiry(body: dict[str, Any], now: int) -> int:
        if "expiresAt" in body and "expires" in body:
            raise ApiError("bad_data", "ack invalid: give expiresAt or expires, not both")
        if "expiresAt" in body:
            expires = _time_field(body, "expiresAt")
        elif "expires" in body:
            text = body["expires"]
            try:
                if not isinstance(text, str):
                    raise ValueError('a duration such as "4h" is needed')
                length = parse_duration(text)
            except ValueError as exc:
                raise ApiError("bad_data", f"ack invalid: expires: {exc}") from None
            if length <= 0:
                raise ApiError("bad_data", "ack invalid: expires must be positive")
            expires = now + length
        else:
            expires = now + DEFAULT_ACK_MS
        if expires <= now:
            raise ApiError("bad_data", "ack invalid: expiry can't be in the past")
        return expires

    @staticmethod
    def _ack_target(db: Any, body: dict[str, Any]) -> tuple[str, Labels]:
        from nightowl.alerts.rules import fingerprint

        fp = body.get("fingerprint")
        raw = body.get("labels")
        if (fp is None) == (raw is None):
            raise ApiError("bad_data", "ack invalid: give either fingerprint or labels")
        if raw is not None:
            if not isinstance(raw, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
            ):
                raise ApiError("bad_data", "ack invalid: labels must map strings to strings")
            bad = [k for k in raw if not _valid_label_name(k)]
            if bad:
                raise ApiError("bad_data", f"ack invalid: invalid label name {go_quote(bad[0])}")
            labels = Labels.from_dict(raw)
            if not labels.get("alertname"):
                raise ApiError("bad_data", "ack invalid: labels need the alertname")
            return fingerprint(labels), labels
        if not isinstance(fp, str) or not fp:
            raise ApiError("bad_data", "ack invalid: fingerprint must be a non-empty string")
        latest: dict[str, Any] = {}
        for e in db.history(fingerprint=fp, limit=1):
            latest[e.fingerprint] = e
        entry = latest.get(fp)
        if entry is None or entry.to_state == "inactive":
            raise ApiError(
                "not_found", f"no pending or firing alert has fingerprint {fp}", status=404
            )
        return fp, Labels.from_dict(entry.labels)


# -- JSON shapes -----------------------------------------------------------------------------


def _silence_json(rec: Any, now: int) -> dict[str, Any]:
    from nightowl.alerts.silences import parse_silence_matchers

    return {
        "id": rec.id,
        "status": {"state": rec.state(now)},
        "updatedAt": format_rfc3339(rec.updated_ms),
        "matchers": [_matcher_json(m) for m in parse_silence_matchers(rec.matchers)],
        "startsAt": format_rfc3339(rec.starts_ms),
        "endsAt": format_rfc3339(rec.ends_ms),
        "createdBy": rec.created_by,
        "comment": rec.comment,
    }


def _matcher_json(m: Matcher) -> dict[str, Any]:
    return {
        "name": m.name,
        "value": m.value,
        "isRegex": m.op in (MatchOp.RE, MatchOp.NRE),
        "isEqual": m.op in (MatchOp.EQ, MatchOp.RE),
    }


def _ack_json(rec: Any, now: int) -> dict[str, Any]:
    return {
        "id": rec.id,
        "fingerprint": rec.fingerprint,
        "alertname": rec.alertname,
        "labels": dict(rec.labels),
        "author": rec.acked_by,
        "note": rec.note,
        "at": format_rfc3339(rec.at_ms),
        "expiresAt": format_rfc3339(rec.expires_ms),
        "endedAt": format_rfc3339(rec.ended_ms) if rec.ended_ms is not None else None,
        "active": rec.active(now),
    }


def _silence_matchers(raw: Any) -> list[Matcher]:
    """Alertmanager's matcher objects to nightowl matchers (ApiError naming the bad one)."""
    if not isinstance(raw, list) or not raw:
        raise ApiError("bad_data", "silence invalid: at least one matcher is required")
    out = []
    for i, m in enumerate(raw):
        where = f"matchers[{i}]"
        if not isinstance(m, dict):
            raise ApiError("bad_data", f"silence invalid: {where} must be an object")
        name, value = m.get("name"), m.get("value")
        is_regex, is_equal = m.get("isRegex", False), m.get("isEqual", True)
        if not isinstance(name, str) or not _valid_label_name(name):
            raise ApiError("bad_data", f"silence invalid: {where}.name: invalid label name")
        if not isinstance(value, str):
            raise ApiError("bad_data", f"silence invalid: {where}.value must be a string")
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise ApiError("bad_data", f"silence invalid: {where}: isRegex/isEqual are booleans")
        op = {
            (False, True): MatchOp.EQ,
            (False, False): MatchOp.NE,
            (True, True): MatchOp.RE,
            (True, False): MatchOp.NRE,
        }[(is_regex, is_equal)]
        try:
            out.append(Matcher(name, op, value))
        except Exception as exc:  # re.error and friends: a bad regex
            raise ApiError("bad_data", f"silence invalid: {where}.value: {exc}") from None
    if all(m.matches_empty() for m in out):
        raise ApiError(
            "bad_data", "silence invalid: at least one matcher must not match the empty string"
        )
    return out


def _valid_label_name(name: str) -> bool:
    if not name or not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")):
        return False
    return all(c.isascii() and (c.isalnum() or c == "_") for c in name)


def _time_field(body: dict[str, Any], name: str) -> int:
    text = body.get(name)
    if not isinstance(text, str) or not text:
        raise ApiError("bad_data", f"{name}: a time (RFC 3339) is required")
    try:
        return parse_time(text)
    except ValueError as exc:
        raise ApiError("bad_data", f"{name}: {exc}") from None


# -- routes ------------------------------------------------------------------------------------


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=_JSON)


def _error(exc: ApiError) -> Response:
    return _json(error_body(exc.kind, exc.message), exc.status)


def _form_params(request: Request, body: bytes) -> Params:
    pairs: list[tuple[str, str]] = []
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    query = request.scope.get("query_string", b"").decode("utf-8", "replace")
    pairs += parse_qsl(query, keep_blank_values=True)
    return Params(pairs)


def admin_routes(
    admin: Callable[[], AdminApi | None],
    guard: Guard,
    read_body: BodyReader,
    executor: Executor,
) -> list[Route]:
    """The routes of this module.

    Args:
        admin: The current :class:`AdminApi` (None: everything here is off).
        guard: The app's authentication check: `guard(request, role)` answers 401/403
            or None when the client may go on.
        read_body: Reads a request body within the size limit (None: too large).
        executor: Where blocking work (SQLite) runs.
    """

    async def run(fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, fn)

    def endpoint(
        role: str, switch: str | None, handler: Callable[[AdminApi, Request, bytes], Any]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            denied = await guard(request, role)
            if denied is not None:
                return denied
            api = admin()
            try:
                if switch is not None and (api is None or not getattr(api, switch)):
                    what = "admin APIs" if switch == "enable_admin_api" else "alert writes"
                    raise ApiError("unavailable", f"{what} disabled", status=503)
                if api is None:
                    raise ApiError("unavailable", "no alert state database (silences, acks)")
                body = await read_body(request)
                if body is None:
                    raise ApiError("too_large", "request body too large", status=413)
                return await handler(api, request, body)
            except ApiError as exc:
                return _error(exc)
            except NightowlError as exc:
                return _error(ApiError("internal", exc.message))
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return _error(ApiError("internal", "internal error; see the server log"))

        return serve

    def json_body(body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError("bad_data", f"the body is not valid JSON: {exc}") from None

    async def delete_series(api: AdminApi, request: Request, body: bytes) -> Response:
        params = _form_params(request, body)
        await run(lambda: api.delete_series(params))
        return Response(status_code=204)

    async def clean_tombstones(api: AdminApi, request: Request, body: bytes) -> Response:
        return Response(status_code=204)

    async def list_silences(api: AdminApi, request: Request, body: bytes) -> Response:
        data = await run(api.silences)
        return _json(json.dumps(data).encode())

    async def get_silence(api: AdminApi, request: Request, body: bytes) -> Response:
        sid = request.path_params["id"]
        data = await run(lambda: api.silence(sid))
        return _json(json.dumps(data).encode())

    async def post_silence(api: AdminApi, request: Request, body: bytes) -> Response:
        doc = json_body(body)
        sid = await run(lambda: api.create_silence(doc))
        return _json(json.dumps({"silenceID": sid}).encode())

    async def delete_silence(api: AdminApi, request: Request, body: bytes) -> Response:
        sid = request.path_params["id"]
        await run(lambda: api.expire_silence(sid))
        return Response(status_code=200)

    async def list_acks(api: AdminApi, request: Request, body: bytes) -> Response:
        params = _form_params(request, b"")
        data = await run(lambda: api.acks(params))
        return _json(success_body(data))

    async def post_ack(api: AdminApi, request: Request, body: bytes) -> Response:
        doc = json_body(body)
        data = await run(lambda: api.add_ack(doc))
        return _json(success_body(data))

    admin_switch, alert_switch = "enable_admin_api", "enable_alert_writes"
    return [
        Route(
            "/api/v1/admin/tsdb/delete_series",
            endpoint("admin", admin_switch, delete_series),
            methods=["POST", "PUT"],
        ),
        Route(
            "/api/v1/admin/tsdb/clean_tombstones",
            endpoint("admin", admin_switch, clean_tombstones),
            methods=["POST", "PUT"],
        ),
        Route("/api/v2/silences", endpoint("read", None, list_silences), methods=["GET"]),
        Route("/api/v2/silences", endpoint("write", alert_switch, post_silence), methods=["POST"]),
        Route("/api/v2/silence/{id}", endpoint("read", None, get_silence), methods=["GET"]),
        Route(
            "/api/v2/silence/{id}",
            endpoint("write", alert_switch, delete_silence),
            methods=["DELETE"],
        ),
        Route("/api/v1/acks", endpoint("read", None, list_acks), methods=["GET"]),
        Route("/api/v1/acks", endpoint("write", alert_switch, post_ack), methods=["POST"]),
    ]
