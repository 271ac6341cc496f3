"""``GET /api/graph/{object_id}?hops=1|2``: an object's neighbourhood as the caller may see it.

The answer is ``mburoja.graph.neighbourhood`` as JSON, the same data the graph page draws:
``{"root", "nodes": [{"id", "type", "label", "tlp", "hop"}], "edges": [{"source",
"target", "label"}], "capped"}``. An object that is not stored and one the caller may not
see get the same 404.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja.api.core_paths import stix_id
from mburoja.api.spec import ERROR, OPTIONAL_BEARER, json_response, response
from mburoja.config import Settings
from mburoja.graph import MAX_HOPS, NODE_CAP, neighbourhood, parse_hops
from mburoja.policy import Policy
from mburoja.store.sql import SqlStore
from mburoja.taxii.auth import caller_from_authorization

_NODE: Final = {
    "type": "object",
    "required": ["id", "type", "label", "tlp", "hop"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "description": "the object's STIX id"},
        "type": {"type": "string", "description": "the object's STIX type"},
        "label": {
            "type": "string",
            "description": "its name, value or title as the caller sees it; its type if none",
        },
        "tlp": {"type": "string", "description": "its TLP level, `none` when unmarked"},
        "hop": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_HOPS,
            "description": "hops from the root (0: the root)",
        },
    },
}
_EDGE: Final = {
    "type": "object",
    "required": ["source", "target", "label"],
    "additionalProperties": False,
    "properties": {
        "source": {"type": "string"},
        "target": {"type": "string"},
        "label": {
            "type": "string",
            "description": "a relationship's relationship_type, or the reference property "
            "(e.g. sighting_of_ref) from source to target",
        },
    },
}

#: the OpenAPI 3.0 paths of this module
PATHS: Final[dict[str, Any]] = {
    "/api/graph/{object_id}": {
        "get": {
            "summary": "The neighbourhood of an object, up to two hops",
            "description": (
                "The objects the object references and that reference it, then theirs, as "
                "the caller may see them: only current versions; relationship objects are "
                "edges labelled with their relationship_type, not nodes; an object the "
                "caller may not see is left out with its edges. At most "
                f"{NODE_CAP} nodes; `capped` is true when there were more."
            ),
            "operationId": "getGraph",
            "tags": ["graph"],
            "security": OPTIONAL_BEARER,
            "parameters": [
                {
                    "name": "object_id",
                    "in": "path",
                    "required": True,
                    "description": "the STIX id of the root object (type--UUID)",
                    "schema": stix_id(),
                },
                {
                    "name": "hops",
                    "in": "query",
                    "required": False,
                    "description": "how far to walk from the root",
                    "schema": {"type": "integer", "enum": [1, 2], "default": 2},
                },
            ],
            "responses": {
                "200": {
                    "description": "the neighbourhood",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["root", "nodes", "edges", "capped"],
                                "additionalProperties": False,
                                "properties": {
                                    "root": {"type": "string"},
                                    "nodes": {"type": "array", "items": _NODE},
                                    "edges": {"type": "array", "items": _EDGE},
                                    "capped": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "400": response("a malformed id or hops", ERROR),
                "401": response("missing or wrong credentials", ERROR),
                "404": response("no such object, or none the caller may see", ERROR),
                "503": response("the store is unavailable", ERROR),
            },
        }
    }
}


def routes(store: SqlStore, policy: Policy, settings: Settings) -> list[Route]:
    def graph(request: Request) -> Response:
        who = caller_from_authorization(
            request.headers.get("authorization"),
            store,
            anonymous_ok=settings.auth.anonymous_read,
        )
        hops = parse_hops(request.query_params.get("hops"))
        found = neighbourhood(store, policy, who, request.path_params["object_id"], hops)
        return json_response(found)

    return [Route("/api/graph/{object_id}", graph, methods=["GET"])]
