"""Bounces we can believe: a signed envelope sender (VERP) on every mail we send.

Each outbound mail leaves with `MAIL FROM:<local+b-<outbox id>-<mac>@domain>`, the
MAC (HMAC-SHA256, keyed with the server secret, domain-separated) covering the outbox
row *and* the recipient. A mail server that cannot deliver it sends its report to that
address, so a report arriving there names, verifiably, one mail and the one address it
went to — anyone else's report naming that address does not verify. The sub-address of
the support mailbox is used (not a separate `bounces@`) because a mail server that
forwards the support mailbox to Pasokh forwards its `+` addresses already (the reply
tokens rely on it too).

A report that comes to another address but returns one of our Message-IDs names its
outbox row too: that id is made from the row and signed (`render.outbound_message_id`),
known from the moment the row is written, so the report is matched even when it comes
back before the send is recorded. The router then accepts it only when that row went to
an address the report says failed. A report naming neither is passed on unverified; the
router still accepts it when the Message-ID it returns is one recorded as sent to the
failed address, and otherwise marks nothing.
"""

from __future__ import annotations

import re

from channels.email.parse import ParsedMail
from channels.email.render import our_mail_of
from channels.email.tokens import base36, compact_mac, token_candidates
from router.core.messages import DeliveryFailure
from router.core.security import PurposeKey, digests_match

_TOKEN = re.compile(r"b-([0-9a-z]{1,13})-([a-z2-7]{24})")


class BounceAddresses:
    """Makes and checks the signed envelope senders of outbound mail."""

    __slots__ = ("_key",)

    def __init__(self, secret: str | bytes) -> None:
        self._key = PurposeKey(secret, "email-bounce-address")

    def make(self, outbox_id: int, recipient: str) -> str:
        """The sub-address token for the mail of outbox row `outbox_id` to `recipient`."""
        if outbox_id < 0:
            raise ValueError("outbox ids are not negative")
        encoded = base36(outbox_id)
        return f"b-{encoded}-{self._mac(encoded, recipient)}"

    def address(self, outbox_id: int, recipient: str, support_address: str) -> str:
        """`local+<token>@domain` for the support address `local@domain`."""
        local, _, domain = support_address.partition("@")
        return f"{local.split('+', 1)[0]}+{self.make(outbox_id, recipient)}@{domain}"

    def verify(self, token: str, recipient: str) -> int | None:
        """The outbox row `token` was made for, if it was made for `recipient`."""
        match = _TOKEN.fullmatch(token.strip().lower())
        if match is None:
            return None
        encoded, mac = match.groups()
        if not digests_match(self._mac(encoded, recipient), mac):
            return None
        return int(encoded, 36)

    def _mac(self, encoded: str, recipient: str) -> str:
        return compact_mac(self._key, f"{encoded}:{recipient.strip().lower()}")


def delivery_failure(
    parsed: ParsedMail,
    *,
    rcpt_tos: tuple[str, ...],
    addresses: BounceAddresses,
    domains: tuple[str, ...],
    secret: str | bytes,
) -> DeliveryFailure | None:
    """What a bounce reports failed; `outbox_id` is set when a signed bounce address
    (in the envelope or the headers) verifies for a failed recipient, and then that
    recipient is the only one reported, or else when the returned Message-ID is one of
    ours (`secret` checks its MAC)."""
    bounce = parsed.bounce
    if bounce is None or not bounce.failed_recipients:
        return None
    failed = bounce.failed_recipients
    outbox_id: int | None = None
    for token in token_candidates((*rcpt_tos, *parsed.recipients), domains=domains):
        for recipient in bounce.failed_recipients:
            outbox_id = addresses.verify(token, recipient)
            if outbox_id is not None:
                failed = (recipient,)
                break
        if outbox_id is not None:
            break
    if outbox_id is None and bounce.original_message_id:
        ours = our_mail_of(bounce.original_message_id, secret=secret)
        outbox_id = ours.outbox_id if ours is not None else None
    return DeliveryFailure(
        addresses=failed,
        external_id=bounce.original_message_id,
        reason=bounce.diagnostic,
        permanent=bounce.permanent,
        outbox_id=outbox_id,
    )
