"""Check one STIX 2.1 object against the specification: errors and warnings, with the field.

``validate(obj)`` returns a list of ``Issue``: an *error* means the object breaks a MUST of
STIX 2.1 and will not be stored; a *warning* is kept with the object (an open-vocabulary value
outside the vocabulary, a misplaced common property, an unknown type kept as custom). Each
issue names the property path (``object_refs[3]``, ``external_references[0].source_name``,
``extensions.socket-ext.address_family``) and says why in one sentence.

What is not checked here: whether a reference resolves (the store records dangling refs), and
relationship types (the spec's relationship vocabulary is a suggestion).

This module is the entry point and the compiler: ``spec.TYPES`` is compiled at import into one
plan per type (property name -> checker from ``stix.checks``, plus the rules of
``stix.rules``), and embedded objects and extensions into sub-plans walked here. What a valid
identifier is lives in ``stix.identifiers``; ``identifier_type``, ``is_type_name`` and
``is_uuid`` are re-exported from here for callers that validate.

Speed: this runs once per ingested object, so it walks only the object's top-level keys and,
below them, only what the spec names. Timestamp and identifier checks are cached (the same
``created_by_ref`` and timestamps recur across a bundle), and the happy path allocates nothing
but the result list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from mburoja.stix import spec
from mburoja.stix.checks import (
    GOOD_CUSTOM_NAMES,
    ID_REASON,
    KIND_CHECKS,
    Check,
    Issues,
    add_error,
    add_warning,
    bad_property_name,
    check_version_timestamp,
    custom_name_ok,
    enum_problem,
    non_empty_list,
    shown,
)
from mburoja.stix.identifiers import UUID_RE, identifier_type, is_type_name, is_uuid
from mburoja.stix.markings import TLP2_EXTENSION_ID, TLP_ORDER
from mburoja.stix.model import Issue
from mburoja.stix.rules import RULES, Rule, check_groups, check_order
from mburoja.stix.spec import Prop, TypeSpec

__all__ = ["errors", "identifier_type", "is_type_name", "is_uuid", "validate"]

_CORE: Final = spec.CORE_PROPERTIES
_NEW_OBJECT_EXTENSIONS: Final = frozenset({"new-sdo", "new-sco", "new-sro"})
_TLP2_LEVELS: Final = frozenset(TLP_ORDER)

#: property name -> (fast-path type, checker, checker argument); see ``_fast_type``.
_Checks = Mapping[str, tuple[type, Check, Any]]


# --------------------------------------------------------------------------- sub-objects


class _SubPlan(NamedTuple):
    """A compiled embedded type or predefined extension."""

    spec: TypeSpec
    checks: _Checks


def _walk_sub(value: Any, path: str, plan: _SubPlan, issues: Issues) -> None:
    """Check one embedded object or extension body against its compiled spec."""
    if not isinstance(value, dict):
        add_error(issues, path, f"must be an object, got {shown(value)}")
        return
    checks = plan.checks
    for key, item in value.items():
        entry = checks.get(key)
        if entry is not None:
            entry[1](item, f"{path}.{key}", entry[2], issues)
        elif not custom_name_ok(key):
            bad_property_name(issues, f"{path}.{key}")
    for name in sorted(plan.spec.required - value.keys()):
        add_error(issues, f"{path}.{name}", f"is required in {plan.spec.name}")
    for group in plan.spec.at_least_one:
        if not any(name in value for name in group):
            add_error(issues, path, f"needs at least one of {', '.join(group)}")


def _check_object(value: Any, path: str, plan: _SubPlan, issues: Issues) -> None:
    _walk_sub(value, path, plan, issues)


def _check_objects(value: Any, path: str, plan: _SubPlan, issues: Issues) -> None:
    items = non_empty_list(value, path, plan.spec.name + " objects", issues)
    for i, item in enumerate(items or ()):
        _walk_sub(item, f"{path}[{i}]", plan, issues)


def _check_extensions(value: Any, path: str, known: Mapping[str, _SubPlan], issues: Issues) -> None:
    """``extensions``: predefined ones by their spec, ``extension-definition--`` ones by
    their ``extension_type``, anything else (2.0-style ``x-…-ext``) as opaque custom data."""
    if not isinstance(value, dict) or not value:
        add_error(issues, path, f"must be a non-empty object of extensions, got {shown(value)}")
        return
    for name, body in value.items():
        where = f"{path}.{name}"
        plan = known.get(name)
        if plan is not None:
            _walk_sub(body, where, plan, issues)
            continue
        if not isinstance(body, dict):
            add_error(issues, where, f"must be an object, got {shown(body)}")
            continue
        if name.startswith("extension-definition--"):
            if identifier_type(name) != "extension-definition":
                add_error(issues, where, f"extension key {ID_REASON}")
            kind = body.get("extension_type")
            if kind is None:
                add_error(
                    issues, f"{where}.extension_type", "is required for an extension-definition"
                )
            else:
                problem = enum_problem(kind, "extension-type-enum")
                if problem:
                    add_error(issues, f"{where}.extension_type", problem)
            if name == TLP2_EXTENSION_ID and body.get("tlp_2_0") not in _TLP2_LEVELS:
                levels = ", ".join(TLP_ORDER)
                got = shown(body.get("tlp_2_0"))
                add_error(issues, f"{where}.tlp_2_0", f"must be one of {levels}, got {got}")
        elif known and not name.startswith("x-"):
            add_warning(issues, where, "is not a predefined extension of this type; kept as custom")


# --------------------------------------------------------------------------- plans


class _Never:
    """A class no JSON value has: the fast-path type of checks that must always run."""


def _fast_type(prop: Prop) -> type:
    """The Python type that alone proves a value valid for ``prop``, or ``_Never``.

    ``validate`` skips the checker call when a value's exact class is this type: most
    properties are plain strings, and this saves a call for each of them.
    """
    if prop.kind in ("string", "dict"):
        return str if prop.kind == "string" else dict
    if prop.kind == "boolean":
        return bool
    if prop.kind == "integer" and prop.minimum is None and prop.maximum is None:
        return int
    return _Never


def _compile_props(
    props: Mapping[str, Prop], extensions: Mapping[str, _SubPlan]
) -> dict[str, tuple[type, Check, Any]]:
    checks: dict[str, tuple[type, Check, Any]] = {}
    for name, prop in props.items():
        if name in spec.CORE_PROPERTIES:
            continue
        if prop.kind in ("object", "objects"):
            sub = _SUB_PLANS[prop.embedded]
            check = _check_object if prop.kind == "object" else _check_objects
            checks[name] = (_Never, check, sub)
        elif prop.kind == "extensions":
            checks[name] = (_Never, _check_extensions, extensions)
        elif name in ("created", "modified"):
            checks[name] = (_Never, check_version_timestamp, prop)
        else:
            checks[name] = (_fast_type(prop), KIND_CHECKS[prop.kind], prop)
    return checks


def _compile_sub(sub: TypeSpec) -> _SubPlan:
    return _SubPlan(sub, _compile_props(sub.props, {}))


_SUB_PLANS: Final[dict[str, _SubPlan]] = {}
for _name, _sub in spec.EMBEDDED.items():
    _SUB_PLANS[_name] = _compile_sub(_sub)


class _Plan(NamedTuple):
    """A compiled type: what ``validate`` needs, ready to use."""

    type_name: str
    spec: TypeSpec | None
    checks: _Checks
    required: frozenset[str]
    id_prefix: str
    needs_spec_version: bool
    order: tuple[tuple[str, str, bool], ...]
    #: the type spec when it has at-least-one, exclusive or depends rules, else None.
    groups: TypeSpec | None
    rules: tuple[Rule, ...]


def _misplaced(value: Any, path: str, type_name: str, issues: Issues) -> None:
    add_warning(issues, path, f"is a common property that {type_name} objects do not define")


def _compile(type_spec: TypeSpec) -> _Plan:
    extensions = {name: _compile_sub(ext) for name, ext in type_spec.extensions.items()}
    checks = _compile_props(type_spec.props, extensions)
    for name in spec.COMMON_PROPERTY_NAMES - type_spec.props.keys():
        checks[name] = (_Never, _misplaced, type_spec.name)
    return _Plan(
        type_name=type_spec.name,
        spec=type_spec,
        checks=checks,
        required=type_spec.required - spec.CORE_PROPERTIES,
        id_prefix=type_spec.name + "--",
        needs_spec_version="spec_version" in type_spec.required,
        order=type_spec.order,
        groups=(
            type_spec
            if type_spec.at_least_one or type_spec.exclusive or type_spec.depends
            else None
        ),
        rules=tuple(RULES[rule] for rule in type_spec.rules),
    )


def _custom_plan(type_name: str) -> _Plan:
    """A type the spec does not define: check only the common properties it carries."""
    return _Plan(
        type_name=type_name,
        spec=None,
        checks=_compile_props(spec.ALL_COMMON_PROPERTIES, {}),
        required=frozenset(),
        id_prefix=type_name + "--",
        needs_spec_version=False,
        order=(("created", "modified", False),),
        groups=None,
        rules=(),
    )


_PLANS: Final[dict[str, _Plan]] = {name: _compile(ts) for name, ts in spec.TYPES.items()}
_CUSTOM_PLANS: dict[str, _Plan] = {}
_CUSTOM_PLANS_MAX: Final = 1024


# --------------------------------------------------------------------------- object-level checks


def _check_id(obj: dict[str, Any], plan: _Plan, type_ok: bool, issues: Issues) -> None:
    value = obj.get("id")
    if value is None:
        add_error(issues, "id", "is required")
    elif not isinstance(value, str):
        add_error(issues, "id", f"{ID_REASON}, got {shown(value)}")
    elif not type_ok:
        if identifier_type(value) is None:
            add_error(issues, "id", f"{ID_REASON}, got {shown(value)}")
    elif not value.startswith(plan.id_prefix):
        add_error(
            issues, "id", f"must start with {plan.id_prefix!r} (its type), got {shown(value)}"
        )
    elif UUID_RE.fullmatch(value, len(plan.id_prefix)) is None:
        add_error(issues, "id", f"{ID_REASON}, got {shown(value)}")


def _declares_new_object(obj: dict[str, Any]) -> bool:
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict):
        return False
    return any(
        isinstance(body, dict) and body.get("extension_type") in _NEW_OBJECT_EXTENSIONS
        for body in extensions.values()
    )


def _plan_for_unknown(obj: dict[str, Any], type_name: Any, issues: Issues) -> _Plan | None:
    """The plan for an object whose type the spec does not define, or None to stop here."""
    if type_name is None:
        add_error(issues, "type", "is required")
        return _custom_plan("")
    if not isinstance(type_name, str) or not is_type_name(type_name):
        add_error(
            issues,
            "type",
            "must be 3-250 characters of a-z, 0-9 and single inner hyphens, "
            f"got {shown(type_name)}",
        )
        return _custom_plan("")
    if type_name == "bundle":
        add_error(
            issues, "type", "a bundle is not a STIX object; its objects are checked one by one"
        )
        return None
    if not type_name.startswith("x-") and not _declares_new_object(obj):
        add_warning(
            issues, "type", f"{type_name!r} is not a STIX 2.1 type; kept as a custom object"
        )
    plan = _CUSTOM_PLANS.get(type_name)
    if plan is None:
        if len(_CUSTOM_PLANS) >= _CUSTOM_PLANS_MAX:
            _CUSTOM_PLANS.clear()
        plan = _CUSTOM_PLANS[type_name] = _custom_plan(type_name)
    return plan


def validate(obj: dict[str, Any]) -> list[Issue]:
    """Every problem with one STIX 2.1 object: errors (not storable) and warnings (kept).

    ``obj`` is the parsed JSON of one object, never a bundle; STIX 2.0 objects are upgraded
    (``stix.upgrade``) before they reach here. An empty list means clean.
    """
    if not isinstance(obj, dict):
        return [Issue("error", "", f"a STIX object must be a JSON object, got {shown(obj)}")]
    issues: Issues = []
    type_name = obj.get("type")
    plan = _PLANS.get(type_name) if isinstance(type_name, str) else None
    type_ok = True
    if plan is None:
        plan = _plan_for_unknown(obj, type_name, issues)
        if plan is None:
            return issues
        type_ok = plan.type_name != ""
    _check_id(obj, plan, type_ok, issues)

    version = obj.get("spec_version")
    if version is None:
        if plan.needs_spec_version:
            add_error(issues, "spec_version", f"is required for {plan.type_name} and must be '2.1'")
    elif version != spec.SPEC_VERSION:
        add_error(issues, "spec_version", f"must be '2.1', got {shown(version)}")

    required = plan.required
    if required and not obj.keys() >= required:
        for name in sorted(required - obj.keys()):
            add_error(issues, name, f"is required for {plan.type_name}")

    get_check = plan.checks.get
    good_names = GOOD_CUSTOM_NAMES
    for key, value in obj.items():
        entry = get_check(key)
        if entry is not None:
            if value.__class__ is not entry[0]:
                entry[1](value, key, entry[2], issues)
        elif key not in good_names and key not in _CORE and not custom_name_ok(key):
            bad_property_name(issues, key)

    check_order(obj, plan.order, issues)
    if plan.groups is not None:
        check_groups(obj, plan.groups, issues)
    for rule in plan.rules:
        rule(obj, issues)
    return issues


def errors(issues: list[Issue]) -> list[Issue]:
    """Only the errors among ``issues``."""
    return [issue for issue in issues if issue.level == "error"]
