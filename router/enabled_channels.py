"""Which channel adapters run, built from settings. Each channel adds its own line."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from channels.api import ApiAdapter
from channels.base import ChannelAdapter
from channels.email.adapter import EmailAdapter
from channels.telegram import TelegramAdapter
from channels.webchat import WebchatAdapter
from config.settings import Settings
from router.identity.links import continue_link_maker
from router.metrics import Metrics


def api_adapter(settings: Settings, metrics: Metrics) -> ApiAdapter:
    """The API channel: every server runs it (`build_app` adds it to any adapter list)."""
    return ApiAdapter(
        settings=settings.api,
        max_request_bytes=settings.server.max_request_bytes,
        rejected_input=metrics.rejected_input,
    )


def build_adapters(settings: Settings, metrics: Metrics | None = None) -> list[ChannelAdapter]:
    """The adapters the settings enable (`build_app` adds the API channel to them)."""
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


def telegram_bot_username(adapters: Sequence[ChannelAdapter]) -> Callable[[], str | None]:
    """The Telegram bot's @username once connected (for the widget's `t.me` link), or
    None: what the identity proofs need from Telegram, without knowing the adapter."""
    telegram = next((a for a in adapters if isinstance(a, TelegramAdapter)), None)
    if telegram is None:
        return lambda: None
    return lambda: telegram.bot_username
