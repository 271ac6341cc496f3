"""``SqlStore``: the one ``Store`` implementation, on SQLite or PostgreSQL via SQLAlchemy Core.

The hot path (``write_batch``) speaks to the driver directly through
``exec_driver_sql``/``executemany`` with pre-built statements: per-row ORM or Core
compilation would cost more than the database itself. Every batch is one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec.structs import astuple
from sqlalchemy import Connection, func, select

from mburoja.config import PolicySettings
from mburoja.errors import NotFound
from mburoja.stix.model import ROW_FIELDS, PreparedObject, Reject
from mburoja.stix.observables import search_keys
from mburoja.store import schema
from mburoja.store.base import (
    BatchResult,
    Collection,
    IngestCounts,
    IngestRun,
    Provenance,
    QuarantineEntry,
    Receipt,
    SearchResult,
    Stats,
    StoredVersion,
)
from mburoja.store.browse import Browse
from mburoja.store.detection import Detection
from mburoja.store.disinfo import DisinfoSources
from mburoja.store.engine import check_revision, create_store_engine, migrate
from mburoja.store.feeds import Feeds
from mburoja.store.graph import GraphLinks
from mburoja.store.outbox import Outbox
from mburoja.store.overview import Overview
from mburoja.store.peers import Peers
from mburoja.store.search import run_search
from mburoja.store.taxii import TaxiiStore
from mburoja.store.textindex import TextIndex
from mburoja.store.versioning import Existing, classify

_CHUNK = 500  # ids per IN (...) lookup
_WRITE_LOCK = 7401  # PostgreSQL advisory lock key that serialises batch writers

# Store-side columns first, then the object's own, in ``PreparedObject`` field order.
_OBJECT_COLUMNS = (
    "seq",
    "date_added",
    "is_current",
    "source",
    "ingest_id",
    "owner",
    "inspect",
    "id",
    "type",
    "version",
    "version_key",
    "spec_version",
    "revoked",
    "tlp",
    "markings",
    "created_by",
    "name",
    "chash",
    "raw",
)
_VERSION_COLUMNS = ", ".join(_OBJECT_COLUMNS)


def stamp(moment: datetime) -> str:
    """A store timestamp: UTC, microseconds, ``Z`` (the TAXII form)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SqlStore(
    Overview,
    Peers,
    TaxiiStore,
    Outbox,
    Detection,
    DisinfoSources,
    Browse,
    GraphLinks,
    TextIndex,
    Feeds,
):
    """The store on a SQLAlchemy engine. Safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        self.dialect = self.engine.dialect.name
        self._ph = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._clock_lock = threading.Lock()
        self._last_added = datetime.min.replace(tzinfo=UTC)
        self._sql = self._statements()
        self.policy_settings = PolicySettings()
        self._policy_cache = None
        self._listeners = []
        self._listeners_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    def initialise(self) -> None:
        migrate(self.engine)

    def check_schema(self) -> None:
        check_revision(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def _write(self) -> Any:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        return self.engine.execution_options(mburoja_write=True).begin()

    def _statements(self) -> dict[str, str]:
        def insert(table: str, columns: Iterable[str], tail: str = "") -> str:
            cols = list(columns)
            marks = ", ".join([self._ph] * len(cols))
            return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}){tail}"

        return {
            "object": insert("objects", _OBJECT_COLUMNS),
            "observable": insert("observables", ("value", "kind", "seq")),
            "ref": insert("refs", ("seq", "prop", "target")),
            "receipt": insert(
                "receipts",
                ("seq", "source", "ingest_id", "received_at"),
                " ON CONFLICT (seq, source) DO NOTHING",
            ),
            "member": insert(
                "collection_objects",
                ("collection_id", "seq", "date_added"),
                " ON CONFLICT (collection_id, seq) DO NOTHING",
            ),
            "quarantine": insert(
                "quarantine",
                (
                    *("ingest_id", "origin", "idx", "object_id", "field", "reason"),
                    *("received_at", "status", "raw"),
                ),
            ),
            "uncurrent": f"UPDATE objects SET is_current = {self._false} WHERE seq = {self._ph}",
        }

    @property
    def _false(self) -> str:
        return "0" if self.dialect == "sqlite" else "false"

    def _date_added(self, conn: Connection) -> str:
        """Now, strictly after every earlier batch of any process or replica, so that TAXII
        ``added_after`` readers never miss a later commit with an earlier stamp.

        Called inside the write transaction, which holds the writers' lock: the ``clock``
        row it reads and moves is the last stamp any writer handed out."""
        with self._clock_lock:
            now = datetime.now(UTC)
            last = conn.exec_driver_sql("SELECT last_added FROM clock WHERE id = 1").scalar()
            floor = max(
                self._last_added,
                datetime.strptime(last, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                if last
                else self._last_added,
            )
            if now <= floor:
                now = floor + timedelta(microseconds=1)
            self._last_added = now
            value = stamp(now)
            if last is None:
                conn.exec_driver_sql(
                    f"INSERT INTO clock (id, last_added) VALUES (1, {self._ph})", (value,)
                )
            else:
                conn.exec_driver_sql(
                    f"UPDATE clock SET last_added = {self._ph} WHERE id = 1", (value,)
                )
            return value

    # -- ingest runs -------------------------------------------------------------------

    def begin_ingest(self, source: str, actor: str) -> int:
        with self._write() as conn:
            result = conn.execute(
                schema.ingests.insert().values(
                    source=source,
                    actor=actor,
                    started=stamp(datetime.now(UTC)),
                    status="running",
                    received=0,
                    new=0,
                    new_versions=0,
                    unchanged=0,
                    rejected=0,
                    warnings=0,
                    dangling_refs=0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_ingest(self, ingest_id: int, status: str, counts: IngestCounts) -> None:
        t = schema.ingests
        with self._write() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == ingest_id)
                .values(finished=stamp(datetime.now(UTC)), status=status, **counts.counts())
            )

    def get_ingest(self, ingest_id: int) -> IngestRun:
        t = schema.ingests
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == ingest_id)).mappings().first()
        if row is None:
            raise NotFound(f"no ingest run {ingest_id}")
        return IngestRun(**dict(row))

    # -- the hot path --------------------------------------------------------------------

    def write_batch(
        self,
        objects: Sequence[PreparedObject],
        rejects: Sequence[Reject],
        provenance: Provenance,
    ) -> BatchResult:
        """Store a batch atomically: classify each object against what is stored, insert new
        objects and versions with their observables and refs, record receipts and collection
        membership, and quarantine ``rejects`` — all in one transaction."""
        result = BatchResult()
        owed = 0
        with self._write() as conn:
            if self.dialect == "postgresql":
                # One writer at a time, as SQLite's BEGIN IMMEDIATE gives: classification
                # below then sees every earlier commit, and date_added follows commit order.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
            date_added = self._date_added(conn)
            collection_id = (
                self._collection_id(conn, provenance.collection) if provenance.collection else None
            )
            spoofed: list[Reject] = []
            if provenance.owner is not None:
                objects, spoofed = self._unspoofed(conn, objects, provenance.owner)
            existing = self._existing(conn, {o.id for o in objects})
            plan = classify(objects, existing, date_added, provenance.owner)
            result.new, result.new_versions, result.unchanged = plan.counts()
            result.rejects = spoofed + plan.rejects
            result.rejected = len(result.rejects)
            store_rejects = list(rejects) + result.rejects

            if plan.inserts:
                first_seq = self._reserve_seqs(conn, len(plan.inserts))
                object_rows: list[tuple[Any, ...]] = []
                observable_rows: list[tuple[str, str, int]] = []
                ref_rows: list[tuple[int, str, str]] = []
                source, ingest_id = provenance.source, provenance.ingest_id
                owner = provenance.owner
                for seq, (obj, version_key, is_current) in enumerate(plan.inserts, first_seq):
                    row = astuple(obj)[:ROW_FIELDS]
                    if version_key != obj.version_key:  # a content version of an SCO
                        row = (*row[:3], version_key, *row[4:])
                    inspect = obj.inspect or None
                    object_rows.append(
                        (seq, date_added, is_current, source, ingest_id, owner, inspect, *row)
                    )
                    for ob in obj.observables:
                        observable_rows.append((ob.value, ob.kind, seq))
                    for prop, target in obj.refs:
                        ref_rows.append((seq, prop, target))
                member_rows = (
                    [
                        (collection_id, seq, date_added)
                        for seq, _ in enumerate(plan.inserts, first_seq)
                    ]
                    if collection_id is not None
                    else []
                )
                conn.exec_driver_sql(self._sql["object"], object_rows)
                if observable_rows:
                    conn.exec_driver_sql(self._sql["observable"], observable_rows)
                if ref_rows:
                    conn.exec_driver_sql(self._sql["ref"], ref_rows)
                if member_rows:
                    conn.exec_driver_sql(self._sql["member"], member_rows)
                owed = self._enqueue(
                    conn,
                    [(seq, obj) for seq, (obj, _, _) in enumerate(plan.inserts, first_seq)],
                    owner,
                    provenance.relay,
                    date_added,
                )
            if plan.superseded:
                conn.exec_driver_sql(self._sql["uncurrent"], [(s,) for s in plan.superseded])
            receipts = [
                (seq, provenance.source, provenance.ingest_id, date_added)
                for seq, source in plan.seen_again
                if source != provenance.source
            ]
            if receipts:
                conn.exec_driver_sql(self._sql["receipt"], receipts)
            if collection_id is not None and plan.seen_again:
                conn.exec_driver_sql(
                    self._sql["member"],
                    [(collection_id, seq, date_added) for seq, _ in plan.seen_again],
                )
            if store_rejects:
                conn.exec_driver_sql(
                    self._sql["quarantine"],
                    [
                        (
                            provenance.ingest_id,
                            r.origin,
                            r.index,
                            r.object_id,
                            r.field,
                            r.reason,
                            date_added,
                            "open",
                            r.raw,
                        )
                        for r in store_rejects
                    ],
                )
        if owed:
            self._notify()
        return result

    def _unspoofed(
        self, conn: Connection, objects: Sequence[PreparedObject], owner: str
    ) -> tuple[list[PreparedObject], list[Reject]]:
        """Objects another organisation sends may not speak for an identity it does not
        own: neither name one of our organisations' or users' identities but its own in
        ``created_by_ref``, nor be one. (The home organisation, custodian of everything in
        the store, may file what partners created.)"""
        rows = conn.exec_driver_sql(
            "SELECT identity_id, id FROM orgs UNION ALL SELECT identity_id, org_id FROM users"
        ).all()
        holders = {identity: org for identity, org in rows}
        kept: list[PreparedObject] = []
        spoofed: list[Reject] = []
        for obj in objects:
            for field, identity in (("created_by_ref", obj.created_by), ("id", obj.id)):
                holder = holders.get(identity) if identity else None
                if holder is not None and holder != owner:
                    spoofed.append(
                        Reject(
                            origin=obj.origin,
                            index=obj.index,
                            object_id=obj.id,
                            field=field,
                            reason=(
                                f"{identity} is another organisation's identity; a sender may "
                                "only speak for its own (use your organisation's identity, "
                                "`mburoja org identity NAME`)"
                            ),
                            raw=obj.raw,
                        )
                    )
                    break
            else:
                kept.append(obj)
        return kept, spoofed

    def _existing(self, conn: Connection, ids: set[str]) -> dict[str, list[Existing]]:
        found: dict[str, list[Existing]] = {}
        id_list = list(ids)
        for start in range(0, len(id_list), _CHUNK):
            chunk = id_list[start : start + _CHUNK]
            marks = ", ".join([self._ph] * len(chunk))
            rows = conn.exec_driver_sql(
                "SELECT id, version_key, chash, seq, is_current, revoked, source, owner "
                f"FROM objects WHERE id IN ({marks})",
                tuple(chunk),
            )
            for oid, vkey, chash, seq, is_current, revoked, source, owner in rows:
                found.setdefault(oid, []).append(
                    Existing(
                        vkey, bytes(chash), seq, bool(is_current), bool(revoked), source, owner
                    )
                )
        return found

    def _reserve_seqs(self, conn: Connection, count: int) -> int:
        """Reserve ``count`` consecutive sequence numbers and return the first."""
        if self.dialect == "postgresql":
            # write_batch holds the writers' advisory lock, so the block stays consecutive.
            first = conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('objects', 'seq'))"
            ).scalar_one()
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('objects', 'seq'), %s)",
                (int(first) + count - 1,),
            )
            return int(first)
        # SQLite: the IMMEDIATE transaction holds the write lock; nobody else can insert.
        top = conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM objects").scalar_one()
        return int(top) + 1

    # -- reads ---------------------------------------------------------------------------

    def versions(self, object_id: str) -> list[StoredVersion]:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT {_VERSION_COLUMNS} FROM objects WHERE id = {self._ph} "
                "ORDER BY version_key, seq",
                (object_id,),
            ).all()
        return [_version(row) for row in rows]

    def current(self, object_id: str) -> StoredVersion | None:
        return self.current_many([object_id]).get(object_id)

    def newest_ids(self, limit: int) -> list[str]:
        """The ids of the ``limit`` most recently stored current objects, newest first."""
        o = schema.objects
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(o.c.id).where(o.c.is_current.is_(True)).order_by(o.c.seq.desc()).limit(limit)
            ).scalars()
            return list(rows)

    def current_many(self, object_ids: Sequence[str]) -> dict[str, StoredVersion]:
        out: dict[str, StoredVersion] = {}
        ids = list(dict.fromkeys(object_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join([self._ph] * len(chunk))
                rows = conn.exec_driver_sql(
                    f"SELECT {_VERSION_COLUMNS} FROM objects "
                    f"WHERE id IN ({marks}) AND is_current = {self._true}",
                    tuple(chunk),
                ).all()
                for row in rows:
                    version = _version(row)
                    out[version.id] = version
        return out

    @property
    def _true(self) -> str:
        return "1" if self.dialect == "sqlite" else "true"

    def receipts(self, object_id: str) -> list[Receipt]:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT o.source, o.ingest_id, o.date_added FROM objects o "
                f"WHERE o.id = {self._ph} "
                "UNION ALL SELECT r.source, r.ingest_id, r.received_at FROM receipts r "
                f"JOIN objects o ON o.seq = r.seq WHERE o.id = {self._ph} ORDER BY 3",
                (object_id, object_id),
            ).all()
        return [Receipt(source=s, ingest_id=i, received_at=t) for s, i, t in rows]

    def dangling_refs(self, ingest_id: int | None = None) -> int:
        """How many distinct referenced ids (``*_ref(s)`` and ``created_by_ref``) are not in
        the store, among the objects of one ingest run or overall."""
        refs_where = created_where = ""
        params: tuple[Any, ...] = ()
        if ingest_id is not None:
            refs_where = f"WHERE r.seq IN (SELECT seq FROM objects WHERE ingest_id = {self._ph})"
            created_where = f"AND o.ingest_id = {self._ph}"
            params = (ingest_id, ingest_id)
        with self.engine.connect() as conn:
            value = conn.exec_driver_sql(
                f"SELECT count(*) FROM (SELECT r.target AS t FROM refs r {refs_where} "
                "UNION SELECT o.created_by FROM objects o "
                f"WHERE o.created_by IS NOT NULL {created_where}) d "
                "WHERE NOT EXISTS (SELECT 1 FROM objects x WHERE x.id = d.t)",
                params,
            ).scalar_one()
        return int(value)

    def search(self, query: str, limit: int = 500) -> SearchResult:
        """Every object that contains or matches ``query`` (see ``store.search``)."""
        keys = search_keys(query)
        with self.engine.connect() as conn:
            return run_search(conn, self._ph, query, keys, limit)

    def stats(self) -> Stats:
        o = schema.objects
        with self.engine.connect() as conn:
            by_type: dict[str, int] = dict(
                conn.execute(
                    select(o.c.type, func.count()).where(o.c.is_current).group_by(o.c.type)
                ).all()
            )
            by_tlp = {
                (tlp or "none"): n
                for tlp, n in conn.execute(
                    select(o.c.tlp, func.count()).where(o.c.is_current).group_by(o.c.tlp)
                ).all()
            }
            versions = conn.execute(select(func.count()).select_from(o)).scalar_one()
            observables = conn.execute(
                select(func.count()).select_from(schema.observables)
            ).scalar_one()
            quarantined = conn.execute(
                select(func.count())
                .select_from(schema.quarantine)
                .where(schema.quarantine.c.status == "open")
            ).scalar_one()
            collections = conn.execute(
                select(func.count()).select_from(schema.collections)
            ).scalar_one()
            ingests = conn.execute(select(func.count()).select_from(schema.ingests)).scalar_one()
        return Stats(
            objects=sum(by_type.values()),
            versions=versions,
            by_type=dict(sorted(by_type.items())),
            by_tlp=dict(sorted(by_tlp.items())),
            observables=observables,
            dangling_refs=self.dangling_refs(),
            quarantined=quarantined,
            collections=collections,
            ingests=ingests,
        )

    # -- collections ---------------------------------------------------------------------

    def ensure_collection(self, alias: str, title: str = "", description: str = "") -> Collection:
        with self._write() as conn:
            cid = self._collection_id(conn, alias, title, description)
        return next(c for c in self.collections() if c.id == cid)

    def _collection_id(
        self, conn: Connection, alias: str, title: str = "", description: str = ""
    ) -> str:
        import uuid

        c = schema.collections
        found = conn.execute(select(c.c.id).where(c.c.alias == alias)).scalar()
        if found is not None:
            return str(found)
        cid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mburoja:collection:{alias}"))
        # A writer that has not committed yet may be adding the same collection (the same
        # id, from the alias): wait for it instead of failing on the unique key.
        marks = ", ".join([self._ph] * 4)
        conn.exec_driver_sql(
            f"INSERT INTO collections (id, alias, title, description) VALUES ({marks}) "
            "ON CONFLICT DO NOTHING",
            (cid, alias, title or alias, description),
        )
        return cid

    def collections(self) -> list[Collection]:
        c, m = schema.collections, schema.collection_objects
        counts = (
            select(m.c.collection_id, func.count().label("n"))
            .group_by(m.c.collection_id)
            .subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.collection_id == c.c.id)
                .order_by(c.c.alias)
            ).all()
        return [
            Collection(id=r[0], alias=r[1], title=r[2], description=r[3], objects=int(r[4]))
            for r in rows
        ]

    # -- quarantine ----------------------------------------------------------------------

    def quarantine_list(
        self, status: str | None = "open", limit: int = 100
    ) -> list[QuarantineEntry]:
        q = schema.quarantine
        stmt = select(q).order_by(q.c.qid).limit(limit)
        if status is not None:
            stmt = stmt.where(q.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [_quarantine_entry(r) for r in rows]

    def quarantine_for_ingest(self, ingest_id: int) -> list[tuple[int, str | None, str, str]]:
        """(index, object id, field, reason) of every reject of one ingest run."""
        q = schema.quarantine
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(q.c.idx, q.c.object_id, q.c.field, q.c.reason)
                .where(q.c.ingest_id == ingest_id)
                .order_by(q.c.idx)
            ).all()
        return [(int(i), oid, f, r) for i, oid, f, r in rows]

    def quarantine_get(self, qid: int) -> QuarantineEntry:
        q = schema.quarantine
        with self.engine.connect() as conn:
            row = conn.execute(select(q).where(q.c.qid == qid)).mappings().first()
        if row is None:
            raise NotFound(f"no quarantine entry {qid}: see `mburoja quarantine list`")
        return _quarantine_entry(row)

    def quarantine_set_status(self, qid: int, status: str) -> None:
        q = schema.quarantine
        with self._write() as conn:
            done = conn.execute(q.update().where(q.c.qid == qid).values(status=status))
        if done.rowcount == 0:
            raise NotFound(f"no quarantine entry {qid}: see `mburoja quarantine list`")


def _version(row: Any) -> StoredVersion:
    (
        seq,
        date_added,
        is_current,
        source,
        ingest_id,
        owner,
        _inspect,
        oid,
        otype,
        version,
        vkey,
        spec_version,
        revoked,
        tlp,
        markings,
        created_by,
        _name,
        _chash,
        raw,
    ) = row
    return StoredVersion(
        seq=seq,
        id=oid,
        type=otype,
        version=version,
        version_key=vkey,
        spec_version=spec_version,
        date_added=date_added,
        revoked=bool(revoked),
        is_current=bool(is_current),
        tlp=tlp,
        markings=tuple(markings.split()) if markings else (),
        created_by=created_by,
        source=source,
        ingest_id=ingest_id,
        raw=bytes(raw),
        owner=owner,
    )


def _quarantine_entry(row: Any) -> QuarantineEntry:
    return QuarantineEntry(
        qid=row["qid"],
        ingest_id=row["ingest_id"],
        origin=row["origin"],
        index=row["idx"],
        object_id=row["object_id"],
        field=row["field"],
        reason=row["reason"],
        received_at=row["received_at"],
        status=row["status"],
        raw=bytes(row["raw"]),
    )


def open_store(
    url: str, *, initialise: bool = False, policy: PolicySettings | None = None
) -> SqlStore:
    """Open the store at ``url``; with ``initialise`` create or migrate its schema first,
    otherwise refuse (with how to fix it) if the schema is missing or out of date.
    ``policy`` is what decides which peers are owed what is written."""
    store = SqlStore(url)
    if policy is not None:
        store.configure_policy(policy)
    if initialise:
        store.initialise()
    else:
        store.check_schema()
    return store


__all__ = ["SqlStore", "open_store", "stamp"]
