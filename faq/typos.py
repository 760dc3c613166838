"""Key words typed with one slip of the finger, read as the word meant.

A customer in a hurry types «کارشانس» for «کارشناس», «المدر» for «المدير», "conect"
or "speka": one letter left out, two neighbours swapped, a letter typed twice, or an
Arabic-script letter for one that sounds alike («موضف» for «موظف»). A rule table that
names its words (triage's person-words and verbs of talking) can be read through such
slips when the word is long enough that one slip rarely makes another word, and when
the slip does not make an everyday word of English, Persian or Arabic (`faq.common_words`):
«اسان» ("easy") is «انسان» less a letter, "gent" is "agent" less one.

The first letter of a word (after an Arabic proclitic) is never the one slipped: a slip
there is rare, and more often makes another word.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from faq.common_words import is_everyday_word

# Shorter words make other words with one slip too often ("agent" less a letter is
# "gent"; «مدیر» less one is «مدر», «دیر»).
MIN_TYPO_LENGTH = 5
# Arabic-script letters typed for one another because they sound alike (after
# `faq.normalise`, which already merges the forms of alef, yeh, kaf and teh marbuta).
_SOUNDS_ALIKE = ("زذضظ", "سصث", "تط", "هح", "قغ")
_ALIKE = {letter: group.replace(letter, "") for group in _SOUNDS_ALIKE for letter in group}


def _slips(word: str, start: int) -> Iterator[str]:
    """The ways `word` is typed with one slip, none before `start`."""
    for k in range(start, len(word)):
        yield word[:k] + word[k + 1 :]  # left out
        yield word[:k] + word[k] + word[k:]  # typed twice
        for other in _ALIKE.get(word[k], ""):
            yield word[:k] + other + word[k + 1 :]
    for k in range(start, len(word) - 1):
        yield word[:k] + word[k + 1] + word[k] + word[k + 2 :]  # neighbours swapped


class KeyWordTypos:
    """The slips of a rule table's key words, each read as the word meant."""

    def __init__(self, words: Iterable[str], *, proclitics: Sequence[str] = ()) -> None:
        """`words`: normalised tokens; those of at least `MIN_TYPO_LENGTH` letters are
        read through a slip. A word that begins with one of `proclitics` (the Arabic
        article, «ب») is slipped only after it and the letter after it: «ابشر» is
        «البشر» without the article's «ل», and a verb ("I give good news"). A slip
        that is a listed word itself is that word."""
        listed = frozenset(words)
        meant: dict[str, set[str]] = {}
        for word in listed:
            if len(word) < MIN_TYPO_LENGTH or not word.isalpha():
                continue
            if word.isascii() and not is_everyday_word(word):
                # Arabizi and Finglish spell their vowels freely: a slip of one is as
                # often another word ("awasal", "I deliver", is "atwasal" less a letter)
                continue
            start = 1 + max((len(p) for p in proclitics if word.startswith(p)), default=0)
            for slip in _slips(word, start):
                meant.setdefault(slip, set()).add(word)
        # a slip of two listed words is read as the longer: the shorter is as often
        # itself a listed slip ("conect" beside "connect")
        self._meant = {
            slip: max(sorted(words_meant), key=len)
            for slip, words_meant in meant.items()
            if slip not in listed
        }

    def meant(self, token: str) -> str | None:
        """The key word `token` is a slip of, or None (also when `token` is an everyday
        word in its own right: that is checked here, for the few tokens that are slips
        at all, not for every slip of every word)."""
        word = self._meant.get(token)
        if word is None or is_everyday_word(token):
            return None
        return word
