"""Linking a customer's identities on proof, never on a claim: the public face of
`router.identity`, for the HTTP handlers and the composition root.

Where each part lives:
- `router.identity.identities`: identities of (channel, address), joining two customers
  once a proof says one person holds both, the site's signed-in user;
- `router.identity.proofs`: email codes, continue-in-chat tokens, Telegram link tokens,
  spending nonces, and the proofs an inbound message carries;
- `router.identity.dialogue`: the responder around the bot that speaks about them.

A claim without proof (an address typed into a chat) links nothing and reveals
nothing: the code goes to the address, and the answer is the same whether anybody
owns it or not. When a proof joins two customers, `router.identity.merge` makes them one.
"""

from __future__ import annotations

from router.core.texts import text
from router.identity.dialogue import IdentityDialogue, is_no, is_yes
from router.identity.identities import (
    EMAIL_CHANNEL,
    SITE_CHANNEL,
    WEBCHAT_CHANNEL,
    LinkOutcome,
    ProofRefused,
    RateLimited,
    ensure_identity,
    get_identity,
    has_verified_email,
    join,
    link_site_user,
    lock_identity,
    mail_can_be_sent,
    normalise_email,
    tokens_for,
)
from router.identity.proofs import (
    CODE_ATTEMPTS,
    CODE_TTL,
    CONTINUE_TTL,
    KIND_CODE,
    KIND_CONTINUE,
    KIND_TELEGRAM,
    SEND_WINDOW,
    SENDS_PER_ADDRESS,
    SENDS_PER_REQUESTER,
    TELEGRAM_CONFIRM_TTL,
    TELEGRAM_LINK_TTL,
    ContinueLink,
    InboundProof,
    answer_telegram_link,
    apply_inbound_proofs,
    consume_continue_token,
    consume_telegram_start,
    continue_link_maker,
    mask_codes,
    may_ask_for_email,
    normalise_code,
    peek_continue_token,
    pending_code,
    pending_telegram_link,
    request_email_code,
    spend_nonce,
    telegram_start_token,
    unproven_claims,
    verify_email_code,
)

# The name `router.http.identity_api` looks the Telegram adapter up by, until the web
# chat's HTTP surface asks the adapter itself.
TELEGRAM_CHANNEL = "telegram"

__all__ = [
    "CODE_ATTEMPTS",
    "CODE_TTL",
    "CONTINUE_TTL",
    "EMAIL_CHANNEL",
    "KIND_CODE",
    "KIND_CONTINUE",
    "KIND_TELEGRAM",
    "SENDS_PER_ADDRESS",
    "SENDS_PER_REQUESTER",
    "SEND_WINDOW",
    "SITE_CHANNEL",
    "TELEGRAM_CHANNEL",
    "TELEGRAM_CONFIRM_TTL",
    "TELEGRAM_LINK_TTL",
    "WEBCHAT_CHANNEL",
    "ContinueLink",
    "IdentityDialogue",
    "InboundProof",
    "LinkOutcome",
    "ProofRefused",
    "RateLimited",
    "answer_telegram_link",
    "apply_inbound_proofs",
    "consume_continue_token",
    "consume_telegram_start",
    "continue_link_maker",
    "ensure_identity",
    "get_identity",
    "has_verified_email",
    "is_no",
    "is_yes",
    "join",
    "link_site_user",
    "lock_identity",
    "mail_can_be_sent",
    "mask_codes",
    "may_ask_for_email",
    "normalise_code",
    "normalise_email",
    "peek_continue_token",
    "pending_code",
    "pending_telegram_link",
    "request_email_code",
    "spend_nonce",
    "telegram_start_token",
    "text",
    "tokens_for",
    "unproven_claims",
    "verify_email_code",
]
