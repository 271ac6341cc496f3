"""Building blocks of the OpenAPI ``paths`` each API module declares next to its routes
(``PATHS``), and the JSON answer they all give: one definition of the error schema
reference, the security requirements, closed object schemas, parameters and responses, so
that every module describes its answers the same way.

Schemas are exact (required fields, no other properties) because the API tests check every
answer against them (``tests/api/test_openapi.py`` runs schemathesis with all checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec
from starlette.responses import Response

#: the schema of every error answer, ``{"error": ..., "status": ...}`` (``openapi.py``)
ERROR: Final = {"$ref": "#/components/schemas/Error"}
#: ``security`` of an operation that needs a bearer token
BEARER: Final[list[dict[str, list[str]]]] = [{"bearer": []}]
#: ``security`` of an operation an anonymous caller may also use when ``auth.anonymous_read``
#: is on (it then sees TLP:CLEAR only); without credentials it is 401 otherwise
OPTIONAL_BEARER: Final[list[dict[str, list[str]]]] = [{}, {"bearer": []}]
#: what each error status means, unless a module says it in its own words
REASONS: Final = {
    400: "A parameter or the body is wrong; the message names it and why.",
    401: "No credentials, or wrong ones.",
    403: "The account may not do this.",
    404: "No such item, or none the caller may see.",
    409: "It conflicts with the current state; the message says how.",
    503: "The store is unavailable.",
}

_encoder = msgspec.json.Encoder()


def json_response(content: Any, status: int = 200) -> Response:
    """``content`` (msgspec-encodable) as a JSON answer."""
    return Response(_encoder.encode(content), status_code=status, media_type="application/json")


def response(
    description: str, schema: dict[str, Any], media: str = "application/json"
) -> dict[str, Any]:
    """One response object: its description and the schema of its body."""
    return {"description": description, "content": {media: {"schema": schema}}}


def errors(*statuses: int, reasons: Mapping[int, str] | None = None) -> dict[str, Any]:
    """The error responses for ``statuses``, each with the shared error schema."""
    words = {**REASONS, **(reasons or {})}
    return {str(s): response(words[s], ERROR) for s in statuses}


def closed(
    properties: dict[str, Any], optional: tuple[str, ...] = (), *, extra: bool = False
) -> dict[str, Any]:
    """An object schema whose properties are all required but ``optional``, and which has
    no others (unless ``extra``)."""
    return {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
        "additionalProperties": extra,
    }


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def query(
    name: str, schema: dict[str, Any], description: str, *, required: bool = False
) -> dict[str, Any]:
    """A query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def in_path(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """A path parameter."""
    param: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": schema}
    if description:
        param["description"] = description
    return param
