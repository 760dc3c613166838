"""How long proving and merging take: `python bench/identity.py [--postgres-url URL]`.

Measures, on a fresh migrated database:
- merging two customers whose open threads hold N messages each (one transaction);
- a code request followed by its verification (the two calls the widget makes),
  in-process, without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select

from config.settings import load_settings
from router.context import AppContext
from router.core.messages import AuthorKind, DeliveryResult, Direction, OutboundMessage, utcnow
from router.core.responder import QueueEveryThread
from router.identity.links import (
    ensure_identity,
    request_email_code,
    verify_email_code,
)
from router.identity.merge import merge_customers
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.migrate import upgrade_to_head
from router.storage.models import IdentityProof, Message, Thread, ThreadStatus
from tests.support import create_postgres_database


class _UnusedMail:
    """Stands in for the email channel: the bench queues mail, never delivers it."""

    name = "email"

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        raise AssertionError("the bench delivers nothing")


async def _customer_with_thread(app: AppContext, address: str, messages: int) -> int:
    async with app.sessions() as session, session.begin():
        identity = await ensure_identity(session, "webchat", address)
        thread = Thread(customer_id=identity.customer_id, status=ThreadStatus.QUEUED, tier=1)
        session.add(thread)
        await session.flush()
        now = utcnow()
        session.add_all(
            Message(
                thread_id=thread.id,
                customer_id=identity.customer_id,
                direction=Direction.INBOUND,
                author_kind=AuthorKind.CUSTOMER,
                channel="webchat",
                identity_id=identity.id,
                external_id=f"{address}/{n}",
                text=f"message {n}",
                created_at=now,
            )
            for n in range(messages)
        )
        return identity.customer_id


async def bench(url: str, messages: int, rounds: int) -> None:
    engine = new_engine(url)
    await upgrade_to_head(engine)
    settings = load_settings(env={}, data_dir=Path(tempfile.mkdtemp()))
    settings = settings.replace("server", secret_key="bench-" + "x" * 40)
    # Codes are offered only when mail can leave; nothing is delivered here (no worker).
    settings = settings.replace("email", relay_host="127.0.0.1")
    app = AppContext(
        settings=settings,
        engine=engine,
        sessions=new_sessionmaker(engine),
        responder=QueueEveryThread(),
    )
    app.adapters["email"] = _UnusedMail()
    merges = []
    for n in range(rounds):
        a = await _customer_with_thread(app, f"visitor:a{n}", messages)
        b = await _customer_with_thread(app, f"visitor:b{n}", messages)
        started = time.perf_counter()
        async with app.sessions() as session, session.begin():
            await merge_customers(session, a, b, actor_kind="system", actor_id=None, reason="b")
        merges.append((time.perf_counter() - started) * 1000)
    proofs = []
    for n in range(rounds):
        started = time.perf_counter()
        async with app.sessions() as session, session.begin():
            visitor = await ensure_identity(session, "webchat", f"visitor:c{n}")
            await request_email_code(app, session, visitor, f"user{n}@example.ir", language="en")
        # The bench reads the code back from the mail it queued (a customer types it).
        async with app.sessions() as session:
            proof = await session.scalar(
                select(IdentityProof).order_by(IdentityProof.id.desc()).limit(1)
            )
            assert proof is not None and proof.message_id is not None
            mail = await session.get(Message, proof.message_id)
            assert mail is not None
            code = next(w for w in mail.text.replace(":", " ").split() if w.isdigit())
        async with app.sessions() as session, session.begin():
            visitor = await ensure_identity(session, "webchat", f"visitor:c{n}")
            await verify_email_code(app, session, visitor, code)
        proofs.append((time.perf_counter() - started) * 1000)
    await engine.dispose()
    kind = url.split(":", 1)[0]
    print(
        f"{kind}: merge of two open threads x {messages} messages: "
        f"p50 {statistics.median(merges):.1f} ms, max {max(merges):.1f} ms ({rounds} runs); "
        f"code request + verify (merging): p50 {statistics.median(proofs):.1f} ms, "
        f"max {max(proofs):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres-url", help="an admin URL; a fresh database is made in it")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(f"sqlite+aiosqlite:///{tmp}/bench.db", args.messages, args.rounds))
    if args.postgres_url:
        url = asyncio.run(create_postgres_database(args.postgres_url))
        asyncio.run(bench(url, args.messages, args.rounds))


if __name__ == "__main__":
    main()
