"""Passwords in the product (router/core/security.py): what a stored hash costs, and
argon2's own threads (`PasswordWork`): a bounded line, and every place given back however
the request ends, or sign-ins would be refused for ever."""

from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import Type, extract_parameters

from router.core import security
from router.core.security import PasswordsBusy, PasswordWork
from tests.agent_support import eventually


async def test_places_are_refused_beyond_the_line_and_given_back_however_a_request_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = PasswordWork(threads=1, waiting=1)
    started, gate = threading.Event(), threading.Event()

    def hanging_hash(password: str) -> str:
        started.set()
        gate.wait(30)
        return f"hash of {password}"

    monkeypatch.setattr(security, "hash_password", hanging_hash)
    try:
        hashing = asyncio.ensure_future(work.hash("first"))
        assert await asyncio.to_thread(started.wait, 30)
        # The one place in line is taken; a third request is refused at once.
        with work.slot(), pytest.raises(PasswordsBusy), work.slot():
            pass
        # The client hangs up: its place stays taken while its thread still works ...
        hashing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hashing
        assert work.held == 1
    finally:
        gate.set()

    # ... and is given back when the hash ends.
    async def all_given_back() -> bool:
        return work.held == 0

    await eventually(all_given_back)
    with pytest.raises(ValueError), work.slot():
        raise ValueError("a request that fails gives its place back too")
    assert work.held == 0
    assert await work.hash("again") == "hash of again"
    assert work.held == 0


def test_a_stored_password_costs_what_argon2_recommends() -> None:
    """The tests' agents share a hash of argon2's lowest cost (`tests/console_support.py`);
    what the product stores is argon2id at RFC 9106's second recommended setting
    (argon2-cffi's default): three passes over 64 MiB."""
    stored = security.hash_password("correct horse battery")
    parameters = extract_parameters(stored)
    assert parameters.type is Type.ID
    assert parameters.time_cost >= 3
    assert parameters.memory_cost >= 64 * 1024
    assert security.verify_password(stored, "correct horse battery")
    assert not security.verify_password(stored, "correct horse batteries")
