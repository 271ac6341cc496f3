"""What the TAXII 2.1 server reads and writes in the store: collection pages, membership,
status resources, and the grouped counts that visible statistics are built from.

Pages are keyset-paginated on ``(date_added, seq)`` through the
``collection_objects_added`` index: page 900 costs what page 1 costs. Every value that
reaches SQL is a bound parameter; the only text spliced in is placeholders and fixed
fragments chosen here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Engine, select

from mburoja.errors import NotFound
from mburoja.policy import Prefilter
from mburoja.store import schema


class TaxiiQuery(msgspec.Struct, frozen=True, kw_only=True):
    """The filters of a TAXII request, already checked against their allow-lists.

    ``versions`` holds ``first``, ``last``, ``all`` and version keys
    (``stix.timestamps.version_key`` of a requested timestamp), combined with OR.
    """

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ("last",)
    spec_versions: tuple[str, ...] = ()
    added_after: str | None = None


class TaxiiRow(msgspec.Struct, frozen=True, array_like=True):
    seq: int
    date_added: str
    id: str
    type: str
    version: str
    spec_version: str
    owner: str | None
    markings: tuple[str, ...]
    raw: bytes
    #: the store found bytes that need the policy's closer look (``needs_inspection``)
    inspect: bool


class StatusRecord(msgspec.Struct, kw_only=True):
    id: str
    collection_id: str
    org_id: str | None
    request_timestamp: str
    status: str
    total_count: int
    success_count: int = 0
    failure_count: int = 0
    pending_count: int = 0
    details: bytes | None = None


class CountGroup(msgspec.Struct, frozen=True, array_like=True):
    """Current objects (or all versions) sharing a type, owner, markings and ``inspect``
    flag (whether their bytes may name recipients)."""

    type: str
    owner: str | None
    markings: tuple[str, ...]
    tlp: str | None
    inspect: bool
    count: int


_META = "o.id, o.type, o.version, o.spec_version"
_NO_META = "'', '', '', ''"
_MARKINGS: dict[str, tuple[str, ...]] = {}


def _markings(value: str | None) -> tuple[str, ...]:
    """The markings column as a tuple; the same few values recur on every page."""
    if not value:
        return ()
    found = _MARKINGS.get(value)
    if found is None:
        found = tuple(value.split())
        if len(_MARKINGS) < 10_000:
            _MARKINGS[value] = found
    return found


class TaxiiStore:
    """TAXII reads over the store's engine (``SqlStore`` mixes it in)."""

    engine: Engine
    dialect: str
    _ph: str
    _write: Callable[[], Any]

    def collection(self, collection: str) -> tuple[str, str, str, str]:
        """(id, alias, title, description) of a collection named by id or alias."""
        c = schema.collections
        with self.engine.connect() as conn:
            row = conn.execute(
                select(c.c.id, c.c.alias, c.c.title, c.c.description).where(
                    (c.c.id == collection) | (c.c.alias == collection)
                )
            ).first()
        if row is None:
            raise NotFound(f"no collection {collection!r}")
        return row[0], row[1], row[2], row[3]

    def taxii_rows(
        self,
        collection_id: str,
        query: TaxiiQuery,
        prefilter: Prefilter,
        *,
        after: tuple[str, int] | None = None,
        limit: int = 1000,
        meta: bool = True,
    ) -> tuple[list[TaxiiRow], bool]:
        """Up to ``limit`` member versions of a collection matching ``query``, after the
        keyset position ``after``, ordered by ``(date_added, seq)``; and whether more follow.

        ``prefilter`` narrows to rows the caller might see; the caller still passes every
        row through the policy. Without ``meta``, ``id``, ``type``, ``version`` and
        ``spec_version`` come back empty: serving objects needs only their bytes."""
        ph = self._ph
        where = ["m.collection_id = " + ph]
        params: list[Any] = [collection_id]
        if query.added_after is not None:
            where.append("m.date_added > " + ph)
            params.append(query.added_after)
        if after is not None:
            # A row-value comparison: one range seek on collection_objects_added.
            where.append(f"(m.date_added, m.seq) > ({ph}, {ph})")
            params.extend(after)
        for column, values in (
            ("o.id", query.ids),
            ("o.type", query.types),
            ("o.spec_version", query.spec_versions),
        ):
            if values:
                where.append(f"{column} IN ({', '.join([ph] * len(values))})")
                params.extend(values)
        version_sql, version_params = self._version_clause(query.versions)
        if version_sql:
            where.append(version_sql)
            params.extend(version_params)
        pre_sql, pre_params = self._prefilter_clause(prefilter)
        if pre_sql:
            where.append(pre_sql)
            params.extend(pre_params)
        sql = (
            f"SELECT m.seq, m.date_added, {_META if meta else _NO_META}, o.owner, "
            "o.markings, o.raw, o.inspect FROM collection_objects m "
            "JOIN objects o ON o.seq = m.seq "
            f"WHERE {' AND '.join(where)} ORDER BY m.date_added, m.seq LIMIT {int(limit) + 1}"
        )
        with self.engine.connect() as conn:
            # The driver's own cursor: a page is a thousand rows, and SQLAlchemy's Row
            # objects would cost more than the query.
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, tuple(params))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        more = len(rows) > limit
        return [
            TaxiiRow(
                seq,
                added,
                oid,
                otype,
                version,
                sv,
                owner,
                _markings(marks),
                raw if isinstance(raw, bytes) else bytes(raw),
                inspect is not None,
            )
            for seq, added, oid, otype, version, sv, owner, marks, raw, inspect in rows[:limit]
        ], more

    def _version_clause(self, versions: Sequence[str]) -> tuple[str, list[str]]:
        if not versions or "all" in versions:
            return "", []
        parts: list[str] = []
        params: list[str] = []
        true = "1" if self.dialect == "sqlite" else "true"
        for v in versions:
            if v == "last":
                parts.append(f"o.is_current = {true}")
            elif v == "first":
                parts.append(
                    "NOT EXISTS (SELECT 1 FROM objects f "
                    "WHERE f.id = o.id AND f.version_key < o.version_key)"
                )
            else:
                parts.append("o.version_key = " + self._ph)
                params.append(v)
        return "(" + " OR ".join(parts) + ")", params

    def _prefilter_clause(self, pre: Prefilter) -> tuple[str, list[Any]]:
        if pre.everything:
            return "", []
        parts: list[str] = []
        params: list[Any] = []
        if pre.owner is not None:
            parts.append("o.owner = " + self._ph)
            params.append(pre.owner)
        if pre.levels:
            parts.append(f"o.tlp IN ({', '.join([self._ph] * len(pre.levels))})")
            params.extend(pre.levels)
        if pre.untagged:
            parts.append("o.tlp IS NULL")
        if pre.named:
            parts.append("o.inspect IS NOT NULL")  # may name recipients: a closer look
        if not parts:
            return "1 = 0", []
        return "(" + " OR ".join(parts) + ")", params

    def remove_from_collection(self, collection_id: str, seqs: Sequence[int]) -> int:
        """Take versions out of a collection (TAXII DELETE); the store keeps them."""
        if not seqs:
            return 0
        m = schema.collection_objects
        with self._write() as conn:
            done = conn.execute(
                m.delete().where(m.c.collection_id == collection_id, m.c.seq.in_(list(seqs)))
            )
        return int(done.rowcount or 0)

    # -- status resources ----------------------------------------------------------------

    def status_save(self, record: StatusRecord, keep_hours: int | None = None) -> None:
        """Insert or update a status resource; with ``keep_hours``, drop older ones."""
        t = schema.taxii_status
        values = msgspec.structs.asdict(record)
        with self._write() as conn:
            done = conn.execute(t.update().where(t.c.id == record.id).values(**values))
            if not done.rowcount:
                conn.execute(t.insert().values(**values))
            if keep_hours is not None:
                cutoff = datetime.now(UTC) - timedelta(hours=keep_hours)
                conn.execute(
                    t.delete().where(
                        t.c.request_timestamp < cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        t.c.status == "complete",
                    )
                )

    def status_get(self, status_id: str) -> StatusRecord:
        t = schema.taxii_status
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == status_id)).mappings().first()
        if row is None:
            raise NotFound(f"no status {status_id!r}")
        values = dict(row)
        if values["details"] is not None:
            values["details"] = bytes(values["details"])
        return StatusRecord(**values)

    # -- grouped counts for statistics -----------------------------------------------------

    def count_groups(self, *, current_only: bool) -> list[CountGroup]:
        """Objects grouped by (type, owner, markings, tlp, inspect), for counts the policy
        can judge without reading each object (but those flagged ``inspect``)."""
        true = "1" if self.dialect == "sqlite" else "true"
        where = f"WHERE is_current = {true} " if current_only else ""
        flag = "inspect IS NOT NULL"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT type, owner, markings, tlp, {flag}, count(*) FROM objects "
                f"{where}GROUP BY type, owner, markings, tlp, {flag}"
            ).all()
        return [CountGroup(t, o, _markings(m), tlp, bool(i), int(n)) for t, o, m, tlp, i, n in rows]

    def group_raws(self, group: CountGroup, *, current_only: bool) -> list[bytes]:
        """The objects of one group (whose recipients, if any, are in each object)."""
        ph = self._ph
        true = "1" if self.dialect == "sqlite" else "true"
        where = [f"type = {ph}", f"coalesce(markings, '') = {ph}"]
        where.append("inspect IS NOT NULL" if group.inspect else "inspect IS NULL")
        params: list[Any] = [group.type, " ".join(group.markings)]
        where.append("owner IS NULL" if group.owner is None else f"owner = {ph}")
        if group.owner is not None:
            params.append(group.owner)
        if current_only:
            where.append(f"is_current = {true}")
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT raw FROM objects WHERE {' AND '.join(where)}", tuple(params)
            ).all()
        return [bytes(r[0]) for r in rows]
