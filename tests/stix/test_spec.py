"""The STIX 2.1 tables: complete, self-consistent, and in agreement with the OASIS ``stix2``
reference library's own model of the spec."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from mburoja.stix import spec

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import stix2.v21 as reference
    from stix2.properties import (
        BooleanProperty,
        EnumProperty,
        ListProperty,
        OpenVocabProperty,
        ReferenceProperty,
        TimestampProperty,
    )
    from stix2.v21 import vocab as reference_vocab

KINDS = {
    "any",
    "string",
    "strings",
    "timestamp",
    "boolean",
    "integer",
    "float",
    "ref",
    "refs",
    "enum",
    "enums",
    "vocab",
    "vocabs",
    "hashes",
    "dict",
    "hex",
    "binary",
    "lang",
    "object",
    "objects",
    "kill_chain_phases",
    "external_references",
    "granular_markings",
    "extensions",
}


def words(text: str) -> list[str]:
    return text.split()


SDOS = words(
    "attack-pattern campaign course-of-action grouping identity incident indicator infrastructure "
    "intrusion-set location malware malware-analysis note observed-data opinion report "
    "threat-actor tool vulnerability"
)
SCOS = words(
    "artifact autonomous-system directory domain-name email-addr email-message file ipv4-addr "
    "ipv6-addr mac-addr mutex network-traffic process software url user-account "
    "windows-registry-key x509-certificate"
)


def all_specs() -> list[spec.TypeSpec]:
    """Every table: object types, embedded types and predefined extensions."""
    specs = [*spec.TYPES.values(), *spec.EMBEDDED.values()]
    for type_spec in spec.TYPES.values():
        specs.extend(type_spec.extensions.values())
    return specs


def reference_classes() -> dict[str, Any]:
    classes = {**reference.OBJ_MAP, **reference.OBJ_MAP_OBSERVABLE}
    del classes["bundle"]
    return classes


def test_every_type_of_the_spec_has_a_table_with_its_category() -> None:
    assert {t for t, s in spec.TYPES.items() if s.category == "sdo"} == set(SDOS)
    assert {t for t, s in spec.TYPES.items() if s.category == "sco"} == set(SCOS)
    assert {t for t, s in spec.TYPES.items() if s.category == "sro"} == {"relationship", "sighting"}
    assert {t for t, s in spec.TYPES.items() if s.category == "meta"} == {
        "marking-definition",
        "extension-definition",
        "language-content",
    }
    assert "bundle" in spec.KNOWN_TYPES and "bundle" not in spec.TYPES


@pytest.mark.parametrize("type_spec", all_specs(), ids=lambda s: s.name)
def test_tables_only_use_known_kinds_vocabularies_and_embedded_types(
    type_spec: spec.TypeSpec,
) -> None:
    for name, prop in type_spec.props.items():
        assert prop.kind in KINDS, name
        if prop.kind in ("vocab", "vocabs"):
            assert prop.vocab in spec.OPEN_VOCABULARIES, name
        if prop.kind in ("enum", "enums"):
            assert prop.vocab in spec.ENUMERATIONS, name
        if prop.kind in ("object", "objects"):
            assert prop.embedded in spec.EMBEDDED, name
        if prop.targets is not None:
            assert prop.targets <= spec.KNOWN_TYPES, name


@pytest.mark.parametrize("type_spec", all_specs(), ids=lambda s: s.name)
def test_rules_only_name_properties_the_type_defines(type_spec: spec.TypeSpec) -> None:
    names = set(type_spec.props)
    assert type_spec.required <= names
    for earlier, later, _ in type_spec.order:
        assert {earlier, later} <= names
        assert type_spec.props[earlier].kind == type_spec.props[later].kind == "timestamp"
    for group in (*type_spec.at_least_one, *type_spec.exclusive):
        assert set(group) <= names
    for name, needs in type_spec.depends:
        assert {name, *needs} <= names


@pytest.mark.parametrize("type_spec", all_specs(), ids=lambda s: s.name)
def test_reference_properties_are_named_ref_or_refs(type_spec: spec.TypeSpec) -> None:
    for name, prop in type_spec.props.items():
        if name.endswith("_ref"):
            assert prop.kind == "ref", name
        elif name.endswith("_refs"):
            assert prop.kind == "refs", name
        else:
            assert prop.kind not in ("ref", "refs"), name


@pytest.mark.parametrize("type_name", sorted(reference_classes()))
def test_property_names_agree_with_the_reference_library(type_name: str) -> None:
    expected = set(reference_classes()[type_name]._properties)
    assert set(spec.TYPES[type_name].props) == expected


@pytest.mark.parametrize("type_name", sorted(reference_classes()))
def test_property_kinds_agree_with_the_reference_library(type_name: str) -> None:
    ours = spec.TYPES[type_name].props
    for name, prop in reference_classes()[type_name]._properties.items():
        inner = prop.contained if isinstance(prop, ListProperty) else prop
        many = isinstance(prop, ListProperty)
        if isinstance(inner, TimestampProperty):
            assert ours[name].kind == "timestamp", name
        elif isinstance(inner, BooleanProperty):
            assert ours[name].kind == "boolean", name
        elif isinstance(inner, ReferenceProperty):
            assert ours[name].kind == ("refs" if many else "ref"), name
        elif isinstance(inner, OpenVocabProperty):
            assert ours[name].kind == ("vocabs" if many else "vocab"), name
            assert spec.OPEN_VOCABULARIES[ours[name].vocab] == set(inner.allowed), name
        elif isinstance(inner, EnumProperty):
            assert ours[name].kind == ("enums" if many else "enum"), name
            assert spec.ENUMERATIONS[ours[name].vocab] == set(inner.allowed), name


def _reference_required(cls: Any) -> set[str]:
    """Required properties per the reference; it gives defaults (so no ``required``) to
    ``id``, ``created``, ``modified``, ``spec_version`` and ``valid_from``, which 2.1 requires
    on the objects that carry them."""
    required = {name for name, prop in cls._properties.items() if prop.required}
    return required | {"type", "id"}


@pytest.mark.parametrize("type_name", sorted(reference_classes()))
def test_required_properties_agree_with_the_reference_library(type_name: str) -> None:
    type_spec = spec.TYPES[type_name]
    defaulted = {"spec_version", "created", "modified", "valid_from"}
    assert type_spec.required - defaulted == _reference_required(reference_classes()[type_name])


@pytest.mark.parametrize("type_name", SCOS)
def test_predefined_extensions_agree_with_the_reference_library(type_name: str) -> None:
    ours = spec.TYPES[type_name].extensions
    theirs = reference.EXT_MAP
    owned = {n for n, c in theirs.items() if n in ours}
    assert set(ours) == owned
    for name in ours:
        reference_props = set(theirs[name]._properties) - {"extension_type"}
        assert set(ours[name].props) == reference_props, name


def test_reference_restrictions_the_spec_states() -> None:
    types = spec.TYPES
    assert types["indicator"].props["created_by_ref"].targets == {"identity"}
    assert types["malware"].props["object_marking_refs"].targets == {"marking-definition"}
    assert types["sighting"].props["where_sighted_refs"].targets == {"identity", "location"}
    assert types["sighting"].props["observed_data_refs"].targets == {"observed-data"}
    assert types["sighting"].props["sighting_of_ref"].targets == spec.SDO_TYPES
    source = types["relationship"].props["source_ref"].targets or frozenset()
    forbidden = {"relationship", "sighting", "bundle", "marking-definition", "language-content"}
    assert not source & forbidden


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("hash-algorithm-ov", reference_vocab.HASHING_ALGORITHM),
        ("indicator-type-ov", reference_vocab.INDICATOR_TYPE),
        ("industry-sector-ov", reference_vocab.INDUSTRY_SECTOR),
        ("region-ov", reference_vocab.REGION),
        ("report-type-ov", reference_vocab.REPORT_TYPE),
        ("windows-pebinary-type-ov", reference_vocab.WINDOWS_PEBINARY_TYPE),
        ("account-type-ov", reference_vocab.ACCOUNT_TYPE),
        ("extension-type-enum", reference_vocab.EXTENSION_TYPE),
        ("windows-registry-datatype-enum", reference_vocab.WINDOWS_REGISTRY_DATATYPE),
    ],
)
def test_vocabularies_agree_with_the_reference_library(ours: str, theirs: list[str]) -> None:
    table = spec.OPEN_VOCABULARIES.get(ours) or spec.ENUMERATIONS[ours]
    assert table == set(theirs)


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        spec.TYPES["indicator"] = spec.TYPES["malware"]  # type: ignore[index]
    with pytest.raises(TypeError):
        spec.TYPES["indicator"].props["pattern"] = spec.Prop("any")  # type: ignore[index]


def test_category_names_the_kind_of_object() -> None:
    assert spec.category("indicator") == "sdo"
    assert spec.category("sighting") == "sro"
    assert spec.category("ipv4-addr") == "sco"
    assert spec.category("marking-definition") == "meta"
    assert spec.category("x-mitre-tactic") is None
