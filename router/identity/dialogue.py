"""The identity dialogue: a responder around the bot that speaks for the router about
identity in a conversation.

The identity step of `ingest` (`router.identity.proofs`) records what a message proved
and hands it over as `ThreadContext.proof_step`; this responder puts it in words (the
code was sent, that code was wrong, "link this chat?"). It also asks for an email
address when the bot has just handed a chat to people and none is known
(`ThreadContext.may_ask_email`), so that the agent's answer can reach them by mail and
the histories join once the code is typed back. Everything else is the bot's turn.
"""

from __future__ import annotations

from config.settings import Settings
from router.core.languages import LANGUAGES
from router.core.responder import (
    Answer,
    Decision,
    HandOff,
    MessageView,
    ProofStep,
    Responder,
    RuleAround,
    SystemReply,
    ThreadContext,
)
from router.core.texts import CUSTOMER_TEXTS, ROUTER_TEXTS, TextCatalogue
from router.storage.models import ThreadStatus

# Explicit answers to "link this chat?": the buttons' texts and the bare words.
_YES = frozenset(
    {CUSTOMER_TEXTS["link_yes"][lang].casefold() for lang in LANGUAGES}
    | {"yes", "بله", "بلی", "آره", "نعم"}
)
_NO = frozenset(
    {CUSTOMER_TEXTS["link_no"][lang].casefold() for lang in LANGUAGES} | {"no", "نه", "خیر"}
)


def is_yes(answer: str, texts: TextCatalogue = ROUTER_TEXTS) -> bool:
    """An explicit yes: the yes button in any language (as `texts` word it), or the word."""
    word = _answer_word(answer)
    return word in _YES or word in _answer_words(texts.every_language("link_yes"))


def is_no(answer: str, texts: TextCatalogue = ROUTER_TEXTS) -> bool:
    """An explicit no: the no button in any language (as `texts` word it), or the word."""
    word = _answer_word(answer)
    return word in _NO or word in _answer_words(texts.every_language("link_no"))


def asks_to_link(text: str, texts: TextCatalogue = ROUTER_TEXTS) -> bool:
    """Whether `text` is the "link this chat?" question, in any language (as `texts`
    word it): a tap on a button under it answers that question, whatever the label."""
    return text.strip() in {asked.strip() for asked in texts.every_language("link_confirm")}


def _answer_word(answer: str) -> str:
    return answer.strip().casefold().rstrip(".!؟?")


def _answer_words(words: frozenset[str]) -> frozenset[str]:
    return frozenset(_answer_word(word) for word in words)


class IdentityDialogue(RuleAround):
    """Wraps the bot (`inner`): answers proof steps itself, asks for an email address
    after a hand-off, and leaves every other turn to `inner`."""

    def __init__(
        self, inner: Responder, *, default_language: str, texts: TextCatalogue = ROUTER_TEXTS
    ) -> None:
        self.inner = inner
        self._default_language = default_language
        self._texts = texts

    @classmethod
    def around(
        cls, inner: Responder, settings: Settings, texts: TextCatalogue = ROUTER_TEXTS
    ) -> IdentityDialogue:
        return cls(inner, default_language=settings.faq.default_language, texts=texts)

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        if ctx.proof_step is not None:
            return self._answer(ctx.proof_step, new.language)
        decision = await self.inner.respond(ctx, new)
        if ctx.may_ask_email and ctx.status == ThreadStatus.BOT and _hands_off(decision):
            assert not isinstance(decision, SystemReply)
            return SystemReply(
                self._texts.text("ask_email", new.language or "fa"),
                language=new.language,
                after=decision,
            )
        return decision

    def _answer(self, step: ProofStep, asked_in: str | None) -> SystemReply:
        language = asked_in or self._default_language
        values: dict[str, str] = {}
        suggestions: tuple[str, ...] = ()
        question_id: int | None = None
        if step.outcome == "wrong_code":
            values["left"] = str(step.remaining or 0)
        elif step.outcome == "code_sent":
            values = {"email": step.email or ""}
        elif step.outcome == "link_confirm":
            suggestions = (
                self._texts.text("link_yes", language),
                self._texts.text("link_no", language),
            )
            question_id = step.question_id  # the buttons answer this question, no other
        return SystemReply(
            self._texts.text(step.outcome, language, **values),
            suggestions,
            asked_in,
            link_question_id=question_id,
        )


def _hands_off(decision: Decision) -> bool:
    return isinstance(decision, HandOff) or (
        isinstance(decision, Answer) and decision.handoff_tier is not None
    )
