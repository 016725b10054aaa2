"""End to end: `nightowl serve` over TLS with client certificates and bcrypt basic auth."""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
import pytest
from nightowl.store import Store

from nightowl.model import Labels, Sample, SampleBatch

pytestmark = pytest.mark.slow

if shutil.which("openssl") is None:
    pytest.skip(
        "openssl is not installed (needed to make test certificates)", allow_module_level=True
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _pki(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        cwd=d,
    )
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=d,
        )
        extra = ["-extfile", "san.cnf"] if name == "server" else []
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            *extra,
            cwd=d,
        )


def test_serve_tls_client_certs_and_basic_auth(tmp_path: Path) -> None:
    """HTTPS with mutual TLS; every request needs the password; serve never writes."""
    _pki(tmp_path)
    db = tmp_path / "n.db"
    store = Store.open(db)
    store.append_sync(SampleBatch.from_samples([Sample(Labels.of("up", job="a"), 1_000_000, 1.0)]))
    store.close()
    digest = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"""
[server]
basic_auth_users = {{ alice = "{digest}" }}
[server.tls]
cert_file = "{tmp_path / "server.crt"}"
key_file = "{tmp_path / "server.key"}"
client_ca_file = "{tmp_path / "ca.crt"}"
"""
    )
    cfg.chmod(0o600)
    port = _free_port()
    url = f"https://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nightowl",
                "serve",
                "--db",
                str(db),
                "--config",
                str(cfg),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            stderr=log,
        )
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    ctx.load_cert_chain(str(tmp_path / "client.crt"), str(tmp_path / "client.key"))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(url + "/-/healthy", verify=ctx, auth=("alice", "s3cret"), timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((tmp_path / "serve.log").read_text()) from None
                time.sleep(0.1)
        assert r.status_code == 200
        q = {"query": "up", "time": "1000"}
        r = httpx.get(url + "/api/v1/query", params=q, verify=ctx, auth=("alice", "s3cret"))
        assert r.json()["data"]["result"][0]["value"] == [1000, "1"]
        r = httpx.get(url + "/api/v1/query", params=q, verify=ctx, auth=("alice", "wrong"))
        assert r.status_code == 401
        r = httpx.put(
            url + "/metrics/job/x", content=b"a 1\n", verify=ctx, auth=("alice", "s3cret")
        )
        assert r.status_code == 403
        # no client certificate: the handshake is refused
        bare = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        with pytest.raises(httpx.HTTPError):
            httpx.get(url + "/-/healthy", verify=bare, auth=("alice", "s3cret"), timeout=5)
        # plain HTTP is not served
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/-/healthy", timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert "s3cret" not in (tmp_path / "serve.log").read_text()
