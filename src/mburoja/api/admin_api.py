"""REST endpoints of the instance's administration (``mburoja.admin`` holds the logic the
web pages share):

* ``/api/admin/orgs``: organisations (GET, POST), ``…/{org_id}/relation`` (POST);
* ``/api/admin/users``: accounts (GET, POST), ``…/{user_id}/disabled`` and ``…/password``;
* ``/api/admin/tokens``: tokens (GET; POST issues one, its secret in that answer only),
  ``…/{token_id}/revoke``;
* ``/api/admin/peers``: peers with their federation state, ``…/{peer_id}/enabled``;
* ``/api/admin/collections``: collections with their grants (GET, POST),
  ``…/{collection_id}/grants`` (POST sets one organisation's grant);
* ``/api/admin/quarantine``: rejected input (``?status=``, ``?limit=``), ``…/{qid}`` (the
  item, its text and exact bytes), ``…/{qid}/replay`` (as stored, or a corrected ``text``),
  ``…/{qid}/dismiss``.

The home organisation's accounts read; a change needs an admin of the home organisation
whose token may write. Errors are raised from the error tree; ``mburoja.api.app`` maps them
to HTTP statuses.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Final

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja import admin
from mburoja.api.home import HomeAccess
from mburoja.api.spec import (
    BEARER,
    array,
    closed,
    errors,
    in_path,
    json_response,
    nullable,
    query,
    response,
)
from mburoja.config import Settings
from mburoja.errors import Forbidden, InputFormatError
from mburoja.policy import ORG_RELATIONS, ROLES, Caller, Policy
from mburoja.store.sql import SqlStore

_MAX_BODY: Final = admin.MAX_FIX * 6 + 4096  # a JSON escape is up to 6 bytes a character


class NewOrg(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    relation: str = "none"


class Relation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    relation: str


class NewUser(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    org: str
    role: str
    service: bool = False


class Disabled(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    disabled: bool


class Password(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    password: str | None


class NewToken(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user: str
    label: str = ""
    days: int | None = None
    no_expiry: bool = False
    read_only: bool = False


class Enabled(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class NewCollection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    alias: str
    title: str = ""
    description: str = ""


class Grant(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    org: str
    read: bool
    write: bool


class Replay(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: str | None = None


class Empty(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


async def _body(request: Request, into: type[Any]) -> Any:
    data = await request.body()
    if len(data) > _MAX_BODY:
        raise InputFormatError(f"request body over {_MAX_BODY:,} bytes")
    try:
        body = msgspec.json.decode(data or b"{}", type=into)
    except msgspec.DecodeError as exc:
        raise InputFormatError(f"bad request body: {exc}") from None
    for name in body.__struct_fields__:
        value = getattr(body, name)
        if isinstance(value, str) and name != "text":
            admin.plain(name, value)
    return body


class AdminAccess:
    """Who may read (the home organisation's accounts) and change (its admins, with a token
    that may write) the instance's administration."""

    def __init__(self, store: SqlStore, settings: Settings, policy: Policy) -> None:
        self.home = HomeAccess(store, settings, policy, "the administration")

    def reader(self, request: Request) -> Caller:
        return self.home.reader(request)

    def writer(self, request: Request) -> Caller:
        who = self.reader(request)
        if who.role != "admin" or not who.can_write:
            raise Forbidden(
                "changing the administration needs an admin of the home organisation "
                "with a token that may write"
            )
        return who


Change = Callable[[Request, Any], tuple[int, Any]]


def routes(store: SqlStore, policy: Policy, settings: Settings) -> list[Route]:
    access = AdminAccess(store, settings, policy)

    def change(path: str, into: type[Any], fn: Change) -> Route:
        """A POST route: the caller must be an admin, then the body is decoded into
        ``into`` and ``fn(request, body)`` gives the status and answer."""

        async def endpoint(request: Request) -> Response:
            await run_in_threadpool(access.writer, request)
            body = await _body(request, into)
            status, content = await run_in_threadpool(fn, request, body)
            return json_response(content, status)

        return Route(path, endpoint, methods=["POST"])

    def read(path: str, fn: Callable[[Request], Any]) -> Route:
        def endpoint(request: Request) -> Response:
            access.reader(request)
            return json_response(fn(request))

        return Route(path, endpoint, methods=["GET"])

    def param(request: Request, name: str) -> str:
        return admin.plain(name, str(request.path_params[name]))

    def query(request: Request, name: str) -> str | None:
        value = request.query_params.get(name)
        return admin.plain(name, value) if value else None

    def limit(request: Request) -> int:
        text = request.query_params.get("limit", "100")
        if not (text.isascii() and text.isdigit() and len(text) < 6):
            raise InputFormatError(f"limit must be an integer between 1 and {admin.MAX_LIST}")
        return int(text)

    # -- organisations and users -----------------------------------------------------------

    def create_org(_r: Request, body: NewOrg) -> tuple[int, Any]:
        org = store.create_org(body.name, body.relation)
        return 201, admin.org_row(store, org.id)

    def relate(r: Request, body: Relation) -> tuple[int, Any]:
        org = store.set_org_relation(param(r, "org_id"), body.relation)
        return 200, admin.org_row(store, org.id)

    def create_user(_r: Request, body: NewUser) -> tuple[int, Any]:
        kind = "service" if body.service else "user"
        user = store.create_user(body.org, body.name, body.role, kind=kind)
        return 201, admin.user_row(store, user.id)

    def disable(r: Request, body: Disabled) -> tuple[int, Any]:
        user = store.set_user_disabled(param(r, "user_id"), body.disabled)
        return 200, admin.user_row(store, user.id)

    def password(r: Request, body: Password) -> tuple[int, Any]:
        user = store.set_password(param(r, "user_id"), body.password)
        return 200, admin.user_row(store, user.id)

    # -- tokens ------------------------------------------------------------------------------

    def issue(_r: Request, body: NewToken) -> tuple[int, Any]:
        issued = admin.issue_token(
            store,
            settings,
            body.user,
            label=body.label,
            days=body.days,
            no_expiry=body.no_expiry,
            read_only=body.read_only,
        )
        return 201, {"token": admin.token_row(store, issued.token.id), "secret": issued.secret}

    def revoke(r: Request, _body: Empty) -> tuple[int, Any]:
        token_id = param(r, "token_id")
        admin.token_row(store, token_id)  # 404 before any write
        store.revoke_token(token_id)
        return 200, admin.token_row(store, token_id)

    # -- peers and collections ---------------------------------------------------------------

    def enable(r: Request, body: Enabled) -> tuple[int, Any]:
        return 200, admin.set_peer_enabled(store, param(r, "peer_id"), body.enabled)

    def create_collection(_r: Request, body: NewCollection) -> tuple[int, Any]:
        made = admin.new_collection(store, body.alias, body.title, body.description)
        return 201, next(c for c in admin.collection_rows(store) if c.id == made.id)

    def grant(r: Request, body: Grant) -> tuple[int, Any]:
        row = admin.set_grant(
            store, param(r, "collection_id"), body.org, read=body.read, write=body.write
        )
        return 200, row

    # -- quarantine -------------------------------------------------------------------------

    def quarantine(request: Request) -> Any:
        status = admin.quarantine_status(query(request, "status"))
        return {"entries": admin.quarantine_rows(store, status, limit(request))}

    def entry(request: Request) -> Any:
        found = admin.quarantine_entry(store, request.path_params["qid"])
        return {
            **msgspec.structs.asdict(admin.quarantine_row(found)),
            "text": admin.stored_text(found),
            "raw_base64": base64.b64encode(found.raw).decode("ascii"),
        }

    def replay(r: Request, body: Replay) -> tuple[int, Any]:
        return 200, admin.replay_entry(store, settings, r.path_params["qid"], body.text)

    def dismiss(r: Request, _body: Empty) -> tuple[int, Any]:
        return 200, admin.dismiss_entry(store, r.path_params["qid"])

    base = "/api/admin"
    return [
        read(f"{base}/orgs", lambda _r: {"orgs": admin.org_rows(store)}),
        change(f"{base}/orgs", NewOrg, create_org),
        change(f"{base}/orgs/{{org_id}}/relation", Relation, relate),
        read(f"{base}/users", lambda r: {"users": admin.user_rows(store, query(r, "org"))}),
        change(f"{base}/users", NewUser, create_user),
        change(f"{base}/users/{{user_id}}/disabled", Disabled, disable),
        change(f"{base}/users/{{user_id}}/password", Password, password),
        read(f"{base}/tokens", lambda r: {"tokens": admin.token_rows(store, query(r, "user"))}),
        change(f"{base}/tokens", NewToken, issue),
        change(f"{base}/tokens/{{token_id}}/revoke", Empty, revoke),
        read(f"{base}/peers", lambda _r: {"peers": admin.peer_rows(store)}),
        change(f"{base}/peers/{{peer_id}}/enabled", Enabled, enable),
        read(f"{base}/collections", lambda _r: {"collections": admin.collection_rows(store)}),
        change(f"{base}/collections", NewCollection, create_collection),
        change(f"{base}/collections/{{collection_id}}/grants", Grant, grant),
        read(f"{base}/quarantine", quarantine),
        read(f"{base}/quarantine/{{qid:int}}", entry),
        change(f"{base}/quarantine/{{qid:int}}/replay", Replay, replay),
        change(f"{base}/quarantine/{{qid:int}}/dismiss", Empty, dismiss),
    ]


# -- the OpenAPI description ------------------------------------------------------------------

_STR: Final = {"type": "string"}
_INT: Final = {"type": "integer"}
_BOOL: Final = {"type": "boolean"}


_ORG = closed(
    {
        "id": _STR,
        "name": _STR,
        "identity_id": _STR,
        "relation": {"type": "string", "enum": list(ORG_RELATIONS)},
        "created": _STR,
        "accounts": _INT,
    }
)
_USER = closed(
    {
        "id": _STR,
        "name": _STR,
        "org_id": _STR,
        "org": _STR,
        "role": {"type": "string", "enum": list(ROLES)},
        "kind": {"type": "string", "enum": ["user", "service"]},
        "disabled": _BOOL,
        "has_password": _BOOL,
        "identity_id": _STR,
        "created": _STR,
    }
)
_TOKEN = closed(
    {
        "id": _STR,
        "label": _STR,
        "user_id": _STR,
        "user": _STR,
        "created": _STR,
        "expires": nullable(_STR),
        "expired": _BOOL,
        "read_only": _BOOL,
        "revoked": _BOOL,
        "last_used": nullable(_STR),
    }
)
_PEER = closed(
    {
        "id": _STR,
        "name": _STR,
        "kind": _STR,
        "api_root": _STR,
        "relation": _STR,
        "enabled": _BOOL,
        "must_sign": _BOOL,
        "push": array(_STR),
        "pull": array(_STR),
        "pending": _INT,
        "failed": _INT,
        "lag_s": {"type": "number"},
        "delivered": _INT,
        "refused": _INT,
        "received": _INT,
        "rejected": _INT,
        "last_success": nullable(_STR),
        "last_error": nullable(_STR),
    }
)
_GRANT = closed(
    {
        "collection": _STR,
        "collection_id": _STR,
        "org": _STR,
        "org_id": _STR,
        "can_read": _BOOL,
        "can_write": _BOOL,
    }
)
_COLLECTION = closed(
    {
        "id": _STR,
        "alias": _STR,
        "title": _STR,
        "description": _STR,
        "objects": _INT,
        "grants": array(_GRANT),
    }
)
_ENTRY_FIELDS: Final = {
    "qid": _INT,
    "ingest_id": nullable(_INT),
    "origin": _STR,
    "index": _INT,
    "object_id": nullable(_STR),
    "field": _STR,
    "reason": _STR,
    "received_at": _STR,
    "status": {"type": "string", "enum": list(admin.QUARANTINE_STATUSES)},
    "size": _INT,
}
_ENTRY = closed(_ENTRY_FIELDS)
_ENTRY_FULL = closed(
    {**_ENTRY_FIELDS, "text": _STR, "raw_base64": {"type": "string", "format": "byte"}}
)
_REPLAY = closed(
    {
        "qid": _INT,
        "landed": _BOOL,
        "status": _ENTRY_FIELDS["status"],
        "received": _INT,
        "new": _INT,
        "new_versions": _INT,
        "unchanged": _INT,
        "rejected": _INT,
        "rejects": array(
            closed({"index": _INT, "object_id": nullable(_STR), "field": _STR, "reason": _STR})
        ),
    }
)


_REASONS: Final = {
    400: "Bad input: the message names the field and the reason",
    401: "No credentials, or wrong ones",
    403: "Not an account of the home organisation, or (for a change) not its admin",
    404: "No such item",
}


def _errors(*statuses: int) -> dict[str, Any]:
    return errors(*statuses, reasons=_REASONS)


def _answer(status: int, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {str(status): response(description, schema)}


def _get(summary: str, schema: dict[str, Any], params: list[Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["administration"],
        "security": BEARER,
        "responses": {**_answer(200, summary, schema), **_errors(400, 401, 403, 404)},
    }
    if params:
        op["parameters"] = params
    return {"get": op}


def _post(
    summary: str,
    body: dict[str, Any],
    schema: dict[str, Any],
    *,
    status: int = 200,
    params: list[Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["administration"],
        "security": BEARER,
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {**_answer(status, summary, schema), **_errors(400, 401, 403, 404)},
    }
    if params:
        op["parameters"] = params
    return {"post": op}


_QID = [in_path("qid", {"type": "integer", "minimum": 1})]
_NO_BODY = closed({})

PATHS: dict[str, Any] = {
    "/api/admin/orgs": {
        **_get("The organisations and how each relates to us", closed({"orgs": array(_ORG)})),
        **_post(
            "Add an organisation",
            closed(
                {"name": _STR, "relation": {"type": "string", "enum": list(ORG_RELATIONS)}},
                optional=("relation",),
            ),
            _ORG,
            status=201,
        ),
    },
    "/api/admin/orgs/{org_id}/relation": _post(
        "Change how an organisation relates to us",
        closed({"relation": _STR}),
        _ORG,
        params=[in_path("org_id", _STR)],
    ),
    "/api/admin/users": {
        **_get(
            "Users and service accounts",
            closed({"users": array(_USER)}),
            [query("org", _STR, "only this organisation's accounts (name or id)")],
        ),
        **_post(
            "Add a user or a service account",
            closed(
                {"name": _STR, "org": _STR, "role": _STR, "service": _BOOL},
                optional=("service",),
            ),
            _USER,
            status=201,
        ),
    },
    "/api/admin/users/{user_id}/disabled": _post(
        "Disable or enable an account",
        closed({"disabled": _BOOL}),
        _USER,
        params=[in_path("user_id", _STR)],
    ),
    "/api/admin/users/{user_id}/password": _post(
        "Set (or, with null, remove) the web sign-in password of a user",
        closed({"password": nullable(_STR)}),
        _USER,
        params=[in_path("user_id", _STR)],
    ),
    "/api/admin/tokens": {
        **_get(
            "API tokens (never their secrets)",
            closed({"tokens": array(_TOKEN)}),
            [query("user", _STR, "only this account's tokens (name or id)")],
        ),
        **_post(
            "Issue a token; its secret is in this answer and nowhere else",
            closed(
                {
                    "user": _STR,
                    "label": _STR,
                    "days": nullable({"type": "integer", "minimum": 1, "maximum": 36500}),
                    "no_expiry": _BOOL,
                    "read_only": _BOOL,
                },
                optional=("label", "days", "no_expiry", "read_only"),
            ),
            closed({"token": _TOKEN, "secret": _STR}),
            status=201,
        ),
    },
    "/api/admin/tokens/{token_id}/revoke": _post(
        "Revoke a token", _NO_BODY, _TOKEN, params=[in_path("token_id", _STR)]
    ),
    "/api/admin/peers": _get("Peers with their federation state", closed({"peers": array(_PEER)})),
    "/api/admin/peers/{peer_id}/enabled": _post(
        "Resume or pause a peer",
        closed({"enabled": _BOOL}),
        _PEER,
        params=[in_path("peer_id", _STR)],
    ),
    "/api/admin/collections": {
        **_get(
            "Collections and who may read and write each",
            closed({"collections": array(_COLLECTION)}),
        ),
        **_post(
            "Add a collection",
            closed(
                {"alias": _STR, "title": _STR, "description": _STR},
                optional=("title", "description"),
            ),
            _COLLECTION,
            status=201,
        ),
    },
    "/api/admin/collections/{collection_id}/grants": _post(
        "Set what an organisation ('*' for every one, 'anonymous') may do in a collection",
        closed({"org": _STR, "read": _BOOL, "write": _BOOL}),
        _GRANT,
        params=[in_path("collection_id", _STR)],
    ),
    "/api/admin/quarantine": _get(
        "Rejected input, oldest first",
        closed({"entries": array(_ENTRY)}),
        [
            query(
                "status",
                {"type": "string", "enum": [*admin.QUARANTINE_STATUSES, admin.EVERY_STATUS]},
                "which entries (default open)",
            ),
            query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": admin.MAX_LIST},
                "how many at most (default 100)",
            ),
        ],
    ),
    "/api/admin/quarantine/{qid}": _get(
        "One rejected item: why, and its exact bytes", _ENTRY_FULL, _QID
    ),
    "/api/admin/quarantine/{qid}/replay": _post(
        "Replay an item, as stored or corrected (text), through ingest",
        closed({"text": nullable(_STR)}, optional=("text",)),
        _REPLAY,
        params=_QID,
    ),
    "/api/admin/quarantine/{qid}/dismiss": _post(
        "Dismiss an open item", _NO_BODY, _ENTRY, params=_QID
    ),
}
