"""Who points at an object: the ``refs`` table read backwards, for the neighbourhood graph.

An object's own references are in its bytes (whoever reads it through the policy sees them
there, redactions included); what the store alone knows is the other direction, the current
objects whose ``*_ref``/``*_refs`` name a given id. ``referrers`` answers that one page at a
time, in ``refs.seq`` order, so that a caller can stop as soon as it has enough: a malware
family that ten thousand relationships name is read only as far as the graph needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from sqlalchemy import Engine

#: ids per ``IN (...)`` list; a longer list is refused, the caller cuts it
MAX_TARGETS = 500


class Referrer(msgspec.Struct, frozen=True, kw_only=True):
    """A current object (``id``, ``type`` and what the policy needs to decide on it) whose
    property ``prop`` names ``target``. ``seq`` is its row, the key for the next page."""

    seq: int
    prop: str
    target: str
    id: str
    type: str
    owner: str | None
    markings: tuple[str, ...]
    tlp: str | None
    raw: bytes


class GraphLinks:
    """The store's part of the neighbourhood graph (a mixin of ``SqlStore``)."""

    engine: Engine
    _ph: str
    dialect: str

    def referrers(
        self, targets: Sequence[str], *, after: int = 0, limit: int = 1000
    ) -> tuple[list[Referrer], int | None]:
        """The current objects that reference any of ``targets`` (at most ``MAX_TARGETS``
        ids), stored after row ``after``; and the ``after`` of the next page, or None when
        this was the last. A page holds every reference of each object it holds."""
        ids = list(dict.fromkeys(targets))
        if not ids:
            return [], None
        if len(ids) > MAX_TARGETS:
            raise ValueError(f"referrers takes at most {MAX_TARGETS} ids, got {len(ids)}")
        marks = ", ".join([self._ph] * len(ids))
        current = "1" if self.dialect == "sqlite" else "true"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT r.seq, r.prop, r.target, o.id, o.type, o.owner, o.markings, o.tlp, o.raw "
                f"FROM refs r JOIN objects o ON o.seq = r.seq "
                f"WHERE r.target IN ({marks}) AND o.is_current = {current} AND r.seq > {self._ph} "
                f"ORDER BY r.seq LIMIT {int(limit)}",
                (*ids, after),
            ).all()
        next_after: int | None = None
        if len(rows) == limit:
            last = rows[-1][0]
            whole = [r for r in rows if r[0] != last]
            # a page cut inside one object's references is finished from that object on
            rows, next_after = (whole, whole[-1][0]) if whole else (rows, last)
        return [
            Referrer(
                seq=int(seq),
                prop=prop,
                target=target,
                id=oid,
                type=otype,
                owner=owner,
                markings=tuple(markings.split()) if markings else (),
                tlp=tlp,
                raw=bytes(raw),
            )
            for seq, prop, target, oid, otype, owner, markings, tlp, raw in rows
        ], next_after
