"""How fast console search answers over a large history, indexed against a scan:
`python bench/search.py [--messages 100000] [--postgres-url URL]`.

Seeds a fresh database (SQLite in a temporary directory; with `--postgres-url`, also a
new PostgreSQL database on that server), migrated, with a fixed seed: one customer and
identity per 10 messages (Persian names, emails, phone numbers), threads at tiers 1-3,
and messages of 6-14 words drawn from a Persian/English support vocabulary, a rare word
in 1 of 10 000. The search columns are written by the same `searchable` the models use.
Then times `router.agents.customers.search` (first page, 20 rows, as a tier-1 agent)
for each query, with the index (SQLite FTS5 trigram; PostgreSQL pg_trgm GIN), drops
the index and times the same queries again: the scan baseline of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from router.agents.customers import search
from router.agents.queue import Actor
from router.storage import fulltext
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.migrate import upgrade_to_head
from router.storage.models import Customer, Identity, Message, Thread, identity_searchable
from router.storage.models import searchable as searchable_text
from tests.support import create_postgres_database

VOCABULARY = (
    "سفارش من کجاست کتاب ارسال پیگیری مرجوعی پرداخت کارت بانک رسید فاکتور تخفیف کد"
    " لطفا سلام ممنون خیلی دیر شد هنوز نرسیده می‌خواهم لغو کنم آدرس تغییر شماره تماس"
    " order parcel refund invoice delivery late please thanks account password reset"
    " شنبه یکشنبه فردا امروز ۱۲۳۴ ۵۶۷۸ ٩٨٧ 2024 پست پیشتاز تیپاکس"
)
FIRST_NAMES = "علی رضا مریم زهرا حسین فاطمه محمد سارا امیر نرگس کیان یاسمن"
FAMILY_NAMES = "رضایی محمدی کریمی حسینی احمدی موسوی تهرانی شیرازی"
WORDS, NAMES, FAMILIES = VOCABULARY.split(), FIRST_NAMES.split(), FAMILY_NAMES.split()
RARE = "تبریزگردی"
QUERIES = {
    "rare word": RARE,
    "common word": "سفارش",
    "absent": "زنجبیل",
    "Arabic-letter name": "علي كريمي",
    "phone digits": "09120001236",  # a tier-1 customer at 100k
    "short (scan)": "کد",
}
RUNS = 5
PAGE = 20


def _rows(messages: int) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(42)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    people = max(1, messages // 10)
    customers, identities, threads, rows = [], [], [], []
    for n in range(1, people + 1):
        name = f"{rng.choice(NAMES)} {rng.choice(FAMILIES)}"
        customers.append(
            {"id": n, "name": name, "search_text": searchable_text(name), "created_at": start}
        )
        channel, address = (
            ("email", f"user{n}@example.com") if n % 2 else ("webchat", f"0912{n:07d}")
        )
        identities.append(
            {
                "id": n,
                "customer_id": n,
                "channel": channel,
                "address": address,
                "display_name": name,
                "search_text": identity_searchable(address, name, None),
                "created_at": start,
            }
        )
        threads.append(
            {
                "id": n,
                "customer_id": n,
                "status": "queued",
                "tier": 1 + n % 3,
                "created_at": start,
                "updated_at": start,
            }
        )
    for m in range(1, messages + 1):
        words = rng.choices(WORDS, k=rng.randint(6, 14))
        if rng.random() < 1e-4:
            words.insert(rng.randrange(len(words)), RARE)
        body = " ".join(words)
        rows.append(
            {
                "id": m,
                "thread_id": 1 + (m - 1) % people,
                "customer_id": 1 + (m - 1) % people,
                "direction": "in",
                "author_kind": "customer",
                "channel": "webchat",
                "text": body,
                "search_text": searchable_text(None, body),
                "created_at": start + timedelta(seconds=m),
            }
        )
    return {"customers": customers, "identities": identities, "threads": threads, "rows": rows}


async def _seed(engine: AsyncEngine, data: dict[str, list[dict[str, Any]]]) -> None:
    await upgrade_to_head(engine)
    for model, key in (
        (Customer, "customers"),
        (Identity, "identities"),
        (Thread, "threads"),
        (Message, "rows"),
    ):
        rows = data[key]
        for at in range(0, len(rows), 5000):
            async with engine.begin() as connection:
                await connection.execute(insert(model.__table__), rows[at : at + 5000])
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


async def _time(engine: AsyncEngine) -> dict[str, tuple[float, int]]:
    """Median milliseconds and rows found, per query."""
    sessions = new_sessionmaker(engine)
    actor = Actor(agent_id=1, name="bench", tier=1)
    figures: dict[str, tuple[float, int]] = {}
    for label, query in QUERIES.items():
        times = []
        found = 0
        for run in range(RUNS + 1):  # the first run warms the caches, not counted
            async with sessions() as session:
                began = time.perf_counter()
                page = await search(session, actor, query, cursor=None, limit=PAGE)
                if run:
                    times.append((time.perf_counter() - began) * 1000)
            found = len(page["customers"]) + len(page["messages"])
        print(f"  {label}: {statistics.median(times):.1f} ms", file=sys.stderr, flush=True)
        figures[label] = (statistics.median(times), found)
    return figures


async def _drop_index(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            await connection.run_sync(fulltext.uninstall)
        else:
            for table in fulltext.SEARCHED:
                await connection.execute(text(f"DROP INDEX IF EXISTS ix_{table}_search_trgm"))
            await connection.execute(text("ANALYZE"))


async def _run(label: str, url: str, data: dict[str, list[dict[str, Any]]]) -> None:
    engine = new_engine(url)
    try:
        began = time.perf_counter()
        await _seed(engine, data)
        seeded = time.perf_counter() - began
        indexed = await _time(engine)
        await _drop_index(engine)
        scanned = await _time(engine)
    finally:
        await engine.dispose()
    print(f"\n{label}: {len(data['rows'])} messages, seeded in {seeded:.0f} s")
    print(f"{'query':<20} {'indexed ms':>11} {'scan ms':>9} {'scan/indexed':>13} {'rows':>5}")
    for name, (fast, found) in indexed.items():
        slow, found_scan = scanned[name]
        assert found == found_scan, (name, found, found_scan)  # same answers either way
        print(f"{name:<20} {fast:>11.1f} {slow:>9.1f} {slow / fast:>12.1f}x {found:>5}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--postgres-url", help="a PostgreSQL server to create a database on")
    args = parser.parse_args()
    data = _rows(args.messages)
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        await _run("SQLite (FTS5 trigram vs LIKE scan)", url, data)
    if args.postgres_url:
        url = await create_postgres_database(args.postgres_url)
        await _run("PostgreSQL (pg_trgm GIN vs scan)", url, data)


if __name__ == "__main__":
    asyncio.run(main())
