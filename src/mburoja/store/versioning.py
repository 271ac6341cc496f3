"""Deciding what a batch does to the stored versions: pure logic, no database.

Rules (STIX 2.1 §3.6 versioning):

- A version is identified by ``(id, modified)``; the same version twice is "unchanged",
  whatever its whitespace.
- A newer version becomes current; an older one that arrives late is kept as history and
  never replaces the current one.
- Once an object is revoked, it stays revoked: a newer, non-revoked version is rejected.
- Objects without ``modified``/``created`` (SCOs) are versioned by content: the same bytes
  are unchanged, different content becomes a new current version stamped with the time it
  was added.
- Objects a converter made (MISP, IOC lists, STIX 2.0 upgrades) carry fresh ``created`` and
  ``modified`` stamps every run; they are compared without those (and ``valid_from``), so
  re-ingesting the same list changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
import orjson

from mburoja.stix.model import PreparedObject, Reject

_DERIVED_VOLATILE = frozenset({"created", "modified", "valid_from"})


class Existing(NamedTuple):
    """A stored version as the classifier needs to see it."""

    version_key: str
    chash: bytes
    seq: int
    is_current: bool
    revoked: bool
    source: str


class Insert(NamedTuple):
    obj: PreparedObject
    version_key: str
    is_current: bool
    chash: bytes


class Plan(msgspec.Struct, kw_only=True):
    inserts: list[Insert] = msgspec.field(default_factory=list)
    superseded: list[int] = msgspec.field(default_factory=list)
    seen_again: list[tuple[int, str]] = msgspec.field(default_factory=list)
    rejects: list[Reject] = msgspec.field(default_factory=list)
    new: int = 0
    new_versions: int = 0
    unchanged: int = 0

    def counts(self) -> tuple[int, int, int]:
        return self.new, self.new_versions, self.unchanged


def content_hash(obj: PreparedObject) -> bytes:
    """16-byte digest of what makes two receipts of a version "the same content"."""
    if obj.derived:
        stable: dict[str, Any] = {k: v for k, v in obj.data.items() if k not in _DERIVED_VOLATILE}
        payload = orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)
    else:
        payload = obj.raw
    return hashlib.blake2b(payload, digest_size=16).digest()


class _Slot(NamedTuple):
    """A version known while planning: stored (seq >= 0) or planned in this batch (seq -1)."""

    version_key: str
    chash: bytes
    seq: int
    revoked: bool
    source: str


def classify(
    objects: Sequence[PreparedObject],
    existing: dict[str, list[Existing]],
    date_added: str,
) -> Plan:
    """Plan the inserts for ``objects`` given the stored versions of their ids."""
    plan = Plan()
    slots: dict[str, list[_Slot]] = {}
    current: dict[str, _Slot] = {}
    for oid, rows in existing.items():
        slots[oid] = []
        for r in rows:
            slot = _Slot(r.version_key, r.chash, r.seq, r.revoked, r.source)
            slots[oid].append(slot)
            if r.is_current:
                current[oid] = slot
    planned_current: dict[str, int] = {}  # id -> index in plan.inserts of its current insert
    content_versions = 0

    for obj in objects:
        chash = content_hash(obj)
        known = slots.get(obj.id)
        if obj.version_key:
            vkey = obj.version_key
            same = next((s for s in known or () if s.version_key == vkey), None)
            cur = current.get(obj.id)
            if same is None and obj.derived and cur is not None and cur.chash == chash:
                same = cur
        else:
            same = next((s for s in known or () if s.chash == chash), None)
            if same is None and known:
                content_versions += 1
                vkey = f"{date_added[:-1]}{content_versions:03d}Z"
            else:
                vkey = ""
        if same is not None:
            plan.unchanged += 1
            if same.seq >= 0:
                plan.seen_again.append((same.seq, same.source))
            continue

        cur = current.get(obj.id)
        if cur is not None and cur.revoked and vkey > cur.version_key and not obj.revoked:
            plan.rejects.append(
                Reject(
                    origin=obj.origin,
                    index=obj.index,
                    object_id=obj.id,
                    field="revoked",
                    reason=(
                        f"the object was revoked in version {cur.version_key}; a revoked "
                        "object cannot get new versions (STIX 2.1 §3.6)"
                    ),
                    raw=obj.raw,
                )
            )
            continue
        is_current = cur is None or vkey > cur.version_key
        if known:
            plan.new_versions += 1
        else:
            plan.new += 1
        slot = _Slot(vkey, chash, -1, obj.revoked, "")
        slots.setdefault(obj.id, []).append(slot)
        if is_current:
            if cur is not None:
                if cur.seq >= 0:
                    plan.superseded.append(cur.seq)
                else:
                    index = planned_current[obj.id]
                    plan.inserts[index] = plan.inserts[index]._replace(is_current=False)
            current[obj.id] = slot
            planned_current[obj.id] = len(plan.inserts)
        plan.inserts.append(Insert(obj, vkey, is_current, chash))
    return plan
