"""Knowing when the KB does not answer: the coverage rule, `not:` phrasings, and the
near-miss questions of tests/fixtures/faq/near_miss.jsonl."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest
import yaml

from faq.cli import main
from faq.coverage import assess
from faq.decide import Thresholds, VerdictKind, decide, decide_match
from faq.evaluate import evaluate_queries, load_queries
from faq.kb import KbError, load_kb, load_kb_texts
from faq.lexicon import Lexicon
from faq.light_words import LIGHT_WORDS
from faq.matcher import Matcher
from faq.morphology import persian_light_verb
from faq.normalise import normalise
from faq.triage import triage

FIXTURES = Path(__file__).parent / "fixtures" / "faq"
KB = FIXTURES / "kb.json"
NEAR_MISS = FIXTURES / "near_miss.jsonl"
# The target for near-miss questions answered, on the held half.
NEAR_MISS_LIMIT = 0.03
# Coverage limits wide enough to let any entry answer: isolates the `not:` veto.
LENIENT = Thresholds(max_unexplained=99, max_foreign=99)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_kb(KB))


@pytest.mark.parametrize(
    ("question", "entry", "unexplained"),
    [
        ("ساعت کاری بانک ملت تا کیه؟", "store-hours", "ملت"),
        ("how do I cancel my Netflix subscription", "cancel-order", "netflix"),
        ("how long does it take to boil an egg", "shipping-time", "egg"),
    ],
)
def test_an_entry_that_explains_only_part_of_the_question_is_refused(
    matcher: Matcher, question: str, entry: str, unexplained: str
) -> None:
    verdict = decide(question, matcher, Thresholds())
    assert verdict.match is not None and verdict.match.best is not None
    # the lexical match alone is confident: only the coverage rule holds it back
    assert verdict.match.best.entry_id == entry
    assert verdict.match.confidence >= Thresholds().answer
    assert verdict.kind is not VerdictKind.ANSWER
    assert verdict.coverage is not None and unexplained in verdict.coverage.unexplained
    assert decide_match(verdict.match, Thresholds()).kind is VerdictKind.ANSWER


@pytest.mark.parametrize(
    "question",
    [
        "چطور سفارشم را لغو کنم؟",
        "How do I cancel my order?",
        "كم مدة الضمان",
        # a kind of product the KB never names is a product its entries explain
        "my laptop broke, how does the warranty work?",
        "یخچالم خراب شده، گارانتی چطور کار میکنه؟",
        "الثلاجة تعطلت، كيف أطالب بالضمان؟",
    ],
)
def test_an_entry_that_explains_the_whole_question_answers(matcher: Matcher, question: str) -> None:
    verdict = decide(question, matcher, Thresholds())
    assert verdict.kind is VerdictKind.ANSWER
    assert verdict.coverage is not None and verdict.coverage.unexplained == ()


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("هزینه ارسال چنده؟", "shipping-cost"),  # spoken «چنده»: "how much is"
        ("hazine ersal chande?", "shipping-cost"),  # the same in Finglish
        ("قديش الضمان؟", "warranty-period"),  # Levantine "how much"
        ("فين المحل بتاعكم؟", "store-location"),  # Egyptian possessive «بتاع»
        ("عندكم ضمان على الجهاز؟", "warranty-period"),  # «عند» with a clitic; the
        # devices' warranty («كم شهر الضمان على الأجهزة»), now that a device is a product
        ("كود الخصم مش شغال", "discount-code"),  # «مش» -> «لا»
        ("الجهاز اللي في التصليح جاهز ولا لسه؟", "repair-status"),  # "or not yet"
    ],
)
def test_spoken_dialect_and_finglish_function_words_are_not_content(
    matcher: Matcher, question: str, entry: str
) -> None:
    # the coverage rule sees the words as the language layers leave them: question
    # words, spoken and dialect function words are never "unexplained"
    result = matcher.match(question)
    coverage = assess(matcher, result)
    assert coverage is not None and coverage.entry_id == entry, result.candidates
    assert coverage.unexplained == (), coverage


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        # questions of the tune half of tests/fixtures/faq/fresh.jsonl that the KB
        # answers but that were held back by a word with no topic of its own
        ("الضمان كم سنة على الجهاز؟", "warranty-period"),  # a time word
        ("ابغى ارجع الجهاز ما عجبني، اقدر؟", "return-policy"),  # Gulf "I didn't like it"
        ("ينفع اشتري بالقسط؟", "installments"),  # Egyptian "is it OK to"
        ("دستگاهمو برای تعمیر فرستادم دو هفته شده هنوز خبری نیست", "repair-status"),
        ("ابغى اجرب البرنامج قبل اشتريه، فيه تجربة مجانية؟", "trial"),  # "to try"
        # which appliance, which day, how many: none changes the entry that answers
        ("گارانتی ماکروفرم چند ماهه؟", "warranty-period"),  # an appliance, with «م» "my"
        ("how long is the warranty on the espresso machine?", "warranty-period"),
        ("what are your working hours on friday", "store-hours"),  # a weekday
        ("ما هي ساعات العمل يوم الجمعة؟", "store-hours"),
        ("هزینه ارسال سفارش ۸۰۰ هزار تومنی چنده؟", "shipping-cost"),  # a number
        # of the tune half of tests/fixtures/faq/fresh3.jsonl: a generic adjective,
        # verb or time word ("big", "hits", "lost", "rude", Egyptian "today")
        ("do u do on site repairs for big fridges or do i have to bring it in", "onsite-repair"),
        ("how long til the refund hits my card?", "refund-time"),
        ("I want to make a formal complaint about the courier, he was rude", "complaint"),
        ("دفترچه راهنمای فارسی سرخ‌کن رو گم کردم، از کجا دانلود کنم", "user-manual"),
        ("الطلب يوصل امتى لو طلبت النهارده؟", "shipping-time"),
        ("بدي قدم شكوى على المندوب، كان كتير قليل ادب", "complaint"),
        ("I typed the wrong address", "change-address"),
        ("المنتج وصلني تالف والكرتون مفتوح", "damaged-item"),  # "open" box (and ~box)
        # dialect and paraphrase the lexicon reads as the entry's concepts
        ("ممكن ادفع كاش عند الاستلام؟", "payment-methods"),  # Gulf "cash"
        ("ايش ساعات الدوام عندكم؟ تفتحون الجمعة؟", "store-hours"),  # "do you open"
        ("are you open on fridays?", "store-hours"),
        ("قبل خرید میشه تستش کنم؟", "trial"),  # "try it"
        ("What are the rules for returning something?", "return-policy"),
        # Persian «توی» ("in") and «موقع» ("at the time of"), Levantine and Egyptian
        # «لما» ("when"), «ييجي» ("comes")
        ("سفارشم توی چه مرحله‌ای است؟", "order-tracking"),
        ("موقع پرداخت ارور داد ولی پول از حسابم کم شد", "payment-failed"),
        ("الطلب بيوصل امتى لما اطلب النهارده؟", "shipping-time"),
        ("الفني ممكن ييجي البيت يصلحها؟", "onsite-repair"),
        # Persian «اینا» ("these"), «به چه دردی میخوره» ("what use is it"), spoken
        # «برا» ("for"); "options", "extra"
        ("اینا امتیازام به چه دردی میخوره؟", "loyalty-points"),
        ("برا نصب کولر پول میگیرین؟", "installation"),
        ("any installment options?", "installments"),
        # a unit of size, the word "colour", Arabizi fillers («شو», «ال» in Latin)
        ("how long is the warranty on a 65 inch tv?", "warranty-period"),
        ("كم مدة الضمان على شاشة ٥٥ بوصة؟", "warranty-period"),
        ("the colour you sent is not what i ordered", "wrong-item"),
        ("shu el payment methods?", "payment-methods"),
        ("kif a3mel reset el password?", "password-reset"),
        # a brand or model beside the kind of goods: before it in English, after it in
        # Persian and Arabic; a code the customer types
        ("how long is the warranty on the Hisense fridge?", "warranty-period"),
        ("how long is the warranty on the Samsung A54 phone?", "warranty-period"),
        ("my Hisense tv arrived with a cracked screen", "damaged-item"),
        ("گارانتی یخچال هایسنس چند ماهه؟", "warranty-period"),
        ("گوشی سامسونگ A54 چقدر گارانتی داره؟", "warranty-period"),
        ("كم مدة ضمان ثلاجة هايسنس؟", "warranty-period"),
        ("كم ضمان جوال سامسونج A54؟", "warranty-period"),
        ("my promo code SPRING25 says invalid", "discount-code"),
        ("كود الخصم SPRING25 مش شغال", "discount-code"),
        ("کد تخفیف SPRING25 کار نمیکنه", "discount-code"),
    ],
)
def test_time_number_appliance_and_generic_words_are_light(
    matcher: Matcher, question: str, entry: str
) -> None:
    _assert_answered_with_every_word_explained(matcher, question, entry)


def _assert_answered_with_every_word_explained(matcher: Matcher, question: str, entry: str) -> None:
    verdict = decide(question, matcher, Thresholds())
    assert verdict.coverage is not None and verdict.coverage.unexplained == (), verdict.coverage
    assert verdict.kind is VerdictKind.ANSWER and verdict.answer is not None
    assert verdict.answer.entry_id == entry


@pytest.mark.parametrize(
    ("question", "word"),
    [
        ("از همسایه‌ام میخوام شکایت کنم", "همسایهام"),  # the neighbour is the subject
        ("I want to complain about my neighbour", "neighbour"),
        ("how long is the warranty on my car", "car"),  # not an appliance
        # other companies' services and other things: still content
        ("delete my facebook account", "facebook"),
        ("does Spotify have a free trial?", "spotify"),
        ("how long is the warranty on my bicycle gear", "bicycle"),
        # a brand one letter from a concept word is not a misspelling of it
        ("how do I change my email address in Gmail", "gmail"),
        ("كيف أغير بريدي الإلكتروني في جيميل؟", "جیمیل"),
        # a place next to another unexplained word: shipping a car
        ("كم تكلفة شحن سيارة من دبي إلى عمان؟", "سیاره"),
        ("كم سعر تذكرة الطيران لدمشق؟", "تذکره"),  # a flight to Damascus
        # a brand with no kind of goods beside it is another company's thing, and the
        # word on the other side of a goods word is not its name
        ("how long is the warranty on a Toyota?", "toyota"),
        ("my Hisense arrived with a cracked screen", "hisense"),
        ("گارانتی پژو چند ماهه؟", "پژو"),
        ("كم مدة ضمان تويوتا؟", "تویوتا"),
        ("does the Samsung A54 have wireless charging?", "samsung"),
        # the subject of a question that ends in a Persian generic verb
        ("آیا وام میدهید؟", "وام"),
        ("سود سپرده بانکی رو چقدر میدهید؟", "سپرده"),
        # «ماشین» alone is a car; another company's account, however completely deleted
        ("دفترچه راهنمای ماشین رو گم کردم، نسخه pdf دارید؟", "ماشین"),
        ("please delete my facebook account completely", "facebook"),
        # a family member who is not whom the customer buys or sends for
        ("I want to complain about my brother", "brother"),
        ("my wife has a different account, can I delete it?", "wife"),
        ("can my brother pick up my order?", "brother"),
        # "to" a family member: whom an account or a code is given to, not bought for
        ("can I give my account to my wife?", "wife"),
        ("can I give my discount code to my friend?", "friend"),
    ],
)
def test_people_and_things_a_shop_does_not_sell_stay_content(
    matcher: Matcher, question: str, word: str
) -> None:
    verdict = decide(question, matcher, Thresholds())
    assert verdict.coverage is not None and word in verdict.coverage.unexplained
    assert verdict.kind is not VerdictKind.ANSWER


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        # "if", the steps of a procedure and waiting are light words
        ("what is the procedure to return an item?", "return-policy"),
        ("اگه خراب باشه میتونم مرجوع کنم؟", "return-policy"),
        ("مراحل مرجوع کردن کالا چیه؟", "return-policy"),
        ("منتظر بازگشت وجه هستم، کی برمی‌گرده؟", "refund-time"),
        ("زده ناموجود، کی موجود میشه؟", "stock"),  # spoken "it says"
        ("ما هي خطوات إرجاع المنتج؟", "return-policy"),
        ("إذا ألغيت الطلب متى أسترد أموالي؟", "refund-time"),
        ("صرلي اسبوع ناطر استرداد المبلغ، كم يستغرق؟", "refund-time"),
        ("زهقت من النشرة، كيف ألغي الاشتراك؟", "newsletter-unsubscribe"),  # "fed up"
        # Arabic wrapping is gift wrapping; a booklet or operating catalogue is the manual
        ("هل تغلفون الطلب كهدية؟", "gift-wrap"),
        ("I lost the instruction booklet, where can I download it?", "user-manual"),
        ("کتابچه راهنمای تلویزیون رو از کجا دانلود کنم؟", "user-manual"),
        ("وين ألاقي كتالوج التشغيل للغسالة؟", "user-manual"),
        # sale emails are the newsletter, cutting them off is unsubscribing
        ("how do I opt out of the sale emails?", "newsletter-unsubscribe"),
        ("ایمیل‌های تبلیغاتی رو چطوری قطعش کنم؟", "newsletter-unsubscribe"),
        ("أريد إلغاء الاشتراك في إيميلات العروض", "newsletter-unsubscribe"),
        # a filter is a spare part, and so is a «قطعه» / «قطع أصلية»
        ("do you sell a replacement filter for the air purifier?", "spare-parts"),
        ("فیلتر جاروبرقی میفروشید؟", "spare-parts"),
        ("بتبيعوا قطع أصلية للغسالة؟", "spare-parts"),
        # Persian "update", "purchased", the VAT number; Arabic "I got it wrong",
        # Egyptian "from where", Maghrebi "I want", "order" and possessive
        ("ایمیل حسابمو چطوری آپدیت کنم؟", "change-email"),
        ("خریداری کردم، فاکتور رسمی میخوام", "invoice"),
        ("فاکتور با کد اقتصادی میدید؟", "invoice"),
        ("غلطت في عنوان التوصيل، كيف أغيره؟", "change-address"),
        ("أعرف منين حالة طلبي؟", "order-tracking"),
        ("كيفاش نلغي الكوموند ديالي؟", "cancel-order"),
        # a Persian generic verb in any person or tense is light, as "give" or "do" is
        # in English: the noun before it («نصب», «ارسال») carries the question
        ("آیا نصب رایگان انجام میدهید؟", "installation"),
        ("هزینه ارسال به شهرستان رو چقدر میگیرید؟", "shipping-cost"),
        # the head of a Persian appliance name before the kind of goods
        ("دفترچه راهنمای ماشین لباسشویی رو گم کردم، نسخه pdf دارید؟", "user-manual"),
        # words of degree
        ("please delete my account entirely", "delete-account"),
        ("I am extremely unhappy, how do I file a complaint?", "complaint"),
        # whom the customer buys or sends for (faq/beneficiaries.yaml)
        ("can you gift wrap the watch for my sister?", "gift-wrap"),
        ("میخوام برای مادرم کادوپیچ کنید", "gift-wrap"),
        ("ممكن تغلفوها هدية لأمي؟", "gift-wrap"),
    ],
)
def test_wordings_of_the_independent_sets_are_read_as_the_kb_words(
    matcher: Matcher, question: str, entry: str
) -> None:
    verdict = decide(question, matcher, Thresholds())
    assert verdict.kind is VerdictKind.ANSWER and verdict.answer is not None, verdict.coverage
    assert verdict.answer.entry_id == entry


@pytest.mark.parametrize(
    "question",
    [
        "how do I wrap a birthday present myself?",
        "how do I change the oil filter in my car?",
        "كيف أغير فلتر زيت السيارة؟",
        "فیلتر اینستاگرام رو چطوری فعال کنم؟",
        "گواهینامه رانندگی رو چطوری آپدیت کنم؟",
        "what are the steps to open a bank account?",
        "مراحل گرفتن وام بانکی چیه؟",
        "ما هي خطوات فتح حساب بنكي؟",
        "if my bank card is stolen, what should I do?",
        "كيف أوقف إيميلات العروض من البنك؟",
        "یارانه کی واریز میشه؟",
        "حقوقم کی واریز میشه؟",
        # buying something the shop does not sell
        "I bought a car, how long is the warranty?",
        "where can I buy a bus ticket?",
        # broken, a home, the courier, the account: but not what the entry is about
        "my car broke down, can you repair it?",
        "my home internet is broken, can you repair it?",
        "can I pay the courier a tip?",
        "how do I transfer my points to another account?",
        "tracking says delivered but I never received it",
        "میخوام نامه رو با پست پیگیری کنم، کی میرسه؟",
        # the new words and chat forms, about something the shop does not do
        "how do I lodge a complaint with the police?",
        "forgot my pw for netflix",
        "how many pts do I need for a free coffee at starbucks?",
        "what's the progress on my visa application?",
        "how do I get rid of a virus on my laptop?",
        "can I pay in installments at the dentist?",
        "how do I split the bill with my friends?",
        "is my data safe with you?",
        "یاد بده چطوری آشپزی کنم",
        "my TV won't turn on after the power cut, is it the electricity?",
        "میخوام یه ایمیل تبلیغ برای کسب و کارم بنویسم",
        "where do I send my CV?",
        "میشه رزومه‌مو بفرستم؟",
        "I opened the fridge and it smells bad",
        "پشیمونم که اینو خریدم، نظرت چیه؟",
        "الشاشة الزرقاء في ويندوز، كيف أصلحها؟",
        "how do I give back to charity?",
        "where is the nearest bank located?",
        "where is the post office located?",
        "can I walk my dog in the mall?",
        "any idea when the bus is coming?",
        "any idea when the price of gold is coming down?",
        "is it ok to be upset with my boss?",
        "how many units of electricity does a fridge use?",
        "نزدیک‌ترین داروخانه کجاست؟",
        "کلید خونه رو کجا پیدا کنم؟",
        "دیوونه شدم از دست همسایه، چیکار کنم؟",
        "كم تاخذون على تصليح السيارة؟",
        "الباص ما يمشي، ليش؟",
        "زفت، الباص تأخر",
        "متى هينزل الراتب؟",
        "الباص هيرجع امتى؟",
        "جدول الامتحانات هينزل امتى؟",
        "هاردم پر شده، چیکار کنم؟",
        "my phone storage is full, what should I delete?",
        "كم سعر الذهب ضمن السوق؟",
        "my car battery is dead, can you help?",
        "my grandfather is dead, how do I close his account?",
        "how do I correct my exam answers?",
        "ابي ابدل العملة",
        "ابي ابدل الجوال بجوال ثاني",  # an exchange, not a change of address
        "بدي عدل درجاتي بالجامعة",
        "حقوقم هنوز نرسیده",
        "نامه‌ام هنوز به اداره نرسیده",
        "باشگاه مشتری بانک ملت چه امتیازی داره؟",
        "how do I join the loyalty club at the gym?",
        "چطوری عضو سایت بشم؟",
        "عضو سایت دیجی‌کالا هستم، امتیازم کجاست؟",
        "how do I stop spam calls on my phone?",
        "how do I stop the spam in my gmail?",
        "my inbox is full, how do I delete old emails?",
        "locked out of my car, who can help?",
        "locked out of my gmail account",
        "where is the Samsung service center?",
        "where is the nearest car service center?",
        "تعمیرگاه ماشین کجا خوبه؟",
        "بانک‌ها جمعه تعطیلن؟",
        "the game checkout crashed on steam",
        "I got charged a late fee by my bank",
        "my bank account was charged by netflix",
    ],
)
def test_near_miss_questions_with_the_new_words_stay_refused(
    matcher: Matcher, question: str
) -> None:
    assert decide(question, matcher, Thresholds()).kind is not VerdictKind.ANSWER


def test_the_light_words_file_names_languages_and_no_topic_words() -> None:
    groups = yaml.safe_load(
        resources.files("faq").joinpath("light_words.yaml").read_text(encoding="utf-8")
    )
    assert groups and all(set(g) <= {"fa", "ar", "en"} for g in groups.values()), groups
    assert all(isinstance(text, str) and text for g in groups.values() for text in g.values())
    # what tells a near-miss question from a real one stays content
    for word in ("bank", "netflix", "gym", "membership", "car", "neighbour", "کارت", "بانک"):
        assert normalise(word) not in LIGHT_WORDS, word
    for word in ("حساب", "ماشین", "همسایه", "سيارة", "جار"):
        assert normalise(word) not in LIGHT_WORDS, word


def test_faq_ask_shows_the_words_of_finglish_in_persian_script(matcher: Matcher) -> None:
    assert matcher.words("hazine ersal chande?") == matcher.words("هزینه ارسال چنده؟")


def test_light_words_and_words_in_the_answer_do_not_count_against_an_entry(
    matcher: Matcher,
) -> None:
    # "please", "I want" carry no topic; "pdf" is explained by the answer text
    verdict = decide("please, I want the user manual pdf", matcher, Thresholds())
    assert verdict.kind is VerdictKind.ANSWER and verdict.answer is not None
    assert verdict.answer.entry_id == "user-manual"
    assert verdict.coverage is not None and verdict.coverage.explained_share == 1.0


NEGATIVE_KB = """
- id: password-reset
  questions:
    en: ["I forgot my password", "How do I reset my password?"]
    fa: ["رمز عبورم را فراموش کرده‌ام"]
  answers: {en: "Use 'Forgot password' on the sign-in page.", fa: "از «فراموشی رمز» استفاده کنید."}
  not:
    en: ["password of my bank card"]
    fa: ["رمز کارت بانکی"]
- id: order-tracking
  questions: {en: ["Where is my order?"]}
  answers: {en: "See 'My orders'."}
"""


def test_a_not_phrasing_vetoes_its_entry() -> None:
    without = load_kb_texts([("kb.yaml", NEGATIVE_KB.replace("  not:", "  x_not:"))])
    with_not = load_kb_texts([("kb.yaml", NEGATIVE_KB)])
    for question in ("I forgot the password of my bank card", "رمز کارت بانکیمو فراموش کردم"):
        plain = Matcher(without)
        assert decide(question, plain, LENIENT).kind is VerdictKind.ANSWER
        matcher = Matcher(with_not)
        verdict = decide(question, matcher, LENIENT)
        assert verdict.kind is not VerdictKind.ANSWER
        assert verdict.coverage is not None and verdict.coverage.negative is not None
        assert all(c.entry_id != "password-reset" for c in verdict.suggestions)
    # the entry's own questions still answer
    verdict = decide("I forgot my password", Matcher(with_not), Thresholds())
    assert verdict.answer is not None and verdict.answer.entry_id == "password-reset"


BLOCK_CARD_KB = """
- id: block-card
  questions: {en: ["How do I block my card?"], fa: ["چطور کارتم را مسدود کنم؟"]}
  answers: {en: "Call us.", fa: "تماس بگیرید."}
- id: order-tracking
  questions: {en: ["Where is my order?"]}
  answers: {en: "See 'My orders'."}
"""
# A bank's own concepts; with `implies`, blocking a card accounts for its being stolen.
BANK_CONCEPTS = """
concepts:
  stolen: {en: [stolen], fa: [دزدیدن, دزدیده]}
  block: {en: [block], fa: [مسدود]}
"""


@pytest.mark.parametrize(
    "question", ["my card was stolen, how do I block it?", "کارتمو دزدیدن، چطور مسدودش کنم؟"]
)
def test_a_kb_owners_implies_lets_an_entry_account_for_a_concept(
    tmp_path: Path, question: str
) -> None:
    kb = load_kb_texts([("kb.yaml", BLOCK_CARD_KB)])
    plain, ours = tmp_path / "plain.yaml", tmp_path / "ours.yaml"
    plain.write_text(BANK_CONCEPTS, encoding="utf-8")
    ours.write_text(BANK_CONCEPTS + "implies:\n  block: [stolen]\n", encoding="utf-8")
    refused = decide(question, Matcher(kb, lexicon=Lexicon.load(plain)), Thresholds())
    assert refused.coverage is not None and refused.coverage.unexplained == ("~stolen",)
    assert refused.kind is not VerdictKind.ANSWER
    answered = decide(question, Matcher(kb, lexicon=Lexicon.load(ours)), Thresholds())
    assert answered.coverage is not None and answered.coverage.unexplained == ()
    assert answered.answer is not None and answered.answer.entry_id == "block-card"


def test_not_phrasings_are_parsed_per_language_or_for_all() -> None:
    kb = load_kb_texts([("kb.yaml", NEGATIVE_KB)])
    assert kb.by_id()["password-reset"].negatives == {
        "en": ("password of my bank card",),
        "fa": ("رمز کارت بانکی",),
    }
    assert kb.by_id()["order-tracking"].negatives == {}
    flat = NEGATIVE_KB.replace(
        '    en: ["password of my bank card"]\n    fa: ["رمز کارت بانکی"]', '    - "wifi password"'
    )
    assert load_kb_texts([("kb.yaml", flat)]).by_id()["password-reset"].negatives == {
        "*": ("wifi password",)
    }


@pytest.mark.parametrize(
    ("not_value", "message"),
    [
        ("42", "not: expected a list of strings"),
        ("[]", "'not' must list at least one phrasing"),
        ('["I forgot my password"]', "is both a question and under 'not'"),
        ("{en: [1, 2]}", "not.en: expected a list of strings"),
    ],
)
def test_bad_not_phrasings_are_clear_errors(not_value: str, message: str) -> None:
    text = f"""
- id: password-reset
  questions: {{en: ["I forgot my password"]}}
  answers: {{en: "Use 'Forgot password'."}}
  not: {not_value}
"""
    with pytest.raises(KbError, match="id password-reset") as caught:
        load_kb_texts([("kb.yaml", text)])
    assert message in str(caught.value)


def test_assess_without_a_candidate_is_none(matcher: Matcher) -> None:
    assert assess(matcher, matcher.match("")) is None


NUMBERED_KB = """
- id: order-status
  questions: {en: ["Where is order 458219?", "status of my order"]}
  answers: {en: "Order 458219 left the warehouse."}
"""


def test_a_number_in_the_question_never_counts_against_an_entry() -> None:
    matcher = Matcher(load_kb_texts([("kb.yaml", NUMBERED_KB)]))
    # the customer's own order number is not a topic, whether or not the KB has it
    for number in ("458218", "458219", "۴۵۸۲۱۸"):
        coverage = assess(matcher, matcher.match(f"status of order {number} and gift wrapping"))
        assert coverage is not None and coverage.entry_id == "order-status"
        assert coverage.unexplained == ("~gift", "wrapp"), coverage


def test_the_kb_wide_word_look_up_is_done_once_per_word(
    matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fuzzy scan of every KB word for a word the entry leaves unexplained is the
    # costly part of the rule on a large KB: a repeated word is not scanned again
    import faq.coverage

    calls = []
    real = faq.coverage.process.cdist
    kb_words = faq.coverage._extras(matcher).kb_form_list

    def counting(*args: object, **kwargs: object) -> object:
        if args[1] is kb_words:  # the matcher's own calls are not counted
            calls.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(faq.coverage.process, "cdist", counting)
    question = "how long does it take to boil a quail egg"
    first = assess(matcher, matcher.match(question))
    assert first is not None and "quail" in first.foreign and calls
    calls.clear()
    again = assess(matcher, matcher.match(question))
    assert again == first and calls == []


def _near_miss_split(split: str) -> list[object]:
    rows = [json.loads(line) for line in NEAR_MISS.read_text(encoding="utf-8").splitlines()]
    queries = load_queries(NEAR_MISS)
    return [q for q, row in zip(queries, rows, strict=True) if row["split"] == split]


def test_near_miss_fixture_is_split_in_halves_by_hash() -> None:
    rows = [json.loads(line) for line in NEAR_MISS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 120 and all(r["expected"] is None for r in rows)
    assert {r["lang"] for r in rows} == {"fa", "ar", "en"}
    ranked = sorted(rows, key=lambda r: hashlib.sha256(r["text"].encode()).hexdigest())
    half = (len(rows) + 1) // 2
    assert [r["split"] for r in ranked] == ["tune"] * half + ["held"] * (len(rows) - half)
    # they are questions, not small talk the triage would catch
    assert all(triage(r["text"]).kind == "question" for r in rows)


def test_near_miss_held_half_is_almost_never_answered(matcher: Matcher) -> None:
    held = _near_miss_split("held")
    report = evaluate_queries(matcher, matcher.kb, held)  # type: ignore[arg-type]
    assert report.out_of_scope == len(held)
    assert report.answered_wrong <= NEAR_MISS_LIMIT * len(held)
    # the gate is real: the matcher's confidence alone answers many of them
    alone = sum(
        decide_match(v.match, Thresholds()).kind is VerdictKind.ANSWER
        for v in (decide(q.text, matcher, Thresholds()) for q in held)  # type: ignore[attr-defined]
        if v.match is not None
    )
    assert alone > 5 * NEAR_MISS_LIMIT * len(held)


def test_dev_set_stays_answered(matcher: Matcher) -> None:
    report = evaluate_queries(matcher, matcher.kb, load_queries(FIXTURES / "dev.jsonl"))
    assert report.answered_right >= 0.95 * report.in_scope
    assert report.answered_wrong <= 1


def test_faq_ask_shows_what_the_entry_leaves_unexplained(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["faq", "ask", str(KB), "ساعت کاری بانک ملت تا کیه؟", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["candidates"][0]["id"] == "store-hours"
    assert report["decision"] != "answer" and report["answer"] is None
    assert report["unexplained"] == ["بانک", "ملت"] and report["not"] is None


@pytest.mark.parametrize(
    ("question", "place"),
    [
        ("do you deliver to Germany?", "germany"),
        ("برای شیراز چند روزه میرسه؟", "شیراز"),
        ("به ترکیه ارسال دارید؟ داداشم استانبوله", "استانبوله"),  # with «ه», "is"
        ("كم يستغرق الشحن للرياض؟", "للریاض"),  # with «لل», "to the"
        ("كم يوم ياخذ التوصيل لدمشق؟", "لدمشق"),  # with «ل», "to"
    ],
)
def test_a_place_is_never_foreign_to_the_kb_but_still_unexplained(
    matcher: Matcher, question: str, place: str
) -> None:
    coverage = assess(matcher, matcher.match(question))
    assert coverage is not None
    # faq/places.yaml: not a subject foreign to the KB, but not a light word either:
    # it counts against an entry that does not name it
    assert place in coverage.unexplained and place not in coverage.foreign, coverage


FILE_KB = """
- id: complaint
  questions: {en: ["How do I file a complaint?"]}
  answers: {en: "Use the complaint form."}
- id: order-tracking
  questions: {en: ["Where is my order?"]}
  answers: {en: "See 'My orders'."}
"""


def test_an_inflected_word_is_known_to_a_kb_that_has_its_base_form() -> None:
    # the stemmer reads "filed" as "fil" but leaves "file" whole; a three-letter stem is
    # compared exactly: without the KB's "fil", "filed" would be foreign to a KB with "file"
    matcher = Matcher(load_kb_texts([("kb.yaml", FILE_KB)]))
    coverage = assess(matcher, matcher.match("where is my order, I filed it"))
    assert coverage is not None and coverage.entry_id == "order-tracking"
    assert coverage.unexplained == ("fil",)
    assert coverage.foreign == ()


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("کد تخقیفم کار نمیکنه", "discount-code"),  # «تخقیف» for «تخفیف»
    ],
)
def test_a_misspelt_concept_word_is_that_concept(
    matcher: Matcher, question: str, entry: str
) -> None:
    verdict = decide(question, matcher, Thresholds())
    assert verdict.coverage is not None and verdict.coverage.foreign == (), verdict.coverage
    assert verdict.answer is not None and verdict.answer.entry_id == entry, verdict.coverage


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("delivery to the capital, how many days?", "shipping-time"),
        ("تحویل به شهرستان چند روزه؟", "shipping-time"),
        ("المكيف خرب وهو بالضمان، شو لازم اعمل؟", "warranty-claim"),
    ],
)
def test_a_completely_explained_question_is_answered_at_a_lower_confidence(
    matcher: Matcher, question: str, entry: str
) -> None:
    verdict = decide(question, matcher, Thresholds())
    assert verdict.match is not None
    assert Thresholds().answer_complete <= verdict.match.confidence < Thresholds().answer
    assert verdict.coverage is not None and verdict.coverage.complete(2), verdict.coverage
    assert verdict.answer is not None and verdict.answer.entry_id == entry


def test_a_completely_explained_question_with_a_close_runner_up_needs_the_full_confidence(
    matcher: Matcher,
) -> None:
    verdict = decide("delivery to the capital, how many days?", matcher, Thresholds())
    assert verdict.match is not None and verdict.kind is VerdictKind.ANSWER
    assert verdict.match.confidence < Thresholds().answer
    best, *rest = verdict.match.candidates
    close = dataclasses.replace(rest[0], score=0.95 * best.score)
    contested = dataclasses.replace(verdict.match, candidates=(best, close, *rest[1:]))
    assert decide_match(contested, Thresholds(), None, verdict.coverage).kind is not (
        VerdictKind.ANSWER
    )
    far = dataclasses.replace(rest[0], score=0.5 * best.score)
    clear = dataclasses.replace(verdict.match, candidates=(best, far, *rest[1:]))
    assert decide_match(clear, Thresholds(), None, verdict.coverage).kind is VerdictKind.ANSWER


@pytest.mark.parametrize(
    "question",
    [
        "my bank points, can i buy things with them?",  # the bank is unexplained
        "نقاط البنك اللي جمعتها، بقدر اشتري فيها؟",
    ],
)
def test_a_partly_explained_question_needs_the_full_confidence(
    matcher: Matcher, question: str
) -> None:
    verdict = decide(question, matcher, Thresholds())
    assert verdict.match is not None and verdict.match.confidence < Thresholds().answer
    assert verdict.kind is not VerdictKind.ANSWER


def test_words_matched_by_a_near_spelling_do_not_make_a_question_complete(
    matcher: Matcher,
) -> None:
    # «آیفون» and «ایران» are each only near a word of the stock entry
    verdict = decide("گوشی آیفون ۱۶ کی به ایران میاد؟", matcher, Thresholds())
    assert verdict.match is not None and verdict.coverage is not None
    assert verdict.coverage.near and verdict.kind is not VerdictKind.ANSWER
    assert Thresholds().answer_complete <= verdict.match.confidence < Thresholds().answer
    exact = dataclasses.replace(verdict.coverage, near=())
    assert decide_match(verdict.match, Thresholds(), None, exact).kind is VerdictKind.ANSWER


def test_an_asking_clause_alone_is_not_answered_at_the_lower_confidence(
    matcher: Matcher,
) -> None:
    # the clause ("can I buy with it?") is all the entry explains; the story says what
    # "it" is (loyalty points), and the clause's entry (installments) is not the answer
    text = "این امتیازهایی که جمع کردم به چه کاری میاد؟ میشه باهاش خرید کرد؟"
    verdict = decide(text, matcher, Thresholds())
    assert verdict.match is not None and verdict.match.best is not None
    assert verdict.match.best.entry_id == "installments"
    assert verdict.kind is not VerdictKind.ANSWER
    assert verdict.coverage is not None and verdict.coverage.complete(2)
    # the same match read as the whole message is answered (its runner-up's lead aside)
    lead_aside = Thresholds(complete_lead=1.0)
    whole = decide_match(verdict.match, lead_aside, None, verdict.coverage, whole_message=True)
    assert whole.kind is VerdictKind.ANSWER


@pytest.mark.parametrize(
    ("question", "word"),
    [
        ("وصلتني الغسالة مكسورة جداً", "جدا"),
        ("أبي ألغي الطلب بالكامل", "بالکامل"),
        ("کد تخفیفم کاملا نامعتبره", "کاملا"),
        ("the screen arrived totally cracked", "total"),
    ],
)
def test_words_of_degree_are_not_content(matcher: Matcher, question: str, word: str) -> None:
    coverage = assess(matcher, matcher.match(question))
    assert coverage is not None and word not in coverage.unexplained, coverage
    assert any(w.word == word for w in matcher.match(question).explained)


@pytest.mark.parametrize(
    ("word", "verb"),
    [
        ("میدهید", True),
        ("نمیگیرید", True),
        ("بدهید", True),
        ("شدم", True),
        ("کرده", True),
        ("کنه", True),
        ("بیاید", True),
        # nouns and prepositions that look like a bare stem with an ending
        ("روی", False),  # "on"
        ("زنم", False),  # "my wife"
        ("بینی", False),  # "nose"
        ("کردی", False),  # "Kurdish"
        ("فرستادید", False),  # "you sent": not a generic verb
    ],
)
def test_persian_generic_verbs_are_read_in_every_person(word: str, verb: bool) -> None:
    assert persian_light_verb(normalise(word)) is verb


def test_buying_is_content_unless_it_is_one_of_the_shops_goods(matcher: Matcher) -> None:
    goods = decide("یه ماشین ظرفشویی خریدم، نصبش با شماست؟", matcher, Thresholds())
    assert goods.coverage is not None and "~buy" not in goods.coverage.unexplained
    answered = decide("اشتريت ثلاجة، هل التركيب مجاني؟", matcher, Thresholds())
    assert answered.coverage is not None and answered.coverage.unexplained == ()
    assert answered.answer is not None and answered.answer.entry_id == "installation"
    car = decide("اشتريت سيارة، كم مدة الضمان؟", matcher, Thresholds())
    assert car.coverage is not None and "~buy" in car.coverage.unexplained
    assert car.kind is not VerdictKind.ANSWER


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        # what the entry's subject is about (faq/lexicon.yaml `implies`): a repair is of
        # something broken, a warranty is used by a repair, a home address is an
        # address, the courier delivers, points are kept in the account
        ("الغسالة خربانة، يجي فني للبيت؟", "onsite-repair"),
        ("my microwave died, how do I get it repaired under the warranty?", "warranty-claim"),
        ("آدرس خونه رو اشتباه زدم، چطوری عوضش کنم؟", "change-address"),
        ("can I pay cash to the courier?", "payment-methods"),
        ("how do I use the points in my account?", "loyalty-points"),
        ("my order still hasn't arrived, how do I track it?", "order-tracking"),
        # chat forms and paraphrases of the entries' concepts (faq/lexicon.yaml)
        ("how do I get rid of my account?", "delete-account"),
        ("بدي امحي حسابي", "delete-account"),
        ("forgot my pw, how do I reset it?", "password-reset"),
        ("how do I spend my reward pts?", "loyalty-points"),
        ("any update on my repair?", "repair-status"),
        ("can I split the payment into monthly installments?", "installments"),
        ("کسی هست یاد بده با این دستگاه کار کنم؟", "training"),
        # light: a verb of filing, the customer's data, Iraqi «عدكم» ("at yours")
        ("how do I lodge a complaint?", "complaint"),
        ("please delete my account and all my data", "delete-account"),
        ("كم مدة الضمان عدكم؟", "warranty-period"),
        # opening the box, a change of heart, the screen with the Arabic article
        ("the kettle was cracked when I opened the box", "damaged-item"),
        ("پشیمون شدم، میخوام سفارشمو لغو کنم", "cancel-order"),
        ("الشاشة وصلت مكسورة", "damaged-item"),
        # where a thing is "located", walking in, "any idea", "coming back", a feeling,
        # the "unit" an appliance is called
        ("where is your store located?", "store-location"),
        ("I'd like to walk into a showroom, where is one?", "store-location"),
        ("any idea when the fridge is coming back in stock?", "stock"),
        ("totally disappointed, I want to file a complaint", "complaint"),
        ("will you install the AC unit?", "installation"),
        # Persian "find"; Arabic "I don't like it" (Egyptian, Levantine), "carry it"
        ("صورتحساب رو کجا پیدا کنم؟", "invoice"),
        ("التلفزيون مش عاجبني، ينفع أرجعه؟", "return-policy"),
        ("الغسالة كبيرة ما أقدر أشيلها، يجي فني للبيت؟", "onsite-repair"),
        # a full inbox; Arabic pronouns after a preposition («صار له», «منها»), "within",
        # Egyptian "will come back"
        ("اینباکسم پر شده از خبرنامه، چطوری لغو عضویت کنم؟", "newsletter-unsubscribe"),
        ("الجوال خلصان، هيرجع امتى؟", "stock"),
        # a dead appliance is a broken one; correcting what was typed is changing it
        ("the dryer is dead, can I claim the warranty?", "warranty-claim"),
        ("how can I correct my address?", "change-address"),
        # the customers' club is the points, a member of the site has an account,
        # spamming the inbox is the newsletter
        ("تو باشگاه مشتری چند تا امتیاز دارم؟", "loyalty-points"),
        # "are you closed", the service centre is where repairs are done
        ("پنجشنبه‌ها تعطیلین؟", "store-hours"),
        ("are you closed on sundays?", "store-hours"),
        ("is my laptop ready at the service center?", "repair-status"),
        ("stop spamming my inbox with newsletters", "newsletter-unsubscribe"),
        # a crashed checkout is a failed payment, being charged is a deduction
        ("the checkout crashed but I got charged", "payment-failed"),
    ],
)
def test_what_the_entry_is_about_and_chat_forms_are_explained(
    matcher: Matcher, question: str, entry: str
) -> None:
    _assert_answered_with_every_word_explained(matcher, question, entry)
