"""The Telegram channel adapter: PTB's `ExtBot` for the wire, Pasokh's rules for the rest.

Receiving is by long polling (an own loop that acknowledges after commit, see
`polling`) or by webhook (`POST /telegram/webhook`, answered 200 only after commit).
Sending goes through PTB's request layer and `AIORateLimiter` (bot-wide limit) plus a
per-chat pacer; `RetryAfter` is waited out or handed back to the outbox, and the
parts of a long reply already delivered are never sent again by this process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from telegram import CallbackQuery, Chat, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from channels.base import ChannelSummary
from channels.telegram.inbound import (
    CHANNEL,
    UnreadableUpdate,
    UpdateReader,
    language_of,
    message_key,
    update_from_json,
)
from channels.telegram.outbound import (
    split_text,
    suggestion_keyboard,
    survey_keyboard,
    survey_replied_to,
    tapped_link_question,
    tapped_score,
)
from channels.telegram.pacing import ChatPacer
from channels.telegram.polling import UpdatePoller
from channels.telegram.redaction import TokenRedaction
from channels.telegram.retry import Backoff, retry_after_seconds, sleep_unless
from config.settings import Settings, SettingsError, TelegramSettings
from router.core.messages import AttachmentRef, DeliveryResult, DeliveryStatus, OutboundMessage
from router.core.proofs import Claimant, LinkTap
from router.core.security import purpose_key
from router.core.tasks import BackgroundTasks
from router.http.errors import read_json_object

if TYPE_CHECKING:
    from channels.base import ChannelServices, PollLeadership

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
_PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
_MAX_PHOTO_BYTES = 10 * 1024 * 1024  # larger images go as documents
_MAX_INLINE_RETRIES = 3  # RetryAfter waits inside one `send` before handing back
_MAX_PROGRESS_ENTRIES = 10_000
_MAX_UPDATE_BYTES = 1_048_576  # a Bot API update is a few KiB
# Telegram has no idempotency key: a send whose answer comes after we stopped waiting
# may have been delivered, and the outbox's retry then shows it twice. So wait well
# past a slow answer (PTB's default is 5 s); the outbox lease (60 s) is longer still.
_SEND_READ_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class _TextPart:
    text: str
    keyboard: InlineKeyboardMarkup | None


@dataclass(frozen=True, slots=True)
class _FilePart:
    ref: AttachmentRef
    keyboard: InlineKeyboardMarkup | None


_Part = _TextPart | _FilePart


class TelegramAdapter:
    """The `telegram` channel (see `channels.base.ChannelAdapter`)."""

    name = CHANNEL
    # A chat message reaches the customer's phone: a reply they were not shown on a
    # channel that waits for them to come back may be sent here (router/core/seen.py).
    reaches_customer_away = True

    def __init__(
        self,
        *,
        settings: TelegramSettings,
        public_url: str = "",
        leadership: PollLeadership | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        """Build the adapter; nothing connects before `start`.

        Args:
            settings: the `[telegram]` section; `token` must be set.
            public_url: the site's public base URL; webhook mode registers
                `<public_url>/telegram/webhook` with Telegram.
            leadership: who may poll; by default the lock `poll_lock_name` of the
                router's `ChannelServices.leadership`.
            registry: where to count refused input (the app's /metrics registry).

        Raises:
            ValueError: no token, or webhook mode without a public URL.
        """
        if not settings.token:
            raise ValueError("telegram: set PASOKH_TELEGRAM__TOKEN to use the Telegram channel")
        mode = settings.mode
        if mode == "auto":
            mode = "webhook" if public_url else "polling"
        if mode == "webhook" and not public_url:
            raise ValueError("telegram: webhook mode needs [server] public_url")
        self._settings = settings
        self._mode = mode
        self._webhook_url = public_url.rstrip("/") + WEBHOOK_PATH if public_url else ""
        self._secret = settings.webhook_secret or _derived_secret(settings.token)
        self._leadership = leadership
        self._bot: ExtBot[int] | None = None
        self._reader: UpdateReader | None = None
        self._services: ChannelServices | None = None
        self._pacer: ChatPacer | None = None
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks = BackgroundTasks(logger)
        self._delivered_parts: OrderedDict[int, int] = OrderedDict()
        self._redaction = TokenRedaction(settings.token)
        self._refused = Counter(
            "pasokh_telegram_refused",
            "Telegram input refused or skipped, by reason (secret, not_update, unreadable)",
            ["reason"],
            registry=registry or CollectorRegistry(),
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, registry: CollectorRegistry | None = None
    ) -> TelegramAdapter | None:
        """The adapter the configuration asks for; None when no token is set.

        Raises:
            SettingsError: webhook mode without `[server] public_url`.
        """
        if not settings.telegram.token:
            return None
        try:
            return cls(
                settings=settings.telegram,
                public_url=settings.server.public_url,
                registry=registry,
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from None

    @property
    def mode(self) -> str:
        """ "polling" or "webhook", as resolved from the settings."""
        return self._mode

    @property
    def bot_username(self) -> str | None:
        """The bot's @username once connected (for `t.me/<bot>` links), else None."""
        if self._bot is None or not self._ready.is_set():
            return None
        return self._bot.username

    def deep_link(self, payload: str) -> str | None:
        """The `t.me` link that opens this bot with `/start <payload>`; None until connected."""
        username = self.bot_username
        return f"https://t.me/{username}?start={payload}" if username else None

    # ---- lifecycle ---------------------------------------------------------------

    async def start(self, services: ChannelServices) -> None:
        """Connect in the background (Telegram may be unreachable at boot) and receive.

        Raises:
            RuntimeError: the adapter is already started.
        """
        if self._bot is not None:
            raise RuntimeError("telegram adapter is already started")
        self._redaction.install()
        settings = self._settings
        api_url = settings.api_url or "https://api.telegram.org/bot"
        self._bot = ExtBot(
            settings.token,
            base_url=api_url,
            base_file_url=settings.file_url or _file_url_for(api_url),
            request=HTTPXRequest(
                connection_pool_size=64, pool_timeout=10.0, read_timeout=_SEND_READ_TIMEOUT
            ),
            get_updates_request=HTTPXRequest(connection_pool_size=2),
            rate_limiter=AIORateLimiter(
                overall_max_rate=settings.messages_per_second, max_retries=0
            ),
        )
        self._services = services
        if self._leadership is None:
            self._leadership = services.leadership.lock(poll_lock_name(settings.token))
        self._reader = UpdateReader(
            bot=self._bot,
            attachments=services.attachments,
            max_file_bytes=settings.max_file_bytes,
            file_deadline=settings.file_download_timeout,
        )
        self._pacer = ChatPacer(settings.chat_interval)
        self._stopping.clear()
        self._tasks.spawn(self._run(), name=f"telegram:{self._mode}")

    async def stop(self) -> None:
        """Stop receiving, let a batch being stored finish, close connections."""
        if self._bot is None:
            return
        self._stopping.set()
        await self._tasks.wait()
        bot, self._bot = self._bot, None
        self._ready.clear()
        try:
            await bot.shutdown()
        finally:
            self._redaction.remove()

    async def close_connections(self) -> None:
        """Nothing long-lived to close: this channel holds no client connections."""

    def describe(self) -> ChannelSummary:
        return ChannelSummary(
            f"telegram ({self.mode} mode)",
            facts=(
                ("mode", self.mode),
                ("connected", self.bot_username is not None),
                ("bot", self.bot_username or ""),
            ),
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        """The webhook route in webhook mode; nothing in polling mode."""
        if self._mode != "webhook":
            return []
        return [web.post(WEBHOOK_PATH, self._handle_webhook)]

    async def _run(self) -> None:
        """Connect (with backoff), then poll until stopped or register the webhook."""
        if not await self._connect():
            return
        if self._mode == "webhook":
            return
        assert self._bot is not None and self._leadership is not None
        poller = UpdatePoller(
            bot=self._bot,
            handle=self.process_update,
            leadership=self._leadership,
            timeout=self._settings.poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
            leader_retry_interval=self._settings.leader_retry_interval,
            concurrency=self._settings.ingest_concurrency,
            unreadable=self._refused.labels("unreadable").inc,
        )
        await poller.run(self._stopping)

    async def _connect(self) -> bool:
        """getMe, then setWebhook or deleteWebhook; retried until it works or we stop."""
        backoff = Backoff(base=1.0, cap=60.0)
        while not self._stopping.is_set():
            assert self._bot is not None
            try:
                await self._bot.initialize()
                await self._configure_delivery()
            except InvalidToken:
                # PTB's message for this contains the token: never log the exception.
                logger.error("telegram: the bot token was rejected; check PASOKH_TELEGRAM__TOKEN")
            except TelegramError as exc:
                logger.warning("telegram: cannot reach the Bot API yet: %s", exc)
            else:
                logger.info("telegram: connected as @%s (%s mode)", self._bot.username, self._mode)
                self._ready.set()
                return True
            await sleep_unless(self._stopping, backoff.next_delay())
        return False

    async def _configure_delivery(self) -> None:
        assert self._bot is not None
        if self._mode == "webhook":
            await self._bot.set_webhook(
                url=self._webhook_url,
                secret_token=self._secret,
                allowed_updates=list(ALLOWED_UPDATES),
            )
        elif self._leadership is not None and await self._leadership.acquire():
            # Only the poller may drop a webhook; others would fight over getUpdates anyway.
            await self._bot.delete_webhook(drop_pending_updates=False)

    # ---- receiving ---------------------------------------------------------------

    async def process_update(self, update: Update) -> None:
        """Store one update; returns only after the router committed it.

        An update this adapter cannot read (a bug, or a shape it does not know) is
        logged and acknowledged: redelivering it forever would hold up every chat.

        Raises:
            TelegramError, OSError: downloading or storing its files failed.
            Exception: anything from the router's ingest. In all these cases the
                caller must not acknowledge the update.
        """
        assert self._reader is not None and self._services is not None
        if await self._survey_answer(update):
            return
        query = update.callback_query
        tap = await self._link_tap(query) if query is not None else LinkTap.OTHER
        if query is not None and tap in _UNANSWERABLE:
            # The buttons stay on an answered or replaced question: a tap under it answers
            # nothing and must not reach the bot (it would hand the chat to people) nor
            # the thread.
            key = _UNANSWERABLE[tap]
            notice = self._services.texts.text(key, language_of(query.from_user))
            await self._answer_callback(query.id, notice)
            await self._drop_keyboard(query)
            return
        try:
            inbound = await self._reader.read(update)
        except (TelegramError, OSError):
            raise
        except Exception:
            logger.exception("telegram: cannot read update %s; skipped", update.update_id)
            self._refused.labels("unreadable").inc()
            return
        if inbound is not None:
            await self._services.ingest(inbound)
        if query is not None:
            await self._answer_callback(query.id)
            if tap is LinkTap.OPEN:  # answered now: nothing more to tap
                await self._drop_keyboard(query)

    async def _link_tap(self, query: CallbackQuery) -> LinkTap:
        """Whether a tap is on the router's "link this chat?" question, and what it comes
        to: the question its button names, or (a button sent before buttons named their
        question) the text of the tapped message, which Telegram sends along."""
        assert self._services is not None
        message = query.message
        if not isinstance(message, Message) or message.chat.type != Chat.PRIVATE:
            return LinkTap.OTHER
        question_id = tapped_link_question(query)
        if question_id is None and not message.text:
            return LinkTap.OTHER
        claimant = Claimant(CHANNEL, str(message.chat.id))
        return await self._services.identity.link_tap(claimant, message.text or "", question_id)

    async def _drop_keyboard(self, query: CallbackQuery) -> None:
        """Take the buttons off the tapped message; a courtesy, so a failure is logged."""
        assert self._bot is not None
        message = query.message
        if not isinstance(message, Message):
            return
        try:
            await self._bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=message.message_id, reply_markup=None
            )
        except TelegramError as exc:
            logger.info("telegram: could not remove the buttons of a question: %s", exc)

    async def _answer_callback(self, query_id: str, text: str | None = None) -> None:
        """Stop the button's spinner; a redelivered tap is too old to answer, and fine."""
        assert self._bot is not None
        try:
            await self._bot.answer_callback_query(query_id, text=text)
        except TelegramError as exc:
            logger.debug("telegram: answerCallbackQuery %s: %s", query_id, exc)

    async def _survey_answer(self, update: Update) -> bool:
        """A tapped score or a comment replying to a survey question: handed to the
        router's surveys (not ingested: it is no message to the team). True if it was."""
        assert self._bot is not None and self._services is not None
        texts = self._services.texts
        query = update.callback_query
        if query is not None and (tap := tapped_score(query)) is not None:
            language = language_of(query.from_user)
            refusal = await self._services.surveys.answer(*tap)
            key = "survey_comment_hint" if refusal is None else _SURVEY_REFUSALS.get(refusal)
            await self._answer_callback(query.id, texts.text(key or "survey_invalid", language))
            return True
        message = update.message
        token = survey_replied_to(message) if message is not None else None
        if message is None or token is None or not message.text:
            return False
        user = message.from_user
        language = language_of(user) if user is not None else None
        refusal = await self._services.surveys.answer(token, None, message.text)
        key = "survey_comment_saved" if refusal is None else _SURVEY_REFUSALS.get(refusal)
        try:
            await self._bot.send_message(
                message.chat.id,
                texts.text(key or "survey_invalid", language),
                reply_to_message_id=message.message_id,
            )
        except TelegramError as exc:  # a courtesy: the comment is stored either way
            logger.info("telegram: could not confirm a survey comment: %s", exc)
        return True

    async def _handle_webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret.encode()):
            logger.warning("telegram: webhook call from %s without the secret; 403", request.remote)
            self._refused.labels("secret").inc()
            return web.Response(status=403, text="forbidden")
        if self._bot is None or not self._ready.is_set():
            return web.Response(status=503, text="not ready")  # Telegram will redeliver
        # The API's one reader: size cap, UTF-8, and JSON nested too deeply is a 400. A
        # NUL or lone surrogate is let through, as polling does: Telegram cannot change
        # the update, would redeliver it and then drop it; ingest cleans the text.
        payload = await read_json_object(request, _MAX_UPDATE_BYTES, refuse_unstorable=False)
        if isinstance(payload, web.Response):
            logger.warning(
                "telegram: webhook body from %s is not an update: %s", request.remote, payload.text
            )
            self._refused.labels("not_update").inc()
            return payload
        try:
            update = update_from_json(payload, self._bot)
        except UnreadableUpdate as exc:
            logger.warning(
                "telegram: webhook body from %s is not an update: %s", request.remote, exc
            )
            self._refused.labels("not_update").inc()
            return web.Response(status=400, text="not an update")
        try:
            await self.process_update(update)
        except Exception:
            logger.exception("telegram: webhook update %s was not stored", update.update_id)
            return web.Response(status=500, text="not stored")  # Telegram will redeliver
        return web.Response(text="ok")

    # ---- sending -----------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Deliver a reply: text pieces, then files; buttons on the last part.

        Returns:
            delivered with the first Telegram message's key; retry for network trouble
            and long flood waits; failed (identity unreachable) when the user blocked
            the bot or the chat is gone.
        """
        if self._bot is None or not self._ready.is_set():
            return DeliveryResult.retry("telegram: not connected yet")
        try:
            chat_id = int(message.address)
        except ValueError:
            return DeliveryResult.failed(f"telegram: not a chat id: {message.address!r}")
        parts = _render(message)
        if not parts:
            return DeliveryResult.failed("telegram: nothing to send")
        first_key: str | None = None
        # The outbox row remembers progress across processes; memory covers this one.
        start = max(message.parts_done, self._delivered_parts.get(message.outbox_id, 0))
        for index in range(start, len(parts)):
            outcome = await self._send_part(chat_id, parts[index])
            if isinstance(outcome, DeliveryResult):
                if outcome.status is DeliveryStatus.RETRY:
                    self._remember_progress(message.outbox_id, index)
                    return dataclasses.replace(outcome, parts_done=index)
                self._delivered_parts.pop(message.outbox_id, None)
                return outcome
            first_key = first_key or message_key(chat_id, outcome.message_id)
            self._remember_progress(message.outbox_id, index + 1)
        self._delivered_parts.pop(message.outbox_id, None)
        return DeliveryResult.delivered(first_key)

    def _remember_progress(self, outbox_id: int, parts_done: int) -> None:
        self._delivered_parts[outbox_id] = parts_done
        self._delivered_parts.move_to_end(outbox_id)
        while len(self._delivered_parts) > _MAX_PROGRESS_ENTRIES:
            self._delivered_parts.popitem(last=False)

    async def _send_part(self, chat_id: int, part: _Part) -> Message | DeliveryResult:
        """One API call, flood waits included; a DeliveryResult when it did not go out."""
        assert self._pacer is not None
        for _attempt in range(_MAX_INLINE_RETRIES + 1):
            try:
                async with self._pacer.turn(str(chat_id)):
                    return await self._call(chat_id, part)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                self._pacer.pause(wait)
                if wait > self._settings.max_retry_wait:
                    return DeliveryResult.retry("telegram: flood control", retry_after=wait)
                logger.info("telegram: flood control, waiting %.1fs", wait)
            except Forbidden as exc:
                return DeliveryResult.failed(self._error_text(exc), identity_unreachable=True)
            except BadRequest as exc:
                unreachable = "chat not found" in str(exc).lower()
                return DeliveryResult.failed(
                    self._error_text(exc), identity_unreachable=unreachable
                )
            except InvalidToken:
                return DeliveryResult.retry("telegram: the bot token was rejected")
            except FileNotFoundError:
                return DeliveryResult.failed(f"telegram: attachment {_name(part)} is not stored")
            except TimedOut as exc:
                # Sent again later; if Telegram did deliver it, the customer sees it twice.
                return DeliveryResult.retry(f"{self._error_text(exc)} (may have been delivered)")
            except (NetworkError, TelegramError) as exc:
                return DeliveryResult.retry(self._error_text(exc))
        return DeliveryResult.retry("telegram: flood control persists")

    def _error_text(self, exc: Exception) -> str:
        """What goes into the outbox's error column: Telegram's words, never the token."""
        return self._redaction.scrub(f"telegram: {exc}")

    async def _call(self, chat_id: int, part: _Part) -> Message:
        assert self._bot is not None and self._services is not None
        if isinstance(part, _TextPart):
            return await self._bot.send_message(chat_id, part.text, reply_markup=part.keyboard)
        ref = part.ref
        data = await self._services.attachments.read(ref.sha256)
        if ref.content_type in _PHOTO_TYPES and ref.size <= _MAX_PHOTO_BYTES:
            return await self._bot.send_photo(
                chat_id, data, filename=ref.filename, reply_markup=part.keyboard
            )
        return await self._bot.send_document(
            chat_id, data, filename=ref.filename, reply_markup=part.keyboard
        )


def _render(message: OutboundMessage) -> list[_Part]:
    """Text pieces then files; the suggestion keyboard rides on the last part."""
    pieces = split_text(message.text)
    count = len(pieces) + len(message.attachments)
    keyboard = (
        survey_keyboard(message.survey, message.language)
        if message.survey is not None
        else suggestion_keyboard(message.suggestions, message.link_question_id)
    )
    parts: list[_Part] = []
    for index, piece in enumerate(pieces):
        parts.append(_TextPart(piece, keyboard if index == count - 1 else None))
    for offset, ref in enumerate(message.attachments):
        last = len(pieces) + offset == count - 1
        parts.append(_FilePart(ref, keyboard if last else None))
    return parts


# What a customer is told when a tap or comment is refused (router texts).
_SURVEY_REFUSALS = {"expired": "survey_expired"}
# A tap that answers no "link this chat?" question: the notice it is acknowledged with.
_UNANSWERABLE = {
    LinkTap.CLOSED: "link_question_closed",
    LinkTap.REPLACED: "link_question_replaced",
    LinkTap.EXPIRED: "link_refused",
}


def _name(part: _Part) -> str:
    return part.ref.filename if isinstance(part, _FilePart) else "text"


def poll_lock_name(bot_token: str) -> str:
    """The lock only the polling process holds, named by the bot's id (the token's
    part before the colon), so two bots sharing one database each get a poller."""
    return f"telegram:poller:{bot_token.split(':', 1)[0]}"


def _derived_secret(token: str) -> str:
    """A webhook secret all processes derive alike; Telegram allows [A-Za-z0-9_-]{1,256}."""
    return purpose_key(token, "telegram-webhook").hex()


def _file_url_for(api_url: str) -> str:
    """`https://host/bot` -> `https://host/file/bot` (how the Bot API lays out file URLs)."""
    if api_url.endswith("/bot"):
        return api_url[: -len("bot")] + "file/bot"
    return api_url.rstrip("/") + "/file/bot"
