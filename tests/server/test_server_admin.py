"""Write and admin endpoints over a real SQLite store: delete series, silences, acks, gating."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.alerts.rules import fingerprint
from nightowl.alerts.silences import Silencer
from nightowl.server.admin import AdminApi
from nightowl.server.api import Api
from nightowl.server.app import ServerParts, create_app
from nightowl.server.envelope import ApiError
from nightowl.server.security import Authenticator
from nightowl.store import Store
from nightowl.store.alertstate import AlertStateDB, HistoryEntry

from nightowl.model import Labels, Matcher, MatchOp

#: The workload of conftest.py: samples every STEP ms from T0, N of them.
T0 = 1_700_000_000_000
STEP = 15_000
N = 41
NOW = T0 + (N - 1) * STEP
DISABLED = {"status": "error", "errorType": "unavailable", "error": "admin APIs disabled"}


@pytest.fixture
def wstore(db_path: Path) -> Iterator[Store]:
    """The workload's store, writable."""
    s = Store.open(db_path)
    yield s
    s.close()


@pytest.fixture
def alert_db(tmp_path: Path) -> AlertStateDB:
    """A fresh alert state sidecar."""
    return AlertStateDB(tmp_path / "alerts.sqlite")


@asynccontextmanager
async def _client(
    store: Store, admin: AdminApi | None, auth: Authenticator | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    api = Api(store, clock=lambda: NOW)
    app = create_app(api, ServerParts(clock=api.clock, admin=admin, auth=auth))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://nightowl") as c:
            yield c
    finally:
        app.state.executor.shutdown(wait=False)


def _admin(store: Store, db: AlertStateDB, **kw: Any) -> AdminApi:
    return AdminApi(store, db, clock=lambda: NOW, **kw)


def _times(store: Store, **labels: str) -> list[int]:
    ms = [Matcher(k, MatchOp.EQ, v) for k, v in labels.items()]
    got = store.select(ms, T0 - 1, NOW + 1)
    return got[0].timestamps.tolist() if got else []


# -- gating ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["delete_series?match[]=up", "clean_tombstones"])
async def test_admin_endpoints_off_by_default(
    wstore: Store, alert_db: AlertStateDB, path: str
) -> None:
    for admin in (None, _admin(wstore, alert_db, enable_alert_writes=True)):
        async with _client(wstore, admin) as c:
            r = await c.post(f"/api/v1/admin/tsdb/{path}")
        assert r.status_code == 503
        assert r.json() == DISABLED
    assert len(_times(wstore, job="api", instance="a:1", __name__="up")) == N


async def test_alert_writes_off_by_default(wstore: Store, alert_db: AlertStateDB) -> None:
    admin = _admin(wstore, alert_db, enable_admin_api=True)
    async with _client(wstore, admin) as c:
        r = await c.post("/api/v2/silences", json=_silence_body())
        assert r.status_code == 503
        assert r.json()["error"] == "alert writes disabled"
        r = await c.post("/api/v1/acks", json={"labels": {"alertname": "X"}, "author": "me"})
        assert r.status_code == 503
        # Reading is allowed.
        assert (await c.get("/api/v2/silences")).json() == []
        assert (await c.get("/api/v1/acks")).json() == {"status": "success", "data": []}
    assert alert_db.silences(NOW, include_expired=True) == []


# -- delete series ----------------------------------------------------------------------------


async def test_delete_series_removes_exactly_the_matched_range(
    wstore: Store, alert_db: AlertStateDB
) -> None:
    before = {
        inst: _times(wstore, __name__="http_requests_total", instance=inst)
        for inst in ("a:1", "a:2")
    }
    lo, hi = T0 + 5 * STEP, T0 + 20 * STEP
    async with _client(wstore, _admin(wstore, alert_db, enable_admin_api=True)) as c:
        r = await c.post(
            "/api/v1/admin/tsdb/delete_series",
            params={
                "match[]": 'http_requests_total{instance="a:1"}',
                "start": str(lo / 1000),
                "end": str(hi / 1000),
            },
        )
        assert r.status_code == 204 and r.content == b""
        q = await c.get(
            "/api/v1/query",
            params={
                "query": 'timestamp(http_requests_total{instance="a:1"})',
                "time": str((T0 + 10 * STEP) / 1000),
            },
        )
    after = _times(wstore, __name__="http_requests_total", instance="a:1")
    assert after == [t for t in before["a:1"] if not lo <= t <= hi]
    assert _times(wstore, __name__="http_requests_total", instance="a:2") == before["a:2"]
    # The query API sees the hole: the newest sample at T0+10 steps is the one before it.
    (value,) = q.json()["data"]["result"]
    assert float(value["value"][1]) == (T0 + 4 * STEP) / 1000


async def test_delete_series_form_body_and_whole_series(
    wstore: Store, alert_db: AlertStateDB
) -> None:
    async with _client(wstore, _admin(wstore, alert_db, enable_admin_api=True)) as c:
        r = await c.put(
            "/api/v1/admin/tsdb/delete_series",
            content="match[]=up{job%3D%22db%22}&match[]=gone",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 204
        series = await c.get("/api/v1/series", params={"match[]": '{job=~".+"}'})
        r2 = await c.post("/api/v1/admin/tsdb/clean_tombstones")
        assert r2.status_code == 204
    names = sorted((s["__name__"], s["job"]) for s in series.json()["data"])
    assert ("up", "db") not in names and ("gone", "x") not in names
    assert ("up", "api") in names


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "no match[] parameter provided"),
        ({"match[]": "up{"}, 'invalid parameter "match[]"'),
        ({"match[]": "up", "start": "yesterday"}, 'invalid parameter "start"'),
        ({"match[]": '{job=~".*"}'}, 'invalid parameter "match[]"'),
    ],
)
async def test_delete_series_bad_parameters(
    wstore: Store, alert_db: AlertStateDB, params: dict[str, str], message: str
) -> None:
    async with _client(wstore, _admin(wstore, alert_db, enable_admin_api=True)) as c:
        r = await c.post("/api/v1/admin/tsdb/delete_series", params=params)
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert message in body["error"]
    assert len(_times(wstore, __name__="up", job="api")) == N


# -- silences -------------------------------------------------------------------------------


def _silence_body(**over: Any) -> dict[str, Any]:
    body = {
        "matchers": [
            {"name": "alertname", "value": "InstanceDown", "isRegex": False, "isEqual": True},
            {"name": "instance", "value": "db.*", "isRegex": True},
        ],
        "startsAt": "2023-11-14T22:00:00Z",
        "endsAt": "2030-01-01T00:00:00Z",
        "createdBy": "alice",
        "comment": "maintenance",
    }
    body.update(over)
    return body


async def test_silence_round_trip_mutes_and_expires(wstore: Store, alert_db: AlertStateDB) -> None:
    changed: list[int] = []
    admin = _admin(wstore, alert_db, enable_alert_writes=True)
    admin.on_silences_changed = lambda: changed.append(1)
    silencer = Silencer(alert_db, clock=lambda: NOW)
    muted = Labels.of(alertname="InstanceDown", instance="db1")
    other = Labels.of(alertname="InstanceDown", instance="web1")
    async with _client(wstore, admin) as c:
        r = await c.post("/api/v2/silences", json=_silence_body())
        assert r.status_code == 200
        sid = r.json()["silenceID"]
        listed = (await c.get("/api/v2/silences")).json()
        one = (await c.get(f"/api/v2/silence/{sid}")).json()
        assert [s["id"] for s in listed] == [sid] and listed[0] == one
        assert one["status"] == {"state": "active"}
        assert one["matchers"] == [
            {"name": "alertname", "value": "InstanceDown", "isRegex": False, "isEqual": True},
            {"name": "instance", "value": "db.*", "isRegex": True, "isEqual": True},
        ]
        assert one["createdBy"] == "alice" and one["comment"] == "maintenance"
        assert one["endsAt"] == "2030-01-01T00:00:00Z"
        # startsAt in the past becomes now.
        assert one["startsAt"] == "2023-11-14T22:23:20Z"
        assert [s.id for s in silencer.silenced_by(muted)] == [sid]
        assert silencer.silenced_by(other) == []

        r = await c.delete(f"/api/v2/silence/{sid}")
        assert r.status_code == 200
        silencer.invalidate()
        assert silencer.silenced_by(muted) == []
        assert (await c.get(f"/api/v2/silence/{sid}")).json()["status"]["state"] == "expired"
        r = await c.delete(f"/api/v2/silence/{sid}")
        assert r.status_code == 400
        r = await c.delete("/api/v2/silence/no-such-id")
        assert r.status_code == 404 and r.json()["errorType"] == "not_found"
    assert len(changed) == 2


async def test_silence_update_by_id_replaces_it(wstore: Store, alert_db: AlertStateDB) -> None:
    async with _client(wstore, _admin(wstore, alert_db, enable_alert_writes=True)) as c:
        first = (await c.post("/api/v2/silences", json=_silence_body())).json()["silenceID"]
        r = await c.post("/api/v2/silences", json=_silence_body(id=first, comment="longer"))
        second = r.json()["silenceID"]
        r404 = await c.post("/api/v2/silences", json=_silence_body(id="nope"))
    assert second != first and r404.status_code == 404
    active = alert_db.silences(NOW)
    assert [(s.id, s.comment) for s in active] == [(second, "longer")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"matchers": []}, "at least one matcher"),
        ({"matchers": [{"name": "a", "value": ".*", "isRegex": True}]}, "empty string"),
        ({"matchers": [{"name": "1a", "value": "x"}]}, "matchers[0].name"),
        ({"matchers": [{"name": "a", "value": "(", "isRegex": True}]}, "matchers[0].value"),
        ({"matchers": "a=b"}, "at least one matcher"),
        ({"endsAt": "2023-01-01T00:00:00Z"}, "end time"),
        ({"endsAt": "soon"}, "endsAt"),
        ({"createdBy": ""}, "createdBy"),
        ({"comment": None}, "comment"),
    ],
)
async def test_bad_silences_are_400(
    wstore: Store, alert_db: AlertStateDB, change: dict[str, Any], message: str
) -> None:
    async with _client(wstore, _admin(wstore, alert_db, enable_alert_writes=True)) as c:
        r = await c.post("/api/v2/silences", json=_silence_body(**change))
        raw = await c.post("/api/v2/silences", content=b"{not json")
    assert r.status_code == 400 and message in r.json()["error"]
    assert raw.status_code == 400 and raw.json()["errorType"] == "bad_data"
    assert alert_db.silences(NOW, include_expired=True) == []


# -- acks ------------------------------------------------------------------------------------


async def test_acks_round_trip(wstore: Store, alert_db: AlertStateDB) -> None:
    firing = Labels.of(alertname="Down", instance="db1")
    fp = fingerprint(firing)
    alert_db.record_transitions(
        [HistoryEntry(NOW - 1000, fp, "Down", dict(firing), "pending", "firing", 1.0, {})]
    )
    async with _client(wstore, _admin(wstore, alert_db, enable_alert_writes=True)) as c:
        r = await c.post(
            "/api/v1/acks",
            json={"fingerprint": fp, "author": "bob", "note": "looking", "expires": "1h"},
        )
        assert r.status_code == 200
        ack = r.json()["data"]
        assert ack["fingerprint"] == fp and ack["labels"] == dict(firing)
        assert ack["author"] == "bob" and ack["note"] == "looking" and ack["active"]
        assert ack["expiresAt"] == "2023-11-14T23:23:20Z"
        r = await c.post(
            "/api/v1/acks",
            json={"labels": {"alertname": "Other", "job": "x"}, "author": "carol"},
        )
        assert r.json()["data"]["fingerprint"] == fingerprint(Labels.of(alertname="Other", job="x"))
        listed = (await c.get("/api/v1/acks")).json()["data"]
        assert sorted(a["author"] for a in listed) == ["bob", "carol"]
        # An unknown fingerprint, and an alert that resolved, cannot be acked.
        r = await c.post("/api/v1/acks", json={"fingerprint": "0" * 16, "author": "bob"})
        assert r.status_code == 404
    stored = alert_db.acks(NOW)
    assert {a.fingerprint for a in stored} == {
        fp,
        fingerprint(Labels.of(alertname="Other", job="x")),
    }
    alert_db.end_acks(fp, NOW)
    async with _client(wstore, _admin(wstore, alert_db)) as c:
        active = (await c.get("/api/v1/acks")).json()["data"]
        everything = (await c.get("/api/v1/acks", params={"all": "true"})).json()["data"]
    assert [a["alertname"] for a in active] == ["Other"]
    assert len(everything) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"author": "x"},
        {"fingerprint": "ab", "labels": {"alertname": "A"}, "author": "x"},
        {"labels": {"job": "x"}, "author": "x"},
        {"labels": {"alertname": 1}, "author": "x"},
        {"labels": {"alertname": "A", "a-b": "c"}, "author": "x"},
        {"labels": {"alertname": "A"}},
        {"labels": {"alertname": "A"}, "author": "x", "expires": "soon"},
        {"labels": {"alertname": "A"}, "author": "x", "expires": "-1h"},
        {"labels": {"alertname": "A"}, "author": "x", "expiresAt": "2000-01-01T00:00:00Z"},
        ["not", "an", "object"],
    ],
)
async def test_bad_acks_are_400(wstore: Store, alert_db: AlertStateDB, body: Any) -> None:
    async with _client(wstore, _admin(wstore, alert_db, enable_alert_writes=True)) as c:
        r = await c.post("/api/v1/acks", json=body)
    assert r.status_code == 400 and r.json()["errorType"] == "bad_data"
    assert alert_db.acks(NOW, active_only=False) == []


# -- roles -----------------------------------------------------------------------------------


def _basic(user: str, pw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


async def test_roles_gate_admin_and_alert_writes(wstore: Store, alert_db: AlertStateDB) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    auth = Authenticator(
        {"reader": hashed, "writer": hashed, "root": hashed},
        {"writer": ("write",), "root": ("admin",)},
    )
    admin = _admin(wstore, alert_db, enable_admin_api=True, enable_alert_writes=True)
    delete: Callable[[httpx.AsyncClient, str], Any] = lambda c, who: c.post(  # noqa: E731
        "/api/v1/admin/tsdb/delete_series", params={"match[]": "gone"}, headers=_basic(who, "pw")
    )
    async with _client(wstore, admin, auth) as c:
        assert (await c.get("/api/v2/silences")).status_code == 401
        assert (await c.get("/api/v2/silences", headers=_basic("reader", "pw"))).status_code == 200
        r = await c.post("/api/v2/silences", json=_silence_body(), headers=_basic("reader", "pw"))
        assert r.status_code == 403
        r = await c.post("/api/v2/silences", json=_silence_body(), headers=_basic("writer", "pw"))
        assert r.status_code == 200
        assert (await delete(c, "writer")).status_code == 403
        assert _times(wstore, __name__="gone") != []
        assert (await delete(c, "root")).status_code == 204
        assert _times(wstore, __name__="gone") == []
        r = await c.post(
            "/api/v1/acks",
            json={"labels": {"alertname": "A"}, "author": "x"},
            headers=_basic("root", "pw"),
        )
        assert r.status_code == 200


async def test_too_large_body_is_413(wstore: Store, alert_db: AlertStateDB) -> None:
    api = Api(wstore, clock=lambda: NOW)
    admin = _admin(wstore, alert_db, enable_alert_writes=True)
    app = create_app(api, ServerParts(clock=api.clock, admin=admin, max_body_size=100))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://nightowl") as c:
            r = await c.post("/api/v2/silences", json=_silence_body(comment="x" * 200))
    finally:
        app.state.executor.shutdown(wait=False)
    assert r.status_code == 413 and r.json()["errorType"] == "too_large"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
_silence_like = st.fixed_dictionaries(
    {},
    optional={
        "matchers": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": st.text(max_size=8) | _json_values,
                    "value": st.text(max_size=8) | _json_values,
                    "isRegex": st.booleans() | _json_values,
                    "isEqual": st.booleans() | _json_values,
                },
            ),
            max_size=3,
        )
        | _json_values,
        "startsAt": st.sampled_from(["2023-11-14T22:00:00Z", "x", "1e30", "NaN"]) | _json_values,
        "endsAt": st.sampled_from(["2030-01-01T00:00:00Z", "", "-1"]) | _json_values,
        "createdBy": st.text(max_size=5) | _json_values,
        "comment": st.text(max_size=5) | _json_values,
        "id": st.text(max_size=5) | _json_values,
    },
)
_ack_like = st.fixed_dictionaries(
    {},
    optional={
        "fingerprint": st.text(max_size=16) | _json_values,
        "labels": st.dictionaries(st.text(max_size=5), st.text(max_size=5)) | _json_values,
        "author": st.text(max_size=5) | _json_values,
        "note": st.text(max_size=5) | _json_values,
        "expires": st.sampled_from(["4h", "0s", "-1m", "1e9y", "x"]) | _json_values,
        "expiresAt": st.sampled_from(["2030-01-01T00:00:00Z", "0"]) | _json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(silence=_silence_like | _json_values, ack=_ack_like | _json_values)
def test_fuzzed_bodies_give_api_errors_only(tmp_path: Path, silence: Any, ack: Any) -> None:
    db = AlertStateDB(tmp_path / "fuzz.sqlite")
    admin = AdminApi(None, db, enable_alert_writes=True, clock=lambda: NOW)
    for call, body in ((admin.create_silence, silence), (admin.add_ack, ack)):
        try:
            call(body)
        except ApiError as exc:
            assert exc.status in (400, 404) and exc.message


def test_from_config_reads_both_switches(wstore: Store, alert_db: AlertStateDB) -> None:
    from nightowl.config import ServerConfig

    off = AdminApi.from_config(ServerConfig(), wstore, alert_db)
    assert not off.enable_admin_api and not off.enable_alert_writes
    on = AdminApi.from_config(
        ServerConfig(enable_admin_api=True, enable_alert_writes=True), wstore, alert_db
    )
    assert on.enable_admin_api and on.enable_alert_writes and on.store is wstore
