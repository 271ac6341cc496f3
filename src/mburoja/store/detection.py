"""What detection reads from and writes to the store: indicator versions in commit order,
the (indicator, record) hits sightings are made of, and the sighting windows owed a rewrite.

Writing a sighting is three steps in different transactions: the hits (with their windows
marked in ``sighting_pending``), the sighting version (an ingest run), then clearing the
marks. A process that fails in between leaves the marks, and the next detector to start or
refresh rewrites those windows. :meth:`Detection.sighting_lock` keeps two writers of one
window from interleaving their sum and their write.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from mburoja.policy import Policy

_HIT_ROWS = 1000  # rows per multi-row INSERT (6 parameters each)
_CHUNK = 500  # windows per lookup
_LOCKS_GUARD = threading.Lock()
_LOCAL_LOCKS: dict[str, threading.Lock] = {}


def _lock_key(indicator_id: str, window_start: int) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for one sighting window."""
    digest = hashlib.blake2b(f"sighting|{indicator_id}|{window_start}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _local_lock(url: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCAL_LOCKS.setdefault(url, threading.Lock())


class HitRow(msgspec.Struct, frozen=True, array_like=True):
    """One record that hit one indicator."""

    indicator_id: str
    rid: str
    window_start: int
    ts: float
    kind: str
    value: str


class WindowSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The distinct records that hit one indicator in one window."""

    indicator_id: str
    window_start: int
    count: int
    first_seen: float
    last_seen: float
    values: tuple[tuple[str, str], ...]  # (kind, value), at most ``values_limit``


class Detection:
    """Mixin of :class:`~mburoja.store.sql.SqlStore`."""

    url: str
    engine: Any
    dialect: str
    _ph: str

    if TYPE_CHECKING:

        def _policy(self, conn: Connection) -> Policy: ...  # provided by Outbox

    def policy(self) -> Policy:
        """The policy this store decides reads with (needs a home organisation)."""
        with self.engine.connect() as conn:
            return self._policy(conn)

    def home_identity(self) -> str | None:
        """The STIX identity id of the home organisation (None before ``init``)."""
        with self.engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT identity_id FROM orgs WHERE relation = 'home'"
            ).scalar()
        return None if found is None else str(found)

    def org_identities(self, org_ids: Sequence[str]) -> dict[str, str]:
        """Organisation id -> its STIX identity id."""
        if not org_ids:
            return {}
        marks = ", ".join([self._ph] * len(org_ids))
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT id, identity_id FROM orgs WHERE id IN ({marks})", tuple(org_ids)
            ).all()
        return {str(org): str(identity) for org, identity in rows}

    def indicator_versions(
        self, since_seq: int, limit: int, *, with_markings: bool = False, with_source: bool = False
    ) -> list[tuple[Any, ...]]:
        """Current indicator versions committed after ``since_seq``, in commit order:
        ``(seq, owner, raw)`` rows, plus the markings tuple when asked, then the ingest
        source of the version when asked (what chooses its decay model)."""
        ph = self._ph
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT seq, owner, raw, markings, source FROM objects WHERE type = 'indicator'"
                f" AND is_current = {self._true} AND seq > {ph} ORDER BY seq LIMIT {ph}",
                (since_seq, limit),
            ).all()
        out: list[tuple[Any, ...]] = []
        for seq, owner, raw, markings, source in rows:
            row: tuple[Any, ...] = (seq, owner, bytes(raw))
            if with_markings:
                row += (tuple(markings.split()) if markings else (),)
            if with_source:
                row += (source,)
            out.append(row)
        return out

    def sighting_versions(
        self, since_seq: int, limit: int
    ) -> list[tuple[int, str | None, tuple[str, ...], bytes]]:
        """Current sighting versions committed after ``since_seq``, in commit order:
        ``(seq, owner, markings, raw)`` rows, unread by any policy (decay reads the newest
        sighting of each indicator from them)."""
        ph = self._ph
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT seq, owner, markings, raw FROM objects WHERE type = 'sighting'"
                f" AND is_current = {self._true} AND seq > {ph} ORDER BY seq LIMIT {ph}",
                (since_seq, limit),
            ).all()
        return [
            (int(seq), owner, tuple(markings.split()) if markings else (), bytes(raw))
            for seq, owner, markings, raw in rows
        ]

    @property
    def _true(self) -> str:
        return "1" if self.dialect == "sqlite" else "TRUE"

    def record_hits(self, hits: Sequence[HitRow]) -> list[HitRow]:
        """Store hits and return those this call stored: an (indicator, record) pair that is
        already there (a redelivered or re-read record, or one a concurrent writer stored
        first) is neither stored nor returned, so concurrent writers' returns are disjoint.

        In the same transaction, the window of every stored hit is marked as owing its
        sighting a rewrite (``sighting_pending``, see :meth:`pending_versions`).

        Rows go in (indicator, record) order, and the marks after them in (indicator,
        window) order: two writers with overlapping hits wait for each other, never on each
        other (no deadlock on PostgreSQL).
        """
        if not hits:
            return []
        ph = self._ph
        unique: dict[tuple[str, str], HitRow] = {}
        for hit in hits:
            unique.setdefault((hit.indicator_id, hit.rid), hit)
        ordered = [unique[key] for key in sorted(unique)]
        row = f"({ph}, {ph}, {ph}, {ph}, {ph}, {ph})"
        stored: set[tuple[str, str]] = set()
        with self.engine.execution_options(mburoja_write=True).begin() as conn:
            for start in range(0, len(ordered), _HIT_ROWS):
                chunk = ordered[start : start + _HIT_ROWS]
                inserted = conn.exec_driver_sql(
                    "INSERT INTO sighting_hits (indicator_id, rid, window_start, ts, kind, value)"
                    f" VALUES {', '.join([row] * len(chunk))}"
                    " ON CONFLICT (indicator_id, rid) DO NOTHING RETURNING indicator_id, rid",
                    tuple(value for hit in chunk for value in msgspec.structs.astuple(hit)),
                )
                stored.update((str(i), str(r)) for i, r in inserted)
            new = [hit for key, hit in unique.items() if key in stored]
            windows = sorted({(h.indicator_id, h.window_start) for h in new})
            if windows:
                marked = time.time()
                conn.exec_driver_sql(
                    "INSERT INTO sighting_pending (indicator_id, window_start, version, marked)"
                    f" VALUES ({ph}, {ph}, 1, {ph})"
                    " ON CONFLICT (indicator_id, window_start) DO UPDATE SET"
                    " version = sighting_pending.version + 1, marked = excluded.marked",
                    [(indicator_id, start, marked) for indicator_id, start in windows],
                )
        return new

    # -- sighting windows owed a rewrite ---------------------------------------------------

    def pending_versions(self, windows: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Which of ``windows`` owe their sighting a rewrite, each with the version of its
        mark (it grows with every batch that adds hits to the window)."""
        ph = self._ph
        wanted = sorted(set(windows))
        out: dict[tuple[str, int], int] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                test = " OR ".join([f"(indicator_id = {ph} AND window_start = {ph})"] * len(chunk))
                for indicator_id, window_start, version in conn.exec_driver_sql(
                    "SELECT indicator_id, window_start, version FROM sighting_pending"
                    f" WHERE {test}",
                    tuple(value for pair in chunk for value in pair),
                ):
                    out[(str(indicator_id), int(window_start))] = int(version)
        return out

    def pending_windows(self, marked_before: float, limit: int = 1000) -> list[tuple[str, int]]:
        """Windows marked before ``marked_before`` (epoch seconds) whose sighting is still
        owed: their writer failed, or is slow."""
        ph = self._ph
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT indicator_id, window_start FROM sighting_pending WHERE marked < "
                f"{ph} ORDER BY indicator_id, window_start LIMIT {ph}",
                (marked_before, limit),
            ).all()
        return [(str(indicator_id), int(window_start)) for indicator_id, window_start in rows]

    def clear_pending(self, versions: Mapping[tuple[str, int], int]) -> None:
        """Clear the marks a stored sighting settled: each only if its version is still the
        one read before the window was summed up (hits that came since keep it)."""
        if not versions:
            return
        ph = self._ph
        with self.engine.execution_options(mburoja_write=True).begin() as conn:
            conn.exec_driver_sql(
                "DELETE FROM sighting_pending"
                f" WHERE indicator_id = {ph} AND window_start = {ph} AND version = {ph}",
                [(i, w, version) for (i, w), version in sorted(versions.items())],
            )

    @contextmanager
    def sighting_lock(self, windows: Iterable[tuple[str, int]]) -> Iterator[None]:
        """Hold the sighting windows ``windows`` for one writer at a time, across processes:
        a PostgreSQL session advisory lock per (indicator, window), taken in key order (no
        deadlock), released on exit or when the connection dies. On SQLite a lock per store
        file serialises the writers of this process only."""
        if self.dialect != "postgresql":
            with _local_lock(self.url):
                yield
            return
        keys = sorted({_lock_key(indicator_id, start) for indicator_id, start in windows})
        with self.engine.connect() as conn:
            try:
                for key in keys:
                    conn.exec_driver_sql("SELECT pg_advisory_lock(%s)", (key,))
                conn.commit()  # session locks outlive the transaction; do not sit in one
                yield
            finally:
                try:
                    conn.exec_driver_sql("SELECT pg_advisory_unlock_all()")
                    conn.commit()
                except DBAPIError:
                    conn.invalidate()  # closing the session releases its locks

    # -- what ingest needs to announce ----------------------------------------------------

    def ingest_stored_indicators(self, ingest_id: int) -> bool:
        """Whether ingest run ``ingest_id`` stored an indicator (a new one or a version)."""
        with self.engine.connect() as conn:
            found = conn.exec_driver_sql(
                f"SELECT 1 FROM objects WHERE ingest_id = {self._ph} AND type = 'indicator'"
                " LIMIT 1",
                (ingest_id,),
            ).first()
        return found is not None

    def last_seq(self) -> int:
        """The sequence number of the newest stored version (0 for an empty store)."""
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT MAX(seq) FROM objects").scalar() or 0)

    def window_summaries(
        self, windows: Sequence[tuple[str, int]], values_limit: int = 50
    ) -> list[WindowSummary]:
        """The aggregate of each (indicator, window), in the order asked; a window with no
        hits has none."""
        ph = self._ph
        out: list[WindowSummary] = []
        with self.engine.connect() as conn:
            for indicator_id, window_start in windows:
                count, first, last = conn.exec_driver_sql(
                    "SELECT COUNT(*), MIN(ts), MAX(ts) FROM sighting_hits"
                    f" WHERE indicator_id = {ph} AND window_start = {ph}",
                    (indicator_id, window_start),
                ).one()
                if not count:
                    continue
                values = conn.exec_driver_sql(
                    "SELECT DISTINCT kind, value FROM sighting_hits"
                    f" WHERE indicator_id = {ph} AND window_start = {ph}"
                    f" ORDER BY kind, value LIMIT {ph}",
                    (indicator_id, window_start, values_limit),
                ).all()
                out.append(
                    WindowSummary(
                        indicator_id=indicator_id,
                        window_start=window_start,
                        count=int(count),
                        first_seen=float(first),
                        last_seen=float(last),
                        values=tuple((str(k), str(v)) for k, v in values),
                    )
                )
        return out

    def hit_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT COUNT(*) FROM sighting_hits").scalar() or 0)

    # -- what the detection view reads ----------------------------------------------------

    def current_sightings(
        self,
        *,
        before_seq: int | None,
        limit: int,
        sighting_of: Sequence[str] | None = None,
        where_sighted: str | None = None,
    ) -> list[tuple[int, str | None, tuple[str, ...], bytes]]:
        """Current ``sighting`` versions, the most recently stored first, below
        ``before_seq`` (None: from the newest): ``(seq, owner, markings, raw)`` rows, unread
        by any policy. ``sighting_of`` keeps those of these indicators (empty: none),
        ``where_sighted`` those naming this identity; both go through the ``refs`` index."""
        if sighting_of is not None and not sighting_of:
            return []
        ph = self._ph
        where = ["o.type = 'sighting'", f"o.is_current = {self._true}"]
        params: list[Any] = []
        if before_seq is not None:
            where.append(f"o.seq < {ph}")
            params.append(before_seq)
        if sighting_of is not None:
            marks = ", ".join([ph] * len(sighting_of))
            where.append(
                "o.seq IN (SELECT seq FROM refs WHERE prop = 'sighting_of_ref'"
                f" AND target IN ({marks}))"
            )
            params.extend(sighting_of)
        if where_sighted is not None:
            where.append(
                "o.seq IN (SELECT seq FROM refs WHERE prop = 'where_sighted_refs'"
                f" AND target = {ph})"
            )
            params.append(where_sighted)
        params.append(limit)
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT o.seq, o.owner, o.markings, o.raw FROM objects o"
                f" WHERE {' AND '.join(where)} ORDER BY o.seq DESC LIMIT {ph}",
                tuple(params),
            ).all()
        return [
            (int(seq), owner, tuple(markings.split()) if markings else (), bytes(raw))
            for seq, owner, markings, raw in rows
        ]

    def hits_page(
        self, key: tuple[float, str, str] | None, *, newest_first: bool, limit: int
    ) -> list[HitRow]:
        """Hits in ``(ts, indicator_id, rid)`` order: newest first from below ``key``, or
        oldest first from above it (None: from the end or the start). The record's time
        orders them; the table keeps no insertion order."""
        ph = self._ph
        params: list[Any] = []
        test = ""
        if key is not None:
            op = "<" if newest_first else ">"
            test = (
                f" WHERE ts {op} {ph} OR (ts = {ph} AND (indicator_id {op} {ph}"
                f" OR (indicator_id = {ph} AND rid {op} {ph})))"
            )
            ts, indicator_id, rid = key
            params = [ts, ts, indicator_id, indicator_id, rid]
        order = "DESC" if newest_first else "ASC"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT indicator_id, rid, window_start, ts, kind, value FROM sighting_hits"
                f"{test} ORDER BY ts {order}, indicator_id {order}, rid {order} LIMIT {ph}",
                (*params, limit),
            ).all()
        return [
            HitRow(str(i), str(r), int(w), float(t), str(k), str(v)) for i, r, w, t, k, v in rows
        ]
