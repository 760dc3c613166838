"""A learned answer decision: whether to answer with the matcher's top entry.

The rule in `faq.decide` (confidence cut-offs, at most one unexplained content word,
none foreign to the KB) was written from a few writers' tuning questions; this model
makes the same call from facts about the match that do not depend on one writer's
wording: the matcher's confidence and the top entry's lead over the runner-up, how
much of the question the entry explains (`faq.coverage`) and what the unexplained
words are (how many, how rare in the KB, how long, in which script, whether the
lexicon reads them as one of its concepts, whether they are in the message's asking
clause), and the question's length and language. It is a logistic regression whose
weights are data (`answer_model.json`, written by `bench/faq_answer_model.py`, trained
leave-one-writer-out on the tune halves of tests/fixtures/faq); inference is plain
Python, so the default install runs it.

A KB author's `not:` phrasings still veto an entry whatever the model says, and
requests for a person never reach it (`faq.triage` decides those first).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from faq.common_words import frequency_rank
from faq.coverage import Coverage
from faq.lexicon import CONCEPT_PREFIX
from faq.matcher import CONFIDENCE_FEATURES, Matcher, MatchResult

MODEL_PATH = Path(__file__).resolve().parent / "answer_model.json"


# An unexplained word among this many most frequent words of its language is
# everyday language («هيرجع», "anyway"); rarer or unlisted, a name (a brand, a bank).
COMMON_RANK = 3_000
# The rank an unlisted word counts as: past the end of every list.
_UNLISTED_RANK = 100_000


def _script_mixed(word: str, text_has_other_script: bool) -> bool:
    return text_has_other_script and word.isascii() and word.isalpha()


def answer_features(
    matcher: Matcher,
    text: str,
    language: str | None,
    result: MatchResult,
    coverage: Coverage,
    whole_message: bool,
    clause: str | None,
) -> dict[str, float]:
    """The facts the model reads about a question and its top entry (see the module).

    Args:
        matcher: the KB's matcher (for the asking clause's words).
        text: the message as typed.
        language: its detected language.
        result: the match the verdict rests on (of the whole message or its clause).
        coverage: how much of the question `result`'s top entry explains.
        whole_message: whether `result` is of the whole message.
        clause: the message's asking clause (`faq.triage.asking_clause`), if any.
    """
    best = result.best
    score = best.score if best is not None else 0.0
    runner_up = result.candidates[1].score if len(result.candidates) > 1 else 0.0
    idf = {w.word: w.idf for w in result.explained}
    unexplained = coverage.unexplained
    foreign = set(coverage.foreign)
    other_script = any(not ch.isascii() and ch.isalpha() for ch in text)
    # the clause's words only matter for unexplained words (most questions have none)
    clause_words = (
        set(matcher.words(clause, language)) if clause is not None and unexplained else None
    )
    content = coverage.content_words
    n_unexplained = len(unexplained)
    idfs = [idf.get(w, 0.0) for w in unexplained]
    matcher_facts = dict(zip(CONFIDENCE_FEATURES, result.features, strict=False))
    # the lexicon's concepts are its own words, neither everyday nor names
    ranks = {
        w: frequency_rank(w, language) or _UNLISTED_RANK
        for w in unexplained
        if not w.startswith(CONCEPT_PREFIX)
    }
    rare = [w for w, rank in ranks.items() if rank > COMMON_RANK]
    return {
        "confidence": result.confidence,
        # the matcher's own facts about the top candidate (score and lead are above)
        **{
            f"matcher_{name}": matcher_facts.get(name, 0.0)
            for name in ("stage1", "query_coverage", "phrasing_coverage", "entry_coverage", "fuzz")
        },
        "score": score,
        "lead": 1.0 - runner_up / score if score > 0 else 0.0,
        "content_words": math.log1p(content),
        "words": math.log1p(len(result.explained)),
        "explained_share": coverage.explained_share,
        "unexplained": float(n_unexplained),
        "unexplained_0": float(n_unexplained == 0),
        "unexplained_1": float(n_unexplained == 1),
        "unexplained_share": n_unexplained / content if content else 0.0,
        "foreign": float(len(foreign)),
        "foreign_any": float(bool(foreign)),
        "near": float(len(coverage.near)),
        "unexplained_concepts": float(sum(w.startswith(CONCEPT_PREFIX) for w in unexplained)),
        "unexplained_latin_in_script": float(
            sum(_script_mixed(w, other_script) for w in unexplained)
        ),
        "unexplained_max_idf": max(idfs, default=0.0),
        "unexplained_idf_sum": sum(idfs),
        "unexplained_in_clause": float(
            sum(w in clause_words for w in unexplained)
            if clause_words is not None
            else n_unexplained
        ),
        "unexplained_common": float(len(ranks) - len(rare)),
        "unexplained_rare": float(len(rare)),
        "unexplained_rarest": math.log(max(ranks.values(), default=1)),
        "complete": float(coverage.complete(2)),
        "whole_message": float(whole_message),
        "lang_fa": float(language == "fa"),
        "lang_ar": float(language == "ar"),
        "lang_en": float(language == "en"),
        "latin_persian": float(language == "fa" and not other_script),
        "confidence_x_unexplained_0": result.confidence * (n_unexplained == 0),
        "confidence_x_foreign_any": result.confidence * bool(foreign),
    }


@dataclass(frozen=True, slots=True)
class AnswerModel:
    """A logistic regression over `answer_features`: standardised features (`means`,
    `scales`), `weights`, `bias`; answer when the probability reaches `threshold`."""

    names: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, features: Mapping[str, float]) -> float:
        """The model's probability that the top entry is the right answer."""
        z = self.bias
        for name, mean, scale, weight in zip(
            self.names, self.means, self.scales, self.weights, strict=True
        ):
            z += weight * (features[name] - mean) / scale
        # a logistic that cannot overflow for large |z|
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def answers(self, features: Mapping[str, float]) -> bool:
        """Whether the model would answer."""
        return self.probability(features) >= self.threshold

    def as_json(self) -> dict[str, object]:
        """The model as the JSON object `load_model` reads."""
        return {
            "names": list(self.names),
            "means": list(self.means),
            "scales": list(self.scales),
            "weights": list(self.weights),
            "bias": self.bias,
            "threshold": self.threshold,
        }


def model_from_json(data: Mapping[str, object]) -> AnswerModel:
    """An `AnswerModel` from its JSON object (ValueError if malformed)."""

    def floats(key: str) -> tuple[float, ...]:
        value = data[key]
        if not isinstance(value, list):
            raise ValueError(f"{key} must be a list")
        return tuple(float(v) for v in value)

    names = data["names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("names must be a list of strings")
    bias, threshold = data["bias"], data["threshold"]
    if not isinstance(bias, int | float) or not isinstance(threshold, int | float):
        raise ValueError("bias and threshold must be numbers")
    model = AnswerModel(
        tuple(names),
        floats("means"),
        floats("scales"),
        floats("weights"),
        float(bias),
        float(threshold),
    )
    if not len(model.names) == len(model.means) == len(model.scales) == len(model.weights):
        raise ValueError("names, means, scales and weights must have one value per feature")
    return model


@functools.cache
def load_model(path: Path = MODEL_PATH) -> AnswerModel:
    """The shipped model (read once per process)."""
    return model_from_json(json.loads(path.read_text(encoding="utf-8")))
