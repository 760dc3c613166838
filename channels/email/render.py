"""Build outbound mail from a channel-neutral `OutboundMessage`.

The result threads in every mail client (our own `Message-ID`, `In-Reply-To` and
`References` from the thread's earlier messages, and `Re:` only then), brings replies
back to the right thread (`Reply-To: support+<token>@domain`), reads right-to-left in
Persian and Arabic (`multipart/alternative` text + HTML with `dir="rtl"` and `lang`),
and tells other robots not to answer it (`Auto-Submitted: auto-replied`,
`X-Auto-Response-Suppress: All`) when a bot or the system wrote it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from channels.email.parse import safe_filename
from router.core.languages import LANGUAGES, localised_number, text_direction
from router.core.messages import AttachmentRef, OutboundMessage, SurveyOffer, utcnow
from router.core.security import PurposeKey, digests_match
from router.core.texts import TextCatalogue

MAX_REFERENCES = 20

# The email channel's own chrome a customer reads as shipped; the adapter holds the
# installation's copy with its overrides (`EmailAdapter(texts=...)`).
EMAIL_TEXTS = TextCatalogue(
    "email",
    {
        "email_default_subject": {
            "fa": "پاسخ به درخواست پشتیبانی شما",
            "ar": "رد على طلب الدعم الخاص بك",
            "en": "Your support request",
        },
        # Under the survey question, above the score links: a reply with the number is
        # taken as the answer too (channels/email/adapter.py), words reach the team.
        "email_survey_hint": {
            "fa": "یکی از امتیازهای زیر را بزنید، یا فقط عدد امتیاز را در پاسخ همین نامه بنویسید.",
            "ar": "اختر أحد التقييمات أدناه، أو اكتب رقم التقييم وحده في ردّك على هذه الرسالة.",
            "en": "Choose a score below, or reply to this mail with just the number.",
        },
        "email_continue_label": {
            "fa": "ادامهٔ گفتگو در چت",
            "ar": "تابع المحادثة في الدردشة",
            "en": "Continue in chat",
        },
    },
)
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|رد|پاسخ|ج)\s*(\[\d+\])?\s*:", re.IGNORECASE)
_ID_SAFE = re.compile(r"^[^<>\s\"\\]+@[^<>\s\"\\]+$")


def outbound_message_id(message: OutboundMessage, *, secret: str | bytes, domain: str) -> str:
    """Our bare Message-ID for `message`: stable across retries, unique per install.

    A retry after a timeout that the relay had in fact accepted then arrives with the
    same Message-ID, which mail clients collapse into one message.
    """
    stem = f"{message.message_id}.{message.outbox_id}"
    return f"{stem}.{_message_id_mac(secret, stem)}@{domain.lower()}"


def our_message_of(message_id: str, *, secret: str | bytes) -> int | None:
    """The stored message an `outbound_message_id` names (a customer's In-Reply-To);
    None for anyone else's id or one whose MAC does not match (ids are guessable, the
    MAC is not)."""
    local = message_id.strip().strip("<>").rpartition("@")[0]
    stem, _, mac = local.rpartition(".")
    ids = stem.split(".")
    if len(ids) != 2 or not all(part.isascii() and part.isdigit() for part in ids):
        return None
    return int(ids[0]) if digests_match(_message_id_mac(secret, stem), mac) else None


def _message_id_mac(secret: str | bytes, stem: str) -> str:
    return PurposeKey(secret, "email-message-id").hexdigest(stem)[:16]


def reply_subject(
    subject: str | None,
    language: str | None,
    *,
    replying: bool,
    texts: TextCatalogue = EMAIL_TEXTS,
) -> str:
    """`Re: <subject>` (never `Re: Re:`) for a reply, the subject itself for a mail
    that answers none (a verification code); a default in the mail's language if none."""
    cleaned = " ".join((subject or "").split())
    if not cleaned:
        return texts.template("email_default_subject", _primary(language))
    if not replying or _REPLY_PREFIX.match(cleaned):
        return cleaned
    return f"Re: {cleaned}"


def thread_references(references: Sequence[str]) -> list[str]:
    """Usable message ids, oldest first, the first kept and the newest after it."""
    usable: list[str] = []
    for ref in references:
        ref = ref.strip().strip("<>")
        if _ID_SAFE.match(ref) and ref not in usable:
            usable.append(ref)
    if len(usable) > MAX_REFERENCES:
        usable = [usable[0], *usable[-(MAX_REFERENCES - 1) :]]
    return usable


def render_outbound(
    message: OutboundMessage,
    *,
    from_address: str,
    reply_to: str,
    message_id: str,
    from_name: str | None = None,
    files: Sequence[tuple[AttachmentRef, bytes]] = (),
    date: datetime | None = None,
    continue_url: str | None = None,
    texts: TextCatalogue = EMAIL_TEXTS,
) -> EmailMessage:
    """The complete MIME message for `message`, ready for SMTP.

    Args:
        message: what to send.
        from_address: the support address (`PASOKH_EMAIL__ADDRESS`).
        reply_to: the tokenised address replies must go to.
        message_id: our bare Message-ID (see `outbound_message_id`).
        from_name: display name; defaults to the message's author name.
        files: attachment references with their bytes.
        date: the Date header (now if omitted).
        continue_url: a "continue in chat" link printed under the text, if given.
        texts: the installation's copy of the channel's texts (subject, link label).
    """
    mail = EmailMessage()
    name = _one_line(from_name or message.author_name or "")
    mail["From"] = _address(from_address, name)
    mail["To"] = _address(message.address, "")
    mail["Reply-To"] = _address(reply_to, name)
    references = thread_references(message.references)
    # A proactive message (it carries an unsubscribe link) answers nothing: its own subject.
    replying = bool(references) and message.unsubscribe_url is None
    # The subject of a mail whose From may be forged is the forger's text: an automatic
    # answer would send it from our address to whoever they named. The default subject
    # instead; In-Reply-To and References still thread it for the real customer.
    chosen = None if message.automated and message.answers_unauthenticated else message.subject
    subject = reply_subject(chosen, message.language, replying=replying, texts=texts)
    mail["Subject"] = _one_line(subject)
    mail["Date"] = format_datetime(date or utcnow())
    mail["Message-ID"] = f"<{message_id}>"
    if references:
        mail["In-Reply-To"] = f"<{references[-1]}>"
        mail["References"] = " ".join(f"<{ref}>" for ref in references)
    if message.unsubscribe_url:
        # RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe.
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message.automated:
        # RFC 3834: a proactive message answers nothing; it is generated, not a reply.
        mail["Auto-Submitted"] = "auto-generated" if message.unsubscribe_url else "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
    text = plain_body(message)
    body_html = html_body(message)
    language_of_mail = _primary(message.language)
    if message.survey is not None:
        hint = texts.template("email_survey_hint", language_of_mail)
        text, body_html = _with_survey_links(
            message.survey, language_of_mail, hint, text, body_html
        )
    if continue_url:
        label = texts.template("email_continue_label", _primary(message.language))
        text += f"\n{label}: {continue_url}\n"
        link = f'<p><a href="{html.escape(continue_url, quote=True)}">{html.escape(label)}</a></p>'
        body_html = body_html.replace("\n</body>", f"\n{link}\n</body>", 1)
    mail.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    mail.add_alternative(body_html, subtype="html", charset="utf-8", cte="quoted-printable")
    for index, (ref, data) in enumerate(files, start=1):
        maintype, _, subtype = ref.content_type.partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        mail.add_attachment(
            data,
            maintype=maintype,
            subtype=subtype,
            filename=safe_filename(ref.filename, ref.content_type, index),
        )
    language = _primary(message.language)
    if language:
        # Last: making the message multipart moves Content-* headers into the first part.
        mail["Content-Language"] = language
    return mail


def survey_links(survey: SurveyOffer, language: str) -> list[tuple[str, str]]:
    """(label, link) per score: each link opens the rating page with that score chosen
    (the page records it only when the customer confirms)."""
    query = f"&lang={language}" if language in LANGUAGES else ""
    return [
        (
            localised_number(score, language) + (" ★" if survey.kind == "csat" else ""),
            f"{survey.url}?score={score}{query}",
        )
        for score in survey.scores()
    ]


def _with_survey_links(
    survey: SurveyOffer, language: str, hint: str, text: str, body_html: str
) -> tuple[str, str]:
    links = survey_links(survey, language)
    text += f"\n{hint}\n" + "\n".join(f"{label}: {link}" for label, link in links) + "\n"
    anchors = " ".join(
        f'<a href="{html.escape(link, quote=True)}" style="display:inline-block;padding:4px 10px;'
        f'margin:2px;border:1px solid #2563eb;border-radius:6px;text-decoration:none">'
        f"{html.escape(label)}</a>"
        for label, link in links
    )
    body_html = body_html.replace(
        "\n</body>", f'\n<p>{html.escape(hint)}</p>\n<p class="survey">{anchors}</p>\n</body>', 1
    )
    return text, body_html


def plain_body(message: OutboundMessage) -> str:
    """The text/plain part: the text, then suggested replies as a list."""
    text = message.text.replace("\r\n", "\n").strip()
    if message.suggestions:
        options = "\n".join(f"- {suggestion}" for suggestion in message.suggestions)
        text = f"{text}\n\n{options}"
    return text + "\n"


def html_body(message: OutboundMessage) -> str:
    """The text/html part: escaped text in paragraphs, right-to-left for fa/ar."""
    language = _primary(message.language)
    direction = text_direction(language)
    align = "right" if direction == "rtl" else "left"
    paragraphs = [
        "<br>\n".join(html.escape(line) for line in block.split("\n"))
        for block in re.split(r"\n\s*\n", message.text.replace("\r\n", "\n").strip())
        if block.strip()
    ]
    body = "\n".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    if message.suggestions:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in message.suggestions)
        body += f"\n<ul>{items}</ul>"
    lang_attr = f' lang="{html.escape(language)}"' if language else ""
    return (
        f'<!DOCTYPE html>\n<html{lang_attr} dir="{direction}">\n<head><meta charset="utf-8">'
        f"</head>\n"
        f'<body dir="{direction}" style="direction:{direction};text-align:{align}">\n'
        f"{body}\n</body>\n</html>\n"
    )


def _primary(language: str | None) -> str:
    """ "fa-IR" -> "fa"; "" when unknown or not a plain language tag."""
    if not language:
        return ""
    primary = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary.isascii() and primary.isalpha() and len(primary) <= 8 else ""


def _one_line(value: str) -> str:
    """Header text without line breaks or control characters (no header injection)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def _address(addr_spec: str, display_name: str) -> Address:
    local, _, domain = addr_spec.strip().rpartition("@")
    return Address(display_name=display_name, username=local, domain=domain)
