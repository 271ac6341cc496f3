"""MISP events and collections to STIX: the grouping (or report), its identity, and the walk.

An event becomes a ``grouping`` with ``context`` ``suspicious-activity`` (a ``report`` once
published) listing everything made from its attributes, objects and references, its ``Orgc``
an ``identity`` named in ``created_by_ref``; an empty event gets a ``note`` saying so. An
attribute or object collection converts item by item, with no grouping, as misp-stix does.
``convert_events`` is the entry point: it tells the shapes of MISP JSON apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from mburoja.errors import InputFormatError
from mburoja.ingest.misp.attribute import convert_attribute
from mburoja.ingest.misp.galaxy import convert_galaxies, convert_tags
from mburoja.ingest.misp.objects import convert_object, object_references
from mburoja.ingest.misp.state import ConversionState
from mburoja.ingest.misp.values import BadValue, Obj, as_list, epoch_stamps, is_uuid
from mburoja.stix.model import RawObject, Reject


def identity(state: ConversionState, orgc: Any, stamp: str) -> list[Obj]:
    """The Orgc identity, once per call; sets ``created_by`` for the scope."""
    if not isinstance(orgc, dict) or not is_uuid(orgc.get("uuid")) or not orgc.get("name"):
        state.created_by = None
        return []
    identity_id = f"identity--{orgc['uuid'].lower()}"
    state.created_by = identity_id
    if identity_id in state.emitted:
        return []
    state.emitted.add(identity_id)
    identity = {"type": "identity", "spec_version": "2.1", "id": identity_id}
    identity.update(created=stamp, modified=stamp, name=orgc["name"])
    identity["identity_class"] = "organization"
    return [identity]


def convert_event(state: ConversionState, event: Any, path: str) -> Iterator[RawObject | Reject]:
    """Convert one event: identity, grouping (or report), then everything in it."""
    if isinstance(event, dict) and isinstance(event.get("Event"), dict):
        event = event["Event"]
    if not isinstance(event, dict) or not is_uuid(event.get("uuid")):
        state.start_scope(None, None, ())
        where = f"{path}.uuid" if isinstance(event, dict) else path
        state.reject(where, "event has no valid uuid; it names the grouping", event)
        yield from state.flush([])
        return
    uid = event["uuid"].lower()
    try:
        stamps = state.stamps_of(event)
    except BadValue as err:
        state.start_scope(None, None, ())
        state.reject(f"{path}.timestamp", str(err), event, f"grouping--{uid}")
        yield from state.flush([])
        return
    state.start_scope(None, stamps, ())
    head = identity(state, event.get("Orgc"), stamps[0])
    _, galaxy_names = convert_galaxies(state, event.get("Galaxy"), stamps[0], path)
    marks, labels = convert_tags(state, event.get("Tag"), galaxy_names)
    state.scope_marks = tuple(marks) if state.inherit else ()
    for i, attr in enumerate(event.get("Attribute") or ()):
        convert_attribute(state, attr, f"{path}.Attribute[{i}]")
    objects = event.get("Object") or []
    primaries = [convert_object(state, o, f"{path}.Object[{i}]") for i, o in enumerate(objects)]
    object_references(state, objects, primaries)
    report = state.common("grouping", uid, stamps[0])
    report["name"] = event.get("info") or "MISP Event exported to STIX 2.1"
    published = event.get("published") in (True, 1, "1", "true") and event.get("publish_timestamp")
    refs = [o["id"] for o in (*state.objects, *state.relationships)]
    if not refs:
        note = state.common("note", uid, stamps[0])
        note["content"] = (
            "This MISP Event is empty and contains no attribute, object, galaxy or tag."
        )
        note["object_refs"] = [report["id"]]
        state.objects.append(note)
        refs = [note["id"]]
    if published:
        try:
            published_at = epoch_stamps(event["publish_timestamp"])[0]
        except BadValue:
            published_at = None
        if published_at:
            report = state.common("report", uid, stamps[0])
            report["name"] = event.get("info") or "MISP Event exported to STIX 2.1"
            report["published"] = published_at
    if report["type"] == "grouping":
        report["context"] = "suspicious-activity"
    report["object_refs"] = refs
    report["labels"] = ["Threat-Report", 'misp:tool="MISP-STIX-Converter"', *labels]
    if marks:
        report["object_marking_refs"] = marks
    yield from state.flush([*head, report])


def convert_attribute_collection(
    state: ConversionState, collection: Any, prefix: str
) -> Iterator[RawObject | Reject]:
    """An attribute collection: each attribute converted, no grouping (as misp-stix)."""
    state.start_scope(None, None, ())
    head: list[Obj] = []
    for i, attr in enumerate(collection):
        event = attr.get("Event") if isinstance(attr, dict) else None
        if isinstance(event, dict) and event.get("Orgc"):
            head += identity(state, event["Orgc"], state.stamps_of(attr)[0])
        else:
            state.created_by = None
        convert_attribute(state, attr, f"{prefix}[{i}]")
    yield from state.flush(head)


def convert_object_collection(
    state: ConversionState, collection: list[Any]
) -> Iterator[RawObject | Reject]:
    """An object collection: each object converted, no grouping (as misp-stix)."""
    state.start_scope(None, None, ())
    primaries = [convert_object(state, o, f"Object[{i}]") for i, o in enumerate(collection)]
    object_references(
        state, [o.get("Object", o) if isinstance(o, dict) else o for o in collection], primaries
    )
    yield from state.flush([])


def convert_document(state: ConversionState, doc: Any) -> Iterator[RawObject | Reject]:
    """Dispatch on the shape of the MISP document."""
    if isinstance(doc, dict) and "response" in doc:
        doc = doc["response"]
        if isinstance(doc, dict):
            doc = doc.get("Attribute", doc)
            if not isinstance(doc, list):
                raise InputFormatError(f"{state.origin}: response holds no Attribute list")
            yield from convert_attribute_collection(state, doc, "Attribute")
            return
    if isinstance(doc, dict):
        if "Event" in doc or "info" in doc or ("uuid" in doc and "Attribute" in doc):
            yield from convert_event(state, doc, "Event[0]")
        elif isinstance(doc.get("Attribute"), list):
            yield from convert_attribute_collection(state, doc["Attribute"], "Attribute")
        elif "Object" in doc:
            yield from convert_object_collection(state, as_list(doc["Object"]))
        else:
            raise InputFormatError(f"{state.origin}: not a MISP event, attribute or object")
        return
    if not isinstance(doc, list):
        raise InputFormatError(f"{state.origin}: not a MISP event, attribute or object")
    dicts = [d for d in doc if isinstance(d, dict)]
    if dicts and all("Object" in d for d in dicts):
        yield from convert_object_collection(state, doc)
    elif dicts and all("type" in d or ("Attribute" in d and "info" not in d) for d in dicts) \
            and not any("Event" in d for d in dicts):  # fmt: skip
        yield from convert_attribute_collection(state, doc, "Attribute")
    else:
        for i, event in enumerate(doc):
            yield from convert_event(state, event, f"Event[{i}]")


def convert_events(
    data: bytes | str | dict[str, Any] | list[Any],
    origin: str,
    *,
    inherit_event_markings: bool = True,
) -> Iterator[RawObject | Reject]:
    """Convert MISP JSON to STIX 2.1 objects (as RawObjects) and Rejects, in order.

    Accepts a REST event collection (``{"response": [{"Event": ...}]}``), a single event
    (``{"Event": ...}`` or a bare event), a list of events, an attribute collection
    (``{"response": {"Attribute": [...]}}``) and an object collection
    (``{"response": [{"Object": ...}]}``). ``index`` counts everything yielded, so objects
    and rejects add up to the total. Raises ``InputFormatError`` when the input is not JSON
    or not MISP at all; a bad attribute, object or event is a ``Reject``, and the rest of the
    input still converts.
    """
    if isinstance(data, bytes | str):
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as err:
            raise InputFormatError(f"{origin}: not JSON: {err}") from None
    else:
        doc = data
    return convert_document(ConversionState(origin, inherit_event_markings), doc)
