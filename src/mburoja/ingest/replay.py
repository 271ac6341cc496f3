"""Replaying a quarantined item after a fix.

The quarantine keeps each reject verbatim. Replay runs it (or a corrected version the
analyst supplies) through the same converter and checks as the first time; if it now
passes, it is stored as a new ingest run and the entry is marked ``replayed``. If it still
fails, nothing is stored, the entry stays open, and the new reasons are returned.
"""

from __future__ import annotations

import orjson

from mburoja.config import Settings
from mburoja.ingest.ioc_list import IocOptions, convert_text
from mburoja.ingest.misp import convert_events
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.stix.model import RawObject, Reject
from mburoja.store.base import Store


def _items(raw: bytes, origin: str, index: int, now: str) -> list[RawObject | Reject]:
    """Re-run the item through the converter it first came through, judged by its shape."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "category" in data and "value" in data and "id" not in data:
        # a MISP attribute
        return list(convert_events({"response": {"Attribute": [data]}}, origin))
    if data is None and raw and b"\n" not in raw.strip():
        # a line from an IOC list
        options = IocOptions(source=f"replay:{origin}")
        return list(convert_text(raw, origin, options, now))
    return [RawObject(raw, origin, index)]


def replay(
    store: Store, settings: Settings, qid: int, now: str, fixed: bytes | None = None
) -> IngestReport:
    """Replay quarantine entry ``qid`` (or ``fixed`` in its place). The report says whether
    it was accepted; the entry is marked ``replayed`` only when nothing was rejected."""
    entry = store.quarantine_get(qid)
    raw = fixed if fixed is not None else entry.raw
    items = _items(raw, entry.origin, entry.index, now)
    failures = [i for i in items if isinstance(i, Reject)]
    if failures:
        report = IngestReport(ingest_id=0, source=f"quarantine:{qid}", received=len(items))
        report.rejected = len(failures)
        report.rejects = failures
        return report
    report = Ingestor(store, settings, quarantine_rejects=False).run(
        items, source=f"quarantine:{qid}", actor="replay"
    )
    if report.rejected == 0:
        store.quarantine_set_status(qid, "replayed")
    return report
