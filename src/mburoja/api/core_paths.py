"""OpenAPI ``paths`` of the routes ``mburoja.api.app`` defines itself: health, stats,
federation state and the OpenAPI document. Response schemas are exact (required fields,
no other properties) because the API test checks every response against them."""

from __future__ import annotations

from typing import Any, Final

from mburoja.api.spec import BEARER, ERROR, OPTIONAL_BEARER, closed, response

#: the UUID of a STIX identifier as ``mburoja.stix.identifiers.UUID_RE`` takes it
_UUID: Final = (
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)


def stix_id(kind: str | None = None) -> dict[str, Any]:
    """The schema of a STIX identifier (of type ``kind``, or any type), exactly as
    ``mburoja.stix.identifiers.identifier_type`` accepts it: a type name of 3 to 250
    characters (lower-case words joined by single hyphens; the length bounds of the whole
    string give those of the type, the ``--`` and UUID being 38), ``--``, an RFC 4122 UUID."""
    if kind is not None:
        return {"type": "string", "pattern": f"^{kind}--{_UUID}$"}
    return {
        "type": "string",
        "pattern": f"^[a-z0-9]+(-[a-z0-9]+)*--{_UUID}$",
        "minLength": 3 + 38,
        "maxLength": 250 + 38,
    }


_COUNTS: Final = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_INT: Final = {"type": "integer", "minimum": 0}
_TEXT_OR_NULL: Final = {"type": "string", "nullable": True}

STATS: Final = closed(
    {
        "objects": _INT,
        "versions": _INT,
        "by_type": _COUNTS,
        "by_tlp": _COUNTS,
        "observables": _INT,
        "dangling_refs": _INT,
        "quarantined": _INT,
        "collections": _INT,
        "ingests": _INT,
    }
)
PEER: Final = closed(
    {
        "name": {"type": "string"},
        "kind": {"type": "string"},
        "api_root": {"type": "string"},
        "enabled": {"type": "boolean"},
        "push": {"type": "array", "items": {"type": "string"}},
        "pull": {"type": "array", "items": {"type": "string"}},
        "pending": _INT,
        "failed": _INT,
        "lag_s": {"type": "number", "minimum": 0},
        "delivered": _INT,
        "withheld": _INT,
        "refused": _INT,
        "received": _INT,
        "rejected": _INT,
        "last_success": _TEXT_OR_NULL,
        "last_error": _TEXT_OR_NULL,
        "last_error_at": _TEXT_OR_NULL,
        "last_lag_s": {"type": "number", "nullable": True},
    }
)
_AUTH: Final = {"401": response("Credentials missing or not valid.", ERROR)}

PATHS: dict[str, Any] = {
    "/api/health": {
        "get": {
            "summary": "Whether the server and its store answer",
            "operationId": "health",
            "security": [],
            "responses": {
                "200": response(
                    "The store's schema is current.",
                    closed(
                        {
                            "status": {"type": "string", "enum": ["ok"]},
                            "version": {"type": "string"},
                            "store": {"type": "string"},
                        }
                    ),
                ),
                "503": response("The store does not answer or its schema is out of date.", ERROR),
            },
        }
    },
    "/api/stats": {
        "get": {
            "summary": "Counts of what the caller may see",
            "description": "Objects and versions by type and TLP, through the policy; the "
            "store-wide figures (observables, quarantine, runs) are the home organisation's "
            "only and zero for others.",
            "operationId": "stats",
            "security": OPTIONAL_BEARER,
            "responses": {"200": response("The counts.", STATS), **_AUTH},
        }
    },
    "/api/federation": {
        "get": {
            "summary": "Federation state per peer (home organisation only)",
            "operationId": "federation",
            "security": BEARER,
            "responses": {
                "200": response(
                    "Every peer's outbox depth, lag, counters and last outcome.",
                    closed({"peers": {"type": "array", "items": PEER}}),
                ),
                **_AUTH,
                "403": response("The caller is not of the home organisation.", ERROR),
            },
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This OpenAPI document",
            "operationId": "openapi",
            "security": [],
            "responses": {"200": response("The OpenAPI 3.0.3 document.", {"type": "object"})},
        }
    },
}
