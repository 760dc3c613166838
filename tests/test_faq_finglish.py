"""faq.finglish: Persian typed in Latin letters is told from English and read as Persian."""

from __future__ import annotations

from pathlib import Path

import pytest

from faq.decide import Thresholds, VerdictKind, decide
from faq.finglish import clauses_in_persian_script, is_finglish, persian_script, to_persian
from faq.kb import load_kb
from faq.language import detect_language
from faq.matcher import Matcher
from faq.normalise import normalise

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_kb(KB, "fa"))


@pytest.mark.parametrize(
    "text",
    [
        "garanti chand mahe?",
        "ramzamo yadam rafte chikar konam",
        "operator mikham",
        "sefaresham kojast",
        "mishe ghesti kharid?",
        "ersal raygane?",
        "password ro faramoosh kardam",  # a loanword beside Persian words
        "na komak nakard",
        # digits of Persian counting and of a model are not Arabizi
        "2ta gooshi mikham",
        "garanti 5g gooshi chand mahe?",
    ],
)
def test_finglish_is_detected_as_persian(text: str) -> None:
    assert is_finglish(text)
    assert detect_language(text) == "fa"


@pytest.mark.parametrize(
    "text",
    [
        "I want to cancel my order",
        "how long is the warranty",
        "Where is my order?",
        "is shipping free",
        "can I talk to a supervisor",
        "I forgot my password",
        "email",  # a loanword alone decides nothing
        "the code is in my account",
        "Do you sell robot vacuums?",
    ],
)
def test_english_is_not_taken_for_finglish(text: str) -> None:
    assert not is_finglish(text)
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    "text", ["bghit nhder m3a chi wahed", "wach kayn chi wa7ed", "chi 7aja okhra 3afak"]
)
def test_arabizi_with_a_persian_looking_word_is_not_finglish(text: str) -> None:
    """Arabic written with digits for its letters ("m3a", "wa7ed") outweighs "chi"."""
    assert not is_finglish(text)


@pytest.mark.parametrize(
    ("latin", "persian"),
    [
        ("garanti chand mahe", "گارانتی چند ماهه"),  # listed word + copula
        ("ramzamo yadam rafte", "رمزمو یادم رفته"),  # possessive + object suffix
        ("hesabam", "حسابم"),
        ("sefareshamo", "سفارشمو"),
        ("kalaro", "کالارو"),
        ("mikham", "میخوام"),
        ("ta'mir", "تعمیر"),  # apostrophes are dropped by normalise
        ("ghete asli", "قطعه اصلی"),
        ("khosham nayoomad, mishe bargardoonamesh", "خوشم نیومد، میشه برگردونمش"),
        ("hanooz naresideh", "هنوز نرسیده"),
        ("pas dadam", "پس دادم"),
        ("pool az hesabam raft", "پول از حسابم رفت"),
        ("factor nadaram", "فاکتور ندارم"),
        # the ezafe, alone or after a hyphen, is a vowel Persian script does not write
        ("ramz e account am", "رمز اکانت ام"),
        ("ramz-e accountam", "رمز اکانتم"),
    ],
)
def test_transliteration_of_listed_words_and_suffixes(latin: str, persian: str) -> None:
    assert to_persian(latin) == normalise(persian)


def test_clauses_keep_their_punctuation_for_triage() -> None:
    # triage reads a message clause by clause: the story before the comma is not the
    # request after it
    assert clauses_in_persian_script("khosham nayoomad, mishe bargardoonamesh?") == (
        f"{normalise('خوشم نیومد')}, {normalise('میشه برگردونمش')}?"
    )
    assert clauses_in_persian_script("Where is my order?") == "Where is my order?"


def test_the_spoken_reading_conjugates_verbs_and_drops_a_glued_ezafe() -> None:
    # every person of a listed stem; spelt letter by letter the stem's «a» was written
    assert to_persian("nemizanam", spoken=True) == normalise("نمیزنم")
    assert to_persian("nemizanam") == normalise("نمیزانام")
    assert to_persian("migirim bezanin zadid", spoken=True) == normalise("میگیریم بزنین زدید")
    # "mizan" is «میزان» ("amount"), no form of «زدن»
    assert to_persian("mizan", spoken=True) == to_persian("mizan")
    # the ezafe's "e" on a listed word before another word; the spoken "is" at the end
    assert to_persian("montazere tamasetoon", spoken=True) == normalise("منتظر تماستون")
    assert to_persian("ye nafar montazere", spoken=True) == normalise("یه نفر منتظره")
    # a listed form keeps its "e" («بزنه», "may he call")
    assert to_persian("yeki zang bezane", spoken=True) == normalise("یکی زنگ بزنه")


def test_the_spoken_reading_reads_a_mistyped_person_word_as_the_word() -> None:
    # a letter left out, two letters swapped; the matcher's reading spells them out
    assert to_persian("opertor", spoken=True) == normalise("اپراتور")
    assert to_persian("poshtbani", spoken=True) == normalise("پشتیبانی")
    assert to_persian("karshnas", spoken=True) == normalise("کارشناس")
    assert to_persian("opertor") != normalise("اپراتور")
    # "nadad" ("didn't give"): the negative past, its stem "dad" being English
    assert to_persian("javab nadad", spoken=True) == normalise("جواب نداد")
    assert to_persian("my dad", spoken=True) == to_persian("my dad")


def test_be_man_is_persian_in_the_spoken_reading_only() -> None:
    assert is_finglish("zang bezanin be man", spoken=True)
    assert not is_finglish("zang bezanin be man")
    assert clauses_in_persian_script("be man zang bezanid", spoken=True) == normalise(
        "به من زنگ بزنید"
    )
    assert not is_finglish("please be a man about it", spoken=True)


def test_the_spoken_reading_reads_each_clause_in_its_own_language() -> None:
    text = "this is ridiculous. ye operator mikham"
    assert not is_finglish(text)
    assert clauses_in_persian_script(text) == text
    assert clauses_in_persian_script(text, spoken=True) == (
        f"this is ridiculous. {normalise('یه اپراتور میخوام')}"
    )
    assert clauses_in_persian_script("Where is my order?", spoken=True) == "Where is my order?"


def test_unlisted_words_go_through_spelling_rules() -> None:
    # digraphs, a dropped inner short vowel, a final e as «ه»
    assert to_persian("khoshgel") == "خشگل"
    assert to_persian("shirine") == "شیرینه"
    assert to_persian("123 kood") == "123 کود"  # digits kept


def test_persian_script_leaves_english_and_persian_alone() -> None:
    assert persian_script("where is my order") == "where is my order"
    assert persian_script("سفارشم کجاست") == "سفارشم کجاست"
    assert persian_script("sefaresham kojast") == "سفارشم کجاست"


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("garanti mahsoolatoon chand mahe?", "warranty-period"),
        ("ramzamo yadam rafte chikar konam", "password-reset"),
        ("hazine ersal chande?", "shipping-cost"),
        ("mikham sefaresh ro cancel konam", "cancel-order"),
        # "entirely", "at all", "satisfied", "objection": listed words
        ("mikham kolan account am ro hazf konam", "delete-account"),
        ("aslan razi nistam, koja eteraz konam?", "complaint"),
    ],
)
def test_finglish_questions_are_answered(matcher: Matcher, text: str, entry: str) -> None:
    verdict = decide(text, matcher, Thresholds())
    assert verdict.kind is VerdictKind.ANSWER
    assert verdict.answer is not None and verdict.answer.entry_id == entry


def test_finglish_request_for_a_person_is_a_hand_off(matcher: Matcher) -> None:
    assert decide("operator mikham", matcher, Thresholds()).kind is VerdictKind.HUMAN
    assert decide("ba karshenas kar daram", matcher, Thresholds()).kind is VerdictKind.HUMAN


def test_a_listed_word_with_a_suffix_is_read_as_trying_each_suffix_in_turn() -> None:
    """The suffix look-up by word ending finds what trying `_SUFFIXES` in order finds
    (the first that leaves a listed word), for every listed word with every suffix."""
    from faq import finglish

    words = finglish._table().words

    def in_turn(word: str) -> str | None:
        if word in words:
            return words[word]
        for latin, persian in finglish._SUFFIXES:
            stem = word[: -len(latin)]
            if word.endswith(latin) and len(stem) >= finglish._MIN_STEM and stem in words:
                return words[stem] + persian
        return None

    candidates = {latin for latin, _ in finglish._SUFFIXES} | {"x", "hamooon", "garantiha"}
    for word in words:
        for latin, _ in finglish._SUFFIXES:
            candidates |= {word + latin, word[:2] + latin}
    assert all(finglish._listed(w) == in_turn(w) for w in candidates)
