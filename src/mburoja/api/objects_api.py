"""REST endpoints over stored objects, for any authenticated caller (bearer token), each
answering through the policy as that caller:

* ``GET /api/search?q=...``: find objects by value (correlation index), name or words, with
  the filters ``type``, ``tlp``, ``source``, ``since``, ``until``, ``min_confidence`` and
  ``limit`` (``web.lookup``, the same as the search page);
* ``GET /api/objects/{id}``: every version the caller may see, each object as stored;
* ``GET /api/objects/{id}/view``: what the object page shows (``web.objects``): versions with
  their diffs, provenance and signature status, references in and out, sightings, exports,
  and an indicator's decay score.

Search hits and the view carry ``decay`` for an indicator a decay model takes
(:mod:`mburoja.lifecycle.scores`): the score now, its base, model, lifetime, reset time and
when it drops under the threshold; null otherwise.

An id the caller may not see is answered like one that does not exist (404). Errors are
raised from the error tree and mapped to HTTP status by ``mburoja.api.app``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja.api.core_paths import stix_id
from mburoja.api.spec import OPTIONAL_BEARER, array, closed, errors, json_response, query
from mburoja.config import Settings
from mburoja.errors import NotFound
from mburoja.lifecycle.decay import from_settings
from mburoja.policy import Caller, Policy
from mburoja.store.sql import SqlStore
from mburoja.taxii.auth import caller_from_authorization
from mburoja.web.lookup import MAX_QUERY, TLP_CHOICES, parse_filters, search
from mburoja.web.objects import check_identifier, object_view


def routes(store: SqlStore, policy: Policy, settings: Settings) -> list[Route]:
    models = from_settings(settings.decay)

    def caller(request: Request) -> Caller:
        return caller_from_authorization(
            request.headers.get("authorization"),
            store,
            anonymous_ok=settings.auth.anonymous_read,
        )

    def find(request: Request) -> Response:
        filters = parse_filters(request.query_params, default_limit=500)
        return json_response(search(store, policy, caller(request), filters, decay=models))

    def versions(request: Request) -> Response:
        object_id = request.path_params["object_id"]
        check_identifier(object_id)
        who = caller(request)
        shown = []
        for v in store.versions(object_id):
            view = policy.view(who, v.owner, v.markings, v.raw)
            if view is not None:
                shown.append((v, view))
        if not shown:
            raise NotFound(f"no object {object_id}")
        parts = [b'{"id":', orjson.dumps(object_id), b',"versions":[']
        for i, (v, view) in enumerate(shown):
            if i:
                parts.append(b",")
            meta = orjson.dumps(
                {
                    "version": v.version,
                    "date_added": v.date_added,
                    "current": v.is_current,
                    "revoked": v.revoked,
                    "tlp": v.tlp,
                    "source": v.source,
                    "ingest_id": v.ingest_id,
                }
            )
            # the stored bytes spliced in, not re-serialised
            parts.extend((meta[:-1], b',"object":', view, b"}"))
        parts.append(b"]}")
        return Response(b"".join(parts), media_type="application/json")

    def view(request: Request) -> Response:
        found = object_view(
            store, policy, caller(request), request.path_params["object_id"], decay=models
        )
        body = msgspec.to_builtins(found)
        del body["properties"]  # the page's rendering of ``object``
        return json_response(body)

    return [
        Route("/api/search", find),
        Route("/api/objects/{object_id}", versions),
        Route("/api/objects/{object_id}/view", view),
    ]


# -- OpenAPI ---------------------------------------------------------------------------------

_STR: Final = {"type": "string"}
_NSTR: Final = {"type": "string", "nullable": True}
_INT: Final = {"type": "integer"}
_BOOL: Final = {"type": "boolean"}
_REASONS: Final = {
    400: "a parameter is malformed; the error names it",
    401: "no or bad bearer token",
    404: "no such object, or none the caller may see",
}


_OBSERVABLE: Final = closed({"kind": _STR, "value": _STR})
_NUM: Final = {"type": "number"}
_DECAY: Final = {
    **closed(
        {
            "at": _STR,
            "model": _STR,
            "score": _NUM,
            "base": _NUM,
            "threshold": _NUM,
            "speed": _NUM,
            "lifetime_days": _NUM,
            "reset": _STR,
            "reset_by": {
                "type": "string",
                "pattern": "^(valid_from|modified|sighting|listed by feed .+)$",
            },
            "drops_below": _NSTR,
            "below_threshold": _BOOL,
            "note": _STR,
        }
    ),
    "nullable": True,
}
_HIT: Final = closed(
    {
        "id": _STR,
        "type": _STR,
        "name": _NSTR,
        "matched": array(_OBSERVABLE),
        "tlp": _NSTR,
        "revoked": _BOOL,
        "sources": array(_STR),
        "first_seen": _STR,
        "last_seen": _STR,
        "versions": _INT,
        "match": {"type": "string", "enum": ["value", "name", "text"]},
        "value": _NSTR,
        "confidence": {"type": "integer", "nullable": True},
        "decay": _DECAY,
    }
)
_FOUND: Final = closed(
    {
        "query": _STR,
        "keys": array(_OBSERVABLE),
        "hits": array(_HIT),
        "sources": array(_STR),
        "first_seen": _NSTR,
        "last_seen": _NSTR,
        "elapsed_ms": {"type": "number"},
        "windowed": _BOOL,
    }
)
_META: Final = {
    "version": _STR,
    "date_added": _STR,
    "current": _BOOL,
    "revoked": _BOOL,
    "tlp": _NSTR,
    "source": _STR,
    "ingest_id": _INT,
}
_STIX: Final = {"type": "object", "additionalProperties": True}
_VERSIONS: Final = closed({"id": _STR, "versions": array(closed({**_META, "object": _STIX}))})
_SIGNATURE: Final = closed(
    {
        "status": {"type": "string", "enum": ["verified", "unsigned", "local"]},
        "origin": _NSTR,
        "peer": _NSTR,
        "path": array(closed({"instance": _STR, "received": _STR})),
        "note": _STR,
    }
)
_CHANGE: Final = closed(
    {
        "property": _STR,
        "change": {"type": "string", "enum": ["added", "removed", "changed"]},
        "before": _NSTR,
        "after": _NSTR,
    }
)
_VIEW: Final = closed(
    {
        "id": _STR,
        "type": _STR,
        "name": _NSTR,
        "tlp": _NSTR,
        "revoked": _BOOL,
        "object": _STIX,
        "versions": array(closed({**_META, "signature": _SIGNATURE, "changes": array(_CHANGE)})),
        "receipts": array(closed({"source": _STR, "ingest_id": _INT, "received_at": _STR})),
        "links": array(
            closed(
                {
                    "direction": {"type": "string", "enum": ["in", "out"]},
                    "property": _STR,
                    "id": _STR,
                    "type": _STR,
                    "name": _NSTR,
                    "relationship_type": _NSTR,
                }
            )
        ),
        "sightings": array(
            closed(
                {
                    "id": _STR,
                    "count": {"type": "integer", "nullable": True},
                    "first_seen": _NSTR,
                    "last_seen": _NSTR,
                }
            )
        ),
        "exports": {
            **closed(
                {
                    "compiled": _BOOL,
                    "reason": _NSTR,
                    "formats": array(closed({"format": _STR, "carried": _BOOL, "reason": _STR})),
                }
            ),
            "nullable": True,
        },
        "decay": _DECAY,
        "graph": _STR,
    }
)
_ID_PARAM: Final = {
    "name": "object_id",
    "in": "path",
    "required": True,
    "description": "a STIX identifier, type--UUID",
    "schema": stix_id(),
}
#: a date ``YYYY-MM-DD`` (years 1000 to 8999: the store's stamps; a day past 9999-12-31
#: cannot be taken in) or an ISO 8601 time; since must be before until
_DAY: Final = {"type": "string", "format": "date", "pattern": "^[1-8][0-9]{3}-"}


def _query(name: str, description: str, schema: dict[str, Any] = _STR) -> dict[str, Any]:
    return query(name, schema, description)


PATHS: Final[dict[str, Any]] = {
    "/api/search": {
        "get": {
            "summary": "Find objects by value, name or words, through the policy",
            "security": OPTIONAL_BEARER,
            "parameters": [
                {
                    **_query(
                        "q",
                        "a value (IP, domain, hash, URL…), a name or words",
                        {"type": "string", "pattern": "\\S", "maxLength": MAX_QUERY},
                    ),
                    "required": True,
                },
                _query(
                    "type",
                    "only objects of this STIX type",
                    {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,249}$"},
                ),
                _query(
                    "tlp",
                    "only objects at this TLP level (clear … red, or none)",
                    {"type": "string", "enum": [*TLP_CHOICES, "white"]},
                ),
                _query(
                    "source",
                    "only objects one of whose sources is this one",
                    {"type": "string", "maxLength": 200},
                ),
                _query("since", "added at or after this date (YYYY-MM-DD) or time", _DAY),
                _query(
                    "until",
                    "added before the end of this date, or before this time; after since",
                    _DAY,
                ),
                _query(
                    "min_confidence",
                    "confidence at least this (0-100)",
                    {"type": "integer", "minimum": 0, "maximum": 100},
                ),
                _query(
                    "limit",
                    "most hits (default 500)",
                    {"type": "integer", "minimum": 1, "maximum": 10000},
                ),
            ],
            "responses": {
                "200": {
                    "description": "the hits the caller may see, value matches first",
                    "content": {"application/json": {"schema": _FOUND}},
                },
                **errors(400, 401, reasons=_REASONS),
            },
        }
    },
    "/api/objects/{object_id}": {
        "get": {
            "summary": "Every version of an object the caller may see, as stored",
            "security": OPTIONAL_BEARER,
            "parameters": [_ID_PARAM],
            "responses": {
                "200": {
                    "description": "the versions, oldest first",
                    "content": {"application/json": {"schema": _VERSIONS}},
                },
                **errors(400, 401, 404, reasons=_REASONS),
            },
        }
    },
    "/api/objects/{object_id}/view": {
        "get": {
            "summary": "The object page's data: diffs, provenance, signatures, links, exports",
            "security": OPTIONAL_BEARER,
            "parameters": [_ID_PARAM],
            "responses": {
                "200": {
                    "description": "the object as the caller may see it",
                    "content": {"application/json": {"schema": _VIEW}},
                },
                **errors(400, 401, 404, reasons=_REASONS),
            },
        }
    },
}
