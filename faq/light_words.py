"""The light words of `faq/light_words.yaml`: words with no topic of their own in a
customer's message (its header says what may go in). The coverage rule does not count
them against an entry (`faq.coverage`), and a request for a person is not made longer
by them (`faq.triage`)."""

from __future__ import annotations

from importlib import resources

import yaml

from faq.colloquial import standardise
from faq.morphology import english_stem
from faq.normalise import normalise, tokenise


def _light_forms() -> frozenset[str]:
    """Every word of the file as typed and in the forms the language layers make."""
    groups = yaml.safe_load(
        resources.files("faq").joinpath("light_words.yaml").read_text(encoding="utf-8")
    )
    forms: set[str] = set()
    for by_language in groups.values():
        for text in by_language.values():
            for token in tokenise(normalise(text)):
                forms.add(token)
                forms.add(english_stem(token))
                forms.update(standardise([token]))
    return frozenset(forms)


LIGHT_WORDS = _light_forms()
