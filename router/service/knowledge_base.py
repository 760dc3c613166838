"""The knowledge base held in the database: entries edited in the console, each save a
new version, export to and import from the KB file format (`faq.kb`).

The file stays the seed: while the database holds no KB (no `kb_state` row), the first
process that needs one imports the configured file (or the sample shop KB) once; from
then on the database is the KB and the file is not read again (`pasokh faq import`
loads a file's changes). Every entry is validated by the KB loader itself
(`faq.kb.parse_kb_document`), so the console and the file obey one set of rules.

Concurrent edits of one entry use its version number: a save names the version it
was made from, and an UPDATE ... WHERE version = that one either wins or changes
nothing (409), on PostgreSQL as on SQLite. Every change bumps `kb_state.revision` in
the same transaction and publishes `KnowledgeBaseChanged` after the commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from faq.kb import (
    ENTRY_KEYS,
    KbError,
    check_kb_size,
    duplicate_phrasings,
    kb_document_entries,
    kb_files,
    parse_kb_document,
    sample_kb_path,
)
from faq.normalise import normalise
from router.context import AppContext
from router.core.events import KnowledgeBaseChanged
from router.core.messages import utcnow
from router.core.storable_text import UNSTORABLE
from router.core.transaction import Effects, write
from router.storage.column_sizes import column_limit
from router.storage.models import Agent, KbEntry, KbEntryVersion, KbState

logger = logging.getLogger(__name__)

STATE_ID = 1
ENTRY_ID_MAX_LENGTH = column_limit(KbEntry.id)
# An entry id names the entry in URLs and in the file: no slash, no control characters.
ENTRY_ID_PATTERN = r"^[^/\s\x00-\x1f\x7f][^/\x00-\x1f\x7f]*$"
_ENTRY_ID = re.compile(ENTRY_ID_PATTERN)
BODY_KEYS = tuple(sorted(ENTRY_KEYS - {"id"}))


class KbEditError(Exception):
    """Base of what an edit can run into; the HTTP layer maps each to a status."""


class KbInvalid(KbEditError):
    """The entry or file breaks the KB's rules; `field` names the key at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class KbNotFound(KbEditError):
    """No such entry (or version of it)."""


class KbStale(KbEditError):
    """The entry changed since the version the edit was made from (or already exists)."""


@dataclass(frozen=True, slots=True)
class EntryView:
    """An entry as the API shows it."""

    id: str
    version: int
    body: Mapping[str, Any]
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class VersionView:
    """One saved version of an entry (`body` None: the entry was deleted then)."""

    entry_id: str
    version: int
    body: Mapping[str, Any] | None
    change: str
    agent: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did, entry by entry."""

    created: int
    updated: int
    deleted: int
    unchanged: int
    revision: int


# --- validation (the KB loader's rules) ---------------------------------------------


def _unstorable(value: object) -> bool:
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, Mapping):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable(v) for v in value)
    return False


def check_entry_id(entry_id: object) -> str:
    """The entry id as text, if it can name an entry.

    Raises:
        KbInvalid: empty, too long, or holding a slash or a control character.
    """
    text = str(entry_id) if isinstance(entry_id, str | int) else ""
    if not text.strip() or len(text) > ENTRY_ID_MAX_LENGTH or not _ENTRY_ID.fullmatch(text):
        raise KbInvalid(
            f"id: 1-{ENTRY_ID_MAX_LENGTH} characters, no slash or control characters", "id"
        )
    return text


def entry_body(entry_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of an entry: its file mapping without the id, checked by the KB
    loader (one copy of the rules).

    Raises:
        KbInvalid: an unknown key, unstorable text, or a rule of the KB format broken.
    """
    for key in raw:
        if key not in ENTRY_KEYS:
            raise KbInvalid(f"{key}: not a field of an entry", str(key))
    body = {key: raw[key] for key in BODY_KEYS if key in raw and raw[key] is not None}
    for key, value in body.items():
        if _unstorable(value):
            raise KbInvalid(f"{key}: holds a character that cannot be stored", key)
    try:
        parse_kb_document([{"id": entry_id, **body}], "entry")
    except KbError as exc:
        raise KbInvalid(str(exc).replace("entry entry 1 ", "entry "), exc.field) from None
    return body


def _describe_change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str:
    """What a save changed, as history shows it: `created`, `deleted`, or the fields
    (per language where they have languages): `questions.en, tags`."""
    if old is None:
        return "created"
    if new is None:
        return "deleted"
    changed: list[str] = []
    for key in BODY_KEYS:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            changed.extend(
                f"{key}.{lang}"
                for lang in sorted(set(before) | set(after))
                if before.get(lang) != after.get(lang)
            )
        else:
            changed.append(key)
    return ", ".join(changed)[:500] or "unchanged"


# --- reading ------------------------------------------------------------------------


async def _agent_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))
    return {agent_id: name for agent_id, name in rows}


def _matches(entry: KbEntry, words: list[str]) -> bool:
    # Both sides as the FAQ normalises text: «كارت» finds «کارت», «۲» finds "2", and a
    # ZWNJ or its absence does not matter.
    haystack = normalise(json.dumps([entry.id, entry.body], ensure_ascii=False))
    return all(word in haystack for word in words)


async def list_entries(session: AsyncSession, search: str | None = None) -> list[EntryView]:
    """Every entry in file order; with `search`, those whose id or texts hold each of
    its words (case, Arabic and Persian letter forms, digits and ZWNJ aside)."""
    rows = list(await session.scalars(select(KbEntry).order_by(KbEntry.position, KbEntry.id)))
    words = normalise(search or "").split()
    if words:
        rows = [row for row in rows if _matches(row, words)]
    names = await _agent_names(session, {r.updated_by for r in rows if r.updated_by is not None})
    return [_view(row, names) for row in rows]


def _view(row: KbEntry, names: Mapping[int, str]) -> EntryView:
    return EntryView(
        id=row.id,
        version=row.version,
        body=row.body,
        updated_at=row.updated_at,
        updated_by=names.get(row.updated_by) if row.updated_by is not None else None,
    )


async def get_entry(session: AsyncSession, entry_id: str) -> EntryView:
    """One entry.

    Raises:
        KbNotFound: no such entry.
    """
    row = await session.get(KbEntry, entry_id)
    if row is None:
        raise KbNotFound(f"no entry {entry_id!r}")
    names = await _agent_names(session, {row.updated_by} if row.updated_by else set())
    return _view(row, names)


async def history(session: AsyncSession, entry_id: str) -> list[VersionView]:
    """Every saved version of an entry, newest first (also of a deleted one).

    Raises:
        KbNotFound: the entry never existed.
    """
    rows = list(
        await session.scalars(
            select(KbEntryVersion)
            .where(KbEntryVersion.entry_id == entry_id)
            .order_by(KbEntryVersion.version.desc())
        )
    )
    if not rows:
        raise KbNotFound(f"no entry {entry_id!r}")
    names = await _agent_names(session, {r.agent_id for r in rows if r.agent_id is not None})
    return [
        VersionView(
            entry_id=row.entry_id,
            version=row.version,
            body=row.body,
            change=row.change,
            agent=names.get(row.agent_id) if row.agent_id is not None else None,
            at=row.created_at,
        )
        for row in rows
    ]


async def revision(session: AsyncSession) -> int | None:
    """The KB's revision; None while the database holds no KB."""
    return await session.scalar(select(KbState.revision).where(KbState.id == STATE_ID))


async def export_document(session: AsyncSession) -> dict[str, Any]:
    """The KB in the file format: `{"language": ..., "entries": [...]}` in file order."""
    language = await session.scalar(select(KbState.language).where(KbState.id == STATE_ID))
    rows = await session.scalars(select(KbEntry).order_by(KbEntry.position, KbEntry.id))
    document: dict[str, Any] = {"language": language} if language else {}
    document["entries"] = [{"id": row.id, **row.body} for row in rows]
    return document


def export_text(document: Mapping[str, Any]) -> str:
    """The exported document as the JSON file text (stable: exporting it again after an
    import gives the same text)."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# --- writing ------------------------------------------------------------------------


async def _bump(session: AsyncSession, effects: Effects, language: str | None = None) -> int:
    """Count one change of the KB. Done first in every change: on PostgreSQL the state
    row's lock then orders concurrent changes, so each sees what the one before wrote."""
    values: dict[str, Any] = {"revision": KbState.revision + 1, "updated_at": utcnow()}
    if language is not None:
        values["language"] = language
    new_revision = await session.scalar(
        update(KbState).where(KbState.id == STATE_ID).values(**values).returning(KbState.revision)
    )
    if new_revision is None:
        raise KbNotFound("the knowledge base is not seeded yet")
    effects.events.append(KnowledgeBaseChanged(int(new_revision)))
    return int(new_revision)


async def _record(
    session: AsyncSession,
    entry_id: str,
    version: int,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    agent_id: int | None,
    change: str | None = None,
) -> None:
    await session.execute(
        insert(KbEntryVersion).values(
            entry_id=entry_id,
            version=version,
            body=dict(new) if new is not None else None,
            change=change or _describe_change(old, new),
            agent_id=agent_id,
            created_at=utcnow(),
        )
    )


async def _last_version(session: AsyncSession, entry_id: str) -> int:
    found = await session.scalar(
        select(func.max(KbEntryVersion.version)).where(KbEntryVersion.entry_id == entry_id)
    )
    return int(found or 0)


async def _create(
    session: AsyncSession, entry_id: str, body: Mapping[str, Any], agent_id: int | None
) -> int:
    """Insert a new entry after the others; its version continues a deleted one's."""
    version = await _last_version(session, entry_id) + 1
    position = await session.scalar(select(func.coalesce(func.max(KbEntry.position), 0)))
    await session.execute(
        insert(KbEntry).values(
            id=entry_id,
            position=int(position or 0) + 1,
            version=version,
            body=dict(body),
            updated_at=utcnow(),
            updated_by=agent_id,
        )
    )
    return version


async def create_entry(app: AppContext, agent_id: int | None, raw: Mapping[str, Any]) -> int:
    """Add an entry (`raw`: its file mapping, id included); returns its version.

    Raises:
        KbInvalid: it breaks the KB's rules.
        KbStale: an entry with this id exists.
    """
    entry_id = check_entry_id(raw.get("id"))
    body = entry_body(entry_id, raw)
    await ensure_seeded(app)

    async def work(session: AsyncSession, effects: Effects) -> int:
        await _bump(session, effects)
        if await session.get(KbEntry, entry_id) is not None:
            raise KbStale(f"an entry {entry_id!r} exists already")
        await _refuse_duplicates_with(session, entry_id, body)
        version = await _create(session, entry_id, body, agent_id)
        await _record(session, entry_id, version, None, body, agent_id)
        return version

    try:
        return await write(app, work)
    except IntegrityError:  # a concurrent create of the same id won
        raise KbStale(f"an entry {entry_id!r} exists already") from None


async def update_entry(
    app: AppContext,
    agent_id: int | None,
    entry_id: str,
    raw: Mapping[str, Any],
    expected_version: int,
    *,
    change: str | None = None,
) -> int:
    """Save a new version of an entry made from `expected_version`; returns the new one.

    Raises:
        KbInvalid: it breaks the KB's rules.
        KbNotFound: no such entry.
        KbStale: the entry is no longer at `expected_version`.
    """
    body = entry_body(entry_id, {**raw, "id": entry_id})

    async def work(session: AsyncSession, effects: Effects) -> int:
        await _bump(session, effects)
        old = await session.scalar(select(KbEntry.body).where(KbEntry.id == entry_id))
        if old is None:
            raise KbNotFound(f"no entry {entry_id!r}")
        await _refuse_duplicates_with(session, entry_id, body)
        # The version check and the write are one statement: of two saves made from
        # the same version exactly one matches it.
        saved = await session.scalar(
            update(KbEntry)
            .where(KbEntry.id == entry_id, KbEntry.version == expected_version)
            .values(
                body=body,
                version=KbEntry.version + 1,
                updated_at=utcnow(),
                updated_by=agent_id,
            )
            .returning(KbEntry.version)
        )
        if saved is None:
            raise KbStale(f"entry {entry_id!r} changed since version {expected_version}: reload it")
        await _record(session, entry_id, saved, old, body, agent_id, change)
        return int(saved)

    return await write(app, work)


async def delete_entry(
    app: AppContext, agent_id: int | None, entry_id: str, expected_version: int
) -> None:
    """Delete an entry at `expected_version` (its history stays, for a restore).

    Raises:
        KbNotFound: no such entry.
        KbStale: the entry changed since, or it is the last one (a KB needs one).
    """

    async def work(session: AsyncSession, effects: Effects) -> None:
        await _bump(session, effects)
        old = await session.scalar(select(KbEntry.body).where(KbEntry.id == entry_id))
        if old is None:
            raise KbNotFound(f"no entry {entry_id!r}")
        if await session.scalar(select(func.count()).select_from(KbEntry)) == 1:
            raise KbStale("the knowledge base needs at least one entry")
        gone = await session.execute(
            delete(KbEntry).where(KbEntry.id == entry_id, KbEntry.version == expected_version)
        )
        if getattr(gone, "rowcount", 0) != 1:
            raise KbStale(f"entry {entry_id!r} changed since version {expected_version}: reload it")
        await _record(session, entry_id, expected_version + 1, old, None, agent_id)

    await write(app, work)


async def restore_entry(
    app: AppContext,
    agent_id: int | None,
    entry_id: str,
    restore: int,
    expected_version: int | None,
) -> int:
    """Make an old version the current one (a new version with its content); an entry
    deleted since comes back (`expected_version` None). Returns the new version.

    Raises:
        KbNotFound: no such version, or it is a deletion.
        KbStale: the entry changed since `expected_version` (or exists when None).
        KbInvalid: the old version breaks today's rules.
    """
    async with app.read_sessions() as session:
        body = await session.scalar(
            select(KbEntryVersion.body).where(
                KbEntryVersion.entry_id == entry_id, KbEntryVersion.version == restore
            )
        )
    if body is None:
        raise KbNotFound(f"entry {entry_id!r} has no version {restore} to restore")
    change = f"restored version {restore}"
    if expected_version is not None:
        return await update_entry(app, agent_id, entry_id, body, expected_version, change=change)
    checked = entry_body(entry_id, body)

    async def work(session: AsyncSession, effects: Effects) -> int:
        await _bump(session, effects)
        if await session.get(KbEntry, entry_id) is not None:
            raise KbStale(f"entry {entry_id!r} exists: name the version you restore over")
        await _refuse_duplicates_with(session, entry_id, checked)
        version = await _create(session, entry_id, checked, agent_id)
        await _record(session, entry_id, version, None, checked, agent_id, change)
        return version

    try:
        return await write(app, work)
    except IntegrityError:
        raise KbStale(f"entry {entry_id!r} was restored meanwhile") from None


def parse_import(text: str, source: str) -> tuple[list[dict[str, Any]], str | None]:
    """The entries of a KB file to import, each checked as a saved entry is.

    Raises:
        KbInvalid: the file or an entry in it breaks the KB's rules.
    """
    try:
        raw_entries, language, _ = kb_document_entries(text, source)
    except KbError as exc:
        raise KbInvalid(str(exc), exc.field) from None
    checked = []
    for raw in raw_entries:
        entry_id = check_entry_id(raw["id"])
        checked.append({"id": entry_id, **entry_body(entry_id, raw)})
    if language is not None and (not isinstance(language, str) or len(language) > 16):
        raise KbInvalid("language: a language code such as fa", "language")
    _refuse_duplicates(checked)
    return checked, language


def _refuse_duplicates(entries: Sequence[Mapping[str, Any]], changed: str | None = None) -> None:
    """Refuse a KB in which two entries share a phrasing (with `changed`, one of them
    that entry): the bot would answer it with either, as `pasokh faq check` reports.
    Also one past the KB's size limits (`faq.kb.check_kb_size`), so the editor cannot
    grow a KB that the bot's file load would refuse.

    Raises:
        KbInvalid: naming the first such phrasing, or the entry past a limit.
    """
    parsed, _ = parse_kb_document(list(entries), "KB")
    try:
        check_kb_size(parsed)
    except KbError as exc:
        raise KbInvalid(str(exc), exc.field) from None
    found = duplicate_phrasings(parsed, None if changed is None else frozenset({changed}))
    if found:
        raise KbInvalid(found[0], "questions")


async def _refuse_duplicates_with(
    session: AsyncSession, entry_id: str, body: Mapping[str, Any]
) -> None:
    """`_refuse_duplicates` for the stored KB with `entry_id` saved as `body`."""
    rows = await session.execute(select(KbEntry.id, KbEntry.body).order_by(KbEntry.position))
    entries = [{"id": row_id, **row_body} for row_id, row_body in rows if row_id != entry_id]
    _refuse_duplicates([*entries, {"id": entry_id, **body}], changed=entry_id)


async def _replace_all(
    session: AsyncSession,
    effects: Effects,
    entries: list[dict[str, Any]],
    language: str | None,
    agent_id: int | None,
) -> ImportSummary:
    new_revision = await _bump(session, effects, language)
    current = {row.id: row for row in await session.scalars(select(KbEntry))}
    created = updated = unchanged = 0
    for position, entry in enumerate(entries, start=1):
        entry_id = entry["id"]
        body = {k: v for k, v in entry.items() if k != "id"}
        row = current.pop(entry_id, None)
        if row is None:
            version = await _last_version(session, entry_id) + 1
            session.add(
                KbEntry(
                    id=entry_id,
                    position=position,
                    version=version,
                    body=body,
                    updated_at=utcnow(),
                    updated_by=agent_id,
                )
            )
            await _record(session, entry_id, version, None, body, agent_id, "imported")
            created += 1
            continue
        row.position = position
        if row.body == body:
            unchanged += 1
            continue
        await _record(
            session,
            entry_id,
            row.version + 1,
            row.body,
            body,
            agent_id,
            f"imported: {_describe_change(row.body, body)}"[:500],
        )
        row.version += 1
        row.body = body
        row.updated_at = utcnow()
        row.updated_by = agent_id
        updated += 1
    for entry_id, row in current.items():
        await _record(session, entry_id, row.version + 1, row.body, None, agent_id, "deleted")
        await session.delete(row)
    await session.flush()
    return ImportSummary(created, updated, len(current), unchanged, new_revision)


async def import_text(
    app: AppContext, agent_id: int | None, text: str, source: str
) -> ImportSummary:
    """Replace the KB with the file `text` (JSON or YAML, by `source`'s suffix) in one
    transaction: entries it lacks are deleted, changed ones get a new version.

    Raises:
        KbInvalid: the file breaks the KB's rules (nothing is changed).
    """
    entries, language = await asyncio.to_thread(parse_import, text, source)
    await ensure_seeded(app)

    async def work(session: AsyncSession, effects: Effects) -> ImportSummary:
        return await _replace_all(session, effects, entries, language, agent_id)

    return await write(app, work)


# --- seeding ------------------------------------------------------------------------


def read_seed(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The entries of the configured KB (a file, or a folder of files read as one)."""
    texts = []
    for file in kb_files(path):
        texts.append((file.name, file.read_text(encoding="utf-8")))
    entries: list[dict[str, Any]] = []
    language: str | None = None
    for source, text in texts:
        file_entries, file_language = parse_import(text, source)
        entries.extend(file_entries)
        language = language or file_language
    return entries, language


async def ensure_seeded(app: AppContext, seed: Path | None = None) -> bool:
    """Import the configured KB file once, while the database holds no KB; True if this
    call did. Of concurrent callers (several processes starting) exactly one imports.

    Raises:
        KbError: the seed file cannot be read or is invalid.
    """
    async with app.read_sessions() as session:
        if await revision(session) is not None:
            return False
    path = seed or configured_kb_path(app)
    try:
        entries, language = await asyncio.to_thread(read_seed, path)
    except KbInvalid as exc:
        raise KbError(f"{path}: {exc}") from None
    except OSError as exc:
        raise KbError(f"{path}: cannot read: {exc}") from None

    async def work(session: AsyncSession, effects: Effects) -> bool:
        if await revision(session) is not None:
            return False
        session.add(
            KbState(
                id=STATE_ID,
                revision=0,
                language=language,
                seeded_from=str(path)[:1000],
                updated_at=utcnow(),
            )
        )
        await session.flush()
        await _replace_all(session, effects, entries, language, None)
        return True

    seeded = await write(app, work, retry_duplicates=True)
    if seeded:
        logger.info("knowledge base seeded from %s: %d entries", path, len(entries))
    return seeded


def configured_kb_path(app: AppContext) -> Path:
    """`[faq] path`, or the sample shop KB when it is empty."""
    return Path(app.settings.faq.path) if app.settings.faq.path else sample_kb_path()
