"""Refanging defanged indicators, and telling what kind of indicator a value is."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mburoja.stix.refang import FILE_EXTENSIONS, detect, refang

SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


@pytest.mark.parametrize(
    ("defanged", "clean"),
    [
        ("hxxp://evil[.]example/x", "http://evil.example/x"),
        ("hXXps[:]//evil(.)example", "https://evil.example"),
        ("hxxps[://]evil{.}example", "https://evil.example"),
        ("fxp://files[dot]evil(dot)example", "ftp://files.evil.example"),
        ("evil dot example", "evil.example"),
        ("admin[@]evil[.]example", "admin@evil.example"),
        ("admin(at)evil[.]example", "admin@evil.example"),
        ("admin[at]evil[.]example", "admin@evil.example"),
        ("evil[.example", "evil.example"),
        ("evil.]example", "evil.example"),
        ("evil\\.example", "evil.example"),
        ("198[.]51[.]100[.]7", "198.51.100.7"),
        ('  "evil[.]example"  ', "evil.example"),
        ("'evil.example'", "evil.example"),
        ("<hxxp://evil.example/>", "http://evil.example/"),
        ("http://evil.example/?q='x'", "http://evil.example/?q='x'"),  # unpaired quote stays
    ],
)
def test_refang_undoes_common_defanging(defanged: str, clean: str) -> None:
    assert refang(defanged) == clean


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld]),
    st.lists(labels, min_size=1, max_size=4),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True).filter(lambda t: t not in FILE_EXTENSIONS),
)


@given(domains)
def test_a_dot_defanged_domain_refangs_to_itself(domain: str) -> None:
    assert refang(domain.replace(".", "[.]")) == domain
    assert refang(domain) == domain
    assert detect(domain) == ("domain", domain)


@given(st.integers(0, 2**32 - 1))
def test_every_ipv4_address_is_detected_in_canonical_form(n: int) -> None:
    address = str(ipaddress.IPv4Address(n))
    assert detect(address) == ("ipv4", address)
    assert detect(refang(address.replace(".", "[.]"))) == ("ipv4", address)


@given(st.integers(0, 2**128 - 1))
def test_every_ipv6_address_is_detected_compressed(n: int) -> None:
    address = ipaddress.IPv6Address(n)
    assert detect(address.exploded.upper()) == ("ipv6", address.compressed)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("198.51.100.7", ("ipv4", "198.51.100.7")),
        ("10.1.2.3/8", ("ipv4-net", "10.0.0.0/8")),
        ("198.51.100.7/32", ("ipv4", "198.51.100.7")),
        ("2001:DB8::/32", ("ipv6-net", "2001:db8::/32")),
        ("Evil.Example.", ("domain", "evil.example")),
        ("münchen.example", ("domain", "xn--mnchen-3ya.example")),
        ("xn--mnchen-3ya.example", ("domain", "xn--mnchen-3ya.example")),
        ("sub_domain.evil.example", ("domain", "sub_domain.evil.example")),
        ("payload.zip", ("domain", "payload.zip")),  # .zip is a real TLD
        ("HTTP://User@Evil.Example:8080/A?B", ("url", "http://User@evil.example:8080/A?B")),
        ("evil.example/gate.php", ("url", "http://evil.example/gate.php")),
        ("D41D8CD98F00B204E9800998ECF8427E", ("md5", "d41d8cd98f00b204e9800998ecf8427e")),
        (SHA1.upper(), ("sha1", SHA1)),
        ("ab" * 32, ("sha256", "ab" * 32)),
        ("ab" * 64, ("sha512", "ab" * 64)),
        ("Admin@Evil.Example", ("email", "admin@evil.example")),
        ("AS174", ("asn", "AS174")),
        ("asn13335", ("asn", "AS13335")),
        ("as 64512", ("asn", "AS64512")),
    ],
)  # fmt: skip
def test_detect_gives_kind_and_normalised_value(value: str, expected: tuple[str, str]) -> None:
    assert detect(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "readme.txt",
        "stage2.dll",
        "payload.exe",
        "invoice.pdf",
        "localhost",
        "1234.5678",
        "evil.c0m",
        "-evil.example",
        "evil-.example",
        "01.2.3.4",
        "256.1.1.1",
        "ab" * 20 + "a",  # 41 hex digits: no hash
        "AS99999999999",
        "not an indicator",
        "ssh://evil.example",
        "a@b",
        "",
        "folder/readme.txt",
    ],
)
def test_detect_rejects_values_that_are_no_indicator(value: str) -> None:
    assert detect(value) is None
