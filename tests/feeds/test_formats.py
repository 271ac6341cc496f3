"""Each feed format on its fixture: counts add up, patterns and SCOs, rejects with their lines."""

from __future__ import annotations

import orjson
import pytest

from mburoja.config import LimitSettings
from mburoja.errors import ConfigError, InputFormatError, InputTooLarge
from mburoja.feeds.catalogue import FormatOptions
from mburoja.feeds.formats import FORMATS, ROUTED, read
from mburoja.stix import markings
from mburoja.stix.identifiers import uuid5_id
from tests.feeds.helpers import FIXTURES, NOW, Parsed, data_lines, parse, spec_for


def test_urlhaus_csv() -> None:
    got = parse("urlhaus.csv", "urlhaus-csv")
    assert set(got.indicators) == {
        "[url:value = 'http://198.51.100.7/bins/mozi.m']",
        "[url:value = 'https://cdn.evil.example/payload/invoice.exe']",
        "[url:value = 'http://203.0.113.45:8080/i']",  # refanged from hxxp
    }
    assert got.reject_places == [
        ("test-feed:line 13", "value"),
        ("test-feed:line 14", "first_seen"),
        ("test-feed:line 15", "value"),
    ]
    assert "not a url at all" in got.rejects[0].reason
    assert "no value column 2" in got.rejects[2].reason
    # every data line is an indicator, a reject, or a repeat of an earlier value (line 16)
    assert got.indicator_lines + [r.index for r in got.rejects] + [16] == data_lines("urlhaus.csv")
    mozi = got.indicators["[url:value = 'http://198.51.100.7/bins/mozi.m']"]
    assert mozi["valid_from"] == "2026-11-20T10:01:13.000Z"
    assert mozi["labels"] == ["from-feed", "elf", "Mozi"]
    assert mozi["confidence"] == 60
    assert mozi["object_marking_refs"] == [markings.tlp_marking_id("green")]
    assert {s["value"] for s in got.scos} == {
        "http://198.51.100.7/bins/mozi.m",
        "https://cdn.evil.example/payload/invoice.exe",
        "http://203.0.113.45:8080/i",
    }
    assert len(got.relationships) == 3


def test_feodo_csv() -> None:
    got = parse("feodo.csv", "feodo-csv")
    assert set(got.indicators) == {
        "[ipv4-addr:value = '192.0.2.10']",
        "[ipv4-addr:value = '203.0.113.99']",
    }
    assert got.reject_places == [("test-feed:line 11", "value")]
    assert "'999.0.2.1'" in got.rejects[0].reason
    assert [*got.indicator_lines, 11] == data_lines("feodo.csv")
    assert got.indicators["[ipv4-addr:value = '203.0.113.99']"]["labels"] == ["from-feed", "Dridex"]


def test_feodo_json() -> None:
    got = parse("feodo.json", "feodo-json")
    assert set(got.indicators) == {
        "[ipv4-addr:value = '192.0.2.10']",
        "[ipv6-addr:value = '2001:db8::7']",
    }
    assert got.reject_places == [
        ("test-feed:entry 3", "ip_address"),
        ("test-feed:entry 4", "first_seen"),
    ]
    assert "'yesterday'" in got.rejects[1].reason
    entries = orjson.loads((FIXTURES / "feodo.json").read_bytes())
    assert len(got.indicators) + len(got.rejects) == len(entries)
    assert {s["value"] for s in got.scos} == {"192.0.2.10", "2001:db8::7"}


def test_threatfox_json() -> None:
    got = parse("threatfox.json", "threatfox-json")
    sha = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    assert set(got.indicators) == {
        "[ipv4-addr:value = '198.51.100.23']",  # the port is dropped
        "[domain-name:value = 'login-update.example']",  # refanged
        "[url:value = 'http://203.0.113.8/gate.php']",
        f"[file:hashes.'SHA-256' = '{sha}']",  # lower-cased
    }
    assert got.reject_places == [
        ("test-feed:entry 1300005", "ioc_type"),
        ("test-feed:entry 1300006", "confidence_level"),
    ]
    assert "'mutex'" in got.rejects[0].reason and "250" in got.rejects[1].reason
    assert len(got.indicators) + len(got.rejects) == 6
    cobalt = got.indicators["[ipv4-addr:value = '198.51.100.23']"]
    assert cobalt["confidence"] == 100  # the entry's, not the feed's 60
    assert cobalt["labels"] == ["from-feed", "win.cobalt_strike", "CobaltStrike", "c2"]
    assert cobalt["external_references"] == [{"source_name": "threatfox", "external_id": "1300001"}]
    assert cobalt["valid_from"] == "2026-11-20T07:11:02.000Z"
    files = [s for s in got.scos if s["type"] == "file"]
    assert files[0]["hashes"] == {"SHA-256": sha}


def test_malwarebazaar_csv() -> None:
    got = parse("malwarebazaar.csv", "malwarebazaar-csv")
    hashes = [
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ]
    assert list(got.indicators) == [f"[file:hashes.'SHA-256' = '{h}']" for h in hashes]
    assert [s["hashes"] for s in got.scos] == [{"SHA-256": h} for h in hashes]
    assert got.reject_places == [("test-feed:line 11", "value")]
    assert [*got.indicator_lines, 11] == data_lines("malwarebazaar.csv")
    labels = [i.get("labels") for i in got.indicators.values()]
    assert labels == [["from-feed", "AgentTesla"], ["from-feed"]]  # "n/a" is no label


def test_spamhaus_drop_keeps_the_sbl_id() -> None:
    got = parse("spamhaus_drop.txt", "spamhaus-drop")
    assert list(got.indicators) == [
        "[ipv4-addr:value ISSUBSET '192.0.2.0/24']",
        "[ipv4-addr:value ISSUBSET '198.51.100.0/25']",
        "[ipv4-addr:value ISSUBSET '203.0.113.128/26']",
        "[ipv6-addr:value ISSUBSET '2001:db8:1::/48']",
    ]
    assert got.reject_places == [("test-feed:line 8", "value"), ("test-feed:line 9", "sbl")]
    assert sorted([*got.indicator_lines, 8, 9]) == data_lines("spamhaus_drop.txt", comment=";")
    refs = [i["external_references"] for i in got.indicators.values()]
    assert refs[0] == [{"source_name": "spamhaus-sbl", "external_id": "SBL100001"}]
    assert [r[0]["external_id"] for r in refs] == [
        "SBL100001",
        "SBL100002",
        "SBL100003",
        "SBL100005",
    ]
    assert {s["value"] for s in got.scos} == {
        "192.0.2.0/24",
        "198.51.100.0/25",
        "203.0.113.128/26",
        "2001:db8:1::/48",
    }


def test_text_list_reuses_the_ioc_list_converter() -> None:
    got = parse("blocklist.txt", "text", confidence=40)
    assert set(got.indicators) == {
        "[ipv4-addr:value = '192.0.2.55']",
        "[ipv4-addr:value = '198.51.100.66']",
        "[ipv6-addr:value = '2001:db8::66']",
        "[ipv4-addr:value = '203.0.113.77']",  # refanged
    }
    assert got.reject_places == [("test-feed:line 7", "value")]
    assert [*got.indicator_lines, 7, 8] == data_lines("blocklist.txt")  # line 8 repeats line 2
    assert all(
        i["confidence"] == 40 and i["labels"] == ["from-feed"] for i in got.indicators.values()
    )


VENDOR = FormatOptions(
    column="indicator",
    header=True,
    delimiter=";",
    first_seen_column="seen",
    tags_column="tags",
    tags_separator="|",
    confidence_column="score",
    comment_prefixes=("//",),
)


def test_csv_with_column_mapping() -> None:
    got = parse("vendor.csv", "csv", options=VENDOR)
    assert set(got.indicators) == {
        "[domain-name:value = 'evil.example']",
        "[ipv4-addr:value = '198.51.100.9']",
    }
    evil = got.indicators["[domain-name:value = 'evil.example']"]
    assert (evil["valid_from"], evil["labels"], evil["confidence"]) == (
        "2026-11-19T12:00:00.000Z",
        ["from-feed", "phishing", "bank"],
        85,
    )
    assert (
        got.indicators["[ipv4-addr:value = '198.51.100.9']"]["valid_from"]
        == "2026-11-19T00:00:00.000Z"
    )
    assert got.reject_places == [
        ("test-feed:line 5", "value"),
        ("test-feed:line 6", "confidence"),
        ("test-feed:line 7", "first_seen"),
    ]
    # the header (line 2) is no data; every other line is an indicator or a reject
    assert [2, *got.indicator_lines, 5, 6, 7] == data_lines("vendor.csv", comment="//")


def test_csv_column_by_index_and_a_named_column_without_header() -> None:
    data = b"# ip,port\n192.0.2.1,80\n192.0.2.2\n"
    items = list(
        read(data, "v", spec_for("csv", options=FormatOptions(column=0)), NOW, LimitSettings())
    )
    assert list(Parsed(items).indicators) == [
        "[ipv4-addr:value = '192.0.2.1']",
        "[ipv4-addr:value = '192.0.2.2']",
    ]
    named = spec_for("csv", options=FormatOptions(column="ip"))
    with pytest.raises(InputFormatError, match="'ip' is a name but the feed has no header row"):
        list(read(data, "v", named, NOW, LimitSettings()))


def test_undecodable_line_is_rejected_with_its_number() -> None:
    data = b"192.0.2.1,x\n\xff\xfe,y\n192.0.2.3,z\n"
    items = list(
        read(data, "v", spec_for("csv", options=FormatOptions(column=0)), NOW, LimitSettings())
    )
    rejects = Parsed(items).rejects
    assert [(r.origin, r.field) for r in rejects] == [("v:line 2", "line")]
    assert "UTF-8" in rejects[0].reason


def test_ids_are_deterministic_and_equal_the_ioc_list_ids() -> None:
    first = parse("feodo.json", "feodo-json")
    again = parse("feodo.json", "feodo-json")
    assert [o["id"] for o in first.objects] == [o["id"] for o in again.objects]
    pattern = "[ipv4-addr:value = '192.0.2.10']"
    assert first.indicators[pattern]["id"] == uuid5_id(
        "indicator", f"mburoja-ioc|feed:test-feed|{pattern}".encode()
    )
    # the same value from another format of the same feed gets the same indicator id
    assert (
        parse("feodo.csv", "feodo-csv").indicators[pattern]["id"] == first.indicators[pattern]["id"]
    )
    # another feed listing the value has an indicator of its own; the SCO is the one SCO
    other = parse("feodo.json", "feodo-json", name="other-feed")
    assert other.indicators[pattern]["id"] != first.indicators[pattern]["id"]
    assert {o["id"] for o in other.objects if o["type"] == "ipv4-addr"} == {
        o["id"] for o in first.objects if o["type"] == "ipv4-addr"
    }


def test_a_feed_stores_indicators_alone_unless_it_asks_for_observables() -> None:
    lean = parse("feodo.json", "feodo-json", observables=False)
    full = parse("feodo.json", "feodo-json")
    assert {o["type"] for o in lean.objects} == {"indicator", "marking-definition"}
    assert lean.indicators == full.indicators
    assert {"ipv4-addr", "ipv6-addr", "relationship"} <= {o["type"] for o in full.objects}


def test_stix_format_reads_a_bundle() -> None:
    bundle = {
        "type": "bundle",
        "id": "bundle--6f8d6c2a-4a4e-4c57-9d8f-1a1f1b3a0c11",
        "objects": [
            {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
                "value": "198.51.100.3",
            }
        ],
    }
    items = list(read(orjson.dumps(bundle), "s", spec_for("stix"), NOW, LimitSettings()))
    assert [orjson.loads(i.raw)["value"] for i in items] == ["198.51.100.3"]


def test_not_json_is_an_input_format_error() -> None:
    with pytest.raises(InputFormatError, match="t: not valid JSON"):
        list(read(b"<html>", "t", spec_for("threatfox-json"), NOW, LimitSettings()))
    with pytest.raises(InputFormatError, match="expected a JSON list"):
        list(read(b"{}", "t", spec_for("feodo-json"), NOW, LimitSettings()))


def test_routed_formats_are_refused_by_read_and_size_is_capped() -> None:
    assert set(ROUTED) == {"misp-feed", "taxii"} and not set(ROUTED) & set(FORMATS)
    with pytest.raises(ConfigError, match=r"misp-feed.*feeds.incremental"):
        read(b"{}", "m", spec_for("misp-feed"), NOW, LimitSettings())
    with pytest.raises(InputTooLarge, match="over the limit of 4"):
        read(b"192.0.2.1\n", "t", spec_for("text"), NOW, LimitSettings(max_input_bytes=4))
