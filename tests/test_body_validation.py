"""The compiled body check against `jsonschema`: a body the compiled check passes is one
`jsonschema` accepts, for every request schema the server checks bodies against, over
valid bodies and near misses (types, bounds, blanks, Unicode whitespace, unknown and
missing fields)."""

from __future__ import annotations

import copy
from typing import Any

import fastjsonschema
import pytest

from router.http.openapi import openapi_document
from router.http.validation import _compiled_check, _validator, body_problem

# Every schema a handler passes to `body_problem`.
REQUEST_SCHEMAS = (
    "InboundMessageRequest",
    "MergeRequest",
    "SurveyAnswerRequest",
    "TransferRequest",
    "EscalateRequest",
    "ResolveRequest",
    "PriorityRequest",
    "PendingRequest",
    "ReplyRequest",
    "CustomerNoteRequest",
    "CustomerTagRequest",
    "PresenceRequest",
    "CannedRequest",
)

NEAR_MISSES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    1.5,
    10**18,
    10**18 + 1,
    -(10**18) - 1,
    2**64,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1c",  # whitespace to Python's `\s`, not to ECMAScript's
    "\x85",
    "\u00a0",
    "\ufeff",  # the other way round
    "\u200c",
    "\n",
    "a\n",
    "سلام",
    "x" * 8,
    "x" * 9,
    "x" * 200,
    "x" * 201,
    [],
    ["a"],
    [1],
    {},
    {"a": 1},
)


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = openapi_document()["components"]["schemas"]
    return schemas


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _schemas()[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _example(schema: dict[str, Any]) -> Any:
    """A value the schema most likely accepts (checked by the caller)."""
    schema = _resolved(schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    kind = schema.get("type")
    for key in ("anyOf", "oneOf"):
        if key in schema and kind != "object":
            return _example(schema[key][0])
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    match kind:
        case "object":
            properties = schema.get("properties", {})
            # "exactly one of": the first branch's fields
            required = [
                *schema.get("required", ()),
                *schema.get("oneOf", [{}])[0].get("required", ()),
            ]
            return {name: _example(properties[name]) for name in required}
        case "array":
            return [_example(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
        case "string":
            return "a" * max(1, schema.get("minLength", 1))
        case "integer" | "number":
            return max(1, schema.get("minimum", 1))
        case "boolean":
            return True
    return None


def _bodies(name: str) -> list[Any]:
    """A valid body, and copies of it with each field (at its depth) set to each near miss,
    taken out, or joined by an unknown one."""
    schema = _schemas()[name]
    base = _example(schema)
    bodies: list[Any] = [base, {**base, "unknown_field": 1}]

    def mutate(body: dict[str, Any], at: dict[str, Any], schema: dict[str, Any]) -> None:
        schema = _resolved(schema)
        for field, field_schema in schema.get("properties", {}).items():
            for value in NEAR_MISSES:
                at[field] = value
                bodies.append(copy.deepcopy(body))
            at[field] = _example(field_schema)
            if isinstance(at[field], dict):
                mutate(body, at[field], field_schema)
                at[field] = _example(field_schema)
            held = at.pop(field)
            bodies.append(copy.deepcopy(body))
            at[field] = held
            if field not in base:
                del at[field]  # the next field's near misses beside the valid body's own

    working = copy.deepcopy(base)
    mutate(working, working, schema)
    return bodies


def _compiled_accepts(name: str, body: Any) -> bool:
    try:
        _compiled_check(name)(body)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


@pytest.mark.parametrize("name", REQUEST_SCHEMAS)
def test_the_compiled_check_accepts_exactly_what_jsonschema_accepts(name: str) -> None:
    bodies = _bodies(name)
    assert _validator(name).is_valid(bodies[0]), "the example body is valid"
    verdicts = [(_compiled_accepts(name, b), _validator(name).is_valid(b)) for b in bodies]
    wrongly_accepted = [
        b for b, (fast, full) in zip(bodies, verdicts, strict=True) if fast and not full
    ]
    assert wrongly_accepted == []
    # A body the compiled check alone refuses costs only time (jsonschema has the last
    # word): its `$` is the end of the text, Python's also before a final newline
    # (`"a\n"` as an `idempotency_key`). A plain valid body takes the quick path.
    assert verdicts[0] == (True, True)


@pytest.mark.parametrize("name", REQUEST_SCHEMAS)
def test_the_problem_named_is_jsonschemas(name: str) -> None:
    for body in _bodies(name):
        problem = body_problem(body, name)
        assert (problem is None) == _validator(name).is_valid(body), body


def test_a_checked_body_is_left_as_sent() -> None:
    """Defaults in the document are not filled in by the check."""
    with_defaults = [
        name for name in REQUEST_SCHEMAS if "default" in repr(_resolved(_schemas()[name]))
    ]
    assert with_defaults, "some request schema has a default to leave out"
    for name in with_defaults:
        body = _example(_schemas()[name])
        sent = copy.deepcopy(body)
        assert body_problem(body, name) is None
        assert body == sent


def test_a_valid_body_is_not_judged_by_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("jsonschema ran for a valid body")

    monkeypatch.setattr("router.http.validation.best_match", refuse)
    body = {"id": "m1", "customer": {"external_id": "c1"}, "text": "سلام"}
    assert body_problem(body, "InboundMessageRequest") is None
