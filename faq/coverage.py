"""How much of a question an FAQ entry explains, and the entry's own "not this" list.

A high match score says the best entry leads the others; it does not say the entry
answers the question. «ساعت کاری بانک ملت تا کیه؟» shares "working hours" with the
shop's opening hours and nothing else: "Bank Mellat" is explained by nothing in that
entry. This module looks at the question's content words (after the matcher's
language layers; function words and the light words below left out) and finds, for
each, the best match anywhere in the entry — its phrasings in every language (the
matcher's per-word coverage), its answers and its tags. Words nothing matches are
*unexplained*; the decision (`faq.decide`) refuses to answer with an entry that
leaves too much of the question unexplained, and any word the whole KB does not know
(*foreign*). A place (`faq/places.yaml`) is never foreign; a misspelt word of a
concept the entry uses («تخقیفم») is explained by it. The kind of goods a question
names is light, and so is its brand or model beside it ("the Hisense fridge",
«ثلاجة سامسونج»): which appliance a question is about does not change the entry that
answers it, while a brand alone (another company's service) stays foreign. A name of
another organisation or its service (`faq/organisations.yaml`: «بانک ملت», «همراه
اول», "Apple ID") that the KB itself never names is reported apart: such a question
asks that organisation, whatever words of it the entry explains.

An entry may also list negative phrasings (`not:` in the KB, `FaqEntry.negatives`):
questions that look like it but that it does not answer ("bank card PIN" for a
password reset). A question that contains one of them is not answered with that entry.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from faq.finglish import to_persian
from faq.lexicon import CONCEPT_PREFIX, LANGUAGES
from faq.light_words import (
    BANK_NAMES,
    BANK_WORDS,
    BENEFICIARIES,
    FOR_WORDS,
    GOODS,
    LIGHT_WORDS,
    ORGANISATIONS,
    PLACES,
)
from faq.matcher import STOPWORDS, Matcher, MatchResult, WordCoverage
from faq.morphology import (
    arabic_stem,
    arabic_variants,
    english_stem,
    persian_light_verb,
    persian_variants,
    without_silent_e,
)

# Two word forms are the same word at this rapidfuzz `ratio` (the matcher's own cut-off);
# forms shorter than this many characters must be equal ("car" is not "card").
_MIN_FUZZY_LENGTH = 4
# A negative phrasing vetoes an entry when this IDF share of its content words is in
# the question.
NEGATIVE_SHARE = 0.8
# A word the lexicon did not read as one of its concept words is taken for a
# misspelling of one («تخقیفم» for «تخفیفم») only from this length (shorter words are
# too close to too many: "bank", "back"), within one edit (two from
# `_TWO_TYPOS_LENGTH` letters), and with the same first letter: a brand one letter
# from a concept word differs at the start ("gmail"/"email", «جيميل»/«ايميل»).
_MIN_TYPO_LENGTH = 5
_TWO_TYPOS_LENGTH = 8
# A word whose Persian enclitics leave a light word of at least this many letters is
# light too.
_MIN_PERSIAN_LIGHT_STEM = 4
# Arabic one-letter proclitics ("and", "so", "with", "to") before a listed word of at
# least this many letters.
_ONE_LETTER_PROCLITICS = frozenset("وفبل")
_MIN_PROCLITIC_STEM = 4


_Key = TypeVar("_Key", str, tuple[int, str])


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a question the top entry explains.

    `explained_share` is the IDF-weighted share of the question's content words the
    entry matches (1.0 when the question has none); `unexplained` lists the content
    words nothing in the entry matches; `negative` is the entry's `not:` phrasing the
    question contains, if any.
    """

    entry_id: str
    explained_share: float
    unexplained: tuple[str, ...]
    negative: str | None = None
    # the unexplained words nothing in the whole KB matches either (a bank, an egg)
    foreign: tuple[str, ...] = ()
    # how many content words the question has, and those the entry's phrasings match
    # only by a near spelling («ایران» for «ارزان»)
    content_words: int = 0
    near: tuple[str, ...] = ()
    # names of other organisations or their services the question contains and the KB
    # never names (`faq/organisations.yaml`), as listed there
    organisations: tuple[str, ...] = ()

    @property
    def vetoed(self) -> bool:
        """Whether the question is not answered with this entry whatever else holds: it
        contains a `not:` phrasing of the entry, or names another organisation."""
        return self.negative is not None or bool(self.organisations)

    def explains(self, max_unexplained: int, max_foreign: int) -> bool:
        """Whether the entry explains enough of the question to answer it: at most
        `max_unexplained` content words unexplained, of them at most `max_foreign`
        unknown to the whole KB, no `not:` phrasing of the entry and no other
        organisation's name in the question."""
        return (
            not self.vetoed
            and len(self.unexplained) <= max_unexplained
            and len(self.foreign) <= max_foreign
        )

    def complete(self, min_words: int) -> bool:
        """Whether the entry explains every content word of the question, each by the
        same word or concept (not a near spelling), and there are at least `min_words`
        of them: a question this well explained may be answered at a lower confidence
        (`faq.decide`)."""
        return self.explains(0, 0) and not self.near and self.content_words >= min_words


@dataclass(frozen=True, slots=True)
class _EntryExtras:
    """Per entry: word forms of its answers and tags, and its analysed `not:` phrasings;
    for the whole KB, the forms of its words and the forms a function word takes."""

    answer_forms: tuple[tuple[str, ...], ...]
    # per entry: the one-word forms of the lexicon's concepts the entry uses
    # (by first letter: a misspelling keeps its first letter, `_misspelt`)
    concept_forms: tuple[Mapping[str, tuple[str, ...]], ...]
    # per entry: (content stems, phrasing as written) of each `not:` phrasing
    negatives: tuple[tuple[tuple[tuple[str, ...], str], ...], ...]
    kb_forms: frozenset[str]  # every word form of the KB: phrasings, answers, tags
    kb_form_list: tuple[str, ...]  # the forms compared fuzzily: all but numbers
    # the one-word forms of every concept the KB uses, by first letter
    kb_concept_forms: Mapping[str, tuple[str, ...]]
    # per entry: the concepts its subject accounts for in a question (the `implies` of
    # the matcher's lexicon for the concepts it uses: a repair entry accounts for "broken")
    implied: tuple[frozenset[str], ...]
    # function and light words as the matcher's language layers write them
    function_forms: frozenset[str]
    # places (never foreign to the KB) as the matcher's language layers write them
    place_forms: frozenset[str]
    # the kinds of goods a shop sells (light words) as the language layers write them
    goods_forms: frozenset[str]
    # family and friends, and the words for "for" that make them a beneficiary
    people_forms: frozenset[str]
    for_forms: frozenset[str]
    # other organisations' names as runs of word forms (by their first form), each with
    # the name as listed; and the names the KB itself uses (never reported)
    organisation_runs: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]]
    kb_organisations: frozenset[str]
    # Facts about a question word that depend on the KB only, filled as questions come
    # (customers repeat their words): whether the KB knows it, whether it is a
    # function or light word, a place, a kind of goods; and by (entry, word) whether the
    # entry's answers, tags or concepts explain it.
    known_words: dict[str, bool] = field(default_factory=dict)
    function_words: dict[str, bool] = field(default_factory=dict)
    place_words: dict[str, bool] = field(default_factory=dict)
    goods_words: dict[str, bool] = field(default_factory=dict)
    answered_words: dict[tuple[int, str], bool] = field(default_factory=dict)


_EXTRAS: weakref.WeakKeyDictionary[Matcher, _EntryExtras] = weakref.WeakKeyDictionary()


def _layer_forms(matcher: Matcher, words: AbstractSet[str]) -> set[str]:
    """`words` and every form they take after the matcher's language layers.

    The question's words are compared after spoken Persian is standardised, dialect
    words are replaced by their standard word and question words by their group's name
    («چنده» -> «چند» «است» -> "how_much", Levantine «قديش» -> «كم» -> "how_much",
    «مش» -> «لا»): a word list is put through the same layers, word by word in each
    language, so that a spoken or dialect form is in the list when its standard one is.
    """
    forms = set(words)
    for word in sorted(words):
        for language in LANGUAGES:
            forms.update(
                english_stem(w)
                for w in matcher.words(word, language)
                if not w.startswith(CONCEPT_PREFIX)
            )
    return forms


def _function_forms(matcher: Matcher) -> frozenset[str]:
    """Every form a function or light word takes after the matcher's language layers."""
    return frozenset(_layer_forms(matcher, STOPWORDS | LIGHT_WORDS) | matcher.function_words)


def _in_list(word: str, forms: frozenset[str]) -> bool:
    """Whether `word` is in a word list (`forms`), also with its clitics («عندکم» is
    «عند» "at" with "your"; «بتاعکم» is «بتاع» with "your"; «لدبي» is «دبي»)."""
    if word in forms:
        return True
    if word.isascii() or word.startswith(CONCEPT_PREFIX):
        return False
    if arabic_stem(word) in forms:
        return True
    # an Arabic preposition or conjunction of one letter glued on («لطرابلس», "to
    # Tripoli"), only before a word this long (a short one is too often a word itself)
    if word[0] in _ONE_LETTER_PROCLITICS and len(word) > _MIN_PROCLITIC_STEM and word[1:] in forms:
        return True
    # Persian enclitics only on a stem this long: stripping is too loose on short ones
    # («بسته», "parcel", would read as «بس», "just"; «ماکروفرم» is «ماکروفر» + «م»).
    return any(
        len(stem) >= _MIN_PERSIAN_LIGHT_STEM and stem in forms
        for stem in persian_variants(word)[1:]
    )


# The lexicon's concept of the shop's own goods («یخچالم», "my phone", «جوالي»).
PRODUCT = CONCEPT_PREFIX + "product"
# Buying one of the shop's kinds of goods is the setting of a question («یخچال خریدم،
# نصبش با شماست؟», "I bought a kettle, can I return it?"), not what it asks: the words
# beside it say that. Buying anything else («اشتريت سيارة», "a bus ticket") stays content.
_BUY = CONCEPT_PREFIX + "buy"


# A model number or a code typed by the customer: letters then digits ("v15", "a54",
# "welcome10") or digits with a unit of one or two letters ("4k", "5g"). Arabizi writes
# letters with digits inside words ("a3mel", "3enwan"): those are words, not codes.
_CODE = re.compile(r"[a-z]+[0-9]+|[0-9]+[a-z]{1,2}")


def _is_code(word: str) -> bool:
    """Whether `word` is a model number or a code, which no KB lists and which names
    no subject."""
    return _CODE.fullmatch(word) is not None


def _is_function(word: str, function_forms: frozenset[str]) -> bool:
    """Whether `word` is a function or light word (a number, a model number or code,
    a Persian generic verb, and the kind of goods a question names are light too)."""
    return (
        word.isdigit()
        or word == PRODUCT
        or _is_code(word)
        or _in_list(word, function_forms)
        or (not word.startswith(CONCEPT_PREFIX) and persian_light_verb(word))
    )


def _content(stems: Sequence[str], function_forms: frozenset[str]) -> list[str]:
    return [s for s in stems if not _is_function(s, function_forms)]


def _stems(matcher: Matcher, text: str, language: str | None) -> list[str]:
    return [english_stem(w) for w in matcher.words(text, language)]


# A word this long with a silent final e ("file", "type", "rule") has an inflected
# form whose stem is three letters ("fil"), too short to be compared fuzzily.
_SHORT_STEM_WITH_E = 4


def _with_stems_of_inflections(forms: Iterable[str]) -> set[str]:
    """`forms` and, for an English word with a silent final e, the stem its inflected
    forms get: the stemmer reads "typed" as "typ" and "filed" as "fil" but leaves
    "type" and "file" whole, and a stem of three letters is compared exactly (not
    fuzzily), so without this "I filed it" holds a word foreign to a KB that says "file"."""
    out = set(forms)
    out.update(without_silent_e(f) for f in forms if len(f) == _SHORT_STEM_WITH_E)
    return out


# A name in Latin letters from this many letters is also read as Finglish (shorter
# ones are mostly initials whose Persian letters spell a word: «osn» -> «اسن»).
_MIN_FINGLISH_NAME = 5


def _organisation_runs(
    matcher: Matcher,
) -> dict[str, tuple[tuple[tuple[str, ...], str], ...]]:
    """Every name of `faq/organisations.yaml` as the runs of word forms the matcher's
    language layers make of it (in each language, as `_layer_forms` does for single
    words), by the run's first form; a bank's name beside each word for bank, on
    either side («بانک ملت», "Mellat Bank")."""
    names = [(name, name) for listed in ORGANISATIONS.values() for name in listed]
    for language, bank_words in BANK_WORDS.items():
        for bank in bank_words:
            for name in BANK_NAMES.get(language, ()):
                label = f"{bank} {name}"
                names += [(label, label), (f"{name} {bank}", label)]
    runs: dict[str, set[tuple[tuple[str, ...], str]]] = {}
    for text, label in names:
        # a name in Latin letters is also written so in Finglish, which the matcher
        # reads in Persian script ("hamrah aval")
        spellings = [(text, language) for language in LANGUAGES]
        if text.isascii() and len(text) >= _MIN_FINGLISH_NAME:
            spellings.append((to_persian(text), "fa"))
        for spelling, language in spellings:
            forms = tuple(_stems(matcher, spelling, language))
            if forms:
                runs.setdefault(forms[0], set()).add((forms, label))
    return {first: tuple(sorted(found)) for first, found in runs.items()}


def _readings(word: str) -> frozenset[str]:
    """The forms a question word may be a listed name's word in: as it is, without
    its Persian or Arabic clitics («اینستاگرامم», «بالراجحي», «الفيسبوك»)."""
    if word.isascii():
        return frozenset((word,))
    return frozenset((*_variants(word), *arabic_variants(word)))


def _names_in(
    words: Sequence[str], runs: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]]
) -> list[str]:
    """The listed names (`_organisation_runs`) whose run of word forms `words` contains,
    one for each place, the longest there («مصرف الراجحي», not also «الراجحي»)."""
    readings = [_readings(w) for w in words]
    found: list[str] = []
    i = 0
    while i < len(words):
        longest: tuple[int, str] | None = None
        for reading in sorted(readings[i]):
            for forms, label in runs.get(reading, ()):
                if (
                    i + len(forms) <= len(words)
                    and all(form in readings[i + k] for k, form in enumerate(forms[1:], 1))
                    and (longest is None or len(forms) > longest[0])
                ):
                    longest = (len(forms), label)
        if longest is None:
            i += 1
        else:
            found.append(longest[1])
            i += longest[0]
    return found


def _extras(matcher: Matcher) -> _EntryExtras:
    """Analyse the KB's answers, tags and negative phrasings once per matcher (a KB
    reload builds a new matcher, so the cache never goes stale)."""
    cached = _EXTRAS.get(matcher)
    if cached is not None:
        return cached
    function_forms = _function_forms(matcher)
    answer_forms = []
    concept_forms = []
    negatives = []
    implied = []
    implies = matcher.lexicon.implied if matcher.lexicon is not None else {}
    runs = _organisation_runs(matcher)
    kb_organisations: set[str] = set()  # the names the KB uses itself
    for entry in matcher.kb.entries:
        # the words of each answer, tag and phrasing, in order
        texts = [
            _stems(matcher, answer, lang if lang in LANGUAGES else None)
            for lang, answer in entry.answers.items()
        ]
        texts += [_stems(matcher, tag.replace("-", " "), None) for tag in entry.tags]
        forms: set[str] = set().union(*texts)
        answer_forms.append(tuple(sorted(_with_stems_of_inflections(forms))))
        phrasings = [
            matcher.words(p, lang if lang in LANGUAGES else None)
            for lang, listed in entry.questions.items()
            for p in listed
        ]
        used = forms.union(*phrasings)
        implied.append(frozenset(i for w in used for i in implies.get(w, ())))
        for words in (*texts, *phrasings):
            kb_organisations.update(_names_in(words, runs))
        concept_forms.append(
            tuple(
                sorted(
                    w
                    for concept, words in matcher.concept_words.items()
                    if concept in used
                    for w in words
                    if len(w) >= _MIN_TYPO_LENGTH
                )
            )
        )
        negatives.append(
            tuple(
                (
                    tuple(
                        _content(
                            _stems(matcher, p, lang if lang in LANGUAGES else None), function_forms
                        )
                    ),
                    p,
                )
                for lang, phrasings in entry.negatives.items()
                for p in phrasings
            )
        )
    kb_forms = frozenset(_with_stems_of_inflections(matcher.word_forms)).union(*answer_forms)
    extras = _EntryExtras(
        tuple(answer_forms),
        tuple(_by_first_letter(forms) for forms in concept_forms),
        tuple(negatives),
        kb_forms,
        # numbers compare exactly (an order number is not "close" to another one)
        tuple(sorted(f for f in kb_forms if not f.isdigit())),
        _by_first_letter(sorted(set().union(*concept_forms))),
        tuple(implied),
        function_forms,
        frozenset(_layer_forms(matcher, PLACES)),
        frozenset(_layer_forms(matcher, GOODS)),
        frozenset(_layer_forms(matcher, BENEFICIARIES)),
        frozenset(_layer_forms(matcher, FOR_WORDS)),
        runs,
        frozenset(kb_organisations),
    )
    _EXTRAS[matcher] = extras
    return extras


def prepare(matcher: Matcher) -> None:
    """Analyse the KB's answers, tags and `not:` phrasings now rather than at the first
    question (blocking: call it where the matcher is built, off the event loop)."""
    _extras(matcher)


@functools.lru_cache(maxsize=1 << 14)
def _variants(word: str) -> tuple[str, ...]:
    """The word, and for Persian/Arabic script its forms without clitics («للخارج» ->
    «خارج») and with the adjective ی («اصل» ~ «اصلی»): what the character n-grams
    forgive in matching, forgiven here too."""
    if word.isascii() or word.startswith(CONCEPT_PREFIX):
        return (word,)
    return tuple(dict.fromkeys([word, arabic_stem(word), *persian_variants(word), word + "ی"]))


def _found(
    word: str, forms: Sequence[str], cutoff: float, exact: AbstractSet[str] | None = None
) -> bool:
    """Whether a form of `word` is in `forms`, the same or close enough by rapidfuzz
    `ratio`; `exact` is `forms` as a set, for a large `forms`."""
    if not forms:
        return False
    variants = _variants(word)
    if any(v in (forms if exact is None else exact) for v in variants):
        return True
    fuzzy = [
        v
        for v in variants
        if len(v) >= _MIN_FUZZY_LENGTH and not v.startswith(CONCEPT_PREFIX) and not v.isdigit()
    ]
    if not fuzzy:
        return False
    # one batched call (rapidfuzz scores many short strings at once with SIMD)
    scores = process.cdist(fuzzy, forms, scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.uint8)
    return bool(scores.any())


def _by_first_letter(forms: Iterable[str]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for form in forms:
        grouped.setdefault(form[0], []).append(form)
    return {letter: tuple(group) for letter, group in grouped.items()}


def _misspelt(word: str, forms: Mapping[str, Sequence[str]]) -> bool:
    """Whether `word` (or a form of it without clitics) is a misspelling of one of
    `forms` (grouped by first letter): long enough, same first letter, one or two
    edits away."""
    if not forms or len(word) < _MIN_TYPO_LENGTH or word.startswith(CONCEPT_PREFIX):
        return False
    for variant in _variants(word):
        if len(variant) < _MIN_TYPO_LENGTH:
            continue
        edits = 2 if len(variant) >= _TWO_TYPOS_LENGTH else 1
        close = process.extractOne(
            variant,
            forms.get(variant[0], ()),
            scorer=Levenshtein.distance,
            score_cutoff=edits,
        )
        if close is not None:
            return True
    return False


# How many facts of each kind are remembered per matcher (then forgotten at once).
_KNOWN_CACHE_SIZE = 1 << 14


def _recalled(memo: dict[_Key, bool], key: _Key, work_out: Callable[[], bool]) -> bool:
    """`memo[key]`, worked out and remembered the first time."""
    fact = memo.get(key)
    if fact is None:
        if len(memo) >= _KNOWN_CACHE_SIZE:
            memo.clear()
        fact = memo[key] = work_out()
    return fact


def _known_to_kb(word: str, extras: _EntryExtras, cutoff: float) -> bool:
    """Whether anything in the whole KB matches `word` (a fuzzy scan of every KB word
    form, remembered: the answer depends on the KB only)."""
    return _recalled(
        extras.known_words,
        word,
        lambda: (
            word in extras.kb_forms
            or _found(word, extras.kb_form_list, cutoff, extras.kb_forms)
            or _misspelt(word, extras.kb_concept_forms)
        ),
    )


def _function_word(word: str, extras: _EntryExtras) -> bool:
    """`_is_function` against the KB's function forms, remembered."""
    return _recalled(extras.function_words, word, lambda: _is_function(word, extras.function_forms))


def _place(word: str, extras: _EntryExtras) -> bool:
    """Whether `word` is a place (`faq/places.yaml`), remembered."""
    return _recalled(extras.place_words, word, lambda: _in_list(word, extras.place_forms))


def _goods(word: str, extras: _EntryExtras) -> bool:
    """`_is_goods` against the KB's goods forms, remembered."""
    return _recalled(extras.goods_words, word, lambda: _is_goods(word, extras.goods_forms))


def _answered(word: str, entry_no: int, extras: _EntryExtras, cutoff: float) -> bool:
    """Whether the entry's answers or tags have a form of `word`, or it is a misspelt
    word of a concept the entry uses (which is that concept), remembered."""
    return _recalled(
        extras.answered_words,
        (entry_no, word),
        lambda: (
            _found(word, extras.answer_forms[entry_no], cutoff)
            or _misspelt(word, extras.concept_forms[entry_no])
        ),
    )


def _negative_in(
    question: Sequence[WordCoverage],
    negatives: Sequence[tuple[tuple[str, ...], str]],
    cutoff: float,
) -> str | None:
    words = [w.word for w in question]
    for content, phrasing in negatives:
        if (
            content
            and sum(_found(c, words, cutoff) for c in content) / len(content) >= NEGATIVE_SHARE
        ):
            return phrasing
    return None


# Persian names some appliances with a head noun before the kind of goods: «ماشین
# لباسشویی» ("washing machine"), «ماشین ظرفشویی», «ماشین اصلاح». Alone, «ماشین» is a
# car, a subject the shop does not sell, so it is light only right before a goods word.
_PERSIAN_GOODS_HEADS = frozenset({"ماشین"})


def _is_goods(word: str, goods_forms: frozenset[str]) -> bool:
    return word == PRODUCT or _in_list(word, goods_forms)


def _product_names(
    question: Sequence[WordCoverage], unexplained: Sequence[str], extras: _EntryExtras
) -> set[str]:
    """The unexplained words that name a kind of goods the question names: its
    brand or model, a run of them just before the goods word in English ("the LG
    fridge", "a dyson v15 vacuum") and just after it in Persian and Arabic, where the
    name follows the noun («اسپرسوساز دلونگی», «ثلاجة سامسونج»). A brand alone ("the
    Samsung service centre") is not a product's name and stays foreign, and so does
    the word on the other side ("my phone plan", «شارژ گوشی»): it is another thing."""
    if not unexplained:
        return set()
    words = [w.word for w in question]
    # a word the lexicon reads as a concept ("broken", «خربانة») is never a name
    unknown = {w for w in unexplained if not w.startswith(CONCEPT_PREFIX)}
    names: set[str] = set()
    # Persian or Arabic script anywhere: the name follows («یخچال LG» too)
    step = 1 if any(not w.isascii() for w in words) else -1
    for i, word in enumerate(words):
        if not _goods(word, extras):
            continue
        # the head of a Persian compound name before it («ماشین لباسشویی»)
        if i > 0 and words[i - 1] in _PERSIAN_GOODS_HEADS and words[i - 1] in unexplained:
            names.add(words[i - 1])
        j = i + step
        while 0 <= j < len(words) and (words[j] in unknown or _is_code(words[j])):
            if words[j] in unknown:
                names.add(words[j])
            j += step
    return names


# "for my mum", «برای تولد مامانم»: at most this many words between "for" and the person.
_BENEFICIARY_REACH = 2
_ARABIC_FOR = "ل"  # the preposition glued on: «لأختي», "for my sister"


def _beneficiaries(
    question: Sequence[WordCoverage], unexplained: Sequence[str], extras: _EntryExtras
) -> set[str]:
    """The unexplained words that name whom the customer buys or sends for
    (`faq/beneficiaries.yaml`): a family member or friend just after a word for "for",
    or with the Arabic «ل» glued on. Elsewhere a person may be what the question is
    about ("complain about my brother") and stays content."""
    words = [w.word for w in question]
    found: set[str] = set()
    for i, word in enumerate(words):
        if word not in unexplained:
            continue
        glued = (
            word.startswith(_ARABIC_FOR) and not word.isascii() and word[1:] in extras.people_forms
        )
        after_for = _in_list(word, extras.people_forms) and any(
            w in extras.for_forms for w in words[max(0, i - _BENEFICIARY_REACH) : i]
        )
        if glued or after_for:
            found.add(word)
    return found


def assess(matcher: Matcher, result: MatchResult) -> Coverage | None:
    """How much of the question `result` was matched for its top entry explains.

    Returns:
        None when there is no top candidate.
    """
    best = result.best
    if best is None:
        return None
    entry_no = matcher.entry_number(best.entry_id)
    extras = _extras(matcher)
    cutoff = matcher.config.token_cutoff
    words = [w.word for w in result.explained]
    buying_goods = _BUY in words and any(_goods(w, extras) for w in words)
    content = [
        w
        for w in result.explained
        if not _function_word(w.word, extras) and not (buying_goods and w.word == _BUY)
    ]
    total = sum(w.idf for w in content)
    explained = 0.0
    unexplained = []
    near = [w.word for w in content if 0 < w.matched < 1]
    implied = extras.implied[entry_no]
    for w in content:
        hit = w.matched or float(w.word in implied or _answered(w.word, entry_no, extras, cutoff))
        explained += w.idf * hit
        if hit == 0:
            unexplained.append(w.word)
    # a place is one the KB can ship to, not a subject foreign to it (faq/places.yaml)
    foreign = tuple(
        w for w in unexplained if not _place(w, extras) and not _known_to_kb(w, extras, cutoff)
    )
    names = _product_names(result.explained, unexplained, extras)
    names |= _beneficiaries(result.explained, unexplained, extras)
    if names:
        unexplained = [w for w in unexplained if w not in names]
        foreign = tuple(w for w in foreign if w not in names)
    return Coverage(
        best.entry_id,
        round(explained / total, 4) if total else 1.0,
        tuple(unexplained),
        _negative_in(result.explained, extras.negatives[entry_no], cutoff),
        foreign,
        len(content),
        tuple(near),
        tuple(
            name
            for name in _names_in([w.word for w in result.explained], extras.organisation_runs)
            if name not in extras.kb_organisations
        ),
    )
