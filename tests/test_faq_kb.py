"""KB format and loading: JSON as shipped, YAML, folders, errors, hot reload."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest

from faq.cli import main as faq_main
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


# A small file whose aliases stand for 200 copies of one 10,000-character answer.
ALIAS_BOMB = "entries:\n" + "".join(
    f"  - id: e{i}\n    questions: {{en: [question {i}]}}\n"
    f"    answers: {{en: {'&big ' + 'x' * 10_000 if i == 0 else '*big'}}}\n"
    for i in range(200)
)


@pytest.mark.parametrize(
    "text",
    [
        ALIAS_BOMB,
        # An anchor alone repeats nothing, but is refused too: one rule, easy to state.
        "- &one {id: a, questions: {en: [q]}, answers: {en: a}}\n",
        "- id: a\n  questions: {en: [q]}\n  answers: {en: a}\n  <<: *x\n",
    ],
    ids=["alias-bomb", "anchor", "merge-key-alias"],
)
def test_yaml_anchors_and_aliases_are_refused_with_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "kb.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KbError, match=r"anchors and aliases .* are not allowed") as refused:
        load_kb(path)
    assert "line " in str(refused.value)
    # `pasokh faq check` reads files with the same loader.
    assert faq_main(["faq", "check", str(path)]) == 1
    assert "anchors and aliases" in capsys.readouterr().err


# The documented limits (docs/bot.md, "Limits of a KB").
MAX_ANSWER_CHARS = 4_000
MAX_PHRASING_CHARS = 500
MAX_PHRASINGS = 200
MAX_ENTRIES = 10_000


def _long(n: int) -> str:
    return ("word " * n)[:n]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"answers": {"en": _long(MAX_ANSWER_CHARS + 1)}}, r"answers\.en: 4,001 characters"),
        ({"questions": {"en": [_long(MAX_PHRASING_CHARS + 1)]}}, r"questions\.en: a text of 501"),
        (
            {"questions": {"en": [f"question {i}" for i in range(MAX_PHRASINGS + 1)]}},
            r"questions\.en: 201 texts, at most 200",
        ),
        ({"not": {"en": [_long(MAX_PHRASING_CHARS + 1)]}}, r"not\.en: a text of 501"),
        ({"suggestions": [_long(MAX_PHRASING_CHARS + 1)]}, "suggestions: a text of 501"),
        ({"tags": [f"t{i}" for i in range(MAX_PHRASINGS + 1)]}, "tags: 201 texts"),
    ],
)
def test_an_entry_past_a_size_limit_is_refused_by_name(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    fine = _entry("fine", "q", "a")
    # At the limits exactly, an entry loads.
    at_limit = {
        "id": "full",
        "questions": {"en": [_long(MAX_PHRASING_CHARS)] + [f"p{i}" for i in range(199)]},
        "answers": {"en": _long(MAX_ANSWER_CHARS)},
    }
    path = tmp_path / "kb.json"
    path.write_text(json.dumps([fine, at_limit]), encoding="utf-8")
    assert len(load_kb(path).entries) == 2
    path.write_text(json.dumps([fine, {**_entry("big", "x", "y"), **change}]), encoding="utf-8")
    with pytest.raises(KbError, match=message) as refused:
        load_kb(path)
    assert "entry 2 (id big)" in str(refused.value)


def test_a_kb_past_its_entry_or_text_limit_is_refused_at_the_entry_that_crosses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kb.json"
    entries = [_entry(f"e{i}", f"question {i}", "an answer") for i in range(MAX_ENTRIES + 1)]
    path.write_text(json.dumps(entries), encoding="utf-8")
    with pytest.raises(KbError, match=r"entry 10001 \(id e10000\): a KB holds at most 10,000"):
        load_kb(path)
    path.write_text(json.dumps(entries[:MAX_ENTRIES]), encoding="utf-8")
    assert len(load_kb(path).entries) == MAX_ENTRIES
    # The text limit counts every file of a folder together (a smaller one to keep it quick).
    monkeypatch.setattr("faq.kb.MAX_KB_CHARS", 30_000)
    folder = tmp_path / "kb"
    folder.mkdir()
    for name, ids in (("a.json", range(0, 4)), ("b.json", range(4, 8))):
        texts = [_entry(f"e{i}", f"q{i}", _long(MAX_ANSWER_CHARS)) for i in ids]
        (folder / name).write_text(json.dumps(texts), encoding="utf-8")
    with pytest.raises(KbError, match=r"b\.json entry 4 \(id e7\): the KB's texts pass 30,000"):
        load_kb(folder)
