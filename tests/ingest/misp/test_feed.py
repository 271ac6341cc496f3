"""MISP feed directories: the manifest, the event files it names, and the missing ones."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from mburoja.errors import InputFormatError
from mburoja.ingest.misp import (
    convert_events,
    convert_feed_dir,
    feed_event_paths,
    is_feed_dir,
    read_manifest,
)
from mburoja.stix.model import RawObject, Reject

ORGC = {"name": "CERT-AL", "uuid": str(uuid.uuid4())}


def feed_event(info: str, *values: str) -> dict[str, Any]:
    """A feed event file's content: ``{"Event": ...}`` with one domain attribute per value."""
    return {
        "Event": {
            "uuid": str(uuid.uuid4()),
            "info": info,
            "timestamp": "1700000000",
            "Orgc": ORGC,
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                {"uuid": str(uuid.uuid4()), "type": "domain", "category": "Network activity",
                 "value": v, "timestamp": "1700000000", "to_ids": True}
                for v in values
            ],
        }
    }  # fmt: skip


def manifest_entry(event: dict[str, Any]) -> dict[str, Any]:
    """The manifest entry MISP writes for an event."""
    e = event["Event"]
    return {
        "Orgc": e["Orgc"], "Tag": e["Tag"], "info": e["info"], "date": "2023-11-14",
        "analysis": "2", "threat_level_id": "1", "timestamp": e["timestamp"],
    }  # fmt: skip


def write_feed(
    directory: Path, present: list[dict[str, Any]], missing: list[dict[str, Any]]
) -> None:
    """A feed directory: manifest naming every event, files only for ``present``."""
    manifest = {e["Event"]["uuid"]: manifest_entry(e) for e in [*present, *missing]}
    (directory / "manifest.json").write_bytes(orjson.dumps(manifest))
    for event in present:
        (directory / f"{event['Event']['uuid']}.json").write_bytes(orjson.dumps(event))


def test_manifest_entries_keep_order_and_carry_what_misp_publishes() -> None:
    first, second = feed_event("first", "a.example"), feed_event("second", "b.example")
    data = orjson.dumps({e["Event"]["uuid"]: manifest_entry(e) for e in (first, second)})
    manifest = read_manifest(data)
    assert list(manifest) == [first["Event"]["uuid"], second["Event"]["uuid"]]
    entry = manifest[first["Event"]["uuid"]]
    assert (entry.info, entry.timestamp, entry.orgc_uuid) == ("first", 1700000000, ORGC["uuid"])
    assert entry.tags == ("tlp:green",)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"[]", "expected an object"), (b"{x", "not JSON"),
     (b'{"not-a-uuid": {"timestamp": "1"}}', "not-a-uuid"),
     (orjson.dumps({str(uuid.uuid4()): {"timestamp": "soon"}}), "timestamp")],
)  # fmt: skip
def test_bad_manifest_is_a_format_error_naming_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(InputFormatError, match=message):
        read_manifest(data)


def test_feed_directory_is_recognised_by_its_manifest(tmp_path: Path) -> None:
    assert not is_feed_dir(tmp_path)
    write_feed(tmp_path, [], [])
    assert is_feed_dir(tmp_path)
    assert not is_feed_dir(tmp_path / "manifest.json")


def test_event_paths_follow_the_manifest_and_a_missing_file_is_a_reject(tmp_path: Path) -> None:
    first, gone, last = feed_event("1", "a.example"), feed_event("2", "b.example"), feed_event("3")
    write_feed(tmp_path, [first, last], [])
    manifest = {e["Event"]["uuid"]: manifest_entry(e) for e in (first, gone, last)}
    (tmp_path / "manifest.json").write_bytes(orjson.dumps(manifest))
    found = feed_event_paths(tmp_path)
    assert found[0] == tmp_path / f"{first['Event']['uuid']}.json"
    assert found[2] == tmp_path / f"{last['Event']['uuid']}.json"
    reject = found[1]
    assert isinstance(reject, Reject)
    assert reject.origin == str(tmp_path / f"{gone['Event']['uuid']}.json")
    assert reject.reason == "listed in manifest.json but missing"


def test_feed_directory_converts_every_present_event_and_rejects_the_missing_one(
    tmp_path: Path,
) -> None:
    present = [feed_event("one", "a.example", "b.example"), feed_event("two", "c.example")]
    missing = [feed_event("gone", "d.example")]
    write_feed(tmp_path, present, missing)
    items = list(convert_feed_dir(tmp_path))
    objects = [orjson.loads(i.raw) for i in items if isinstance(i, RawObject)]
    rejects = [i for i in items if isinstance(i, Reject)]
    expected = [
        orjson.loads(i.raw)
        for e in present
        for i in convert_events(orjson.dumps(e), "x")
        if isinstance(i, RawObject)
    ]
    assert {o["id"] for o in objects} == {o["id"] for o in expected}
    assert len([o for o in objects if o["type"] == "grouping"]) == 2
    assert len([o for o in objects if o["type"] == "indicator"]) == 3
    assert [r.reason for r in rejects] == ["listed in manifest.json but missing"]
    assert rejects[0].object_id == f"grouping--{missing[0]['Event']['uuid']}"
    origins = {i.origin for i in items if isinstance(i, RawObject)}
    assert origins == {str(tmp_path / f"{e['Event']['uuid']}.json") for e in present}


def test_event_file_that_is_not_json_is_a_reject_and_the_feed_goes_on(tmp_path: Path) -> None:
    good, broken = feed_event("good", "a.example"), feed_event("broken", "b.example")
    write_feed(tmp_path, [good, broken], [])
    (tmp_path / f"{broken['Event']['uuid']}.json").write_bytes(b"<html>")
    items = list(convert_feed_dir(tmp_path))
    rejects = [i for i in items if isinstance(i, Reject)]
    assert len(rejects) == 1 and "not JSON" in rejects[0].reason
    assert any(isinstance(i, RawObject) and b"grouping--" in i.raw for i in items)
