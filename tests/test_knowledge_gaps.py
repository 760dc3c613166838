"""The knowledge loop's gap report: the real default bot behind the API channel records
a gap for a low-confidence hand-off, a suggestion not taken and an answer that did not
help (with the entry given); the report groups Persian and English questions about the
same missing topic into one; the API (admins only, checked against the OpenAPI
document) and `pasokh faq gaps` show it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot import build_responder
from bot.texts import DEFAULT_TEXTS
from config.settings import Settings
from faq.gaps import GapQuestion, gap_report, topic_key
from faq.kb import load_kb
from router.core.security import new_token, token_hash
from router.service.knowledge_gaps import parse_since
from router.storage.models import ApiToken, KnowledgeGapRecord
from tests.agent_support import make_agent
from tests.test_agent_api import CheckedApi, _document
from tests.test_bot_end_to_end import ApiCustomer
from tests.test_cli import pasokh

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"
GIFT_CARD_FA = "کارت هدیه می‌فروشید؟"
GIFT_CARD_EN = "can I buy a gift card"


async def _start(settings: Settings, start_app: Any) -> tuple[Any, Any, str]:
    client, context = await start_app(settings, responder=build_responder(faq_path=KB))
    token = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(token)))
    return client, context, token


async def _gaps(context: Any) -> list[KnowledgeGapRecord]:
    async with context.sessions() as session:
        return list(await session.scalars(select(KnowledgeGapRecord).order_by("id")))


async def test_each_kind_of_gap_is_recorded(settings: Settings, start_app: Any) -> None:
    client, context, token = await _start(settings, start_app)

    # Low confidence: handed off, nothing shown.
    unsure = ApiCustomer(client, token, "unsure")
    await unsure.say(GIFT_CARD_EN)

    # Answered, then "no": the question and the entry that was given.
    answered = ApiCustomer(client, token, "answered")
    reply = await answered.say("how long does shipping take")
    assert reply["text"].endswith(DEFAULT_TEXTS["did_this_help"]["en"])
    await answered.say(DEFAULT_TEXTS["no"]["en"])

    # Choices offered, none taken (the customer asks for a person instead).
    offered = ApiCustomer(client, token, "offered")
    choices = await offered.say("change order")
    assert choices["text"] == DEFAULT_TEXTS["did_you_mean"]["en"]
    await offered.say(DEFAULT_TEXTS["talk_to_person"]["en"])

    # Choices offered and one taken: no gap.
    picked = ApiCustomer(client, token, "picked")
    choices = await picked.say("change order")
    await picked.say(choices["suggestions"][0])

    gaps = await _gaps(context)
    assert [(g.thread_id, g.kind, g.text, g.language, g.entry_given) for g in gaps] == [
        (unsure.thread_id, "low_confidence", GIFT_CARD_EN, "en", None),
        (answered.thread_id, "didnt_help", "how long does shipping take", "en", "shipping-time"),
        (offered.thread_id, "suggestion_not_taken", "change order", "en", "order-tracking"),
    ]
    assert gaps[0].best_candidate is not None and gaps[0].score < 0.5
    assert gaps[2].best_candidate == "order-tracking"


async def test_didnt_help_after_a_picked_suggestion_names_the_question_and_entry(
    settings: Settings, start_app: Any
) -> None:
    client, context, token = await _start(settings, start_app)
    customer = ApiCustomer(client, token, "pick-then-no")
    choices = await customer.say("change order")
    # the choice that is one of cancel-order's phrasings (the suggestions' order
    # follows the matcher's ranking)
    kb = load_kb(KB)
    picked = kb.by_id()["cancel-order"].question_in("en", kb.default_language)
    assert picked in choices["suggestions"]
    answer = await customer.say(picked)
    assert answer["text"].endswith(DEFAULT_TEXTS["did_this_help"]["en"])
    await customer.say(DEFAULT_TEXTS["no"]["en"])
    gaps = await _gaps(context)
    assert [(g.kind, g.text, g.entry_given) for g in gaps] == [
        ("didnt_help", "change order", "cancel-order")
    ]


async def test_api_groups_persian_and_english_into_one_topic_for_admins_only(
    settings: Settings, start_app: Any
) -> None:
    client, context, token = await _start(settings, start_app)
    await ApiCustomer(client, token, "fa-gift").say(GIFT_CARD_FA)
    await ApiCustomer(client, token, "en-gift").say(GIFT_CARD_EN)
    await ApiCustomer(client, token, "poem").say("write me a poem about cats")
    admin = await make_agent(context, "Boss", is_admin=True)
    agent = await make_agent(context, "Sara")
    call = CheckedApi(client, await _document(client))

    report = await call("GET", "/api/v1/knowledge/gaps", admin, expect=200)
    assert (report["total"], report["previous_total"]) == (3, 0)
    assert report["kinds"] == {"low_confidence": 3}
    gift = report["topics"][0]
    assert gift["key"] == ["~buy", "~gift"]
    assert (gift["count"], gift["previous_count"], gift["trend"]) == (2, 0, "new")
    assert gift["languages"] == {"fa": 1, "en": 1}
    assert [e["text"] for e in gift["examples"]] == [GIFT_CARD_EN, GIFT_CARD_FA]  # newest first
    assert [t["key"] for t in report["topics"][1:]] == [["about", "cats", "poem", "write"]]

    later = await call("GET", "/api/v1/knowledge/gaps", admin, params={"since": "1h"}, expect=200)
    assert later["total"] == 3
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    empty = await call("GET", "/api/v1/knowledge/gaps", admin, params={"since": future}, expect=200)
    assert (empty["total"], empty["topics"]) == (0, [])
    await call("GET", "/api/v1/knowledge/gaps", admin, params={"since": "0001-01-01"}, expect=422)
    await call("GET", "/api/v1/knowledge/gaps", agent, expect=403)
    await call("GET", "/api/v1/knowledge/gaps", expect=401)


def _question(text: str, language: str, at: datetime, entry: str | None = None) -> GapQuestion:
    return GapQuestion(text=text, language=language, kind="low_confidence", entry=entry, at=at)


def test_report_counts_trend_examples_and_top_entry() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    since = now - timedelta(days=7)
    shipping = [
        ("هزینه ارسال چقدره", "fa"),
        ("how much is the shipping cost", "en"),
        ("shipping cost to Kish", "en"),
    ]
    current = [
        _question(text, language, now - timedelta(hours=i), entry="shipping-cost")
        for i, (text, language) in enumerate(shipping * 3)
    ]
    current.append(_question("write me a poem", "en", now - timedelta(hours=1)))
    previous = [_question("هزینه ارسال به کیش", "fa", since - timedelta(days=1))] * 12
    previous.append(_question("write me poems", "en", since - timedelta(days=2)))
    report = gap_report(
        current, previous, since=since, until=now, previous_since=since - timedelta(days=7)
    )
    assert (report.total, report.previous_total) == (10, 13)
    cost, poem = report.topics
    assert cost.key == ("~cost", "~ship")
    assert (cost.count, cost.previous_count, cost.trend) == (9, 12, "down")
    assert len(cost.examples) == 5 and cost.examples[0].at == now
    assert [q.at for q in cost.examples] == sorted((q.at for q in cost.examples), reverse=True)
    assert (cost.top_entry, cost.top_entry_count) == ("shipping-cost", 9)
    # "poems" and "poem" are spelled alike: one topic, seen once before
    assert (poem.count, poem.previous_count, poem.trend) == (1, 1, "same")


def test_topic_key_leaves_out_question_words_and_function_words() -> None:
    assert topic_key(["~where", "~store", "کجاست"]) == ("~store",)
    assert topic_key(["how", "do", "i", "become", "a", "reseller"]) == ("become", "reseller")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("24h", timedelta(hours=24)),
        (None, timedelta(days=7)),
        ("2026-11-28", timedelta(hours=36)),
        ("2026-11-29T10:00:00+02:00", timedelta(hours=4)),
        ("2026-11-29 11:30Z", timedelta(minutes=30)),
        ("2030-01-01", timedelta(0)),  # not begun: an empty report
        ("0d", timedelta(0)),
        # the digits the rest of the product folds (as the report's dates read them)
        ("٧d", timedelta(days=7)),
        ("۲۰۲۶-۱۱-۲۸", timedelta(hours=36)),
    ],
)
def test_since_accepts_spans_and_iso_times(value: str | None, expected: timedelta) -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert now - parse_since(value, now) == expected


@pytest.mark.parametrize(
    "value",
    # a day past the month's end is refused, as a report's date is (one rule for both)
    ["soon", "7w", "2026-13-01", "", " 7d", "1800-01-01", "2026-02-31", "1405-09-01"],
)
def test_since_refuses_what_is_not_a_start(value: str) -> None:
    with pytest.raises(ValueError, match="since"):
        parse_since(value, datetime(2026, 11, 29, 12, tzinfo=UTC))


@pytest.mark.slow
async def test_cli_prints_the_report(
    tmp_path: Path, settings: Settings, start_app: Any, database_url: str
) -> None:
    client, _context, token = await _start(settings, start_app)
    await ApiCustomer(client, token, "fa-gift").say(GIFT_CARD_FA)
    await ApiCustomer(client, token, "en-gift").say(GIFT_CARD_EN)
    env = {"PASOKH_DATABASE__URL": database_url}
    data = str(settings.data_dir)

    # in a thread: the app's loop keeps serving (and committing) meanwhile
    printed = await asyncio.to_thread(pasokh, "faq", "gaps", "--data-dir", data, env=env)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0].endswith(": 2 (previous period: 0)")
    # the nearest entry is the matcher's top-ranked one: spare parts are also bought
    assert "~buy ~gift: 2 (new, previous 0); nearest entry: spare-parts (2)" in lines
    assert f"  - [fa, low_confidence] {GIFT_CARD_FA}" in lines

    as_json = await asyncio.to_thread(
        pasokh, "faq", "gaps", "--since", "1d", "--json", "--data-dir", data, env=env
    )
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert [(t["key"], t["count"]) for t in report["topics"]] == [(["~buy", "~gift"], 2)]

    refused = await asyncio.to_thread(
        pasokh, "faq", "gaps", "--since", "soon", "--data-dir", data, env=env
    )
    assert refused.returncode == 1 and "since 'soon'" in refused.stderr
