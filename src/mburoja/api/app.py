"""The REST API (JSON) on Starlette: health, stats, correlation search, object versions.

HTTP status codes are chosen here and only here, from the error tree. Stored objects are
served as the exact bytes received, spliced into the response without re-serialising.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja import __version__
from mburoja.config import Settings
from mburoja.errors import MburojaError, NotFound, StoreUnavailable
from mburoja.stix.identifiers import is_identifier
from mburoja.store.base import Store

_MAX_QUERY = 2048
_encoder = msgspec.json.Encoder()


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def create_app(settings: Settings, store: Store) -> Starlette:
    """Build the ASGI app around an open store."""

    def health(_request: Request) -> Response:
        try:
            store.check_schema()
            state = "ok"
        except MburojaError as exc:
            return _error(503, str(exc))
        return JSONResponse(
            {"status": state, "version": __version__, "store": store.url.split(":")[0]}
        )

    def stats(_request: Request) -> Response:
        return JSONResponse(store.stats())

    def search(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        if not query:
            return _error(400, "missing query parameter q (the value to search for)")
        if len(query) > _MAX_QUERY:
            return _error(400, f"query longer than {_MAX_QUERY} characters")
        try:
            limit = int(request.query_params.get("limit", "500"))
        except ValueError:
            return _error(400, "limit must be an integer between 1 and 10000")
        if not 1 <= limit <= 10000:
            return _error(400, "limit must be an integer between 1 and 10000")
        return JSONResponse(store.search(query, limit=limit))

    def object_versions(request: Request) -> Response:
        object_id = request.path_params["object_id"]
        if not is_identifier(object_id):
            return _error(400, f"{object_id!r} is not a STIX identifier (type--UUID)")
        versions = store.versions(object_id)
        if not versions:
            return _error(404, f"no object {object_id}")
        parts = [b'{"id":', orjson.dumps(object_id), b',"versions":[']
        for i, v in enumerate(versions):
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
            parts.extend((meta[:-1], b',"object":', v.raw, b"}"))
        parts.append(b"]}")
        return Response(b"".join(parts), media_type="application/json")

    async def on_error(_request: Request, exc: Exception) -> Response:
        if isinstance(exc, NotFound):
            return _error(404, str(exc))
        if isinstance(exc, StoreUnavailable):
            return _error(503, str(exc))
        if isinstance(exc, HTTPException):
            return _error(exc.status_code, str(exc.detail))
        return _error(400, str(exc))

    routes = [
        Route("/api/health", health),
        Route("/api/stats", stats),
        Route("/api/search", search),
        Route("/api/objects/{object_id}", object_versions),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={MburojaError: on_error, HTTPException: on_error},
    )
    app.state.settings = settings
    app.state.store = store
    return app
