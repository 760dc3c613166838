"""Links this server prints into messages (mails, chat) for people to open later."""

from __future__ import annotations

from config.settings import Settings


def public_base_url(settings: Settings) -> str:
    """Where people reach this server: `[server] public_url`, else the listening
    address (a development server); no trailing slash."""
    server = settings.server
    return (server.public_url or f"http://{server.host}:{server.http_port}").rstrip("/")
