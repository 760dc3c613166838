"""One Telegram update -> one `InboundMessage` (or None: not for Pasokh, acknowledged).

Dedupe keys (`external_id`) are built from what Telegram repeats on redelivery:
`tg:msg:<chat>:<message_id>` for a message, `tg:edit:<chat>:<message_id>:<edit_date>`
for an edit of it, `tg:cb:<callback query id>` for a button tap.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import Bot, CallbackQuery, Chat, Message, PhotoSize, Update, User
from telegram.error import BadRequest

from channels.telegram.outbound import tapped_link_question, tapped_suggestion
from router.core.attachments import AttachmentStore, AttachmentTooLarge
from router.core.languages import LANGUAGES
from router.core.messages import AttachmentRef, InboundMessage, ProofClaim, ProofKind
from router.core.storable_text import plain_name
from router.identity.tokens import CHAT_LINK_TOKEN_LENGTH

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
# Telegram sends "/start" when a user opens the bot. The bot greets greetings, so the
# command reaches it as a greeting in the user's app language; `full_text` keeps the
# command (with any deep-link payload) for agents.
_START_GREETINGS = {"fa": "سلام", "ar": "مرحبا", "en": "Hello"}
# Only a payload shaped like the router's link token is a link attempt; other deep
# links (a campaign's `?start=promo`) stay the greeting the bot answers.
_START_LINK = re.compile(rf"^/start(?:@\w+)?\s+([A-Za-z0-9_-]{{{CHAT_LINK_TOKEN_LENGTH}}})\s*$")


def message_key(chat_id: int, message_id: int) -> str:
    """The dedupe key of a message, also what `send` reports as the channel's id."""
    return f"tg:msg:{chat_id}:{message_id}"


@dataclass(frozen=True, slots=True)
class _Download:
    """A file Telegram holds for us, and what to call it in the store."""

    file_id: str
    size: int | None
    filename: str
    content_type: str


class UnreadableUpdate(ValueError):
    """What Telegram sent is not an update PTB can read; the message says why."""


def update_from_json(raw: object, bot: Bot) -> Update:
    """One update of a `getUpdates` batch or a webhook body, as PTB reads it.

    Raises:
        UnreadableUpdate: not an object with an integer `update_id`, or PTB cannot read
            it (a date past any calendar, a field of another Bot API version: what it
            raises for such data varies, so any error is this one).
    """
    if not isinstance(raw, dict):
        raise UnreadableUpdate("not an object")
    update_id = raw.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise UnreadableUpdate("no update_id")
    try:
        return Update.de_json(raw, bot)
    except Exception as exc:
        raise UnreadableUpdate(f"{type(exc).__name__}: {str(exc)[:200]}") from None


class FileUnavailable(Exception):
    """getFile answered without a path to download from (or with one out of bounds)."""


class UpdateReader:
    """Translates updates, downloading their files into the attachment store.

    Network errors while downloading propagate (the update is fetched again later);
    a file that is too large or that Telegram will not hand out is left out and named
    in the text, so an agent knows the customer sent it.
    """

    def __init__(
        self,
        *,
        bot: Bot,
        attachments: AttachmentStore,
        max_file_bytes: int,
        file_deadline: float = 60.0,
    ) -> None:
        self._bot = bot
        self._attachments = attachments
        self._max_file_bytes = max_file_bytes
        self._file_deadline = file_deadline

    async def read(self, update: Update) -> InboundMessage | None:
        """The inbound message this update carries; None for anything Pasokh ignores."""
        found: InboundMessage | None = None
        if update.message is not None:
            found = await self._from_message(update.message, edit=False)
        elif update.edited_message is not None:
            found = await self._from_message(update.edited_message, edit=True)
        elif update.callback_query is not None:
            found = self._from_callback(update.callback_query)
        else:
            logger.debug("telegram: update %s has nothing for Pasokh", update.update_id)
        return found

    async def _from_message(self, message: Message, *, edit: bool) -> InboundMessage | None:
        user = message.from_user
        if message.chat.type != Chat.PRIVATE or user is None:
            logger.info(
                "telegram: ignoring a message in %s chat %s (only private chats are served)",
                message.chat.type,
                message.chat.id,
            )
            return None
        downloads = _downloads_of(message)
        text = message.text or message.caption or ""
        proven = _own_phone(message, user)
        if proven and not text:
            text = f"📞 {proven[0][1]}"
        if not text and not downloads:
            logger.info(
                "telegram: ignoring an unsupported message (%s) from chat %s",
                _kind_of(message),
                message.chat.id,
            )
            return None
        attachments, notes = await self._fetch(downloads)
        if notes:
            text = "\n".join([text, *notes]) if text else "\n".join(notes)
        key = message_key(message.chat.id, message.message_id)
        external_id, edit_of = key, None
        if edit:
            edited_at = int(message.edit_date.timestamp()) if message.edit_date else 0
            external_id = f"tg:edit:{message.chat.id}:{message.message_id}:{edited_at}"
            edit_of = key
        language = language_of(user)
        full_text = None
        proof = start_link_claim(text)
        if _is_start_command(text):
            full_text, text = text, _START_GREETINGS[language or "en"]
        return InboundMessage(
            channel=CHANNEL,
            external_id=external_id,
            sender_address=str(message.chat.id),
            sender_name=user.full_name,
            sender_username=user.username,
            text=text,
            full_text=full_text,
            attachments=tuple(attachments),
            language=language,
            received_at=message.edit_date if edit and message.edit_date else message.date,
            edit_of=edit_of,
            sender_verified=True,
            proven_addresses=proven,
            proof=proof,
            conversational=True,
        )

    def _from_callback(self, query: CallbackQuery) -> InboundMessage | None:
        chat = query.message.chat if query.message is not None else None
        if chat is not None and chat.type != Chat.PRIVATE:
            logger.info("telegram: ignoring a button tap in %s chat %s", chat.type, chat.id)
            return None
        text = tapped_suggestion(query)
        if text is None:
            logger.info("telegram: a button tap %s names no known suggestion", query.id)
            return None
        question_id = tapped_link_question(query)
        return InboundMessage(
            channel=CHANNEL,
            external_id=f"tg:cb:{query.id}",
            sender_address=str(chat.id if chat is not None else query.from_user.id),
            sender_name=query.from_user.full_name,
            text=text,
            language=language_of(query.from_user),
            sender_verified=True,
            # The router answers the question the button names, or none.
            proof=None
            if question_id is None
            else ProofClaim(ProofKind.LINK_ANSWER, question_id=question_id),
            conversational=True,
        )

    async def _fetch(self, downloads: Sequence[_Download]) -> tuple[list[AttachmentRef], list[str]]:
        refs: list[AttachmentRef] = []
        notes: list[str] = []
        for item in downloads:
            if item.size is not None and item.size > self._max_file_bytes:
                notes.append(f"[file not kept: {item.filename}, {item.size} bytes, too large]")
                continue
            try:
                async with asyncio.timeout(self._file_deadline):
                    refs.append(await self._download(item))
            except AttachmentTooLarge:
                notes.append(f"[file not kept: {item.filename}, too large]")
            except TimeoutError:
                # A trickling download would hold every chat of the batch behind it.
                logger.warning(
                    "telegram: %s not downloaded within %.0f s", item.filename, self._file_deadline
                )
                notes.append(f"[file not kept: {item.filename}, took too long]")
            except (BadRequest, FileUnavailable) as exc:
                # Telegram will not hand this file out (e.g. > 20 MB), or gave no usable
                # path: the message and its caption are kept, with a note.
                logger.warning("telegram: cannot download %s: %s", item.filename, exc)
                notes.append(f"[file not kept: {item.filename}, unavailable]")
        return refs, notes

    async def _download(self, item: _Download) -> AttachmentRef:
        file = await self._bot.get_file(item.file_id)
        if file.file_size is not None and file.file_size > self._max_file_bytes:
            raise AttachmentTooLarge(item.filename)
        # PTB puts the bot's file address before the path getFile gave. The Bot API may
        # leave the path out; a path out of the file area ("../../bot<token>/getMe")
        # would fetch another Bot API address with the bot's token.
        base, url = self._bot.base_file_url, file.file_path or ""
        path = url[len(base) :] if url.startswith(base) else ""
        if not path.strip("/") or ".." in path.split("/"):
            raise FileUnavailable(f"getFile gave no usable file_path ({len(path)} characters)")
        data = bytes(await file.download_as_bytearray())
        return await self._attachments.put(
            data,
            filename=item.filename,
            content_type=item.content_type,
            max_bytes=self._max_file_bytes,
        )


def language_of(user: User) -> str | None:
    """The user's app language when Pasokh speaks it (fa, ar, en); a hint, not a fact."""
    code = (user.language_code or "").split("-", 1)[0].lower()
    return code if code in LANGUAGES else None


def start_link_claim(text: str) -> ProofClaim | None:
    """The link token of `/start <token>` (the widget's "continue on Telegram" deep
    link), as a claim for the router to judge; None for any other text."""
    match = _START_LINK.match(text.strip())
    return ProofClaim(ProofKind.LINK_TOKEN, token=match.group(1)) if match else None


def _is_start_command(text: str) -> bool:
    """`/start`, `/start <payload>` or `/start@SomeBot`."""
    command = text.split(maxsplit=1)[0] if text.strip() else ""
    return command == "/start" or command.startswith("/start@")


def _own_phone(message: Message, user: User) -> tuple[tuple[str, str], ...]:
    """("phone", "+<digits>") when the user shared their own contact: Telegram vouches
    for a contact whose `user_id` is the sender's; anybody else's proves nothing."""
    contact = message.contact
    if contact is None or contact.user_id != user.id or not contact.phone_number:
        return ()
    digits = "".join(ch for ch in contact.phone_number if ch.isdigit())
    if not 6 <= len(digits) <= 15:
        return ()
    return (("phone", f"+{digits}"),)


def _downloads_of(message: Message) -> list[_Download]:
    found: list[_Download] = []
    if message.photo:
        best = _largest(message.photo)
        found.append(
            _Download(
                best.file_id, best.file_size, f"photo_{best.file_unique_id}.jpg", "image/jpeg"
            )
        )
    if message.document is not None:
        doc = message.document
        found.append(
            _Download(
                doc.file_id,
                doc.file_size,
                # Named at the edge without bidi controls: the name is also in notes.
                plain_name(doc.file_name or "") or f"document_{doc.file_unique_id}",
                doc.mime_type or "application/octet-stream",
            )
        )
    if message.voice is not None:
        voice = message.voice
        found.append(
            _Download(
                voice.file_id,
                voice.file_size,
                f"voice_{voice.file_unique_id}.ogg",
                voice.mime_type or "audio/ogg",
            )
        )
    if message.sticker is not None:
        sticker = message.sticker
        if sticker.is_animated:
            suffix, content_type = "tgs", "application/x-tgsticker"
        elif sticker.is_video:
            suffix, content_type = "webm", "video/webm"
        else:
            suffix, content_type = "webp", "image/webp"
        found.append(
            _Download(
                sticker.file_id,
                sticker.file_size,
                f"sticker_{sticker.file_unique_id}.{suffix}",
                content_type,
            )
        )
    return found


def _largest(sizes: Sequence[PhotoSize]) -> PhotoSize:
    return max(sizes, key=lambda size: (size.width * size.height, size.file_size or 0))


def _kind_of(message: Message) -> str:
    for kind in ("location", "contact", "poll", "video", "audio", "video_note", "animation"):
        if getattr(message, kind, None):
            return kind
    return "other"
