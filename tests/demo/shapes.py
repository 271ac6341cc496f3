"""What demo objects look like, for the scenario and bulk tests: id shape, SCO types, refs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
ID = re.compile(rf"([a-z0-9][a-z0-9-]*)--({UUID})")
SCO_TYPES = {
    "ipv4-addr", "ipv6-addr", "domain-name", "url", "file", "email-addr", "autonomous-system",
}  # fmt: skip


def refs(value: Any, key: str = "") -> Iterator[str]:
    """Every id named by a ``*_ref`` or ``*_refs`` property, at any depth."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from refs(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from refs(v, key)
    elif isinstance(value, str) and (key.endswith("_ref") or key.endswith("_refs")):
        yield value
