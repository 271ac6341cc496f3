"""The MISP feed of the store as one caller sees it: pure logic, shared by CLI and HTTP.

Each current grouping, report and campaign the caller may see becomes one MISP event whose
uuid is the STIX object's UUID (stable across versions), with one attribute per observable
value of the indicators and cyber-observables it references (``object_refs``, and through an
observed-data its ``object_refs``) or is related to (a ``relationship`` naming it). Every
object is read through the policy (``Policy.view``): what the caller may not see is not in
the feed, and an event that would hold no attribute is left out, so an empty event never
hints at what was withheld.

Timestamps are the newest ``modified`` of the container and of what it holds, so a new
version of anything in an event moves the event's manifest ``timestamp`` and a subscriber
fetches it again. Tags: the TLP of each attribute's source object, and on the event the
strictest of its container and contents (``tlp:amber+strict``...). Output is byte-stable
(sorted, fixed encoding), so the CLI and the HTTP routes serve the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import msgspec
import orjson
from sqlalchemy import select

from mburoja.errors import ConfigError
from mburoja.policy import Caller, Policy
from mburoja.stix import timestamps
from mburoja.stix.markings import TLP_ORDER
from mburoja.stix.observables import extract
from mburoja.stix.refang import domain_ascii
from mburoja.store import schema
from mburoja.store.sql import SqlStore

#: the STIX types that become MISP events
CONTAINERS: Final = ("grouping", "report", "campaign")
#: observable kind -> (MISP attribute type, category); other kinds are left out and counted
ATTRIBUTE_TYPES: Final[dict[str, tuple[str, str]]] = {
    "ipv4": ("ip-dst", "Network activity"),
    "ipv6": ("ip-dst", "Network activity"),
    "ipv4-net": ("ip-dst", "Network activity"),
    "ipv6-net": ("ip-dst", "Network activity"),
    "domain": ("domain", "Network activity"),
    "url": ("url", "Network activity"),
    "asn": ("AS", "Network activity"),
    "mac": ("mac-address", "Network activity"),
    "email": ("email-src", "Payload delivery"),
    "file-name": ("filename", "Payload delivery"),
    "mutex": ("mutex", "Artifacts dropped"),
    "windows-registry-key": ("regkey", "Persistence mechanism"),
    **{
        h: (h, "Payload delivery")
        for h in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "ssdeep", "tlsh")
    },
}
_SCO_TYPES: Final = frozenset(
    {"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file", "mac-addr"}
    | {"autonomous-system", "mutex", "windows-registry-key", "x509-certificate", "artifact"}
)
#: MISP's analysis codes: 0 initial, 1 ongoing, 2 completed (a published report)
_ANALYSIS: Final = {"report": "2", "grouping": "1", "campaign": "1"}
_THREAT_LEVEL_UNDEFINED: Final = "4"
_CHUNK: Final = 500
_NAMESPACE: Final = uuid.UUID("6c0fb6f4-1e4f-5d43-9a55-3c4a2a1f7e10")


class Feed(msgspec.Struct, kw_only=True):
    """A whole feed: event uuid -> ``{"Event": ...}`` bytes, the manifest and the hashes."""

    events: dict[str, bytes]
    manifest: dict[str, dict[str, Any]]
    hashes: list[tuple[str, str]]
    #: observables left out because MISP has no attribute type here for their kind
    skipped: dict[str, int]

    def manifest_bytes(self) -> bytes:
        return orjson.dumps(self.manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)

    def hashes_bytes(self) -> bytes:
        return "".join(f"{digest},{event}\n" for digest, event in self.hashes).encode()


class _Seen(msgspec.Struct):
    """One visible object: its parsed view and the TLP level the policy gives it."""

    obj: dict[str, Any]
    level: str


def _encode(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def _epoch(stamp: Any) -> int:
    if isinstance(stamp, str) and timestamps.is_timestamp(stamp):
        return int(timestamps.parse(stamp).timestamp())
    return 0


def _stricter(a: str, b: str) -> str:
    return a if TLP_ORDER.index(a) >= TLP_ORDER.index(b) else b


def _uuid_of(stix_id: str) -> str:
    return stix_id.partition("--")[2].lower()


def _visible(
    store: SqlStore, policy: Policy, caller: Caller, ids: Iterable[str]
) -> dict[str, _Seen]:
    """The current objects among ``ids`` that ``caller`` may see, as the policy lets it."""
    wanted = list(dict.fromkeys(ids))
    out: dict[str, _Seen] = {}
    for start in range(0, len(wanted), _CHUNK):
        for oid, version in store.current_many(wanted[start : start + _CHUNK]).items():
            if version.revoked:
                continue
            view = policy.view(caller, version.owner, version.markings, version.raw)
            if view is not None:
                out[oid] = _Seen(orjson.loads(view), policy.level(version.markings))
    return out


def _related(store: SqlStore, policy: Policy, caller: Caller, container: str) -> list[str]:
    """The other ends of the visible relationships that name ``container``."""
    ends: list[str] = []
    after = 0
    while True:
        rows, nxt = store.referrers([container], after=after)
        for row in rows:
            if row.type != "relationship":
                continue
            if policy.view(caller, row.owner, row.markings, row.raw) is None:
                continue
            rel = orjson.loads(row.raw)
            for end in (rel.get("source_ref"), rel.get("target_ref")):
                if isinstance(end, str) and end != container:
                    ends.append(end)
        if nxt is None:
            return ends
        after = nxt


def _refs(obj: dict[str, Any]) -> list[str]:
    refs = obj.get("object_refs")
    return [r for r in refs if isinstance(r, str)] if isinstance(refs, list) else []


def _contents(
    store: SqlStore, policy: Policy, caller: Caller, container: dict[str, Any]
) -> dict[str, _Seen]:
    """The visible indicators, SCOs and observed-data the container holds or relates to."""
    ids = _refs(container) + _related(store, policy, caller, container["id"])
    found = _visible(store, policy, caller, ids)
    inner = [r for seen in found.values() if seen.obj.get("type") == "observed-data"
             for r in _refs(seen.obj)]  # fmt: skip
    if inner:
        found.update(_visible(store, policy, caller, inner))
    return {
        oid: seen
        for oid, seen in found.items()
        if seen.obj.get("type") in ("indicator", "observed-data")
        or seen.obj.get("type") in _SCO_TYPES
    }


def _attributes(
    event_uuid: str, contents: dict[str, _Seen], skipped: dict[str, int]
) -> list[dict[str, Any]]:
    """One attribute per (MISP type, value); ``to_ids`` when an indicator gives the value."""
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for oid in sorted(contents):
        seen = contents[oid]
        is_indicator = seen.obj.get("type") == "indicator"
        stamp = _epoch(seen.obj.get("modified") or seen.obj.get("created"))
        for observable in extract(seen.obj):
            kind, value = observable.kind, observable.value
            ascii_form = domain_ascii(value) if kind == "domain" else None
            if ascii_form is not None and ascii_form != value:
                continue  # the Unicode spelling of a name whose ASCII form is listed
            mapped = ATTRIBUTE_TYPES.get(kind)
            if mapped is None:
                skipped[kind] = skipped.get(kind, 0) + 1
                continue
            misp_type, category = mapped
            key = (misp_type, value)
            attr = chosen.get(key)
            if attr is None:
                attr = chosen[key] = {
                    "uuid": str(uuid.uuid5(_NAMESPACE, f"{event_uuid}|{misp_type}|{value}")),
                    "type": misp_type,
                    "category": category,
                    "value": value,
                    "to_ids": False,
                    "timestamp": "0",
                    "comment": oid,
                    "level": seen.level,
                    "distribution": "5",
                    "disable_correlation": False,
                    "deleted": False,
                    "object_relation": None,
                }
            attr["to_ids"] = attr["to_ids"] or is_indicator
            attr["timestamp"] = str(max(int(attr["timestamp"]), stamp))
            attr["level"] = _stricter(attr["level"], seen.level)
    out = []
    for key in sorted(chosen):
        attr = chosen[key]
        attr["Tag"] = [{"name": f"tlp:{attr.pop('level')}"}]
        out.append(attr)
    return out


def _orgc(
    store: SqlStore, policy: Policy, caller: Caller, container: dict[str, Any]
) -> dict[str, str]:
    """The creator of the container as MISP's ``Orgc``: its identity if the caller may see
    it, else the home organisation (the feed's publisher)."""
    creator = container.get("created_by_ref")
    if isinstance(creator, str):
        seen = _visible(store, policy, caller, [creator]).get(creator)
        if seen is not None and isinstance(seen.obj.get("name"), str):
            return {"name": seen.obj["name"], "uuid": _uuid_of(creator)}
    home = store.home_org()
    if home is None:
        raise ConfigError("there is no home organisation: run `mburoja init --org NAME`")
    return {"name": home.name, "uuid": _uuid_of(home.identity_id)}


def _event(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    container: _Seen,
    skipped: dict[str, int],
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the ``{"Event": ...}`` document, its manifest entry), or None for an empty event."""
    obj = container.obj
    event_uuid = _uuid_of(obj["id"])
    contents = _contents(store, policy, caller, obj)
    attributes = _attributes(event_uuid, contents, skipped)
    if not attributes:
        return None
    level = container.level
    stamp = _epoch(obj.get("modified") or obj.get("created"))
    for seen in contents.values():
        level = _stricter(level, seen.level)
        stamp = max(stamp, _epoch(seen.obj.get("modified") or seen.obj.get("created")))
    created = obj.get("published") or obj.get("first_seen") or obj.get("created") or ""
    tags = [{"name": f"tlp:{level}"}]
    tags += [{"name": label} for label in obj.get("labels") or () if isinstance(label, str)]
    head: dict[str, Any] = {
        "uuid": event_uuid,
        "info": str(obj.get("name") or obj["id"]),
        "date": str(created)[:10],
        "timestamp": str(stamp),
        "analysis": _ANALYSIS[obj["type"]],
        "threat_level_id": _THREAT_LEVEL_UNDEFINED,
        "Orgc": _orgc(store, policy, caller, obj),
        "Tag": tags,
    }
    published = obj["type"] == "report"
    event = {
        **head,
        "published": published,
        "publish_timestamp": str(_epoch(obj.get("published")) if published else 0),
        "distribution": "0",
        "Attribute": attributes,
        "Object": [],
        "Galaxy": [],
    }
    return {"Event": event}, head


def _container_rows(store: SqlStore) -> Iterator[tuple[str, str | None, tuple[str, ...], bytes]]:
    """(id, owner, markings, raw) of every current, unrevoked grouping, report and campaign,
    a page at a time."""
    o = schema.objects
    after = 0
    while True:
        query = (
            select(o.c.seq, o.c.id, o.c.owner, o.c.markings, o.c.raw)
            .where(o.c.type.in_(CONTAINERS), o.c.is_current.is_(True), o.c.revoked.is_(False))
            .where(o.c.seq > after)
            .order_by(o.c.seq)
            .limit(_CHUNK)
        )
        with store.engine.connect() as conn:
            rows = conn.execute(query).all()
        for seq, oid, owner, markings, raw in rows:
            after = seq
            yield oid, owner, tuple(markings.split()) if markings else (), bytes(raw)
        if len(rows) < _CHUNK:
            return


def build_feed(store: SqlStore, caller: Caller) -> Feed:
    """The feed ``caller`` may subscribe to: every non-empty event it may see."""
    policy = store.policy()
    feed = Feed(events={}, manifest={}, hashes=[], skipped={})
    for _oid, owner, markings, raw in _container_rows(store):
        view = policy.view(caller, owner, markings, raw)
        if view is None:
            continue
        built = _event(store, policy, caller, _Seen(orjson.loads(view), policy.level(markings)),
                       feed.skipped)  # fmt: skip
        if built is None:
            continue
        doc, head = built
        event_uuid = head.pop("uuid")
        feed.events[event_uuid] = _encode(doc)
        feed.manifest[event_uuid] = head
        for attr in doc["Event"]["Attribute"]:
            digest = hashlib.md5(attr["value"].encode(), usedforsecurity=False).hexdigest()
            feed.hashes.append((digest, event_uuid))
    feed.hashes.sort()
    return feed


def build_event(store: SqlStore, caller: Caller, event_uuid: str) -> bytes | None:
    """One event's ``{"Event": ...}`` bytes as ``caller`` may see it (the same bytes
    ``build_feed`` gives), or None: no such container, not visible, or empty."""
    key = event_uuid.lower()
    try:
        uuid.UUID(key)
    except ValueError:
        return None
    policy = store.policy()
    ids = [f"{kind}--{key}" for kind in CONTAINERS]
    for seen in _visible(store, policy, caller, ids).values():
        if seen.obj.get("type") not in CONTAINERS:
            continue
        built = _event(store, policy, caller, seen, {})
        if built is not None:
            return _encode(built[0])
    return None


def write_feed(feed: Feed, directory: Path) -> None:
    """Write the feed into ``directory`` (which must exist): the events first, then
    ``hashes.csv`` and last ``manifest.json``, each written beside its name and moved into
    place, so a subscriber reading the manifest finds every event it names. Event files a
    previous run wrote that the feed no longer holds are removed."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: give an existing directory for the MISP feed")
    for event_uuid, data in feed.events.items():
        _replace(directory / f"{event_uuid}.json", data)
    _replace(directory / "hashes.csv", feed.hashes_bytes())
    _replace(directory / "manifest.json", feed.manifest_bytes())
    for stale in directory.glob("*.json"):
        if stale.name != "manifest.json" and stale.stem not in feed.events:
            try:
                uuid.UUID(stale.stem)
            except ValueError:
                continue  # not ours
            stale.unlink()


def _replace(target: Path, data: bytes) -> None:
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
