"""Factories for STIX objects in tests: small functions with sensible defaults, overridable.

Use these rather than pasted JSON, so a test shows only what matters to it.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from mburoja.config import LimitSettings
from mburoja.ingest.prepare import prepare
from mburoja.stix.markings import TLP2
from mburoja.stix.model import PreparedObject, RawObject, Reject

T0 = "2026-01-01T00:00:00.000Z"


def uid(seed: str | None = None) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed) if seed else uuid.uuid4())


def indicator(
    pattern: str = "[domain-name:value = 'evil.example']",
    *,
    id: str | None = None,
    created: str = T0,
    modified: str | None = None,
    tlp: str | None = "green",
    **extra: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": id or f"indicator--{uid()}",
        "created": created,
        "modified": modified or created,
        "name": pattern,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": created,
    }
    if tlp:
        obj["object_marking_refs"] = [TLP2[tlp]]
    obj.update(extra)
    return obj


def sco(type_: str, value: Any, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": type_,
        "spec_version": "2.1",
        "id": f"{type_}--{uid(f'{type_}:{value}')}",
    }
    if type_ == "autonomous-system":
        obj["number"] = value
    elif type_ == "file":
        obj["hashes"] = value
    else:
        obj["value"] = value
    obj.update(extra)
    return obj


def sdo(
    type_: str, name: str, *, id: str | None = None, created: str = T0, **extra: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": type_,
        "spec_version": "2.1",
        "id": id or f"{type_}--{uid()}",
        "created": created,
        "modified": extra.pop("modified", created),
        "name": name,
    }
    if type_ == "malware":
        obj["is_family"] = True
    if type_ == "identity":
        obj.setdefault("identity_class", "organization")
    obj.update(extra)
    return obj


def relationship(source: str, rel: str, target: str, *, created: str = T0) -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uid()}",
        "created": created,
        "modified": created,
        "relationship_type": rel,
        "source_ref": source,
        "target_ref": target,
    }


def bundle(*objects: dict[str, Any], indent: bool = False) -> bytes:
    body = {"type": "bundle", "id": f"bundle--{uid()}", "objects": list(objects)}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 if indent else 0)


def raw(
    obj: dict[str, Any], origin: str = "test", index: int = 0, derived: bool = False
) -> RawObject:
    return RawObject(orjson.dumps(obj), origin, index, derived)


def prepared(
    obj: dict[str, Any], origin: str = "test", index: int = 0, derived: bool = False
) -> PreparedObject:
    """An object through the real ``prepare`` stage; fails the test if it is rejected."""
    result = prepare(raw(obj, origin, index, derived), LimitSettings())
    if isinstance(result, Reject):
        raise AssertionError(f"factory object rejected: {result}")
    return result
