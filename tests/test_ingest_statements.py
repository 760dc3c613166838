"""How many SQL statements one answered message costs, pinned.

Every channel is capped by the ingest and outbox transactions, so their statements are
counted with a `before_cursor_execute` listener while one message from a known customer
is posted, answered by the bot and delivered: the ingest's transaction, the outbox's
claim and the record of its outcome. Only statements of write transactions are counted
(`BEGIN` left out): the read-only polls of the test and of idle workers come and go
with the clock, the write path's statements do not. A change that adds one fails here;
lower the pin when a change removes some.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

from bot import build_responder
from config.settings import Settings
from router.context import AppContext
from router.storage.engine import READ_ONLY_OPTION
from tests.conftest import AppFactory
from tests.support import outbox_drained
from tests.test_api_channel import _integration_token
from tests.test_webchat_app import connect, new_token
from tests.webchat_fakes import next_reply

# A question the sample KB answers with confidence: the thread stays with the bot.
QUESTION = "ارسال چند روز طول می‌کشد؟"

# Statements of the write transactions for one answered follow-up message, by database.
# The web chat records the channel's id of the answer it pushed (one more), and on
# PostgreSQL takes the visitor's rate-limit tokens from the database (three more).
API_STATEMENTS = {"sqlite": 18, "postgresql": 18}
WEBCHAT_STATEMENTS = {"sqlite": 19, "postgresql": 22}


@contextmanager
def written_statements(context: AppContext) -> Iterator[list[str]]:
    """The statements write transactions run on `context`'s engine while inside."""
    seen: list[str] = []

    def record(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        execution: Any,
        executemany: bool,
    ) -> None:
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            return
        if statement.split(None, 1)[0].upper() in {"BEGIN", "COMMIT", "ROLLBACK"}:
            return
        seen.append(" ".join(statement.split())[:120])

    engine = context.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _explain(statements: list[str]) -> str:
    return "\n".join(statements)


async def test_an_answered_api_message_costs_the_pinned_statements(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    client, context = await start_app(settings.replace("email", enabled=False))
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    url = "/api/v1/inbound/messages"

    async def post(message_id: str) -> None:
        body = {"id": message_id, "customer": {"external_id": "c-1"}, "text": QUESTION}
        response = await client.post(url, json=body, headers=headers)
        assert response.status == 202, await response.text()
        await outbox_drained(context, timeout=30)

    await post("first")  # the customer, identity and thread exist from here on
    with written_statements(context) as statements:
        await post("second")
    assert len(statements) == API_STATEMENTS[db_kind], _explain(statements)


async def test_an_answered_webchat_message_costs_the_pinned_statements(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    settings = settings.replace("webchat", enabled=True).replace("email", enabled=False)
    client, context = await start_app(settings, responder=build_responder(faq_path=None))
    ws = await connect(client, await new_token(client), lang="fa")

    async def ask(client_id: str) -> None:
        frame = {"type": "message", "client_id": client_id, "text": QUESTION}
        await ws.send_str(json.dumps(frame, ensure_ascii=False))
        # The answer may be pushed before the ack: wait for the answer, whatever comes first.
        answer = await next_reply(ws, wait=30)
        assert answer["author"] == "bot", json.dumps(answer, ensure_ascii=False)
        await outbox_drained(context, timeout=30)

    await ask("first")
    with written_statements(context) as statements:
        await ask("second")
    assert len(statements) == WEBCHAT_STATEMENTS[db_kind], _explain(statements)
