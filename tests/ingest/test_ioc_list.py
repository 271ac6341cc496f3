"""Plain-text and CSV IOC lists become indicators, SCOs and ``based-on`` relationships."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from mburoja.errors import InputFormatError
from mburoja.ingest.ioc_list import IocOptions, convert_csv, convert_text, looks_like_csv
from mburoja.stix import markings, pattern
from mburoja.stix.identifiers import is_identifier
from mburoja.stix.model import RawObject, Reject
from mburoja.stix.observables import extract

NOW = "2026-03-01T12:00:00.000Z"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def options(**overrides: Any) -> IocOptions:
    return IocOptions(**{"source": "vendor-x", **overrides})


def text_list(*lines: str) -> bytes:
    return "\n".join(lines).encode()


def csv_list(*rows: list[str], delimiter: str = ",") -> bytes:
    return "\n".join(delimiter.join(row) for row in rows).encode()


def objects(items: list[RawObject | Reject]) -> list[dict[str, Any]]:
    return [orjson.loads(i.raw) for i in items if isinstance(i, RawObject)]


def of_type(items: list[RawObject | Reject], type_: str) -> list[dict[str, Any]]:
    return [o for o in objects(items) if o["type"] == type_]


def rejects(items: list[RawObject | Reject]) -> list[Reject]:
    return [i for i in items if isinstance(i, Reject)]


def convert(data: bytes, **overrides: Any) -> list[RawObject | Reject]:
    return list(convert_text(data, "iocs.txt", options(**overrides), NOW))


DEFANGED = [
    ("evil[.]example", "[domain-name:value = 'evil.example']", "domain-name"),
    ("198[.]51[.]100[.]7", "[ipv4-addr:value = '198.51.100.7']", "ipv4-addr"),
    ("10.0.0.0/8", "[ipv4-addr:value ISSUBSET '10.0.0.0/8']", "ipv4-addr"),
    ("2001:db8::/32", "[ipv6-addr:value ISSUBSET '2001:db8::/32']", "ipv6-addr"),
    ("2001:DB8::1", "[ipv6-addr:value = '2001:db8::1']", "ipv6-addr"),
    ("hxxps://evil[.]example/a?b='c'", "[url:value = 'https://evil.example/a?b=\\'c\\'']", "url"),
    (MD5.upper(), f"[file:hashes.'MD5' = '{MD5}']", "file"),
    (SHA256, f"[file:hashes.'SHA-256' = '{SHA256}']", "file"),
    ("boss[@]evil[.]example", "[email-addr:value = 'boss@evil.example']", "email-addr"),
    ("AS174", "[autonomous-system:number = 174]", "autonomous-system"),
]


@pytest.mark.parametrize(("line", "expected_pattern", "sco_type"), DEFANGED)
def test_each_value_gives_indicator_sco_and_based_on(
    line: str, expected_pattern: str, sco_type: str
) -> None:
    items = convert(text_list("# list", line))
    indicator, sco, relationship = objects(items)
    assert indicator["pattern"] == expected_pattern
    assert pattern.check(indicator["pattern"]) is None
    assert sco["type"] == sco_type
    assert relationship["relationship_type"] == "based-on"
    assert (relationship["source_ref"], relationship["target_ref"]) == (indicator["id"], sco["id"])
    assert all(isinstance(i, RawObject) and i.derived and i.index == 2 for i in items)


def test_indicator_carries_the_options_and_the_stix_essentials() -> None:
    items = convert(
        text_list("evil.example"),
        labels=("c2", "apt"),
        confidence=80,
        valid_from="2026-01-01T00:00:00Z",
        valid_until="2027-01-01T00:00:00Z",
    )
    (indicator,) = of_type(items, "indicator")
    assert indicator["created"] == indicator["modified"] == NOW
    assert indicator["valid_from"] == "2026-01-01T00:00:00Z"
    assert indicator["valid_until"] == "2027-01-01T00:00:00Z"
    assert indicator["labels"] == ["c2", "apt"]
    assert indicator["confidence"] == 80
    assert indicator["name"] == "evil.example"
    assert indicator["indicator_types"] == ["malicious-activity"]
    assert (indicator["pattern_type"], indicator["pattern_version"]) == ("stix", "2.1")
    assert indicator["spec_version"] == "2.1"
    assert all(is_identifier(o["id"]) for o in objects(items))


def test_valid_from_defaults_to_the_ingest_time() -> None:
    (indicator,) = of_type(convert(text_list("evil.example")), "indicator")
    assert indicator["valid_from"] == NOW


def test_the_same_value_gets_the_same_ids_everywhere() -> None:
    first = objects(convert(text_list("evil[.]example")))
    again = objects(list(convert_text(b"evil.example", "other.txt", options(source="y"), NOW)))
    assert [o["id"] for o in first] == [o["id"] for o in again]


def test_a_scope_gives_the_list_its_own_indicator_but_the_same_sco() -> None:
    shared = of_type(convert(text_list("evil.example")), "indicator")[0]
    feed_a = convert(text_list("evil.example"), scope="feed:a")
    feed_b = convert(text_list("evil.example"), scope="feed:b")
    ids = {shared["id"], of_type(feed_a, "indicator")[0]["id"]}
    ids.add(of_type(feed_b, "indicator")[0]["id"])
    assert len(ids) == 3
    assert of_type(feed_a, "domain-name") == of_type(feed_b, "domain-name")
    (rel,) = of_type(feed_a, "relationship")
    assert rel["source_ref"] == of_type(feed_a, "indicator")[0]["id"]
    again = convert(text_list("evil[.]example"), scope="feed:a")
    assert [o["id"] for o in objects(again)] == [o["id"] for o in objects(feed_a)]


def test_without_observables_each_value_gives_its_indicator_alone() -> None:
    items = convert(text_list("evil.example", "198.51.100.7", "evil.example"), observables=False)
    assert [o["type"] for o in objects(items)] == ["indicator", "indicator"]
    full = of_type(convert(text_list("evil.example", "198.51.100.7")), "indicator")
    assert of_type(items, "indicator") == full


def test_observables_of_each_indicator_equal_those_of_its_sco() -> None:
    items = convert(text_list(*(line for line, _, _ in DEFANGED)))
    by_id = {o["id"]: o for o in objects(items)}
    relationships = of_type(items, "relationship")
    assert len(relationships) == len(DEFANGED)
    for rel in relationships:
        indicator, sco = by_id[rel["source_ref"]], by_id[rel["target_ref"]]
        assert extract(indicator)
        assert extract(indicator) == extract(sco)


def test_indicator_count_equals_distinct_values() -> None:
    lines = ["evil.example", "EVIL[.]example", "evil.example.", "198.51.100.7", "198[.]51.100.7"]
    items = convert(text_list(*lines))
    assert len(of_type(items, "indicator")) == 2
    assert not rejects(items)


def test_tlp_marks_every_object_and_emits_its_definition_once() -> None:
    items = convert(text_list("a.example", "b.example"), tlp="amber+strict")
    made = objects(items)
    definitions = [o for o in made if o["type"] == "marking-definition"]
    assert definitions == [markings.tlp2_definition("amber+strict")]
    marked = [o for o in made if o["type"] != "marking-definition"]
    assert len(marked) == 6
    assert all(o["object_marking_refs"] == [markings.TLP2["amber+strict"]] for o in marked)


def test_tlp_white_means_clear() -> None:
    (indicator,) = of_type(convert(text_list("a.example"), tlp="WHITE"), "indicator")
    assert indicator["object_marking_refs"] == [markings.TLP2["clear"]]


def test_unknown_tlp_is_refused_with_the_valid_names() -> None:
    with pytest.raises(InputFormatError) as err:
        convert(text_list("a.example"), tlp="purple")
    assert "purple" in str(err.value)
    for name in markings.TLP2:
        assert name in str(err.value)


def test_confidence_outside_0_to_100_is_refused() -> None:
    with pytest.raises(InputFormatError, match="confidence"):
        convert(text_list("a.example"), confidence=101)


def test_comments_and_blank_lines_are_skipped_silently() -> None:
    items = convert(text_list("# c", "; c", "// c", "", "   ", "evil.example  # our C2"))
    assert not rejects(items)
    assert [o["name"] for o in of_type(items, "indicator")] == ["evil.example"]
    assert {i.index for i in items} == {6}


def test_lines_that_are_no_indicator_are_rejected_with_their_line_number() -> None:
    items = convert(text_list("evil.example", "readme.txt", "", "hello world", "AS174"))
    assert [(r.index, r.field) for r in rejects(items)] == [(2, "value"), (4, "value")]
    first = rejects(items)[0]
    assert first.reason == (
        "not a recognised indicator: 'readme.txt' "
        "(expected ip, cidr, domain, url, hash, email or ASN)"
    )
    assert first.raw == b"readme.txt"
    assert first.origin == "iocs.txt"


def test_undecodable_lines_are_rejected_and_the_rest_kept() -> None:
    data = b"evil.example\n\xff\xfeevil\n198.51.100.7\r\n"
    items = convert(data)
    (bad,) = rejects(items)
    assert bad.index == 2
    assert "not valid UTF-8" in bad.reason
    assert bad.raw == b"\xff\xfeevil"
    assert len(of_type(items, "indicator")) == 2


# --- CSV -----------------------------------------------------------------------------------


def convert_csv_list(data: bytes, **overrides: Any) -> list[RawObject | Reject]:
    return list(convert_csv(data, "iocs.csv", options(**overrides), NOW))


def test_csv_header_is_skipped_and_every_cell_is_tried() -> None:
    data = csv_list(
        ["indicator", "type", "comment"],
        ["evil[.]example", "domain", '"seen in phishing, twice"'],
        ["198.51.100.7", "ip", "c2"],
        ["nothing", "here", "at all"],
    )
    items = convert_csv_list(data)
    names = [o["name"] for o in of_type(items, "indicator")]
    assert names == ["evil.example", "198.51.100.7"]
    assert [r.index for r in rejects(items)] == [4]
    assert {i.index for i in items if isinstance(i, RawObject)} == {2, 3}


def test_csv_row_with_two_indicators_gives_both() -> None:
    data = csv_list(["evil.example", "198.51.100.7", "note"])
    names = [o["name"] for o in of_type(convert_csv_list(data), "indicator")]
    assert names == ["evil.example", "198.51.100.7"]


def test_csv_with_semicolons_and_quotes_is_sniffed() -> None:
    data = csv_list(
        ["value", "description"],
        ['"evil.example"', '"a; b"'],
        ["'198.51.100.7'", "x"],
        delimiter=";",
    )
    items = convert_csv_list(data)
    assert [o["name"] for o in of_type(items, "indicator")] == ["evil.example", "198.51.100.7"]
    assert not rejects(items)


def test_csv_column_by_name_reads_only_that_column() -> None:
    data = csv_list(["first_seen", "IOC", "ref"], ["2026-01-01", "evil.example", "other.example"])
    items = convert_csv_list(data, column="ioc")
    assert [o["name"] for o in of_type(items, "indicator")] == ["evil.example"]


def test_csv_column_by_index_rejects_short_rows_and_bad_values() -> None:
    data = csv_list(["x", "evil.example"], ["y"], ["z", "not-an-ioc"])
    items = convert_csv_list(data, column="1")
    assert [o["name"] for o in of_type(items, "indicator")] == ["evil.example"]
    assert [(r.index, r.field) for r in rejects(items)] == [(2, "column"), (3, "value")]


def test_csv_unknown_column_name_is_refused_with_the_header() -> None:
    data = csv_list(["indicator", "type"], ["evil.example", "domain"])
    with pytest.raises(InputFormatError) as err:
        convert_csv_list(data, column="value")
    assert "'indicator'" in str(err.value)


def test_csv_comment_rows_and_undecodable_rows() -> None:
    data = b"# exported 2026-01-01\nevil.example,x\n\xff,\xfe\n198.51.100.7,y\n"
    items = convert_csv_list(data)
    assert [(r.index, "UTF-8" in r.reason) for r in rejects(items)] == [(3, True)]
    assert len(of_type(items, "indicator")) == 2


def test_csv_duplicates_give_one_indicator() -> None:
    data = csv_list(["evil.example", "EVIL.example"], ["evil[.]example", "x"])
    counts = Counter(o["type"] for o in objects(convert_csv_list(data)))
    assert counts == {"indicator": 1, "domain-name": 1, "relationship": 1}


def test_looks_like_csv_tells_lists_from_tables() -> None:
    assert looks_like_csv(csv_list(["indicator", "type"], ["evil.example", "domain"]))
    assert looks_like_csv(csv_list(["a", "b"], ["c", "d"], delimiter="\t"))
    assert not looks_like_csv(text_list("# list", "evil.example", "198.51.100.7"))
    assert not looks_like_csv(b"")
