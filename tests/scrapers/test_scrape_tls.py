"""TLS scrapes against a real HTTPS server on 127.0.0.1: CA, client certificates, skip-verify."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from nightowl.scrapers.manager import ScrapeManager
from nightowl.scrapers.target import options_from_config
from nightowl.store.api import AppendResult

from nightowl.model import SampleBatch, TargetHealth

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI absent")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=nightowl test CA", cwd=d)  # fmt: skip
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                "-extfile", f"{name}.ext", cwd=d)  # fmt: skip
    return d


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b"tls_ok 1\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def https_server(pki: Path) -> Iterator[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    ctx.load_verify_locations(pki / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED  # client certificates required
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class Recorder:
    def __init__(self) -> None:
        self.batches: list[SampleBatch] = []

    async def append(self, batch: SampleBatch) -> AppendResult:
        self.batches.append(batch)
        return AppendResult(accepted=len(batch))


async def scrape(address: str, tls: dict) -> tuple[TargetHealth, str, Recorder]:
    rec = Recorder()
    mgr = ScrapeManager(rec)
    opts = options_from_config(
        {
            "job_name": "tls",
            "scheme": "https",
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "static_configs": [{"targets": [address]}],
            "tls_config": tls,
        }
    )
    await mgr.apply_jobs([opts])
    try:
        loop = mgr.loops()[0]
        await loop.scrape_once()
        return loop.health, loop.last_error, rec
    finally:
        await mgr.stop()


async def test_ca_and_client_certificate(pki: Path, https_server: str) -> None:
    """With the CA and a client certificate the scrape succeeds."""
    health, error, rec = await scrape(
        https_server,
        {
            "ca_file": str(pki / "ca.crt"),
            "cert_file": str(pki / "client.crt"),
            "key_file": str(pki / "client.key"),
        },
    )
    assert (health, error) == (TargetHealth.UP, "")
    assert any(s.labels.name == "tls_ok" for b in rec.batches for s in b)


async def test_unknown_ca_fails_visibly(pki: Path, https_server: str) -> None:
    """Without the CA the certificate is refused: up=0 with the TLS error."""
    health, error, _ = await scrape(
        https_server,
        {"cert_file": str(pki / "client.crt"), "key_file": str(pki / "client.key")},
    )
    assert health is TargetHealth.DOWN
    assert "CERTIFICATE_VERIFY_FAILED" in error or "certificate" in error.lower()


async def test_insecure_skip_verify(pki: Path, https_server: str) -> None:
    """insecure_skip_verify accepts the unknown CA (the client certificate is still sent)."""
    health, error, _ = await scrape(
        https_server,
        {
            "insecure_skip_verify": True,
            "cert_file": str(pki / "client.crt"),
            "key_file": str(pki / "client.key"),
        },
    )
    assert (health, error) == (TargetHealth.UP, "")


async def test_missing_client_certificate_is_refused(pki: Path, https_server: str) -> None:
    """The server demands a client certificate; without one the scrape fails."""
    health, _, _ = await scrape(https_server, {"ca_file": str(pki / "ca.crt")})
    assert health is TargetHealth.DOWN


async def test_unreadable_tls_files_fail_every_scrape_with_the_reason(tmp_path: Path) -> None:
    """A broken tls_config does not crash the manager; the target shows why it is down."""
    health, error, _ = await scrape("127.0.0.1:9", {"ca_file": str(tmp_path / "missing.crt")})
    assert health is TargetHealth.DOWN
    assert "tls_config" in error
