"""The deployment files we ship: the nginx configurations pass `nginx -t`, and the
image and compose file carry no secrets and check /healthz.

Docker is not on the test machines, so the image is not built here; nginx is.
"""

from __future__ import annotations

import datetime
import re
import subprocess
from pathlib import Path

import aiohttp
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from config.settings import load_settings
from router.core.responder import QueueEveryThread
from tests.conftest import AppFactory
from tests.nginx_support import Nginx, main_config, nginx_binary
from tests.support import free_port, make_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "support.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def nginx_test(tmp_path: Path, site: str) -> subprocess.CompletedProcess[str]:
    """`nginx -t` of `site` (an http-block file) inside a minimal main configuration."""
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(main_config(tmp_path, tmp_path / "site.conf"))
    return subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )


def production_site(tmp_path: Path) -> str:
    """deploy/nginx/pasokh.conf with a self-signed certificate and logs under `tmp_path`."""
    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx" / "pasokh.conf").read_text()
    site = re.sub(r"/etc/letsencrypt/\S+/fullchain\.pem", str(cert), site)
    site = re.sub(r"/etc/letsencrypt/\S+/privkey\.pem", str(key), site)
    return site.replace("/var/log/nginx/", f"{tmp_path}/")


def test_the_production_nginx_configuration_is_valid(tmp_path: Path) -> None:
    site = production_site(tmp_path)
    result = nginx_test(tmp_path, site)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
    # WebSocket upgrade, and the web chat's query-string token out of the access log.
    assert "proxy_set_header Upgrade $http_upgrade" in site
    log_format = site.split("log_format", 1)[1].split(";", 1)[0]
    assert "$uri" in log_format and "$request " not in log_format and "$args" not in log_format
    assert "access_log" in site and "pasokh_no_query" in site.split("access_log", 1)[1]


def test_the_compose_nginx_configuration_is_valid(tmp_path: Path) -> None:
    site = (DEPLOY / "nginx" / "compose.conf").read_text()
    # Compose resolves the service names; here they stand for loopback.
    site = site.replace("pasokh1:", "127.0.0.1:").replace("pasokh2:", "127.0.0.2:")
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    result = nginx_test(tmp_path, site)
    assert result.returncode == 0, result.stderr


def test_image_and_compose_carry_no_secrets_and_check_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install '.[postgres]'" in dockerfile  # built from the package
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1]
    for line in dockerfile.splitlines():
        if line.strip().startswith(("ENV", "ARG")) or line.startswith("    PASOKH"):
            assert not re.search(r"SECRET|PASSWORD|TOKEN", line), line
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "pasokh1", "pasokh2", "nginx"} <= set(services)
    for name in ("pasokh1", "pasokh2"):
        service = services[name]
        assert service["build"] == "."
        for key, value in service["environment"].items():
            if re.search(r"SECRET|PASSWORD|DATABASE__URL", key):
                assert "${" in value and ":?" in value, f"{name} {key} must come from .env"
    assert "/healthz" in " ".join(services["nginx"]["healthcheck"]["test"])
    assert ".env" in (ROOT / ".dockerignore").read_text()


def test_compose_trusts_forwarded_headers_only_from_its_own_network() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    subnets = [pool["subnet"] for pool in compose["networks"]["default"]["ipam"]["config"]]
    for name in ("pasokh1", "pasokh2"):
        trusted = compose["services"][name]["environment"]["PASOKH_SERVER__TRUSTED_PROXIES"]
        settings = load_settings(env={"PASOKH_SERVER__TRUSTED_PROXIES": trusted})
        assert settings.server.trusted_proxies == subnets
    assert (
        "X-Forwarded-For $proxy_add_x_forwarded_for"
        in (DEPLOY / "nginx" / "compose.conf").read_text()
    )


async def test_the_production_nginx_configuration_proxies_and_keeps_metrics_in(
    tmp_path: Path, database_url: str, start_app: AppFactory
) -> None:
    """deploy/nginx/pasokh.conf run for real in front of a server: HTTP goes to HTTPS,
    requests reach Pasokh, and /metrics (open on Pasokh's own port by default) does not
    leave through the proxy however its path is spelled."""
    client, _ = await start_app(
        make_settings(tmp_path / "data", database_url), responder=QueueEveryThread()
    )
    http_port, https_port = free_port(), free_port()
    site = production_site(tmp_path)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = re.sub(r"server 10\.0\.0\.11:8080", f"server 127.0.0.1:{client.port}", site)
    site = re.sub(r"\n\s*server 10\.0\.0\.12:8080[^;]*;", "", site)
    nginx = Nginx.for_site(tmp_path / "nginx", site, f"https://127.0.0.1:{https_port}")
    await nginx.start()
    try:
        async with aiohttp.ClientSession() as http:
            plain = f"http://127.0.0.1:{http_port}/healthz"
            async with http.get(plain, allow_redirects=False) as answer:
                assert answer.status == 301
                assert answer.headers["Location"].startswith("https://")
            async with http.get(f"{nginx.url}/healthz", ssl=False) as answer:
                assert (
                    answer.status == 200
                    and "max-age" in answer.headers["Strict-Transport-Security"]
                )
            for path in ("/metrics", "//metrics", "/%6Detrics", "/metrics?format=text"):
                async with http.get(f"{nginx.url}{path}", ssl=False) as answer:
                    assert answer.status == 404, path
                    assert "pasokh_" not in await answer.text()
        # Pasokh's own port does answer it: the proxy is what keeps it in.
        assert (await client.get("/metrics")).status == 200
    finally:
        nginx.stop()
