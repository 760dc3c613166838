"""Rendering a channel-neutral reply for Telegram: text pieces, buttons, button taps.

Telegram caps a message at 4096 characters (counted in UTF-16 code units, so an emoji
counts twice) and a button's `callback_data` at 64 bytes. Long replies are split on
paragraph, line, sentence and word boundaries, in that order of preference, and only
ever between two visible characters (extended grapheme clusters): never between the
two halves of a flag, before a skin tone, a ZWNJ or ZWJ, or an Arabic vowel mark; a
suggestion that does not fit in `callback_data` is sent as its index and read back
from the keyboard of the message that was tapped, so no state is kept between
processes or restarts. The buttons under the router's "link this chat?" question
name the question (`lq:<question id>:<index>`, the label read back from the keyboard):
a tap under an older question then answers nothing rather than the newer one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import regex
from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from router.core.languages import localised_number
from router.core.messages import SurveyOffer

MAX_MESSAGE_UNITS = 4096
MAX_CALLBACK_BYTES = 64
_TEXT_PREFIX = "s:"  # callback_data carries the suggestion itself
_INDEX_PREFIX = "i:"  # callback_data carries the button's index; the text is on the keyboard
_SURVEY_PREFIX = "sv:"  # callback_data is "sv:<score>:<survey token>"
_LINK_PREFIX = "lq:"  # callback_data is "lq:<link question id>:<index>" (at most 26 bytes)

# Ends of sentences in the scripts Pasokh serves: Latin . ! ? …, Arabic/Persian ؟ ۔ ؛
# and the Arabic full stop; followed by whitespace, so "3.5" or "e.g.x" are never cut.
_SENTENCE_END = re.compile(r"[.!?…؟۔؛][\"'»)\]]*\s+")
_PARAGRAPH_END = re.compile(r"\n\n+")
_LINE_END = re.compile(r"\n+")
_WORD_END = re.compile(r"\s+")
# One extended grapheme cluster (UAX #29), what a reader sees as one character: the
# standard library's re has no \X, and a hand-written rule would have to follow the
# Unicode data for emoji sequences, regional indicators and Indic conjuncts.
_GRAPHEME = regex.compile(r"\X")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_MESSAGE_UNITS) -> list[str]:
    """Cut `text` into pieces of at most `limit` UTF-16 units, at the best boundary.

    Args:
        text: the whole reply.
        limit: the most UTF-16 code units one piece may have.

    Returns:
        The pieces, in order, each stripped of the whitespace at the cut; one piece
        when the text fits; none for an empty text.
    """
    if limit < 2:
        # A piece must hold at least one character, and one may take two units.
        raise ValueError("limit must be at least 2 UTF-16 units")
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if utf16_len(rest) <= limit:
            pieces.append(rest)
            break
        window = _prefix_within(rest, limit)
        cut = _best_cut(window, _grapheme_ends(rest, len(window)))
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return pieces


def _prefix_within(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` UTF-16 units, never half a surrogate pair."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def _grapheme_ends(text: str, end: int) -> set[int]:
    """The offsets up to `end` where one of `text`'s grapheme clusters ends.

    Found on the whole text, not the window alone: whether the window's own end is a
    boundary depends on the character after it (a skin tone, a combining mark).
    """
    ends: set[int] = set()
    for match in _GRAPHEME.finditer(text):
        if match.end() > end:
            break
        ends.add(match.end())
    return ends


def _best_cut(window: str, boundaries: set[int]) -> int:
    """Where to cut `window`: the last paragraph, line, sentence or word break in its
    second half that is also a grapheme boundary; else the last grapheme boundary;
    else, for a window inside one huge cluster, the whole window (the only way on)."""
    floor = len(window) // 2
    for pattern in (_PARAGRAPH_END, _LINE_END, _SENTENCE_END, _WORD_END):
        cuts = [m.end() for m in pattern.finditer(window)]
        eligible = [cut for cut in cuts if cut > floor and cut in boundaries]
        if eligible:
            return eligible[-1]
    return max(boundaries, default=len(window))


def suggestion_keyboard(
    suggestions: Sequence[str], link_question_id: int | None = None
) -> InlineKeyboardMarkup | None:
    """One button per row (Persian suggestions are long); None without suggestions.
    With `link_question_id`, the buttons answer that "link this chat?" question."""
    if not suggestions:
        return None
    rows = [
        [InlineKeyboardButton(text, callback_data=_callback_data(index, text, link_question_id))]
        for index, text in enumerate(suggestions)
    ]
    return InlineKeyboardMarkup(rows)


def _callback_data(index: int, text: str, link_question_id: int | None) -> str:
    if link_question_id is not None:
        return f"{_LINK_PREFIX}{link_question_id}:{index}"
    data = _TEXT_PREFIX + text
    if len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES:
        return data
    return f"{_INDEX_PREFIX}{index}"


def tapped_suggestion(query: CallbackQuery) -> str | None:
    """The suggestion text a button tap stands for; None when it cannot be known.

    A short suggestion travels in the callback data itself. A long one is looked up
    on the keyboard of the tapped message, which Telegram sends along with the tap
    unless the message has become inaccessible.
    """
    data = query.data or ""
    if data.startswith(_TEXT_PREFIX):
        return data[len(_TEXT_PREFIX) :] or None
    if not data.startswith((_INDEX_PREFIX, _LINK_PREFIX)) or not isinstance(query.message, Message):
        return None
    markup = query.message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def tapped_link_question(query: CallbackQuery) -> int | None:
    """The "link this chat?" question a tapped button was sent with; None for any other
    button (one sent before buttons named their question included)."""
    data = query.data or ""
    if not data.startswith(_LINK_PREFIX):
        return None
    question, _, index = data[len(_LINK_PREFIX) :].partition(":")
    if not (question.isascii() and question.isdigit() and index.isascii() and index.isdigit()):
        return None
    return int(question)


def survey_keyboard(survey: SurveyOffer, language: str | None) -> InlineKeyboardMarkup | None:
    """The survey's scores as buttons: one row of five stars for a CSAT, two rows
    (0-5, 6-10) for an NPS; None if a token would not fit Telegram's 64 bytes."""
    buttons = []
    for score in survey.scores():
        data = f"{_SURVEY_PREFIX}{score}:{survey.token}"
        if len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
            return None
        label = localised_number(score, (language or "en")[:2])
        buttons.append(
            InlineKeyboardButton(
                f"{label} ⭐" if survey.kind == "csat" else label, callback_data=data
            )
        )
    rows = [buttons] if len(buttons) <= 5 else [buttons[:6], buttons[6:]]
    return InlineKeyboardMarkup(rows)


def tapped_score(query: CallbackQuery) -> tuple[str, int] | None:
    """(survey token, score) of a tap on a survey button; None for any other tap."""
    data = query.data or ""
    if not data.startswith(_SURVEY_PREFIX):
        return None
    score, _, token = data[len(_SURVEY_PREFIX) :].partition(":")
    if not score.isascii() or not score.isdigit() or not token:
        return None
    return token, int(score)


def survey_replied_to(message: Message) -> str | None:
    """The survey token of the question `message` replies to (its comment), if any.

    Telegram sends the replied-to message along, with its keyboard: the token is read
    from there, so no state is kept between the tap and the comment.
    """
    replied = message.reply_to_message
    markup = replied.reply_markup if replied is not None else None
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            data = button.callback_data
            if isinstance(data, str) and data.startswith(_SURVEY_PREFIX):
                return data[len(_SURVEY_PREFIX) :].partition(":")[2] or None
    return None
