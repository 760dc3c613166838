"""The one form of an email address that identities are keyed by and mail is sent to.

One mailbox can be written several ways. Mail clients and downgrading mail servers
write an internationalised domain as U-labels (`مثال.ایران`) or as A-labels
(`xn--mgbh0fb.xn--mgba3a4f16a`), and a local part can come in any Unicode
normalisation form. If the address as written were the key, one person would become
two customers. The canonical form is:

- the domain in A-labels, by IDNA 2008 with the UTS 46 mapping (the `idna` package).
  It is ASCII, it is what DNS and every relay take, and an ASCII local part at such a
  domain then needs no SMTPUTF8 at all. Python's own `encodings.idna` is IDNA 2003, and
  it gives Persian names another domain: it deletes the zero-width non-joiner (U+200C)
  that IDNA 2008 keeps (`می‌خواهم.ir` would be mailed at `xn--mgbn2ecje63g.ir`, another
  name), and it maps `ß` to `ss`. IDNA 2003 is used only for a U-label that IDNA 2008
  refuses but older registrations still use (symbols such as `☃`). It gives the same
  A-label that such a sender's client writes, and an A-label as received is kept.
- the local part lower-cased (as it always was) and in Unicode NFC.

People are shown the other form (`shown_address`): the domain in U-labels, as the
customer wrote it, decoded by the same IDNA 2008 rules. A label that does not decode
to one that encodes back the same, or that mixes Latin letters with another script's
(a look-alike: Cyrillic «а» in «pаypal»), is shown as stored, so an agent is not
shown a forgery of a familiar name. What agents type in a search goes the other way
(`stored_form`), so either form finds the address.
"""

from __future__ import annotations

import re
import unicodedata

import idna

# One label of a host name in A-labels: letters, digits, hyphens inside (RFC 5321's
# sub-domain); an underscore is let through, as Postfix does, since real senders have one.
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# The label separators UTS 46 and IDNA 2003 accept: full stop, ideographic and full-width ones.
_DOTS = re.compile("[.\u3002\uff0e\uff61]")


def a_labels(domain: str) -> str | None:
    """The host name `domain` in A-labels (`xn--...`), lower case; None when it is no
    host name (a label that is not letters, digits and hyphens, nor a valid U-label)."""
    labels: list[str] = []
    for label in _DOTS.split(domain.lower()):
        if label.isascii() and not label.startswith("xn--"):
            labels.append(label)
            continue
        labels.append(_a_label(label) or "")
    name = ".".join(labels)
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return name


def _a_label(label: str) -> str | None:
    try:
        return idna.encode(label, uts46=True).decode("ascii")
    except idna.IDNAError:
        pass
    if label.isascii():
        return label  # an A-label registered under IDNA 2003: it still resolves
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def canonical_address(address: str) -> str | None:
    """`address` (`local@domain`) in the canonical form (see the module), or None when it
    has no `@` or its domain is no host name. The caller checks the rest of its shape."""
    local, at, domain = address.strip().rpartition("@")
    host = a_labels(domain.removesuffix(".")) if at else None
    if host is None:
        return None
    return f"{unicodedata.normalize('NFC', local.lower())}@{host}"


def _u_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        shown = idna.decode(label)
        if idna.encode(shown, uts46=True).decode("ascii") != label:
            return label
    except (idna.IDNAError, UnicodeError):
        return label  # an IDNA 2003 label (a symbol) or a broken one: as stored
    scripts = {unicodedata.name(c, "?").split()[0] for c in shown if c.isalpha()}
    return label if "LATIN" in scripts and len(scripts) > 1 else shown


def shown_address(address: str) -> str:
    """A stored address as people are shown it: its domain's A-labels in Unicode (see
    the module); the local part, and anything that is no `local@domain`, as stored."""
    local, at, domain = address.rpartition("@")
    if not at or "xn--" not in domain:
        return address
    return f"{local}@{'.'.join(_u_label(label) for label in domain.split('.'))}"


def stored_form(text: str) -> str | None:
    """An address or host name typed with a domain in U-labels (`کاربر@مثال.ایران`,
    `مثال.ایران`), as it is stored (`canonical_address`, `a_labels`), for finding it;
    None when `text` is neither, or is stored as typed."""
    text = text.strip()
    if text.isascii() or any(c.isspace() for c in text):
        return None
    stored = canonical_address(text) if "@" in text else a_labels(text.removesuffix("."))
    return stored if stored is not None and stored != text.lower() else None
