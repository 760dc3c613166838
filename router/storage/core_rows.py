"""ORM objects for rows a statement read with SQLAlchemy Core.

A statement executed on the session's connection skips the ORM's per-execution work
(for DML with RETURNING, a fresh copy of the statement and its cache key each time,
which cost more than the statement). The row it returns becomes the ORM object here,
as if the session had loaded it: in the identity map, every column loaded, no history,
so later changes to it are flushed as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from router.storage.models import Base

M = TypeVar("M", bound=Base)


def columns_of(model: type[Base]) -> tuple[Any, ...]:
    """Every mapped column of `model`'s table, for a statement's RETURNING or SELECT."""
    return tuple(attribute.columns[0] for attribute in inspect(model).column_attrs)


def loaded(session: AsyncSession, model: type[M], row: Mapping[Any, Any]) -> M:
    """The `model` object for `row` (which holds `columns_of(model)`), part of `session`
    as if loaded by it. An object of the same identity the session holds already is
    refreshed from `row` and returned instead."""
    mapper = inspect(model)
    values = {attribute.key: row[attribute.columns[0]] for attribute in mapper.column_attrs}
    key = mapper.identity_key_from_primary_key(tuple(row[c] for c in mapper.primary_key))
    held = session.sync_session.identity_map.get(key)
    if isinstance(held, model):
        for name, value in values.items():
            set_committed_value(held, name, value)
        return held
    instance = model(**values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance
