"""The word lists of `faq/light_words.yaml`, `faq/places.yaml`,
`faq/beneficiaries.yaml` and `faq/organisations.yaml` (each file's header says what
may go in).

Light words have no topic of their own in a customer's message: the coverage rule
does not count them against an entry (`faq.coverage`), and a request for a person is
not made longer by them (`faq.triage`). Places are never taken for words foreign to
the KB, but still count against an entry that does not name them (`faq.coverage`).
Goods (the light words' group of the kinds of goods a shop sells) also tell
`faq.coverage` where a product's name is: an unknown word beside one is the item's
brand or model. Beneficiaries (family and friends) are light only after a word
for "for" («برای مامانم», "for my mum"): `faq.coverage`. Organisations (other
companies' and public services, named by a word or a run of words) tell `faq.coverage`
that a question asks about something other than the shop.
"""

from __future__ import annotations

from faq.colloquial import standardise
from faq.morphology import english_stem
from faq.normalise import normalise, tokenise
from faq.yaml_files import shipped_yaml

# the group of light_words.yaml that names the kinds of goods a shop sells
GOODS_GROUP = "appliances_and_electronics"


def _groups(filename: str) -> dict[str, dict[str, object]]:
    loaded: dict[str, dict[str, object]] = shipped_yaml(filename)
    return loaded


def _list_forms(filename: str, group: str | None = None) -> frozenset[str]:
    """Every word of a word-list file (or of one of its groups) as typed and in the
    forms the language layers make."""
    forms: set[str] = set()
    for name, by_language in _groups(filename).items():
        if group is not None and name != group:
            continue
        for text in by_language.values():
            for token in tokenise(normalise(str(text))):
                forms.add(token)
                forms.add(english_stem(token))
                forms.update(standardise([token]))
    return frozenset(forms)


LIGHT_WORDS = _list_forms("light_words.yaml")
PLACES = _list_forms("places.yaml")
GOODS = _list_forms("light_words.yaml", GOODS_GROUP)
BENEFICIARIES = _list_forms("beneficiaries.yaml", "people")
FOR_WORDS = _list_forms("beneficiaries.yaml", "for")


def _list_names(filename: str, groups: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """The names (each a word or a run of words, as typed) of some groups of a file of
    name lists, by language."""
    names: dict[str, list[str]] = {}
    for name, by_language in _groups(filename).items():
        if name in groups:
            for language, listed in by_language.items():
                if not isinstance(listed, list):
                    raise ValueError(f"{filename}: {name}.{language} must be a list of names")
                names.setdefault(language, []).extend(str(n) for n in listed)
    return {language: tuple(listed) for language, listed in names.items()}


_BANK_GROUPS = frozenset({"bank_words", "banks"})
# names that alone name another organisation or its service: every group but the banks'
ORGANISATIONS = _list_names(
    "organisations.yaml", frozenset(_groups("organisations.yaml")) - _BANK_GROUPS
)
# a bank's name counts beside a word for bank («بانک ملت», "Mellat Bank")
BANK_WORDS = _list_names("organisations.yaml", frozenset({"bank_words"}))
BANK_NAMES = _list_names("organisations.yaml", frozenset({"banks"}))
