"""Turning one received object into a ``PreparedObject`` for the store, or a ``Reject``.

Parse, cap, upgrade if STIX 2.0, validate, and lift out what the store indexes: version,
markings, references and observables. This is the per-object hot path of every ingest, so
it does each thing once and nothing else.
"""

from __future__ import annotations

from typing import Any

import orjson

from mburoja.config import LimitSettings
from mburoja.policy import needs_inspection
from mburoja.stix.fingerprint import content_hash, display_name
from mburoja.stix.markings import tlp_level
from mburoja.stix.model import PreparedObject, RawObject, Reject
from mburoja.stix.observables import extract
from mburoja.stix.timestamps import version_key
from mburoja.stix.upgrade import upgrade_object_20
from mburoja.stix.validate import validate

# Kept as columns of their own, not as rows of the refs table.
_NOT_REFS = frozenset({"object_marking_refs", "created_by_ref"})


def prepare(item: RawObject, limits: LimitSettings) -> PreparedObject | Reject:
    """Check one object; good objects come back ready to store, bad ones as a reject that
    names the input, the place, the object id, the field and the reason."""
    raw = item.raw
    if len(raw) > limits.max_object_bytes:
        return _reject(
            item,
            None,
            "",
            f"object is {len(raw):,} bytes, over the limit of {limits.max_object_bytes:,} "
            "(setting limits.max_object_bytes)",
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _reject(item, None, "", f"not valid JSON: {exc}")
    if not isinstance(data, dict):
        return _reject(item, None, "", f"expected a JSON object, got {type(data).__name__}")
    oid = data.get("id") if isinstance(data.get("id"), str) else None
    # Only objects with many brackets can be deep: count first (C speed), walk if needed.
    if raw.count(b"{") + raw.count(b"[") > limits.max_json_depth:
        deep = _too_deep(data, limits.max_json_depth)
        if deep is not None:
            return _reject(
                item,
                oid,
                deep,
                f"nested more than {limits.max_json_depth} levels deep "
                "(setting limits.max_json_depth)",
            )
    derived = item.derived
    if data.get("spec_version") == "2.0":
        data = upgrade_object_20(data)
        raw = orjson.dumps(data)
        derived = True
    issues = validate(data)
    errors = [i for i in issues if i.level == "error"] if issues else None
    if errors:
        first = errors[0]
        more = (
            f" (and {len(errors) - 1} more: {'; '.join(map(str, errors[1:4]))})"
            if len(errors) > 1
            else ""
        )
        return _reject(item, oid, first.field, first.reason + more)
    assert oid is not None  # the validator guarantees a well-formed id
    version = data.get("modified") or data.get("created") or ""
    markings = data.get("object_marking_refs")
    return PreparedObject(
        oid,
        data["type"],
        version,
        version_key(version) if version else "",
        data.get("spec_version", "2.1"),
        data.get("revoked") is True,
        tlp_level(markings) if markings else None,
        " ".join(markings) if markings else None,
        data.get("created_by_ref"),
        display_name(data),
        content_hash(data, raw, derived),
        raw,
        _refs(data),
        extract(data),
        tuple(i for i in issues if i.level == "warning") if issues else (),
        item.origin,
        item.index,
        needs_inspection(raw),
        derived,
    )


def _reject(item: RawObject, oid: str | None, field: str, reason: str) -> Reject:
    return Reject(item.origin, item.index, oid, field or "(object)", reason, item.raw)


def _refs(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Top-level ``*_ref``/``*_refs`` values, except markings and ``created_by_ref`` (columns)."""
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        if "_ref" not in key:
            continue
        if key.endswith("_ref"):
            if isinstance(value, str) and key not in _NOT_REFS:
                out.append((key, value))
        elif key.endswith("_refs") and key not in _NOT_REFS and isinstance(value, list):
            out.extend((key, v) for v in value if isinstance(v, str))
    return tuple(out)


def _too_deep(data: Any, limit: int) -> str | None:
    """The path of the first value nested deeper than ``limit``, or None. Iterative."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if depth > limit:
            return path or "(object)"
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, dict | list):
                    stack.append((v, depth + 1, f"{path}.{k}" if path else str(k)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, dict | list):
                    stack.append((v, depth + 1, f"{path}[{i}]"))
    return None
