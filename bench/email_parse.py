"""How long the email channel's MIME parser takes on hostile mail, beside Python's own.

One command: `python bench/email_parse.py` (options: `--seed`, `--repeat`, `--only`).
It generates each kind of mail with a fixed seed (same bytes every run), then times, in
the same run and on the same bytes:

* `channels.email.parse.parse_mail` with the default `MailLimits` (what Pasokh runs on
  every inbound mail: structure, headers, body text, attachments, limits), and
* the baseline, `email.message_from_bytes(raw, policy=policy.default)`, which only
  builds the MIME tree (no header decoding, no body or attachment decoding, no limits).

and prints the median of `--repeat` runs of each, the ratio parse/baseline, and what
`parse_mail` made of the mail (parsed, or refused over its limits, which is the point
of the limits: a 20,000-part mail must stop early, not take the baseline's time).
"""

from __future__ import annotations

import argparse
import base64
import email
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from channels.email.parse import MailLimits, MailOverLimits, parse_mail

LIMITS = MailLimits()
PERSIAN = "سلام، سفارش شمارهٔ ۱۲۳۴ من هنوز نرسیده است. لطفاً پیگیری کنید. "
ARABIC = "مرحبا، لم يصل طلبي رقم ١٢٣٤ بعد. أرجو المتابعة. "


def _headers(subject: str = "=?utf-8?b?2LPZhNin2YU=?=", extra: str = "") -> str:
    return (
        "From: =?utf-8?b?2LPYp9ix2Kc=?= <sara@example.com>\r\n"
        "To: support@support.localhost\r\n"
        f"Subject: {subject}\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0330\r\n"
        "Message-ID: <bench-1@example.com>\r\n"
        f"{extra}"
        "MIME-Version: 1.0\r\n"
    )


def normal(rng: random.Random) -> bytes:
    """A ~2 KB Persian/Arabic text+HTML reply: the everyday case."""
    text = "".join(rng.choice((PERSIAN, ARABIC)) for _ in range(12))
    html = f'<html><body dir="rtl"><p>{text}</p><blockquote>quoted</blockquote></body></html>'
    return (
        _headers()
        + 'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        + f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        + f"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b--\r\n"
    ).encode()


def nested(rng: random.Random, depth: int) -> bytes:
    """Multiparts nested `depth` deep, one text part at the bottom."""
    opening = "".join(
        f'--n{i}\r\nContent-Type: multipart/mixed; boundary="n{i + 1}"\r\n\r\n'
        for i in range(depth)
    )
    closing = "".join(f"--n{i}--\r\n" for i in reversed(range(depth + 1)))
    leaf = f"--n{depth}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{PERSIAN}\r\n"
    return (
        _headers()
        + 'Content-Type: multipart/mixed; boundary="n0"\r\n\r\n'
        + opening
        + leaf
        + closing
    ).encode()


def many_parts(rng: random.Random, parts: int) -> bytes:
    """One multipart with `parts` tiny text parts."""
    body = "".join(
        f"--p\r\nContent-Type: text/plain\r\n\r\n{rng.randrange(10**6)}\r\n" for _ in range(parts)
    )
    return (
        _headers() + 'Content-Type: multipart/mixed; boundary="p"\r\n\r\n' + body + "--p--\r\n"
    ).encode()


def huge_headers(rng: random.Random, count: int) -> bytes:
    """`count` header fields, a folded 64 KB Received chain and a 2,000-word Subject."""
    extra = "".join(f"X-Trace-{i}: {rng.getrandbits(64):x}\r\n" for i in range(count))
    received = "Received: " + "\r\n\t".join(f"from relay{i}.example.net" for i in range(3000))
    words = " ".join(
        "=?utf-8?b?" + base64.b64encode(rng.choice((PERSIAN, ARABIC)).encode()).decode() + "?="
        for _ in range(2000)
    )
    return (
        _headers(subject=words, extra=extra + received + "\r\n")
        + "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + PERSIAN
        + "\r\n"
    ).encode()


def long_line(rng: random.Random, size: int) -> bytes:
    """One text body of a single `size`-byte line (no line break at all)."""
    chunk = "".join(rng.choice("abcdefghij سلام ") for _ in range(1000))
    line = (chunk * (size // len(chunk.encode()) + 1)).encode()[:size].decode(errors="ignore")
    return (_headers() + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + line + "\r\n").encode()


def base64_bomb(rng: random.Random, decoded: int) -> bytes:
    """An attachment of `decoded` bytes in base64 (more than the decoded budget: refused)."""
    data = rng.randbytes(decoded)
    encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return (
        _headers()
        + 'Content-Type: multipart/mixed; boundary="z"\r\n\r\n'
        + f"--z\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{PERSIAN}\r\n"
        + "--z\r\nContent-Type: application/octet-stream\r\n"
        + 'Content-Disposition: attachment; filename="big.bin"\r\n'
        + f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--z--\r\n"
    ).encode()


def html_bomb(rng: random.Random, size: int) -> bytes:
    """An HTML-only mail of `size` bytes of nested markup (cut to the HTML budget)."""
    cell = "<div><span><b>" + PERSIAN + "</b></span></div>"
    html = "<html><body>" + cell * (size // len(cell.encode())) + "</body></html>"
    return (_headers() + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n").encode()


KINDS: dict[str, tuple[str, Callable[[random.Random], bytes]]] = {
    "normal": ("text+HTML reply, fa/ar", normal),
    "nested-50": ("multiparts nested 50 deep", lambda rng: nested(rng, 50)),
    "nested-5000": ("multiparts nested 5,000 deep", lambda rng: nested(rng, 5000)),
    "parts-99": ("99 text parts", lambda rng: many_parts(rng, 98)),
    "parts-20k": ("20,000 text parts", lambda rng: many_parts(rng, 20_000)),
    "headers": (
        "5,000 fields, 3,000 Received, 2,000 encoded words",
        lambda r: huge_headers(r, 5000),
    ),
    "long-line": ("one 10 MB line", lambda rng: long_line(rng, 10_000_000)),
    "base64-20M": ("20 MB attachment in base64", lambda rng: base64_bomb(rng, 20_000_000)),
    "base64-30M": ("30 MB attachment (over 25 MB)", lambda rng: base64_bomb(rng, 30_000_000)),
    "html-5M": ("5 MB HTML only", lambda rng: html_bomb(rng, 5_000_000)),
}


def _median_ms(work: Callable[[bytes], object], raw: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work(raw)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _baseline(raw: bytes) -> str:
    try:
        email.message_from_bytes(raw, policy=policy.default)
    except Exception as exc:  # the standard library's own limits (recursion)
        return f"raised {type(exc).__name__}"
    return "parsed"


def _outcome(raw: bytes) -> str:
    try:
        mail = parse_mail(raw, LIMITS)
    except MailOverLimits as exc:
        return f"refused: {exc}"[:60]
    return f"parsed: {len(mail.body):,} chars, {len(mail.attachments)} files"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20261123, help="seed of the generated mail")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each (median shown)")
    parser.add_argument("--only", nargs="*", choices=sorted(KINDS), help="kinds to run")
    args = parser.parse_args()
    print(f"# {platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    print(f"# limits: {LIMITS}")
    print("| mail | bytes | parse_mail ms | baseline ms | ratio | parse_mail | baseline |")
    print("|---|---:|---:|---:|---:|---|---|")
    for name in args.only or KINDS:
        label, make = KINDS[name]
        raw = make(random.Random(args.seed))
        ours = _median_ms(_outcome, raw, args.repeat)
        base = _median_ms(_baseline, raw, args.repeat)
        print(
            f"| {name}: {label} | {len(raw):,} | {ours:,.1f} | {base:,.1f} | "
            f"{ours / base:.2f} | {_outcome(raw)} | {_baseline(raw)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
