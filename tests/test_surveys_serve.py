"""Against a running `pasokh serve`: a web chat visitor hands off, an agent replies and
resolves, the visitor's socket receives the survey, the answer is counted in the CSAT
of /api/v1/reports/summary; a resolve with {"survey": false} sends none."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from router.core.messages import utcnow
from router.core.security import new_token, token_hash
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import Agent, ApiToken, SurveyAnswer
from tests.processes import ServeProcess
from tests.support import free_port

pytestmark = pytest.mark.slow


class Visitor:
    """A web chat visitor on a real socket."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.sent = 0

    async def connect(self) -> None:
        async with self.http.post(f"{self.url}/api/v1/webchat/sessions", json={}) as response:
            assert response.status == 200, await response.text()
            token = (await response.json())["visitor_token"]
        self.ws = await self.http.ws_connect(
            f"{self.url}/ws/webchat", params={"token": token, "lang": "en"}
        )
        assert (await self.frame("ready"))["type"] == "ready"

    async def frame(self, kind: str) -> dict[str, Any]:
        assert self.ws is not None
        while True:
            frame: dict[str, Any] = await self.ws.receive_json(timeout=20)
            if frame["type"] == kind:
                return frame

    async def say(self, text: str) -> int:
        assert self.ws is not None
        self.sent += 1
        await self.ws.send_str(
            json.dumps({"type": "message", "client_id": f"c{self.sent}", "text": text})
        )
        return int((await self.frame("ack"))["message_id"])

    async def survey(self) -> dict[str, Any]:
        """The survey of the next message that carries one."""
        while True:
            message = (await self.frame("message"))["message"]
            if message.get("survey"):
                survey: dict[str, Any] = message["survey"]
                return survey


async def _agent_token(database_url: str) -> str:
    engine = new_engine(database_url)
    token = new_token("pk_agent")
    async with new_sessionmaker(engine)() as session, session.begin():
        agent = Agent(email="sara@example.com", name="Sara", tier=1, presence="online")
        session.add(agent)
        await session.flush()
        session.add(
            ApiToken(
                kind="agent", name=agent.email, agent_id=agent.id, token_hash=token_hash(token)
            )
        )
    await engine.dispose()
    return token


async def _survey_rows(database_url: str) -> list[tuple[int, int | None]]:
    engine = new_engine(database_url)
    async with new_sessionmaker(engine)() as session:
        rows = (await session.execute(select(SurveyAnswer.thread_id, SurveyAnswer.score))).all()
    await engine.dispose()
    return [(thread_id, score) for thread_id, score in rows]


async def test_a_web_chat_survey_end_to_end_against_pasokh_serve(
    tmp_path: Path, database_url: str
) -> None:
    agent_token = await _agent_token(database_url)
    env = {
        "PASOKH_DATABASE__URL": database_url,
        "PASOKH_SERVER__SECRET_KEY": "k" * 40,
        "PASOKH_EMAIL__ENABLED": "false",
        "PASOKH_SURVEYS__MIN_DAYS_BETWEEN": "0",
    }
    server = ServeProcess(tmp_path / "data", free_port(), env)
    await server.start()
    headers = {"Authorization": f"Bearer {agent_token}"}
    try:
        async with aiohttp.ClientSession() as http:

            async def agent(method: str, path: str, body: Any = None) -> Any:
                async with http.request(
                    method, f"{server.url}{path}", json=body, headers=headers
                ) as response:
                    assert response.status in (200, 201), await response.text()
                    return await response.json()

            async def served_visitor(resolve: dict[str, Any]) -> tuple[Visitor, int]:
                visitor = Visitor(http, server.url)
                await visitor.connect()
                await visitor.say("I want to talk to a human")
                queued = await agent("GET", "/api/v1/threads?status=queued")
                (thread_id,) = [t["id"] for t in queued["threads"]]
                await agent("POST", f"/api/v1/threads/{thread_id}/claim")
                await agent("POST", f"/api/v1/threads/{thread_id}/messages", {"text": "Done!"})
                await agent("POST", f"/api/v1/threads/{thread_id}/resolve", resolve)
                return visitor, thread_id

            visitor, thread_id = await served_visitor({})
            survey = await visitor.survey()
            assert (survey["kind"], survey["scale"]) == ("csat", 5)
            async with http.post(
                f"{server.url}/api/v1/surveys/{survey['token']}", json={"score": 5}
            ) as response:
                assert response.status == 200, await response.text()
            today = utcnow().date()
            window = f"from={today}&to={today + timedelta(days=1)}"
            summary = await agent("GET", f"/api/v1/reports/summary?{window}")
            assert summary["total"]["csat"] == {
                "responses": 1,
                "satisfied_pct": 100.0,
                "mean": 5.0,
                "sent": 1,
                "response_rate": 1.0,
            }

            _, quiet_thread = await served_visitor({"survey": False})
            detail = await agent("GET", f"/api/v1/threads/{quiet_thread}")
            assert detail["thread"]["status"] == "resolved"
            assert [m for m in detail["messages"] if m["survey"] is not None] == []
            assert await _survey_rows(database_url) == [(thread_id, 5)]
            summary = await agent("GET", f"/api/v1/reports/summary?{window}")
            assert summary["total"]["csat"]["responses"] == 1
            assert summary["total"]["csat"]["sent"] == 1  # none was sent for the quiet one
    finally:
        server.terminate()
