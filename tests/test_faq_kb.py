"""KB format and loading: JSON as shipped, YAML, folders, errors, hot reload."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest

from faq.kb import KbError, load_kb, sample_kb_path
from faq.reload import KbWatcher

FIXTURES = Path(__file__).parent / "fixtures" / "faq"

YAML_KB = """\
language: en
entries:
  - id: hours
    tags: [contact]
    questions:
      en: ["What are your opening hours?"]
      fa: ["ساعت کاری شما چیست؟"]
    answers:
      en: "9 to 5."
      fa: "۹ تا ۵."
  - id: complaint
    handoff: true
    suggestions: ["Order number"]
    questions: {en: ["I want to complain"]}
    answers: {en: "Sorry to hear that."}
"""


def _entry(entry_id: str, question: str, answer: str) -> dict[str, object]:
    return {"id": entry_id, "questions": {"en": [question]}, "answers": {"en": answer}}


def test_shared_kb_json_loads_as_is() -> None:
    kb = load_kb(FIXTURES / "kb.json")
    assert len(kb.entries) == 35
    first = kb.entries[0]
    assert first.id == "order-tracking"
    assert first.questions["fa"][0] == "سفارشم کجاست؟"
    assert set(first.answers) == {"fa", "ar", "en"}
    assert kb.languages == {"fa", "ar", "en"}
    assert kb.default_language == "fa"


def test_yaml_with_optional_fields(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_text(YAML_KB, encoding="utf-8")
    kb = load_kb(path)
    assert kb.default_language == "en"
    hours, complaint = kb.entries
    assert hours.tags == ("contact",)
    assert hours.answer_in("fa", "en") == ("fa", "۹ تا ۵.")
    assert hours.answer_in("ar", "en") == ("en", "9 to 5.")  # falls back to the default
    assert complaint.handoff is True
    assert complaint.suggestions_in("en", "en") == ("Order number",)


def test_folder_of_files_loads_all_and_rejects_duplicate_ids(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([_entry("a", "q a", "ans a")]), encoding="utf-8")
    (tmp_path / "b.yml").write_text(
        "- id: b\n  questions: {en: [q b]}\n  answers: {en: ans b}\n", encoding="utf-8"
    )
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    assert [e.id for e in load_kb(tmp_path).entries] == ["a", "b"]
    (tmp_path / "c.json").write_text(json.dumps([_entry("a", "q", "x")]), encoding="utf-8")
    with pytest.raises(KbError, match="already used"):
        load_kb(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "not valid JSON"),
        ('{"entries": 3}', "expected a list"),
        ('[{"questions": {"en": ["q"]}, "answers": {"en": "a"}}]', "without an id"),
        ('[{"id": "x", "answers": {"en": "a"}}]', "'questions'"),
        ('[{"id": "x", "questions": {"en": ["q"]}}]', "'answers'"),
        ('[{"id": "x", "questions": {"en": ["q"]}, "answers": {"en": ""}}]', "non-empty"),
        ('[{"id": "x", "questions": {"en": [1]}, "answers": {"en": "a"}}]', "list of strings"),
        ("[]", "no entries"),
    ],
)
def test_invalid_files_name_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "kb.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(KbError, match=message):
        load_kb(path)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KbError, match="no such file"):
        load_kb(tmp_path / "nope.json")


def test_sample_shop_kb_is_trilingual() -> None:
    kb = load_kb(sample_kb_path())
    assert len(kb.entries) >= 8
    for entry in kb.entries:
        assert {"fa", "ar", "en"} <= set(entry.questions) and {"fa", "ar", "en"} <= set(
            entry.answers
        ), entry.id
    assert any(e.handoff for e in kb.entries)


def _write(path: Path, entries: list[dict[str, object]], mtime_ns: int) -> None:
    path.write_text(json.dumps(entries), encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))  # mtimes may be coarse: set them explicitly


async def test_hot_reload_picks_up_a_change(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    _write(path, [_entry("hours", "opening hours", "9 to 5")], 1_000_000_000)
    watcher = KbWatcher(path, poll_seconds=0.02)
    await watcher.start()
    try:
        assert watcher.current is not None
        assert [e.id for e in watcher.current.kb.entries] == ["hours"]
        _write(
            path,
            [_entry("hours", "opening hours", "9 to 5"), _entry("refund", "refund time", "3d")],
            2_000_000_000,
        )
        async with asyncio.timeout(5):
            await watcher.reloaded.wait()
        assert watcher.reloads == 1
        assert [e.id for e in watcher.current.kb.entries] == ["hours", "refund"]
        best = watcher.current.matcher.match("how long for a refund").best
        assert best is not None and best.entry_id == "refund"
    finally:
        await watcher.stop()
    await watcher.stop()  # stopping twice is harmless


async def test_broken_file_keeps_old_kb_and_logs_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "kb.json"
    _write(path, [_entry("hours", "opening hours", "9 to 5")], 1_000_000_000)
    watcher = KbWatcher(path, watch=False)
    await watcher.start()
    path.write_text('[{"id": "hours", "questions": ', encoding="utf-8")
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    with caplog.at_level(logging.ERROR, logger="faq.reload"):
        assert await watcher.check_now() is False
    assert "keeping the previous KB" in caplog.text and "not valid JSON" in caplog.text
    assert watcher.current is not None
    assert [e.id for e in watcher.current.kb.entries] == ["hours"]
    # The same broken state is not retried (or logged) again; a fix is picked up.
    caplog.clear()
    assert await watcher.check_now() is False
    assert caplog.text == ""
    _write(path, [_entry("fixed", "opening hours", "10 to 6")], 4_000_000_000)
    assert await watcher.check_now() is True
    assert [e.id for e in watcher.current.kb.entries] == ["fixed"]


async def test_start_twice_raises_and_bad_first_load_raises(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    _write(path, [_entry("a", "q", "a")], 1_000_000_000)
    watcher = KbWatcher(path, poll_seconds=10)
    await watcher.start()
    with pytest.raises(RuntimeError):
        await watcher.start()
    await watcher.stop()
    with pytest.raises(KbError):
        await KbWatcher(tmp_path / "missing.json").start()
