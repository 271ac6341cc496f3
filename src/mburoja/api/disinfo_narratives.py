"""REST endpoints of the narrative library (see docs/disinfo/narratives.md):

- ``GET /api/disinfo/narratives[?collection=narratives]``: the narratives the caller may see;
- ``GET /api/disinfo/narratives/{id}``: one of them;
- ``POST /api/disinfo/narratives``: add one (a JSON :class:`NarrativeDraft`), or with ``id``
  store the next version of one the caller's organisation owns;
- ``POST /api/disinfo/narratives/match``: match texts against the narratives the caller may
  see: ``{"documents": [{"id", "title", "text", "lang"}], "semantic": "e5",
  "thresholds": {"lexical": 0.13}, "top_k": 3, "clusters": {"doc id": "representative id"}}``.

Errors are raised from the error tree and turned into status codes by the app
(``mburoja.api.app``); only a body over :data:`MAX_BODY` is answered here (413). Fitted
matchers are cached per library version and embedder, so a repeated match does not embed the
library again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Final, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja.api.spec import json_response
from mburoja.config import Settings
from mburoja.disinfo.embedders import Embedder, NarrativeError, embedder
from mburoja.disinfo.model import ARTICLE, Document
from mburoja.disinfo.narratives import (
    COLLECTION,
    Narrative,
    NarrativeDraft,
    NarrativeMatcher,
    add_narrative,
    get_narrative,
    list_narratives,
    update_narrative,
)
from mburoja.errors import Forbidden
from mburoja.policy import Caller, Policy, Relation
from mburoja.store.sql import SqlStore
from mburoja.taxii.auth import caller_from_authorization

#: the largest request body taken, in bytes
MAX_BODY: Final = 8 * 1024 * 1024
#: the most documents one match request may carry
MAX_DOCUMENTS: Final = 1000
#: embedders a request may name (``st`` loads a model from a server path: CLI only)
API_EMBEDDERS: Final = ("e5",)
_CACHED_MATCHERS: Final = 4
T = TypeVar("T")


class _Text(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str | None = None
    title: str = ""
    text: str = ""
    lang: str | None = None


class MatchRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /api/disinfo/narratives/match``."""

    documents: list[_Text]
    semantic: str | None = None
    thresholds: dict[str, float] = msgspec.field(default_factory=dict)
    top_k: int = 3
    collection: str = COLLECTION
    clusters: dict[str, str] = msgspec.field(default_factory=dict)


class _Matchers:
    """Fitted matchers by (embedder, library version), the least recently used dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fitted: OrderedDict[tuple[Any, ...], NarrativeMatcher] = OrderedDict()
        self._embedders: dict[str, Embedder] = {}

    def get(self, narratives: list[Narrative], semantic: str | None) -> NarrativeMatcher:
        key = (semantic, tuple((n.id, n.modified) for n in narratives))
        with self._lock:
            found = self._fitted.get(key)
            if found is not None:
                self._fitted.move_to_end(key)
                return found
            embedders: list[Embedder] = [embedder("lexical")]
            if semantic:
                if semantic not in self._embedders:  # a model is loaded once per process
                    self._embedders[semantic] = embedder(semantic)
                embedders.append(self._embedders[semantic])
            matcher = NarrativeMatcher(narratives, embedders)
            self._fitted[key] = matcher
            if len(self._fitted) > _CACHED_MATCHERS:
                self._fitted.popitem(last=False)
            return matcher


def routes(store: SqlStore, policy: Policy, settings: Settings) -> list[Route]:
    """The narrative endpoints, for the app to mount beside its own."""
    matchers = _Matchers()

    def caller(request: Request) -> Caller:
        return caller_from_authorization(
            request.headers.get("authorization"),
            store,
            anonymous_ok=settings.auth.anonymous_read,
        )

    def listing(request: Request) -> Response:
        who = caller(request)
        collection = request.query_params.get("collection", COLLECTION)
        found = list_narratives(store, collection=collection, policy=policy, caller=who)
        return json_response({"collection": collection, "narratives": found})

    def one(request: Request) -> Response:
        who = caller(request)
        narrative_id = request.path_params["narrative_id"]
        return json_response(get_narrative(store, narrative_id, policy=policy, caller=who))

    def save(request: Request, body: bytes) -> Response:
        who = caller(request)
        if not who.can_write:
            raise Forbidden("this account may not write")
        draft = _decode(body, NarrativeDraft)
        collection = request.query_params.get("collection", COLLECTION)
        cid = store.ensure_collection(collection, "Known false narratives").id
        if not store.rights(cid, who, policy.home_org)[1]:
            raise Forbidden(f"this account may not write to the collection {collection!r}")
        owner = None if who.org_id == policy.home_org else who.org_id
        actor = who.user_name or "api"
        stored = store.current(draft.id) if draft.id is not None else None
        if draft.id is not None and stored is not None:
            get_narrative(store, draft.id, policy=policy, caller=who)  # NotFound if hidden
            if policy.relation(who, stored.owner) is not Relation.SELF:
                raise Forbidden(f"{draft.id} belongs to another organisation")
            return json_response(
                update_narrative(
                    store,
                    settings,
                    draft.id,
                    draft,
                    owner=owner,
                    actor=actor,
                    collection=collection,
                )
            )
        orgs = store.org_identities([who.org_id]) if who.org_id else {}
        created_by = orgs.get(who.org_id) if who.org_id else None
        added = add_narrative(
            store,
            settings,
            draft,
            created_by=created_by,
            owner=owner,
            actor=actor,
            collection=collection,
        )
        return json_response(added, 201)

    def match(request: Request, body: bytes) -> Response:
        who = caller(request)
        asked = _decode(body, MatchRequest)
        if len(asked.documents) > MAX_DOCUMENTS:
            raise NarrativeError(f"at most {MAX_DOCUMENTS} documents per request")
        if asked.semantic is not None and asked.semantic not in API_EMBEDDERS:
            raise NarrativeError(f"semantic: use one of {', '.join(API_EMBEDDERS)} or null")
        if not 1 <= asked.top_k <= 50:
            raise NarrativeError("top_k must be between 1 and 50")
        narratives = list_narratives(store, collection=asked.collection, policy=policy, caller=who)
        documents = [
            Document(
                id=t.id or f"text:{i}",
                kind=ARTICLE,
                source="api",
                title=t.title,
                text=t.text,
                lang=t.lang,
            )
            for i, t in enumerate(asked.documents)
        ]
        matcher = matchers.get(narratives, asked.semantic)
        found = matcher.match(
            documents, asked.clusters or None, top_k=asked.top_k, thresholds=asked.thresholds
        )
        return json_response(
            {
                "documents": len(documents),
                "narratives": len(matcher.narratives),
                "thresholds": {**matcher.thresholds, **asked.thresholds},
                "matches": found,
            }
        )

    async def with_body(request: Request, handler: Any) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return _too_large()
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY:
                return _too_large()
        response: Response = await run_in_threadpool(handler, request, bytes(body))
        return response

    async def post_narrative(request: Request) -> Response:
        return await with_body(request, save)

    async def post_match(request: Request) -> Response:
        return await with_body(request, match)

    return [
        Route("/api/disinfo/narratives", listing, methods=["GET"]),
        Route("/api/disinfo/narratives", post_narrative, methods=["POST"]),
        Route("/api/disinfo/narratives/match", post_match, methods=["POST"]),
        Route("/api/disinfo/narratives/{narrative_id}", one, methods=["GET"]),
    ]


def _decode(body: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise NarrativeError(f"request body: {exc}") from exc


def _too_large() -> Response:
    message = f"the request body is over {MAX_BODY} bytes"
    return json_response({"error": message, "status": 413}, 413)
