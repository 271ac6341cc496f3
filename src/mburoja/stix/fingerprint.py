"""What makes two receipts of an object "the same content", and a display name.

A received object's fingerprint is a digest of its exact bytes. An object Mburoja made
itself (from a MISP event, an IOC list, a STIX 2.0 upgrade) carries fresh ``created``,
``modified`` and ``valid_from`` stamps on every run, so its fingerprint leaves those out:
ingesting the same list twice then changes nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

_DERIVED_VOLATILE = frozenset({"created", "modified", "valid_from"})


def content_hash(data: dict[str, Any], raw: bytes, derived: bool) -> bytes:
    """16-byte digest identifying the object's content (see the module docstring)."""
    if derived:
        stable = {k: v for k, v in data.items() if k not in _DERIVED_VOLATILE}
        raw = orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=16).digest()


def display_name(data: dict[str, Any]) -> str | None:
    """A short human name: ``name``, else an SCO ``value``, else the pattern, else ``AS<n>``."""
    for key in ("name", "value", "pattern"):
        value = data.get(key)
        if isinstance(value, str):
            return value[:300]
    number = data.get("number")
    if isinstance(number, int):
        return f"AS{number}"
    return None
