"""The channel boundary, checked on the source: the core never imports nor names a
channel (only the composition root wires them in), and no channel touches storage."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = {"router/app.py", "router/enabled_channels.py"}
STORAGE_MODULES = ("router.storage", "sqlalchemy", "asyncpg", "aiosqlite")
CHANNEL_NAMES = frozenset({"webchat", "telegram", "email", "api"})
# Where a channel's name may stand as a string literal outside the composition root,
# because there it is another word spelled the same. Keep this tiny.
CHANNEL_NAME_ALLOWED = {
    # The agent's email address: the sign-in form's and JSON body's field name.
    ("router/http/console.py", "email"),
    # The `[email]` settings section that `pasokh serve --smtp-port` overrides.
    ("router/cli.py", "email"),
}


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (TYPE_CHECKING blocks included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_only_the_composition_root_imports_channels() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if _within(m, "channels")
        )
        for path in _sources("router")
        if str(path.relative_to(ROOT)) not in COMPOSITION_ROOT
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_channel_imports_storage_or_a_database_driver() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m
            for m in _imported_modules(path)
            if any(_within(m, banned) for banned in STORAGE_MODULES)
        )
        for path in _sources("channels")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_sees_imports_in_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    # A driver imported inside a function (as the Telegram poll lock once did) counts too.
    source = tmp_path / "module.py"
    source.write_text(
        "import typing\nif typing.TYPE_CHECKING:\n    from channels.base import X\n"
        "def connect():\n    import asyncpg\n    from router.storage import models\n"
    )
    found = _imported_modules(source)
    assert {"channels.base", "asyncpg", "router.storage"} <= found


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, value) of every string literal except dict keys: `{"email": agent.email}`
    is a field called email, not the email channel. Docstrings never equal a bare name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    keys = {id(key) for node in ast.walk(tree) if isinstance(node, ast.Dict) for key in node.keys}
    arguments = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_argument"  # a command-line argument called EMAIL
        for arg in node.args
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in keys | arguments
    ]


def _channel_names_outside_the_composition_root() -> list[str]:
    found = []
    for path in _sources("router"):
        name = str(path.relative_to(ROOT))
        # Migrations are history: they keep the names their schema was written with.
        if name in COMPOSITION_ROOT or name.startswith("router/migrations/"):
            continue
        for line, value in _string_literals(path):
            if value in CHANNEL_NAMES and (name, value) not in CHANNEL_NAME_ALLOWED:
                found.append(f"{name}:{line}: {value!r}")
    return found


def test_only_the_composition_root_names_a_channel() -> None:
    # Which channel carries mail, holds visitors or makes chat links is the composition
    # root's to say (`ChannelRoles`, `chat_links`); the core only asks.
    assert _channel_names_outside_the_composition_root() == []


def test_the_name_check_sees_a_branch_on_a_channel(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        'def send(app, msg):\n    if msg.channel == "email":\n        return {"email": 1}\n'
        '    return app.adapters.get("telegram")\n'
    )
    assert _string_literals(source) == [(2, "email"), (4, "telegram")]


ISSUE_NUMBER = re.compile(r"\bissue\s*#?\d+|\bitem \d+\b", re.IGNORECASE)


def test_no_issue_numbers_in_code_or_comments() -> None:
    # A comment says why; an issue number only says where to look, and rots.
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("router", "channels", "bot", "faq", "config", "tests", "bench")
        for path in _sources(package)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ISSUE_NUMBER.search(line)
    ]
    assert offenders == []
