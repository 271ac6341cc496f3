"""The detection page: sightings with filters, the alert stream, the index status and the
sensor export downloads, all read as the signed-in user (:mod:`mburoja.detect.status`).

- ``GET /detection``: the page; a bad filter gives a 400 page naming it;
- ``GET /detection/alerts.json?after=<cursor>``: hits stored past the cursor, which
  ``static/detection.js`` polls to grow the alert list without a reload;
- ``GET /detection/export/<format>``: the file ``mburoja export <format> --for <org>``
  writes, as an attachment.
"""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mburoja.config import load_secret
from mburoja.detect import status
from mburoja.errors import MburojaError
from mburoja.lifecycle import decay, warninglists
from mburoja.web.context import Signed, WebContext, secured

_encoder = msgspec.json.Encoder()
#: how often the page asks for new alerts (milliseconds)
POLL_MS = 3000


def _json(content: object, code: int = 200) -> Response:
    return secured(Response(_encoder.encode(content), code, media_type="application/json"))


def attachment(found: status.ExportFile) -> Response:
    """An export as a download (shared with the API)."""
    response = Response(found.body, media_type=found.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return secured(response)


def routes(web: WebContext) -> list[BaseRoute]:
    cursors = status.Cursors(load_secret(web.settings))
    tlp = web.settings.detect.sighting_tlp

    def page(request: Request, signed: Signed) -> Response:
        params = request.query_params
        chosen = status.sighting_filter(params)
        found = status.sightings(web.store, web.policy, signed.caller, chosen, cursors)
        stream = status.alerts(web.store, web.policy, signed.caller, cursors, sighting_tlp=tlp)
        index = status.index_status(
            web.store,
            web.policy,
            signed.caller,
            confidence_floor=web.settings.detect.confidence_floor,
            lists=warninglists.from_settings(web.settings.warninglists),
            models=decay.from_settings(web.settings.decay),
        )
        older = "/detection?" + urlencode(chosen.query(before=found.next)) if found.next else ""
        return web.show(
            signed,
            "detection.html",
            filters=chosen.query(),
            sightings=found.sightings,
            older=older,
            alerts=list(reversed(stream.alerts)),
            cursor=stream.cursor,
            poll_ms=POLL_MS,
            index=index,
            exports=list(status.EXPORTS),
        )

    def alerts(request: Request, signed: Signed) -> Response:
        try:
            found = status.alerts(
                web.store,
                web.policy,
                signed.caller,
                cursors,
                sighting_tlp=tlp,
                after=request.query_params.get("after", ""),
                limit=status.MAX_LIMIT,
            )
        except MburojaError as exc:
            return _json({"error": str(exc), "status": 400}, 400)
        return _json(found)

    def export(request: Request, signed: Signed) -> Response:
        found = status.export_file(
            web.store,
            signed.caller,
            signed.org or "home",
            request.path_params["format"],
            at=request.query_params.get("at") or None,
            settings=web.settings,
        )
        return attachment(found)

    return [
        web.get("/detection", page),
        web.get("/detection/alerts.json", alerts),
        web.get("/detection/export/{format}", export),
    ]
