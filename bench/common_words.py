"""Write the common-word lists the answer decision reads (`faq.common_words`).

    pip install wordfreq
    python bench/common_words.py [--top N]

For English, Persian and Arabic: the `wordfreq` package's most frequent words (its
"best" list: large for English and Arabic, small for Persian), each put in the form
the matcher gives it (normalised, spoken Persian standardised, the English stem); a
word that becomes several tokens or a form already listed is skipped, so the line
number is the rank of the form's most frequent word. wordfreq is needed only here:
its data is CC BY-SA 4.0 (faq/common_words/LICENSE.md), the written lists ship.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wordfreq

from faq.colloquial import standardise
from faq.common_words import DATA_DIR, LANGUAGES
from faq.morphology import english_stem
from faq.normalise import normalise, tokenise

# How many forms each list keeps (chosen by `bench/faq_answer_model.py cv`).
TOP = 10_000


def matcher_form(word: str, language: str) -> str | None:
    """The one form the matcher gives `word` in a `language` question, or None when
    it gives several tokens or none."""
    tokens = tokenise(normalise(word))
    if language == "fa":
        tokens = standardise(tokens)
    if len(tokens) != 1:
        return None
    return english_stem(tokens[0])


def common_forms(words: Iterable[str], language: str, top: int) -> list[str]:
    """The first `top` distinct matcher forms of `words` (most frequent first)."""
    forms: dict[str, None] = {}
    for word in words:
        form = matcher_form(word, language)
        if form is not None and not form.isdigit():
            forms.setdefault(form, None)
            if len(forms) == top:
                break
    return list(forms)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--top", type=int, default=TOP, help="forms per language")
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for language in LANGUAGES:
        # the whole list: forms merge, so more words than `top` are read
        words = wordfreq.top_n_list(language, 10 * args.top, wordlist="best")
        forms = common_forms(words, language, args.top)
        (args.out / f"{language}.txt").write_text("\n".join(forms) + "\n", encoding="utf-8")
        print(f"{language}: {len(forms)} forms from {len(words)} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
