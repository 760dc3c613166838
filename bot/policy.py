"""The tier-0 bot: answers from the FAQ when sure, offers choices when unsure, hands off
otherwise, and asks "did this help?" after each answer.

It keeps no per-thread state: what it last offered is read back from the thread's
recent messages (its own texts are recognisable), so any process can answer any
thread and a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
    HELPED_RESOLUTION,
    Answer,
    Decision,
    GapKind,
    HandOff,
    KbSuggestion,
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
_REMINDER_KEYS = ("queued_reminder", "queued_reminder_nobody_available", "queued_reminder_opening")
# A placeholder as `re.escape` leaves it: `\{position\}`.
_PLACEHOLDER = re.compile(r"\\\{\w+\\\}")


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
        match_in_thread_from_phrasings: int = 5000,
    ) -> None:
        self._watcher = watcher
        self._match_in_thread_from = match_in_thread_from_phrasings
        self._texts = texts
        self._language_default = language_default
        self._thresholds = thresholds or Thresholds()
        # Its own reminders, in every language, with placeholders matching any words.
        self._reminders = tuple(
            re.compile(_PLACEHOLDER.sub(".+?", re.escape(template)), re.DOTALL)
            for key in _REMINDER_KEYS
            for template in texts.all_languages(key)
        )

    async def start(self) -> None:
        """Load the KB and start watching it for changes.

        Raises:
            KbError: the configured KB cannot be loaded.
        """
        await self._watcher.start()

    async def stop(self) -> None:
        """Stop watching the KB."""
        await self._watcher.stop()

    async def suggest(
        self, text: str, language: str | None, limit: int
    ) -> tuple[KbSuggestion, ...]:
        """The KB entries the matcher ranks highest for `text` (the bot's own matcher,
        no second one), with their answers in the customer's language: the one `text`
        is written in, else `language`, else the KB's default."""
        loaded = await self._watcher.ensure_loaded()
        result = await asyncio.to_thread(loaded.matcher.match, text, limit)
        wanted = detect_language(text) or language or loaded.kb.default_language
        found = []
        for candidate in result.candidates:
            entry = loaded.entries.get(candidate.entry_id)
            if entry is None or candidate.score <= 0:
                continue
            answer_language, answer = entry.answer_in(wanted, loaded.kb.default_language)
            found.append(
                KbSuggestion(
                    entry_id=entry.id,
                    question=entry.question_in(answer_language, loaded.kb.default_language),
                    answer=answer,
                    language=answer_language,
                    score=round(float(candidate.score), 3),
                )
            )
        return tuple(found)

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
        detected = detect_language(new.text)  # once: the reply's language and the match's
        language = self._language(ctx, new, loaded, detected)
        if ctx.status == "queued":
            return self._while_queued(ctx, new, language)
        decision = await self._respond(ctx, new, language, loaded, detected)
        return self._honest(decision, ctx.staffing)

    async def _respond(
        self,
        ctx: ThreadContext,
        new: MessageView,
        language: str,
        loaded: LoadedKb,
        detected: str | None,
    ) -> Decision:
        last_bot = _last_bot_message(ctx.recent)

        if last_bot is not None and self._asked_for_feedback(last_bot.text):
            feedback = self._feedback(new.text)
            if feedback is not None and last_bot.language:
                language = last_bot.language  # "ok" after a Persian answer: stay in Persian
            if feedback is True:
                return Resolve(HELPED_RESOLUTION, self._texts.get("resolved", language), language)
            if feedback is False:
                return HandOff(
                    reason="the bot's answer did not help",
                    tier=1,
                    text=self._texts.get("handoff_not_helped", language),
                    language=language,
                    previous_gap=await self._didnt_help(ctx.recent, last_bot, loaded),
                )
        if last_bot is not None and self._offered_choices(last_bot.text):
            offer = await self._offer(ctx.recent, loaded)
            chosen = self._chosen_suggestion(offer, new.text, loaded, language)
            if chosen is not None:
                return self._answer(chosen, language, loaded)
            decision = await self._new_question(new, language, loaded, detected)
            return replace(decision, previous_gap=self._not_taken(offer, last_bot))
        return await self._new_question(new, language, loaded, detected)

    async def _new_question(
        self, new: MessageView, language: str, loaded: LoadedKb, detected: str | None
    ) -> Answer | HandOff:
        if self._is_button(new.text, "talk_to_person") or self._is_button(new.text, "no"):
            return self._hand_off_on_request(language)
        # An embedding, or a match over a large KB, takes milliseconds: keep it off the
        # event loop. A small KB's match is quicker than handing it to a thread.
        if loaded.reranker is not None or (
            loaded.matcher.phrasing_count >= self._match_in_thread_from
        ):
            verdict = await asyncio.to_thread(
                decide,
                new.text,
                loaded.matcher,
                self._thresholds,
                loaded.reranker,
                language=detected,
            )
        else:
            verdict = decide(new.text, loaded.matcher, self._thresholds, language=detected)
        return self._decision(verdict, new.text, language, loaded)

    def _honest(self, decision: Decision, staffing: Staffing | None) -> Decision:
        """A hand-off promises a reply "soon" only when an agent is online to give it."""
        if not isinstance(decision, HandOff) or staffing is None or staffing.online > 0:
            return decision
        language = decision.language
        return replace(decision, text=self._texts.get("handoff_nobody_available", language))

    def queued_silence(self, text: str) -> Silent | None:
        """A queued customer's message that does not ask for a person waits silently for
        the agent, whatever the thread holds; None: it asks (see `_while_queued`)."""
        asks = self._is_button(text, "talk_to_person") or self._is_button(text, "no")
        if asks or triage(text).kind is MessageKind.HUMAN:
            return None
        return Silent("queued: the agent will read it")

    def _while_queued(self, ctx: ThreadContext, new: MessageView, language: str) -> Decision:
        """A queued customer asking for a person hears where they stand, at most once
        per `QUEUE_REMINDER_INTERVAL`; anything else waits silently for the agent."""
        silence = self.queued_silence(new.text)
        if silence is not None:
            return silence
        staffing = ctx.staffing
        if staffing is None or staffing.queue_position is None:
            return Silent("queued")
        since = new.created_at - QUEUE_REMINDER_INTERVAL
        if any(
            m.author is AuthorKind.BOT and m.created_at > since and self._is_reminder(m.text)
            for m in ctx.recent
        ):
            return Silent("queued: reminded recently")
        key = "queued_reminder" if staffing.online else "queued_reminder_nobody_available"
        position = localised_number(staffing.queue_position, language)
        at_opening = self._texts.get("queued_reminder_opening", language)
        return Answer(
            self._texts.get(key, language).replace("{position}", position),
            language=language,
            text_at_opening=at_opening.replace("{position}", position),
        )

    def _is_reminder(self, text: str) -> bool:
        return any(pattern.fullmatch(text) for pattern in self._reminders)

    def _decision(
        self, verdict: Verdict, text: str, language: str, loaded: LoadedKb
    ) -> Answer | HandOff:
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
                # A gap only if none is taken: recorded with the customer's next turn.
                return Answer(
                    self._texts.get("did_you_mean", language),
                    suggestions=(*questions, self._texts.get("talk_to_person", language)),
                    language=language,
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
    def _gap(verdict: Verdict, text: str, language: str | None) -> KnowledgeGap:
        best = verdict.match.best if verdict.match else None
        return KnowledgeGap(
            text=text,
            language=language,
            best_candidate=best.entry_id if best else None,
            score=round(verdict.match.confidence, 4) if verdict.match else 0.0,
        )

    def _language(
        self, ctx: ThreadContext, new: MessageView, loaded: LoadedKb, detected: str | None
    ) -> str:
        """The message's own language (`detected`), else the channel's/thread's, else
        the default."""
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

    async def _offer(self, recent: Sequence[MessageView], loaded: LoadedKb) -> _Offer | None:
        """The choices offered after the customer's last question, recomputed from it
        (the matcher is deterministic for a given KB); None without a question."""
        question = _last_customer_message(recent)
        if question is None:
            return None
        verdict = await asyncio.to_thread(
            decide, question.text, loaded.matcher, self._thresholds, loaded.reranker
        )
        by_id = loaded.entries
        offered = tuple(by_id[c.entry_id] for c in verdict.suggestions if c.entry_id in by_id)
        return _Offer(question, verdict, offered)

    def _chosen_suggestion(
        self, offer: _Offer | None, text: str, loaded: LoadedKb, language: str
    ) -> FaqEntry | None:
        """The entry the customer picked from `offer`: a tapped suggestion or its
        number ("2", «۲»)."""
        if offer is None:
            return None
        offered = offer.entries
        typed = normalise(text)
        if typed.isdigit() and 1 <= int(typed) <= len(offered):
            return offered[int(typed) - 1]
        for entry in offered:
            if typed == normalise(entry.question_in(language, loaded.kb.default_language)):
                return entry
            if any(typed == normalise(q) for qs in entry.questions.values() for q in qs):
                return entry
        return None

    def _not_taken(self, offer: _Offer | None, offered_in: MessageView) -> KnowledgeGap | None:
        """The question whose choices the customer passed over, as a gap."""
        if offer is None:
            return None
        gap = self._gap(offer.verdict, offer.question.text, offered_in.language)
        first = offer.entries[0].id if offer.entries else None
        return replace(gap, kind=GapKind.SUGGESTION_NOT_TAKEN, entry_given=first)

    async def _didnt_help(
        self, recent: Sequence[MessageView], answer: MessageView, loaded: LoadedKb
    ) -> KnowledgeGap | None:
        """The question `answer` answered, with the entry it gave, as a gap."""
        question = _answered_question(recent, self._offered_choices)
        if question is None:
            return None
        verdict = await asyncio.to_thread(
            decide, question.text, loaded.matcher, self._thresholds, loaded.reranker
        )
        given = next(
            (
                entry.id
                for entry in loaded.kb.entries
                if any(answer.text.startswith(text + PARAGRAPH) for text in entry.answers.values())
            ),
            None,
        )
        gap = self._gap(verdict, question.text, answer.language)
        return replace(gap, kind=GapKind.DIDNT_HELP, entry_given=given)


def _last_bot_message(recent: Sequence[MessageView]) -> MessageView | None:
    for message in reversed(recent):
        if message.author is AuthorKind.BOT:
            return message
        if message.author is AuthorKind.AGENT:
            return None
    return None


@dataclass(frozen=True, slots=True)
class _Offer:
    """The choices the bot offered for `question`."""

    question: MessageView
    verdict: Verdict
    entries: tuple[FaqEntry, ...]


def _answered_question(
    recent: Sequence[MessageView], offered_choices: Callable[[str], bool]
) -> MessageView | None:
    """The customer's question behind the bot's last message: the message before it,
    or, when that was a pick from offered choices, the question the choices were for."""
    last = len(recent) - 1
    while last >= 0 and recent[last].author is not AuthorKind.BOT:
        last -= 1
    earlier = list(recent[:last])
    for i in range(len(earlier) - 1, -1, -1):
        if earlier[i].author is not AuthorKind.CUSTOMER:
            continue
        before = earlier[i - 1] if i > 0 else None
        if before is not None and before.author is AuthorKind.BOT and offered_choices(before.text):
            return _last_customer_message(earlier[: i - 1]) or earlier[i]
        return earlier[i]
    return None


def _last_customer_message(recent: Sequence[MessageView]) -> MessageView | None:
    for message in reversed(recent):
        if message.author is AuthorKind.CUSTOMER:
            return message
    return None
