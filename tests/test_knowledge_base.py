"""The knowledge base in the database: admins edit entries through the API (checked
against the OpenAPI document), every save is a version that history lists and restore
brings back, concurrent saves of one entry are decided by its version number, export
and import round-trip the KB file format, the configured file seeds the database once,
and a save reaches the bot (in every process) without stalling the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from faq.kb import load_kb, load_kb_texts, sample_kb_path
from router.core.events import InProcessEventBus, KnowledgeBaseChanged
from router.core.responder import QueueEveryThread
from router.core.security import new_token, token_hash
from router.core.shared_events import decode, encode
from router.storage.models import ApiToken, KbEntry, KbEntryVersion
from tests.agent_support import AgentUser, api, count_rows, eventually, make_agent
from tests.conftest import AppFactory
from tests.test_agent_api import CheckedApi, _document
from tests.test_bot_end_to_end import ApiCustomer
from tests.test_cli import pasokh
from tests.test_faq_kb import ALIAS_BOMB, MAX_ANSWER_CHARS, MAX_PHRASINGS

ENTRIES = "/api/v1/knowledge/entries"
ENTRY = "/api/v1/knowledge/entries/{entry_id}"
GIFT_CARD = {
    "id": "gift-card",
    "questions": {"en": ["Do you sell gift cards?"], "fa": ["کارت هدیه می‌فروشید؟"]},
    "answers": {"en": "Yes, from 10 to 500 euros.", "fa": "بله، از ۱۰ تا ۵۰۰ یورو."},
    "tags": ["shop"],
}


async def _admin_api(settings: Settings, start_app: AppFactory) -> tuple[Any, Any, AgentUser]:
    client, context = await start_app(settings, responder=QueueEveryThread())
    admin = await make_agent(context, "Boss", is_admin=True)
    return CheckedApi(client, await _document(client)), context, admin


async def test_an_admin_adds_edits_and_restores_an_entry_with_its_history(
    settings: Settings, start_app: AppFactory
) -> None:
    call, _context, admin = await _admin_api(settings, start_app)
    # The database held no KB: the first use imported the configured one (the sample).
    listed = await call("GET", ENTRIES, admin, expect=200)
    assert [e["id"] for e in listed["entries"]][:2] == ["order-status", "delivery-time"]
    assert listed["revision"] == 1

    created = await call("POST", ENTRIES, admin, expect=201, json=GIFT_CARD)
    assert created["entry"]["version"] == 1 and created["entry"]["updated_by"] == "Boss"
    edited = {
        **GIFT_CARD,
        "questions": {**GIFT_CARD["questions"], "ar": ["هل تبيعون بطاقات الهدايا؟"]},
    }
    saved = await call(
        "PUT",
        ENTRY,
        admin,
        expect=200,
        path={"entry_id": "gift-card"},
        json={**edited, "version": 1},
    )
    assert saved["entry"]["version"] == 2
    assert saved["entry"]["questions"]["ar"] == ["هل تبيعون بطاقات الهدايا؟"]

    history = await call(
        "GET", ENTRY + "/history", admin, expect=200, path={"entry_id": "gift-card"}
    )
    assert [(v["version"], v["change"], v["agent"]) for v in history["versions"]] == [
        (2, "questions.ar", "Boss"),
        (1, "created", "Boss"),
    ]
    restored = await call(
        "POST",
        ENTRY + "/restore",
        admin,
        expect=200,
        path={"entry_id": "gift-card"},
        json={"restore": 1, "version": 2},
    )
    assert restored["entry"]["version"] == 3 and "ar" not in restored["entry"]["questions"]

    # Deleted: gone from the list, its history kept, and it can come back.
    await call(
        "DELETE", ENTRY, admin, expect=204, path={"entry_id": "gift-card"}, params={"version": "3"}
    )
    await call("GET", ENTRY, admin, expect=404, path={"entry_id": "gift-card"})
    history = await call(
        "GET", ENTRY + "/history", admin, expect=200, path={"entry_id": "gift-card"}
    )
    assert history["versions"][0]["change"] == "deleted" and history["versions"][0]["entry"] is None
    back = await call(
        "POST",
        ENTRY + "/restore",
        admin,
        expect=200,
        path={"entry_id": "gift-card"},
        json={"restore": 2, "version": None},
    )
    assert back["entry"]["version"] == 5 and back["entry"]["questions"]["ar"]
    found = await call("GET", ENTRIES, admin, expect=200, params={"q": "الهدايا"})
    assert [e["id"] for e in found["entries"]] == ["gift-card"]
    # Searched as the FAQ normalises: Arabic kaf and yeh for Persian, digits in any
    # script, a ZWNJ or none.
    for asked in ("كارت هديه", "كارت هدیه", "۵۰۰ یورو", "میفروشید"):
        found = await call("GET", ENTRIES, admin, expect=200, params={"q": asked})
        assert [e["id"] for e in found["entries"]] == ["gift-card"], asked


async def test_only_admins_may_edit_the_knowledge_base(
    settings: Settings, start_app: AppFactory
) -> None:
    call, context, _admin = await _admin_api(settings, start_app)
    agent = await make_agent(context, "Sara")
    await call("GET", ENTRIES, None, expect=401)
    await call("GET", ENTRIES, agent, expect=403)
    await call("POST", ENTRIES, agent, expect=403, json=GIFT_CARD)
    await call("GET", "/api/v1/knowledge/export", agent, expect=403)
    await call("POST", "/api/v1/knowledge/import", None, expect=401, data="[]")
    assert await count_rows(context, KbEntry, KbEntry.id == "gift-card") == 0


async def test_a_bad_entry_is_refused_with_its_field_and_nothing_is_written(
    settings: Settings, start_app: AppFactory
) -> None:
    call, context, admin = await _admin_api(settings, start_app)
    await call("GET", ENTRIES, admin, expect=200)  # seeded
    versions = await count_rows(context, KbEntryVersion)
    cases = [
        ({**GIFT_CARD, "answers": {"en": "  "}}, "answers"),
        ({**GIFT_CARD, "questions": {}}, "questions"),
        ({**GIFT_CARD, "handoff": "yes"}, "handoff"),
        ({**GIFT_CARD, "not": {"en": ["Do you sell gift cards?"]}}, "not"),
        ({**GIFT_CARD, "colour": "red"}, "colour"),
        ({**GIFT_CARD, "id": "a/b"}, "id"),
        ({**GIFT_CARD, "tags": [1, 2]}, "tags"),
    ]
    for body, field in cases:
        refused = await call("POST", ENTRIES, admin, expect=400, json=body)
        assert refused["error"]["field"] == field, (body, refused)
    # An edit breaking a rule leaves the entry as it was.
    entry = {"questions": {"en": ["x"]}, "answers": {"en": ""}, "version": 1}
    refused = await call("PUT", ENTRY, admin, expect=400, path={"entry_id": "returns"}, json=entry)
    assert refused["error"]["field"] == "answers"
    # A file with one bad entry among good ones changes nothing at all.
    good = {"id": "new-one", "questions": {"en": ["new"]}, "answers": {"en": "new"}}
    bad = {"id": "broken", "questions": {"en": ["q"]}}
    refused = await call(
        "POST", "/api/v1/knowledge/import", admin, expect=400, json={"entries": [good, bad]}
    )
    assert refused["error"]["field"] == "answers"
    duplicate = await call("POST", "/api/v1/knowledge/import", admin, expect=400, json=[good, good])
    assert "already used" in duplicate["error"]["message"]
    assert await count_rows(context, KbEntryVersion) == versions
    assert await count_rows(context, KbEntry, KbEntry.id == "new-one") == 0


async def test_a_phrasing_another_entry_has_is_refused_on_every_path(
    settings: Settings, start_app: AppFactory
) -> None:
    # The bot would answer it with either entry: `pasokh faq check` calls it an error,
    # and so does the editor (normalised: case and punctuation do not make it another).
    call, context, admin = await _admin_api(settings, start_app)
    await call("GET", ENTRIES, admin, expect=200)  # seeded
    versions = await count_rows(context, KbEntryVersion)
    taken = {**GIFT_CARD, "questions": {"en": ["how much is SHIPPING"]}}
    refused = await call("POST", ENTRIES, admin, expect=400, json=taken)
    assert refused["error"]["field"] == "questions"
    assert "duplicate en phrasing in shipping-cost and gift-card" in refused["error"]["message"]
    entry = (await call("GET", ENTRY, admin, expect=200, path={"entry_id": "returns"}))["entry"]
    edit = {
        "questions": {**entry["questions"], "en": ["Is shipping free?"]},
        "answers": entry["answers"],
        "version": entry["version"],
    }
    refused = await call("PUT", ENTRY, admin, expect=400, path={"entry_id": "returns"}, json=edit)
    assert "shipping-cost and returns" in refused["error"]["message"]
    twins = [
        {"id": "one", "questions": {"fa": ["کارت هدیه دارید؟"]}, "answers": {"fa": "بله"}},
        {"id": "two", "questions": {"fa": ["کارت هديه داريد"]}, "answers": {"fa": "نه"}},
    ]
    refused = await call("POST", "/api/v1/knowledge/import", admin, expect=400, json=twins)
    assert "duplicate fa phrasing in one and two" in refused["error"]["message"]
    assert await count_rows(context, KbEntryVersion) == versions


async def test_of_concurrent_saves_from_one_version_exactly_one_wins(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context = await start_app(settings, responder=QueueEveryThread())
    admin = await make_agent(context, "Boss", is_admin=True)
    status, body = await api(client, "GET", f"{ENTRIES}/returns", admin)
    assert status == 200
    version = body["entry"]["version"]
    base = {k: v for k, v in body["entry"].items() if k not in ("updated_at", "updated_by")}

    async def save(n: int) -> int:
        edit = {**base, "version": version, "tags": [f"edit-{n}"]}
        status, _ = await api(client, "PUT", f"{ENTRIES}/returns", admin, json=edit)
        return status

    statuses = await asyncio.gather(*(save(n) for n in range(8)))
    assert sorted(statuses) == [200] + [409] * 7, statuses
    async with context.read_sessions() as session:
        row = await session.get(KbEntry, "returns")
        assert row is not None and row.version == version + 1
        saved = list(
            await session.scalars(
                select(KbEntryVersion).where(
                    KbEntryVersion.entry_id == "returns", KbEntryVersion.version > version
                )
            )
        )
    assert len(saved) == 1 and saved[0].body == row.body
    # A delete from the stale version is refused too.
    status, _ = await api(client, "DELETE", f"{ENTRIES}/returns?version={version}", admin)
    assert status == 409


async def test_export_and_import_round_trip_the_kb_file(
    settings: Settings, start_app: AppFactory, tmp_path: Path
) -> None:
    call, _context, admin = await _admin_api(settings, start_app)
    response = await call.client.get("/api/v1/knowledge/export", headers=admin.headers)
    assert response.status == 200
    exported = await response.text()
    # The export loads as the seed file does: the same entries, the same language.
    seed = load_kb(sample_kb_path())
    again = load_kb_texts([("export.json", exported)])
    assert again.default_language == seed.default_language == "fa"
    assert [(e.id, e.questions, e.answers, e.tags, e.handoff) for e in again.entries] == [
        (e.id, e.questions, e.answers, e.tags, e.handoff) for e in seed.entries
    ]
    # Edited, exported, imported over a different KB, exported again: the same text.
    await call("POST", ENTRIES, admin, expect=201, json=GIFT_CARD)
    edited = await (await call.client.get("/api/v1/knowledge/export", headers=admin.headers)).text()
    other = {"entries": [{"id": "only", "questions": {"en": ["q"]}, "answers": {"en": "a"}}]}
    summary = await call("POST", "/api/v1/knowledge/import", admin, expect=200, json=other)
    assert summary["deleted"] == len(seed.entries) + 1 and summary["created"] == 1
    summary = await call(
        "POST",
        "/api/v1/knowledge/import",
        admin,
        expect=200,
        data=edited.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert summary["created"] == len(seed.entries) + 1 and summary["deleted"] == 1
    final = await (await call.client.get("/api/v1/knowledge/export", headers=admin.headers)).text()
    assert final == edited
    # YAML imports too (the sample file itself): nothing changes but "only" going away.
    yaml_text = (sample_kb_path() / "shop.yaml").read_text(encoding="utf-8")
    summary = await call(
        "POST",
        "/api/v1/knowledge/import",
        admin,
        expect=200,
        data=yaml_text.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert (summary["created"], summary["updated"]) == (0, 0)
    assert summary["unchanged"] == len(seed.entries) and summary["deleted"] == 1


async def test_an_import_nested_too_deeply_is_refused_as_an_invalid_kb(
    settings: Settings, start_app: AppFactory
) -> None:
    call, _context, admin = await _admin_api(settings, start_app)
    for kind, depth in (("application/json", 100_000), ("application/yaml", 5_000)):
        refused = await call(
            "POST",
            "/api/v1/knowledge/import",
            admin,
            expect=400,
            data=b"[" * depth + b"]" * depth,
            headers={"Content-Type": kind},
        )
        assert "nested too deeply" in refused["error"]["message"], kind


async def test_aliases_and_oversized_entries_are_refused_on_every_path(
    settings: Settings, start_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One rule (`faq.kb`) for the editor, the API import and the file: an alias bomb
    # stores nothing, an entry past a size limit is named, and the editor cannot grow
    # the KB past what the bot's own file load accepts.
    call, context, admin = await _admin_api(settings, start_app)
    await call("GET", ENTRIES, admin, expect=200)  # seeded
    versions = await count_rows(context, KbEntryVersion)
    refused = await call(
        "POST",
        "/api/v1/knowledge/import",
        admin,
        expect=400,
        data=ALIAS_BOMB.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert "anchors and aliases" in refused["error"]["message"]
    long_answer = {**GIFT_CARD, "answers": {"en": "a" * (MAX_ANSWER_CHARS + 1)}}
    refused = await call(
        "POST", "/api/v1/knowledge/import", admin, expect=400, json=[GIFT_CARD, long_answer]
    )
    assert (
        "import.json entry 2 (id gift-card) answers.en: 4,001 characters"
        in (refused["error"]["message"])
    )
    assert refused["error"]["field"] == "answers"
    refused = await call("POST", ENTRIES, admin, expect=400, json=long_answer)
    assert refused["error"]["field"] == "answers"
    entry = (await call("GET", ENTRY, admin, expect=200, path={"entry_id": "returns"}))["entry"]
    too_many = {
        "questions": {"en": [f"return number {i}" for i in range(MAX_PHRASINGS + 1)]},
        "answers": entry["answers"],
        "version": entry["version"],
    }
    refused = await call(
        "PUT", ENTRY, admin, expect=400, path={"entry_id": "returns"}, json=too_many
    )
    assert "questions.en: 201 texts" in refused["error"]["message"]
    # A KB at its entry limit takes no new entry (a smaller limit: the seed's size).
    seeded = await count_rows(context, KbEntry)
    monkeypatch.setattr("faq.kb.MAX_ENTRIES", seeded)
    refused = await call("POST", ENTRIES, admin, expect=400, json=GIFT_CARD)
    assert f"a KB holds at most {seeded:,} entries" in refused["error"]["message"]
    assert await count_rows(context, KbEntryVersion) == versions
    assert await count_rows(context, KbEntry) == seeded


# Two runs of the command line: each imports the whole server (seconds on a loaded machine).
@pytest.mark.timeout(400)
async def test_the_file_seeds_the_database_once_and_the_cli_exports_and_imports(
    settings: Settings, start_app: AppFactory, tmp_path: Path, database_url: str
) -> None:
    seed = tmp_path / "kb.json"
    seed.write_text(json.dumps([GIFT_CARD], ensure_ascii=False), encoding="utf-8")
    settings = settings.replace("faq", path=str(seed))
    call, _context, admin = await _admin_api(settings, start_app)
    listed = await call("GET", ENTRIES, admin, expect=200)
    assert [e["id"] for e in listed["entries"]] == ["gift-card"]
    # Later edits of the file do not reach the database: it is only the seed.
    seed.write_text(json.dumps([{**GIFT_CARD, "id": "other"}]), encoding="utf-8")
    listed = await call("GET", ENTRIES, admin, expect=200)
    assert [e["id"] for e in listed["entries"]] == ["gift-card"]

    # The CLI, as a real process (in a thread: the app's loop keeps serving meanwhile).
    env = {"PASOKH_DATABASE__URL": database_url, "PASOKH_FAQ__PATH": str(seed)}
    data = ("--data-dir", str(settings.data_dir))
    exported = tmp_path / "exported.json"
    done = await asyncio.to_thread(pasokh, "faq", "export", str(exported), *data, env=env)
    assert done.returncode == 0, done.stderr
    assert [e.id for e in load_kb(exported).entries] == ["gift-card"]
    shop = str(sample_kb_path() / "shop.yaml")
    done = await asyncio.to_thread(pasokh, "faq", "import", shop, *data, env=env)
    assert done.returncode == 0, done.stderr
    assert "1 deleted" in done.stdout
    listed = await call("GET", ENTRIES, admin, expect=200)
    assert listed["entries"][0]["id"] == "order-status"
    # A file the KB's rules refuse is refused by the command too, naming why.
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB, encoding="utf-8")
    done = await asyncio.to_thread(pasokh, "faq", "import", str(bomb), *data, env=env)
    assert done.returncode != 0 and "anchors and aliases" in done.stderr, done


def test_a_change_travels_between_processes_as_a_small_event() -> None:
    payload = encode(KnowledgeBaseChanged(7), "origin", 1)
    assert payload is not None and decode(payload)[1] == KnowledgeBaseChanged(7)


async def _integration_token(context: Any) -> str:
    token = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(token)))
    return token


async def test_after_a_save_the_bot_answers_the_new_phrasing_without_stalling_the_loop(
    settings: Settings, start_app: AppFactory
) -> None:
    # The default bot: it answers from the database's KB.
    client, context = await start_app(settings)
    admin = await make_agent(context, "Boss", is_admin=True)
    customer = ApiCustomer(client, await _integration_token(context), "c1")
    question = "Can I pay with a voucher from my employer?"
    before = await customer.say(question)
    assert "vouchers" not in before["text"]

    gc.collect()
    gc.freeze()
    beats: list[float] = []

    async def heartbeat() -> None:
        while True:
            beats.append(time.perf_counter())
            await asyncio.sleep(0.005)

    beating = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    entry = {
        "id": "vouchers",
        "questions": {"en": [question], "fa": ["با بن کارفرما می‌توانم پرداخت کنم؟"]},
        "answers": {"en": "Yes, we take employer vouchers.", "fa": "بله، بن کارفرما را می‌پذیریم."},
    }
    status, body = await api(client, "POST", ENTRIES, admin, json=entry)
    assert status == 201, body
    answers = 0

    async def bot_knows_it() -> bool:
        nonlocal answers
        reply = await ApiCustomer(
            client, customer.headers["Authorization"][7:], f"c{answers + 2}"
        ).say(question)
        answers += 1
        return "employer vouchers" in reply["text"]

    await eventually(bot_knows_it, timeout=60)
    beating.cancel()
    gc.unfreeze()
    during = [b for b in beats if b >= started]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert len(during) >= 20 and max(gaps) < 1.0, (len(during), max(gaps))


async def test_a_save_in_one_process_reaches_the_bot_of_another(
    settings: Settings, start_app: AppFactory, db_kind: str, tmp_path: Path
) -> None:
    settings = settings.replace("email", enabled=False)  # one SMTP port per machine
    client_a, context_a = await start_app(settings)
    client_b, _context_b = await start_app(dataclasses.replace(settings, data_dir=tmp_path / "b"))
    if db_kind == "sqlite":
        # One process owns an embedded database: no bus between processes.
        assert isinstance(context_a.events, InProcessEventBus)
        return
    admin = await make_agent(context_a, "Boss", is_admin=True)
    token = await _integration_token(context_a)
    question = "Do you have a shop in Shiraz?"
    entry = {
        "id": "shiraz",
        "questions": {"en": [question]},
        "answers": {"en": "Yes, on Zand street."},
    }
    status, body = await api(client_a, "POST", ENTRIES, admin, json=entry)
    assert status == 201, body
    asked = 0

    async def b_knows_it() -> bool:
        nonlocal asked
        asked += 1
        reply = await ApiCustomer(client_b, token, f"b{asked}").say(question)
        return "Zand street" in reply["text"]

    await eventually(b_knows_it, timeout=60)
