"""Replaying quarantined items through the converter they first came through."""

from __future__ import annotations

from pathlib import Path

import orjson

from mburoja.config import Settings
from mburoja.ingest.ioc_list import IocOptions
from mburoja.ingest.pipeline import Ingestor
from mburoja.ingest.replay import replay
from mburoja.ingest.sources import items_for
from mburoja.store.sql import SqlStore

NOW = "2026-11-22T10:00:00.000Z"


def ingest(store: SqlStore, settings: Settings, path: Path):
    items = items_for(str(path), settings, ioc=IocOptions(source="t"), now=NOW)
    return Ingestor(store, settings).run(items, source="t")


def test_a_bad_ioc_line_is_replayed_as_a_line_once_fixed(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "list.txt"
    path.write_text("good.example\nnot an indicator at all\n")
    first = ingest(store, settings, path)
    assert first.rejected == 1
    [entry] = store.quarantine_list()
    assert entry.index == 2 and entry.raw == b"not an indicator at all"
    still = replay(store, settings, entry.qid, NOW)
    assert still.rejected == 1 and store.quarantine_get(entry.qid).status == "open"
    fixed = replay(store, settings, entry.qid, NOW, fixed=b"fixed[.]example")
    assert fixed.rejected == 0 and fixed.new >= 2
    assert store.quarantine_get(entry.qid).status == "replayed"
    assert store.search("fixed.example").hits


def test_a_bad_misp_attribute_is_replayed_through_the_misp_converter(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    good = {
        "uuid": "4bb235a7-7d25-4aef-802f-2c6b45cafe01",
        "type": "domain",
        "category": "Network activity",
        "value": "ok.example",
        "timestamp": "1603642920",
        "to_ids": True,
    }
    bad = {
        "uuid": "4bb235a7-7d25-4aef-802f-2c6b45cafe02",
        "type": "ip-dst",
        "category": "Network activity",
        "value": "999.1.1.1",
        "timestamp": "1603642920",
        "to_ids": True,
    }
    path = tmp_path / "attrs.json"
    path.write_bytes(orjson.dumps({"response": {"Attribute": [good, bad]}}))
    first = ingest(store, settings, path)
    assert first.rejected == 1 and first.new > 0
    [entry] = store.quarantine_list()
    assert entry.field.endswith("value") and orjson.loads(entry.raw)["value"] == "999.1.1.1"
    report = replay(
        store, settings, entry.qid, NOW, fixed=orjson.dumps({**bad, "value": "198.51.100.9"})
    )
    assert report.rejected == 0
    hits = store.search("198.51.100.9").hits
    assert {h.type for h in hits} >= {"indicator"}
    assert store.quarantine_get(entry.qid).status == "replayed"
