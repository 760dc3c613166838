"""The FAQ matcher: ranks KB entries for a question and says how sure it is.

Before scoring, each KB phrasing and each question goes through the language layers
of its language (a phrasing's is its key in the KB, a question's is detected):
spoken Persian to written forms (`faq.colloquial`), customer-service concepts and
question words of `faq/lexicon.yaml` in place of their words (`faq.lexicon`), and
for Arabic a second word feature per word without its clitics (`faq.morphology`).

Stage 1 scores every entry from indexes built at load time:
- word TF-IDF cosine (IDF makes "order" outweigh "my"; function words damped),
- character n-gram TF-IDF cosine inside words (survives colloquial endings, typos,
  clitics: «سفارشمو» still shares most n-grams with «سفارشم»),
each against every phrasing (best and second-best per entry) and against the entry's
centroid (all its phrasings together).
Stage 2 re-scores the best few entries with rapidfuzz: IDF-weighted token coverage in
both directions (each token matched by `ratio`, one vectorised `cdist` per question),
coverage of the entry's whole vocabulary, and `token_set_ratio` with its closest
phrasing. The shortlist is ranked by that score plus the contrast signal: each
entry's naive Bayes probability over the same word and character features, learnt
from the KB's own phrasings (`faq.index.ContrastIndex`: what tells its entries apart).
The confidence in [0, 1] is a logistic model over the top candidate's lexical signals
and its margin over the best other candidate (`CONFIDENCE_FEATURES`), without the
contrast: it reorders entries, it does not make the matcher surer.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from faq import index_cache
from faq.colloquial import standardise
from faq.finglish import persian_script
from faq.index import (
    AlignPack,
    ContrastIndex,
    FeatureCountsBuilder,
    FloatArray,
    IndexQuery,
    JointIndex,
    JointScores,
    JointSpace,
    TfIdfIndex,
    merge_documents,
)
from faq.index import AlignSide as _AlignSide
from faq.kb import KnowledgeBase
from faq.language import detect_language
from faq.lexicon import LANGUAGES, Lexicon
from faq.morphology import arabic_stem, english_stem
from faq.normalise import normalise, tokenise

# Function words in normalised form (en, fa, ar). In a small KB any word can be rare,
# so IDF alone would let "whats" or «هل» decide a match; these get a fixed small weight.
STOPWORDS = frozenset(
    normalise(
        "a an the i im me my mine you your yours we our us is are was were be been being do does "
        "did doing to of in on for at by with from and or it its this that these those what whats "
        "how when where wheres which who why can could will would should shall may might have has "
        "had am not there theres get got so if then than just any some please also too "
        "و در به از که را رو با این آن اون است هست هستش برای من تو شما ما یک یه چه چی چطور چطوری "
        "کجا کجاست کی آیا هم یا تا بر ها مال میشه می نمی ام ای دارید دارین "
        "فی من الی علی عن مع هل ما ماذا کیف این متی لماذا هو هی انا انت انتم نحن هذا هذه ذلک "
        "التی الذی او ان ای کم لی لدی لدیکم عند قد یا"
    ).split()
)


CONFIDENCE_FEATURES = (
    "score",  # the top candidate's final score
    "margin",  # its lead over the runner-up
    "second",  # the runner-up's score
    "stage1",  # TF-IDF word/char cosine blend (best phrasing + centroid)
    "query_coverage",  # IDF share of the question found in the best phrasing
    "phrasing_coverage",  # IDF share of the best phrasing found in the question
    "entry_coverage",  # IDF share of the question found anywhere in the entry
    "fuzz",  # rapidfuzz token_set_ratio with the best phrasing
)


@dataclass(frozen=True, slots=True)
class MatcherConfig:
    """Weights of the signals and of the confidence.

    The defaults were chosen by a small random search on tuning data only (dev.jsonl,
    BANKING77/ArBanking77 training phrasings beyond the KB's ten per intent, CLINC150
    validation); the confidence weights are fitted by `bench/faq_calibrate.py`.
    """

    char_ngram_min: int = 2
    char_ngram_max: int = 4
    word_weight: float = 0.55  # stage 1: word TF-IDF vs character n-gram TF-IDF
    char_weight: float = 0.45
    # Questions in Arabic script lean more on character n-grams (richer morphology).
    arabic_script_word_weight: float = 0.35
    centroid_weight: float = 0.5  # entry centroid vs its best phrasings
    second_weight: float = 0.3  # weight of an entry's second-best phrasing in its score
    entry_idf: bool = True  # document frequency counted over entries, not phrasings
    stopword_weight: float = 0.4  # IDF multiplier for function words
    shortlist: int = 10  # entries re-scored in stage 2
    # Stage 1 skips query features (n-grams, words) found in more documents than this:
    # they weigh least and cost most; a KB this small or smaller is scored exactly.
    max_postings: int = 1000
    # stage 2: final = stage1 + qcov*query coverage + pcov*phrasing coverage
    #                  + bag*entry coverage + fuzz*token_set_ratio
    w_stage1: float = 1.0
    w_qcov: float = 0.2
    w_pcov: float = 0.1
    w_bag: float = 0.3
    w_fuzz: float = 0.2
    w_contrast: float = 0.1  # x the entry's contrast probability (below)
    token_cutoff: float = 75.0  # rapidfuzz ratio for two tokens to count as the same word
    # spoken Persian standardised (faq.colloquial) and concepts of faq/lexicon.yaml
    # put in place of their words (faq.lexicon)
    colloquial: bool = True
    lexicon: bool = True
    keep_concept_words: bool = False  # add concept tokens beside their words
    arabic_stems: bool = True  # Arabic words also count by their clitic-free stem
    # The contrast signal (`faq.index.ContrastIndex`): each entry's naive Bayes
    # probability given the question's word and character features, learnt from the
    # KB's own phrasings (what tells its entries apart); stage 2 adds w_contrast x it
    # to the score entries are ranked by, not to the confidence's features.
    contrast_alpha: float = 0.1  # additive smoothing of the feature counts
    contrast_char_weight: float = 0.3  # character vs word log-likelihood
    contrast_temperature: float = 2.0  # log-likelihoods are divided by it
    # confidence = sigmoid(bias + weights . CONFIDENCE_FEATURES of the top candidate)
    confidence_weights: tuple[float, ...] = (
        4.142,
        6.735,
        -2.594,
        3.464,
        -3.909,
        -0.499,
        3.316,
        2.574,
    )
    confidence_bias: float = -5.095


@dataclass(frozen=True, slots=True)
class Candidate:
    """One KB entry proposed for a question."""

    entry_id: str
    score: float
    question: str  # the entry's phrasing closest to the question


@dataclass(frozen=True, slots=True)
class WordCoverage:
    """One word of the question (after the language layers) and the best match for it
    anywhere in an entry's phrasings: 1.0 the same form, 0 nothing close enough."""

    word: str
    idf: float
    matched: float


class _QueryWord(NamedTuple):
    """A question word as stage 2 reads it (see `Matcher._read_words`)."""

    stem: str
    form: str  # without the Arabic article
    form_id: int  # in the KB's forms, -1 if none
    idf: float  # of the stem, in the word index
    rounded_idf: float  # as `WordCoverage` reports it
    # its `WordCoverage` unmatched and matched as it is, made once for a word the table
    # keeps (most words of a question are one or the other)
    unmatched: WordCoverage | None = None
    matched: WordCoverage | None = None

    def coverage(self, hit: float) -> WordCoverage:
        """The word with its best match `hit` in an entry."""
        if hit == 0.0 and self.unmatched is not None:
            return self.unmatched
        if hit == 1.0 and self.matched is not None:
            return self.matched
        return WordCoverage(self.stem, self.rounded_idf, round(hit, 4))


class _ReadQuestion(NamedTuple):
    """A question through the language layers (`Matcher._read_question`)."""

    normalised: str
    word_tokens: list[str]
    rows: list[_QueryWord]
    words: IndexQuery  # its stage-1 word query ...
    chars: IndexQuery  # ... and character query


class _Shortlist(NamedTuple):
    """A question's stage 1 as stage 2 reads it (`Matcher._shortlisted`)."""

    entries: list[int]  # the shortlisted entries
    closest: list[int]  # each one's phrasing closest to the question
    stage1: list[float]  # each one's stage-1 score
    contrasts: list[float] | None  # each one's contrast probability (None: off)
    sides: npt.NDArray[np.int64]  # the closest phrasings, then the entries' bags


class _Coverages(NamedTuple):
    """A question's word alignment with its sides (`Matcher._coverages`)."""

    query: npt.NDArray[np.float64]  # the share of the question found in each side
    side: npt.NDArray[np.float64]  # the share of each side's IDF mass covered
    per_word: npt.NDArray[np.float32]  # each word's best match in each side


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Ranked candidates (best first) and the confidence that the first one is right."""

    normalised: str
    candidates: tuple[Candidate, ...]
    confidence: float
    elapsed_us: float
    features: tuple[float, ...] = ()  # CONFIDENCE_FEATURES of the top candidate
    # the question's words and how well the top candidate's entry explains each one
    explained: tuple[WordCoverage, ...] = ()

    @property
    def best(self) -> Candidate | None:
        """The top candidate, if any."""
        return self.candidates[0] if self.candidates else None


_STEM_MARK = "="  # prefix of the Arabic stem features (never a token: "=" is punctuation)


def _stem(token: str) -> str:
    """A light stem: English irregular verbs and plural/verb endings. Persian and Arabic
    morphology is left to the character n-grams and the lexicon's look-ups (stripping
    the Arabic article from word features measured worse on ArBanking77)."""
    return english_stem(token)


# The Arabic article with its proclitics (و ف ب ک ل), after normalisation.
_ARABIC_ARTICLES = ("وال", "فال", "بال", "کال", "لل", "ال")


def _align_form(stem: str) -> str:
    """The form compared token by token: without the Arabic article, so «المتجر» ~ «متجرکم»."""
    if not stem.isascii():
        for article in _ARABIC_ARTICLES:
            if stem.startswith(article) and len(stem) - len(article) >= 3:
                return stem[len(article) :]
    return stem


def _in_script(text: str, language: str | None) -> str:
    """Persian typed in Latin letters (Finglish) in Persian script; other text as it is."""
    return persian_script(text) if language == "fa" else text


@functools.lru_cache(maxsize=1 << 16)
def _token_ngrams(token: str, low: int, high: int) -> tuple[str, ...]:
    padded = f" {token} "
    return tuple(
        padded[i : i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1)
    )


def char_features(tokens: Sequence[str], low: int, high: int) -> Counter[str]:
    """Character n-grams of each token padded with spaces (n in [low, high])."""
    # memoised per token (KBs and questions repeat their words), counted in one pass
    return Counter(itertools.chain.from_iterable(_token_ngrams(t, low, high) for t in tokens))


def _pack_align(
    stem_lists: Sequence[Sequence[str]], form_ids: dict[str, int], words: TfIdfIndex
) -> AlignPack:
    """Stage-2 sides of many texts: article-free forms numbered in `form_ids` (new forms
    are added) and each stem's word IDF."""
    forms: dict[str, str] = {}  # stem -> its form, computed once per distinct stem
    ids: list[int] = []
    weights: list[float] = []
    bounds = [0]
    for stems in stem_lists:
        for stem in stems:
            form = forms.get(stem)
            if form is None:
                form = forms[stem] = _align_form(stem)
            ids.append(form_ids.setdefault(form, len(form_ids)))
        weights.extend(words.idf(stem) for stem in stems)
        bounds.append(len(ids))
    return AlignPack(
        np.array(ids, dtype=np.int64),
        np.array(weights, dtype=np.float64),
        np.array(bounds, dtype=np.int64),
    )


def _unique_with_inverse(
    values: npt.NDArray[np.int64], bound: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """`np.unique(values, return_inverse=True)` for a 1-D array of form ids in
    [-1, bound) (-1: unknown), without its general-case overhead (a fifth of the
    per-word coverage's time on a small KB)."""
    if values.size * _MARK_OVER_SORT >= bound:
        # Few forms for the ids: mark them in a table of `bound` + 1 slots, no sort.
        shifted = values + 1
        seen = np.zeros(bound + 1, dtype=bool)
        seen[shifted] = True
        present = np.flatnonzero(seen)
        slot = np.empty(bound + 1, dtype=np.intp)
        slot[present] = np.arange(present.size)
        return present - 1, slot[shifted]
    if values.size == 0:
        return values, np.zeros(0, dtype=np.intp)
    order = values.argsort(kind="stable")
    ordered = values[order]
    first = np.empty(ordered.size, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(ordered.size, dtype=np.intp)
    inverse[order] = first.cumsum() - 1
    return ordered[first], inverse


def _exact_only(form: str) -> bool:
    """Whether a word counts only as itself in stage 2: short words and numbers ("car" ~
    "card" is not a match, nor is order 458218 order 458219)."""
    return len(form) < 4 or form.isdigit()


# Question tokens whose character n-grams a matcher keeps looked up (`_char_query`): a
# few hours of a busy bot's words; beyond it the table starts again.
_TOKENS_LOOKED_UP = 50_000


# Marking a table of all the KB's forms beats sorting the ids up to about this many
# forms per id (a long question's few hundred ids against a large KB's forms: sort).
_MARK_OVER_SORT = 64


class Matcher:
    """Ranks the entries of one KB for a question. Build once per KB (it precomputes)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        config: MatcherConfig | None = None,
        lexicon: Lexicon | None = None,
        *,
        cache_dir: Path | None = None,
    ) -> None:
        """Precompute the indexes of `kb`, or read them from `cache_dir`.

        Args:
            kb: the knowledge base.
            config: weights; the defaults are tuned.
            lexicon: the concept lexicon; the one shipped in `faq/lexicon.yaml` by
                default (when `config.lexicon` is on).
            cache_dir: keep the built indexes here, keyed by a hash of the KB's
                phrasings, the configuration, the lexicon and the matcher's code
                (`faq.index_cache`); a missing, stale or damaged cache is rebuilt.
        """
        self.kb = kb
        self.config = cfg = config or MatcherConfig()
        self._entry_numbers: dict[str, int] | None = None
        self._lexicon = (lexicon or Lexicon.default()) if cfg.lexicon else None
        key = None
        arrays = None
        if cache_dir is not None:
            key = index_cache.cache_key(kb, cfg, self._lexicon)
            if key is not None:
                arrays = index_cache.load(cache_dir, key, len(kb.entries))
        # "cache" when the indexes were read from `cache_dir`, else "built"
        self.index_source = "cache" if arrays is not None else "built"
        if arrays is None:
            arrays = self._build(kb)
            if cache_dir is not None and key is not None:
                index_cache.save(cache_dir, key, arrays)
        self._adopt(arrays)

    def _build(self, kb: KnowledgeBase) -> index_cache.MatcherArrays:
        """Analyse every phrasing and build the indexes (each document's features are
        streamed into flat arrays, so no per-phrasing Counter outlives its phrasing)."""
        cfg = self.config
        entry_of: list[int] = []
        texts: list[str] = []
        normalised: list[str] = []
        all_stems: list[list[str]] = []
        word_counts = FeatureCountsBuilder()
        char_counts = FeatureCountsBuilder()
        for entry_no, entry in enumerate(kb.entries):
            for lang, phrasings in entry.questions.items():
                for phrasing in phrasings:
                    language = lang if lang in LANGUAGES else detect_language(phrasing)
                    tokens, words = self._analyse(normalise(phrasing), language)
                    if not tokens:
                        continue
                    entry_of.append(entry_no)
                    texts.append(phrasing)
                    normalised.append(" ".join(words))
                    stems = [_stem(t) for t in words]
                    all_stems.append(stems)
                    word_counts.add(self._word_features(stems, language))
                    char_counts.add(self._char_features(tokens))
        entries = np.array(entry_of, dtype=np.int64)
        word_docs, char_docs = word_counts.build(), char_counts.build()
        groups = entry_of if cfg.entry_idf else None
        damped = STOPWORDS | (self._lexicon.function_words if self._lexicon else frozenset())
        word_index = TfIdfIndex(
            word_docs, damped=damped, damping=cfg.stopword_weight, groups=groups
        )
        chars = TfIdfIndex(char_docs, groups=groups)
        n_entries = len(kb.entries)
        centroid_words = merge_documents(word_docs, entries, n_entries)
        merged_chars = merge_documents(char_docs, entries, n_entries)
        # Centroids share the phrasing indexes' vocabulary and IDF: one query serves both.
        centroid_chars = TfIdfIndex(merged_chars, weights_from=chars)
        alpha = cfg.contrast_alpha
        contrast_words = ContrastIndex(centroid_words, word_index.vocabulary_ids(), alpha)
        contrast_chars = ContrastIndex(merged_chars, chars.vocabulary_ids(), alpha)
        del merged_chars
        del char_docs  # the largest arrays of the build: free them before stage 2
        # Stage 2 compares article-free forms, numbered once, with IDF weights
        # precomputed per phrasing and per entry bag (all its words).
        form_ids: dict[str, int] = {}
        bags: list[list[str]] = [[] for _ in range(n_entries)]
        for entry_no, fid in zip(
            centroid_words.docs.tolist(), centroid_words.features.tolist(), strict=True
        ):
            name = centroid_words.names[fid]
            if not name.startswith(_STEM_MARK):
                bags[entry_no].append(name)
        phrasing_align = _pack_align(all_stems, form_ids, word_index)
        bag_align = _pack_align([sorted(b) for b in bags], form_ids, word_index)
        return index_cache.MatcherArrays(
            texts=texts,
            normalised=normalised,
            entry_of=entries,
            words=word_index,
            chars=chars,
            centroid_words=TfIdfIndex(centroid_words, weights_from=word_index),
            centroid_chars=centroid_chars,
            forms=list(form_ids),
            phrasing_align=phrasing_align,
            bag_align=bag_align,
            contrast_words=contrast_words,
            contrast_chars=contrast_chars,
        )

    def _adopt(self, arrays: index_cache.MatcherArrays) -> None:
        """Take the built (or cached) indexes into use."""
        entry_of = arrays.entry_of
        # entry_of is non-decreasing: each entry's phrasings are one contiguous span.
        self._spans: dict[int, tuple[int, int]] = {}
        if len(entry_of):
            starts = np.flatnonzero(np.diff(entry_of, prepend=-1))
            ends = np.append(starts[1:], len(entry_of))
            for entry_no, start, end in zip(
                entry_of[starts].tolist(), starts.tolist(), ends.tolist(), strict=True
            ):
                self._spans[entry_no] = (start, end)
        self._entries_with_phrasings = np.array(sorted(self._spans), dtype=np.int64)
        self._starts = np.array([self._spans[e][0] for e in sorted(self._spans)], dtype=np.int64)
        self._texts = arrays.texts
        self._entry_of = entry_of
        self._n_entries = len(self.kb.entries)
        self._normalised = arrays.normalised
        self._words = arrays.words
        self._chars = arrays.chars
        # the words' and the characters' phrasing, centroid and contrast postings,
        # walked at once
        self._joint = JointIndex(
            [
                JointSpace(
                    arrays.words, len(arrays.texts), arrays.centroid_words, arrays.contrast_words
                ),
                JointSpace(
                    arrays.chars, len(arrays.texts), arrays.centroid_chars, arrays.contrast_chars
                ),
            ]
        )
        # Stage 2's sides in one pack: each phrasing (side p), then each entry's bag of
        # words (side phrasing_count + entry), gathered by side number in one step
        phrasing_align, bag_align = arrays.phrasing_align, arrays.bag_align
        self._side_ids = np.concatenate([phrasing_align.ids, bag_align.ids])
        self._side_weights = np.concatenate([phrasing_align.weights, bag_align.weights])
        self._side_starts = np.concatenate(
            [phrasing_align.bounds[:-1], bag_align.bounds[:-1] + len(phrasing_align.ids)]
        )
        self._side_lengths = np.concatenate(
            [np.diff(phrasing_align.bounds), np.diff(bag_align.bounds)]
        )
        # entries without phrasings never get the contrast signal's probability
        self._no_phrasings = np.ones(self._n_entries, dtype=bool)
        self._no_phrasings[self._entries_with_phrasings] = False
        self._form_ids = {form: i for i, form in enumerate(arrays.forms)}
        self._forms = arrays.forms
        # the same strings, indexable by an array of form ids in one step
        self._form_array = np.array(arrays.forms, dtype=object)
        # Question words whose form this KB has -> _QueryWord: filled as questions come,
        # at most a few inflections of each of the KB's forms; a new KB is a new matcher.
        self._known_words: dict[str, _QueryWord] = {}
        # A KB form's close forms in the KB (`_neighbours`), filled as questions come.
        self._near_forms: dict[int, tuple[list[int], list[float]]] = {}
        # A question token's character n-grams looked up in the character index
        # (`_char_query`), filled as questions come and emptied when full.
        self._token_chars: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {}

    def _analyse(self, norm: str, language: str | None) -> tuple[list[str], list[str]]:
        """Tokens for character n-grams (spoken Persian standardised) and words for the
        word features (concepts in place of their words)."""
        tokens = tokenise(norm)
        if language == "fa" and self.config.colloquial:
            tokens = standardise(tokens)
        if self._lexicon is None:
            return tokens, tokens
        words = self._lexicon.canonical(tokens, language, keep_words=self.config.keep_concept_words)
        return tokens, words

    def words(self, text: str, language: str | None = None) -> list[str]:
        """The words `text` is matched by, after the language layers (concept tokens such
        as "~refund" in place of their words): what `faq ask` shows a KB author."""
        language = language or detect_language(text)
        return self._analyse(normalise(_in_script(text, language)), language)[1]

    def _word_features(self, stems: Sequence[str], language: str | None) -> Counter[str]:
        """Word counts; Arabic words also by their stem without clitics («متجرکم» ->
        «=متجر»), a feature of its own so that exact forms still count more."""
        features = Counter(stems)
        if language == "ar" and self.config.arabic_stems:
            features.update(
                _STEM_MARK + arabic_stem(t) for t in stems if t not in STOPWORDS and not t.isascii()
            )
        return features

    def _char_content(self, tokens: Sequence[str]) -> Sequence[str]:
        """The tokens whose character n-grams are features: the content words, or every
        token of a text of function words only."""
        return [t for t in tokens if t not in STOPWORDS] or tokens

    def _char_features(self, tokens: Sequence[str]) -> Counter[str]:
        cfg = self.config
        return char_features(self._char_content(tokens), cfg.char_ngram_min, cfg.char_ngram_max)

    def _char_query(self, tokens: Sequence[str]) -> IndexQuery:
        """`self._chars.prepare(self._char_features(tokens))`, from each token's n-grams
        looked up once per matcher: a question's n-grams are a few hundred, its distinct
        words a few dozen, and the words recur across questions."""
        cfg = self.config
        looked_up = self._token_chars
        known: list[tuple[int, ...]] = []
        unknown: list[tuple[str, ...]] = []
        for token in self._char_content(tokens):
            split = looked_up.get(token)
            if split is None:
                if len(looked_up) >= _TOKENS_LOOKED_UP:
                    looked_up.clear()  # a bound on a long-running bot's new words
                ngrams = _token_ngrams(token, cfg.char_ngram_min, cfg.char_ngram_max)
                split = looked_up[token] = self._chars.look_up(ngrams)
            known.append(split[0])
            unknown.append(split[1])
        # counted over the question in its order of n-grams, as `char_features` counts
        return self._chars.prepare_looked_up(
            Counter(itertools.chain.from_iterable(known)),
            Counter(itertools.chain.from_iterable(unknown)),
        )

    @property
    def word_forms(self) -> tuple[str, ...]:
        """Every word form of the KB's phrasings, as the per-word coverage compares them."""
        return tuple(self._forms)

    @property
    def concept_words(self) -> Mapping[str, frozenset[str]]:
        """The lexicon's concepts and their one-word forms, empty without a lexicon."""
        return self._lexicon.concept_words if self._lexicon else {}

    @property
    def lexicon(self) -> Lexicon | None:
        """The concept lexicon the matcher reads questions with (None with it off)."""
        return self._lexicon

    @property
    def function_words(self) -> frozenset[str]:
        """The lexicon's question words (damped like stopwords), empty without a lexicon."""
        return self._lexicon.function_words if self._lexicon else frozenset()

    def entry_number(self, entry_id: str) -> int:
        """The position of the entry `entry_id` in the KB.

        Raises:
            KeyError: the KB has no such entry.
        """
        if self._entry_numbers is None:
            self._entry_numbers = {e.id: i for i, e in enumerate(self.kb.entries)}
        return self._entry_numbers[entry_id]

    @property
    def phrasing_count(self) -> int:
        """How many phrasings the KB has (all languages)."""
        return len(self._texts)

    def _entry_max(self, phrasing_scores: FloatArray) -> FloatArray:
        """Best phrasing score per entry (phrasings are stored grouped by entry)."""
        best = np.full(self._n_entries, -1.0, dtype=np.float32)
        best[self._entries_with_phrasings] = np.maximum.reduceat(phrasing_scores, self._starts)
        return best

    def _contrast(self, words: FloatArray, chars: FloatArray) -> FloatArray:
        """Each entry's naive Bayes probability of being the question's entry (the
        contrast signal), from the contrast model's word and character log-likelihoods
        (`JointScores.contrast`)."""
        cfg = self.config
        logits = words
        if cfg.contrast_char_weight:
            logits += cfg.contrast_char_weight * chars
        logits /= cfg.contrast_temperature
        logits[self._no_phrasings] = -np.inf
        logits -= logits.max()
        np.exp(logits, out=logits)
        logits /= logits.sum()
        return logits

    def query_features(
        self, text: str, language: str | None = None
    ) -> tuple[IndexQuery, IndexQuery] | None:
        """The question's stage-1 word and character features, weighed by the KB's
        indexes (None for a question with no words, or a KB without phrasings)."""
        language = language or detect_language(text)
        tokens, word_tokens = self._analyse(normalise(_in_script(text, language)), language)
        if not tokens or self.phrasing_count == 0:
            return None
        stems = [r.stem for r in self._read_words(word_tokens)]
        words = self._words.prepare(self._word_features(stems, language))
        return words, self._char_query(tokens)

    def phrasing_features(self) -> tuple[TfIdfIndex, TfIdfIndex, npt.NDArray[np.int64]]:
        """The stage-1 word and character indexes of the KB's phrasings and each
        phrasing's entry (by position): what a model of the KB's entries learns from."""
        return self._words, self._chars, self._entry_of

    def contrast(self, text: str, language: str | None = None) -> dict[str, float]:
        """Each entry's contrast probability for `text` (what the ranking adds
        `w_contrast` times), by entry id."""
        features = self.query_features(text, language)
        if features is None:
            return {}
        words, chars = self._joint.scores(features, self.config.max_postings)
        probabilities = self._contrast(words.contrast, chars.contrast).tolist()
        return {e.id: p for e, p in zip(self.kb.entries, probabilities, strict=True)}

    def _read_words(self, word_tokens: Sequence[str]) -> list[_QueryWord]:
        """Each word's stem, its stage-2 form, the form's id (-1: not in the KB) and
        the stem's word IDF (also rounded as `WordCoverage` reports it)."""
        known = self._known_words
        out = []
        for word in word_tokens:
            row = known.get(word)
            if row is None:
                stem = _stem(word)
                form = _align_form(stem)
                idf = self._words.idf(stem)
                form_id = self._form_ids.get(form, -1)
                row = _QueryWord(stem, form, form_id, idf, round(idf, 4))
                if form_id >= 0:
                    row = known[word] = row._replace(
                        unmatched=WordCoverage(stem, row.rounded_idf, 0.0),
                        matched=WordCoverage(stem, row.rounded_idf, 1.0),
                    )
            out.append(row)
        return out

    @staticmethod
    def _align_side(rows: Sequence[_QueryWord]) -> _AlignSide:
        count = len(rows)
        ids = np.fromiter((r.form_id for r in rows), dtype=np.int64, count=count)
        return _AlignSide(ids, np.fromiter((r.idf for r in rows), dtype=np.float64, count=count))

    def _neighbours(self, word: _QueryWord) -> tuple[list[int], list[float]]:
        """The KB's forms a question word's form (one of the KB's) counts as, and how
        close each is (rapidfuzz `ratio` / 100): computed once per form and matcher,
        as a word's other KB facts are."""
        near = self._near_forms.get(word.form_id)
        if near is None:
            if _exact_only(word.form):
                near = ([word.form_id], [1.0])
            else:
                row = process.cdist(
                    [word.form],
                    self._forms,
                    scorer=fuzz.ratio,
                    score_cutoff=self.config.token_cutoff,
                    dtype=np.float32,
                )[0]
                row /= 100.0
                ids = np.flatnonzero(row)
                near = (ids.tolist(), row[ids].tolist())
            self._near_forms[word.form_id] = near
        return near

    def _coverages(self, words: Sequence[_QueryWord], sides: npt.NDArray[np.int64]) -> _Coverages:
        """For each side (by number: a phrasing, or `phrasing_count` + an entry for the
        entry's bag of words): the IDF-weighted share of the question's words found in
        it (fuzzy per word, rapidfuzz `ratio`), the share of the side's own IDF mass
        they cover, and each word's best match in it (word x side)."""
        return self._coverages_of_texts([(words, sides)])[0]

    def _coverages_of_texts(
        self, texts: Sequence[tuple[Sequence[_QueryWord], npt.NDArray[np.int64]]]
    ) -> list[_Coverages]:
        """`_coverages` of several questions' words and sides (a message and its asking
        clause), their forms compared with the sides' forms once for all."""
        gathered = []
        for _, sides in texts:
            lengths = self._side_lengths[sides]
            bounds = lengths.cumsum() - lengths  # each side's first row in the gathered rows
            rows_at = (self._side_starts[sides] - bounds).repeat(lengths)
            rows_at += np.arange(rows_at.size)
            gathered.append(
                (bounds, self._side_ids.take(rows_at), self._side_weights.take(rows_at))
            )
        all_ids = gathered[0][1] if len(texts) == 1 else np.concatenate([g[1] for g in gathered])
        columns, all_positions = _unique_with_inverse(all_ids, len(self._forms))
        # A long message repeats its words ("my card ... my card"), and its clause is
        # some of them: each distinct form is compared once, and its row is repeated
        # for each of its tokens.
        row_of: dict[str, int] = {}
        forms: list[str] = []  # each distinct form
        form_words: list[_QueryWord] = []  # ... as the first token that has it
        text_rows: list[list[int]] = []
        for words, _ in texts:
            rows: list[int] = []
            for word in words:
                row = row_of.get(word.form)
                if row is None:
                    row = row_of[word.form] = len(forms)
                    forms.append(word.form)
                    form_words.append(word)
                rows.append(row)
            text_rows.append(rows)
        # column x form: a side's rows are gathered as whole rows and reduced along
        # the first axis, where numpy runs over contiguous memory
        sims = np.zeros((len(columns), len(forms)), dtype=np.float32)
        # The KB's own forms: their close forms, once per form, placed in the columns.
        near_rows: list[int] = []
        near_ids: list[int] = []
        near_sims: list[float] = []
        unknown: list[int] = []  # forms the KB lacks, compared with the columns here
        for row, word in enumerate(form_words):
            if word.form_id >= 0:
                ids, close = self._neighbours(word)
                near_rows.extend([row] * len(ids))
                near_ids.extend(ids)
                near_sims.extend(close)
            elif not _exact_only(word.form):
                unknown.append(row)
            # (an unknown short word or number matches nothing: it is compared exactly)
        if near_ids:
            wanted = np.array(near_ids, dtype=np.int64)
            at = columns.searchsorted(wanted)  # columns are ascending
            present = columns.take(np.minimum(at, len(columns) - 1)) == wanted
            sims[at[present], np.array(near_rows)[present]] = np.array(near_sims)[present]
        if unknown:
            compared = process.cdist(
                [forms[row] for row in unknown],
                self._form_array[columns].tolist(),
                scorer=fuzz.ratio,
                score_cutoff=self.config.token_cutoff,
                dtype=np.float32,
            )
            compared /= 100.0
            sims[:, unknown] = compared.T
        out = []
        first = 0
        for (words, _), rows, (bounds, ids, weights) in zip(
            texts, text_rows, gathered, strict=True
        ):
            positions = all_positions[first : first + ids.size]
            first += ids.size
            query = self._align_side(words)
            # token x side, in the layout the product below has always read
            per_side = np.maximum.reduceat(sims.take(positions, axis=0), bounds, axis=0)
            per_side = np.ascontiguousarray(per_side.take(rows, axis=1).T)
            query_cov = query.weights @ per_side / query.weights.sum()
            # the best token's match per column: max commutes with the row repetition
            own = sims if len(texts) == 1 else sims[:, sorted(set(rows))]
            covered = np.add.reduceat(own.max(axis=1)[positions] * weights, bounds)
            side_cov = covered / np.add.reduceat(weights, bounds)
            out.append(_Coverages(query_cov, side_cov, per_side))
        return out

    def explain(
        self, text: str, entry_id: str, language: str | None = None
    ) -> tuple[WordCoverage, ...]:
        """The words of `text` and how well the entry `entry_id` explains each (what
        `match` reports for its top candidate), for an entry another ranking chose."""
        language = language or detect_language(text)
        _, word_tokens = self._analyse(normalise(_in_script(text, language)), language)
        rows = self._read_words(word_tokens)
        if not rows:
            return ()
        _, _, per_token = self._coverages(
            rows,
            np.array([self.phrasing_count + self.entry_number(entry_id)], dtype=np.int64),
        )
        return tuple(r.coverage(hit) for r, hit in zip(rows, per_token[:, 0].tolist(), strict=True))

    def match(self, text: str, limit: int = 5, language: str | None = None) -> MatchResult:
        """Rank the KB's entries for `text`.

        Args:
            text: the customer's question, as typed.
            limit: how many candidates to return.
            language: "fa", "ar" or "en" if known (detected from `text` otherwise; pass
                it when `text` is already normalised, which hides Arabic letters).

        Returns:
            The candidates (best first, at most `limit`) and a confidence in [0, 1].
        """
        return self.match_texts([text], limit, language)[0]

    def match_texts(
        self, texts: Sequence[str], limit: int = 5, language: str | None = None
    ) -> list[MatchResult]:
        """`match` of each of `texts` (a message and its asking clause), with one walk of
        the stage-1 postings for all of them: the same results as one by one.

        Args:
            texts: the questions, as typed.
            limit: how many candidates to return for each.
            language: as `match`'s, for every text (detected from the first if None).

        Returns:
            Each text's `MatchResult`, in order.
        """
        started = time.perf_counter()
        language = language or (detect_language(texts[0]) if texts else None)
        read = [self._read_question(text, language) for text in texts]
        asked = [r for r in read if isinstance(r, _ReadQuestion)]
        walked = iter(
            self._joint.scores_of_texts(
                [(r.words, r.chars) for r in asked], self.config.max_postings
            )
            if asked
            else []
        )
        shortlists = [
            self._shortlisted(r, *scores) for r, scores in zip(asked, walked, strict=True)
        ]
        # Stage 2's word alignment of every text in one comparison of their forms
        coverages = iter(
            self._coverages_of_texts(
                [(r.rows, s.sides) for r, s in zip(asked, shortlists, strict=True)]
            )
            if asked
            else []
        )
        ranked = iter(shortlists)
        results = []
        for r in read:
            if isinstance(r, _ReadQuestion):
                results.append(self._ranked(r, next(ranked), next(coverages), limit, started))
            else:
                results.append(MatchResult(r, (), 0.0, (time.perf_counter() - started) * 1e6))
        return results

    def _read_question(self, text: str, language: str | None) -> _ReadQuestion | str:
        """A question through the language layers, with its stage-1 queries; only its
        normalised text for one without words (or a KB without phrasings)."""
        norm = normalise(_in_script(text, language))
        tokens, word_tokens = self._analyse(norm, language)
        if not tokens or self.phrasing_count == 0:
            return norm
        rows = self._read_words(word_tokens)
        stems = [r.stem for r in rows]
        words = self._words.prepare(self._word_features(stems, language))
        return _ReadQuestion(norm, word_tokens, rows, words, self._char_query(tokens))

    def _shortlisted(
        self, question: _ReadQuestion, word_scores: JointScores, char_scores: JointScores
    ) -> _Shortlist:
        """Stage 1 of `match` from the question's walked figures: the entries stage 2
        re-scores."""
        cfg = self.config
        norm = question.normalised

        # Stage 1: TF-IDF cosines against every phrasing and every entry centroid.
        word_weight, char_weight = cfg.word_weight, cfg.char_weight
        if not norm.isascii():
            word_weight = cfg.arabic_script_word_weight
            char_weight = cfg.word_weight + cfg.char_weight - word_weight
        phrasing = word_weight * word_scores.phrasings
        phrasing += char_weight * char_scores.phrasings
        best = self._entry_max(phrasing)
        if cfg.second_weight:
            runner_up = np.where(phrasing >= best[self._entry_of], -1.0, phrasing)
            second = np.maximum(self._entry_max(runner_up.astype(np.float32)), 0.0)
            second = np.where(second > 0, second, best)  # one-phrasing entries: no penalty
            best = ((1 - cfg.second_weight) * best + cfg.second_weight * second).astype(np.float32)
        m = self._n_entries
        centroid = word_weight * word_scores.centroids
        centroid += char_weight * char_scores.centroids
        entry_scores = (1 - cfg.centroid_weight) * best + cfg.centroid_weight * centroid
        k = min(cfg.shortlist, m)
        top = (-entry_scores).argpartition(k - 1)[:k] if k < m else np.arange(k)
        shortlist = [e for e in top.tolist() if e in self._spans]

        closest = []
        for entry_no in shortlist:
            start, end = self._spans[entry_no]
            closest.append(start + int(phrasing[start:end].argmax()))
        contrasts = (
            self._contrast(word_scores.contrast, char_scores.contrast)[shortlist].tolist()
            if cfg.w_contrast
            else None
        )
        return _Shortlist(
            shortlist,
            closest,
            # Python floats read once: indexing numpy arrays one scalar at a time is slow.
            entry_scores[shortlist].tolist(),
            contrasts,
            np.array(closest + [self.phrasing_count + e for e in shortlist], dtype=np.int64),
        )

    def _ranked(
        self,
        question: _ReadQuestion,
        shortlisted: _Shortlist,
        coverages: _Coverages,
        limit: int,
        started: float,
    ) -> MatchResult:
        """Stage 2 of `match`: token alignment and rapidfuzz against the shortlisted
        entries, the ranking and the confidence."""
        cfg = self.config
        norm, word_tokens, rows = question.normalised, question.word_tokens, question.rows
        shortlist, closest = shortlisted.entries, shortlisted.closest
        stage1s, contrasts = shortlisted.stage1, shortlisted.contrasts
        query_cov, side_cov, per_token = coverages
        joined = " ".join(word_tokens)
        k = len(shortlist)
        query_covs, side_covs = query_cov.tolist(), side_cov.tolist()
        # One call: the question's words are split and sorted once, not once per phrasing.
        fuzz_scores = process.cdist(
            [joined],
            [self._normalised[p] for p in closest],
            scorer=fuzz.token_set_ratio,
            dtype=np.float64,
        )[0].tolist()
        # (rank score, lexical score, signals, entry, closest phrasing, shortlist position)
        rescored: list[tuple[float, float, tuple[float, ...], int, int, int]] = []
        for i, (entry_no, p) in enumerate(zip(shortlist, closest, strict=True)):
            q_cov, p_cov, bag_cov = query_covs[i], side_covs[i], query_covs[k + i]
            fz = fuzz_scores[i] / 100.0
            stage1 = stage1s[i]
            final = (
                cfg.w_stage1 * stage1
                + cfg.w_qcov * q_cov
                + cfg.w_pcov * p_cov
                + cfg.w_bag * bag_cov
                + cfg.w_fuzz * fz
            )
            ranked = final + cfg.w_contrast * contrasts[i] if contrasts is not None else final
            rescored.append((ranked, final, (stage1, q_cov, p_cov, bag_cov, fz), entry_no, p, i))
        rescored.sort(key=lambda r: r[0], reverse=True)
        # Ordered by the contrast too, but each with its lexical score: what the
        # decision's lead and suggestion rules and the semantic extra read.
        candidates = tuple(
            Candidate(self.kb.entries[e].id, round(f, 4), self._texts[p])
            for _, f, _, e, p, _ in rescored[:limit]
        )
        bag_column = per_token[:, k + rescored[0][5]]
        explained = tuple(r.coverage(hit) for r, hit in zip(rows, bag_column.tolist(), strict=True))
        # The confidence reads the lexical scores: the contrast signal reorders the
        # entries but does not make the matcher surer (added to the score and the lead,
        # it answered more near-miss questions). An entry it lifted over a better
        # lexical one has a negative lead, so a low confidence.
        top_score, top_signals = rescored[0][1], rescored[0][2]
        runner_up_score = max((r[1] for r in rescored[1:]), default=0.0)
        features = (top_score, top_score - runner_up_score, runner_up_score, *top_signals)
        z = cfg.confidence_bias + sum(
            w * x for w, x in zip(cfg.confidence_weights, features, strict=True)
        )
        confidence = 1.0 / (1.0 + math.exp(-z))
        return MatchResult(
            norm, candidates, confidence, (time.perf_counter() - started) * 1e6, features, explained
        )
