"""How common a word is in everyday English, Persian and Arabic.

A question word that no KB entry explains is either everyday language the KB happens
not to use («هيرجع», «تعوضوني», "anyway") or a name of something the KB does not
cover (another bank, «جيميل», "Gmail"). The shipped lists tell the two apart: the most
frequent words of each language (`faq/common_words/{en,fa,ar}.txt`, most frequent
first, written by `bench/common_words.py` from the `wordfreq` package's data, which
mixes Wikipedia, subtitles, the web and Twitter: spoken and dialect forms included),
each already in the form the matcher gives a word (`faq.normalise`, spoken Persian
standardised, the English stem), so a look-up is one dict probe per form.
"""

from __future__ import annotations

import functools
from pathlib import Path

from faq.morphology import arabic_variants, english_stem, persian_variants

DATA_DIR = Path(__file__).resolve().parent / "common_words"
LANGUAGES = ("en", "fa", "ar")


@functools.cache
def _ranks(language: str) -> dict[str, int]:
    """Each listed word's frequency rank (1: the most frequent) in `language`."""
    ranks: dict[str, int] = {}
    lines = (DATA_DIR / f"{language}.txt").read_text(encoding="utf-8").splitlines()
    for rank, word in enumerate(lines, start=1):
        ranks.setdefault(word, rank)
    return ranks


def list_size(language: str) -> int:
    """How many words the list of `language` holds."""
    return len(_ranks(language))


def _lists_for(word: str, language: str | None) -> tuple[str, ...]:
    # Latin letters reaching the matcher are English (Finglish is in Persian script by
    # then); another script is the question's language, or either if it is unknown
    if word.isascii():
        return ("en",)
    if language in ("fa", "ar"):
        return (language,)
    return ("fa", "ar")


# Spoken Arabic verb endings (person, and an object pronoun after them): «ترجعون»,
# «تعوضونی», «هتعملولی»; a list of frequent words has the verb's commoner forms.
_ARABIC_VERB_ENDINGS = ("ونی", "ولی", "ون", "وا", "ین", "نی", "لی", "و", "ت")
_MIN_VERB = 3


def _forms(word: str, language: str) -> tuple[str, ...]:
    """The word and its forms without clitics («اطلاعاتم» -> «اطلاعات», «هترجع» ->
    «ترجع»)."""
    if language == "fa":
        return persian_variants(word)
    if language != "ar":
        return (word,)
    forms = list(arabic_variants(word))
    for form in arabic_variants(word):
        forms.extend(
            form[: -len(ending)]
            for ending in _ARABIC_VERB_ENDINGS
            if form.endswith(ending) and len(form) - len(ending) >= _MIN_VERB
        )
    return tuple(forms)


def frequency_rank(word: str, language: str | None) -> int | None:
    """The rank of `word` (a form the matcher gives, `Matcher.words`) among the common
    words of its language, that of its most frequent form without clitics; None when
    it is in no list (a name, a brand, a rare or misspelt word).

    Args:
        word: the word as the matcher reads it (normalised, stemmed).
        language: the question's detected language (which list a non-Latin word is
            looked up in).
    """
    ranks = [
        rank
        for lang in _lists_for(word, language)
        for form in _forms(word, lang)
        if (rank := _ranks(lang).get(form)) is not None
    ]
    return min(ranks, default=None)


def is_everyday_word(token: str) -> bool:
    """Whether `token` (normalised, as a message is tokenised) is a common word of
    English, Persian or Arabic in its own right: an English word is looked up by its
    stem, as the matcher reads it."""
    form = english_stem(token) if token.isascii() else token
    return frequency_rank(form, None) is not None
