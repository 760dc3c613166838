"""`faq check|ask|eval` on the fixture KB."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from faq.cli import add_faq_commands, main
from faq.evaluate import read_queries
from faq.kb import load_kb

FIXTURES = Path(__file__).parent / "fixtures" / "faq"
KB = FIXTURES / "kb.json"
REPO = Path(__file__).resolve().parents[1]

EVAL_KEYS = {
    "queries",
    "in_scope",
    "answered_right",
    "answered_wrong",
    "suggested_right",
    "out_of_scope",
    "out_of_scope_held",
    "handoff",
    "handoff_detected",
    "p99_us",
}


def test_eval_json_has_exactly_the_documented_integer_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["faq", "eval", str(KB), str(FIXTURES / "dev.jsonl"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= EVAL_KEYS
    assert all(isinstance(report[k], int) for k in EVAL_KEYS)
    assert report["queries"] == 129
    assert report["in_scope"] + report["out_of_scope"] + report["handoff"] == 129
    assert (report["out_of_scope"], report["handoff"]) == (12, 8)
    assert report["handoff_detected"] == 8
    assert report["answered_right"] + report["answered_wrong"] <= report["queries"]


def test_eval_text_lists_the_mistakes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"text": "where is my order", "expected": "invoice"})
        + "\n\n"
        + json.dumps({"text": "talk to a human", "expected": "human"})
        + "\n",
        encoding="utf-8",
    )
    assert main(["faq", "eval", str(KB), str(queries)]) == 0
    out = capsys.readouterr().out
    assert "answered_wrong" in out
    assert "expected invoice, got order-tracking" in out


def test_check_passes_on_the_fixture_and_flags_duplicates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["faq", "check", str(KB)]) == 0
    assert "35 entries" in capsys.readouterr().out
    kb = [
        {"id": "a", "questions": {"en": ["Where is my order?"]}, "answers": {"en": "x"}},
        {"id": "b", "questions": {"en": ["where is my order"]}, "answers": {"en": "y"}},
        {"id": "c", "questions": {"en": ["Where is my orders?"]}, "answers": {"en": "z"}},
        {"id": "d", "questions": {"fa": ["ساعت کاری"], "en": ["hours"]}, "answers": {"en": "9"}},
    ]
    path = tmp_path / "kb.json"
    path.write_text(json.dumps(kb), encoding="utf-8")
    assert main(["faq", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error: duplicate en phrasing in a and b" in out
    assert "warning: near-duplicate en phrasing in a and c" in out
    assert "warning: d: questions but no answer in fa" in out


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('{"text": "hi", "expected": null}\nnot json\n', "line 2: not JSON"),
        ('\n{"q": "hi"}\n', 'line 2: needs an object with a string "text"'),
        ("[1, 2]\n", 'line 1: needs an object with a string "text"'),
    ],
)
def test_eval_names_the_bad_line_of_the_queries(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: str, message: str
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(lines, encoding="utf-8")
    assert main(["faq", "eval", str(KB), str(queries)]) == 1
    assert f"error: {queries}: {message}" in capsys.readouterr().err


def test_check_reports_a_broken_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_text("- id: [unclosed", encoding="utf-8")
    assert main(["faq", "check", str(path)]) == 1
    assert "not valid YAML" in capsys.readouterr().err


def test_ask_shows_normalised_text_candidates_and_decision(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["faq", "ask", str(KB), "سفارشمو چجوري پيگيري کنم؟", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["normalised"] == "سفارشمو چجوری پیگیری کنم"
    assert report["language"] == "fa"
    # spoken Persian standardised, concepts and question words in place of their words
    assert report["words"] == ["سفارشم", "how", "~track", "کنم"]
    assert report["candidates"][0]["id"] == "order-tracking"
    assert report["decision"] == "answer"
    assert report["answer"].startswith("وضعیت سفارش")
    assert main(["faq", "ask", str(KB), "talk to a human"]) == 0
    assert "decision: human" in capsys.readouterr().out


def test_add_faq_commands_plugs_into_another_parser() -> None:
    parser = argparse.ArgumentParser(prog="pasokh")
    add_faq_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["faq", "check", "kb.json"])
    assert callable(args.func) and args.kb == Path("kb.json")


def test_runs_standalone_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "faq.cli", "faq", "check", str(KB)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "0 errors" in done.stdout


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        # a line without "expected" was counted as out of scope
        ('{"text": "where is my order"}\n', 'line 1: no "expected"'),
        (
            '{"text": "hi", "expected": null}\n{"text": "x", "expected": "no-such-entry"}\n',
            "line 2: unknown entry id 'no-such-entry'",
        ),
        ('{"text": "where is my order", "expected": 3}\n', 'line 1: "expected" must be'),
        (
            '{"text": "where is my order", "expected": ["order-tracking"]}\n',
            'line 1: "expected" must be',
        ),
        ('{"text": "where is my order", "expected": null, "lang": 1}\n', 'line 1: "lang" must be'),
        ('{"text": 5, "expected": null}\n', 'line 1: needs an object with a string "text"'),
    ],
)
def test_eval_rejects_lines_without_expected_unknown_ids_and_wrong_types(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: str, message: str
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(lines, encoding="utf-8")
    assert main(["faq", "eval", str(KB), str(queries), "--no-cache"]) == 1
    assert f"error: {queries}: {message}" in capsys.readouterr().err


def test_eval_lists_every_bad_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"text": "a"}\n{"text": "b", "expected": null}\n{"text": "c", "expected": "nope"}\n',
        encoding="utf-8",
    )
    assert main(["faq", "eval", str(KB), str(queries), "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert "line 1:" in err and "line 3:" in err and "line 2:" not in err


def test_eval_accepts_a_bom_and_warns_on_unknown_keys_and_odd_languages(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    queries = tmp_path / "q.jsonl"
    lines = [
        {"text": "where is my order", "expected": "order-tracking", "lang": "en"},
        {"text": "what's the capital of France", "expected": None, "note": "trap"},
        {"text": "سفارشم کجاست", "expected": "order-tracking", "lang": "Farsi"},
    ]
    queries.write_bytes(
        b"\xef\xbb\xbf" + "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode()
    )
    assert main(["faq", "eval", str(KB), str(queries), "--json", "--no-cache"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert (report["queries"], report["in_scope"], report["out_of_scope"]) == (3, 2, 1)
    assert f"warning: {queries}: line 2: unknown key 'note'" in captured.err
    assert f"warning: {queries}: line 3: odd \"lang\" 'Farsi'" in captured.err


def test_check_warns_on_empty_phrasings_unknown_keys_and_odd_language_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    kb = {
        "language": "fa",
        "owner": "support team",
        "entries": [
            {
                "id": "hours",
                "questions": {"en": ["opening hours", "?!", "..."], "English": ["hours"]},
                "answers": {"en": "9-5", "EN": "9-5"},
                "tag": ["typo of tags"],
            }
        ],
    }
    path = tmp_path / "kb.json"
    path.write_text(json.dumps(kb), encoding="utf-8")
    assert main(["faq", "check", str(path)]) == 0  # warnings only
    out = capsys.readouterr().out
    assert "warning: hours: en phrasing '?!' normalises to nothing" in out
    assert "warning: hours: en phrasing '...' normalises to nothing" in out
    assert f"warning: {path}: unknown key 'owner' (ignored)" in out
    assert "unknown key 'tag' (ignored)" in out
    assert "odd language key 'English' in questions" in out
    assert "odd language key 'EN' in answers" in out
    assert "hours: questions but no answer in English" in out
    assert "0 errors, 7 warnings" in out


def test_check_scans_near_duplicates_in_blocks_and_sums_them_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    entries = [
        {
            "id": f"e{i}",
            "questions": {"en": [f"{'really ' * (i % 60)}question number {i}"]},
            "answers": {"en": "x"},
        }
        for i in range(1_200)
    ]
    entries.append(
        {
            "id": "twin",
            "questions": {"en": ["really really really really really question number 5!"]},
            "answers": {"en": "x"},
        }
    )
    path = tmp_path / "kb.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    assert main(["faq", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error: duplicate en phrasing in e5 and twin" in out
    summary = next(line for line in out.splitlines() if line.startswith("near-duplicate pass"))
    # 1,201 phrasings in blocks of 512: three blocks, far fewer pairs than 1,201²
    assert "en: 1201 phrasings in 3 blocks" in summary
    pairs = int(summary.split("blocks, ")[1].split(" pairs")[0])
    assert pairs < 1_201 * 1_201 // 2
    assert "1 duplicates" in summary


def test_check_lists_fifty_warnings_unless_all(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    entries = [
        {"id": f"e{i}", "questions": {"en": ["!!"]}, "answers": {"en": "x"}} for i in range(60)
    ]
    path = tmp_path / "kb.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    assert main(["faq", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("warning:") == 50 and "... and 10 more warnings (--all lists them)" in out
    assert main(["faq", "check", str(path), "--all"]) == 0
    assert capsys.readouterr().out.count("warning:") == 60


def test_ask_reads_the_index_from_the_cache_the_second_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    args = ["faq", "ask", str(KB), "where is my order", "--json", "--cache-dir", str(cache)]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(list(cache.glob("faq-index-*.npz"))) == 1
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["candidates"] == second["candidates"] and first["decision"] == "answer"


def test_check_knows_the_not_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    entry = {
        "id": "hours",
        "questions": {"en": ["opening hours"]},
        "answers": {"en": "9-5"},
        "not": {"en": ["bank opening hours"]},
    }
    path = tmp_path / "kb.json"
    path.write_text(json.dumps([entry]), encoding="utf-8")
    assert main(["faq", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "unknown key" not in out and "0 errors, 0 warnings" in out


@pytest.mark.parametrize(
    "name",
    [f"fresh{n}.jsonl" for n in ("", 3, 4, 5, 6, 7, 8, 9)],
)
def test_the_independent_sets_name_only_entries_of_the_kb_and_split_evenly(name: str) -> None:
    # A typo in an expected id would count a question as "wrong" forever, and a lopsided
    # split would make the held half report something else than the tune half.
    path = FIXTURES / name
    known = frozenset(e.id for e in load_kb(KB).entries)
    queries = read_queries(path, known).queries
    raw = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert len(queries) == len(raw)
    # The writers alternate tune / held within each kind and language.
    for group in {(r.get("kind"), r["lang"]) for r in raw}:
        same = [r["split"] for r in raw if (r.get("kind"), r["lang"]) == group]
        assert abs(same.count("tune") - same.count("held")) <= 1, (group, same)
