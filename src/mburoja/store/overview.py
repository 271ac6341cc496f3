"""What the dashboard reads: ingest runs per time, the newest campaigns, intrusion sets and
sightings, and the newest disinformation findings.

The ``objects`` table has no index on ``type`` (every index costs on the ingest hot path), so
"the newest campaigns" cannot be an indexed query. Instead this mixin keeps, per process, a
small map of the current objects of the few types the dashboard shows (:data:`TRACKED`),
brought up to date on each read by scanning only the rows stored since the last read
(``seq > last``, a primary-key range). The first read after start scans the table once;
later reads cost what was ingested in between. Each type keeps its newest :data:`KEEP` ids.
Nothing is decided here about who may see what: callers put every row through the policy.

``count_groups`` and ``group_raws`` (what every count through the policy starts from) are
memoised on the newest ``seq``: every change to ``objects`` inserts a row, so an unchanged
newest ``seq`` means unchanged groups, and a page or ``/api/stats`` does not re-scan a large
store; ``memo_stats`` does the same for the store-wide ``stats()``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import msgspec
import orjson

from mburoja.store.base import Stats

if TYPE_CHECKING:
    from mburoja.store.taxii import CountGroup

#: the types the dashboard lists, and how many of the newest of each are kept
TRACKED: Final = ("campaign", "intrusion-set", "sighting")
KEEP: Final = 5000
#: ingest runs looked at for the ingest chart (the newest, by id)
RUNS: Final = 10000
#: the most bytes of one count group's objects kept in memory
RAWS_CACHED: Final = 16 * 1024 * 1024
#: the collection disinformation findings are stored in (``disinfo.findings``)
FINDINGS: Final = "disinfo-findings"


class Tracked(msgspec.Struct, frozen=True, kw_only=True):
    """One current object of a tracked type, as the dashboard needs it before the policy."""

    seq: int
    id: str
    type: str
    date_added: str
    owner: str | None
    markings: tuple[str, ...]
    inspect: bool
    #: a sighting's ``sighting_of_ref``, ``count`` and ``last_seen`` (else None, 0, None)
    of: str | None = None
    count: int = 0
    seen: str | None = None


class IngestBucket(msgspec.Struct, frozen=True, kw_only=True):
    """One ingest run: when it started, what it stored (new objects and new versions)."""

    started: str
    stored: int


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last = 0
        self.rows: dict[str, dict[str, Tracked]] = {t: {} for t in TRACKED}
        self.groups: dict[bool, tuple[int, list[CountGroup]]] = {}
        self.stats: tuple[tuple[Any, ...], Stats] | None = None
        self.raws: dict[tuple[CountGroup, bool], tuple[int, list[bytes]]] = {}


class Overview:
    """Mixin of :class:`~mburoja.store.sql.SqlStore`."""

    engine: Any
    dialect: str
    _ph: str

    def _overview(self) -> _State:
        state = self.__dict__.get("_overview_state")
        if state is None:
            state = self.__dict__.setdefault("_overview_state", _State())
        return state

    def newest_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT max(seq) FROM objects").scalar() or 0)

    def memo_stats(self) -> Stats:
        """``stats()``, memoised on what can change it: the newest object version and
        ingest run, the open quarantine entries and the collections (each read by a key or
        an index, where ``stats()`` scans the large tables)."""
        state = self._overview()
        with self.engine.connect() as conn:
            key = tuple(
                conn.exec_driver_sql(sql).scalar()
                for sql in (
                    "SELECT max(seq) FROM objects",
                    "SELECT max(id) FROM ingests",
                    "SELECT count(*) FROM quarantine WHERE status = 'open'",
                    "SELECT count(*) FROM collections",
                )
            )
        cached = state.stats
        if cached is not None and cached[0] == key:
            return cached[1]
        stats: Stats = self.stats()  # type: ignore[attr-defined]
        state.stats = (key, stats)
        return stats

    def warm(self) -> None:
        """Fill what the dashboard memoises (the count groups, the store-wide figures, the
        tracked objects), so that the first page after a start does not pay for it: the
        server calls this in the background as it starts (seconds at a million objects)."""
        for current_only in (True, False):
            self.count_groups(current_only=current_only)
        self.memo_stats()
        self.tracked(TRACKED[0])

    # -- memoised counts -------------------------------------------------------------

    def count_groups(self, *, current_only: bool) -> list[CountGroup]:
        state = self._overview()
        top = self.newest_seq()
        cached = state.groups.get(current_only)
        if cached is not None and cached[0] == top:
            return cached[1]
        groups: list[CountGroup] = super().count_groups(current_only=current_only)  # type: ignore[misc]
        state.groups[current_only] = (top, groups)
        return groups

    def group_raws(self, group: CountGroup, *, current_only: bool) -> list[bytes]:
        """The bytes of one count group's objects, memoised like ``count_groups`` (only the
        groups flagged ``inspect`` are read, for callers the level alone does not admit; a
        group over :data:`RAWS_CACHED` bytes is read each time instead of kept)."""
        state = self._overview()
        top = self.newest_seq()
        key = (group, current_only)
        cached = state.raws.get(key)
        if cached is not None and cached[0] == top:
            return cached[1]
        raws: list[bytes] = super().group_raws(group, current_only=current_only)  # type: ignore[misc]
        if sum(map(len, raws)) <= RAWS_CACHED:
            state.raws = {k: v for k, v in state.raws.items() if v[0] == top}
            state.raws[key] = (top, raws)
        return raws

    # -- tracked types ----------------------------------------------------------------

    def tracked(self, type_: str) -> list[Tracked]:
        """The current, not revoked objects of ``type_`` (one of :data:`TRACKED`), newest
        stored first, at most :data:`KEEP`."""
        state = self._overview()
        with state.lock:
            self._catch_up(state)
            rows = list(state.rows[type_].values())
        rows.sort(key=lambda r: r.seq, reverse=True)
        return rows

    def _catch_up(self, state: _State) -> None:
        marks = ", ".join(f"'{t}'" for t in TRACKED)
        true = "1" if self.dialect == "sqlite" else "true"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT seq, id, type, date_added, owner, markings, inspect, revoked, "
                f"CASE WHEN type = 'sighting' THEN raw END FROM objects "
                f"WHERE seq > {self._ph} AND type IN ({marks}) AND is_current = {true} "
                "ORDER BY seq",
                (state.last,),
            ).all()
            top = conn.exec_driver_sql("SELECT max(seq) FROM objects").scalar()
        for seq, oid, type_, added, owner, markings, inspect, revoked, raw in rows:
            kept = state.rows[type_]
            kept.pop(oid, None)
            if revoked:
                continue
            row = Tracked(
                seq=seq,
                id=oid,
                type=type_,
                date_added=added,
                owner=owner,
                markings=tuple(markings.split()) if markings else (),
                inspect=bool(inspect),
            )
            if raw is not None:
                row = _sighting(row, bytes(raw))
            kept[oid] = row
            if len(kept) > KEEP * 5 // 4:
                newest = sorted(kept.values(), key=lambda r: r.seq)[-KEEP:]
                state.rows[type_] = {r.id: r for r in newest}
        state.last = max(state.last, int(top or 0))

    def raws_of(self, seqs: Sequence[int]) -> dict[int, bytes]:
        """The stored bytes of the versions ``seqs`` (for the policy's closer look)."""
        if not seqs:
            return {}
        marks = ", ".join([self._ph] * len(seqs))
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT seq, raw FROM objects WHERE seq IN ({marks})", tuple(seqs)
            ).all()
        return {int(seq): bytes(raw) for seq, raw in rows}

    # -- ingest runs -------------------------------------------------------------------

    def ingest_runs_since(
        self, since: str, actors: Sequence[str] | None = None
    ) -> list[IngestBucket]:
        """Runs among the newest :data:`RUNS` that started at or after ``since``; only those
        by ``actors`` when given. Ingest ids grow with time, so the newest by id bound it."""
        ph = self._ph
        where = [f"started >= {ph}"]
        params: list[Any] = [RUNS, since]
        if actors is not None:
            if not actors:
                return []
            where.append(f"actor IN ({', '.join([ph] * len(actors))})")
            params.extend(actors)
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT started, stored FROM (SELECT started, actor, new + new_versions AS stored "
                f"FROM ingests ORDER BY id DESC LIMIT {ph}) AS recent "
                f"WHERE {' AND '.join(where)}",
                tuple(params),
            ).all()
        return [IngestBucket(started=s, stored=int(n or 0)) for s, n in rows]

    def org_user_names(self, org_id: str) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT name FROM users WHERE org_id = {self._ph}", (org_id,)
            ).all()
        return [str(r[0]) for r in rows]

    # -- disinformation findings -----------------------------------------------------------

    def newest_findings(self, limit: int) -> list[str]:
        """Ids of the newest current campaigns in the findings collection (indexed by
        collection and date added), newest first."""
        ph = self._ph
        true = "1" if self.dialect == "sqlite" else "true"
        with self.engine.connect() as conn:
            cid = conn.exec_driver_sql(
                f"SELECT id FROM collections WHERE alias = {ph}", (FINDINGS,)
            ).scalar()
            if cid is None:
                return []
            rows = conn.exec_driver_sql(
                "SELECT o.id FROM (SELECT seq, date_added FROM collection_objects "
                f"WHERE collection_id = {ph} ORDER BY date_added DESC, seq DESC LIMIT {ph}) AS co "
                f"JOIN objects o ON o.seq = co.seq WHERE o.type = 'campaign' "
                f"AND o.is_current = {true} ORDER BY co.date_added DESC, co.seq DESC",
                (cid, limit * 20),
            ).all()
        return list(dict.fromkeys(str(r[0]) for r in rows))[:limit]


def _sighting(row: Tracked, raw: bytes) -> Tracked:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return row
    of = body.get("sighting_of_ref")
    count = body.get("count", 1)
    seen = body.get("last_seen") or body.get("first_seen") or body.get("created")
    return msgspec.structs.replace(
        row,
        of=of if isinstance(of, str) else None,
        count=count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 1,
        seen=seen if isinstance(seen, str) else None,
    )
