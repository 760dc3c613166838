"""The email channel's own CPU per mail, without the database.

One command: `python bench/email_own_cpu.py [MAILS]` (default 1,500). It runs the
email adapter in this process with a fake ingest (no database, no bot), sends it
`bench/email_ingest.py`'s mails from 8 `smtplib` clients in another process, then has
it send as many bot answers (Persian, two suggestions, a follow-up with three
References) through its relay pool to a counting aiosmtpd in a third process, 8 at a
time, and prints this process's CPU
(all threads: parsing, the raw message's store, the sender check) per mail received
and per mail sent. The clients and the relay are not counted, so the figures are what
`bench/email_ingest.py`'s server CPU holds for email itself, far steadier from run to
run than that whole figure on a loaded machine.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from channels.base import ChannelServices
from channels.email.adapter import EmailAdapter
from router.core.attachments import AttachmentStore
from router.core.events import InProcessEventBus
from router.core.messages import (
    AuthorKind,
    DeliveryStatus,
    InboundMessage,
    IngestResult,
    OutboundMessage,
)
from tests.support import free_port
from tests.test_email_adapter import NoConversation, email_settings

CLIENTS = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from bench.email_ingest import build_messages, run_clients
run_clients(int(sys.argv[1]), build_messages(int(sys.argv[2]), 200), 8)
"""
ANSWER = (
    "سلام! سفارش شما معمولاً ظرف ۳ تا ۵ روز کاری به دستتان می‌رسد. برای پیگیری به بخش سفارش‌ها بروید."
)


class IndexedIngest:
    """Stores like a committed ingest, deduping by external id through a dict: the tests'
    `FakeIngest` scans its whole list a mail, a cost that grows with the run (19 µs a
    mail over 1,500, twice that over 3,000) and is no part of the email channel's."""

    def __init__(self) -> None:
        self.stored: dict[str, int] = {}

    async def __call__(self, msg: InboundMessage) -> IngestResult:
        earlier = self.stored.get(msg.external_id)
        if earlier is not None:
            return IngestResult(earlier, 1, 1, duplicate=True)
        self.stored[msg.external_id] = len(self.stored) + 1
        return IngestResult(len(self.stored), 1, 1)


def answer(n: int) -> OutboundMessage:
    return OutboundMessage(
        outbox_id=n,
        message_id=n,
        thread_id=n % 200,
        channel="email",
        address=f"customer{n % 200}@example.ir",
        text=ANSWER,
        author=AuthorKind.BOT,
        author_name="پشتیبانی",
        suggestions=("پیگیری سفارش", "صحبت با کارشناس"),
        language="fa",
        subject="پرسش درباره سفارش",
        # A follow-up's, as `bench/email_ingest.py`'s threads carry them: the customer's
        # first mail, our answer to it, the mail answered now (Message-IDs as
        # `email.utils.make_msgid` makes them).
        references=(
            f"179611708271.17235.14320999936602660621.bench{n % 200}@example.ir",
            f"{n % 200}.4.aa3558e756bb47d7@support.localhost",
            f"179611708336.17235.17040050495597578802.bench{n}@example.ir",
        ),
    )


async def send_mails(port: int, count: int) -> None:
    clients = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENTS, str(port), str(count)
    )
    await clients.wait()


async def main() -> None:
    mails = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    relay_port = free_port()
    relay = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "email_ingest.py"), "--bare-server", str(relay_port)]
    )
    ingest = IndexedIngest()
    adapter = EmailAdapter(
        email_settings(relay_port, auto_reply_cap_per_hour=0, max_message_bytes=1_000_000),
        secret_key="b" * 40,
    )
    with tempfile.TemporaryDirectory(prefix="pasokh-bench-email-own-") as tmp:
        await adapter.start(
            ChannelServices(
                ingest=ingest,
                events=InProcessEventBus(),
                attachments=AttachmentStore(Path(tmp) / "attachments"),
                conversation=NoConversation(),
            )
        )
        try:
            await asyncio.sleep(1)  # the relay process starts listening
            await send_mails(adapter.port, 40)  # warm: imports, DNS cache, relay sessions
            for n in range(8):
                await adapter.send(answer(n))
            ingest.stored.clear()
            started = time.process_time()
            await send_mails(adapter.port, mails)
            received = time.process_time()
            wave = asyncio.Semaphore(8)

            async def one(n: int) -> None:
                async with wave:
                    result = await adapter.send(answer(n))
                    assert result.status == DeliveryStatus.DELIVERED, result

            await asyncio.gather(*(one(n) for n in range(100, 100 + mails)))
            sent = time.process_time()
        finally:
            await adapter.stop()
            relay.terminate()
    print(f"received: {(received - started) / mails * 1e3:.3f} ms CPU per mail", end=" ")
    print(f"({len(ingest.stored)} stored)")
    print(f"sent:     {(sent - received) / mails * 1e3:.3f} ms CPU per mail")


if __name__ == "__main__":
    asyncio.run(main())
