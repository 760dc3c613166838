"""A small multilingual lexicon of customer-service concepts, applied before matching.

The data is `faq/lexicon.yaml` (its header says what may go in). `Lexicon.canonical`
rewrites the tokens of a KB phrasing or a question: each listed word or phrase becomes
its concept token ("~refund") or, for question words and dialect forms, its group's
function word ("when"). Phrases match their words in order with at most one other
word between two of them; longer phrases win. Words are compared through light
morphology (`faq.morphology`): English stems, Persian enclitics, Arabic clitics.

Before that, dialect words of the `words` section become their standard word
(Egyptian «اوردر» -> «طلب», Levantine «قديش» -> «كم»); Persian words glued together
are split where both halves are lexicon words («رمزعبورمو» -> «رمز» «عبورمو»); and
words in Latin letters inside a Persian or Arabic message are looked up in the English
lexicon («refund من کی واریز میشه» reads "~refund").

`Lexicon.embedding_text` writes an Arabic question for the semantic extra's model:
dialect words as the standard word, spelled as the lexicon writes it («ابي» -> «أريد»).

`Lexicon.load` adds a KB owner's own file (`[faq] lexicon`, same format) to the
shipped one, `implies` included.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from faq.colloquial import standardise
from faq.morphology import arabic_variants, english_stem, persian_variants
from faq.normalise import normalise, tokenise
from faq.yaml_files import parse_yaml, shipped_yaml

LANGUAGES = ("en", "fa", "ar")
CONCEPT_PREFIX = "~"
_MAX_GAP = 1  # other words allowed between two words of a phrase
_MIN_COMPOUND_PART = 2  # letters in each half of a split Persian compound
_SECTIONS = ("function_words", "concepts", "words")
_IMPLIES = "implies"  # concept -> the concepts an entry using it accounts for
# The function-word group of dialect particles that carry no topic (possessives,
# "still", "but"): dropped from the text the embedding reads.
_NO_TOPIC_GROUP = "particle"
# An Arabic word as typed: letters with their harakat and tatweel (not Arabic digits or
# punctuation such as ، ؟ ؛).
_ARABIC_WORD = re.compile("[\u0621-\u065f\u0670-\u06d3]+")
_ARABIC_MARKS = frozenset(
    [chr(c) for c in range(0x064B, 0x0660)] + ["\u0670", "\u0640"]
)  # harakat, superscript alef, tatweel: what `normalise` drops inside a word


class LexiconError(ValueError):
    """A lexicon file that cannot be used; the message names the file and the problem."""


@functools.lru_cache(maxsize=1 << 14)
def _english_variants(token: str) -> tuple[str, ...]:
    return (english_stem(token, drop_silent_e=True),)


_VARIANTS: Mapping[str, Callable[[str], Sequence[str]]] = {
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

    __slots__ = (
        "_by_first",
        "_compound_parts",
        "_listed",
        "_spelled",
        "_standard",
        "concept_words",
        "concepts",
        "function_words",
        "implied",
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        """Build from the parsed YAML (`function_words`, `concepts`, `words` and `implies`
        sections).

        Raises:
            LexiconError: a section has the wrong shape, or `implies` names a concept the
                lexicon does not have.
        """
        self._by_first: dict[str, dict[str, list[_Phrase]]] = {lang: {} for lang in LANGUAGES}
        self._standard: dict[str, dict[str, list[str]]] = {lang: {} for lang in LANGUAGES}
        # Arabic one-word forms -> the standard word as written (with its hamza and
        # letters), for the text the embedding reads (`embedding_text`).
        self._spelled: dict[str, str] = {}
        concepts: set[str] = set()
        function_words: set[str] = set()
        concept_words: dict[str, set[str]] = {}
        for name, forms_by_lang in _groups(data, "words"):
            standard = tokenise(normalise(name))
            for lang, forms in forms_by_lang.items():
                for form in forms:
                    for key in prepare(str(form), lang)[:1]:
                        self._standard[lang][_key(key, lang)] = standard
                        if lang == "ar":
                            self._spelled[key] = name
        for name, forms_by_lang in _groups(data, "function_words"):
            # a question word's dialect forms are written as its first (standard) form
            arabic = forms_by_lang.get("ar", [])
            written = "" if name == _NO_TOPIC_GROUP or not arabic else arabic[0]
            for form in arabic:
                words = prepare(form, "ar")
                if len(words) == 1 and form != written:
                    self._spelled.setdefault(words[0], written)
        self._compound_parts: frozenset[str] = frozenset()  # none while reading the forms
        sections = (("function_words", ""), ("concepts", CONCEPT_PREFIX))
        # One-word forms of a concept or question word, as written: a dialect word found
        # inside one of them by stripping its clitics does not replace it (Egyptian
        # «بكام», "for how much", is a price; «كام» alone is only «كم», "how much").
        self._listed: dict[str, frozenset[str]] = {
            lang: frozenset(
                words[0]
                for section, _ in sections
                for _, forms_by_lang in _groups(data, section)
                for form in forms_by_lang.get(lang, ())
                if len(words := prepare(str(form), lang)) == 1
            )
            for lang in LANGUAGES
        }
        for section, prefix in sections:
            for name, forms_by_lang in _groups(data, section):
                token = prefix + str(name)
                (concepts if prefix else function_words).add(token)
                for lang, forms in forms_by_lang.items():
                    for form in forms:
                        words = self._expand(prepare(str(form), lang), lang)
                        keys = tuple(_key(t, lang) for t in words)
                        if prefix and len(words) == 1:
                            concept_words.setdefault(token, set()).add(words[0])
                        if keys:
                            self._by_first[lang].setdefault(keys[0], []).append(
                                _Phrase(keys, token)
                            )
        for table in self._by_first.values():
            for phrases in table.values():
                phrases.sort(key=lambda p: len(p.keys), reverse=True)
        # Persian words of the lexicon's phrases: the halves a glued compound may split into.
        self._compound_parts = frozenset(
            key
            for phrases in self._by_first["fa"].values()
            for phrase in phrases
            for key in phrase.keys
            if len(key) >= _MIN_COMPOUND_PART
        )
        self.concepts = frozenset(concepts)
        # concept token -> its one-word forms as the lexicon reads them («تخفیف» for
        # "~discount"): what a misspelt concept word is compared with (`faq.coverage`)
        self.concept_words: Mapping[str, frozenset[str]] = {
            token: frozenset(words) for token, words in concept_words.items()
        }
        self.function_words = frozenset(function_words)  # to be damped like stopwords
        # concept token -> the concept tokens an FAQ entry that uses it accounts for in a
        # question (`faq.coverage`): a repair entry accounts for "broken"
        self.implied: Mapping[str, frozenset[str]] = _implied(data, self.concepts)

    @classmethod
    def default(cls) -> Lexicon:
        """The lexicon shipped with Pasokh (`faq/lexicon.yaml`)."""
        return cls(_shipped())

    @classmethod
    def load(cls, path: Path | None) -> Lexicon:
        """The shipped lexicon plus a KB owner's file of the same format (if `path`).

        The file's groups add forms to the shipped groups of the same name, or new groups.

        Raises:
            LexiconError: the file cannot be read, is not YAML, or has the wrong shape.
        """
        data = _shipped()
        if path is None:
            return cls(data)
        try:
            extra = parse_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise LexiconError(f"lexicon {path}: cannot read it ({exc})") from None
        except yaml.YAMLError as exc:
            raise LexiconError(f"lexicon {path}: not valid YAML ({exc})") from None
        try:
            return cls(_merge(data, extra))
        except (LexiconError, ValueError, TypeError, AttributeError) as exc:
            raise LexiconError(f"lexicon {path}: {exc}") from None

    def _expand(self, tokens: Sequence[str], language: str) -> list[str]:
        """Dialect words to their standard word; glued Persian compounds split."""
        standard = self._standard[language]
        variants = _VARIANTS[language]
        out: list[str] = []
        for token in tokens:
            if token.isascii():
                out.append(token)
                continue
            found = standard.get(token)
            if found is None and token not in self._listed[language]:
                found = next((standard[v] for v in variants(token) if v in standard), None)
            if found is not None:
                out.extend(found)
            elif language == "fa":
                out.extend(self._split_compound(token))
            else:
                out.append(token)
        return out

    def _split_compound(self, token: str) -> list[str]:
        """«رمزعبورمو» -> «رمز» «عبورمو» when the word is no lexicon word itself and both
        halves are (the second with its enclitics)."""
        parts = self._compound_parts
        if any(v in parts for v in persian_variants(token)):
            return [token]
        for cut in range(len(token) - _MIN_COMPOUND_PART, _MIN_COMPOUND_PART - 1, -1):
            head, tail = token[:cut], token[cut:]
            if head in parts and any(v in parts for v in persian_variants(tail)):
                return [head, tail]
        return [token]

    def embedding_text(self, text: str, language: str | None) -> str:
        """An Arabic question as typed, with its dialect words written as the standard
        word (`words`), its dialect question words as the group's first form («وش» ->
        «ماذا», «وين» -> «أين») and its dialect particles («للحين», «حقي», «بس») left
        out; every other character stays as typed. A word found with clitics keeps
        them («وابي» -> «وأريد»). Other languages come back unchanged.

        For the semantic extra: a multilingual embedding model has read far more MSA
        than Gulf Arabic, and reads the standard word better than the dialect one; it
        reads the spelling as typed (hamza, ي, ك) better than the matcher's
        normalised letters, so only the words change.
        """
        if language != "ar" or not self._spelled:
            return text
        replaced = _ARABIC_WORD.sub(self._spell_standard, text)
        return " ".join(replaced.split()) if replaced != text else text

    def _spell_standard(self, found: re.Match[str]) -> str:
        typed = found.group(0)
        token = normalise(typed)
        spelled = self._spelled
        if token in spelled:
            return spelled[token]
        if token in self._listed["ar"]:
            return typed  # a concept's own form: not read through a shorter word
        for variant in arabic_variants(token)[1:]:
            if variant not in spelled:
                continue
            standard = spelled[variant]
            bare = "".join(ch for ch in typed if ch not in _ARABIC_MARKS)
            start = token.find(variant)
            if not standard or len(bare) != len(token) or start < 0:
                return standard
            # the clitics as typed around the standard word as written («كرتي» ->
            # «بطاقةي»: the model still reads the word and the clitic; respelling the
            # joint «بطاقتي» measured 0.4 points worse on the tuning questions)
            return bare[:start] + standard + bare[start + len(variant) :]
        return typed

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
        if not table or language is None:
            return list(tokens)
        tokens = self._expand(tokens, language)
        variants = _VARIANTS[language]
        # Latin words in a Persian or Arabic message are English ("refund من ...").
        keys = [
            _english_variants(t) if language != "en" and _is_latin_word(t) else variants(t)
            for t in tokens
        ]
        out: list[str] = []
        used: set[int] = set()
        for i in range(len(tokens)):
            if i in used:
                continue
            latin = language != "en" and _is_latin_word(tokens[i])
            match = self._match_at(i, keys, self._by_first["en"] if latin else table, used)
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


def concept_words(name: str) -> frozenset[str]:
    """The one-word forms of a shipped concept in every language, normalised (for rules
    outside matching that need the same vocabulary, such as `faq.triage`)."""
    return Lexicon.default().concept_words.get(CONCEPT_PREFIX + name, frozenset())


def _implied(data: Mapping[str, Any], concepts: frozenset[str]) -> dict[str, frozenset[str]]:
    """The `implies` section as concept tokens, checked against the lexicon's concepts."""
    section = data.get(_IMPLIES) or {}
    if not isinstance(section, Mapping):
        raise LexiconError(f"{_IMPLIES!r} must map a concept to a list of concepts")
    implied: dict[str, frozenset[str]] = {}
    for name, others in section.items():
        if not isinstance(others, list) or not all(isinstance(o, str) for o in others):
            raise LexiconError(f"{_IMPLIES}.{name} must be a list of concepts")
        tokens = {CONCEPT_PREFIX + str(c) for c in (name, *others)}
        if not tokens <= concepts:
            unknown = ", ".join(sorted(t.removeprefix(CONCEPT_PREFIX) for t in tokens - concepts))
            raise LexiconError(f"{_IMPLIES}.{name} names concepts the lexicon lacks: {unknown}")
        implied[CONCEPT_PREFIX + str(name)] = frozenset(CONCEPT_PREFIX + o for o in others)
    return implied


def _is_latin_word(token: str) -> bool:
    return token.isascii() and token.isalpha()


def _shipped() -> Mapping[str, Any]:
    data: Mapping[str, Any] = shipped_yaml("lexicon.yaml")
    return data


def _groups(data: Mapping[str, Any], section: str) -> list[tuple[str, dict[str, list[str]]]]:
    """The groups of one section as (name, {language: forms}), checked."""
    groups = data.get(section) or {}
    if not isinstance(groups, Mapping):
        raise LexiconError(f"{section!r} must be a mapping of group names")
    out = []
    for name, forms_by_lang in groups.items():
        forms_by_lang = forms_by_lang or {}
        if not isinstance(forms_by_lang, Mapping):
            raise LexiconError(f"{section}.{name} must map languages to lists of forms")
        for lang, forms in forms_by_lang.items():
            if lang not in LANGUAGES:
                raise LexiconError(f"lexicon: unknown language {lang!r} in {name!r}")
            if not isinstance(forms, list) or not all(isinstance(f, str) for f in forms):
                raise LexiconError(f"{section}.{name}.{lang} must be a list of strings")
        out.append((str(name), {str(k): list(v) for k, v in forms_by_lang.items()}))
    return out


def _merge(base: Mapping[str, Any], extra: Any) -> dict[str, Any]:
    """`base` with the groups of `extra` added (forms of a group already in `base` join it)."""
    if not isinstance(extra, Mapping):
        raise LexiconError(
            "the file must be a mapping with 'concepts', 'function_words' or 'words'"
        )
    known = (*_SECTIONS, _IMPLIES)
    unknown = set(extra) - set(known)
    if unknown:
        raise LexiconError(f"unknown sections {sorted(unknown)} (known: {', '.join(known)})")
    merged: dict[str, Any] = {section: dict(base.get(section) or {}) for section in _SECTIONS}
    merged[_IMPLIES] = _merged_implies(base.get(_IMPLIES) or {}, extra.get(_IMPLIES) or {})
    for section in _SECTIONS:
        for name, forms_by_lang in _groups(extra, section):
            current = {k: list(v) for k, v in (merged[section].get(name) or {}).items()}
            for lang, forms in forms_by_lang.items():
                current.setdefault(lang, []).extend(forms)
            merged[section][name] = current
    return merged


def _merged_implies(base: Mapping[str, Any], extra: Any) -> Any:
    """The shipped `implies` with the owner's added: a concept listed in both implies
    the concepts of both lists. Anything of the wrong shape is kept as it is, for
    `_implied` to refuse with the one message for it."""
    if not isinstance(extra, Mapping):
        return extra
    merged: dict[str, Any] = {str(name): list(others) for name, others in base.items()}
    for name, others in extra.items():
        shipped = merged.get(str(name), [])
        merged[str(name)] = [*shipped, *others] if isinstance(others, list) else others
    return merged
