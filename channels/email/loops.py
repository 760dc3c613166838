"""Recognise mail no one should answer: auto-replies, bounces, lists, null senders.

Such mail is stored (an agent may need it) but the bot never replies to it, which is
what breaks auto-reply ping-pong. The rules follow RFC 3834 (`Auto-Submitted`), RFC
3464 (delivery status reports), RFC 8098 (read receipts) and RFC 5965 (abuse
feedback reports), RFC 2369/2919 (`List-*`) and the de-facto headers of
Exchange (`X-Auto-Response-Suppress`) and older responders (`X-Autoreply`,
`X-Autorespond`, `Precedence`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from channels.email.parse import DELIVERY_REPORT_TYPES, ParsedMail


class MailKind(enum.StrEnum):
    HUMAN = "human"
    AUTO_REPLY = "auto-reply"
    BOUNCE = "bounce"
    LIST = "list"
    NULL_SENDER = "null-sender"
    OWN_MAIL = "own-mail"  # our own outbound mail came back to us
    REPORT = "report"  # a read receipt (MDN) or an abuse feedback report, not a person's words


@dataclass(frozen=True, slots=True)
class Classification:
    """What kind of mail this is and the header that said so."""

    kind: MailKind
    reason: str = ""

    @property
    def automated(self) -> bool:
        """Never answer this mail automatically."""
        return self.kind is not MailKind.HUMAN


_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_DAEMON_LOCALPARTS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post", "list-help")
# Machine-written reports other than delivery status (those are bounces): a read receipt
# (RFC 8098; Outlook sends one without `Auto-Submitted`) and an ARF abuse report (RFC 5965).
_REPORT_PARTS = ("message/disposition-notification", "message/feedback-report")


def classify(
    mail: ParsedMail,
    *,
    envelope_sender: str | None = None,
    own_addresses: frozenset[str] = frozenset(),
) -> Classification:
    """Classify `mail`; `envelope_sender` is SMTP MAIL FROM ("" for the null sender).

    Args:
        mail: the parsed message.
        envelope_sender: the SMTP envelope sender, when the mail came over SMTP.
        own_addresses: our own support addresses (lower-case), to catch mail loops.
    """
    if _is_bounce(mail):
        return Classification(MailKind.BOUNCE, _bounce_reason(mail))
    if envelope_sender is not None and envelope_sender.strip() in {"", "<>"}:
        return Classification(MailKind.NULL_SENDER, "MAIL FROM:<>")
    report = _report_reason(mail)
    if report is not None:
        return Classification(MailKind.REPORT, report)
    return_path = mail.header("return-path")
    if return_path is not None and return_path.strip() in {"<>", ""}:
        return Classification(MailKind.NULL_SENDER, "Return-Path: <>")
    auto_submitted = (mail.header("auto-submitted") or "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return Classification(MailKind.AUTO_REPLY, f"Auto-Submitted: {auto_submitted[:40]}")
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-response-suppress"):
        if mail.has_header(name):
            return Classification(MailKind.AUTO_REPLY, name)
    precedence = (mail.header("precedence") or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        kind = MailKind.LIST if precedence == "list" else MailKind.AUTO_REPLY
        return Classification(kind, f"Precedence: {precedence}")
    for name in _LIST_HEADERS:
        if mail.has_header(name):
            return Classification(MailKind.LIST, name)
    if mail.sender is None:
        return Classification(MailKind.NULL_SENDER, "no usable From address")
    if mail.sender in own_addresses or _base_address(mail.sender) in own_addresses:
        return Classification(MailKind.OWN_MAIL, "From is our own address")
    return Classification(MailKind.HUMAN)


def _is_bounce(mail: ParsedMail) -> bool:
    if mail.report_type in DELIVERY_REPORT_TYPES or mail.bounce is not None:
        return True
    local = (mail.sender or "").split("@", 1)[0]
    return local in _DAEMON_LOCALPARTS


def _report_reason(mail: ParsedMail) -> str | None:
    """Why `mail` is a machine's report (any `multipart/report`, or a report part
    inside another container); None for other mail."""
    if mail.content_type == "multipart/report":
        return f"multipart/report; report-type={mail.report_type or '?'}"
    for part in mail.attachments:
        if part.content_type in _REPORT_PARTS:
            return f"a {part.content_type} part"
    return None


def _bounce_reason(mail: ParsedMail) -> str:
    if mail.report_type in DELIVERY_REPORT_TYPES:
        return f"multipart/report; report-type={mail.report_type}"
    if mail.has_header("x-failed-recipients"):
        return "X-Failed-Recipients"
    return f"From: {mail.sender}"


def _base_address(address: str) -> str:
    """support+token@domain -> support@domain."""
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"
