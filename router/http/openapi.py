"""The OpenAPI 3.1 document of the `/api/v1` JSON API, served at `/api/v1/openapi.json`.

Written as Python so shared shapes are defined once; tests validate real responses
against these schemas (objects are closed: a field the document does not name fails).
"""

from __future__ import annotations

import copy
from typing import Any

from router.agents.admin import MAX_PASSWORD, MIN_PASSWORD
from router.agents.canned import CannedResponse
from router.core.idempotency import REPLAYED
from router.core.idempotency import SCHEMA as IDEMPOTENCY_KEY
from router.core.ids import BIGINT_MAX
from router.core.languages import LANGUAGES
from router.identity.display import EMAIL_PATTERN
from router.service.date_filters import DATE_PATTERN
from router.service.knowledge_base import ENTRY_ID_MAX_LENGTH, ENTRY_ID_PATTERN
from router.service.knowledge_gaps import SINCE_PATTERN
from router.service.surveys import COMMENT_MAX_CHARS
from router.storage.column_sizes import (
    INTEGRATION_ID_MAX_LENGTH,
    LANGUAGE_COLUMNS,
    SENDER_NAME_COLUMNS,
    column_limit,
)
from router.storage.models import Agent, Thread

JSON = dict[str, Any]

TIME: JSON = {"type": "string", "format": "date-time"}
STATUS_VALUES = ["bot", "queued", "assigned", "resolved"]


def _nullable(schema: JSON) -> JSON:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(
    properties: dict[str, JSON], *, optional: tuple[str, ...] = (), description: str = ""
) -> JSON:
    """A closed object: every property required unless named in `optional`."""
    schema: JSON = {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


STRING: JSON = {"type": "string"}
INT: JSON = {"type": "integer"}
# What clients send: ids are positive BIGINTs; text is anything a database can store:
# no NUL (a body holding one, or a lone UTF-16 surrogate, is refused with 400).
ID: JSON = {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}
TEXT: JSON = {"type": "string", "pattern": "^[^\\u0000]*$"}


def _words(max_length: int) -> JSON:
    """Text that is not blank, of at most `max_length` characters."""
    return {
        "type": "string",
        "maxLength": max_length,
        "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$",
    }


N_STRING = _nullable(STRING)
SLA_NAME: JSON = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
# The longest SLA target: a year of minutes (router.service.sla.MAX_TARGET_MINUTES).
SLA_MINUTES: JSON = {"type": ["integer", "null"], "minimum": 1, "maximum": 525_600}
N_INT = _nullable(INT)
N_TIME = _nullable(TIME)
N_NUMBER: JSON = {"type": ["number", "null"]}

# An integration's own ids may be numbers (kept as their decimal text).
INTEGRATION_NUMBER: JSON = {"type": "integer", "minimum": -(10**18), "maximum": 10**18}

AGENT_BRIEF: dict[str, JSON] = {"id": INT, "name": STRING, "email": STRING, "tier": INT}

THREAD_FIELDS: dict[str, JSON] = {
    "id": INT,
    "customer_id": INT,
    "customer_name": N_STRING,
    "status": {"type": "string", "enum": STATUS_VALUES},
    "tier": {"type": "integer", "minimum": 0, "maximum": 3},
    "priority": {"type": "string", "enum": ["urgent", "high", "normal", "low"]},
    "pending": {"type": "boolean", "description": "waiting on the customer: clocks paused"},
    "sla": _ref("ThreadSla"),
    "assignee": _nullable(_ref("AgentBrief")),
    "subject": N_STRING,
    "language": N_STRING,
    "last_channel": N_STRING,
    "last_identity_id": N_INT,
    "previous_thread_id": N_INT,
    "resolution": N_STRING,
    "created_at": TIME,
    "updated_at": TIME,
    "queued_at": N_TIME,
    "assigned_at": N_TIME,
    "first_response_at": N_TIME,
    "last_customer_message_at": N_TIME,
    "resolved_at": N_TIME,
    "low_rating_at": {
        **N_TIME,
        "description": "when a survey answer at or below [surveys] csat_low_max / nps_low_max "
        "flagged the thread for the team lead (null: not flagged)",
    },
    "waiting_seconds": N_NUMBER,
    "last_message": _nullable(_ref("MessagePreview")),
    "last_customer_message": {
        **_nullable(_ref("MessagePreview")),
        "description": "the newest message the customer wrote (what the console's queue "
        "previews; null: none, or not listed)",
    },
}

CUSTOMER_FIELDS: dict[str, JSON] = {
    "id": INT,
    "name": N_STRING,
    "display_name": {
        **N_STRING,
        "description": "what to call the customer: the name, else a channel's name for "
        "them, an email address, @username or phone number (null: nothing known)",
    },
    "language": N_STRING,
    "created_at": TIME,
    "identities": {"type": "array", "items": _ref("Identity")},
}

AGENT_LOAD: dict[str, JSON] = {
    "is_admin": {"type": "boolean"},
    "presence": {"type": "string", "enum": ["online", "away", "offline"]},
    "open_threads": INT,
    "max_concurrent": INT,
}

SCHEMAS: dict[str, JSON] = {
    "Error": _object(
        {
            "error": {
                "type": "object",
                "properties": {
                    "status": INT,
                    "message": STRING,
                    "retry_after": {
                        **INT,
                        "description": "with 503 (and the Retry-After header): seconds to wait",
                    },
                    "code": {
                        **STRING,
                        "description": "on some 409s, the reason as a stable word for "
                        "programs: taken, claim_first, resolved, at_capacity, not_waiting, "
                        "changed, no_channel, unverified_identity, unreachable, "
                        "idempotency_key_reused (a reply's key sent with another request)",
                    },
                },
                "required": ["status", "message"],
            }
        },
        description="Every error: the HTTP status again and a message for people.",
    ),
    "AgentBrief": _object(AGENT_BRIEF),
    "MessagePreview": _object(
        {
            "id": INT,
            "author_kind": STRING,
            "channel": STRING,
            "text": STRING,
            "created_at": TIME,
        },
        description="A message in a thread's summary (`last_message`: the newest "
        "non-internal one; `last_customer_message`: the customer's newest), its text cut "
        "to 200 characters.",
    ),
    "ThreadSummary": _object(THREAD_FIELDS),
    "SurveyAsked": _object({"kind": {"type": "string", "enum": ["csat", "nps"]}, "scale": INT}),
    "SurveyOffer": _object(
        {
            "token": STRING,
            "kind": {"type": "string", "enum": ["csat", "nps"]},
            "scale": INT,
            "url": STRING,
        },
        description="A survey a message asks: answer with POST /api/v1/surveys/{token}; "
        "scores 1..scale for csat, 0..scale for nps; url is its rating page.",
    ),
    "SurveyAnswerRequest": _object(
        {
            "score": {"type": "integer", "minimum": 0, "maximum": 10},
            "comment": {**_nullable(TEXT), "maxLength": COMMENT_MAX_CHARS},
        },
        optional=("comment",),
    ),
    "Survey": _object(
        {
            "kind": {"type": "string", "enum": ["csat", "nps"]},
            "scale": INT,
            "score": N_INT,
            "comment": N_STRING,
            "answered_at": N_TIME,
            "expires_at": TIME,
        }
    ),
    "SurveyEnvelope": _object({"survey": _ref("Survey")}),
    "Attachment": _object(
        {"sha256": STRING, "filename": STRING, "content_type": STRING, "size": INT}
    ),
    "Delivery": _object(
        {
            "status": {"type": "string", "enum": ["pending", "delivered", "dead"]},
            "attempts": INT,
            "last_error": N_STRING,
            "delivered_at": N_TIME,
            # Pending after a temporary failure: when the next try is due (else null).
            "next_attempt_at": N_TIME,
            "seen": {
                "type": ["boolean", "null"],
                "description": "on a channel that only stores a reply until the customer "
                "comes back (web chat): whether a page of theirs was shown it; null on "
                "channels that reach the customer wherever they are",
            },
            "seen_at": N_TIME,
            "resent": {
                **_nullable(_ref("Resend")),
                "description": "an agent's reply or a survey nobody was shown in time, "
                "sent again to the customer's verified identity on another channel "
                "(`[outbox] unseen_resend_after_seconds`)",
            },
        }
    ),
    "Resend": _object(
        {
            "channel": STRING,
            "status": {"type": "string", "enum": ["pending", "delivered", "dead"]},
            "attempts": INT,
            "last_error": N_STRING,
            "delivered_at": N_TIME,
            # Pending after a temporary failure: when the next try is due (else null).
            "next_attempt_at": N_TIME,
        }
    ),
    "Message": _object(
        {
            "id": INT,
            "thread_id": INT,
            "direction": {"type": "string", "enum": ["in", "out"]},
            "author_kind": {"type": "string", "enum": ["customer", "bot", "agent", "system"]},
            "author_name": N_STRING,
            "agent_id": N_INT,
            "channel": STRING,
            "identity_id": N_INT,
            "text": STRING,
            "full_text": N_STRING,
            "subject": N_STRING,
            "internal": {"type": "boolean", "description": "a note: never sent"},
            "automated": {"type": "boolean"},
            "sender_authenticated": {
                "type": ["boolean", "null"],
                "description": "false: an email whose From failed SPF/DKIM/DMARC (anyone "
                "may have written it); null: the channel makes no such check",
            },
            "language": N_STRING,
            "attachments": {"type": "array", "items": _ref("Attachment")},
            "suggestions": {"type": "array", "items": STRING},
            "survey": {
                **_nullable(_ref("SurveyAsked")),
                "description": "the survey this message asked the customer (its token is "
                "the customer's, never shown here)",
            },
            "created_at": TIME,
            "delivery": _nullable(_ref("Delivery")),
        }
    ),
    "Identity": _object(
        {
            "id": INT,
            "channel": STRING,
            "address": STRING,
            "display_name": N_STRING,
            "username": N_STRING,
            "verified": {"type": "boolean"},
            "unreachable_reason": N_STRING,
            "created_at": TIME,
            "last_seen_at": N_TIME,
        }
    ),
    "Customer": _object(CUSTOMER_FIELDS),
    "CustomerDetail": _object(
        {
            **CUSTOMER_FIELDS,
            "threads": {"type": "array", "items": _ref("ThreadSummary")},
            "tags": {"type": "array", "items": STRING},
            "notes": {"type": "array", "items": _ref("CustomerNote")},
            "ratings": {"type": "array", "items": _ref("Rating")},
        }
    ),
    "CustomerNote": _object(
        {"id": INT, "text": STRING, "agent_id": N_INT, "agent_name": N_STRING, "created_at": TIME}
    ),
    "Rating": _object(
        {
            "thread_id": INT,
            "kind": {"type": "string", "enum": ["csat", "nps"]},
            "score": INT,
            "comment": N_STRING,
            "answered_at": N_TIME,
        }
    ),
    "CustomerListed": _object({**CUSTOMER_FIELDS, "tags": {"type": "array", "items": STRING}}),
    "CustomerPage": _object(
        {
            "customers": {"type": "array", "items": _ref("CustomerListed")},
            "next": {**N_STRING, "description": "the next page's `cursor`; null: no more"},
        }
    ),
    "SearchResult": _object(
        {
            "customers": {"type": "array", "items": _ref("CustomerListed")},
            "threads": {"type": "array", "items": _ref("ThreadSummary")},
            "messages": {"type": "array", "items": _ref("Message")},
            "next": {**N_STRING, "description": "the next page's `cursor`; null: no more"},
        }
    ),
    "CustomerNoteRequest": _object({"text": _words(10_000)}),
    "CustomerTagRequest": _object({"tag": _words(64)}),
    "NoteEnvelope": _object({"note": _ref("CustomerNote")}),
    "CustomerTags": _object({"tags": {"type": "array", "items": STRING}}),
    "EarlierThread": _object(
        {**THREAD_FIELDS, "messages": {"type": "array", "items": _ref("Message")}},
        description="An earlier thread of the customer with its newest 100 messages.",
    ),
    "AuditEvent": _object(
        {
            "id": INT,
            "at": TIME,
            "actor_kind": {"type": "string"},
            "actor_id": N_INT,
            "actor_name": N_STRING,
            "action": STRING,
            "details": {"type": "object"},
        }
    ),
    "ThreadDetail": _object(
        {
            "thread": _ref("ThreadSummary"),
            "messages": {"type": "array", "items": _ref("Message")},
            "customer": _ref("Customer"),
            "earlier_threads": {"type": "array", "items": _ref("EarlierThread")},
            "audit": {"type": "array", "items": _ref("AuditEvent")},
        }
    ),
    "ThreadList": _object(
        {
            "threads": {"type": "array", "items": _ref("ThreadSummary")},
            "next": {**N_STRING, "description": "the next page's `cursor`; null: no more"},
        }
    ),
    "ThreadEnvelope": _object({"thread": _ref("ThreadSummary")}),
    "MessageEnvelope": _object({"message": _ref("Message")}),
    "AgentInfo": _object(
        {
            **AGENT_BRIEF,
            **AGENT_LOAD,
            "active": {"type": "boolean"},
            "invited": {
                "type": "boolean",
                "description": "no password yet: the agent joins through an invitation link",
            },
        }
    ),
    "AgentList": _object(
        {
            "agents": {"type": "array", "items": _ref("AgentInfo")},
            "next": {**N_STRING, "description": "the next page's `cursor`; null: no more"},
        }
    ),
    "Me": _object({**AGENT_BRIEF, **AGENT_LOAD, "language": STRING}),
    "Presence": _object(
        {
            "agent_id": INT,
            "status": {"type": "string", "enum": ["online", "away", "offline"]},
            "changed_at": N_TIME,
        }
    ),
    "Canned": _object(
        {
            "id": INT,
            "language": {"type": "string", "enum": list(LANGUAGES)},
            "title": STRING,
            "text": STRING,
            "rendered": {
                "type": ["string", "null"],
                "description": "text with {customer_name}/{agent_name} filled in "
                "(when thread_id was given)",
            },
        }
    ),
    "CannedList": _object(
        {
            "canned": {"type": "array", "items": _ref("Canned")},
            "next": {**N_STRING, "description": "the next page's `cursor`; null: no more"},
        }
    ),
    "CannedEnvelope": _object({"canned": _ref("Canned")}),
    "TierStats": _object(
        {
            "tier": INT,
            "queued": INT,
            "assigned": INT,
            "oldest_waiting_seconds": N_NUMBER,
            "agents_online": INT,
            "free_capacity": INT,
        }
    ),
    "QueueStats": _object(
        {
            "generated_at": TIME,
            "bot": {"type": "integer", "description": "open threads the bot handles"},
            "tiers": {"type": "array", "items": _ref("TierStats")},
            "last_24h": _object(
                {
                    "first_responses": INT,
                    "median_first_response_seconds": N_NUMBER,
                    "resolved": INT,
                    "median_resolution_seconds": N_NUMBER,
                },
                description="the report's figures (docs/reports.md) of the last 24 hours: "
                "first_response_seconds, threads_resolved and the agents' "
                "resolution_seconds",
            ),
        }
    ),
    "ReplyRequest": {
        **_object(
            {
                "text": {
                    **_words(10_000),
                    "description": "at most the server's api.max_text_length (10000)",
                },
                "internal": {"type": "boolean", "default": False},
                "identity_id": {
                    **_nullable(ID),
                    "description": "another verified identity of the customer to reply on; "
                    "default: where the customer last wrote",
                },
                "attachments": {
                    "type": "array",
                    "maxItems": 10,
                    "items": {"type": "string", "maxLength": 2000},
                    "description": "upload ids from POST /api/v1/uploads (the caller's own, "
                    "unexpired; 422 otherwise)",
                },
                "idempotency_key": IDEMPOTENCY_KEY,
            },
            optional=("internal", "identity_id", "attachments", "idempotency_key"),
        ),
        # A note is sent nowhere, so it names no identity to send on.
        "if": {"properties": {"internal": {"const": True}}, "required": ["internal"]},
        "then": {"properties": {"identity_id": {"type": "null"}}},
    },
    "EscalateRequest": _object(
        {
            "tier": {
                "type": "integer",
                "minimum": 2,
                "maximum": 3,
                "description": "above the thread's tier (409 otherwise)",
            },
            "reason": _words(1000),
        }
    ),
    "Upload": _object(
        {
            "upload": STRING,
            "filename": STRING,
            "content_type": STRING,
            "size": INT,
        }
    ),
    "SuggestionList": _object(
        {
            "message_id": {**N_INT, "description": "the customer message answered"},
            "suggestions": {
                "type": "array",
                "items": _object(
                    {
                        "entry_id": STRING,
                        "question": STRING,
                        "answer": STRING,
                        "language": STRING,
                        "score": {"type": "number"},
                    }
                ),
            },
        }
    ),
    "TransferRequest": {
        **_object(
            {
                "agent": {
                    **_words(column_limit(Agent.email)),
                    "description": "the agent's email (404: no such agent); an agent of "
                    "another tier takes the thread to their tier",
                },
                "tier": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 3,
                    "description": "queue the thread, unassigned, at this tier (up or down)",
                },
                "reason": _words(1000),
            },
            optional=("agent", "tier", "reason"),
            description="exactly one of `agent` and `tier`",
        ),
        "oneOf": [{"required": ["agent"]}, {"required": ["tier"]}],
    },
    "ResolveRequest": _object(
        {
            "resolution": {**_nullable(TEXT), "maxLength": column_limit(Thread.resolution)},
            "survey": {
                "type": ["boolean", "null"],
                "description": "Ask the customer how it went (null or absent: as configured"
                " in [surveys] send_by_default; the survey rules still apply).",
            },
        },
        optional=("resolution", "survey"),
    ),
    "ThreadSla": _object(
        {
            "first_response_due": N_TIME,
            "next_response_due": N_TIME,
            "resolution_due": N_TIME,
            "breaches": {"type": "array", "items": _ref("SlaAlarm")},
        },
        description="Deadlines of the running clocks (null: not running or no target), and "
        "the warnings and breaches fired, oldest first (docs/service-levels.md).",
    ),
    "SlaAlarm": _object(
        {
            "target": {
                "type": "string",
                "enum": ["first_response", "next_response", "resolution"],
            },
            "kind": {"type": "string", "enum": ["warning", "breach"]},
            "due_at": TIME,
            "fired_at": TIME,
        }
    ),
    "PriorityRequest": _object(
        {"priority": {"type": "string", "enum": ["urgent", "high", "normal", "low"]}}
    ),
    "PendingRequest": _object({"pending": {"type": "boolean"}}, optional=("pending",)),
    "Calendar": _object(
        {
            "timezone": {
                "type": "string",
                "pattern": "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
                "maxLength": 64,
                "description": "an IANA zone, e.g. Asia/Tehran",
            },
            "week": {
                "type": "object",
                "propertyNames": {"enum": ["sat", "sun", "mon", "tue", "wed", "thu", "fri"]},
                "additionalProperties": {"type": "array", "items": _ref("OpenInterval")},
            },
            "holidays": {
                "type": ["string", "null"],
                "pattern": "^[A-Z]{2,3}$",
                "description": "a country code, e.g. IR, SA, AE",
            },
            "closed": {"type": "array", "items": {"type": "string", "format": "date"}},
            "open": {"type": "array", "items": {"type": "string", "format": "date"}},
            "open_date_hours": {"type": "array", "items": _ref("OpenInterval")},
        },
        optional=("holidays", "closed", "open", "open_date_hours"),
        description="A business-hour calendar (docs/service-levels.md); a body the "
        "calendar rules refuse is answered 422 naming every problem.",
    ),
    "CalendarList": _object(
        {
            "calendars": {
                "type": "array",
                "items": _object(
                    {"name": SLA_NAME, "calendar": _ref("Calendar"), "stored": {"type": "boolean"}}
                ),
            }
        }
    ),
    "SlaPolicyList": _object(
        {
            "policies": {
                "type": "array",
                "items": _object(
                    {"name": SLA_NAME, "policy": _ref("SlaPolicy"), "stored": {"type": "boolean"}}
                ),
            }
        }
    ),
    "OpenInterval": {
        "type": "array",
        "items": {"type": "string", "pattern": "^(([01]?[0-9]|2[0-3]):[0-5][0-9]|24:00)$"},
        "minItems": 2,
        "maxItems": 2,
    },
    "SlaPolicy": _object(
        {
            "priority": {"type": "string", "enum": ["urgent", "high", "normal", "low"]},
            "calendar": {
                **SLA_NAME,
                "type": ["string", "null"],
                "description": "required when business_hours is true",
            },
            "business_hours": {"type": "boolean"},
            "first_response_minutes": SLA_MINUTES,
            "next_response_minutes": SLA_MINUTES,
            "resolution_minutes": SLA_MINUTES,
            "tier": {"type": ["integer", "null"], "minimum": 1, "maximum": 3},
            "channel": {**SLA_NAME, "type": ["string", "null"]},
        },
        optional=(
            "calendar",
            "business_hours",
            "first_response_minutes",
            "next_response_minutes",
            "resolution_minutes",
            "tier",
            "channel",
        ),
        description="Targets in minutes for threads of one priority (optionally one tier "
        "and/or channel); the most specific matching policy applies.",
    )
    | {
        # Business hours are a calendar's: `business_hours: true` names one.
        "if": {"properties": {"business_hours": {"const": True}}, "required": ["business_hours"]},
        "then": {"properties": {"calendar": SLA_NAME}, "required": ["calendar"]},
    },
    "PresenceRequest": _object(
        {"status": {"type": "string", "enum": ["online", "away", "offline"]}}
    ),
    "CannedRequest": _object(
        {
            "language": {"type": "string", "enum": list(LANGUAGES)},
            "title": _words(column_limit(CannedResponse.title)),
            "text": _words(10_000),
        }
    ),
    "InboundMessageRequest": _object(
        {
            "id": {
                "anyOf": [_words(INTEGRATION_ID_MAX_LENGTH), INTEGRATION_NUMBER],
                "description": "your id of this message (dedupe key)",
            },
            "text": {
                **_words(10_000),
                "description": "at most the server's api.max_text_length (10000; 413 beyond)",
            },
            "customer": _object(
                {
                    "external_id": {
                        "anyOf": [_words(INTEGRATION_ID_MAX_LENGTH), INTEGRATION_NUMBER]
                    },
                    "name": {**_nullable(TEXT), "maxLength": column_limit(*SENDER_NAME_COLUMNS)},
                },
                optional=("name",),
            ),
            "language": {**_nullable(TEXT), "maxLength": column_limit(*LANGUAGE_COLUMNS)},
        },
        optional=("language",),
    ),
    "InboundAccepted": _object(
        {"message_id": INT, "thread_id": INT, "customer_id": INT, "duplicate": {"type": "boolean"}}
    ),
    "InboundConversation": _object(
        {
            "messages": {
                "type": "array",
                "items": _object(
                    {
                        "id": INT,
                        "thread_id": INT,
                        "author": STRING,
                        "author_name": N_STRING,
                        "channel": STRING,
                        "text": STRING,
                        "suggestions": {"type": "array", "items": STRING},
                        "survey": _nullable(_ref("SurveyOffer")),
                        "created_at": TIME,
                    }
                ),
            }
        }
    ),
}


def _content(schema: str) -> JSON:
    return {"application/json": {"schema": _ref(schema)}}


def _error(description: str) -> JSON:
    return {"description": description, "content": _content("Error")}


ERRORS = {
    "401": _error("no valid bearer token (or console session)"),
    "403": _error(
        "not allowed: another tier's thread, admin only, or a console change without its CSRF token"
    ),
    "404": _error("no such thread, customer, agent, identity or canned response"),
    "409": _error("the thread's state does not allow it now"),
    "422": _error("a body or query the schema refuses (unknown fields included)"),
    # Argon2 runs on a few threads of its own with a short line before them
    # (router/core/security.py::PASSWORDS); a request finding the line full is refused.
    "503": {
        **_error(
            "too many password hashes at once (sign-ins, invitations, new agents): retry "
            "after Retry-After seconds (also `retry_after` in the body); nothing was changed"
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    },
}
BODY_ERRORS = {
    "400": _error("the body is not a JSON object, or holds a NUL or a lone surrogate"),
    "413": _error("body too large"),
}


def _op(
    summary: str,
    ok: str,
    schema: str | None,
    *,
    errors: tuple[str, ...] = ("401",),
    body: str | None = None,
    body_required: bool = True,
    params: tuple[JSON, ...] = (),
    security: list[JSON] | None = None,
) -> JSON:
    responses: JSON = {ok: {"description": summary}}
    if schema is not None:
        responses[ok]["content"] = _content(schema)
    for code in errors:
        responses[code] = ERRORS[code]
    operation: JSON = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": _content(body)}
        responses.update(BODY_ERRORS)
    if params:
        operation["parameters"] = list(params)
    if security is not None:
        operation["security"] = security
    return operation


FILE_PART: JSON = {"type": "string", "format": "binary"}
UPLOAD_ERRORS = {
    "400": _error("not a multipart/form-data body with a `file` field"),
    "413": _error("a file over webchat.max_upload_bytes"),
    "415": _error("a file type not in webchat.upload_types (judged from its bytes)"),
}


def _with_multipart(operation: JSON, properties: JSON, required: list[str]) -> JSON:
    """`operation` also taking multipart/form-data with `properties` (files included)."""
    body = operation.setdefault("requestBody", {"required": True, "content": {}})
    body["content"]["multipart/form-data"] = {
        "schema": {"type": "object", "properties": properties, "required": required}
    }
    operation["responses"].update(UPLOAD_ERRORS)
    return operation


def _replayable(operation: JSON, schema: str) -> JSON:
    """`operation` taking an `idempotency_key`: a repeat answers 200 with what the first
    request made (router/core/idempotency.py)."""
    operation["responses"]["200"] = {
        "description": "the same idempotency_key again from the same agent, with the same "
        "request: the message the first one stored; nothing new is written or sent",
        "headers": {REPLAYED: {"schema": {"type": "string", "enum": ["true"]}}},
        "content": _content(schema),
    }
    return operation


def _path_id(name: str = "id") -> JSON:
    return {"name": name, "in": "path", "required": True, "schema": ID}


def _query(name: str, schema: JSON, description: str) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


THREAD_ID = (_path_id(),)
NAME: JSON = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}
ACTION_ERRORS = ("401", "403", "404", "409")
# The keyset lists of agents and canned responses (up to 500 rows a page, 100 by default).
LIST_PAGE_PARAMS = (
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size, default 100"),
    _query("cursor", STRING, "the `next` of the previous page (same filters)"),
)
PAGE_PARAMS = (
    _query("cursor", STRING, "the `next` of the previous page"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "page size (20)"),
)


def openapi_document() -> JSON:
    """The whole document (a fresh dict each call)."""
    paths: JSON = {
        "/api/v1/threads": {
            "get": _op(
                "Threads the caller may see; queued ones by priority, then waiting time",
                "200",
                "ThreadList",
                errors=("401", "403", "422"),
                params=(
                    _query(
                        "status",
                        {"type": "string", "enum": [*STATUS_VALUES, "open"]},
                        "one status, or open (bot, queued and assigned)",
                    ),
                    _query(
                        "tier",
                        {"type": "integer", "minimum": 0, "maximum": 3},
                        "agents may only ask for their own tier (403)",
                    ),
                    _query(
                        "assignee",
                        {"type": "string", "pattern": "^(me|none|[1-9][0-9]{0,17})$"},
                        "me, none, or an agent id",
                    ),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 500},
                        "page size, default 100",
                    ),
                    _query("cursor", STRING, "the `next` of the previous page (same filters)"),
                    _query(
                        "sort",
                        {"type": "string", "enum": ["due"]},
                        "due: soonest deadline first, threads without one last",
                    ),
                    _query(
                        "breached",
                        {"type": "string", "enum": ["true", "false"]},
                        "only threads with (true) or without (false) a fired breach",
                    ),
                    _query(
                        "low_rating",
                        {"type": "string", "enum": ["true", "false"]},
                        "only threads a low survey answer flagged (true) or not (false)",
                    ),
                    _query(
                        "due_before",
                        {"type": "string", "format": "date-time"},
                        "only threads with a deadline at or before this instant (with offset)",
                    ),
                ),
            )
        },
        "/api/v1/threads/{id}": {
            "get": _op(
                "A thread, all its messages (notes included), the customer with identities, "
                "earlier threads and the audit trail",
                "200",
                "ThreadDetail",
                errors=("401", "403", "404"),
                params=THREAD_ID,
            )
        },
        "/api/v1/threads/{id}/attachments/{sha256}": {
            "get": {
                "summary": "A file of a message shown on this thread (its own or an earlier "
                "thread's): pictures inline, anything else as a download; a received "
                "mail's raw copy is one (message.eml)",
                "parameters": [
                    _path_id(),
                    {"name": "sha256", "in": "path", "required": True, "schema": STRING},
                    _query(
                        "message",
                        ID,
                        "the message whose reference to serve (the same bytes may be sent"
                        " under several names); default: the first that has the file",
                    ),
                    _query("name", STRING, "the reference's file name, with `message`"),
                ],
                "responses": {
                    "200": {
                        "description": "the file",
                        "content": {"application/octet-stream": {}, "image/*": {}},
                    },
                    **{code: ERRORS[code] for code in ("401", "403", "404", "422")},
                },
            }
        },
        "/api/v1/threads/{id}/suggestions": {
            "get": _op(
                "Agent assist: the knowledge base's best answers to the customer's latest "
                "message, in the customer's language (the bot's own matcher)",
                "200",
                "SuggestionList",
                errors=("401", "403", "404", "422"),
                params=(
                    _path_id(),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 10}, "3"),
                ),
            )
        },
        "/api/v1/threads/{id}/claim": {
            "post": _op(
                "Take a queued thread, or take over one the bot is handling (the bot stays "
                "silent on it until it is released or resolved); atomic: of concurrent "
                "claims exactly one wins, the others get 409; the customer is told who is "
                "with them",
                "200",
                "ThreadEnvelope",
                errors=ACTION_ERRORS,
                params=THREAD_ID,
            )
        },
        "/api/v1/threads/{id}/release": {
            "post": _op(
                "Give an assigned thread back to its tier's queue (a thread taken over "
                "from the bot goes back to the bot)",
                "200",
                "ThreadEnvelope",
                errors=ACTION_ERRORS,
                params=THREAD_ID,
            )
        },
        "/api/v1/threads/{id}/transfer": {
            "post": _op(
                "Give the thread to a named agent of any tier (who must have free capacity), "
                "or queue it at another tier, higher or lower; the SLA clocks run on",
                "200",
                "ThreadEnvelope",
                errors=(*ACTION_ERRORS, "422"),
                params=THREAD_ID,
                body="TransferRequest",
            )
        },
        "/api/v1/threads/{id}/escalate": {
            "post": _op(
                "Queue the thread, unassigned, at a higher tier, with a reason",
                "200",
                "ThreadEnvelope",
                errors=(*ACTION_ERRORS, "422"),
                params=THREAD_ID,
                body="EscalateRequest",
            )
        },
        "/api/v1/threads/{id}/resolve": {
            "post": _op(
                "Close the thread (the customer writing within the reopen window reopens it)",
                "200",
                "ThreadEnvelope",
                errors=(*ACTION_ERRORS, "422"),
                params=THREAD_ID,
                body="ResolveRequest",
                body_required=False,
            )
        },
        "/api/v1/threads/{id}/priority": {
            "post": _op(
                "Set the thread's priority; its deadlines are recomputed",
                "200",
                "ThreadEnvelope",
                errors=(*ACTION_ERRORS, "422"),
                params=THREAD_ID,
                body="PriorityRequest",
            )
        },
        "/api/v1/threads/{id}/pending": {
            "post": _op(
                "Mark the thread as waiting on the customer (its clocks pause; the "
                'customer\'s next message resumes them), or not: {"pending": false}',
                "200",
                "ThreadEnvelope",
                errors=(*ACTION_ERRORS, "422"),
                params=THREAD_ID,
                body="PendingRequest",
                body_required=False,
            )
        },
        "/api/v1/calendars": {
            "get": _op(
                "Every calendar in force (admins): stored through the API, else configured",
                "200",
                "CalendarList",
                errors=("401", "403"),
            )
        },
        "/api/v1/sla-policies": {
            "get": _op(
                "Every SLA policy in force (admins): stored through the API, else configured",
                "200",
                "SlaPolicyList",
                errors=("401", "403"),
            )
        },
        "/api/v1/calendars/{name}": {
            "get": _op(
                "A business-hour calendar (stored through the API, else configured)",
                "200",
                "Calendar",
                errors=("401", "403", "404"),
                params=(NAME,),
            ),
            "put": _op(
                "Store a calendar (admins); deadlines of running clocks are recomputed",
                "200",
                "Calendar",
                errors=("401", "403", "422"),
                params=(NAME,),
                body="Calendar",
            ),
        },
        "/api/v1/sla-policies/{name}": {
            "get": _op(
                "An SLA policy (stored through the API, else configured)",
                "200",
                "SlaPolicy",
                errors=("401", "403", "404"),
                params=(NAME,),
            ),
            "put": _op(
                "Store an SLA policy (admins); deadlines of running clocks are recomputed",
                "200",
                "SlaPolicy",
                errors=("401", "403", "422"),
                params=(NAME,),
                body="SlaPolicy",
            ),
        },
        "/api/v1/threads/{id}/messages": {
            "post": _replayable(
                _with_multipart(
                    _op(
                        "Reply on the customer's channel (through the outbox), or add an internal "
                        "note (internal: true; never sent)",
                        "201",
                        "MessageEnvelope",
                        errors=(*ACTION_ERRORS, "422"),
                        params=THREAD_ID,
                        body="ReplyRequest",
                    ),
                    {
                        "text": _words(10_000),
                        "internal": {"type": "string", "enum": ["true", "false"]},
                        "identity_id": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"},
                        "idempotency_key": IDEMPOTENCY_KEY,
                        "file": {"type": "array", "items": FILE_PART, "maxItems": 10},
                    },
                    ["text"],
                ),
                "MessageEnvelope",
            )
        },
        "/api/v1/uploads": {
            "post": _with_multipart(
                _op(
                    "Store a file for a reply (multipart field `file`; the web chat's size "
                    "limit and types, judged from the bytes): its upload id, for the caller "
                    "only",
                    "201",
                    "Upload",
                    errors=("401",),
                ),
                {"file": FILE_PART},
                ["file"],
            )
        },
        "/api/v1/customers/{id}": {
            "get": _op(
                "A customer's profile: identities, the threads the caller may see, tags, "
                "notes about the customer, survey ratings",
                "200",
                "CustomerDetail",
                errors=("401", "403", "404"),
                params=THREAD_ID,
            )
        },
        "/api/v1/customers": {
            "get": _op(
                "Customers the caller may see (one of their threads), newest first",
                "200",
                "CustomerPage",
                errors=("401", "422"),
                params=(*PAGE_PARAMS, _query("tag", STRING, "only customers with this tag")),
            )
        },
        "/api/v1/search": {
            "get": _op(
                "Customers (name, email, phone, Telegram username), threads (by id) and "
                "messages matching `q`, normalised as the FAQ normalises (Arabic and "
                "Persian letters, digits, ZWNJ folded); newest first",
                "200",
                "SearchResult",
                errors=("401", "422"),
                params=(
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    },
                    *PAGE_PARAMS,
                ),
            )
        },
        "/api/v1/customers/{id}/notes": {
            "post": _op(
                "Write a note about the customer (shown on their profile)",
                "201",
                "NoteEnvelope",
                errors=("401", "403", "404", "422"),
                params=THREAD_ID,
                body="CustomerNoteRequest",
            )
        },
        "/api/v1/customers/{id}/tags": {
            "post": _op(
                "Tag the customer (idempotent; tags are folded to lower case)",
                "200",
                "CustomerTags",
                errors=("401", "403", "404", "422"),
                params=THREAD_ID,
                body="CustomerTagRequest",
            )
        },
        "/api/v1/customers/{id}/tags/{tag}": {
            "delete": _op(
                "Take a tag off the customer",
                "204",
                None,
                errors=("401", "403", "404", "422"),
                params=(
                    _path_id(),
                    {
                        "name": "tag",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                    },
                ),
            )
        },
        "/api/v1/agents": {
            "get": _op(
                "Agents with tier, presence and load, by tier then name, one page",
                "200",
                "AgentList",
                errors=("401", "403", "422"),
                params=LIST_PAGE_PARAMS,
            )
        },
        "/api/v1/agents/me": {"get": _op("The calling agent", "200", "Me")},
        "/api/v1/agents/me/presence": {
            "get": _op("The calling agent's presence", "200", "Presence"),
            "post": _op(
                "Set presence; offline agents' unanswered threads return to the queue after "
                "the grace period",
                "200",
                "Presence",
                errors=("401", "403", "422"),
                body="PresenceRequest",
            ),
        },
        "/api/v1/canned": {
            "get": _op(
                "Canned responses by language and title, one page; rendered for a thread "
                "when thread_id is given",
                "200",
                "CannedList",
                errors=("401", "403", "404", "422"),
                params=(
                    _query("language", {"type": "string", "enum": list(LANGUAGES)}, ""),
                    _query("thread_id", ID, "fill in {customer_name} and {agent_name}"),
                    *LIST_PAGE_PARAMS,
                ),
            ),
            "post": _op(
                "Add a canned response (admins only)",
                "201",
                "CannedEnvelope",
                errors=("401", "403", "409", "422"),
                body="CannedRequest",
            ),
        },
        "/api/v1/canned/{id}": {
            "delete": _op(
                "Remove a canned response (admins only)",
                "204",
                None,
                errors=("401", "403", "404"),
                params=THREAD_ID,
            )
        },
        "/api/v1/queue/stats": {
            "get": _op(
                "Counts per tier, online capacity, oldest wait, median first-response and "
                "resolution times of the last 24 hours",
                "200",
                "QueueStats",
            )
        },
        "/api/v1/inbound/messages": {
            "post": _op(
                "An integration posts a customer message (202 stored, 200 a redelivery of "
                "the same id); integration token",
                "202",
                "InboundAccepted",
                body="InboundMessageRequest",
                security=[{"integrationToken": []}],
            )
        },
        "/api/v1/inbound/customers/{external_id}/messages": {
            "get": _op(
                "The conversation of one of the integration's customers (no notes)",
                "200",
                "InboundConversation",
                params=(
                    {"name": "external_id", "in": "path", "required": True, "schema": STRING},
                    _query(
                        "after",
                        {"type": "integer", "minimum": 0, "maximum": BIGINT_MAX},
                        "only messages with a larger id",
                    ),
                ),
                security=[{"integrationToken": []}],
            )
        },
        "/api/v1/surveys/{token}": {
            "post": _op(
                "Answer a survey (no login: the token from the message's survey field is "
                "the credential); may be changed until it expires",
                "200",
                "SurveyEnvelope",
                errors=("404", "422"),
                params=({"name": "token", "in": "path", "required": True, "schema": STRING},),
                body="SurveyAnswerRequest",
                security=[],
            )
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
    }
    inbound = paths["/api/v1/inbound/messages"]["post"]["responses"]
    inbound["200"] = {"description": "a redelivery", "content": _content("InboundAccepted")}
    inbound["503"] = _error("could not store the message; retry later")
    history = paths["/api/v1/inbound/customers/{external_id}/messages"]["get"]["responses"]
    history["400"] = _error("after is not a message id")
    survey_answer = paths["/api/v1/surveys/{token}"]["post"]["responses"]
    survey_answer["404"] = _error("not a survey token: forged, altered or unknown")
    survey_answer["410"] = _error("the survey has expired")
    survey_answer["422"] = _error(
        "a score outside the survey's scale, or a body the schema refuses"
    )
    # The customer administration paths (merge, claims, export, erasure) are defined below.
    for template, operations in customer_admin_paths().items():
        paths.setdefault(template, {}).update(operations)
    paths.update(report_paths())
    paths.update(knowledge_paths())
    paths.update(knowledge_base_paths())
    for template, operations in admin_paths().items():
        paths.setdefault(template, {}).update(operations)
    paths.update(outreach_paths())
    paths = _with_url_refusal(copy.deepcopy(paths))
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Pasokh API",
                "version": "1",
                "description": "Agents' queue, threads and replies; integrations' inbound channel. "
                "Authorization: Bearer <token> (`pasokh agent token EMAIL`, "
                "`pasokh integration add NAME`).",
            },
            "servers": [{"url": "/"}],
            "security": [{"agentToken": []}, {"consoleSession": []}],
            "paths": paths,
            "components": {
                "schemas": SCHEMAS,
                "securitySchemes": {
                    "agentToken": {"type": "http", "scheme": "bearer"},
                    "consoleSession": {
                        "type": "apiKey",
                        "in": "cookie",
                        "name": "pasokh_console",
                        "description": "the signed-in console; requests other than "
                        "GET/HEAD/OPTIONS must also send the session's X-CSRF-Token header "
                        "(403 without it)",
                    },
                    "integrationToken": {"type": "http", "scheme": "bearer"},
                },
            },
        }
    )


# --- customers across channels: merge, claims, export, erasure ---------------------------

SCHEMAS.update(
    {
        "MergeRequest": _object({"other": ID}, description="the customer to merge with"),
        "MergeResult": _object(
            {"surviving_id": INT, "merged_id": INT, "open_thread_id": N_INT},
            description="the older customer survives; its one open thread holds both",
        ),
        "Claim": _object(
            {
                "kind": {"type": "string", "enum": ["claimed_address", "address_claimed_by_other"]},
                "channel": N_STRING,
                "address": N_STRING,
                "claimed_by": _object({"channel": N_STRING, "address": N_STRING}),
                "other_customer_id": N_INT,
                "claimed_at": TIME,
                "wrong_codes": INT,
                "proven": {"type": "boolean"},
            },
            description="an address typed but never proven: a hint, never a link",
        ),
        "ClaimList": _object(
            {"customer_id": INT, "claims": {"type": "array", "items": _ref("Claim")}}
        ),
        "CustomerExport": {
            "type": "object",
            "description": "every row stored for the customer and customers merged into it, "
            "attachments inlined as base64",
            "required": [
                "customer",
                "merged_customers",
                "identities",
                "threads",
                "attachments",
                "identity_proofs",
                "knowledge_gaps",
                "audit",
                "exported_at",
            ],
        },
        "Erasure": _object(
            {
                "customer_id": INT,
                "erased": _object(
                    {"identities": INT, "threads": INT, "messages": INT, "attachment_files": INT}
                ),
            }
        ),
    }
)


URL_REFUSED = "a URL whose path or query holds a NUL or a lone surrogate"


def _with_url_refusal(paths: JSON) -> JSON:
    """`paths` with the 400 every route may answer (`router/http/unstorable_urls.py`
    refuses such a URL before any handler): added to each operation, or named in the
    400 it already has."""
    for operations in paths.values():
        for operation in operations.values():
            responses = operation["responses"]
            if "400" in responses:
                responses["400"]["description"] += f"; or {URL_REFUSED}"
            else:
                responses["400"] = _error(URL_REFUSED)
    return paths


def customer_admin_paths() -> JSON:
    """Paths of `router.http.customer_api`."""
    return {
        "/api/v1/customers/{id}/merge": {
            "post": _op(
                "Admin: make two customers one (identities, threads and messages move to the "
                "older; the two open threads become one); audited",
                "200",
                "MergeResult",
                errors=(*ACTION_ERRORS, "422"),
                params=THREAD_ID,
                body="MergeRequest",
            )
        },
        "/api/v1/customers/{id}/claims": {
            "get": _op(
                "Unproven claims on or by this customer (hints for a merge by hand); "
                "for agents who may see the customer",
                "200",
                "ClaimList",
                errors=("401", "403", "404"),
                params=THREAD_ID,
            )
        },
        "/api/v1/customers/{id}/export": {
            "get": _op(
                "Admin: everything stored for the customer (409 names the survivor of a merge)",
                "200",
                "CustomerExport",
                errors=ACTION_ERRORS,
                params=THREAD_ID,
            )
        },
        "/api/v1/customers/{id}": {
            "delete": _op(
                "Admin: erase the customer's messages, attachments and addresses; an audit "
                "tombstone stays",
                "200",
                "Erasure",
                errors=ACTION_ERRORS,
                params=THREAD_ID,
            )
        },
    }


# --- KPI reports (docs/reports.md) -------------------------------------------------------

_RATE: JSON = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_PCT: JSON = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
_FIGURES: dict[str, JSON] = {
    "threads_created": INT,
    "threads_resolved": {**INT, "description": "by the bot, an agent or a merge"},
    "threads_merged": {**INT, "description": "of them, closed by merging two customers"},
    "first_response_seconds": _ref("Durations"),
    "first_response_business_seconds": _ref("Durations"),
    "next_response_seconds": _ref("Durations"),
    "next_response_business_seconds": _ref("Durations"),
    "resolution_seconds": _ref("Durations"),
    "resolution_business_seconds": _ref("Durations"),
    "bot_resolution_seconds": _ref("Durations"),
    "fcr_rate": _RATE,
    "reopen_rate": _RATE,
    "bot_containment_rate": _RATE,
    "bot_helped_rate": _RATE,
    "handoff_rate": _RATE,
    "csat": _object(
        {
            "responses": INT,
            "satisfied_pct": _PCT,
            "mean": {"type": ["number", "null"]},
            "sent": INT,
            "response_rate": _RATE,
        },
        description="answers given in the window; sent: surveys sent in the window, "
        "response_rate: the fraction of those answered",
    ),
    "nps": _object(
        {
            "responses": INT,
            "score": {"type": ["number", "null"], "minimum": -100, "maximum": 100},
            "sent": INT,
            "response_rate": _RATE,
        },
        description="answers given in the window; sent and response_rate as for csat",
    ),
    "sla": _object(
        {
            "first_response_met_pct": _PCT,
            "next_response_met_pct": _PCT,
            "resolution_met_pct": _PCT,
            "breaches": INT,
        },
        description="% of responses and resolutions made under a deadline that met it "
        "(null: none was); breaches: deadlines that passed unmet",
    ),
}
SCHEMAS.update(
    {
        "Durations": _object(
            {
                "count": INT,
                "median": {"type": ["number", "null"]},
                "p90": {"type": ["number", "null"]},
                "mean": {"type": ["number", "null"]},
            },
            description="seconds (wall clock, or business seconds of the thread's calendar "
            "for the _business_ figures); null when count is 0",
        ),
        "ReportFigures": _object(_FIGURES),
        "ReportGroup": _object(
            {
                "key": {"type": ["integer", "string", "null"]},
                "label": {"type": ["string", "null"]},
                **_FIGURES,
            },
            description="agent id, tier, channel, language, day (YYYY-MM-DD, UTC) or week "
            "(its Monday); null: none (e.g. events of no agent)",
        ),
        "ReportSummary": _object(
            {
                "from": TIME,
                "to": TIME,
                "group_by": {
                    "type": ["string", "null"],
                    "enum": ["agent", "tier", "channel", "language", "day", "week", None],
                },
                "generated_at": TIME,
                "total": _ref("ReportFigures"),
                "groups": {"type": "array", "items": _ref("ReportGroup")},
                "backlog": _object(
                    {
                        "open": INT,
                        "bot": INT,
                        "queued": INT,
                        "assigned": INT,
                        "oldest_age_seconds": {"type": ["number", "null"]},
                    },
                    description="open threads now the caller may see, not in the window",
                ),
            }
        ),
    }
)


_DATE_FILTER: JSON = {"type": "string", "pattern": f"^{DATE_PATTERN}$"}


def report_paths() -> JSON:
    """Paths of `router.http.reports_api`."""
    operation = _op(
        "KPIs of a time window [from, to), in total and per group: all figures for an "
        "admin, the caller's own for an agent (docs/reports.md)",
        "200",
        "ReportSummary",
        errors=("401", "422"),
        params=(
            _query(
                "from",
                _DATE_FILTER,
                "ISO 8601 date or date-time, Gregorian, from 1970 (UTC if no offset); "
                "default: seven days before `to`",
            ),
            _query("to", _DATE_FILTER, "the same, exclusive; default: now"),
            _query(
                "group_by",
                {"type": "string", "enum": ["agent", "tier", "channel", "language", "day", "week"]},
                "one row per agent, tier, channel, language, UTC day or ISO week",
            ),
            _query("format", {"type": "string", "enum": ["json", "csv"]}, "default json"),
        ),
    )
    operation["responses"]["200"]["content"]["text/csv"] = {
        "schema": {"type": "string"},
    }
    return {"/api/v1/reports/summary": {"get": operation}}


# --- the knowledge loop: the gap report ------------------------------------------------

GAP_KINDS = ["low_confidence", "suggestion_not_taken", "didnt_help"]
_COUNTS: JSON = {"type": "object", "additionalProperties": INT}

SCHEMAS.update(
    {
        "GapExample": _object(
            {
                "text": STRING,
                "language": N_STRING,
                "kind": {"type": "string", "enum": GAP_KINDS},
                "entry": N_STRING,
                "at": TIME,
            },
            description="one question; `entry`: the entry shown, else the best guess",
        ),
        "GapTopic": _object(
            {
                "key": {"type": "array", "items": STRING},
                "count": INT,
                "previous_count": INT,
                "trend": {"type": "string", "enum": ["new", "up", "down", "same"]},
                "kinds": _COUNTS,
                "languages": _COUNTS,
                "top_entry": N_STRING,
                "top_entry_count": INT,
                "examples": {"type": "array", "items": _ref("GapExample"), "maxItems": 5},
            },
            description="questions the matcher reads alike (concept tokens shared across "
            "languages, else content words), or close in meaning with the semantic extra "
            "(key: the commonest of its questions' keys); examples newest first",
        ),
        "GapReport": _object(
            {
                "since": TIME,
                "until": TIME,
                "previous_since": TIME,
                "total": INT,
                "previous_total": INT,
                "kinds": _COUNTS,
                "grouping": {
                    "type": "string",
                    "enum": ["features", "embeddings"],
                    "description": "how questions were grouped: the matcher's words, or "
                    "meaning (the semantic extra's embeddings, when it is on)",
                },
                "topics": {"type": "array", "items": _ref("GapTopic")},
            },
            description="gap topics of [since, until), most frequent first, each with its "
            "count in the period as long before it",
        ),
    }
)


def knowledge_paths() -> JSON:
    """Paths of `router.http.knowledge_api`."""
    return {
        "/api/v1/knowledge/gaps": {
            "get": _op(
                "Admin: questions the bot could not serve (low-confidence hand-offs, "
                "suggestions not taken, answers that did not help), grouped into topics",
                "200",
                "GapReport",
                errors=("401", "403", "422"),
                params=(
                    _query(
                        "since",
                        {"type": "string", "pattern": SINCE_PATTERN},
                        "ISO 8601 date or date-time, Gregorian, from 1970 (UTC if no "
                        "offset; a start in the future gives an empty report), or a span "
                        "such as 7d or 24h; default 7d",
                    ),
                ),
            )
        }
    }


# --- the knowledge loop: the knowledge base editor ---------------------------------------

_PHRASINGS: JSON = {"anyOf": [TEXT, {"type": "array", "items": TEXT}]}
_PER_LANGUAGE: JSON = {"type": "object", "additionalProperties": _PHRASINGS}
KB_ENTRY_FIELDS: JSON = {
    "questions": {**_PER_LANGUAGE, "minProperties": 1},
    "answers": {"type": "object", "additionalProperties": TEXT, "minProperties": 1},
    "tags": _PHRASINGS,
    "handoff": {"type": "boolean"},
    # per language, or one list (or one phrasing) for every language
    "suggestions": {"anyOf": [_PER_LANGUAGE, *_PHRASINGS["anyOf"]]},
    "not": {"anyOf": [_PER_LANGUAGE, *_PHRASINGS["anyOf"]]},
}
KB_OPTIONAL = ("tags", "handoff", "suggestions", "not")
# In a request an optional field may be null: the same as leaving it out.
KB_REQUEST_FIELDS: JSON = {
    name: {"anyOf": [schema, {"type": "null"}]} if name in KB_OPTIONAL else schema
    for name, schema in KB_ENTRY_FIELDS.items()
}
KB_ENTRY_ID: JSON = {
    "type": "string",
    "maxLength": ENTRY_ID_MAX_LENGTH,
    "pattern": ENTRY_ID_PATTERN,
}
KB_VERSION: JSON = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
KB_ENTRY_PATH = "/api/v1/knowledge/entries/{entry_id}"
KB_ENTRY_PARAM: JSON = {"name": "entry_id", "in": "path", "required": True, "schema": KB_ENTRY_ID}
KB_ERRORS = {
    "400": _error(
        "the entry breaks the KB file format's rules (`error.field` names the field), or "
        "the body is not a JSON object"
    ),
    "404": _error("no such entry, or no such version of it"),
    "409": _error(
        "the entry changed since the version the edit was made from (reload it), an entry "
        "with this id exists, or the edit would leave the KB without entries"
    ),
    "503": _error("the database holds no KB and the configured KB file is invalid"),
}

SCHEMAS.update(
    {
        "KbEntryCreate": _object(
            {"id": KB_ENTRY_ID, **KB_REQUEST_FIELDS},
            optional=KB_OPTIONAL,
            description="An entry as the KB file holds it (docs/bot.md).",
        ),
        "KbEntryUpdate": _object(
            {"version": KB_VERSION, "id": KB_ENTRY_ID, **KB_REQUEST_FIELDS},
            optional=("id", *KB_OPTIONAL),
            description="The whole entry; `version`: the version it was edited from.",
        ),
        "KbEntry": _object(
            {
                "id": STRING,
                "version": INT,
                **KB_ENTRY_FIELDS,
                "updated_at": TIME,
                "updated_by": N_STRING,
            },
            optional=KB_OPTIONAL,
        ),
        "KbEntryEnvelope": _object({"entry": _ref("KbEntry")}),
        "KbEntryList": _object(
            {"entries": {"type": "array", "items": _ref("KbEntry")}, "revision": _nullable(INT)}
        ),
        "KbHistory": _object(
            {
                "versions": {
                    "type": "array",
                    "items": _object(
                        {
                            "version": INT,
                            "change": STRING,
                            "agent": N_STRING,
                            "at": TIME,
                            "entry": {"type": ["object", "null"]},
                        }
                    ),
                }
            }
        ),
        "KbRestoreRequest": _object(
            {"restore": KB_VERSION, "version": _nullable(KB_VERSION)}, optional=("version",)
        ),
        "KbDocument": {
            "type": "object",
            "properties": {
                "language": STRING,
                "entries": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["entries"],
            "description": "A KB file (docs/bot.md), as `[faq] path` loads it.",
        },
        "KbImportResult": _object(
            {
                "created": INT,
                "updated": INT,
                "deleted": INT,
                "unchanged": INT,
                "revision": INT,
            }
        ),
    }
)


def _kb_op(
    summary: str, ok: str, schema: str | None, *, errors: tuple[str, ...], **kw: Any
) -> JSON:
    operation = _op(summary, ok, schema, errors=("401", "403", "422"), **kw)
    operation["responses"].update({code: KB_ERRORS[code] for code in errors})
    operation["responses"]["503"] = KB_ERRORS["503"]
    return operation


def knowledge_base_paths() -> JSON:
    """The knowledge base editor's paths (`router.http.knowledge_api`), admins only."""
    entry_params = (KB_ENTRY_PARAM,)
    import_operation = _kb_op(
        "Admin: replace the knowledge base with a KB file (JSON, or YAML as "
        "application/yaml): all or nothing; entries it lacks are deleted",
        "200",
        "KbImportResult",
        errors=("400",),
    )
    import_operation["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {"schema": _ref("KbDocument")},
            "application/yaml": {"schema": STRING},
        },
    }
    import_operation["responses"]["413"] = BODY_ERRORS["413"]
    return {
        "/api/v1/knowledge/entries": {
            "get": _kb_op(
                "Admin: the knowledge base's entries in file order (`q`: those holding "
                "each of its words)",
                "200",
                "KbEntryList",
                errors=(),
                params=(_query("q", STRING, "words to look for in ids, questions and answers"),),
            ),
            "post": _kb_op(
                "Admin: add an entry (version 1, or the next after a deleted one's); every "
                "process's bot answers from it within seconds",
                "201",
                "KbEntryEnvelope",
                errors=("400", "409"),
                body="KbEntryCreate",
            ),
        },
        KB_ENTRY_PATH: {
            "get": _kb_op(
                "Admin: one entry", "200", "KbEntryEnvelope", errors=("404",), params=entry_params
            ),
            "put": _kb_op(
                "Admin: save a new version of an entry; `version` is the one it was edited "
                "from (409 when another save came first)",
                "200",
                "KbEntryEnvelope",
                errors=("400", "404", "409"),
                body="KbEntryUpdate",
                params=entry_params,
            ),
            "delete": _kb_op(
                "Admin: delete an entry at `version` (its history stays, to restore it)",
                "204",
                None,
                errors=("400", "404", "409"),
                params=(
                    KB_ENTRY_PARAM,
                    {"name": "version", "in": "query", "required": True, "schema": KB_VERSION},
                ),
            ),
        },
        KB_ENTRY_PATH + "/history": {
            "get": _kb_op(
                "Admin: every saved version of an entry, newest first: who, when, what "
                "changed, and its content",
                "200",
                "KbHistory",
                errors=("404",),
                params=entry_params,
            )
        },
        KB_ENTRY_PATH + "/restore": {
            "post": _kb_op(
                "Admin: make an old version current again, as a new version (`version`: "
                "the current one, or null for an entry deleted since)",
                "200",
                "KbEntryEnvelope",
                errors=("400", "404", "409"),
                body="KbRestoreRequest",
                params=entry_params,
            )
        },
        "/api/v1/knowledge/export": {
            "get": _kb_op(
                "Admin: the knowledge base as a KB file (JSON); importing it gives the "
                "same knowledge base",
                "200",
                "KbDocument",
                errors=(),
            )
        },
        "/api/v1/knowledge/import": {"post": import_operation},
    }


# --- administration: agents, invitations, tags, channels, dead letters ------------------

_FACT: JSON = {
    "anyOf": [STRING, INT, {"type": "boolean"}, {"type": "array", "items": STRING}],
}

SCHEMAS.update(
    {
        "AgentCreateRequest": _object(
            {
                "email": {
                    "type": "string",
                    "maxLength": column_limit(Agent.email),
                    "pattern": EMAIL_PATTERN,
                },
                "name": _words(column_limit(Agent.name)),
                "tier": {"type": "integer", "minimum": 1, "maximum": 3},
                "admin": {"type": "boolean"},
                "password": {**TEXT, "minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD},
                "language": {"type": "string", "enum": list(LANGUAGES)},
            },
            optional=("admin", "password", "language"),
            description="without a password the answer holds an invitation link the agent "
            "opens to choose one (valid 7 days, single use, ended by a re-issue, a "
            "withdrawal or a deactivation)",
        ),
        "AgentCreated": _object(
            {"agent": _ref("AgentInfo"), "invitation_url": N_STRING},
        ),
        "AgentPatchRequest": _object(
            {
                "tier": {"type": "integer", "minimum": 1, "maximum": 3},
                "max_concurrent": {"type": "integer", "minimum": 1, "maximum": 100},
                "admin": {"type": "boolean"},
                "active": {"type": "boolean"},
            },
            optional=("tier", "max_concurrent", "admin", "active"),
            description="active=false deactivates: sessions and tokens end, open threads "
            "return to the queue",
        ),
        "AgentEnvelope": _object(
            {"agent": _ref("AgentInfo"), "requeued": {"type": "array", "items": INT}},
            optional=("requeued",),
        ),
        "InvitationRequest": _object(
            {"token": {**TEXT, "maxLength": 400}, "password": {**TEXT, "maxLength": MAX_PASSWORD}}
        ),
        "InvitationAccepted": _object({"email": STRING, "name": STRING}),
        "Tag": _object({"id": INT, "name": STRING, "created_at": TIME}),
        "TagList": _object({"tags": {"type": "array", "items": _ref("Tag")}}),
        "TagRequest": _object({"name": _words(64)}),
        "TagEnvelope": _object({"tag": _ref("Tag")}),
        "ChannelStatus": _object(
            {
                "name": STRING,
                "summary": STRING,
                "missing": {"type": "array", "items": STRING},
                "facts": {"type": "object", "additionalProperties": _FACT},
            },
            description="what the channel's adapter says of itself (`describe`), and its "
            "live check where it has one (email: whether the relay answers)",
        ),
        "DeadLetter": _object(
            {
                "id": INT,
                "thread_id": INT,
                "message_id": INT,
                "channel": STRING,
                "address": STRING,
                "attempts": INT,
                "last_error": N_STRING,
                "created_at": TIME,
            }
        ),
        "ChannelStatusReport": _object(
            {
                "channels": {"type": "array", "items": _ref("ChannelStatus")},
                "outbox": _object(
                    {"pending": INT, "delivered": INT, "dead": INT},
                    description="rows per delivery state",
                ),
                "dead_letters": {"type": "array", "items": _ref("DeadLetter")},
            }
        ),
        "OutboxRetried": _object({"id": INT, "status": STRING}),
    }
)


def admin_paths() -> JSON:
    """Paths of `router.http.admin_api` (admins only, except accepting an invitation)."""
    admin_errors = ("401", "403", "404", "409", "422")
    return {
        "/api/v1/agents": {
            "post": _op(
                "Admin: add an agent, with an initial password or an invitation link",
                "201",
                "AgentCreated",
                errors=("401", "403", "409", "422", "503"),
                body="AgentCreateRequest",
            )
        },
        "/api/v1/agents/{id}": {
            "patch": _op(
                "Admin: change tier, capacity, admin flag; deactivate or reactivate",
                "200",
                "AgentEnvelope",
                errors=admin_errors,
                body="AgentPatchRequest",
                params=THREAD_ID,
            )
        },
        "/api/v1/agents/{id}/invitation": {
            "post": _op(
                "Admin: a new invitation link for an agent without a password; every "
                "earlier link of theirs ends for good",
                "201",
                "AgentCreated",
                errors=admin_errors,
                params=THREAD_ID,
            ),
            "delete": _op(
                "Admin: end an agent's invitation link (a leaked one) without a new one",
                "200",
                "AgentEnvelope",
                errors=admin_errors,
                params=THREAD_ID,
            ),
        },
        "/api/v1/invitations/accept": {
            "post": _op(
                "The invited agent chooses a password (no credentials: the token is one)",
                "200",
                "InvitationAccepted",
                errors=("404", "409", "422", "503"),
                body="InvitationRequest",
                security=[],
            )
        },
        "/api/v1/tags": {
            "get": _op("Every tag", "200", "TagList"),
            "post": _op(
                "Admin: add a tag",
                "201",
                "TagEnvelope",
                errors=("401", "403", "409", "422"),
                body="TagRequest",
            ),
        },
        "/api/v1/tags/{id}": {
            "patch": _op(
                "Admin: rename a tag",
                "200",
                "TagEnvelope",
                errors=admin_errors,
                body="TagRequest",
                params=THREAD_ID,
            ),
            "delete": _op(
                "Admin: remove a tag",
                "204",
                None,
                errors=("401", "403", "404"),
                params=THREAD_ID,
            ),
        },
        "/api/v1/channels/status": {
            "get": _op(
                "Admin: each channel's state, the outbox depth and the newest dead letters",
                "200",
                "ChannelStatusReport",
                errors=("401", "403"),
            )
        },
        "/api/v1/outbox/{id}/retry": {
            "post": _op(
                "Admin: deliver a dead letter again (attempts start over)",
                "200",
                "OutboxRetried",
                errors=("401", "403", "404", "409"),
                params=THREAD_ID,
            )
        },
    }


# --- outreach: templates, outbound messages, purchases, unsubscribe ----------------------

TEMPLATE_NAME: JSON = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
OUTREACH_STATUSES = ["scheduled", "sent", "delivered", "failed", "skipped", "cancelled"]
# Admins (agent token or console session) and integrations manage outreach; an
# integration sees only its own messages and purchases. Templates are written by admins.
ADMIN_SECURITY: list[JSON] = [{"agentToken": []}, {"consoleSession": []}]
OUTREACH_SECURITY: list[JSON] = [*ADMIN_SECURITY, {"integrationToken": []}]
TEMPLATE_TEXTS: JSON = {
    "type": "object",
    "properties": {language: _ref("TemplateText") for language in LANGUAGES},
    "minProperties": 1,
    "additionalProperties": False,
}

SCHEMAS.update(
    {
        "TemplateText": _object(
            {
                "body": {**_words(4000), "minLength": 1},
                "subject": _nullable({**TEXT, "maxLength": 200}),
                "suggestions": {
                    "type": "array",
                    "maxItems": 5,
                    "items": {**TEXT, "minLength": 1, "maxLength": 64},
                },
            },
            optional=("subject", "suggestions"),
            description="{name} is a parameter; {{ and }} are braces; an ISO date "
            "parameter is written in the reader's calendar and digits",
        ),
        "TemplateRequest": _object({"texts": TEMPLATE_TEXTS}),
        "Template": _object({"name": TEMPLATE_NAME, "texts": TEMPLATE_TEXTS}),
        "TemplateList": _object({"templates": {"type": "array", "items": _ref("Template")}}),
        "OutboundMessageRequest": {
            **_object(
                {
                    "customer_id": ID,
                    "identity": _object(
                        {
                            "channel": {**TEXT, "minLength": 1, "maxLength": 320},
                            "address": {**TEXT, "minLength": 1, "maxLength": 320},
                        }
                    ),
                    "template": TEMPLATE_NAME,
                    "params": {
                        "type": "object",
                        "additionalProperties": {"anyOf": [TEXT, {"type": "number"}]},
                    },
                    "language": {"type": ["string", "null"], "enum": [*LANGUAGES, None]},
                    "channel": _nullable({**TEXT, "minLength": 1, "maxLength": 32}),
                    "send_at": N_TIME,
                    "idempotency_key": IDEMPOTENCY_KEY,
                },
                optional=("customer_id", "identity", "params", "language", "channel", "send_at"),
                description="exactly one of customer_id and identity; the same "
                "idempotency_key again from the same caller answers with the first message "
                "(with another request: 409)",
            ),
            "oneOf": [{"required": ["customer_id"]}, {"required": ["identity"]}],
        },
        "OutboundMessage": _object(
            {
                "id": INT,
                "status": {"type": "string", "enum": OUTREACH_STATUSES},
                "reason": N_STRING,
                "customer_id": INT,
                "template": STRING,
                "language": N_STRING,
                "channel": N_STRING,
                "send_at": TIME,
                "idempotency_key": STRING,
                "thread_id": N_INT,
                "message_id": N_INT,
                "created_at": TIME,
                "finished_at": N_TIME,
            }
        ),
        "OutboundMessageList": _object(
            {
                "messages": {"type": "array", "items": _ref("OutboundMessage")},
                "counts": {
                    "type": "array",
                    "items": _object(
                        {
                            "template": STRING,
                            "channel": STRING,
                            "counts": {"type": "object", "additionalProperties": INT},
                        }
                    ),
                },
            }
        ),
        "PurchaseRequest": _object(
            {
                "order_id": {**_words(200), "minLength": 1},
                "customer": {
                    "oneOf": [
                        _object({"id": ID}),
                        _object({"email": {**TEXT, "minLength": 1}}),
                        _object({"phone": {**TEXT, "minLength": 1}}),
                        _object({"external_id": {**TEXT, "minLength": 1}}),
                    ],
                    "description": "external_id: the integration's own customer id (as in "
                    "/api/v1/inbound/messages); only with an integration token",
                },
                "product": {**_words(200), "minLength": 1},
                "purchased_on": {"type": "string", "format": "date"},
                "warranty_months": {"type": "integer", "minimum": 1, "maximum": 240},
            }
        ),
        "Purchase": _object(
            {
                "order_id": STRING,
                "customer_id": INT,
                "created": {"type": "boolean"},
                "changed": {"type": "boolean"},
                "reminder_id": N_INT,
                "warranty_ends": {"type": "string", "format": "date"},
            }
        ),
    }
)


def outreach_paths() -> JSON:
    """Paths of `router.http.outreach_api` (docs/outreach.md)."""
    outreach_errors = ("401", "403", "404", "422")
    paths: JSON = {
        "/api/v1/templates": {
            "get": _op(
                "Outreach templates (admins, integrations)",
                "200",
                "TemplateList",
                errors=("401", "403"),
                security=OUTREACH_SECURITY,
            )
        },
        "/api/v1/templates/{name}": {
            "get": _op(
                "One outreach template",
                "200",
                "Template",
                errors=("401", "403", "404"),
                params=(NAME,),
                security=OUTREACH_SECURITY,
            ),
            "put": _op(
                "Admins: store an outreach template (replacing one of the same name); 422 "
                "lists every problem; an integration's token is refused (401)",
                "200",
                "Template",
                errors=("401", "403", "422"),
                params=(NAME,),
                body="TemplateRequest",
                security=ADMIN_SECURITY,
            ),
        },
        "/api/v1/outbound/messages": {
            "get": _op(
                "Outreach messages, newest first (up to 500), with counts per template and "
                "channel: an integration's own, every one for an admin",
                "200",
                "OutboundMessageList",
                errors=("401", "403"),
                params=(
                    _query("status", STRING, "a status, or a skip reason"),
                    _query("template", STRING, "a template name"),
                ),
                security=OUTREACH_SECURITY,
            ),
            "post": _op(
                "Schedule one outreach message (202); the same idempotency_key again "
                "from the same caller answers with the first (keys are per integration); "
                "409 (code idempotency_key_reused): the key with another request; "
                "404: no such customer (or, with integration_customers = known, not one "
                "the integration knows)",
                "202",
                "OutboundMessage",
                errors=(*outreach_errors, "409"),
                body="OutboundMessageRequest",
                security=OUTREACH_SECURITY,
            ),
        },
        "/api/v1/outbound/messages/{id}": {
            "get": _op(
                "One outreach message and its status (404: another integration's)",
                "200",
                "OutboundMessage",
                errors=("401", "403", "404"),
                params=(_path_id(),),
                security=OUTREACH_SECURITY,
            )
        },
        "/api/v1/purchases": {
            "post": _op(
                "Record a purchase by order_id, unique among the caller's purchases (201 "
                "new, 200 known); its warranty reminder is scheduled or moved",
                "201",
                "Purchase",
                errors=outreach_errors,
                body="PurchaseRequest",
                security=OUTREACH_SECURITY,
            )
        },
        "/api/v1/purchases/{order_id}": {
            "delete": _op(
                "Forget one of the caller's purchases; its reminder, not yet sent, is cancelled",
                "204",
                None,
                errors=("401", "403", "404", "422"),
                params=(
                    {"name": "order_id", "in": "path", "required": True, "schema": STRING},
                    _query(
                        "integration",
                        STRING,
                        "admins: the token id (pasokh integration list) of the integration "
                        "whose order it is; without it, an order an admin stored",
                    ),
                ),
                security=OUTREACH_SECURITY,
            )
        },
    }
    known = paths["/api/v1/purchases"]["post"]["responses"]
    known["200"] = {"description": "a purchase already known", "content": _content("Purchase")}
    token = _query("t", STRING, "the signed token of the mail's link")
    token["required"] = True
    page = {"text/html": {"schema": STRING}}
    unknown = {"description": "a token this server did not make", "content": {"text/plain": {}}}
    paths["/outreach/unsubscribe"] = {
        "get": {
            "summary": "The unsubscribe page: one button (a GET changes nothing)",
            "security": [],
            "parameters": [token, _query("lang", STRING, "fa, ar or en")],
            "responses": {"200": {"description": "the page", "content": page}, "404": unknown},
        },
        "post": {
            "summary": "One-click unsubscribe (RFC 8058): the customer is opted out of outreach",
            "security": [],
            "parameters": [token, _query("lang", STRING, "fa, ar or en")],
            "responses": {"200": {"description": "done", "content": page}, "404": unknown},
        },
    }
    return paths
