"""The survey by email, through the real app: smtplib in, a real aiosmtpd relay out. The
mail carries one signed, expiring link per score; a link opens the rating page in the
customer's language and direction with that score chosen, and records nothing (a mail
scanner fetching every link must not vote): only the page's form (a POST) records."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select, update

from channels.email.render import EMAIL_TEXTS
from config.settings import Settings
from router.context import AppContext
from router.core.languages import localised_number
from router.core.messages import AuthorKind, utcnow
from router.core.responder import QueueEveryThread
from router.core.texts import ROUTER_TEXTS
from router.storage.models import Message, SurveyAnswer, Thread, ThreadEvent
from tests.agent_support import api, eventually, make_agent
from tests.email_support import SUPPORT, FakeRelay, make_mail, smtp_send, with_email

LINK = re.compile(r"^(\S+ ★): (http://\S+/surveys/(\S+)\?score=(\d+)&lang=fa)$", re.MULTILINE)


def _plain(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


async def _survey_mailed(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> tuple[Any, AppContext, int, EmailMessage]:
    """Sara mails, an agent replies "ارسال شد" and resolves: (client, context, thread id,
    the survey mail as the relay got it)."""
    client, context = await start_app(with_email(settings, relay), responder=QueueEveryThread())
    port = context.adapters["email"].port  # type: ignore[attr-defined]
    await smtp_send(port, make_mail(), mail_from="sara@example.ir", to=[SUPPORT])

    async def thread_stored() -> bool:
        async with context.sessions() as session:
            return await session.scalar(select(Thread.id)) is not None

    await eventually(thread_stored)
    async with context.sessions() as session:
        thread_id = await session.scalar(select(Thread.id))
    assert thread_id is not None
    sara = await make_agent(context, "Sara", presence="online")
    for path, body in (("claim", None), ("messages", {"text": "ارسال شد"}), ("resolve", {})):
        status, answer = await api(
            client, "POST", f"/api/v1/threads/{thread_id}/{path}", sara, json=body
        )
        assert status in (200, 201), answer

    async def survey_mailed() -> bool:
        return any(LINK.search(_plain(m.message)) for m in relay.received)

    await eventually(survey_mailed)
    mail = next(m.message for m in relay.received if LINK.search(_plain(m.message)))
    return client, context, thread_id, mail


async def test_five_links_to_a_persian_rtl_rating_page_that_records_only_on_confirm(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    client, context, _, mail = await _survey_mailed(settings, start_app, relay)
    links = LINK.findall(_plain(mail))
    assert [label for label, *_ in links] == ["۱ ★", "۲ ★", "۳ ★", "۴ ★", "۵ ★"]
    assert [int(score) for *_, score in links] == [1, 2, 3, 4, 5]
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    html_body = str(html_part.get_content())
    assert 'dir="rtl"' in html_body and html_body.count("/surveys/") == 5
    token = links[0][2]

    # The link (what a link-prefetching mail scanner fetches too) records nothing: it
    # shows the page with its score chosen and a button to confirm, without a script.
    page = await client.get("/surveys/" + links[1][1].split("/surveys/", 1)[1])
    assert page.status == 200
    text = await page.text()
    assert '<html lang="fa" dir="rtl">' in text
    assert '<input type="radio" name="score" value="2" checked' in text
    assert ROUTER_TEXTS.text("survey_confirm", "fa", score="۲") in text
    assert ROUTER_TEXTS.text("survey_saved", "fa", score="۲") not in text
    assert "<script" not in text and 'method="post"' in text
    for link in links:  # every link fetched, as a scanner would
        assert (await client.get("/surveys/" + link[1].split("/surveys/", 1)[1])).status == 200
    async with context.sessions() as session:
        survey = await session.scalar(select(SurveyAnswer))
        assert survey is not None and (survey.score, survey.answered_at) == (None, None)
    assert (
        context.metrics.registry.get_sample_value(
            "pasokh_survey_answers_total", {"kind": "csat", "score": "2"}
        )
        is None
    )

    # The page's form records the score, once, and adds a comment.
    form = await client.post(f"/surveys/{token}?lang=fa", data={"score": "2"})
    assert form.status == 200
    assert ROUTER_TEXTS.text("survey_saved", "fa", score="۲") in await form.text()
    async with context.sessions() as session:
        survey = await session.scalar(select(SurveyAnswer))
        assert survey is not None and (survey.score, survey.channel) == (2, "email")
    form = await client.post(
        f"/surveys/{token}?lang=fa", data={"score": "5", "comment": "ممنون از پیگیری"}
    )
    assert form.status == 200
    assert ROUTER_TEXTS.text("survey_saved", "fa", score="۵") in await form.text()
    async with context.sessions() as session:
        survey = await session.scalar(select(SurveyAnswer))
        assert survey is not None and (survey.score, survey.comment) == (5, "ممنون از پیگیری")

    # English, left to right, the same confirm step.
    english = await client.get(f"/surveys/{token}?score=3&lang=en")
    english_text = await english.text()
    assert '<html lang="en" dir="ltr">' in english_text
    assert '<input type="radio" name="score" value="3" checked' in english_text
    assert ROUTER_TEXTS.text("survey_confirm", "en", score="3") in english_text
    arabic = await (await client.get(f"/surveys/{token}?score=4&lang=ar")).text()
    assert '<html lang="ar" dir="rtl">' in arabic
    assert ROUTER_TEXTS.text("survey_confirm", "ar", score=localised_number(4, "ar")) in arabic

    forged = await client.get(f"/surveys/{token[:-3]}AAA?score=1&lang=fa")
    assert forged.status == 404
    assert ROUTER_TEXTS.text("survey_invalid", "fa") in await forged.text()
    async with context.sessions() as session, session.begin():
        await session.execute(
            update(SurveyAnswer).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = await client.post(f"/surveys/{token}?lang=fa", data={"score": "1"})
    assert expired.status == 410
    assert ROUTER_TEXTS.text("survey_expired", "fa") in await expired.text()
    async with context.sessions() as session:
        survey = await session.scalar(select(SurveyAnswer))
        assert survey is not None and survey.score == 5


def _reply(
    survey_mail: EmailMessage, body: str, message_id: str, *, replied_id: str | None = None
) -> bytes:
    """The customer's answer to `survey_mail` from their mail client: to its Reply-To,
    In-Reply-To its Message-ID, the question quoted under what they wrote."""
    quoted = "\n".join(f"> {line}" for line in _plain(survey_mail).splitlines())
    return make_mail(
        to=str(survey_mail["Reply-To"]),
        subject=f"Re: {survey_mail['Subject']}",
        body=f"{body}\n\nOn Mon, 30 Nov 2026 at 17:30, Support wrote:\n{quoted}\n",
        message_id=message_id,
        headers={
            "In-Reply-To": replied_id or str(survey_mail["Message-ID"]),
            "References": replied_id or str(survey_mail["Message-ID"]),
        },
    )


async def test_a_reply_that_is_a_score_alone_answers_the_survey_and_reopens_nothing(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    _, context, thread_id, survey_mail = await _survey_mailed(settings, start_app, relay)
    port = context.adapters["email"].port  # type: ignore[attr-defined]
    agent_mail = next(m.message for m in relay.received if "ارسال شد" in _plain(m.message))
    # The mail says a reply with the number is an answer too, above the links.
    hint = EMAIL_TEXTS.template("email_survey_hint", "fa")
    assert _plain(survey_mail).index(hint) < _plain(survey_mail).index("۱ ★")

    async def state() -> tuple[str, int | None, int, int]:
        async with context.sessions() as session:
            thread = await session.get(Thread, thread_id)
            survey = await session.scalar(select(SurveyAnswer))
            assert thread is not None and survey is not None
            from_customer = await session.scalar(
                select(func.count()).where(
                    Message.thread_id == thread_id, Message.author_kind == AuthorKind.CUSTOMER
                )
            )
            reopens = await session.scalar(
                select(func.count()).where(ThreadEvent.kind == "reopened")
            )
            return thread.status, survey.score, int(from_customer or 0), int(reopens or 0)

    assert await state() == ("resolved", None, 1, 0)

    # "۵" in Persian digits, the question quoted below it: the survey's answer, and the
    # resolved thread stays resolved (no reopen, no SLA clock, no message for an agent).
    await smtp_send(
        port,
        _reply(survey_mail, "۵", "<answer-1@example.ir>"),
        mail_from="sara@example.ir",
        to=[SUPPORT],
    )
    assert await state() == ("resolved", 5, 1, 0)
    async with context.sessions() as session:
        thread = await session.get(Thread, thread_id)
        assert thread is not None and thread.next_response_due is None
    # Arabic-Indic digits out of ten are refused by a CSAT's scale: a message, as any
    # text that is more than a score; so is "5" replying to the agent's mail, not the
    # survey, or to a survey mail whose Message-ID was altered (its MAC fails).
    altered = str(survey_mail["Message-ID"]).replace(".", ".1", 1)
    for number, (mail, body, replied) in enumerate(
        ((survey_mail, "1", altered), (agent_mail, "1", None), (survey_mail, "٧/١٠", None)),
        start=2,
    ):
        await smtp_send(
            port,
            _reply(mail, body, f"<answer-{number}@example.ir>", replied_id=replied),
            mail_from="sara@example.ir",
            to=[SUPPORT],
        )
    status, score, from_customer, reopens = await state()
    assert (score, from_customer, reopens) == (5, 4, 1) and status != "resolved"
