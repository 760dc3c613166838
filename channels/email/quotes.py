"""Separate what a customer just wrote from the quoted history and the signature.

Works on plain text (HTML mail is converted first). Recognised, in English, Persian
and Arabic:

* reply headers: Gmail/Thunderbird/Apple "On <date>, <name> wrote:" (possibly wrapped
  over up to three lines), Persian "... نوشت:", Arabic "... كتب:" and Gmail's Arabic
  "... تمت كتابة ما يلي بواسطة ...:";
* Outlook blocks: "-----Original Message-----", an underscore rule, or a
  "From:/Sent:" (از:/ارسال شده:, من:/تاريخ الإرسال:/أرسل:) header block;
* a trailing run of ">" lines;
* a signature after "-- " and mobile footers ("Sent from my iPhone", Persian and
  Arabic variants).

Forwarded messages ("---- Forwarded message ----") are left alone: the forwarded
text is what the customer wants us to read. When stripping would leave nothing, the
whole text is kept as the new text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Bidi marks Gmail wraps around RTL quote headers, and ZWNJ-free comparison.
_MARKS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ufeff]")

# The end of a reply header; the colon is required so a customer's own sentence that
# ends in "wrote" / «نوشت» / «كتب» is never taken for one.
_WROTE = re.compile(
    r"(\b(wrote|schrieb|a\s+écrit|escribió|ha\s+scritto|schreef)"
    r"|نوشت|نوشته\s+است|كتب|كتبت|تمت\s+كتابة\s+ما\s+يلي\s+بواسطة.{0,200}?)\s*:\s*$",
    re.IGNORECASE,
)
_WROTE_START = re.compile(r"^\s*(on|am|le|el|il|op|در|في|فى|بتاريخ)\s", re.IGNORECASE)
_DIGIT_OR_AT = re.compile(r"[0-9۰-۹٠-٩@]")
_ORIGINAL = re.compile(
    r"^\s*(-{2,}\s*(original message|message d'origine|پیام اصلی|الرسالة الأصلية)\s*-{2,}"
    r"|_{10,})\s*$",
    re.IGNORECASE,
)
_FORWARDED = re.compile(
    r"^\s*-{2,}\s*(forwarded message|پیام هدایت\s*شده|پیام بازارسال\s*شده|رسالة مُعاد توجيهها"
    r"|الرسالة المعاد توجيهها)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FROM_FIELD = re.compile(r"^\s*[*]?\s*(from|از|من|de|von)\s*[*]?\s*:", re.IGNORECASE)
# The other fields of an Outlook header block, by kind.
_HEADER_FIELDS = (
    (
        "sent",
        re.compile(
            r"^\s*[*]?\s*(sent|date|ارسال[\s\u200c]*شده|تاریخ|تاريخ الإرسال|التاريخ|أرسل|أرسلت)"
            r"\s*[*]?\s*:",
            re.IGNORECASE,
        ),
    ),
    ("to", re.compile(r"^\s*[*]?\s*(to|cc|به|رونوشت|إلى|نسخة)\s*[*]?\s*:", re.IGNORECASE)),
    ("subject", re.compile(r"^\s*[*]?\s*(subject|موضوع|الموضوع)\s*[*]?\s*:", re.IGNORECASE)),
)
_SIGNATURE_RULE = re.compile(r"^(--|—|__)\s*$")
_DEVICE = (
    r"(iphone|ipad|android|samsung|galaxy|outlook|mail|yahoo"
    r"|آیفون|اندروید|گوشی|موبایل|جهاز|هاتف|جوال|الـ)"
)
_MOBILE_FOOTER = re.compile(
    r"^\s*(sent\s+(from|with)\s+(my\s+)?" + _DEVICE + r".*|get outlook for\b.*"
    r"|(ارسال|فرستاده)[\s\u200c]*شده[\s\u200c]*(از|با)\s.*" + _DEVICE + r".*"
    r"|(أُ?رسلت?|مرسل|تم\s*الإرسال)\s*من\s.*" + _DEVICE + r".*)$",
    re.IGNORECASE,
)
_RULE_LINE = re.compile(r"^\s*([-_*=]\s*){3,}$")


@dataclass(frozen=True, slots=True)
class QuoteSplit:
    """The customer's new text; what followed it; the signature (may be empty)."""

    new_text: str
    quoted: str
    signature: str


def split_reply(text: str) -> QuoteSplit:
    """Split `text` into new text, quoted history and signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _quote_start(lines)
    head, quoted = lines[:cut], lines[cut:]
    head, footer = _strip_signature(head)
    head = _trim(head)
    new_text = "\n".join(head).strip()
    if not new_text:
        # Nothing of their own above the quote (a bare forward, a top-quote reply
        # we misread): keep everything rather than lose the message.
        return QuoteSplit(new_text=text.strip(), quoted="", signature="")
    return QuoteSplit(
        new_text=new_text,
        quoted="\n".join(quoted).strip(),
        signature="\n".join(footer).strip(),
    )


def strip_quotes(text: str) -> str:
    """Just the new text of a reply."""
    return split_reply(text).new_text


def _plain(line: str) -> str:
    return _MARKS.sub("", line).strip()


def _quote_start(lines: list[str]) -> int:
    """Index of the first line of quoted history, or len(lines)."""
    quoted_tail = _quoted_tails(lines)
    for index, raw in enumerate(lines):
        line = _plain(raw)
        if not line:
            continue
        if _FORWARDED.match(line):
            return len(lines)  # a forward: everything below is the customer's content
        if _ORIGINAL.match(line):
            return index
        if _is_wrote_header(lines, index):
            return index
        if _FROM_FIELD.match(line) and _has_header_block(lines, index):
            return _include_rule_above(lines, index)
        if line.startswith(">") and quoted_tail[index]:
            return index
    return len(lines)


def _quoted_tails(lines: list[str]) -> list[bool]:
    """For each line: is every non-blank line from here on quoted (up to a signature)?

    One pass from the end, so a long quoted history costs linear time.
    """
    tails = [True] * (len(lines) + 1)
    for index in range(len(lines) - 1, -1, -1):
        line = _plain(lines[index])
        if not line or line.startswith(">"):
            tails[index] = tails[index + 1]
        else:
            tails[index] = bool(_SIGNATURE_RULE.match(line))
    return tails


def _is_wrote_header(lines: list[str], index: int) -> bool:
    line = _plain(lines[index])
    if not _WROTE_START.match(line) and not _DIGIT_OR_AT.search(line):
        return False
    # Clients wrap long headers: "On Thu, ... <\nname@example.com> wrote:".
    joined = line
    for count, follow in enumerate([None, *lines[index + 1 : index + 3]]):
        if follow is not None:
            if not _plain(follow):
                break
            joined += " " + _plain(follow)
        if _WROTE.search(joined) and (_WROTE_START.match(joined) or _DIGIT_OR_AT.search(joined)):
            return count == 0 or _WROTE_START.match(joined) is not None
    return False


def _has_header_block(lines: list[str], index: int) -> bool:
    """A From: line followed by the other fields of a mail header block.

    With an address on the From line, one more field (Sent/Date, To, Subject) is
    enough; without one it takes all three, so a customer writing "From: Tehran /
    To: Shiraz / Date: ..." about a shipment is not mistaken for a quote.
    """
    kinds = set()
    for follow in lines[index + 1 : index + 6]:
        line = _plain(follow)
        for kind, pattern in _HEADER_FIELDS:
            if pattern.match(line):
                kinds.add(kind)
    has_address = "@" in lines[index]
    return len(kinds) >= 3 or (has_address and len(kinds) >= 1)


def _include_rule_above(lines: list[str], index: int) -> int:
    """Outlook puts a rule (or an HTML <hr>, "* * *") above its header block."""
    probe = index - 1
    while probe >= 0 and not _plain(lines[probe]):
        probe -= 1
    if probe >= 0 and _RULE_LINE.match(_plain(lines[probe])):
        return probe
    return index


def _strip_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """Remove a "-- " signature block and mobile footers from the end."""
    for index in range(len(lines) - 1, -1, -1):
        raw = lines[index]
        if raw.rstrip("\n") == "-- " or _SIGNATURE_RULE.match(raw.strip()):
            # Only a short trailing block counts as a signature.
            if len(lines) - index <= 12:
                return lines[:index], lines[index:]
            break
    trimmed = list(lines)
    footer: list[str] = []
    while trimmed and (not _plain(trimmed[-1]) or _MOBILE_FOOTER.match(_plain(trimmed[-1]))):
        footer.insert(0, trimmed.pop())
    return trimmed, footer


def _trim(lines: list[str]) -> list[str]:
    """Drop trailing blank lines and rules left above a cut."""
    trimmed = list(lines)
    while trimmed and (not _plain(trimmed[-1]) or _RULE_LINE.match(_plain(trimmed[-1]))):
        trimmed.pop()
    return trimmed
