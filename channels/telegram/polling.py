"""Long polling that acknowledges an update only after it was handled and committed.

PTB's `Updater` moves the `getUpdates` offset as soon as an update sits in its
in-memory queue, so a crash before the handler ran loses the message. Here the offset
only moves past an update once `handle(update)` has returned (for Pasokh: once the
ingest transaction committed), and Telegram forgets an update only when it sees the
next `getUpdates` with that offset. A crash anywhere means a redelivery, which the
router deduplicates by the message's key.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from channels.base import PollLeadership
from channels.telegram.inbound import UnreadableUpdate, update_from_json
from channels.telegram.retry import Backoff, retry_after_seconds, sleep_unless

logger = logging.getLogger(__name__)

# Seconds a long poll may take beyond its own timeout before the request is given up.
_READ_MARGIN = 10.0
# PTB asks for `Bot.get_updates` over `do_api_request("getUpdates")`; the raw batch is
# wanted here on purpose (see `UpdatePoller._fetch`), so that advice is not repeated.
warnings.filterwarnings(
    "ignore", message=r"Please use 'Bot\.getUpdates' instead of", category=PTBUserWarning
)

UpdateHandler = Callable[[Update], Awaitable[None]]


class UpdatePoller:
    """Fetches batches with `getUpdates` and hands each update to `handle`.

    Updates of one chat are handled in order, chats concurrently. An update whose
    `handle` raised is not acknowledged: the poller waits (with backoff) and fetches
    from that update again; updates after it that were stored meanwhile come back too,
    as redeliveries the router deduplicates.
    """

    def __init__(
        self,
        *,
        bot: Bot,
        handle: UpdateHandler,
        leadership: PollLeadership,
        timeout: int,
        allowed_updates: Sequence[str],
        leader_retry_interval: float = 5.0,
        concurrency: int = 8,
        unreadable: Callable[[], None] = lambda: None,
    ) -> None:
        self._bot = bot
        self._handle = handle
        self._unreadable = unreadable
        self._leadership = leadership
        self._timeout = timeout
        self._allowed_updates = list(allowed_updates)
        self._leader_retry_interval = leader_retry_interval
        self._concurrency = max(1, concurrency)
        self._offset: int | None = None
        self._leading = False
        self._backoff = Backoff()

    @property
    def offset(self) -> int | None:
        """The next update id to ask for: everything below it was handled."""
        return self._offset

    async def run(self, stopping: asyncio.Event) -> None:
        """Poll until `stopping` is set; a batch being handled is finished first."""
        try:
            while not stopping.is_set():
                self._leading = await self._leadership.acquire()
                if not self._leading:
                    await sleep_unless(stopping, self._leader_retry_interval)
                    continue
                try:
                    updates = await self._fetch(stopping)
                except Exception:
                    # Whatever went wrong, the poller must outlive it: a dead poller
                    # leaves every chat unanswered while the server looks healthy.
                    logger.exception("telegram: getUpdates failed unexpectedly; backing off")
                    await sleep_unless(stopping, self._backoff.next_delay())
                    continue
                if updates is None:
                    continue
                if not await self._handle_batch(updates):
                    await sleep_unless(stopping, self._backoff.next_delay())
        finally:
            await self._acknowledge_handled()
            await self._leadership.release()

    async def _fetch(self, stopping: asyncio.Event) -> tuple[Update, ...] | None:
        """One long poll, abandoned if stopping; None after an error (already waited).

        The batch is read raw and each update parsed on its own: PTB's `get_updates`
        parses the whole batch at once, so one update it cannot read (a date past any
        calendar, a field of another Bot API version) would fail every fetch for ever.
        Such an update is logged, counted and passed over (the offset moves past it).
        """
        fetch = asyncio.ensure_future(
            self._bot.do_api_request(
                "getUpdates",
                api_kwargs={
                    "offset": self._offset,
                    "timeout": self._timeout,
                    "allowed_updates": self._allowed_updates,
                },
                read_timeout=self._timeout + _READ_MARGIN,
            )
        )
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not fetch.done():
            # Nothing was handled from this request, so dropping it loses nothing.
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
            return None
        try:
            updates = fetch.result()
        except RetryAfter as exc:
            await sleep_unless(stopping, retry_after_seconds(exc))
            return None
        except Conflict:
            logger.warning(
                "telegram: getUpdates conflict (another poller, or a webhook is set); backing off"
            )
            await sleep_unless(stopping, self._backoff.next_delay())
            return None
        except InvalidToken:
            logger.error("telegram: the bot token was rejected; check PASOKH_TELEGRAM__TOKEN")
            await sleep_unless(stopping, 60.0)
            return None
        except TelegramError as exc:
            logger.warning("telegram: getUpdates failed: %s", exc)
            await sleep_unless(stopping, self._backoff.next_delay())
            return None
        if not isinstance(updates, list):
            logger.warning("telegram: getUpdates answered %.80r, not a list; backing off", updates)
            await sleep_unless(stopping, self._backoff.next_delay())
            return None
        return self._readable(updates)

    def _readable(self, raw_updates: list[Any]) -> tuple[Update, ...]:
        """The updates PTB can read; the offset moves past the ones it cannot."""
        readable = []
        for raw in raw_updates:
            try:
                readable.append(update_from_json(raw, self._bot))
                continue
            except UnreadableUpdate as exc:
                update_id = raw.get("update_id") if isinstance(raw, dict) else None
                logger.warning("telegram: update %r cannot be read (%s); skipped", update_id, exc)
            self._unreadable()
            if isinstance(update_id, int) and not isinstance(update_id, bool):
                self._offset = max(self._offset or 0, update_id + 1)
        return tuple(readable)

    async def _handle_batch(self, updates: Sequence[Update]) -> bool:
        """Handle a batch; move the offset past all of it, or up to the first failure.

        Chats are handled concurrently (a commit's latency would otherwise bound
        throughput), one chat's updates in order; after a failure the chat's later
        updates wait for the refetch. Updates of other chats stored after the failed
        one come back with the refetch and are deduplicated by the router.
        """
        by_chat: dict[object, list[Update]] = {}
        for update in updates:
            by_chat.setdefault(chat_key(update), []).append(update)
        slots = asyncio.Semaphore(self._concurrency)
        failed: list[int] = []

        async def handle_chat(chat_updates: list[Update]) -> None:
            async with slots:
                for update in chat_updates:
                    try:
                        await self._handle(update)
                    except Exception:
                        logger.exception(
                            "telegram: update %s was not stored; it will be fetched again",
                            update.update_id,
                        )
                        failed.append(update.update_id)
                        return

        await asyncio.gather(*(handle_chat(chat) for chat in by_chat.values()))
        if failed:
            self._offset = min(failed)
            return False
        if updates:  # (an unreadable update after the last one moved it further already)
            self._offset = max(self._offset or 0, updates[-1].update_id + 1)
        self._backoff.reset()
        return True

    async def _acknowledge_handled(self) -> None:
        """Tell Telegram what was handled, so a restart does not redeliver it (best effort)."""
        if self._offset is None or not self._leading:
            return  # a process that does not lead must not call getUpdates at all
        try:
            await asyncio.wait_for(
                self._bot.do_api_request(
                    "getUpdates", api_kwargs={"offset": self._offset, "timeout": 0, "limit": 1}
                ),
                5.0,
            )
        except (TelegramError, TimeoutError) as exc:
            logger.debug("telegram: final acknowledgement failed: %s", exc)


def chat_key(update: Update) -> object:
    """What orders updates: the chat (or the tapping user); each update alone otherwise."""
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return ("update", update.update_id)
