"""The quarantine pages of the administration: rejected input listed by status, one item in
full (why it was refused, where it came from, its exact bytes), and the fix: the admin edits
the stored text and replays it through the same checks and ingest as
``mburoja quarantine replay`` (``mburoja.admin.replay_entry``). An item that still fails
stays open, and the page shows the new reasons; one that lands is marked ``replayed``.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mburoja import admin
from mburoja.errors import Forbidden, InputFormatError, MburojaError, StoreUnavailable
from mburoja.web.admin import DONE, SECTIONS, reader, writer
from mburoja.web.context import Signed, WebContext

#: the status filters offered above the list
FILTERS = (*admin.QUARANTINE_STATUSES, admin.EVERY_STATUS)
SHOWN = 200


def _qid(request: Request) -> int:
    return int(request.path_params["qid"])


def routes(web: WebContext) -> list[BaseRoute]:
    store = web.store

    def entry_page(
        signed: Signed,
        qid: int,
        status: int = 200,
        *,
        outcome: admin.ReplayOutcome | None = None,
        text: str | None = None,
        error: str = "",
    ) -> Response:
        entry = admin.quarantine_entry(store, qid)
        try:
            entry.raw.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        return web.show(
            signed,
            "admin_quarantine_entry.html",
            status,
            sections=SECTIONS,
            section="quarantine",
            done="",
            error=error,
            entry=admin.quarantine_row(entry),
            stored=admin.stored_text(entry),
            utf8=utf8,
            text=admin.stored_text(entry) if text is None else text,
            outcome=outcome,
        )

    def listing(request: Request, signed: Signed) -> Response:
        reader(web, signed)
        wanted = request.query_params.get("status", "open")
        status = admin.quarantine_status(wanted)
        return web.show(
            signed,
            "admin_quarantine.html",
            sections=SECTIONS,
            section="quarantine",
            done=DONE.get(request.query_params.get("done", ""), ""),
            error="",
            entries=admin.quarantine_rows(store, status, SHOWN),
            filters=FILTERS,
            wanted=wanted,
            shown=SHOWN,
        )

    def one(request: Request, signed: Signed) -> Response:
        reader(web, signed)
        return entry_page(signed, _qid(request))

    def replay(request: Request, signed: Signed, form: FormData) -> Response:
        """Replay the item as stored, or the text of the form's textarea in its place."""
        writer(web, signed)
        qid = _qid(request)
        fixed: str | None = None
        if form.get("as_stored") is None:
            value = form.get("text")
            if not isinstance(value, str):
                raise InputFormatError("text: give the corrected item, or replay it as stored")
            fixed = value.replace("\r\n", "\n")  # a browser sends a textarea's lines as CRLF
        try:
            outcome = admin.replay_entry(store, web.settings, qid, fixed)
        except (Forbidden, StoreUnavailable):
            raise
        except MburojaError as exc:
            return entry_page(signed, qid, 400, text=fixed, error=str(exc))
        return entry_page(signed, qid, outcome=outcome, text=fixed)

    def dismiss(request: Request, signed: Signed, _form: FormData) -> Response:
        writer(web, signed)
        admin.dismiss_entry(store, _qid(request))
        return web.redirect("/admin/quarantine?done=dismissed")

    return [
        web.get("/admin/quarantine", listing),
        web.get("/admin/quarantine/{qid:int}", one),
        web.post("/admin/quarantine/{qid:int}/replay", replay),
        web.post("/admin/quarantine/{qid:int}/dismiss", dismiss),
    ]
