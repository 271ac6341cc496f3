"""The store's contract: the ``Store`` protocol and the typed values it takes and returns.

Two implementations satisfy it with one shared test-suite: SQLite (embedded, the default)
and PostgreSQL (production). Both live in ``mburoja.store.sql`` because SQLAlchemy Core
lets one class speak both dialects; only a handful of statements differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from mburoja.stix.model import Observable, PreparedObject, Reject


class Provenance(msgspec.Struct, frozen=True, kw_only=True):
    """Who sent a batch, from where, and in which ingest run."""

    source: str
    actor: str
    ingest_id: int
    collection: str | None = None
    #: the organisation that owns what this batch adds (``orgs.id``); None: the home one.
    owner: str | None = None
    #: where versions a peer sent come from, by ``outbox.relay_key(id, version)``
    relay: dict[str, Any] | None = None


class BatchResult(msgspec.Struct, kw_only=True):
    """What one committed batch did. ``new + new_versions + unchanged + rejected`` equals the
    number of objects handed to ``write_batch`` (store-level rejects, such as a new version of a
    revoked object, are returned in ``rejects`` and counted in ``rejected``)."""

    new: int = 0
    new_versions: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects: list[Reject] = msgspec.field(default_factory=list)


class StoredVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One stored version of an object, with its store-side metadata."""

    seq: int
    id: str
    type: str
    version: str
    version_key: str
    spec_version: str
    date_added: str
    revoked: bool
    is_current: bool
    tlp: str | None
    markings: tuple[str, ...]
    created_by: str | None
    source: str
    ingest_id: int
    raw: bytes
    owner: str | None = None


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """One time a source sent us a version of an object."""

    source: str
    ingest_id: int
    received_at: str


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    """One object that contains or matches a searched value."""

    id: str
    type: str
    name: str | None
    matched: tuple[Observable, ...]
    tlp: str | None
    revoked: bool
    sources: tuple[str, ...]
    first_seen: str
    last_seen: str
    versions: int


class SearchResult(msgspec.Struct, frozen=True, kw_only=True):
    query: str
    keys: tuple[Observable, ...]
    hits: tuple[SearchHit, ...]
    sources: tuple[str, ...]
    first_seen: str | None
    last_seen: str | None
    elapsed_ms: float


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    objects: int
    versions: int
    by_type: dict[str, int]
    by_tlp: dict[str, int]
    observables: int
    dangling_refs: int
    quarantined: int
    collections: int
    ingests: int


class QuarantineEntry(msgspec.Struct, frozen=True, kw_only=True):
    qid: int
    ingest_id: int | None
    origin: str
    index: int
    object_id: str | None
    field: str
    reason: str
    received_at: str
    status: str
    raw: bytes


class IngestCounts(msgspec.Struct, kw_only=True):
    """The counts of an ingest: ``received == new + new_versions + unchanged + rejected``.
    ``warnings`` counts accepted objects with warnings; ``dangling_refs`` distinct ids they
    refer to that the store does not hold."""

    received: int = 0
    new: int = 0
    new_versions: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0
    dangling_refs: int = 0

    @property
    def adds_up(self) -> bool:
        return self.received == self.new + self.new_versions + self.unchanged + self.rejected

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in IngestCounts.__struct_fields__}


class IngestRun(IngestCounts, kw_only=True):
    """An ingest run and its counts, as recorded in the store."""

    id: int
    source: str
    actor: str
    started: str
    finished: str | None = None
    status: str = "running"


class Collection(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    alias: str
    title: str
    description: str
    objects: int = 0


class Store(Protocol):
    """What every store offers. Writes are atomic per call; reads never see half a batch."""

    url: str

    def initialise(self) -> None: ...
    def check_schema(self) -> None: ...
    def close(self) -> None: ...

    def begin_ingest(self, source: str, actor: str) -> int: ...
    def finish_ingest(self, ingest_id: int, status: str, counts: IngestCounts) -> None: ...
    def get_ingest(self, ingest_id: int) -> IngestRun: ...

    def write_batch(
        self,
        objects: Sequence[PreparedObject],
        rejects: Sequence[Reject],
        provenance: Provenance,
    ) -> BatchResult: ...

    def versions(self, object_id: str) -> list[StoredVersion]: ...
    def current(self, object_id: str) -> StoredVersion | None: ...
    def current_many(self, object_ids: Sequence[str]) -> dict[str, StoredVersion]: ...
    def receipts(self, object_id: str) -> list[Receipt]: ...
    def dangling_refs(self, ingest_id: int | None = None) -> int: ...

    def search(self, query: str, limit: int = 500) -> SearchResult: ...
    def stats(self) -> Stats: ...

    def ensure_collection(
        self, alias: str, title: str = "", description: str = ""
    ) -> Collection: ...
    def collections(self) -> list[Collection]: ...

    def quarantine_list(
        self, status: str | None = "open", limit: int = 100
    ) -> list[QuarantineEntry]: ...
    def quarantine_get(self, qid: int) -> QuarantineEntry: ...
    def quarantine_set_status(self, qid: int, status: str) -> None: ...


__all__ = [
    "BatchResult",
    "Collection",
    "IngestCounts",
    "IngestRun",
    "Provenance",
    "QuarantineEntry",
    "Receipt",
    "SearchHit",
    "SearchResult",
    "Stats",
    "Store",
    "StoredVersion",
]
