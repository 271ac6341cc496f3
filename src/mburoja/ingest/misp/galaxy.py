"""MISP tags and galaxies: TLP tags as markings, the other tags as labels, clusters as SDOs.

A ``tlp:*`` tag becomes the TLP marking-definition misp-stix uses (TLP 1.0, or TLP 2.0 for
``clear`` and ``amber+strict``); any other tag is a label. A galaxy cluster becomes the SDO
its galaxy type maps to (``mitre-attack-pattern`` -> ``attack-pattern``, ``ransomware`` ->
``malware``, ...) or a ``x-misp-galaxy-cluster``, with id ``<type>--<cluster uuid>``; the
tags that only name a cluster are not repeated as labels.
"""

from __future__ import annotations

from typing import Any

from mburoja.ingest.misp.state import ConversionState
from mburoja.ingest.misp.values import Obj, as_list, is_uuid
from mburoja.stix import markings


def tag_names(tags: Any) -> list[str]:
    """The names of a MISP ``Tag`` list (dicts with ``name``, or plain strings)."""
    if not isinstance(tags, list):
        return []
    names = []
    for tag in tags:
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str) and name:
            names.append(name)
    return names


def tlp_marking(tag: str) -> tuple[str, Obj] | None:
    """The marking-definition id and object for a ``tlp:*`` tag, or None for other tags.

    misp-stix uses the TLP 1.0 definitions for white, green, amber and red; ``tlp:clear``
    and ``tlp:amber+strict`` exist only in TLP 2.0 and get the TLP 2.0 definitions.
    """
    if tag[:4].lower() != "tlp:":
        return None
    level = tag[4:].strip().lower()
    if level in markings.TLP1:
        return markings.TLP1[level], markings.tlp1_definition(level)
    if level in markings.TLP2:
        return markings.TLP2[level], markings.tlp2_definition(level)
    return None


# --------------------------------------------------------------------------- galaxies

_ATTACK_PATTERN = (
    "mitre-attack-pattern",
    "mitre-enterprise-attack-attack-pattern",
    "mitre-mobile-attack-attack-pattern",
    "mitre-pre-attack-attack-pattern",
)
_COURSE_OF_ACTION = (
    "mitre-course-of-action",
    "mitre-enterprise-attack-course-of-action",
    "mitre-mobile-attack-course-of-action",
)
_INTRUSION_SET = (
    "mitre-enterprise-attack-intrusion-set",
    "mitre-intrusion-set",
    "mitre-mobile-attack-intrusion-set",
    "mitre-pre-attack-intrusion-set",
)
_MALWARE = (
    "android",
    "banker",
    "stealer",
    "backdoor",
    "ransomware",
    "mitre-malware",
    "malpedia",
    "mitre-enterprise-attack-malware",
    "mitre-mobile-attack-malware",
)
_THREAT_ACTOR = ("threat-actor", "microsoft-activity-group")
_TOOL = ("botnet", "rat", "exploit-kit", "tds", "tool", "mitre-tool",
         "mitre-enterprise-attack-tool", "mitre-mobile-attack-tool")  # fmt: skip

#: MISP galaxy type -> the STIX SDO type misp-stix makes of its clusters.
GALAXY_TYPES: dict[str, str] = {
    "branded-vulnerability": "vulnerability",
    **dict.fromkeys(_ATTACK_PATTERN, "attack-pattern"),
    **dict.fromkeys(_COURSE_OF_ACTION, "course-of-action"),
    **dict.fromkeys(_INTRUSION_SET, "intrusion-set"),
    **dict.fromkeys(_MALWARE, "malware"),
    **dict.fromkeys(_THREAT_ACTOR, "threat-actor"),
    **dict.fromkeys(_TOOL, "tool"),
}
_ALIASED = frozenset({"attack-pattern", "intrusion-set", "malware", "threat-actor", "tool"})
_KILL_CHAINED = frozenset({"attack-pattern", "malware", "tool"})

#: Source type -> target type -> relationship type (else ``related-to``).
RELATIONSHIP_SPECS: dict[str, dict[str, str]] = {
    "attack-pattern": {"malware": "uses", "tool": "uses", "vulnerability": "targets"},
    "campaign": {"attack-pattern": "uses", "intrusion-set": "attributed-to", "malware": "uses",
                 "threat-actor": "attributed-to", "tool": "uses", "vulnerability": "targets"},
    "course-of-action": dict.fromkeys(("attack-pattern", "malware", "tool", "vulnerability"),
                                      "mitigates"),
    "indicator": dict.fromkeys(("attack-pattern", "intrusion-set", "malware", "threat-actor",
                                "tool"), "indicates"),
}  # fmt: skip

_ID_SOURCES = {"CAPEC": "capec", "CVE": "cve", "CWE": "cwe", "MOB": "mitre-mobile-attack",
               "PRE": "mitre-pre-attack", "REF": "reference_from_CAPEC"}  # fmt: skip


def external_id_source(value: str) -> str:
    """The ``source_name`` misp-stix gives an external id (``T1059`` is mitre-attack)."""
    prefix = value.partition("-")[0]
    if "-" in value and prefix in _ID_SOURCES:
        return _ID_SOURCES[prefix]
    if "-" in value:
        return "NIST Mobile Threat Catalogue"
    return "WASC" if value.isnumeric() else "mitre-attack"


def galaxy_tag_names(galaxy: Obj) -> set[str]:
    """The tag names a galaxy's clusters stand for (they are not repeated as labels)."""
    names = set()
    for cluster in galaxy.get("GalaxyCluster") or ():
        if isinstance(cluster, dict):
            if cluster.get("tag_name"):
                names.add(cluster["tag_name"])
            names.add(f'misp-galaxy:{cluster.get("type")}="{cluster.get("value")}"')
    return names


def cluster_object(galaxy: Obj, cluster: Obj, stamp: str) -> Obj:
    """The STIX object for one galaxy cluster (an SDO, or a ``x-misp-galaxy-cluster``)."""
    ctype = str(cluster.get("type") or galaxy.get("type") or "")
    kind = GALAXY_TYPES.get(ctype)
    name = str(galaxy.get("name") or ctype)
    labels = [f'misp:galaxy-name="{name}"', f'misp:galaxy-type="{ctype}"']
    if cluster.get("tag_name"):
        labels.append(cluster["tag_name"])
    value = str(cluster.get("value") or "")
    meta: Obj = cluster["meta"] if isinstance(cluster.get("meta"), dict) else {}
    obj: Obj
    if kind is None:
        obj = {
            "type": "x-misp-galaxy-cluster", "spec_version": "2.1",
            "id": f"x-misp-galaxy-cluster--{cluster['uuid']}", "created": stamp,
            "modified": stamp, "labels": labels, "x_misp_name": name, "x_misp_type": ctype,
            "x_misp_value": value,
            "x_misp_description": f"{galaxy.get('description', '')} | "
                                  f"{cluster.get('description', '')}",
        }  # fmt: skip
        if meta:
            obj["x_misp_meta"] = {k.replace(" ", "_").replace(".", "_"): v for k, v in meta.items()}
        return obj
    if ctype.startswith("mitre-") and " - " in value:
        value = value.split(" - ")[0].strip()
    obj = {"type": kind, "spec_version": "2.1", "id": f"{kind}--{cluster['uuid']}",
           "created": stamp, "modified": stamp, "name": value, "labels": labels}  # fmt: skip
    if cluster.get("description"):
        obj["description"] = cluster["description"]
    if kind == "malware":
        obj["is_family"] = True
    references: list[Obj] = []
    for key, values in meta.items():
        if key == "synonyms" and kind in _ALIASED:
            aliases = [v for v in as_list(values) if v != value]
            if aliases:
                obj["aliases"] = aliases
        elif key == "external_id":
            references += [{"source_name": external_id_source(v), "external_id": v}
                           for v in as_list(values)]  # fmt: skip
        elif key == "refs":
            references += [{"source_name": "url", "url": v} for v in as_list(values)]
        elif key == "kill_chain" and kind in _KILL_CHAINED:
            obj["kill_chain_phases"] = [
                {"kill_chain_name": v.split(":")[0], "phase_name": v.split(":")[-1]}
                for v in as_list(values)
            ]
        else:
            obj["x_misp_" + key.replace(" ", "_").replace(".", "_")] = values
    if references:
        obj["external_references"] = references
    return obj


def convert_tags(
    state: ConversionState, tags: Any, skip: set[str] | frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """(marking ids, labels) for a ``Tag`` list; TLP tags become markings.

    A TLP marking definition is added to the output the first time the call meets it.
    """
    marks: list[str] = []
    labels: list[str] = []
    for name in tag_names(tags):
        if name in skip:
            continue
        marking = tlp_marking(name)
        if marking is None:
            labels.append(name)
            continue
        marking_id, definition = marking
        if marking_id not in marks:
            marks.append(marking_id)
        if marking_id not in state.emitted:
            state.emitted.add(marking_id)
            state.definitions.append(definition)
    return marks, labels


def convert_galaxies(
    state: ConversionState, galaxies: Any, stamp: str, path: str
) -> tuple[list[str], set[str]]:
    """(ids of the objects for the clusters, tag names they stand for).

    Each cluster's object is added to the output once per call, however many items carry it.
    """
    ids: list[str] = []
    names: set[str] = set()
    if not isinstance(galaxies, list):
        return ids, names
    for g, galaxy in enumerate(galaxies):
        if not isinstance(galaxy, dict):
            state.reject(f"{path}.Galaxy[{g}]", "galaxy is not a JSON object", galaxy)
            continue
        names |= galaxy_tag_names(galaxy)
        for c, cluster in enumerate(galaxy.get("GalaxyCluster") or ()):
            where = f"{path}.Galaxy[{g}].GalaxyCluster[{c}]"
            if not isinstance(cluster, dict) or not is_uuid(cluster.get("uuid")):
                state.reject(f"{where}.uuid", "galaxy cluster without a valid uuid", cluster)
                continue
            cluster = {**cluster, "uuid": cluster["uuid"].lower()}
            obj = cluster_object(galaxy, cluster, stamp)
            if obj["id"] not in state.emitted:
                state.emitted.add(obj["id"])
                state.objects.append(obj)
            ids.append(obj["id"])
    return ids, names
