"""Finglish: Persian typed in Latin letters ("garanti chand mahe?"), read as Persian.

Chat users in Iran often type Persian with a Latin keyboard. `is_finglish` tells such
a message from English by its words: Persian function words and verbs in their chat
spellings (`markers` of `faq/finglish.yaml`: mikham, chejoori, kojast, darid, ro,
mishe, ...) and the Persian shop vocabulary of its `words`, counted against English
function words. English loanwords customers type as such (password, email, cancel)
are transliterated but are no evidence either way.

`to_persian` rewrites each word in Persian script:
1. a listed word («sefaresh» -> «سفارش»);
2. a listed word with a chat suffix: possessive and object endings, plural, copula
   («ramzamo» -> «رمزمو», «raygane» -> «رایگانه», «mahsoolatoon» -> «محصولاتون»);
3. otherwise by spelling rules: digraphs (kh sh ch gh zh oo ee) first, then letters;
   a short vowel (e, o) inside a word is not written, a final e is «ه».
The result then goes through the same layers as Persian typed in Persian script
(spoken forms, lexicon, matcher), and the bot answers in Persian.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache

from faq.normalise import normalise
from faq.yaml_files import shipped_yaml

# English words that decide against Finglish (and loanwords that decide nothing).
_ENGLISH = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "i",
        "im",
        "me",
        "my",
        "mine",
        "you",
        "your",
        "we",
        "our",
        "us",
        "it",
        "its",
        "to",
        "of",
        "in",
        "on",
        "for",
        "at",
        "by",
        "with",
        "from",
        "and",
        "or",
        "not",
        "no",
        "yes",
        "this",
        "that",
        "these",
        "those",
        "what",
        "whats",
        "how",
        "when",
        "where",
        "why",
        "which",
        "who",
        "can",
        "could",
        "will",
        "would",
        "should",
        "do",
        "does",
        "did",
        "dont",
        "cant",
        "have",
        "has",
        "had",
        "there",
        "any",
        "get",
        "got",
        "please",
        "just",
        "so",
        "if",
        "ok",
        "okay",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "help",
        "want",
        "need",
        "order",
        "man",
        "pas",
        "ham",
        "bad",
    ]
)
# Listed words that are English too: transliterated, but no evidence either way.
_LOANWORDS = frozenset(
    [
        "password",
        "email",
        "account",
        "address",
        "code",
        "download",
        "test",
        "technician",
        "profile",
        "operator",
        "supervisor",
        "manager",
        "agent",
        "human",
        "person",
        "rep",
        "representative",
        "robot",
        "bot",
        "factor",
        "cancel",
        "kar",
        "dar",
    ]
)

# Chat suffixes after a listed word (Latin -> Persian), longest first.
_SUFFIXES = (
    ("hamoon", "هامون"),
    ("hamo", "هامو"),
    ("haye", "های"),
    ("hay", "های"),
    ("ha", "ها"),
    ("amoon", "مون"),
    ("emoon", "مون"),
    # a possessive, then the object's «و» ("modiretoono", «مدیرتونو»)
    ("etoono", "تونو"),
    ("atoono", "تونو"),
    ("toono", "تونو"),
    ("atoon", "تون"),
    ("etoon", "تون"),
    ("eshoon", "شون"),
    ("moon", "مون"),
    ("toon", "تون"),
    ("shoon", "شون"),
    ("oon", "ون"),
    ("amo", "مو"),
    ("emo", "مو"),
    ("esho", "شو"),
    ("eto", "تو"),
    ("esh", "ش"),
    ("ash", "ش"),
    ("am", "م"),
    ("em", "م"),
    ("et", "ت"),
    ("ro", "رو"),
    ("ye", "ی"),
    ("yi", "یی"),
    ("sh", "ش"),
    ("m", "م"),
    ("t", "ت"),
    ("o", "و"),
    ("e", "ه"),
    ("i", "ی"),
)
_MIN_STEM = 2

# Spelling rules: digraphs before single letters.
_DIGRAPHS = (
    ("kh", "خ"),
    ("sh", "ش"),
    ("ch", "چ"),
    ("gh", "ق"),
    ("zh", "ژ"),
    ("oo", "و"),
    ("ou", "و"),
    ("ee", "ی"),
    ("ei", "ی"),
    ("ey", "ی"),
    ("aa", "ا"),
)
_LETTERS = {
    "b": "ب",
    "p": "پ",
    "t": "ت",
    "j": "ج",
    "d": "د",
    "r": "ر",
    "z": "ز",
    "s": "س",
    "f": "ف",
    "q": "ق",
    "k": "ک",
    "c": "ک",
    "g": "گ",
    "l": "ل",
    "m": "م",
    "n": "ن",
    "v": "و",
    "w": "و",
    "h": "ه",
    "y": "ی",
    "x": "خس",
    "a": "ا",
    "i": "ی",
    "u": "و",
}


@dataclass(frozen=True, slots=True)
class _Table:
    words: Mapping[str, str]
    markers: frozenset[str]
    spoken_words: Mapping[str, str]  # `words`, the spoken ones and the verbs' forms


# Verb forms (Latin -> Persian) in chat spellings: prefixes before each kind of stem, and
# the personal endings ("" is the imperative or the third person past).
_PREFIXES = {
    "present": (("mi", "می"), ("nemi", "نمی"), ("be", "ب"), ("na", "ن"), ("ne", "ن")),
    "past": (("", ""), ("na", "ن"), ("ne", "ن"), ("mi", "می"), ("nemi", "نمی")),
}
_ENDINGS = (
    ("am", "م"),
    ("i", "ی"),
    ("e", "ه"),
    ("ad", "د"),
    ("im", "یم"),
    ("id", "ید"),
    ("in", "ین"),
    ("an", "ن"),
    ("and", "ند"),
    ("", ""),
)


_INDICATIVE = frozenset(["mi", "nemi"])


def _conjugated(verbs: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Every prefixed, personal form of the listed stems: a past stem takes no "ad"
    ("zadad" is no form), a present one no bare "mi" ("mizan" is «میزان», "amount")."""
    forms = {}
    for kind, stems in verbs.items():
        for latin, persian in stems.items():
            for prefix, persian_prefix in _PREFIXES[kind]:
                for ending, persian_ending in _ENDINGS:
                    if (kind == "past" and ending == "ad") or (
                        kind == "present" and not ending and prefix in _INDICATIVE
                    ):
                        continue
                    forms[prefix + latin + ending] = persian_prefix + persian + persian_ending
    return forms


def _mistyped(words: Mapping[str, str]) -> dict[str, str]:
    """Each word with one letter left out or two next letters swapped ("opertor",
    "poshtbani", "karshnas"), read as the word; not a form that is itself a word."""
    forms = {}
    for latin, persian in words.items():
        for k in range(len(latin)):
            forms[latin[:k] + latin[k + 1 :]] = persian
            if k + 1 < len(latin):
                forms[latin[:k] + latin[k + 1] + latin[k] + latin[k + 2 :]] = persian
    return forms


@cache
def _table() -> _Table:
    data = shipped_yaml("finglish.yaml")
    verbs = {
        kind: {str(k).casefold(): str(v) for k, v in stems.items()}
        for kind, stems in data["verbs"].items()
    }
    words = {str(k).casefold(): normalise(str(v)) for k, v in data["words"].items()}
    spoken = {str(k).casefold(): str(v) for k, v in data["spoken_words"].items()}
    mistyped = _mistyped({str(k).casefold(): str(v) for k, v in data["mistyped"].items()})
    spoken = mistyped | _conjugated(verbs) | spoken
    spoken_words = {k: normalise(v) for k, v in spoken.items()}
    markers = frozenset(str(m).casefold() for m in data["markers"])
    return _Table(words, markers, spoken_words | words)


@lru_cache(maxsize=4096)  # per character: a bounded table
def is_latin_letter(ch: str) -> bool:
    """Whether the letter `ch` is a Latin one (any accent, any Unicode block)."""
    return unicodedata.name(ch, "").startswith("LATIN")


def _latin_share(text: str) -> float:
    if text.isascii():  # most English and Finglish: every letter is a Latin one
        return 1.0 if _LATIN_LETTER.search(text) else 0.0
    latin = other = 0
    for ch, count in Counter(text).items():  # per distinct character
        if ch.isalpha():
            if is_latin_letter(ch):
                latin += count
            else:
                other += count
    return latin / (latin + other) if latin + other else 0.0


# Each suffix with its place in `_SUFFIXES` (the first that fits wins), and their lengths:
# a word's endings are looked up, not every suffix tried (most words have none).
_SUFFIX_RANKS = {latin: (rank, persian) for rank, (latin, persian) in enumerate(_SUFFIXES)}
_SUFFIX_LENGTHS = sorted({len(latin) for latin, _ in _SUFFIXES})


def _listed(word: str, words: Mapping[str, str] | None = None) -> str | None:
    """The Persian of a listed word, or of a listed word with a chat suffix (among
    `words`: the table's `words` if None)."""
    if words is None:
        words = _table().words
    if word in words:
        return words[word]
    best: tuple[int, str, str] | None = None
    for length in _SUFFIX_LENGTHS:
        if len(word) - length < _MIN_STEM:
            break
        suffix = _SUFFIX_RANKS.get(word[-length:])
        if suffix is not None and word[:-length] in words and (best is None or suffix[0] < best[0]):
            best = (suffix[0], word[:-length], suffix[1])
    return None if best is None else words[best[1]] + best[2]


def _spell(word: str) -> str:
    """Spelling rules for a word that is not listed."""
    out: list[str] = []
    i = 0
    while i < len(word):
        pair = word[i : i + 2]
        digraph = next((p for d, p in _DIGRAPHS if d == pair), None)
        if digraph is not None:
            out.append(("ا" if i == 0 and pair[0] in "aeo" else "") + digraph)
            i += 2
            continue
        ch = word[i]
        last = i == len(word) - 1
        if ch in "eo":
            if i == 0:
                out.append("ا")
            elif last:
                out.append("ه" if ch == "e" else "و")
        elif ch in "ai" and i == 0:
            out.append("آ" if ch == "a" else "ای")
        else:
            out.append(_LETTERS.get(ch, ch))
        i += 1
    return "".join(out)


# A word that writes Arabic letters with digits ("m3a", "wa7ed", "3afak", "mas2oul"):
# Arabic in Latin letters, evidence against Finglish ("bghit nhder m3a chi wahed" is
# Moroccan though "chi" is a Persian word). Not "5g", nor Persian counting ("2ta", "3tash").
_ARABIZI_WORD = re.compile(r"[a-z]+[235679][a-z]+|[235679](?!ta)[a-z]{2,}")


# English words that are Persian after a preposition: "be man" («به من», "to me"), "ba man"
# («با من») are no English ("zang bezanin be man").
_PERSIAN_PAIRS = frozenset([("be", "man"), ("ba", "man")])
# their words: only these are looked up with their neighbours
_PAIRED = frozenset(word for pair in _PERSIAN_PAIRS for word in pair)


def _evidence(words: list[str], *, spoken: bool) -> tuple[int, int]:
    """(Persian evidence, other evidence: English and Arabizi words) among the words
    (`spoken`: a pair of `_PERSIAN_PAIRS` is one Persian word, the spoken words and the
    verbs' forms are listed)."""
    persian = english = 0
    for k, word in enumerate(words):
        if spoken and word in _PAIRED:
            if k + 1 < len(words) and (word, words[k + 1]) in _PERSIAN_PAIRS:
                persian += 1
                continue
            if k > 0 and (words[k - 1], word) in _PERSIAN_PAIRS:
                continue
        evidence = _word_evidence(word, spoken)
        if evidence > 0:
            persian += 1
        elif evidence < 0:
            english += 1
    return persian, english


# A word's evidence depends on the word alone: a message's words are read a few times a
# decision (the whole message, each clause, in both readings) and words repeat across
# messages, so each word is read once (bounded: a long chat of new words evicts).
@lru_cache(maxsize=1 << 14)
def _word_evidence(word: str, spoken: bool) -> int:
    """What `word` read alone (outside a pair of `_PERSIAN_PAIRS`) tells of its
    message's language: 1 Persian, -1 English or Arabizi, 0 nothing (a loanword, or a
    word of neither list)."""
    if word in _ENGLISH or _ARABIZI_WORD.fullmatch(word):
        return -1
    if word in _LOANWORDS:
        return 0
    table = _table()
    listed = table.spoken_words if spoken else table.words
    return 1 if word in table.markers or _listed(word, listed) is not None else 0


# One decision asks both of the same message several times (triage, the asking clause,
# language detection, the matcher): the last few answers are kept.
@lru_cache(maxsize=64)
def is_finglish(text: str, *, spoken: bool = False) -> bool:
    """Whether `text` is Persian typed in Latin letters (not English).

    Args:
        text: a message as typed.
        spoken: count "be man" («به من») and the like as Persian (triage's reading;
            the matcher's entries were fitted without).
    """
    if _latin_share(text) < 0.5:
        return False
    persian, english = _evidence_of(text, spoken)
    return persian >= 1 and persian > english


@lru_cache(maxsize=64)  # read by `is_finglish` and by `clauses_in_persian_script`
def _evidence_of(text: str, spoken: bool) -> tuple[int, int]:
    """`_evidence` of the Latin words of `text`."""
    words = [w for w in normalise(text).split() if w.isascii() and w.isalnum()]
    return _evidence(words, spoken=spoken)


# Finglish is written in these (a message without one has no clause of it to read).
_LATIN_LETTER = re.compile(r"[A-Za-z]")
# Punctuation that ends a clause, kept by `clauses_in_persian_script`.
_CLAUSE_PUNCTUATION = re.compile(r"([.!?؟؛;,،\n]+)")
_FINAL_MARKS = " \t\n.!?؟"


# The ezafe ("ramz e account", "ramz-e account": "the account's password") is a vowel
# Persian script does not write; spelt, it would be a stray «ا» the KB never explains.
_EZAFE = "e"


def to_persian(text: str, *, spoken: bool = False) -> str:
    """`text` (Finglish) in Persian script, word by word; digits and other words kept.

    Args:
        text: a message for which `is_finglish` holds.
        spoken: read the listed verbs in every person ("nemizanam" -> «نمیزنم»), and a
            listed word's final "e" before another word as the ezafe glued on
            ("montazere tamasetoon" -> «منتظر تماستون»), not the spoken "is". Triage
            reads so; the matcher's entries were fitted on the plain reading.

    Returns:
        Normalised Persian text.
    """
    table = _table()
    listed = table.spoken_words if spoken else table.words
    words = normalise(text).split()
    out = []
    for k, word in enumerate(words):
        if not (word.isascii() and word.isalpha()):
            out.append(word)
        elif word != _EZAFE:
            if spoken and k + 1 < len(words) and _glued_ezafe(word, listed):
                word = word[: -len(_EZAFE)]
            out.append(_listed(word, listed) or _spell(word))
    return normalise(" ".join(out))


def _glued_ezafe(word: str, listed: Mapping[str, str]) -> bool:
    """Whether `word` is a listed word (not a listed form) with the ezafe's "e" on it."""
    return word.endswith(_EZAFE) and word not in listed and word[: -len(_EZAFE)] in listed


@lru_cache(maxsize=64)
def persian_script(text: str) -> str:
    """`text` in Persian script if it is Finglish, else `text` unchanged."""
    return to_persian(text) if is_finglish(text) else text


def clauses_in_persian_script(text: str, *, spoken: bool = False) -> str:
    """`persian_script(text)` with the punctuation between clauses kept, for a reader of
    clauses (triage: "dirooz zang zadam, alan ye karshenas mikham" is a story, then a
    request); `spoken` as `is_finglish` and `to_persian` read it, for telling requests
    for a person, and each clause of a message in English and Finglish in its own
    language ("this is ridiculous. ye operator mikham"). The matcher's reading drops the
    punctuation (its question clause is chosen otherwise)."""
    if not _LATIN_LETTER.search(text):
        return text  # Persian or Arabic script: nothing to read (most messages: one scan)
    whole = is_finglish(text, spoken=spoken)
    # clause by clause only where there are clauses
    if not (whole or (spoken and _CLAUSE_PUNCTUATION.search(text.rstrip(_FINAL_MARKS)))):
        return text
    pieces = _CLAUSE_PUNCTUATION.split(text)
    # Each clause's words are the message's, cut where it is cut: normalising splits at
    # these marks too, but for a decimal point (kept in "2.5"). So where no word of the
    # message is Persian (nor a pair of words), no clause is Finglish: not read one by one.
    if not whole and _evidence_of(text, spoken)[0] == 0 and "." not in normalise(text):
        return "".join(piece + " " if k % 2 else piece for k, piece in enumerate(pieces)).strip()
    # each mark after its clause's last word, as typed ("konid, alan")
    return "".join(
        piece + " "
        if k % 2
        else to_persian(piece, spoken=spoken)
        if whole or is_finglish(piece, spoken=spoken)
        else piece
        for k, piece in enumerate(pieces)
    ).strip()
