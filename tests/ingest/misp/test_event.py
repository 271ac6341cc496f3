"""MISP -> STIX 2.1: the reference bundles misp-stix made, the attribute and object mappings,
rejects, TLP tags and galaxies.

The reference files in ``shared/data/misp-examples`` are the expectation: each test computes
both sides from them and the converter, nothing expected is pasted here.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2patterns.validator import run_validator

from mburoja.errors import InputFormatError
from mburoja.ingest.misp import convert_events
from mburoja.stix import markings
from mburoja.stix.model import RawObject, Reject

EXAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "misp-examples"
KINDS = ("events", "attributes", "objects")
STAMP = "1603642920"

try:
    from mburoja.stix.validate import validate
except ImportError:  # pragma: no cover - the validator is another module's work
    validate = None


# --------------------------------------------------------------------------- factories


def attribute(kind: str, value: Any, *, to_ids: bool = False, **extra: Any) -> dict[str, Any]:
    """A MISP attribute with a fresh uuid."""
    return {
        "uuid": str(uuid.uuid4()),
        "type": kind,
        "category": "Network activity",
        "value": value,
        "timestamp": STAMP,
        "to_ids": to_ids,
        **extra,
    }


def misp_object(name: str, *attrs: tuple[str, str, str, bool]) -> dict[str, Any]:
    """A MISP object from (relation, type, value, to_ids) tuples."""
    return {
        "uuid": str(uuid.uuid4()),
        "name": name,
        "meta-category": "network",
        "timestamp": STAMP,
        "Attribute": [
            {**attribute(kind, value, to_ids=ids), "object_relation": rel}
            for rel, kind, value, ids in attrs
        ],
    }


def event(*attrs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A MISP event (``{"Event": ...}``) holding ``attrs``."""
    return {
        "Event": {
            "uuid": str(uuid.uuid4()),
            "info": "test event",
            "timestamp": STAMP,
            "Orgc": {"name": "CERT-AL", "uuid": str(uuid.uuid4())},
            "Attribute": list(attrs),
            **extra,
        }
    }


def convert(doc: Any, **options: Any) -> tuple[list[dict[str, Any]], list[Reject]]:
    """(parsed STIX objects, rejects) from one conversion."""
    objects: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for item in convert_events(doc, "test", **options):
        if isinstance(item, Reject):
            rejects.append(item)
        else:
            assert isinstance(item, RawObject) and item.derived and item.origin == "test"
            objects.append(orjson.loads(item.raw))
    return objects, rejects


def of_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == kind]


# --------------------------------------------------------------------------- the references


def converted_union(kind: str) -> dict[str, dict[str, Any]]:
    """Both collections of a kind converted, as one id -> object map (a union, like the
    reference bundle, which misp-stix made from both files)."""
    union: dict[str, dict[str, Any]] = {}
    for n in (1, 2):
        objects, rejects = convert((EXAMPLES / f"test_{kind}_collection_{n}.json").read_bytes())
        assert rejects == []
        union.update((o["id"], o) for o in objects)
    return union


def reference(kind: str) -> dict[str, dict[str, Any]]:
    bundle = json.loads((EXAMPLES / f"test_{kind}_collection_stix21.json").read_text())
    return {o["id"]: o for o in bundle["objects"]}


_SCO_FIELDS = ("value", "name", "number", "path", "key", "subject", "message_id", "user_id",
               "credential", "dst_port", "src_port")  # fmt: skip
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")


def observable_values(objects: dict[str, dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """(type, property, value) of every SCO value, hash and number, and every literal in an
    indicator pattern."""
    found: Counter[tuple[str, str, str]] = Counter()
    for obj in objects.values():
        for field in _SCO_FIELDS:
            if field in obj and obj["type"] not in ("indicator", "grouping", "identity"):
                found[(obj["type"], field, str(obj[field]))] += 1
        for algorithm, digest in obj.get("hashes", {}).items():
            found[(obj["type"], f"hashes.{algorithm}", digest)] += 1
        for literal in _LITERAL.findall(obj.get("pattern", "")):
            found[("indicator", "pattern", literal)] += 1
    return found


def is_deterministic(stix_id: str) -> bool:
    """misp-stix draws some relationship ids at random (uuid4); the rest come from MISP."""
    return not (stix_id.startswith("relationship--") and stix_id[-22] == "4")


def relationship_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return (obj["source_ref"], obj["relationship_type"], obj["target_ref"])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", (1, 2))
def test_each_reference_collection_converts_without_rejects(kind: str, n: int) -> None:
    objects, rejects = convert((EXAMPLES / f"test_{kind}_collection_{n}.json").read_bytes())
    assert rejects == []
    assert objects


@pytest.mark.parametrize("kind", KINDS)
def test_collections_map_to_the_reference_object_types(kind: str) -> None:
    mine, ref = converted_union(kind), reference(kind)
    assert Counter(o["type"] for o in mine.values()) == Counter(o["type"] for o in ref.values())


@pytest.mark.parametrize("kind", KINDS)
def test_collections_give_the_reference_observable_values(kind: str) -> None:
    assert observable_values(converted_union(kind)) == observable_values(reference(kind))


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_reference_ids_are_reproduced(kind: str) -> None:
    mine = converted_union(kind)
    expected = {i for i in reference(kind) if is_deterministic(i)}
    assert expected <= mine.keys()


@pytest.mark.parametrize("kind", KINDS)
def test_indicator_patterns_equal_the_reference_text(kind: str) -> None:
    mine, ref = converted_union(kind), reference(kind)
    patterns = {i: o["pattern"] for i, o in ref.items() if o["type"] == "indicator"}
    assert patterns
    assert {i: mine[i]["pattern"] for i in patterns} == patterns


@pytest.mark.parametrize("kind", KINDS)
def test_relationships_link_the_same_objects_as_the_reference(kind: str) -> None:
    mine, ref = converted_union(kind), reference(kind)
    ours = {relationship_key(o) for o in of_type(list(mine.values()), "relationship")}
    theirs = {relationship_key(o) for o in of_type(list(ref.values()), "relationship")}
    assert ours == theirs


def property_differences(kind: str) -> list[str]:
    """Every property that differs from the reference, after mapping misp-stix's random
    relationship ids onto ours (same source, type and target)."""
    mine, ref = converted_union(kind), reference(kind)
    ours = {relationship_key(o): i for i, o in mine.items() if o["type"] == "relationship"}
    renamed = {i: ours[relationship_key(o)] for i, o in ref.items() if o["type"] == "relationship"}
    differences = []
    for ref_id, expected in ref.items():
        expected = {**expected, "id": renamed.get(ref_id, ref_id)}
        if "object_refs" in expected:
            expected["object_refs"] = [renamed.get(r, r) for r in expected["object_refs"]]
        actual = mine[expected["id"]]
        for prop in sorted(expected.keys() | actual.keys()):
            if expected.get(prop) != actual.get(prop):
                differences.append(
                    f"{ref_id} {prop}: {expected.get(prop)!r} != {actual.get(prop)!r}"
                )
    return differences


@pytest.mark.parametrize("kind", KINDS)
def test_every_property_equals_the_reference_except_random_relationship_ids(kind: str) -> None:
    assert property_differences(kind) == []


@pytest.mark.parametrize("kind", KINDS)
def test_relationship_ids_are_misp_stix_uuid5_where_the_reference_has_one(kind: str) -> None:
    mine, ref = converted_union(kind), reference(kind)
    v5 = {i for i, o in ref.items() if o["type"] == "relationship" and i[-22] == "5"}
    assert v5 <= mine.keys()


@pytest.mark.parametrize("kind", KINDS)
def test_every_object_is_stix_21_json_with_type_and_id(kind: str) -> None:
    for obj in converted_union(kind).values():
        assert obj["spec_version"] == "2.1"
        assert obj["id"].startswith(obj["type"] + "--")


@pytest.mark.skipif(validate is None, reason="mburoja.stix.validate is not importable yet")
@pytest.mark.parametrize("kind", KINDS)
def test_every_reference_conversion_passes_the_validator(kind: str) -> None:
    assert validate is not None
    for obj in converted_union(kind).values():
        assert [str(i) for i in validate(obj)] == [], obj["id"]


# --------------------------------------------------------------------------- attribute types

# (type, value, the SCO types the observed-data refers to)
OBSERVABLES = [
    ("ip-src", "198.51.100.7", ["network-traffic", "ipv4-addr"]),
    ("ip-dst", "2001:db8::1", ["network-traffic", "ipv6-addr"]),
    ("ip-dst", "198.51.100.0/24", ["network-traffic", "ipv4-addr"]),
    ("ip-src|port", "198.51.100.7|8080", ["network-traffic", "ipv4-addr"]),
    ("ip-dst|port", "198.51.100.7|443", ["network-traffic", "ipv4-addr"]),
    ("domain", "evil.example", ["domain-name"]),
    ("hostname", "www.evil.example", ["domain-name"]),
    ("domain|ip", "evil.example|198.51.100.7", ["domain-name", "ipv4-addr"]),
    ("hostname|port", "evil.example|8443", ["domain-name", "network-traffic"]),
    ("url", "https://evil.example/a?b='c'", ["url"]),
    ("uri", "/wp-admin/x.php", ["url"]),
    ("link", "https://blog.example/report", ["url"]),
    ("email", "a@evil.example", ["email-addr"]),
    ("email-src", "a@evil.example", ["email-message", "email-addr"]),
    ("email-dst", "b@gov.example", ["email-message", "email-addr"]),
    ("email-subject", "Invoice", ["email-message"]),
    ("filename", "invoice.pdf.exe", ["file"]),
    ("md5", "8764605c6f388c89096b534d33565802", ["file"]),
    ("sha1", "46aba99aa7158e4609aaa72b50990842fd22ae86", ["file"]),
    ("sha256", "ec5aedf5ecc6bdadd4120932170d1b10f6cfa175cfda22951dfd882928ab279b", ["file"]),
    ("sha512", "a" * 128, ["file"]),
    ("ssdeep", "96:pYdGDlBnJ4kCdMUgRf/xWpFlNR9qZ0n:pCOKk9R3dxWf9R9q", ["file"]),
    ("filename|md5", "a.exe|8764605c6f388c89096b534d33565802", ["file"]),
    ("filename|sha1", "a.exe|46aba99aa7158e4609aaa72b50990842fd22ae86", ["file"]),
    ("filename|sha256", "a.exe|" + "b" * 64, ["file"]),
    ("filename|sha512", "a.exe|" + "c" * 128, ["file"]),
    ("AS", "AS174", ["autonomous-system"]),
    ("mac-address", "00:1A:2B:3C:4D:5E", ["mac-addr"]),
    ("mutex", "Global\\evil", ["mutex"]),
    ("regkey", "HKLM\\Software\\Run", ["windows-registry-key"]),
    ("regkey|value", "HKLM\\Software\\Run|evil.exe", ["windows-registry-key"]),
]


@pytest.mark.parametrize(("kind", "value", "scos"), OBSERVABLES)
def test_attribute_not_to_ids_becomes_observed_data_with_its_observables(
    kind: str, value: str, scos: list[str]
) -> None:
    attr = attribute(kind, value)
    objects, rejects = convert(event(attr))
    assert rejects == []
    assert of_type(objects, "indicator") == []
    (observed,) = of_type(objects, "observed-data")
    assert observed["id"] == f"observed-data--{attr['uuid']}"
    assert [ref.partition("--")[0] for ref in observed["object_refs"]] == scos
    assert {o["id"] for o in objects} >= set(observed["object_refs"])
    assert f'misp:type="{kind}"' in observed["labels"]


@pytest.mark.parametrize(("kind", "value", "scos"), OBSERVABLES)
def test_attribute_to_ids_also_becomes_a_valid_indicator_based_on_the_observation(
    kind: str, value: str, scos: list[str]
) -> None:
    attr = attribute(kind, value, to_ids=True, comment="seen in phishing")
    objects, rejects = convert(event(attr))
    assert rejects == []
    (indicator,) = of_type(objects, "indicator")
    assert indicator["id"] == f"indicator--{attr['uuid']}"
    assert indicator["description"] == "seen in phishing"
    assert indicator["kill_chain_phases"] == [
        {"kill_chain_name": "misp-category", "phase_name": "Network activity"}
    ]
    assert run_validator(indicator["pattern"], stix_version="2.1") == []
    (based_on,) = of_type(objects, "relationship")
    assert relationship_key(based_on) == (
        indicator["id"], "based-on", f"observed-data--{attr['uuid']}"
    )  # fmt: skip


def test_pattern_literals_are_escaped() -> None:
    attr = attribute("url", "https://evil.example/a?b='c'\\d", to_ids=True)
    (indicator,) = of_type(convert(event(attr))[0], "indicator")
    assert indicator["pattern"] == "[url:value = 'https://evil.example/a?b=\\'c\\'\\\\d']"


@pytest.mark.parametrize("kind", ["user-agent", "http-method", "port", "size-in-bytes"])
def test_types_without_an_observable_are_a_lone_indicator_when_to_ids(kind: str) -> None:
    value = "80" if kind in ("port", "size-in-bytes") else "Mozilla/5.0 'x'"
    objects, rejects = convert(event(attribute(kind, value, to_ids=True)))
    assert rejects == []
    assert [o["type"] for o in objects if o["type"] not in ("identity", "grouping")] == [
        "indicator"
    ]
    assert run_validator(of_type(objects, "indicator")[0]["pattern"], stix_version="2.1") == []


@pytest.mark.parametrize(
    ("kind", "value"),
    [("text", "free text"), ("comment", "a note"), ("threat-actor", "APT-X"),
     ("user-agent", "curl/8"), ("github-username", "someone")],
)  # fmt: skip
def test_unmapped_attribute_types_become_a_misp_custom_attribute(kind: str, value: str) -> None:
    attr = attribute(kind, value)
    objects, rejects = convert(event(attr))
    assert rejects == []
    (custom,) = of_type(objects, "x-misp-attribute")
    assert custom["id"] == f"x-misp-attribute--{attr['uuid']}"
    assert (custom["x_misp_type"], custom["x_misp_value"]) == (kind, value)


def test_vulnerability_attribute_becomes_a_vulnerability_with_its_cve_reference() -> None:
    attr = attribute("vulnerability", "CVE-2021-44228")
    (vulnerability,) = of_type(convert(event(attr))[0], "vulnerability")
    assert vulnerability["id"] == f"vulnerability--{attr['uuid']}"
    assert vulnerability["name"] == "CVE-2021-44228"
    assert vulnerability["external_references"] == [
        {"source_name": "cve", "external_id": "CVE-2021-44228"}
    ]


def test_campaign_name_attribute_becomes_a_campaign() -> None:
    attr = attribute("campaign-name", "Operation Shield")
    (campaign,) = of_type(convert(event(attr))[0], "campaign")
    assert (campaign["id"], campaign["name"]) == (f"campaign--{attr['uuid']}", "Operation Shield")


def test_to_ids_defaults_to_misp_per_type_default_when_absent() -> None:
    domain, autonomous = attribute("domain", "evil.example"), attribute("AS", "AS1")
    del domain["to_ids"], autonomous["to_ids"]
    objects, _ = convert(event(domain, autonomous))
    assert [o["id"] for o in of_type(objects, "indicator")] == [f"indicator--{domain['uuid']}"]


def test_first_and_last_seen_become_the_observation_window() -> None:
    attr = attribute(
        "domain", "evil.example",
        first_seen="2024-01-02T03:04:05.000000+00:00", last_seen="2024-02-01T00:00:00+01:00",
    )  # fmt: skip
    (observed,) = of_type(convert(event(attr))[0], "observed-data")
    assert observed["first_observed"] == "2024-01-02T03:04:05Z"
    assert observed["last_observed"] == "2024-01-31T23:00:00Z"


# --------------------------------------------------------------------------- rejects


@pytest.mark.parametrize(
    ("bad", "field", "reason_part"),
    [
        (attribute("ip-dst", "999.1.1.1", to_ids=True), "value", "999.1.1.1"),
        (attribute("md5", "abc"), "value", "md5"),
        (attribute("ip-src|port", "198.51.100.7|99999"), "value", "port"),
        (attribute("domain|ip", "evil.example"), "value", "|"),
        (attribute("AS", "ASX"), "value", "autonomous system"),
        (attribute("mac-address", "00:11"), "value", "MAC"),
        (attribute("email-src", "not-an-address"), "value", "e-mail"),
        ({**attribute("domain", "x.example"), "value": ""}, "value", "no value"),
        (
            {k: v for k, v in attribute("domain", "x.example").items() if k != "type"},
            "type",
            "type",
        ),
        ({**attribute("domain", "x.example"), "uuid": "not-a-uuid"}, "uuid", "uuid"),
        ({**attribute("domain", "x.example"), "timestamp": "yesterday"}, "timestamp", "epoch"),
    ],
)
def test_bad_attribute_is_rejected_by_field_and_the_others_still_convert(
    bad: dict[str, Any], field: str, reason_part: str
) -> None:
    good_before, good_after = attribute("domain", "a.example"), attribute("url", "http://b.example")
    objects, rejects = convert(event(good_before, bad, good_after))
    (reject,) = rejects
    assert reject.field == f"Event[0].Attribute[1].{field}"
    assert reason_part in reject.reason
    assert orjson.loads(reject.raw) == bad
    observed = {o["id"] for o in of_type(objects, "observed-data")}
    assert observed == {
        f"observed-data--{good_before['uuid']}",
        f"observed-data--{good_after['uuid']}",
    }


def test_objects_and_rejects_are_numbered_one_after_another() -> None:
    doc = event(attribute("domain", "a.example"), attribute("ip-dst", "1.2.3"))
    items = list(convert_events(doc, "test"))
    assert [i.index for i in items] == list(range(len(items)))
    assert isinstance(items[-1], Reject)


def test_bad_object_attribute_is_rejected_and_the_object_converts_without_it() -> None:
    obj = misp_object(
        "file", ("filename", "filename", "a.exe", True), ("md5", "md5", "zz", True),
        ("sha1", "sha1", "46aba99aa7158e4609aaa72b50990842fd22ae86", True),
    )  # fmt: skip
    objects, rejects = convert(event(Object=[obj]))
    (reject,) = rejects
    assert reject.field == "Event[0].Object[0].Attribute[1].value"
    (file,) = of_type(objects, "file")
    assert file["name"] == "a.exe" and list(file["hashes"]) == ["SHA-1"]


def test_event_without_uuid_is_rejected_and_the_next_event_converts() -> None:
    broken, good = event(attribute("domain", "a.example")), event(attribute("domain", "b.example"))
    del broken["Event"]["uuid"]
    objects, rejects = convert({"response": [broken, good]})
    assert [r.field for r in rejects] == ["Event[0].uuid"]
    assert [g["id"] for g in of_type(objects, "grouping")] == [f"grouping--{good['Event']['uuid']}"]


def test_input_that_is_not_misp_json_raises_a_format_error() -> None:
    with pytest.raises(InputFormatError, match="not JSON"):
        list(convert_events(b"{nope", "x.json"))
    with pytest.raises(InputFormatError, match="not a MISP"):
        list(convert_events({"type": "bundle"} | {"objects": []}, "x.json"))


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["ip-dst", "ip-src|port", "domain|ip", "md5", "AS", "regkey|value",
                          "email-dst", "hostname|port", "mac-address", "url"]),
    value=st.text(min_size=0, max_size=40),
    to_ids=st.booleans(),
)  # fmt: skip
def test_any_value_either_converts_or_is_one_reject_never_a_crash(
    kind: str, value: str, to_ids: bool
) -> None:
    objects, rejects = convert(event(attribute(kind, value, to_ids=to_ids)))
    produced = [o for o in objects if o["type"] not in ("identity", "grouping", "note")]
    assert (len(rejects), bool(produced)) in ((1, False), (0, True))
    for indicator in of_type(objects, "indicator"):
        assert run_validator(indicator["pattern"], stix_version="2.1") == []


# --------------------------------------------------------------------------- events


def test_event_becomes_a_grouping_by_its_orgc_listing_everything_made_from_it() -> None:
    doc = event(attribute("domain", "a.example", to_ids=True), attribute("AS", "AS1"))
    objects, _ = convert(doc)
    orgc = doc["Event"]["Orgc"]
    identity, grouping = objects[0], objects[1]
    assert identity == {
        "type": "identity", "spec_version": "2.1", "id": f"identity--{orgc['uuid']}",
        "created": "2020-10-25T16:22:00.000Z", "modified": "2020-10-25T16:22:00.000Z",
        "name": "CERT-AL", "identity_class": "organization",
    }  # fmt: skip
    assert grouping["id"] == f"grouping--{doc['Event']['uuid']}"
    assert grouping["context"] == "suspicious-activity"
    assert grouping["created_by_ref"] == identity["id"]
    assert set(grouping["object_refs"]) == {o["id"] for o in objects[2:]}
    for obj in objects[2:]:
        expected = identity["id"] if obj["type"] in ("indicator", "observed-data") else None
        assert obj.get("created_by_ref") == expected


def test_published_event_becomes_a_report() -> None:
    doc = event(attribute("domain", "a.example"), published=True, publish_timestamp="1700000000")
    (report,) = of_type(convert(doc)[0], "report")
    assert report["id"] == f"report--{doc['Event']['uuid']}"
    assert report["published"] == "2023-11-14T22:13:20.000Z"


def test_empty_event_gets_a_note_so_the_grouping_is_not_empty() -> None:
    objects, _ = convert(event())
    (note,) = of_type(objects, "note")
    (grouping,) = of_type(objects, "grouping")
    assert grouping["object_refs"] == [note["id"]]


def test_identity_is_emitted_once_for_events_of_the_same_org() -> None:
    first, second = event(attribute("domain", "a.example")), event(attribute("domain", "b.example"))
    second["Event"]["Orgc"] = first["Event"]["Orgc"]
    objects, _ = convert([first, second])
    assert len(of_type(objects, "identity")) == 1
    assert len(of_type(objects, "grouping")) == 2


@pytest.mark.parametrize(
    "shape",
    [lambda e: e, lambda e: e["Event"], lambda e: [e], lambda e: {"response": [e]},
     lambda e: orjson.dumps(e), lambda e: orjson.dumps(e).decode()],
)  # fmt: skip
def test_every_event_shape_gives_the_same_objects(shape: Any) -> None:
    doc = event(attribute("ip-dst", "198.51.100.7", to_ids=True))
    assert convert(shape(doc)) == convert(doc)


def test_conversion_is_deterministic_so_a_reimport_is_unchanged() -> None:
    doc = orjson.dumps(
        event(
            attribute("ip-dst", "198.51.100.7", to_ids=True),
            Object=[misp_object("url", ("url", "url", "http://x.example", True))],
        )
    )
    assert [i.raw for i in convert_events(doc, "a")] == [i.raw for i in convert_events(doc, "a")]


def test_attribute_collection_has_no_grouping_and_takes_orgc_from_the_attribute() -> None:
    orgc = {"name": "Partner", "uuid": str(uuid.uuid4())}
    attr = attribute("domain", "a.example", Event={"Orgc": orgc})
    objects, _ = convert({"response": {"Attribute": [attr, attribute("AS", "AS2")]}})
    assert of_type(objects, "grouping") == []
    (identity,) = of_type(objects, "identity")
    observed = of_type(objects, "observed-data")
    assert [o.get("created_by_ref") for o in observed] == [identity["id"], None]


# --------------------------------------------------------------------------- tags and markings


def marking_ids(obj: dict[str, Any]) -> list[str]:
    return obj.get("object_marking_refs", [])


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("tlp:white", markings.TLP1["white"]), ("tlp:green", markings.TLP1["green"]),
     ("tlp:amber", markings.TLP1["amber"]), ("tlp:red", markings.TLP1["red"]),
     ("tlp:clear", markings.TLP2["clear"]), ("tlp:amber+strict", markings.TLP2["amber+strict"]),
     ("TLP:AMBER", markings.TLP1["amber"])],
)  # fmt: skip
def test_tlp_tag_becomes_the_marking_and_its_definition_is_emitted_once(
    tag: str, expected: str
) -> None:
    doc = event(attribute("domain", "a.example", to_ids=True), Tag=[{"name": tag}])
    objects, _ = convert(doc)
    (grouping,) = of_type(objects, "grouping")
    assert marking_ids(grouping) == [expected]
    assert [o["id"] for o in of_type(objects, "marking-definition")] == [expected]
    assert tag not in grouping["labels"]


def test_amber_strict_never_becomes_the_tlp1_amber_marking() -> None:
    objects, _ = convert(
        event(attribute("domain", "a.example"), Tag=[{"name": "tlp:amber+strict"}])
    )
    assert all(markings.TLP1["amber"] not in marking_ids(o) for o in objects)


def test_event_tlp_is_carried_onto_every_object_made_from_the_event() -> None:
    doc = event(
        attribute("domain", "a.example", to_ids=True),
        Tag=[{"name": "tlp:red"}],
        Object=[misp_object("url", ("url", "url", "http://x.example", True))],
    )
    for obj in convert(doc)[0]:
        if obj["type"] not in ("identity", "marking-definition"):
            assert marking_ids(obj) == [markings.TLP1["red"]], obj["id"]


def test_attribute_tlp_tag_overrides_the_event_tlp_and_other_tags_become_labels() -> None:
    tags = [{"name": "tlp:green"}, {"name": 'osint:source-type="blog"'}]
    attr = attribute("domain", "a.example", to_ids=True, Tag=tags)
    objects, _ = convert(event(attr, Tag=[{"name": "tlp:amber"}, {"name": "apt"}]))
    (indicator,) = of_type(objects, "indicator")
    assert marking_ids(indicator) == [markings.TLP1["green"]]
    assert indicator["labels"][-1] == 'osint:source-type="blog"'
    (grouping,) = of_type(objects, "grouping")
    assert grouping["labels"][-1] == "apt"
    assert len(of_type(objects, "marking-definition")) == 2


def test_event_tlp_stays_on_the_grouping_only_when_inheritance_is_off() -> None:
    objects, _ = convert(event(attribute("domain", "a.example"), Tag=[{"name": "tlp:red"}]),
                         inherit_event_markings=False)  # fmt: skip
    marked = [o["type"] for o in objects if marking_ids(o)]
    assert marked == ["grouping"]


# --------------------------------------------------------------------------- galaxies


def galaxy(kind: str, value: str, **meta: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()), "name": kind.title(), "type": kind, "description": "d",
        "GalaxyCluster": [{
            "uuid": str(uuid.uuid4()), "type": kind, "value": value, "description": "about",
            "tag_name": f'misp-galaxy:{kind}="{value}"', "meta": meta,
        }],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "stix_type"),
    [("threat-actor", "threat-actor"), ("mitre-attack-pattern", "attack-pattern"),
     ("mitre-malware", "malware"), ("mitre-tool", "tool"), ("ransomware", "malware"),
     ("mitre-intrusion-set", "intrusion-set"), ("mitre-course-of-action", "course-of-action"),
     ("branded-vulnerability", "vulnerability"), ("sector", "x-misp-galaxy-cluster")],
)  # fmt: skip
def test_event_galaxy_cluster_becomes_its_sdo_listed_in_the_grouping(
    kind: str, stix_type: str
) -> None:
    g = galaxy(kind, "Fancy Bear - G0007", synonyms=["APT28", "Fancy Bear - G0007"],
               external_id=["G0007"])  # fmt: skip
    doc = event(
        attribute("domain", "a.example"),
        Galaxy=[g],
        Tag=[{"name": g["GalaxyCluster"][0]["tag_name"]}],
    )
    objects, rejects = convert(doc)
    assert rejects == []
    (sdo,) = of_type(objects, stix_type)
    assert sdo["id"] == f"{stix_type}--{g['GalaxyCluster'][0]['uuid']}"
    (grouping,) = of_type(objects, "grouping")
    assert sdo["id"] in grouping["object_refs"]
    assert g["GalaxyCluster"][0]["tag_name"] not in grouping["labels"]
    if validate is not None:
        assert [str(i) for i in validate(sdo)] == []


def test_mitre_galaxy_names_drop_the_external_id_and_keep_aliases_and_references() -> None:
    g = galaxy("mitre-intrusion-set", "APT28 - G0007", synonyms=["APT28", "Sofacy"],
               external_id=["G0007"], refs=["https://attack.mitre.org/groups/G0007"])  # fmt: skip
    (sdo,) = of_type(convert(event(Galaxy=[g]))[0], "intrusion-set")
    assert sdo["name"] == "APT28"
    assert sdo["aliases"] == ["Sofacy"]
    assert {"source_name": "mitre-attack", "external_id": "G0007"} in sdo["external_references"]


def test_attribute_galaxy_is_related_to_what_the_attribute_became() -> None:
    lone = attribute("user-agent", "evil-agent", to_ids=True, Galaxy=[galaxy("mitre-malware", "X")])
    seen = attribute("domain", "a.example", Galaxy=[galaxy("threat-actor", "Y")])
    objects, _ = convert(event(lone, seen))
    kinds = {
        (r["source_ref"].split("--")[0], r["relationship_type"], r["target_ref"].split("--")[0])
        for r in of_type(objects, "relationship")
    }
    assert kinds == {("indicator", "indicates", "malware"),
                     ("observed-data", "related-to", "threat-actor")}  # fmt: skip


# --------------------------------------------------------------------------- MISP objects


# (template, attributes, SCO types of the observed-data)
TEMPLATES = [
    (
        "file",
        [
            ("filename", "filename", "a.exe", True),
            ("md5", "md5", "8764605c6f388c89096b534d33565802", True),
            ("size-in-bytes", "size-in-bytes", "35", False),
            ("path", "text", "C:\\tmp", False),
        ],
        ["file", "directory"],
    ),
    (
        "domain-ip",
        [("domain", "domain", "evil.example", True), ("ip", "ip-dst", "198.51.100.7", True)],
        ["ipv4-addr", "domain-name"],
    ),
    (
        "domain-ip",
        [("domain", "domain", "evil.example", True), ("port", "port", "443", True)],
        ["domain-name"],
    ),
    (
        "ip-port",
        [
            ("ip", "ip-dst", "198.51.100.7", True),
            ("dst-port", "port", "443", True),
            ("domain", "domain", "evil.example", False),
        ],
        ["network-traffic", "ipv4-addr"],
    ),
    ("url", [("url", "url", "http://evil.example/x", True), ("port", "port", "80", True)], ["url"]),
    (
        "email",
        [
            ("from", "email-src", "a@evil.example", True),
            ("to", "email-dst", "b@gov.example", True),
            ("subject", "email-subject", "Hi", True),
            ("attachment", "email-attachment", "x.doc", False),
        ],
        ["email-message", "email-addr", "email-addr", "file"],
    ),
    (
        "network-connection",
        [
            ("ip-src", "ip-src", "10.0.0.1", True),
            ("ip-dst", "ip-dst", "198.51.100.7", True),
            ("dst-port", "port", "443", True),
            ("layer4-protocol", "text", "TCP", True),
            ("hostname-dst", "hostname", "evil.example", True),
        ],
        ["network-traffic", "ipv4-addr", "ipv4-addr"],
    ),
    (
        "credential",
        [("username", "text", "root", True), ("password", "text", "toor", True)],
        ["user-account"],
    ),
    (
        "asn",
        [("asn", "AS", "AS174", True), ("description", "text", "Cogent", False)],
        ["autonomous-system"],
    ),
    ("mutex", [("name", "mutex", "Global\\x", True)], ["mutex"]),
]


@pytest.mark.parametrize(("name", "attrs", "scos"), TEMPLATES)
def test_object_template_becomes_observed_data_and_a_valid_indicator(
    name: str, attrs: list[tuple[str, str, str, bool]], scos: list[str]
) -> None:
    obj = misp_object(name, *attrs)
    objects, rejects = convert(event(Object=[obj]))
    assert rejects == []
    (observed,) = of_type(objects, "observed-data")
    assert observed["id"] == f"observed-data--{obj['uuid']}"
    assert [r.partition("--")[0] for r in observed["object_refs"]] == scos
    (indicator,) = of_type(objects, "indicator")
    assert indicator["id"] == f"indicator--{obj['uuid']}"
    assert run_validator(indicator["pattern"], stix_version="2.1") == []
    literals = _LITERAL.findall(indicator["pattern"])
    for _, _, value, ids in attrs:
        if ids:
            shown = [lit.replace("\\\\", "\\").lower() for lit in literals]
            assert any(lit in value.lower() for lit in shown), value
    if validate is not None:
        for stix in objects:
            assert [str(i) for i in validate(stix)] == [], stix["id"]


def test_object_without_to_ids_attributes_has_no_indicator() -> None:
    obj = misp_object("url", ("url", "url", "http://x.example", False))
    assert of_type(convert(event(Object=[obj]))[0], "indicator") == []


def test_unmapped_object_template_becomes_a_misp_custom_object() -> None:
    obj = misp_object("bank-account", ("iban", "iban", "AL47212110090000000235698741", False))
    (custom,) = of_type(convert(event(Object=[obj]))[0], "x-misp-object")
    assert custom["id"] == f"x-misp-object--{obj['uuid']}"
    assert custom["x_misp_name"] == "bank-account"
    assert custom["x_misp_attributes"][0]["value"] == "AL47212110090000000235698741"


def test_object_reference_becomes_a_relationship_between_the_converted_objects() -> None:
    source = misp_object("url", ("url", "url", "http://x.example", False))
    target = misp_object("domain-ip", ("domain", "domain", "x.example", False))
    ref_uuid = str(uuid.uuid4())
    source["ObjectReference"] = [{"uuid": ref_uuid, "referenced_uuid": target["uuid"],
                                  "relationship_type": "resolves-to"}]  # fmt: skip
    (relationship,) = of_type(convert(event(Object=[source, target]))[0], "relationship")
    assert relationship["id"] == f"relationship--{ref_uuid}"
    assert relationship_key(relationship) == (
        f"observed-data--{source['uuid']}",
        "resolves-to",
        f"observed-data--{target['uuid']}",
    )


def test_derived_relationship_ids_are_the_standard_uuid5_in_misp_stix_namespace() -> None:
    attr = attribute("domain", "a.example", to_ids=True)
    (relationship,) = of_type(convert(event(attr))[0], "relationship")
    namespace = uuid.UUID("76beed5f-7251-457e-8c2a-b45f7b589d3d")
    name = f"indicator--{attr['uuid']} - based-on - observed-data--{attr['uuid']}"
    assert relationship["id"] == f"relationship--{uuid.uuid5(namespace, name)}"


def test_second_value_of_a_mapped_relation_is_kept_as_a_custom_property() -> None:
    obj = misp_object(
        "credential", ("username", "text", "root", True), ("password", "text", "a", True),
        ("password", "text", "b", True),
    )  # fmt: skip
    objects, _ = convert(event(Object=[obj]))
    (account,) = of_type(objects, "user-account")
    assert (account["credential"], account["x_misp_password"]) == ("a", "b")
    (indicator,) = of_type(objects, "indicator")
    assert "user-account:x_misp_password = 'b'" in indicator["pattern"]


_JUNK = st.one_of(
    st.none(), st.integers(), st.booleans(), st.text(max_size=12),
    st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
)  # fmt: skip
_TYPES = st.sampled_from([kind for kind, _, _ in OBSERVABLES] + ["text", "port", "user-agent"])
_RELATIONS = st.sampled_from(
    ["filename", "md5", "path", "size-in-bytes", "ip", "ip-src", "ip-dst", "domain", "dst-port",
     "url", "from", "to", "subject", "username", "password", "asn", "name", "first-seen"]
)  # fmt: skip
_TEMPLATES = st.sampled_from([name for name, _, _ in TEMPLATES] + ["unknown-template"])


@st.composite
def messy_attribute(draw: st.DrawFn) -> dict[str, Any]:
    """An attribute where any field may be missing, of the wrong type or nonsense."""
    attr = attribute(draw(_TYPES), draw(st.text(max_size=30)), to_ids=draw(st.booleans()))
    for field in ("type", "value", "uuid", "timestamp", "to_ids", "Tag", "first_seen"):
        if draw(st.integers(0, 5)) == 0:
            attr[field] = draw(_JUNK)
    return attr


@st.composite
def messy_object(draw: st.DrawFn) -> dict[str, Any]:
    """A MISP object of a known or unknown template with arbitrary relations and values."""
    attrs = draw(
        st.lists(st.tuples(_RELATIONS, _TYPES, st.text(max_size=20), st.booleans()), max_size=5)
    )
    return misp_object(draw(_TEMPLATES), *attrs)


@settings(max_examples=150, deadline=None)
@given(
    attrs=st.lists(messy_attribute(), max_size=4),
    objects=st.lists(messy_object(), max_size=3),
    tags=st.one_of(_JUNK, st.just([{"name": "tlp:amber"}])),
)
def test_messy_events_yield_only_valid_stix_or_rejects(
    attrs: list[dict[str, Any]], objects: list[dict[str, Any]], tags: Any
) -> None:
    produced, _ = convert(event(*attrs, Object=objects, Tag=tags))
    for obj in produced:
        assert obj["spec_version"] == "2.1" and obj["id"].startswith(obj["type"] + "--")
        if obj["type"] == "indicator":
            assert run_validator(obj["pattern"], stix_version="2.1") == []
        if validate is not None:
            assert [str(i) for i in validate(obj) if i.level == "error"] == [], obj
