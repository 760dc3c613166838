"""The tier-0 bot: answers from the FAQ when sure, offers choices when unsure, hands off
otherwise, and asks "did this help?" after each answer.

It keeps no per-thread state: what it last offered is read back from the thread's
recent messages (its own texts are recognisable), so any process can answer any
thread and a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from bot.texts import BotTexts
from faq.decide import Thresholds, Verdict, VerdictKind, decide
from faq.kb import FaqEntry
from faq.language import detect_language
from faq.normalise import normalise
from faq.reload import KbWatcher, LoadedKb
from faq.triage import MessageKind, triage, yes_or_no
from router.core.languages import localised_number
from router.core.messages import AuthorKind
from router.core.responder import (
    Answer,
    Decision,
    HandOff,
    KnowledgeGap,
    MessageView,
    Resolve,
    Silent,
    Staffing,
    ThreadContext,
)

logger = logging.getLogger(__name__)

PARAGRAPH = "\n\n"
# A queued customer who keeps asking for a person is told where they stand this often.
QUEUE_REMINDER_INTERVAL = timedelta(minutes=30)


class TierZeroBot:
    """The FAQ responder (implements `router.core.responder.Responder`)."""

    # Tells a queued customer who asks for a person where they stand (see respond).
    answers_queued_threads = True

    def __init__(
        self,
        *,
        watcher: KbWatcher,
        texts: BotTexts,
        language_default: str = "fa",
        thresholds: Thresholds | None = None,
    ) -> None:
        self._watcher = watcher
        self._texts = texts
        self._language_default = language_default
        self._thresholds = thresholds or Thresholds()

    async def start(self) -> None:
        """Load the KB and start watching it for changes.

        Raises:
            KbError: the configured KB cannot be loaded.
        """
        await self._watcher.start()

    async def stop(self) -> None:
        """Stop watching the KB."""
        await self._watcher.stop()

    @property
    def watcher(self) -> KbWatcher:
        """The KB holder (for `faq` tooling and tests)."""
        return self._watcher

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        """Decide the reply to `new` in the thread `ctx`.

        Args:
            ctx: the thread and its recent messages (oldest first, without `new`).
            new: the customer's new message.

        Returns:
            Answer, HandOff, Resolve, or Silent for automated mail.
        """
        if ctx.automated:
            return Silent("automated message")
        loaded = await self._watcher.ensure_loaded()
        language = self._language(ctx, new, loaded)
        if ctx.status == "queued":
            return self._while_queued(ctx, new, language)
        return self._honest(await self._respond(ctx, new, language, loaded), ctx.staffing)

    async def _respond(
        self, ctx: ThreadContext, new: MessageView, language: str, loaded: LoadedKb
    ) -> Decision:
        last_bot = _last_bot_message(ctx.recent)

        if last_bot is not None and self._asked_for_feedback(last_bot.text):
            feedback = self._feedback(new.text)
            if feedback is not None and last_bot.language:
                language = last_bot.language  # "ok" after a Persian answer: stay in Persian
            if feedback is True:
                return Resolve("bot_deflected", self._texts.get("resolved", language), language)
            if feedback is False:
                return HandOff(
                    reason="the bot's answer did not help",
                    tier=1,
                    text=self._texts.get("handoff_not_helped", language),
                    language=language,
                )
        if self._is_button(new.text, "talk_to_person") or self._is_button(new.text, "no"):
            return self._hand_off_on_request(language)

        if last_bot is not None and self._offered_choices(last_bot.text):
            chosen = await self._chosen_suggestion(ctx.recent, new.text, loaded, language)
            if chosen is not None:
                return self._answer(chosen, language, loaded)

        if loaded.reranker is None:
            verdict = decide(new.text, loaded.matcher, self._thresholds)
        else:  # an embedding takes milliseconds: keep it off the event loop
            verdict = await asyncio.to_thread(
                decide, new.text, loaded.matcher, self._thresholds, loaded.reranker
            )
        return self._decision(verdict, new.text, language, loaded)

    def _honest(self, decision: Decision, staffing: Staffing | None) -> Decision:
        """A hand-off promises a reply "soon" only when an agent is online to give it."""
        if not isinstance(decision, HandOff) or staffing is None or staffing.online > 0:
            return decision
        language = decision.language
        return replace(decision, text=self._texts.get("handoff_nobody_available", language))

    def _while_queued(self, ctx: ThreadContext, new: MessageView, language: str) -> Decision:
        """A queued customer asking for a person hears where they stand, at most once
        per `QUEUE_REMINDER_INTERVAL`; anything else waits silently for the agent."""
        staffing = ctx.staffing
        if staffing is None or staffing.queue_position is None:
            return Silent("queued")
        asks = self._is_button(new.text, "talk_to_person") or self._is_button(new.text, "no")
        if not asks:
            asks = triage(new.text).kind is MessageKind.HUMAN
        if not asks:
            return Silent("queued: the agent will read it")
        since = new.created_at - QUEUE_REMINDER_INTERVAL
        if any(
            m.author is AuthorKind.BOT and m.created_at > since and self._is_reminder(m.text)
            for m in ctx.recent
        ):
            return Silent("queued: reminded recently")
        key = "queued_reminder" if staffing.online else "queued_reminder_nobody_available"
        position = localised_number(staffing.queue_position, language)
        return Answer(
            self._texts.get(key, language).replace("{position}", position), language=language
        )

    def _is_reminder(self, text: str) -> bool:
        for key in ("queued_reminder", "queued_reminder_nobody_available"):
            for template in self._texts.all_languages(key):
                head, _, tail = template.partition("{position}")
                if text.startswith(head) and text.endswith(tail):
                    return True
        return False

    def _decision(self, verdict: Verdict, text: str, language: str, loaded: LoadedKb) -> Decision:
        by_id = loaded.entries
        match verdict.kind:
            case VerdictKind.HUMAN:
                return self._hand_off_on_request(language)
            case VerdictKind.GREETING:
                return Answer(self._texts.get("greeting", language), language=language)
            case VerdictKind.THANKS:
                return Answer(self._texts.get("thanks", language), language=language)
            case VerdictKind.EMPTY:
                return Answer(self._texts.get("empty", language), language=language)
            case VerdictKind.ANSWER:
                assert verdict.answer is not None
                return self._answer(by_id[verdict.answer.entry_id], language, loaded)
            case VerdictKind.SUGGEST:
                fallback = loaded.kb.default_language
                questions = tuple(
                    by_id[c.entry_id].question_in(language, fallback) for c in verdict.suggestions
                )
                return Answer(
                    self._texts.get("did_you_mean", language),
                    suggestions=(*questions, self._texts.get("talk_to_person", language)),
                    language=language,
                    gap=self._gap(verdict, text, language),
                )
        return HandOff(
            reason="no confident answer",
            tier=1,
            text=self._texts.get("handoff_unsure", language),
            language=language,
            gap=self._gap(verdict, text, language),
        )

    def _answer(self, entry: FaqEntry, language: str, loaded: LoadedKb) -> Answer:
        answer_language, text = entry.answer_in(language, loaded.kb.default_language)
        extra = entry.suggestions_in(answer_language, loaded.kb.default_language)
        if entry.handoff:
            return Answer(
                text + PARAGRAPH + self._texts.get("handoff_after_answer", answer_language),
                suggestions=extra,
                language=answer_language,
                handoff_tier=1,
                handoff_reason=f"FAQ entry {entry.id} hands off to a person",
            )
        return Answer(
            text + PARAGRAPH + self._texts.get("did_this_help", answer_language),
            suggestions=(
                self._texts.get("yes", answer_language),
                self._texts.get("no", answer_language),
                *extra,
            ),
            language=answer_language,
        )

    def _hand_off_on_request(self, language: str) -> HandOff:
        return HandOff(
            reason="customer asked for a person",
            tier=1,
            text=self._texts.get("handoff_requested", language),
            language=language,
        )

    @staticmethod
    def _gap(verdict: Verdict, text: str, language: str) -> KnowledgeGap:
        best = verdict.match.best if verdict.match else None
        return KnowledgeGap(
            text=text,
            language=language,
            best_candidate=best.entry_id if best else None,
            score=round(verdict.match.confidence, 4) if verdict.match else 0.0,
        )

    def _language(self, ctx: ThreadContext, new: MessageView, loaded: LoadedKb) -> str:
        """The message's own language, else the channel's/thread's, else the default."""
        detected = detect_language(new.text)
        if detected is not None:
            return detected
        for candidate in (new.language, ctx.language):
            if candidate:
                return candidate.split("-")[0].lower()
        for message in reversed(ctx.recent):
            if message.author is AuthorKind.CUSTOMER and (lang := detect_language(message.text)):
                return lang
        return loaded.kb.default_language or self._language_default

    def _asked_for_feedback(self, text: str) -> bool:
        return any(text.endswith(q) for q in self._texts.all_languages("did_this_help"))

    def _offered_choices(self, text: str) -> bool:
        return text in self._texts.all_languages("did_you_mean")

    def _is_button(self, text: str, key: str) -> bool:
        typed = normalise(text)
        return bool(typed) and any(typed == normalise(b) for b in self._texts.all_languages(key))

    def _feedback(self, text: str) -> bool | None:
        """True for "yes" (its button or a typed yes/thanks), False for "no", else None."""
        if self._is_button(text, "yes"):
            return True
        if self._is_button(text, "no") or self._is_button(text, "talk_to_person"):
            return False
        return yes_or_no(text)

    async def _chosen_suggestion(
        self, recent: Sequence[MessageView], text: str, loaded: LoadedKb, language: str
    ) -> FaqEntry | None:
        """The entry the customer picked from the choices offered after their last question.

        The choices are recomputed from that question (the matcher is deterministic for
        a given KB), so a tapped suggestion or its number ("2", «۲») selects it.
        """
        question = _last_customer_message(recent)
        if question is None:
            return None
        verdict = await asyncio.to_thread(
            decide, question.text, loaded.matcher, self._thresholds, loaded.reranker
        )
        by_id = loaded.entries
        offered = [by_id[c.entry_id] for c in verdict.suggestions if c.entry_id in by_id]
        typed = normalise(text)
        if typed.isdigit() and 1 <= int(typed) <= len(offered):
            return offered[int(typed) - 1]
        for entry in offered:
            if typed == normalise(entry.question_in(language, loaded.kb.default_language)):
                return entry
            if any(typed == normalise(q) for qs in entry.questions.values() for q in qs):
                return entry
        return None


def _last_bot_message(recent: Sequence[MessageView]) -> MessageView | None:
    for message in reversed(recent):
        if message.author is AuthorKind.BOT:
            return message
        if message.author is AuthorKind.AGENT:
            return None
    return None


def _last_customer_message(recent: Sequence[MessageView]) -> MessageView | None:
    for message in reversed(recent):
        if message.author is AuthorKind.CUSTOMER:
            return message
    return None
