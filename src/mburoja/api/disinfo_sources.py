"""REST endpoints of the counter-disinformation watch list:

* ``GET /api/disinfo/sources``: the watch list (``?kind=feed|page|account``);
* ``POST /api/disinfo/sources``: add a source, body ``{"kind", "location", "name"?,
  "platform"?, "lang"?, "tlp"?}``; 201 with the source;
* ``POST /api/disinfo/fetch``: fetch the watched feeds and pages now, body
  ``{"sources"?: [names], "recheck"?: bool, "max_entries"?: int}``; 200 with the report, 409
  while another fetch runs.

The watch list is the home organisation's working data: its accounts may read it; adding a
source or fetching needs a home account that may write (admin or analyst, not read-only).
Errors are raised from the error tree and mapped to HTTP status by the app
(``mburoja.api.app``), the one place that does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja.api.home import HomeAccess
from mburoja.api.spec import json_response
from mburoja.config import Settings
from mburoja.disinfo.fetch import (
    DEFAULT_INTERVAL_S,
    DEFAULT_MAX_ENTRIES,
    FetchReport,
    HostPacer,
    LangDetector,
    fetch_sources,
)
from mburoja.disinfo.lang import identify
from mburoja.disinfo.sources import SOURCE_KINDS, add_source, watch_list
from mburoja.errors import Conflict, InputFormatError
from mburoja.ingest.fetch import Fetcher
from mburoja.policy import Caller, Policy
from mburoja.store.sql import SqlStore

_MAX_BODY: Final = 64 * 1024


class NewSource(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: str
    location: str
    name: str | None = None
    platform: str = ""
    lang: str | None = None
    tlp: str = "clear"


class FetchRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sources: list[str] = msgspec.field(default_factory=list)
    recheck: bool = False
    max_entries: int = DEFAULT_MAX_ENTRIES


async def _body(request: Request, into: type[Any]) -> Any:
    data = await request.body()
    if len(data) > _MAX_BODY:
        raise InputFormatError(f"request body over {_MAX_BODY:,} bytes")
    try:
        return msgspec.json.decode(data or b"{}", type=into)
    except msgspec.DecodeError as exc:
        raise InputFormatError(f"bad request body: {exc}") from None


def fetch_summary(report: FetchReport) -> dict[str, Any]:
    """A fetch report as JSON: per source outcomes, totals and the ingest counts."""
    return {
        "sources": [msgspec.to_builtins(s) for s in report.sources],
        "urls": report.urls,
        **{
            name: report.total(name)
            for name in ("articles", "not_modified", "known", "empty", "failed", "refused")
        },
        "objects": report.counts(),
        "rejects": [str(r) for r in report.rejects],
        "elapsed_s": report.elapsed_s,
    }


def routes(
    store: SqlStore,
    policy: Policy,
    settings: Settings,
    *,
    interval_s: float = DEFAULT_INTERVAL_S,
    detect_lang: LangDetector | None = identify,
    fetcher_factory: Callable[[], Fetcher] | None = None,
) -> list[Route]:
    """The watch-list routes. ``detect_lang`` names the language of fetched articles;
    ``interval_s`` spaces the requests to one host."""
    running = threading.Lock()

    access = HomeAccess(store, settings, policy, "the watch list")

    def home_caller(request: Request) -> Caller:
        return access.reader(request)

    def home_writer(request: Request) -> Caller:
        return access.writer(request, "changing the watch list or fetching it")

    def list_sources(request: Request) -> Response:
        home_caller(request)
        kind = request.query_params.get("kind")
        if kind is not None and kind not in SOURCE_KINDS:
            raise InputFormatError(f"kind must be one of {', '.join(SOURCE_KINDS)}")
        found = watch_list(store, kind)
        states = store.fetch_states([s.location for s in found if s.kind != "account"])
        return json_response(
            {
                "sources": [
                    {
                        **msgspec.to_builtins(s),
                        "last_fetch": msgspec.to_builtins(states.get(s.location)),
                    }
                    for s in found
                ]
            }
        )

    async def create_source(request: Request) -> Response:
        await run_in_threadpool(home_writer, request)
        body: NewSource = await _body(request, NewSource)
        for field in ("location", "name", "platform", "lang", "tlp"):
            if "\x00" in (getattr(body, field) or ""):  # PostgreSQL text cannot hold it
                raise InputFormatError(f"{field}: must not contain a NUL character")
        try:
            source = await run_in_threadpool(
                add_source,
                store,
                body.kind,
                body.location,
                name=body.name,
                platform=body.platform,
                lang=body.lang,
                tlp=body.tlp,
            )
        except Conflict as exc:  # a well-formed request for a source already watched
            return json_response({"error": str(exc), "status": 409}, 409)
        return json_response(msgspec.to_builtins(source), status=201)

    async def fetch(request: Request) -> Response:
        who = await run_in_threadpool(home_writer, request)
        body: FetchRequest = await _body(request, FetchRequest)
        if body.max_entries < 1:
            raise InputFormatError("max_entries must be at least 1")
        if not running.acquire(blocking=False):
            return json_response(
                {"error": "a fetch is running already; try again later", "status": 409}, 409
            )
        try:
            report = await run_in_threadpool(
                fetch_sources,
                store,
                settings,
                tuple(body.sources),
                detect_lang=detect_lang,
                pacer=HostPacer(interval_s),
                fetcher_factory=fetcher_factory,
                actor=f"api:{who.user_name}",
                max_entries=body.max_entries,
                recheck=body.recheck,
            )
        finally:
            running.release()
        return json_response(fetch_summary(report))

    return [
        Route("/api/disinfo/sources", list_sources, methods=["GET"]),
        Route("/api/disinfo/sources", create_source, methods=["POST"]),
        Route("/api/disinfo/fetch", fetch, methods=["POST"]),
    ]
