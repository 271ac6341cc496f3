"""Reading the current versions of a collection's objects of some types, page by page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from mburoja.policy import Prefilter
from mburoja.store.sql import SqlStore
from mburoja.store.taxii import TaxiiQuery


def stored_objects(store: SqlStore, collection_id: str, *types: str) -> Iterator[dict[str, Any]]:
    """Every current object of ``types`` in ``collection_id``, oldest first (no policy
    filter: for the instance's own analysis, not for callers)."""
    after: tuple[str, int] | None = None
    query = TaxiiQuery(types=types)
    while True:
        rows, more = store.taxii_rows(collection_id, query, Prefilter(everything=True), after=after)
        for row in rows:
            yield orjson.loads(row.raw)
        if not more or not rows:
            return
        after = (rows[-1].date_added, rows[-1].seq)
