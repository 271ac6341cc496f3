"""The state of one MISP conversion: what was emitted, the current scope, and its output.

A scope is one event or one whole attribute or object collection. Its objects, marking
definitions, relationships and rejects are buffered, so that the event's grouping can come
first and list them; ``flush`` then yields them as RawObjects and Rejects, numbered in order.
The SDO builders shared by attributes and objects (observed-data, indicator, relationship)
live here too, so that every step marks and dates its objects the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from mburoja.ingest.misp.values import BadSeen, BadValue, Obj, epoch_stamps, iso_stamp
from mburoja.stix.model import RawObject, Reject

#: misp-stix's uuid5 namespace for the ids it derives (76beed5f-7251-457e-8c2a-b45f7b589d3d).
_RELATIONSHIP_NS = bytes.fromhex("76beed5f7251457e8c2ab45f7b589d3d")


def relationship_id(source: str, kind: str, target: str) -> str:
    """misp-stix's deterministic relationship id: uuid5 of ``"source - kind - target"``."""
    name = f"{source} - {kind} - {target}".encode()
    digest = bytearray(hashlib.sha1(_RELATIONSHIP_NS + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"relationship--{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def raw_bytes(item: Any) -> bytes:
    """A rejected MISP item as JSON bytes for quarantine, even with values orjson refuses."""
    try:
        return orjson.dumps(item)
    except TypeError:
        return json.dumps(item, default=repr).encode()


class ConversionState:
    """State of one ``convert_events`` call: ids already emitted, and the current scope.

    A scope is one event (its objects become one grouping) or one whole attribute or object
    collection. Its objects are buffered so the grouping can come first and list them.
    """

    def __init__(self, origin: str, inherit_event_markings: bool) -> None:
        self.origin = origin
        self.inherit = inherit_event_markings
        self.position = 0
        self.emitted: set[str] = set()
        self.now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        self.start_scope(None, None, ())

    def start_scope(
        self, created_by: str | None, stamps: tuple[str, str] | None, marks: tuple[str, ...]
    ) -> None:
        """Begin a scope: empty buffers, its creator, default timestamps and markings."""
        self.objects: list[Obj] = []
        self.definitions: list[Obj] = []
        self.relationships: list[Obj] = []
        self.rejects: list[tuple[str, str, str | None, Any]] = []
        self.by_uuid: dict[str, str] = {}
        self.marks_of: dict[str, list[str]] = {}
        self.created_by = created_by
        self.scope_stamps = stamps or (self.now + ".000Z", self.now + "Z")
        self.scope_marks = marks

    # ---------------------------------------------------------------- output

    def flush(self, head: list[Obj]) -> Iterator[RawObject | Reject]:
        """Yield ``head``, the scope's marking definitions, objects, relationships, rejects."""
        for obj in (*head, *self.definitions, *self.objects, *self.relationships):
            yield RawObject(orjson.dumps(obj), self.origin, self.position, True)
            self.position += 1
        for field, reason, object_id, raw in self.rejects:
            yield Reject(self.origin, self.position, object_id, field, reason, raw_bytes(raw))
            self.position += 1

    def reject(self, field: str, reason: str, raw: Any, object_id: str | None = None) -> None:
        """Record a Reject for ``raw``, yielded after the scope's objects."""
        self.rejects.append((field, reason, object_id, raw))

    def relate(self, source: str, kind: str, target: str, stamp: str, marks: list[str]) -> None:
        """A relationship, marked like its source (so the link is never more visible)."""
        self.relationships.append(
            {
                "type": "relationship", "spec_version": "2.1",
                "id": relationship_id(source, kind, target), "created": stamp,
                "modified": stamp, "relationship_type": kind, "source_ref": source,
                "target_ref": target,
            }
        )  # fmt: skip
        if marks:
            self.relationships[-1]["object_marking_refs"] = marks

    # ---------------------------------------------------------------- common SDO parts

    def common(self, kind: str, uid: str, created: str) -> Obj:
        """The properties every SDO made here starts with (id from the MISP uuid)."""
        obj: Obj = {"type": kind, "spec_version": "2.1", "id": f"{kind}--{uid}"}
        if self.created_by:
            obj["created_by_ref"] = self.created_by
        obj["created"] = created
        obj["modified"] = created
        return obj

    def observed(self, uid: str, stamps: tuple[str, str], scos: list[Obj], labels: list[str],
                 marks: list[str], seen: tuple[str, str]) -> Obj:  # fmt: skip
        obj = self.common("observed-data", uid, stamps[0])
        obj["first_observed"], obj["last_observed"] = seen
        obj["number_observed"] = 1
        obj["object_refs"] = [s["id"] for s in scos]
        obj["labels"] = labels
        if marks:
            obj["object_marking_refs"] = marks
            for s in scos:
                s["object_marking_refs"] = marks
        return obj

    def indicator(self, uid: str, stamps: tuple[str, str], pattern: str, phase: str,
                  labels: list[str], marks: list[str], comment: Any) -> Obj:  # fmt: skip
        obj = self.common("indicator", uid, stamps[0])
        if comment and isinstance(comment, str):
            obj["description"] = comment
        obj["pattern"] = pattern
        obj["pattern_type"] = "stix"
        obj["pattern_version"] = "2.1"
        obj["valid_from"] = stamps[1]
        obj["kill_chain_phases"] = [{"kill_chain_name": "misp-category", "phase_name": phase}]
        obj["labels"] = labels
        if marks:
            obj["object_marking_refs"] = marks
        return obj

    def stamps_of(self, item: Obj) -> tuple[str, str]:
        """An item's (created/modified, valid_from) stamps; the scope's when it has none."""
        stamp = item.get("timestamp")
        return self.scope_stamps if stamp in (None, "") else epoch_stamps(stamp)

    @staticmethod
    def marked(obj: Obj, marks: list[str]) -> Obj:
        """``obj`` with ``marks`` as its ``object_marking_refs`` (none when empty)."""
        if marks:
            obj["object_marking_refs"] = marks
        return obj

    def observed_window(self, item: Obj, stamps: tuple[str, str], path: str) -> tuple[str, str]:
        """first/last_observed: MISP ``first_seen``/``last_seen``, else the timestamp."""
        first = stamps[1]
        last = stamps[1]
        if item.get("first_seen"):
            try:
                first = iso_stamp(item["first_seen"])
            except BadValue as err:
                raise BadSeen("first_seen", str(err)) from None
        if item.get("last_seen"):
            try:
                last = iso_stamp(item["last_seen"])
            except BadValue as err:
                raise BadSeen("last_seen", str(err)) from None
        if first > last:
            if item.get("last_seen"):
                first = last
            else:
                last = first
        return first, last
