"""What the analyst's search and object pages read beyond the correlation index and the
text index (``store.textindex``): the filters the SQL narrows by, when and from whom each
object was seen, and the references in and out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

_CHUNK = 500


class TextFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What the SQL can narrow by before the policy and the page's own checks."""

    types: tuple[str, ...] = ()
    tlp: str | None = None
    since: str | None = None  # date_added, inclusive
    until: str | None = None  # date_added, exclusive


class Seen(msgspec.Struct, frozen=True, kw_only=True):
    """Every source that sent any version of an object, and when first and last."""

    sources: tuple[str, ...]
    first_seen: str
    last_seen: str
    versions: int


class RefRow(msgspec.Struct, frozen=True, kw_only=True):
    """One reference between two objects: ``source`` refers to ``target`` through ``prop``."""

    source: str
    source_type: str
    prop: str
    target: str


class Browse:
    """Mixin of :class:`~mburoja.store.sql.SqlStore`."""

    engine: Any
    dialect: str
    _ph: str

    def seen_many(self, object_ids: Sequence[str]) -> dict[str, Seen]:
        """Sources, first and last seen, and version count of each object (every version,
        and every later receipt of the same version)."""
        acc: dict[str, tuple[set[str], str, str, set[int]]] = {}
        ids = list(dict.fromkeys(object_ids))
        ph = self._ph
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join([ph] * len(chunk))
                rows = conn.exec_driver_sql(
                    f"SELECT o.id, o.seq, o.source, o.date_added FROM objects o "
                    f"WHERE o.id IN ({marks}) UNION ALL "
                    f"SELECT o.id, o.seq, r.source, r.received_at FROM receipts r "
                    f"JOIN objects o ON o.seq = r.seq WHERE o.id IN ({marks})",
                    (*chunk, *chunk),
                ).all()
                for oid, seq, source, when in rows:
                    sources, first, last, seqs = acc.get(oid, (set(), "9999", "", set()))
                    sources.add(source)
                    seqs.add(int(seq))
                    acc[oid] = (sources, min(first, when), max(last, when), seqs)
        return {
            oid: Seen(
                sources=tuple(sorted(s)), first_seen=first, last_seen=last, versions=len(seqs)
            )
            for oid, (s, first, last, seqs) in acc.items()
        }

    def refs_to(self, object_id: str, limit: int) -> list[RefRow]:
        """References to ``object_id`` from the current versions of other objects."""
        ph = self._ph
        true = "true" if self.dialect == "postgresql" else "1"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT o.id, o.type, r.prop FROM refs r JOIN objects o ON o.seq = r.seq "
                f"WHERE r.target = {ph} AND o.is_current = {true} "
                f"ORDER BY o.seq DESC LIMIT {int(limit)}",
                (object_id,),
            ).all()
        return [
            RefRow(source=str(i), source_type=str(t), prop=str(p), target=object_id)
            for i, t, p in rows
        ]

    def refs_from(self, seq: int, limit: int) -> list[RefRow]:
        """The references the stored version ``seq`` makes."""
        ph = self._ph
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT o.id, o.type, r.prop, r.target FROM refs r JOIN objects o "
                f"ON o.seq = r.seq WHERE r.seq = {ph} ORDER BY r.prop, r.target "
                f"LIMIT {int(limit)}",
                (seq,),
            ).all()
        return [
            RefRow(source=str(i), source_type=str(t), prop=str(p), target=str(g))
            for i, t, p, g in rows
        ]


def _escape(text: str) -> str:
    """``text`` as a literal inside a ``LIKE`` pattern (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
