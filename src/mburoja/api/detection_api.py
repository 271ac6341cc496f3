"""REST endpoints of detection, what the detection page shows (:mod:`mburoja.detect.status`):

* ``GET /api/detection/sightings``: sightings the caller may see, newest stored first
  (``?indicator=&since=&until=&min_count=&where=&limit=&before=``);
* ``GET /api/detection/alerts``: the newest hits, or with ``?after=<cursor>`` those stored
  since, on indicators the caller may see;
* ``GET /api/detection/index``: the active indicators by key kind, and those that could not
  be compiled with the reason;
* ``GET /api/detection/export/{format}``: a sensor export for the caller's organisation.

Every endpoint needs a bearer token (anonymous callers are refused): the answers describe
the caller's organisation's view. Errors come from the error tree; the app maps them.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja.api.core_paths import stix_id
from mburoja.api.spec import BEARER, closed, errors, json_response, query, response
from mburoja.config import Settings, load_secret
from mburoja.detect import status
from mburoja.errors import Unauthenticated
from mburoja.lifecycle import decay, warninglists
from mburoja.policy import Caller, Policy
from mburoja.store.sql import SqlStore
from mburoja.taxii.auth import caller_from_authorization
from mburoja.web.detection import attachment


def routes(store: SqlStore, policy: Policy, settings: Settings) -> list[Route]:
    cursors = status.Cursors(load_secret(settings))

    def caller(request: Request) -> Caller:
        who = caller_from_authorization(
            request.headers.get("authorization"), store, anonymous_ok=False
        )
        if who.anonymous:
            raise Unauthenticated("detection needs the credentials of an organisation")
        return who

    def org_name(who: Caller) -> str:
        return store.get_org(who.org_id).name if who.org_id else "home"

    def sightings(request: Request) -> Response:
        who = caller(request)
        chosen = status.sighting_filter(request.query_params)
        return json_response(status.sightings(store, policy, who, chosen, cursors))

    def alerts(request: Request) -> Response:
        who = caller(request)
        params = request.query_params
        return json_response(
            status.alerts(
                store,
                policy,
                who,
                cursors,
                sighting_tlp=settings.detect.sighting_tlp,
                after=params.get("after", "").strip(),
                limit=status.limit_of(params),
            )
        )

    def index(request: Request) -> Response:
        who = caller(request)
        found = status.index_status(
            store,
            policy,
            who,
            confidence_floor=settings.detect.confidence_floor,
            lists=warninglists.from_settings(settings.warninglists),
            models=decay.from_settings(settings.decay),
        )
        return json_response(found)

    def export(request: Request) -> Response:
        who = caller(request)
        fmt = request.path_params["format"]
        at = request.query_params.get("at") or None
        found = status.export_file(store, who, org_name(who), fmt, at=at, settings=settings)
        return attachment(found)

    return [
        Route("/api/detection/sightings", sightings, methods=["GET"]),
        Route("/api/detection/alerts", alerts, methods=["GET"]),
        Route("/api/detection/index", index, methods=["GET"]),
        Route("/api/detection/export/{format}", export, methods=["GET"]),
    ]


# -- OpenAPI -------------------------------------------------------------------------------

_REASONS: Final = {404: "No such export format."}


def _errors(*codes: int) -> dict[str, Any]:
    return errors(*codes, reasons=_REASONS)


_STR: Final = {"type": "string"}
#: opaque cursors this server issued: an alert answer's ``cursor``, a sightings page's
#: ``next`` (each kind is refused where the other is asked for)
ALERT_CURSOR: Final = "mburoja-alert-cursor"
SIGHTING_CURSOR: Final = "mburoja-sighting-cursor"
#: a time filter: an RFC 3339 date-time (``status`` also takes a date or ISO 8601 form)
_TIME: Final = {"format": "date-time"}
_DAY_OF: Final = (
    "((01|03|05|07|08|10|12)-(0[1-9]|[12][0-9]|3[01])"
    "|(04|06|09|11)-(0[1-9]|[12][0-9]|30)"
    "|02-(0[1-9]|1[0-9]|2[0-8]))"
)
#: a STIX timestamp (``stix.timestamps.is_timestamp``): UTC ``Z``; a 29 February and a leap
#: second, which the server also takes where the calendar has them, are left out here
_STIX_TIME: Final = {
    "pattern": f"^[0-9]{{4}}-{_DAY_OF}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?Z$"
}
_INT: Final = {"type": "integer"}
_COUNTS: Final = {"type": "object", "additionalProperties": {"type": "integer"}}
_LIMIT: Final = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": f"At most this many rows (default {status.DEFAULT_LIMIT}).",
    "schema": {"type": "integer", "minimum": 1, "maximum": status.MAX_LIMIT},
}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return query(name, {"type": "string", **schema}, description)


SIGHTING: Final = closed(
    {
        "id": _STR,
        "indicator_id": _STR,
        "indicator_name": _STR,
        "indicator_pattern": _STR,
        "count": _INT,
        "first_seen": _STR,
        "last_seen": _STR,
        "where_sighted": {"type": "array", "items": _STR},
    }
)
ALERT: Final = closed(
    {
        "ts": _STR,
        "indicator_id": _STR,
        "indicator_name": _STR,
        "kind": _STR,
        "value": _STR,
        "record": _STR,
    }
)
INDEX: Final = closed(
    {
        "active": _INT,
        "simple": _INT,
        "complex": _INT,
        "by_kind": _COUNTS,
        "not_compiled": _INT,
        "reasons": _COUNTS,
        "failed": {
            "type": "array",
            "items": closed({"id": _STR, "name": _STR, "pattern": _STR, "reason": _STR}),
        },
        "low_confidence": _INT,
        "warning_listed": _INT,
        "decayed": _INT,
        "seq": _INT,
    }
)


def _export_schema(content_type: str) -> dict[str, Any]:
    """An export's body: the STIX bundle is a JSON object, the others text or a zip file."""
    if content_type.split(";")[0].endswith("+json"):
        return {"type": "object", "required": ["type", "id", "objects"]}
    return {"type": "string", "format": "binary"}


PATHS: dict[str, Any] = {
    "/api/detection/sightings": {
        "get": {
            "summary": "Sightings the caller may see, the most recently stored first",
            "operationId": "detectionSightings",
            "security": BEARER,
            "parameters": [
                _query(
                    "indicator",
                    "An indicator id, or a value (address, domain, URL, hash) whose "
                    "indicators' sightings to show.",
                    maxLength=1024,
                ),
                _query("since", "last_seen at or after this date or timestamp.", **_TIME),
                _query(
                    "until",
                    "last_seen at or before this date or timestamp; not before since.",
                    **_TIME,
                ),
                _query(
                    "min_count",
                    "Only sightings counting at least this many records.",
                    pattern="^[0-9]{1,9}$",
                ),
                {
                    **_query("where", "Only sightings by this identity (identity--<UUID>)."),
                    "schema": stix_id("identity"),
                },
                _LIMIT,
                _query("before", "The next value of the previous page.", format=SIGHTING_CURSOR),
            ],
            "responses": {
                "200": response(
                    "A page of sightings; next is null on the last page.",
                    closed(
                        {
                            "sightings": {"type": "array", "items": SIGHTING},
                            "next": {"type": "string", "nullable": True},
                        }
                    ),
                ),
                **_errors(400, 401, 503),
            },
        }
    },
    "/api/detection/alerts": {
        "get": {
            "summary": "The newest hits, or those stored after a cursor, oldest first",
            "operationId": "detectionAlerts",
            "security": BEARER,
            "parameters": [
                _query(
                    "after",
                    "The cursor of the previous answer: only hits since it.",
                    format=ALERT_CURSOR,
                ),
                _LIMIT,
            ],
            "responses": {
                "200": response(
                    "Hits on indicators the caller may see, and the cursor to poll with.",
                    closed({"alerts": {"type": "array", "items": ALERT}, "cursor": _STR}),
                ),
                **_errors(400, 401, 503),
            },
        }
    },
    "/api/detection/index": {
        "get": {
            "summary": "Active indicators by key kind, and those not compiled with why",
            "operationId": "detectionIndex",
            "security": BEARER,
            "responses": {
                "200": response("The index status as the caller may see it.", INDEX),
                **_errors(401, 503),
            },
        }
    },
    "/api/detection/export/{format}": {
        "get": {
            "summary": "A sensor export of the active indicators the caller's organisation "
            "may see, as `mburoja export FORMAT --for ORG` writes it",
            "operationId": "detectionExport",
            "security": BEARER,
            "parameters": [
                {
                    "name": "format",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": list(status.EXPORTS)},
                },
                _query("at", "Export as of this STIX timestamp (default: now).", **_STIX_TIME),
            ],
            "responses": {
                "200": {
                    "description": "The export as an attachment (Suricata: a zip archive).",
                    "content": {
                        content_type.split(";")[0]: {"schema": _export_schema(content_type)}
                        for content_type, _name in status.EXPORTS.values()
                    },
                },
                **_errors(400, 401, 404, 503),
            },
        }
    },
}
