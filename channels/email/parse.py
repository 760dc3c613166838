"""Hardened MIME parsing: raw RFC 5322 bytes in, a frozen `ParsedMail` out.

`parse_mail` never raises for bad input. Python's `email` package splits the MIME
structure; its `policy.default` header objects are not used, because they re-parse a
header on every access (six times slower on small mail) and raise from inside the
standard library on malformed encoded-words, addresses and ids. Instead every header
is read raw and decoded here, each step guarded with a fallback to the raw text; body
charsets fall back through utf-8 and windows-1256 (the common undeclared charset of
Persian and Arabic mail); HTML-only mail is turned into text with html2text. Problems
met on the way are listed in `ParsedMail.defects`.

What one mail may cost is bounded by `MailLimits`: the number of MIME parts (counted
while the structure is built, so a mail of 200,000 tiny parts stops at the limit), the
decoded size of all parts, and how much HTML is converted to text (html2text costs
about two seconds of CPU per megabyte). Over the first two, `MailOverLimits` is raised;
HTML over the budget is cut before it is converted.
"""

from __future__ import annotations

import codecs
import email
import email.feedparser
import email.header
import email.utils
import hashlib
import mimetypes
import re
import types
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import Message
from email.policy import Policy

import html2text

from channels.email.tnef import TnefFile, tnef_files
from router.core.email_addresses import canonical_address

# Charset labels mail clients send that Python's codec registry does not know.
_CHARSET_ALIASES = {
    "windows-1256": "cp1256",
    "x-mac-arabic": "mac_arabic",
    "iso-8859-6-i": "iso8859_6",
    "iso-8859-6-e": "iso8859_6",
    "iso-8859-8-i": "iso8859_8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gbk",
    "unicode-1-1-utf-7": "utf-7",
    "ansi_x3.4-1968": "ascii",
}
_ASCII = {"ascii", "us-ascii"}

_MSGID = re.compile(r"<([^<>\s]{1,250})>")
_BARE_MSGID = re.compile(r"[^<>\s,;@]{1,200}@[^<>\s,;@]{1,200}")  # bounded: linear time
# One character class on each side of "@": linear time on hostile input.
_ADDR_SPEC = re.compile(
    r"[^@\s\x00-\x1f\x7f<>()\[\],;:\"]{1,64}@[^@\s\x00-\x1f\x7f<>()\[\],;:\"]{1,255}"
)
# An RFC 2047 encoded word; RFC 2047 section 5 forbids one anywhere in an address.
_ENCODED_WORD = re.compile(r"=\?[^?\s]{1,75}\?[bq]\?[^?\s]{0,200}\?=", re.IGNORECASE)
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>])")
_BLANK_RUN = re.compile(r"\n{3,}")
_MD_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
# A raw 8-bit byte of a header, as the parser hands it on (surrogate-escaped).
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")

MAX_REFERENCES = 50
MAX_ID_LENGTH = 250
MAX_HEADER_CHARS = 32_768  # longer header values are cut: no legitimate header needs more


@dataclass(frozen=True, slots=True)
class MailLimits:
    """What one mail may cost to read; the settings' values in production."""

    max_parts: int = 100  # MIME entities, containers included
    max_decoded_bytes: int = 26_214_400  # all parts' decoded bytes together
    max_html_chars: int = 262_144  # HTML converted to text, over all HTML parts


class MailOverLimits(Exception):
    """The mail is over `MailLimits`; `kind` says which ("parts", "decoded_bytes")."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class MailAttachment:
    """One non-body MIME part (file, inline image, forwarded message)."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True, slots=True)
class BounceReport:
    """What a delivery-status notification says failed (RFC 3464)."""

    failed_recipients: tuple[str, ...]
    original_message_id: str | None = None  # the Message-ID of the mail that bounced
    diagnostic: str | None = None  # the remote server's answer, for agents
    permanent: bool = True  # 5.x.x status (or unknown); False for a 4.x.x delay report


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """Everything Pasokh reads from one message; all text already decoded.

    Message ids (`message_id`, `in_reply_to`, `references`) are bare, without angle
    brackets. Addresses are lower-cased addr-specs.
    """

    message_id: str | None
    sender: str | None
    sender_name: str | None
    subject: str
    body: str
    body_from_html: bool = False
    date: datetime | None = None
    reply_to: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    attachments: tuple[MailAttachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "text/plain"
    report_type: str | None = None
    bounce: BounceReport | None = None
    defects: tuple[str, ...] = ()
    # The From header names an address but no mail could ever reach it (`mail_address`).
    sender_unanswerable: bool = False

    def header(self, name: str) -> str | None:
        """The first decoded value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def has_header(self, name: str) -> bool:
        """Whether header `name` is present at all (even empty)."""
        wanted = name.lower()
        return any(key == wanted for key, _ in self.headers)

    def content_hash(self) -> str:
        """A stable digest of what the sender wrote, for dedupe without a Message-ID.

        Trace headers a relay adds (Received, Delivered-To) are left out, so a
        redelivery through another hop hashes the same.
        """
        digest = hashlib.sha256()
        for part in (self.sender or "", self.subject, self.body, *self.recipients):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        digest.update((self.header("date") or "").encode("utf-8", "surrogatepass"))
        for attachment in self.attachments:
            digest.update(hashlib.sha256(attachment.data).digest())
        return digest.hexdigest()


class _Defects:
    """Collects what went wrong while parsing, for `ParsedMail.defects`."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)


class _CountingFactory:
    """The parser's message factory: counts the parts it is asked for, stops over the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.made = 0

    def __call__(self, policy: Policy = policy.compat32) -> Message:
        self.made += 1
        if self.made > self.limit:
            raise MailOverLimits("parts", f"too many MIME parts (at most {self.limit} per message)")
        return _Part(policy)


class _Part(Message):
    """A part the parser made: its Content-Type is read once, not on each of the ~16
    times a mail's reading asks for it (each a walk of the part's headers). Parsed
    parts are never changed (a flattening may set a missing boundary, not the type)."""

    content_type_read: str | None = None


# The feed parser's pattern for a multipart's boundary line is the boundary (escaped)
# between these two (`email.feedparser.FeedParser._parsegen`; a test holds the standard
# library to it).
_BOUNDARY_OPEN = "(?P<sep>"
_BOUNDARY_CLOSE = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
# What follows the boundary, one pattern for every boundary (re's cache keeps it).
_AFTER_BOUNDARY = re.compile(_BOUNDARY_CLOSE[1:])
_ESCAPED_CHARACTER = re.compile(r"\\(.)", re.DOTALL)


class _BoundaryMatch:
    """The match of a boundary line, with the groups the feed parser reads."""

    __slots__ = ("_line", "_rest", "_separator")

    def __init__(self, line: str, separator: str, rest: re.Match[str]) -> None:
        self._line = line
        self._separator = separator
        self._rest = rest

    def group(self, name: int | str = 0) -> str | None:
        if name == 0:
            return self._line[: self._rest.end()]
        if name == "sep":
            return self._separator
        return self._rest.group(name)


class _BoundaryLine:
    """Matches a multipart's boundary line as the pattern the feed parser would compile
    for it: the boundary's characters, then `_AFTER_BOUNDARY` (a literal matches one way
    only, so the two steps match exactly what the one pattern matches)."""

    __slots__ = ("_separator",)

    def __init__(self, separator: str) -> None:
        self._separator = separator

    def match(self, line: str) -> _BoundaryMatch | None:
        if not line.startswith(self._separator):
            return None
        rest = _AFTER_BOUNDARY.match(line, len(self._separator))
        return None if rest is None else _BoundaryMatch(line, self._separator, rest)


class _BoundaryPatterns:
    """The `re` the feed parser's `_parsegen` sees in `_MailParser`. It compiles a
    pattern for each multipart's boundary, ~250 us of CPU a mail part here, and a
    boundary is unique to its mail, so re's cache never holds one: nearly every mail a
    mail client sends is multipart. A boundary's pattern becomes a `_BoundaryLine`;
    any other pattern (a later Python's other form) is compiled as before."""

    escape = staticmethod(re.escape)

    @staticmethod
    def compile(pattern: str) -> _BoundaryLine | re.Pattern[str]:
        if pattern.startswith(_BOUNDARY_OPEN) and pattern.endswith(_BOUNDARY_CLOSE):
            escaped = pattern[len(_BOUNDARY_OPEN) : -len(_BOUNDARY_CLOSE)]
            separator = _ESCAPED_CHARACTER.sub(r"\1", escaped)
            if re.escape(separator) == escaped:  # `escaped` is that literal text, exactly
                return _BoundaryLine(separator)
        return re.compile(pattern)


class _MailParser(email.feedparser.BytesFeedParser):
    """The standard library's bytes feed parser, its `_parsegen` (the same code) reading
    the `re` of `_BoundaryPatterns`."""

    _parsegen = types.FunctionType(
        vars(email.feedparser.FeedParser)["_parsegen"].__code__,
        {**vars(email.feedparser), "re": _BoundaryPatterns},
        "_parsegen",
    )


def _build(raw: bytes, max_parts: int) -> Message:
    factory = _CountingFactory(max_parts)
    parser = _MailParser(factory, policy=policy.compat32)
    factory.made = 0  # the parser tried the factory once to learn its signature
    parser.feed(raw)
    return parser.close()


def parse_mail(raw: bytes, limits: MailLimits = MailLimits()) -> ParsedMail:
    """Parse raw message bytes; never raises for malformed input.

    Raises:
        MailOverLimits: more parts, or more decoded bytes, than `limits` allow.
    """
    defects = _Defects()
    msg = _build(raw, limits.max_parts)
    for defect in getattr(msg, "defects", []):
        defects.add(type(defect).__name__)
    raw_headers = _raw_headers(msg, defects)
    headers = [(name, _decode_header_value(value, defects)) for name, value in raw_headers]
    header_map: dict[str, list[str]] = {}
    for key, value in headers:
        header_map.setdefault(key, []).append(value)
    # Addresses are read before encoded words are decoded (RFC 2047 forbids them in an
    # addr-spec): decoded first, a display name «=?utf-8?q?=3Cvictim=40example=2Ecom=3E?=»
    # would read as the sender's address, and providers let users choose their name.
    address_map: dict[str, list[str]] = {}
    for key, value in raw_headers:
        if key in _ADDRESS_HEADERS:
            address_map.setdefault(key, []).append(_eight_bit_decoded(value, defects))

    def first(name: str) -> str | None:
        values = header_map.get(name)
        return values[0] if values else None

    def first_address(name: str) -> str | None:
        values = address_map.get(name)
        return values[0] if values else None

    sender_name, sender = _first_mailbox(first_address("from"), defects)
    sender_unanswerable = sender is None and _names_an_address(first_address("from"))
    if sender is None:
        # A broken From: the Sender header, then Return-Path, name the mailbox.
        for fallback in ("sender", "return-path"):
            _, sender = _first_mailbox(first_address(fallback), defects)
            if sender is not None:
                break
    recipients: list[str] = []
    for name in ("to", "cc", "delivered-to", "x-original-to", "envelope-to"):
        for value in address_map.get(name, []):
            for address in _mailboxes(value):
                if address not in recipients:
                    recipients.append(address)

    budget = _Budget(limits)
    body_parts = _body_parts(msg)
    body, from_html = _body_text(body_parts, defects, budget)
    attachments = tuple(_attachments(msg, body_parts, defects, budget))
    body = drop_cid_placeholders(body, attachments)
    content_type = _safe_content_type(msg)
    report_type = None
    bounce = None
    if content_type == "multipart/report":
        report_type = (_safe_param(msg, "report-type") or "").lower() or None
        if report_type in DELIVERY_REPORT_TYPES:
            bounce = _bounce_report(msg, first_address("x-failed-recipients"), defects)
    elif first_address("x-failed-recipients"):
        bounce = BounceReport(
            failed_recipients=tuple(_mailboxes(first_address("x-failed-recipients") or "")),
            diagnostic=None,
        )

    return ParsedMail(
        message_id=_first_id(first("message-id")),
        sender=sender,
        sender_name=sender_name,
        subject=_clean_line(first("subject") or ""),
        body=body,
        body_from_html=from_html,
        date=_safe_date(first("date")),
        reply_to=tuple(_mailboxes(first_address("reply-to") or "")),
        recipients=tuple(recipients),
        in_reply_to=message_ids(" ".join(header_map.get("in-reply-to", []))),
        references=message_ids(" ".join(header_map.get("references", [])))[-MAX_REFERENCES:],
        attachments=attachments,
        headers=tuple(headers),
        content_type=content_type,
        report_type=report_type,
        bounce=bounce,
        defects=tuple(defects.items),
        sender_unanswerable=sender_unanswerable,
    )


# --- headers ---------------------------------------------------------------------------


# The headers whose addresses are read (`parse_mail`): from their values as sent.
_ADDRESS_HEADERS = frozenset(
    {
        "from",
        "sender",
        "return-path",
        "reply-to",
        "to",
        "cc",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "x-failed-recipients",
    }
)


def _raw_headers(msg: Message, defects: _Defects) -> list[tuple[str, str]]:
    """(lower-case name, unfolded value as sent: encoded words still encoded, 8-bit
    bytes still surrogate-escaped) pairs, in order; a bad header never raises."""
    result: list[tuple[str, str]] = []
    try:
        raw_items = list(msg.raw_items())
    except Exception:  # the stdlib gave up on the header block itself
        defects.add("unreadable header block")
        return result
    for name, raw_value in raw_items:
        value = str(raw_value)
        if len(value) > MAX_HEADER_CHARS:
            defects.add("oversized header cut")
            value = value[:MAX_HEADER_CHARS]
        unfolded = re.sub(r"\r?\n[ \t]", " ", value).strip()
        result.append((str(name).strip().lower()[:100], unfolded))
    return result


def _eight_bit_decoded(text: str, defects: _Defects) -> str:
    """`text` with raw 8-bit header bytes (they arrive surrogate-escaped) decoded."""
    # isascii() first: every header of most mail is ASCII, and the scan is per character.
    if not text.isascii() and _ESCAPED_BYTE.search(text):
        data = text.encode("utf-8", "surrogateescape")
        text = decode_bytes(data, None, defects)[0]
    return text


def _decode_header_value(raw: str, defects: _Defects) -> str:
    """RFC 2047 decoding of an unfolded value that survives bad charsets."""
    if "=?" not in raw:  # no encoded word (`decode_header` would hand it back as it is)
        return _eight_bit_decoded(raw, defects)
    try:
        parts = email.header.decode_header(raw)
        text = "".join(
            decode_bytes(chunk, charset, defects)[0] if isinstance(chunk, bytes) else chunk
            for chunk, charset in parts
        )
    except Exception:
        defects.add("malformed encoded-word")
        text = raw
    return _eight_bit_decoded(text, defects)


def _clean_line(value: str) -> str:
    """One line of printable text (control characters and newlines become spaces).

    NUL is left in: the router's ingest drops it from every channel's text, and logs
    and counts that it did (`router/core/storable_text.py`).
    """
    if value.isprintable():  # no Cc, Zl or Zp character: nothing to replace
        return " ".join(value.split())
    cleaned = "".join(
        " " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} and ch != "\x00" else ch
        for ch in value
    )
    return " ".join(cleaned.split())


# An address header as nearly every mail writes it: one plain address, bare or in angle
# brackets after a display name of plain words (encoded words included). For these
# `email.utils.getaddresses` gives (the words joined by one space, the address), ~40 us
# of CPU a header here; anything else (quotes, comments, groups, several addresses,
# other whitespace, folding) still goes to it.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_ADDRESS = rf"{_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*"
_NAME_WORD = r"[^\s\x00-\x1f\x7f()<>@,:;.\\\"\[\]]+"
_PLAIN_MAILBOX = re.compile(
    rf"[ \t]*(?:(?P<name>{_NAME_WORD}(?:[ \t]+{_NAME_WORD})*)?[ \t]*<(?P<bracketed>"
    rf"{_DOT_ATOM_ADDRESS})>|(?P<bare>{_DOT_ATOM_ADDRESS}))[ \t]*"
)


def _address_pairs(value: str) -> list[tuple[str, str]]:
    """`email.utils.getaddresses([value])`: (display name, address) pairs; raises as it does."""
    plain = _PLAIN_MAILBOX.fullmatch(value)
    if plain is None:
        return email.utils.getaddresses([value])
    if plain["bare"] is not None:
        return [("", plain["bare"])]
    return [(" ".join((plain["name"] or "").split()), plain["bracketed"])]


def _mailboxes(value: str | None) -> list[str]:
    """Valid addr-specs (lower-cased) in an address header; junk is skipped."""
    if not value:
        return []
    found: list[str] = []
    try:
        pairs = _address_pairs(value)
    except Exception:
        pairs = []
    for _, value_address in pairs:
        address = mail_address(value_address)
        if address is not None and address not in found:
            found.append(address)
    return found


def mail_address(value: str) -> str | None:
    """`value` as an addr-spec mail can be sent to (lower case), else None.

    The one rule for every address the channel reads or sends to: an address this
    refuses can never be answered, so it never becomes a customer's identity. Beyond
    the addr-spec's shape: no encoded word anywhere (RFC 2047 section 5 forbids them in
    an address; broken clients and attackers write `user@=?utf-8?b?...?=.test`, which no
    relay accepts and which Python's email package would decode into a different
    address), and a domain that is a host name, in A-labels (`xn--...`) or U-labels
    (`پشتیبانی.ir`). The address comes back in the one canonical form identities are
    keyed by (`router.core.email_addresses`): the domain in A-labels, so `پشتیبانی.ir`
    and `xn--mgbbf3b2fqpisd.ir` are one customer.
    """
    address = value.strip().strip("<>").lower()
    if not _ADDR_SPEC.fullmatch(address) or holds_encoded_word(address):
        return None
    return canonical_address(address)


def holds_encoded_word(value: str) -> bool:
    """Whether `value` holds an RFC 2047 encoded word (`=?charset?b?...?=`)."""
    return _ENCODED_WORD.search(value) is not None


def _names_an_address(value: str | None) -> bool:
    """Whether an address header holds something written as an address (an `@`)."""
    if not value:
        return False
    try:
        pairs = _address_pairs(value)
    except Exception:
        return "@" in value
    return any("@" in address for _, address in pairs)


def _first_mailbox(value: str | None, defects: _Defects) -> tuple[str | None, str | None]:
    """(display name, addr-spec) of the first mailbox of an address header."""
    if not value:
        return None, None
    try:
        pairs = _address_pairs(value)
    except Exception:
        pairs = []
    name: str | None = None
    for display, address in pairs:
        shown = _clean_line(_decode_header_value(display, defects)) or None
        name = name or shown
        mailbox = mail_address(address)
        if mailbox is not None:
            return shown, mailbox
    defects.add("unusable address header")
    return name, None


def message_ids(value: str | None) -> tuple[str, ...]:
    """Bare message ids from a Message-ID/In-Reply-To/References value, deduplicated."""
    if not value:
        return ()
    found = _MSGID.findall(value)
    if not found:
        found = [m for m in _BARE_MSGID.findall(value) if len(m) <= MAX_ID_LENGTH]
    unique: list[str] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return tuple(unique)


def _first_id(value: str | None) -> str | None:
    ids = message_ids(value)
    return ids[0] if ids else None


def _safe_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except Exception:
        return None
    return parsed if parsed.tzinfo is not None else None


def _safe_content_type(part: Message) -> str:
    if isinstance(part, _Part) and part.content_type_read is not None:
        return part.content_type_read
    try:
        content_type = part.get_content_type()
    except Exception:
        content_type = "application/octet-stream"
    if isinstance(part, _Part):
        part.content_type_read = content_type
    return content_type


def _safe_param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        value = email.utils.collapse_rfc2231_value(value)
    return str(value) if value is not None else None


# --- bodies ----------------------------------------------------------------------------


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = _safe_param(part, "name")
    return str(name) if name else None


def _is_body_text(part: Message) -> bool:
    ctype = _safe_content_type(part)
    if ctype not in {"text/plain", "text/html"}:
        return False
    return _disposition(part) != "attachment" and _filename(part) is None


def _children(part: Message) -> list[Message]:
    try:
        payload = part.get_payload()
    except Exception:
        return []
    if isinstance(payload, list):
        return [child for child in payload if isinstance(child, Message)]
    return []


def _body_parts(part: Message) -> list[Message]:
    """The text parts that make up what the sender wrote, in reading order."""
    ctype = _safe_content_type(part)
    if ctype.startswith("message/"):
        return []
    if part.is_multipart():
        children = _children(part)
        if not children:
            return []
        if ctype == "multipart/alternative":
            options = [_body_parts(child) for child in children]
            for parts in options:
                if parts and all(_safe_content_type(p) == "text/plain" for p in parts):
                    return parts
            return next((parts for parts in reversed(options) if parts), [])
        if ctype in {"multipart/related", "multipart/signed", "multipart/report"}:
            # The root part (related), the signed content, the human-readable report.
            return _body_parts(children[0])
        collected: list[Message] = []
        for child in children:
            collected.extend(_body_parts(child))
        return collected
    return [part] if _is_body_text(part) else []


def _payload_bytes(part: Message, defects: _Defects) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        defects.add("undecodable transfer encoding")
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    try:
        b"a".decode(name)  # refuses bytes-to-bytes codecs such as "hex" or "zlib"
    except UnicodeDecodeError:
        pass  # a text codec that cannot decode one lone byte (utf-16)
    except Exception:
        return None
    return name


def decode_bytes(data: bytes, charset: str | None, defects: _Defects) -> tuple[str, str]:
    """Decode text bytes: the declared charset if it fits, else utf-8, else windows-1256.

    Returns the text and the codec used.
    """
    declared = _codec(charset)
    if charset and declared is None:
        defects.add(f"unknown charset {charset[:40]!r}")
    if declared is not None and declared != "ascii":
        try:
            return data.decode(declared), declared
        except UnicodeError:
            defects.add(f"bytes not valid in declared charset {declared}")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeError:
        pass
    if declared is not None and declared != "ascii":
        try:
            return data.decode(declared, errors="replace"), declared
        except UnicodeError:
            pass
    # Undeclared 8-bit text from this region is windows-1256 far more often than not.
    return data.decode("cp1256", errors="replace"), "cp1256"


def html_to_text(html: str) -> str:
    """Readable plain text from customer HTML (links kept, images and styles dropped)."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_emphasis = True
    converter.ignore_images = True
    converter.ignore_tables = True
    converter.unicode_snob = True
    converter.protect_links = False
    try:
        text = converter.handle(html)
    except Exception:
        return _clean_block(re.sub(r"<[^>]*>", " ", html))
    # html2text writes Markdown (escapes, "# " headings); a customer's text is not.
    return _clean_block(_MD_ESCAPE.sub(r"\1", _MD_HEADING.sub("", text)))


def _clean_block(text: str) -> str:
    # NUL stays, as in `_clean_line`: ingest drops it, logs and counts it.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n")


class _Budget:
    """What is left of one mail's `MailLimits` while its parts are decoded."""

    def __init__(self, limits: MailLimits) -> None:
        self.limit = limits.max_decoded_bytes
        self.parts = limits.max_parts  # also the most files one winmail.dat unpacks to
        self.decoded = 0
        self.html_chars = limits.max_html_chars

    def count(self, data: bytes) -> bytes:
        self.decoded += len(data)
        if self.decoded > self.limit:
            raise MailOverLimits(
                "decoded_bytes",
                f"attachments too large (at most {self.limit} bytes decoded per message)",
            )
        return data

    def html(self, text: str, defects: _Defects) -> str:
        """The start of `text` that fits the HTML still to be converted."""
        if len(text) > self.html_chars:
            defects.add("HTML body too long: only its start is shown as text")
            text = text[: self.html_chars]
        self.html_chars -= len(text)
        return text


def _body_text(parts: list[Message], defects: _Defects, budget: _Budget) -> tuple[str, bool]:
    texts: list[str] = []
    from_html = False
    for part in parts:
        charset = _safe_param(part, "charset")
        data = budget.count(_payload_bytes(part, defects))
        text, _ = decode_bytes(data, charset, defects)
        if _safe_content_type(part) == "text/html":
            text = budget.html(text, defects)
            text = html_to_text(text) if text else ""
            from_html = True
        else:
            if (_safe_param(part, "format") or "").lower() == "flowed":
                delsp = (_safe_param(part, "delsp") or "").lower() == "yes"
                text = unflow(text, delsp=delsp)
            text = _clean_block(text)
        if text.strip():
            texts.append(text)
    return "\n\n".join(texts).strip(), from_html


def unflow(text: str, *, delsp: bool = False) -> str:
    """`format=flowed` text (RFC 3676) with its soft line breaks joined.

    A line ending in a space continues on the next line of the same quote depth. With
    `delsp=yes` that space was added by the sender's client and is dropped (Apple Mail
    sends it so). A space at the start of a line is stuffing and is removed. The
    signature separator `-- ` is never joined, and quoted lines keep their `>` marks,
    one space after them, for the quote splitter.
    """
    lines: list[str] = []
    open_line: tuple[int, str] | None = None  # (quote depth, text so far) of a flowed line
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        depth = len(raw) - len(raw.lstrip(">"))
        piece = raw[depth:]
        if piece.startswith(" "):
            piece = piece[1:]  # stuffing (unquoted) or the space after the marks
        if piece == "-- ":
            # The signature separator ends a paragraph and never flows itself.
            if open_line is not None:
                lines.append(_quoted(*open_line))
                open_line = None
            lines.append(_quoted(depth, piece))
            continue
        flowed = piece.endswith(" ")
        if flowed and delsp:
            piece = piece[:-1]
        if open_line is not None and open_line[0] == depth:
            piece = open_line[1] + piece
        elif open_line is not None:
            lines.append(_quoted(*open_line))  # a quote depth change ends a paragraph
        open_line = (depth, piece) if flowed else None
        if not flowed:
            lines.append(_quoted(depth, piece))
    if open_line is not None:
        lines.append(_quoted(*open_line))
    return "\n".join(lines)


def _quoted(depth: int, content: str) -> str:
    return f"{'>' * depth} {content}" if depth else content


# Apple Mail and Outlook write a `[cid:...]` placeholder into the plain text where an
# inline image sat; the image itself is one of the mail's attachments.
_CID_PLACEHOLDER = re.compile(r"\[cid:([^\]\s]{1,250})\]", re.IGNORECASE)


def drop_cid_placeholders(body: str, attachments: tuple[MailAttachment, ...]) -> str:
    """`body` without the `[cid:...]` placeholders of images the mail has as attachments
    (a Content-ID, or its part before `@`, as Apple writes it); a placeholder for an
    image that is not there is kept: it tells the agent something is missing."""
    ids: set[str] = set()
    for attachment in attachments:
        if attachment.content_id:
            content_id = attachment.content_id.lower()
            ids.update((content_id, content_id.partition("@")[0]))
    if not ids:
        return body

    def placeholder(match: re.Match[str]) -> str:
        return "" if match.group(1).lower() in ids else match.group(0)

    if not _CID_PLACEHOLDER.search(body):
        return body
    return _clean_block(_CID_PLACEHOLDER.sub(placeholder, body))


# --- attachments -----------------------------------------------------------------------


def _leaves(part: Message) -> Iterator[Message]:
    """Leaf parts; an attached message (message/*) counts as one leaf."""
    ctype = _safe_content_type(part)
    if part.is_multipart() and not ctype.startswith("message/"):
        for child in _children(part):
            yield from _leaves(child)
    else:
        yield part


def _part_bytes(part: Message, defects: _Defects) -> bytes:
    if _safe_content_type(part).startswith("message/") or part.is_multipart():
        children = _children(part)
        try:
            if len(children) == 1:
                return children[0].as_bytes(policy=policy.compat32)
            # message/delivery-status: blocks of fields separated by blank lines.
            return b"\n".join(child.as_bytes(policy=policy.compat32) for child in children)
        except Exception:
            defects.add("unserialisable attached message")
            return b""
    return _payload_bytes(part, defects)


def safe_filename(name: str | None, content_type: str, index: int) -> str:
    """A filename safe to show and to put in a header: no paths, controls or bidi tricks."""
    cleaned = ""
    if name:
        name = name.replace("\\", "/").rsplit("/", 1)[-1]
        cleaned = "".join(
            ch
            for ch in name
            if unicodedata.category(ch) not in {"Cc", "Cf", "Zl", "Zp"} or ch == "\u200c"
        ).strip(" .")
    if not cleaned and content_type in _REPORT_PART_NAMES:
        cleaned = _REPORT_PART_NAMES[content_type]
    if not cleaned:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        if content_type in {"message/rfc822", "message/global"}:
            extension = ".eml"
        cleaned = f"part-{index}{extension}"
    return cleaned[:200]


# Nameless parts of delivery and read reports (RFC 3464, 6533, 8098), named for what they
# hold rather than by the registry's extension (`.u8dsn`, `.u8msg`) or `.bin`.
_REPORT_PART_NAMES = {
    "message/delivery-status": "delivery-status.txt",
    "message/global-delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "message/global-disposition-notification": "disposition-notification.txt",
    "text/rfc822-headers": "returned-headers.txt",
    "message/rfc822-headers": "returned-headers.txt",
    "message/global-headers": "returned-headers.txt",
}


def _attachments(
    msg: Message, body_parts: list[Message], defects: _Defects, budget: _Budget
) -> Iterator[MailAttachment]:
    """The mail's attachments; the files of an Outlook `winmail.dat` in its place."""
    body_ids = {id(part) for part in body_parts}
    in_report = _safe_content_type(msg) == "multipart/report"
    index = 0
    for leaf in _leaves(msg):
        if id(leaf) in body_ids or (leaf is msg and not msg.is_multipart()):
            continue
        ctype = _safe_content_type(leaf)
        if ctype in {"text/plain", "text/html"} and _is_body_text(leaf):
            # An alternative rendering of the body we already took.
            continue
        content_id = None
        try:
            raw_cid = leaf.get("content-id")
            content_id = _first_id(str(raw_cid)) if raw_cid is not None else None
        except Exception:
            defects.add("malformed Content-ID")
        name = _filename(leaf)
        data = _part_bytes(leaf, defects)
        if ctype == "application/ms-tnef" or (name or "").lower() == "winmail.dat":
            packed = tnef_files(data, max_files=budget.parts)
            if packed is None:
                defects.add("unreadable TNEF (winmail.dat) kept as it came")
            elif packed:
                for file in packed:
                    index += 1
                    file_type = _tnef_type(file)
                    yield MailAttachment(
                        filename=safe_filename(file.filename, file_type, index),
                        content_type=file_type,
                        data=budget.count(file.data),
                    )
                continue
        if name is None and in_report and ctype in {"message/rfc822", "message/global"}:
            name = "returned-message.eml"
        index += 1
        yield MailAttachment(
            filename=safe_filename(name, ctype, index),
            content_type=ctype,
            data=budget.count(data),
            content_id=content_id,
            inline=_disposition(leaf) == "inline" or content_id is not None,
        )


_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,127}")


def _tnef_type(file: TnefFile) -> str:
    """The MIME type Outlook gave a packed file, else the one its name suggests."""
    given = (file.content_type or "").strip().lower()
    if _MIME_TYPE.fullmatch(given):
        return given
    return mimetypes.guess_type(file.filename)[0] or "application/octet-stream"


# --- bounces ---------------------------------------------------------------------------

_STATUS = re.compile(r"^\s*([245])\.\d{1,3}\.\d{1,3}")
# A report about internationalised (SMTPUTF8) mail is RFC 6533's "global" kind: the same
# fields in UTF-8, and the returned mail as message/global(-headers). Postfix sends it
# as report-type=delivery-status, other servers as global-delivery-status.
DELIVERY_REPORT_TYPES = frozenset({"delivery-status", "global-delivery-status"})
_STATUS_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_RETURNED_PARTS = frozenset(
    {
        "message/rfc822",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global",
        "message/global-headers",
    }
)
# RFC 6533 3: a "utf-8" address may write a character as \x{HEX}.
_EMBEDDED_CHAR = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


def _bounce_report(msg: Message, failed_header: str | None, defects: _Defects) -> BounceReport:
    failed: list[str] = list(_mailboxes(failed_header))
    original_id: str | None = None
    diagnostics: list[str] = []
    permanent = True
    for leaf in _leaves(msg):
        ctype = _safe_content_type(leaf)
        if ctype in _STATUS_PARTS:
            for block in _status_blocks(leaf, defects):
                action = block.get("action", "").lower()
                status = block.get("status", "")
                if action and action not in {"failed", "delayed"}:
                    continue  # "delivered", "relayed", "expanded": not a failure
                match = _STATUS.match(status)
                if (match and match.group(1) == "4") or action == "delayed":
                    permanent = False
                recipient = block.get("final-recipient") or block.get("original-recipient")
                if recipient:
                    address = _utf8_address(recipient.split(";", 1)[-1].strip())
                    for found in _mailboxes(address):
                        if found not in failed:
                            failed.append(found)
                code = block.get("diagnostic-code", "")
                detail = code.split(";", 1)[-1].strip() if code else status
                if detail:
                    diagnostics.append(" ".join(detail.split()))
        elif ctype in _RETURNED_PARTS:
            original_id = original_id or _returned_message_id(leaf, defects)
    return BounceReport(
        failed_recipients=tuple(failed),
        original_message_id=original_id,
        diagnostic="; ".join(diagnostics) or None,
        permanent=permanent,
    )


def _utf8_address(value: str) -> str:
    """An RFC 6533 "utf-8" address with its \\x{HEX} characters written out."""

    def character(match: re.Match[str]) -> str:
        code = int(match.group(1), 16)
        return chr(code) if code <= 0x10FFFF else match.group(0)

    return _EMBEDDED_CHAR.sub(character, value)


def _status_blocks(part: Message, defects: _Defects) -> list[dict[str, str]]:
    """Field blocks of a message/(global-)delivery-status part, names lower-cased."""
    text = decode_bytes(_part_bytes(part, defects), "utf-8", defects)[0]
    if not text.strip():
        # Some parsers leave the payload as a string instead of header blocks.
        raw = part.get_payload()
        text = raw if isinstance(raw, str) else ""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last_key: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last_key = {}, None
        elif line[0] in " \t" and last_key:
            current[last_key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            last_key = key.strip().lower()
            current[last_key] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _returned_message_id(part: Message, defects: _Defects) -> str | None:
    data = _part_bytes(part, defects)
    try:
        returned = email.message_from_bytes(data, policy=policy.compat32)
        value = returned.get("message-id")
    except Exception:
        return None
    return _first_id(str(value)) if value else None
