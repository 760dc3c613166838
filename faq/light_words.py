"""The word lists of `faq/light_words.yaml`, `faq/places.yaml` and
`faq/beneficiaries.yaml` (each file's header says what may go in).

Light words have no topic of their own in a customer's message: the coverage rule
does not count them against an entry (`faq.coverage`), and a request for a person is
not made longer by them (`faq.triage`). Places are never taken for words foreign to
the KB, but still count against an entry that does not name them (`faq.coverage`).
Goods (the light words' group of the kinds of goods a shop sells) also tell
`faq.coverage` where a product's name is: an unknown word beside one is the item's
brand or model. Beneficiaries (family and friends) are light only after a word
for "for" («برای مامانم», "for my mum"): `faq.coverage`.
"""

from __future__ import annotations

from importlib import resources

import yaml

from faq.colloquial import standardise
from faq.morphology import english_stem
from faq.normalise import normalise, tokenise

# the group of light_words.yaml that names the kinds of goods a shop sells
GOODS_GROUP = "appliances_and_electronics"


def _list_forms(filename: str, group: str | None = None) -> frozenset[str]:
    """Every word of a word-list file (or of one of its groups) as typed and in the
    forms the language layers make."""
    groups = yaml.safe_load(resources.files("faq").joinpath(filename).read_text(encoding="utf-8"))
    forms: set[str] = set()
    for name, by_language in groups.items():
        if group is not None and name != group:
            continue
        for text in by_language.values():
            for token in tokenise(normalise(text)):
                forms.add(token)
                forms.add(english_stem(token))
                forms.update(standardise([token]))
    return frozenset(forms)


LIGHT_WORDS = _list_forms("light_words.yaml")
PLACES = _list_forms("places.yaml")
GOODS = _list_forms("light_words.yaml", GOODS_GROUP)
BENEFICIARIES = _list_forms("beneficiaries.yaml", "people")
FOR_WORDS = _list_forms("beneficiaries.yaml", "for")
