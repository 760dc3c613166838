"""Typed keys for what the aiohttp app holds (no string keys, no globals)."""

from __future__ import annotations

from aiohttp import web

from router.context import AppContext

CONTEXT = web.AppKey("pasokh_context", AppContext)
