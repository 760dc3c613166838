"""Everything the router itself says to customers, in Persian, Arabic and English,
and how an installation overrides any customer-facing text.

The bot's answers are in `bot/texts.py` and the email channel's chrome in
`channels/email/render.py`; these are the router's own: the identity dialogue (codes,
links), the line a customer sees when an agent takes their thread, how canned responses
address an unnamed customer, and the continue-in-chat page.

An installation overrides any of these catalogues with one file (`[texts] overrides`,
TOML or YAML, `{language: {key: text}}`), checked at start by `read_overrides`: an
unknown language or key, or a text whose `{placeholders}` differ from the original's,
refuses to start with a `TextOverrideError` naming it (docs/texts.md).
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from config.settings import SettingsError
from router.core.languages import LANGUAGES

# {key: {language: text}}
TextTable = Mapping[str, Mapping[str, str]]

CUSTOMER_TEXTS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "code_mail": {
            "fa": "کد تأیید شما: {code}\n\nاین کد را در همان گفتگو وارد کنید. تا ۱۰ دقیقه "
            "معتبر است. اگر شما آن را نخواسته‌اید، این نامه را نادیده بگیرید.",
            "ar": "رمز التحقق الخاص بك: {code}\n\nأدخل هذا الرمز في المحادثة نفسها. "
            "صالح لمدة ١٠ دقائق. إذا لم تطلبه فتجاهل هذه الرسالة.",
            "en": "Your verification code: {code}\n\nType it into the same conversation. It is "
            "valid for 10 minutes. If you did not ask for it, ignore this mail.",
        },
        "outreach_opted_out": {
            "fa": "دیگر پیام یادآوری و اطلاع‌رسانی برایتان نمی‌فرستیم. اگر سؤالی داشتید، "
            "همین‌جا بنویسید؛ پاسخ می‌دهیم.",
            "ar": "لن نرسل إليك رسائل تذكير أو إشعارات بعد الآن. إذا كان لديك سؤال فاكتبه "
            "هنا وسنجيبك.",
            "en": "You will get no more reminders or announcements from us. If you have a "
            "question, write it here and we will answer.",
        },
        "outreach_unsubscribed_page": {
            "fa": "اشتراک شما لغو شد: دیگر پیام یادآوری و اطلاع‌رسانی برایتان نمی‌فرستیم.",
            "ar": "تم إلغاء اشتراكك: لن نرسل إليك رسائل تذكير أو إشعارات بعد الآن.",
            "en": "You are unsubscribed: you will get no more reminders or announcements.",
        },
        "outreach_unsubscribe_button": {
            "fa": "لغو اشتراک",
            "ar": "إلغاء الاشتراك",
            "en": "Unsubscribe",
        },
        "code_subject": {
            "fa": "کد تأیید نشانی ایمیل",
            "ar": "رمز التحقق من البريد الإلكتروني",
            "en": "Your email verification code",
        },
        "code_sent": {
            "fa": "کدی شش‌رقمی به {email} فرستادیم؛ آن را همین‌جا بنویسید.",
            "ar": "أرسلنا رمزًا من ستة أرقام إلى {email}؛ اكتبه هنا.",
            "en": "We sent a six-digit code to {email}; type it here.",
        },
        "verified": {
            "fa": "ایمیل شما تأیید شد؛ گفتگوهای قبلی‌تان اینجا هستند.",
            "ar": "تم التحقق من بريدك الإلكتروني؛ محادثاتك السابقة هنا.",
            "en": "Your email is verified; your earlier conversations are here.",
        },
        "wrong_code": {
            "fa": "کد درست نیست. {left} بار دیگر می‌توانید امتحان کنید.",
            "ar": "الرمز غير صحيح. يمكنك المحاولة {left} مرات أخرى.",
            "en": "That code is not right. {left} tries left.",
        },
        "locked": {
            "fa": "تعداد تلاش‌ها تمام شد؛ کد تازه‌ای بخواهید.",
            "ar": "انتهت المحاولات؛ اطلب رمزًا جديدًا.",
            "en": "Too many wrong codes; ask for a new one.",
        },
        "linked": {
            "fa": "این گفتگو به گفتگوی شما در سایت پیوست؛ همین‌جا ادامه دهید.",
            "ar": "رُبطت هذه المحادثة بمحادثتك على الموقع؛ تابع هنا.",
            "en": "This chat is now linked to your conversation on the website; continue here.",
        },
        "ask_email": {
            "fa": "اگر نشانی ایمیلتان را همین‌جا بنویسید، با یک کد تأیید گفتگوهای قبلی‌تان هم "
            "به همین گفتگو می‌پیوندند و پاسخ را به ایمیل هم می‌توانیم بفرستیم.",
            "ar": "إذا كتبت عنوان بريدك الإلكتروني هنا، فبرمز تحقق تنضم محادثاتك السابقة إلى هذه "
            "المحادثة ويمكننا الرد عبر البريد أيضًا.",
            "en": "If you type your email address here, a verification code joins your earlier "
            "conversations to this one, and we can also answer by email.",
        },
        # A hand-off nobody can answer now (closed, or nobody online): when a person will,
        # `{when}` written the customer's way (router/service/dates.py).
        "handoff_opening": {
            "fa": "پیامتان به تیم پشتیبانی رسید. الان همکاری در دسترس نیست؛"
            " از {when} همین‌جا پاسخ می‌دهیم.",
            "ar": "وصلت رسالتك إلى فريق الدعم. لا يوجد موظف متاح الآن؛"
            " سنرد عليك هنا ابتداءً من {when}.",
            "en": "Your message has reached our team. Nobody is available right now;"
            " a person will answer here from {when}.",
        },
        # The same when no time can honestly be named (no agent, or the hours never open).
        "handoff_no_opening": {
            "fa": "پیامتان به تیم پشتیبانی رسید؛"
            " به‌محض اینکه کسی در دسترس باشد، همین‌جا پاسخ می‌دهیم.",
            "ar": "وصلت رسالتك إلى فريق الدعم؛ سنرد عليك هنا فور توفر أحد.",
            "en": "Your message has reached our team; a person will answer here as soon as"
            " someone is available.",
        },
        # The team's status in the widget's header: a person answers now; nobody does,
        # until {when} (the next opening, written the customer's way); nobody does and no
        # time can be named (no agent, no hours).
        "team_online": {
            "fa": "پشتیبانی آنلاین است",
            "ar": "فريق الدعم متصل الآن",
            "en": "We're online",
        },
        "team_away_until": {
            "fa": "تا {when} در دسترس نیستیم",
            "ar": "غير متاحين حتى {when}",
            "en": "Away until {when}",
        },
        "team_away": {
            "fa": "الان در دسترس نیستیم؛ پیامتان را بگذارید",
            "ar": "لسنا متاحين الآن؛ اترك رسالتك",
            "en": "Away right now; leave us a message",
        },
        "address_saved": {
            "fa": "ممنون؛ شماره‌تان ثبت شد.",
            "ar": "شكرًا؛ تم حفظ رقمك.",
            "en": "Thank you; your number is saved.",
        },
        "link_confirm": {
            "fa": "پیوندی را باز کردید که این گفتگوی تلگرام را به یک گفتگو در وب‌سایت ما وصل "
            "می‌کند. اگر «بله» بگویید، پیام‌های اینجا و آنجا یک گفتگو می‌شوند و در هر دو دیده "
            "می‌شوند. فقط اگر این پیوند را خودتان در وب‌سایت خواسته‌اید، «بله» بگویید.",
            "ar": "فتحت رابطًا يربط محادثة تيليجرام هذه بمحادثة على موقعنا. إذا أجبت «نعم» "
            "تصبح رسائلك هنا وهناك محادثة واحدة تظهر في الجهتين. أجب «نعم» فقط إذا طلبت هذا "
            "الرابط بنفسك على الموقع.",
            "en": "You opened a link that joins this Telegram chat to a conversation on our "
            "website. If you say yes, your messages here and there become one conversation, "
            "visible in both. Say yes only if you asked for this link on the website yourself.",
        },
        "link_yes": {
            "fa": "بله، وصل کن",
            "ar": "نعم، اربطهما",
            "en": "Yes, link them",
        },
        "link_no": {
            "fa": "نه",
            "ar": "لا",
            "en": "No",
        },
        "link_declined": {
            "fa": "چیزی وصل نشد؛ این گفتگو جدا می‌ماند.",
            "ar": "لم يُربط شيء؛ تبقى هذه المحادثة منفصلة.",
            "en": "Nothing was linked; this chat stays separate.",
        },
        "link_refused": {
            "fa": "این پیوند معتبر نیست یا منقضی شده است.",
            "ar": "هذا الرابط غير صالح أو منتهي الصلاحية.",
            "en": "This link is not valid or has expired.",
        },
        # A tap on "link this chat?" once it is answered or replaced (a chat app's short
        # notice under the button; the tap is no message).
        "link_question_closed": {
            "fa": "به این پرسش قبلاً پاسخ داده شده است؛ چیزی تغییر نکرد.",
            "ar": "تمت الإجابة عن هذا السؤال من قبل؛ لم يتغير شيء.",
            "en": "This question was already answered; nothing was changed.",
        },
        # A tap under an older "link this chat?" question while a newer one is open.
        "link_question_replaced": {
            "fa": "پرسش تازه‌تری جای این پرسش را گرفته است؛ چیزی تغییر نکرد.",
            "ar": "حلّ محلّ هذا السؤال سؤال أحدث؛ لم يتغير شيء.",
            "en": "A newer question replaced this one; nothing was changed.",
        },
        # What the customer is told when an agent takes their thread ({agent_name}).
        "agent_joined": {
            "fa": "{agent_name} از تیم پشتیبانی اکنون همراه شماست.",
            "ar": "{agent_name} من فريق الدعم معك الآن.",
            "en": "{agent_name} from our support team is with you now.",
        },
        # Satisfaction surveys after a resolution (router/service/surveys.py).
        "survey_csat_ask": {
            "fa": "گفتگوی ما چطور بود؟ لطفاً از ۱ تا ۵ امتیاز دهید.",
            "ar": "كيف كانت خدمتنا؟ قيّمها من ١ إلى ٥ من فضلك.",
            "en": "How did we do? Please rate this conversation from 1 to 5.",
        },
        "survey_nps_ask": {
            "fa": "چقدر احتمال دارد ما را به دوست یا همکارتان پیشنهاد کنید؟"
            " از ۰ (اصلاً) تا ۱۰ (حتماً).",
            "ar": "ما مدى احتمال أن توصي بنا لصديق أو زميل؟ من ٠ (مستبعد تمامًا) إلى ١٠ (بالتأكيد).",
            "en": "How likely are you to recommend us to a friend or colleague?"
            " From 0 (not at all) to 10 (certainly).",
        },
        "survey_thanks": {
            "fa": "ممنون از نظرتان!",
            "ar": "شكرًا على تقييمك!",
            "en": "Thank you for your rating!",
        },
        "survey_comment_hint": {
            "fa": "ممنون! اگر توضیحی دارید، به همان پیام پرسش پاسخ (Reply) دهید.",
            "ar": "شكرًا! لإضافة تعليق، رُدّ (Reply) على رسالة السؤال.",
            "en": "Thank you! To add a comment, reply to the question message.",
        },
        "survey_comment_saved": {
            "fa": "توضیح شما ثبت شد؛ ممنون.",
            "ar": "تم حفظ تعليقك؛ شكرًا.",
            "en": "Your comment is saved; thank you.",
        },
        "survey_page_title": {
            "fa": "نظرسنجی پشتیبانی",
            "ar": "استطلاع رأي الدعم",
            "en": "Rate our support",
        },
        "survey_comment_label": {
            "fa": "توضیحی دارید؟ (اختیاری)",
            "ar": "هل لديك تعليق؟ (اختياري)",
            "en": "Anything to add? (optional)",
        },
        "survey_send": {"fa": "ثبت", "ar": "إرسال", "en": "Send"},
        # The rating page a mail's score link opens: nothing is recorded until confirmed.
        "survey_confirm": {
            "fa": "امتیاز {score} را انتخاب کرده‌اید؛ برای ثبت آن، دکمهٔ «ثبت» را بزنید.",
            "ar": "اخترت التقييم {score}؛ اضغط «إرسال» لحفظه.",
            "en": "You chose {score}; press Send to save it.",
        },
        "survey_saved": {
            "fa": "ممنون! امتیاز شما ({score}) ثبت شد؛ تا پایان اعتبار پیوند می‌توانید آن را"
            " تغییر دهید.",
            "ar": "شكرًا! تم حفظ تقييمك ({score})؛ يمكنك تغييره حتى تنتهي صلاحية الرابط.",
            "en": "Thank you! Your rating ({score}) is saved; you can change it until the link"
            " expires.",
        },
        "survey_invalid": {
            "fa": "این پیوند نظرسنجی معتبر نیست.",
            "ar": "رابط الاستطلاع هذا غير صالح.",
            "en": "This survey link is not valid.",
        },
        "survey_expired": {
            "fa": "مهلت این نظرسنجی تمام شده است.",
            "ar": "انتهت مهلة هذا الاستطلاع.",
            "en": "This survey has expired.",
        },
        # How a canned response addresses a customer whose name is unknown.
        "unnamed_customer": {"fa": "مشتری گرامی", "ar": "عميلنا العزيز", "en": "valued customer"},
        # The continue-in-chat page a mail's link opens.
        "continue_title": {
            "fa": "ادامهٔ گفتگو",
            "ar": "متابعة المحادثة",
            "en": "Continue the conversation",
        },
        "continue_ask": {
            "fa": "این پیوند گفتگوی ایمیلی {address} را به گفتگوی این مرورگر وصل می‌کند؛ پس از آن "
            "پیام‌های هر دو یکجا دیده می‌شوند. فقط اگر این نامه برای خود شما فرستاده شده، در پنجرهٔ "
            "گفتگو «ادامه در اینجا» را بزنید.",
            "ar": "يربط هذا الرابط محادثة البريد الإلكتروني لـ {address} بالمحادثة في هذا المتصفح، "
            "فتظهر رسائل الاثنتين معًا. اضغط «المتابعة هنا» في نافذة المحادثة فقط إذا أُرسلت هذه "
            "الرسالة إليك أنت.",
            "en": "This link joins the email conversation of {address} to the chat in this "
            "browser; after that, the messages of both are shown together. Press "
            "\u201cContinue here\u201d in the chat window only if this mail was sent to you.",
        },
    }
)


class TextOverrideError(SettingsError):
    """The override file cannot be used; the message names the file, language and key."""


class TextCatalogue:
    """One owner's customer-facing texts: the defaults, with an installation's overrides.

    Immutable: `with_overrides` makes the installation's copy, which the app holds (on
    its context, in the bot, in each channel), so two apps in one process keep their own.
    """

    def __init__(self, owner: str, defaults: TextTable, overrides: TextTable | None = None) -> None:
        self.owner = owner
        self.defaults = defaults
        merged = {key: dict(by_lang) for key, by_lang in defaults.items()}
        for key, by_lang in (overrides or {}).items():
            merged[key].update(by_lang)
        self._current: TextTable = MappingProxyType(
            {key: MappingProxyType(by_lang) for key, by_lang in merged.items()}
        )

    def with_overrides(self, overrides: TextTable) -> TextCatalogue:
        """The defaults with `overrides` ({key: {language: text}}, checked) merged in."""
        return TextCatalogue(self.owner, self.defaults, overrides)

    def template(self, key: str, language: str | None) -> str:
        """The text `key` in `language` (its first two letters), English otherwise, unfilled."""
        table = self._current[key]
        return table.get((language or "en")[:2], table["en"])

    def text(self, key: str, language: str | None, **values: str) -> str:
        """The text `key` in `language` with `{placeholders}` filled from `values`."""
        return fill(self.template(key, language), values)

    def every_language(self, key: str) -> frozenset[str]:
        """`key` in every language, default and overridden (to recognise a tapped button)."""
        return frozenset(self.defaults[key].values()) | frozenset(self._current[key].values())


# The router's texts as shipped; an app holds its installation's copy (`AppContext.texts`).
ROUTER_TEXTS = TextCatalogue("router", CUSTOMER_TEXTS)


def _fields(template_text: str) -> Iterator[tuple[str, str | None]]:
    """The text's literal parts, each with the `{name}` after it (None after the last).

    Raises:
        ValueError: the text is not a valid format string (a lone `{` or `}`), or a
            placeholder is more than a name: a conversion or a format spec (`{name!r}`,
            `{name:>99999999}`) would let a text's author choose what filling it
            costs, so neither is allowed.
    """
    for literal, field, spec, conversion in string.Formatter().parse(template_text):
        if field is not None and (spec or conversion is not None):
            raise ValueError(f"{{{field}}}: a placeholder is a name only, with no ':' or '!'")
        yield literal, field


def placeholders(template_text: str) -> frozenset[str]:
    """The `{names}` a text is filled with.

    Raises:
        ValueError: not a valid text (see `_fields`).
    """
    return frozenset(field for _, field in _fields(template_text) if field is not None)


def fill(template_text: str, values: Mapping[str, str]) -> str:
    """`template_text` with each `{name}` replaced by `values[name]`.

    Raises:
        ValueError: not a valid text (see `_fields`).
        KeyError: a name that `values` lacks.
    """
    parts: list[str] = []
    for literal, field in _fields(template_text):
        parts.append(literal)
        if field is not None:
            parts.append(values[field])
    return "".join(parts)


def read_overrides(path: str | Path, catalogues: Mapping[str, TextTable]) -> dict[str, TextTable]:
    """The override file at `path`, checked against `catalogues` ({owner: defaults}),
    split per owner as {owner: {key: {language: text}}} (every owner present).

    Raises:
        TextOverrideError: unreadable file, unknown language or key, a text that is not
            a non-empty string, or placeholders that differ from the original's.
    """
    where = f"[texts] overrides {path}"
    try:
        raw = Path(path).read_text(encoding="utf-8")
        data: Any = (
            yaml.safe_load(raw) if Path(path).suffix in {".yaml", ".yml"} else tomllib.loads(raw)
        )
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise TextOverrideError(f"{where}: cannot read it ({exc})") from None
    return check_overrides(data if data is not None else {}, catalogues, where=where)


def check_overrides(
    by_language: Any, catalogues: Mapping[str, TextTable], *, where: str
) -> dict[str, TextTable]:
    """`by_language` ({language: {key: text}}) checked and split per owner (see above)."""
    owner_of = {key: owner for owner, table in catalogues.items() for key in table}
    split: dict[str, dict[str, dict[str, str]]] = {owner: {} for owner in catalogues}
    if not isinstance(by_language, dict):
        raise TextOverrideError(f"{where}: expected tables named by language ({_known()})")
    for language, texts in by_language.items():
        if language not in LANGUAGES:
            raise TextOverrideError(f"{where}: unknown language {language!r} ({_known()})")
        if not isinstance(texts, dict):
            raise TextOverrideError(f"{where}: [{language}] must be a table of key = text")
        for key, value in texts.items():
            name = f"{where}: {language}.{key}"
            if key not in owner_of:
                known = ", ".join(sorted(owner_of))
                raise TextOverrideError(f"{name}: unknown text key; known keys: {known}")
            if not isinstance(value, str) or not value.strip():
                raise TextOverrideError(f"{name}: must be a non-empty string")
            original = catalogues[owner_of[key]][key]["en"]
            try:
                given = placeholders(value)
            except ValueError as exc:
                raise TextOverrideError(
                    f"{name}: not a valid text ({exc}); write {{{{ and }}}} for literal braces"
                ) from None
            if given != placeholders(original):
                raise TextOverrideError(
                    f"{name}: placeholders {_names(given)} differ from the original's "
                    f"{_names(placeholders(original))}"
                )
            split[owner_of[key]].setdefault(key, {})[language] = value
    return dict(split)


def _known() -> str:
    return "known: " + ", ".join(LANGUAGES)


def _names(fields: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(fields)) + "}" if fields else "(none)"
