"""The channel boundary, checked on the source: the core never imports a channel
(only the composition root wires them in), and no channel touches storage."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = {"router/app.py", "router/enabled_channels.py"}
STORAGE_MODULES = ("router.storage", "sqlalchemy", "asyncpg", "aiosqlite")


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
