"""What travels beside the objects between instances, and how a receiver checks it.

An envelope a Mburoja pushes carries two extra properties a plain TAXII server ignores:

- ``x_mburoja_signatures``: the detached signature of each object (``signing``), the
  origin's own when the object is relayed unchanged;
- ``x_mburoja_provenance``: for each object, its ``origin`` (key id of the instance that
  first committed it) and ``path``, every instance it passed through with the time each
  received it, origin first.

On receipt from a peer (a ``sync`` account whose organisation stands for a configured peer),
``Vetter`` checks each object's signature against the keys of every configured peer. A
peer that must sign gets each unsigned or badly signed object rejected: quarantined,
counted, and named in the status resource. What passes goes into the store with its
provenance, this instance appended to the path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mburoja.federation.signing import (
    SIGNATURES_PROPERTY,
    CanonicalError,
    InstanceKey,
    ObjectSignature,
    SignatureIndex,
    key_id,
    object_version,
    parse_public_key,
    sign,
    signatures_in,
    verify,
)
from mburoja.policy import Caller
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject, Reject
from mburoja.store.outbox import Hop, Relay, relay_key
from mburoja.store.peers import Peer, instance_of
from mburoja.store.sql import SqlStore
from mburoja.store.taxii import TaxiiRow
from mburoja.taxii.posting import Vetted

log = logging.getLogger(__name__)

PROVENANCE_PROPERTY = "x_mburoja_provenance"
_KEYRING_TTL_S = 2.0


class Trail(msgspec.Struct, frozen=True):
    """The provenance of one object in an envelope."""

    object_id: str
    version: str
    origin: str
    path: tuple[Hop, ...]


class _Carrier(msgspec.Struct):
    x_mburoja_provenance: list[msgspec.Raw] = msgspec.field(default_factory=list)


_carrier = msgspec.json.Decoder(_Carrier)
_trail = msgspec.json.Decoder(Trail)
_signature = msgspec.json.Decoder(ObjectSignature)


def trails_in(envelope: bytes) -> dict[tuple[str, str], Trail]:
    """The provenance an envelope carries, by (object id, version); malformed entries and
    a malformed property are ignored (the signature, not the claimed path, is what proves
    the origin)."""
    try:
        carrier = _carrier.decode(envelope)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return {}
    found: dict[tuple[str, str], Trail] = {}
    for entry in carrier.x_mburoja_provenance:
        try:
            trail = _trail.decode(entry)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        found[(trail.object_id, trail.version)] = trail
    return found


def encode_trails(trails: Sequence[Trail]) -> bytes:
    return msgspec.json.encode(trails)


def stored_signature(relay: Relay | None) -> ObjectSignature | None:
    """The origin's signature kept with a relayed version, if any."""
    if relay is None or not relay.signature:
        return None
    try:
        return _signature.decode(relay.signature)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def outgoing(
    key: Ed25519PrivateKey,
    object_id: str,
    version: str,
    date_added: str,
    raw: bytes,
    view: bytes,
    relay: Relay | None,
) -> tuple[ObjectSignature | None, Trail]:
    """The signature and provenance to send beside ``view``, the caller's view of a stored
    version (``raw``): the origin's own signature and path when the version is relayed
    unchanged; otherwise this instance signs and is the origin (its own objects, and
    copies it redacted). None for the signature when the object has no canonical form."""
    instance = key_id(key.public_key())
    signature = stored_signature(relay) if view is raw else None
    if signature is None:
        try:
            signature = sign(key, orjson.loads(view))
        except CanonicalError as exc:
            log.warning("%s is sent unsigned: %s", object_id, exc)
    if relay is not None and signature is not None and signature.origin == relay.origin:
        return signature, Trail(object_id, version, relay.origin, relay.path)
    return signature, Trail(object_id, version, instance, (Hop(instance, date_added),))


class Annotator:
    """Signatures and provenance for a page a peer pulls (the TAXII server's hook)."""

    def __init__(self, store: SqlStore, key: InstanceKey) -> None:
        self.store = store
        self.key = key

    def __call__(self, visible: list[tuple[TaxiiRow, bytes]]) -> dict[str, bytes]:
        relays = self.store.provenance_many([row.seq for row, _view in visible])
        signatures: list[ObjectSignature] = []
        trails: list[Trail] = []
        for row, view in visible:
            signature, trail = outgoing(
                self.key.private,
                row.id,
                row.version,
                row.date_added,
                row.raw,
                view,
                relays.get(row.seq),
            )
            if signature is not None:
                signatures.append(signature)
            trails.append(trail)
        return {
            SIGNATURES_PROPERTY: msgspec.json.encode(signatures),
            PROVENANCE_PROPERTY: encode_trails(trails),
        }


class Keyring:
    """The public keys of every configured peer, by key id; re-read every two seconds so a
    peer added or removed takes effect without a restart."""

    def __init__(self, store: SqlStore, own: InstanceKey | None = None) -> None:
        self.store = store
        self.own = own
        self._lock = threading.Lock()
        self._loaded = 0.0
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._by_org: dict[str, Peer] = {}

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._loaded < _KEYRING_TTL_S:
                return
            keys: dict[str, Ed25519PublicKey] = {}
            if self.own is not None:  # our own objects, coming back round
                public = self.own.private.public_key()
                keys[key_id(public)] = public
            by_org: dict[str, Peer] = {}
            for peer in self.store.peers():
                by_org[peer.org_id] = peer
                if peer.public_key:
                    keys[instance_of(peer.public_key, peer.name)] = parse_public_key(
                        peer.public_key
                    )
            self._keys, self._by_org = keys, by_org
            self._loaded = time.monotonic()

    def key(self, key_id: str) -> Ed25519PublicKey | None:
        self._refresh()
        return self._keys.get(key_id)

    def peer_for(self, org_id: str | None) -> Peer | None:
        if org_id is None:
            return None
        self._refresh()
        return self._by_org.get(org_id)


class Vetter:
    """Checks what a peer pushes (the ``Poster``'s vetting hook)."""

    def __init__(self, store: SqlStore, key: InstanceKey) -> None:
        self.store = store
        self.key = key
        self.keys = Keyring(store, key)

    @property
    def instance(self) -> str:
        """This instance's name in provenance paths: its key id."""
        return key_id(self.key.private.public_key())

    def __call__(
        self, caller: Caller, objects: list[bytes], envelope: bytes, origin: str
    ) -> Vetted | None:
        """None when the caller is not a peer (an ordinary client's POST)."""
        peer = self.keys.peer_for(caller.org_id) if caller.role == "sync" else None
        if peer is None:
            return None
        return self.vet(peer, objects, envelope, origin)

    def vet(self, peer: Peer, objects: list[bytes], envelope: bytes, origin: str) -> Vetted:
        try:
            signatures = signatures_in(envelope)
        except Exception:
            signatures = SignatureIndex(by_object={})
        trails = trails_in(envelope)
        received = timestamps.now()
        me = self.instance
        items: list[RawObject | Reject] = []
        relay: dict[str, Any] = {}
        for index, raw in enumerate(objects):
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                items.append(RawObject(raw, origin, index))  # the validator says what is wrong
                continue
            version = object_version(obj)
            key = (obj["id"], version)
            proven, problem = self._proven(obj, signatures.by_object.get(key, ()))
            if proven is None and peer.must_sign:
                items.append(
                    Reject(
                        origin=origin,
                        index=index,
                        object_id=obj["id"],
                        field="x_mburoja_signatures",
                        reason=(
                            f"{problem}; peer {peer.name!r} must sign what it sends (check the "
                            "key configured for it, `mburoja peer show`)"
                        ),
                        raw=raw,
                    )
                )
                continue
            trail = trails.get(key)
            first = proven.origin if proven is not None else instance_of(None, peer.name)
            if peer.public_key and proven is None:
                first = instance_of(peer.public_key, peer.name)
            path: tuple[Hop, ...] = (
                trail.path if trail is not None and trail.path and trail.origin == first else ()
            )
            if not path:
                path = (Hop(first, received),)
            relay[relay_key(obj["id"], version)] = Relay(
                origin=first,
                path=(*path, Hop(me, received)),
                signature=msgspec.json.encode(proven).decode() if proven is not None else None,
            )
            items.append(RawObject(raw, origin, index))
        return Vetted(items=items, relay=relay, peer_id=peer.id)

    def _proven(
        self, obj: dict[str, Any], candidates: Sequence[ObjectSignature]
    ) -> tuple[ObjectSignature | None, str]:
        """The first candidate signature that verifies with a known key, or why none does."""
        if not candidates:
            return None, "unsigned"
        problem = "the signature does not verify"
        for sig in candidates:
            public = self.keys.key(sig.origin)
            if public is None:
                problem = f"signed by {sig.origin}, a key no configured peer has"
                continue
            if verify(public, obj, sig):
                return sig, ""
        return None, problem
