"""``/misp-feed/``: the MISP feed over HTTP, for a MISP instance to subscribe to.

* ``GET /misp-feed/manifest.json``: event uuid -> info, Orgc, Tag, date, timestamp...;
* ``GET /misp-feed/hashes.csv``: ``md5(value),event uuid`` per attribute;
* ``GET /misp-feed/{uuid}.json``: one event (404 when the caller may not see it or it is
  not there).

The caller is the bearer token's (``Authorization: Bearer <token>``, which MISP sends as a
feed's custom header); without one only when ``auth.anonymous_read`` is on, and then it
sees only TLP:CLEAR. The bytes are :mod:`mburoja.mispfeed.build`'s, the same the CLI writes.
Not under ``/api/``, so no OpenAPI entries.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja.config import Settings
from mburoja.errors import NotFound
from mburoja.mispfeed.build import build_event, build_feed
from mburoja.policy import Caller, Policy
from mburoja.store.sql import SqlStore
from mburoja.taxii.auth import caller_from_authorization

JSON = "application/json"


def routes(store: SqlStore, policy: Policy, settings: Settings) -> list[Route]:
    del policy  # the store's own policy is the one the builder reads through

    def caller(request: Request) -> Caller:
        return caller_from_authorization(
            request.headers.get("authorization"),
            store,
            anonymous_ok=settings.auth.anonymous_read,
        )

    def manifest(request: Request) -> Response:
        return Response(build_feed(store, caller(request)).manifest_bytes(), media_type=JSON)

    def hashes(request: Request) -> Response:
        data = build_feed(store, caller(request)).hashes_bytes()
        return Response(data, media_type="text/csv; charset=utf-8")

    def event(request: Request) -> Response:
        who = caller(request)
        name = request.path_params["name"]
        data = (
            build_event(store, who, name.removesuffix(".json")) if name.endswith(".json") else None
        )
        if data is None:
            raise NotFound(f"no MISP feed event {name!r}")
        return Response(data, media_type=JSON)

    return [
        Route("/misp-feed/manifest.json", manifest, methods=["GET"]),
        Route("/misp-feed/hashes.csv", hashes, methods=["GET"]),
        Route("/misp-feed/{name}", event, methods=["GET"]),
    ]
