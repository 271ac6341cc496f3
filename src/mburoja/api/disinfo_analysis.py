"""REST endpoints of the counter-disinformation analyses:

* ``GET /api/disinfo/clusters``: copy-paste networks and cross-language copies among the
  stored articles and posts (``?since=<ISO 8601>``, ``?min_outlets=N``);
* ``GET /api/disinfo/networks``: coordinated link sharing among the stored posts
  (``?since=``, ``?interval=<seconds>``: default estimated from the data);
* ``POST /api/disinfo/analyse``: every detector, findings stored as STIX (body
  ``{"since"?: ISO 8601, "publish"?: bool}``); 409 while another analysis runs.

Like the watch list, these are the home organisation's working data: its accounts read them,
running an analysis needs an admin or analyst whose token may write.
"""

from __future__ import annotations

import threading

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja.api.home import HomeAccess
from mburoja.api.spec import json_response
from mburoja.config import Settings
from mburoja.disinfo import copies
from mburoja.disinfo.analyse import analyse, load_documents, parse_since
from mburoja.disinfo.snapshot import clusters_of, networks_of
from mburoja.errors import InputFormatError
from mburoja.policy import Policy
from mburoja.store.sql import SqlStore

_MAX_BODY = 16 * 1024


class AnalyseRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    since: str | None = None
    publish: bool = True


def _number(request: Request, name: str) -> float | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise InputFormatError(f"{name} must be a number, got {value!r}") from None
    if number <= 0:
        raise InputFormatError(f"{name} must be above 0, got {value!r}")
    return number


def routes(store: SqlStore, policy: Policy, settings: Settings) -> list[Route]:
    access = HomeAccess(store, settings, policy, "the analyses")
    running = threading.Lock()

    def clusters(request: Request) -> Response:
        access.reader(request)
        since = parse_since(request.query_params.get("since"))
        least = _number(request, "min_outlets") or settings.disinfo.min_outlets
        report = copies.analyse(load_documents(store, settings, since=since))
        return json_response(
            {
                "documents": report.documents,
                "clusters": clusters_of(report, least),
                "cross_language": report.cross_language,
            }
        )

    def networks(request: Request) -> Response:
        access.reader(request)
        docs = load_documents(store, settings, since=parse_since(request.query_params.get("since")))
        return json_response(networks_of(docs, settings, interval=_number(request, "interval")))

    async def run(request: Request) -> Response:
        await run_in_threadpool(access.writer, request, "running an analysis")
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            raise InputFormatError(f"the body is over {_MAX_BODY} bytes")
        try:
            body = msgspec.json.decode(raw or b"{}", type=AnalyseRequest)
        except msgspec.DecodeError as err:
            raise InputFormatError(f"the body: {err}") from None
        since = parse_since(body.since)
        if not running.acquire(blocking=False):
            return json_response({"error": "an analysis is running already", "status": 409}, 409)
        try:
            result = await run_in_threadpool(
                analyse, store, settings, since=since, publish_findings=body.publish
            )
        finally:
            running.release()
        return json_response(
            {
                "documents": result.documents,
                "articles": result.articles,
                "posts": result.posts,
                "languages": result.languages,
                "findings": [
                    {"kind": f.kind, "title": f.title, "members": len(f.members)}
                    for f in result.findings
                ],
                "new_sites": result.new_sites,
                "stored": result.stored,
                "seconds": result.seconds,
            }
        )

    return [
        Route("/api/disinfo/clusters", clusters, methods=["GET"]),
        Route("/api/disinfo/networks", networks, methods=["GET"]),
        Route("/api/disinfo/analyse", run, methods=["POST"]),
    ]
