"""Splitting long replies and mapping buttons to callback data (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import regex
from telegram import CallbackQuery, Chat, Message, User

from channels.telegram.outbound import (
    split_text,
    suggestion_keyboard,
    tapped_suggestion,
    utf16_len,
)


def test_short_text_is_one_piece_and_empty_text_none() -> None:
    assert split_text("سلام") == ["سلام"]
    assert split_text("   ") == []


def test_paragraphs_are_preferred_over_lines_and_sentences() -> None:
    first = "الف. " * 300
    text = first.strip() + "\n\n" + "ب. " * 300
    pieces = split_text(text, limit=1500)
    assert pieces[0] == first.strip()


def test_sentences_are_cut_after_persian_question_marks() -> None:
    text = "آیا سفارش من ارسال شده است؟ " * 200
    pieces = split_text(text, limit=1000)
    assert len(pieces) > 1
    assert all(piece.endswith("؟") for piece in pieces)
    assert all(utf16_len(piece) <= 1000 for piece in pieces)


def test_decimal_points_are_not_sentence_ends() -> None:
    text = ("price 3.50 " * 10 + "end. ") * 50
    for piece in split_text(text, limit=300):
        assert not piece.endswith("3.")


def test_emoji_count_twice_and_are_never_cut_in_half() -> None:
    text = "😀" * 5000  # one "word", 10,000 UTF-16 units
    pieces = split_text(text)
    assert all(utf16_len(piece) <= 4096 for piece in pieces)
    assert "".join(pieces) == text


def test_a_long_word_is_cut_hard_when_nothing_else_fits() -> None:
    text = "x" * 9000
    pieces = split_text(text)
    assert [len(piece) for piece in pieces] == [4096, 4096, 808]


def _assert_cut_between_graphemes(text: str, pieces: list[str]) -> None:
    """The pieces give the text back and every cut falls between two visible characters."""
    assert "".join(pieces) == text
    assert all(0 < utf16_len(piece) <= 4096 for piece in pieces)
    boundaries = {match.end() for match in regex.finditer(r"\X", text)}
    offset = 0
    for piece in pieces[:-1]:
        offset += len(piece)
        assert offset in boundaries, f"cut inside {text[offset - 2 : offset + 2]!r}"


@pytest.mark.parametrize(
    "text",
    [
        # An odd number of regional indicators fits: the cut would part 🇮 from 🇷.
        "a" + "🇮🇷" * 2000,
        # Likewise a thumb from its skin tone.
        "a" + "👍🏽" * 2000,
        # An 11-unit family (four people joined by ZWJ): 4096 is not a multiple of 11.
        "👨\u200d👩\u200d👧\u200d👦" * 800,
        # Persian written without spaces; the 4097th character is a ZWNJ.
        "ا" * 4094 + "می\u200cروم" * 500,
        # Arabic with a fatha on every letter; the 4097th character is a fatha.
        "a" + "بَ" * 3000,
        # A ZWJ right after the limit: cutting before it would part the sequence.
        "x" * 4094 + "🧑\u200d💻" + "x" * 100,
    ],
    ids=["flags", "skin-tones", "zwj-family", "persian-zwnj", "arabic-harakat", "zwj-at-limit"],
)
def test_a_long_word_is_cut_only_between_visible_characters(text: str) -> None:
    pieces = split_text(text)
    assert len(pieces) > 1
    _assert_cut_between_graphemes(text, pieces)


def test_one_huge_cluster_is_cut_inside_it_and_the_split_ends() -> None:
    # One letter with 10,000 fathas is a single grapheme cluster: no boundary to cut
    # at, so the cut goes inside it, and every piece takes as much as fits.
    text = "ب" + "\u064e" * 10_000
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert [len(piece) for piece in pieces] == [4096, 4096, 1809]


def _tap(data: str, message: Message | None) -> CallbackQuery:
    user = User(id=1, first_name="Sara", is_bot=False)
    return CallbackQuery(id="q1", from_user=user, chat_instance="c", data=data, message=message)


@pytest.mark.parametrize(
    "suggestions",
    [
        ("بله", "خیر"),
        ("می‌خواهم با یک همکار پشتیبانی درباره‌ی بازگرداندن سفارش صحبت کنم", "ok"),
        ("x" * 62, "y" * 63),
    ],
)
def test_every_button_maps_back_to_its_suggestion(suggestions: tuple[str, ...]) -> None:
    keyboard = suggestion_keyboard(suggestions)
    assert keyboard is not None
    sent = Message(
        message_id=3,
        date=datetime.now(UTC),
        chat=Chat(id=1, type=Chat.PRIVATE),
        reply_markup=keyboard,
    )
    for row, suggestion in zip(keyboard.inline_keyboard, suggestions, strict=True):
        data = row[0].callback_data
        assert isinstance(data, str) and len(data.encode()) <= 64
        assert tapped_suggestion(_tap(data, sent)) == suggestion


def test_an_unknown_or_orphaned_tap_maps_to_nothing() -> None:
    assert tapped_suggestion(_tap("i:0", None)) is None
    assert tapped_suggestion(_tap("garbage", None)) is None
    assert suggestion_keyboard(()) is None
