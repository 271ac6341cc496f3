"""One MISP attribute to STIX: observed-data and SCOs, an indicator, an SDO or a custom object.

An attribute whose type has SCOs becomes ``observed-data--<uuid>`` with them and, when
``to_ids`` is set, also ``indicator--<uuid>`` ``based-on`` it. A type with only a pattern
becomes an indicator alone (when ``to_ids``); ``vulnerability`` and ``campaign-name`` become
those SDOs; anything else a ``x-misp-attribute``. Its galaxies are related to what it became.
A value that cannot be what its type says is a Reject naming the field.
"""

from __future__ import annotations

from typing import Any

from mburoja.ingest.misp.galaxy import RELATIONSHIP_SPECS, convert_galaxies, convert_tags
from mburoja.ingest.misp.observables import INDICATOR_ONLY_PATTERNS, OBSERVABLE_TYPES
from mburoja.ingest.misp.state import ConversionState
from mburoja.ingest.misp.values import BadValue, Obj, escape, is_number, is_uuid, to_ids


def convert_attribute(state: ConversionState, attr: Any, path: str) -> None:
    """Convert one attribute, or reject it naming the field at fault."""
    if not isinstance(attr, dict):
        state.reject(path, "attribute is not a JSON object", attr)
        return
    if isinstance(attr.get("Attribute"), dict):
        attr = attr["Attribute"]
    kind, value, uid = attr.get("type"), attr.get("value"), attr.get("uuid")
    if not isinstance(kind, str) or not kind:
        state.reject(f"{path}.type", "attribute has no type", attr)
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        state.reject(f"{path}.value", f"{kind} attribute has no value", attr)
        return
    if not is_uuid(uid):
        state.reject(f"{path}.uuid", f"{uid!r} is not a uuid; STIX ids are made from it", attr)
        return
    uid = uid.lower()
    try:
        stamps = state.stamps_of(attr)
    except BadValue as err:
        state.reject(f"{path}.timestamp", str(err), attr, f"indicator--{uid}")
        return
    try:
        _convert_checked(state, attr, kind, value, uid, stamps, path)
    except BadValue as err:
        state.reject(f"{path}.{err.field}", str(err), attr, f"indicator--{uid}")


def _convert_checked(state: ConversionState, attr: Obj, kind: str, value: str, uid: str,
                     stamps: tuple[str, str], path: str) -> None:  # fmt: skip
    """Convert an attribute whose type, value, uuid and timestamp are known to be sound."""
    category = attr.get("category")
    ids = to_ids(attr)
    handler = OBSERVABLE_TYPES.get(kind)
    scos: list[Obj] = []
    pattern: str | None = None
    seen = (stamps[1], stamps[1])
    if handler is not None:
        scos, pattern = handler(uid, value, kind, ids)
        seen = state.observed_window(attr, stamps, path)
        primary = "observed-data"
    elif kind in INDICATOR_ONLY_PATTERNS and ids:
        if kind in ("port", "size-in-bytes") and not is_number(value):
            raise BadValue(f"{value!r} is not a {kind} number")
        pattern = "[" + INDICATOR_ONLY_PATTERNS[kind].format(escape(value)) + "]"
        primary = "indicator"
    elif kind in ("vulnerability", "campaign-name"):
        primary = "vulnerability" if kind == "vulnerability" else "campaign"
    else:
        primary = "x-misp-attribute"
    primary_id = f"{primary}--{uid}"
    galaxy_ids, galaxy_names = convert_galaxies(state, attr.get("Galaxy"), stamps[0], path)
    marks, tag_labels = convert_tags(state, attr.get("Tag"), galaxy_names)
    marks = marks or list(state.scope_marks)
    labels = [f'misp:type="{kind}"']
    if category:
        labels.append(f'misp:category="{category}"')
    if primary == "observed-data":
        state.objects.append(state.observed(uid, stamps, scos, labels + tag_labels, marks, seen))
        state.objects.extend(scos)
    elif primary == "x-misp-attribute":
        obj = state.common(primary, uid, stamps[0])
        obj["labels"] = labels + tag_labels
        obj["x_misp_type"], obj["x_misp_value"] = kind, value
        if category:
            obj["x_misp_category"] = category
        if attr.get("comment"):
            obj["x_misp_comment"] = attr["comment"]
        state.objects.append(state.marked(obj, marks))
    elif primary != "indicator":  # an indicator-only type: the indicator below is all
        obj = state.common(primary, uid, stamps[0])
        obj["name"] = value
        obj["labels"] = labels + tag_labels
        if primary == "vulnerability":
            obj["external_references"] = [{"source_name": "cve", "external_id": value}]
        state.objects.append(state.marked(obj, marks))
    if pattern is not None:
        state.objects.append(
            state.indicator(uid, stamps, pattern, str(category or ""), labels + tag_labels,
                           marks, attr.get("comment"))
        )  # fmt: skip
        if primary == "observed-data":
            state.relate(f"indicator--{uid}", "based-on", primary_id, stamps[0], marks)
    specs = RELATIONSHIP_SPECS.get(primary, {})
    for target in galaxy_ids:
        kind = specs.get(target.partition("--")[0], "related-to")
        state.relate(primary_id, kind, target, stamps[0], marks)
    state.by_uuid[uid] = primary_id
