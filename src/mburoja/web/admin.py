"""The administration pages: organisations and their relation to us, users, API tokens,
peers, collections and their grants (the quarantine is ``mburoja.web.admin_quarantine``).

Only the home organisation's accounts see these pages; a change needs an admin of the home
organisation. What the pages show and do is ``mburoja.admin``, which the JSON API
(``mburoja.api.admin_api``) and the CLI share. A change redirects (303) back to its page
with a fixed message code in the query string (never text from the request), or shows the
page again with the error (400). A new token's secret is shown once, on the answer to the
form that issued it (``Cache-Control: no-store``), and never again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mburoja import admin
from mburoja.errors import Forbidden, InputFormatError, MburojaError, StoreUnavailable
from mburoja.policy import ORG_RELATIONS, ROLES
from mburoja.store.accounts import ANONYMOUS_ORG, EVERY_ORG
from mburoja.web.context import Signed, WebContext, field

#: the pages of the administration, in the order of its menu
SECTIONS: Final = (
    ("orgs", "Organisations"),
    ("users", "Users"),
    ("tokens", "Tokens"),
    ("peers", "Peers"),
    ("collections", "Collections"),
    ("feeds", "Feeds"),
    ("quarantine", "Quarantine"),
)
#: what a change's redirect says; the query string carries only these codes
DONE: Final = {
    "org-added": "The organisation was added.",
    "org-related": "The organisation's relation was changed.",
    "user-added": "The account was added.",
    "user-disabled": "The account was disabled: its tokens and sign-in are refused.",
    "user-enabled": "The account was enabled again.",
    "password-set": "The password was set; the account's older web sessions have ended.",
    "password-removed": "The password was removed: the account can no longer sign in.",
    "token-revoked": "The token was revoked.",
    "peer-enabled": "The peer was enabled.",
    "peer-paused": "The peer was paused; what it is owed stays in its outbox.",
    "collection-added": "The collection was added.",
    "grant-set": "The grant was set.",
    "feed-enabled": "The feed was enabled: the scheduler runs it when it is due.",
    "feed-disabled": "The feed was disabled; what it stored stays.",
    "dismissed": "The quarantined item was dismissed.",
}
RELATIONS_TO_SET: Final = tuple(r for r in ORG_RELATIONS if r != "home")


def reader(web: WebContext, signed: Signed) -> None:
    """Refuse (403) anyone but the home organisation's accounts."""
    if not web.is_home(signed):
        raise Forbidden("the administration is shown to the home organisation's accounts only")


def writer(web: WebContext, signed: Signed) -> None:
    """Refuse (403) a change by anyone but an admin of the home organisation."""
    reader(web, signed)
    if not web.is_admin(signed):
        raise Forbidden("changing the administration needs an admin of the home organisation")


def checked(form: FormData, name: str) -> bool:
    """Whether a checkbox (or a yes/no field) is on."""
    return field(form, name) in ("on", "1", "yes", "true")


def text(form: FormData, name: str) -> str:
    """A short text field, refused when it holds a NUL character."""
    return admin.plain(name, field(form, name))


def required(form: FormData, name: str) -> str:
    value = text(form, name).strip()
    if not value:
        raise InputFormatError(f"{name}: this field is required")
    return value


def whole_days(form: FormData) -> int | None:
    value = text(form, "days").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) < 7):
        raise InputFormatError(f"days: give a whole number of days, not {value!r}")
    return int(value)


Action = Callable[[Signed, FormData], str]


class AdminPages:
    """The pages of one web application, each built from ``mburoja.admin``'s rows."""

    def __init__(self, web: WebContext) -> None:
        self.web = web
        self.store = web.store

    def data(self, section: str) -> dict[str, Any]:
        store = self.store
        if section == "orgs":
            return {"orgs": admin.org_rows(store), "relations": RELATIONS_TO_SET}
        if section == "users":
            return {"users": admin.user_rows(store), "orgs": store.orgs(), "roles": ROLES}
        if section == "tokens":
            return {
                "tokens": admin.token_rows(store),
                "users": store.users(),
                "default_days": self.web.settings.auth.token_days,
            }
        if section == "peers":
            return {"peers": admin.peer_rows(store)}
        if section == "collections":
            grantees = [(EVERY_ORG, "* (every organisation)"), (ANONYMOUS_ORG, "anonymous")]
            grantees += [(o.id, o.name) for o in store.orgs() if o.relation != "home"]
            return {"collections": admin.collection_rows(store), "grantees": grantees}
        if section == "feeds":
            return {"feeds": admin.feed_rows(store, self.web.settings)}
        return {}

    def show(
        self,
        signed: Signed,
        section: str,
        status: int = 200,
        *,
        done: str = "",
        error: str = "",
        form: dict[str, str] | None = None,
    ) -> Response:
        return self.web.show(
            signed,
            f"admin_{section}.html",
            status,
            sections=SECTIONS,
            section=section,
            done=DONE.get(done, ""),
            error=error,
            form=form or {},
            **self.data(section),
        )

    def overview(self, _request: Request, signed: Signed) -> Response:
        reader(self.web, signed)
        counts = {
            "orgs": len(self.store.orgs()),
            "users": len(self.store.users()),
            "tokens": sum(1 for t in admin.token_rows(self.store) if not t.revoked),
            "peers": len(self.store.peers()),
            "collections": len(self.store.collections()),
            "feeds": sum(1 for f in admin.feed_rows(self.store, self.web.settings) if f.enabled),
            "quarantine": len(admin.quarantine_rows(self.store, "open", admin.MAX_LIST)),
        }
        return self.web.show(
            signed, "admin.html", sections=SECTIONS, section="", counts=counts, done="", error=""
        )

    def page(self, section: str) -> Callable[[Request, Signed], Response]:
        def handler(request: Request, signed: Signed) -> Response:
            reader(self.web, signed)
            return self.show(signed, section, done=request.query_params.get("done", ""))

        return handler

    def change(self, section: str, action: Action) -> Callable[..., Response]:
        """A form's handler: an admin's change, then a 303 back to the section with the
        code ``action`` returns; bad input shows the section again with the reason (400)."""

        def handler(_request: Request, signed: Signed, form: FormData) -> Response:
            writer(self.web, signed)
            try:
                code = action(signed, form)
            except (Forbidden, StoreUnavailable):
                raise
            except MburojaError as exc:
                kept = {k: v for k, v in form.items() if isinstance(v, str) and "password" not in k}
                return self.show(signed, section, 400, error=str(exc), form=kept)
            return self.web.redirect(f"/admin/{section}?done={code}")

        return handler

    # -- the changes -----------------------------------------------------------------------

    def add_org(self, _signed: Signed, form: FormData) -> str:
        self.store.create_org(required(form, "name"), text(form, "relation") or "none")
        return "org-added"

    def relate_org(self, _signed: Signed, form: FormData) -> str:
        self.store.set_org_relation(required(form, "org"), required(form, "relation"))
        return "org-related"

    def add_user(self, _signed: Signed, form: FormData) -> str:
        kind = "service" if checked(form, "service") else "user"
        password = field(form, "password")
        if password and kind == "service":
            raise InputFormatError("password: a service account signs in with tokens only")
        user = self.store.create_user(
            required(form, "org"), required(form, "name"), required(form, "role"), kind=kind
        )
        if password:
            self.store.set_password(user.id, password)
        return "user-added"

    def disable_user(self, signed: Signed, form: FormData) -> str:
        disabled = checked(form, "disabled")
        user = self.store.get_user(required(form, "user"))
        if disabled and user.id == signed.caller.user_id:
            raise InputFormatError("user: you cannot disable your own account")
        self.store.set_user_disabled(user.id, disabled)
        return "user-disabled" if disabled else "user-enabled"

    def set_password(self, _signed: Signed, form: FormData) -> str:
        user = required(form, "user")
        if checked(form, "clear"):
            self.store.set_password(user, None)
            return "password-removed"
        password = field(form, "password")
        if password != field(form, "confirm"):
            raise InputFormatError("confirm: the two passwords differ")
        self.store.set_password(user, password)
        return "password-set"

    def issue_token(self, _request: Request, signed: Signed, form: FormData) -> Response:
        """Issue a token and show its secret on this answer, once."""
        writer(self.web, signed)
        try:
            issued = admin.issue_token(
                self.store,
                self.web.settings,
                required(form, "user"),
                label=text(form, "label").strip(),
                days=whole_days(form),
                no_expiry=checked(form, "no_expiry"),
                read_only=checked(form, "read_only"),
            )
        except (Forbidden, StoreUnavailable):
            raise
        except MburojaError as exc:
            kept = {k: v for k, v in form.items() if isinstance(v, str)}
            return self.show(signed, "tokens", 400, error=str(exc), form=kept)
        return self.web.show(
            signed,
            "admin_token_created.html",
            sections=SECTIONS,
            section="tokens",
            done="",
            error="",
            token=admin.token_row(self.store, issued.token.id),
            secret=issued.secret,
        )

    def revoke_token(self, _signed: Signed, form: FormData) -> str:
        token_id = required(form, "token")
        admin.token_row(self.store, token_id)
        self.store.revoke_token(token_id)
        return "token-revoked"

    def enable_peer(self, _signed: Signed, form: FormData) -> str:
        enabled = checked(form, "enabled")
        admin.set_peer_enabled(self.store, required(form, "peer"), enabled)
        return "peer-enabled" if enabled else "peer-paused"

    def enable_feed(self, _signed: Signed, form: FormData) -> str:
        from mburoja.feeds import registry  # feeds import the store: load when asked

        enabled = checked(form, "enabled")
        registry.set_enabled(self.store, self.web.settings, required(form, "feed"), enabled)
        return "feed-enabled" if enabled else "feed-disabled"

    def add_collection(self, _signed: Signed, form: FormData) -> str:
        admin.new_collection(
            self.store,
            required(form, "alias"),
            text(form, "title").strip(),
            text(form, "description").strip(),
        )
        return "collection-added"

    def grant(self, _signed: Signed, form: FormData) -> str:
        admin.set_grant(
            self.store,
            required(form, "collection"),
            required(form, "org"),
            read=checked(form, "read"),
            write=checked(form, "write"),
        )
        return "grant-set"


def routes(web: WebContext) -> list[BaseRoute]:
    from mburoja.web import admin_quarantine  # it imports this module: no cycle at import

    pages = AdminPages(web)
    gets: list[BaseRoute] = [web.get("/admin", pages.overview)]
    gets += [web.get(f"/admin/{s}", pages.page(s)) for s, _ in SECTIONS if s != "quarantine"]
    return [
        *gets,
        web.post("/admin/orgs", pages.change("orgs", pages.add_org)),
        web.post("/admin/orgs/relation", pages.change("orgs", pages.relate_org)),
        web.post("/admin/users", pages.change("users", pages.add_user)),
        web.post("/admin/users/disabled", pages.change("users", pages.disable_user)),
        web.post("/admin/users/password", pages.change("users", pages.set_password)),
        web.post("/admin/tokens", pages.issue_token),
        web.post("/admin/tokens/revoke", pages.change("tokens", pages.revoke_token)),
        web.post("/admin/peers/enabled", pages.change("peers", pages.enable_peer)),
        web.post("/admin/collections", pages.change("collections", pages.add_collection)),
        web.post("/admin/collections/grant", pages.change("collections", pages.grant)),
        web.post("/admin/feeds/enabled", pages.change("feeds", pages.enable_feed)),
        *admin_quarantine.routes(web),
    ]
