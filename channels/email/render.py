"""Build outbound mail from a channel-neutral `OutboundMessage`.

The result threads in every mail client (our own `Message-ID`, `In-Reply-To` and
`References` from the thread's earlier messages, and `Re:` only then), brings replies
back to the right thread (`Reply-To: support+<token>@domain`), reads right-to-left in
Persian and Arabic (`multipart/alternative` text + HTML with `dir="rtl"` and `lang`),
and tells other robots not to answer it (`Auto-Submitted: auto-replied`,
`X-Auto-Response-Suppress: All`) when a bot or the system wrote it.

The mail is built already encoded, as a `compat32` `Message` whose headers and parts
the generator writes as they are: the modern policy's header registry parsed every
header we set and refolded it when flattened, about 5 ms of CPU per mail on the event
loop for headers we write ourselves. Header text (display names, the subject) follows
one rule, `_written_plain`, or goes out as RFC 2047 encoded words of its UTF-8 in
base64 (`_encoded_words`); bodies are quoted-printable and attachments base64, so every
line is 7-bit and at most 76 characters, whatever the text. `wire_bytes` writes it for SMTP
as aiosmtplib would, without folding again the headers that are folded already.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import io
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from email.utils import format_datetime, quote
from urllib.parse import quote as percent_quote

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
_ID_SAFE = re.compile(r"[^<>\s\"\\]+@[^<>\s\"\\]+")


def outbound_message_id(message: OutboundMessage, *, secret: str | bytes, domain: str) -> str:
    """Our bare Message-ID for `message`: stable across retries, unique per install.

    A retry after a timeout that the relay had in fact accepted then arrives with the
    same Message-ID, which mail clients collapse into one message.
    """
    stem = f"{message.message_id}.{message.outbox_id}"
    return f"{stem}.{_message_id_mac(secret, stem)}@{domain.lower()}"


@dataclass(frozen=True, slots=True)
class OurMail:
    """What one of our Message-IDs names: the stored message and its outbox row."""

    message_id: int
    outbox_id: int


def our_mail_of(message_id: str, *, secret: str | bytes) -> OurMail | None:
    """The message and outbox row an `outbound_message_id` names (a customer's
    In-Reply-To, a delivery report's returned mail); None for anyone else's id or one
    whose MAC does not match (ids are guessable, the MAC is not)."""
    local = message_id.strip().strip("<>").rpartition("@")[0]
    stem, _, mac = local.rpartition(".")
    ids = stem.split(".")
    if len(ids) != 2 or not all(part.isascii() and part.isdigit() for part in ids):
        return None
    if not digests_match(_message_id_mac(secret, stem), mac):
        return None
    return OurMail(message_id=int(ids[0]), outbox_id=int(ids[1]))


def _message_id_mac(secret: str | bytes, stem: str) -> str:
    return _message_id_key(secret).hexdigest(stem)[:16]


@functools.lru_cache(maxsize=4)
def _message_id_key(secret: str | bytes) -> PurposeKey:
    """The Message-ID MACs' key, derived once (an HMAC of its own) and not per mail."""
    return PurposeKey(secret, "email-message-id")


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
        if _ID_SAFE.fullmatch(ref) and ref not in usable:
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
) -> Message:
    """The complete MIME message for `message`, ready for SMTP: every header and part
    already encoded (see the module's docstring), so flattening only writes it out.

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
    mail = Message()
    name = _one_line(from_name or message.author_name or "")
    mail["From"] = _mailbox("From", from_address, name)
    mail["To"] = _mailbox("To", message.address, "")
    mail["Reply-To"] = _mailbox("Reply-To", reply_to, name)
    references = thread_references(message.references)
    # A proactive message (it carries an unsubscribe link) answers nothing: its own subject.
    replying = bool(references) and message.unsubscribe_url is None
    # The subject of a mail whose From may be forged is the forger's text: an automatic
    # answer would send it from our address to whoever they named. The default subject
    # instead; In-Reply-To and References still thread it for the real customer.
    chosen = None if message.automated and message.answers_unauthenticated else message.subject
    subject = reply_subject(chosen, message.language, replying=replying, texts=texts)
    mail["Subject"] = _encoded_text("Subject", _one_line(subject))
    mail["Date"] = format_datetime(date or utcnow())
    mail["Message-ID"] = f"<{_raw_utf8(message_id)}>"
    if references:
        mail["In-Reply-To"] = f"<{_raw_utf8(references[-1])}>"
        mail["References"] = _folded_words(
            "References", [f"<{_raw_utf8(ref)}>" for ref in references]
        )
    if message.unsubscribe_url:
        # RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe.
        mail["List-Unsubscribe"] = f"<{_raw_utf8(message.unsubscribe_url)}>"
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
        label = texts.template("email_continue_label", language_of_mail)
        text += f"\n{label}: {continue_url}\n"
        link = f'<p><a href="{html.escape(continue_url, quote=True)}">{html.escape(label)}</a></p>'
        body_html = body_html.replace("\n</body>", f"\n{link}\n</body>", 1)
    mail["MIME-Version"] = "1.0"
    alternatives = [_text_part(text, "plain"), _text_part(body_html, "html")]
    if files:
        attachments = [
            _attachment(data, ref.content_type, safe_filename(ref.filename, ref.content_type, n))
            for n, (ref, data) in enumerate(files, start=1)
        ]
        _multipart(
            mail, "mixed", [_multipart(Message(), "alternative", alternatives), *attachments]
        )
    else:
        _multipart(mail, "alternative", alternatives)
    if language_of_mail:
        mail["Content-Language"] = language_of_mail
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


# What a header line cannot carry: control characters (CR and LF among them), line and
# paragraph separators, lone surrogates (no UTF-8 for them). Format characters stay:
# the zero-width non-joiner inside Persian words, the joiner of emoji sequences.
_NOT_IN_A_HEADER = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _one_line(value: str) -> str:
    """Header text without line breaks or control characters (no header injection)."""
    if not value.isprintable():
        value = "".join(" " if unicodedata.category(ch) in _NOT_IN_A_HEADER else ch for ch in value)
    return " ".join(value.split())


# Longer plain header text is sent as encoded words too, which fold at any character:
# no header line can then pass SMTP's 998 octets, however long a name or subject is.
_PLAIN_HEADER_TEXT_MAX = 900
_FOLD_AT = 78  # RFC 5322's recommended line length, the email package's default
_FOLD = "\n "
_ENCODED_WORD_MAX = 75  # characters of one encoded word (RFC 2047 2)
_ENCODED_LINE_MAX = 76  # characters of a header line holding an encoded word (RFC 2047 2)


def _written_plain(text: str) -> bool:
    """Whether header text goes out as it is (a display name in its quoted form):
    ASCII that no reader takes for an encoded word, short enough that its line stays
    within SMTP's 998 octets where it cannot be folded."""
    return text.isascii() and "=?" not in text and len(text) <= _PLAIN_HEADER_TEXT_MAX


def _encoded_text(header: str, text: str) -> str:
    """Unstructured header text (the subject) as written: as it is when
    `_written_plain`, else `_encoded_words`."""
    return text if _written_plain(text) else _encoded_words(header, text)


def _encoded_words(header: str, text: str) -> str:
    """`text` as RFC 2047 encoded words of its UTF-8 in base64, one per line, on lines
    of at most 76 characters with `header: ` before the first. (The stdlib's
    `email.header.Header` wrote them before: Q-encoded when shorter, at ~20 us a
    header, with words of up to 77 characters on lines of 78.)"""
    width = min(_ENCODED_LINE_MAX - len(header) - 2, _ENCODED_WORD_MAX)
    words: list[str] = []
    chunk = bytearray()
    for character in text:
        data = character.encode("utf-8")
        # A word is its 12 characters of syntax and 4 of base64 per 3 octets (or part).
        if chunk and 12 + 4 * ((len(chunk) + len(data) + 2) // 3) > width:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
            chunk.clear()
            width = _ENCODED_WORD_MAX  # a continuation line: a space, then the word
        chunk += data  # never a character split between two words (RFC 2047 5)
    words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
    return _FOLD.join(words)


def _folded_words(header: str, words: Sequence[str]) -> str:
    """`words` one space apart, a line broken before a word that would take it past 78
    characters (`header: ` before the first): the `compat32` folding's own lines, so
    the mail is written without folding it again (a follow-up's References are two or
    more Message-IDs, ~200 characters). A word too long for its line stays on it: the
    generator writes such a header, as before."""
    lines: list[str] = []
    line = ""
    room = _FOLD_AT - len(header) - 2
    for word in words:
        if line and len(line) + 1 + len(word) > room:
            lines.append(line)
            line, room = "", _FOLD_AT - 1
        line = f"{line} {word}" if line else word
    lines.append(line)
    return _FOLD.join(lines)


def _mailbox(header: str, addr_spec: str, display_name: str) -> str:
    """`"Name" <local@domain>`: the display name as a quoted string when that is
    `_written_plain`, else as `_encoded_words`."""
    address = _raw_utf8(addr_spec.strip())
    if not display_name:
        return address
    quoted = f'"{quote(display_name)}"'
    plain = _written_plain(quoted)
    shown = quoted if plain else _encoded_words(header, display_name)
    # Folded before the address when the line would pass 78 characters (76 with an
    # encoded word on it): folding is then done, and no generator refolds (and
    # re-parses) the header.
    line_max = _FOLD_AT if plain else _ENCODED_LINE_MAX
    fold = "\n" in shown or len(header) + len(shown) + len(address) + 5 > line_max
    return f"{shown}{_FOLD if fold else ' '}<{address}>"


def _raw_utf8(value: str) -> str:
    """An address or id with non-ASCII characters goes out as raw UTF-8 (RFC 6532; the
    relay is asked for SMTPUTF8 when an envelope address needs it): surrogate escapes
    are how the `email` package carries raw bytes through its generator unchanged."""
    return value if value.isascii() else value.encode("utf-8").decode("ascii", "surrogateescape")


def _multipart(container: Message, subtype: str, parts: Sequence[Message]) -> Message:
    # "=_" never occurs in quoted-printable or base64 text: the boundary cannot collide
    # with a part, so the generator need not search the parts for it.
    container["Content-Type"] = f'multipart/{subtype}; boundary="=_{secrets.token_hex(12)}"'
    for part in parts:
        container.attach(part)
    return container


def _text_part(text: str, subtype: str) -> Message:
    part = Message()
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    # binascii's quoted-printable (C): lines of at most 76 characters, "=" and a
    # line-initial "." encoded, trailing white space kept.
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
    part.set_payload(
        _FROM_AT_LINE_START.sub(_FROM_ENCODED, encoded) if "From " in encoded else encoded
    )
    return part


# A line starting "From " is quoted by every mbox writer on the way, the stdlib's
# generator (aiosmtplib's) first: ">From " is what the customer would read. Its "F"
# encoded, then a soft line break: the text decodes as written, no line grows. (A
# lone CR, which quoted-printable leaves as it is, is a line break on the wire too.)
_FROM_AT_LINE_START = re.compile(r"(?<![^\r\n])From ")
_FROM_ENCODED = "=46=\nrom "


def _attachment(data: bytes, content_type: str, filename: str) -> Message:
    maintype, _, subtype = content_type.partition("/")
    if not maintype or not subtype:
        maintype, subtype = "application", "octet-stream"
    part = Message()
    part["Content-Type"] = f"{maintype}/{subtype}"
    part["Content-Transfer-Encoding"] = "base64"
    parameter = _filename_parameter(filename)
    # Folded before the name when its first line would pass 78 characters, as the
    # flattening would fold it: written so, the header is not folded again.
    first_line = parameter.partition(_FOLD[0])[0]
    fold = len("Content-Disposition: attachment; ") + len(first_line) > _FOLD_AT
    part["Content-Disposition"] = f"attachment;{_FOLD if fold else ' '}{parameter}"
    part.set_payload(base64.encodebytes(data).decode("ascii"))
    return part


# Characters of a filename per RFC 2231 continuation: percent-encoded Persian or
# Arabic, one piece is at most 60 characters, and its line stays under 78.
_FILENAME_CHARACTERS_PER_LINE = 10


def _filename_parameter(filename: str) -> str:
    """`filename="..."` when ASCII; otherwise RFC 2231 `filename*0*=utf-8''%..;` pieces,
    each folded onto its own line (a 200-character Persian name is 2,400 characters once
    percent-encoded: on one line it would pass SMTP's 998 octets)."""
    if filename.isascii() and len(filename) <= _PLAIN_HEADER_TEXT_MAX:
        return f'filename="{quote(filename)}"'
    step = _FILENAME_CHARACTERS_PER_LINE
    pieces = [
        percent_quote(filename[start : start + step], safe="", encoding="utf-8")
        for start in range(0, len(filename), step)
    ]
    pieces[0] = "utf-8''" + pieces[0]
    return ";\n ".join(f"filename*{n}*={piece}" for n, piece in enumerate(pieces))


# A header line as `render_outbound` folds it: printable ASCII words, one space apart.
_FOLDED_LINE = re.compile(r"[!-~]+(?: [!-~]+)*")


def _folded_already(name: str, value: object) -> bool:
    """Whether `value` is on lines the `compat32` folding would write unchanged: ASCII
    words one space apart, continuation lines starting with one space, every line of
    at most 78 characters with the `name: ` before the first (the folding's width).
    False for anything but ASCII text (a `Header`, raw UTF-8)."""
    if not (isinstance(value, str) and value.isascii()):
        return False
    width = _FOLD_AT - len(name) - 2
    for number, line in enumerate(value.split("\n")):
        if number:
            if line[:1] != " ":
                return False
            line, width = line[1:], _FOLD_AT - 1
        if len(line) > width or not _FOLDED_LINE.fullmatch(line):
            return False
    return True


class _FoldedHeaders(Compat32):
    """`compat32` (what aiosmtplib flattens a `Message` with) writing a header that is
    folded already as it is. `compat32` refolds every header through `email.header`'s
    `Header`, which leaves such a header as it was but costs most of the flattening's
    CPU; anything else (raw UTF-8, a long line) still goes through it."""

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if isinstance(value, str) and _folded_already(name, value):
            return f"{name}: {value.replace(_FOLD[0], self.linesep)}{self.linesep}"
        return str(super()._fold(name, value, sanitize))  # type: ignore[misc]


_WIRE_POLICIES = {"8bit": _FoldedHeaders(), "7bit": _FoldedHeaders(cte_type="7bit")}


def wire_bytes(mail: Message, *, cte_type: str) -> bytes:
    """`mail` (a `render_outbound` result) as aiosmtplib's `flatten_message` writes it,
    byte for byte: `cte_type` "8bit" when the relay offers 8BITMIME, else "7bit"."""
    pieces: list[str] = []
    if _written_as_it_is(mail, pieces):
        return "".join(pieces).encode("ascii")
    with io.BytesIO() as out:
        BytesGenerator(out, policy=_WIRE_POLICIES[cte_type]).flatten(mail)
        return out.getvalue()


# What the `compat32` generator does to a line of a text payload starting "From ".
_FROM_LINE = re.compile(r"^From ", re.MULTILINE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _written_as_it_is(part: Message, pieces: list[str]) -> bool:
    """Append `part` to `pieces` as the `compat32` generator writes it when every header
    is ASCII and folded already (`_folded_already`) and every payload is ASCII text
    (quoted-printable, base64) or a list of such parts, with no preamble or epilogue:
    the tree `render_outbound` builds for an ASCII address. False, with `pieces` left
    unfinished, for anything else (raw UTF-8 of an SMTPUTF8 address): the generator
    writes that. The generator walks the tree, parses each part's Content-Type again
    and tries each header's folding; most of a flattening's CPU for this one shape."""
    headers = []
    for name, value in part.raw_items():
        if not _folded_already(name, value):
            return False
        headers.append(f"{name}: {value}\n")
    payload = part.get_payload()
    if part.preamble is not None or part.epilogue is not None:
        return False
    pieces.extend(headers)
    pieces.append("\n")
    if isinstance(payload, list):
        boundary = part.get_boundary()
        # No boundary (or an empty one): the generator makes one and sets it on `part`.
        if not boundary or not payload or part.get_content_maintype() != "multipart":
            return False
        for number, child in enumerate(payload):
            pieces.append(f"\n--{boundary}\n" if number else f"--{boundary}\n")
            if not isinstance(child, Message) or not _written_as_it_is(child, pieces):
                return False
        pieces.append(f"\n--{boundary}--\n")
        return True
    if payload is None:
        return True
    if not isinstance(payload, str) or not payload.isascii():
        return False
    if part.get_content_maintype() in {"multipart", "message"}:
        return False
    lines = _LINE_BREAK.split(_FROM_LINE.sub(">From ", payload))
    pieces.append("\n".join(lines))
    return True
