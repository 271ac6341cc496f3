"""The REST API (JSON) on Starlette: health, stats, correlation search, object versions;
and the TAXII 2.1 server (``mburoja.taxii.server``) mounted beside it under ``/taxii2/``;
the analyst's web application (``mburoja.web``) at ``/``.

HTTP status codes are chosen here and only here, from the error tree. Every read answers
through the policy (``mburoja.policy``): a caller sees, counts and finds only what its
organisation may see. Stored objects are served as the exact bytes received, spliced into
the response without re-serialising (unless granular markings remove properties).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja import __version__
from mburoja.api import disinfo_analysis, disinfo_narratives, disinfo_sources
from mburoja.config import Settings, load_secret
from mburoja.errors import (
    AccessError,
    ConfigError,
    Forbidden,
    MburojaError,
    NotFound,
    StoreUnavailable,
)
from mburoja.federation.metrics import CONTENT_TYPE as METRICS_TYPE
from mburoja.federation.metrics import metrics_registry, render
from mburoja.federation.relay import Annotator, Vetter
from mburoja.federation.service import Federation
from mburoja.federation.signing import InstanceKey
from mburoja.policy import Caller, Policy
from mburoja.stix.identifiers import is_identifier
from mburoja.store.base import SearchResult, Stats
from mburoja.store.sql import SqlStore
from mburoja.taxii.auth import CHALLENGE, caller_from_authorization
from mburoja.taxii.cursor import CursorSigner
from mburoja.taxii.server import TaxiiError, TaxiiServer, error_response
from mburoja.web import routes as web

_MAX_QUERY = 2048
_encoder = msgspec.json.Encoder()


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def build_policy(settings: Settings, store: SqlStore) -> Policy:
    """The policy for this instance; refuses to start without a home organisation."""
    home = store.home_org()
    if home is None:
        raise ConfigError(
            "no home organisation in the store: run `mburoja init --org NAME` to create it"
        )
    return Policy(
        home.id,
        default_level=settings.policy.default_tlp,
        neutral=settings.policy.neutral_markings,
    )


def apply_peer_settings(settings: Settings, store: SqlStore) -> None:
    """Add or update the peers the settings file declares (others are left alone)."""
    for peer in settings.federation.peers:
        store.add_peer(
            peer.name,
            peer.api_root,
            relation=peer.relation,
            kind=peer.kind,
            org=peer.org,
            user=peer.user,
            secret_env=peer.secret_env,
            push=peer.push,
            pull=peer.pull,
            public_key=peer.public_key,
            must_sign=peer.must_sign,
            replace=True,
        )


def create_app(settings: Settings, store: SqlStore) -> Starlette:
    """Build the ASGI app around an open store. Refuses (``ConfigError``) to start without
    a home organisation or with an empty or default instance secret."""
    policy = build_policy(settings, store)
    store.configure_policy(settings.policy)
    apply_peer_settings(settings, store)
    key = InstanceKey(settings.data_dir)
    secret = load_secret(settings)
    taxii = TaxiiServer(
        store,
        settings,
        policy,
        CursorSigner(secret),
        vet=Vetter(store, key),
        annotate=Annotator(store, key),
    )
    federation = Federation(store, settings, key, policy) if settings.federation.enabled else None
    registry = metrics_registry(store)

    def caller(request: Request) -> Caller:
        return caller_from_authorization(
            request.headers.get("authorization"),
            store,
            anonymous_ok=settings.auth.anonymous_read,
        )

    def health(_request: Request) -> Response:
        try:
            store.check_schema()
            state = "ok"
        except MburojaError as exc:
            return _error(503, str(exc))
        return JSONResponse(
            {"status": state, "version": __version__, "store": store.url.split(":")[0]}
        )

    def stats(request: Request) -> Response:
        return JSONResponse(visible_stats(store, policy, caller(request)))

    def search(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        if not query:
            return _error(400, "missing query parameter q (the value to search for)")
        if len(query) > _MAX_QUERY:
            return _error(400, f"query longer than {_MAX_QUERY} characters")
        text = request.query_params.get("limit", "500")
        # ASCII digits only: int() would also take Arabic-Indic or fullwidth digits, and "1_0"
        limit = int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0
        if not 1 <= limit <= 10000:
            return _error(400, "limit must be an integer between 1 and 10000")
        who = caller(request)
        return JSONResponse(visible_search(store, policy, who, store.search(query, limit=limit)))

    def object_versions(request: Request) -> Response:
        object_id = request.path_params["object_id"]
        if not is_identifier(object_id):
            return _error(400, f"{object_id!r} is not a STIX identifier (type--UUID)")
        who = caller(request)
        versions = []
        for v in store.versions(object_id):
            view = policy.view(who, v.owner, v.markings, v.raw)
            if view is not None:
                versions.append((v, view))
        if not versions:
            return _error(404, f"no object {object_id}")
        parts = [b'{"id":', orjson.dumps(object_id), b',"versions":[']
        for i, (v, view) in enumerate(versions):
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
            parts.extend((meta[:-1], b',"object":', view, b"}"))
        parts.append(b"]}")
        return Response(b"".join(parts), media_type="application/json")

    def home_only(request: Request) -> Caller:
        who = caller(request)
        if who.org_id != policy.home_org:
            raise Forbidden("federation state is shown to the home organisation's accounts only")
        return who

    def federation_state(request: Request) -> Response:
        home_only(request)
        return JSONResponse({"peers": store.federation_status()})

    def metrics(request: Request) -> Response:
        home_only(request)
        return Response(render(registry), media_type=METRICS_TYPE)

    async def on_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/taxii2/") and isinstance(exc, HTTPException):
            # e.g. 405 from the router: TAXII clients get the TAXII error format
            return error_response(TaxiiError(exc.status_code, str(exc.detail)))
        if isinstance(exc, Forbidden):
            return _error(403, str(exc))
        if isinstance(exc, AccessError):
            response = _error(401, str(exc))
            response.headers["WWW-Authenticate"] = CHALLENGE
            return response
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
        Route("/api/federation", federation_state),
        Route("/metrics", metrics),
        *disinfo_sources.routes(store, policy, settings),
        *disinfo_narratives.routes(store, policy, settings),
        *disinfo_analysis.routes(store, policy, settings),
        *taxii.routes(),
        *web.routes(store, policy, settings, secret, lambda who: visible_stats(store, policy, who)),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if federation is not None:
            federation.start()
        try:
            yield
        finally:
            if federation is not None:
                federation.stop()
            taxii.poster.close()

    app = Starlette(
        routes=routes,
        exception_handlers={MburojaError: on_error, HTTPException: on_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.policy = policy
    return app


def visible_search(
    store: SqlStore, policy: Policy, caller: Caller, result: SearchResult
) -> SearchResult:
    """``result`` cut to the objects whose current version ``caller`` may see (a hit's name
    comes from the view the caller gets, so a redacted name is not shown)."""
    current = store.current_many([hit.id for hit in result.hits])
    hits = []
    for hit in result.hits:
        version = current.get(hit.id)
        if version is None:
            continue
        view = policy.view(caller, version.owner, version.markings, version.raw)
        if view is None:
            continue
        if view is not version.raw:
            name = orjson.loads(view).get("name")
            hit = msgspec.structs.replace(hit, name=name if isinstance(name, str) else None)
        hits.append(hit)
    sources = sorted({s for hit in hits for s in hit.sources})
    return msgspec.structs.replace(
        result,
        hits=tuple(hits),
        sources=tuple(sources),
        first_seen=min((h.first_seen for h in hits), default=None),
        last_seen=max((h.last_seen for h in hits), default=None),
    )


def visible_stats(store: SqlStore, policy: Policy, caller: Caller) -> Stats:
    """Counts of what ``caller`` may see. The home organisation also gets the store-wide
    figures (observables, dangling references, quarantine, ingest runs); others get zeros
    there, since those count things they may not see."""
    by_type: dict[str, int] = {}
    by_tlp: dict[str, int] = {}
    versions = 0
    for current_only in (True, False):
        for group in store.count_groups(current_only=current_only):
            level = policy.level(group.markings)
            if policy.admits(caller, group.owner, level):
                seen = group.count
            elif group.inspect and not caller.anonymous:  # objects may name recipients
                raws = store.group_raws(group, current_only=current_only)
                seen = sum(
                    1 for raw in raws if policy.visible(caller, group.owner, group.markings, raw)
                )
            else:
                seen = 0
            if not seen:
                continue
            if current_only:
                by_type[group.type] = by_type.get(group.type, 0) + seen
                key = group.tlp or "none"
                by_tlp[key] = by_tlp.get(key, 0) + seen
            else:
                versions += seen
    full = store.stats() if caller.org_id == policy.home_org else None
    return Stats(
        objects=sum(by_type.values()),
        versions=versions,
        by_type=dict(sorted(by_type.items())),
        by_tlp=dict(sorted(by_tlp.items())),
        observables=full.observables if full else 0,
        dangling_refs=full.dangling_refs if full else 0,
        quarantined=full.quarantined if full else 0,
        collections=full.collections if full else 0,
        ingests=full.ingests if full else 0,
    )
