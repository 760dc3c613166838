"""Recognise what is not a FAQ question: requests for a person, greetings, thanks, yes/no.

Word lists are in normalised form (see `faq.normalise`: ي->ی, ك->ک, ة->ه, أ/إ/آ->ا,
no ZWNJ), for Persian, Arabic and English. Matching is on whole tokens or
token sequences, never substrings, so «سلامت» is not a greeting.
"""

from __future__ import annotations

import enum
import functools
import itertools
import re
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from faq.colloquial import standardise
from faq.common_words import is_everyday_word
from faq.finglish import clauses_in_persian_script, persian_script, to_persian
from faq.lexicon import concept_words
from faq.light_words import LIGHT_WORDS
from faq.morphology import arabic_variants, english_stem, persian_light_verb, persian_variants
from faq.normalise import normalise, tokenise
from faq.typos import KeyWordTypos


class MessageKind(enum.StrEnum):
    EMPTY = "empty"
    GREETING = "greeting"
    THANKS = "thanks"
    HUMAN = "human"  # asks for a person
    # A bare yes or no with nothing asked that it could answer (the bot reads one after
    # its own "did this help?" before it triages): no question for the matcher either.
    YES_NO = "yes_no"
    QUESTION = "question"


def _phrases(*texts: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(tokenise(normalise(t))) for t in texts)


# Words that on their own name a person to talk to (Egyptian/Levantine «حد»/«حدا» is
# "someone"; Persian possessive forms are listed, not stripped: «شخصی» is "personal").
# "Someone", "people": a person to talk to in a short request ("anyone there?"), in a
# longer one only beside a way to talk ("I need someone to call me"; "someone used my
# card", "a room for 4 people" ask for nobody).
_ANYONE = frozenset(
    tokenise(
        "someone somebody anyone anybody whoever people ppl "
        # as chats write them ("need 2 talk 2 sum1 real")
        "sum1 some1 any1 ne1"
    )
)
_HUMAN_WORDS = (
    _ANYONE
    | frozenset(
        tokenise(
            normalise(
                "human humans person operator representative rep agent agents staff "
                # Nigerian "oga", "boss"
                "supervisor manager boss oga colleague colleagues employee management "
                "specialist advisor adviser associate admin expert consultant csr teammate "
                "technician technicians تکنسین تکنسینتون "
                # "team member", "staff member": compound nouns, one token (see `_joined`)
                "teammember teammembers staffmember staffmembers teamlead teamleader "
                # «پرسنل», «کارکنان» ("personnel", "staff")
                "پرسنل کارکنان کارکن "
                # «آدمیزاد», "a human being"
                "آدمیزاد ادمیزاد "
                "آدم ادم آدمی انسان انسانی اپراتور اوپراتور کارشناس کارشناستون پشتیبان شخص "
                # «هیچکس جواب نمیده؟», "nobody answers?", asks whether anyone is there
                "هیچکس هیچکی "
                "همکار همکارتون همکاراتون همکارانتون همکاران همکارا همکارهاتون "
                "همکارهای مدیر مدیرتون مسئول مسئولش نفر سرپرست سرپرستتون کارمند کارمندتون کسی "
                # «مسئول» as often typed
                "مسول مسولش "
                # «رئیس», "the boss" (Persian and Arabic «رئيس القسم»)
                "رئیس رئیستون رئیسش "
                "ادمین مشاور متصدی مدیریت "
                # "representative" («با نماینده شرکت صحبت کنم»; Finglish "rep")
                "نماینده نمایندهتون "
                "موظف موظفی موضف بشری بشر انسان شخص مندوب ممثل عامل مشرف مدير مسؤول مختص ادمن "
                # «الإدارة», "the management", with its proclitics («للإدارة»)
                "اداره مستشار اخصائی خبیر "
                "وکیل "
                # Arabic "colleague(s)" («أحد الزملاء في الدعم»)
                "زمیل زملاء "
                # English loans in Persian letters, as the Finglish reading writes them too
                # ("supervisor", "manager", "agent")
                "سوپروایزر منیجر ایجنت "
                # Arabic in Latin letters, as chats write it (7 for ح, 2 for ء)
                "mowazzaf mowazaf mwazaf mwazf mowazf muwazzaf mas2ool masool modeer mudir mudeer "
                "insan ensan "
                # the plural ("wen el mowazafeen?")
                "mowazafeen mowazafin mwazfeen mwazfin mowazfeen "
                "mas2oul mas2ul mas2oula mos2ol mowadaf mwadaf muwadaf mowaddaf "
                # «موظف»'s «ظ» is also written dh, th or 6 ("mowadhaf", "mwa6af")
                "mowadhaf mowazhaf mwadhaf muwadhaf muwazaf mowathaf mwathaf mowa6af mwa6af "
                "shakhs sha5s moshref mushrif moshrif "
            )
        )
    )
    | frozenset(
        # Arabizi person-words as the Finglish reading writes them once a Persian-looking
        # word ("chi") makes the message Finglish ("bghit chi mwazaf" → «بقیت چی موازاف»)
        form
        for word in ("mowazzaf", "mowazaf", "mwazaf", "muwazzaf", "mowadaf", "mwadaf", "mowaddaf")
        for form in tokenise(normalise(to_persian(word)))
    )
)
# People named by two words, read as one (see `_joined`): the one "in charge", "the one
# responsible", "a live one"; support that is "human" or, after it, "real" is people
# («یه support واقعی میخوام», «دعم حقيقي»), where support alone is a service that may be
# asked about (and "real support for 5G" is a feature).
_PERSON_COMPOUNDS = _phrases(
    "in charge",
    "one responsible",
    # "someone higher up" (not "superior": "your superior models")
    "higher up",
    "higher ups",
    # a "worker" of the shop's ("worker of shop", "a store worker"); alone, "worker" is
    # one letter from "worked"
    "worker of shop",
    "worker of the shop",
    "worker of your shop",
    "worker of store",
    "worker of the store",
    "worker of your store",
    "workers of shop",
    "workers of the shop",
    "workers of your shop",
    "worker from the shop",
    "worker from your shop",
    "worker at the shop",
    "worker in the shop",
    "shop worker",
    "store worker",
    "shop workers",
    "store workers",
    "shop assistant",
    "store assistant",
    "sales assistant",
    "live one",
    # anyone at all, as long as a person («یه خانم یا آقا از شرکت بیاد پای خط»)
    "lady or gentleman",
    "gentleman or lady",
    "man or woman",
    "woman or man",
    "خانم یا آقا",
    "آقا یا خانم",
    "human support",
    "support واقعی",
    "پشتیبانی واقعی",
    "دعم حقيقي",
    "دعم بشري",
    # Arabizi «بني آدم», "a human being" ("3ayez bani adam"; "adam" alone is a name)
    "bani adam",
    "bani adem",
    "bany adam",
    "beni adam",
    "bni adam",
    "bne adam",
)
_COMPOUND_PEOPLE = frozenset("".join(words) for words in _PERSON_COMPOUNDS)
_HUMAN_WORDS |= _COMPOUND_PEOPLE
# Words that make a person-word a request ("talk", "connect me") in longer messages.
_CONTACT_WORDS = frozenset(
    tokenise(
        normalise(
            "talk speak chat connect transfer call callback contact reach escalate touch "
            "communicate conversation convo telephone "
            "redirect "
            "حرف صحبت وصل وصلم تماس زنگ چت متصل منتقل ارجاع ارتباط گفتگو گفتوگو برقرار "
            # «گپ بزنم», "have a chat"; Gulf «اسولف», "I chat"
            "گپ اسولف نسولف یسولف "
            # «درخواست تماس», joined (see `_COMPOUND_NOUNS`)
            "درخواستتماس "
            # «با من هماهنگ کند», "arrange it with me"
            "هماهنگ "
            "التحدث اتحدث اتکلم اکلم تحدث کلم تحویل حولنی وصلنی تحولنی حولني احکی یحکی احچی "
            "اتواصل تواصل التواصل یتصل اتصل تتصل یکلمنی مکالمه اتصال محادثه التکلم اکلمه "
            # Maghrebi «عيط» ("call", «عيطو» with the plural ending; Egyptian "cry", with no «ليا»)
            "عیط "
            # Egyptian and Levantine "ring" («حد يرن عليا», «رنولي»), Levantine «دق» only
            # in forms aimed at someone («دقولي», «حدا يدقلي», «دقوا علي»): alone it is
            # "knock" («دق الباب») and Persian "grief"
            "یرن رن ترن یدق تدق ندق دقوا دقو دقلی دقولی دقیلی یدقلی تدقلی "
            "حولونی وصلونی توصلنی شات احاله احیل یحول تصعید صعد نتکلم نحکی نهضر اهضر احجی "
            "yekalemny yekallemny kalemni akalem akallem akalm ekalem a7ki a7ke 7ke ehki e7ke e7ki "
            "tahadoth atahadath atwasal wasalni wassalni 7awelni 7awwelni wasselni wasalny "
            "ykalemni ykalemny yekalemni ykallemni akalim akallim ykalim ykallim "
            "wasselny 7awilni atkalam atkallam etkalem etkallem ne7ki ye7ki yi7ki nkalem yetsel "
            "yetasel "
            "yetesel yitasel yittasel ettasel etasel tetsel yetwasal ytwasal tetwasal "
            "t7awelni t7awelny t7awilni 7awelny 7awwelny 7awilny kalemny twasselni "
            # "a-tkalem" joined back (see `_hyphens_joined`)
            "atkalem atkallem "
            # "(you) connect me" (not "wasalni", also "it reached me")
            "tewasalni twasalni tewaselni twaselni "
            # «يتصل» as chats misspell it («شي واحد يتاصل بيا»)
            "یتاصل تتاصل نتاصل "
            "y7ki y7ke t7ki ti7ki y7aki ye7aki t7aki y7akini t7akini y7kili ye7kili "
            # Levantine «يحاكيني», "talks to me"
            "یحاکی تحاکی احاکی "
            # Arabizi with 2 for the hamza of «أكلم», «أحكي» ("ana ayza 2kalem 7ad")
            "2kalem 2kallem 2akalem 2tkalem 2atkalam 2a7ki 2e7ki "
            # «ممكن احد يتواصل معي؟»; «هل يمكن تحويلي إلى موظف؟» ("transferring me")
            "یتواصل تتواصل نتواصل یتواصلوا تحویلی احالتی "
            # «الرجاء إيصالي بموظف» ("connecting me")
            "ایصالی "
            # Iraqi «يخابرني» ("calls me"), «يحاچي»/«يحچي» ("talks"); «يراسلني» ("messages
            # me"); «بالتحدث» after «أرغب» ("I wish to talk")
            "زنگم خابر یخابر تخابر یحاچی احاچی یحچی احچی یراسل راسل تراسل کال "
            "بالتحدث بالتواصل بالتکلم "
            # Maghrebi «يعيط ليا»; «عايز اكلمهم» after the service was named
            "یعیط تعیط اکلمهم اکلمکم نکلمکم"
        )
    )
) | frozenset(
    # Maghrebi "I speak" ("nhder m3ah"), also as the Finglish reading writes it once
    # "chi" («چی») makes the message look Persian ("wach kayn chi wa7ed nhder m3ah?")
    form
    for word in (
        "nhder",
        "nhdr",
        "nhdar",
        "nehder",
        "nahder",
        "nahdar",
        "ntkallem",
        "ntkalam",
        "ntkellem",
    )
    for form in (word, to_persian(word))
)


# ... and the contact verbs long enough to be typed with a letter left out ("conect me to
# a human"); not "transfer", whose "trasfer" and "transer" are money moved in BANKING77.
_CONTACT_WORDS |= frozenset(
    word[:k] + word[k + 1 :]
    for word in ("connect", "contact", "escalate")
    for k in range(len(word))
)


# Arabizi verbs of calling in the vowels and endings chats give them: «اتصل» ("ittasilu
# fiya", "yetasal feni", "etasalo beya"), and those that carry "me": «كلموني» ("kalmoni",
# "kallimooni", "ykalmni"), «حولني» ("7awlni", "7awlouni"), Maghrebi «عيطو لي»
# ("3ayetouli", "3aytou liya" with «ليا» apart), Levantine «دقولي» ("d2oli", "yde22li");
# not "wasalni" ("it reached me"), nor Egyptian «عيط», "cry", with no «لي».
_ARABIZI_CALL = re.compile(
    r"(?:[ytenai]|ye|yi|te|ti)?t+[aei]?s[aei]?l(?:o|u|oo|ou|w)?|3ay+[aei]?t(?:o|ou|u|w)?"
)
_ARABIZI_CALL_ME = re.compile(
    r"(?:y|ye|yi|t|te|ti)?k[ae]l+[aeiy]?m(?:o|oo|ou|u|w)?(?:ni|ny|nee)"
    r"|t?7aw+[aeiy]?l(?:o|oo|ou|u|w)?(?:ni|ny|nee)"
    r"|(?:y|t|n|ye|yi|te|ti)?3ay+[aei]?t(?:o|ou|u|w)?(?:li|lli|liya|lia|lya)"
    r"|(?:y|t|ye|yi|te|ti)?d+[aei]?2+(?:o|oo|ou|u|w)?(?:li|lli|ly)"
)
# The call word an Arabizi verb of calling stands for.
_ARABIZI_CALL_BASE = "etasel"


def _arabizi_call(token: str) -> str | None:
    """The call word `token` is when it is an Arabizi verb of calling, else None."""
    if _ARABIZI_CALL.fullmatch(token) or _ARABIZI_CALL_ME.fullmatch(token):
        return _ARABIZI_CALL_BASE
    return None


# Every English word of a message is asked about in each of its clauses' checks.
@functools.lru_cache(maxsize=1 << 14)
def _verb_stem(token: str) -> str:
    """An English verb's stem, its doubled last consonant undone ("transferred" and
    "transfer" meet at "transfer", "chatting" and "chat" at "chat")."""
    stem = english_stem(token, drop_silent_e=True)
    if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
        stem = stem[:-1]
    return stem


# ... and inflected in English ("speaking", "be transferred"); a past tense tells a
# story ("I called your agent yesterday and ..."), its passive asks ("can I be
# transferred to a person"), and so does its participle after a request ("I want this
# escalated", "I'd like my case passed to a manager").
_CONTACT_STEMS = frozenset(_verb_stem(w) for w in _CONTACT_WORDS if w.isascii())
_PASSIVE_AUXILIARIES = frozenset({"be", "been", "being", "get", "gets", "getting"})
_PARTICIPLE_REACH = 3  # words from "want" to the participle it asks for


def _inflected_contact(tokens: Sequence[str], i: int) -> bool:
    token = tokens[i]
    if not token.isascii() or _verb_stem(token) not in _CONTACT_STEMS:
        return False
    if not token.endswith("ed") or (i > 0 and tokens[i - 1] in _PASSIVE_AUXILIARIES):
        return True
    return any(t in _REQUEST_FORMS for t in tokens[max(0, i - _PARTICIPLE_REACH) : i])


# Arabic contact verbs with a proclitic or a plural ending: «للتواصل معي» ("to contact
# me"), «اتصلوا بي» ("call me", plural), «كلموني». Only these affixes: a pronoun suffix
# would make «کلمه» ("word", as in «کلمه عبور», "password") the verb «کلم», the article
# makes the verb a topic («الاتصال بخدمة العملاء متاح؟», "is calling customer service
# possible?") and «ب» a means («بتحويل المصاري», "by a money transfer").
_CONTACT_PROCLITICS = ("لل", "ل", "و")
_PLURAL_VERB_ENDINGS = ("ونی", "ولی", "وا", "و")
_PRESENT_PLURAL = "ون"  # only on a present verb: «تلفون», «صحبتون» are no plural
_PRESENT_PREFIXES_OF_PLURAL = ("ت", "ی")
# ... and the second person's «ت» before a plural verb («تكلموني», «تحولوني»)
_YOU_PREFIX = "ت"


# A contact refused: "don't call me", «أرجو عدم الاتصال بي», «بطلوا تتصلوا بيا» (a word
# before the verb), «به من زنگ نزنید», «تماس نگیرید» (a negated light verb after it).
_DONT = frozenset(tokenise(normalise("dont never stop لا عدم بطلوا بطل بلاش")))
_NEGATED_LIGHT_VERBS = frozenset(
    "ن" + stem + ending
    for stem in ("زن", "گیر", "کن")
    for ending in ("", "ید", "ین", "ه", "ن", "ند", "یم")
)
_DONT_REACH = 2


# ... and a call asked for with a Persian imperative light verb, no object needed
# («تماس بگیرید», «زنگ بزنید», «یکی زنگ بزنه»); «زنگ بزنم» ("should I call?") is not one.
_ASKED_LIGHT_VERBS = frozenset(
    "ب" + stem + ending for stem in ("زن", "گیر") for ending in ("", "ید", "ین", "ه", "ن", "ند")
)


# ... and the imperative of «کردن» after a contact word («وصل کنید», «منتقل کن»).
_DO_IMPERATIVE = frozenset(tokenise(normalise("کن کنید کنین بکن بکنید بکنین")))
# «کردن» asked or offered, after a Latin verb with the Persian «م» («transferم کنید»,
# «connectم میکنید؟»): the «م» is "me" only on a verb; on a noun it is "my" («callم قطع
# شد», "my call dropped").
_DO_FORMS = _DO_IMPERATIVE | frozenset(
    tokenise(normalise("کنی کنه کند کنن کنند میکنید میکنین میکنی میکنه میکنن"))
)


def _refused_contact(tokens: Sequence[str], i: int) -> bool:
    """Whether the contact word at `tokens[i]` is negated ("don't call me", "I don't
    want to be called")."""
    return (
        any(t in _DONT for t in tokens[max(0, i - _DONT_REACH) : i])
        or any(t in _NEGATED_LIGHT_VERBS for t in tokens[i + 1 : i + 1 + _DONT_REACH])
        or any(
            t in _NO_PERSON_TABLE and _longest_at(tokens, j, _NO_PERSON_TABLE)
            for j, t in enumerate(tokens[:i])
        )
    )


# Persian «تحویل» is a delivery with a generic verb («سفارشو یه نفر دیگه تحویل بگیره؟», "can
# someone else receive the order?"), Arabic «تحويل» a transfer («ممكن تحويل دي المكالمة
# لموظف»: «دي» is "this", not a verb).
_DELIVERY = "تحویل"


def _delivered(tokens: Sequence[str], i: int) -> bool:
    """Whether `tokens[i]` is Persian «تحویل» with a generic verb after it («تحویل
    بگیره», «تحویل میدید»: spoken forms standardised first)."""
    return (
        tokens[i] == _DELIVERY
        and i + 1 < len(tokens)
        and any(persian_light_verb(w) for w in standardise([tokens[i + 1]]))
    )


def _is_contact(tokens: Sequence[str], i: int) -> bool:
    """Whether `tokens[i]` is a contact word that is not refused ("talk", «اتصلوا»,
    "be transferred"; not "don't call")."""
    if not _may_contact(tokens[i]):
        return False
    if _delivered(tokens, i):
        return False
    return bool(_contact_base(tokens[i]) or _inflected_contact(tokens, i)) and not (
        _refused_contact(tokens, i)
    )


@functools.lru_cache(maxsize=1 << 14)
def _may_contact(token: str) -> bool:
    """Whether `token` is a contact word in some form (one cached look-up per word: most
    words of a message are none)."""
    if token.isascii():
        return (
            token in _CONTACT_WORDS
            or _verb_stem(token) in _CONTACT_STEMS
            or _arabizi_call(token) is not None
        )
    return _contact_base(token) is not None


# An English verb with the Persian "me" on it, as Persian chat writes one («لطفاً
# connectم کن به یه live agent», «transferم کنید»).
_PERSIAN_ME_ENDINGS = ("مون", "م")


@functools.lru_cache(maxsize=1 << 14)
def _latin_with_me(token: str) -> str | None:
    """The English word of `token` when it is Latin letters with the Persian «م» ("me")
    on them, else None."""
    for ending in _PERSIAN_ME_ENDINGS:
        head = token[: -len(ending)]
        if token.endswith(ending) and head.isascii() and head.isalpha():
            return head
    return None


@functools.lru_cache(maxsize=1 << 14)
def _contact_base(token: str) -> str | None:
    """The contact word `token` is, with an Arabic proclitic or plural ending taken off
    (ASCII and listed forms as they are), or None."""
    if token in _CONTACT_WORDS:
        return token
    if token.isascii():
        return _arabizi_call(token)
    if (latin := _latin_with_me(token)) is not None:
        return latin if latin in _CONTACT_WORDS else None
    bases = [token] + [token[len(p) :] for p in _CONTACT_PROCLITICS if token.startswith(p)]
    if token.startswith(_YOU_PREFIX) and token.endswith(_PLURAL_VERB_ENDINGS):
        bases.append(token[1:])  # «تكلموني», «تتصلوا»: "(you all) call me"
    if token.startswith(_PRESENT_PREFIXES_OF_PLURAL) and token.endswith(_PRESENT_PLURAL):
        # «تتواصلون», «يتصلون»: the Gulf and Levantine present plural
        bases.append(token[: -len(_PRESENT_PLURAL)])
    for base in bases:
        if base in _CONTACT_WORDS:
            return base
        for ending in _PLURAL_VERB_ENDINGS:
            if base.endswith(ending) and base[: -len(ending)] in _CONTACT_WORDS:
                return base[: -len(ending)]
    return None


# "Answer me", "review my case": what a person does with the customer's case, a request
# with a person-word ("is there a person who can answer?", «یه کارشناس رسیدگی کنه»,
# «يراجع مشرف حالتي»), not with a service («پشتیبانی تا چه ساعتی جواب میده؟» asks for its
# hours). Not "help", "explain", "look at": "can someone help me unblock my pin?" asks
# about the pin.
_ANSWER_WORDS = frozenset(
    tokenise(
        normalise(
            "answer respond reply review handle investigate "
            "جواب پاسخ پاسخگو پاسخگوی بررسی رسیدگی پیگیری راهنمایی راهنماییم کمکم "
            "يرد ترد يراجع مراجعة يتابع متابعة "
            # «شي حد يجاوبني», "someone to answer me"
            "يجاوبني يجاوبنا تجاوبني yjawebni yjawbni y3awebni "
            # «ابي احد يحل مشكلتي», "someone to solve my problem"
            "يحل يحلها يحللي "
            # a person stepping in («تحتاج إلى تدخل أحد الموظفين»)
            "intervene تدخل "
            # coming to the rescue («حد يلحقني», «حدا ينجدني»)
            "يلحقني يلحقنا ينجدني ينجدنا ينقذني ينقذنا "
            # by hand, himself: a person doing what the bot does («یه نفر دستی چک کنه»,
            # «حدا يشوف طلبي بنفسه», Maghrebi «بيدو»)
            "manually personally دستی بنفسه بنفسها بیدو "
            "yrod yerod yered yrd yred yrud yerud yerd"
        )
    )
)
_HELP_ME = frozenset(
    tokenise(
        normalise(
            "help assist کمک کمکم يساعدني ساعدني يساعدنا ysa3edni yesa3edni ysa3edna yesa3edna "
            # Maghrebi «يعاوني», "helps me"
            "يعاوني يعاونني تعاوني تعاونوني عاوني عاونوني y3awni y3awenni"
        )
    )
)
_ANSWER_PHRASES = _phrases(
    "look into",
    "deal with",
    "take care of",
    "follow up",
    # coming to the customer's rescue («یکی به دادم برسه»; «خدا به دادم برسه» names no one)
    *(
        f"به {whom} {verb}"
        for whom in ("دادم", "دادمون", "داد من", "داد ما")
        for verb in ("برسه", "برسید", "برسین", "برسن", "برس")
    ),
)
# Contact phrases: "take over", «با کارشناس کار دارم» ("I need a word with").
_CONTACT_PHRASES = _phrases(
    "take over",
    "call me",
    "call back",
    "get back to me",
    "put me through",
    "get me",
    "phone me",
    "ring me",
    "give me a call",
    "give me a ring",
    "give me a buzz",
    "hold of",
    "pass me",
    "hook me up",
    "loop in",
    "link me up",
    "complain to",
    "in touch with",
    # someone put on the line ("get someone on the line", «یکی بیاد پای خط», «حط حد على
    # الخط»)
    "on the line",
    "over the phone",
    "پای خط",
    "پشت خط",
    "على الخط",
    "کار دارم",
    # «مرا به اپراتور انتقال دهید», "transfer me" (not «قابل انتقال», "transferable")
    *(f"انتقال {verb}" for verb in ("دهید", "دهيد", "بدید", "بدین", "بده", "بدهید")),
    # "send a message", «پم» being Finglish "pm" in Persian letters; «پیام» alone is
    # also a message read («پیام خطا», "an error message")
    "پیام بده",
    "پیام بدید",
    "پیام بدین",
    "پیام بدن",
    "پیام بفرستید",
    "پم بده",
    "پم بدید",
)
# "Someone" that is also "one" («یکی», Arabic «احد»): a person only beside a contact or
# answer word («یکی تماس بگیره», «يتصل بي أحد»); «یکی دیگه میخوام» wants another item.
# Egyptian and Levantine «حد»/«حدا» ("someone") is MSA "limit" («هل هناك حد للتعبئة»).
_SOMEONE = frozenset(
    tokenise(
        normalise(
            "یکی یکیو یکیتون احد لاحد باحد حد حدا بحد 7ad 7ada 7add 7ed a7ad ahad "
            # Sudanese «زول», "a person" («عايز اتكلم مع زول حقيقي»)
            "زول"
        )
    )
)
# Those that are also "one" («یکی از سفارشام», "one of my orders"; «أحد المنتجات»).
_ONE = frozenset(tokenise(normalise("یکی احد a7ad ahad")))
# Maghrebi and Levantine «واحد», "wa7ed" is "someone" only after "some" («شي واحد», "chi
# wa7ed"; «چی» once read as Finglish): alone it is the numeral ("bghit wa7ed", "I want
# one"; «جهاز واحد»).
_A_ONE = frozenset(tokenise(normalise("واحد wa7ed wahed")))
_SOME = frozenset(tokenise(normalise("شی چی chi shi")))
# "One of you" («واحد منكم», «یکی از شما», "wa7ed mnkom"): one of the shop's people.
_OF_YOU = frozenset(tokenise(normalise("منكم منكو منكن mnkom menkom minkom mnko menko")))
_YOU_ALL = frozenset(tokenise(normalise("شما شماها")))
# «مع واحد», "with one", after a verb of talking: someone to talk to («حاب نهدر مع واحد»).
_WITH_ONE = frozenset(tokenise(normalise("مع ويا وياه m3a ma3 m3")))
_ANY_SOMEONE = _SOMEONE | _ANYONE
# Asking whether a person is there («کسی اونجا هست؟», «مفيش حد هنا؟», "any human
# available?"): with a person-word, a request.
_PRESENCE_WORDS = frozenset(
    tokenise(
        normalise(
            "here available online around rn اونجا انجا اینجا آنلاین انلاین "
            "هنا موجود متاح متواجد اونلاین هون hon hona hena mawgood mawjood mawjud "
            # «در دسترسه؟», "available?"
            "دسترس دسترسه دسترسید دسترسن"
        )
    )
)
# Naming a service, not a person: a request only with a contact word or phrase.
_HUMAN_PHRASES = _phrases(
    "customer service",
    "customer support",
    "customer care",
    "customer services",
    "support team",
    "member of staff",
    "member of your team",
    "member of the team",
    "member of your staff",
    "tech support",
    "technical support",
    "خدمات پس از فروش",
    "واحد پشتیبانی",
    "پشتیبان انسانی",
    # "someone higher up" («میخوام با یه مقام بالاتر صحبت کنم»)
    "مقام بالاتر",
    "پشتیبانی",
    *(
        f"{pre}خدمة {customers}"
        for pre in ("", "ل", "ب")
        # the hamza is often left off in chat («خدمة العملا»)
        for customers in ("العملاء", "العملا")
    ),
    "خدمه عملاء",
    "الدعم",
    "للدعم",
    "بالدعم",
    "الدعم الفني",
    # Arabizi «الدعم», "(the) support"
    "el support",
    "al support",
    "el da3m",
    "al da3m",
    # Arabizi «خدمة العملاء» (5 for خ, 3 for ع), the article apart or glued, with «ب»,
    # «ل» glued on ("wasalni b5edmet el3omala")
    *(
        f"{pre}{service} {article}{customers}"
        for pre in ("", "b", "l")
        for service in ("5edmet", "5edmat", "5idmat", "5dmet", "khedmet", "khedmat", "khidmat")
        for article in ("el ", "al ", "el", "al", "")
        for customers in ("3omala", "3omla", "3umala")
    ),
)
# The bot itself: refusing it («نه ربات», "not a bot") or naming it beside a person
# ("stop the bot, I need a person") is a request for a person.
_BOT_WORDS = frozenset(
    tokenise(normalise("bot bots robot chatbot automated ربات روبات بات روبوت بوت الروبوت البوت"))
)
# «الرد الآلي», "the automatic reply", with or without the article and in the accusative
# or plural («وليس ردا آليا», "and not an automatic reply"; alone «الآلي» is the ATM's
# "automated"); a machine one talks to, not a washing machine that is "not working".
_BOT_PHRASES = _phrases(
    "الرد الآلي",
    "الرد الالي",
    "رد آلي",
    "ردا آليا",
    "الردود الآلية",
    "ردود آلية",
    "پاسخ خودکار",
    "پاسخهای خودکار",
    "جواب خودکار",
    "automatic reply",
    "automatic replies",
    "automatic answer",
    "automatic answers",
    "to a machine",
    "with a machine",
    "not a machine",
    "to machines",
    "no machine",
    "not machine",
)
# Arabizi «مش», "not" ("mesh 3ayez robot"; "ana mish robot" is the customer's own)
_ARABIZI_NOT = "mesh mish msh mosh mush"
_NEGATIONS = frozenset(
    tokenise(
        normalise(
            "no not dont isnt arent aint stop enough tired sick fed "
            "نه نمیخوام نمیخواهم نمیزنم بسه دیگه خسته "
            "لا مش مو ما مابدي بلاش كفاية زهقت مليت طفشت "
            # Gulf «مابي», «مابغى» ("I don't want")
            "مابي ماابي مابغى مابغي "
            # Arabizi «مابي» ("mabi bot"), and «مش» below
            "mabi mabdi mabghit " + _ARABIZI_NOT
        )
    )
)
# Saying a person is not needed ("I don't need a person, just tell me the hours").
_NO_PERSON_NEEDED = _phrases(
    "dont need",
    "do not need",
    "no need",
    "dont want",
    "do not want",
    "without",
    "لازم نیست",
    "نیازی نیست",
    "نیاز نیست",
    "نیازی ندارم",
    "نمیخوام",
    "نمیخواهم",
    "مش عايز",
    "مش محتاج",
    "مش لازم",
    "مو لازم",
    "ما بدي",
    "مابدي",
    "ما ابغى",
    "ما احتاج",
    "ما نحتاج",
    "مو محتاج",
    "مش عاوز",
    "ما اريد",
    "ما ابي",
    # glued («مابي احد يتصل»)
    "مابي",
    "ماابي",
    "مابغى",
    "ماابغى",
    "ماريد",
    "لا اريد",
    "لا احتاج",
    "بدون",
    # «ما في داعي حدا يتصل», «دیگه نیازی به کارشناس نیست»: no need for one
    "ما في داعي",
    "مافي داعي",
    "لا داعي",
    "مش ضروري",
    "مو ضروري",
    "نیازی به",
    "احتیاجی به",
)
# Arabic proclitics before a person-word: «بموظف», «المدير», «للمشرف».
# («عالمدير»: spoken «على ال», "to the manager").
_ARABIC_PROCLITICS = ("بال", "لل", "عال", "ال", "ب", "ل", "و")
# Plural and oblique endings a person-word takes before a pronoun («موظفيكم», «المسؤولين»).
# «ی» is not one: «شخصی» is "personal", not a person.
_PERSON_ENDINGS = ("ین", "ون", "ان", "ها")
_ARABIC_PLURALS = tuple(normalise(e) for e in ("ين", "ون"))
# Words a person-word's inflections would reach that name no person ("personal",
# "humanly possible?", "a store staffed on Sundays", "staffing", "an advisory").
_PERSONAL = frozenset(
    tokenise(normalise("شخصی شخصیه شخصیا شخصا humanly staffed staffing advisory advisories"))
)

# Asking for something ("I want", "can I", «میخوام», «ابغى», «بدي», «عايز»): beside a
# person-word in the same clause, a request however long the message ("I need a real
# person to handle this", «عايز بني آدم يفهمني»); a person named without one is a
# mention ("the manager approved it").
_REQUEST_FORMS = frozenset(
    tokenise(
        normalise(
            "want wanna need like prefer rather demand request require gimme appreciate arrange "
            "schedule "
            "میخوام میخواهم میخواستم میخوایم میخام میخاستم مایلم خواهشمندم "
            # Mashhadi and Isfahani «مخوم», «میخوم» ("I want")
            "مخوم مخام میخوم "
            "خواهشمند درخواست بدید بدین بیار بیارید بیارین بیاد بیان بفرست بفرستید "
            "بفرستین صدا "
            "اطالب نطالب یرجی ارغب نرغب نرجو "
            "ارید اريد نريد اطلب ارجو اود ابغى ابغي ابغا نبغى ابي ابا نبي بدي بدنا عايز "
            "عاوز عايزه عاوزه عايزين ودي حاب حابب اتمنى خلي خلوا خلو ريت اجعل جيب جيبلي "
            "هات هاتلي "
            # "I need" («محتاج حد يبص»)
            "محتاج محتاجه "
            # Maghrebi "I want" («بغيت نهضر مع شي واحد»)
            "بغيت bghit bghina "
            # ... and as the Finglish reading writes them ("bghit chi mwazaf")
            "بقیت بقینا "
            # Arabizi
            "3ayez 3ayz 3awez 3awz 3aiz 3ayza 3awza ayez ayza awez "
            "abgha abghaa abga abghi abi bade badde bidi biddi baddi badi "
            "na7tag n7tag ne7tag "
            "wedi me7tag m7tag a7tag ne7tag 5alli 5ali 5aly 5alini 5allini khalli khalini"
        )
    )
)
# "Please", "can you", «ممکن», «لطفا» ask for anything ("can you please tell me ...",
# «في أسرع وقت ممكن»): a request for a person with them names a way to talk too, or is
# short enough for the whole-message rule.
_REQUEST_PHRASES = _phrases(
    "can i",
    "could i",
    "may i",
    "give me",
    "hand me",
    "is there",
    "are there",
    "get",
    # "this needs a human", "my case requires a real person" (the manager who "needs to
    # approve" is not asked for)
    "needs",
    "requires",
    # "I would be grateful (if ...)": the formal request («سپاسگزار خواهم بود اگر یکی از
    # همکاران ...», «ممنون میشم یه کارشناس ...», «سأكون ممتنا لو ...»); «ممنون» alone thanks
    "grateful if",
    "سپاسگزار خواهم بود",
    "ممنون خواهم شد",
    "متشکر خواهم شد",
    "ممنون میشم",
    "ممنون میشیم",
    "سپاسگزار میشم",
    "ساکون ممتنا",
    "اکون ممتنا",
    "ساکون شاکرا",
    "اکون شاکرا",
    # first person: «مدیر شرکت ما نیاز دارد» is "our manager needs"
    "لازم دارم",
    "نیاز دارم",
    "لازم داریم",
    "نیاز داریم",
)
# A verb the request form serves instead, before the person ("I want to know whether
# your staff speak Arabic", «میخوام بدونم», «ابغى اعرف»): the clause asks a question.
_INQUIRY_WORDS = frozenset(
    tokenise(
        normalise(
            "know check confirm tell explain show understand find learn "
            "بدونم بدانم بپرسم ببینم بفهمم "
            "اعرف أعرف نعرف افهم اسال استفسر اشوف"
        )
    )
)
# Verbs of knowing a request form may serve ("I want to know", «میخوام بدونم», «حابب
# اعرف»); unlike the inquiry words, not "check" or "ask", which a person is asked to do.
_KNOW_WORDS = frozenset(
    tokenise(normalise("know understand learn wonder بدونم بدانم بفهمم اعرف أعرف نعرف افهم"))
)
# A question about working for the shop ("do you have jobs for call center operators?",
# «استخدام کارشناس فروش دارید؟», «في عندكن وظائف؟») names its people without asking for one.
_JOB_WORDS = frozenset(
    tokenise(
        normalise(
            "job jobs hiring hire vacancy vacancies career careers recruiting recruitment "
            "استخدام استخدامی شغل شغلی وظایف "
            "توظيف وظائف وظيفة شغل اشتغل نشتغل اتوظف"
        )
    )
)
# A clause that tells rather than asks: about the past (a story of a call), about the
# customer's own people (a brother who collects the parcel, "my manager"), or a
# question about the shop's staff ("is your support team in Tehran?").
_PAST_WORDS = frozenset(
    tokenise(
        normalise(
            "yesterday ago earlier already previously spoke spoken said told missed promised "
            "دیروز پریروز قبلا گفت گفتن گفتند گفته زد زدم زدند زده گرفتم گرفت گرفتند کردم "
            # the second person's past call («زنگ زدین», «تماس گرفتید»)
            "زدین زدید زدی گرفتین گرفتید گرفتی "
            "کرد کرده کردند بود بودم نداد ندادن ندادند نداده نزد نزدن نگرفت نگرفتن "
            # Finglish "zad" as the transliteration writes it
            "زاد "
            # a Persian present plural about the staff («اپراتورهاتون ترکی صحبت میکنن؟»)
            "میکنن میکنند "
            "امبارح امس البارحه البارح لقد للتو قائلا اخبرني بيقلي "
            # "and solved it" ends a story of a call («تواصل معي مشرف ... وحل الموضوع»)
            "وحل وحلها وحلوا وحلت "
            "كلمت كلمته كلمتهم اتصلت تواصلت تكلمت حكيت تحدثت "
            "قال قالوا قالت قالي قلت كلمني شاف راجع كان كانت كانوا "
            # a call promised or made by the shop, not asked for («یه کارشناس باهام تماس
            # میگیره», «موظف بيتصل فيني»): the indicative, where a request has «بگیره»
            "میگیره میگیرد میگیرن میزنه میزند میزنن بيتصل هيتصل بيكلمني هيكلمني "
            "راح رح سوف "
            "embare7 kallamt kalamt 2al"
        )
    )
)
# Persian «خواستن» before a past stem makes the future («خواهم بود», "I will be").
_FUTURE = frozenset(tokenise(normalise("خواهم خواهیم خواهد خواهند")))
# "Already" at the end of a clause urges ("just connect me to a human already"); before
# the verb it tells ("I already called").
_ALREADY = "already"
# English "last time", "last week": a story where nothing is asked ("the operator put me
# through to returns last time"), like «الماضي» and «گذشته» below.
_LAST_ENGLISH = "last"
_PERIODS = frozenset(["time", "week", "month", "night", "year", "weekend"])
# Persian "ago" after a time («هفته پیش», «دو روز پیش»; Finglish "hafte pish")
_AGO = "پیش"
_TIME_NOUNS = frozenset(tokenise(normalise("روز هفته هافته ماه سال ساعت دقیقه")))
# A Persian relative clause («همین شماره‌ای که ثبت کردم», "the number I registered")
# describes a thing the clause names, which the «ی» of the noun before «که» marks: its
# past verb, and the time words before it, tell nothing about whether the clause asks
# («لطفاً با همین شماره‌ای که ثبت کردم باهام تماس بگیرین» asks for a call). «من که دیروز
# زنگ زدم» ("I did call yesterday") has no such noun; a person described («کارشناسی که
# دیروز زنگ زد») is the subject of a story; a past verb after the relative clause tells.
_RELATIVE = "که"
_RELATIVE_HEAD_ENDING = "ی"
_MIN_RELATIVE_HEAD = 3
_RELATIVE_REACH = 4  # words from «که» to the relative clause's verb
_PAST_TIMES = frozenset(tokenise(normalise("دیروز پریروز قبلا")))
# "last" («هفته گذشته», «الأسبوع الماضي»): a story where nothing is asked («تواصل معي
# مشرف الشهر الماضي وحل الموضوع»), the object of a request where something is («ابي اكلم
# موظف عن فاتورة الشهر الماضي», «باهام درباره سفارش هفته گذشته تماس بگیرید»)
_LAST = frozenset(tokenise(normalise("الماضي الماضيه گذشته")))
# Arabic «اتصل», «تواصل» are "call!" and "he called": after the person as its subject
# («المندوب اتصل بس ما لقى البيت», "the courier called but did not find the house") the
# past; a request puts the verb first («اتصل بي», «خلي المشرف يتصل»).
_CALLED = frozenset(tokenise(normalise("اتصل تواصل")))
_ARTICLE = "ال"
_OWN_PEOPLE = frozenset(
    tokenise(
        normalise(
            "brother sister wife husband son daughter mom mum mother dad father friend "
            "neighbour neighbor cousin family kid kids "
            "داداشم برادرم خواهرم همسرم خانمم شوهرم پسرم دخترم مادرم مامانم پدرم بابام "
            "دوستم همسایه همسایمون "
            "اخوي اخي اختي زوجي زوجتي مرتي جوزي ولدي ابني بنتي امي امي ابوي صاحبي صديقي "
            "جاري عيلتي اهلي "
            "dadasham 5ayi akhoy"
        )
    )
)
# What a person has that one may ask for instead of the person: their number, email,
# hours («شماره پشتیبانی رو بدید», "give me the agent's email").
_ATTRIBUTES = frozenset(
    tokenise(
        normalise(
            "number phone email hours name address شماره تلفن ایمیل ساعت ساعات اسم نام ادرس "
            "رقم تلفون ايميل ساعات مواعيد اسم عنوان"
        )
    )
)
_ATTRIBUTE_REACH = 2
# A gift for someone («هدیه برای یه نفر», «هدية لشخص كبير بالسن»): the person receives it.
_GIFT_REACH = 3  # words between the gift or the thanks and the person
_GIFT_WORDS = frozenset(
    tokenise(normalise("gift gifts present presents هدیه کادو هدية هدايا اهدي اهديها نهدي"))
)
_COMPLAINT_WORDS = concept_words("complaint")
_ABOUT = frozenset(
    tokenise(
        normalise(
            "about of on from against regarding concerning از على من عن ضد بخصوص بشان درباره درمورد"
        )
    )
)
# words from "complaint" to the person it is about («شكوى رسمية بخصوص تعامل المندوب»)
_COMPLAINT_REACH = 4
_VOCATIVE = "یا"  # «يا اخوي», "hey brother", addresses the bot
# Not the shop's people to talk to: "my manager", "this agent", "in person" (face to
# face), "another person", "one person" (a count).
_MINE = frozenset(tokenise(normalise("my in this that another one هذا هذه هاد")))
# English past "be" after a person ("your operator was helpful"; Persian «بود» and
# Arabic «كان» are past words wherever they stand). Not after "I": "I was wondering if I
# could talk to an agent" asks.
_WAS = frozenset(["was", "were", "wasnt", "werent"])
# Who is speaking when a person-word follows: "I'm a manager", «اینجانب مدیر خرید»,
# «أنا مدير مشتريات».
_SELF = frozenset(tokenise(normalise("i im iam اینجانب خودم انا ana")))
_ARTICLES = frozenset(tokenise(normalise("a an the am one یک یه خودم")))
# "Does your staff speak ...", "is customer service open ...": the staff are the
# subject of a question (a presence word makes it a request: "is anyone there").
_AUXILIARIES = frozenset(
    ["do", "does", "did", "is", "are", "was", "were", "has", "have", "had", "will"]
)
_DETERMINERS = frozenset(["your", "ur", "the", "a", "an", "any", "one", "of", "you", "yours"])
# Asking about times («چه ساعتی», "when", «امتى»).
_WHEN_PHRASES = _phrases(
    "when",
    "what time",
    "what hours",
    "which hours",
    "what days",
    "چه ساعتی",
    "ساعت چند",
    "تا کی",
    "چه موقع",
    "متى",
    "امتى",
    "ايمتى",
    "ایمتی",
    "وقتاش",
    "emta",
    "imta",
)
_WHAT = frozenset(["what", "which", "whats"])
_UNTIL = frozenset(tokenise(normalise("till until untill لين لحد لغایه")))
# ... or the days they work ("is the supervisor at the branch on Saturday?").
_DAYS = frozenset(
    tokenise(
        normalise(
            "monday tuesday wednesday thursday friday saturday sunday weekend weekends "
            "holiday holidays شنبه یکشنبه دوشنبه سهشنبه چهارشنبه پنجشنبه جمعه جمعهها "
            "تعطیل تعطیلات السبت الاحد الاثنين الثلاثاء الاربعاء الخميس الجمعة العطلة"
        )
    )
)
# Asking whether one can ("can", «ممکن», «میشه», «يمكن»).
_MODALS = frozenset(
    tokenise(
        normalise(
            "can could may would ممکن میشه میشود میتونم میتونه میتونید امکان يمكن ممكن "
            "اقدر تقدر momken mumkin بامکان بالامکان"
        )
    )
)
# "Must": with a question mark before it, a question about what one must do.
_MUST_WORDS = frozenset(tokenise(normalise("باید بایست لازمه لازم يجب ضروري")))
# "Who is your manager?", "where are your agents?": about the staff.
_WHO_WHERE = frozenset(["who", "where", "whos", "wheres"])
# («من» is also "from" and Persian "I"; «کی» Persian "when" too.)
_WHO = frozenset(tokenise(normalise("who whom مين")))
# The Persian and Arabic yes/no question marks, like "does" before the staff («آیا
# کارشناسان شما آخر هفته پاسخگو هستند؟», «هل موظفوكم يتحدثون الفارسية؟»); one that asks
# a person to call "me" is a request.
_QUESTION_PARTICLES = frozenset(tokenise(normalise("آیا هل")))
# "Do I need to call someone to ...", "should I contact support": a question about
# what the customer must do.
_MUST = _phrases("do i need to", "do i have to", "should i", "must i", "do we need to")
# A contact word aimed at the customer asks for a person without naming one ("transfer
# me", "call me back", «زنگ بزنید بهم», «با من تماس برقرار کنید»), unless a question word
# asks how or when ("when will you call me?"); "escalate" and "callback" need no object.
_ME = frozenset(
    tokenise(
        normalise(
            "me بهم باهام بنده اینجانب منو مرا بی فینی فیی بیا لی لیا معی ma3i ma3aya m3ay m3aya "
            # «نرجو التواصل معنا», "with us"; «نرجو الاتصال بنا»
            "معنا بنا "
            "beya bya biya "
            # Arabizi "in me", "to me" after a call ("ittasilu fiya", "3ayto liya")
            "fiya feya fiyya feyya fini feni liya lia lya"
        )
    )
)
_ME_PHRASES = _phrases("با من", "به من")
# Arabic verbs that carry "me" («كلموني», «حولني»): the suffix on a contact word, but not
# on «وصل», where «وصلني» is also "it reached me" (the parcel).
_ME_SUFFIXES = ("ونی", "نی")
# ... and «لي» on verbs of calling only («رنولي», «دقلي», «عيطولي»; «تحويلي» is also "my
# transfer")
_ME_SUFFIXES_OF_CALLS = ("ولی", "لی")
_ARRIVE = "وصل"
# "Put me through", "get back to me": aimed at the customer, like "call me".
_ME_CONTACT_PHRASES = _phrases(
    "put me through",
    "patch me through",
    "get back to me",
    "pass me to",
    "pass me on to",
    "hand me over to",
    "hand me to",
    "pass me over to",
    "message me",
    "text me",
    "dm me",
    "pm me",
    "پیام بده",
    "پیام بدید",
    "پیام بدین",
    # «تلفن», "telephone", is a call asked for only with the verb asked («یه نفر به من
    # تلفن کنه»); alone it is the phone asked about («تلفن پشتیبانی به من بدید»)
    "تلفن کن",
    "تلفن کنه",
    "تلفن کنید",
    "تلفن کنین",
    "تلفن بزن",
    "تلفن بزنه",
    "تلفن بزنید",
    "تلفن بزنین",
)
# ... and "give me a call", "reach out to me", which like "call me" end the clause or
# say when or how ("give me a call tomorrow"; not "... before the courier comes")
_ME_CALL_PHRASES = _phrases(
    "give me a call",
    "give me a ring",
    "give me a buzz",
    "give us a call",
    "give us a ring",
    "reach out to me",
    "reach out to us",
    "get in touch with me",
    "get in touch with us",
)
# «درخواست تماس», "a call request", is a callback (one token: see `_COMPOUND_NOUNS`).
_CALL_REQUEST = "درخواستتماس"
_PERSON_CONTACTS = frozenset(
    [*tokenise(normalise("escalate escalation callback تصعيد صعد")), _CALL_REQUEST]
)
# Raising the matter to someone, Arabic «رفع» («ارفعوا الموضوع للإدارة», «ارفع شكواي إلى
# المدير»): asked (imperative or «ممكن ترفع»), and aimed with «ل» or «إلى» at a person or a
# department; «ارفعوا السعر» raises a price, «رفعت شكوى» tells of one filed.
_RAISE = frozenset(tokenise(normalise("ارفع ترفع")))
# ... and so is the chat handed to one («حوّل المحادثة لموظف», «حولوا طلبي للمشرف»):
# «حول» is also "about", which aims at no person; «ابعت», «أرسل», «تحول» are also "I
# send", "you transfer" («بحاول ابعت وديعة للوكيل» sends money to an estate agent).
_HAND_OVER = frozenset(tokenise(normalise("حول")))
_RAISE_ENDINGS = tuple(normalise(e) for e in ("", "وا", "و", "ي", "ه", "ها", "وه", "وها", "يها"))
_RAISE_PROCLITICS = ("", "و", "ف")
# Every written form of the verbs, spelled out once: the check runs on every token of
# every message.
_RAISED_FORMS = frozenset(
    proclitic + verb + ending
    for verb in _RAISE | _HAND_OVER
    for proclitic in _RAISE_PROCLITICS
    for ending in _RAISE_ENDINGS
)
_RAISE_REACH = 3  # words from the verb to the one it is raised to
# «حول» hands over when it leads the clause or follows "please" or "can you" («ممكن
# تحول», «لو سمحت حول», «الله يخليك حول»).
_HANDED_FORMS = frozenset(
    proclitic + verb + ending
    for verb in _HAND_OVER
    for proclitic in _RAISE_PROCLITICS
    for ending in _RAISE_ENDINGS
)
_BEFORE_HANDING = _MODALS | frozenset(
    tokenise(normalise("سمحت سمحتي سمحتو يخليك يخليكم فضلك رجاء يرجى ارجو بليز"))
)
_TO = frozenset(tokenise(normalise("الى لـ")))
# How far a contact word may be from "me" («با من تماس»: before; «زنگ بزنید بهم»: after).
_ME_REACH = 2
# The contact words that take the customer as object: one calls, transfers, connects
# "me"; "talk to me in French", "talk me through it" speak to the bot.
_CALL_WORDS = frozenset(
    tokenise(
        normalise(
            "call transfer connect contact reach phone ring escalate "
            # Arabizi «يتصل» ("mumkin tetasel beya?")
            "yetasel yetsel tetsel tetasel ettasel etasel yetesel yitasel "
            "تماس زنگ وصل متصل منتقل ارجاع اتصل یتصل تتصل تواصل اتواصل یتواصل تتواصل احاله صعد "
            "تصعید عیط یعیط تعیط نعیط "
            # misspelt «يتصل» («شي واحد يتاصل بيا»)
            "یتاصل تتاصل "
            # «زنگم بزنید», "ring me" (the Persian «م» on the noun); Iraqi «يخابر», "calls",
            # and «يراسل», "messages"
            "زنگم خابر یخابر تخابر یراسل راسل تراسل "
            # the English "call" in Persian letters («میشه کال بزنید؟»)
            "کال telephone "
            # Levantine and Egyptian "ring" and «دق» («رنوا علي», «حدا يدقلي»)
            "رن یرن ترن یدق تدق ندق دقوا دقو دقلی دقولی دقیلی یدقلی تدقلی"
        )
    )
)
_CALL_STEMS = frozenset(_verb_stem(w) for w in _CALL_WORDS if w.isascii())
_BE_OR_GET = frozenset(["be", "get"])
_ARTICLES_A = frozenset(["a", "an"])
_HAVE_GET = frozenset(["have", "get"])
# What may follow "call me" in a request ("call me back", "call me at 0912 ...", "call
# me tomorrow", "transfer me to billing"); "call me Carrie" or "call me something else"
# asks the bot to use a name.
_BACK = "back"
_AFTER_CALL_ME = frozenset(
    tokenise(
        "back at on to with through about regarding re asap now today tomorrow soon later "
        "please pls plz when if as urgently immediately quickly"
    )
)
_WH_WORDS = frozenset(
    tokenise(
        normalise(
            "how what when where why which whats wheres "
            "چطور چطوری چجوری چگونه کی کجا کجاست چرا "
            "كيف كيفاش ازاي شلون متى امتى ايمتى اين وين فين ليش ليه"
        )
    )
)
# Arabic «أين», "where", is written as Persian «این», "this" («به این شماره زنگ بزنید»,
# "call this number"): "where" only in a clause with no letter Arabic lacks.
_WHERE_OR_THIS = normalise("أين")
_PERSIAN_ONLY_LETTERS = frozenset("پژگ")


def _asks_wh(clause: Sequence[str]) -> bool:
    """Whether the clause holds a question word ("how", «کجا», «وين»)."""
    return any(
        t in _WH_WORDS
        and not (
            t == _WHERE_OR_THIS and any(not _PERSIAN_ONLY_LETTERS.isdisjoint(w) for w in clause)
        )
        for t in clause
    )


# Conjunctions that start a new clause ("I called yesterday and nobody answered").
_CLAUSE_WORDS = frozenset(
    tokenise(normalise("and but so then anyway ولی اما البته ولي لكن بس anyways"))
)
# "Is there", "get" ask for the person right after them ("get a manager on the line",
# "is there a real human"), not for "a limit ... someone can do" or "a person who
# lives in the US to get a card"; these words may stand between.
_POINTING = frozenset(["is", "are", "get", "needs", "requires"])
# "This needs a human": the person needed ends the clause or is followed by what they are
# for ("needs a person to look at it"); not "needs a person's signature".
_NEEDS = frozenset(["needs", "requires"])
# What a person gives the case when it needs them ("this needs human attention", "a
# person's eyes on it", "attention from a real person"); "needs a person's signature" is
# no request.
_ATTENTION = frozenset(["attention", "eyes", "intervention", "review", "touch"])
_BY_WHOM = frozenset(["from", "of", "by"])
_AFTER_NEEDED_PERSON = _ATTENTION | frozenset(
    ["to", "who", "that", "please", "pls", "now", "asap", "urgently", "here", "already"]
)


def _past_attention(clause: Sequence[str], i: int) -> int:
    """The word after "attention from" ("needs attention from a real person") if
    `clause[i]` is an attention word followed by "from", else `i`."""
    if i + 1 < len(clause) and clause[i] in _ATTENTION and clause[i + 1] in _BY_WHOM:
        return _next_word(clause, i + 2, _BEFORE_PERSON)
    return i


def _needed_person_ends(clause: Sequence[str], i: int) -> bool:
    """Whether the person-word at `clause[i]` ends the clause or is followed by what
    they are needed for."""
    return i + 1 >= len(clause) or clause[i + 1] in _AFTER_NEEDED_PERSON


_BEFORE_PERSON = _DETERMINERS | frozenset(["real", "actual", "live", "actually", "someone"])
# Who "of", "from" a service is one of its people ("someone from support", «یکی از
# پشتیبانی», «احد من خدمة العملاء»).
_OF = frozenset(tokenise(normalise("from of از من men mn")))
# The shop's departments, people only after "someone from", "a call from" ("support"
# alone is also a verb: "does it support 5G?").
_DEPARTMENTS = frozenset(
    tokenise(
        normalise(
            "support sales billing accounts accounting finance team staff department company "
            # «احد من عندكم», "someone from your side"
            "عندکم عندکن "
            "فروش مالی حسابداری فنی تعمیرات واحد بخش تیم شرکت فروشگاه "
            "المبيعات الحسابات المالية القسم قسم الصيانة الفني الدعم الشركة المحل الفريق"
        )
    )
)

_GREETINGS = _phrases(
    "hi",
    "hello",
    "hey",
    "hiya",
    "good morning",
    "good afternoon",
    "good evening",
    "salam",
    "how are you",
    "سلام",
    "درود",
    "وقت بخیر",
    "وقتتون بخیر",
    "وقت شما بخیر",
    "صبح بخیر",
    "عصر بخیر",
    "شب بخیر",
    "سلام علیکم",
    "خسته نباشید",
    "خوبی",
    "خوبین",
    "خوب هستید",
    "مرحبا",
    "اهلا",
    "اهلا وسهلا",
    "السلام علیکم",
    "سلام علیکم",
    "صباح الخیر",
    "مساء الخیر",
    "هلا",
    "کیف حالک",
)
_THANKS = _phrases(
    "thanks",
    "thank you",
    "thanks a lot",
    "thank you very much",
    "thx",
    "ty",
    "cheers",
    "ممنون",
    "مرسی",
    "متشکرم",
    "سپاس",
    "سپاسگزارم",
    "تشکر",
    "خیلی ممنون",
    "خیلی مرسی",
    "دستت درد نکنه",
    "دستتون درد نکنه",
    "شکرا",
    "شکرا جزیلا",
    "مشکور",
    "الف شکر",
)
_YES = _phrases(
    "yes",
    "yeah",
    "yep",
    "yup",
    "y",
    "ok",
    "okay",
    "sure",
    "it did",
    "it helped",
    "that helped",
    "helpful",
    "بله",
    "بلی",
    "آره",
    "آری",
    "حله",
    "اوکی",
    "باشه",
    "کمک کرد",
    "مفید بود",
    "نعم",
    "ایوه",
    "اجل",
    "تمام",
    "ساعدنی",
    "مفید",
)
_NO = _phrases(
    "no",
    "nope",
    "nah",
    "not really",
    "it didnt",
    "didnt help",
    "it didnt help",
    "not helpful",
    "نه",
    "خیر",
    "نخیر",
    "کمک نکرد",
    "کمکی نکرد",
    "مفید نبود",
    "فایده نداشت",
    "فایده نداره",
    "به دردم نخورد",
    "بدردم نخورد",
    "به درد نخورد",
    "جواب سوالم نبود",
    "جوابمو نداد",
    "اصلا",
    "didnt work",
    "that didnt help",
    "not what i asked",
    "thats not what i asked",
    "wrong answer",
    "useless",
    "no it didnt",
    "ما ساعدنی",
    "ماساعدنی",
    "ما فادنی",
    "ما نفعنی",
    "ما نفع",
    "مش مفید",
    "مو مفید",
    "لم یفد",
    "لا",
    "کلا",
    "لم یساعد",
    "لم یساعدنی",
    "غیر مفید",
    "it did not help",
    "did not help",
    "that did not help",
    "didnt help at all",
    "not helpful at all",
    "not at all",
    "it was not helpful",
    "didnt answer my question",
    "it didnt answer my question",
    "not what i needed",
    "فایده ای نداشت",
    "فایدهای نداشت",
    "جواب نداد",
    "حل نشد",
    "مشکلم حل نشد",
    "ما استفدت",
    "لم یفدنی",
    "مافادنی",
    "ما افادنی",
    "ماساعدنی شی",
    "ما ساعدتنی",
    "ما حل مشکلتی",
    "مش نافع",
    "مش مفیده",
    "مش مفید خالص",
    "مو زین",
)
# A bare yes or no, alone: the shortest words of `_YES` and `_NO`; "useless" or "wrong
# answer" on their own say more than that and stay questions (a person may help).
_BARE_YES_NO = _phrases(
    "yes",
    "yeah",
    "yep",
    "yup",
    "ok",
    "okay",
    "sure",
    "no",
    "nope",
    "nah",
    "بله",
    "بلی",
    "آره",
    "آری",
    "اوکی",
    "باشه",
    "حله",
    "نه",
    "خیر",
    "نخیر",
    "نعم",
    "ایوه",
    "اجل",
    "لا",
    "کلا",
)
# Filler that may accompany small talk without making it a question.
# Arabizi «لو سمحت», «من فضلك» ("5edmet el 3omala law sama7t"), polite as the Arabic.
_ARABIZI_PLEASE = "law lw sama7t sam7t sm7t sama7ti men mn fadlak fadlik fadlek"
_FILLER = frozenset(
    tokenise(
        normalise(
            # Nigerian "abeg", "please"
            "and again very much so please abeg there team all unfortunately "
            "و هم خیلی لطفا جزیلا من فضلک متاسفانه للاسف والله"
        )
    )
)
# Words that do not count towards the length of a bare request for a person.
_REQUEST_FILLER = _FILLER | frozenset(
    tokenise(
        normalise(
            "i a an to the with me can could please real live some want need get let give "
            "find actual actually any there one of your from now right away asap immediately "
            "who who's member "
            "با یه یک یک به من لطفا میخوام میخواهم میشه رو را واقعی "
            "ارید ابغی ابی مع الی لو سمحت من فضلک حقیقی "
            # Maghrebi "I want some(one)" («بغيت شي حد يعاوني»)
            "بغيت شي bghit " + _ARABIZI_PLEASE
        )
    )
)


PhraseGroup = frozenset[tuple[str, ...]]


@functools.cache
def _by_first_word(
    groups: tuple[PhraseGroup, ...],
) -> dict[str, tuple[tuple[str, ...], ...]]:
    """The phrases of `groups` by their first word, longest first (built once per set
    of groups: the phrase lists are constants)."""
    table: dict[str, list[tuple[str, ...]]] = {}
    for phrase in (p for group in groups for p in group if p):
        table.setdefault(phrase[0], []).append(phrase)
    return {w: tuple(sorted(ps, key=len, reverse=True)) for w, ps in table.items()}


def _phrase_at(tokens: Sequence[str], i: int, *groups: PhraseGroup) -> int:
    """The length of the longest phrase of `groups` starting at `tokens[i]`, or 0."""
    table = _by_first_word(groups)
    return _longest_at(tokens, i, table) if tokens[i] in table else 0  # most words start none


PhraseTable = dict[str, tuple[tuple[str, ...], ...]]


def _longest_at(tokens: Sequence[str], i: int, table: PhraseTable) -> int:
    for phrase in table.get(tokens[i], ()):
        if tuple(tokens[i : i + len(phrase)]) == phrase:
            return len(phrase)
    return 0


# The phrase groups looked up at every word of a clause, by first word once (a word that
# starts none is skipped with one dict lookup).
_NO_PERSON_TABLE = _by_first_word((_NO_PERSON_NEEDED,))
_HUMAN_TABLE = _by_first_word((_HUMAN_PHRASES,))
_CONTACT_TABLE = _by_first_word((_CONTACT_PHRASES,))
_REQUEST_TABLE = _by_first_word((_REQUEST_PHRASES,))
_ANSWER_TABLE = _by_first_word((_ANSWER_PHRASES,))
_ME_TABLE = _by_first_word((_ME_PHRASES,))
_ME_CONTACT_TABLE = _by_first_word((_ME_CONTACT_PHRASES,))
_ME_CALL_TABLE = _by_first_word((_ME_CALL_PHRASES,))
_WHEN_TABLE = _by_first_word((_WHEN_PHRASES,))


def _strip_phrases(
    tokens: Sequence[str], phrases: tuple[PhraseGroup, ...]
) -> tuple[list[str], bool]:
    """Remove every occurrence of the phrases (longest first); report whether any was found."""
    table = _by_first_word(phrases)  # looked up once, not per token
    if table.keys().isdisjoint(tokens):  # most messages: no phrase starts anywhere
        return list(tokens), False
    out: list[str] = []
    found = False
    i = 0
    while i < len(tokens):
        length = _longest_at(tokens, i, table)
        if length:
            i += length
            found = True
        else:
            out.append(tokens[i])
            i += 1
    return out, found


@dataclass(frozen=True, slots=True)
class Triage:
    """What a message is, and the tokens left once greetings/thanks are taken out."""

    kind: MessageKind
    rest: str  # normalised text without leading small talk, for the matcher


# A letter held down («اپراتووووور», "operatorrr"): three or more become one.
_HELD_LETTER = re.compile(r"(\w)\1{2,}")
# Person-words this long are recognised with one letter wrong ("operater", «کارشناش»);
# shorter ones are too often another word ("stuff" is not "staff").
_MIN_TYPO_LENGTH = 6
# (not the compounds: they are joined from two typed words, never typed as one)
_LONG_HUMAN_WORDS = tuple(
    w for w in sorted(_HUMAN_WORDS - _COMPOUND_PEOPLE) if len(w) >= _MIN_TYPO_LENGTH
)
# Shorter Latin-letter person-words with one letter left out ("persn", "humn", "agnt"):
# a dropped letter, unlike a changed one ("stuff", "agony"), rarely makes another word;
# the few that do are left out ("exert", "gent", and "amin", a name). Not in Persian or Arabic
# script, where short words are: «آسان» ("easy") is «انسان» less a letter.
_DROPPED_LETTER = (
    frozenset(
        w[:k] + w[k + 1 :]
        for w in _HUMAN_WORDS
        if w.isascii() and w.isalpha() and len(w) in (_MIN_TYPO_LENGTH - 1, _MIN_TYPO_LENGTH)
        for k in range(len(w))
    )
    - _HUMAN_WORDS
    - {"exert", "amin", "gent", "gents"}
)
# ... or two letters swapped ("humna", "agnet", "opertaor": a swap is two edits, more than
# the one letter wrong above allows): Latin-letter person-words of five letters or more.
_SWAPPED_LETTERS = (
    frozenset(
        w[:k] + w[k + 1] + w[k] + w[k + 2 :]
        for w in _HUMAN_WORDS
        if w.isascii() and w.isalpha() and len(w) >= _MIN_TYPO_LENGTH - 1
        for k in range(len(w) - 1)
    )
    - _HUMAN_WORDS
)


# ... or, five letters long, one vowel for another ("agant", "humen"), as often as a
# typed vowel is a guess; not "staff" ("stuff", "stiff"), and not the words and names
# the change makes ("admen", "haman").
_VOWELS = "aeiou"
_CHANGED_VOWEL = (
    frozenset(
        w[:k] + v + w[k + 1 :]
        for w in _HUMAN_WORDS
        if w.isascii() and w.isalpha() and len(w) == _MIN_TYPO_LENGTH - 1 and w != "staff"
        for k in range(len(w))
        if w[k] in _VOWELS
        for v in _VOWELS
    )
    - _HUMAN_WORDS
    - {"adman", "admen", "haman", "heman"}
)

# ... or, five letters long, one letter typed too many ("huaman", "agennt"); not the words
# that makes ("humane", "insane", French "argent").
_INSERTED_LETTER = (
    frozenset(
        w[:k] + c + w[k:]
        for w in _HUMAN_WORDS
        if w.isascii() and w.isalpha() and len(w) == _MIN_TYPO_LENGTH - 1
        for k in range(1, len(w) + 1)
        for c in "abcdefghijklmnopqrstuvwxyz"
    )
    - _HUMAN_WORDS
    - {"humane", "insane", "argent", "admins", "staffs", "agents", "humans"}
)

# The listed mistypings above (not "one letter from" any long person-word, which in a
# long message is as often another word: "expect", "expert"), read beside a request form
# or a way to talk in a clause of any length ("I need a huan to look at this order").
_MISTYPED_PEOPLE = _DROPPED_LETTER | _SWAPPED_LETTERS | _CHANGED_VOWEL | _INSERTED_LETTER


# English words of their own one letter from a long person-word: "please advise", "I
# expect a refund", "it was managed badly" name no adviser, expert or manager.
_WORDS_NEAR_PEOPLE = frozenset(
    [
        "advise",
        "advised",
        "advises",
        "expect",
        "expects",
        "export",
        "exports",
        "managed",
        "manages",
        "humane",
    ]
)


# Arabic «الإدارة» ("the management", «للإدارة») is a person-word with its article or
# proclitic; bare, Persian «اداره» is an office («فاکتور لازم دارم واسه اداره», "I need the
# invoice for work").
_WITH_ARTICLE_ONLY = frozenset(tokenise(normalise("اداره")))


@functools.lru_cache(maxsize=1 << 14)
def _is_person_word(token: str, *, typos: bool = True) -> bool:
    """Whether `token` names a person to talk to: as listed, held letters undone, with
    an Arabic proclitic («للموظف»), in a Persian, Arabic or English inflection
    («مدیرتونو», «کارشناسان», «موظفيكم», "specialists"), or with one letter wrong
    (`typos`: in a long message a word one letter from a person is more often another
    word, "expect" and "expert")."""
    token = _HELD_LETTER.sub(r"\1", token)
    if token in _WITH_ARTICLE_ONLY:
        return False
    if token in _HUMAN_WORDS:
        return True
    bare = [token[len(p) :] for p in _ARABIC_PROCLITICS if token.startswith(p)]
    if token in _PERSONAL or any(b in _PERSONAL for b in bare):
        return False
    forms = {
        form
        for word in (token, *bare)
        for form in (word, *persian_variants(word), *arabic_variants(word), english_stem(word))
    }
    forms |= {f[: -len(e)] for f in forms for e in _PERSON_ENDINGS if f.endswith(e)}
    if forms & _HUMAN_WORDS:
        return True
    if typos and token in _MISTYPED_PEOPLE:
        return True
    return (
        typos
        and token not in _WORDS_NEAR_PEOPLE
        and len(token) >= _MIN_TYPO_LENGTH
        and any(
            Levenshtein.distance(token, word, score_cutoff=1) <= 1 for word in _LONG_HUMAN_WORDS
        )
    )


def is_human_request(tokens: Sequence[str]) -> bool:
    """Whether the customer asks for a person ("talk to a human", «اپراتور», «اريد موظف»).

    A person-word («اپراتور», "agent", «موظف», "supervisor», «همکار») counts in a short
    message, or in a longer one with a contact verb ("talk", «حرف», «التحدث»). Naming a
    service ("customer service", «پشتیبانی», «الدعم») is not a request (it may be a
    question about its hours) unless a person-word or contact verb joins it. Refusing
    the bot («نه ربات», «مو روبوت») is a request; saying a person is not needed
    ("no need for a human, just tell me ...") is not.
    """
    # A person refused ("no need for a human") is not asked for; a refusal of something
    # else ("I don't want canned answers, connect me to a supervisor") leaves the request.
    wanted = _without_refused_person(tokens)
    refused = len(wanted) < len(tokens)
    rest, has_phrase = _strip_phrases(wanted, (_HUMAN_PHRASES,))
    rest, has_contact_phrase = _strip_phrases(rest, (_CONTACT_PHRASES,))
    has_contact_word = any(_is_contact(wanted, i) for i in range(len(wanted)))
    has_answer = _answers(wanted)
    has_presence = not _PRESENCE_WORDS.isdisjoint(wanted)
    has_someone = not _ONE_WORDS.isdisjoint(rest) and any(
        _someone_at(rest, i) for i in range(len(rest))
    )
    # "someone help me" names a person (the length rule below keeps "can someone help
    # me unblock my pin?" a question)
    helped = not _HELP_ME.isdisjoint(wanted)
    has_word = any(
        _is_person_word(t) and not _not_to_talk_to(rest, i) for i, t in enumerate(rest)
    ) or ((has_contact_word or has_answer or has_presence or helped) and has_someone)
    has_contact = has_contact_phrase or has_contact_word or (has_word and has_presence)
    bot_named = not _BOT_WORDS.isdisjoint(tokens)  # most messages name no bot
    asked_about = bot_named and any(
        t in _BOT_WORDS and _asked_what_you_are(tokens, i) for i, t in enumerate(tokens)
    )
    has_bot = (
        bot_named
        and any(
            t in _BOT_WORDS
            and not _self_denied(tokens, i)
            and not _thanked(tokens, i)
            and not _asked_what_you_are(tokens, i)
            for i, t in enumerate(tokens)
        )
    ) or _strip_phrases(tokens, (_BOT_PHRASES,))[1]
    # beside the bot, "someone" is a person ("this bot is useless, send someone")
    if has_bot and (has_word or has_someone or not _NEGATIONS.isdisjoint(wanted)):
        return True
    if not has_word and not (has_phrase and has_contact):
        return False
    if (refused or asked_about) and not has_contact:
        return False  # "are you a bot or a human?" asks what the bot is
    # What the message is about besides asking for someone: a request says little else
    # ("a real human agent right now, please"); "can someone explain the warranty" asks
    # about the warranty.
    content = [
        t
        for t in rest
        if t not in _REQUEST_FILLER and t not in LIGHT_WORDS and not _is_person_word(t)
    ]
    return len(content) <= 1 or has_contact or has_answer


# "I'm not a robot" («أنا مش روبوت», «انا لست روبوت»): the customer of a captcha, not the
# bot refused.
_NOT_SELF = frozenset(tokenise(normalise("not مش مو لست ماني " + _ARABIZI_NOT)))
# ... and «آدمم نه ربات», «انسانم نه روبات» ("I am human, not a robot"): the Persian
# copula «م» on the person-word
_I_AM_HUMAN = frozenset(tokenise(normalise("آدمم انسانم")))
_NOT = frozenset(tokenise(normalise("نه not")))


def _self_denied(tokens: Sequence[str], i: int) -> bool:
    """Whether the bot word at `tokens[i]` is what the customer says they are not."""
    j = _previous_word(tokens, i - 1, _ARTICLES_A)
    if j > 0 and tokens[j] in _NOT and tokens[j - 1] in _I_AM_HUMAN:
        return True  # «من آدمم نه ربات», "I am human, not a robot"
    if j < 0 or tokens[j] not in _NOT_SELF:
        return False
    j = _previous_word(tokens, j - 1, frozenset(["am", "are"]))
    return j >= 0 and tokens[j] in _SELF


# "Are you a bot or a person?" («تو bot هستی یا آدم واقعی؟», «انت بوت ولا انسان؟»):
# the customer asks what the bot is; "you" before the bot word (or the Persian "you are"
# after it) and "or" soon after.
_YOU = frozenset(tokenise(normalise("you u تو شما انت انتی انتا نتا enta inta")))
_YOU_ARE = frozenset(tokenise(normalise("هستی هستید هستین")))
_OR = frozenset(tokenise(normalise("or یا ولا او walla wala")))
_OR_REACH = 3  # words from the bot word to "or"


def _asked_what_you_are(tokens: Sequence[str], i: int) -> bool:
    """Whether the bot word at `tokens[i]` is asked about: "are you a bot or ...?", "tu
    adami ya robot?", «پشتیبانی شما هم بات ه یا آدم واقعی؟» ("you" before it, "or"
    within three words on either side)."""
    j = _previous_word(tokens, i - 1, _ARTICLES_A)
    addressed = (
        (j >= 0 and tokens[j] in _YOU)
        or (i + 1 < len(tokens) and tokens[i + 1] in _YOU_ARE)
        or any(t in _YOU for t in tokens[max(0, i - 2 * _OR_REACH) : i])
    )
    near = tokens[max(0, i - _OR_REACH) : i + 1 + _OR_REACH]
    return addressed and any(t in _OR for t in near)


def _thanked(tokens: Sequence[str], i: int) -> bool:
    """Whether the bot word at `tokens[i]` is thanked («مرسی ربات», "thanks bot", «شكرا
    يا بوت»): the bot addressed, not refused."""
    j = _previous_word(tokens, i - 1, frozenset([_VOCATIVE]))
    return j >= 0 and (tokens[j],) in _THANKS


def _previous_word(tokens: Sequence[str], i: int, skipped: frozenset[str]) -> int:
    """The index of the last token up to `i` not in `skipped` (-1 if none)."""
    while i >= 0 and tokens[i] in skipped:
        i -= 1
    return i


# How many words may stand between "no need for" and the person it refuses.
_REFUSAL_REACH = 3


def _without_refused_person(tokens: Sequence[str]) -> list[str]:
    """The tokens without "no need for a human"-style refusals of a person: they say
    what the customer does not want, not what the question is about."""
    if _NO_PERSON_TABLE.keys().isdisjoint(tokens):
        return list(tokens)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        refusal = tokens[i] in _NO_PERSON_TABLE and _longest_at(tokens, i, _NO_PERSON_TABLE)
        # «ربات نمیخوام، ...», «ما بدي روبوت بدي انسان»: the bot refused, before the Persian
        # verb or after the Arabic one, not a person further on
        bot_refused = (i > 0 and tokens[i - 1] in _BOT_WORDS) or (
            refusal and i + refusal < len(tokens) and tokens[i + refusal] in _BOT_WORDS
        )
        if refusal and not bot_refused:
            # the person after the refusal ("no need for a human", «مش عايز موظف») ...
            ahead = tokens[i + refusal : i + refusal + _REFUSAL_REACH]
            person = next((j for j, t in enumerate(ahead) if _is_person_word(t)), None)
            if person is not None:
                i += refusal + person + 1
                continue
            # ... or before it («اپراتور لازم نیست»)
            start = max(0, len(out) - _REFUSAL_REACH)
            before = [j for j in range(start, len(out)) if _is_person_word(out[j])]
            if before:
                del out[before[0] :]
                i += refusal
                continue
        out.append(tokens[i])
        i += 1
    return out


# Nouns made of a contact word and another, read as one word: a "call center operator"
# is a job, «کد پیگیری» a tracking code, not a call or a follow-up asked for.
_COMPOUND_NOUNS = (
    _phrases(
        "team member",
        "team members",
        "delivery person",
        "delivery guy",
        "delivery man",
        "delivery driver",
        "staff member",
        "staff members",
        "team lead",
        "team leader",
        "human readable",
        "call center",
        "call centre",
        "call centers",
        "call centres",
        "مرکز تماس",
        "کال سنتر",
        "مركز الاتصال",
        "مركز اتصال",
        "کد پیگیری",
        # appliances named "robot" («ربات جارو», "a robot vacuum"): not the bot
        "ربات جارو",
        "جارو رباتیک",
        "robot vacuum",
        "robot vacuums",
        "مكنسة روبوت",
        "روبوت تنظيف",
        "درخواست تماس",
        "شماره پیگیری",
        # a way to contact, asked for as a detail («شماره تماس پشتیبانی رو میدید؟»)
        "contact number",
        "contact details",
        "contact info",
        "contact information",
        "contact email",
        "contact page",
        "contact form",
        "شماره تماس",
        "اطلاعات تماس",
        "راه ارتباطی",
        "رقم التواصل",
        "رقم الاتصال",
        "معلومات الاتصال",
        "بيانات التواصل",
    )
    | _PERSON_COMPOUNDS
)


# Other spellings of a compound, joined as its usual one: the Finglish ezafe of «درخواست
# تماس» ("darkhast-e tamas", "darkhaste tamas", read «درخواست ا تماس», «درخواسته تماس»).
_CALL_REQUEST_SPELLINGS = _phrases("درخواست ا تماس", "درخواسته تماس", "درخواست ای تماس")
_COMPOUND_SPELLINGS = {"".join(words): _CALL_REQUEST for words in _CALL_REQUEST_SPELLINGS}
_COMPOUND_TABLE = _by_first_word((_COMPOUND_NOUNS | _CALL_REQUEST_SPELLINGS,))


# ... and their last words: a message holds a compound only if it holds a first and a
# last word of one ("in" and "one" alone are in most English messages).
_COMPOUND_LAST_WORDS = frozenset(words[-1] for words in _COMPOUND_NOUNS | _CALL_REQUEST_SPELLINGS)


def _verb_of_call(tokens: Sequence[str], i: int) -> bool:
    """Whether `tokens[i]` is a Persian light verb asked («بگیرید», «بزنید») after a call
    word («تماس»), which makes the two a verb."""
    return tokens[i] in _ASKED_LIGHT_VERBS and tokens[i - 1] in _CALL_WORDS


def _joined(tokens: Sequence[str]) -> list[str]:
    """The tokens with every compound noun made one token."""
    table = _COMPOUND_TABLE
    if table.keys().isdisjoint(tokens) or _COMPOUND_LAST_WORDS.isdisjoint(tokens):
        return list(tokens)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        length = _longest_at(tokens, i, table) if tokens[i] in table else 0
        if length and tokens[i + length : i + length + 1] and _verb_of_call(tokens, i + length):
            length = 0  # «با این شماره تماس بگیرید»: "call this number", not its "contact number"
        word = "".join(tokens[i : i + length]) if length else tokens[i]
        out.append(_COMPOUND_SPELLINGS.get(word, word))
        i += length or 1
    return out


# An Arabizi verb split by a hyphen after its first-person prefix ("3ayez a-kalem 7ad",
# "a7tag a-tkalem"): the prefix letter joined back when the whole is a contact word.
_VERB_PREFIXES = frozenset(["a", "n", "y", "t", "e"])


def _hyphens_joined(tokens: list[str]) -> list[str]:
    """`tokens` of a piece of text that holds a hyphen, Arabizi prefixes joined back."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _VERB_PREFIXES and i + 1 < len(tokens):
            whole = token + tokens[i + 1]
            if whole in _CONTACT_WORDS:
                out.append(whole)
                i += 2
                continue
        out.append(token)
        i += 1
    return out


# Words typed wrong or glued that the rules read as typed right: the words of a service
# with one letter wrong ("custmer servce", "suport"; "costumer", a common misspelling),
# and Persian «با» glued to the person or service after it («باکارشناس», «باپشتیبانی»).
_SERVICE_SPELLINGS = ("customer", "customers", "service", "services", "support")
_MISSPELT_SERVICE = {"costumer": "customer", "costumers": "customers"}
_MIN_SERVICE_TYPO = 6
_GLUED_WITH = "با"
# "Someone", "anybody" with a letter left out or two swapped ("I need somone to check my
# refund", "is anyne there", "can sombody call me"): no English word is made so.
_MISTYPED_ANYONE = {
    typed: word
    for word in ("someone", "somebody", "anyone", "anybody")
    for k in range(len(word))
    for typed in (
        word[:k] + word[k + 1 :],
        word[:k] + word[k + 1 : k + 2] + word[k] + word[k + 2 :],
    )
    if typed != word
}


# The rules' key words typed with one slip («کارشانس», «المدر», "conect", "speka"; see
# `faq.typos`): the person-words, with the Arabic proclitics and plural they take
# («للمدير», «الموظفين»), the verbs of talking (not "transfer", whose "trasfer" is money
# moved) and the words of a service.
_KEY_WORD_TYPOS = KeyWordTypos(
    itertools.chain(
        (
            proclitic + word + plural
            for word in _HUMAN_WORDS - _ANYONE - _COMPOUND_PEOPLE
            for proclitic in ("", *(() if word.isascii() else _ARABIC_PROCLITICS))
            for plural in ("", *(() if word.isascii() else _ARABIC_PLURALS))
        ),
        _CONTACT_WORDS - {"transfer"},
        (word for phrase in _HUMAN_PHRASES for word in phrase),
    ),
    proclitics=_ARABIC_PROCLITICS,
)


@functools.lru_cache(maxsize=1 << 14)
def _repaired(token: str) -> tuple[str, ...]:
    """`token` as the word or words it was meant to be."""
    if (meant := _KEY_WORD_TYPOS.meant(token)) is not None:
        return (meant,)
    if token.isascii():
        if token in _MISSPELT_SERVICE:
            return (_MISSPELT_SERVICE[token],)
        if token in _MISTYPED_ANYONE:
            return (_MISTYPED_ANYONE[token],)
        if len(token) >= _MIN_SERVICE_TYPO and token not in _SERVICE_SPELLINGS:
            for word in _SERVICE_SPELLINGS:
                if Levenshtein.distance(token, word, score_cutoff=1) <= 1:
                    return (word,)
        return (token,)
    rest = token[len(_GLUED_WITH) :]
    if (
        token.startswith(_GLUED_WITH)
        and len(rest) > 2
        and (_is_person_word(rest, typos=False) or (rest,) in _HUMAN_PHRASES)
    ):
        return (_GLUED_WITH, rest)
    return (token,)


def _clauses(text: str) -> list[list[str]]:
    """The tokens of each clause of `text`: split at punctuation and conjunctions."""
    clauses: list[list[str]] = []
    for piece in _CLAUSE_END.split(text):
        clause: list[str] = []
        tokens = [word for token in tokenise(normalise(piece)) for word in _repaired(token)]
        if "-" in piece:
            tokens = _hyphens_joined(tokens)
        for token in _joined(tokens):
            if token in _CLAUSE_WORDS:
                clauses.append(clause)
                clause = []
            else:
                clause.append(token)
        clauses.append(clause)
    return [c for c in clauses if c]


# "Someone else", «یه نفر دیگه», «حد تاني»: another person who collects or receives,
# not one of the shop's to talk to.
_ELSE = frozenset(tokenise(normalise("else دیگه دیگر دیگری تانی ثانی اخر tany tani dige")))


# Persian «آدم» after «که» is "one" in general («که آدم بیاد از نزدیک ببینه»).
_ONE_GENERIC = frozenset(tokenise(normalise("آدم ادم")))


def _ours(tokens: Sequence[str], i: int) -> bool:
    """Whether `tokens[i]` names someone of the shop's to talk to: not "my manager",
    "support's number", nor the one complained about ("a complaint
    about the agent", «اشتكي على المندوب»; "complain to a manager" asks for one)."""
    if i > 0 and (tokens[i - 1] in _MINE or tokens[i - 1].isdigit()):  # "for 4 people"
        return False
    if i + 1 < len(tokens) and tokens[i + 1] in _ELSE:  # "someone else picks it up"
        return False
    if _not_to_talk_to(tokens, i):
        return False
    near = tokens[max(0, i - _ATTRIBUTE_REACH) : i + _ATTRIBUTE_REACH + 1]
    if any(t in _ATTRIBUTES for t in near):  # «شماره پشتیبانی», "the agent's email"
        return False
    if i > 0 and tokens[i - 1] == _RELATIVE and tokens[i] in _ONE_GENERIC:
        return False  # «مغازه دارین که آدم بیاد ببینه؟», "a shop where one can come and see"
    before = tokens[max(0, i - _COMPLAINT_REACH) : i]
    complaint = next((j for j, t in enumerate(before) if t in _COMPLAINT_WORDS), None)
    return complaint is None or not any(t in _ABOUT for t in before[complaint + 1 :])


def _not_to_talk_to(tokens: Sequence[str], i: int) -> bool:
    """Whether the person at `tokens[i]` is thanked («شكرا للموظف», "tell the agent
    thanks") or given a gift («ابي اهدي شخص عزيز ساعة»): not one to talk to. (Not
    "someone else" here: «دیگه» after a person is also "come on", «اپراتور دیگه!».)"""
    if i > 0 and (tokens[i - 1],) in _THANKS:
        return True
    # «هدیه برای یه نفر», "a gift for someone"; "tell the agent thanks from me"
    near = tokens[max(0, i - _GIFT_REACH) : i + _GIFT_REACH + 1]
    return any(t in _GIFT_WORDS or t in _GRATITUDE for t in near)


def _next_word(tokens: Sequence[str], i: int, skipped: frozenset[str]) -> int:
    """The index of the first token from `i` not in `skipped` (len(tokens) if none)."""
    while i < len(tokens) and tokens[i] in skipped:
        i += 1
    return i


def _names_staff(tokens: Sequence[str], i: int, span: int = 1) -> bool:
    """Whether a person or a service is named at `tokens[i]` (or `span` - 1 words on:
    "the delivery person")."""
    return any(
        _is_person_word(tokens[j], typos=False)
        or tokens[j] in _MISTYPED_PEOPLE  # "does your staf speak Arabic?"
        or (tokens[j] in _HUMAN_TABLE and bool(_longest_at(tokens, j, _HUMAN_TABLE)))
        for j in range(i, min(i + span, len(tokens)))
    )


def _tells(clause: Sequence[str]) -> bool:
    """Whether the clause tells about people rather than asks for one: a past call
    ("I talked to your operator yesterday", «کلمت الموظف امبارح»), the customer's own
    people («داداشم میاد», "I'm a manager"), a question about the staff ("does your staff
    speak Arabic?", "did an agent look at my case?") or about what one must do ("do I
    need to call someone to ...")."""
    described = _relative_past(clause)
    # whether the clause asks something, read once: every time word below needs it
    asks: bool | None = None
    for i, token in enumerate(clause):
        bare = token[1:] if token.startswith("و") else token  # «وقال», "and said"
        urged = token == _ALREADY and i == len(clause) - 1  # "... a human already"
        future = i > 0 and clause[i - 1] in _FUTURE  # «سپاسگزار خواهم بود», "I will be"
        past = token in _PAST_WORDS or bare in _PAST_WORDS
        told = past and i not in described and not urged and not future
        if told and not (_own_intention(clause, i) or _impersonal(clause, i)):
            return True
        last = token in _LAST
        period = (
            token == _LAST_ENGLISH and clause[i + 1 : i + 2] and clause[i + 1] in _PERIODS
        ) or (token == _AGO and i > 0 and clause[i - 1] in _TIME_NOUNS)
        if (last or period) and asks is None:
            asks = _asks_something(clause)
        if last and not asks:
            return True
        if period and (not asks or _starts_with_a_person(clause)):
            return True
        if token in _OWN_PEOPLE and not (i > 0 and clause[i - 1] == _VOCATIVE):
            return True
        contact_verb = token.isascii() and _verb_stem(token) in _CONTACT_STEMS
        if contact_verb and token.endswith("ed") and not _inflected_contact(clause, i):
            return True  # "called", not "be transferred"
        if token in _SELF and _names_staff(clause, _next_word(clause, i + 1, _ARTICLES)):
            return True
        if token in _WAS and _subject_of_was(clause, i):
            return True  # "the agent was rude": the person is the subject of a story
        if token in _CALLED and i > 0 and _the_person(clause[i - 1]):
            return True
    if _the_person_does(clause) or _a_person_did(clause):
        return True
    if _phrase_at(clause, 0, _MUST) or not _JOB_WORDS.isdisjoint(clause):
        return True
    if clause[0] in _WHAT and not _ATTRIBUTES.isdisjoint(clause):
        return True  # "what number does the technician call from?": a detail asked
    if _wants_to_know(clause) or _asks_when(clause) or _of_another_organisation(clause):
        return True
    if clause[0] in _QUESTION_PARTICLES and not _MUST_WORDS.isdisjoint(clause):
        return True  # «آیا باید با پشتیبانی تماس بگیرم؟», «هل لازم أتصل بخدمة العملاء؟»
    # "is anyone there", "is a real person reading this?": whether a person is present
    present = any(t in _PRESENCE_WORDS or t == "there" for t in clause) or _is_anyone_there(clause)
    if clause[0] in _WHO_WHERE and len(clause) > 1 and clause[1] in _AUXILIARIES:
        clause = clause[1:]  # "who is your manager?" asks about the manager, like "is"
    if clause[0] in _QUESTION_PARTICLES and any(t in _ME or t in _I_CAN for t in clause):
        return False  # «آیا کارشناس میتونه با من تماس بگیره؟» asks for the call
    causative = (
        clause[0] in _HAVE_GET
        and len(clause) > 1
        and (clause[1] in _ARTICLES_A or clause[1] in _ANYONE)
    )  # "have a technician phone me", "get someone to call me": imperatives
    return (
        (clause[0] in _AUXILIARIES or clause[0] in _QUESTION_PARTICLES)
        and not present
        and not causative
        and _names_staff(clause, _next_word(clause, 1, _DETERMINERS), span=2)
    )


# Levantine and Gulf «راح», «رح» ("will") before the customer's own verb («حولوني لموظف
# ولا راح ألغي كل طلباتي», "or I'll cancel all my orders"): a threat, not the shop's
# promise told («راح يتصل», "he will call"), nor the customer's own call («رح اتصل
# بخدمة العملاء», "I'll call customer service").
_WILL = frozenset(tokenise(normalise("راح رح")))
_FIRST_PERSON_PREFIXES = tuple(normalise(p) for p in ("ا", "ن"))
_OR_ELSE = frozenset(tokenise(normalise("ولا والا")))


def _own_intention(clause: Sequence[str], i: int) -> bool:
    """Whether `clause[i]` is "will" before a verb of the customer's other than a call:
    after "or else", or a first-person verb («راح البيت», "he went home", has the
    article)."""
    if clause[i] not in _WILL or i + 1 >= len(clause) or _may_contact(clause[i + 1]):
        return False
    verb = clause[i + 1]
    return (i > 0 and clause[i - 1] in _OR_ELSE) or (
        verb.startswith(_FIRST_PERSON_PREFIXES) and not verb.startswith(_ARTICLE)
    )


# The Persian impersonal "one can talk" («کسی هست که بشه باهاش حرف زد؟»): after «بشه»,
# «میشه» a short past stem is the infinitive, not a past call.
_IMPERSONAL_MODALS = frozenset(tokenise(normalise("بشه میشه بشود میشود بتوان میتوان")))
_SHORT_INFINITIVES = frozenset(tokenise(normalise("زد کرد")))
# ... of talking only: «میشه گارانتی رو به اسم یکی دیگه منتقل کرد؟» moves a warranty
_TALK_NOUNS = frozenset(tokenise(normalise("حرف صحبت گفتگو چت")))


def _impersonal(clause: Sequence[str], i: int) -> bool:
    """Whether the past stem at `clause[i]` is "talk" after an impersonal modal, in a
    clause that does not ask when («تا ساعت چند میشه با پشتیبانی صحبت کرد؟»)."""
    return (
        clause[i] in _SHORT_INFINITIVES
        and i > 0
        and clause[i - 1] in _TALK_NOUNS
        and any(t in _IMPERSONAL_MODALS for t in clause[:i])
        and not any(t in _WH_WORDS or t in _WHEN_TABLE for t in clause)
    )


# The customer's own "can I" after «آیا», «هل» («آیا کسی هست که بتونم باهاش صحبت کنم؟»,
# «هل أقدر أكلم موظف؟»): asks to talk, unlike the staff's «میتونه» ("can the agent ...?").
_I_CAN = frozenset(tokenise(normalise("بتونم میتونم بتوانم میتوانم بشه اقدر استطيع يمكنني")))


_WAS_REACH = 3  # words from the person to "was" ("the technician who came was great")


def _subject_of_was(clause: Sequence[str], i: int) -> bool:
    """Whether a person is the subject of "was" at `clause[i]`: right before it, or a few
    words before with nothing asked in the clause ("the technician who came was great";
    "I need the agent who was on the phone" asks)."""
    if i > 0 and (_is_person_word(clause[i - 1], typos=False) or clause[i - 1] in _MISTYPED_PEOPLE):
        return True  # "the agnet was rude"
    return any(
        _is_person_word(t, typos=False) for t in clause[max(0, i - _WAS_REACH) : i]
    ) and not any(t in _REQUEST_FORMS or t in _MODALS for t in clause)


# Another organisation's people or service ("someone at my bank", «اپراتور بانک ملی»,
# «موظف في البنك الأهلي», «پشتیبانی ایرانسل»): asked about, not the shop's to talk to.
_ORGANISATIONS = frozenset(
    tokenise(
        normalise(
            "bank banks airline airlines insurer insurance embassy government telecom "
            "بانک بانکم بانکی بیمه سفارت هواپیمایی ایرانسل رایتل "
            "بنک البنک بنکی المصرف مصرف التامین السفاره الحکومه موبایلی "
            "irancell stc"
        )
    )
)
# What may stand between the person and the organisation ("at my bank", «در بانک»; not
# "a manager about my bank transfer")
_TO_ORGANISATION = frozenset(tokenise(normalise("at in of from my the a در فی من تبع عند لدی")))


def _of_another_organisation(clause: Sequence[str]) -> bool:
    """Whether a person or service in the clause is another organisation's: an
    organisation right after it, or after "at", "in", "my" ... only."""
    if _ORGANISATIONS.isdisjoint(clause):  # most clauses: one set look-up per word
        return False
    for i in range(len(clause)):
        if _names_staff(clause, i):
            j = _next_word(clause, i + 1, _TO_ORGANISATION)
            if j < len(clause) and clause[j] in _ORGANISATIONS:
                return True
    return False


def _starts_with_a_person(clause: Sequence[str]) -> bool:
    """Whether a person is the clause's subject ("the operator put me through ...",
    «یه نفر زنگ زد»): a request puts the verb first ("put me through to ...")."""
    i = _next_word(clause, 0, _DETERMINERS | _INDEFINITE)
    return i < len(clause) and (
        _is_person_word(clause[i], typos=False)
        or clause[i] in _MISTYPED_PEOPLE
        or _someone_at(clause, i)
    )


def _asks_something(clause: Sequence[str]) -> bool:
    """Whether the clause holds a request form or asks to be contacted ("I want", «لطفا»,
    «باهام تماس بگیرید», «اتصلوا بي»)."""
    return not _REQUEST_FORMS.isdisjoint(clause) or _contacts_me(clause)


# Arabic and Arabizi third-person present verbs («يحكي», «يتصل», "ye7ki", "y7ki").
_PRESENT_PREFIXES = ("ی", "y")
_ARABIZI_ARTICLE = "el"


def _the_person_does(clause: Sequence[str]) -> bool:
    """ "Does the employee speak Arabic?" without «هل»: a definite person («الموظف», "el
    mowazaf") before a present contact verb («الموظف يحكي عربي؟», «المندوب يتصل قبل ما
    يجي؟»), and nothing asked in the clause («خلي المشرف يتصل بي», «ممكن المدير يكلمني»)."""
    if not any(_present_contact(t) for t in clause[1:]):
        return False  # most clauses: no present contact verb, one cached look-up a word
    if any(t in _REQUEST_FORMS or t in _MODALS for t in clause) or _bring_or_send(clause):
        return False  # «دزلي واحد من الموظفين يتصل بيه», "send me one of the staff to call"
    return any(_definite_person_then_contact(clause, i) for i in range(1, len(clause)))


# English pasts that do not end in "-ed" ("someone took it", "the agent hung up").
_IRREGULAR_PASTS = frozenset(
    ["came", "took", "gave", "hung", "broke", "stole", "left", "sent", "brought", "sold", "got"]
)
_MIN_REGULAR_PAST = 5  # letters: "opened", "helped"; not "need", "red"
_REQUEST_STEMS = frozenset(_verb_stem(w) for w in _REQUEST_FORMS if w.isascii())


def _a_person_did(clause: Sequence[str]) -> bool:
    """ "Someone opened it", "a person signed for it", "never mind, someone helped me": a
    clause that starts with a person who did something; not "human needed asap", "agent
    required" (a request form in the past participle)."""
    i = _next_word(clause, 0, _DETERMINERS)
    if i + 1 >= len(clause):
        return False
    who, verb = clause[i], clause[i + 1]
    if not verb.isascii() or not (who in _ANYONE or _is_person_word(who, typos=False)):
        return False
    if not _POLITE.isdisjoint(clause):
        return False  # "someone qualified please"
    if verb in _IRREGULAR_PASTS:
        return True
    return (
        verb.endswith("ed")
        and len(verb) >= _MIN_REGULAR_PAST
        and _verb_stem(verb) not in _REQUEST_STEMS
    )


def _present_contact(token: str) -> bool:
    """Whether `token` is a contact verb in an Arabic or Arabizi present form."""
    return token.startswith(_PRESENT_PREFIXES) and _may_contact(token)


def _definite_person_then_contact(clause: Sequence[str], i: int) -> bool:
    """Whether `clause[i]` is a present contact verb after a definite person-word."""
    if not _present_contact(clause[i]):
        return False
    before = clause[i - 1]
    return _the_person(before) or (
        i > 1 and clause[i - 2] == _ARABIZI_ARTICLE and _is_person_word(before, typos=False)
    )


def _the_person(token: str) -> bool:
    """Whether `token` is an Arabic person-word with the article («المندوب», «الموظف»)."""
    return token.startswith(_ARTICLE) and _is_person_word(token, typos=False)


def _relative_past(clause: Sequence[str]) -> set[int]:
    """The positions of the past words inside Persian relative clauses of `clause`: from
    «که» after a noun with its relative «ی» to the first past verb."""
    inside: set[int] = set()
    for i, token in enumerate(clause):
        head = clause[i - 1] if i > 0 else ""
        if token != _RELATIVE or len(head) < _MIN_RELATIVE_HEAD:
            continue
        if not head.endswith(_RELATIVE_HEAD_ENDING) or _is_person_word(head, typos=False):
            continue
        for j in range(i + 1, min(i + 1 + _RELATIVE_REACH, len(clause))):
            if clause[j] in _PAST_WORDS:
                # «شماره‌ای که ازش بهم زنگ زدین»: the call itself is the past described,
                # a story of one
                if _may_contact(clause[j - 1]):
                    break
                inside.add(j)
                if clause[j] not in _PAST_TIMES:
                    break
    return inside


def _asks_when(clause: Sequence[str]) -> bool:
    """A question about the staff's times ("when do your agents answer?", «کارشناس
    فروش چه ساعتی جواب میده؟», «متى يتصل المندوب؟»), unless it asks whether one can or
    asks for one ("when can someone call me?"); "till what time can I call?" asks the
    hours whatever follows."""
    if not _UNTIL.isdisjoint(clause) and any(
        t in _UNTIL and clause[i + 1 : i + 2] and _longest_at(clause, i + 1, _WHEN_TABLE)
        for i, t in enumerate(clause)
    ):
        return True
    if _DAYS.isdisjoint(clause) and _WHEN_TABLE.keys().isdisjoint(clause):
        return False  # most clauses: one set look-up a word
    return any(
        t in _DAYS or (t in _WHEN_TABLE and _longest_at(clause, i, _WHEN_TABLE))
        for i, t in enumerate(clause)
    ) and not (any(t in _MODALS or t in _REQUEST_FORMS for t in clause) or _contacts_me(clause))


def _wants_to_know(clause: Sequence[str]) -> bool:
    """A request form serving a verb of knowing before any person ("I want to know whether
    your staff speak Arabic", «ابغى اعرف اذا الموظفين ...»): about the staff, unless it
    asks one to call ("I'd like to know if someone can call me back" asks)."""
    if _KNOW_WORDS.isdisjoint(clause):
        return False
    first_person = next(
        (i for i, t in enumerate(clause) if _is_person_word(t, typos=False)), len(clause)
    )
    return any(
        clause[i] in _KNOW_WORDS
        and any(t in _REQUEST_FORMS for t in clause[max(0, i - _PARTICIPLE_REACH) : i])
        for i in range(first_person)
    ) and not _contacts_me(clause)


@functools.lru_cache(maxsize=1 << 14)  # one cached look-up per word, as `_may_contact`
def _may_name_one(token: str) -> bool:
    """Whether `token` may be the person `_asks_for_one` finds asked for: a person-word,
    a mistyped one, "someone" or "one"."""
    return (
        token in _ANYONE
        or token in _SOMEONE
        or token in _A_ONE
        or token in _MISTYPED_PEOPLE
        or _is_person_word(token, typos=False)
    )


def _contact_from(tokens: Sequence[str], i: int) -> bool:
    """Whether `tokens[i]` is a contact word with "from" or "of" after it ("a call from
    support"), as `_asks_for_one` reads one asked of the staff."""
    return i + 1 < len(tokens) and tokens[i + 1] in _OF and _contact_base(tokens[i]) is not None


def _asks_for_one(clause: Sequence[str]) -> bool:
    """A request form and a person in one clause ("I need a real person to handle
    this", «عايز اتكلم مع موظف بني آدم», «ابغى اكلم موظف»), or who one can talk to ("who
    can I speak to about a refund?", «مين ممكن اكلمه؟»)."""
    wanted = _without_refused_person(clause)
    if not _WHO.isdisjoint(wanted) and (
        (
            not _MODALS.isdisjoint(wanted)
            and (_answers(wanted) or any(_is_contact(wanted, i) for i in range(len(wanted))))
        )
        or _who_i_talk_to(wanted)
    ):
        return True
    if any(_talks_to_a_department(wanted, i) for i in range(len(wanted))):
        return True
    # a call aimed at the customer ("ring me pls", «اريد احد يخابرني»); "I don't want a
    # person to call me": the call is refused with the person
    if len(wanted) == len(clause) and _contacts_me(wanted):
        return True
    # the last test below needs a person, "someone", or a contact word "from" someone:
    # without one (most clauses), the request and contact words need not be read
    if not any(_may_name_one(t) or _contact_from(wanted, i) for i, t in enumerate(wanted)):
        return False
    contact = any(
        _is_contact(wanted, i)
        or (wanted[i] in _CONTACT_TABLE and _longest_at(wanted, i, _CONTACT_TABLE))
        or (wanted[i] in _ME_CONTACT_TABLE and _longest_at(wanted, i, _ME_CONTACT_TABLE))
        for i in range(len(wanted))
    )
    helped = not _ASKING_HELP.isdisjoint(wanted) and _someone_helps_me(wanted)
    asked = (
        helped
        or not _REQUEST_FORMS.isdisjoint(wanted)
        or _given_one(wanted)
        or _someone_must(wanted)
        or _can_someone(wanted)
        or _bring_or_send(wanted)
        or _has_someone_act(wanted)
    )
    for i in range(len(wanted)):
        if wanted[i] in _REQUEST_TABLE and (length := _longest_at(wanted, i, _REQUEST_TABLE)):
            after = _past_attention(wanted, _next_word(wanted, i + length, _BEFORE_PERSON))
            if wanted[i] in _NEEDS and not _needed_person_ends(wanted, after):
                continue  # "my account needs a person's signature?"
            asked = (
                asked
                or wanted[i] not in _POINTING
                or _names_staff(wanted, after)
                or _of_staff(wanted, after)  # "get someone from your team on this"
            )
    if not (contact or asked):
        return False
    # "I want to know whether your staff ...": the form serves the inquiry before the
    # person; "I want a human to check my order" asks for the person first.
    first_person = next(
        (i for i, t in enumerate(wanted) if _is_person_word(t, typos=False)), len(wanted)
    )
    if any(t in _INQUIRY_WORDS for t in wanted[:first_person]):
        return False
    answer = (
        contact
        or _answers(wanted)
        or not _PRESENCE_WORDS.isdisjoint(wanted)
        or (asked and _looks_at_it(wanted))
        or helped
    )
    return any(
        (
            _ours(wanted, i)
            and (
                (t not in _ANYONE and (_is_person_word(t, typos=False) or t in _MISTYPED_PEOPLE))
                or (
                    (t in _ANYONE or _someone_at(wanted, i))
                    and (answer or _of_staff(wanted, i + 1))
                )
            )
        )
        # "can I get a call from support", «یه تماس از واحد فروش میخوام»: the staff named
        # by their service, the call asked for ("I got a message from your team" tells)
        or (asked and _contact_base(t) is not None and _of_staff(wanted, i + 1))
        for i, t in enumerate(wanted)
    )


# "Who do I talk to about a refund?", «مين اكلم بخصوص الاسترجاع؟»: the customer's own
# talk, English "do I" or "should I" before it, or an Arabic first-person verb; "who did
# you talk to?" asks about a talk that was, "... my neighbour's dog, who do I call?"
# about whom to call anywhere (verbs of talking only, not of calling).
_I_DO = _phrases("do i", "should i", "shall i", "can i")
_SPEAK = frozenset(tokenise(normalise("talk speak chat اکلم احکی اتکلم اتحدث احچی")))


def _who_i_talk_to(clause: Sequence[str]) -> bool:
    """Whether the clause asks whom the customer should talk to (with "who" in it), at
    the shop ("who do I call at my bank?" asks about another)."""
    if not _ORGANISATIONS.isdisjoint(clause):
        return False
    for i, token in enumerate(clause):
        if token not in _SPEAK or _refused_contact(clause, i):
            continue
        if token.isascii():
            if i >= 2 and (clause[i - 2], clause[i - 1]) in _I_DO:
                return True
        elif i > 0 and clause[i - 1] in _WHO:
            return True
    return False


# Persian "with whom" («با کی میتونم صحبت کنم؟», «با چه کسی تماس بگیرم؟»): «کی» alone is
# also "when" («کی زنگ میزنید؟»).
_WITH_WHOM = _phrases("با کی", "با چه کسی", "با کیا")
_WITH_WHOM_REACH = 3  # words from "whom" to the verb of talking


def _with_whom_i_talk(clause: Sequence[str]) -> bool:
    """Whether the clause asks in Persian whom the customer may talk to or call."""
    if _WITH_PERSIAN not in clause:
        return False
    for i in range(len(clause)):
        if length := _phrase_at(clause, i, _WITH_WHOM):
            end = min(i + length + _WITH_WHOM_REACH, len(clause))
            return any(
                t in _TALK_NOUNS or (t in _CALL_WORDS and not _delivered(clause, j))
                for j, t in enumerate(clause[i + length : end], i + length)
            )
    return False


# Verbs of talking, as typed: "transfer to other accounts" moves money, "transfers to
# certain accounts" is a noun.
_TALK_VERBS = frozenset(["talk", "speak", "chat", "connect", "contact", "reach", "touch"])
_TO_WITH = frozenset(["to", "with"])
_DEPARTMENT_REACH = 2  # words naming the department ("your complaints team")
# What may follow the department when it is the one asked for ("talk to billing please");
# "connect to the company network" names a network.
_AFTER_DEPARTMENT = frozenset(
    ["please", "pls", "plz", "now", "asap", "today", "about", "regarding", "for", "re"]
)


def _talks_to_a_department(clause: Sequence[str], i: int) -> bool:
    """Whether an English contact word at `clause[i]` is aimed at one of the shop's
    departments ("talk to billing", "connect me to sales", "put me in touch with your
    complaints team"); "connect to wifi" names none."""
    if clause[i] not in _TALK_VERBS or not _is_contact(clause, i):
        return False
    j = _next_word(clause, i + 1, _ME)
    if j == len(clause) or clause[j] not in _TO_WITH:
        return False
    k = _next_word(clause, j + 1, _DETERMINERS)
    return any(
        clause[m] in _DEPARTMENTS and (m + 1 == len(clause) or clause[m + 1] in _AFTER_DEPARTMENT)
        for m in range(k, min(k + _DEPARTMENT_REACH, len(clause)))
    )


# Persian «بده» ("give!", also spoken "is bad") asks for the person after an indefinite
# one («یه کارشناس بده», "ye adam bede"); «کارشناستون بده» says the agent is bad.
_GIVE = "بده"
_INDEFINITE = frozenset(tokenise(normalise("یه یک")))
_GIVE_REACH = 3  # words from «یه» to «بده»


def _given_one(clause: Sequence[str]) -> bool:
    """Whether the clause asks «یه ... بده» ("give me a ...")."""
    if _GIVE not in clause:  # most clauses: one scan
        return False
    return any(
        t == _GIVE and any(w in _INDEFINITE for w in clause[max(0, i - _GIVE_REACH) : i])
        for i, t in enumerate(clause)
    )


# "Someone must ...", «یکی باید», «یه نفر باید», «لازم حد يشوف»: the person is asked for
# (with what they must do: "someone has to be home?" asks about a delivery).
_SOMEONE_MUST_AFTER = _by_first_word(
    (_phrases("باید", "بایست", "should", "needs to", "has to", "need to", "have to"),)
)
_SOMEONE_MUST_BEFORE = frozenset(tokenise(normalise("لازم لازمه ضروري lazem")))
# "Right now" between the person and "must" («یه مسئول همین الان باید جوابگو باشه»)
_URGENCY = frozenset(
    tokenise(normalise("now right asap immediately today همین الان فورا امروز الحین هلا حالا"))
)


def _someone_must(clause: Sequence[str]) -> bool:
    """Whether someone or a person must do something in the clause ("someone needs to
    look at this", «یکی باید این سفارشو ببینه», «لازم حد يشوف الطلب»)."""
    if _SOMEONE_MUST_AFTER.keys().isdisjoint(clause) and _SOMEONE_MUST_BEFORE.isdisjoint(clause):
        return False  # no "must" word: the clause is not read word by word
    for i, token in enumerate(clause):
        indefinite = i > 0 and (clause[i - 1] in _ARTICLES_A or clause[i - 1] in _INDEFINITE)
        person = indefinite and _is_person_word(token, typos=False)
        if not (token in _ANYONE or _someone_at(clause, i) or person):
            continue  # "the manager needs to approve the invoice" tells what must happen
        k = _next_word(clause, i + 1, _URGENCY)
        after = k < len(clause) and _longest_at(clause, k, _SOMEONE_MUST_AFTER)
        # «لازمه یه کارشناس ببینه», "it is needed that an expert see it": the article
        # may stand between "must" and the person
        j = i - 2 if indefinite else i - 1
        if after or (j >= 0 and clause[j] in _SOMEONE_MUST_BEFORE):
            return True
    return False


# English imperatives that ask for someone to be brought ("send a real person over",
# "bring me someone who can help"): at the start of the clause only, after "please",
# "just" or "can you"; "I'm trying to send the deposit to the agent" tells.
_BRING = frozenset(
    tokenise(
        normalise(
            "send bring "
            # Arabic imperatives of bringing, sending, putting one on («هاتوا حد يفهم»,
            # «ابعتولي حد من خدمة العملاء», «حط لي مشرف على الخط»): also the past («المندوب
            # حط الطلب عند الباب», "the courier put the order at the door") or "I send"
            # after a subject, hence only leading the clause
            "هاتوا هاتولي جيبوا جيبولي جبلي ابعت ابعتلي ابعتولي ابعتوا ابعث ابعثوا ارسلوا "
            "حط حطلي حطولي حطوا عطني عطوني اعطني عطيني اعطيني "
            "gebli geblii hatli hatoli ib3atli eb3atli ab3atouli ab3atoli eb3atouli 7otli "
            # Iraqi «دز», "send" («دزلي واحد من الموظفين»)
            "دزلي دزولي دزوا"
        )
    )
)
_BEFORE_IMPERATIVE = frozenset(
    ["please", "abeg", "pls", "plz", "just", "kindly", "can", "could", "will", "would", "you", "u"]
) | frozenset(tokenise(normalise("لو سمحت سمحتوا الله يخليك يخليكم بسرعه طيب عافاك")))


def _bring_or_send(clause: Sequence[str]) -> bool:
    """Whether the clause starts with "send" or "bring" as an imperative, and not for
    a job ("send a technician to install it" asks for a visit)."""
    i = _next_word(clause, 0, _BEFORE_IMPERATIVE)
    if i == len(clause) or clause[i] not in _BRING:
        return False
    to = next((j for j in range(i + 1, len(clause) - 1) if clause[j] == "to"), None)
    return to is None or _is_contact(clause, to + 1) or clause[to + 1] in _ANSWER_WORDS


def _someone_sent(clause: Sequence[str]) -> bool:
    """Whether the clause sends for someone and says nothing else («ابعتولي حدا»,
    "ab3atouli 7ada", "please send someone asap"); «ابعتولي حد يركب الجهاز» asks for a
    visit."""
    if not _bring_or_send(clause):
        return False
    i = _next_word(clause, 0, _BEFORE_IMPERATIVE) + 1
    j = _next_word(clause, i, _ME | _REQUEST_FILLER)
    return (
        j < len(clause)
        and (clause[j] in _SOMEONE or clause[j] in _ANYONE)
        and all(t in _REQUEST_FILLER or t in _URGENCY for t in clause[j + 1 :])
    )


# "Have someone look at my order", "get a person to call me", "let a human handle this":
# an imperative of causing at the start of the clause, then someone or a person who is to
# look at the case, answer or call ("have the courier leave it at the door" asks nothing
# of a person; "get someone to sign for the parcel?" asks about the delivery).
_CAUSE = frozenset(["have", "get", "let", "make"])


def _has_someone_act(clause: Sequence[str]) -> bool:
    """Whether the clause starts by having someone look at, answer or call."""
    i = _next_word(clause, 0, _BEFORE_IMPERATIVE)
    if i == len(clause) or clause[i] not in _CAUSE:
        return False
    j = _next_word(clause, i + 1, _ARTICLES | _REAL)
    if j == len(clause) or not (
        clause[j] in _ANYONE or _someone_at(clause, j) or _is_person_word(clause[j], typos=False)
    ):
        return False
    reach = clause[j + 1 : j + 2 + _LOOK_REACH]
    return (
        _looks_after(clause, j)
        or _answers(reach)
        or any(_is_contact(clause, k) for k in range(j + 1, j + 1 + len(reach)))
    )


# "Can someone", «میشه یکی», «ممكن حد», "momken 7ad": asking whether someone can, which
# asks for them with what they would do ("can someone look at my order?"); "can the
# agent speak Arabic?" asks about the staff and is not counted here.
def _can_someone(clause: Sequence[str]) -> bool:
    """Whether a modal stands right before "someone" (an article between), or before a
    person who is to look at the case ("can a human look at my order")."""
    if _MODALS.isdisjoint(clause):
        return False
    return any(
        t in _MODALS
        and (j := _next_word(clause, i + 1, _ARTICLES | _REAL)) < len(clause)
        and (
            clause[j] in _ANYONE
            or _someone_at(clause, j)
            or (
                _is_person_word(clause[j], typos=False)
                and (_looks_after(clause, j) or _answers_after(clause, j))
            )
        )
        for i, t in enumerate(clause)
    )


def _answers_after(clause: Sequence[str], i: int) -> bool:
    """Whether the person at `clause[i]` is to answer or help within `_LOOK_REACH` words
    after them («یه همکار انسانی جوابمو بده», «ممكن موظف يساعدني؟»; Persian answer words
    take the customer's «م»). A person-word only: "can someone help me unblock my pin?"
    asks the question."""
    # help from one not yet named ("an agent", «موظف»); "the technician" helps install
    definite = clause[i].startswith(_ARTICLE) or (i > 0 and clause[i - 1] in _DETERMINERS)
    indefinite = not definite or (i > 0 and clause[i - 1] in _ARTICLES_A)
    return any(
        (indefinite and t in _HELP_ME) or any(form in _ANSWER_WORDS for form in persian_variants(t))
        for t in clause[i + 1 : i + 1 + _LOOK_REACH + 1]
    )


# What a person does with the case when asked for ("I need someone to check my refund",
# «محتاج حد يبص على الطلب», «بدي حدا يشوف مشكلتي», «یکی باید این سفارشو ببینه»): the verb
# within a few words after "someone" in English and Arabic; a Persian third-person
# subjunctive anywhere after it (the verb ends the Persian clause). Only with a request
# form or a modal before someone: alone, "someone checked my order" and "can anyone see
# my card details?" tell or ask otherwise.
_LOOK_WORDS = frozenset(
    tokenise(
        normalise(
            "check checks "
            "يبص يبصلي يشوف يشوفلي يشيك يشيكلي يفهم "
            "yboss ybos yshuf yshoof yshof ycheck yfham yefham ytaba3 yetaba3"
        )
    )
)
_PERSIAN_LOOK_WORDS = frozenset(tokenise(normalise("ببینه ببینن چک چکک نگاه بفهمه")))
_LOOK_PHRASES = _by_first_word(
    (
        _phrases(
            "look at",
            "go through",
            "go over",
            "sort out",
            "sort this",
            "sort it",
            "take a look",
            "have a look",
        ),
    )
)
_LOOK_REACH = 3  # words from "someone" to what they are to do (English, Arabic)


# What an English look verb is aimed at when it is the customer's case ("check my refund",
# "look at this", "sort it out"); "look at the tracking page" is not asked of a person.
_THE_CASE = frozenset(["my", "this", "it", "our", "me", "that", "these", "out"])


def _the_case_after(clause: Sequence[str], j: int) -> bool:
    """Whether the look verb ending before `clause[j]` is aimed at the customer's case
    (English), or is Arabic (its object follows freely: «يبص على الطلب»)."""
    if not clause[j - 1].isascii() or clause[j - 1].startswith("y"):
        return True  # Arabic and Arabizi verbs
    return j == len(clause) or any(t in _THE_CASE for t in clause[j : j + 2])


def _looks_at_it(clause: Sequence[str]) -> bool:
    """Whether someone in the clause is to look at, check or sort out the case."""
    return any(
        (_someone_at(clause, i) or _is_person_word(clause[i], typos=False))
        and _looks_after(clause, i)
        for i in range(len(clause))
    )


def _looks_after(clause: Sequence[str], i: int) -> bool:
    """Whether the person at `clause[i]` is to look at, check or sort out the case: a
    look word within `_LOOK_REACH` words after them (a window, so that a long clause of
    repeated persons is read in linear time)."""
    for j in range(i + 1, len(clause)):
        if clause[j] in _PERSIAN_LOOK_WORDS:
            return True
        if j - i > _LOOK_REACH:
            break
        length = clause[j] in _LOOK_PHRASES and _longest_at(clause, j, _LOOK_PHRASES)
        if (clause[j] in _LOOK_WORDS or length) and _the_case_after(clause, j + (length or 1)):
            return True
    return False


# "Someone to help me", «شي حد يعاوني», «حد يساعدني», asked for (a request form or a
# polite word in the clause) and with nothing after the help but polite or urgent words:
# "can someone help me unblock my pin?", «بدي حدا يساعدني عشان نسيت كلمة السر» ask about
# the pin and the password, "my friend wants someone to help him" wants nothing of the shop.
_ASKING_HELP = _REQUEST_FORMS | frozenset(
    tokenise(normalise("please pls plz لطفا لو سمحت سمحتوا عافاك 3afak يخليك يخليكم"))
)
_HELP_REACH = 2  # words from "someone" to the verb of helping ("someone to help")
_HELP_WITHOUT_ME = frozenset(["help", "assist"])
_HELPED = frozenset(["me", "us"])
_AFTER_HELP = frozenset(tokenise(normalise("out here بجد بسرعه ضروری")))


def _someone_helps_me(clause: Sequence[str]) -> bool:
    """Whether the clause ends on someone helping the customer: a verb of helping within
    `_HELP_REACH` words after "someone", with "me" or "us" after the English verbs (the
    Arabic ones carry it), then only polite or urgent words."""
    for i in range(len(clause)):
        if not (clause[i] in _ANYONE or _someone_at(clause, i)):
            continue
        for j in range(i + 1, min(i + 1 + _HELP_REACH, len(clause))):
            if clause[j] not in _HELP_ME:
                continue
            end = j + 1
            if clause[j] in _HELP_WITHOUT_ME:
                if end == len(clause) or clause[end] not in _HELPED:
                    continue
                end += 1
            if all(t in _REQUEST_FILLER or t in _URGENCY or t in _AFTER_HELP for t in clause[end:]):
                return True
    return False


def _answers(tokens: Sequence[str]) -> bool:
    """Whether the tokens name what a person does for the customer ("answer", "review",
    "look into", «رسیدگی», «يراجع»)."""
    if _ANSWER_WORDS.isdisjoint(tokens) and _ANSWER_TABLE.keys().isdisjoint(tokens):
        return False  # most clauses: one set look-up a word
    return any(
        t in _ANSWER_WORDS or (t in _ANSWER_TABLE and _longest_at(tokens, i, _ANSWER_TABLE))
        for i, t in enumerate(tokens)
    )


# the words `_someone_at` may hold at
_ONE_WORDS = _A_ONE | _SOMEONE


def _someone_at(tokens: Sequence[str], i: int) -> bool:
    """Whether `tokens[i]` is "someone" («یکی», «احد», «واحد»), not "one of" something
    else («یکی از سفارشام», "one of my orders"; «احد المنتجات», "one of the products")."""
    if tokens[i] in _A_ONE:
        if i + 1 < len(tokens) and tokens[i + 1] in _OF_YOU:
            return True
        if i > 1 and tokens[i - 1] in _WITH_ONE and _is_contact(tokens, i - 2):
            return True
        # ... or asked for, right before the verb of talking or helping it is the subject
        # of («اريد واحد يحچي وياي», «ابي واحد يكلمني»; «ابي واحد بس» is "one", «اشتريت
        # واحد يكلمني بالعربي» a device)
        return (i > 0 and tokens[i - 1] in _SOME) or (
            i > 0
            and tokens[i - 1] in _REQUEST_FORMS
            and i + 1 < len(tokens)
            and (
                _carries_me(tokens[i + 1])
                or _is_contact(tokens, i + 1)
                or tokens[i + 1] in _HELP_ME
            )
            and not tokens[i + 1].isascii()
        )
    if tokens[i] not in _SOMEONE:
        return False
    if i + 1 == len(tokens) or tokens[i] not in _ONE:
        return True
    after = tokens[i + 1]
    if after in _OF:
        return (
            _names_staff(tokens, i + 2)
            or _of_staff(tokens, i + 1)
            or (i + 2 < len(tokens) and tokens[i + 2] in _YOU_ALL)
        )
    if after.startswith("ال") and not after.isascii():
        return _names_staff(tokens, i + 1)
    return True


def _of_staff(tokens: Sequence[str], i: int) -> bool:
    """Whether "from support", «از پشتیبانی», «من خدمة العملاء», "from sales" follows
    "someone" or a call."""
    if i >= len(tokens) or tokens[i] not in _OF:
        return False
    j = _next_word(tokens, i + 1, _DETERMINERS)
    return _names_staff(tokens, j) or (j < len(tokens) and tokens[j] in _DEPARTMENTS)


# Arabizi contact verbs with "me" on them; "wasalni" is also "it reached me" (the parcel).
_ARABIZI_ME_CONTACTS = frozenset(
    form
    for stem in (
        "7awel",
        "7awwel",
        "7awil",
        "t7awel",
        "t7awil",
        "kalem",
        "kallem",
        "ykalem",
        "yekalem",
        "ykallem",
        "wassel",
        "twassel",
        # the plural imperative ("kalmooni", "7awlouni")
        "kalmoo",
        "kallmoo",
        "kalmou",
        "7awloo",
        "7awlou",
    )
    for form in (stem + "ni", stem + "ny")
)


@functools.lru_cache(maxsize=1 << 14)  # one cached look-up per word, as `_may_contact`
def _carries_me(token: str) -> bool:
    """Whether an Arabic contact verb carries "me" («كلموني», «حولني», «يكلمني», and
    in Arabizi "7awelni", "t7awelni", "kalemni")."""
    if token.isascii():
        return token in _ARABIZI_ME_CONTACTS or _ARABIZI_CALL_ME.fullmatch(token) is not None
    if _latin_with_me(token) is not None:
        return _contact_base(token) is not None
    # «تكلموني», "(you) call me": the second person's «ت» before the verb
    forms = (token, token[1:]) if token.startswith(_YOU_PREFIX) else (token,)
    return any(
        form.endswith(s)
        and not form[: -len(s)].rstrip("و").endswith(_ARRIVE)
        and (form in words or form[: -len(s)] in words)
        for form in forms
        for suffixes, words in (
            (_ME_SUFFIXES, _CONTACT_WORDS),
            (_ME_SUFFIXES_OF_CALLS, _CALL_WORDS),
        )
        for s in suffixes
    )


def _passive_call_to_me(clause: Sequence[str], i: int) -> bool:
    """ "I want to be transferred to billing", "can I get called back": a passive call with
    the customer as subject; not "my money hasn't been transferred", "bella needs to be
    called", "I'd like to be called Mikey"."""
    token = clause[i]
    return (
        token.isascii()
        and token.endswith("ed")
        and i > 0
        and clause[i - 1] in _BE_OR_GET
        and "i" in clause[:i]
        and _verb_stem(token) in _CALL_STEMS
        and (i + 1 == len(clause) or clause[i + 1] in _AFTER_CALL_ME or clause[i + 1] == "by")
    )


def _a_call_asked_for(clause: Sequence[str], i: int) -> bool:
    """ "I'd like a call", "can I have a quick call back", "arrange a phone call": a call
    asked for, like "callback"; not "give Liz a call", "make a phone call to Dave"."""
    for j in range(max(1, i - _ME_REACH), i):
        if clause[j] in _ARTICLES_A:
            return clause[j - 1] in _REQUEST_FORMS or clause[j - 1] in _HAVE_GET
    return False


# A call asked for or awaited as a noun ("I'd like a call", "phone call please", "I'm
# waiting for your call", «یه تماس تلفنی میخوام», «منتظر تماستون هستم», «ابي مكالمة»,
# «ممكن اتصال؟», «ارجو معاودة الاتصال», «بانتظار اتصالكم»): the clause holds the call, a
# word that asks for or awaits it, and only words that say how, when or from whom. Not
# «شماره تماس میخوام» (the number), "I need a call with my bank" (another party), «ابي
# اتصال انترنت» (a connection), "I was waiting for your call" (a story), nor "can I call
# tomorrow?" (the English verb: "call" is the noun only after an article, "phone" or
# "your", or as "call back" leading the clause).
_CALL_NOUNS = frozenset(
    tokenise(
        normalise(
            "call callback phonecall تماس تماستون تماسی تماستان مکالمه مکالمات اتصال اتصالا "
            "اتصالکم اتصالک معاوده"
        )
    )
)
_ENGLISH_CALL = "call"
_BEFORE_A_CALL_NOUN = frozenset(["a", "an", "one", "quick", "phone", "your", "ur", "the"])
_AWAITING = frozenset(
    tokenise(
        normalise(
            "waiting awaiting await منتظر منتظرم منتظریم بانتظار انتظار انتظر ننتظر "
            # Finglish writes the ezafe ("montazere tamasetoon hastam", «منتظره تماستون»)
            "منتظره"
        )
    )
)
_ASKING_FOR_A_CALL = (
    _REQUEST_FORMS
    | _MODALS
    | _AWAITING
    | frozenset(
        tokenise(
            normalise("please pls plz kindly لطفا لطفاً درخواست تقاضا تقاضای طلب اطلب ارجو نرجو")
        )
    )
)
_BESIDE_A_CALL = _REQUEST_FILLER | frozenset(
    tokenise(
        normalise(
            "i im am a an one quick short phone telephone back your ur you for from today "
            "tomorrow soon asap "
            "یه یک تلفنی از شما طرف امروز فردا الان هستم هستیم دارم داریم بهم باهام "
            "هاتفی هاتفیه تلفونی تلفونیه منکم منک معی لی بی الیوم بکره الحین ضروری رجاء بلیز "
            # «معاودة الاتصال», "calling back"
            "الاتصال"
        )
    )
)


def _a_call_asked(clause: Sequence[str]) -> bool:
    """Whether the clause asks for a call, or awaits one, as a noun."""
    if _CALL_NOUNS.isdisjoint(clause) or _asks_wh(clause):
        return False
    for i, token in enumerate(clause):
        if token == _ENGLISH_CALL and not (
            (i > 0 and clause[i - 1] in _BEFORE_A_CALL_NOUN) or (i == 0 and clause[1:2] == [_BACK])
        ):
            return False
    return not _ASKING_FOR_A_CALL.isdisjoint(clause) and all(
        t in _CALL_NOUNS or t in _ASKING_FOR_A_CALL or t in _BESIDE_A_CALL or t.isdigit()
        for t in clause
    )


# Talking asked for by phone or with the shop's people as "you all" («میخوام تلفنی صحبت
# کنم», «میشه باهاتون صحبت کنم؟», «ابغى اتكلم معكم», «ممكن احكي معكم بالتلفون؟», "can I
# talk to you on the phone?"): a verb of talking, asked for (a request form or a modal), a
# way of talking that is not this chat; not "can I pay by phone" (no talk), "when can I
# talk to you by phone?" (when), «دیروز تلفنی صحبت کردیم» (a story: `_tells`), nor "can
# I talk to you in French" (the bot is "you"), «ممكن اتكلم عربي معكم؟» (the language
# asked about) or "until what time can I talk to you by phone?" (the hours).
_TALKING = frozenset(
    tokenise(
        normalise(
            "talk speak chat discuss حرف صحبت گفتگو گفتوگو گپ توضیح "
            "اتکلم اکلم نتکلم التکلم اتحدث التحدث نتحدث احکی نحکی احچی نحچی اهضر نهضر "
            "اسولف نسولف اکلمکم نکلمکم اتفاهم نتفاهم"
        )
    )
)
_BY_PHONE = frozenset(
    tokenise(
        normalise(
            "تلفنی تلفونی بالتلفون بالتلفن تلفونیا تلفونیا هاتفیا بالهاتف عالتلفون "
            "بالموبایل عالموبایل "
            # plural "you": the shop's people («باهاتون», «با شما» below, «معكم»)
            "باهاتون باهاتان معکم معاکم معکن ویاکم ویاکن"
        )
    )
)
_BY_PHONE_PHRASES = _phrases(
    "on the phone", "over the phone", "by phone", "by telephone", "via phone", "با شما"
)
_BY_PHONE_TABLE = _by_first_word((_BY_PHONE_PHRASES,))
_LANGUAGES = frozenset(
    tokenise(
        normalise(
            "english arabic french persian farsi german turkish urdu "
            "فارسی انگلیسی عربی ترکی عربي بالعربي بالعربی انجليزي انجلیزی بالانجليزي "
            "بالانجلیزی بالفارسی فرنسي"
        )
    )
)


def _talk_asked_by_phone(clause: Sequence[str]) -> bool:
    """Whether the clause asks to talk by phone, or with the shop's people."""
    if (
        _TALKING.isdisjoint(clause)
        or _asks_wh(clause)
        or any(
            t in _LANGUAGES or (t in _WHEN_TABLE and _longest_at(clause, i, _WHEN_TABLE))
            for i, t in enumerate(clause)
        )
    ):
        return False
    if not any(t in _REQUEST_FORMS or t in _MODALS or t in _I_CAN for t in clause):
        return False
    return any(
        t in _BY_PHONE or (t in _BY_PHONE_TABLE and _longest_at(clause, i, _BY_PHONE_TABLE))
        for i, t in enumerate(clause)
    )


# The customer or the case handed to a Persian department, asked («ارجاع به واحد مربوطه
# لطفا», «لطفا به بخش فنی وصل کنید», «وصلم کنید به واحد فروش», «پرونده رو به واحد مالی
# منتقل کنید»), or business with one («با واحد مالی کار دارم»); not «به واحد فروش وصل
# شدم» (a story), «چطوری به واحد فروش وصل بشم؟» (how), «فاکتور رو به واحد مالی ارسال
# کنید» (a document sent), «کابل رو به قسمت پشت تلویزیون وصل کنید» («قسمت», «بخش» are also
# "part": the department is named by what it does).
_PERSIAN_DEPARTMENTS = frozenset(tokenise(normalise("واحد بخش قسمت دپارتمان")))
_DEPARTMENT_NAMES = frozenset(
    tokenise(
        normalise(
            "مربوطه مربوط فروش مالی فنی پشتیبانی شکایات شکایت حسابداری مرجوعی مرجوعی‌ها "
            "خدمات مشتریان مشتری ارتباط رسیدگی گارانتی تعمیرات بازرگانی اداری پیگیری"
        )
    )
)
_HANDING_OVER = frozenset(tokenise(normalise("ارجاع وصل وصلم متصل منتقل")))
_PERSIAN_ASKED = frozenset(
    tokenise(
        normalise(
            "کن کنید کنین بکنید بکنین بدید بدین بده بدهید نمایید فرمایید لطفا لطفاً خواهشا خواهشمندم"
        )
    )
)
_TO_OR_WITH = frozenset(tokenise(normalise("به با")))
_BUSINESS = tuple(tokenise(normalise("کار دارم")))


def _to_a_persian_department(clause: Sequence[str]) -> bool:
    """Whether the clause hands the customer or the case to a Persian department, asked,
    or says the customer has business with one."""
    departments = [
        i
        for i in range(1, len(clause))
        if clause[i] in _PERSIAN_DEPARTMENTS
        and clause[i - 1] in _TO_OR_WITH
        and clause[i + 1 : i + 2]
        and clause[i + 1] in _DEPARTMENT_NAMES
    ]
    if not departments or _asks_wh(clause):
        return False
    if any(tuple(clause[j : j + 2]) == _BUSINESS for i in departments for j in (i + 1, i + 2)):
        return clause[-2:] == list(_BUSINESS)
    return not _HANDING_OVER.isdisjoint(clause) and any(
        t in _PERSIAN_ASKED or t in _REQUEST_FORMS or t in _MODALS for t in clause
    )


def _raised_to_staff(clause: Sequence[str]) -> bool:
    """ "Raise the matter to management" («ارفعوا الموضوع للإدارة», «ممكن ترفع شكواي إلى
    المشرف؟»): the matter raised, asked for, to one of the shop's people."""
    for i, token in enumerate(clause):
        if token not in _RAISED_FORMS:
            continue
        if token in _HANDED_FORMS and not (i == 0 or clause[i - 1] in _BEFORE_HANDING):
            continue  # «سؤال حول الضمان للموظفين»: "about", not "transfer!"
        for j in range(i + 1, min(i + 1 + _RAISE_REACH, len(clause))):
            # «إلى» before the person («إلى المدير»), or «ل» on it («للمدير», «للقسم»)
            target = j + 1 if clause[j] in _TO else j
            if target == j and not clause[j].startswith("ل"):
                continue
            if target < len(clause) and (
                _names_staff(clause, target) or _department(clause[target])
            ):
                return True
    return False


# English verbs that hand the chat or the case over ("pass this on to a supervisor",
# "forward my chat to a human", "hand me over to an agent"), as an imperative or after
# "can you" (the verb leads the clause); "to" and a person or service within reach. Not
# thanks passed on ("please pass on my thanks to the technician"), nor a past ("I was
# passed to billing") or a money transfer ("I'm trying to send the deposit to the agent").
_HAND_VERBS = frozenset(["pass", "hand", "forward", "refer", "route", "send", "move", "give"])
_HAND_REACH = 4  # words from the verb to "to"
# What may stand between the verb and "to": the customer, the chat or the case.
_HANDED_THINGS = frozenset(
    tokenise(
        "me us this it that on over my the our chat case complaint request conversation "
        "ticket issue query question message email mail call problem"
    )
)
_GRATITUDE = frozenset(
    ["thanks", "thank", "compliments", "regards", "appreciation", "gratitude", "feedback"]
)


def _handed_to_staff(clause: Sequence[str]) -> bool:
    """Whether the clause asks for the chat or case to be handed to one of the shop's
    people ("pass this on to a supervisor", "send my complaint to your manager")."""
    if _HAND_VERBS.isdisjoint(clause) or not _GRATITUDE.isdisjoint(clause):
        return False
    start = _next_word(clause, 0, _BEFORE_IMPERATIVE)
    for i, token in enumerate(clause):
        if token not in _HAND_VERBS or i != start:
            continue
        for j in range(i + 1, min(i + 1 + _HAND_REACH, len(clause))):
            if clause[j] != "to":
                if clause[j] not in _HANDED_THINGS:
                    break  # "send the parcel to your agent": goods, not the chat
                continue
            k = _next_word(clause, j + 1, _BEFORE_PERSON)
            if k < len(clause) and (_names_staff(clause, k) and _ours(clause, k)):
                return True
    return False


def _department(token: str) -> bool:
    """Whether `token` is one of the shop's departments, with «ل» («للقسم», «للمبيعات»)."""
    bare = "ال" + token[2:] if token.startswith("لل") else token
    return bare in _DEPARTMENTS


# Arabic verbal nouns of calling with the article: a topic («الاتصال بخدمة العملاء متاح؟»)
# unless a request form asks for them with "me" («أرجو التواصل معي»).
_VERBAL_NOUNS = frozenset(tokenise(normalise("التواصل الاتصال بالتواصل بالاتصال")))
_CALL = "call"
# "When" as a conjunction ("kalemni lama el order yewsal", "call me when it arrives"):
# a notice asked for, not a person.
_WHEN_CONJUNCTIONS = frozenset(tokenise(normalise("لما لمن lama lamma lamman")))


def _contacts_me(clause: Sequence[str]) -> bool:
    """A contact word aimed at the customer ("transfer me", «زنگ بزنید بهم»), or one that
    needs no object ("escalate"), in a clause that does not ask how or when."""
    if not any(_may_contact_me(t) for t in clause):
        return False  # most clauses: one cached look-up a word, nothing else read
    if _asks_wh(clause) or not _WHEN_CONJUNCTIONS.isdisjoint(clause):
        return False
    if clause[0] in _AUXILIARIES:
        return False
    me = {
        i
        for i, t in enumerate(clause)
        if t in _ME or (t in _ME_TABLE and _longest_at(clause, i, _ME_TABLE))
    }
    # «أرجو التواصل معي», «هل بإمكان أحد الاتصال بي؟»: the verbal noun asked for
    asked = any(t in _REQUEST_FORMS or t in _MODALS for t in clause)
    # each word is read in constant time, and the refusal (which looks back over the
    # clause) only for a contact found: a long clause of repeated words stays linear
    return any(
        _contact_at_me(clause, i, me, asked) and not _refused_contact(clause, i)
        for i in range(len(clause))
    )


# Gulf and Levantine «علي» after a call verb is "me" («اتصلوا علي», «يتصل علي»); written
# «على» it is also "on" («يتصل على الرقم»), and «علي» is the name Ali: "me" only where
# nothing follows it but "please" or the end of the clause.
_ON = normalise("علي")


def _on_me(clause: Sequence[str], i: int) -> bool:
    """Whether `clause[i]` is «علي» with nothing after it but "please", or "please" and
    the number called on («اتصلوا علي على نفس الرقم»)."""
    if i >= len(clause) or clause[i] != _ON:
        return False
    j = _next_word(clause, i + 1, _BEFORE_IMPERATIVE | _FILLER)
    return j == len(clause) or clause[j] == _ON or _my_number_at(clause, j)


# The customer's own number after «على» («اتصلوا على رقمي», «اتصلو على 0501234567»,
# «كلموني على الرقم 050...»): "my number", or the number itself typed.
_MY_NUMBER = frozenset(tokenise(normalise("رقمي جوالي موبايلي تلفوني نمرتي")))
_THE_NUMBER = frozenset(tokenise(normalise("الرقم رقم هالرقم هذا هاد")))
_MIN_PHONE_DIGITS = 7


def _my_number_at(clause: Sequence[str], j: int) -> bool:
    """Whether `clause[j]` starts the customer's own phone number, which ends the clause
    but for "please" («اتصل على 920001234 للاستفسار؟» asks about the shop's)."""
    if j < len(clause) and clause[j] in _MY_NUMBER:
        k = j
    else:
        k = _next_word(clause, j, _THE_NUMBER)
        if not (k < len(clause) and clause[k].isdigit() and len(clause[k]) >= _MIN_PHONE_DIGITS):
            return False
    rest = _next_word(clause, k + 1, _BEFORE_IMPERATIVE | _FILLER)
    return all(t.isdigit() for t in clause[rest:])


@functools.lru_cache(maxsize=1 << 14)  # one cached look-up per word, as `_may_contact`
def _may_contact_me(token: str) -> bool:
    """Whether `_contact_at_me` may hold at `token`, whatever its clause: each of its
    answers of True needs one of these of the word itself."""
    base = _contact_base(token) or token
    return (
        base in _PERSON_CONTACTS
        or token in _ME_CONTACT_TABLE
        or token in _ME_CALL_TABLE
        or _carries_me(token)
        or (token.isascii() and token.endswith("ed") and _verb_stem(token) in _CALL_STEMS)
        or base in _CALL_WORDS
        or base in _VERBAL_NOUNS
    )


def _contact_at_me(clause: Sequence[str], i: int, me: AbstractSet[int], asked: bool) -> bool:
    """Whether `clause[i]` is a contact word aimed at the customer, refused or not (`me`:
    the indices of "me" words; `asked`: whether a request form is in the clause)."""
    token = clause[i]
    if _contact_base(token) in _PERSON_CONTACTS or (
        token in _ME_CONTACT_TABLE and _longest_at(clause, i, _ME_CONTACT_TABLE)
    ):
        return True
    if token in _ME_CALL_TABLE and (length := _longest_at(clause, i, _ME_CALL_TABLE)):
        after = clause[i + length] if i + length < len(clause) else _BACK
        return after in _AFTER_CALL_ME or after.isdigit()
    if _carries_me(token) and (
        _latin_with_me(token) is None or (i + 1 < len(clause) and clause[i + 1] in _DO_FORMS)
    ):
        return True  # «transferم کنید»; «callم قطع شد» is "my call dropped"
    if _passive_call_to_me(clause, i):
        return True
    # "phone me back", "ring me": verbs of calling only, not of talking ("phone" alone is
    # the phone asked about, "customer service's phone number")
    base = _contact_base(token) or (
        token if token in _CALL_WORDS or token in _VERBAL_NOUNS else None
    )
    if base in _VERBAL_NOUNS and asked:
        base = _CALL  # «أرجو التواصل معي هاتفياً», "please contact me by phone"
    if base not in _CALL_WORDS:  # the verb itself: not "stop calling me"
        return False
    # «زنگ بزنید», and a Latin word with the Persian verb («call بزنید بهم»)
    if any(t in _ASKED_LIGHT_VERBS for t in clause[i + 1 : i + 1 + _ME_REACH]):
        return True
    if token == "call" and _a_call_asked_for(clause, i):
        return True
    if not token.isascii():
        if any(j in me for j in range(i - _ME_REACH, i + _ME_REACH + 1)):
            return True
        if _on_me(clause, i + 1):  # «اتصلوا علي لو سمحتوا»
            return True
        # «منو به بخش فنی وصل کن»: the Persian object leads the clause, the verb
        # (an imperative «کن») ends it, the department stands between
        if clause[i + 1 : i + 2] and clause[i + 1] in _DO_IMPERATIVE and any(j < i for j in me):
            return True
    elif i + 1 in me:  # "transfer me", "call me back": the object follows the verb
        after = clause[i + 2] if i + 2 < len(clause) else _BACK
        if after in _AFTER_CALL_ME or after.isdigit():
            return True
        # a Latin word in a Persian clause, with the Persian "with me" and a verb asked
        # after it («یه call با من هماهنگ کنید», "arrange a call with me")
        if not clause[i + 1].isascii() and any(t in _DO_IMPERATIVE for t in clause[i + 2 :]):
            return True
    return False


# What may stand beside the person in a clause that names only the person asked for
# ("human agent!!!", "a real person please", «اپراتور لطفا», «موظف بشري لو سمحت»).
_BARE_REQUEST_WORDS = _FILLER | frozenset(
    tokenise(
        normalise(
            "a an the any real actual live pls plz now asap immediately "
            "یه یک واقعی فورا الان حقیقی لو سمحت سمحتوا الحین هلا " + _ARABIZI_PLEASE
        )
    )
)


def _names_only_a_person(clause: Sequence[str]) -> bool:
    """Whether the clause is a person-word and nothing else of weight ("human agent!!!"
    after "you are not understanding me", «اصلا متوجه نمیشی. اپراتور!»): a request, as a
    short message of one would be; not "my manager" nor "someone"."""
    people = [
        i
        for i, t in enumerate(clause)
        if t not in _ANYONE and _is_person_word(t, typos=False) and _ours(clause, i)
    ]
    return bool(people) and all(
        i in people or t in _BARE_REQUEST_WORDS for i, t in enumerate(clause)
    )


# "There is" before "someone" («فيه حد؟», «في حدا معي؟», «واش كاين شي حد؟», «هل يوجد
# أحد هنا؟», "fi 7ada ma3i?"): asking whether anyone is there, when "someone" ends the
# clause or "with me" or "here" follows; «في حد أقصى للسحب؟» asks about a limit.
_THERE_IS = frozenset(
    tokenise(normalise("فيه في فى كاين كاينه يوجد هناك مافي مفيش fi fih fe feeh kayn kayen"))
)


_SOMEONE_THERE_LENGTH = 4
# "On me" after "answer" («يرد عليا»; «علي» is also «على», "on", and the name Ali)
_ON_ME = frozenset(tokenise(normalise("عليا 3alaya 3alayya")))
# Levantine and Egyptian "answers", "talks" with «ب» («في حدا بيرد؟», «شو في حدا بيحكي معي؟»)
_ANSWERS_NOW = frozenset(tokenise(normalise("بيرد بترد بيحكي بيتكلم")))
_CAN_ARABIC = frozenset(tokenise(normalise("يقدر يقدرون يستطيع بيقدر ye2dar yi2dar y2dar")))
_IS = frozenset(["is", "are"])
_BEFORE_THERE = _IS | frozenset(["out", "still", "in"])
_REAL = frozenset(["real", "actual", "live", "living"])
# What a real person "is" doing when the customer asks whether one is there ("is a real
# person reading this?", "is an actual human on the other end?"); "is a real person
# needed to sign for it?" asks about a delivery.
_THERE_DOING = frozenset(
    tokenise(
        "reading typing answering replying responding listening writing talking chatting "
        "on behind here there"
    )
)


def _is_anyone_there(clause: Sequence[str]) -> bool:
    """Whether the clause asks if someone is there."""
    if (
        len(clause) <= _SOMEONE_THERE_LENGTH
        and clause[0] in _ANYONE
        and clause[-1] == "there"
        and all(t in _BEFORE_THERE for t in clause[1:-1])
    ):
        return True  # "somebody is there?", "anyone out there"; "someone left it there"
    if clause[0] in _IS and len(clause) > 2 and clause[1] in _ARTICLES_A | {"any"}:
        # "is a real person reading this?", "is an actual human there?"
        j = _next_word(clause, 2, _REAL)
        return (
            j > 2
            and j < len(clause)
            and _is_person_word(clause[j], typos=False)
            and (j + 1 == len(clause) or clause[j + 1] in _THERE_DOING)
        )
    for i, token in enumerate(clause):
        if token not in _THERE_IS:
            continue
        j = _next_word(clause, i + 1, _SOME)
        # ... or an indefinite person-word («واش كاين شي موظف؟»; «المشكلة في الموظف» is
        # "the problem is in the employee")
        person = (
            j < len(clause)
            and not clause[j].startswith(_ARTICLE)
            and _is_person_word(clause[j], typos=False)
            and _ours(clause, j)
        )
        if j < len(clause) and (clause[j] in _ANYONE or _someone_at(clause, j) or person):
            after = clause[j + 1] if j + 1 < len(clause) else ""
            if not after or after in _ME or after in _PRESENCE_WORDS:
                return True
            # «شو في حدا بيرد؟», «في حد يرد عليا؟»: anyone to answer me; «في حد بيرد على
            # التلفون بالليل؟» asks about the phone's hours
            then = clause[j + 2] if j + 2 < len(clause) else ""  # one word, not a slice
            answers = after in _ANSWER_WORDS or after in _ANSWERS_NOW
            if answers and (not then or then in _ME or then in _ON_ME):
                return True
            # «فيه أحد يقدر يساعدني؟», "fe 7ad ye2dar ysa3edni?": anyone who can help,
            # the help ending the clause («... يساعدني بتتبع الطلب؟» asks about tracking)
            if after in _CAN_ARABIC and then in _HELP_ME and j + 3 == len(clause):
                return True
            # «في حد يساعدني؟», «واش كاين شي واحد يعاوني؟»: the verb carries "me"
            if after in _HELP_ME and after not in _HELP_WITHOUT_ME and j + 2 == len(clause):
                return True
    return False


# A service, or the hand-off itself, named alone with a polite word: "customer service
# please", «خدمة العملاء لو سمحت», "support pls", "transfer please", "ana 3ayez customer
# service". Naming a service is no request where it may be asked about ("customer service
# hours please", "support for this model?"); a single word ("support", "transfer") also
# names what the customer needs ("I need support with my order"), so it must lead the
# clause with only "please" and the like after it ("please support" pleads), and a
# request form may stand only beside a service of two words.
_SERVICE_ALONE = frozenset(tokenise("support billing helpdesk transfer escalate callback"))
_POLITE = frozenset(
    tokenise(
        normalise(
            "please abeg pls plz plez now asap لطفا لو سمحت سمحتوا فضلك بليز الحين هلا "
            + _ARABIZI_PLEASE
        )
    )
)
_SERVICE_ALONE_LENGTH = 6  # words ("ana 3ayez customer service please")
_BESIDE_SERVICE = _BARE_REQUEST_WORDS | _SELF | frozenset(["dept", "department", "ana"])


def _names_only_a_service(clause: Sequence[str]) -> bool:
    """Whether the clause is a service or "transfer" and polite words only."""
    if len(clause) > _SERVICE_ALONE_LENGTH:
        return False
    rest, named = _strip_phrases(clause, (_HUMAN_PHRASES,))
    alone = [t for t in rest if t in _SERVICE_ALONE]
    if not (named or len(alone) == 1) or (named and alone):
        return False
    others = [t for t in rest if t not in _SERVICE_ALONE]
    if named and all(t in _BESIDE_SERVICE or t in _REQUEST_FORMS for t in others):
        return True
    return (
        rest[0] in _SERVICE_ALONE
        and all(t in _BESIDE_SERVICE for t in others)
        and not _POLITE.isdisjoint(others)
        and _REQUEST_FORMS.isdisjoint(others)
    )


# An ultimatum: "if nobody calls me today I'm cancelling everything", «اگه کسی زنگ نزنه
# سفارشمو کنسل میکنم», «إذا ما كلمني موظف اليوم رح اشتكي», "unless someone calls me back
# I'll report you": a call by someone (or to "me") negated in a condition, and what the
# customer will do after it. A question ("if the courier doesn't call, what happens?",
# «اگه کارشناس تماس نگیره چی میشه؟») asks about the rule, not for a person.
_IF = frozenset(tokenise(normalise("if unless اگه اگر اذا لو")))
_UNLESS = "unless"
_NOT_BEFORE_CALL = frozenset(tokenise(normalise("not dont doesnt nobody noone ما مش محد ماحد")))
_CONDITION_REACH = 8  # words from "if" to the call
_NEGATION_REACH = 3  # words from the negation to the call it negates
_PLEASE_AFTER_IF = frozenset(tokenise(normalise("سمحت سمحتي سمحتو سمحتوا سمحتم")))


def _ultimatum(tokens: Sequence[str]) -> bool:
    """Whether the message sets a negated call by someone as the condition of a threat
    (`tokens`: every clause's, a question already excluded)."""
    if _IF.isdisjoint(tokens):
        return False
    for i, token in enumerate(tokens):
        if token not in _IF or (i + 1 < len(tokens) and tokens[i + 1] in _PLEASE_AFTER_IF):
            continue  # «لو سمحت» is "please"
        window = range(i + 1, min(i + 1 + _CONDITION_REACH, len(tokens) - 2))
        for j in window:
            if not (_may_contact(tokens[j]) or _carries_me(tokens[j])):
                continue
            near = tokens[max(i + 1, j - _NEGATION_REACH) : j + 3]
            someone = any(t in _ANY_SOMEONE or _is_person_word(t, typos=False) for t in near)
            if not (someone or any(t in _ME for t in near)):
                continue
            negated = (
                token == _UNLESS
                or any(t in _NOT_BEFORE_CALL for t in tokens[max(i + 1, j - _NEGATION_REACH) : j])
                or any(t in _NEGATED_LIGHT_VERBS for t in tokens[j + 1 : j + 1 + _DONT_REACH])
            )
            if negated:
                return True
    return False


# "Put a person on", "put your manager on the line": the English imperative "put" with a
# person and "on", and nothing after "on" but the line, the chat or "please"; "put it on
# my card" and "put the order on hold" name no person.
_PUT = "put"
_PUT_REACH = 3  # words from "put" to the person ("put a real person on")
_ON_WHAT = frozenset(
    tokenise("the line phone chat call this here now please pls plz already asap right away")
)


def _put_on(clause: Sequence[str]) -> bool:
    """Whether the clause asks to put a person on."""
    if _PUT not in clause:
        return False
    i = clause.index(_PUT)
    for j in range(i + 1, min(i + 1 + _PUT_REACH, len(clause) - 1)):
        if _is_person_word(clause[j], typos=False) and clause[j + 1] == "on":
            return all(t in _ON_WHAT for t in clause[j + 2 :])
    return False


# Arabic "reach" a person («كيف أوصل لموظف؟», «هل فيه طريقة أوصل فيها لموظف؟»): the
# first person «أوصل» with the person after «ل»; «كيف أوصل لفرعكم؟» asks the way to a
# branch, «اوصل الطلب» is "I deliver the order".
_REACH_ARABIC = frozenset(tokenise(normalise("اوصل نوصل")))
_THERE_IN_IT = frozenset(tokenise(normalise("فيها فيه بيها")))
_TO_PREFIXES = ("لل", "ل")


def _reaches_a_person(clause: Sequence[str]) -> bool:
    """Whether the clause asks how to reach a person in Arabic."""
    if _REACH_ARABIC.isdisjoint(clause):  # most clauses: one look-up per word
        return False
    for i, token in enumerate(clause):
        if token not in _REACH_ARABIC:
            continue
        j = _next_word(clause, i + 1, _THERE_IN_IT)
        if j < len(clause) and clause[j].startswith(_TO_PREFIXES):
            person = clause[j][2:] if clause[j].startswith("لل") else clause[j][1:]
            if person in _SOMEONE or _is_person_word(clause[j], typos=False):
                return True
    return False


# "Someone get back to me" in Arabic («حد يرجعلي», «ابي احد يرجع لي بالله»): someone or a
# person before the verb and nothing of weight after "me"; «حد يرجعلي الفلوس» asks for
# the money back.
_GET_BACK = frozenset(tokenise(normalise("يرجعلي يرجعلى يرجعولي yerga3li yerg3li")))
_GET_BACK_VERB = normalise("يرجع")
_GET_BACK_FORMS = _GET_BACK | {_GET_BACK_VERB}
_TO_ME = frozenset(tokenise(normalise("لي لى")))
_AFTER_GETTING_BACK = (
    _BARE_REQUEST_WORDS
    | _BEFORE_IMPERATIVE
    | frozenset(tokenise(normalise("بالله ضروري بسرعه اليوم بكره please")))
)


def _gets_back_to_me(clause: Sequence[str]) -> bool:
    """Whether someone is asked to get back to the customer in Arabic."""
    if _GET_BACK_FORMS.isdisjoint(clause):
        return False
    for i, token in enumerate(clause):
        if token in _GET_BACK:
            end = i + 1
        elif token == _GET_BACK_VERB and clause[i + 1 : i + 2] and clause[i + 1] in _TO_ME:
            end = i + 2
        else:
            continue
        who = [t.removeprefix("و") for t in clause[max(0, i - 2) : i]]  # «وحد», "and someone"
        if any(t in _SOMEONE or _is_person_word(t, typos=False) for t in who) and all(
            t in _AFTER_GETTING_BACK for t in clause[end:]
        ):
            return True
    return False


# «كلمني انسان», "a human, talk to me": «كلمني» is also the past "he called me" (a story
# in «كلمني موظف امس»), but with an indefinite person and nothing else it asks.
_TALK_TO_ME = frozenset(tokenise(normalise("كلمني كلموني")))


def _talk_to_me_person(clause: Sequence[str]) -> bool:
    """Whether the clause is «كلمني» and a person without the article, alone (polite
    words before it: «لو سمحت كلمني انسان»)."""
    clause = clause[_next_word(clause, 0, _BEFORE_IMPERATIVE) :]
    return (
        len(clause) >= 2
        and clause[0] in _TALK_TO_ME
        and not clause[1].startswith(_ARTICLE)
        and _is_person_word(clause[1], typos=False)
        and all(t in _BARE_REQUEST_WORDS for t in clause[2:])
    )


# Persian: the matter put in a person's hands («باید بره دست مدیر بخش», «بدیدش دست یه
# آدم», «بسپاریدش به یه کارشناس»): a verb of giving or going before «دست» and the person
# after it; «دست مدیر درد نکنه» thanks the manager.
_HAND = normalise("دست")
_INTO_HANDS = frozenset(
    tokenise(normalise("بره برسه بدید بدین بده بدیدش بدینش بدش بسپارید بسپارین بسپار"))
)
_ENTRUST = frozenset(tokenise(normalise("بسپارید بسپارین بسپار بسپاریدش بسپارینش بسپارش")))
_HANDING = _INTO_HANDS | _ENTRUST
_TO_PERSIAN = normalise("به")
_INTO_HANDS_REACH = 2  # words from the verb to «دست» or «به»


def _in_a_persons_hands(clause: Sequence[str]) -> bool:
    """Whether the clause asks, in Persian, to give the matter to a person."""
    if _HANDING.isdisjoint(clause):
        return False
    for i, token in enumerate(clause):
        if token not in _HANDING:
            continue
        for j in range(i + 1, min(i + 1 + _INTO_HANDS_REACH, len(clause))):
            if clause[j] == _HAND or (token in _ENTRUST and clause[j] == _TO_PERSIAN):
                k = _next_word(clause, j + 1, _INDEFINITE)
                if k < len(clause) and _is_person_word(clause[k], typos=False):
                    return True
    return False


# "Who's in charge there? Let me talk to them.": a talk asked for with "them" after a
# clause that names the shop's person (told or asked about).
_THEM = frozenset(["them", "him", "her"])
_LET = "let"
_THEM_REACH = 2  # words from the contact word to "them" ("talk to them")


def _talks_to_them(clause: Sequence[str], before: Sequence[str]) -> bool:
    """Whether `clause` asks to talk to "them", the person named in `before`."""
    if _THEM.isdisjoint(clause):
        return False
    asked = any(t == _LET or t in _REQUEST_FORMS or t in _MODALS for t in clause)
    return (
        asked
        and any(
            _is_contact(clause, i) and any(t in _THEM for t in clause[i + 1 : i + 1 + _THEM_REACH])
            for i in range(len(clause))
        )
        and any(_is_person_word(t, typos=False) and _ours(before, i) for i, t in enumerate(before))
    )


# "Where is the human?", "where are your agents??": the person asked for where they are
# (alone in the clause, like Persian «اپراتور کجاست»); "where is the technician? he was
# due at 10" waits for a visit («وين المندوب؟» for the courier), "where are your agents
# based?" asks about the staff. "Where's" and Arabic «وين», «فين» carry the "is"
# ("this is a joke, where's a human", «والله عيب، وين الموظفين؟»).
_WHERE = "where"
_WHERE_IS = frozenset(tokenise(normalise("wheres وين فين wen wein fen")))
_WHERE_FIRST = _WHERE_IS | {_WHERE}
_VISITORS = frozenset(
    tokenise(normalise("technician technicians مندوب المندوب مناديب المناديب فني الفني"))
)


def _where_is_the_person(clause: Sequence[str]) -> bool:
    """Whether the clause is "where is" and a person to talk to, alone."""
    if clause[0] in _WHERE_IS:
        start = 1
    elif clause[0] == _WHERE and len(clause) >= 3 and clause[1] in _IS:
        start = 2
    else:
        return False
    j = _next_word(clause, start, _DETERMINERS | _REAL)
    return (
        j == len(clause) - 1
        and clause[j] not in _VISITORS
        and _is_person_word(clause[j], typos=False)
    )


# MSA "I need" («أحتاج», «نحتاج», «بحاجة إلى») with a person-word right after it
# («أحتاج موظف يساعدني», «بحاجة إلى موظف خدمة عملاء»); «أحتاج إلى شخص ما لمساعدتي في
# ...» (ArBanking77's "I need someone to help me with ...") asks about its matter, and
# «هل أحتاج موظف لتفعيل البطاقة؟» what one must do.
_NEED_ARABIC = frozenset(tokenise(normalise("احتاج نحتاج بحاجه")))
_NEED_FORMS = _NEED_ARABIC | {"و" + word for word in _NEED_ARABIC}  # «وأحتاج», "and I need"
_TO_ARABIC = frozenset(tokenise(normalise("الى لل ل")))
_NEEDED_NOT = frozenset(tokenise(normalise("شخص شخصا احد حد")))


def _needs_staff(clause: Sequence[str]) -> bool:
    """Whether the clause says in MSA that the customer needs one of the staff (not «ما
    احتاج موظف», "I don't need one")."""
    if _NEED_FORMS.isdisjoint(clause):
        return False
    clause = _without_refused_person(clause)
    if not clause or clause[0] in _QUESTION_PARTICLES:
        return False
    for i, token in enumerate(clause):
        if token in _NEED_FORMS:
            j = _next_word(clause, i + 1, _TO_ARABIC)
            if (
                j < len(clause)
                and clause[j] not in _NEEDED_NOT
                and _is_person_word(clause[j], typos=False)
                and _ours(clause, j)
            ):
                return True
    return False


# Arabizi "connect me with" ("wa9alni b customer service", "tewasalni be mowazaf"):
# "wasalni" is also "it reached me", but not before "with" and a person or service; Gulf
# «دخلني على موظف», "put me in to an employee" (not «دخلني على الموقع», "log me in").
_CONNECT_ME = frozenset(
    tokenise("wasalni wassalni wasselni wa9alni wa9elni tewasalni twasalni tewaselni twaselni")
) | frozenset(
    tokenise(normalise("دخلني دخلوني dakhalni dakhlni dakhalooni dakhlooni da5alni da5looni"))
)
_WITH_ARABIZI = frozenset(tokenise(normalise("b bi be with على علي 3ala 3la")))


def _connected_with(clause: Sequence[str]) -> bool:
    """Whether the clause asks, in Arabizi, to be connected with a person or service."""
    if _CONNECT_ME.isdisjoint(clause):
        return False
    for i, token in enumerate(clause):
        if token in _CONNECT_ME and clause[i + 1 : i + 2] and clause[i + 1] in _WITH_ARABIZI:
            j = _next_word(clause, i + 2, _DETERMINERS | frozenset([_ARABIZI_ARTICLE]))
            if _names_staff(clause, j) or (j < len(clause) and clause[j] in _DEPARTMENTS):
                return True
    return False


# Persian: talking to a department («میخوام با بخش فروش صحبت کنم», «با واحد مالی تماس
# بگیرید»): «با», the department and a contact word within a few words after it.
_WITH_PERSIAN = normalise("با")
_DEPARTMENT_NOUNS = frozenset(tokenise(normalise("بخش واحد قسمت")))
_PERSIAN_DEPARTMENT_REACH = 3  # words from the department to the contact word


def _talks_to_a_persian_department(clause: Sequence[str]) -> bool:
    """Whether the clause asks, in Persian, to talk to one of the shop's departments."""
    if _WITH_PERSIAN not in clause or _DEPARTMENT_NOUNS.isdisjoint(clause):
        return False
    for i in range(len(clause) - 2):
        if clause[i] == _WITH_PERSIAN and clause[i + 1] in _DEPARTMENT_NOUNS:
            end = min(i + 3 + _PERSIAN_DEPARTMENT_REACH, len(clause))
            if any(_is_contact(clause, j) for j in range(i + 2, end)):
                return True
    return False


# Arabic "someone who understands me" asked for («أبي أحد يفهمني», "3ayez 7ad yefhamni"):
# with a request form and ending the clause; «ممكن حد يفهمني ليش ...؟» asks why.
_UNDERSTANDS_ME = frozenset(tokenise(normalise("يفهمني يفهمنا yefhamni yfhamni yefhamny")))


def _someone_who_understands(clause: Sequence[str]) -> bool:
    """Whether the clause asks for someone who understands the customer."""
    if _UNDERSTANDS_ME.isdisjoint(clause):
        return False
    end = _previous_word(clause, len(clause) - 1, _BARE_REQUEST_WORDS)
    if end < 1 or clause[end] not in _UNDERSTANDS_ME:
        return False
    who = clause[max(0, end - 2) : end]
    return any(t in _SOMEONE or _is_person_word(t, typos=False) for t in who) and any(
        t in _REQUEST_FORMS for t in clause[:end]
    )


# The words one of the checks below needs in a clause: most clauses hold none, and are
# passed over with one set look-up a word.
_OTHER_WORDS = (
    frozenset([_PUT])
    | _REACH_ARABIC
    | _GET_BACK_FORMS
    | _HANDING
    | _NEED_FORMS
    | _CONNECT_ME
    | _DEPARTMENT_NOUNS
    | _UNDERSTANDS_ME
)


def _asks_in_other_words(clause: Sequence[str]) -> bool:
    """Whether the clause asks for a person in one of the rarer constructions."""
    return (
        _put_on(clause)
        or _reaches_a_person(clause)
        or _gets_back_to_me(clause)
        or _in_a_persons_hands(clause)
        or _needs_staff(clause)
        or _connected_with(clause)
        or _talks_to_a_persian_department(clause)
        or _someone_who_understands(clause)
    )


# A short request standing as the last sentence, after sentences that tell and ask
# nothing ("this is ridiculous. is anyone there??", «سه بار پرسیدم. اپراتور لطفا»), is a
# message of its own; not "Agent, where is my order?" (it asks in its last clause), "is
# it you or a person?" (the last clause is no sentence), "I want an uber for me and 5
# other people" (a conjunction, not a full stop). After a comma too ("this is
# ridiculous, operater plz"), when what came before names no one ("my brother, a person
# I trust").
_SENTENCE_END = re.compile(r"[.!\n]+")
_COMMA = re.compile(r"[,،]\s")
_QUESTION_MARK = re.compile(r"[?؟]")
_ENDING_MARKS = " \t\n?؟!.…"


def _last_sentence_asks(text: str, clauses: Sequence[Sequence[str]]) -> bool:
    """Whether the last sentence of `text` (or its last part after a comma) is one
    clause, the earlier ones ask nothing, and read alone it asks for a person
    (`is_human_request`)."""
    body = text.rstrip(_ENDING_MARKS)
    last = _SENTENCE_END.split(body)[-1]
    after_comma = _COMMA.split(last)[-1]
    if after_comma == body or _QUESTION_MARK.search(body[: len(body) - len(after_comma)]):
        return False  # one sentence and no comma, or a question before
    tokens = clauses[-1]
    if any(_asks_wh(c) for c in clauses[:-1]) or not is_human_request(tokens):
        return False
    if after_comma != last and _after_a_complaint(after_comma, clauses):
        last = after_comma
    return last != body and _clauses(last) == [tokens]


def _after_a_complaint(after_comma: str, clauses: Sequence[Sequence[str]]) -> bool:
    """Whether the last part of a message, after a comma, may be read alone: it starts
    with no conjunction, asks no wh-question, and what came before is no thanks or yes
    and names no one."""
    head = after_comma.split(maxsplit=1)[:1]
    first = set(tokenise(normalise(head[0]))[:1]) if head else set()
    return (
        not first & _OR  # "are you ai, or a person"
        and not first & _CLAUSE_WORDS  # "an uber for me, and 5 other people"
        and not _asks_wh(clauses[-1])  # «تأخر الطلب، وين المندوب؟», the courier
        # thanks or a yes before are no complaint ("ok thanks, human being of the year")
        and not any(_made_of(c, _THANKS, _YES, _NO) for c in clauses[:-1])
        and not any(
            _names_staff(c, i) or c[i] in _ANY_SOMEONE for c in clauses[:-1] for i in range(len(c))
        )
    )


# A request after a story told in the same unpunctuated clause ("the courier came
# yesterday and left without the parcel i need to speak to someone", «المندوب جا امس وما
# سلمني الطلب ابغى اكلم موظف»): the story's past makes the whole clause tell (`_tells`),
# so the part from the customer's own "I want", "I need" or "please" on is read as a
# clause of its own. Not "I wanted": the customer's past is the story; nor "do I need",
# a question.
# ... or from "please", "can", «ممکن», an English imperative: where a new sentence may
# start unmarked.
_SENTENCE_OPENERS = _MODALS | frozenset(
    tokenise(normalise("please pls plz kindly لطفا transfer connect escalate let get"))
)
_NEGATION_REACH = 3  # words from a negation to the request it denies
# An English modal opens a question with the subject after it ("can I", "could someone").
_I_WE = frozenset(["i", "we"])
_ASKED_BY_MODAL = _I_WE | _YOU | _ANY_SOMEONE
_MIN_STORY = 2  # words told before the request
_STORY_OPENERS = _SENTENCE_OPENERS | _REQUEST_FORMS


@functools.lru_cache(maxsize=1 << 10)
def _first_person_form(token: str) -> bool:
    """Whether a request form is "I want" by itself: Persian, Arabic and Arabizi forms
    («میخوام», «ابغى», "3ayez"), not English "want", "need", which need their "I"."""
    return not token.isascii() or not is_everyday_word(token)


def _requests_after_a_story(clause: Sequence[str]) -> Iterator[Sequence[str]]:
    """Each part of a clause from a request form or "please" on, after at least
    `_MIN_STORY` words that tell a story (`_tells`, not a question: «تا ساعت چند میشه
    با پشتیبانی صحبت کرد؟», "until what time can one talk to support?")."""
    if _STORY_OPENERS.isdisjoint(clause):
        return  # most clauses: one set look-up a word
    for j in range(_MIN_STORY, len(clause) - 1):
        token = clause[j]
        if token not in _STORY_OPENERS:
            continue
        if token in _SENTENCE_OPENERS or (token in _REQUEST_FORMS and _first_person_form(token)):
            if token.isascii() and token in _MODALS and clause[j + 1] not in _ASKED_BY_MODAL:
                continue  # "they said they would give me a call": no question asked
            start = j
        elif (
            clause[j - 1] in _I_WE
            and j - 1 >= _MIN_STORY
            and clause[j - 2] not in _AUXILIARIES | _MODALS  # "or do i need to find someone?"
        ):
            start = j - 1
        else:
            continue
        if not _NEGATIONS.isdisjoint(clause[max(0, j - _NEGATION_REACH) : j]):
            continue  # «مش محتاج موظف», «ما ابغى اكلم احد»: not needed
        if _asks_wh(clause[:j]):
            return  # "till what time can I call customer service": a question
        before = clause[:start]
        if _tells(before) and not _asks_about(before):
            yield clause[start:]


def _asks_about(clause: Sequence[str]) -> bool:
    """Whether the clause is a question (of when, of what, or about the staff: "do your
    staff get employee discounts"), not a story told."""
    return (
        clause[0] in _AUXILIARIES
        or clause[0] in _QUESTION_PARTICLES
        or _asks_when(clause)
        or _wants_to_know(clause)
    )


def asks_for_a_person(text: str) -> bool:
    """Whether the customer asks for a person, in any clause of `text` (Finglish in
    Persian script already): a request form with a person-word in one clause, or the
    whole message's rules (`is_human_request`) over the clauses that do not tell about
    people (a past call, the customer's own family, a question about the staff)."""
    clauses = _clauses(text)
    # a message that asks about working for the shop ("are you hiring? I'd like to be one
    # of your associates", «استخدام دارید؟ میخوام کارمندتون بشم») wants a job in every
    # clause, not a person to talk to; one that asks to talk or be called outside its job
    # clause asks for a person ("the repair job was terrible, I want to speak to a manager")
    job = [not _JOB_WORDS.isdisjoint(c) for c in clauses]
    # (the other clauses are read for contact words only when one is about a job)
    if any(job) and not any(
        any(_is_contact(c, i) for i in range(len(c)))
        for c, is_job in zip(clauses, job, strict=True)
        if not is_job
    ):
        return False
    asking = [c for c in clauses if not _tells(c)]
    after_stories = [
        tail for c in clauses for tail in _requests_after_a_story(c) if not _tells(tail)
    ]
    if any(
        _asks_for_one(c)
        or _a_call_asked(c)
        or _talk_asked_by_phone(c)
        or _to_a_persian_department(c)
        or _raised_to_staff(c)
        or _handed_to_staff(c)
        or _is_anyone_there(c)
        or _someone_sent(c)
        or _with_whom_i_talk(c)
        or (not _OTHER_WORDS.isdisjoint(c) and _asks_in_other_words(c))
        for c in asking + after_stories
    ) or any(is_human_request(tail) for tail in after_stories):
        return True
    question = text.rstrip().endswith(("?", "؟"))
    # read in every clause: «كلمني» is also a past, "where is" a question about the staff
    if any(
        (not _TALK_TO_ME.isdisjoint(c) and _talk_to_me_person(c))
        or (c[0] in _WHERE_FIRST and _where_is_the_person(c))
        for c in clauses
    ):
        return True
    if any(_talks_to_them(c, b) for b, c in itertools.pairwise(clauses) if c in asking):
        return True
    conditional = any(not _IF.isdisjoint(c) for c in clauses)
    if conditional and not question and _ultimatum([t for c in clauses for t in c]):
        return True
    # a message ending on the person alone asks for them, whatever came before ("you
    # are not understanding me. human agent!!!"); "who did this? the manager?" asks a
    # question, "Agent, where is my order?" addresses one
    last = clauses[-1] if clauses else []
    if (
        last in asking
        and not question
        and (_names_only_a_person(last) or _names_only_a_service(last))
    ):
        return True
    if last in asking and _last_sentence_asks(text, clauses):
        return True
    return is_human_request([t for c in asking for t in c])


def triage(text: str) -> Triage:
    """Classify a customer message before any KB lookup.

    Args:
        text: the message as typed.

    Returns:
        The kind (empty, greeting, thanks, human request, question) and the
        normalised text left for the matcher (Finglish in Persian script).
    """
    script = clauses_in_persian_script(text)
    tokens = tokenise(normalise(script))
    if not tokens:
        return Triage(MessageKind.EMPTY, "")
    if asks_for_a_person(clauses_in_persian_script(text, spoken=True)):
        return Triage(MessageKind.HUMAN, " ".join(tokens))
    rest, greeted = _strip_phrases(_without_refused_person(tokens), (_GREETINGS,))
    rest, thanked = _strip_phrases(rest, (_THANKS,))
    content = [t for t in rest if t not in _FILLER]
    if tuple(content) in _BARE_YES_NO:
        if not thanked:
            return Triage(MessageKind.YES_NO, "")
        content = []  # "yes, thanks" is thanks
    if not content:
        if thanked:
            return Triage(MessageKind.THANKS, "")
        if greeted:
            return Triage(MessageKind.GREETING, "")
        return Triage(MessageKind.EMPTY, "")
    return Triage(MessageKind.QUESTION, " ".join(rest))


def _made_of(tokens: Sequence[str], *groups: PhraseGroup) -> bool:
    """Whether `tokens` are wholly phrases of `groups` and filler, in some way of reading
    them: "no it didnt help" is "no" + "it didnt help", though "no it didnt" is the
    longest phrase at its start."""
    table = _by_first_word(groups)
    reached = [True] + [False] * len(tokens)
    for i, token in enumerate(tokens):
        if not reached[i]:
            continue
        if token in _FILLER:
            reached[i + 1] = True
        for phrase in table.get(token, ()):
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                reached[i + len(phrase)] = True
    return reached[-1]


# "It didn't help" composed: a negation with a word of helping or working, and only
# words that may go with them ("no, that didn't really answer my question", «نه متاسفانه
# کمکی نکرد», «لأ ما افادنيش», «لا ما فادني شي», "la ma sa3adni", "komak nakard").
_NOT_WORDS = frozenset(
    tokenise(
        normalise(
            "no nope nah not didnt doesnt wasnt isnt dont never useless unhelpful "
            "نه خیر نخیر نچ لا لأ ما مش مو لم غير مب la la2 mesh mish mo ma"
        )
    )
)
# Persian negated verbs («کمکی نکرد», «فایده نداشت», «حل نشد»), and their Finglish
# spellings once in Persian script («ناداشت» for "nadasht").
_NEGATED_VERBS = frozenset(
    prefix + verb
    for prefix in ("ن", "نا")
    for verb in ("کرد", "داد", "شد", "خورد", "داشت", "بود", "یومد", "یامد", "داره", "میده")
)
_HELP_WORDS = frozenset(
    tokenise(
        normalise(
            "help helped helpful helps work worked useful answer answered solve solved "
            "کمک کمکی کماک فایده فایدهای جواب جوابم جوابمو حل هال درست درد دردم بدرد "
            "بدردم کارم مفید "
            "ساعد ساعدني ساعدنيش ساعدتني فاد فادني فادنيش افاد افادني افادنيش نفع نفعني "
            "نفعنيش زبط زبطت ظبط ظبطت اشتغل مفيد مفيدة نافع استفدت استفدتش "
            "sa3ad sa3adni sa3adetni mofeed mufeed nafe3 fadni zabat"
        )
    )
)
# What may go with them: "it", "me", "my question", «به سوالم», «شي», «خالص».
_HELP_COMPANIONS = frozenset(
    tokenise(
        normalise(
            "it that this me my question at all really still did does was به سوالم سوالمو مشکلم "
            "مشکلمو رو اصلا ابدا شي خالص والله ابدا مشكلتي سؤالي حاجة"
        )
    )
)


_GLUED_NOT = "ما"


def _did_not_help(tokens: Sequence[str]) -> bool:
    """Whether the tokens say "it didn't help" in a way `_NO` does not list."""
    words = [t for t in _strip_phrases(tokens, (_THANKS,))[0] if t not in _FILLER]
    negated = [t in _NOT_WORDS or t in _NEGATED_VERBS or _glued_not(t) for t in words]
    return any(negated) and all(
        n or t in _HELP_WORDS or t in _HELP_COMPANIONS for t, n in zip(words, negated, strict=True)
    )


def _glued_not(token: str) -> bool:
    """Arabic «ما» written onto the verb: «ماحل», «مافادني»."""
    return token.startswith(_GLUED_NOT) and token[len(_GLUED_NOT) :] in _HELP_WORDS


def yes_or_no(text: str) -> bool | None:
    """True for "yes"/"it helped"/"thanks", False for "no", None for anything else."""
    tokens = tokenise(normalise(persian_script(text)))
    if not [t for t in tokens if t not in _FILLER]:
        return None
    if _made_of(tokens, _NO, _THANKS) and any(t in tokens for p in _NO for t in p):
        return False
    if _did_not_help(tokens):
        return False
    if _made_of(tokens, _YES, _THANKS):
        return True
    return None


# A long message's clauses end at these marks (Latin and Arabic punctuation, new lines).
_CLAUSE_END = re.compile(r"[.!?؟؛;\n]+|[,،](?=\s)")
_LONG_MESSAGE = 12  # words; shorter messages are matched whole
_QUESTION_WORDS = _WH_WORDS | frozenset(
    tokenise(
        normalise("who چه چی چیه چند چقدر آیا میشه میشود دارید دارین هل ماذا شو ايش كم قديش ممكن")
    )
)
# English auxiliaries ask only at the start of a clause ("Can I ...", not "it can").
_ASKING_STARTS = frozenset(
    ["can", "could", "is", "are", "do", "does", "did", "will", "would", "should", "may"]
)


def _asks(clause: str) -> bool:
    tokens = tokenise(normalise(clause))
    return bool(tokens) and (tokens[0] in _ASKING_STARTS or bool(_QUESTION_WORDS & set(tokens)))


def asking_clause(text: str) -> str | None:
    """In a long message, the clause that asks (the last one with a question mark, else
    the last with a question word), or None for a short message or one that asks
    nothing. Stories around a question dilute it; the bot scores this clause too."""
    text = persian_script(text)
    if len(text.split()) < _LONG_MESSAGE:
        return None
    pieces = [p.strip() for p in _CLAUSE_END.split(text)]
    marks = [*_CLAUSE_END.findall(text), ""]
    clauses = [(p, m) for p, m in zip(pieces, marks, strict=False) if p]
    if len(clauses) < 2:
        return None
    asked = [p for p, m in clauses if "?" in m or "؟" in m]
    if not asked:
        asked = [p for p, _ in clauses if _asks(p)]
    return asked[-1] if asked else None
