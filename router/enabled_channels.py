"""Which channel adapters run, built from settings. Each channel adds its own line."""

from __future__ import annotations

from channels.base import ChannelAdapter
from channels.email.adapter import EmailAdapter
from channels.telegram import TelegramAdapter
from channels.webchat import WebchatAdapter
from config.settings import Settings
from router.identity.links import continue_link_maker
from router.metrics import Metrics


def build_adapters(settings: Settings, metrics: Metrics | None = None) -> list[ChannelAdapter]:
    """The adapters the settings enable (the API channel is part of the router itself)."""
    adapters: list[ChannelAdapter] = []
    if settings.webchat.enabled:
        adapters.append(
            WebchatAdapter(
                settings=settings.webchat,
                secret_key=settings.server.secret_key,
                public_url=settings.server.public_url,
                registry=metrics.registry if metrics is not None else None,
            )
        )
    telegram = TelegramAdapter.from_settings(  # None without a bot token
        settings, registry=metrics.registry if metrics is not None else None
    )
    if telegram is not None:
        adapters.append(telegram)
    if settings.email.enabled:
        adapters.append(
            EmailAdapter(
                settings.email,
                secret_key=settings.server.secret_key,
                continue_link=continue_link_maker(settings),
                registry=metrics.registry if metrics is not None else None,
            )
        )
    return adapters
