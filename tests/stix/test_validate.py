"""The STIX 2.1 validator: real data passes, each rule rejects the right field with a reason
that names the problem, and generated valid/malformed objects land on the right side."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from mburoja.stix.markings import TLP2_EXTENSION_ID, tlp1_definition, tlp2_definition
from mburoja.stix.model import Issue
from mburoja.stix.validate import errors, validate
from tests.strategies import malformed_objects, valid_objects

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
T0 = "2024-01-01T00:00:00.000Z"
T1 = "2024-06-01T00:00:00.000Z"
IDENTITY = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --------------------------------------------------------------------------- factories


def new_id(type_name: str) -> str:
    return f"{type_name}--{uuid.uuid4()}"


def sdo(type_name: str, **props: Any) -> dict[str, Any]:
    """An SDO/SRO with the common required properties; ``props`` add or override."""
    obj = {
        "type": type_name,
        "spec_version": "2.1",
        "id": new_id(type_name),
        "created": T0,
        "modified": T0,
    }
    obj.update(props)
    return obj


def indicator(**props: Any) -> dict[str, Any]:
    base = {
        "pattern": "[domain-name:value = 'evil.example']",
        "pattern_type": "stix",
        "valid_from": T0,
    }
    return sdo("indicator", **{**base, **props})


def relationship(source: str, target: str, **props: Any) -> dict[str, Any]:
    return sdo(
        "relationship", relationship_type="uses", source_ref=source, target_ref=target, **props
    )


def sco(type_name: str, **props: Any) -> dict[str, Any]:
    return {"type": type_name, "id": new_id(type_name), **props}


def at(obj: Any, field: str, level: str = "error") -> list[Issue]:
    """The issues of ``level`` that ``validate`` reports on ``field``."""
    return [i for i in validate(obj) if i.field == field and i.level == level]


def reason_at(obj: Any, field: str, level: str = "error") -> str:
    found = at(obj, field, level)
    assert len(found) == 1, validate(obj)
    return found[0].reason


# --------------------------------------------------------------------------- real data


def data_objects() -> list[tuple[str, dict[str, Any]]]:
    files = sorted((DATA / "stix-examples").glob("*.json"))
    files += sorted((DATA / "misp-examples").glob("*_stix21.json"))
    files.append(DATA / "disarm" / "DISARM.json")
    found = []
    for path in files:
        content = json.loads(path.read_text(encoding="utf-8"))
        objects = content["objects"] if content.get("type") == "bundle" else [content]
        found += [(f"{path.name}:{obj['id']}", obj) for obj in objects]
    return found


def test_every_object_of_the_real_data_validates_without_errors() -> None:
    objects = data_objects()
    assert len(objects) > 800
    failures = {name: errors(validate(obj)) for name, obj in objects}
    assert {name: found for name, found in failures.items() if found} == {}


def test_disarm_custom_types_are_kept_without_a_warning() -> None:
    disarm = [obj for name, obj in data_objects() if name.startswith("DISARM")]
    tactics = [obj for obj in disarm if obj["type"] == "x-mitre-tactic"]
    assert len(tactics) == 16
    assert all(validate(obj) == [] for obj in tactics)


# --------------------------------------------------------------------------- input shape


@pytest.mark.parametrize("value", [None, [], "indicator", 5])
def test_a_non_object_is_an_error_on_the_empty_field(value: Any) -> None:
    [issue] = validate(value)  # type: ignore[arg-type]
    assert issue.level == "error" and issue.field == "" and "JSON object" in issue.reason


def test_a_bundle_is_not_an_object() -> None:
    bundle = {"type": "bundle", "id": new_id("bundle"), "objects": []}
    assert "bundle" in reason_at(bundle, "type")


@pytest.mark.parametrize("bad", ["Indicator", "ab", "x--y", "-xy", "xy-", "a_b", "a" * 251, 7])
def test_type_must_be_a_valid_type_name(bad: Any) -> None:
    assert "a-z" in reason_at({"type": bad, "id": "x"}, "type")


def test_type_is_required() -> None:
    assert reason_at({"id": new_id("indicator")}, "type") == "is required"


# --------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    "bad",
    [
        "indicator--1234",
        "indicator--6ba7b810-9dad-01d1-80b4-00c04fd430c8",
        "indicator--6ba7b810-9dad-41d1-c0b4-00c04fd430c8",
        "indicator--6ba7b8109dad41d180b400c04fd430c8",
        "indicator-6ba7b810-9dad-41d1-80b4-00c04fd430c8",
        "indicator--6ba7b810-9dad-41d1-80b4-00c04fd430c8 ",
    ],
)
def test_id_must_be_type_and_rfc4122_uuid(bad: str) -> None:
    assert "UUID" in reason_at(indicator(id=bad), "id") or "start with" in reason_at(
        indicator(id=bad), "id"
    )


def test_id_type_must_be_the_object_type() -> None:
    reason = reason_at(indicator(id=new_id("malware")), "id")
    assert "'indicator--'" in reason and "malware--" in reason


def test_uuid_case_and_versions_1_to_8_are_accepted() -> None:
    for u in (
        "6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
        "017f22e2-79b0-7cc3-98c4-dc0c0c07398f",
        str(uuid.uuid5(uuid.NAMESPACE_DNS, "x")),
        "6ba7b810-9dad-81d1-b0b4-00c04fd430c8",
    ):
        assert at(indicator(id=f"indicator--{u}"), "id") == []


# --------------------------------------------------------------------------- spec_version


def test_spec_version_is_required_on_sdos_sros_and_meta_objects() -> None:
    for obj in (
        indicator(),
        relationship(new_id("malware"), new_id("tool")),
        tlp1_definition("red"),
    ):
        del obj["spec_version"]
        assert "required" in reason_at(obj, "spec_version")


def test_spec_version_is_optional_on_scos_but_must_be_21_when_present() -> None:
    assert validate(sco("ipv4-addr", value="198.51.100.7")) == []
    assert "'2.0'" in reason_at(
        sco("ipv4-addr", value="1.2.3.4", spec_version="2.0"), "spec_version"
    )


# --------------------------------------------------------------------------- required properties


@pytest.mark.parametrize(
    ("factory", "missing"),
    [
        (indicator, "pattern"),
        (indicator, "pattern_type"),
        (indicator, "valid_from"),
        (indicator, "created"),
        (indicator, "modified"),
        (lambda: sdo("malware", is_family=False), "is_family"),
        (lambda: sdo("report", name="r", published=T0, object_refs=[IDENTITY]), "published"),
        (lambda: sdo("grouping", context="unspecified", object_refs=[IDENTITY]), "object_refs"),
        (lambda: sco("domain-name", value="example.org"), "value"),
        (lambda: sco("email-message", is_multipart=False), "is_multipart"),
        (lambda: sdo("sighting", sighting_of_ref=new_id("indicator")), "sighting_of_ref"),
    ],
)
def test_a_missing_required_property_is_an_error_on_it(factory: Any, missing: str) -> None:
    obj = factory()
    assert validate(obj) == []
    del obj[missing]
    assert "required" in reason_at(obj, missing)


def test_malware_families_need_a_name() -> None:
    assert reason_at(sdo("malware", is_family=True), "name") == "is required when is_family is true"
    assert validate(sdo("malware", is_family=False)) == []


def test_location_needs_a_place() -> None:
    assert "region, country" in reason_at(sdo("location", name="somewhere"), "region")
    assert validate(sdo("location", latitude=41.3, longitude=19.8)) == []
    assert "longitude" in reason_at(sdo("location", longitude=19.8, country="AL"), "latitude")


def test_file_needs_hashes_or_name() -> None:
    assert "hashes, name" in reason_at(sco("file", size=3), "hashes")


def test_observed_data_needs_exactly_one_of_objects_and_object_refs() -> None:
    base = sdo("observed-data", first_observed=T0, last_observed=T0, number_observed=1)
    assert "objects, object_refs" in reason_at(base, "objects")
    both = {**base, "objects": {"0": {"type": "url"}}, "object_refs": [new_id("url")]}
    assert "together with objects" in reason_at(both, "object_refs")


# --------------------------------------------------------------------------- timestamps


def test_a_bad_timestamp_names_the_field_and_the_value() -> None:
    reason = reason_at(indicator(valid_from="2020-13-01T00:00:00Z"), "valid_from")
    assert reason == "must be a timestamp in RFC 3339 UTC form, got '2020-13-01T00:00:00Z'"


def test_modified_must_not_be_earlier_than_created() -> None:
    reason = reason_at(indicator(created=T1, modified=T0), "modified")
    assert "earlier than created" in reason


def test_modified_equal_to_created_at_another_precision_is_fine() -> None:
    assert (
        validate(
            indicator(created="2024-01-01T00:00:00.500Z", modified="2024-01-01T00:00:00.5000Z")
        )
        == []
    )


def test_modified_later_than_created_is_compared_as_instants_not_strings() -> None:
    # As strings '...00.5Z' > '...00.10Z' would sort wrongly; as instants 0.5 > 0.1.
    bad = indicator(created="2024-01-01T00:00:00.5Z", modified="2024-01-01T00:00:00.10Z")
    assert "earlier than created" in reason_at(bad, "modified")


def test_valid_until_must_be_after_valid_from() -> None:
    assert "later than valid_from" in reason_at(indicator(valid_until=T0), "valid_until")
    assert validate(indicator(valid_until=T1)) == []


def test_last_seen_must_not_precede_first_seen() -> None:
    campaign = sdo("campaign", name="c", first_seen=T1, last_seen=T0)
    assert "earlier than first_seen" in reason_at(campaign, "last_seen")


def test_created_with_whole_seconds_is_only_a_warning() -> None:
    obj = indicator(created="2024-01-01T00:00:00Z", modified="2024-01-01T00:00:00Z")
    assert errors(validate(obj)) == []
    assert "milliseconds" in reason_at(obj, "created", "warning")


# --------------------------------------------------------------------------- numbers and types


@pytest.mark.parametrize("bad", [0, 1_000_000_000, "1", 1.0, True])
def test_number_observed_is_an_integer_from_1_to_999999999(bad: Any) -> None:
    obj = sdo(
        "observed-data",
        first_observed=T0,
        last_observed=T0,
        number_observed=bad,
        object_refs=[new_id("url")],
    )
    assert reason_at(obj, "number_observed")


@pytest.mark.parametrize("bad", [-1, 101, "50", 50.5, False])
def test_confidence_is_an_integer_from_0_to_100(bad: Any) -> None:
    assert reason_at(indicator(confidence=bad), "confidence")


def test_booleans_must_be_json_booleans() -> None:
    assert "true or false" in reason_at(indicator(revoked="false"), "revoked")
    assert "true or false" in reason_at(sco("url", value="http://x.test", defanged=1), "defanged")


def test_labels_are_a_non_empty_list_of_strings() -> None:
    assert "non-empty list" in reason_at(indicator(labels="evil"), "labels")
    assert "non-empty list" in reason_at(indicator(labels=[]), "labels")
    assert "string" in reason_at(indicator(labels=["ok", 3]), "labels[1]")


@pytest.mark.parametrize("bad", ["english!", "", "en_US", 7])
def test_lang_is_a_language_tag(bad: Any) -> None:
    assert "RFC 5646" in reason_at(indicator(lang=bad), "lang")


def test_lang_tags_are_accepted() -> None:
    assert validate(indicator(lang="sq")) == [] and validate(indicator(lang="en-GB")) == []


# --------------------------------------------------------------------------- references


def test_every_ref_must_be_an_identifier() -> None:
    assert "identifier" in reason_at(indicator(created_by_ref="ACME"), "created_by_ref")
    refs = sdo("report", name="r", published=T0, object_refs=[IDENTITY, "nope", new_id("url")])
    assert "identifier" in reason_at(refs, "object_refs[1]")


def test_created_by_ref_must_reference_an_identity() -> None:
    assert "'identity'" in reason_at(indicator(created_by_ref=new_id("malware")), "created_by_ref")


def test_object_marking_refs_must_reference_marking_definitions() -> None:
    obj = indicator(object_marking_refs=[TLP_GREEN, IDENTITY])
    assert "'marking-definition'" in reason_at(obj, "object_marking_refs[1]")


def test_relationships_cannot_connect_sros_or_meta_objects() -> None:
    for target in ("relationship", "sighting", "marking-definition", "language-content", "bundle"):
        rel = relationship(new_id("malware"), new_id(target))
        assert f"got a {target!r} id" in reason_at(rel, "target_ref")


def test_relationships_may_connect_sdos_scos_and_custom_objects() -> None:
    rel = relationship(new_id("x-mitre-tactic"), new_id("ipv4-addr"))
    assert validate(rel) == []


def test_sighting_refs_are_restricted() -> None:
    sighting = sdo(
        "sighting",
        sighting_of_ref=new_id("ipv4-addr"),
        where_sighted_refs=[new_id("malware")],
        observed_data_refs=[new_id("indicator")],
    )
    assert "SDO" in reason_at(sighting, "sighting_of_ref")
    assert "'identity' or 'location'" in reason_at(sighting, "where_sighted_refs[0]")
    assert "'observed-data'" in reason_at(sighting, "observed_data_refs[0]")


def test_dangling_refs_are_not_the_validators_business() -> None:
    assert validate(relationship(new_id("malware"), new_id("tool"))) == []


# --------------------------------------------------------------------------- vocabularies


def test_open_vocabulary_values_outside_the_vocabulary_are_warnings() -> None:
    obj = indicator(indicator_types=["malicious-activity", "spooky"])
    [issue] = validate(obj)
    assert issue == Issue(
        "warning", "indicator_types[1]", "'spooky' is not in the open vocabulary indicator-type-ov"
    )


def test_closed_enumerations_are_errors() -> None:
    opinion = sdo("opinion", opinion="meh", object_refs=[new_id("report")])
    assert "opinion-enum" in reason_at(opinion, "opinion")
    socket = sco(
        "network-traffic",
        protocols=["tcp"],
        src_ref=new_id("ipv4-addr"),
        extensions={"socket-ext": {"address_family": "AF_CARRIER_PIGEON"}},
    )
    field = "extensions.socket-ext.address_family"
    assert "network-socket-address-family-enum" in reason_at(socket, field)


def test_registry_value_data_types_are_closed() -> None:
    key = sco(
        "windows-registry-key",
        key="HKLM\\x",
        values=[{"name": "a", "data_type": "REG_SZ"}, {"name": "b", "data_type": "STRING"}],
    )
    assert "windows-registry-datatype-enum" in reason_at(key, "values[1].data_type")


def test_extension_definition_types_are_closed() -> None:
    definition = sdo(
        "extension-definition",
        created_by_ref=IDENTITY,
        name="e",
        schema="s",
        version="1",
        extension_types=["new-sdo", "new-thing"],
    )
    assert "extension-type-enum" in reason_at(definition, "extension_types[1]")


# --------------------------------------------------------------------------- embedded structures


def test_external_references_need_a_source_name_and_some_detail() -> None:
    obj = indicator(external_references=[{"url": "https://x.test"}, {"source_name": "capec"}])
    assert reason_at(obj, "external_references[0].source_name") == "is required"
    assert "at least one of" in reason_at(obj, "external_references[1]")


def test_kill_chain_phases_need_both_names() -> None:
    obj = indicator(kill_chain_phases=[{"kill_chain_name": "lockheed"}])
    assert reason_at(obj, "kill_chain_phases[0].phase_name") == "is required"


def test_granular_markings_need_selectors_and_exactly_one_of_marking_ref_and_lang() -> None:
    both = indicator(
        granular_markings=[{"selectors": ["name"], "marking_ref": TLP_GREEN, "lang": "en"}]
    )
    assert "exactly one" in reason_at(both, "granular_markings[0]")
    none = indicator(granular_markings=[{"marking_ref": TLP_GREEN}])
    assert "non-empty list" in reason_at(none, "granular_markings[0].selectors")
    good = indicator(granular_markings=[{"selectors": ["name"], "marking_ref": TLP_GREEN}])
    assert validate(good) == []


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        ("MD5", "abc"),
        ("SHA-1", "z" * 40),
        ("SHA-256", SHA256[:-1]),
        ("SHA-512", SHA256),
        ("MD5", 5),
    ],
)
def test_hash_values_have_the_algorithms_shape(algorithm: str, digest: Any) -> None:
    obj = sco("file", hashes={algorithm: digest})
    assert reason_at(obj, f"hashes.{algorithm}")


def test_unknown_hash_algorithms_are_warnings_and_upper_case_hex_is_fine() -> None:
    obj = sco("file", hashes={"SHA-256": SHA256.upper(), "SHA256": SHA256})
    assert errors(validate(obj)) == []
    assert "hash-algorithm-ov" in reason_at(obj, "hashes.SHA256", "warning")


def test_extensions_entries_are_objects_and_extension_definitions_state_their_type() -> None:
    ext_id = new_id("extension-definition")
    obj = indicator(extensions={ext_id: {"rank": 5}, "x-foo-ext": "nope"})
    assert reason_at(obj, f"extensions.{ext_id}.extension_type") == (
        "is required for an extension-definition"
    )
    assert "must be an object" in reason_at(obj, "extensions.x-foo-ext")
    good = indicator(extensions={ext_id: {"extension_type": "property-extension", "rank": 5}})
    assert validate(good) == []


def test_predefined_extensions_are_checked_by_their_own_rules() -> None:
    archive = sco("file", name="a.zip", extensions={"archive-ext": {"comment": "no refs"}})
    assert "required" in reason_at(archive, "extensions.archive-ext.contains_refs")
    http = sco(
        "network-traffic",
        protocols=["http"],
        dst_ref=new_id("domain-name"),
        extensions={
            "http-request-ext": {
                "request_method": "get",
                "request_value": "/",
                "message_body_data_ref": new_id("file"),
            }
        },
    )
    assert "'artifact'" in reason_at(http, "extensions.http-request-ext.message_body_data_ref")


# --------------------------------------------------------------------------- markings


def test_tlp1_and_tlp2_marking_definitions_both_validate() -> None:
    for level in ("white", "green", "amber", "red"):
        assert validate(tlp1_definition(level)) == []
    for level in ("clear", "green", "amber", "amber+strict", "red"):
        assert validate(tlp2_definition(level)) == []


def test_statement_markings_validate_and_need_their_statement() -> None:
    marking = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": new_id("marking-definition"),
        "created": T0,
        "definition_type": "statement",
        "definition": {"statement": "Copyright CERT"},
    }
    assert validate(marking) == []
    marking["definition"] = {"text": "Copyright CERT"}
    assert reason_at(marking, "definition.statement")


def test_a_marking_needs_a_definition_or_an_extension() -> None:
    bare = tlp1_definition("red")
    del bare["definition_type"], bare["definition"]
    assert "unless an extension" in reason_at(bare, "definition_type")
    wrong = tlp1_definition("red")
    wrong["definition"] = {"tlp": "purple"}
    assert "purple" in reason_at(wrong, "definition.tlp")


def test_tlp2_extension_levels_are_checked() -> None:
    marking = tlp2_definition("red")
    marking["extensions"] = {
        TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": "ultraviolet"}
    }
    assert "amber+strict" in reason_at(marking, f"extensions.{TLP2_EXTENSION_ID}.tlp_2_0")


def test_common_properties_a_type_does_not_define_are_warnings() -> None:
    marking = {**tlp1_definition("green"), "modified": T0}
    assert errors(validate(marking)) == []
    assert "marking-definition" in reason_at(marking, "modified", "warning")


# --------------------------------------------------------------------------- custom content


def test_custom_properties_are_accepted_silently() -> None:
    obj = indicator(
        x_misp_category="Network activity", internal_score=3, x_nested={"a": [1, {"b": None}]}
    )
    assert validate(obj) == []


@pytest.mark.parametrize("name", ["Bad-Name", "xy", "x.y", "a" * 251])
def test_badly_named_unknown_properties_are_warnings_not_errors(name: str) -> None:
    obj = indicator(**{name: 1})
    assert errors(validate(obj)) == []
    assert "custom property name" in reason_at(obj, name, "warning")


def test_x_types_are_custom_objects_checked_on_common_properties_only() -> None:
    custom = {
        "type": "x-cert-ticket",
        "spec_version": "2.1",
        "id": new_id("x-cert-ticket"),
        "created": T0,
        "modified": T0,
        "anything": [1, 2],
    }
    assert validate(custom) == []
    custom["created_by_ref"] = new_id("malware")
    assert "'identity'" in reason_at(custom, "created_by_ref")


def test_unknown_non_x_types_are_kept_with_a_warning() -> None:
    obj = {"type": "narrative", "id": new_id("narrative")}
    [issue] = validate(obj)
    assert issue.level == "warning" and issue.field == "type" and "custom object" in issue.reason


def test_unknown_types_declared_by_an_extension_definition_need_no_warning() -> None:
    ext = new_id("extension-definition")
    obj = sdo("narrative", extensions={ext: {"extension_type": "new-sdo"}})
    assert validate(obj) == []


# --------------------------------------------------------------------------- patterns


def test_stix_patterns_are_checked_and_other_pattern_types_are_not() -> None:
    assert "pattern" in reason_at(indicator(pattern="[domain-name:value = 'x'"), "pattern")
    assert validate(indicator(pattern="alert tcp any any -> any any", pattern_type="snort")) == []


# --------------------------------------------------------------------------- generated objects


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(valid_objects())
def test_generated_valid_objects_have_no_errors(obj: dict[str, Any]) -> None:
    assert errors(validate(obj)) == []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(malformed_objects())
def test_generated_malformed_objects_always_have_an_error(obj: Any) -> None:
    assert errors(validate(obj)) != []
