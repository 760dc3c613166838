"""Light, dictionary-free morphology for matching: English stems, Persian and Arabic clitics.

- `english_stem`: irregular verb forms to their base («got» -> «get», «sent» -> «send»),
  then the plural/verb endings -ing -ed -es -s -ly stripped when at least three letters
  remain. Used for every English word feature; lexicon look-ups also drop a final
  silent e ("receive", "received" -> "receiv").
- `persian_variants`: the word, then the word without up to two enclitic layers
  (plural «ها/های», spoken plural «ا», ezafe or indefinite «ی», copula «ه»,
  possessives «م ت ش مان تان شان مون تون شون ام ات اش», object «و»), longest first:
  «امتیازهایم» -> «امتیازها», «امتیاز»; «فروشگاهتون» -> «فروشگاه».
- `persian_light_verb`: whether a word is one of the Persian generic verbs (do, give,
  take, become, ...) in any person, tense or mood («میدهید», «بگیرید», «نمیکنه», «شدم»).
- `arabic_variants`: the word, then the word without the conjunctions و/ف, the
  prepositions ب/ل/ک, the article ال (and لل), pronoun suffixes (ـه ـها ـهم ـکم ـنا ـی ـک)
  and the tanween alif («مکسورا» -> «مکسور»): «متجرکم» -> «متجر», «للخارج» -> «خارج».

Variants are only ever looked up in a closed word list (the concept lexicon), never
used as free-standing features, so a wrong split of a word not in the list costs nothing.
All forms are normalised (`faq.normalise`).
"""

from __future__ import annotations

import functools

_ENGLISH_SUFFIXES = ("ing", "ed", "es", "s", "ly")

# Common irregular verbs of customer messages (past and participle -> base).
ENGLISH_IRREGULAR = {
    "got": "get",
    "gotten": "get",
    "gave": "give",
    "given": "give",
    "sent": "send",
    "bought": "buy",
    "paid": "pay",
    "broke": "break",
    "broken": "break",
    "forgot": "forget",
    "forgotten": "forget",
    "took": "take",
    "taken": "take",
    "came": "come",
    "went": "go",
    "gone": "go",
    "made": "make",
    "said": "say",
    "told": "tell",
    "lost": "lose",
    "sold": "sell",
    "left": "leave",
    "saw": "see",
    "seen": "see",
    "brought": "bring",
    "thought": "think",
    "found": "find",
    "kept": "keep",
    "spent": "spend",
    "ran": "run",
    "wrote": "write",
    "written": "write",
    "did": "do",
    "done": "do",
    "was": "be",
    "were": "be",
    "been": "be",
    "had": "have",
    "has": "have",
}


def english_stem(token: str, *, drop_silent_e: bool = False) -> str:
    """A light English stem: irregular verbs to their base, then common endings stripped.

    Non-ASCII or non-alphabetic tokens are returned as they are.

    Args:
        token: a normalised token.
        drop_silent_e: also drop a final e, so "receive" meets "received" at "receiv".
            Only for look-ups in a closed word list (the lexicon): as a word feature it
            merges "plane"/"plan", "care"/"car" (−1 to −2 points on CLINC150 validation).
    """
    if not (token.isascii() and token.isalpha()):
        return token
    token = ENGLISH_IRREGULAR.get(token, token)
    if token.endswith(_ENGLISH_SUFFIXES):  # one C call rules out most words
        for suffix in _ENGLISH_SUFFIXES:
            if token.endswith(suffix) and len(token) - len(suffix) >= 3:
                token = token[: -len(suffix)]
                break
    return without_silent_e(token) if drop_silent_e else token


def without_silent_e(stem: str) -> str:
    """An English stem without its silent final e, so "change", "changed" and
    "changing" meet at "chang" ("typed" is stemmed to "typ", "type" stays "type")."""
    if stem.isascii() and stem.endswith("e") and len(stem) > 3:
        return stem[:-1]
    return stem


_PERSIAN_SUFFIXES = (
    "هایم",
    "هایت",
    "هایش",
    "های",
    "ها",
    "مان",
    "تان",
    "شان",
    "مون",
    "تون",
    "شون",
    "ام",
    "ات",
    "اش",
    "ای",
    "ی",
    "م",
    "ت",
    "ش",
    "ه",
    "ا",
    "و",
)
_MIN_STEM = 2


def _strip_layers(word: str, suffixes: tuple[str, ...], layers: int) -> list[str]:
    out: list[str] = []
    frontier = [word]
    for _ in range(layers):
        nxt = []
        for w in frontier:
            for s in suffixes:
                if w.endswith(s) and len(w) - len(s) >= _MIN_STEM:
                    stem = w[: -len(s)]
                    if stem not in out:
                        out.append(stem)
                        nxt.append(stem)
        frontier = nxt
    return out


# Pronoun enclitics that spoken writing glues to a word ending in a silent ه after
# dropping the ه: «مغازتون» is «مغازه» + «تون», «خونمون» is «خونه» + «مون».
_ELIDED_H_ENCLITICS = ("مان", "تان", "شان", "مون", "تون", "شون")


@functools.lru_cache(maxsize=1 << 14)
def persian_variants(token: str) -> tuple[str, ...]:
    """The token, then its forms without up to two enclitic layers (longest first), and
    the stem with its silent ه back where a plural enclitic followed it."""
    stems = _strip_layers(token, _PERSIAN_SUFFIXES, 2)
    restored = [
        token[: -len(s)] + "ه"
        for s in _ELIDED_H_ENCLITICS
        if token.endswith(s) and len(token) - len(s) >= _MIN_STEM + 1 and token[-len(s) - 1] != "ه"
    ]
    return (token, *sorted(stems, key=len, reverse=True), *restored)


_ARABIC_PREFIXES = (
    "وال",
    "فال",
    "بال",
    "کال",
    "لل",
    "ال",
    "وب",
    "ول",
    "و",
    "ف",
    "ب",
    "ل",
    "ک",
)
_ARABIC_SUFFIXES = ("کم", "هم", "ها", "نا", "ه", "ی", "ک", "ا")


# Spoken aspect prefixes before a present-tense verb: Egyptian future ه, Levantine
# future ح, present ب («هترجع», «حترجع», «بترجع» are forms of «ترجع»).
_ASPECT_PREFIXES = ("ه", "ح", "ب")
_IMPERFECT_LETTERS = ("ت", "ی", "ن", "ا")
_MIN_ASPECT_VERB = 4  # letters left: «ترجع»; shorter words are nouns too often


@functools.lru_cache(maxsize=1 << 14)
def arabic_variants(token: str) -> tuple[str, ...]:
    """The token, then its forms without proclitics, a spoken aspect prefix and/or one
    pronoun suffix (longest first)."""
    bases = [token] + [
        token[len(p) :]
        for p in _ARABIC_PREFIXES
        if token.startswith(p) and len(token) - len(p) >= _MIN_STEM
    ]
    if (
        token[:1] in _ASPECT_PREFIXES
        and token[1:2] in _IMPERFECT_LETTERS
        and len(token) - 1 >= _MIN_ASPECT_VERB
    ):
        bases.append(token[1:])
    out: list[str] = []
    for base in bases:
        for form in (base, *_strip_layers(base, _ARABIC_SUFFIXES, 1)):
            if form not in out:
                out.append(form)
    return (token, *sorted((f for f in out if f != token), key=len, reverse=True))


_STEM_PREFIXES = ("وال", "فال", "بال", "کال", "لل", "ال")
_STEM_SUFFIXES = ("کما", "هما", "کم", "هم", "ها", "نا", "ه", "ی", "ک")
_MIN_ARABIC_STEM = 3


def arabic_stem(token: str) -> str:
    """One light stem for an Arabic word: the article (with و ف ب ک ل before it) or a
    conjunction و/ف off the front, one pronoun suffix off the end, at least three
    letters left: «والمتجر» -> «متجر», «حسابکم» -> «حساب»."""
    for prefix in _STEM_PREFIXES:
        if token.startswith(prefix) and len(token) - len(prefix) >= _MIN_ARABIC_STEM:
            token = token[len(prefix) :]
            break
    else:
        if token[:1] in ("و", "ف") and len(token) - 1 > _MIN_ARABIC_STEM:
            token = token[1:]
    for suffix in _STEM_SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= _MIN_ARABIC_STEM:
            return token[: -len(suffix)]
    return token


# Persian generic verbs, as present and past stems: do, give, take, become, want, hit,
# come, see, say, go, know, understand, bring. Like "want", "give" or "come" in English
# (`faq/light_words.yaml`), they carry no topic of their own: in Persian most verbs are
# a noun with one of them («پس می‌دهید», "give back"; «ثبت کنم», "register"), and the
# noun is what the question is about (`faq.coverage`); «تحویل» with one is a delivery,
# not a transfer (`faq.triage`). Written as `faq.normalise` writes them (no ZWNJ,
# «آ» as «ا»), after spoken forms are standardised («میدین» -> «میدهید»).
_PERSIAN_LIGHT_PRESENT = frozenset(
    {"کن", "ده", "گیر", "شو", "خواه", "زن", "ای", "یا", "بین", "گوی", "رو", "دان", "فهم", "اور"}
)
_PERSIAN_LIGHT_PAST = frozenset(
    {
        "کرد",
        "داد",
        "گرفت",
        "شد",
        "خواست",
        "زد",
        "امد",
        "دید",
        "گفت",
        "رفت",
        "دانست",
        "فهمید",
        "اورد",
    }
)
# Present stems that are a verb with no «می»/«ب» only in compound verbs («ثبت کنم»,
# «پس دهید», «انجام شود»); bare, the others are nouns or prepositions («روی», "on";
# «زنم», "my wife"; «بینی», "nose").
_BARE_PRESENT = frozenset({"کن", "شو", "ده", "گیر", "خواه"})
# Endings a past stem takes with no prefix: the persons, the participle and the
# infinitive. A bare past stem with «ی» is not taken («کردی» is also "Kurdish").
_BARE_PAST_ENDINGS = frozenset({"", "م", "یم", "ید", "ند", "ین", "ه", "ن", "هام", "هاند"})


@functools.lru_cache(maxsize=1 << 14)
def persian_light_verb(word: str) -> bool:
    """Whether `word` is a Persian generic verb (`_PERSIAN_LIGHT_PRESENT` / `_PAST`) in
    any person, tense or mood: «میدهید», «بگیرید», «نمیکنه», «شدم», «کرده»."""
    if word.isascii():
        return False
    for match in _persian_verb_splits(word):
        aspect, stem, ending = match
        if stem in _PERSIAN_LIGHT_PRESENT and (aspect or (ending and stem in _BARE_PRESENT)):
            return True
        if stem in _PERSIAN_LIGHT_PAST and (aspect or ending in _BARE_PAST_ENDINGS):
            return True
    return False


_PERSIAN_ENDINGS = (
    "",
    "م",
    "ی",
    "د",
    "یم",
    "ید",
    "ند",
    "ین",
    "ه",
    "ن",
    "هام",
    "های",
    "هایم",
    "هاید",
    "هاند",
)


def _persian_verb_splits(word: str) -> list[tuple[str, str, str]]:
    """Every (aspect prefix, stem, person ending) reading of `word`, a negative «ن»
    first taken off."""
    splits = []
    for body in (word, word[1:]) if word.startswith("ن") else (word,):
        for aspect in ("می", "ب", ""):
            if not body.startswith(aspect):
                continue
            rest = body[len(aspect) :]
            for ending in _PERSIAN_ENDINGS:
                if rest.endswith(ending) and len(rest) > len(ending):
                    splits.append((aspect, rest[: len(rest) - len(ending)], ending))
    return splits
