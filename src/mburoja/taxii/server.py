"""The TAXII 2.1 server (OASIS TAXII 2.1 OS), mounted by ``mburoja serve`` at ``/taxii2/``.

One API root, ``/taxii2/api/``; its collections are the store's collections. Every response,
errors included, is ``application/taxii+json;version=2.1``. Every object served passes the
policy module (``mburoja.policy``); the store query is only narrowed by the policy's
prefilter first, so that pages stay full and cheap. Stored objects are spliced into the
response as the exact bytes received.

Pagination is keyset on ``(date_added, seq)`` with signed, stateless ``next`` cursors
(``taxii.cursor``): any replica that shares the instance secret continues a walk.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import msgspec
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja.config import Settings
from mburoja.errors import AccessError, Forbidden, NotFound, StoreUnavailable, Unauthenticated
from mburoja.policy import Caller, Policy
from mburoja.stix import timestamps
from mburoja.stix.identifiers import is_identifier
from mburoja.store.sql import SqlStore
from mburoja.store.taxii import StatusRecord, TaxiiQuery, TaxiiRow
from mburoja.taxii.auth import CHALLENGE, caller_from_authorization
from mburoja.taxii.cursor import BadCursor, CursorSigner, scope_of
from mburoja.taxii.posting import EnvelopeError, Poster, VetFn, read_envelope

log = logging.getLogger(__name__)

#: extra envelope properties (already JSON) for a page of (row, view) a peer pulls
AnnotateFn = Callable[[list[tuple[TaxiiRow, bytes]]], dict[str, bytes]]

MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
API_ROOT = "api"

_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")
_SPEC_VERSIONS = frozenset({"2.0", "2.1"})
_VERSION_WORDS = frozenset({"first", "last", "all"})
_PARAMS = {
    "objects": frozenset(
        {"added_after", "limit", "next", "match[id]", "match[type]", "match[version]",
         "match[spec_version]"}
    ),
    "object": frozenset({"added_after", "limit", "next", "match[version]", "match[spec_version]"}),
    "versions": frozenset({"added_after", "limit", "next", "match[spec_version]"}),
    "delete": frozenset({"match[version]", "match[spec_version]"}),
}  # fmt: skip


CACHE_S = 2.0

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A small dict whose entries expire after ``ttl`` seconds (thread-safe enough: each
    operation is one dict call)."""

    def __init__(self, ttl: float, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: K, value: V) -> None:
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[key] = (time.monotonic() + self.ttl, value)


class TaxiiError(Exception):
    """An error answered in the TAXII error format."""

    def __init__(self, status: int, title: str, description: str = "") -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.description = description


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status, headers=headers, media_type=MEDIA_TYPE)


def error_response(exc: TaxiiError) -> Response:
    body: dict[str, Any] = {"title": exc.title, "http_status": str(exc.status)}
    if exc.description:
        body["description"] = exc.description
    headers = {"WWW-Authenticate": CHALLENGE} if exc.status == 401 else None
    return _json(body, exc.status, headers)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class TaxiiServer:
    """Request handlers over one store, policy and cursor signer."""

    def __init__(
        self,
        store: SqlStore,
        settings: Settings,
        policy: Policy,
        signer: CursorSigner,
        vet: VetFn | None = None,
        annotate: AnnotateFn | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.policy = policy
        self.signer = signer
        self.poster = Poster(store, settings, vet)
        # Adds signatures and provenance to pages a peer's sync account pulls.
        self.annotate = annotate
        # Who a credential is, and what an organisation may do in a collection, are read
        # from the store at most every CACHE_S seconds per key: a client walking a large
        # collection sends the same header hundreds of times a minute. A revoked token or a
        # changed grant takes effect within CACHE_S.
        self._callers = TtlCache[str, Caller](CACHE_S)
        self._rights = TtlCache[tuple[str, str | None, bool], tuple[str, str, bool, bool]](CACHE_S)

    # -- request plumbing ------------------------------------------------------------------

    def _caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        if header:
            known = self._callers.get(header)
            if known is not None:
                return known
        try:
            caller = caller_from_authorization(
                header, self.store, anonymous_ok=self.settings.auth.anonymous_read
            )
        except Unauthenticated as exc:
            raise TaxiiError(401, "Unauthorized", str(exc)) from exc
        if header:
            self._callers.put(header, caller)
        return caller

    @staticmethod
    def _check_accept(request: Request) -> None:
        accept = request.headers.get("accept")
        if not accept:
            return
        for item in accept.split(","):
            media, *params = (p.strip().lower() for p in item.split(";"))
            if media in ("*/*", "application/*"):
                return
            if media == "application/taxii+json":
                version = next((p.split("=", 1)[1] for p in params if p.startswith("version=")), "")
                if version in ("", "2.1"):
                    return
        raise TaxiiError(
            406,
            "Not Acceptable",
            f"cannot answer with {accept!r}; this server speaks {MEDIA_TYPE}",
        )

    def _collection(self, request: Request, caller: Caller) -> tuple[str, str, bool, bool]:
        """(id, alias, can_read, can_write) of the collection in the path."""
        # What rights() depends on: the organisation, and whether this account and token
        # may write at all (two tokens of one user may differ: one read-only).
        key = (str(request.path_params["collection_id"]), caller.org_id, caller.can_write)
        known = self._rights.get(key)
        if known is not None:
            return known
        try:
            cid, alias, _title, _description = self.store.collection(key[0])
        except NotFound as exc:
            raise TaxiiError(404, "Collection not found", str(exc)) from exc
        read, write = self.store.rights(cid, caller, self.policy.home_org)
        self._rights.put(key, (cid, alias, read, write))
        return cid, alias, read, write

    def _readable(self, request: Request, caller: Caller) -> str:
        cid, _alias, read, _write = self._collection(request, caller)
        if not read:
            raise TaxiiError(403, "Forbidden", "this account may not read this collection")
        return cid

    # -- filters ---------------------------------------------------------------------------

    def _query(
        self, request: Request, kind: str, *, object_id: str | None = None
    ) -> tuple[TaxiiQuery, int, str | None]:
        params = request.query_params
        allowed = _PARAMS[kind]
        for key in params:
            if key not in allowed:
                raise TaxiiError(
                    400,
                    "Unsupported parameter",
                    f"{key!r} is not a parameter of this endpoint; "
                    f"use {', '.join(sorted(allowed))}",
                )
        ids: tuple[str, ...] = (object_id,) if object_id else ()
        if "match[id]" in params:
            ids = tuple(_split(params["match[id]"]))
            bad = [i for i in ids if not is_identifier(i)]
            if bad:
                raise TaxiiError(400, "Bad match[id]", f"not STIX identifiers: {bad[:5]}")
        types = tuple(_split(params.get("match[type]", "")))
        bad = [t for t in types if not _TYPE_RE.match(t)]
        if bad:
            raise TaxiiError(400, "Bad match[type]", f"not STIX object types: {bad[:5]}")
        spec_versions = tuple(_split(params.get("match[spec_version]", "")))
        if any(v not in _SPEC_VERSIONS for v in spec_versions):
            raise TaxiiError(400, "Bad match[spec_version]", "use 2.0 and/or 2.1")
        default_version = "all" if kind in ("versions", "delete") else "last"
        versions = []
        for v in _split(params.get("match[version]", default_version)):
            if v in _VERSION_WORDS:
                versions.append(v)
                continue
            if not timestamps.is_timestamp(v):
                raise TaxiiError(
                    400, "Bad match[version]", f"{v!r}: use first, last, all or a timestamp"
                )
            versions.append(timestamps.version_key(v))
        added_after = params.get("added_after")
        if added_after is not None:
            if not timestamps.is_timestamp(added_after):
                raise TaxiiError(400, "Bad added_after", f"{added_after!r} is not a timestamp")
            added_after = timestamps.to_taxii(added_after)
        limit = self.settings.taxii.default_page_size
        if "limit" in params:
            text = params["limit"]
            # ASCII digits only: int() would also take Arabic-Indic or fullwidth digits, and "1_0"
            limit = int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0
            if limit < 1:
                raise TaxiiError(400, "Bad limit", "limit is a positive integer")
        limit = min(limit, self.settings.taxii.max_page_size)
        query = TaxiiQuery(
            ids=ids,
            types=types,
            versions=tuple(versions) or (default_version,),
            spec_versions=spec_versions,
            added_after=added_after,
        )
        return query, limit, params.get("next")

    def _page(
        self, request: Request, kind: str, *, object_id: str | None = None, meta: bool = True
    ) -> tuple[list[tuple[TaxiiRow, bytes]], bool, str | None]:
        """One page of visible rows (each with the bytes the caller may see), whether more
        follow, and the ``next`` cursor. ``meta``: the rows' ids and versions are needed
        (manifest, versions), not only the objects' bytes."""
        caller = self._caller(request)
        cid = self._readable(request, caller)
        query, limit, token = self._query(request, kind, object_id=object_id)
        scope = scope_of(
            cid, kind, caller.org_id or "anonymous", msgspec.json.encode(query).decode()
        )
        after = None
        if token:
            try:
                after = self.signer.open(token, scope)
            except BadCursor as exc:
                raise TaxiiError(400, "Bad next", str(exc)) from exc
        rows, more = self.store.taxii_rows(
            cid, query, self.policy.prefilter(caller), after=after, limit=limit, meta=meta
        )
        views = self.policy.views(caller, ((r.owner, r.markings, r.raw, r.inspect) for r in rows))
        visible = [(row, view) for row, view in zip(rows, views, strict=True) if view is not None]
        next_token = None
        if more and rows:
            next_token = self.signer.issue(scope, rows[-1].date_added, rows[-1].seq)
        return visible, more, next_token

    @staticmethod
    def _added_headers(rows: Iterable[tuple[TaxiiRow, bytes]]) -> dict[str, str]:
        added = [row.date_added for row, _ in rows]
        if not added:
            return {}
        return {"X-TAXII-Date-Added-First": min(added), "X-TAXII-Date-Added-Last": max(added)}

    @staticmethod
    def _envelope_head(more: bool, next_token: str | None) -> bytes:
        head = b'{"more":' + (b"true" if more else b"false")
        if next_token:
            head += b',"next":' + orjson.dumps(next_token)
        return head

    # -- endpoints -------------------------------------------------------------------------

    def discovery(self, request: Request) -> Response:
        self._caller(request)
        base = str(request.base_url).rstrip("/")
        return _json(
            {
                "title": self.settings.taxii.title,
                "description": "Mburoja: threat intelligence under TLP 2.0, enforced.",
                "default": f"{base}/taxii2/{API_ROOT}/",
                "api_roots": [f"{base}/taxii2/{API_ROOT}/"],
            }
        )

    def api_root(self, request: Request) -> Response:
        self._caller(request)
        return _json(
            {
                "title": self.settings.taxii.title,
                "versions": [MEDIA_TYPE],
                "max_content_length": self.settings.taxii.max_content_length,
            }
        )

    def status(self, request: Request) -> Response:
        caller = self._caller(request)
        try:
            record = self.store.status_get(request.path_params["status_id"])
        except NotFound as exc:
            raise TaxiiError(404, "Status not found", str(exc)) from exc
        if record.org_id != caller.org_id:
            raise TaxiiError(404, "Status not found", "no such status for this account")
        return _json(_status_body(record))

    def collections(self, request: Request) -> Response:
        caller = self._caller(request)
        listed = []
        for coll in self.store.collections():
            read, write = self.store.rights(coll.id, caller, self.policy.home_org)
            if read or write:
                listed.append(_collection_body(coll.id, coll.title, coll.description, read, write))
        return _json({"collections": listed} if listed else {})

    def collection(self, request: Request) -> Response:
        caller = self._caller(request)
        cid, _alias, read, write = self._collection(request, caller)
        if not (read or write):
            raise TaxiiError(403, "Forbidden", "this account has no access to this collection")
        _cid, _alias, title, description = self.store.collection(cid)
        return _json(_collection_body(cid, title, description, read, write))

    def get_objects(self, request: Request) -> Response:
        peer = self.annotate is not None and self._caller(request).role == "sync"
        visible, more, next_token = self._page(request, "objects", meta=peer)
        extra = self.annotate(visible) if peer and self.annotate and visible else None
        return self._objects_response(visible, more, next_token, extra)

    def get_object(self, request: Request) -> Response:
        object_id = self._object_id(request)
        visible, more, next_token = self._page(request, "object", object_id=object_id, meta=False)
        if not visible and not more and "next" not in request.query_params:
            raise TaxiiError(404, "Object not found", f"no {object_id} in this collection")
        return self._objects_response(visible, more, next_token)

    def _objects_response(
        self,
        visible: list[tuple[TaxiiRow, bytes]],
        more: bool,
        next_token: str | None,
        extra: dict[str, bytes] | None = None,
    ) -> Response:
        parts = [self._envelope_head(more, next_token)]
        if visible:
            parts.append(b',"objects":[')
            parts.append(b",".join(view for _row, view in visible))
            parts.append(b"]")
        for name, value in (extra or {}).items():
            parts.append(b',"' + name.encode("ascii") + b'":' + value)
        parts.append(b"}")
        return Response(
            b"".join(parts), 200, headers=self._added_headers(visible), media_type=MEDIA_TYPE
        )

    def manifest(self, request: Request) -> Response:
        visible, more, next_token = self._page(request, "objects")
        body: dict[str, Any] = {"more": more}
        if next_token:
            body["next"] = next_token
        if visible:
            body["objects"] = [
                {
                    "id": row.id,
                    "date_added": row.date_added,
                    "version": _version_of(row),
                    "media_type": STIX_MEDIA_TYPE,
                }
                for row, _view in visible
            ]
        return _json(body, headers=self._added_headers(visible))

    def versions(self, request: Request) -> Response:
        object_id = self._object_id(request)
        visible, more, next_token = self._page(request, "versions", object_id=object_id)
        if not visible and not more and "next" not in request.query_params:
            raise TaxiiError(404, "Object not found", f"no {object_id} in this collection")
        body: dict[str, Any] = {"more": more}
        if next_token:
            body["next"] = next_token
        if visible:
            body["versions"] = [_version_of(row) for row, _view in visible]
        return _json(body, headers=self._added_headers(visible))

    def delete_object(self, request: Request) -> Response:
        caller = self._caller(request)
        object_id = self._object_id(request)
        cid, _alias, _read, write = self._collection(request, caller)
        if not write:
            raise TaxiiError(403, "Forbidden", "this account may not write to this collection")
        query, _limit, _token = self._query(request, "delete", object_id=object_id)
        rows, _more = self.store.taxii_rows(
            cid, query, self.policy.prefilter(caller), limit=self.settings.taxii.max_page_size
        )
        visible = [r for r in rows if self.policy.visible(caller, r.owner, r.markings, r.raw)]
        if not visible:
            raise TaxiiError(404, "Object not found", f"no {object_id} in this collection")
        moderator = caller.org_id == self.policy.home_org and caller.role == "admin"
        foreign = [r for r in visible if (r.owner or self.policy.home_org) != caller.org_id]
        if foreign and not moderator:
            raise TaxiiError(
                403, "Forbidden", "the object belongs to another organisation; only it may delete"
            )
        self.store.remove_from_collection(cid, [r.seq for r in visible])
        return Response(b"", 200, media_type=MEDIA_TYPE)

    async def post_objects(self, request: Request) -> Response:
        caller = self._caller(request)
        cid, alias, _read, write = self._collection(request, caller)
        if not write:
            raise TaxiiError(403, "Forbidden", "this account may not write to this collection")
        media = request.headers.get("content-type", "").replace(" ", "").lower()
        if media not in (MEDIA_TYPE, "application/taxii+json"):
            raise TaxiiError(
                415, "Unsupported Media Type", f"send the envelope as Content-Type: {MEDIA_TYPE}"
            )
        cap = self.settings.taxii.max_content_length
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise TaxiiError(413, "Payload Too Large", f"the API root takes at most {cap} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > cap:
                raise TaxiiError(
                    413, "Payload Too Large", f"the API root takes at most {cap} bytes"
                )
        try:
            objects = read_envelope(bytes(body), self.settings.limits.max_objects_per_bundle)
        except EnvelopeError as exc:
            raise TaxiiError(422, "Unprocessable envelope", str(exc)) from exc
        record = await run_in_threadpool(
            self.poster.submit, caller, cid, alias, objects, bytes(body)
        )
        return _json(_status_body(record), 202)

    @staticmethod
    def _object_id(request: Request) -> str:
        object_id = str(request.path_params["object_id"])
        if not is_identifier(object_id):
            raise TaxiiError(400, "Bad object id", f"{object_id!r} is not a STIX identifier")
        return object_id

    # -- routing ---------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        root = f"/taxii2/{API_ROOT}"
        coll = root + "/collections/{collection_id}"
        obj = coll + "/objects/{object_id}"
        table: list[tuple[str, Callable[..., Any], list[str]]] = [
            ("/taxii2/", self.discovery, ["GET"]),
            (root + "/", self.api_root, ["GET"]),
            (root + "/status/{status_id}/", self.status, ["GET"]),
            (root + "/collections/", self.collections, ["GET"]),
            (coll + "/", self.collection, ["GET"]),
            (coll + "/objects/", self._objects_dispatch, ["GET", "POST"]),
            (coll + "/manifest/", self.manifest, ["GET"]),
            (obj + "/", self._object_dispatch, ["GET", "DELETE"]),
            (obj + "/versions/", self.versions, ["GET"]),
        ]
        return [
            Route(path, self._wrap(handler), methods=methods) for path, handler, methods in table
        ]

    async def _objects_dispatch(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.post_objects(request)
        return await _threaded(self.get_objects, request)

    async def _object_dispatch(self, request: Request) -> Response:
        if request.method == "DELETE":
            return await _threaded(self.delete_object, request)
        return await _threaded(self.get_object, request)

    def _wrap(self, handler: Callable[..., Any]) -> Callable[[Request], Any]:
        is_async = inspect.iscoroutinefunction(handler)

        async def endpoint(request: Request) -> Response:
            try:
                self._check_accept(request)
                if is_async:
                    response: Response = await handler(request)
                else:
                    response = await _threaded(handler, request)
                return response
            except TaxiiError as exc:
                return error_response(exc)
            except Forbidden as exc:
                return error_response(TaxiiError(403, "Forbidden", str(exc)))
            except AccessError as exc:
                return error_response(TaxiiError(401, "Unauthorized", str(exc)))
            except StoreUnavailable as exc:
                return error_response(TaxiiError(503, "Service Unavailable", str(exc)))
            except Exception:
                log.exception("TAXII %s %s failed", request.method, request.url.path)
                return error_response(
                    TaxiiError(500, "Internal Server Error", "the server logged the details")
                )

        return endpoint


async def _threaded(handler: Callable[[Request], Response], request: Request) -> Response:
    return await run_in_threadpool(handler, request)


def _version_of(row: TaxiiRow) -> str:
    try:
        return timestamps.to_taxii(row.version)
    except ValueError:
        return row.date_added


def _collection_body(
    cid: str, title: str, description: str, read: bool, write: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": cid, "title": title, "can_read": read, "can_write": write}
    if description:
        body["description"] = description
    body["media_types"] = [STIX_MEDIA_TYPE]
    return body


def _status_body(record: StatusRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "status": record.status,
        "request_timestamp": record.request_timestamp,
        "total_count": record.total_count,
        "success_count": record.success_count,
        "failure_count": record.failure_count,
        "pending_count": record.pending_count,
    }
    if record.details:
        body.update({k: v for k, v in orjson.loads(record.details).items() if v})
    return body
