"""Key words read through one slip of the finger (`faq.typos`)."""

from __future__ import annotations

import pytest

from faq.normalise import normalise, tokenise
from faq.typos import KeyWordTypos


def _token(text: str) -> str:
    (token,) = tokenise(normalise(text))
    return token


TYPOS = KeyWordTypos(
    [_token(w) for w in ("کارشناس", "الموظف", "connect", "conect", "akalem", "انسان")],
    proclitics=(_token("ال"),),
)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("کارشانس", "کارشناس"),  # two neighbours swapped
        ("کارشنس", "کارشناس"),  # a letter left out
        ("کارشناسس", "کارشناس"),  # a letter typed twice
        ("الموضف", "الموظف"),  # a letter that sounds alike
        ("connetc", "connect"),
        ("connnect", "connect"),
    ],
)
def test_a_slip_is_read_as_the_word_meant(typed: str, meant: str) -> None:
    assert TYPOS.meant(_token(typed)) == _token(meant)


@pytest.mark.parametrize(
    "typed",
    [
        "اسان",  # «آسان», "easy": an everyday word
        "اکارشناس",  # not at the first letter
        "لاموظف",  # nor at the article or the letter after it
        "امموظف",
        "کارشناس",  # the word itself
        "conect",  # a listed word is itself
        "aklem",  # Arabizi spells its vowels freely: not read through a slip
    ],
)
def test_no_slip_at_the_first_letter_nor_an_everyday_word(typed: str) -> None:
    assert TYPOS.meant(_token(typed)) is None


def test_short_words_are_not_read_through_a_slip() -> None:
    assert KeyWordTypos(["talk"]).meant("tlak") is None
