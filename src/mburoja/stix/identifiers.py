"""STIX identifiers: ``<object-type>--<uuid>``, random for SDOs and deterministic for SCOs.

STIX 2.1 §2.9 makes the id of a cyber-observable a UUIDv5 in a fixed namespace over the
canonical JSON of the type's *ID-contributing properties*, so that two producers who see the
same domain or the same file hash mint the same id and the store deduplicates them for free.
This module computes those ids exactly as the ``stix2`` reference library does (checked in
``tests/stix/test_identifiers.py``).

It is also the one place that says what a valid identifier is (§2.9): a type name (§2.8) then
``--`` then an RFC 4122 UUID, checked with its version and variant. ``stix.validate`` and the
API both ask here.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any, Final

import orjson

from mburoja.stix.spec import KNOWN_TYPES

#: An RFC 4122 UUID in 8-4-4-4-12 form, either case, version 1 to 8, variant ``10xx``.
UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)
#: A STIX type name without its length limit: ``a-z0-9`` words joined by single hyphens.
_TYPE_RE: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

#: The namespace STIX 2.1 §2.9 fixes for deterministic SCO ids.
SCO_NAMESPACE: Final = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

#: STIX 2.1 §6: the ID-contributing properties of every SCO type the spec defines. ``process``
#: has none: its ids are always random.
ID_CONTRIBUTING: Final[dict[str, tuple[str, ...]]] = {
    "artifact": ("hashes", "payload_bin"),
    "autonomous-system": ("number",),
    "directory": ("path",),
    "domain-name": ("value",),
    "email-addr": ("value",),
    "email-message": ("from_ref", "subject", "body"),
    "file": ("hashes", "name", "parent_directory_ref", "extensions"),
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "mac-addr": ("value",),
    "mutex": ("name",),
    "network-traffic": (
        "start",
        "end",
        "src_ref",
        "dst_ref",
        "src_port",
        "dst_port",
        "protocols",
        "extensions",
    ),
    "process": (),
    "software": ("name", "cpe", "swid", "vendor", "version"),
    "url": ("value",),
    "user-account": ("account_type", "user_id", "account_login"),
    "windows-registry-key": ("key", "values"),
    "x509-certificate": ("hashes", "serial_number"),
}

#: §2.9: of a ``hashes`` dictionary only one entry contributes, the first present in this order,
#: else the first entry given.
_HASH_PREFERENCE: Final = ("MD5", "SHA-1", "SHA-256", "SHA-512")


def is_uuid(value: str) -> bool:
    """True for an RFC 4122 UUID in 8-4-4-4-12 form, either case, version 1 to 8."""
    return UUID_RE.fullmatch(value) is not None


def is_type_name(value: str) -> bool:
    """True if ``value`` may name a STIX type: 3-250 of ``a-z0-9-``, no edge or double hyphen."""
    return 3 <= len(value) <= 250 and _TYPE_RE.fullmatch(value) is not None


_UNKNOWN: Final = object()
#: identifier -> its type, or None when invalid; dropped whole when full.
_ID_TYPES: dict[str, str | None] = {}
_ID_TYPES_MAX: Final = 1 << 16
#: custom type names already found valid; dropped whole when full.
_CUSTOM_TYPE_NAMES: set[str] = set()
_CUSTOM_TYPE_NAMES_MAX: Final = 4096


def identifier_type(value: str) -> str | None:
    """The type part of a valid STIX identifier ``<type>--<UUID>``, or None if not one.

    Results are remembered: the same ``created_by_ref`` and marking ids recur all through a
    bundle. The memory is dropped whole when it fills, which is cheap and good enough.
    """
    found = _ID_TYPES.get(value, _UNKNOWN)
    if found is not _UNKNOWN:
        return found  # type: ignore[return-value]
    cut = value.find("--")
    type_name: str | None = value[:cut] if cut > 0 else None
    if type_name is not None and (
        UUID_RE.fullmatch(value, cut + 2) is None
        or (
            type_name not in KNOWN_TYPES
            and type_name not in _CUSTOM_TYPE_NAMES
            and not _remember_type_name(type_name)
        )
    ):
        type_name = None
    if len(_ID_TYPES) >= _ID_TYPES_MAX:
        _ID_TYPES.clear()
    _ID_TYPES[value] = type_name
    return type_name


def _remember_type_name(name: str) -> bool:
    if not is_type_name(name):
        return False
    if len(_CUSTOM_TYPE_NAMES) >= _CUSTOM_TYPE_NAMES_MAX:
        _CUSTOM_TYPE_NAMES.clear()
    _CUSTOM_TYPE_NAMES.add(name)
    return True


def is_identifier(s: str) -> bool:
    """True if ``s`` is a valid STIX identifier: ``<type>--<UUID>`` (see ``identifier_type``)."""
    return identifier_type(s) is not None


def new_id(type: str) -> str:
    """A fresh random (UUIDv4) identifier for an object of ``type``."""
    return f"{type}--{uuid.uuid4()}"


def uuid5_id(type: str, name: bytes) -> str:
    """``<type>--`` plus the UUIDv5 of ``name`` (UTF-8 bytes) in the STIX SCO namespace.

    This is :func:`uuid.uuid5` without the ``str`` round trip; converters use it for ids that
    must be the same wherever the same input is converted.
    """
    digest = hashlib.sha1(SCO_NAMESPACE.bytes + name, usedforsecurity=False).digest()
    return f"{type}--{uuid.UUID(bytes=digest[:16], version=5)}"


def _one_hash(hashes: dict[str, Any]) -> dict[str, Any] | None:
    for algorithm in _HASH_PREFERENCE:
        if algorithm in hashes:
            return {algorithm: hashes[algorithm]}
    for algorithm, value in hashes.items():
        return {algorithm: value}
    return None


def sco_id(type: str, contributing: dict[str, Any]) -> str:
    """The deterministic id of an SCO of ``type`` with the properties ``contributing``.

    ``contributing`` may be the whole object: only the type's ID-contributing properties are
    used (of ``hashes`` only the preferred one). For a type the spec does not define (a custom
    SCO) every property given counts, so pass only the ones that identify it. When none of the
    contributing properties is present (and always for ``process``) the spec asks for a random
    UUIDv4, which is what you get.
    """
    props = ID_CONTRIBUTING.get(type)
    selected: dict[str, Any] = {}
    if props is None:
        selected = dict(contributing)
    else:
        for key in props:
            if key in contributing:
                value = contributing[key]
                if key == "hashes":
                    value = _one_hash(value)
                    if value is None:
                        continue
                selected[key] = value
    if not selected:
        return new_id(type)
    return uuid5_id(type, orjson.dumps(selected, option=orjson.OPT_SORT_KEYS))
