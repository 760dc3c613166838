"""Request bodies checked against the OpenAPI document's own schemas.

The document is the one statement of what a body may hold (types, ranges, lengths,
patterns, no unknown fields); checking bodies against it keeps the server and the
document from drifting apart. Rules that depend on stored state (a thread's tier, an
agent's capacity) stay with the code that knows the state.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from router.http.openapi import openapi_document


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    document = openapi_document()
    registry: Registry[Any] = Registry().with_resource(
        "urn:pasokh:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    schema = {"$ref": f"urn:pasokh:openapi#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry)


def body_problem(body: dict[str, Any], schema_name: str) -> str | None:
    """What is wrong with `body` as a `schema_name` (a component schema), or None."""
    error = best_match(_validator(schema_name).iter_errors(body))
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path)
    field = f"field {where}" if where else "the body"
    match error.validator:
        case "required":
            missing = next(n for n in error.validator_value if n not in error.instance)
            return f"missing field: {f'{where}.' if where else ''}{missing}"
        case "additionalProperties":
            unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            return f"{field} has unknown fields: {', '.join(unknown)}"[:300]
        case "maxLength":
            return f"{field} is longer than {error.validator_value} characters"
        case "pattern":  # the regular expression would tell a person nothing
            return f"{field} is blank, or holds a NUL or a lone surrogate"
        case "type":
            return f"{field} must be of type {error.validator_value}"
    return f"{field}: {error.message}"[:300]
