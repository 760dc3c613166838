"""The OpenAPI document says what the server does: Schemathesis, a property-based API
tester, drives the real app on loopback with an admin token and seeded data, with all
its checks, a fixed seed and a bounded number of examples, and finds nothing."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from router.core.responder import QueueEveryThread
from router.core.security import new_token, token_hash
from router.http.openapi import openapi_document
from router.storage.models import ApiToken
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter

SEED = 20261128
EXAMPLES = 5  # per operation and phase: the whole test stays under a minute


async def _seed(client: Any, context: Any, web: FakeAdapter) -> tuple[str, str]:
    """An admin token, an integration token, and data to find: threads, a file, a note,
    a canned response."""
    admin = await make_agent(context, "Boss", tier=1, is_admin=True)
    await make_agent(context, "Sara", tier=1)
    assert web.services is not None
    photo = await web.services.attachments.put(
        b"\x89PNG\r\n\x1a\n", filename="photo.png", content_type="image/png"
    )
    first = await web.push("سلام، سفارشم کجاست؟", sender="v1", language="fa", attachments=(photo,))
    await web.push("hello", sender="v2", language="en")
    note = {"text": "VIP", "internal": True}
    path = f"/api/v1/threads/{first.thread_id}/messages"
    assert (await api(client, "POST", path, admin, json=note))[0] == 201
    template = {"texts": {"en": {"body": "Dear {customer_name}, {product} ends {expires_on}"}}}
    status, _ = await api(
        client, "PUT", "/api/v1/templates/warranty_reminder", admin, json=template
    )
    assert status == 200
    canned = {"language": "en", "title": "Hi", "text": "Hello {customer_name}"}
    assert (await api(client, "POST", "/api/v1/canned", admin, json=canned))[0] == 201
    integration = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(integration)))
    return admin.token, integration


async def _schemathesis(
    url: str, token: str, operations: str, cwd: Path, skip: tuple[str, ...] = ()
) -> tuple[int, str]:
    """Run Schemathesis on the operations whose path matches `operations`, with every
    check but those in `skip`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        url,
        f"--include-path-regex={operations}",
        "--checks=all",
        *([f"--exclude-checks={','.join(skip)}"] if skip else []),
        f"--seed={SEED}",
        f"--max-examples={EXAMPLES}",
        "--workers=1",
        "--no-shrink",
        "--suppress-health-check=all",
        "--request-timeout=20",
        f"--header=Authorization: Bearer {token}",
        "--output-truncate=false",
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


# Calendars and SLA policies have rules JSON Schema cannot state (an IANA zone name, a
# holiday country, intervals that neither overlap nor run backwards), so a body the schema
# allows may rightly get 422 there: every check but "schema-valid bodies are accepted"
# runs on them.
#
# Outreach too: a template's braces must pair and name parameters; a message's params must
# fill its template, in a language it has, for a customer who exists; a purchase names a
# customer who exists. Schema-valid bodies may rightly get 404 or 422 there.
# A knowledge base entry has rules across fields (a phrasing is not also under `not`, ids
# are unique, an edit names the current version), so a schema-valid body may rightly get
# 400, 404 or 409.
# Likewise a page cursor is opaque (one the server did not give out is rightly 422), a
# search needs a letter or digit after normalisation, and a multipart reply's fields have
# rules across fields (a note names no identity) and headers that aiohttp's multipart
# reader refuses though a schema cannot say so. A report's or the gap report's date must
# name a real day from 1970 on (and a window must not be empty), which a pattern does not.
UNSTATED_RULES = (
    "calendars/|sla-policies/",
    "templates|outbound/|purchases",
    "search|customers$|threads$|agents$|canned$|uploads|threads/[{]id[}]/messages"
    "|knowledge/(entries|import|gaps)|reports/",
)
UNSTATED = "|".join(UNSTATED_RULES)
# The document in parts, each its own test so that parallel test workers share the work:
# (whose token, the paths, checks left out). The longest first (the suite starts its
# tests in this order).
PARTS = {
    "outreach": ("agent", f"^/api/v1/({UNSTATED_RULES[1]})", ("positive_data_acceptance",)),
    "search-lists-uploads-replies": (
        "agent",
        f"^/api/v1/({UNSTATED_RULES[2]})",
        ("positive_data_acceptance",),
    ),
    "customers-tags-canned-knowledge": (
        "agent",
        f"^/api/v1/(?!{UNSTATED})(customers|tags|canned|knowledge)",
        (),
    ),
    "threads-and-the-rest": (
        "agent",
        f"^/api/v1/(?!inbound/|customers|tags|canned|knowledge|agents|invitations|{UNSTATED})",
        (),
    ),
    "service-levels": ("agent", f"^/api/v1/({UNSTATED_RULES[0]})", ("positive_data_acceptance",)),
    "agents": ("agent", f"^/api/v1/(?!{UNSTATED})(agents|invitations)", ()),
    "inbound": ("integration", "^/api/v1/inbound/", ()),
}


def test_the_parts_cover_every_operation_once() -> None:
    for path in openapi_document()["paths"]:
        if not path.startswith("/api/v1/"):
            continue
        parts = [name for name, (_, paths, _) in PARTS.items() if re.match(paths, path)]
        assert len(parts) == 1, (path, parts)


# Schemathesis runs every operation of its part three times over; the suite's 120 s
# default is for ordinary tests.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("part", list(PARTS))
async def test_schemathesis_finds_no_difference_between_document_and_server(
    settings: Settings, start_app: Any, tmp_path: Path, part: str
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    agent_token, integration_token = await _seed(client, context, web)
    url = str(client.make_url("/api/v1/openapi.json"))
    whose, operations, skip = PARTS[part]
    token = agent_token if whose == "agent" else integration_token
    code, report = await _schemathesis(url, token, operations, tmp_path, skip)
    assert code == 0, report[-20000:]
    # every generated case passed every check (warnings, e.g. ids it never guessed, aside)
    assert re.search(r"(\d+) generated, \1 passed", report), report[-5000:]
