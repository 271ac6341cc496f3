"""STIX identifiers: shape checks, random ids, and deterministic SCO ids equal to ``stix2``'s."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2 import v21

from mburoja.stix.identifiers import identifier_type, is_identifier, new_id, sco_id

SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def sco(type_: str, **props: Any) -> dict[str, Any]:
    return {"type": type_, **props}


# (stix2 class, properties) pairs: every SCO type the brief names, with tricky values.
REFERENCE_CASES = [
    (v21.DomainName, {"value": "example.com"}),
    (v21.DomainName, {"value": "münchen.example"}),
    (v21.IPv4Address, {"value": "198.51.100.7"}),
    (v21.IPv4Address, {"value": "10.0.0.0/8"}),
    (v21.IPv6Address, {"value": "2001:db8::1"}),
    (v21.URL, {"value": "https://example.com/a?b='c'&d=\"e\""}),
    (v21.EmailAddress, {"value": "analyst@example.org"}),
    (v21.File, {"hashes": {"SHA-256": SHA256}}),
    (v21.File, {"hashes": {"SHA-256": SHA256, "MD5": MD5}, "name": "x.exe"}),
    (v21.File, {"name": "dropper.dll"}),
    (v21.AutonomousSystem, {"number": 174}),
    (v21.MACAddress, {"value": "00:11:22:33:44:55"}),
    (v21.Mutex, {"name": "Global\\evil-mutex"}),
]


@pytest.mark.parametrize(("cls", "props"), REFERENCE_CASES, ids=lambda c: getattr(c, "_type", ""))
def test_sco_id_equals_the_stix2_reference(cls: Any, props: dict[str, Any]) -> None:
    expected = cls(**props).id
    assert sco_id(cls._type, sco(cls._type, **props)) == expected


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s))
def test_sco_id_equals_stix2_for_any_domain_text(value: str) -> None:
    # stix2 does not check domain syntax, so any text exercises the canonical JSON encoding
    assert sco_id("domain-name", {"value": value}) == v21.DomainName(value=value).id


def test_sco_id_ignores_properties_that_do_not_contribute() -> None:
    plain = sco_id("domain-name", {"value": "example.com"})
    decorated = sco_id(
        "domain-name", {"type": "domain-name", "value": "example.com", "resolves_to_refs": ["x"]}
    )
    assert plain == decorated


def test_sco_id_prefers_md5_over_other_hashes() -> None:
    both = sco_id("file", {"hashes": {"SHA-256": SHA256, "MD5": MD5}})
    assert both == sco_id("file", {"hashes": {"MD5": MD5}})
    assert both != sco_id("file", {"hashes": {"SHA-256": SHA256}})


def test_sco_id_is_random_without_contributing_properties() -> None:
    first, second = sco_id("process", {"pid": 4}), sco_id("process", {"pid": 4})
    assert first != second
    assert uuid.UUID(first.split("--", 1)[1]).version == 4


def test_sco_id_of_a_custom_type_uses_every_given_property() -> None:
    a = sco_id("x-acme-beacon", {"value": "abc"})
    assert a == sco_id("x-acme-beacon", {"value": "abc"})
    assert a != sco_id("x-acme-beacon", {"value": "abd"})
    assert uuid.UUID(a.split("--", 1)[1]).version == 5


def test_new_id_is_a_fresh_uuid4_identifier_of_the_type() -> None:
    a, b = new_id("indicator"), new_id("indicator")
    assert a != b
    assert a.startswith("indicator--")
    assert uuid.UUID(a.split("--", 1)[1]).version == 4
    assert is_identifier(a)


@pytest.mark.parametrize(
    "text",
    [
        "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "x-mburoja-article--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F",
    ],
)
def test_is_identifier_accepts_type_and_uuid(text: str) -> None:
    assert is_identifier(text)
    assert identifier_type(text) == text.split("--", 1)[0]


@pytest.mark.parametrize(
    "text",
    [
        "indicator-8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",  # one hyphen
        "indicator--8e2e2d2b17d44cbf938f98ee46b3cd3f",  # no uuid hyphens
        "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3",  # short
        "Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",  # upper-case type
        "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f ",  # trailing space
        "--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "indicator--8e2e2d2b-17d4-0cbf-938f-98ee46b3cd3f",  # uuid version 0
        "indicator--8e2e2d2b-17d4-4cbf-738f-98ee46b3cd3f",  # not the RFC 4122 variant
        "x--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",  # type name under 3 characters
        "x-acme--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "x-acme---8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",  # type name ends with a hyphen
    ],
)
def test_is_identifier_rejects_malformed_ids(text: str) -> None:
    assert not is_identifier(text)
