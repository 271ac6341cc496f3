"""Correlation search: "where have we seen this value?" as exact index lookups.

The caller turns a query into lookup keys (``stix.observables.search_keys``): an address
becomes the address plus each network that could contain it, a domain becomes itself plus
its parent domains, a hash is lower-cased. Each key is then one probe of the
``observables_value`` index, so the answer costs a few dozen index reads however large the
store grows — MISP's correlation without its correlation table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from mburoja.stix.model import Observable
from mburoja.store.base import SearchHit, SearchResult


class _Acc:
    """Accumulates the matching versions of one object id."""

    __slots__ = (
        "current",
        "first",
        "last",
        "matched",
        "name",
        "revoked",
        "sources",
        "tlp",
        "type",
        "versions",
    )

    def __init__(self, otype: str) -> None:
        self.type = otype
        self.name: str | None = None
        self.tlp: str | None = None
        self.revoked = False
        self.current = False
        self.matched: set[Observable] = set()
        self.sources: set[str] = set()
        self.versions: set[int] = set()
        self.first = "9999"
        self.last = ""


def run_search(
    conn: Connection, ph: str, query: str, keys: Sequence[Observable], limit: int
) -> SearchResult:
    started = time.perf_counter()
    values = sorted({k.value for k in keys})
    hits: dict[str, _Acc] = {}
    if values:
        marks = ", ".join([ph] * len(values))
        rows = conn.exec_driver_sql(
            "SELECT o.id, o.type, o.name, o.tlp, o.revoked, o.is_current, o.source, "
            "o.date_added, o.seq, b.kind, b.value FROM observables b "
            f"JOIN objects o ON o.seq = b.seq WHERE b.value IN ({marks}) "
            f"ORDER BY o.seq DESC LIMIT {int(limit) * 8}",  # newest first if cut short
            tuple(values),
        ).all()
        wanted = {(k.kind, k.value) for k in keys}
        kinds_by_value: dict[str, set[str]] = {}
        for k in keys:
            kinds_by_value.setdefault(k.value, set()).add(k.kind)
        seqs: dict[int, str] = {}
        for oid, otype, name, tlp, revoked, is_current, source, added, seq, kind, value in rows:
            # The index is keyed by value; a key also names a kind, and e.g. the text
            # "174" must not match a file name "174" when the query was an ASN.
            if (kind, value) not in wanted and not _compatible(kind, kinds_by_value[value]):
                continue
            acc = hits.get(oid)
            if acc is None:
                if len(hits) >= limit:
                    continue
                acc = hits[oid] = _Acc(otype)
            _update(acc, name, tlp, bool(revoked), bool(is_current), source, added, seq)
            acc.matched.add(Observable(kind, value))
            seqs[seq] = oid
        _add_receipts(conn, ph, hits, seqs)
    ordered = sorted(hits.items(), key=lambda kv: (kv[1].last, kv[0]), reverse=True)
    result_hits = tuple(
        SearchHit(
            id=oid,
            type=acc.type,
            name=acc.name,
            matched=tuple(sorted(acc.matched)),
            tlp=acc.tlp,
            revoked=acc.revoked,
            sources=tuple(sorted(acc.sources)),
            first_seen=acc.first,
            last_seen=acc.last,
            versions=len(acc.versions),
        )
        for oid, acc in ordered
    )
    all_sources = sorted({s for h in result_hits for s in h.sources})
    return SearchResult(
        query=query,
        keys=tuple(keys),
        hits=result_hits,
        sources=tuple(all_sources),
        first_seen=min((h.first_seen for h in result_hits), default=None),
        last_seen=max((h.last_seen for h in result_hits), default=None),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
    )


# Kinds that a query's detected kind may still legitimately meet in the index.
_FAMILIES = (
    frozenset({"ipv4", "ipv4-net"}),
    frozenset({"ipv6", "ipv6-net"}),
    frozenset({"md5", "sha1", "sha256", "sha512", "hash"}),
)


def _compatible(kind: str, query_kinds: set[str]) -> bool:
    if "text" in query_kinds:
        return True
    return any(kind in fam and not fam.isdisjoint(query_kinds) for fam in _FAMILIES)


def _update(
    acc: _Acc,
    name: str | None,
    tlp: str | None,
    revoked: bool,
    is_current: bool,
    source: str,
    added: str,
    seq: int,
) -> None:
    if is_current or not acc.current:
        acc.name = name
        acc.tlp = tlp
        acc.revoked = revoked
        acc.current = is_current
    acc.sources.add(source)
    acc.versions.add(seq)
    acc.first = min(acc.first, added)
    acc.last = max(acc.last, added)


def _add_receipts(conn: Connection, ph: str, hits: dict[str, _Acc], seqs: dict[int, str]) -> None:
    """Fold later receipts (the same version sent again by another source) into the hits."""
    if not seqs:
        return
    seq_list: list[Any] = list(seqs)
    for start in range(0, len(seq_list), 500):
        chunk = seq_list[start : start + 500]
        marks = ", ".join([ph] * len(chunk))
        rows = conn.exec_driver_sql(
            f"SELECT seq, source, received_at FROM receipts WHERE seq IN ({marks})",
            tuple(chunk),
        ).all()
        for seq, source, received_at in rows:
            acc = hits[seqs[seq]]
            acc.sources.add(source)
            acc.first = min(acc.first, received_at)
            acc.last = max(acc.last, received_at)
