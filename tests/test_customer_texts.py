"""Every customer-facing text lives in one catalogue per owner, each in fa, ar and en
with the same placeholders, and an installation overrides any of them with one file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.texts import DEFAULT_TEXTS as BOT_TEXTS
from channels.email.render import EMAIL_TEXTS, reply_subject
from config.settings import Settings
from router.app import build_app, installed_texts
from router.core.languages import LANGUAGES
from router.core.texts import (
    CUSTOMER_TEXTS,
    ROUTER_TEXTS,
    TextOverrideError,
    placeholders,
)
from router.identity.links import is_yes
from tests.conftest import AppFactory
from tests.console_support import integration_token
from tests.test_cli import pasokh
from tests.test_queue_honesty import ASK_EN, ApiCustomers

REPO = Path(__file__).resolve().parent.parent
CATALOGUES = {"router": CUSTOMER_TEXTS, "bot": BOT_TEXTS, "email": EMAIL_TEXTS.defaults}
# Python files that may hold a {"en": "..."} table although no customer reads it.
NOT_CUSTOMER_TEXTS = {
    "channels/telegram/inbound.py",  # what /start reaches the bot as, not what it says
    "channels/webchat/pages.py",  # the fictional demo shop and the languages' own names
}


def test_every_text_exists_in_every_language_with_the_same_placeholders() -> None:
    missing, differing = [], []
    for owner, table in CATALOGUES.items():
        for key, by_lang in table.items():
            missing += [(owner, key, lang) for lang in LANGUAGES if not by_lang.get(lang)]
            shapes = {lang: placeholders(by_lang[lang]) for lang in LANGUAGES if lang in by_lang}
            if len(set(shapes.values())) > 1:
                differing.append((owner, key, shapes))
    assert missing == [] and differing == []


def test_persian_and_arabic_texts_write_numbers_in_their_own_digits() -> None:
    # A Latin "1 إلى 5" beside the Arabic-Indic star labels reads as a mistake; the values
    # a placeholder fills (codes, names) are not the catalogue's to write.
    latin = [
        (owner, key, lang)
        for owner, table in CATALOGUES.items()
        for key, by_lang in table.items()
        for lang in ("fa", "ar")
        if any("0" <= ch <= "9" for ch in re.sub(r"\{[^{}]*\}", "", by_lang.get(lang, "")))
    ]
    assert latin == []


def test_keys_are_unique_across_catalogues_so_one_file_overrides_them_all() -> None:
    seen: dict[str, str] = {}
    clashes = []
    for owner, table in CATALOGUES.items():
        clashes += [(key, seen[key], owner) for key in table if key in seen]
        seen.update({key: owner for key in table})
    assert clashes == []


def test_no_module_outside_the_catalogues_keeps_a_table_of_texts() -> None:
    catalogues = {"router/core/texts.py", "bot/texts.py", "channels/email/render.py"}
    found = [
        str(path.relative_to(REPO))
        for top in ("router", "bot", "channels")
        for path in sorted((REPO / top).rglob("*.py"))
        if "migrations" not in path.parts
        and str(path.relative_to(REPO)) not in catalogues | NOT_CUSTOMER_TEXTS
        and '"en": "' in path.read_text(encoding="utf-8")
    ]
    assert found == []


def test_every_key_is_documented() -> None:
    page = (REPO / "docs" / "texts.md").read_text(encoding="utf-8")
    undocumented = [key for table in CATALOGUES.values() for key in table if f"`{key}`" not in page]
    assert undocumented == []


def test_lookup_falls_back_to_english_and_fills_placeholders() -> None:
    assert ROUTER_TEXTS.template("agent_joined", "fa-IR") == CUSTOMER_TEXTS["agent_joined"]["fa"]
    assert ROUTER_TEXTS.template("unnamed_customer", "de") == "valued customer"
    assert ROUTER_TEXTS.text("code_sent", None, email="sara@example.com") == (
        "We sent a six-digit code to sara@example.com; type it here."
    )


OVERRIDES = """
[en]
handoff_nobody_available = "Thanks! Our team answers on weekdays from 9 to 5."
agent_joined = "{agent_name} is here to help."
link_yes = "Join them"
email_default_subject = "Naranj support"

[fa]
queued_reminder = "نفر {position} صف هستید."
"""


async def test_an_override_file_changes_what_a_customer_receives(
    settings: Settings, start_app: AppFactory, tmp_path: Path
) -> None:
    overrides = tmp_path / "texts.toml"
    overrides.write_text(OVERRIDES, encoding="utf-8")
    overridden = settings.replace("texts", overrides=str(overrides))
    client, context = await start_app(overridden)
    token = await integration_token(context)
    customers = ApiCustomers(str(client.make_url("/")).rstrip("/"), token, context)
    thread = await customers.say("c-1", ASK_EN, "en")
    # The bot's text, through the API channel and the real default responder.
    assert await customers.bot_texts(thread) == [
        "Thanks! Our team answers on weekdays from 9 to 5."
    ]
    # The router's and the email channel's texts, and the overridden button still
    # counts as a yes.
    texts = context.texts
    assert texts.text("agent_joined", "en", agent_name="Sara") == "Sara is here to help."
    assert texts.text("agent_joined", "fa", agent_name="Sara") == CUSTOMER_TEXTS["agent_joined"][
        "fa"
    ].replace("{agent_name}", "Sara")
    assert is_yes("Join them", texts) and is_yes(CUSTOMER_TEXTS["link_yes"]["en"], texts)
    assert not is_yes("Join them")  # the shipped texts do not know this button
    email = installed_texts(overridden).email
    assert reply_subject("", "en", replying=False, texts=email) == "Naranj support"
    # Nothing global changed: the shipped texts are as they were.
    assert (
        ROUTER_TEXTS.text("agent_joined", "en", agent_name="Sara")
        == "Sara from our support team is with you now."
    )
    assert reply_subject("", "en", replying=False) == "Your support request"


async def test_two_apps_in_one_process_keep_their_own_texts(
    settings: Settings, start_app: AppFactory, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.toml", tmp_path / "second.toml"
    first.write_text('[en]\nagent_joined = "{agent_name} (first) is here."\n', encoding="utf-8")
    second.write_text('[en]\nagent_joined = "{agent_name} (second) is here."\n', encoding="utf-8")
    _, context = await start_app(settings.replace("texts", overrides=str(first)))
    # Another app with other overrides, built later in the same process.
    build_app(settings.replace("texts", overrides=str(second)))
    other = installed_texts(settings.replace("texts", overrides=str(second)))
    assert context.texts.text("agent_joined", "en", agent_name="S") == "S (first) is here."
    assert other.router.text("agent_joined", "en", agent_name="S") == "S (second) is here."


@pytest.mark.parametrize(
    ("content", "suffix", "named"),
    [
        ('[en]\nhandoff_queud = "x"\n', ".toml", "en.handoff_queud: unknown text key"),
        ('[de]\ngreeting = "Hallo"\n', ".toml", "unknown language 'de'"),
        ('[fa]\nqueued_reminder = "نفر {n}"\n', ".toml", "fa.queued_reminder: placeholders {n}"),
        ('[ar]\nagent_joined = "مرحبا"\n', ".toml", "ar.agent_joined: placeholders (none)"),
        ('[en]\ncode_sent = "sent to {email"\n', ".toml", "en.code_sent: not a valid text"),
        ('[en]\ngreeting = ""\n', ".toml", "en.greeting: must be a non-empty string"),
        ("en:\n  thanks: [1, 2]\n", ".yaml", "en.thanks: must be a non-empty string"),
        ("[en\n", ".toml", "cannot read it"),
    ],
)
def test_a_bad_override_file_is_refused_naming_the_key(
    settings: Settings, tmp_path: Path, content: str, suffix: str, named: str
) -> None:
    path = tmp_path / f"texts{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TextOverrideError) as refused:
        build_app(settings.replace("texts", overrides=str(path)))
    assert named in str(refused.value) and str(path) in str(refused.value)
    assert ROUTER_TEXTS.template("agent_joined", "en") == CUSTOMER_TEXTS["agent_joined"]["en"]


def test_a_yaml_override_file_works(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "texts.yaml"
    path.write_text('fa:\n  unnamed_customer: "دوست گرامی"\n', encoding="utf-8")
    installed = installed_texts(settings.replace("texts", overrides=str(path)))
    assert installed.router.template("unnamed_customer", "fa") == "دوست گرامی"
    assert ROUTER_TEXTS.template("unnamed_customer", "fa") == "مشتری گرامی"


def test_inline_bot_texts_follow_the_same_rules(settings: Settings) -> None:
    bad = settings.replace("bot", texts={"queued_reminder": {"en": "You are number {pos}"}})
    with pytest.raises(TextOverrideError, match=r"\[bot.texts\]: en.queued_reminder"):
        build_app(bad)


def test_serve_refuses_a_bad_override_file_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "texts.toml"
    path.write_text('[fa]\nhandoff_requested = "حتماً {name}"\n', encoding="utf-8")
    result = pasokh(
        "serve",
        "--data-dir",
        str(tmp_path / "data"),
        env={"PASOKH_TEXTS__OVERRIDES": str(path)},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "configuration error" in result.stderr
    assert "fa.handoff_requested: placeholders {name} differ" in result.stderr
