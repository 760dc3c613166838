"""The message's language detected once: the bot hands `decide` the language it detected
for its reply, and every verdict over the fixtures' questions is the one `decide` reaches
detecting it itself."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bot.policy as bot_policy
import faq.decide as faq_decide
from bot import build_responder
from bot.policy import TierZeroBot
from faq.decide import Thresholds, Verdict, decide
from faq.kb import load_kb
from faq.language import detect_language
from faq.matcher import Matcher
from router.core.messages import AuthorKind
from router.core.responder import MessageView, ThreadContext

FIXTURES = Path(__file__).parent / "fixtures" / "faq"
KB = FIXTURES / "kb.json"


def _questions() -> list[str]:
    texts = {
        json.loads(line)["text"]
        for path in sorted(FIXTURES.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    # no letters to detect a language by: the caller's None and a thread's language
    return sorted(texts | {"۱۲۳", "2", "?!", "🙂"})


def _same(a: Verdict, b: Verdict) -> bool:
    """Equal verdicts, but for how long the match took."""
    untimed = [
        replace(v, match=replace(v.match, elapsed_us=0.0) if v.match else None) for v in (a, b)
    ]
    return untimed[0] == untimed[1]


# Two verdicts for each of the fixtures' four thousand questions: the suite's longest test
# that is all CPU (two minutes on a loaded two-core machine, past the default timeout). A
# raised timeout also starts it among the first (tests/conftest.py), not near the end of
# a run where the other workers would wait for it.
@pytest.mark.timeout(300)
def test_every_fixture_question_gets_the_same_verdict_with_the_language_handed_in() -> None:
    matcher, thresholds = Matcher(load_kb(KB)), Thresholds()
    questions = _questions()
    assert len(questions) > 4000
    differ = [
        text
        for text in questions
        if not _same(
            decide(text, matcher, thresholds, language=detect_language(text)),
            decide(text, matcher, thresholds),
        )
    ]
    assert differ == []


@pytest.mark.parametrize(
    "text", ["سفارشمو چجوری پیگیری کنم؟", "اين طلبي", "where's my order??", "۱۲۳", "2"]
)
async def test_the_bot_detects_once_and_decides_as_decide_alone(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One detection per message with letters, and the verdict `decide` reaches on its
    own, also when the text has no letters and the thread has a language (not the
    text's)."""
    calls: list[str] = []

    def counted(typed: str) -> str | None:
        calls.append(typed)
        return detect_language(typed)

    verdicts: list[Verdict] = []

    def recorded(*args: object, **kwargs: object) -> Verdict:
        verdict = decide(*args, **kwargs)  # type: ignore[arg-type]
        verdicts.append(verdict)
        return verdict

    monkeypatch.setattr(bot_policy, "detect_language", counted)
    monkeypatch.setattr(faq_decide, "detect_language", counted)
    monkeypatch.setattr(bot_policy, "decide", recorded)
    new = MessageView(
        id=1,
        author=AuthorKind.CUSTOMER,
        text=text,
        channel="api",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    ctx = ThreadContext(
        thread_id=1, customer_id=1, status="bot", tier=0, channel="api", language="en", recent=()
    )
    bot: TierZeroBot = build_responder(faq_path=KB)
    await bot.start()
    try:
        await bot.respond(ctx, new)
        loaded = await bot.watcher.ensure_loaded()
    finally:
        await bot.stop()
    # Without letters there is nothing to hand over (None): `decide` looks again, a count
    # of a few characters.
    assert calls.count(text) == (1 if detect_language(text) else 2)
    assert len(verdicts) == 1
    assert _same(verdicts[0], decide(text, loaded.matcher, Thresholds()))
