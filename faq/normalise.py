"""Text normalisation for matching Persian, Arabic and English questions.

`normalise` is the one function every KB phrasing and every customer question goes
through before matching. Its rules, applied in this order:

1. Unicode NFKC (Arabic presentation forms, full-width Latin, ligatures -> base letters).
2. Invisible format characters dropped: ZWNJ (U+200C), ZWJ, LRM/RLM/ALM, BOM, soft
   hyphen. Dropping ZWNJ joins its two halves, so «می‌خواهم» == «میخواهم»; the spaced
   form «می خواهم» is joined back by `tokenise` (rule 9).
3. Harakat (U+064B-U+065F), superscript alef (U+0670), Quranic marks and tatweel (U+0640)
   removed *before* tokenising, so a diacritic never splits a word.
4. Arabic/Persian letter unification for matching: ي ى ئ -> ی, ك -> ک, ة ۀ -> ه,
   أ إ آ ٱ -> ا, ؤ -> و. Persian-only letters (پ چ ژ گ) are never folded.
5. Persian (۰-۹) and Arabic-Indic (٠-٩) digits -> ASCII; ٫ -> "." and ٬ dropped.
6. Latin case folding (`str.casefold`); apostrophes removed (don't -> dont).
7. Every punctuation or symbol character, Arabic ones (؟ ، ؛ « ») included, becomes a
   space, except a decimal point between two digits (3.5 stays one token).
8. Runs of whitespace collapse to one space; the result is stripped.

`tokenise` splits the normalised text on spaces and then (rule 9) glues Persian
clitics written apart back onto their word: «می» / «نمی» join the following token and
«ها» «های» «هایی» «هام» «تر» «ترین» join the preceding one, so a missing
or spaced ZWNJ gives the same tokens as a correct one.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata

# Rule 2: format characters that carry no letters. ZWNJ is deliberately dropped (joins).
_INVISIBLE = (
    "\u200c\u200d\u200e\u200f\u061c\ufeff\u00ad"  # ZWNJ, ZWJ, LRM, RLM, ALM, BOM, soft hyphen
    "\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u202e"  # bidi isolates/embeddings
)

# Rule 3: marks removed before tokenising.
_MARKS = (
    "".join(chr(c) for c in range(0x064B, 0x0660))  # harakat, shadda, sukun, madda, hamza marks
    + "\u0670"  # superscript (dagger) alef
    + "\u0640"  # tatweel
    + "".join(chr(c) for c in range(0x06D6, 0x06EE))  # Quranic annotation marks
    + "".join(chr(c) for c in range(0x0610, 0x061B))  # Arabic signs above/below
)

# Rule 4: unification for matching; Persian letters are the targets, never folded.
_LETTERS = {
    "ي": "ی",
    "ى": "ی",
    "ئ": "ی",
    "ك": "ک",
    "ة": "ه",
    "ۀ": "ه",
    "ە": "ه",
    "ھ": "ه",
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ؤ": "و",
}

# Rule 5: digits.
_DIGITS = {chr(0x06F0 + i): str(i) for i in range(10)} | {
    chr(0x0660 + i): str(i) for i in range(10)
}

_APOSTROPHES = "'’‘`´"

_TABLE: dict[int, str | None] = {ord(c): None for c in _INVISIBLE + _MARKS + _APOSTROPHES}
_TABLE.update({ord(k): v for k, v in _LETTERS.items()})
_DIGIT_TABLE = {ord(k): v for k, v in _DIGITS.items()}
_TABLE.update(_DIGIT_TABLE)
_TABLE[ord("٫")] = "."
_TABLE[ord("٬")] = None

# Rule 9: Persian clitics that are often written as separate words.
_JOIN_NEXT = frozenset({"می", "نمی"})
# («ای» «ام» are left out: after rule 4 they are also Arabic words, أي and أم.)
_JOIN_PREVIOUS = frozenset({"ها", "های", "هایی", "هام", "تر", "ترین"})


# Per character (a bounded table: messages use few distinct characters); looking the
# category up for every character of every message was a tenth of a decision.
@functools.lru_cache(maxsize=4096)
def _is_separator(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in "PSZC" and ch != " "


# One decision normalises the same message several times (triage, language detection,
# Finglish detection): the last few results are kept.
@functools.lru_cache(maxsize=64)
def normalise(text: str) -> str:
    """Return `text` normalised for matching (rules 1-8 of this module's docstring).

    Args:
        text: any customer message or KB phrasing.

    Returns:
        Lower-case, punctuation-free text with unified letters and ASCII digits,
        words separated by single spaces.
    """
    text = unicodedata.normalize("NFKC", text)
    # NFKC may decompose nothing we care about, but the table must run after it so
    # that presentation forms are already base letters.
    text = text.translate(_TABLE).casefold()
    # Rule 7 per distinct character (a message has a few dozen), not per character.
    separators = {ord(ch): " " for ch in set(text) if _is_separator(ch)}
    if separators.pop(ord("."), None) is not None:
        text = _spaced_dots(text)
    return " ".join(text.translate(separators).split())


def _spaced_dots(text: str) -> str:
    """`text` with every "." a space except one between two digits (a decimal point)."""
    pieces = text.split(".")
    out = [pieces[0]]
    for before, after in itertools.pairwise(pieces):
        out.append("." if before[-1:].isdigit() and after[:1].isdigit() else " ")
        out.append(after)
    return "".join(out)


_INVISIBLE_TABLE = str.maketrans("", "", _INVISIBLE)


def drop_invisible(text: str) -> str:
    """Rule 2 alone: `text` without format characters (direction marks a mail client
    wraps around right-to-left text, ZWNJ, BOM), the rest as it is."""
    return text.translate(_INVISIBLE_TABLE)


def fold_digits(text: str) -> str:
    """Rule 5 alone: Persian (۰-۹) and Arabic-Indic (٠-٩) digits to ASCII, the rest of
    `text` as it is (for codes and dates a person types, which are not matched)."""
    return text.translate(_DIGIT_TABLE)


def tokenise(normalised: str) -> list[str]:
    """Split normalised text into tokens, re-joining Persian clitics (rule 9).

    Args:
        normalised: the output of `normalise`.

    Returns:
        The tokens, in order.
    """
    tokens: list[str] = []
    glue_next = False
    for word in normalised.split():
        if glue_next and tokens:
            tokens[-1] += word
            glue_next = False
            continue
        if word in _JOIN_PREVIOUS and tokens and not tokens[-1].isascii():
            tokens[-1] += word
            continue
        tokens.append(word)
        glue_next = word in _JOIN_NEXT
    return tokens
