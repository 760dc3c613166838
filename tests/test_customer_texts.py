"""The router's customer-facing texts live in one table, each in fa, ar and en."""

from __future__ import annotations

from pathlib import Path

from router.core.languages import LANGUAGES
from router.core.texts import CUSTOMER_TEXTS, template, text

ROUTER = Path(__file__).resolve().parent.parent / "router"


def test_every_text_exists_in_every_language() -> None:
    missing = [
        (key, lang)
        for key, by_lang in CUSTOMER_TEXTS.items()
        for lang in LANGUAGES
        if not by_lang.get(lang)
    ]
    assert missing == []


def test_no_other_router_module_keeps_a_table_of_texts() -> None:
    found = [
        str(path.relative_to(ROUTER))
        for path in sorted(ROUTER.rglob("*.py"))
        if path.name != "texts.py"
        and "migrations" not in path.parts
        and '"en": "' in path.read_text(encoding="utf-8")
    ]
    assert found == []


def test_lookup_falls_back_to_english_and_fills_placeholders() -> None:
    assert template("agent_joined", "fa-IR") == CUSTOMER_TEXTS["agent_joined"]["fa"]
    assert template("unnamed_customer", "de") == "valued customer"
    assert text("code_sent", None, email="sara@example.com") == (
        "We sent a six-digit code to sara@example.com; type it here."
    )
