"""Who may use the HTTP server, and how it is served (TLS).

Authentication (`[server]`): `basic_auth_users` maps user names to bcrypt
hashes (as Prometheus's web config), `bearer_tokens` lists tokens with the
roles they grant. With neither configured, every client is trusted with every
role, and only the enable switches (`[push] enabled`, `enable_lifecycle`,
`enable_admin_api`) guard the write and admin endpoints. With either
configured, every request must authenticate (401 otherwise) and carry a role
that grants the endpoint (403 otherwise).

Roles: `read` (queries, metadata, federation, self-metrics), `write` (push,
silences, acks) and `admin` (reload, quit, delete). Each role implies the ones
before it: an admin may write and read.

bcrypt is slow by design (~50 ms at cost 10), so a password that verified once
is remembered as a salted SHA-256 of the whole credential, and later requests
compare that in constant time. Failures are never cached and never logged with
the secret; the log names the user only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

__all__ = ["ROLES", "Authenticator", "Principal", "ssl_options"]

#: Roles in increasing power; each implies the ones before it.
ROLES = ("read", "write", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated client: who (for logs) and what it may do."""

    name: str
    roles: frozenset[str]

    def allows(self, role: str) -> bool:
        """True when one of the roles grants `role`."""
        want = ROLES.index(role)
        return any(r in ROLES and ROLES.index(r) >= want for r in self.roles)


ANONYMOUS_ALL = Principal("anonymous", frozenset(ROLES))


def _read_token(token: str, token_file: str) -> str:
    if token_file:
        return Path(token_file).expanduser().read_text().rstrip("\n")
    return token


class Authenticator:
    """Checks an `Authorization` header against the `[server]` credentials.

    Args:
        users: user -> bcrypt hash.
        user_roles: user -> roles (a user not listed may only read).
        tokens: (name, token, roles) of each bearer token.
    """

    def __init__(
        self,
        users: dict[str, str] | None = None,
        user_roles: dict[str, tuple[str, ...]] | None = None,
        tokens: list[tuple[str, str, tuple[str, ...]]] | None = None,
    ) -> None:
        self.users = {u: h.encode() for u, h in (users or {}).items()}
        self.user_roles = {u: frozenset(r) for u, r in (user_roles or {}).items()}
        self.tokens = [(n, t.encode(), frozenset(r)) for n, t, r in (tokens or []) if t]
        self._salt = os.urandom(16)
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, server: Any) -> Authenticator:
        """Build from a `ServerConfig` (token files are read now)."""
        tokens = [
            (t.name, _read_token(t.token, t.token_file), tuple(t.roles))
            for t in getattr(server, "bearer_tokens", ())
        ]
        return cls(
            dict(getattr(server, "basic_auth_users", {}) or {}),
            {k: tuple(v) for k, v in (getattr(server, "user_roles", {}) or {}).items()},
            tokens,
        )

    @property
    def enabled(self) -> bool:
        """True when any credential is configured (then every request must authenticate)."""
        return bool(self.users or self.tokens)

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The client behind an `Authorization` header; None when it does not authenticate.

        With no credentials configured every client is :data:`ANONYMOUS_ALL`.
        Blocking (bcrypt): call it from a worker thread.
        """
        if not self.enabled:
            return ANONYMOUS_ALL
        if not authorization:
            return None
        scheme, _, cred = authorization.strip().partition(" ")
        scheme = scheme.lower()
        cred = cred.strip()
        if scheme == "bearer" and self.tokens:
            given = cred.encode()
            found = None
            for name, token, roles in self.tokens:
                if hmac.compare_digest(given, token) and found is None:
                    found = Principal(name, roles)
            return found
        if scheme == "basic" and self.users:
            try:
                user, sep, password = base64.b64decode(cred, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
            if not sep or user not in self.users:
                return None
            if self._check_password(user, password):
                return Principal(user, self.user_roles.get(user, frozenset({"read"})))
        return None

    def _check_password(self, user: str, password: str) -> bool:
        digest = hashlib.sha256(self._salt + user.encode() + b"\0" + password.encode()).digest()
        with self._lock:
            known = self._verified.get(user)
        if known is not None and hmac.compare_digest(known, digest):
            return True
        try:
            ok = bcrypt.checkpw(password.encode(), self.users[user])
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._verified[user] = digest
        return ok


def ssl_options(tls: Any) -> dict[str, Any]:
    """uvicorn's TLS keyword arguments for a `ServerTLSConfig` (empty for plain HTTP)."""
    if tls is None:
        return {}
    opts: dict[str, Any] = {"ssl_certfile": tls.cert_file, "ssl_keyfile": tls.key_file}
    if tls.client_ca_file:
        opts["ssl_ca_certs"] = tls.client_ca_file
        opts["ssl_cert_reqs"] = ssl.CERT_REQUIRED
    return opts
