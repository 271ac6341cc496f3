"""REST endpoint behind the disinformation pages' "share as finding":

* ``POST /api/disinfo/findings``: store one copy-paste cluster as a STIX finding (campaign,
  report, evidence note, DISARM ``uses``) in the findings collection, as ``disinfo analyse``
  would; body ``{"cluster": "<patient zero id>", "tlp"?: "amber", "version"?: "<digest>"}``.
  ``cluster`` is the key the pages use (see :mod:`mburoja.disinfo.snapshot`); ``version``,
  when given, must be the cluster's current member digest (409 otherwise, so what is stored is
  what the analyst saw).

Needs an admin or analyst account of the home organisation whose token may write.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja.api.home import HomeAccess
from mburoja.api.spec import errors, json_response
from mburoja.config import Settings
from mburoja.disinfo.snapshot import share_cluster, snapshots
from mburoja.errors import Conflict, InputFormatError
from mburoja.policy import Policy
from mburoja.store.sql import SqlStore

_MAX_BODY: Final = 16 * 1024


class ShareRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    cluster: str
    tlp: str | None = None
    version: str | None = None


def routes(store: SqlStore, policy: Policy, settings: Settings) -> list[Route]:
    access = HomeAccess(store, settings, policy, "the disinformation findings")
    results = snapshots(store, settings, policy)

    def share(request: Request, raw: bytes) -> Response:
        who = access.writer(request, "sharing a finding")
        try:
            body = msgspec.json.decode(raw or b"{}", type=ShareRequest)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            raise InputFormatError(f"the body: {err}") from None
        tlp = body.tlp or settings.disinfo.findings_tlp
        try:
            published = share_cluster(
                store,
                settings,
                results.current(),
                body.cluster,
                tlp=tlp,
                version=body.version,
                actor=who.user_name or "api",
            )
        except Conflict as err:
            return json_response({"error": str(err), "status": 409}, 409)
        report = published.report
        return json_response(
            {
                "cluster": body.cluster,
                "tlp": tlp.strip().lower(),
                "stored": {
                    "new": report.new,
                    "new_versions": report.new_versions,
                    "unchanged": report.unchanged,
                    "rejected": report.rejected,
                },
                "objects": [{"id": o["id"], "type": o["type"]} for o in published.objects],
            }
        )

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return json_response(
                {"error": f"the body is over {_MAX_BODY} bytes", "status": 413}, 413
            )
        response: Response = await run_in_threadpool(share, request, raw)
        return response

    return [Route("/api/disinfo/findings", endpoint, methods=["POST"])]


def _errors(*statuses: int) -> dict[str, Any]:
    why = {
        400: "bad input (the field and the reason)",
        401: "no or bad credentials",
        403: "not a home-organisation admin or analyst whose token may write",
        404: "no such cluster",
        409: "the cluster changed since its version was read",
        413: "the body is too large",
    }
    return errors(*statuses, reasons=why)


_COUNT: Final = {"type": "integer", "minimum": 0}

PATHS: dict[str, Any] = {
    "/api/disinfo/findings": {
        "post": {
            "summary": "Store a copy-paste cluster as a STIX finding",
            "operationId": "shareDisinfoCluster",
            "tags": ["disinfo"],
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["cluster"],
                            "properties": {
                                "cluster": {
                                    "type": "string",
                                    "description": "the cluster's key: its patient zero's id",
                                },
                                "tlp": {
                                    "type": "string",
                                    "nullable": True,
                                    "enum": ["clear", "green", "amber", "amber+strict", "red"],
                                },
                                "version": {
                                    "type": "string",
                                    "nullable": True,
                                    "description": "the member digest the caller saw",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "the finding's objects, and what the store made of them",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["cluster", "tlp", "stored", "objects"],
                                "properties": {
                                    "cluster": {"type": "string"},
                                    "tlp": {"type": "string"},
                                    "stored": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": [
                                            "new",
                                            "new_versions",
                                            "unchanged",
                                            "rejected",
                                        ],
                                        "properties": {
                                            "new": _COUNT,
                                            "new_versions": _COUNT,
                                            "unchanged": _COUNT,
                                            "rejected": _COUNT,
                                        },
                                    },
                                    "objects": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "additionalProperties": False,
                                            "required": ["id", "type"],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "type": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                **_errors(400, 401, 403, 404, 409, 413),
            },
        }
    }
}
