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
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mburoja import __version__
from mburoja.api import (
    admin_api,
    detection_api,
    disinfo_analysis,
    disinfo_narratives,
    disinfo_share,
    disinfo_sources,
    graph_api,
    objects_api,
    openapi,
)
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
from mburoja.feeds.metrics import FeedCollector
from mburoja.feeds.scheduler import Scheduler, default_holder
from mburoja.logs import AccessLog
from mburoja.mispfeed import http as misp_feed_http
from mburoja.policy import Caller, Policy
from mburoja.store.base import Stats
from mburoja.store.sql import SqlStore
from mburoja.store.textindex import TextIndexer
from mburoja.taxii.auth import CHALLENGE, caller_from_authorization
from mburoja.taxii.cursor import CursorSigner
from mburoja.taxii.server import TaxiiError, TaxiiServer, error_response
from mburoja.web import routes as web

_encoder = msgspec.json.Encoder()


log = logging.getLogger(__name__)


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
    registry.register(FeedCollector(store, settings))

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

    def home_only(request: Request) -> Caller:
        who = caller(request)
        if who.org_id != policy.home_org:
            raise Forbidden("federation state is shown to the home organisation's accounts only")
        return who

    def federation_state(request: Request) -> Response:
        home_only(request)
        return JSONResponse({"peers": store.federation_status()})

    spec = orjson.dumps(openapi.document())

    def openapi_json(_request: Request) -> Response:
        return Response(spec, media_type="application/json")

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
        *objects_api.routes(store, policy, settings),
        Route("/api/federation", federation_state),
        Route("/api/openapi.json", openapi_json),
        Route("/metrics", metrics),
        *disinfo_sources.routes(store, policy, settings),
        *disinfo_narratives.routes(store, policy, settings),
        *disinfo_analysis.routes(store, policy, settings),
        *disinfo_share.routes(store, policy, settings),
        *admin_api.routes(store, policy, settings),
        *graph_api.routes(store, policy, settings),
        *detection_api.routes(store, policy, settings),
        *misp_feed_http.routes(store, policy, settings),
        *taxii.routes(),
        *web.routes(store, policy, settings, secret, lambda who: visible_stats(store, policy, who)),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        indexer = TextIndexer(store)  # keeps the search's text index current
        indexer.start()
        threading.Thread(target=_warm, args=(store,), name="mburoja-warm", daemon=True).start()
        if federation is not None:
            federation.start()
        # feeds run here unless production runs them in `mburoja worker` processes instead
        feeds = Scheduler(store, settings, holder=default_holder("serve"))
        if settings.feeds.schedule_in_serve:
            feeds.start()
        try:
            yield
        finally:
            feeds.stop()
            if federation is not None:
                federation.stop()
            indexer.stop()
            taxii.poster.close()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(AccessLog)],
        exception_handlers={MburojaError: on_error, HTTPException: on_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.policy = policy
    return app


def _warm(store: SqlStore) -> None:
    """The dashboard's memoised counts, filled once in the background at start."""
    try:
        store.warm()
    except MburojaError as exc:  # the store may be busy or away: the first page fills it
        log.warning("could not warm the dashboard's counts: %s", exc)


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
    full = store.memo_stats() if caller.org_id == policy.home_org else None
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
