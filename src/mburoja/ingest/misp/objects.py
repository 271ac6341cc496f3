"""One MISP object to STIX: observed-data and SCOs by its template, or a ``x-misp-object``.

An object whose template maps (see ``templates``) becomes ``observed-data--<object uuid>``
with the template's SCOs and, when any attribute is ``to_ids``, an indicator whose pattern
ANDs their terms. Other templates become a ``x-misp-object`` listing the attributes. An
attribute whose value cannot be what its type or relation says is a Reject; the rest of the
object still converts. ``ObjectReference``s become relationships once every object is known.
"""

from __future__ import annotations

from typing import Any

from mburoja.ingest.misp.galaxy import convert_galaxies, convert_tags
from mburoja.ingest.misp.state import ConversionState
from mburoja.ingest.misp.templates import OBJECT_TEMPLATES, ObjAttr
from mburoja.ingest.misp.values import (
    RELATION_KINDS,
    BadSeen,
    BadValue,
    Obj,
    check_value,
    is_number,
    is_uuid,
    to_ids,
)


def convert_object(state: ConversionState, obj: Any, path: str) -> str | None:
    """Convert one MISP object; returns the id relationships to it should target."""
    if not isinstance(obj, dict):
        state.reject(path, "object is not a JSON object", obj)
        return None
    if isinstance(obj.get("Object"), dict):
        obj = obj["Object"]
    name, uid = obj.get("name"), obj.get("uuid")
    if not isinstance(name, str) or not name:
        state.reject(f"{path}.name", "object has no template name", obj)
        return None
    if not is_uuid(uid):
        state.reject(f"{path}.uuid", f"{uid!r} is not a uuid; STIX ids are made from it", obj)
        return None
    uid = uid.lower()
    try:
        stamps = state.stamps_of(obj)
    except BadValue as err:
        state.reject(f"{path}.timestamp", str(err), obj)
        return None
    attrs = object_attributes(state, obj, path)
    meta = str(obj.get("meta-category") or "")
    labels = [f'misp:name="{name.replace("|", "-")}"', f'misp:meta-category="{meta}"']
    tags: list[Any] = []
    galaxies: list[Any] = []
    for a in obj.get("Attribute") or ():
        if isinstance(a, dict):
            tags += a.get("Tag") or []
            galaxies += a.get("Galaxy") or []
    galaxy_ids, galaxy_names = convert_galaxies(state, galaxies, stamps[0], path)
    marks, tag_labels = convert_tags(state, tags, galaxy_names)
    marks = marks or list(state.scope_marks)
    handler = OBJECT_TEMPLATES.get(name)
    try:
        converted = handler(uid, attrs) if handler is not None and attrs else None
        window = state.observed_window(obj, stamps, path)
    except BadValue as err:
        where = err.field if isinstance(err, BadSeen) else "Attribute"
        state.reject(f"{path}.{where}", str(err), obj, f"observed-data--{uid}")
        return None
    if converted is None:
        primary = f"x-misp-object--{uid}"
        custom = state.common("x-misp-object", uid, stamps[0])
        custom["labels"] = labels + tag_labels
        custom["x_misp_meta_category"] = meta
        custom["x_misp_name"] = name
        custom["x_misp_attributes"] = [custom_attribute(a) for a in obj["Attribute"]
                                       if isinstance(a, dict)]  # fmt: skip
        if obj.get("comment"):
            custom["x_misp_comment"] = obj["comment"]
        state.objects.append(state.marked(custom, marks))
    else:
        scos, pattern = converted
        primary = f"observed-data--{uid}"
        state.objects.append(state.observed(uid, stamps, scos, labels + tag_labels, marks, window))
        state.objects.extend(scos)
        if pattern and any(a[4] for a in attrs):
            indicator = state.indicator(uid, stamps, "[" + " AND ".join(pattern) + "]",
                                       meta, labels, marks, obj.get("comment"))  # fmt: skip
            state.objects.append(indicator)
            state.relate(indicator["id"], "based-on", primary, stamps[0], marks)
    for target in galaxy_ids:
        state.relate(primary, "related-to", target, stamps[0], marks)
    state.by_uuid[uid] = primary
    state.marks_of[primary] = marks
    for a in attrs:
        state.by_uuid.setdefault(a[3], primary)
    return primary


def custom_attribute(attr: Obj) -> Obj:
    """An object attribute as misp-stix lists it inside ``x_misp_attributes``."""
    out = {k: attr.get(k) for k in ("type", "object_relation", "value")}
    for key in ("category", "comment", "to_ids", "uuid"):
        if attr.get(key):
            out[key] = attr[key]
    return out


def object_attributes(state: ConversionState, obj: Obj, path: str) -> list[ObjAttr]:
    """The object's attributes that are well formed; the others are rejected."""
    checked: list[ObjAttr] = []
    for j, attr in enumerate(obj.get("Attribute") or ()):
        where = f"{path}.Attribute[{j}]"
        if not isinstance(attr, dict):
            state.reject(where, "attribute is not a JSON object", attr)
            continue
        rel, kind, value, uid = (attr.get(k) for k in ("object_relation", "type", "value",
                                                        "uuid"))  # fmt: skip
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(rel, str) or not rel:
            state.reject(f"{where}.object_relation", "object attribute has no relation", attr)
        elif not isinstance(kind, str) or not kind:
            state.reject(f"{where}.type", "attribute has no type", attr)
        elif not isinstance(value, str) or not value.strip():
            state.reject(f"{where}.value", f"{kind} attribute has no value", attr)
        elif not is_uuid(uid):
            state.reject(f"{where}.uuid", f"{uid!r} is not a uuid", attr)
        else:
            try:
                check_value(kind, value)
                check_value(RELATION_KINDS.get(rel, ""), value)
                if "size-in-bytes" in (kind, rel) and not is_number(value):
                    raise BadValue(f"{value!r} is not a size in bytes")
            except BadValue as err:
                state.reject(f"{where}.value", str(err), attr)
                continue
            checked.append((rel, kind, value, str(uid).lower(), to_ids(attr)))
    return checked


def object_references(
    state: ConversionState, objects: list[Any], primaries: list[str | None]
) -> None:
    """Relationships for ``ObjectReference``s whose target was converted."""
    for obj, source in zip(objects, primaries, strict=True):
        if source is None or not isinstance(obj, dict):
            continue
        for ref in obj.get("ObjectReference") or ():
            if not isinstance(ref, dict):
                continue
            target = state.by_uuid.get(str(ref.get("referenced_uuid", "")).lower())
            kind = ref.get("relationship_type")
            if target is None or not isinstance(kind, str) or not kind:
                continue
            try:
                stamp = state.stamps_of(ref)[0] if ref.get("timestamp") else None
            except BadValue:
                stamp = None
            marks = state.marks_of.get(source, list(state.scope_marks))
            state.relate(source, kind, target, stamp or state.stamps_of(obj)[0], marks)
            if is_uuid(ref.get("uuid")):
                state.relationships[-1]["id"] = f"relationship--{str(ref['uuid']).lower()}"
