"""Recognise what is not a FAQ question: requests for a person, greetings, thanks, yes/no.

Word lists are in normalised form (see `faq.normalise`: ي->ی, ك->ک, ة->ه, أ/إ/آ->ا,
no ZWNJ), for Persian, Arabic and English. Matching is on whole tokens or
token sequences, never substrings, so «سلامت» is not a greeting.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from faq.finglish import persian_script
from faq.light_words import LIGHT_WORDS
from faq.morphology import arabic_variants, english_stem, persian_variants
from faq.normalise import normalise, tokenise


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
_HUMAN_WORDS = frozenset(
    tokenise(
        normalise(
            "human humans person people operator representative rep agent agents staff somebody "
            "someone anyone anybody supervisor manager boss colleague colleagues employee "
            "specialist advisor adviser associate admin expert "
            "آدم ادم آدمی انسان انسانی اپراتور اوپراتور کارشناس کارشناستون پشتیبان شخص "
            "همکار همکارتون همکاراتون همکارانتون همکاران همکارا همکارهاتون "
            "همکارهای مدیر مدیرتون مسئول مسئولش نفر سرپرست سرپرستتون کارمند کارمندتون کسی "
            "ادمین "
            "موظف موظفی موضف بشری بشر انسان شخص مندوب ممثل عامل مشرف مدير مسؤول مختص ادمن "
            "وکیل "
            # Arabic in Latin letters, as chats write it (7 for ح, 2 for ء)
            "mowazzaf mowazaf mwazaf muwazzaf mas2ool masool modeer mudir insan "
        )
    )
)
# Words that make a person-word a request ("talk", "connect me") in longer messages.
_CONTACT_WORDS = frozenset(
    tokenise(
        normalise(
            "talk speak chat connect transfer call callback contact reach escalate touch "
            "حرف صحبت وصل وصلم تماس زنگ چت متصل منتقل ارجاع ارتباط "
            "التحدث اتحدث اتکلم اکلم تحدث کلم تحویل حولنی وصلنی تحولنی حولني احکی یحکی احچی "
            "اتواصل تواصل یتصل اتصل تتصل یکلمنی یرد ترد مکالمه اتصال محادثه التکلم اکلمه "
            "حولونی وصلونی توصلنی شات "
            "yekalemny yekallemny kalemni akalem akallem ekalem a7ki a7ke 7ke ehki tahadoth "
            "atahadath atwasal wasalni wassalni 7awelni 7awwelni"
        )
    )
)


def _verb_stem(token: str) -> str:
    """An English verb's stem, its doubled last consonant undone ("transferred" and
    "transfer" meet at "transfer", "chatting" and "chat" at "chat")."""
    stem = english_stem(token, drop_silent_e=True)
    if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
        stem = stem[:-1]
    return stem


# ... and inflected in English ("speaking", "be transferred"); a past tense tells a
# story ("I called your agent yesterday and ..."), its passive asks ("can I be
# transferred to a person").
_CONTACT_STEMS = frozenset(_verb_stem(w) for w in _CONTACT_WORDS if w.isascii())
_PASSIVE_AUXILIARIES = frozenset({"be", "been", "being", "get", "gets", "getting"})


def _inflected_contact(tokens: Sequence[str], i: int) -> bool:
    token = tokens[i]
    if not token.isascii() or _verb_stem(token) not in _CONTACT_STEMS:
        return False
    return not token.endswith("ed") or (i > 0 and tokens[i - 1] in _PASSIVE_AUXILIARIES)


# "Answer me": a request with a person-word ("is there a person who can answer?"), not
# with a service («پشتیبانی تا چه ساعتی جواب میده؟» asks for its hours).
_ANSWER_WORDS = frozenset(tokenise(normalise("answer respond reply جواب پاسخ")))
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
    "کار دارم",
)
# "Someone" that is also "one" («یکی», Arabic «احد»): a person only beside a contact or
# answer word («یکی تماس بگیره», «يتصل بي أحد»); «یکی دیگه میخوام» wants another item.
# Egyptian and Levantine «حد»/«حدا» ("someone") is MSA "limit" («هل هناك حد للتعبئة»).
_SOMEONE = frozenset(tokenise(normalise("یکی یکیو یکیتون احد حد حدا بحد 7ad 7ada 7add")))
# Asking whether a person is there («کسی اونجا هست؟», «مفيش حد هنا؟», "any human
# available?"): with a person-word, a request.
_PRESENCE_WORDS = frozenset(
    tokenise(
        normalise(
            "here available online around rn اونجا انجا اینجا آنلاین انلاین "
            "هنا موجود متاح متواجد اونلاین"
        )
    )
)
# Naming a service, not a person: a request only with a contact word or phrase.
_HUMAN_PHRASES = _phrases(
    "real person",
    "live agent",
    "customer service",
    "customer support",
    "support team",
    "tech support",
    "technical support",
    "خدمات پس از فروش",
    "واحد پشتیبانی",
    "پشتیبان انسانی",
    "پشتیبانی",
    "خدمة العملاء",
    "خدمه عملاء",
    "لخدمة العملاء",
    "بخدمة العملاء",
    "الدعم",
    "للدعم",
    "بالدعم",
    "الدعم الفني",
)
# The bot itself: refusing it («نه ربات», "not a bot") or naming it beside a person
# ("stop the bot, I need a person") is a request for a person.
_BOT_WORDS = frozenset(
    tokenise(normalise("bot bots robot chatbot automated ربات روبات بات روبوت بوت الروبوت البوت"))
)
# «الرد الآلي», "the automatic reply" (alone «الآلي» is the ATM's "automated"); a machine
# one talks to, not a washing machine that is "not working".
_BOT_PHRASES = _phrases(
    "الرد الآلي",
    "الرد الالي",
    "پاسخ خودکار",
    "automatic reply",
    "to a machine",
    "with a machine",
    "not a machine",
    "to machines",
    "no machine",
)
_NEGATIONS = frozenset(
    tokenise(
        normalise(
            "no not dont isnt arent aint stop enough نه نمیخوام نمیخواهم نمیزنم بسه دیگه "
            "لا مش مو ما مابدي بلاش كفاية"
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
    "ما ابي",
    "لا اريد",
    "لا احتاج",
    "بدون",
)
# Arabic proclitics before a person-word: «بموظف», «المدير», «للمشرف».
# («عالمدير»: spoken «على ال», "to the manager").
_ARABIC_PROCLITICS = ("بال", "لل", "عال", "ال", "ب", "ل", "و")
# Plural and oblique endings a person-word takes before a pronoun («موظفيكم», «المسؤولين»).
# «ی» is not one: «شخصی» is "personal", not a person.
_PERSON_ENDINGS = ("ین", "ون", "ان", "ها")
# Words a person-word's inflections would reach that name no person ("personal").
_PERSONAL = frozenset(tokenise(normalise("شخصی شخصیه شخصیا شخصا")))

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
_FILLER = frozenset(
    tokenise(normalise("and again very much so please there team all و هم خیلی لطفا جزیلا من فضلک"))
)
# Words that do not count towards the length of a bare request for a person.
_REQUEST_FILLER = _FILLER | frozenset(
    tokenise(
        normalise(
            "i a an to the with me can could please real live some want need get let give "
            "find actual actually any there one of your from now right away asap immediately "
            "who who's member "
            "با یه یک یک به من لطفا میخوام میخواهم میشه رو را واقعی "
            "ارید ابغی ابی مع الی لو سمحت من فضلک حقیقی"
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
    return _longest_at(tokens, i, _by_first_word(groups))


def _longest_at(
    tokens: Sequence[str], i: int, table: dict[str, tuple[tuple[str, ...], ...]]
) -> int:
    for phrase in table.get(tokens[i], ()):
        if tuple(tokens[i : i + len(phrase)]) == phrase:
            return len(phrase)
    return 0


def _strip_phrases(
    tokens: Sequence[str], phrases: tuple[PhraseGroup, ...]
) -> tuple[list[str], bool]:
    """Remove every occurrence of the phrases (longest first); report whether any was found."""
    out: list[str] = []
    found = False
    table = _by_first_word(phrases)  # looked up once, not per token
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
_LONG_HUMAN_WORDS = tuple(w for w in sorted(_HUMAN_WORDS) if len(w) >= _MIN_TYPO_LENGTH)


@functools.lru_cache(maxsize=1 << 14)
def _is_person_word(token: str) -> bool:
    """Whether `token` names a person to talk to: as listed, held letters undone, with
    an Arabic proclitic («للموظف»), in a Persian, Arabic or English inflection
    («مدیرتونو», «کارشناسان», «موظفيكم», "specialists"), or with one letter wrong."""
    token = _HELD_LETTER.sub(r"\1", token)
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
    return len(token) >= _MIN_TYPO_LENGTH and any(
        Levenshtein.distance(token, word, score_cutoff=1) <= 1 for word in _LONG_HUMAN_WORDS
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
    has_contact_word = any(
        t in _CONTACT_WORDS or _inflected_contact(wanted, i) for i, t in enumerate(wanted)
    )
    has_answer = any(t in _ANSWER_WORDS for t in wanted)
    has_presence = any(t in _PRESENCE_WORDS for t in wanted)
    has_word = any(_is_person_word(t) for t in rest) or (
        (has_contact_word or has_answer or has_presence) and any(t in _SOMEONE for t in rest)
    )
    has_contact = has_contact_phrase or has_contact_word or (has_word and has_presence)
    has_bot = any(t in _BOT_WORDS for t in tokens) or _strip_phrases(tokens, (_BOT_PHRASES,))[1]
    if has_bot and (has_word or any(t in _NEGATIONS for t in tokens)):
        return True
    if not has_word and not (has_phrase and has_contact):
        return False
    if refused and not has_contact:
        return False
    # What the message is about besides asking for someone: a request says little else
    # ("a real human agent right now, please"); "can someone explain the warranty" asks
    # about the warranty.
    content = [
        t
        for t in rest
        if t not in _REQUEST_FILLER and t not in LIGHT_WORDS and not _is_person_word(t)
    ]
    return len(content) <= 1 or has_contact or has_answer


# How many words may stand between "no need for" and the person it refuses.
_REFUSAL_REACH = 3


def _without_refused_person(tokens: Sequence[str]) -> list[str]:
    """The tokens without "no need for a human"-style refusals of a person: they say
    what the customer does not want, not what the question is about."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        refusal = _phrase_at(tokens, i, _NO_PERSON_NEEDED)
        if refusal:
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


def triage(text: str) -> Triage:
    """Classify a customer message before any KB lookup.

    Args:
        text: the message as typed.

    Returns:
        The kind (empty, greeting, thanks, human request, question) and the
        normalised text left for the matcher (Finglish in Persian script).
    """
    tokens = tokenise(normalise(persian_script(text)))
    if not tokens:
        return Triage(MessageKind.EMPTY, "")
    if is_human_request(tokens):
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


def yes_or_no(text: str) -> bool | None:
    """True for "yes"/"it helped"/"thanks", False for "no", None for anything else."""
    tokens = [t for t in tokenise(normalise(persian_script(text))) if t not in _FILLER]
    if not tokens:
        return None
    rest, no = _strip_phrases(tokens, (_NO, _THANKS))
    if (
        no
        and not [t for t in rest if t not in _FILLER]
        and any(t in tokens for p in _NO for t in p)
    ):
        return False
    rest, yes = _strip_phrases(tokens, (_YES, _THANKS))
    if yes and not [t for t in rest if t not in _FILLER]:
        return True
    return None


# A long message's clauses end at these marks (Latin and Arabic punctuation, new lines).
_CLAUSE_END = re.compile(r"[.!?؟؛;\n]+|[,،](?=\s)")
_LONG_MESSAGE = 12  # words; shorter messages are matched whole
_QUESTION_WORDS = frozenset(
    tokenise(
        normalise(
            "how what when where why which who whats wheres "
            "چطور چطوری چجوری چگونه چه چی چیه کی کجا کجاست چرا چند چقدر آیا میشه میشود "
            "دارید دارین "
            "هل كيف كيفاش ازاي شلون متى امتى ايمتى اين وين فين ماذا شو ايش ليش ليه كم قديش "
            "ممكن"
        )
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
