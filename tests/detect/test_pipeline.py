"""From records to stored sightings, on SQLite and PostgreSQL, and ``mburoja match``."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mburoja.cli.main import app
from mburoja.config import Settings
from mburoja.detect.model import Record
from mburoja.detect.pipeline import SIGHTINGS_COLLECTION, Detector
from mburoja.policy import RECIPIENTS_PROPERTY
from mburoja.stix.markings import tlp_marking_id
from mburoja.store.sql import SqlStore
from tests.world import build_world, load

T0 = 1_763_800_000.0  # 2025-11-22T08:26:40Z


def _indicator(n: int, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{n:08d}-1111-4111-8111-111111111111",
        "created": "2025-01-01T00:00:00.000Z",
        "modified": "2025-01-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2025-01-01T00:00:00Z",
        **extra,
    }


def _record(i: int, *values: tuple[str, str], ts: float | None = None) -> Record:
    return Record(
        source="test",
        line=i,
        log="zeek.dns",
        rid=f"zeek.dns:C{i}:{i}",
        ts=T0 + i if ts is None else ts,
        values=list(values),
        dst_ip="198.51.100.7",
        dst_port=53,
        proto="udp",
    )


@pytest.fixture
def world(store: SqlStore, settings: Settings) -> Any:
    return build_world(store, settings)


@pytest.mark.parametrize("matcher", ["columnar", "reference"])
def test_hits_become_sightings_counted_once(
    store: SqlStore, settings: Settings, world: Any, matcher: str
) -> None:
    partner = world.orgs["partner"]
    load(store, settings, [_indicator(1, "[domain-name:value = 'evil.com']")], owner=partner)
    load(store, settings, [_indicator(2, "[ipv4-addr:value = '10.0.0.0/8']")])
    load(store, settings, [_indicator(3, "[domain-name:value = 'gone.com']", revoked=True)])
    alerts = io.StringIO()
    detector = Detector(store, settings, matcher=matcher, alerts=alerts)
    delta = detector.refresh()
    assert sorted(f.id[:19] for f in delta.added) == ["indicator--00000001", "indicator--00000002"]
    batch = [
        _record(1, ("domain", "a.EVIL.com"), ("ip", "10.9.9.9")),
        _record(2, ("domain", "evil.com.")),
        _record(3, ("domain", "gone.com"), ("ip", "11.0.0.1")),
    ]
    first = detector.process(batch)
    assert (first.hits, first.new_hits, first.repeated, first.sightings) == (3, 3, 0, 2)
    # the same records again (a redelivery): nothing new, no count changes
    again = detector.process(batch)
    assert (again.new_hits, again.repeated, again.sightings) == (0, 3, 0)
    detector.close()

    lines = [orjson.loads(line) for line in alerts.getvalue().splitlines()]
    assert sorted((a["rid"], a["value"]) for a in lines) == [
        ("zeek.dns:C1:1", "10.9.9.9"),
        ("zeek.dns:C1:1", "a.evil.com"),
        ("zeek.dns:C2:2", "evil.com"),
    ]
    sightings = {
        s["sighting_of_ref"][:19]: s
        for s in (orjson.loads(v.raw) for v in _current(store, "sighting"))
    }
    evil = sightings["indicator--00000001"]
    assert evil["count"] == 2
    assert evil["where_sighted_refs"] == [store.home_identity()]
    assert evil["object_marking_refs"] == [tlp_marking_id("amber")]
    # the indicator came from the partner: the sighting names it, so it may see it
    assert evil[RECIPIENTS_PROPERTY] == [world.identities["partner"]]
    assert RECIPIENTS_PROPERTY not in sightings["indicator--00000002"]
    (observed_id,) = evil["observed_data_refs"]
    observed = orjson.loads(store.current(observed_id).raw)  # type: ignore[union-attr]
    assert observed["number_observed"] == 2
    values = {orjson.loads(store.current(r).raw)["value"] for r in observed["object_refs"]}  # type: ignore[union-attr]
    assert values == {"a.evil.com", "evil.com"}
    assert SIGHTINGS_COLLECTION in {c.alias for c in store.collections()}

    # a second process (a new detector) seeing one more record updates the same sighting
    later = Detector(store, settings, matcher=matcher)
    later.refresh()
    later.process([_record(4, ("domain", "c.evil.com")), *batch])
    later.close()
    sightings = {
        s["sighting_of_ref"][:19]: s
        for s in (orjson.loads(v.raw) for v in _current(store, "sighting"))
    }
    assert sightings["indicator--00000001"]["count"] == 3
    assert store.hit_count() == 4


def _current(store: SqlStore, type_: str) -> list[Any]:
    with store.engine.connect() as conn:
        ids = [
            row[0]
            for row in conn.exec_driver_sql(
                f"SELECT DISTINCT id FROM objects WHERE type = '{type_}'"
            )
        ]
    return [v for v in store.current_many(ids).values()]


def test_complex_patterns_are_evaluated_not_guessed(
    store: SqlStore, settings: Settings, world: Any
) -> None:
    load(
        store,
        settings,
        [
            _indicator(
                5,
                "[network-traffic:dst_ref.value ISSUBSET '198.51.100.0/24'"
                " AND network-traffic:dst_port = 443]",
            ),
            _indicator(
                6,
                "([domain-name:value = 'stage1.net'] FOLLOWEDBY [domain-name:value = 'stage2.net'])"
                " WITHIN 60 SECONDS",
            ),
        ],
    )
    detector = Detector(store, settings)
    detector.refresh()
    port_443 = Record(
        source="t", line=1, log="zeek.conn", rid="a", ts=T0, values=[("ip", "198.51.100.1")],
        dst_ip="198.51.100.1", dst_port=443, proto="tcp",
    )  # fmt: skip
    port_80 = Record(
        source="t", line=2, log="zeek.conn", rid="b", ts=T0, values=[("ip", "198.51.100.1")],
        dst_ip="198.51.100.1", dst_port=80, proto="tcp",
    )  # fmt: skip
    out = detector.process([port_443, port_80])
    assert out.new_hits == 1 and out.unconfirmed == 1
    # stage1 then stage2 within 60 s: a match; stage2 alone much later: none
    out = detector.process(
        [
            _record(10, ("domain", "stage1.net"), ts=T0),
            _record(11, ("domain", "stage2.net"), ts=T0 + 30),
        ]
    )
    assert out.new_hits == 2
    out = detector.process([_record(12, ("domain", "stage2.net"), ts=T0 + 4000)])
    assert out.new_hits == 0 and out.unconfirmed == 1
    detector.close()


def test_index_follows_validity_and_new_versions(
    store: SqlStore, settings: Settings, world: Any
) -> None:
    load(
        store,
        settings,
        [
            _indicator(7, "[domain-name:value = 'later.com']", valid_from="2026-06-01T00:00:00Z"),
            _indicator(8, "[domain-name:value = 'old.com']", valid_until="2025-06-01T00:00:00Z"),
            _indicator(9, "[domain-name:value = 'weak.com']", confidence=10),
            _indicator(10, "[domain-name:value LIKE '%.x.com']"),
        ],
    )
    settings.detect.confidence_floor = 50
    detector = Detector(store, settings, matcher="reference")
    now = 1_767_225_600.0  # 2026-01-01
    assert not detector.refresh(now)
    report = detector.feed.report()
    assert (report.active, report.pending, report.expired, report.low_confidence) == (0, 1, 1, 1)
    assert list(report.not_compiled) == ["operator LIKE on domain-name:value cannot be indexed"]
    assert [f.id[:19] for f in detector.refresh(1_781_000_000.0).added] == ["indicator--00000007"]
    # a new version that revokes it takes it out
    revoked = _indicator(7, "[domain-name:value = 'later.com']", revoked=True)
    revoked["modified"] = "2025-02-01T00:00:00.000Z"
    load(store, settings, [revoked])
    assert detector.refresh(1_781_000_000.0).removed == [revoked["id"]]
    detector.close()


ZEEK = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tdns
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]
1763800000.1\tCa\t10.0.0.1\t5353\t10.0.0.53\t53\tudp\twww.Evil.com\t198.51.100.9
1763800001.1\tCb\t10.0.0.2\t5353\t10.0.0.53\t53\tudp\tbenign.org\t198.51.100.10
broken
1763800002.1\tCc\t10.0.0.3\t5353\t10.0.0.53\t53\tudp\tbenign.org\t198.51.100.9,192.0.2.1
"""


@pytest.mark.parametrize("matcher", ["columnar", "reference"])
def test_match_command_on_a_zeek_log(tmp_path: Path, matcher: str) -> None:
    data = tmp_path / "data"
    runner = CliRunner()
    base = ["--data-dir", str(data)]
    assert runner.invoke(app, [*base, "init", "--org", "CERT"]).exit_code == 0
    bundle = tmp_path / "ind.json"
    bundle.write_bytes(
        orjson.dumps(
            {
                "type": "bundle",
                "id": "bundle--11111111-1111-4111-8111-111111111111",
                "objects": [
                    _indicator(1, "[domain-name:value = 'evil.com']"),
                    _indicator(2, "[ipv4-addr:value = '198.51.100.9']"),
                ],
            }
        )
    )
    assert runner.invoke(app, [*base, "ingest", str(bundle)]).exit_code == 0
    log = tmp_path / "dns.log"
    log.write_text(ZEEK)
    alerts = tmp_path / "alerts.jsonl"
    result = runner.invoke(
        app, [*base, "match", str(log), "--matcher", matcher, "--alerts", str(alerts)]
    )
    assert result.exit_code == 0, result.output
    assert "bad line" in result.output and "dns.log:10" in result.output
    lines = [orjson.loads(x) for x in alerts.read_text().splitlines()]
    assert sorted((a["rid"], a["value"]) for a in lines) == [
        ("zeek.dns:Ca:1763800000.1", "198.51.100.9"),
        ("zeek.dns:Ca:1763800000.1", "www.evil.com"),
        ("zeek.dns:Cc:1763800002.1", "198.51.100.9"),
    ]
    # a second run over the same file counts nothing twice
    again = runner.invoke(app, [*base, "match", str(log), "--matcher", matcher])
    assert again.exit_code == 0
    assert re.search(r"new \(indicator, record\) hits\s*│\s*0\s*│", again.output), again.output
    assert re.search(r"already counted\s*│\s*3\s*│", again.output), again.output
