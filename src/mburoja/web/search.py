"""The search page (``/search``): one box matched by value, name and text, with filters for
type, TLP, source, time added and confidence (``web.lookup`` does the work, the same as
``GET /api/search``). A filter that cannot be read is named on the page, with a 400; while
the text index is behind, the page says by how many stored versions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mburoja.lifecycle.decay import from_settings
from mburoja.web.context import MAX_FIELD, Signed, WebContext
from mburoja.web.lookup import TLP_CHOICES, FilterError, parse_filters, search

#: the filters' fields, echoed back into the form as typed
FIELDS = ("q", "type", "tlp", "source", "since", "until", "min_confidence")


def routes(web: WebContext) -> list[BaseRoute]:
    models = from_settings(web.settings.decay)

    def page(request: Request, signed: Signed) -> Response:
        form = {name: request.query_params.get(name, "")[:MAX_FIELD] for name in FIELDS}
        context: dict[str, Any] = {"form": form, "tlps": TLP_CHOICES, "found": None, "error": None}
        try:
            filters = parse_filters(form)
            if filters.query:
                found = context["found"] = search(
                    web.store, web.policy, signed.caller, filters, decay=models
                )
                # how far the text index is behind counts every organisation's versions:
                # only the home organisation is told the number
                home = found.windowed and web.is_home(signed)
                context["behind"] = web.store.text_backlog() if home else None
        except FilterError as exc:
            context["error"] = str(exc)
            context["error_field"] = exc.name
            return web.show(signed, "search.html", 400, **context)
        context["error_field"] = ""
        return web.show(signed, "search.html", **context)

    return [web.get("/search", page)]
