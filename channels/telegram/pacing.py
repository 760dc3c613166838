"""Per-chat pacing: Telegram allows about one message a second to one chat.

PTB's `AIORateLimiter` paces the bot as a whole (30 messages/s) and group chats
(20/min), but not private chats, which is all Pasokh talks to; this fills that gap.
It also holds every send back while Telegram's last `RetryAfter` runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class ChatPacer:
    """Hands out send slots at least `interval` seconds apart per chat.

    Each call reserves the next free slot of its chat before it sleeps, so concurrent
    senders to one chat queue up in call order without a lock.
    """

    def __init__(
        self, interval: float, *, clock: Callable[[], float] | None = None, max_chats: int = 10_000
    ) -> None:
        self._interval = interval
        self._clock = clock or asyncio.get_running_loop().time
        self._next_slot: dict[str, float] = {}
        self._paused_until = 0.0
        self._max_chats = max_chats

    async def wait_turn(self, chat: str) -> None:
        """Sleep until this chat may get its next message (and any global pause is over)."""
        now = self._clock()
        slot = max(now, self._next_slot.get(chat, 0.0), self._paused_until)
        self._next_slot[chat] = slot + self._interval
        if len(self._next_slot) > self._max_chats:
            self._forget_idle(now)
        if slot > now:
            await asyncio.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Telegram said "retry after": no chat gets a slot before then."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _forget_idle(self, now: float) -> None:
        for chat, slot in list(self._next_slot.items()):
            if slot <= now:
                del self._next_slot[chat]
