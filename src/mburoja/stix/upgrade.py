"""STIX 2.0 -> 2.1, for the objects of 2.0 bundles, as STIX 2.1 Appendix "Changes from 2.0"
describes.

What changes, per object (nothing else is touched, custom properties included):

- ``spec_version: "2.1"`` is added: 2.0 put it on the bundle, 2.1 puts it on every object.
  The caller drops the bundle-level one (2.1 bundles have none).
- ``labels`` on indicator, malware, threat-actor, tool and report carried the type
  vocabulary in 2.0; 2.1 moved that to ``indicator_types``, ``malware_types``,
  ``threat_actor_types``, ``tool_types`` and ``report_types``. The values are copied there
  (unless the object already has them) and ``labels`` is **kept**: it is still a valid 2.1
  common property, and an object should lose nothing on the way in.
- indicators get ``pattern_type: "stix"`` (2.0 only had STIX patterns).
- malware gets ``is_family: true`` when absent: 2.1 requires the property, and a 2.0
  malware object described a family, not an instance.
- observed-data keeps its ``objects`` dictionary (deprecated in 2.1, still allowed);
  identity keeps ``identity_class`` (optional in 2.1).

``upgrade_object_20`` returns a new dict and never mutates its input; nested values that are
not changed are shared with the input, not copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

#: type -> the 2.1 property that took over the 2.0 ``labels`` vocabulary.
LABELS_MOVED_TO: Final[Mapping[str, str]] = {
    "indicator": "indicator_types",
    "malware": "malware_types",
    "threat-actor": "threat_actor_types",
    "tool": "tool_types",
    "report": "report_types",
}


def is_stix20_bundle(bundle_head: Mapping[str, Any]) -> bool:
    """True if a bundle's top-level properties say STIX 2.0 (``spec_version: "2.0"``).

    ``bundle_head`` is the bundle without (or with) its ``objects``; only its own
    ``spec_version`` is read. 2.1 bundles carry none.
    """
    return bundle_head.get("type") == "bundle" and bundle_head.get("spec_version") == "2.0"


def upgrade_object_20(obj: dict[str, Any]) -> dict[str, Any]:
    """A STIX 2.1 copy of one STIX 2.0 object (see the module docstring for what changes).

    An object that already states a ``spec_version`` is copied unchanged: a mixed bundle
    keeps what its producer said.
    """
    upgraded = dict(obj)
    if "spec_version" in upgraded:
        return upgraded
    upgraded["spec_version"] = "2.1"
    type_name = upgraded.get("type")
    moved_to = LABELS_MOVED_TO.get(type_name) if isinstance(type_name, str) else None
    labels = upgraded.get("labels")
    if moved_to is not None and moved_to not in upgraded and isinstance(labels, list) and labels:
        upgraded[moved_to] = list(labels)
    if type_name == "indicator":
        upgraded.setdefault("pattern_type", "stix")
    elif type_name == "malware":
        upgraded.setdefault("is_family", True)
    return upgraded
