"""Per-chat pacing: Telegram allows about one message a second to one chat.

PTB's `AIORateLimiter` paces the bot as a whole (30 messages/s) and group chats
(20/min), but not private chats, which is all Pasokh talks to; this fills that gap.
It also holds every send back while Telegram's last `RetryAfter` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field


@dataclass
class _Chat:
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    answered_at: float = -math.inf  # when Telegram answered this chat's last send


class ChatPacer:
    """One send at a time per chat, each `interval` seconds after the one before it was
    answered.

    Telegram counts the interval between the messages it *receives*. Spacing only the
    moments the sends start is not enough: a first request slowed by its connection's
    set-up arrived 0.21 s before the next one. The next send starts once the one before
    has been answered, so Telegram has had it for at least `interval` by then. The lock
    is FIFO, so concurrent senders to one chat go out in call order.
    """

    def __init__(
        self, interval: float, *, clock: Callable[[], float] | None = None, max_chats: int = 10_000
    ) -> None:
        self._interval = interval
        self._clock = clock or asyncio.get_running_loop().time
        self._chats: dict[str, _Chat] = {}
        self._paused_until = 0.0
        self._max_chats = max_chats

    @contextlib.asynccontextmanager
    async def turn(self, chat: str) -> AsyncIterator[None]:
        """This chat's next send: waits for the sends before it, the interval after the
        last answer, and any global pause; the block is the send itself."""
        state = self._chats.get(chat)
        if state is None:
            state = self._chats[chat] = _Chat()
            if len(self._chats) > self._max_chats:
                self._forget_idle()
        async with state.turn:
            wait = max(state.answered_at + self._interval, self._paused_until) - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                state.answered_at = self._clock()

    def pause(self, seconds: float) -> None:
        """Telegram said "retry after": no chat gets a slot before then."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _forget_idle(self) -> None:
        now = self._clock()
        for chat, state in list(self._chats.items()):
            if not state.turn.locked() and state.answered_at + self._interval <= now:
                del self._chats[chat]
