"""Pulling a peer's collections: catch-up after an outage, and any plain TAXII server.

Each page is vetted like a push (signatures, when the peer must sign), committed, and only
then is the peer's cursor saved, in the store: a crash between the two re-pulls a page, whose
objects come back as unchanged (dedupe by id and version), and never skips one. Objects go
to the local collection ``from-<peer name>``, owned by the peer's organisation.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mburoja.config import Settings
from mburoja.federation.push import peer_client
from mburoja.federation.relay import Vetter
from mburoja.stix.model import RawObject, Reject
from mburoja.store.peers import Peer
from mburoja.store.sql import SqlStore
from mburoja.taxii.client import Cursor, PullSummary, TaxiiClient, pull

_cursor = msgspec.json.Decoder(Cursor)


class PeerCursors:
    """Pull cursors of one peer, kept in the store (``CursorStore``)."""

    def __init__(self, store: SqlStore, peer_id: str) -> None:
        self.store = store
        self.peer_id = peer_id

    def get(self, key: str) -> Cursor:
        found = self.store.peer_cursor(self.peer_id, key)
        return _cursor.decode(found) if found else Cursor()

    def save(self, key: str, cursor: Cursor) -> None:
        self.store.save_peer_cursor(self.peer_id, key, msgspec.json.encode(cursor))


def inbox_alias(peer: Peer) -> str:
    """The local collection pulled objects go to."""
    return f"from-{peer.name}"


class Puller:
    """Pulls one peer's collections. Not thread-safe: one per peer, in one worker."""

    def __init__(
        self,
        store: SqlStore,
        settings: Settings,
        peer: Peer,
        vetter: Vetter,
        client: TaxiiClient | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.peer = peer
        self.vetter = vetter
        self.client = client or peer_client(settings, peer)

    def close(self) -> None:
        self.client.close()

    def run_once(self) -> list[PullSummary]:
        """Pull every collection of the peer up to now."""
        return [self.pull(collection) for collection in self.peer.pull]

    def pull(self, collection: str) -> PullSummary:
        summary = pull(
            self.client,
            self.store,
            self.settings,
            self.peer.api_root,
            collection,
            into=inbox_alias(self.peer),
            cursors=PeerCursors(self.store, self.peer.id),
            actor=f"peer:{self.peer.name}",
            owner=self.peer.org_id,
            vet=self._vet,
        )
        self.store.peer_count(
            self.peer.id,
            received=summary.new + summary.new_versions + summary.unchanged,
            rejected=summary.rejected,
        )
        return summary

    def _vet(
        self, objects: list[bytes], envelope: bytes, origin: str
    ) -> tuple[list[RawObject | Reject], dict[str, Any] | None]:
        vetted = self.vetter.vet(self.peer, objects, envelope, origin)
        return vetted.items, vetted.relay
