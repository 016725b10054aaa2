"""Authentication and roles on the HTTP server (bcrypt basic auth, bearer tokens)."""

from __future__ import annotations

import bcrypt
import httpx
import pytest
from nightowl.server.api import Api
from nightowl.server.app import ServerParts, create_app
from nightowl.server.security import Authenticator, Principal


def _hash(pw: str) -> str:
    return bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture
def auth() -> Authenticator:
    """alice reads, bob administers; a read token and a write token."""
    return Authenticator(
        {"alice": _hash("wonder"), "bob": _hash("builder")},
        {"bob": ("admin",)},
        [("grafana", "tok-read", ("read",)), ("pusher", "tok-write", ("write",))],
    )


class _Push:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def handle(self, method: str, path: str, body: bytes, headers: dict, query: str):
        from nightowl.scrapers.push import PushResponse

        self.calls.append((method, path))
        return PushResponse(200)


async def _client(api: Api, auth: Authenticator, **kw: object) -> tuple[httpx.AsyncClient, list]:
    reloads: list[int] = []

    async def reload() -> str | None:
        reloads.append(1)
        return None

    parts = ServerParts(auth=auth, reload=reload, **kw)  # type: ignore[arg-type]
    app = create_app(api, parts)
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n")
    return c, reloads


async def test_requests_must_authenticate(api: Api, auth: Authenticator) -> None:
    """No or wrong credentials: 401 with a Basic challenge; right ones: 200."""
    c, _ = await _client(api, auth)
    async with c:
        r = await c.get("/api/v1/query", params={"query": "1"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic")
        assert (await c.get("/api/v1/labels", auth=("alice", "nope"))).status_code == 401
        assert (await c.get("/api/v1/labels", auth=("mallory", "wonder"))).status_code == 401
        assert (await c.get("/api/v1/labels", auth=("alice", "wonder"))).status_code == 200
        # the cached verification still refuses a different password
        assert (await c.get("/api/v1/labels", auth=("alice", "wonder2"))).status_code == 401
        h = {"Authorization": "Bearer tok-read"}
        assert (await c.get("/metrics", headers=h)).status_code == 404  # no metrics part
        assert (await c.get("/-/healthy", headers=h)).status_code == 200
        bad = {"Authorization": "Bearer tok-rea"}
        assert (await c.get("/-/healthy", headers=bad)).status_code == 401


async def test_roles_guard_admin_and_write(api: Api, auth: Authenticator) -> None:
    """reload needs admin; push needs write; admin implies write and read."""
    push = _Push()
    c, reloads = await _client(api, auth, push=push)
    async with c:
        assert (await c.post("/-/reload", auth=("alice", "wonder"))).status_code == 403
        h_write = {"Authorization": "Bearer tok-write"}
        assert (await c.post("/-/reload", headers=h_write)).status_code == 403
        assert (await c.post("/-/reload", auth=("bob", "builder"))).status_code == 200
        assert reloads == [1]
        h_read = {"Authorization": "Bearer tok-read"}
        r = await c.put("/metrics/job/a", content=b"x 1\n", headers=h_read)
        assert r.status_code == 403
        r = await c.put("/metrics/job/a", content=b"x 1\n", headers=h_write)
        assert r.status_code == 200
        r = await c.put("/metrics/job/b", content=b"x 1\n", auth=("bob", "builder"))
        assert r.status_code == 200
        assert [p for _, p in push.calls] == ["/metrics/job/a", "/metrics/job/b"]
        assert (await c.get("/api/v1/labels", headers=h_write)).status_code == 200


def test_principal_roles() -> None:
    """Role implication: admin > write > read."""
    assert Principal("x", frozenset({"admin"})).allows("read")
    assert Principal("x", frozenset({"write"})).allows("read")
    assert not Principal("x", frozenset({"write"})).allows("admin")
    assert not Principal("x", frozenset({"read"})).allows("write")


def test_open_server_trusts_everyone() -> None:
    """With no credentials configured every client has every role."""
    a = Authenticator()
    assert not a.enabled
    p = a.authenticate(None)
    assert p is not None and p.allows("admin")


def test_garbage_headers(auth: Authenticator) -> None:
    """Malformed Authorization headers never raise."""
    for h in [
        "Basic",
        "Basic !!!",
        "Basic YWxpY2U=",
        "Digest x",
        "Bearer",
        "",
        "Basic " + "A" * 999,
    ]:
        assert auth.authenticate(h) is None


def test_from_config_reads_token_file(tmp_path) -> None:
    """Bearer tokens may come from files (trailing newline stripped)."""
    from nightowl.config import BearerToken, ServerConfig

    f = tmp_path / "tok"
    f.write_text("s3cret\n")
    cfg = ServerConfig(bearer_tokens=(BearerToken(name="ci", token_file=str(f), roles=("write",)),))
    a = Authenticator.from_config(cfg)
    p = a.authenticate("Bearer s3cret")
    assert p is not None and p.name == "ci" and p.allows("write")


async def test_reloaded_credentials_apply_at_once(api: Api, auth: Authenticator) -> None:
    """Replacing ServerParts.auth (what a reload does) changes who gets in."""
    parts = ServerParts()
    app = create_app(api, parts)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as c:
        assert (await c.get("/-/healthy")).status_code == 200
        parts.auth = auth
        assert (await c.get("/-/healthy")).status_code == 401
        assert (await c.get("/-/healthy", auth=("alice", "wonder"))).status_code == 200
