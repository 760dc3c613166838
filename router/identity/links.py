"""Linking a customer's identities on proof, never on a claim: the public face of
`router.identity`, for the HTTP handlers and the composition root.

Where each part lives:
- `router.identity.identities`: identities of (channel, address), joining two customers
  once a proof says one person holds both, the site's signed-in user;

Which channel carries mail and which holds browser visitors is the composition root's
to say (`AppContext.roles`); nothing here names a channel.
- `router.identity.proofs`: email codes, continue-in-chat tokens, chat link tokens (the
  widget's deep link into a chat app), spending nonces, and the proofs an inbound
  message carries;
- `router.identity.dialogue`: the responder around the bot that speaks about them.

A claim without proof (an address typed into a chat) links nothing and reveals
nothing: the code goes to the address, and the answer is the same whether anybody
owns it or not. When a proof joins two customers, `router.identity.merge` makes them one.
"""

from __future__ import annotations

from router.identity.dialogue import IdentityDialogue, asks_to_link, is_no, is_yes
from router.identity.identities import (
    SITE_USERS,
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
    CHAT_LINK_CONFIRM_TTL,
    CHAT_LINK_TTL,
    CODE_ATTEMPTS,
    CODE_TTL,
    CONTINUE_TTL,
    KIND_CHAT_LINK,
    KIND_CODE,
    KIND_CONTINUE,
    SEND_WINDOW,
    SENDS_PER_ADDRESS,
    SENDS_PER_REQUESTER,
    ContinueLink,
    InboundProof,
    answer_chat_link,
    apply_inbound_proofs,
    chat_link_token,
    consume_chat_link,
    consume_continue_token,
    continue_link_maker,
    mask_codes,
    may_ask_for_email,
    normalise_code,
    peek_continue_token,
    pending_chat_link,
    pending_code,
    request_email_code,
    spend_nonce,
    tap_on_link_question,
    unproven_claims,
    verify_email_code,
)

__all__ = [
    "CHAT_LINK_CONFIRM_TTL",
    "CHAT_LINK_TTL",
    "CODE_ATTEMPTS",
    "CODE_TTL",
    "CONTINUE_TTL",
    "KIND_CHAT_LINK",
    "KIND_CODE",
    "KIND_CONTINUE",
    "SENDS_PER_ADDRESS",
    "SENDS_PER_REQUESTER",
    "SEND_WINDOW",
    "SITE_USERS",
    "ContinueLink",
    "IdentityDialogue",
    "InboundProof",
    "LinkOutcome",
    "ProofRefused",
    "RateLimited",
    "answer_chat_link",
    "apply_inbound_proofs",
    "asks_to_link",
    "chat_link_token",
    "consume_chat_link",
    "consume_continue_token",
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
    "pending_chat_link",
    "pending_code",
    "request_email_code",
    "spend_nonce",
    "tap_on_link_question",
    "tokens_for",
    "unproven_claims",
    "verify_email_code",
]
