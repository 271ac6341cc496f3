"""What detection reads from and writes to the store: indicator versions in commit order,
and the (indicator, record) hits sightings are made of."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Connection

if TYPE_CHECKING:
    from mburoja.policy import Policy


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
        self, since_seq: int, limit: int, *, with_markings: bool = False
    ) -> list[tuple[Any, ...]]:
        """Current indicator versions committed after ``since_seq``, in commit order:
        ``(seq, owner, raw)`` rows, plus the markings tuple when asked."""
        ph = self._ph
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT seq, owner, raw, markings FROM objects WHERE type = 'indicator'"
                f" AND is_current = {self._true} AND seq > {ph} ORDER BY seq LIMIT {ph}",
                (since_seq, limit),
            ).all()
        if with_markings:
            return [
                (seq, owner, bytes(raw), tuple(markings.split()) if markings else ())
                for seq, owner, raw, markings in rows
            ]
        return [(seq, owner, bytes(raw)) for seq, owner, raw, _markings in rows]

    @property
    def _true(self) -> str:
        return "1" if self.dialect == "sqlite" else "TRUE"

    def record_hits(self, hits: Sequence[HitRow]) -> list[HitRow]:
        """Store hits and return those not stored before: an (indicator, record) pair that
        is already there (a redelivered or re-read record) is neither stored nor returned."""
        if not hits:
            return []
        ph = self._ph
        unique: dict[tuple[str, str], HitRow] = {}
        for hit in hits:
            unique.setdefault((hit.indicator_id, hit.rid), hit)
        rids = sorted({h.rid for h in unique.values()})
        insert = (
            "INSERT INTO sighting_hits (indicator_id, rid, window_start, ts, kind, value)"
            f" VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph})"
            " ON CONFLICT (indicator_id, rid) DO NOTHING"
        )
        with self.engine.execution_options(mburoja_write=True).begin() as conn:
            known: set[tuple[str, str]] = set()
            for start in range(0, len(rids), 500):
                chunk = rids[start : start + 500]
                marks = ", ".join([ph] * len(chunk))
                for indicator_id, rid in conn.exec_driver_sql(
                    f"SELECT indicator_id, rid FROM sighting_hits WHERE rid IN ({marks})",
                    tuple(chunk),
                ):
                    known.add((str(indicator_id), str(rid)))
            new = [h for key, h in unique.items() if key not in known]
            if new:
                conn.exec_driver_sql(insert, [msgspec.structs.astuple(h) for h in new])
        return new

    def window_summaries(
        self, windows: Sequence[tuple[str, int]], values_limit: int = 50
    ) -> list[WindowSummary]:
        """The aggregate of each (indicator, window), in the order asked."""
        ph = self._ph
        out: list[WindowSummary] = []
        with self.engine.connect() as conn:
            for indicator_id, window_start in windows:
                count, first, last = conn.exec_driver_sql(
                    "SELECT COUNT(*), MIN(ts), MAX(ts) FROM sighting_hits"
                    f" WHERE indicator_id = {ph} AND window_start = {ph}",
                    (indicator_id, window_start),
                ).one()
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
