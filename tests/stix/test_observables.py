"""Observable extraction (what the exact index stores) and search keys (what a lookup asks)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mburoja.stix.model import Observable
from mburoja.stix.observables import extract, hash_kind, normalise, search_keys

SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
MD5 = "D41D8CD98F00B204E9800998ECF8427E"


def sco(type_: str, **props: Any) -> dict[str, Any]:
    oid = f"{type_}--00000000-0000-4000-8000-000000000000"
    return {"type": type_, "spec_version": "2.1", "id": oid, **props}


def indicator(pattern: str, pattern_type: str = "stix") -> dict[str, Any]:
    return {"type": "indicator", "pattern": pattern, "pattern_type": pattern_type}


def ob(kind: str, value: str) -> Observable:
    return Observable(kind, value)


# --- SCOs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (sco("ipv4-addr", value="198.51.100.7"), [ob("ipv4", "198.51.100.7")]),
        (sco("ipv4-addr", value="10.1.0.0/16"), [ob("ipv4-net", "10.1.0.0/16")]),
        (sco("ipv4-addr", value="198.51.100.7/32"), [ob("ipv4", "198.51.100.7")]),
        (sco("ipv6-addr", value="2001:DB8:0::1"), [ob("ipv6", "2001:db8::1")]),
        (sco("ipv6-addr", value="2001:db8::/48"), [ob("ipv6-net", "2001:db8::/48")]),
        (sco("ipv6-addr", value="2001:db8::1/128"), [ob("ipv6", "2001:db8::1")]),
        (sco("domain-name", value="Evil.Example."), [ob("domain", "evil.example")]),
        (
            sco("domain-name", value="MÜNCHEN.example"),
            [ob("domain", "xn--mnchen-3ya.example"), ob("domain", "münchen.example")],
        ),
        (sco("url", value="HTTPS://Evil.Example/Path"), [ob("url", "https://evil.example/Path")]),
        (sco("email-addr", value="Admin@Evil.Example"), [ob("email", "admin@evil.example")]),
        (sco("mac-addr", value="00-1A-2B-3C-4D-5E"), [ob("mac", "00:1a:2b:3c:4d:5e")]),
        (sco("autonomous-system", number=174), [ob("asn", "AS174")]),
        (
            sco("file", hashes={"SHA-256": SHA256, "MD5": MD5, "SSDEEP": "3:AbC:dE"}, name="x.exe"),
            [
                ob("sha256", SHA256.lower()),
                ob("md5", MD5.lower()),
                ob("ssdeep", "3:AbC:dE"),  # base64: case matters
                ob("file-name", "x.exe"),
            ],
        ),
        (
            sco("x509-certificate", hashes={"SHA-1": "AB" * 20}, serial_number="36:f7:d4"),
            [ob("sha1", "ab" * 20), ob("x509-serial", "36:f7:d4")],
        ),
        (sco("artifact", hashes={"SHA3-256": "AB" * 32}), [ob("sha3-256", "ab" * 32)]),
        (sco("mutex", name="Global\\evil"), [ob("mutex", "Global\\evil")]),
        (
            sco("windows-registry-key", key="HKEY_LOCAL_MACHINE\\Software\\Run"),
            [ob("windows-registry-key", "HKEY_LOCAL_MACHINE\\Software\\Run")],
        ),
        (
            sco("user-account", user_id="1001", account_login="jdoe"),
            [ob("user-account", "1001"), ob("user-account", "jdoe")],
        ),
        (
            sco("software", name="Word", cpe="cpe:2.3:a:microsoft:word:2016:*:*:*:*:*:*:*"),
            [ob("cpe", "cpe:2.3:a:microsoft:word:2016:*:*:*:*:*:*:*"), ob("software", "Word")],
        ),
        (sco("network-traffic", src_ref="ipv4-addr--x", dst_port=443), []),
        (sco("ipv4-addr", value="not an address"), []),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) else "",
)
def test_extract_indexes_sco_values_normalised(
    obj: dict[str, Any], expected: list[Observable]
) -> None:
    assert list(extract(obj)) == expected


@pytest.mark.parametrize("type_", ["malware", "report", "identity", "relationship", "sighting"])
def test_objects_that_hold_no_observable_give_nothing(type_: str) -> None:
    assert extract({"type": type_, "name": "evil.example", "value": "198.51.100.7"}) == ()


def test_observed_data_with_embedded_objects_gives_their_observables() -> None:
    obj = {
        "type": "observed-data",
        "objects": {
            "0": {"type": "domain-name", "value": "evil.example"},
            "1": {"type": "ipv4-addr", "value": "198.51.100.7"},
            "2": {"type": "x-unknown", "value": "ignored"},
        },
    }
    assert extract(obj) == (ob("domain", "evil.example"), ob("ipv4", "198.51.100.7"))


# --- indicators ------------------------------------------------------------------------------


def test_indicator_gives_its_positive_equality_values() -> None:
    pattern = (
        "[ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value ISSUBSET '10.0.0.0/8'"
        f" OR file:hashes.'SHA-256' = '{SHA256}']"
        " AND [domain-name:value IN ('A.example', 'b.example')]"
        " AND [email-message:from_ref.value = 'X@Evil.Example']"
        " AND [network-traffic:dst_ref.value = '2001:db8::1' AND network-traffic:dst_port = 443]"
    )
    assert extract(indicator(pattern)) == (
        ob("ipv4", "198.51.100.7"),
        ob("ipv4-net", "10.0.0.0/8"),
        ob("sha256", SHA256.lower()),
        ob("domain", "a.example"),
        ob("domain", "b.example"),
        ob("email", "x@evil.example"),
        ob("ipv6", "2001:db8::1"),
    )


@pytest.mark.parametrize(
    "pattern",
    [
        "[domain-name:value != 'evil.example']",
        "[domain-name:value NOT = 'evil.example']",
        "[domain-name:value LIKE '%.evil.example']",
        "[domain-name:value NOT IN ('evil.example')]",
        "[domain-name:resolves_to_refs[*].value = '198.51.100.7']",
        "[domain-name:value = 'evil.example'",  # invalid
    ],
)
def test_indicator_negations_wildcards_and_invalid_patterns_give_nothing(pattern: str) -> None:
    assert extract(indicator(pattern)) == ()


def test_only_stix_patterns_are_read() -> None:
    assert extract(indicator("alert tcp any any -> 198.51.100.7 any", "snort")) == ()


def test_indicator_and_its_sco_give_the_same_observables() -> None:
    pairs = [
        ("[domain-name:value = 'münchen.example']", sco("domain-name", value="münchen.example")),
        ("[ipv4-addr:value ISSUBSET '10.0.0.0/8']", sco("ipv4-addr", value="10.0.0.0/8")),
        (f"[file:hashes.MD5 = '{MD5}']", sco("file", hashes={"MD5": MD5})),
        ("[autonomous-system:number = 174]", sco("autonomous-system", number=174)),
    ]
    for pattern, obj in pairs:
        assert extract(indicator(pattern)) == extract(obj)


def test_duplicates_are_indexed_once() -> None:
    pattern = "[domain-name:value = 'a.example' OR domain-name:value = 'A.example.']"
    assert extract(indicator(pattern)) == (ob("domain", "a.example"),)


# --- normalise ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [("SHA-256", "sha256"), ("sha256", "sha256"), ("SHA_1", "sha1"), ("SHA3-512", "sha3-512"),
     ("MD5", "md5"), ("SSDEEP", "ssdeep"), ("TLSH", "tlsh"), ("x-custom", "x-custom")],
)  # fmt: skip
def test_hash_algorithm_names_become_short_kinds(algorithm: str, kind: str) -> None:
    assert hash_kind(algorithm) == kind


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("ipv6", " 2001:DB8:0:0::1 ", "2001:db8::1"),
        ("ipv4-net", "10.1.2.3/8", "10.0.0.0/8"),
        ("domain", "Evil.Example.", "evil.example"),
        ("asn", "asn174", "AS174"),
        ("sha256", SHA256, SHA256.lower()),
        ("mutex", "Global\\X", "Global\\X"),
        ("ipv4", "not an address", "not an address"),
    ],
)
def test_normalise_gives_the_index_form(kind: str, value: str, expected: str) -> None:
    assert normalise(kind, value) == expected


# --- search keys -----------------------------------------------------------------------------


@given(st.integers(0, 2**32 - 1))
def test_an_address_search_finds_every_network_that_contains_it(n: int) -> None:
    address = ipaddress.IPv4Address(n)
    keys = search_keys(str(address))
    assert keys[0] == ob("ipv4", str(address))
    nets = {k.value for k in keys if k.kind == "ipv4-net"}
    assert len(nets) == 33
    assert all(address in ipaddress.IPv4Network(net) for net in nets)


def test_an_ipv6_search_covers_all_prefix_lengths() -> None:
    keys = search_keys("2001:db8::1")
    nets = [k.value for k in keys if k.kind == "ipv6-net"]
    assert {ipaddress.IPv6Network(n).prefixlen for n in nets} == set(range(129))


def test_a_network_search_gives_itself_and_its_supernets() -> None:
    keys = search_keys("10.1.0.0/16")
    assert keys[0] == ob("ipv4-net", "10.1.0.0/16")
    assert {k.value for k in keys} == {
        str(ipaddress.IPv4Network("10.1.0.0/16").supernet(new_prefix=p)) for p in range(17)
    }


def test_a_defanged_domain_search_gives_the_domain_and_its_parents() -> None:
    assert search_keys("a.b[.]evil[.]example") == (
        ob("domain", "a.b.evil.example"),
        ob("domain", "b.evil.example"),
        ob("domain", "evil.example"),
        ob("domain", "example"),
    )


def test_an_idn_search_gives_ascii_and_unicode_forms() -> None:
    keys = search_keys("mail.münchen.example")
    assert ob("domain", "mail.xn--mnchen-3ya.example") in keys
    assert ob("domain", "mail.münchen.example") in keys
    assert ob("domain", "münchen.example") in keys


def test_a_url_search_also_finds_its_host() -> None:
    keys = search_keys("hxxps://c2.evil[.]example/gate.php")
    assert keys[0] == ob("url", "https://c2.evil.example/gate.php")
    assert ob("domain", "c2.evil.example") in keys
    assert ob("domain", "evil.example") in keys


def test_an_email_search_also_finds_its_domain() -> None:
    keys = search_keys("Boss[@]evil[.]example")
    assert keys[0] == ob("email", "boss@evil.example")
    assert ob("domain", "evil.example") in keys


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (MD5, (ob("md5", MD5.lower()),)),
        ("AS174", (ob("asn", "AS174"),)),
        ("  Fancy Bear  ", (ob("text", "Fancy Bear"),)),
        ("   ", ()),
    ],
)
def test_other_searches_look_up_the_value_itself(
    query: str, expected: tuple[Observable, ...]
) -> None:
    assert search_keys(query) == expected


def test_what_extract_indexes_is_what_search_looks_up() -> None:
    for obj, query in [
        (sco("domain-name", value="evil.example"), "sub.evil[.]example"),
        (sco("ipv4-addr", value="10.0.0.0/8"), "10.20.30.40"),
        (sco("file", hashes={"SHA-256": SHA256}), SHA256.lower()),
        (sco("url", value="http://evil.example/x"), "hxxp://EVIL.example/x"),
    ]:
        assert set(extract(obj)) & set(search_keys(query))
