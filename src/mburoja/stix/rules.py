"""The cross-property rules of ``stix.validate``: checks that look at more than one property.

Two kinds. *Object-wide* rules come from a type's spec: timestamps that must be in order
(``created`` <= ``modified``, ``first_seen`` <= ``last_seen``), groups of properties of which
at least one must be present, or not two together, or one only with another. *Named* rules are
the type-specific MUSTs that a table cannot say (an indicator's pattern must parse, a family
malware needs a name…); ``spec`` names them per type and ``RULES`` maps each name to its
function. All append ``Issue`` to the list they are given and return nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, Final

from mburoja.stix import spec
from mburoja.stix.checks import Issues, add_error, shown, timestamp_ok
from mburoja.stix.spec import TypeSpec
from mburoja.stix.timestamps import version_key

#: A named rule: ``(object, issues)``.
Rule = Callable[[dict[str, Any], Issues], None]

# --------------------------------------------------------------------------- named rules

_pattern_module: ModuleType | None = None


def _pattern_checker() -> ModuleType:
    """``mburoja.stix.pattern``, imported on first use (it pulls in the ANTLR grammar)."""
    global _pattern_module
    if _pattern_module is None:
        from mburoja.stix import pattern

        _pattern_module = pattern
    return _pattern_module


def _rule_indicator_pattern(obj: dict[str, Any], issues: Issues) -> None:
    pattern = obj.get("pattern")
    if obj.get("pattern_type") == "stix" and isinstance(pattern, str):
        reason = _pattern_checker().check(pattern)
        if reason is not None:
            add_error(issues, "pattern", f"is not a valid STIX pattern: {reason}")


def _rule_malware_family_name(obj: dict[str, Any], issues: Issues) -> None:
    if obj.get("is_family") is True and "name" not in obj:
        add_error(issues, "name", "is required when is_family is true")


def _rule_location_place(obj: dict[str, Any], issues: Issues) -> None:
    if "region" in obj or "country" in obj or ("latitude" in obj and "longitude" in obj):
        return
    add_error(issues, "region", "a location needs region, country, or latitude and longitude")


def _rule_marking_definition_body(obj: dict[str, Any], issues: Issues) -> None:
    kind, definition = obj.get("definition_type"), obj.get("definition")
    if kind is None and definition is None:
        if "extensions" not in obj:
            add_error(
                issues,
                "definition_type",
                "is required, with definition, unless an extension defines the marking",
            )
        return
    if kind is None:
        add_error(issues, "definition_type", "is required when definition is present")
        return
    if definition is None:
        add_error(issues, "definition", "is required when definition_type is present")
        return
    if not isinstance(definition, dict):
        return  # the dict check already reported it
    if kind == "tlp":
        level = definition.get("tlp")
        if level not in spec.TLP_VALUES:
            levels = ", ".join(sorted(spec.TLP_VALUES))
            add_error(issues, "definition.tlp", f"must be one of {levels}, got {shown(level)}")
    elif kind == "statement":
        statement = definition.get("statement")
        if not isinstance(statement, str):
            add_error(issues, "definition.statement", f"must be a string, got {shown(statement)}")


def _rule_email_multipart(obj: dict[str, Any], issues: Issues) -> None:
    multipart = obj.get("is_multipart")
    if multipart is True and "body" in obj:
        add_error(issues, "body", "must not be present when is_multipart is true")
    elif multipart is False and "body_multipart" in obj:
        add_error(issues, "body_multipart", "must not be present when is_multipart is false")


def _rule_network_traffic_active(obj: dict[str, Any], issues: Issues) -> None:
    if obj.get("is_active") is True and "end" in obj:
        add_error(issues, "end", "must not be present when is_active is true")


RULES: Final[dict[str, Rule]] = {
    "indicator-pattern": _rule_indicator_pattern,
    "malware-family-name": _rule_malware_family_name,
    "location-place": _rule_location_place,
    "marking-definition-body": _rule_marking_definition_body,
    "email-multipart": _rule_email_multipart,
    "network-traffic-active": _rule_network_traffic_active,
}

# --------------------------------------------------------------------------- object-wide rules


def check_order(
    obj: dict[str, Any], order: tuple[tuple[str, str, bool], ...], issues: Issues
) -> None:
    for earlier, later, strict in order:
        first, second = obj.get(earlier), obj.get(later)
        if first is None or second is None or (first == second and not strict):
            continue
        if not (isinstance(first, str) and isinstance(second, str)):
            continue
        if not (timestamp_ok(first) and timestamp_ok(second)):
            continue  # already reported as a bad timestamp
        if len(first) == len(second):  # same precision: the strings sort as the instants do
            first_key, second_key = first, second
        else:
            first_key, second_key = version_key(first), version_key(second)
        if strict and second_key <= first_key:
            add_error(issues, later, f"must be later than {earlier} ({first!r}), got {second!r}")
        elif second_key < first_key:
            add_error(
                issues, later, f"must not be earlier than {earlier} ({first!r}), got {second!r}"
            )


def check_groups(obj: dict[str, Any], type_spec: TypeSpec, issues: Issues) -> None:
    for group in type_spec.at_least_one:
        if not any(name in obj for name in group):
            add_error(issues, group[0], f"at least one of {', '.join(group)} must be present")
    for group in type_spec.exclusive:
        present = [name for name in group if name in obj]
        if len(present) > 1:
            add_error(issues, present[1], f"must not be present together with {present[0]}")
    for name, needs in type_spec.depends:
        if name in obj:
            for need in needs:
                if need not in obj:
                    add_error(issues, need, f"is required when {name} is present")
