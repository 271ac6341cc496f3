"""The OpenAPI ``paths`` of the existing counter-disinformation endpoints
(``disinfo_sources``, ``disinfo_narratives``, ``disinfo_analysis``), kept apart from their
handlers so those stay short.

Response schemas are derived from the very msgspec types the handlers encode (so a field
added there is documented here), converted from JSON Schema 2020-12 to OpenAPI 3.0:
``$ref``\\ s inlined, ``null`` alternatives as ``nullable``, fixed-length arrays
(``prefixItems``) as arrays with that length.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from mburoja.api.core_paths import stix_id
from mburoja.api.disinfo_analysis import AnalyseRequest
from mburoja.api.disinfo_narratives import API_EMBEDDERS, MAX_DOCUMENTS, MatchRequest
from mburoja.api.disinfo_sources import FetchRequest, NewSource
from mburoja.api.spec import BEARER, OPTIONAL_BEARER, errors, query, response
from mburoja.disinfo.coordination import CoordinationResult
from mburoja.disinfo.copies import CopyCluster, CrossLanguageCopy
from mburoja.disinfo.narratives import (
    MAX_EXAMPLES,
    MAX_TEXT,
    NARRATIVE_TYPE,
    Example,
    Narrative,
    NarrativeDraft,
    NarrativeMatch,
)
from mburoja.disinfo.sources import WatchedSource
from mburoja.stix.markings import TLP2
from mburoja.store.disinfo import FetchState

_WHY: Final = {
    400: "bad input (the field and the reason)",
    401: "no or bad credentials",
    403: "not an account of the home organisation, or one that may not write",
    404: "not found",
    409: "the same work is running already",
    413: "the body is too large",
}


def _openapi(schema: Any, defs: dict[str, Any]) -> Any:
    """A msgspec (JSON Schema 2020-12) schema as OpenAPI 3.0, ``$ref``\\ s inlined."""
    if isinstance(schema, list | tuple):  # tuples (msgspec defaults) as JSON has them
        return [_openapi(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _openapi(defs[ref.rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "$defs"):
            continue
        if key == "prefixItems":
            out["items"] = {"anyOf": _openapi(value, defs)} if value else {}
            out["minItems"] = out["maxItems"] = len(value)
        elif key == "anyOf":
            options = [o for o in value if o != {"type": "null"}]
            if len(options) < len(value):
                out["nullable"] = True
            if len(options) == 1:
                out.update(_openapi(options[0], defs))
            else:
                out["anyOf"] = _openapi(options, defs)
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) < len(value):
                out["nullable"] = True
            out["type"] = types[0] if len(types) == 1 else types
        elif key in ("properties", "$defs"):
            out[key] = {k: _openapi(v, defs) for k, v in value.items()}
        elif key == "items" and value is False:
            continue
        else:
            out[key] = _openapi(value, defs)
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def schema_of(kind: Any) -> dict[str, Any]:
    """The OpenAPI 3.0 schema of a msgspec type, inlined."""
    (root,), defs = msgspec.json.schema_components([kind], ref_template="#/$defs/{name}")
    converted: dict[str, Any] = _openapi(root, defs)
    return converted


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def _ok(schema: dict[str, Any], status: int = 200, what: str = "success") -> dict[str, Any]:
    return {str(status): response(what, schema)}


def _errors(*statuses: int) -> dict[str, Any]:
    return errors(*statuses, reasons=_WHY)


def _body(struct: Any, /, **exact: Any) -> dict[str, Any]:
    """The request body of msgspec type ``struct``; ``exact`` adds to the schemas of some of
    its properties what the server checks beyond their JSON type."""
    schema = schema_of(struct)
    for name, refined in exact.items():
        schema["properties"][name] = {**schema["properties"][name], **refined}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _refined(struct: Any, /, **exact: Any) -> dict[str, Any]:
    schema: dict[str, Any] = _body(struct, **exact)["content"]["application/json"]["schema"]
    return schema


def _query(name: str, schema: dict[str, Any], what: str) -> dict[str, Any]:
    return query(name, schema, what)


def _op(
    summary: str,
    op_id: str,
    responses: dict[str, Any],
    security: list[dict[str, list[str]]] = BEARER,
    **more: Any,
) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": op_id,
        "tags": ["disinfo"],
        "security": security,
        "responses": responses,
        **more,
    }


_SINCE: Final = _query(
    "since", {"type": "string", "format": "date-time"}, "only documents published since (ISO 8601)"
)
_SOURCE: Final = {
    **schema_of(WatchedSource),
}
_LISTED_SOURCE: Final = {
    **_SOURCE,
    "required": [*_SOURCE.get("required", []), "last_fetch"],
    "properties": {
        **_SOURCE["properties"],
        "last_fetch": {**schema_of(FetchState), "nullable": True},
    },
}
_NARRATIVE: Final = schema_of(Narrative)
#: text with something besides white space (the server strips what it is given)
_FILLED: Final = {"pattern": "\\S"}
#: text stored in a column: something besides white space, and no NUL character
_NAMED: Final = {"pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"}
#: a TLP level as ``stix.markings.tlp_marking_id`` reads it (``white`` is ``clear``)
_TLP: Final = {"enum": [*TLP2, "white"]}
_DRAFT: Final = _refined(
    NarrativeDraft,
    title={**_NAMED, "maxLength": 300},
    summary={"pattern": "^[^\\u0000]*$"},
    examples={
        "minItems": 1,
        "maxItems": MAX_EXAMPLES,
        "items": _refined(
            Example,
            lang={"pattern": "^[a-z]{2,3}(-[a-z0-9]{2,8})*$"},
            text={**_NAMED, "maxLength": MAX_TEXT},
        ),
    },
    techniques={
        "items": {"type": "string", "pattern": "^T[0-9]{4}([.][0-9]{3})?$"},
    },
    tlp=_TLP,
    id={**stix_id(NARRATIVE_TYPE), "nullable": True},
)
_DRAFT["required"] = ["title", "examples"]
_URL: Final = "^https?://[a-z0-9]+([.-][a-z0-9]+)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$"
_NAME: Final = {**_NAMED, "maxLength": 200, "nullable": True}
_LANG: Final = {"pattern": "^[a-z]{2}$", "nullable": True}
#: a feed or a page is an http(s) URL and has no platform; an account is an id without
#: spaces on a platform
_NEW_SOURCE: Final = {
    "oneOf": [
        _refined(
            NewSource,
            kind={"enum": ["feed", "page"]},
            location={"pattern": _URL, "maxLength": 2000},
            name=_NAME,
            platform={"enum": [""]},
            lang=_LANG,
            tlp=_TLP,
        ),
        {
            **_refined(
                NewSource,
                kind={"enum": ["account"]},
                location={"pattern": "^[^\\s\\u0000]+$", "maxLength": 200},
                name=_NAME,
                platform={"pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"},
                lang=_LANG,
                tlp=_TLP,
            ),
            "required": ["kind", "location", "platform"],
        },
    ]
}
_ANY_OBJECT: Final = {"type": "object"}
_POSITIVE: Final = {"type": "number", "minimum": 0, "exclusiveMinimum": True}

PATHS: dict[str, Any] = {
    "/api/disinfo/sources": {
        "get": _op(
            "The watch list",
            "listDisinfoSources",
            {
                **_ok(_obj(["sources"], sources={"type": "array", "items": _LISTED_SOURCE})),
                **_errors(400, 401, 403),
            },
            parameters=[
                _query("kind", {"type": "string", "enum": ["feed", "page", "account"]}, "kind")
            ],
        ),
        "post": _op(
            "Add a source to the watch list",
            "addDisinfoSource",
            {**_ok(_SOURCE, 201, "the source added"), **_errors(400, 401, 403, 409, 413)},
            requestBody={
                "required": True,
                "content": {"application/json": {"schema": _NEW_SOURCE}},
            },
        ),
    },
    "/api/disinfo/fetch": {
        "post": _op(
            "Fetch the watched feeds and pages now",
            "fetchDisinfoSources",
            {
                **_ok(_ANY_OBJECT, what="the fetch report"),
                **_errors(400, 401, 403, 404, 409, 413),
            },
            requestBody=_body(FetchRequest, max_entries={"minimum": 1}),
        )
    },
    "/api/disinfo/narratives": {
        "get": _op(
            "The narratives the caller may see",
            "listNarratives",
            {
                **_ok(
                    _obj(
                        ["collection", "narratives"],
                        collection={"type": "string"},
                        narratives={"type": "array", "items": _NARRATIVE},
                    )
                ),
                **_errors(400, 401, 403),
            },
            OPTIONAL_BEARER,
            parameters=[_query("collection", {"type": "string"}, "the library's collection")],
        ),
        "post": _op(
            "Add a narrative, or store the next version of one (with id)",
            "saveNarrative",
            {
                **_ok(_NARRATIVE, 201, "added"),
                **_ok(_NARRATIVE, 200, "a new version"),
                **_errors(400, 401, 403, 404, 413),
            },
            requestBody={"required": True, "content": {"application/json": {"schema": _DRAFT}}},
        ),
    },
    "/api/disinfo/narratives/match": {
        "post": _op(
            "Match texts against the narratives the caller may see",
            "matchNarratives",
            {
                **_ok(
                    _obj(
                        ["documents", "narratives", "thresholds", "matches"],
                        documents={"type": "integer"},
                        narratives={"type": "integer"},
                        thresholds={"type": "object", "additionalProperties": {"type": "number"}},
                        matches={"type": "array", "items": schema_of(NarrativeMatch)},
                    )
                ),
                **_errors(400, 401, 403, 413),
            },
            OPTIONAL_BEARER,
            requestBody=_body(
                MatchRequest,
                documents={"maxItems": MAX_DOCUMENTS},
                semantic={"enum": [*API_EMBEDDERS, None]},
                top_k={"minimum": 1, "maximum": 50},
            ),
        )
    },
    "/api/disinfo/narratives/{narrative_id}": {
        "get": _op(
            "One narrative",
            "getNarrative",
            {**_ok(_NARRATIVE), **_errors(400, 401, 403, 404)},
            OPTIONAL_BEARER,
            parameters=[
                {
                    "name": "narrative_id",
                    "in": "path",
                    "required": True,
                    "schema": stix_id(),
                }
            ],
        )
    },
    "/api/disinfo/clusters": {
        "get": _op(
            "Copy-paste networks and cross-language copies",
            "disinfoClusters",
            {
                **_ok(
                    _obj(
                        ["documents", "clusters", "cross_language"],
                        documents={"type": "integer"},
                        clusters={"type": "array", "items": schema_of(CopyCluster)},
                        cross_language={"type": "array", "items": schema_of(CrossLanguageCopy)},
                    )
                ),
                **_errors(400, 401, 403),
            },
            parameters=[_SINCE, _query("min_outlets", _POSITIVE, "least outlets")],
        )
    },
    "/api/disinfo/networks": {
        "get": _op(
            "Coordinated link sharing among the stored posts",
            "disinfoNetworks",
            {**_ok(schema_of(CoordinationResult)), **_errors(400, 401, 403)},
            parameters=[_SINCE, _query("interval", _POSITIVE, "seconds")],
        )
    },
    "/api/disinfo/analyse": {
        "post": _op(
            "Run every detector; findings stored as STIX",
            "disinfoAnalyse",
            {
                **_ok(
                    _obj(
                        [
                            "documents",
                            "articles",
                            "posts",
                            "languages",
                            "findings",
                            "new_sites",
                            "stored",
                            "seconds",
                        ],
                        documents={"type": "integer"},
                        articles={"type": "integer"},
                        posts={"type": "integer"},
                        languages={"type": "object", "additionalProperties": {"type": "integer"}},
                        findings={
                            "type": "array",
                            "items": _obj(
                                ["kind", "title", "members"],
                                kind={"type": "string"},
                                title={"type": "string"},
                                members={"type": "integer"},
                            ),
                        },
                        new_sites={"type": "array", "items": {"type": "string"}},
                        stored={"type": "object", "additionalProperties": {"type": "integer"}},
                        seconds={"type": "object", "additionalProperties": {"type": "number"}},
                    )
                ),
                **_errors(400, 401, 403, 409, 413),
            },
            requestBody=_body(AnalyseRequest, since={"format": "date-time"}),
        )
    },
}
