"""Which channel adapters run, built from settings, and which part each plays for the
core (`ChannelRoles`). With `router.app`, the only module under `router/` that names a
channel. Each channel adds its own line."""

from __future__ import annotations

from collections.abc import Sequence

from channels.api import ApiAdapter
from channels.base import ChannelAdapter
from channels.email.adapter import EmailAdapter
from channels.email.render import EMAIL_TEXTS
from channels.telegram import TelegramAdapter
from channels.webchat import WebchatAdapter
from config.settings import Settings
from router.context import ChannelRoles
from router.core.proofs import ChatLinks, NoChatLinks
from router.core.texts import TextCatalogue
from router.identity.links import continue_link_maker
from router.metrics import Metrics


def api_adapter(settings: Settings, metrics: Metrics) -> ApiAdapter:
    """The API channel: every server runs it (`build_app` adds it to any adapter list)."""
    return ApiAdapter(
        settings=settings.api,
        max_request_bytes=settings.server.max_request_bytes,
        rejected_input=metrics.rejected_input,
    )


def build_adapters(
    settings: Settings, metrics: Metrics | None = None, email_texts: TextCatalogue = EMAIL_TEXTS
) -> list[ChannelAdapter]:
    """The adapters the settings enable (`build_app` adds the API channel to them);
    `email_texts`: the installation's copy of the email channel's texts."""
    adapters: list[ChannelAdapter] = []
    if settings.webchat.enabled:
        adapters.append(
            WebchatAdapter(
                settings=settings.webchat,
                secret_key=settings.server.secret_key,
                public_url=settings.server.public_url,
                registry=metrics.registry if metrics is not None else None,
                min_free_disk_mb=settings.server.min_free_disk_mb,
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
                texts=email_texts,
                # Several `--workers` share the SMTP port as they share the HTTP one.
                reuse_port=settings.server.workers > 1,
            )
        )
    return adapters


def channel_roles(settings: Settings) -> ChannelRoles:
    """Which channel carries mail, which holds the browser's visitors and which the
    integrations' customers."""
    return ChannelRoles(
        mail="email",
        mail_can_send=bool(settings.email.relay_host),
        visitors="webchat",
        integrations="api",
    )


def chat_links(adapters: Sequence[ChannelAdapter]) -> ChatLinks:
    """The chat app whose deep links the widget offers (Telegram's `t.me` links), if it runs."""
    telegram = next((a for a in adapters if isinstance(a, TelegramAdapter)), None)
    return telegram if telegram is not None else NoChatLinks()


def channels_off(settings: Settings, running: Sequence[ChannelAdapter]) -> list[str]:
    """The start-up summary's channels that do not run, each with how to turn it on."""
    names = {adapter.name for adapter in running}
    off = {
        "webchat": "webchat (set PASOKH_WEBCHAT__ENABLED=true)",
        "email": "email (set PASOKH_EMAIL__ENABLED=true)",
        "telegram": "telegram (set PASOKH_TELEGRAM__TOKEN to the token from @BotFather)",
    }
    return [line for name, line in off.items() if name not in names]
