"""STIX identifiers: ``<object-type>--<uuid>``, random for SDOs and deterministic for SCOs.

STIX 2.1 §2.9 makes the id of a cyber-observable a UUIDv5 in a fixed namespace over the
canonical JSON of the type's *ID-contributing properties*, so that two producers who see the
same domain or the same file hash mint the same id and the store deduplicates them for free.
This module computes those ids exactly as the ``stix2`` reference library does (checked in
``tests/stix/test_identifiers.py``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any, Final

import orjson

#: ``<type>--<uuid>``: a type name as STIX allows it, then an 8-4-4-4-12 lower- or upper-case uuid.
ID_RE: Final = re.compile(
    r"[a-z0-9][a-z0-9-]*--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)

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


def is_identifier(s: str) -> bool:
    """True if ``s`` has the shape of a STIX identifier (``<type>--<uuid>``)."""
    return ID_RE.fullmatch(s) is not None


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
