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
- Only the organisation that owns an id (the one that first sent it) may add versions of
  it; another organisation's new version is rejected. Sending the same version again is
  harmless and stays "unchanged".
- Objects a converter made (MISP, IOC lists, STIX 2.0 upgrades) carry fresh ``created`` and
  ``modified`` stamps every run; their fingerprint (``stix.fingerprint``) leaves those out,
  and an equal fingerprint is "unchanged", so re-ingesting the same list changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import msgspec

from mburoja.stix.model import PreparedObject, Reject


class Existing(NamedTuple):
    """A stored version as the classifier needs to see it."""

    version_key: str
    chash: bytes
    seq: int
    is_current: bool
    revoked: bool
    source: str
    owner: str | None = None


#: A planned insert: the object, its version key, and whether it becomes current.
Insert = tuple[PreparedObject, str, bool]


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
    owner: str | None = None,
) -> Plan:
    """Plan the inserts for ``objects``, sent by ``owner`` (None: the home organisation),
    given the stored versions of their ids."""
    plan = Plan()
    inserts = plan.inserts
    # ids first seen in this batch with no stored version: index of their one insert
    fresh: dict[str, int] = {}
    history: dict[str, list[_Slot]] = {}
    current: dict[str, _Slot] = {}
    planned_current: dict[str, int] = {}  # id -> index in inserts of its current insert
    content_versions = 0

    for obj in objects:
        oid = obj.id
        if oid not in existing and oid not in history:
            if oid not in fresh:
                # The common case, kept cheap: an id neither stored nor seen in this batch.
                fresh[oid] = len(inserts)
                inserts.append((obj, obj.version_key, True))
                continue
            _promote(oid, fresh.pop(oid), inserts, history, current, planned_current)
        elif oid not in history:
            _load(oid, existing[oid], history, current)
        known = history[oid]
        chash = obj.chash
        cur = current.get(oid)
        vkey = obj.version_key
        if vkey:
            same = next((s for s in known if s.version_key == vkey), None)
            if same is None and obj.derived and cur is not None and cur.chash == chash:
                same = cur
        else:
            same = next((s for s in known if s.chash == chash), None)
            if same is None:
                content_versions += 1
                vkey = f"{date_added[:-1]}{content_versions:03d}Z"
        if same is not None:
            plan.unchanged += 1
            if same.seq >= 0:
                plan.seen_again.append((same.seq, same.source))
            continue
        stored = existing.get(oid)
        if stored and stored[0].owner != owner:
            plan.rejects.append(_foreign_reject(obj))
            continue
        if cur is not None and cur.revoked and vkey > cur.version_key and not obj.revoked:
            plan.rejects.append(_revoked_reject(obj, cur.version_key))
            continue
        plan.new_versions += 1
        slot = _Slot(vkey, chash, -1, obj.revoked, "")
        known.append(slot)
        is_current = cur is None or vkey > cur.version_key
        if is_current:
            if cur is not None:
                if cur.seq >= 0:
                    plan.superseded.append(cur.seq)
                else:
                    index = planned_current[oid]
                    old, old_key, _ = inserts[index]
                    inserts[index] = (old, old_key, False)
            current[oid] = slot
            planned_current[oid] = len(inserts)
        inserts.append((obj, vkey, is_current))
    plan.new = len(fresh) + sum(1 for oid in history if oid not in existing)
    return plan


def _promote(
    oid: str,
    index: int,
    inserts: list[Insert],
    history: dict[str, list[_Slot]],
    current: dict[str, _Slot],
    planned_current: dict[str, int],
) -> None:
    """A second object with a fresh id arrived: track the first one's version history."""
    first, vkey, _ = inserts[index]
    slot = _Slot(vkey, first.chash, -1, first.revoked, "")
    history[oid] = [slot]
    current[oid] = slot
    planned_current[oid] = index


def _load(
    oid: str, rows: list[Existing], history: dict[str, list[_Slot]], current: dict[str, _Slot]
) -> None:
    slots = history[oid] = []
    for r in rows:
        slot = _Slot(r.version_key, r.chash, r.seq, r.revoked, r.source)
        slots.append(slot)
        if r.is_current:
            current[oid] = slot


def _revoked_reject(obj: PreparedObject, revoked_in: str) -> Reject:
    return Reject(
        origin=obj.origin,
        index=obj.index,
        object_id=obj.id,
        field="revoked",
        reason=(
            f"the object was revoked in version {revoked_in}; a revoked "
            "object cannot get new versions (STIX 2.1 §3.6)"
        ),
        raw=obj.raw,
    )


def _foreign_reject(obj: PreparedObject) -> Reject:
    # The owner is not named: the sender may not even be allowed to see the object.
    return Reject(
        origin=obj.origin,
        index=obj.index,
        object_id=obj.id,
        field="id",
        reason=(
            "the id belongs to another organisation's object; only its owner may add "
            "versions (send your own object under a new id, or ask the owner to update it)"
        ),
        raw=obj.raw,
    )
