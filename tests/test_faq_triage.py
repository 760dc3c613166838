"""faq.triage: requests for a person, "didn't help" answers and the clause that asks,
in Persian, Arabic (MSA and dialects), English and Finglish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faq.evaluate import LabelledQuery, evaluate_queries
from faq.kb import KbError, load_kb
from faq.matcher import Matcher
from faq.normalise import normalise, tokenise
from faq.reload import load
from faq.triage import MessageKind, asking_clause, triage, yes_or_no

FIXTURES = Path(__file__).parent / "fixtures" / "faq"


@pytest.mark.parametrize(
    "text",
    [
        "can I talk to a supervisor",
        "get me your manager",
        "I want a real human, not a bot",
        "please ask one of your colleagues to call me",
        "any people there?",
        "stop the bot and get me an actual person",
        "آدم واقعی لازم دارم نه ربات",
        "یکی از همکارهاتون باهام تماس بگیره",  # «همکارهاتون»: ها glued back, listed form
        "با پشتیبانی وصلم کنید",
        "مدیرتون رو میخوام",
        "ربات نمیخوام",
        "operator mikham",
        "mishe ba ye adam harf bezanam",
        "عايز اكلم حد",  # Egyptian
        "بدي احكي مع موظف",  # Levantine
        "ابي اكلم شخص حقيقي مو روبوت",  # Gulf
        "حولني على المشرف",
        # a refusal of something else leaves the request ("I don't want canned answers")
        "I don't want canned answers, just connect me to a supervisor",
        "سفارشم سه بار عقب افتاده، جوابای کلیشه ای هم نمیخوام. فقط وصلم کنید به سرپرست",
        "ye adam vaghei hast javab bede?",  # "is there a real person to answer?"
        "کارمندتون باهام تماس بگیره",
        "can you put me through to a real human please",
        "is there anyone there who isn't a bot",
        "let me talk to your boss",
        "i want a human agent right now",
        "escalate this to a manager",
        "کسی هست جواب بده؟",  # "is anyone there to answer?"
        "ممكن تحولني للدعم",  # «للدعم»: "to support", with its proclitic
        "اپراتووووور",  # a letter held down
        "مدیرتونو میخوام",  # «مدیر» with "your" and the object marker
        "operater plz",  # one letter wrong
        "hello?? anybody real here",
        "ممكن توصلني بحد بني آدم؟",  # «حد», "someone", beside "connect me"
        "وصلني عالمدير",  # spoken «على ال»
        "لا أريد الرد الآلي، أريد إنساناً حقيقياً.",  # "not the automatic reply"
        "momken 7ad yekalemny? el order mesh wasel",  # Arabizi
        # an inflected contact verb, with a question attached
        "could I please be transferred to a human agent? it is about a warranty claim",
        "can my case be escalated to a supervisor? the refund is late",
        "speaking to a human would be great, my order is late",
        "im tired of chatting with a machine, get me a person",
        # a request form and a person in one clause, however long the message
        "I need a real person to handle this, the screen came cracked",
        "میخوام با مدیر فروش حرف بزنم چون سفارشم اشتباه اومده",
        "كفاية ردود آلية، عايز بني آدم",  # «بني آدم», "a human being"
        "ابي موظف الحين ضروري عشان الطلب متأخر",
        "I want a human to check my order",  # the person before "check"
        "get a manager on the line",  # "get" with the person right after it
        "ابغى احد من خدمة العملاء",  # "someone from customer service"
        # a contact word aimed at the customer, no person named
        "transfer me",
        "call me back",
        "transfer me to billing please",
        "escalate this",
        "زنگ بزنید بهم لطفا، کار فوری دارم",
        "لطفاً با من تماس تلفنی برقرار کنید، شماره‌ام در پروفایل ثبت شده",
        # «يا اخوي», "hey brother", addresses the bot: not the customer's brother
        "يا اخوي حولني لأي موظف",
        "bade e7ke ma3 shakhs",  # Arabizi
        "ye nafar baham harf bezane lotfan",  # Finglish «نفر»
        "اريد التواصل مع خدمة العملاء",
        "need to speak with customer care",
    ],
)
def test_requests_for_a_person(text: str) -> None:
    assert triage(text).kind is MessageKind.HUMAN


@pytest.mark.parametrize(
    "text",
    [
        "I don't need a person, just tell me the hours",
        "no need for a human, what time do you open",
        "اپراتور لازم نیست، فقط ساعت کاری رو بگید",
        "مش عايز موظف، بس قولي مواعيد العمل",
        "When is support available?",
        "پشتیبانی تا چه ساعتی جواب میده؟",
        "Can someone show me how to use the device?",
        "Do you sell robot vacuums?",
        "I don't want a person to call me, just email the invoice",
        "Can a supervisor approve a refund over the limit?",
        "can someone explain the warranty",
        "پشتیبانی تلفنی دارید؟",
        "رقم خدمة العملاء كم",
        "هل هناك حد للتعبئة؟",  # «حد» is "limit" here
        "رقم التعريف الشخصي الخاص بي ليس هنا بعد",  # «شخصي», "personal"
        "Is there a limit to the top-ups someone can do?",
        "ما هي أجهزة الصراف الآلي التي تقبل بطاقتي؟",  # the ATM is "automated"
        "I can't find my phone and I'm worried someone is going to use it",
        # a washing machine that is "not working" is not a bot refused
        "the washing machine is not working, how do i claim warranty",
        # a past call is a story, not a request
        "I called your agent yesterday and he said the warranty covers it, is that true?",
        # stories of a call, in the past or told by the shop
        "ممنون از همکارتون که زنگ زد، مشکل حل شد",
        "دیروز با پشتیبانی تماس گرفتم گفتن پیگیری میکنن. فقط میخواستم بدونم سفارشم کجاست",
        "المندوب اتصل علي وقال الطلب بيوصل بكرة، ممكن اعرف الوقت بالضبط؟",
        "الموظف كان محترم، شكرا",
        "كلمت موظف امبارح وقال الطلب بالطريق",
        "یه پیامک اومده که یه کارشناس باهام تماس میگیره، این واقعا از طرف شماست؟",
        "I talked to your operator yesterday and it was fixed, thanks",
        "the agent I spoke to said I'd get a refund in 5 days, is that right?",
        # questions about the staff, or about what the customer must do
        "does your staff speak Arabic?",
        "is your support team in Tehran?",
        "did an agent already look at my case?",
        "do I need to call someone to activate the warranty?",
        "I want to know whether your staff can install it",
        # the customer's own people, or the customer
        "my wife will call your agent tomorrow about the invoice",
        "my manager wants an invoice for the laptops",
        "I'm a store manager, do you offer bulk pricing?",
        "im a manager want to buy 50 laptops for my team",
        "انا مدير مشتريات، عندكم اسعار جملة؟",
        "مدیر شرکت ما فاکتور رسمی نیاز دارد، آیا صادر می‌کنید؟",  # "our manager needs"
        # a person's number, a person complained about, a count, face to face
        "شماره پشتیبانی رو میشه بدید؟",
        "ابغى اشتكي على المندوب",
        "I'd like to see one in person first, where is your store?",
        "I want to book a delivery for 4 people",
        # "someone" beside no way to talk, "expect" one letter from "expert", a name
        "I think someone used my card on your site, what should I do?",
        "I need someone to install the air conditioner, do you do that?",
        "give me a date to expect the delivery",
        "Is it possible for a person who lives abroad to get a warranty?",
        "you can call me Sam",
        "please stop calling me",
    ],
)
def test_person_words_that_are_not_a_request(text: str) -> None:
    assert triage(text).kind is MessageKind.QUESTION


@pytest.mark.parametrize(
    "text", ["yes", "Yes.", "ok", "بله", "آره", "نعم", "no", "نه", "لا", "خیر"]
)
def test_a_bare_yes_or_no_is_small_talk(text: str) -> None:
    assert triage(text).kind is MessageKind.YES_NO


@pytest.mark.parametrize("text", ["yes, thanks", "no thank you", "بله ممنون", "نعم شكرا"])
def test_a_yes_or_no_with_thanks_is_thanks(text: str) -> None:
    assert triage(text).kind is MessageKind.THANKS


@pytest.mark.parametrize("text", ["useless", "wrong answer", "yes where is my order", "no refund?"])
def test_a_yes_or_no_that_says_more_is_a_question(text: str) -> None:
    assert triage(text).kind is MessageKind.QUESTION


def test_a_refused_person_is_not_part_of_the_question() -> None:
    # "no need for a human" says what the customer does not want: the question that
    # reaches the matcher is the rest, so the person-word cannot count against an entry
    for text, rest in [
        ("no need for a human, just tell me when you open", "just tell me when you open"),
        ("اپراتور لازم نیست، ساعت کاری رو بگید", "ساعت کاری رو بگید"),
        ("مش عايز موظف، بس قولي مواعيد العمل", "بس قولی مواعید العمل"),
    ]:
        assert triage(text).rest == " ".join(tokenise(normalise(rest)))
    # a refusal with no person after it is kept: "no need to pay for shipping?"
    assert "need" in triage("no need to pay for shipping?").rest


@pytest.mark.parametrize(
    "text",
    [
        "نه کمکی نکرد",
        "فایده نداشت",
        "نه اصلا به دردم نخورد",
        "na komak nakard",
        "no it didn't",
        "nope, useless",
        "that's not what I asked",
        "لا ما ساعدني",
        "مش مفيد",
        # "no" before a longer answer ("no it didnt" is a phrase too)
        "no it didn't help",
        "No, it didn't help.",
        "no it didnt answer my question",
        "didn't help at all",
        "it did not help",
        "نه متاسفانه کمکی نکرد",
        "نه مشکلم حل نشد",
        "فایده ای نداشت",
        "لا والله ما ساعدني",
        "ما استفدت",
        "مافادني",
        "مش مفيد خالص",
    ],
)
def test_didnt_help_answers(text: str) -> None:
    assert yes_or_no(text) is False


def test_the_clause_that_asks_in_a_long_message() -> None:
    story = (
        "سلام. من ده روز پیش سفارشمو لغو کردم و گفتن پول برمیگرده. "
        "هنوز چیزی به حسابم نیومده. پولم کی برمیگرده؟"
    )
    assert asking_clause(story) == "پولم کی برمیگرده"
    english = (
        "My grandpa just got the purifier, he is not great with tech and the booklet got "
        "lost with the box, where can I download the user manual"
    )
    assert asking_clause(english) == "where can I download the user manual"
    assert asking_clause("where is my order?") is None  # short: matched whole
    assert asking_clause("I bought a fridge last week. It is nice. The colour is fine.") is None


def test_a_lexicon_file_is_used_by_the_kb_loader_and_a_bad_one_fails_the_load(
    tmp_path: Path,
) -> None:
    kb = FIXTURES / "kb.json"
    ours = tmp_path / "lexicon.yaml"
    ours.write_text("concepts:\n  warranty:\n    en: [assurance plan]\n", encoding="utf-8")
    loaded = load(kb, "fa", lexicon_path=ours)
    assert "~warranty" in loaded.matcher.words("how long is the assurance plan", "en")
    ours.write_text("concepts:\n  warranty:\n    xx: [a]\n", encoding="utf-8")
    with pytest.raises(KbError, match="unknown language 'xx'"):
        load(kb, "fa", lexicon_path=ours)


def _colloquial(split: str) -> list[LabelledQuery]:
    lines = (FIXTURES / "colloquial.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [LabelledQuery(r["text"], r["expected"], r["lang"]) for r in rows if r["split"] == split]


def _is_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isascii() for c in letters) > len(letters) / 2


# The target for answered-right on the held half is 0.80 of in-scope; measured 61/76
# (0.803) when this gate was set: the gate is the target, and hand-offs at theirs.
HELD_ANSWERED_RIGHT_FLOOR = 0.80


def test_colloquial_held_half_holds_its_level() -> None:
    """The gate: the held-back half of the colloquial set (never used for tuning)."""
    kb = load_kb(FIXTURES / "kb.json", "fa")
    queries = _colloquial("held")
    report = evaluate_queries(Matcher(kb), kb, queries)
    assert report.unknown_expected == 0
    assert report.answered_right >= HELD_ANSWERED_RIGHT_FLOOR * report.in_scope, report.as_dict()
    assert report.handoff_detected >= 0.95 * report.handoff, report.as_dict()
    # Finglish on its own: Persian questions in Latin letters are answered too.
    finglish = [
        o
        for o in report.outcomes
        if o.query.lang == "fa"
        and _is_latin(o.query.text)
        and o.query.expected not in (None, "human")
    ]
    assert len(finglish) >= 10
    right = sum(o.answered == o.query.expected for o in finglish)
    assert right >= 0.8 * len(finglish), [o.query.text for o in finglish if o.answered is None]


def _person_set(name: str, split: str) -> tuple[int, int, int, int]:
    """Requests detected, requests, look-alikes taken, look-alikes of one half."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    rows = [row for row in rows if row["split"] == split]
    asked = [triage(row["text"]).kind is MessageKind.HUMAN for row in rows if row["request"]]
    others = [triage(row["text"]).kind is MessageKind.HUMAN for row in rows if not row["request"]]
    return sum(asked), len(asked), sum(others), len(others)


def test_person_requests_tune_halves() -> None:
    """The halves the rules were chosen on: every request and no look-alike."""
    assert _person_set("person_requests.jsonl", "tune") == (75, 75, 0, 30)
    assert _person_set("person_requests2.jsonl", "tune") == (63, 63, 0, 38)
    assert _person_set("person_requests3.jsonl", "tune") == (85, 85, 0, 50)
    # a tuning set of its own (tests/fixtures/faq/README.md); «اتصلوا علي» taken in session
    # 22 («علي» is "me" only with nothing but "please" after it: it is also a name)
    assert _person_set("person_requests_tuning_s19.jsonl", "tune") == (60, 60, 0, 34)
    # the blind set's tune half (54 of 65 and 3 of 35 look-alikes before session 19's rules,
    # 61 and 1 before session 20's)
    assert _person_set("person_requests4.jsonl", "tune") == (65, 65, 0, 35)
    # session 20's tuning set, by kind of construction (140 of 171 and 6 of 75 before its
    # rules; 60 look-alikes were then written to probe those rules and 61 requests in
    # other words, 52 of them taken by the first rules; then 48 requests and 20 look-alikes
    # more, 39 and 0 taken by the second rules); left "transfer pls" (a money
    # transfer as often), "speek to agant plz" (one letter changed in a short word),
    # "wa9alni" (also "it reached me"), «حولوني ... الأسبوع الماضي» (a story in the
    # imperative's form) and "can I change the person the order is delivered to?"
    # Session 22 took "modiretoono" (the possessive and object «و» read); session 23 the
    # last five ("transfer pls" with only polite words beside it, vowels changed in a
    # five-letter person-word, "a live one", "connect me with" in Arabizi)
    assert _person_set("person_requests_tuning_s20.jsonl", "tune") == (280, 280, 2, 155)
    # the blind sets' tune halves session 22 chose its rules on: 58 of 65 and 1 of 35, 57
    # and 3 before them; left «واش ممكن شي واحد يتاصل بيا» (a misspelt verb), "please i
    # want speak with the worker of shop, not machine" ("worker" is one letter from
    # "worked"), an Arabizi verb split by a hyphen, "Who's in charge there? Let me talk
    # to them."
    # (all four taken by session 23's rules)
    assert _person_set("person_requests5.jsonl", "tune") == (65, 65, 0, 35)
    assert _person_set("person_requests6.jsonl", "tune") == (65, 65, 0, 35)
    # (55, 62 and 55 of 66 before them; 6, 1 and 3 of 36 look-alikes; 61, 64 and 61 before
    # session 23's rules)
    assert _person_set("person_requests8.jsonl", "tune") == (66, 66, 1, 36)
    assert _person_set("person_requests9.jsonl", "tune") == (66, 66, 0, 36)
    assert _person_set("person_requests10.jsonl", "tune") == (66, 66, 0, 36)


# The held halves of tests/fixtures/faq/person_requests*.jsonl, measured when this gate
# was last set (never used for choices, counted before and after each round). Session 19
# left 69 of 75, 60 of 63, 76 of 84, 50 of 65 and 23 of 26 requests detected, 2 of 30,
# 0 of 37, 3 of 48, 1 of 35 and 0 of 14 other messages taken for one; session 20's rules
# (chosen on person_requests_tuning_s20.jsonl) 72, 62, 80, 51 and 23 requests (96%, 98%,
# 95%, 78%, 88%), 3, 0, 2, 2 and 0 others: one more look-alike on the first and fourth,
# one fewer on the third. person_requests4.jsonl, written blind on 2026-12-01, was 48 of
# 65 (74%) before session 19. person_requests5.jsonl, written blind in session 20 and
# never read by the engineer who chose that session's rules: 56 of 65 (86%) and 2 of 35
# before them, 57 and 2 after. person_requests6.jsonl, written blind in session 21, was
# counted on the rules of that session's start: 59 of 65 (91%), 3 of 35. Session 22's
# rules (chosen on the tune halves of person_requests5, 6, 8, 9 and 10, fresh*.jsonl and
# cases of the engineer's own) took 73, 62, 81, 54, 61, 61 and 24 (97%, 98%, 96%, 83%,
# 94%, 94%, 92%) and 3, 0, 2, 2, 2, 1 and 0 others (one fewer on the sixth); on the sets
# written blind in session 22, 58, 56, 56 and 54 of 64 (from 57, 55, 55, 52) and 2, 2, 2
# and 1 of 34 (from 3, 2, 3, 1). person_requests7.jsonl was read in neither half by the
# engineer who chose the rules. Session 23's rules (chosen on the tune halves and cases
# of the engineer's own) took 74, 82, 63, 59, 57 and 55 on the first, third, sixth,
# seventh, eighth and tenth (one, one, two, one, one and one more) and 60 on the fifth
# (one fewer, not found on the tune halves or their variants), the look-alikes taken
# unchanged. Session 24's rules (families of the engineer's own variants of the tune
# halves) took one more on the third, fifth, eighth, ninth and tenth, the look-alikes
# taken unchanged.
PERSON_REQUESTS_HELD = {
    "person_requests.jsonl": (74, 75, 3, 30),
    "person_requests2.jsonl": (62, 63, 0, 37),
    "person_requests3.jsonl": (83, 84, 2, 48),
    "person_requests4.jsonl": (54, 65, 2, 35),
    "person_requests5.jsonl": (61, 65, 2, 35),
    "person_requests6.jsonl": (63, 65, 1, 35),
    "person_requests7.jsonl": (59, 64, 2, 34),
    "person_requests8.jsonl": (58, 64, 2, 34),
    "person_requests9.jsonl": (57, 64, 2, 34),
    "person_requests10.jsonl": (56, 64, 1, 34),
    "person_requests_check_s19.jsonl": (24, 26, 0, 14),
}


def test_person_requests_held_half_holds_its_level() -> None:
    for name, (floor, requests, ceiling, others) in PERSON_REQUESTS_HELD.items():
        detected, asked, taken, told = _person_set(name, "held")
        assert (asked, told) == (requests, others)
        assert detected >= floor, (name, detected)
        assert taken <= ceiling, (name, taken)


# Each rule broadened for requests for a person, with Persian, Arabic and English cases
# (any one of them missed without the rule) and look-alikes the rule must leave out.
BROADENED_REQUESTS = {
    # what a person does for the customer: review, look into, follow up, answer
    "answer_words": [
        "can a manager handle my refund",
        "لطفا یه کارشناس رسیدگی کنه",
        "ممكن مشرف يراجع حالتي؟",
    ],
    # "someone" beside the bot
    "someone_beside_the_bot": ["این ربات به درد نمیخوره، یکی رو بفرستین", "البوت تعبني، ابي احد"],
    # Arabic contact verbs with a proclitic, a plural ending or "me" on them
    "arabic_contact_affixes": ["اتصلوا بي", "يرجى تحويل طلبي للتواصل معي", "كلموني ضروري"],
    # escalation, Arabic, and the English participle after a request
    "escalation": [
        "I want this escalated to a supervisor",
        "صعّد الموضوع للمدير",
        "أطلب تصعيد الشكوى",
    ],
    # Arabizi spellings
    "arabizi": ["abgha a7ad yetasel 3alay", "wasselni b mowazaf", "badde 7ada ye7ki ma3i"],
    # a call from a department
    "call_from_a_department": ["can I get a phone call from support", "ابي مكالمة من قسم الصيانة"],
    # the Persian imperative light verb asks for the call without an object
    "persian_imperative_call": ["زنگ بزنید", "تماس بگیرید لطفا", "یکی از همکارا پیام بده"],
    # "me" in formal Persian, "put me through" and "pass me to" in English
    "me_forms": [
        "خواهشمندم جهت پیگیری با اینجانب تماس حاصل فرمایید",
        "put me through to billing",
    ],
    "contact_phrases": [
        "how do I get hold of a real person?",
        "please pass me to a colleague who knows billing",
    ],
    # an English person-word with a letter left out
    "dropped_letter": ["real persn plz", "can i talk to a humn"],
    # who one can talk to
    "who_can_i_talk_to": ["Who can I speak to about a refund?", "مين ممكن اكلمه؟"],
    # a passive call aimed at the customer, "get someone from"
    "passive_and_get": [
        "I want to be transferred to the billing department",
        "get someone from your team on this",
    ],
    # tired of the bot
    "tired_of_the_bot": ["I'm tired of talking to a robot", "زهقت من البوت حولني"],
    # a message ending on the person alone, after a complaint
    "bare_person_last": [
        "you are not understanding me. human agent!!!",
        "you keep sending the same link. live agent please!!!",
        "اصلا متوجه نمیشی. اپراتور!",
        "جاوبتني غلط مرتين. موظف حقيقي الحين",
    ],
    # Arabic «رفع» to a person or department, and escalation with a plural ending
    "raised_to_staff": [
        "ارفعوا الموضوع للإدارة لو سمحتوا",
        "ارفع الموضوع للمدير",
        "ممكن ترفع شكواي إلى المشرف؟",
        "ارفعوها لخدمة العملاء",
        "صعّدوا الشكوى",
    ],
    # Maghrebi «شي واحد», "chi wa7ed" (someone) and "nhder" (I speak), also when "chi"
    # makes the message read as Finglish
    "maghrebi_someone": [
        "wach kayn chi wa7ed 7a9i9i nhder m3ah?",
        "bghit nhder m3a chi wa7ed",
        "بغيت نهضر مع شي واحد",
    ],
    # new person-words: management, consultant, «مشاور», «الإدارة»
    "person_words": [
        "میخوام با یه مشاور صحبت کنم",
        "ودي أكلم الإدارة",
        "put me through to management",
    ],
    # wording nobody foresaw (the tune halves of fresh4 and fresh6, a set of the
    # engineer's own; tests/fixtures/faq/README.md):
    # a Persian relative clause's past verb describes a thing, not a story
    "wording_relative_clause": [
        "لطفا به شماره‌ای که دیروز دادم زنگ بزنید",
        "یکی از همکاراتون با خطی که ثبت کردم تماس بگیره",
    ],
    # «موظف» in Latin letters with «ظ» as dh, th or 6; "yrd 3alay", "akalim"
    "wording_arabizi": [
        "abi akalim el mowadhaf",
        "bdi 7ada yrd 3alay",
        "wen el mwa6af? abi akalim a7ad",
    ],
    # "an automatic reply" without the article, refused beside a person
    "wording_automatic_reply": [
        "أحتاج إلى شخص مختص يساعدني وليس ردا آليا",
        "محتاج مختص يشوف مشكلتي مو ردود آلية",
    ],
    # a request puts the verb first, or after «خلي»
    "wording_the_person_called": ["خلي المشرف يتصل بي", "اتصل بي لو سمحت"],
    # from the tune half of the blind person_requests4.jsonl: "the boss", Levantine
    # «هون» ("here"), a person doing it by hand, Maghrebi «عيط ليا» ("call me")
    "wording_boss": ["میشه با رئیس فروشگاه صحبت کنم؟"],
    "wording_here": ["حدا هون؟", "fi 7ada hon plz"],
    "wording_by_hand": [
        "can someone check my order manually",
        "میشه یکی دستی وضعیت سفارشمو ببینه؟",
    ],
    "wording_maghrebi_call": ["عيطو ليا عافاكم"],
    # "I'd rather" asks
    "wording_rather": [
        "I'd rather deal with a real person",
        "would rather have a supervisor on this",
    ],
}
BROADENED_LOOK_ALIKES = {
    "wants_to_know": [
        "I want to know whether your staff speak Arabic",
        "میخوام بدونم اپراتورهاتون انگلیسی صحبت میکنن یا نه",
        "ابغى اعرف اذا الموظفين يتكلمون فارسي",
    ],
    "jobs": [
        "Do you have jobs for call center operators?",
        "استخدام اپراتور تلفنی دارید؟",
        "في عندكن وظائف بخدمة العملاء؟",
    ],
    "compound_nouns": [
        "do your call center operators work on weekends?",
        "شماره تماس پشتیبانی رو میدید؟",
        "رقم التواصل مع الدعم؟",
        "what's the contact number for support",
        "یکی از سفارشام نرسیده، کد پیگیری چیه؟",
        "is there a human-readable version of the manual",
    ],
    "refused_contact": [
        "Don't call me, email is fine",
        "لطفا دیگه به من زنگ نزنید",
        "أرجو عدم الاتصال بي",
        "بطلوا تتصلوا بيا",
        "I don't want to be called, just email me",
    ],
    "times_and_days": [
        "when do your agents answer chats?",
        "کارشناس فروش چه ساعتی جواب میده؟",
        "متى يتصل المندوب؟",
        "هل المشرف موجود في الفرع يوم السبت؟",
    ],
    "questions_about_staff": [
        "آیا کارشناس‌های شما عربی صحبت می‌کنند؟",
        "Who is your manager?",
        "آیا برای مرجوعی باید با پشتیبانی تماس بگیرم؟",
        "هل لازم أتصل بخدمة العملاء عشان أرجع المنتج؟",
        "المندوب راح يتصل فيني قبل التوصيل؟",
    ],
    "bare_person_not_last_or_asked": [
        "my brother is a real estate agent",
        "is the human resources office open?",
        "Who approved this? the manager?",
        "Agent, where is my order?",
    ],
    "raised_not_to_staff": ["ارفعوا السعر؟", "رفعت شكوى الأسبوع الماضي", "ارفع الصورة للموقع"],
    "wa7ed_the_numeral": [
        "bghit wa7ed mn hadchi",
        "wach kayn chi wa7ed mn had lmodel?",
        "عندي جهاز واحد بس، كيف اتواصل معكم؟",
    ],
    "stories": [
        "the agent was rude",
        "your operator was helpful",
        "I got a message from your team about a delay",
        "وصلني منتج غلط",
        "الاتصال بخدمة العملاء متاح 24 ساعة؟",
    ],
    # wording nobody foresaw (the tune halves of fresh4 and fresh6, a set of the
    # engineer's own; tests/fixtures/faq/README.md):
    "wording_relative_clause": [
        "من که دیروز زنگ زدم کسی جواب نداد",
        "کارشناسی که دیروز زنگ زد گفت فردا میاد",
    ],
    "wording_arabizi": ["akhoy mowadhaf fi bank", "el mowadhaf ma rad 3alay embare7"],
    "wording_automatic_reply": ["وصلني رد آلي بتأكيد الطلب", "هل الصراف الآلي يقبل بطاقتكم؟"],
    "wording_rather": ["I'd rather get a refund than a replacement", "I would rather pay by card"],
    "wording_boss": ["رئیس من یه لپتاپ ازتون خریده، فاکتورش کجاست؟"],
    "wording_here": ["المحل هون مسكر يوم الجمعة؟"],
    "wording_by_hand": ["جاروی دستی دارید؟", "I manually entered the code but it fails"],
    "wording_maghrebi_call": ["ابني بيعيط من امبارح عشان اللعبة اتكسرت"],
    # last week («الأسبوع الماضي») is the past
    "wording_last_week": ["تواصل معي مشرف الشهر الماضي وحل الموضوع"],
    # "I'm not a robot" is the customer at a captcha, not the bot refused
    "wording_not_a_robot": [
        "أنا مش روبوت، ليش كل مرة يطلبوا التحقق؟",
        "I'm not a robot, why does your site keep asking?",
    ],
    # «اتصل», «تواصل» after the person are "he called"
    "wording_the_person_called": [
        "المندوب اتصل بس ما لقى البيت",
        "المدير اتصل فيني وما فهمت شي",
        "المشرف تواصل معي ووعدني بالاسترجاع",
    ],
    # a message about a job asks for no person in any of its clauses
    "wording_jobs": [
        "استخدام دارید؟ میخوام کارمندتون بشم",
        "are you hiring? I want to be one of your agents",
        "هل عندكم وظائف؟ ابغى اكون موظف عندكم",
    ],
}


# Requests that merely mention a job or "last week" (a review's sentences: each was taken
# before the rules for job applications and stories of last week's call, and missed by
# their first form, which read a job word anywhere, or «گذشته»/«الماضي» alone, as no request)
REQUESTS_BESIDE_JOBS_AND_LAST_WEEK = [
    "The repair job you did was terrible, I want to speak to a manager",
    "I lost my job and can't pay this month, can I talk to a person about a payment plan?",
    "My job requires me to travel, please have an agent call me back tomorrow",
    "عندي شغل ضروري، بدي احكي مع موظف",
    "یه شغل فوری دارم، لطفا یک کارشناس باهام تماس بگیره",
    "لطفا درباره سفارش هفته گذشته باهام تماس بگیرید",
    "میخوام با یه کارشناس درباره فاکتور ماه گذشته صحبت کنم",
    "ابي اكلم موظف عن فاتورة الشهر الماضي",
    "اتصلوا بي بخصوص طلب الاسبوع الماضي",
]


# Request forms by kind of construction (session 20's tuning set,
# person_requests_tuning_s20.jsonl): for each rule, requests it takes (each missed
# without it) and look-alikes it must leave, in the languages the rule reads.
CONSTRUCTIONS_TAKEN = {
    # "send", "bring" leading the clause; Arabic imperatives of bringing and sending
    "bring_or_send": [
        "send a real person over here please",
        "هاتوا حد يفهم",
        "ابعتولي حد من خدمة العملاء",
        "حط لي مشرف على الخط",
    ],
    # "put me through"-style phrases aimed at the customer count as contact
    "me_contact_phrases": ["patch me through to a manager"],
    # someone, asked for, who is to look at or check the case; "someone must ..."
    "someone_to_look": [
        "I need someone to check my refund",
        "can a human look at my order pls",
        "someone needs to look at this order",
        "یکی باید این سفارشو ببینه",
        "محتاج حد يبص على الطلب",
        "بدي حدا يشوف مشكلتي",
        "me7tag 7ad yboss 3al order",
    ],
    # "is there anyone" in the dialects, and "somebody is there?"
    "anyone_there": [
        "واش كاين شي حد؟",
        "في حدا معي؟",
        "fi 7ada ma3i?",
        "7ad mawgood?",
        "Somebody is there? I am waiting long time.",
    ],
    # the chat or case handed to a person
    "handed_over": [
        "pass this on to a supervisor",
        "can you hand my case over to your manager",
        "حوّل المحادثة لموظف",
        "لو سمحت حول طلبي للمشرف",
    ],
    # "me" on the verb: Arabizi, Latin verbs with the Persian «م», and the Persian
    # object that leads a clause its imperative ends
    "me_on_the_verb": [
        "7awelni lel support",
        "momken t7awelni l 7ad mn el mabi3at?",
        "لطفاً transferم کنید به customer service",
        "لطفاً connectم کن به یه live agent",
        "منو به بخش فنی وصل کن",
    ],
    # words: the technician, «برقرار», «هماهنگ», «يرن», «یه ... بده»
    "new_words": [
        "have a technician phone me",
        "ارتباطمو با یه انسان برقرار کنید",
        "ينفع حد يرن عليا؟",
        "لطفاً شماره تماس مرا در اختیار یک کارشناس قرار دهید تا با من هماهنگ کند",
        "javabat be dard nemikhore, ye karshenas bede",
    ],
    # Arabic «تحويل» before Egyptian «دي» ("this") is a transfer: only a Persian generic
    # verb after it makes «تحویل» a delivery
    "arabic_transfer": ["ممكن تحويل دي المكالمة لموظف"],
    # "already" ending a clause urges
    "already_urges": ["just connect me to a human already"],
    # two letters swapped in a Latin person-word; "is a real person ...?"
    "swapped_letters_and_real": ["can i tlak to a humna", "is a real person reading this?"],
    # dialect verbs and forms: «يتواصل», «تحويلي» ("transferring me"), «أطالب» ("I
    # demand"), Maghrebi «عطيني» after «عافاك», Arabizi "y7ki", "5alli" (taken before by
    # the person and the verb alone; the definite person before a present verb needs it)
    "dialect_forms": [
        "ممكن احد يتواصل معي؟",
        "هل يمكن تحويلي إلى موظف؟",
        "أطالب بالتحدث مع المسؤول",
        "عافاك عطيني شي مسؤول",
        "bade 7ada y7ki ma3i",
        "5alli el modeer ykalemni",
    ],
    # «أرجو التواصل معي» (the verbal noun asked for with "me"), «يرجى إحالتي», Maghrebi
    # «يعيط ليا», «عايز اكلمهم» after the service, «شو في حدا بيرد؟», "real ppl?", and a
    # Latin "call" with the Persian light verb
    "third_forms": [
        "أرجو التواصل معي هاتفياً",
        "يرجى إحالتي إلى المشرف",
        "واش ممكن شي واحد يعيط ليا؟",
        "فين خدمة العملاء؟ عايز اكلمهم",
        "شو في حدا بيرد؟",
        "real ppl?",
        "call بزنید بهم لطفا",
    ],
}
CONSTRUCTIONS_LEFT = {
    "bring_or_send": [
        "send me the invoice please",
        "ابعتلي الفاتورة لو سمحت",
        "I'm trying to send the deposit to the agent but it fails",
    ],
    "me_contact_phrases": ["can you patch the crack in the screen?"],
    "someone_to_look": [
        "someone checked my order yesterday",
        "does someone have to be home for the delivery?",
        "ممكن حد يفهمني ليش رمز المرور مش زابط؟",
        "can anyone see my card details?",
    ],
    "anyone_there": [
        "في حد أقصى للسحب؟",
        "فيه حد للتعبئة في اليوم؟",
        "هل هناك حد أدنى للطلب؟",
        # "somebody ... there" with a verb between tells where something is
        "someone left it there",
    ],
    "handed_over": [
        "Please pass on my thanks to the technician",
        "I was passed to billing twice",
        "عندي سؤال حول الضمان للموظفين",
        # goods, not the chat or the case, handed to a person
        "send the parcel to your agent in shiraz",
        "move my delivery to the agent point",
    ],
    "me_on_the_verb": [
        "wasalni el order embare7",
        "هدفونو چطوری به گوشی وصل کنم؟",
        # the Persian «م» on a Latin noun is "my": "my call dropped"
        "callم قطع شد",
    ],
    "new_words": [
        "the technician was great",
        "اتصال اینترنت برقرار نمیشه",
        "have the technicians finished the repair?",
    ],
    # each taken before its rule: stories told with "last time", "... ago", "promised",
    # a Persian negated past or a present plural about the staff; someone else who
    # receives; the delivery person; Persian «اداره» (an office) and «که آدم» ("one")
    "stories_and_others": [
        "the operator put me through to returns last time and it worked",
        "hafte pish ye nafar zang zad",
        "دیروز سه بار زنگ زدم، کسی جواب نداد",
        "I was charged twice and the last agent promised a callback",
        "اپراتورهاتون ترکی هم صحبت می‌کنن؟",
        "میشه سفارشو یه نفر دیگه تحویل بگیره؟",
        "can the delivery person call before arriving?",
        "فاکتور خریدمو لازم دارم واسه اداره، از کجا بگیرم؟",
        "مغازه دارین که آدم بیاد از نزدیک ببینه؟",
    ],
    # Arabic «حط» is also "he put": only leading the clause does it ask
    "arabic_bring_leads": ["المندوب حط الطلب عند الباب"],
    "swapped_letters_and_real": [
        "the hmuan resources department of my company will pay the invoice",
        "is a real leather case included?",
        # a real person asked about, not asked for: needed for a delivery, or the staff
        "is a real person needed to sign for it?",
        "are your agents real people?",
    ],
    "dialect_forms": [
        "هل المندوب يتواصل قبل التوصيل؟",
        "اطالب باسترجاع المبلغ",
        "عطيني رقم الطلب",
        "تحويلي ما وصل للحساب",
    ],
    # "does the employee speak Arabic?" without «هل» (each taken before the rule): a
    # definite person before a present contact verb, nothing asked
    "the_person_does": [
        "el mowazaf ye7ki 3arabi?",
        "الموظف يحكي عربي؟",
        "المندوب يتصل قبل ما يجي؟",
    ],
    "third_forms": [
        "الاتصال بخدمة العملاء متاح؟",
        "أرجو التواصل مع البنك أولاً",
        "do you have a table for 4 ppl?",
        "يرجى ارسال الفاتورة",
        "شو في حد بيرد على الايميلات عندكم؟",
    ],
}


@pytest.mark.parametrize("text", REQUESTS_BESIDE_JOBS_AND_LAST_WEEK, ids=lambda t: t[:40])
def test_a_job_word_or_last_week_leaves_a_request_a_request(text: str) -> None:
    assert triage(text).kind is MessageKind.HUMAN


@pytest.mark.parametrize(
    "text",
    [t for ts in (*BROADENED_REQUESTS.values(), *CONSTRUCTIONS_TAKEN.values()) for t in ts],
    ids=lambda t: t[:40],
)
def test_broadened_requests_for_a_person(text: str) -> None:
    assert triage(text).kind is MessageKind.HUMAN


@pytest.mark.parametrize(
    "text",
    [t for ts in (*BROADENED_LOOK_ALIKES.values(), *CONSTRUCTIONS_LEFT.values()) for t in ts],
    ids=lambda t: t[:40],
)
def test_look_alikes_the_broadened_rules_leave_out(text: str) -> None:
    assert triage(text).kind is not MessageKind.HUMAN


@pytest.mark.parametrize(
    "text",
    [
        "la ma sa3adni",  # Arabizi
        "لأ ما افادنيش",  # Egyptian «ـش»
        "لا ما ساعدنيش",
        "لا ما فادني شي",  # Gulf
        "لا ماحل مشكلتي",  # «ما» written onto the verb
        "لا ما زبط",  # Levantine
        "that didn't help at all",
        "no that did not answer my question",
        "it did not help me",
        "na faide nadasht",  # Finglish
        "na kmak nakard",
        "نه نشد",
        "بدرد نخورد",
    ],
)
def test_didnt_help_composed(text: str) -> None:
    assert yes_or_no(text) is False


@pytest.mark.parametrize("text", ["no problem", "not bad", "no worries", "did it help?"])
def test_not_a_didnt_help(text: str) -> None:
    assert yes_or_no(text) is None


def test_asking_how_to_reach_a_person_is_a_request_asking_for_a_detail_is_not() -> None:
    # In the chat the customer is already in, "how do I contact customer service?" is
    # answered by the hand-off (the KB has no contact entry; a person gives details);
    # "what is the phone number of your support?" asks for a detail a KB entry can hold.
    for text in [
        "how do I contact customer service?",
        "چطوری با پشتیبانی تماس بگیرم؟",
        "كيف أتواصل مع خدمة العملاء؟",
    ]:
        assert triage(text).kind is MessageKind.HUMAN, text
    for text in [
        "what is the phone number of your support?",
        "شماره تلفن پشتیبانی چنده؟",
        "ما هو رقم هاتف خدمة العملاء؟",
        "what is your support email?",
    ]:
        assert triage(text).kind is MessageKind.QUESTION, text


# Session 22's rule families, each with requests and look-alikes of the engineer's own
# (in no fixture; most missed or taken before the rule).
SESSION_22_REQUESTS = {
    # Gulf «علي» after a call verb with nothing after it but "please"; Arabizi "beya"
    "call_on_me": [
        "اتصلوا علي الله يخليكم",
        "ممكن حد يتصل علي؟",
        "رقمي 0501234567 اتصلوا علي",
        "mumkin tetasel beya?",
    ],
    # calls aimed at the customer without a talk verb, in every language
    "calls_aimed_at_me": [
        "ring me pls",
        "phone me back asap",
        "زنگم بزنید",
        "یکی از کارشناسا به من تلفن کنه",
        "میشه کال بزنید؟",
        "اريد احد يخابرني",
        "خابروني رجاءً",
        "ابي احد يحاچيني",
        "حد يراسلني على الواتس",
        "kalmooni 3al ra2am",
        "السلام عليكم، ممكن تكلموني على الرقم المسجل؟",
        "ارجو الاتصال بي في أقرب وقت",
        "هل بإمكان أحد موظفيكم الاتصال بي؟",
        "نرجو التواصل معنا هاتفيا",
        "لطفاً یه call با من هماهنگ کنید",
        "darkhast tamas daram",
    ],
    # someone put on the line, sent («دزلي»), or who "must" answer or look
    "on_the_line_sent_or_must": [
        "can you get a manager on the line",
        "یه کارشناس بیاد پشت خط",
        "دزلي احد من الدعم",
        "لازمه یه مسئول پرونده رو بررسی کنه",
        "یه کارشناس همین الان باید زنگ بزنه",
        "میشه یه کارشناس جوابمو بده؟",
        "can a real person take a look at my case",
        "I think this needs a human",
        "ابي احد يحل مشكلتي",
        "میخوام با یه مقام بالاتر صحبت کنم",
    ],
    # polite and conditional forms
    "polite_forms": [
        "ممنون میشم یه کارشناس باهام تماس بگیره",
        "ممنون خواهم شد اگر یکی از کارشناسان پیگیری کند",
        "I'd be grateful if someone could call me back",
        "سأكون ممتنا لو تواصل معي أحد الموظفين",
        "أرغب بالتحدث مع شخص من الإدارة",
        "ممكن أحد الزملاء يرد علي؟",
        "Would it be possible for a member of your team to give me a ring tomorrow morning?",
    ],
    # departments and who handles the case
    "departments_and_whoever": [
        "Could I be put in touch with your complaints team?",
        "talk to billing please",
        "is there someone I can complain to?",
        "I need to speak with whoever handles refunds",
        "ممكن أحد من الفريق يراجع طلبي؟",
    ],
    # dialect and chat spellings
    "dialect_and_chat_spellings": [
        "rly need 2 talk 2 sum1 real",
        "any1 there?",
        "bghit ntkallem m3a chi mas2oul",
        "abi a7ad yetwasal m3ay",
        "دزولي موظف يحچي وياي",
        "شو في حدا بيحكي معي؟",
        "هیچکس جواب نمیده؟",
        "mishe ba ye manager harf bezanam?",
        "modiretoono mikham",
        "ما بدي روبوت بدي انسان",
    ],
    # chosen on the tune halves of the blind sets person_requests8-10 (in other words)
    "later_blind_sets": [
        "get me a team leader",
        "آیا امکان گفتگو با پرسنل فروش هست؟",
        "هل يمكن لأحد أن يتواصل معي؟",
        "ممكن موظف يساعدني بطلبي؟",
        "can someone help me over the phone?",
        "این ربات نمیفهمه، یه کارشناس بفرست",
    ],
}
SESSION_22_LOOK_ALIKES = {
    # the bot thanked, asked what it is, or the customer's own humanity
    "the_bot_not_refused": [
        "مرسی ربات، دیگه نیازی به اپراتور نیست",
        "are you a robot or a human?",
        "شما ربات هستین یا آدم؟",
        "انت روبوت ولا موظف؟",
        "من آدمم نه ربات، چرا کپچا قبول نمیکنه؟",
        "the bot answered my question, no need for an agent",
    ],
    # no need for one
    "no_need": ["ما في داعي حدا يتصل، الموضوع انحل", "شكرا لك ما احتاج موظف"],
    # a person thanked, given a gift, complained about, or told about
    "people_not_asked_for": [
        "شكرا للموظف اللي ساعدني",
        "please tell the agent thanks from me",
        "ابي هدية لشخص عزيز",
        "هدیه برای یه نفر میخوام",
        "میخوام به یه نفر دیگه هدیه بدم",
        "ابي اقدم شكوى رسمية بخصوص سلوك الموظف",
        "the technician who came was great, thanks",
        "ابي اشتغل موظف عندكم",
        "what hours is live chat staffed?",
    ],
    # another organisation's people, the bot asked about in other words, a robot
    # vacuum, the hours, a detail
    "other_organisations_and_details": [
        "how can I reach someone at my insurance company?",
        "چطوری با کارشناس بانک صادرات صحبت کنم؟",
        "كيف اتواصل مع موظف في البنك؟",
        "tu bot hasti ya adam?",
        "are you guys a bot or real people?",
        "ربات جارو دارین؟",
        "until what time can I call your support?",
        "which email does the agent write from?",
    ],
    # what the new rules must leave out
    "new_rules_leave_out": [
        "put my order on hold until the manager approves the budget",
        "الموظفين يردون تلفونيا؟",
        "اگه کارشناس تماس نگیره چی میشه؟",
        "can the technician help me install it at home?",
        "محتاج فاتورة عشان الشركة ترجعلي الفلوس",
        "لساتني بستنا المصاري ترجعلي",
        "can the printer connect to the company network?",
        "I talked to billing yesterday",
        "ring me when it's back in stock",
        "خدمة العملاء اتصلوا علي امس",
        "المندوب اتصل علي",
        "the manager needs to approve the invoice first",
        "talk to me in Farsi please",
        "هیچکس تو خونه نیست، بسته رو کجا میذارید؟",
        "هدست مخصوص کال سنتر دارین؟",
        "تلفن پشتیبانی رو به من بدید",
        "give me a ring size chart",
        "my account needs a person's signature?",
        "can I transfer to other accounts?",
        "are there fees on transfers to savings accounts?",
        "whoever packed my order forgot the charger",
        "الموظف ما حل مشكلتي امس",
    ],
}


# Session 23's families (requests written by the engineer, none from a fixture; each
# missed before the family's rule) and the look-alikes each rule must leave out.
SESSION_23_REQUESTS = {
    # a service, or "transfer", named alone with a polite word
    "service_named_alone": [
        "customer service please",
        "support pls",
        "tech support please!!",
        "الدعم الفني لو سمحت",
        "ana 3ayez customer service",
    ],
    # a negated call by someone as the condition of what the customer will do
    "ultimatum": [
        "if nobody calls me today I'm cancelling everything",
        "اگه تا امروز کسی باهام تماس نگیره شکایت میکنم",
        "إذا ما كلمني موظف اليوم رح اشتكي",
        "حولني لموظف ولا راح الغي الطلب",
    ],
    # "put a person on"
    "put_on": ["stop the script and put a real person on", "can you put your manager on"],
    # Arabic: reach a person, someone to get back to me, «كلمني» with a person, MSA need
    "arabic_forms": [
        "كيف أوصل لموظف؟",
        "في طريقة أوصل لحد من خدمة العملاء؟",
        "حد يرجعلي بالله",
        "ابي احد يرجع لي",
        "كلمني موظف لو سمحت",
        "أحتاج موظف يساعدني في الطلب",
        "نحتاج مشرف ضروري",
        "ابي اكلم أحد من عندكم",
        "واش كاين شي موظف؟",
    ],
    # Persian: the matter put in a person's hands; "is there someone one can talk to"
    "persian_forms": [
        "بدیدش دست یه آدم",
        "این باید بره دست مسئولش",
        "یکی هست که بشه باهاش صحبت کرد؟",
        "آیا کسی هست که بتونم باهاش صحبت کنم؟",
        "میخوام با یکی گپ بزنم",
        "با نماینده شرکت صحبت کنم",
    ],
    # who to talk to, where the person is, the person named in the clause before
    "who_and_where": [
        "who do i talk to about a refund?",
        "مين اكلم بخصوص الاسترجاع؟",
        "where is the human",
        "where are the humans??",
        "who is in charge? i want to speak to them",
        "let me speak with the one responsible",
    ],
    # Arabizi and Finglish: hyphens, the Finglish reading, "connect me with", vowels
    "latin_spellings": [
        "3ayez a-kalem 7ad",
        "a7tag a-tkalem ma3 7ad",
        "bghit chi mwazaf",
        "ana badi mowazaf",
        "momken tewasalni be mowazaf",
        "wasalni b el support",
        "darkhast-e tamas",
        # the Finglish reading keeps the comma between the story and the request
        "hafte pish zang zadam, ye karshenas mikham",
        "ye human mikham",
        "agant please",
        "humen please",
        "send me a live one",
        "I would like to communicate with someone about my refund",
    ],
    # more ways to talk or be there: a conversation, «در دسترس», a Persian department,
    # someone who understands or can help, «دخلني على», a worker of the shop
    "more_ways": [
        "is it possible to have a conversation with a staff member",
        "اپراتور انسانی در دسترسه؟",
        "میخوام با بخش فروش صحبت کنم",
        "أبي أحد يفهمني",
        "3ayez 7ad yefhamni",
        "فيه أحد يقدر يساعدني؟",
        "fe 7ad ye2dar ysa3edni?",
        "دخلوني على موظف",
        "dakhalooni 3ala mowazaf",
        "i want to talk with worker of shop",
    ],
}
SESSION_23_LOOK_ALIKES = {
    "service_named_alone": [
        "customer service hours please",
        "support for this model ended?",
        "transfer the money please",
        "bank transfer please",
        "please support",
        "I need support with my order",
    ],
    "ultimatum": [
        "if nobody is home, where will the parcel go?",
        "if you don't ship today I'll cancel",
        "if it doesn't arrive tomorrow I'm calling the police",
        "اگه کارشناس تماس نگیره چی میشه؟",
        "اگه کسی خونه نباشه بسته رو کجا میذارید؟",
        "راح اتصل بخدمة العملاء بكرة",
        "المندوب راح البيت وما لقاني",
    ],
    "put_on": [
        "put it on my card",
        "put the order on hold",
        "put the manager's name on the invoice",
    ],
    "arabic_forms": [
        "كيف أوصل لفرعكم في جدة؟",
        "حد يرجعلي الفلوس بالله",
        "المبلغ يرجع لي كامل؟",
        "كلمني المندوب",
        "كلمني موظف امس وقال بكرة يوصل",
        "هل أحتاج موظف لتفعيل البطاقة؟",
        "أحتاج إلى شخص ما لمساعدتي في توضيح الرسوم",
        "لا احتاج موظف",
        "احد من عندكم اتصل فيني امس",
    ],
    "persian_forms": [
        "بدیدش دست نگهبان",
        "دست مدیرتون درد نکنه",
        "بسته رو بسپارید به همسایه",
        "تا ساعت چند میشه با پشتیبانی صحبت کرد؟",
        "میشه گارانتی رو به اسم یکی دیگه منتقل کرد؟",
        "آیا میتونم سفارشمو لغو کنم؟",
        "نماینده مجلس کیه؟",
    ],
    "who_and_where": [
        "who did you talk to?",
        "who do i call to report a stolen card at my bank?",
        "my neighbour's dog barks all night, who do I call?",
        "where is the technician? he was due at 10",
        "where are your agents based?",
        "where is my order",
        "who is in charge of setting the prices?",
        "the person in charge of delivery was rude",
        "the agent was rude. I don't want to talk to him again",
    ],
    "latin_spellings": [
        "wasalni el order",
        "3ayez a-raga3 el order",
        "superior quality headphones please",
        "i'd like to speak to my superior before buying",
        "is the higher up model worth it?",
    ],
    "more_ways": [
        "the conversation with your agent was rude",
        "can I download the chat conversation",
        "این محصول در دسترسه؟",
        "با واحد فروش تماس گرفتم جواب ندادن",
        "ممكن حد يفهمني ليش انخصم المبلغ؟",
        "فيه أحد يقدر يساعدني بتتبع الطلب؟",
        "دخلني على الموقع ما يفتح",
        "الطلب دخلني بالغلط مرتين",
        "the shop worker was very kind",
        # the call itself in a Persian relative clause is a past one
        "شماره‌ای که دیروز ازش بهم زنگ زدید چیه؟",
    ],
}


# Session 24's rule families, each with requests and look-alikes of the engineer's own
# (near-variants of the tune halves' wordings; the requests missed before the rule).
SESSION_24_REQUESTS = {
    # Arabizi verbs of calling in other vowels and endings, with "me" on them or after them
    "arabizi_calls": [
        "kalmoni",
        "kallimooni please",
        "bghit chi wa7ed ykalmni",
        "7awlni 3ala 7ad",
        "ittasilu fiya",
        "momkin a7ad yetasal feni",
        "3ayetouli 3afakoum",
        "3ayto liya",
        "d2oli",
        "mumkin 7ada yeddi2li?",
    ],
    # Levantine «دق» and «رن» aimed at the customer
    "ring_me": ["دقولي", "ممكن حدا يدقلي؟", "رنوا علي", "رنولي بليز"],
    # Arabizi read as Arabic though a word of it is Persian ("chi"); «مش» refusing the bot;
    # «بني آدم»
    "arabizi_words": [
        "bghit nhder m3a chi wahed",
        "bghit nhder m3a chi 7ed",
        "mesh 3ayez robot",
        "3ayez bani adam",
    ],
    # a call asked for or awaited as a noun, in every language
    "a_call_asked": [
        "یه تماس تلفنی لطفا",
        "تقاضای تماس دارم",
        "منتظر تماستون هستم",
        "ابي مكالمة",
        "ممكن مكالمة؟",
        "اطلب اتصال هاتفي",
        "ارجو معاودة الاتصال",
        "بانتظار اتصالكم",
        "I'm waiting for your call",
        "I need a phone call",
        "call back pls",
    ],
    # "give me a call", "reach out to me", "get in touch with me"; "call me urgently"
    "call_me_phrases": [
        "give me a call please",
        "could you give me a ring?",
        "give me a call on 0770090012",
        "get in touch with me please",
        "reach out to me please",
        "Contact me urgently",
    ],
    # talking asked for by phone, or with the shop's people as "you all"
    "talk_by_phone": [
        "میخوام تلفنی صحبت کنم",
        "میشه تلفنی صحبت کنیم؟",
        "میخوام باهاتون صحبت کنم",
        "ممكن احكي معكم بالتلفون؟",
        "ابي اكلمكم تلفونياً",
        "ابغى اتكلم معكم",
        "عايز اتكلم معاكم",
        "can I talk to you on the phone?",
        "I'd rather talk on the phone",
        "telefoni mikham sohbat konam",
    ],
    # the number to call: «این» is "this" in a Persian clause, not Arabic "where"; «شماره
    # تماس» before «بگیرید» is "call the number"; the customer's number after «على»
    "call_this_number": [
        "به این شماره زنگ بزنید ۰۹۱۲۳۴۵۶۷۸۹",
        "با این شماره تماس بگیرید: 09123456789",
        "اتصلو على ٠٥٠١٢٣٤٥٦٧",
        "اتصلوا على رقمي لو سمحتوا",
        "ممكن حد يتصل على الرقم 0501234567",
    ],
    # typed wrong or glued: «با» glued to the person, a service's words one letter off,
    # a letter too many in a five-letter person-word, «مسول»
    "typed_wrong": [
        "میخوام باکارشناس صحبت کنم",
        "میخوام باپشتیبانی صحبت کنم",
        "talk to custmer service",
        "talk to customer servce",
        "i want to talk to costumer care",
        "talk to a huaman",
        "i need an agennt",
        "میخوام با مسول صحبت کنم",
    ],
    # the customer or the case handed to a Persian department, or business with one
    "persian_departments": [
        "ارجاع به واحد مربوطه لطفا",
        "لطفا به بخش فنی وصل کنید",
        "وصلم کنید به واحد فروش",
        "منتقل کنید به بخش مالی",
        "پیام من رو به واحد مربوطه ارجاع بدید",
        "میشه منو به قسمت شکایات وصل کنید؟",
        "با واحد مالی کار دارم",
    ],
    # the Gulf present plural («تتواصلون»), «واحد» asked for as the one who talks or helps,
    # Maghrebi «يعاوني»
    "arabic_forms": [
        "اتمنى تتواصلون معي",
        "اريد واحد يحچي وياي",
        "ابي واحد يكلمني",
        "بغيت شي واحد يعاوني",
        # formal: the verbal noun with «ب», "us" as «بنا», «إيصالي»
        "أرجو التكرم بالتواصل معي",
        "نرجو منكم الاتصال بنا",
        "الرجاء إيصالي بموظف خدمة العملاء",
        # Gulf «مابي», «مابغى» glued, refusing the bot
        "مابي روبوت",
        "مابغى روبوت",
    ],
    # «آدمیزاد», "a human being"
    "persian_words": ["آدمیزاد میخوام", "یه آدمیزاد جواب بده"],
}
SESSION_24_LOOK_ALIKES = {
    "arabizi_calls": [
        "el 7awala wasalni",
        "ittasalt fikom embare7 w ma7ad rad",
        "3ayatli el mandoob embare7",
        "el mandoob kalemni embare7",
        "dakhalt 3al site w 3ayat",
        "bghit wa7ed mn had l model",
    ],
    "ring_me": [
        "المندوب دق الباب وما حد فتح",
        "الجرس رن مرتين",
        "مندوبكم رنلي امس وحل المشكلة",
        # «تحويلي» is also "my transfer"
        "تحويلي ما وصل لحد الحين",
    ],
    "arabizi_words": [
        "ana mish robot, leh el captcha mesh shaghal?",
        "mish 3ayez el order khalas",
    ],
    "a_call_asked": [
        "شماره تماس میخوام",
        "ابي اتصال انترنت",
        "ممكن اتصال واي فاي",
        "I was waiting for your call",
        "can I call tomorrow?",
        "منتظر تماس پیک هستم",
        "منتظر تماستون بودم",
        "كنت بانتظار اتصالكم",
        "when will i get a call?",
        "the call dropped please",
        "I'd like the call recording",
    ],
    "call_me_phrases": [
        "they said they would give me a call but nobody did",
        "when will you give me a call?",
        "please tell the courier to give me a call before he comes",
        "can you give me a call when it ships",
        "my friend told me to get in touch with you about a job",
    ],
    "talk_by_phone": [
        "can I pay by phone",
        "when can I talk to you by phone?",
        "دیروز تلفنی صحبت کردیم",
        "can I talk to you in French",
        "میتونم تلفنی سفارش بدم؟",
        "can I order over the phone?",
        "ممكن اتكلم عربي معكم؟",
        "میشه با شما فارسی صحبت کنم؟",
        "until what time can I talk to you by phone?",
        "I spoke to your agent on the phone yesterday, he was great",
    ],
    "call_this_number": [
        "به این شماره زنگ بزنم؟",
        "چرا با این شماره تماس گرفتید؟",
        "شماره تماس پشتیبانی رو میدید؟",
        "اتصل على 920001234 للاستفسار؟",
        "المندوب اتصل على رقمي امس",
        "لا تتصلوا على رقمي",
        "اتصلت على الرقم 0501234567 وما حد رد",
    ],
    "typed_wrong": [
        "انا باکارشناس تماس گرفتم دیروز",
        "the customs form",
        "servce was slow yesterday",
        "the costumer service was rude yesterday",
        "agenda for the meeting?",
        "ou est mon argent",
        "مسول فروش دیروز زنگ زد",
    ],
    "persian_departments": [
        "به واحد فروش وصل شدم ولی کسی جواب نداد",
        "چطوری به واحد فروش وصل بشم؟",
        "لطفا فاکتور رو به واحد مالی ارسال کنید",
        "به بخش فنی ارجاع دادید؟",
        "یه واحد به سبد اضافه کنید لطفا",
        "کابل رو به قسمت پشت تلویزیون وصل کنید",
        "دیروز با واحد مالی کار داشتم",
    ],
    "arabic_forms": [
        "ليش ما تتواصلون معي؟",
        "انتو تتصلون قبل التوصيل؟",
        "ابي واحد بس",
        "اريد واحد جديد",
        "ابي واحد يوصلني للمطار",
        "هل الاتصال بنا متاح يوم الجمعة؟",
        "بالتواصل معكم عرفت ان الطلب وصل",
        "ايصالي للمطار",
        # ... and refusing the person
        "مابي احد يتصل، بس ابي الرقم",
        "مابي موظف، ابي اعرف السعر",
    ],
    "persian_words": ["آدمیزاد اینقدر بدقول؟"],
}


SESSION_26_REQUESTS = {
    # someone to help the customer, asked for or pleaded, with nothing after the help but
    # polite or urgent words
    "someone_helps_me": [
        "بغيت شي حد يساعدني",
        "bghit chi 7ed y3awni",
        "bghit chi wa7ed y3awenni",
        "عافاك شي واحد يعاوني",
        "بدي حدا يساعدني",
        "عايز حد يساعدني",
        "محتاج حد يساعدني بجد",
        "لو سمحت حد يساعدني",
        # anyone there to help
        "في حد يساعدني؟",
        "فيه احد يساعدني",
        "كاين شي واحد يعاوني؟",
    ],
    # the attention or eyes of a person needed
    "attention": [
        "this needs human attention",
        "this requires a human's attention",
        "this needs a person's attention please",
        "my case needs human eyes on it",
        "it requires human intervention",
        "needs attention from a real person",
        "this needs attention from one of your staff",
    ],
    # having someone look, answer or call
    "have_someone_act": [
        "have someone look at my order please",
        "have somebody check my account",
        "get someone to look at my refund",
        "let someone take a look at it",
        "just have someone sort it out",
    ],
    # coming to the rescue
    "rescue": [
        "یکی به دادم برسه",
        "یکی به داد من برسه",
        "تو رو خدا یکی به دادم برسید",
        "حد يلحقني الطلب ضاع",
        "حدا ينجدني",
    ],
    # Finglish: verbs in every person, the ezafe glued on, "be man"
    "finglish": [
        "montazere tamasetoon hastam",
        "man montazere pasokhe ye odam hastam",
        "be man zang bezanid",
        "zang bezanin be man",
        "yeki be man zang bezane",
        "please ye operator befrestid",
    ],
    # a short request as the last sentence, after sentences that ask nothing
    "last_sentence": ["this is ridiculous. is anyone there??"],
    # English and Finglish in one message, each clause read in its own language
    "two_languages": [
        "this is ridiculous. ye operator mikham",
        "this is so slow. vasl konid be karshenas",
    ],
    # «كلمني» and a person after polite words
    "talk_to_me": ["لو سمحت كلمني انسان", "الله يخليك كلمني موظف"],
    # "someone" mistyped
    "mistyped_someone": ["I need somone to check my refund"],
}
SESSION_26_LOOK_ALIKES = {
    "someone_helps_me": [
        "شي واحد عاوني نهار السبت فالمحل",
        "صاحبي بغا شي حد يعاونو فالخدمة",
        "حد ساعدني امبارح وحل المشكلة",
        "my friend wants someone to help him move",
        "someone helped me yesterday, thanks",
        "I wanted someone to help me last week but nobody replied",
        # the help is with something the bot may answer
        "can someone help me unblock my pin?",
        "بدي حدا يساعدني في تحديث بيانات حسابي",
        "I want somebody to help me with my order",
    ],
    "attention": [
        "thanks for your attention",
        "your agent paid no attention to my complaint",
        "does the charger need attention when charging?",
        "my order needs attention",
        "this needs attention from the courier",
        "my account needs a person's signature?",
    ],
    "have_someone_act": [
        "I have someone who can pick up the parcel",
        "did you have someone look at my order?",
        "have a nice day",
        "get someone to sign for the parcel?",
        "my brother had someone look at the phone already",
        "have the courier leave it at the door",
    ],
    "rescue": [
        "خدا به دادم برسه با این قیمتا",
        "یکی از دوستام به دادم رسید",
        "دادم به تعمیر ولی درست نشد",
        "الحمد لله حد لحقني وصلح الجهاز",
    ],
    "finglish": [
        "montazere sefaresham hastam",
        "montazer budam ke beresad",
        "dirooz zang zadam kasi javab nadad",
        "man zang nemizanam, faghat payam midam",
        "hanuz montazere bastam hastam",
    ],
    "last_sentence": [
        "Agent, where is my order?",
        "is it you or a person?",
        "I want an uber for me and 5 other people",
        "where is my order? the manager said friday.",
        "I bought it last week. where is the manager's office?",
    ],
    # words of their own one letter from a person-word ("please advise", "I expect a
    # refund" and "humane treatment please" were taken before session 26)
    "words_near_people": [
        "please advise",
        "My order has not arrived yet. Please advise.",
        "I expect a refund",
        "When can I expect my new card?",
        "humane treatment please",
    ],
    "talk_to_me": ["لو سمحت كلمني الموظف امس"],
    "mistyped_someone": ["somone stole my card", "I gave it to somone at the door"],
}

SESSION_27_REQUESTS = {
    # "one of you" («واحد منكم», «یکی از شما») and «واحد» after "with" and a verb of talking
    "one_of_you": [
        "ابي اكلم واحد منكم",
        "اريد احچي ويا واحد منكم",
        "ابغى واحد منكم يرد علي",
        "abi akalem wa7ed mnkom",
        "مخوم با یکی از شما گپ بزنم",
        "یکی از شماها جواب بده",
        "حاب نهدر مع واحد",
        "بدي احكي مع واحد",
        "نحب نحكي مع واحد من الخدمة",
        "bghit nahder m3a wa7ed",
        "3ayez atkalem ma3 wa7ed",
    ],
    # dialect verbs and words: Sudanese «زول», Levantine «يحاكيني», «يجاوبني», Maghrebi
    # «يعيطلي», Mashhadi «مخوم», formal Persian «انتقال دهید»
    "dialect_words": [
        "عايز اتكلم مع زول حقيقي",
        "داير اتكلم مع زول",
        "في زول يرد علي؟",
        "بدي حد يحاكيني",
        "بدي حدا يحاكيني ضروري",
        "ممكن حد يجاوبني",
        "شي حد يجاوبني",
        "بغيت واحد يعيطلي",
        "عافاك شي واحد يعيطلي",
        "لو تكرمت، وصلني بأحد",
        "مرا به اپراتور انتقال دهید",
        "لطفا منو به کارشناس انتقال بدید",
    ],
    # Arabizi: 2 for the hamza, «خدمة العملاء» with 5 and 3, "law sama7t", spellings
    "arabizi": [
        "ana ayza 2kalem 7ad",
        "bdi 2e7ki ma3 7ada",
        "3awz customer service",
        "bghit wa7ed y3ayetli",
        "baddi 7ada y7aki ma3i",
        "bade 7ada y7akini",
        "abghaa akalm mwazf",
        "abi a7ad yerd 3alay",
        "ana 3ayez 7ad men 5edmet el 3omala",
        "5edmet el 3omala law sama7t",
        "customer service law sama7t",
        "wasalni b5edmet el3omala",
        "ana 3ayez 7ad mn el support",
    ],
    # "where's" and «وين» carry the "is": where the person is, alone, after a complaint
    "where_is_the_person": ["this is a joke, where's a human", "والله عيب، وين الموظفين؟"],
    # a short request after a comma, when what came before names no one
    "after_a_comma": [
        "this is ridiculous, is anyone there??",
        "this is ridiculous, operater plz",
        "been waiting 3 days, real persn plz",
        "واقعا که، اپراتو میخام",
    ],
    # a person-word before a request form in the past participle, or before an adjective
    "needed": ["agent required", "human needed asap", "rep requested", "someone qualified please"],
    # sending for someone, and nothing else said; "loop in", "link me up with" a person
    "someone_sent": [
        "ابعتولي حدا",
        "ab3atouli 7ada",
        "هاتولي حد",
        "loop in a person",
        "kindly link me up with your customer care",
    ],
    # Persian "with whom may I talk"
    "with_whom": ["با کی میتونم صحبت کنم؟", "با کی حرف بزنم"],
    # Nigerian English: "oga" ("boss"), "abeg" ("please")
    "nigerian": ["I wan speak with una oga", "abeg oga", "abeg send someone"],
    # Finglish person-words with a letter left out or two letters swapped
    "finglish_typos": [
        "ye opertor mikham",
        "opertor lotfan",
        "mishe ba superisor harf bezanam?",
        "vaslam kon be poshtbani",
    ],
}
SESSION_27_LOOK_ALIKES = {
    "one_of_you": [
        "واحد منكم اتصل علي امس",
        "كم واحد منكم يشتغل بالفرع؟",
        "یکی از شما دیروز زنگ زد",
        "یکی از شماها گفت فردا میرسه",
        "یکی از شما سفارشمو اشتباه فرستاد",
        "تكلمت مع واحد منكم امس وقال بكرة",
        "حكيت مع واحد صاحبي عن الجهاز",
        "wa7ed menkom kalemni embare7",
        "واحد منكم جاب الطلب غلط",
    ],
    "dialect_words": [
        "الزول الجاب الطلب كان محترم",
        "زول سرق موبايلي",
        "في زول بيسأل عن السعر",
        "صاحبي ما يجاوبني على التلفون",
        "حدا حاكاني امبارح وقال بكرة",
        "مخوم گوشی بخرم",
        "مخوم بدونم کارشناس کی زنگ میزنه",
        "پول رو به حسابم انتقال بدید",
        "آیا کارت هدیه قابل انتقال به شخص دیگری است؟",
        "el mowazaf 3ayetli embare7",
    ],
    "arabizi": [
        "3awz a3raf el se3r",
        "3awz a3raf customer service beyfta7 emta",
        "customer service law sama7t emta beyefta7?",
        "el support kalemni embare7",
        "law sama7t el mowazaf kalemni embare7",
        "law sama7t",
    ],
    "where_is_the_person": [
        "تأخر الطلب، وين المندوب؟",
        "where's the technician? he was due at 10",
        "where's my order",
    ],
    "after_a_comma": [
        "are you ai, or a person",
        "are you a bot, or a human?",
        "my brother, a person I trust, will collect it",
        "I want an uber for me, and 5 other people",
        "ok thanks, human being of the year",
    ],
    "with_whom": [
        "با کی باید هماهنگ کنم برای تحویل؟",
        "کی زنگ میزنید؟",
        "با کی تماس گرفتم دیروز؟",
        "سفارشمو با کی بفرستید؟",
    ],
    "nigerian": [
        "who is your oga?",
        "my oga at work wants a receipt",
        "your oga was very nice",
        "abeg where is my order",
    ],
    "someone_sent": [
        "link me to the tracking page",
        "ابعتولي حد يركب الجهاز",
        "send someone to fix it",
        "send me one",
        "loop in my wife on the email",
    ],
    "finglish_typos": [
        "opertor goft farda miresad",
        "karshnas dirooz zang zad",
        "shomare poshtbani chande?",
        "poshtbani ta saat chand javab mide?",
        "supervisr goft pool ro pas midan",
    ],
    # a person who did something, told
    "a_person_did": [
        "someone opened it",
        "the box was open, someone opened it",
        "never mind, someone helped me",
        "a person signed for it",
        "the agent hung up on me",
        "someone took my parcel",
    ],
    # words derived from a person-word that name no person, and a mistyped agent told
    # about ("kasi javab nadad": nobody answered)
    "no_person": [
        "humanly possible?",
        "is it humanly possible to ship today?",
        "I need a store that is staffed on sundays",
        "I need an advisory on the recall",
        "the agnet was rude",
        "kasi javab nadad",
    ],
}


# Key words with one slip (a letter left out, two swapped, one typed twice, a letter that
# sounds alike), as customers in a hurry type them.
SESSION_28_REQUESTS = {
    "persian_typos": [
        "میخوام با کارشانس صحبت کنم",
        "وصلم کنید به اپارتور",
        "لطفا با سرپرتس صحبت کنم",
        "میخوام با مسئل فروش صحبت کنم",
        "میخوام با پشتیابنی صحبت کنم",
        "لطفا منو به یک کارشناس متنقل کنید",
    ],
    "arabic_typos": [
        "ابغى اكلم المرشف",
        "ابي اتكلم مع انسن",
        "ابي احد يلكمني",
        "عايز اكلم خدمة العمالء",
        # the hamza left off is a spelling, not a slip
        "عايز اكلم خدمه العملا",
    ],
    # a request after a story, with no full stop or comma between
    "story_then_request": [
        "i paid twice for the same order yesterday please connect me to an agent",
        "the delivery guy was rude yesterday i want to complain to a manager",
        "i got the wrong colour last week can i talk to someone",
        "you charged my card twice last month let me speak to a supervisor",
        "دیروز پیک اومد و بسته رو نداد لطفا وصلم کنید به کارشناس",
        "هفته پیش گوشی خریدم خراب بود لطفا یه کارشناس زنگ بزنه",
        "دیروز زنگ زدم کسی جواب نداد میخوام با مدیر صحبت کنم",
        "dirooz sefaresh residam kharab bood mikham ba karshenas harf bezanam",
        "المندوب جا امس وما سلمني الطلب ابغى اكلم موظف",
        "امبارح الطلب وصل مكسور عايز اكلم حد من خدمة العملاء",
        "مبارح اجا المندوب وما كان معه الطلب بدي احكي مع المسؤول",
        "البارح جاني الطلب ناقص بغيت نهضر مع شي موظف",
        "embare7 el order wesel maksoor 3ayez akalem 7ad",
        "el order wesel embare7 bs na2es 7aga abghaa akalem mowazaf",
    ],
}
# ... and the same words, slipped, where no person is asked for: a person told about or
# asked about, and words a slip away («اسنان», "teeth", an everyday word; «متنقل»,
# "mobile", read as «منتقل», "transferred", still asks for no one).
SESSION_28_LOOK_ALIKES = {
    "typos_told_about": [
        "does the opertor speak arabic?",
        "your agnet helped me yesterday, thanks",
        "کارشانس دیروز خیلی خوب راهنماییم کرد، ممنون",
        "اپارتور تا ساعت چند جواب میده؟",
        "المرشف كان محترم جدا",
        "امس الموضف كلمني وحل المشكلة",
        "کارشنس تون دیروز گفت فردا میرسه",
        "مسئل فروشتون خیلی بداخلاق بود",
        "پشتیابنی تا ساعت چند کار میکنه؟",
        "خدمه العملا عندكم متى تفتح؟",
        "مين المسؤل عن التوصيل بالرياض؟",
    ],
    # a story, then "please", "can I", "I need" with no person asked for, or a person
    # refused or asked about
    "story_then_no_request": [
        "yesterday the agent said please wait two days and nothing happened",
        "the technician came yesterday please tell me when the invoice arrives",
        "the manager told me yesterday i need to send a photo of the receipt",
        "i spoke to an agent last week please send me the invoice",
        "the courier called yesterday can you tell me when he comes back",
        "last week i wanted to talk to a manager but he was busy",
        "my order came yesterday without the charger till what time can i call customer service",
        "will ur guys install the AC for free or do i need to find someone?",
        "do your staff get employee discounts lol asking for my bro",
        "دیروز کارشناس گفت لطفا صبر کنید تا فردا",
        "دیروز با کارشناس صحبت کردم لطفا بگید کی میرسه",
        "هفته پیش مدیرتون قول داد میشه بگید کی تخفیف اعمال میشه",
        "امس الموظف قال لي ابي رقم الطلب",
        "امبارح المندوب قالي عايز رقم البطاقة",
        "embare7 el mowazaf 2alli 3ayez ra2m el order",
        "mabare7 ejet el talabiye bade ra2m el fatoora",
        "الطلب وصل امس بدون الشاحن مش محتاج موظف، بس قولي الضمان كام شهر",
        "كتبت لكم ثلاث مرات وما احد رد ما ابغى اكلم احد، بس قولي متى يوصل الطلب",
        # (Arabizi spells its vowels freely: "awasal" is no slip of "atwasal")
        "كتبت لكم ثلاث مرات وما احد رد ezay awasal el sama3a bel mobile?",
    ],
    "words_a_slip_away": [
        "هل عندكم خدمة انترنت متنقل؟",
        "عندكم فرشاة اسنان؟",
        "ممكن اتكمل الطلب؟",
        "what are your peak hours?",
        "is the escalator in your store working?",
        "can I cancel my contract",
    ],
}

FAMILY_REQUESTS = [
    t
    for d in (
        SESSION_22_REQUESTS,
        SESSION_23_REQUESTS,
        SESSION_24_REQUESTS,
        SESSION_26_REQUESTS,
        SESSION_27_REQUESTS,
        SESSION_28_REQUESTS,
    )
    for ts in d.values()
    for t in ts
]
FAMILY_LOOK_ALIKES = [
    t
    for d in (
        SESSION_22_LOOK_ALIKES,
        SESSION_23_LOOK_ALIKES,
        SESSION_24_LOOK_ALIKES,
        SESSION_26_LOOK_ALIKES,
        SESSION_27_LOOK_ALIKES,
        SESSION_28_LOOK_ALIKES,
    )
    for ts in d.values()
    for t in ts
]


@pytest.mark.parametrize("text", FAMILY_REQUESTS, ids=lambda t: t[:40])
def test_requests_for_a_person_of_every_family(text: str) -> None:
    assert triage(text).kind is MessageKind.HUMAN


@pytest.mark.parametrize("text", FAMILY_LOOK_ALIKES, ids=lambda t: t[:40])
def test_look_alikes_of_every_family(text: str) -> None:
    assert triage(text).kind is not MessageKind.HUMAN
