"""Reading STIX JSON input: a bundle, a TAXII envelope, a JSON list of objects, or one object.

Each object is cut out of the input as its exact bytes (``msgspec.Raw``), so what is
stored is byte for byte what was received. STIX 2.0 bundles are upgraded to 2.1 here;
upgraded objects are marked ``derived`` because their bytes are ours, not the sender's.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import orjson

from mburoja.config import LimitSettings
from mburoja.errors import InputFormatError, InputTooLarge
from mburoja.stix.model import RawObject, Reject
from mburoja.stix.upgrade import upgrade_object_20


class _Container(msgspec.Struct):
    """The outer shape of a bundle or envelope; everything else in it is ignored."""

    type: str | None = None
    id: str | None = None
    spec_version: str | None = None
    objects: list[msgspec.Raw] | None = None


_list_of_raw = msgspec.json.Decoder(list[msgspec.Raw])
_container = msgspec.json.Decoder(_Container)


def read_stix(data: bytes, origin: str, limits: LimitSettings) -> Iterator[RawObject | Reject]:
    """Yield each object of a STIX input as a ``RawObject`` (or a ``Reject`` for an
    object that cannot even be upgraded). Raises ``InputFormatError`` when the input is not
    STIX JSON at all and ``InputTooLarge`` when it breaks a limit."""
    if len(data) > limits.max_input_bytes:
        raise InputTooLarge(
            f"{origin}: input is {len(data):,} bytes, over the limit of "
            f"{limits.max_input_bytes:,} (setting limits.max_input_bytes)"
        )
    head = data.lstrip()[:1]
    try:
        if head == b"[":
            items = _list_of_raw.decode(data)
            spec_version = None
        elif head == b"{":
            try:
                box = _container.decode(data)
            except msgspec.ValidationError:
                # e.g. a single STIX 2.0 observed-data, whose "objects" is a dictionary
                box = _Container(type="?", objects=None)
            if box.type not in (None, "bundle") or box.objects is None:
                yield from _single(data, origin)
                return
            items = box.objects
            spec_version = box.spec_version
        else:
            raise InputFormatError(f"{origin}: not JSON (expected a STIX bundle or object)")
    except msgspec.DecodeError as exc:
        raise InputFormatError(f"{origin}: not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InputTooLarge(
            f"{origin}: JSON nested too deeply to parse; objects are limited to "
            f"{limits.max_json_depth} levels (setting limits.max_json_depth)"
        ) from exc
    if len(items) > limits.max_objects_per_bundle:
        raise InputTooLarge(
            f"{origin}: {len(items):,} objects, over the limit of "
            f"{limits.max_objects_per_bundle:,} per bundle "
            "(setting limits.max_objects_per_bundle); split the bundle"
        )
    if spec_version == "2.0":
        yield from _upgrade(items, origin)
        return
    for index, item in enumerate(items):
        yield RawObject(bytes(item), origin, index)


def _single(data: bytes, origin: str) -> Iterator[RawObject | Reject]:
    raw = data.strip()
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputFormatError(f"{origin}: not valid JSON: {exc}") from exc
    if isinstance(obj, dict) and obj.get("spec_version") == "2.0":
        yield from _upgrade([msgspec.Raw(raw)], origin)
        return
    yield RawObject(raw, origin, 0)


def _upgrade(items: list[msgspec.Raw], origin: str) -> Iterator[RawObject | Reject]:
    for index, item in enumerate(items):
        raw = bytes(item)
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield Reject(origin, index, None, "", f"not valid JSON: {exc}", raw)
            continue
        if not isinstance(obj, dict):
            yield Reject(origin, index, None, "", "a bundle item must be a JSON object", raw)
            continue
        yield RawObject(orjson.dumps(upgrade_object_20(obj)), origin, index, derived=True)
