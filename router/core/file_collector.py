"""Removes files nobody sent: uploads never attached to a message.

A web chat upload is stored at once and referenced only when the visitor sends the
message it belongs to; one never sent would stay for ever. An upload token expires
after `webchat.upload_ttl_seconds`, so a file older than that (plus `GRACE` for a
message being committed right then) that no message references never will be. The
ledger of unsent uploads (`router.core.pending_uploads`) forgets them at the same
cutoff, so its quotas count what is still stored.
Every process may run the collector: deleting is idempotent and each file is checked
against the database right before it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import String, cast, select

from router.context import AppContext
from router.core.messages import utcnow
from router.core.pending_uploads import forget_unsent_before
from router.http.keys import CONTEXT
from router.identity.privacy import delete_unreferenced_files
from router.storage.engine import read_in_transaction
from router.storage.models import Message

logger = logging.getLogger(__name__)

GRACE = timedelta(minutes=10)


async def collect_unsent_files(app: AppContext, *, now: datetime | None = None) -> list[str]:
    """Remove stored files older than an upload's life that no message references."""
    cutoff = (now or utcnow()) - timedelta(seconds=app.settings.webchat.upload_ttl_seconds) - GRACE
    store = app.attachment_store
    await forget_unsent_before(store, cutoff.timestamp())
    old = await store.stored_before(cutoff.timestamp())
    if not old:
        return []
    referenced = await _referenced_hashes(app)
    candidates = tuple(sha for sha in old if sha not in referenced)
    if not candidates:
        return []
    async with app.read_sessions() as session:
        removed = await delete_unreferenced_files(
            session, store, candidates, stored_before=cutoff.timestamp()
        )
    if removed:
        logger.info("removed %d uploaded files nobody sent", len(removed))
    return removed


async def _referenced_hashes(app: AppContext) -> set[str]:
    """Every file hash a message refers to, read in one pass."""
    found: set[str] = set()
    query = select(Message.attachments).where(cast(Message.attachments, String) != "[]")
    async with app.read_sessions() as session:
        await read_in_transaction(session)
        rows = await session.stream_scalars(query.execution_options(yield_per=500))
        async for attachments in rows:
            found.update(str(a.get("sha256")) for a in attachments or [] if isinstance(a, dict))
    return found


async def file_collector_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the collector at start and every `webchat.file_collect_interval_seconds`."""
    context = app[CONTEXT]

    async def run() -> None:
        interval = max(context.settings.webchat.file_collect_interval_seconds, 1.0)
        while True:
            try:
                await collect_unsent_files(context)
            except Exception:
                logger.exception("collecting unsent uploads failed; trying again later")
            await asyncio.sleep(interval)

    task = asyncio.get_running_loop().create_task(run(), name="file-collector")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
