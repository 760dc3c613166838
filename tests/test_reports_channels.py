"""The KPI summary of a scripted day on the real channels: web chat visitors on real
sockets, Telegram through the fake Bot API, email through the real SMTP server and a
real relay; agents act through the HTTP API; the clock is injected. Every survey comes
from a real resolve and is answered on its channel's own path (the web chat token from
the visitor's socket, a Telegram keyboard tap, the link in the mail), and every figure
of the summary is checked against values worked out by hand below."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from router.context import AppContext
from router.storage.models import Message, Thread
from tests.agent_support import AgentUser, api, eventually, make_agent
from tests.email_support import SUPPORT, FakeRelay, make_mail, smtp_send
from tests.fake_telegram import FakeTelegram
from tests.identity_support import identity_settings
from tests.report_support import MONDAY_9AM, Clock, install_clock
from tests.telegram_support import replies_to, telegram_values
from tests.test_reports import ScriptedBot
from tests.webchat_fakes import next_frame

CHAT = 7770099
LINK = re.compile(r"/surveys/([^\s?\"]+)\?score=(\d+)")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install_clock(monkeypatch, MONDAY_9AM)


class Desk:
    """The day's actors: customers on three channels, agents on the API."""

    def __init__(
        self, client: Any, context: AppContext, fake: FakeTelegram, relay: FakeRelay, clock: Clock
    ) -> None:
        self.client, self.context, self.fake, self.relay, self.clock = (
            client,
            context,
            fake,
            relay,
            clock,
        )
        self.sent = 0
        self.telegram_user = fake.user(CHAT, first_name="سارا", language_code="fa")

    async def thread_of(self, text: str, status: str) -> int:
        """The thread of the customer message `text`, once it reached `status`."""
        found: list[int] = []

        async def stored() -> bool:
            async with self.context.sessions() as session:
                thread_id = await session.scalar(
                    select(Message.thread_id)
                    .where(Message.text == text, Message.direction == "in")
                    .order_by(Message.id.desc())
                )
                thread = await session.get(Thread, thread_id) if thread_id else None
                if thread is None or thread.status != status:
                    return False
                found.append(thread.id)
                return True

        await eventually(stored)
        return found[-1]

    # --- customers ------------------------------------------------------------------

    async def visitor(self) -> Any:
        response = await self.client.post("/api/v1/webchat/sessions", json={})
        assert response.status == 200, await response.text()
        token = (await response.json())["visitor_token"]
        ws = await self.client.ws_connect("/ws/webchat", params={"token": token, "lang": "fa"})
        assert (await next_frame(ws, "ready"))["type"] == "ready"
        return ws

    async def on_web(self, seconds: float, ws: Any, text: str, status: str) -> int:
        self.clock.at(seconds)
        self.sent += 1
        frame = {"type": "message", "client_id": f"c{self.sent}", "text": text}
        await ws.send_str(json.dumps(frame, ensure_ascii=False))
        await next_frame(ws, "ack")
        return await self.thread_of(text, status)

    async def on_telegram(self, seconds: float, text: str, status: str) -> int:
        at = self.clock.at(seconds)
        self.fake.add_message(CHAT, text, user=self.telegram_user, date=int(at.timestamp()))
        return await self.thread_of(text, status)

    async def by_mail(self, seconds: float, text: str, status: str, n: int) -> int:
        self.clock.at(seconds)
        mail = make_mail(body=text, message_id=f"<day-{n}@example.ir>")
        port = self.context.adapters["email"].port  # type: ignore[attr-defined]
        await smtp_send(port, mail, mail_from="sara@example.ir", to=[SUPPORT])
        return await self.thread_of(text, status)

    # --- agents ---------------------------------------------------------------------

    async def act(
        self, seconds: float, agent: AgentUser, thread_id: int, path: str, body: Any = None
    ) -> None:
        self.clock.at(seconds)
        status, answer = await api(
            self.client, "POST", f"/api/v1/threads/{thread_id}/{path}", agent, json=body
        )
        assert status in (200, 201), (path, answer)

    async def serve(
        self, times: tuple[float, float, float], agent: AgentUser, thread_id: int
    ) -> None:
        """Claim, reply once and resolve at `times`."""
        claim, reply, resolve = times
        await self.act(claim, agent, thread_id, "claim")
        await self.act(reply, agent, thread_id, "messages", {"text": "درست شد"})
        await self.act(resolve, agent, thread_id, "resolve", {})

    # --- surveys on each channel's path -----------------------------------------------

    async def answer_on_web(self, seconds: float, ws: Any, kind: str, score: int) -> None:
        while True:
            message = (await next_frame(ws, "message"))["message"]
            if message.get("survey"):
                break
        survey = message["survey"]
        assert survey["kind"] == kind
        self.clock.at(seconds)
        response = await self.client.post(
            f"/api/v1/surveys/{survey['token']}", json={"score": score}
        )
        assert response.status == 200, await response.text()

    async def answer_on_telegram(self, seconds: float, asked_before: int, score: int) -> None:
        def keyboards() -> list[Any]:
            return [c for c in replies_to(self.fake, CHAT) if "reply_markup" in c.params]

        await self.fake.wait_for(lambda: len(keyboards()) > asked_before)
        question = keyboards()[-1]
        buttons = [b for row in question.params["reply_markup"]["inline_keyboard"] for b in row]
        first = len(buttons) == 5  # CSAT 1-5; NPS 0-10
        self.clock.at(seconds)
        taps = len(self.fake.calls_to("answerCallbackQuery"))
        self.fake.add_callback(
            CHAT,
            buttons[score - 1 if first else score]["callback_data"],
            on_message=question.result,
        )
        await self.fake.wait_for(lambda: len(self.fake.calls_to("answerCallbackQuery")) > taps)

    async def answer_by_mail(self, seconds: float, score: int) -> None:
        def plain(mail: EmailMessage) -> str:
            part = mail.get_body(preferencelist=("plain",))
            return "" if part is None else str(part.get_content())

        async def mailed() -> bool:
            return any(LINK.search(plain(m.message)) for m in self.relay.received)

        await eventually(mailed)
        mail = next(m.message for m in self.relay.received if LINK.search(plain(m.message)))
        links = {int(s): token for token, s in LINK.findall(plain(mail))}
        assert sorted(links) == [1, 2, 3, 4, 5]
        self.clock.at(seconds)
        page = await self.client.get(f"/surveys/{links[score]}?score={score}")
        assert page.status == 200, await page.text()
        # The link only chooses the score; the page's form records it.
        form = await self.client.post(f"/surveys/{links[score]}", data={"score": str(score)})
        assert form.status == 200, await form.text()


async def test_every_kpi_of_a_scripted_day_with_surveys_on_every_channel(
    settings: Settings, start_app: Any, fake: FakeTelegram, relay: FakeRelay, clock: Clock
) -> None:
    settings = identity_settings(
        settings,
        relay,
        telegram=telegram_values(fake, mode="polling"),
        # a customer may be asked again the same day; a thread reopens within the hour
        surveys={"min_days_between": 0},
        threads={"reopen_window_minutes": 60},
    )
    polls = fake.polls_started
    client, context = await start_app(settings, responder=ScriptedBot())
    await fake.wait_for(lambda: fake.polls_started > polls)
    sara = await make_agent(context, "Sara", presence="away")
    reza = await make_agent(context, "Reza", presence="away")
    boss = await make_agent(context, "Boss", tier=2, is_admin=True, presence="away")
    desk = Desk(client, context, fake, relay, clock)
    w = await desk.visitor()

    # W1, web chat: handed off at 0, Sara answers at 300 and resolves at 400; the
    # customer's first survey is a CSAT, answered 5 with the token from the socket.
    w1 = await desk.on_web(0, w, "person", "queued")
    await desk.serve((100, 300, 400), sara, w1)
    await desk.answer_on_web(450, w, "csat", 5)
    # T1, Telegram: handed off at 1000; Reza claims it and escalates it to tier 2, where
    # the Boss answers at 1300 and resolves at 1400; CSAT 3 by a keyboard tap.
    t1 = await desk.on_telegram(1000, "person", "queued")
    await desk.act(1100, reza, t1, "claim")
    await desk.act(1150, reza, t1, "escalate", {"tier": 2, "reason": "billing"})
    await desk.serve((1200, 1300, 1400), boss, t1)
    await desk.answer_on_telegram(1450, 0, 3)
    # M, email: handed off at 2000, answered at 2200, resolved at 2300 (the survey is
    # mailed); the customer writes again at 2400, reopening it; the reply at 2500
    # waited 100; resolved again at 2600 (asked again, a survey per resolution: an NPS
    # now, left unanswered). CSAT 4 by the first mail's link and its page's form.
    m = await desk.by_mail(2000, "person", "queued", 1)
    await desk.serve((2050, 2200, 2300), sara, m)
    assert await desk.by_mail(2400, "it broke again", "assigned", 2) == m
    await desk.act(2500, sara, m, "messages", {"text": "دوباره درست شد"})
    await desk.act(2600, sara, m, "resolve", {})
    await desk.answer_by_mail(2700, 4)
    # D, web chat: the bot answers and the customer says thanks: contained, not asked.
    d = await desk.visitor()
    await desk.on_web(3000, d, "how do I pay?", "bot")
    await desk.on_web(3030, d, "thanks", "resolved")
    # W2 and T2: the same customers, past the reopen window: new threads, and now NPS.
    w2 = await desk.on_web(5000, w, "person", "queued")
    assert w2 != w1
    await desk.serve((5100, 5200, 5300), sara, w2)
    await desk.answer_on_web(5350, w, "nps", 10)
    t2 = await desk.on_telegram(6000, "person", "queued")
    assert t2 != t1
    await desk.serve((6100, 6400, 6500), reza, t2)
    await desk.answer_on_telegram(6550, 1, 8)
    clock.at(7000)

    status, body = await api(
        client,
        "GET",
        "/api/v1/reports/summary",
        boss,
        params={"from": "2030-01-07", "to": "2030-01-08"},
    )
    assert status == 200, body
    total = body["total"]
    assert total["threads_created"] == 6  # W1, T1, M, D, W2, T2
    assert total["threads_resolved"] == 6  # M twice, one thread
    # from each hand-off to the first agent reply: W1 300, T1 300, M 200, W2 200, T2 400
    assert total["first_response_seconds"] == {
        "count": 5,
        "median": 300.0,
        "p90": 360.0,  # 300 + 0.6 * (400 - 300)
        "mean": 280.0,
    }
    assert total["next_response_seconds"] == {  # M's reopening message waited 100
        "count": 1,
        "median": 100.0,
        "p90": 100.0,
        "mean": 100.0,
    }
    # from creation, the agents' resolutions: W1 400, T1 400, M 300 and 600, W2 300,
    # T2 500; the bot's D 30 apart
    assert total["resolution_seconds"] == {
        "count": 6,
        "median": 400.0,
        "p90": 550.0,  # 500 + 0.5 * (600 - 500)
        "mean": 416.7,  # 2500 / 6
    }
    assert total["bot_resolution_seconds"]["median"] == 30.0
    assert total["fcr_rate"] == 0.8  # W1, T1, W2, T2 of the five an agent resolved
    assert total["reopen_rate"] == 0.2  # M of the five an agent resolved
    assert total["bot_containment_rate"] == round(1 / 6, 4)  # D of six resolved
    assert total["handoff_rate"] == round(5 / 6, 4)  # all but D
    # CSAT 5 (web chat), 3 (Telegram), 4 (email): two of three satisfied, mean 4
    # three CSAT surveys sent (one per channel), every one answered
    assert total["csat"] == {
        "responses": 3,
        "satisfied_pct": 66.7,
        "mean": 4.0,
        "sent": 3,
        "response_rate": 1.0,
    }
    # NPS 10 (web chat: promoter), 8 (Telegram: passive): 50 - 0; three NPS surveys
    # sent (the email thread's second resolution asked one, never answered)
    assert total["nps"] == {"responses": 2, "score": 50.0, "sent": 3, "response_rate": 0.6667}
    assert total["bot_helped_rate"] == 1.0  # D said thanks
    assert total["sla"]["breaches"] == 0
    assert body["backlog"]["open"] == 0

    _, by_channel = await api(
        client,
        "GET",
        "/api/v1/reports/summary",
        boss,
        params={"from": "2030-01-07", "to": "2030-01-08", "group_by": "channel"},
    )
    groups = {group["key"]: group for group in by_channel["groups"]}
    assert groups["webchat"]["csat"] == {
        "responses": 1,
        "satisfied_pct": 100.0,
        "mean": 5.0,
        "sent": 1,
        "response_rate": 1.0,
    }
    assert groups["telegram"]["csat"] == {
        "responses": 1,
        "satisfied_pct": 0.0,
        "mean": 3.0,
        "sent": 1,
        "response_rate": 1.0,
    }
    assert groups["email"]["csat"] == {
        "responses": 1,
        "satisfied_pct": 100.0,
        "mean": 4.0,
        "sent": 1,
        "response_rate": 1.0,
    }
    answered = {"sent": 1, "response_rate": 1.0}
    assert groups["webchat"]["nps"] == {"responses": 1, "score": 100.0, **answered}
    assert groups["telegram"]["nps"] == {"responses": 1, "score": 0.0, **answered}
    unanswered = {"responses": 0, "score": None, "sent": 1, "response_rate": 0.0}
    assert groups["email"]["nps"] == unanswered
    for ws in (w, d):
        await ws.close()
