"""The survey on Telegram, through the real app and the fake Bot API over loopback: an
inline keyboard of five scores, a tap answers by callback, a reply to the question adds
a comment; neither reaches the team as a customer message."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from config.settings import Settings
from router.context import AppContext
from router.core.responder import QueueEveryThread
from router.core.texts import ROUTER_TEXTS
from router.storage.models import Message, SurveyAnswer, Thread
from tests.agent_support import api, eventually, make_agent
from tests.fake_telegram import FakeTelegram
from tests.support import make_settings
from tests.telegram_support import replies_to, telegram_values

CHAT = 7770042


async def _answer(context: AppContext) -> tuple[int | None, str | None]:
    async with context.sessions() as session:
        survey = await session.scalar(select(SurveyAnswer))
        assert survey is not None
        return survey.score, survey.comment


async def test_a_tap_answers_the_survey_and_a_reply_to_it_adds_a_comment(
    settings: Settings, fake: FakeTelegram, start_app: Any
) -> None:
    polls = fake.polls_started
    client, context = await start_app(
        make_settings(settings.data_dir, settings.database_url, telegram=telegram_values(fake)),
        responder=QueueEveryThread(),
    )
    await fake.wait_for(lambda: fake.polls_started > polls)
    user = fake.user(CHAT, first_name="سارا", language_code="fa")
    fake.add_message(CHAT, "سفارشم نرسیده", user=user)

    async def thread_stored() -> bool:
        async with context.sessions() as session:
            return await session.scalar(select(Thread.id)) is not None

    await eventually(thread_stored)
    async with context.sessions() as session:
        thread_id = await session.scalar(select(Thread.id))
    sara = await make_agent(context, "Sara", presence="online")
    for path, body in (("claim", None), ("messages", {"text": "ارسال شد"}), ("resolve", {})):
        status, answer = await api(
            client, "POST", f"/api/v1/threads/{thread_id}/{path}", sara, json=body
        )
        assert status in (200, 201), answer

    def survey_sent() -> list[Any]:
        return [c for c in replies_to(fake, CHAT) if "reply_markup" in c.params]

    await fake.wait_for(lambda: survey_sent())
    [question] = survey_sent()
    assert question.params["text"] == ROUTER_TEXTS.text("survey_csat_ask", "fa")
    [row] = question.params["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in row] == ["۱ ⭐", "۲ ⭐", "۳ ⭐", "۴ ⭐", "۵ ⭐"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in row)

    _, query_id = fake.add_callback(CHAT, row[3]["callback_data"], on_message=question.result)
    await fake.wait_for(lambda: fake.calls_to("answerCallbackQuery"))
    [answered] = fake.calls_to("answerCallbackQuery")
    assert answered.params["callback_query_id"] == query_id
    assert answered.params["text"] == ROUTER_TEXTS.text("survey_comment_hint", "fa")
    assert await _answer(context) == (4, None)

    fake.add_message(CHAT, "خیلی سریع بود", user=user, reply_to_message=question.result)
    await fake.wait_for(
        lambda: any(
            c.params["text"] == ROUTER_TEXTS.text("survey_comment_saved", "fa")
            for c in replies_to(fake, CHAT)
        )
    )
    assert await _answer(context) == (4, "خیلی سریع بود")

    # A forged tap is refused, in the user's language, and changes nothing.
    forged = row[0]["callback_data"][:-4] + "AAAA"
    fake.add_callback(CHAT, forged, on_message=question.result)
    await fake.wait_for(lambda: len(fake.calls_to("answerCallbackQuery")) == 2)
    assert fake.calls_to("answerCallbackQuery")[1].params["text"] == ROUTER_TEXTS.text(
        "survey_invalid", "fa"
    )
    assert await _answer(context) == (4, "خیلی سریع بود")
    async with context.sessions() as session:
        inbound = list(await session.scalars(select(Message.text).where(Message.direction == "in")))
        thread = await session.get(Thread, thread_id)
    assert inbound == ["سفارشم نرسیده"]  # neither the tap nor the comment reopened it
    assert thread is not None and thread.status == "resolved"
