"""A feed document through the real Ingestor into a store; a re-read changes nothing."""

from __future__ import annotations

import orjson

from mburoja.config import LimitSettings, Settings
from mburoja.feeds.formats import read
from mburoja.ingest.pipeline import Ingestor
from mburoja.stix.model import RawObject
from mburoja.store.sql import SqlStore
from tests.feeds.helpers import FIXTURES, NOW, spec_for


def test_spamhaus_feed_ingests_and_re_ingest_is_unchanged(
    store: SqlStore, settings: Settings
) -> None:
    spec = spec_for("spamhaus-drop", tlp="clear", confidence=95)
    data = (FIXTURES / "spamhaus_drop.txt").read_bytes()
    ingestor = Ingestor(store, settings, workers=0)

    first = ingestor.run(read(data, "spamhaus-drop", spec, NOW, LimitSettings()), source=spec.name)
    # 4 networks x (indicator, SCO, relationship) + the TLP:CLEAR definition; 2 bad lines
    assert (first.received, first.new, first.new_versions, first.unchanged, first.rejected) == (
        15,
        13,
        0,
        0,
        2,
    )
    assert first.adds_up
    assert sorted(str(r) for r in first.rejects) == [
        "spamhaus-drop:line 8[8]: value: not a recognised indicator: '203.0.113.300/24'",
        "spamhaus-drop:line 9[9]: sbl: 'XBL99' is not an SBL id (expected SBL and digits)",
    ]

    later = "2026-11-23T06:00:00.000Z"  # a later run: fresh created/modified/valid_from stamps
    again = ingestor.run(
        read(data, "spamhaus-drop", spec, later, LimitSettings()), source=spec.name
    )
    assert (again.received, again.new, again.new_versions, again.unchanged, again.rejected) == (
        15,
        0,
        0,
        13,
        2,
    )

    indicator = next(
        orjson.loads(item.raw)
        for item in read(data, "spamhaus-drop", spec, NOW, LimitSettings())
        if isinstance(item, RawObject) and b'"type":"indicator"' in item.raw
    )
    stored = store.current(indicator["id"])
    assert stored is not None
    assert orjson.loads(stored.raw)["external_references"] == [
        {"source_name": "spamhaus-sbl", "external_id": "SBL100001"}
    ]


def test_urlhaus_feed_re_ingest_is_unchanged(store: SqlStore, settings: Settings) -> None:
    spec = spec_for("urlhaus-csv")  # TLP:GREEN, labels and first-seen times from the rows
    data = (FIXTURES / "urlhaus.csv").read_bytes()
    ingestor = Ingestor(store, settings, workers=0)
    first = ingestor.run(read(data, "urlhaus", spec, NOW, LimitSettings()), source=spec.name)
    # 3 URLs x 3 objects + the TLP:GREEN definition; 3 bad rows; the repeated URL adds nothing
    assert (first.received, first.new, first.rejected) == (13, 10, 3)
    again = ingestor.run(
        read(data, "urlhaus", spec, "2026-12-01T00:00:00.000Z", LimitSettings()), source=spec.name
    )
    assert (again.new, again.new_versions, again.unchanged, again.rejected) == (0, 0, 10, 3)
