"""Surveys after a resolution, through the real app: who is asked what (CSAT, or NPS on
its slower rhythm), the one answer endpoint and its token rules, a low score acted on,
and an answer counted once under concurrency (PostgreSQL: writes are not serialised)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from config.settings import Settings
from router.context import AppContext
from router.core.events import SurveyAnswered
from router.core.messages import OutboundMessage, SurveyOffer, utcnow
from router.core.responder import QueueEveryThread
from router.core.security import PurposeKey, b64_text, new_token, token_hash
from router.service.surveys import read_token, survey_token, written_score
from router.storage.models import ApiToken, Message, SurveyAnswer, Thread
from tests.agent_support import AgentUser, api, get_thread, make_agent
from tests.support import FakeAdapter

SECRET = "test-secret-key-" + "x" * 32


async def _start(
    settings: Settings, start_app: Any, **surveys: Any
) -> tuple[Any, AppContext, FakeAdapter, AgentUser]:
    settings = settings.replace("surveys", **surveys) if surveys else settings
    # Each visit a new thread (none reopens the last): the rules are per customer.
    settings = settings.replace("threads", reopen_window_minutes=0)
    web = FakeAdapter(name="webchat")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    agent = await make_agent(context, "Sara", presence="online")
    return client, context, web, agent


async def _served(
    client: Any,
    web: FakeAdapter,
    agent: AgentUser,
    sender: str,
    *,
    reply: bool = True,
    resolve_body: dict[str, Any] | None = None,
    language: str = "fa",
) -> int:
    """A customer writes, the agent claims, replies and resolves; the thread's id."""
    result = await web.push("سلام، سفارشم نرسیده", sender=sender, language=language)
    thread_id = result.thread_id
    status, body = await api(client, "POST", f"/api/v1/threads/{thread_id}/claim", agent)
    assert status == 200, body
    if reply:
        status, body = await api(
            client,
            "POST",
            f"/api/v1/threads/{thread_id}/messages",
            agent,
            json={"text": "الان پیگیری می‌کنم"},
        )
        assert status == 201, body
    status, body = await api(
        client, "POST", f"/api/v1/threads/{thread_id}/resolve", agent, json=resolve_body or {}
    )
    assert status == 200, body
    return thread_id


async def _surveys_sent(context: AppContext, thread_id: int) -> list[dict[str, Any]]:
    async with context.sessions() as session:
        rows = await session.scalars(
            select(Message.survey).where(
                Message.thread_id == thread_id, Message.survey.is_not(None)
            )
        )
        return [dict(row) for row in rows if row]


async def _offer_sent(web: FakeAdapter, thread_id: int) -> SurveyOffer:
    async with asyncio.timeout(10):
        while True:
            for message in web.sent:
                if message.thread_id == thread_id and message.survey is not None:
                    return message.survey
            web.sent_event.clear()
            await web.sent_event.wait()


def _counted(context: AppContext, kind: str, score: int) -> float:
    value = context.metrics.registry.get_sample_value(
        "pasokh_survey_answers_total", {"kind": kind, "score": str(score)}
    )
    return value or 0.0


async def test_resolve_asks_csat_in_the_customers_language_and_the_answer_is_counted_once(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app)
    thread_id = await _served(client, web, agent, "sara-visitor")
    offer = await _offer_sent(web, thread_id)
    assert (offer.kind, offer.scale, list(offer.scores())) == ("csat", 5, [1, 2, 3, 4, 5])
    assert offer.url.endswith(f"/surveys/{offer.token}")
    asked: OutboundMessage = next(m for m in web.sent if m.survey is not None)
    assert asked.language == "fa" and asked.text == context.texts.text("survey_csat_ask", "fa")

    status, body = await api(
        client, "POST", f"/api/v1/surveys/{offer.token}", json={"score": 4, "comment": "خوب بود"}
    )
    assert status == 200, body
    assert body["survey"]["score"] == 4 and body["survey"]["comment"] == "خوب بود"
    # Changed before it expires: still one answer, counted once in the metrics.
    status, body = await api(client, "POST", f"/api/v1/surveys/{offer.token}", json={"score": 5})
    assert status == 200, body
    assert (body["survey"]["score"], body["survey"]["comment"]) == (5, "خوب بود")
    async with context.sessions() as session:
        answers = list(await session.scalars(select(SurveyAnswer)))
    assert [(a.thread_id, a.kind, a.score, a.agent_id) for a in answers] == [
        (thread_id, "csat", 5, agent.id)
    ]
    assert _counted(context, "csat", 4) == 1 and _counted(context, "csat", 5) == 0

    # The answer is on the thread for agents (a note), without the customer's token.
    status, detail = await api(client, "GET", f"/api/v1/threads/{thread_id}", agent)
    assert status == 200
    notes = [m["text"] for m in detail["messages"] if m["internal"]]
    assert notes == ["Survey CSAT: 4/5\nخوب بود", "Survey CSAT: 5/5\nخوب بود"]
    asked_json = [m for m in detail["messages"] if m["survey"] is not None]
    assert [m["survey"] for m in asked_json] == [{"kind": "csat", "scale": 5}]
    assert offer.token not in str(detail)

    today = utcnow().date()
    status, report = await api(
        client,
        "GET",
        "/api/v1/reports/summary",
        agent,
        params={"from": str(today), "to": str(today + timedelta(days=1))},
    )
    assert status == 200, report
    assert report["total"]["csat"] == {
        "responses": 1,
        "satisfied_pct": 100.0,
        "mean": 5.0,
        "sent": 1,
        "response_rate": 1.0,
    }


async def test_a_resolve_without_survey_sends_none_and_the_default_is_configurable(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app, send_by_default=False)
    quiet = await _served(client, web, agent, "quiet")
    assert await _surveys_sent(context, quiet) == []
    asked = await _served(client, web, agent, "asked", resolve_body={"survey": True})
    assert [s["kind"] for s in await _surveys_sent(context, asked)] == ["csat"]
    status, body = await api(
        client, "POST", f"/api/v1/threads/{asked}/resolve", agent, json={"survey": "no"}
    )
    assert status == 422, body


async def test_surveys_are_not_sent_after_bot_only_threads_nor_twice_within_the_gap(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app)
    unanswered = await _served(client, web, agent, "nobody-replied", reply=False)
    assert await _surveys_sent(context, unanswered) == []
    first = await _served(client, web, agent, "regular")
    second = await _served(client, web, agent, "regular")  # within min_days_between
    assert first != second
    assert len(await _surveys_sent(context, first)) == 1
    assert await _surveys_sent(context, second) == []


async def _resolve_again(client: Any, agent: AgentUser, thread_id: int) -> None:
    """The agent answers the reopened thread and resolves it again."""
    path = f"/api/v1/threads/{thread_id}"
    status, body = await api(client, "POST", f"{path}/messages", agent, json={"text": "درست شد"})
    assert status == 201, body
    status, body = await api(client, "POST", f"{path}/resolve", agent, json={})
    assert status == 200, body


async def test_a_reopened_thread_resolved_again_is_asked_again_once_the_gap_allows(
    settings: Settings, start_app: Any
) -> None:
    # A survey per resolution (a new service), as peers do; the customer's minimum gap
    # between surveys still decides.
    client, context, web, agent = await _start(
        settings, start_app, reopen_on_low_score=True, min_days_between=0, nps_every_days=0
    )
    thread_id = await _served(client, web, agent, "came-back")
    first = await _offer_sent(web, thread_id)
    status, _ = await api(client, "POST", f"/api/v1/surveys/{first.token}", json={"score": 1})
    assert status == 200
    assert (await get_thread(context, thread_id)).status == "assigned"  # reopened
    web.sent.clear()
    await _resolve_again(client, agent, thread_id)
    second = await _offer_sent(web, thread_id)
    assert second.token != first.token and second.kind == "csat"
    status, _ = await api(client, "POST", f"/api/v1/surveys/{second.token}", json={"score": 5})
    assert status == 200
    # Each answer stays with its resolution: both counted, the earlier one unchanged.
    async with context.sessions() as session:
        rows = list(await session.scalars(select(SurveyAnswer).order_by(SurveyAnswer.id)))
    assert [(row.thread_id, row.score) for row in rows] == [(thread_id, 1), (thread_id, 5)]
    today = utcnow().date()
    status, report = await api(
        client,
        "GET",
        "/api/v1/reports/summary",
        agent,
        params={"from": str(today), "to": str(today + timedelta(days=1))},
    )
    assert status == 200, report
    assert report["total"]["csat"] == {
        "responses": 2,
        "satisfied_pct": 50.0,
        "mean": 3.0,
        "sent": 2,
        "response_rate": 1.0,
    }


async def test_a_reopened_thread_resolved_again_within_the_gap_is_not_asked_again(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app, reopen_on_low_score=True)
    thread_id = await _served(client, web, agent, "came-back-soon")
    first = await _offer_sent(web, thread_id)
    status, _ = await api(client, "POST", f"/api/v1/surveys/{first.token}", json={"score": 2})
    assert status == 200
    await _resolve_again(client, agent, thread_id)
    assert (await get_thread(context, thread_id)).status == "resolved"
    assert len(await _surveys_sent(context, thread_id)) == 1  # within min_days_between


async def test_surveys_only_on_the_configured_channels(settings: Settings, start_app: Any) -> None:
    client, context, web, agent = await _start(settings, start_app, channels=["email"])
    thread_id = await _served(client, web, agent, "chat-only")
    assert await _surveys_sent(context, thread_id) == []


async def test_nps_replaces_csat_on_its_slower_rhythm(settings: Settings, start_app: Any) -> None:
    client, context, web, agent = await _start(
        settings, start_app, min_days_between=0, nps_every_days=90
    )
    kinds = []
    for _ in range(3):
        thread_id = await _served(client, web, agent, "loyal", language="en")
        kinds += [s["kind"] for s in await _surveys_sent(context, thread_id)]
    # The first survey is a CSAT; then an NPS is due; then none for 90 days: CSAT again.
    assert kinds == ["csat", "nps", "csat"]
    async with context.sessions() as session:
        nps = await session.scalar(select(SurveyAnswer).where(SurveyAnswer.kind == "nps"))
        assert nps is not None
        nps_thread = nps.thread_id
    offer = await _offer_sent(web, nps_thread)
    assert (offer.scale, list(offer.scores())) == (10, list(range(11)))
    status, body = await api(client, "POST", f"/api/v1/surveys/{offer.token}", json={"score": 0})
    assert status == 200, body
    assert _counted(context, "nps", 0) == 1
    csat = await _offer_sent(web, (await _surveys_thread(context, "csat"))[0])
    status, body = await api(client, "POST", f"/api/v1/surveys/{csat.token}", json={"score": 0})
    assert status == 422 and body["error"]["reason"] == "score", body


async def _surveys_thread(context: AppContext, kind: str) -> list[int]:
    async with context.sessions() as session:
        return list(
            await session.scalars(
                select(SurveyAnswer.thread_id)
                .where(SurveyAnswer.kind == kind)
                .order_by(SurveyAnswer.id)
            )
        )


async def test_forged_altered_expired_and_another_threads_tokens_are_refused(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app, min_days_between=0)
    one = await _served(client, web, agent, "one")
    two = await _served(client, web, agent, "two")
    token_one = (await _offer_sent(web, one)).token
    token_two = (await _offer_sent(web, two)).token
    survey_one, thread_one = read_token(SECRET, token_one) or (0, 0)
    survey_two, _ = read_token(SECRET, token_two) or (0, 0)
    mac_one = token_one.rsplit(".", 1)[1]
    refused = {
        "forged": f"{survey_one}.{thread_one}.{'A' * 22}",
        "altered thread": f"{survey_one}.{two}.{mac_one}",
        "altered survey": f"{survey_two}.{thread_one}.{mac_one}",
        "signed by another key": survey_token("another-secret-" + "y" * 32, survey_one, one),
        # A validly signed pair whose survey belongs to another thread: no such row.
        "another thread's survey": survey_token(SECRET, survey_two, one),
        # The same ids signed again, as for a survey that got them after an erasure
        # (SQLite gives a deleted row's id again): not this survey's token.
        "the same ids, another token": survey_token(SECRET, survey_one, thread_one),
        "garbage": "not-a-token",
        "non-ascii": "۱.۲.۳",
    }
    for name, token in refused.items():
        status, body = await api(client, "POST", f"/api/v1/surveys/{token}", json={"score": 5})
        assert (name, status, body["error"]["reason"]) == (name, 404, "invalid")
    rejected = context.metrics.registry.get_sample_value(
        "pasokh_rejected_input_total", {"channel": "surveys", "reason": "invalid"}
    )
    assert rejected == len(refused)

    async with context.sessions() as session, session.begin():
        await session.execute(
            update(SurveyAnswer)
            .where(SurveyAnswer.thread_id == one)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    status, body = await api(client, "POST", f"/api/v1/surveys/{token_one}", json={"score": 5})
    assert (status, body["error"]["reason"]) == (410, "expired")
    for bad in ({"score": 6}, {"score": "5"}, {}, {"score": 3, "extra": 1}):
        status, body = await api(client, "POST", f"/api/v1/surveys/{token_two}", json=bad)
        assert status == 422, (bad, body)
    async with context.sessions() as session:
        answered = await session.scalar(
            select(SurveyAnswer.id).where(SurveyAnswer.score.is_not(None))
        )
    assert answered is None


async def test_a_link_sent_before_tokens_had_a_nonce_still_opens_its_survey(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app, min_days_between=0)
    thread_id = await _served(client, web, agent, "one")
    survey_id, _ = read_token(SECRET, (await _offer_sent(web, thread_id)).token) or (0, 0)
    # as `survey_token` made them before: the ids and their MAC alone
    digest = PurposeKey(SECRET, "survey").digest(f"{survey_id}.{thread_id}")
    legacy = f"{survey_id}.{thread_id}.{b64_text(digest)[:22]}"
    async with context.sessions() as session, session.begin():
        await session.execute(
            update(SurveyAnswer)
            .where(SurveyAnswer.id == survey_id)
            .values(token_hash=token_hash(legacy))
        )
    status, body = await api(client, "POST", f"/api/v1/surveys/{legacy}", json={"score": 4})
    assert status == 200, body


async def test_a_low_score_flags_the_thread_publishes_an_event_and_reopens_it_to_its_agent(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app, reopen_on_low_score=True)
    thread_id = await _served(client, web, agent, "unhappy")
    offer = await _offer_sent(web, thread_id)
    async with context.events.subscription() as events:
        status, body = await api(
            client,
            "POST",
            f"/api/v1/surveys/{offer.token}",
            json={"score": 1, "comment": "سه بار پرسیدم و جواب نگرفتم"},
        )
        assert status == 200, body
        async with asyncio.timeout(5):
            while not isinstance(event := await events.get(), SurveyAnswered):
                pass
    assert (event.thread_id, event.kind, event.score, event.low, event.agent_id) == (
        thread_id,
        "csat",
        1,
        True,
        agent.id,
    )
    thread = await get_thread(context, thread_id)
    assert thread.low_rating_at is not None
    assert (thread.status, thread.assignee_id) == ("assigned", agent.id)
    status, flagged = await api(client, "GET", "/api/v1/threads?low_rating=true", agent)
    assert status == 200 and [t["id"] for t in flagged["threads"]] == [thread_id]
    assert flagged["threads"][0]["low_rating_at"] is not None
    status, unflagged = await api(client, "GET", "/api/v1/threads?low_rating=false", agent)
    assert thread_id not in [t["id"] for t in unflagged["threads"]]

    # A better score clears the flag (the thread stays with its agent).
    status, body = await api(client, "POST", f"/api/v1/surveys/{offer.token}", json={"score": 4})
    assert status == 200, body
    assert (await get_thread(context, thread_id)).low_rating_at is None


async def test_a_low_score_leaves_the_thread_resolved_unless_configured(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app)
    thread_id = await _served(client, web, agent, "unhappy-too")
    offer = await _offer_sent(web, thread_id)
    status, _ = await api(client, "POST", f"/api/v1/surveys/{offer.token}", json={"score": 2})
    assert status == 200
    thread = await get_thread(context, thread_id)
    assert thread.status == "resolved" and thread.low_rating_at is not None


async def test_concurrent_answers_make_one_answer_counted_once(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app)
    thread_id = await _served(client, web, agent, "clicker")
    offer = await _offer_sent(web, thread_id)
    results = await asyncio.gather(
        *(
            api(client, "POST", f"/api/v1/surveys/{offer.token}", json={"score": 1 + n % 5})
            for n in range(10)
        )
    )
    assert [status for status, _ in results] == [200] * 10
    async with context.sessions() as session:
        rows = list(await session.scalars(select(SurveyAnswer)))
        thread = await session.get(Thread, thread_id)
    assert len(rows) == 1 and rows[0].score is not None
    counted = sum(_counted(context, "csat", score) for score in range(1, 6))
    assert counted == 1
    assert thread is not None


async def test_the_rating_pages_link_records_nothing_and_concurrent_forms_one_answer(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, agent = await _start(settings, start_app)
    thread_id = await _served(client, web, agent, "mail-scanner")
    offer = await _offer_sent(web, thread_id)
    for score in range(1, 6):  # a scanner fetching every score's link
        page = await client.get(f"/surveys/{offer.token}?score={score}")
        assert page.status == 200
    async with context.sessions() as session:
        rows = list(await session.scalars(select(SurveyAnswer)))
    assert [(row.score, row.answered_at) for row in rows] == [(None, None)]
    results = await asyncio.gather(
        *(client.post(f"/surveys/{offer.token}", data={"score": str(1 + n % 5)}) for n in range(10))
    )
    assert [response.status for response in results] == [200] * 10
    async with context.sessions() as session:
        rows = list(await session.scalars(select(SurveyAnswer)))
    assert len(rows) == 1 and rows[0].score is not None
    assert sum(_counted(context, "csat", score) for score in range(1, 6)) == 1


async def test_the_api_channel_carries_the_survey_in_its_message_json(
    settings: Settings, start_app: Any
) -> None:
    client, context, _, agent = await _start(settings, start_app)
    integration = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(integration)))
    bearer = {"Authorization": f"Bearer {integration}"}
    message = {"id": "m1", "text": "where is my order?", "customer": {"external_id": "42"}}
    posted = await client.post("/api/v1/inbound/messages", json=message, headers=bearer)
    assert posted.status == 202, await posted.text()
    thread_id = (await posted.json())["thread_id"]
    for path, body in (("claim", None), ("messages", {"text": "on its way"}), ("resolve", {})):
        status, answer = await api(
            client, "POST", f"/api/v1/threads/{thread_id}/{path}", agent, json=body
        )
        assert status in (200, 201), answer
    listing = await client.get("/api/v1/inbound/customers/42/messages", headers=bearer)
    assert listing.status == 200
    surveys = [m["survey"] for m in (await listing.json())["messages"] if m["survey"]]
    assert [(s["kind"], s["scale"]) for s in surveys] == [("csat", 5)]
    assert surveys[0]["url"].endswith(f"/surveys/{surveys[0]['token']}")
    status, body = await api(
        client, "POST", f"/api/v1/surveys/{surveys[0]['token']}", json={"score": 3}
    )
    assert status == 200, body


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        ("۵", 5),
        ("٥", 5),
        (" \u200f۴\u200f \n", 4),  # a right-to-left mark around it, as mail clients add
        ("4/5", 4),
        ("٤/٥", 4),
        ("5 ★", 5),
        ("10/10!", 10),
        ("5 thanks", None),
        ("۲ ولی شارژر هنوز کار نمی‌کند", None),
        ("I give it 5", None),
        ("", None),
        ("5 and 4", None),
    ],
)
def test_a_written_reply_is_a_score_only_when_it_is_a_score_alone(
    text: str, score: int | None
) -> None:
    assert written_score(text) == score
