"""Everything the tier-0 bot says, in Persian, Arabic and English, overridable in config.

Overrides are a mapping `{text_key: {language: text}}` (from the `[bot.texts]` config
section); a key or language not given keeps the default below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

DEFAULT_TEXTS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "greeting": {
            "fa": "سلام! سؤالتان را بپرسید تا کمکتان کنم.",
            "ar": "مرحباً! اكتب سؤالك وسأساعدك.",
            "en": "Hello! Ask me your question and I'll help.",
        },
        "thanks": {
            "fa": "خواهش می‌کنم! اگر سؤال دیگری دارید، بپرسید.",
            "ar": "على الرحب والسعة! إذا كان لديك سؤال آخر فاسألني.",
            "en": "You're welcome! Ask me if there is anything else.",
        },
        "empty": {
            "fa": "لطفاً سؤالتان را بنویسید.",
            "ar": "من فضلك اكتب سؤالك.",
            "en": "Please type your question.",
        },
        "did_this_help": {
            "fa": "آیا این پاسخ کمکتان کرد؟",
            "ar": "هل أفادتك هذه الإجابة؟",
            "en": "Did this answer help?",
        },
        "yes": {
            "fa": "بله، ممنون",
            "ar": "نعم، شكراً",
            "en": "Yes, thanks",
        },
        "no": {
            "fa": "نه، با یک نفر صحبت کنم",
            "ar": "لا، أريد التحدث مع موظف",
            "en": "No, talk to a person",
        },
        "resolved": {
            "fa": "خوشحالیم که کمک کرد! هر وقت سؤالی داشتید، همین‌جا بپرسید.",
            "ar": "يسعدنا أننا ساعدناك! اسألنا هنا متى شئت.",
            "en": "Glad it helped! Ask here any time.",
        },
        "did_you_mean": {
            "fa": "منظورتان یکی از این‌هاست؟",
            "ar": "هل تقصد أحد هذه الأسئلة؟",
            "en": "Did you mean one of these?",
        },
        "talk_to_person": {
            "fa": "با یک نفر صحبت کنم",
            "ar": "أريد التحدث مع موظف",
            "en": "Talk to a person",
        },
        "handoff_unsure": {
            "fa": "پاسخ مطمئنی برای این سؤال ندارم؛ گفت‌وگو را به یکی از همکارانم می‌سپارم"
            " و به‌زودی پاسخ می‌دهند.",
            "ar": "ليست لدي إجابة أكيدة على هذا السؤال؛ سأحوّلك إلى أحد زملائي وسيرد عليك قريباً.",
            "en": "I'm not sure I have the right answer, so I'll get a person to help you."
            " Someone will reply soon.",
        },
        "handoff_requested": {
            "fa": "حتماً؛ گفت‌وگو را به یکی از همکارانم می‌سپارم و به‌زودی پاسخ می‌دهند.",
            "ar": "بالتأكيد؛ سأحوّلك إلى أحد زملائي وسيرد عليك قريباً.",
            "en": "Sure, I'll get a person to help you. Someone will reply soon.",
        },
        "handoff_not_helped": {
            "fa": "متأسفم که کمکی نکرد؛ یکی از همکارانم به‌زودی پاسخ می‌دهد.",
            "ar": "آسف لأن الإجابة لم تساعدك؛ سيرد عليك أحد زملائي قريباً.",
            "en": "Sorry that didn't help. A person will reply soon.",
        },
        # Handing off with no agent online (or none at all): no promise of "soon".
        "handoff_nobody_available": {
            "fa": "پیامتان به تیم پشتیبانی رسید. الان همکاری در دسترس نیست؛"
            " به‌محض اینکه کسی در دسترس باشد، همین‌جا پاسخ می‌دهیم.",
            "ar": "وصلت رسالتك إلى فريق الدعم. لا يوجد موظف متاح الآن؛ سنرد عليك هنا فور توفر أحد.",
            "en": "Your message has reached our team. Nobody is available right now;"
            " a person will answer here as soon as someone is.",
        },
        # A queued customer asking for a person again; {position} is their place in line.
        "queued_reminder": {
            "fa": "در صف انتظار هستید (نفر {position})؛ یکی از همکارانم همین‌جا پاسخ می‌دهد.",
            "ar": "أنت في قائمة الانتظار (رقم {position})؛ سيرد عليك أحد زملائي هنا.",
            "en": "You're in the queue (number {position}); a person will answer here.",
        },
        "queued_reminder_nobody_available": {
            "fa": "در صف انتظار هستید (نفر {position}). الان همکاری در دسترس نیست؛"
            " به‌محض اینکه کسی در دسترس باشد، همین‌جا پاسخ می‌دهیم.",
            "ar": "أنت في قائمة الانتظار (رقم {position}). لا يوجد موظف متاح الآن؛"
            " سنرد عليك هنا فور توفر أحد.",
            "en": "You're in the queue (number {position}). Nobody is available right now;"
            " a person will answer here as soon as someone is.",
        },
        # The same when a time can be named (closed, or nobody of the tier online): the
        # router's service-hours rule fills {when} with the next opening, written the
        # customer's way (router/service/dates.py).
        "queued_reminder_opening": {
            "fa": "در صف انتظار هستید (نفر {position}). الان همکاری در دسترس نیست؛"
            " از {when} همین‌جا پاسخ می‌دهیم.",
            "ar": "أنت في قائمة الانتظار (رقم {position}). لا يوجد موظف متاح الآن؛"
            " سنرد عليك هنا ابتداءً من {when}.",
            "en": "You're in the queue (number {position}). Nobody is available right now;"
            " a person will answer here from {when}.",
        },
        "handoff_after_answer": {
            "fa": "یکی از همکارانم هم پیگیری می‌کند.",
            "ar": "وسيتابع معك أحد زملائي أيضاً.",
            "en": "A person from our team will follow up too.",
        },
    }
)


@dataclass(frozen=True, slots=True)
class BotTexts:
    """The bot's texts; `get(key, lang)` falls back to the default language, then English."""

    texts: Mapping[str, Mapping[str, str]]
    fallback_language: str = "fa"

    @classmethod
    def with_overrides(
        cls,
        overrides: Mapping[str, Mapping[str, str]] | None,
        fallback_language: str = "fa",
    ) -> BotTexts:
        """Defaults with `overrides` merged in per key and language.

        Raises:
            ValueError: an override names a key the bot does not have (a config typo).
        """
        merged = {key: dict(by_lang) for key, by_lang in DEFAULT_TEXTS.items()}
        for key, by_lang in (overrides or {}).items():
            if key not in merged:
                known = ", ".join(sorted(merged))
                raise ValueError(f"unknown bot text {key!r}; known keys: {known}")
            merged[key].update({lang: text for lang, text in by_lang.items() if text})
        return cls(MappingProxyType(merged), fallback_language)

    def get(self, key: str, language: str | None) -> str:
        """The text `key` in `language` (or the fallback language, or English)."""
        by_lang = self.texts[key]
        for lang in (language, self.fallback_language, "en"):
            if lang is not None and lang in by_lang:
                return by_lang[lang]
        return next(iter(by_lang.values()))

    def all_languages(self, key: str) -> tuple[str, ...]:
        """Every language's version of `key` (to recognise the bot's own messages)."""
        return tuple(self.texts[key].values())
