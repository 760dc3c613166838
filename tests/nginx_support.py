"""Debian's nginx as the reverse proxy in front of Pasokh, for tests (the layout
docs/deploy.md describes: WebSocket upgrade, forwarded headers, no query strings logged)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from pathlib import Path

import aiohttp


def nginx_config(prefix: Path, port: int, upstreams: list[int], bind: str | None) -> str:
    """A throwaway nginx in front of the processes, as docs/deploy.md describes it;
    `bind`: the loopback address it connects to them from."""
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=3s;" for p in upstreams)
    proxy_bind = f"proxy_bind {bind};" if bind else ""
    temp = "\n".join(
        f"  {kind}_temp_path {prefix}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
daemon off;
user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
{temp}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  # $uri, not $request: the web chat's ?token= never reaches the log.
  log_format pasokh '$remote_addr [$time_local] "$request_method $uri" $status '
                    '$request_time $upstream_addr';
  access_log {prefix}/access.log pasokh;
  upstream pasokh {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://pasokh;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 1h;
      {proxy_bind}
    }}
  }}
}}
"""


def nginx_binary() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(binary).exists(), "install Debian's nginx (.ci/install-system-deps)"
    return binary


def main_config(prefix: Path, site: Path) -> str:
    """A minimal main configuration around `site`, a file for the `http` block such as
    the ones under deploy/nginx/, with every path under `prefix`."""
    return f"""
daemon off;
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{}}
http {{
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  include {site};
}}
"""


class Nginx:
    """Debian's nginx on loopback, running `config` (a main configuration); `url` is
    where it answers `/healthz` once it is up."""

    def __init__(self, prefix: Path, config: str, url: str) -> None:
        self.binary = nginx_binary()
        self.prefix = prefix
        self.url = url
        prefix.mkdir(parents=True, exist_ok=True)
        self.config = prefix / "nginx.conf"
        self.config.write_text(config)
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def in_front(
        cls, prefix: Path, port: int, upstreams: list[int], *, bind: str | None = None
    ) -> Nginx:
        """Round robin over `upstreams` (ports on 127.0.0.1), listening on `port`."""
        return cls(prefix, nginx_config(prefix, port, upstreams, bind), f"http://127.0.0.1:{port}")

    @classmethod
    def for_site(cls, prefix: Path, site: str, url: str) -> Nginx:
        """One of the shipped site files (already pointed at loopback ports)."""
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "site.conf").write_text(site)
        return cls(prefix, main_config(prefix, prefix / "site.conf"), url)

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with asyncio.timeout(20), aiohttp.ClientSession() as session:
            while True:
                assert self.process.poll() is None, (self.prefix / "error.log").read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/healthz", ssl=False) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
