"""Spoken (colloquial) Persian written as typed chat, mapped to the standard written forms.

Customers write the way they speak («میخوام»، «رمزمو»، «چجوری») while a KB is written
in standard Persian («می‌خواهم»، «رمزم را»، «چطور»). `standardise` rewrites the tokens
of a Persian message (already through `faq.normalise.tokenise`) by these rules:

1. Preverbs written apart join their verb: «بر میگرده» -> «برمیگرده» (like «می»).
2. Present-tense verbs with «می»/«نمی» (also «برمی»/«درمی»):
   - spoken person endings: 3rd singular «ـه» -> «ـد» («میکشه» -> «میکشد»),
     2nd plural «ـین» -> «ـید» («میفروشین» -> «میفروشید»);
   - the shortened spoken stems of common verbs get their written stem back:
     خوا->خواه (want), تون->توان (can), ش->شو (become), ر->رو (go), گ->گوی (say),
     د->ده (give), ا/یا->آی (come), دون->دان (know), ذار->گذار (put),
     خون->خوان (read): «میخوام» -> «میخواهم», «میشه» -> «میشود», «میاد» -> «میاید»;
   - the spoken causative «ـون» of longer stems is written «ـان»:
     «برمیگردونین» -> «برمیگردانید», «میرسونید» -> «میرسانید».
3. A few spoken subjunctives: «بدم» -> «بدهم», «بشه» -> «بشود», «بتونم» -> «بتوانم», ...
4. Past-tense 2nd plural «ـدین»/«ـتین» -> «ـدید»/«ـتید» («فرستادین» -> «فرستادید»)
   and «دارین»/«هستین»-style 2nd plurals of the common non-«می» verbs.
5. The object marker: «رو» -> «را», and its clitic form after a possessive
   («رمزمو» -> «رمزم»، «حسابتو» -> «حسابت»), only on words of five letters or more
   so that short words ending in «و» (مو, پتو, عمو) are left alone; «رو» glued
   after a final «ا» is split off («کالارو» -> «کالا را»).
6. Spoken function words and pronoun forms: «چجوری»/«چطوری»/«چگونه» -> «چطور»,
   «چیه» -> «چیست», «چقدره» -> «چقدر است», «کجاس» -> «کجاست», «یه» -> «یک»,
   «اون» -> «آن», «خونه» -> «خانه», «برام» -> «برایم», «بهم» -> «به من», «ازم» -> «از من», ...

7. The ezafe written as a word of its own («هزینه ی ارسال») is dropped, as it is
   when written joined or not at all.

Only run it on text detected as Persian: rule 5 would damage Arabic words.
Tokens are in normalised form (ي->ی, ك->ک, أ/إ/آ->ا, no ZWNJ), as are all lists here.
"""

from __future__ import annotations

from collections.abc import Sequence

# Rule 1: preverbs that form one verb with a following «می…» token.
_PREVERBS = frozenset({"بر", "در"})
_VERB_PREFIXES = ("برنمی", "درنمی", "برمی", "درمی", "نمی", "می")

# Rule 2: spoken present stem -> written present stem (normalised: آ -> ا).
_SPOKEN_STEMS = {
    "خوا": "خواه",
    "تون": "توان",
    "ش": "شو",
    "ر": "رو",
    "گ": "گوی",
    "د": "ده",
    "ا": "ای",
    "یا": "ای",
    "دون": "دان",
    "ذار": "گذار",
    "خون": "خوان",
}
# person endings, longest first: (spoken, written)
_ENDINGS = (
    ("ین", "ید"),
    ("ید", "ید"),
    ("یم", "یم"),
    ("ند", "ند"),
    ("ه", "د"),
    ("د", "د"),
    ("م", "م"),
    ("ی", "ی"),
)

# Rule 3: spoken subjunctives of the same irregular verbs.
_SUBJUNCTIVES = {
    "بدم": "بدهم",
    "بدی": "بدهی",
    "بدین": "بدهید",
    "بشه": "بشود",
    "بتونم": "بتوانم",
    "بتونه": "بتواند",
    "بخوام": "بخواهم",
    "بخواد": "بخواهد",
    "بیاد": "بیاید",
    "بیام": "بیایم",
    "بره": "برود",
    "برم": "بروم",
    "بگم": "بگویم",
    "بگه": "بگوید",
    "بذارم": "بگذارم",
}

# Rule 4: 2nd plural of common verbs used without «می».
_PLURAL_VERBS = {
    "دارین": "دارید",
    "ندارین": "ندارید",
    "هستین": "هستید",
    "نیستین": "نیستید",
    "کنین": "کنید",
    "نکنین": "نکنید",
    "بکنین": "بکنید",
    "بدین": "بدهید",
    "بفرستین": "بفرستید",
    "بگین": "بگویید",
}

# Rule 5: possessive endings after which a final «و» is the object marker «را».
_POSSESSIVES_BEFORE_OBJECT = ("مو", "تو", "شو", "مونو", "تونو", "شونو")
_MIN_OBJECT_CLITIC_WORD = 5
_GLUED_OBJECT = "ارو"
_CAUSATIVE = ("ون", "ان")  # spoken, written
_MIN_CAUSATIVE_STEM = 4

# Rule 6: spoken function words and pronoun forms (a value may be two words).
_WORDS = {
    "رو": "را",
    "چجوری": "چطور",
    "چطوری": "چطور",
    "چگونه": "چطور",
    "چیه": "چیست",
    "چقدره": "چقدر است",
    "چنده": "چند است",
    "کجاس": "کجاست",
    "یه": "یک",
    "اون": "ان",
    "اونا": "انها",
    "اینو": "این را",
    "اونو": "ان را",
    "خونه": "خانه",
    "برام": "برایم",
    "براش": "برایش",
    "برامون": "برایمان",
    "بهم": "به من",
    "بهتون": "به شما",
    "ازم": "از من",
    "ازتون": "از شما",
    "باهام": "با من",
    "الان": "اکنون",
    "نمیشه": "نمیشود",
    "میشه": "میشود",
}


# Nouns that start like a «می» verb and end like a person ending («میوه» is no verb).
_MI_NOUNS = frozenset({"میوه", "میله", "میانه", "میانگین", "میکده", "میخانه", "میهن"})


_EZAFE = "ی"


def _verb(token: str) -> str:
    if token in _MI_NOUNS:
        return token
    for prefix in _VERB_PREFIXES:
        if token.startswith(prefix) and len(token) > len(prefix):
            rest = token[len(prefix) :]
            break
    else:
        return token
    for spoken, written in _ENDINGS:
        if rest.endswith(spoken) and len(rest) > len(spoken):
            stem = rest[: -len(spoken)]
            stem = _SPOKEN_STEMS.get(stem, stem)
            if len(stem) >= _MIN_CAUSATIVE_STEM and stem.endswith(_CAUSATIVE[0]):
                stem = stem[: -len(_CAUSATIVE[0])] + _CAUSATIVE[1]
            return prefix + stem + written
    # no ending («میخوا»…) or a stem-only form: leave it
    return token


def _object_clitic(token: str) -> str:
    if len(token) >= _MIN_OBJECT_CLITIC_WORD and token.endswith(_POSSESSIVES_BEFORE_OBJECT):
        return token[:-1]
    return token


def _past_plural(token: str) -> str:
    if len(token) >= 5 and token.endswith(("دین", "تین")):
        return token[:-1] + "د"
    return token


def standardise(tokens: Sequence[str]) -> list[str]:
    """Rewrite spoken Persian tokens into standard written forms (rules 1-6 above).

    Args:
        tokens: the tokens of a Persian message, from `faq.normalise.tokenise`.

    Returns:
        The standardised tokens (a spoken word may become two written ones).
    """
    joined: list[str] = []
    for token in tokens:
        if joined and joined[-1] in _PREVERBS and token.startswith(("می", "نمی")):
            joined[-1] += token
        else:
            joined.append(token)
    out: list[str] = []
    for token in joined:
        if token == _EZAFE:
            continue
        if token in _WORDS:
            out.extend(_WORDS[token].split())
            continue
        if token in _SUBJUNCTIVES:
            out.append(_SUBJUNCTIVES[token])
            continue
        if token in _PLURAL_VERBS:
            out.append(_PLURAL_VERBS[token])
            continue
        if len(token) >= _MIN_OBJECT_CLITIC_WORD and token.endswith(_GLUED_OBJECT):
            out.extend((token[:-2], "را"))
            continue
        rewritten = _verb(token)
        if rewritten == token:
            rewritten = _past_plural(_object_clitic(token))
        out.append(rewritten)
    return out
