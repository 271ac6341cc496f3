"""MISP feeds: a ``manifest.json`` naming events, and one ``<uuid>.json`` file per event.

A MISP feed (as MISP publishes it, locally or over HTTP) is a directory with a manifest
``{"<event uuid>": {"info": ..., "timestamp": ..., "Orgc": {...}, "Tag": [...], ...}}`` and
the events themselves as ``<uuid>.json`` (``{"Event": {...}}``). The manifest lets a reader
fetch only events that changed since its last pull (compare ``timestamp``).

Fetching over HTTP is done elsewhere: it reads the manifest with ``read_manifest`` and passes
each fetched event to ``misp.event.convert_events``. The directory helpers here read files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson

from mburoja.errors import InputFormatError
from mburoja.ingest.misp.event import convert_events
from mburoja.ingest.misp.galaxy import tag_names
from mburoja.ingest.misp.values import is_number, is_uuid
from mburoja.stix.model import RawObject, Reject

MANIFEST = "manifest.json"


class ManifestEntry(msgspec.Struct, frozen=True):
    """What a feed's manifest says about one event, without fetching it."""

    uuid: str
    timestamp: int
    info: str = ""
    date: str = ""
    orgc_name: str = ""
    orgc_uuid: str = ""
    tags: tuple[str, ...] = ()
    threat_level_id: str = ""
    analysis: str = ""
    published: bool = False


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def read_manifest(data: bytes) -> dict[str, ManifestEntry]:
    """Parse a feed's ``manifest.json``: event uuid -> entry, in the manifest's order.

    Raises ``InputFormatError`` naming the entry when the manifest is not a JSON object of
    uuid keys, or an entry's ``timestamp`` is not an epoch number.
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise InputFormatError(f"{MANIFEST}: not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise InputFormatError(f"{MANIFEST}: expected an object of event uuids")
    entries: dict[str, ManifestEntry] = {}
    for key, entry in doc.items():
        if not is_uuid(key) or not isinstance(entry, dict):
            raise InputFormatError(f"{MANIFEST}[{key!r}]: expected an event uuid and an object")
        stamp = _text(entry.get("timestamp"))
        if not is_number(stamp):
            raise InputFormatError(f"{MANIFEST}[{key!r}].timestamp: {stamp!r} is not an epoch")
        orgc: dict[str, Any] = entry["Orgc"] if isinstance(entry.get("Orgc"), dict) else {}
        published = entry.get("published")
        entries[key.lower()] = ManifestEntry(
            uuid=key.lower(),
            timestamp=int(stamp),
            info=_text(entry.get("info")),
            date=_text(entry.get("date")),
            orgc_name=_text(orgc.get("name")),
            orgc_uuid=_text(orgc.get("uuid")),
            tags=tuple(tag_names(entry.get("Tag"))),
            threat_level_id=_text(entry.get("threat_level_id")),
            analysis=_text(entry.get("analysis")),
            published=published in (True, 1, "1", "true"),
        )
    return entries


def is_feed_dir(path: Path) -> bool:
    """True for a directory holding a MISP feed ``manifest.json``."""
    return path.is_dir() and (path / MANIFEST).is_file()


def feed_event_paths(directory: Path) -> list[Path | Reject]:
    """The event files the manifest names, in manifest order.

    A file the manifest lists that is not there is a ``Reject`` in its place (origin the
    missing path, reason "listed in manifest.json but missing"), so nothing is lost silently.
    """
    manifest = read_manifest((directory / MANIFEST).read_bytes())
    found: list[Path | Reject] = []
    for index, entry in enumerate(manifest.values()):
        path = directory / f"{entry.uuid}.json"
        if not path.is_file():
            path = directory / f"{entry.uuid.upper()}.json"
        if path.is_file():
            found.append(path)
            continue
        missing = directory / f"{entry.uuid}.json"
        found.append(
            Reject(
                origin=str(missing),
                index=index,
                object_id=f"grouping--{entry.uuid}",
                field=f"{MANIFEST}[{entry.uuid}]",
                reason="listed in manifest.json but missing",
                raw=msgspec.json.encode(entry),
            )
        )
    return found


def convert_feed_dir(directory: Path) -> Iterator[RawObject | Reject]:
    """Every event of a feed directory as STIX objects, origin the event file's path.

    Missing files and files that are not MISP JSON are Rejects; the other events convert.
    """
    for item in feed_event_paths(directory):
        if isinstance(item, Reject):
            yield item
            continue
        data = item.read_bytes()
        try:
            yield from convert_events(data, str(item))
        except InputFormatError as err:
            yield Reject(str(item), 0, f"grouping--{item.stem.lower()}", "Event", str(err), data)
