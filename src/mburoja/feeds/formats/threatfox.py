"""The ``threatfox-json`` format: ThreatFox's JSON export (``export/json/recent``).

The export is an object keyed by IOC id, each holding a one-element list of
``{"ioc_value", "ioc_type", "threat_type", "malware", "first_seen_utc", "confidence_level",
"tags", ...}``. Types ``ip:port`` (the port is dropped), ``domain``, ``url``, ``md5_hash``,
``sha1_hash`` and ``sha256_hash`` become indicators with the entry's confidence, first-seen
time, malware family and tags, and a ``threatfox`` external reference with the IOC id. A
reject names the IOC id (``threatfox:entry 1234``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import orjson

from mburoja.config import LimitSettings
from mburoja.feeds.formats import common
from mburoja.feeds.formats.common import Item

if TYPE_CHECKING:
    from mburoja.feeds.catalogue import FeedSpec

IOC_TYPES: Final = frozenset({"ip:port", "domain", "url", "md5_hash", "sha1_hash", "sha256_hash"})


def read(
    data: bytes, origin: str, spec: FeedSpec, now: str, limits: LimitSettings
) -> Iterator[Item]:
    """The objects of a ThreatFox JSON export."""
    document = common.json_document(data, origin, dict, "a JSON object keyed by IOC id")
    return _entries(document, origin, spec, now)


def _host(value: str) -> str:
    """``198.51.100.7:443`` -> ``198.51.100.7``; ``[2001:db8::1]:443`` -> ``2001:db8::1``."""
    if value.startswith("["):
        return value[1:].partition("]")[0]
    host, sep, port = value.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else value


def _entries(document: dict[str, Any], origin: str, spec: FeedSpec, now: str) -> Iterator[Item]:
    conv = common.converter(spec, origin, now)
    for position, (key, box) in enumerate(document.items(), start=1):
        number = int(key) if key.isdigit() else position
        raw = orjson.dumps({key: box})
        entry = box[0] if isinstance(box, list) and len(box) == 1 else box
        if not isinstance(entry, dict):
            yield common.reject(origin, number, "entry", "not a JSON object", raw, "entry")
            continue
        ioc_type, value = entry.get("ioc_type"), entry.get("ioc_value")
        if ioc_type not in IOC_TYPES:
            reason = (
                f"unknown ioc_type {ioc_type!r}; expected one of {', '.join(sorted(IOC_TYPES))}"
            )
            yield common.reject(origin, number, "ioc_type", reason, raw, "entry")
            continue
        if not isinstance(value, str) or not value.strip():
            yield common.reject(origin, number, "ioc_value", "missing or empty", raw, "entry")
            continue
        try:
            seen = entry.get("first_seen_utc")
            valid_from = common.feed_time(seen) if isinstance(seen, str) else None
        except ValueError as exc:
            yield common.reject(origin, number, "first_seen_utc", str(exc), raw, "entry")
            continue
        try:
            level = entry.get("confidence_level")
            confidence = None if level is None else common.confidence_of(level)
        except ValueError as exc:
            yield common.reject(origin, number, "confidence_level", str(exc), raw, "entry")
            continue
        labels = [*common.tags([entry.get("malware")]), *common.tags(entry.get("tags"))]
        references = [{"source_name": "threatfox", "external_id": key}]
        extra = common.extra_for(
            spec, valid_from=valid_from, labels=labels, confidence=confidence, references=references
        )
        text = _host(value) if ioc_type == "ip:port" else value
        yield from common.value_items(conv, text, number, raw, extra, "entry")
