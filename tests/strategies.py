"""Hypothesis strategies for STIX 2.1 objects, shared by the test suite.

``valid_objects()`` draws objects that are valid STIX 2.1 by construction, across SDOs, SROs,
SCOs and custom types, with custom ``x_`` properties holding arbitrary JSON (unicode, nested
lists and objects) and timestamps of 0 to 9 fractional digits. ``malformed_objects()`` draws
objects that are invalid by construction: each one is a valid object with exactly one
spec-breaking change applied (or not a dict at all), so every example must give an error.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from mburoja.stix import spec
from mburoja.stix.timestamps import version_key

JSON = dict[str, Any]

SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
IDENTITY = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"

# --------------------------------------------------------------------------- building blocks


def _month_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


@st.composite
def timestamps(draw: st.DrawFn, min_digits: int = 0, max_digits: int = 9) -> str:
    """A valid STIX timestamp with ``min_digits``..``max_digits`` fractional digits."""
    year = draw(st.integers(1990, 2099))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, _month_days(year, month)))
    hour, minute, second = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    digits = draw(st.integers(min_digits, max_digits))
    fraction = "." + draw(st.from_regex(f"[0-9]{{{digits}}}", fullmatch=True)) if digits else ""
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}Z"


@st.composite
def ordered_timestamps(
    draw: st.DrawFn, strict: bool = False, min_digits: int = 0
) -> tuple[str, str]:
    """Two timestamps, the second not earlier (or, if ``strict``, later) than the first."""
    first = draw(timestamps(min_digits=min_digits))
    second = draw(timestamps(min_digits=min_digits))
    if version_key(second) < version_key(first):
        first, second = second, first
    if strict:
        assume(version_key(first) != version_key(second))
    return first, second


def random_id(type_name: str) -> st.SearchStrategy[str]:
    """``<type>--<uuid4>``, as producers mint SDO ids."""
    return st.uuids(version=4).map(lambda u: f"{type_name}--{u}")


def sco_id(type_name: str, value: str) -> str:
    """A deterministic-looking SCO id: UUIDv5 over the value, in the STIX namespace."""
    return f"{type_name}--{uuid.uuid5(SCO_NAMESPACE, value)}"


_LABEL = st.from_regex(r"[a-z][a-z0-9]{0,11}", fullmatch=True)
_DOMAIN = st.builds(
    lambda parts, tld: ".".join([*parts, tld]),
    st.lists(_LABEL, min_size=1, max_size=3),
    st.sampled_from(["com", "org", "al", "example", "test"]),
)
_IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_SHA256 = st.binary(min_size=32, max_size=32).map(bytes.hex)
_MD5 = st.binary(min_size=16, max_size=16).map(bytes.hex)
_TEXT = st.text(max_size=40)

# Arbitrary JSON: unicode strings, numbers, nested lists and objects.
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
CUSTOM_NAMES = st.from_regex(r"x_[a-z0-9_]{1,20}", fullmatch=True)


def _with_custom(base: st.SearchStrategy[JSON]) -> st.SearchStrategy[JSON]:
    """``base`` plus zero to three custom ``x_`` properties with arbitrary JSON values."""
    return st.builds(
        lambda obj, extra: {**extra, **obj},
        base,
        st.dictionaries(CUSTOM_NAMES, JSON_VALUES, max_size=3),
    )


def _vocab(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(spec.OPEN_VOCABULARIES[name]))


# --------------------------------------------------------------------------- valid objects


@st.composite
def _common(draw: st.DrawFn, type_name: str) -> JSON:
    created, modified = draw(ordered_timestamps(min_digits=3))
    obj: JSON = {
        "type": type_name,
        "spec_version": "2.1",
        "id": draw(random_id(type_name)),
        "created": created,
        "modified": modified,
    }
    if draw(st.booleans()):
        obj["created_by_ref"] = IDENTITY
    if draw(st.booleans()):
        obj["object_marking_refs"] = [TLP_GREEN]
    if draw(st.booleans()):
        obj["labels"] = draw(st.lists(_TEXT, min_size=1, max_size=3))
    if draw(st.booleans()):
        obj["confidence"] = draw(st.integers(0, 100))
    if draw(st.booleans()):
        obj["external_references"] = [
            {"source_name": draw(_TEXT), "external_id": draw(_TEXT)},
        ]
    return obj


@st.composite
def indicators(draw: st.DrawFn) -> JSON:
    obj = draw(_common("indicator"))
    kind = draw(st.sampled_from(["domain", "ipv4", "sha256"]))
    if kind == "domain":
        pattern = f"[domain-name:value = '{draw(_DOMAIN)}']"
    elif kind == "ipv4":
        pattern = f"[ipv4-addr:value = '{draw(_IPV4)}']"
    else:
        pattern = f"[file:hashes.'SHA-256' = '{draw(_SHA256)}']"
    valid_from, valid_until = draw(ordered_timestamps(strict=True))
    obj.update(pattern=pattern, pattern_type="stix", valid_from=valid_from)
    if draw(st.booleans()):
        obj["valid_until"] = valid_until
    if draw(st.booleans()):
        obj["indicator_types"] = draw(st.lists(_vocab("indicator-type-ov"), min_size=1, max_size=2))
    if draw(st.booleans()):
        obj["name"] = draw(_TEXT)
    return obj


@st.composite
def named_sdos(draw: st.DrawFn) -> JSON:
    type_name = draw(
        st.sampled_from(
            [
                "attack-pattern",
                "campaign",
                "course-of-action",
                "identity",
                "incident",
                "infrastructure",
                "intrusion-set",
                "threat-actor",
                "tool",
                "vulnerability",
                "malware",
            ]
        )
    )
    obj = draw(_common(type_name))
    obj["name"] = draw(_TEXT)
    if type_name == "malware":
        obj["is_family"] = draw(st.booleans())
    if type_name in (
        "campaign",
        "intrusion-set",
        "threat-actor",
        "infrastructure",
        "malware",
    ) and draw(st.booleans()):
        obj["first_seen"], obj["last_seen"] = draw(ordered_timestamps())
    if type_name == "identity" and draw(st.booleans()):
        obj["identity_class"] = draw(_vocab("identity-class-ov"))
    if type_name in ("attack-pattern", "tool", "malware") and draw(st.booleans()):
        obj["kill_chain_phases"] = [{"kill_chain_name": "mitre-attack", "phase_name": draw(_LABEL)}]
    return obj


@st.composite
def containers(draw: st.DrawFn) -> JSON:
    type_name = draw(st.sampled_from(["report", "grouping", "note", "opinion"]))
    obj = draw(_common(type_name))
    obj["object_refs"] = draw(st.lists(random_id("indicator"), min_size=1, max_size=4))
    if type_name == "report":
        obj["name"], obj["published"] = draw(_TEXT), draw(timestamps())
    elif type_name == "grouping":
        obj["context"] = draw(_vocab("grouping-context-ov"))
    elif type_name == "note":
        obj["content"] = draw(_TEXT)
    else:
        obj["opinion"] = draw(st.sampled_from(sorted(spec.ENUMERATIONS["opinion-enum"])))
    return obj


@st.composite
def locations(draw: st.DrawFn) -> JSON:
    obj = draw(_common("location"))
    choice = draw(st.sampled_from(["country", "region", "point"]))
    if choice == "country":
        obj["country"] = draw(st.sampled_from(["AL", "XK", "IT"]))
    elif choice == "region":
        obj["region"] = draw(_vocab("region-ov"))
    else:
        obj["latitude"] = draw(st.floats(-90, 90))
        obj["longitude"] = draw(st.floats(-180, 180))
    return obj


@st.composite
def relationships(draw: st.DrawFn) -> JSON:
    obj = draw(_common("relationship"))
    obj["relationship_type"] = draw(st.sampled_from(["indicates", "uses", "targets", "related-to"]))
    obj["source_ref"] = draw(random_id("indicator"))
    obj["target_ref"] = draw(
        st.sampled_from(["malware", "campaign", "x-custom-thing"]).flatmap(random_id)
    )
    return obj


@st.composite
def sightings(draw: st.DrawFn) -> JSON:
    obj = draw(_common("sighting"))
    obj["sighting_of_ref"] = draw(random_id("indicator"))
    if draw(st.booleans()):
        obj["count"] = draw(st.integers(0, 999_999_999))
    if draw(st.booleans()):
        obj["where_sighted_refs"] = [IDENTITY]
    return obj


@st.composite
def scos(draw: st.DrawFn) -> JSON:
    type_name = draw(
        st.sampled_from(
            ["domain-name", "ipv4-addr", "url", "email-addr", "file", "mutex", "autonomous-system"]
        )
    )
    if type_name == "domain-name":
        props: JSON = {"value": draw(_DOMAIN)}
    elif type_name == "ipv4-addr":
        props = {"value": draw(_IPV4)}
    elif type_name == "url":
        props = {"value": f"https://{draw(_DOMAIN)}/{draw(_LABEL)}"}
    elif type_name == "email-addr":
        props = {"value": f"{draw(_LABEL)}@{draw(_DOMAIN)}"}
    elif type_name == "file":
        props = {"hashes": {"SHA-256": draw(_SHA256), "MD5": draw(_MD5)}}
        if draw(st.booleans()):
            props["name"] = draw(_TEXT)
    elif type_name == "mutex":
        props = {"name": draw(_TEXT)}
    else:
        props = {"number": draw(st.integers(1, 2**32 - 1))}
    obj: JSON = {"type": type_name, "id": sco_id(type_name, repr(sorted(props.items())))}
    if draw(st.booleans()):
        obj["spec_version"] = "2.1"
    obj.update(props)
    return obj


@st.composite
def custom_objects(draw: st.DrawFn) -> JSON:
    type_name = "x-" + draw(_LABEL)
    obj = draw(_common(type_name))
    obj["x_payload"] = draw(JSON_VALUES)
    return obj


def valid_objects() -> st.SearchStrategy[JSON]:
    """Valid STIX 2.1 objects of many types, some with custom ``x_`` properties."""
    return _with_custom(
        st.one_of(
            indicators(),
            named_sdos(),
            containers(),
            locations(),
            relationships(),
            sightings(),
            scos(),
            custom_objects(),
        )
    )


# --------------------------------------------------------------------------- malformed objects

BAD_TIMESTAMPS = [
    "2020-13-01T00:00:00Z",
    "2021-02-29T00:00:00Z",
    "2020-04-31T12:00:00.000Z",
    "2020-01-01 00:00:00Z",
    "2020-01-01T00:00:00+00:00",
    "2020-01-01T24:00:00Z",
    "2020-01-01T00:00:00",
    "2020-01-01",
    "",
]
BAD_IDS = [
    "indicator",
    "indicator--",
    "indicator--not-a-uuid",
    "indicator--6ba7b810-9dad-01d1-80b4-00c04fd430c8",  # version 0
    "indicator--6ba7b810-9dad-41d1-c0b4-00c04fd430c8",  # not the RFC 4122 variant
    "indicator--6ba7b8109dad41d180b400c04fd430c8",
]
NOT_DICTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"x_level": [value]}
    return value


@st.composite
def _broken(draw: st.DrawFn) -> Any:
    obj = dict(draw(valid_objects()))
    type_name = obj["type"]
    type_spec = spec.TYPES.get(type_name)
    breakers = ["drop_required", "bad_id", "wrong_id_type", "bad_type"]
    if type_spec is not None and type_spec.category != "sco":
        breakers += [
            "bad_created",
            "modified_before_created",
            "bad_spec_version",
            "bad_revoked",
            "bad_confidence",
            "bad_labels",
            "bad_marking_ref",
        ]
    if type_spec is not None and type_spec.category == "sco":
        breakers += ["bad_defanged", "bad_spec_version"]
    if type_name == "indicator":
        breakers += ["valid_until_not_after"]
    breaker = draw(st.sampled_from(breakers))
    if draw(st.booleans()):  # deep custom nesting is legal; it must not hide the real fault
        obj["x_deep"] = _deep(draw(st.integers(1, 40)))

    if breaker == "drop_required":
        required = sorted(type_spec.required) if type_spec else ["type", "id"]
        del obj[draw(st.sampled_from(required))]
    elif breaker == "bad_id":
        obj["id"] = draw(
            st.sampled_from(BAD_IDS).map(lambda bad: bad.replace("indicator", type_name, 1))
            | st.integers()
        )
    elif breaker == "wrong_id_type":
        other = "campaign" if type_name != "campaign" else "malware"
        obj["id"] = other + obj["id"][obj["id"].index("--") :]
    elif breaker == "bad_type":
        obj["type"] = draw(st.sampled_from(["Indicator", "ab", "x--y", "-x-y", "x-y-", "a b c", 7]))
    elif breaker == "bad_created":
        obj["created"] = draw(st.sampled_from(BAD_TIMESTAMPS) | st.integers())
    elif breaker == "modified_before_created":
        earlier, later = draw(ordered_timestamps(strict=True, min_digits=3))
        obj["created"], obj["modified"] = later, earlier
    elif breaker == "bad_spec_version":
        obj["spec_version"] = draw(st.sampled_from(["2.0", "2.2", "", 2.1]))
    elif breaker == "bad_revoked":
        obj["revoked"] = draw(st.sampled_from(["true", 1, 0, None, []]))
    elif breaker == "bad_confidence":
        obj["confidence"] = draw(st.sampled_from([-1, 101, "high", 50.5, True]))
    elif breaker == "bad_labels":
        obj["labels"] = draw(st.sampled_from(["one", [], [1], [None], {"a": "b"}]))
    elif breaker == "bad_marking_ref":
        obj["object_marking_refs"] = draw(
            st.sampled_from([[IDENTITY], ["tlp:green"], TLP_GREEN, []])
        )
    elif breaker == "bad_defanged":
        obj["defanged"] = draw(st.sampled_from(["yes", 1, None]))
    elif breaker == "valid_until_not_after":
        obj["valid_until"] = obj["valid_from"]
    return obj


def malformed_objects() -> st.SearchStrategy[Any]:
    """Objects that break STIX 2.1, each by construction: never a valid one."""
    return st.one_of(NOT_DICTS, _broken())
