"""MISP values: checking that a value can be what its MISP type says, and writing it out.

Every converter step reads values through here: addresses, ports, AS numbers, hashes, MAC and
e-mail addresses, composite ``a|b`` values, epoch and ISO timestamps, and the ``to_ids`` flag.
A value that cannot be what its type says raises ``BadValue``, whose message is the reason a
``Reject`` gives. The pattern helpers (``escape``, ``quote_segment``) write values as STIX
pattern literals. Pure functions over strings and precompiled regexes: they run per attribute.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

#: A MISP item or a STIX object under construction: JSON as Python dicts.
Obj = dict[str, Any]

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_IPV4_RE = re.compile(
    r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?:/(?:3[0-2]|[12]?\d))?$"
)
_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_SSDEEP_RE = re.compile(r"^\d+:[A-Za-z0-9+/]+:[A-Za-z0-9+/]+(?:,.*)?$")
_KEYWORD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: MISP hash type -> (STIX hash name, hex length; 0 for the fuzzy hashes).
HASHES: dict[str, tuple[str, int]] = {
    "md5": ("MD5", 32),
    "sha1": ("SHA-1", 40),
    "sha224": ("SHA224", 56),
    "sha256": ("SHA-256", 64),
    "sha384": ("SHA384", 96),
    "sha512": ("SHA-512", 128),
    "sha512/224": ("SHA512/224", 56),
    "sha512/256": ("SHA512/256", 64),
    "sha3-224": ("SHA3-224", 56),
    "sha3-256": ("SHA3-256", 64),
    "sha3-384": ("SHA3-384", 96),
    "sha3-512": ("SHA3-512", 128),
    "ssdeep": ("SSDEEP", 0),
    "tlsh": ("TLSH", 0),
}

#: Types whose ``to_ids`` defaults to true in MISP when the attribute does not say.
_TO_IDS_DEFAULT = frozenset(
    {
        *HASHES,
        *(f"filename|{h}" for h in HASHES),
        "filename", "ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "hostname", "domain",
        "domain|ip", "hostname|port", "email", "email-src", "email-dst", "email-attachment",
        "url", "uri", "mutex", "regkey", "regkey|value", "malware-sample",
        "x509-fingerprint-md5", "x509-fingerprint-sha1", "x509-fingerprint-sha256",
    }
)  # fmt: skip


class BadValue(Exception):
    """A MISP value that cannot be what its type says; the message is the reason."""

    field = "value"


class BadSeen(BadValue):
    """A ``first_seen`` or ``last_seen`` that is not a date-time."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


# --------------------------------------------------------------------------- value helpers


def is_uuid(value: Any) -> bool:
    """True for a uuid string in either case (STIX ids are made from MISP uuids)."""
    return isinstance(value, str) and _UUID_RE.match(value.lower()) is not None


def as_list(values: Any) -> list[Any]:
    """A MISP field that may hold one value or a list of them, as a list."""
    return values if isinstance(values, list) else [values]


def escape(value: str) -> str:
    """A value as a STIX pattern string literal body (backslash and quote escaped)."""
    if "\\" in value or "'" in value:
        return value.replace("\\", "\\\\").replace("'", "\\'")
    return value


def quote_segment(segment: str) -> str:
    """A pattern path segment, quoted unless it is a plain identifier (``'SHA-256'``)."""
    return segment if _KEYWORD_RE.match(segment) else f"'{escape(segment)}'"


def custom_segment(relation: str) -> str:
    """The ``x_misp_<relation>`` segment misp-stix uses for an unmapped object relation."""
    return quote_segment("x_misp_" + relation.replace("-", "_"))


def address_type(value: str) -> str:
    """``ipv4-addr`` or ``ipv6-addr`` for an address or CIDR range; BadValue otherwise."""
    if _IPV4_RE.match(value):
        return "ipv4-addr"
    if ":" in value:
        try:
            ipaddress.IPv6Network(value, strict=False)
        except ValueError:
            pass
        else:
            return "ipv6-addr"
    raise BadValue(f"{value!r} is not an IPv4 or IPv6 address or CIDR range")


def is_number(value: str) -> bool:
    """True for a non-empty string of ASCII digits (``"²".isdigit()`` is true; not here)."""
    return value.isascii() and value.isdigit()


def port_number(value: str) -> int:
    """A TCP/UDP port, 0..65535; BadValue otherwise."""
    if is_number(value) and int(value) <= 65535:
        return int(value)
    raise BadValue(f"{value!r} is not a port number (0-65535)")


def as_number(value: str) -> int:
    """An AS number from ``AS174``, ``174`` or asdot ``1.10``; BadValue otherwise."""
    text = value.strip()
    if text[:2].upper() == "AS":
        text = text[2:].strip()
    high, dot, low = text.partition(".")
    if is_number(high) and (not dot or is_number(low)):
        number = int(high) * 65536 + int(low) if dot else int(high)
        if number <= 0xFFFFFFFF:
            return number
    raise BadValue(f"{value!r} is not an autonomous system number")


def check_hash(kind: str, value: str) -> str:
    """The STIX hash name for a MISP hash type, once ``value`` is checked to be such a hash."""
    name, length = HASHES[kind]
    if length:
        if len(value) != length or not _HEX_RE.match(value):
            raise BadValue(f"{value!r} is not a {kind} hash ({length} hex digits)")
    elif kind == "ssdeep" and not _SSDEEP_RE.match(value):
        raise BadValue(f"{value!r} is not an ssdeep hash")
    elif kind == "tlsh" and not _HEX_RE.match(value.removeprefix("T1")):
        raise BadValue(f"{value!r} is not a tlsh hash")
    return name


def split_pair(value: str, kind: str) -> tuple[str, str]:
    """The two halves of a composite ``a|b`` value; BadValue without the separator."""
    first, sep, second = value.partition("|")
    if not sep or not first or not second:
        raise BadValue(f"{value!r} is not a {kind} value: expected two parts joined by '|'")
    return first, second


def mac_address(value: str) -> str:
    """A MAC address in the lower-case colon form STIX requires; BadValue otherwise."""
    low = value.strip().lower()
    if not _MAC_RE.match(low):
        raise BadValue(f"{value!r} is not a MAC address")
    digits = low.replace(":", "").replace("-", "")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def email_address(value: str) -> str:
    """An e-mail address (something@something); BadValue otherwise."""
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise BadValue(f"{value!r} is not an e-mail address")
    return value


def regkey_literal(value: str) -> str:
    """A registry key as misp-stix writes it in a pattern (``%`` escaped as well)."""
    text = escape(value.strip())
    if "%" in text and "\\\\%" not in text:
        text = text.replace("\\%", "\\\\%") if "\\%" in text else text.replace("%", "\\\\%")
    return text


def check_value(kind: str, value: str) -> None:
    """Raise BadValue when ``value`` cannot be a MISP ``kind`` (used for object attributes)."""
    if kind in _IP_TYPES:
        address_type(value)
    elif kind in HASHES:
        check_hash(kind, value)
    elif kind == "port":
        port_number(value)
    elif kind == "AS":
        as_number(value)
    elif kind == "mac-address":
        mac_address(value)


_IP_TYPES = frozenset({"ip-src", "ip-dst", "ip"})
#: Object relations whose value must be of a given MISP type, whatever type it claims.
RELATION_KINDS: dict[str, str] = {
    **{h: h for h in HASHES},
    **dict.fromkeys(("ip", "ip-src", "ip-dst"), "ip-dst"),
    **dict.fromkeys(("dst-port", "src-port"), "port"),
    "asn": "AS",
}


def to_ids(attribute: Obj) -> bool:
    """The attribute's ``to_ids`` flag, MISP's per-type default when it is absent."""
    flag = attribute.get("to_ids")
    if flag is None:
        return attribute.get("type") in _TO_IDS_DEFAULT
    if isinstance(flag, str):
        return flag.lower() in ("1", "true")
    return bool(flag)


# --------------------------------------------------------------------------- timestamps

_STAMP_CACHE: dict[str, tuple[str, str]] = {}


def epoch_stamps(epoch: Any) -> tuple[str, str]:
    """A MISP epoch ``timestamp`` as (``...000Z`` for created/modified, ``...Z``).

    Cached: the attributes of an event mostly share a handful of timestamps.
    """
    key = epoch if isinstance(epoch, str) else str(epoch)
    hit = _STAMP_CACHE.get(key)
    if hit is not None:
        return hit
    if not is_number(key) or int(key) > 253402300799:
        raise BadValue(f"{epoch!r} is not a MISP epoch timestamp (seconds, up to year 9999)")
    base = datetime.fromtimestamp(int(key), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if len(_STAMP_CACHE) > 65536:
        _STAMP_CACHE.clear()
    stamps = _STAMP_CACHE[key] = (base + ".000Z", base + "Z")
    return stamps


def iso_stamp(value: Any) -> str:
    """A MISP ISO date-time (``first_seen``, ``send-date``) as a STIX timestamp in UTC."""
    if not isinstance(value, str):
        raise BadValue(f"{value!r} is not a date-time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(f"{value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"
