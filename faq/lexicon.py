"""A small multilingual lexicon of customer-service concepts, applied before matching.

The data is `faq/lexicon.yaml` (its header says what may go in). `Lexicon.canonical`
rewrites the tokens of a KB phrasing or a question: each listed word or phrase becomes
its concept token ("~refund") or, for question words and dialect forms, its group's
function word ("when"). Phrases match their words in order with at most one other
word between two of them; longer phrases win. Words are compared through light
morphology (`faq.morphology`): English stems, Persian enclitics, Arabic clitics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from faq.colloquial import standardise
from faq.morphology import arabic_variants, english_stem, persian_variants
from faq.normalise import normalise, tokenise

LANGUAGES = ("en", "fa", "ar")
CONCEPT_PREFIX = "~"
_MAX_GAP = 1  # other words allowed between two words of a phrase


def _english_variants(token: str) -> list[str]:
    return [english_stem(token, drop_silent_e=True)]


_VARIANTS: Mapping[str, Callable[[str], list[str]]] = {
    "en": _english_variants,
    "fa": persian_variants,
    "ar": arabic_variants,
}


def prepare(text: str, language: str) -> list[str]:
    """Tokens of `text` as the lexicon sees them: normalised, spoken Persian standardised."""
    tokens = tokenise(normalise(text))
    return standardise(tokens) if language == "fa" else tokens


def _key(token: str, language: str) -> str:
    return english_stem(token, drop_silent_e=True) if language == "en" else token


@dataclass(frozen=True, slots=True)
class _Phrase:
    keys: tuple[str, ...]
    token: str


class Lexicon:
    """Concept phrases per language, indexed by their first word."""

    __slots__ = ("_by_first", "concepts", "function_words")

    def __init__(self, data: Mapping[str, Any]) -> None:
        """Build from the parsed YAML (`function_words` and `concepts` sections)."""
        self._by_first: dict[str, dict[str, list[_Phrase]]] = {lang: {} for lang in LANGUAGES}
        concepts: set[str] = set()
        function_words: set[str] = set()
        sections = (
            (data.get("function_words") or {}, ""),
            (data.get("concepts") or {}, CONCEPT_PREFIX),
        )
        for groups, prefix in sections:
            for name, forms_by_lang in groups.items():
                token = prefix + str(name)
                (concepts if prefix else function_words).add(token)
                for lang, forms in (forms_by_lang or {}).items():
                    if lang not in self._by_first:
                        raise ValueError(f"lexicon: unknown language {lang!r} in {name!r}")
                    for form in forms:
                        keys = tuple(_key(t, lang) for t in prepare(str(form), lang))
                        if keys:
                            self._by_first[lang].setdefault(keys[0], []).append(
                                _Phrase(keys, token)
                            )
        for table in self._by_first.values():
            for phrases in table.values():
                phrases.sort(key=lambda p: len(p.keys), reverse=True)
        self.concepts = frozenset(concepts)
        self.function_words = frozenset(function_words)  # to be damped like stopwords

    @classmethod
    def default(cls) -> Lexicon:
        """The lexicon shipped with Pasokh (`faq/lexicon.yaml`)."""
        text = resources.files("faq").joinpath("lexicon.yaml").read_text(encoding="utf-8")
        return cls(yaml.safe_load(text))

    def canonical(
        self, tokens: Sequence[str], language: str | None, *, keep_words: bool = False
    ) -> list[str]:
        """Replace every listed word or phrase in `tokens` by its concept token.

        Args:
            tokens: from `prepare` (normalised; spoken Persian standardised).
            language: "en", "fa" or "ar"; anything else leaves the tokens as they are.
            keep_words: keep a concept's words and add its token after them (function
                words are always replaced).

        Returns:
            The tokens with concepts in place of the words that express them.
        """
        table = self._by_first.get(language or "")
        if not table:
            return list(tokens)
        variants = _VARIANTS[language or ""]
        keys = [variants(t) for t in tokens]
        out: list[str] = []
        used: set[int] = set()
        for i in range(len(tokens)):
            if i in used:
                continue
            match = self._match_at(i, keys, table, used)
            if match is None:
                out.append(tokens[i])
                continue
            token, positions = match
            used.update(positions)
            if keep_words and token.startswith(CONCEPT_PREFIX):
                out.extend(tokens[p] for p in positions)
            out.append(token)
        return out

    @staticmethod
    def _match_at(
        i: int,
        keys: Sequence[Sequence[str]],
        table: Mapping[str, list[_Phrase]],
        used: set[int],
    ) -> tuple[str, list[int]] | None:
        best: tuple[str, list[int]] | None = None
        for first in keys[i]:
            for phrase in table.get(first, ()):
                if best is not None and len(phrase.keys) <= len(best[1]):
                    break
                positions = [i]
                for key in phrase.keys[1:]:
                    start = positions[-1] + 1
                    nxt = next(
                        (
                            j
                            for j in range(start, min(start + 1 + _MAX_GAP, len(keys)))
                            if j not in used and key in keys[j]
                        ),
                        None,
                    )
                    if nxt is None:
                        break
                    positions.append(nxt)
                else:
                    best = (phrase.token, positions)
            if best is not None:
                break  # the longest variant of the first word that starts a phrase wins
        return best
