"""The object page (``/objects/<id>``) and what ``GET /api/objects/{id}/view`` answers: one
object as the caller may see it, every version it may see with what changed between them,
where each version came from and whether its signature verified, the objects that refer to
it and that it refers to, its sightings, which sensor exports would carry it, and, for an
indicator a decay model takes, its decay score (:mod:`mburoja.lifecycle.scores`).

Everything is read through the policy as the caller. An id the caller may not see gets the
same answer as an id that does not exist, so that existence does not leak.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mburoja.detect.compile import Compiled, compile_indicator
from mburoja.detect.exports import flat, nft, rpz, suricata, zeek
from mburoja.detect.exports.selection import Render, render_keys
from mburoja.errors import MburojaError, NotFound
from mburoja.lifecycle.decay import DecayModels, from_settings
from mburoja.lifecycle.scores import Explained, indicator_decay, sightings_of
from mburoja.policy import Caller, Policy
from mburoja.stix.identifiers import is_identifier
from mburoja.store.browse import RefRow
from mburoja.store.outbox import Relay
from mburoja.store.peers import instance_of
from mburoja.store.sql import SqlStore
from mburoja.web.charts import tlp_css
from mburoja.web.context import Signed, WebContext

MAX_LINKS = 200  # references in and out shown
_SHOWN = 2000  # characters of one value in a diff cell
#: what each sensor export takes, by key kind (``mburoja export`` formats); stix: everything
_FORMATS: tuple[tuple[str, dict[str, Render]], ...] = (
    ("zeek", zeek.TAKES),
    ("suricata", suricata.TAKES),
    ("rpz", rpz._render(rpz.ORIGIN)),
    ("nft", nft.TAKES),
    ("csv", flat.ALL_KINDS),
)


class BadIdentifier(MburojaError):
    """A path that is no STIX identifier (400, not 404)."""


class Property(msgspec.Struct, frozen=True):
    name: str
    value: str  # a string as it is, anything else as indented JSON
    nested: bool


class Change(msgspec.Struct, frozen=True):
    property: str
    change: str  # added, removed or changed
    before: str | None
    after: str | None


class Hop(msgspec.Struct, frozen=True):
    instance: str
    received: str


class Signature(msgspec.Struct, frozen=True, kw_only=True):
    status: str  # verified, unsigned or local
    origin: str | None
    peer: str | None
    path: tuple[Hop, ...]
    note: str


class Version(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    date_added: str
    current: bool
    revoked: bool
    tlp: str | None
    source: str
    ingest_id: int
    signature: Signature
    changes: tuple[Change, ...]  # against the previous version shown; () for the first

    @property
    def tlp_css(self) -> str:
        return tlp_css(self.tlp)


class Receipt(msgspec.Struct, frozen=True):
    source: str
    ingest_id: int
    received_at: str


class Link(msgspec.Struct, frozen=True, kw_only=True):
    direction: str  # in (it refers to this object) or out (this object refers to it)
    property: str
    id: str
    type: str
    name: str | None
    relationship_type: str | None


class Sighting(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    count: int | None
    first_seen: str | None
    last_seen: str | None


class ExportFormat(msgspec.Struct, frozen=True):
    format: str
    carried: bool
    reason: str  # the key kinds written, or why not


class Exports(msgspec.Struct, frozen=True, kw_only=True):
    compiled: bool
    reason: str | None
    formats: tuple[ExportFormat, ...]


class ObjectView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    name: str | None
    tlp: str | None
    revoked: bool
    object: dict[str, Any]  # the current version as the caller may see it
    properties: tuple[Property, ...]
    versions: tuple[Version, ...]
    receipts: tuple[Receipt, ...]
    links: tuple[Link, ...]
    sightings: tuple[Sighting, ...]
    exports: Exports | None
    #: the decay score now (indicators a decay model takes only)
    decay: Explained | None
    graph: str

    @property
    def tlp_css(self) -> str:
        return tlp_css(self.tlp)


def check_identifier(object_id: str) -> None:
    if not is_identifier(object_id):
        raise BadIdentifier(f"{object_id[:100]!r} is not a STIX identifier (type--UUID)")


def object_view(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    object_id: str,
    *,
    decay: DecayModels | None = None,
    now: float | None = None,
) -> ObjectView:
    """What ``caller`` may see of ``object_id``; ``NotFound`` when nothing (or no object).
    ``decay``: the decay models in force (None: none shown); ``now``: the time the score is
    given for (None: now)."""
    check_identifier(object_id)
    shown: list[tuple[Any, dict[str, Any]]] = []
    for v in store.versions(object_id):
        view = policy.view(caller, v.owner, v.markings, v.raw)
        if view is not None:
            shown.append((v, orjson.loads(view)))
    if not shown:
        raise NotFound(f"no object {object_id} that you may see")
    current = next((p for p in shown if p[0].is_current), shown[-1])
    home = caller.org_id == policy.home_org
    relays = store.provenance_many([v.seq for v, _ in shown])
    peers = {instance_of(p.public_key, p.name): p.name for p in store.peers()} if home else {}
    versions: list[Version] = []
    before: dict[str, Any] | None = None
    for v, body in shown:
        versions.append(
            Version(
                version=v.version,
                date_added=v.date_added,
                current=v.is_current,
                revoked=v.revoked,
                tlp=v.tlp,
                source=v.source,
                ingest_id=v.ingest_id,
                signature=_signature(relays.get(v.seq), peers),
                changes=diff(before, body) if before is not None else (),
            )
        )
        before = body
    body = current[1]
    name = body.get("name")
    return ObjectView(
        id=object_id,
        type=current[0].type,
        name=name if isinstance(name, str) else None,
        tlp=current[0].tlp,
        revoked=current[0].revoked,
        object=body,
        properties=tuple(Property(k, *_render(v)) for k, v in body.items()),
        versions=tuple(versions),
        receipts=tuple(
            Receipt(r.source, r.ingest_id, r.received_at) for r in store.receipts(object_id)
        ),
        links=tuple(_links(store, policy, caller, object_id, current[0].seq)),
        sightings=tuple(_sightings(store, policy, caller, object_id)),
        exports=exports(body, current[0].owner) if current[0].type == "indicator" else None,
        decay=_decay(store, policy, caller, current[0], body, decay, now),
        graph=f"/graph/{object_id}",
    )


def _decay(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    version: Any,
    body: dict[str, Any],
    models: DecayModels | None,
    now: float | None,
) -> Explained | None:
    """The current version's decay, counting the sightings ``caller`` may see."""
    if models is None or not models or version.type != "indicator" or not version.is_current:
        return None
    now = time.time() if now is None else now
    sighted = sightings_of(store, [version.id], policy, caller, now).get(version.id)
    listed = store.listed_times([version.id]).get(version.id)
    return indicator_decay(models, body, version.source, version.owner, sighted, now, listed)


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[Change, ...]:
    """The top-level properties added, removed or changed from ``before`` to ``after``."""
    changes: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            changes.append(Change(key, "added", None, _cell(after[key])))
        elif key not in after:
            changes.append(Change(key, "removed", _cell(before[key]), None))
        elif before[key] != after[key]:
            changes.append(Change(key, "changed", _cell(before[key]), _cell(after[key])))
    return tuple(changes)


def exports(body: dict[str, Any], owner: str | None) -> Exports:
    """Which ``mburoja export`` formats would carry this indicator (while it is active),
    computed with the exporters' own compiler and key renderers."""
    compiled = compile_indicator(body, owner)
    if not isinstance(compiled, Compiled):
        return Exports(
            compiled=False,
            reason=compiled.reason,
            formats=(
                ExportFormat("stix", True, "carried as stored (the bundle holds every indicator)"),
            ),
        )
    formats = [_format(name, takes, compiled) for name, takes in _FORMATS]
    formats.append(ExportFormat("stix", True, "carried as stored"))
    return Exports(compiled=True, reason=None, formats=tuple(formats))


def _format(name: str, takes: dict[str, Render], compiled: Compiled) -> ExportFormat:
    if not compiled.simple:
        return ExportFormat(name, False, "the pattern is not a plain OR of values")
    rendered, refusals = render_keys(compiled, takes, name)
    kinds = {kind for kind, _ in rendered}
    if kinds:
        return ExportFormat(name, True, ", ".join(sorted(kinds)))
    return ExportFormat(name, False, "; ".join(sorted(set(refusals))) or "no key")


def _signature(relay: Relay | None, peers: dict[str, str]) -> Signature:
    if relay is None:
        return Signature(
            status="local",
            origin=None,
            peer=None,
            path=(),
            note="stored here first; this instance signs it when it shares it",
        )
    path = tuple(Hop(h.instance, h.received) for h in relay.path)
    if relay.signature:
        return Signature(
            status="verified",
            origin=relay.origin,
            peer=peers.get(relay.origin),
            path=path,
            note="the origin's signature verified with a configured peer key on receipt",
        )
    return Signature(
        status="unsigned",
        origin=relay.origin,
        peer=peers.get(relay.origin),
        path=path,
        note="a peer sent it without a signature that verified",
    )


def _links(store: SqlStore, policy: Policy, caller: Caller, object_id: str, seq: int) -> list[Link]:
    """References in and out whose other end ``caller`` may see."""
    rows: list[tuple[str, RefRow]] = [("in", r) for r in store.refs_to(object_id, MAX_LINKS)]
    rows += [("out", r) for r in store.refs_from(seq, MAX_LINKS)]
    others = {r.source if d == "in" else r.target for d, r in rows}
    current = store.current_many(list(others))
    views: dict[str, dict[str, Any]] = {}
    for oid, version in current.items():
        view = policy.view(caller, version.owner, version.markings, version.raw)
        if view is not None:
            views[oid] = orjson.loads(view)
    links: list[Link] = []
    for direction, row in rows:
        other = row.source if direction == "in" else row.target
        body = views.get(other)
        if body is None or (direction == "in" and row.prop == "sighting_of_ref"):
            continue
        name = body.get("name")
        kind = body.get("relationship_type")
        links.append(
            Link(
                direction=direction,
                property=row.prop,
                id=other,
                type=current[other].type,
                name=name if isinstance(name, str) else None,
                relationship_type=kind if isinstance(kind, str) else None,
            )
        )
    return links


def _sightings(store: SqlStore, policy: Policy, caller: Caller, object_id: str) -> list[Sighting]:
    ids = [r.source for r in store.refs_to(object_id, MAX_LINKS) if r.prop == "sighting_of_ref"]
    found: list[Sighting] = []
    for oid, version in store.current_many(ids).items():
        view = policy.view(caller, version.owner, version.markings, version.raw)
        if view is None:
            continue
        body = orjson.loads(view)
        count = body.get("count")
        found.append(
            Sighting(
                id=oid,
                count=count if type(count) is int else None,
                first_seen=_str(body.get("first_seen")),
                last_seen=_str(body.get("last_seen")),
            )
        )
    return sorted(found, key=lambda s: (s.last_seen or "", s.id), reverse=True)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _render(value: Any) -> tuple[str, bool]:
    if isinstance(value, str):
        return value, False
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode(), True
    return orjson.dumps(value).decode(), False


def _cell(value: Any) -> str:
    out = value if isinstance(value, str) else orjson.dumps(value).decode()
    return out if len(out) <= _SHOWN else out[: _SHOWN - 1] + "…"


# -- the page --------------------------------------------------------------------------------


def routes(web: WebContext) -> list[BaseRoute]:
    models = from_settings(web.settings.decay)

    def page(request: Request, signed: Signed) -> Response:
        object_id = request.path_params["object_id"]
        try:
            view = object_view(web.store, web.policy, signed.caller, object_id, decay=models)
        except BadIdentifier as exc:
            return web.error(400, "Not an object id", str(exc), signed)
        except NotFound:
            return web.error(404, "Not found", f"No object {object_id} that you may see.", signed)
        return web.show(signed, "object.html", o=view)

    return [web.get("/objects/{object_id}", page)]
