"""Request bodies checked against the OpenAPI document's own schemas.

The document is the one statement of what a body may hold (types, ranges, lengths,
patterns, no unknown fields); checking bodies against it keeps the server and the
document from drifting apart. Rules that depend on stored state (a thread's tier, an
agent's capacity) stay with the code that knows the state.

A body is first run through a check compiled from the same schema (`fastjsonschema`,
~5 µs where `jsonschema` takes ~80): a body it passes is accepted. A body it refuses
is judged again by `jsonschema`, whose verdict and wording stand, so where the two
differ by being stricter (the compiled `pattern` reads `$` as the end of the text, not
also before a final newline) it costs only time. That it never passes a body
`jsonschema` refuses is tested over every request schema's near misses
(`tests/test_body_validation.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import fastjsonschema
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


@cache
def _compiled_check(schema_name: str) -> Callable[[Any], object]:
    """The schema compiled to Python; raises `JsonSchemaValueException` for a body it
    refuses. It neither fills in defaults (the body stays as sent) nor checks formats
    (`jsonschema` does not either)."""
    document = openapi_document()
    schema = {
        "$ref": f"#/components/schemas/{schema_name}",
        "components": {"schemas": document["components"]["schemas"]},
    }
    check: Callable[[Any], object] = fastjsonschema.compile(
        schema, use_default=False, use_formats=False
    )
    return check


def body_problem(body: dict[str, Any], schema_name: str) -> str | None:
    """What is wrong with `body` as a `schema_name` (a component schema), or None."""
    try:
        _compiled_check(schema_name)(body)
    except fastjsonschema.JsonSchemaValueException:
        pass  # `jsonschema` decides, and says why
    else:
        return None
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
