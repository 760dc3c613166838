"""Helpers for the identity tests: the whole app with web chat + email (+ Telegram)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from channels.email.adapter import EmailAdapter
from channels.webchat.tokens import TokenSigner
from config.settings import Settings
from router.context import AppContext
from router.core.responder import Answer, Decision, MessageView, Silent, ThreadContext
from router.storage.models import Customer, Identity, Message
from tests.email_support import SUPPORT, FakeRelay, RelayedMail, smtp_send, with_email
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import telegram_values
from tests.webchat_fakes import next_frame

PUBLIC_URL = "http://pasokh.test"
SESSIONS = "/api/v1/webchat/sessions"
EMAIL = "/api/v1/webchat/identity/email"
VERIFY = "/api/v1/webchat/identity/email/verify"
CONTINUE = "/api/v1/webchat/identity/continue"
TELEGRAM = "/api/v1/webchat/identity/telegram"
SITE = "/api/v1/webchat/identity/site"
_CODE = re.compile(r": (\d{6})\s")


class AnswerThenQueue:
    """Answers each first message and hands the thread to tier 1 (so agents can claim)."""

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        if ctx.automated:
            return Silent("automated")
        return Answer(text=f"received: {new.text}", language="en", handoff_tier=1)


@dataclass
class IdentityApp:
    client: TestClient[Any, Any]
    context: AppContext
    relay: FakeRelay
    smtp_port: int

    async def mail(self, raw: bytes, *, mail_from: str, to: str = SUPPORT) -> None:
        await smtp_send(self.smtp_port, raw, mail_from=mail_from, to=[to])

    async def relayed(self, number: int) -> EmailMessage:
        mails: list[RelayedMail] = await self.relay.wait_for(number)
        return mails[number - 1].message

    async def visitor(self, **body: Any) -> str:
        response = await self.client.post(SESSIONS, json=body)
        assert response.status == 200, await response.text()
        token: str = (await response.json())["visitor_token"]
        return token

    async def connect(self, token: str) -> Any:
        ws = await self.client.ws_connect("/ws/webchat", params={"token": token, "lang": "en"})
        assert (await next_frame(ws))["type"] == "ready"
        return ws

    async def post(self, path: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = await self.client.post(
            path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        return response.status, await response.json()

    def address_of(self, token: str) -> str:
        """The web chat address a visitor token names."""
        settings = self.context.settings
        signer = TokenSigner(
            settings.server.secret_key, user_hash_secret=settings.webchat.user_hash_secret
        )
        return signer.open_visitor(token).address

    async def customer_of(self, channel: str, address: str) -> int | None:
        async with self.context.sessions() as session:
            return await session.scalar(
                select(Identity.customer_id).where(
                    Identity.channel == channel, Identity.address == address
                )
            )

    async def identities(self, customer_id: int) -> list[tuple[str, str, bool]]:
        async with self.context.sessions() as session:
            rows = await session.scalars(
                select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
            )
            return [(i.channel, i.address, i.verified) for i in rows]

    async def customer_texts(self, customer_id: int) -> list[str]:
        async with self.context.sessions() as session:
            rows = await session.scalars(
                select(Message.text).where(Message.customer_id == customer_id).order_by(Message.id)
            )
            return list(rows)

    async def customer_row(self, customer_id: int) -> Customer:
        async with self.context.sessions() as session:
            customer = await session.get(Customer, customer_id)
            assert customer is not None
            return customer


def code_in(mail: EmailMessage) -> str:
    """The six-digit code in one of our code mails."""
    body = mail.get_body(("plain",))
    assert body is not None
    found = _CODE.search(body.get_content())
    assert found is not None, body.get_content()
    return found.group(1)


def continue_token_in(mail: EmailMessage) -> str:
    """The token of the mail's continue-in-chat link."""
    body = mail.get_body(("plain",))
    assert body is not None
    pattern = re.escape(PUBLIC_URL) + r"/continue\?token=([A-Za-z0-9_.%-]+)"
    found = re.search(pattern, body.get_content())
    assert found is not None, body.get_content()
    return unquote(found.group(1))


def identity_settings(settings: Settings, relay: FakeRelay, **sections: dict[str, Any]) -> Settings:
    """Web chat + email on loopback (relay captured), a public URL for links."""
    settings = with_email(settings, relay).replace("webchat", enabled=True)
    settings = settings.replace("server", public_url=PUBLIC_URL)
    for section, changes in sections.items():
        settings = settings.replace(section, **changes)
    return settings


async def start_identity_app(
    start_app: Any, settings: Settings, relay: FakeRelay, **sections: dict[str, Any]
) -> IdentityApp:
    client, context = await start_app(
        identity_settings(settings, relay, **sections), responder=AnswerThenQueue()
    )
    adapter = context.adapters["email"]
    assert isinstance(adapter, EmailAdapter)
    return IdentityApp(client, context, relay, adapter.port)


async def start_identity_app_with_telegram(
    start_app: Any, settings: Settings, relay: FakeRelay, fake: FakeTelegram
) -> IdentityApp:
    """The identity app with Telegram too, polling the fake Bot API (the public URL here is
    a name in links, not reachable for a webhook); returns once the first poll began."""
    polls = fake.polls_started
    app = await start_identity_app(
        start_app, settings, relay, telegram=telegram_values(fake, mode="polling")
    )
    await fake.wait_for(lambda: fake.polls_started > polls)
    return app


async def say(ws: Any, text: str, client_id: str) -> dict[str, Any]:
    await ws.send_str(
        json.dumps({"type": "message", "client_id": client_id, "text": text}, ensure_ascii=False)
    )
    return await next_frame(ws, "ack")
