"""Check one STIX 2.1 object against the specification: errors and warnings, with the field.

``validate(obj)`` returns a list of ``Issue``: an *error* means the object breaks a MUST of
STIX 2.1 and will not be stored; a *warning* is kept with the object (an open-vocabulary value
outside the vocabulary, a misplaced common property, an unknown type kept as custom). Each
issue names the property path (``object_refs[3]``, ``external_references[0].source_name``,
``extensions.socket-ext.address_family``) and says why in one sentence.

What is not checked here: whether a reference resolves (the store records dangling refs), and
relationship types (the spec's relationship vocabulary is a suggestion).

Speed: this runs once per ingested object, so it walks only the object's top-level keys and,
below them, only what the spec names. ``spec.TYPES`` is compiled at import into one plan per
type (property name -> checker), timestamp and identifier checks are cached (the same
``created_by_ref`` and timestamps recur across a bundle), and the happy path allocates nothing
but the result list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import ModuleType
from typing import Any, Final, NamedTuple

from mburoja.stix import spec
from mburoja.stix.markings import TLP2_EXTENSION_ID, TLP_ORDER
from mburoja.stix.model import Issue
from mburoja.stix.spec import Prop, TypeSpec
from mburoja.stix.timestamps import is_timestamp, version_key

_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)
_TYPE_NAME: Final = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_TYPE_RE: Final = re.compile(_TYPE_NAME)
_CORE: Final = spec.CORE_PROPERTIES
_CUSTOM_PROPERTY_RE: Final = re.compile(r"[a-z0-9_]{3,250}")
_HEX_RE: Final = re.compile(r"(?:[0-9a-fA-F]{2})*")
_BASE64_RE: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
# RFC 5646 tags, loosely: a primary subtag of letters, then alphanumeric subtags.
_LANG_RE: Final = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")

_TIMESTAMP_REASON: Final = "must be a timestamp in RFC 3339 UTC form"
_ID_REASON: Final = "must be an identifier '<type>--<UUID>' (RFC 4122 UUID)"
_NEW_OBJECT_EXTENSIONS: Final = frozenset({"new-sdo", "new-sco", "new-sro"})
_TLP2_LEVELS: Final = frozenset(TLP_ORDER)
_UNKNOWN: Final = object()
_HEX_DIGITS: Final = "0123456789abcdefABCDEF"
_HASH_ALGORITHMS: Final = spec.OPEN_VOCABULARIES["hash-algorithm-ov"]
_HASH_LENGTHS: Final = dict(spec.HASH_HEX_LENGTHS)

Issues = list[Issue]
_Check = Callable[[Any, str, Any, Issues], None]
#: property name -> (fast-path type, checker, checker argument); see ``_fast_type``.
_Checks = Mapping[str, tuple[type, _Check, Any]]


# --------------------------------------------------------------------------- cached primitives


@lru_cache(maxsize=1 << 15)
def _timestamp_ok(value: str) -> bool:
    return is_timestamp(value)


def is_uuid(value: str) -> bool:
    """True for an RFC 4122 UUID in 8-4-4-4-12 form, either case, version 1 to 8."""
    return _UUID_RE.fullmatch(value) is not None


_ID_TYPES: dict[str, str | None] = {}
_ID_TYPES_MAX: Final = 1 << 16
_CUSTOM_TYPE_NAMES: set[str] = set()


def identifier_type(value: str) -> str | None:
    """The type part of a valid STIX identifier ``<type>--<UUID>``, or None if not one.

    Results are remembered: the same ``created_by_ref`` and marking ids recur all through a
    bundle. The memory is dropped whole when it fills, which is cheap and good enough.
    """
    found = _ID_TYPES.get(value, _UNKNOWN)
    if found is not _UNKNOWN:
        return found  # type: ignore[return-value]
    cut = value.find("--")
    type_name: str | None = value[:cut] if cut > 0 else None
    if type_name is not None and (
        _UUID_RE.fullmatch(value, cut + 2) is None
        or (
            type_name not in spec.KNOWN_TYPES
            and type_name not in _CUSTOM_TYPE_NAMES
            and not _remember_type_name(type_name)
        )
    ):
        type_name = None
    if len(_ID_TYPES) >= _ID_TYPES_MAX:
        _ID_TYPES.clear()
    _ID_TYPES[value] = type_name
    return type_name


def _remember_type_name(name: str) -> bool:
    if not is_type_name(name):
        return False
    if len(_CUSTOM_TYPE_NAMES) >= 4096:
        _CUSTOM_TYPE_NAMES.clear()
    _CUSTOM_TYPE_NAMES.add(name)
    return True


_GOOD_CUSTOM_NAMES: set[str] = set()
_GOOD_CUSTOM_NAMES_MAX: Final = 8192


def _custom_name_ok(name: object) -> bool:
    """True if ``name`` is a valid custom property name (§11.1); good names are remembered."""
    if name in _GOOD_CUSTOM_NAMES:
        return True
    if not isinstance(name, str) or _CUSTOM_PROPERTY_RE.fullmatch(name) is None:
        return False
    if len(_GOOD_CUSTOM_NAMES) >= _GOOD_CUSTOM_NAMES_MAX:
        _GOOD_CUSTOM_NAMES.clear()
    _GOOD_CUSTOM_NAMES.add(name)
    return True


def is_type_name(value: str) -> bool:
    """True if ``value`` may name a STIX type: 3-250 of ``a-z0-9-``, no edge or double hyphen."""
    return 3 <= len(value) <= 250 and _TYPE_RE.fullmatch(value) is not None


def _shown(value: Any) -> str:
    """A short rendering of a value for a message: strings quoted and cut, containers named."""
    if isinstance(value, str):
        return repr(value if len(value) <= 80 else value[:77] + "...")
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _error(issues: Issues, field: str, reason: str) -> None:
    issues.append(Issue("error", field, reason))


def _warning(issues: Issues, field: str, reason: str) -> None:
    issues.append(Issue("warning", field, reason))


# --------------------------------------------------------------------------- property checkers
# Each takes (value, path, argument, issues) and appends issues only when something is wrong.


def _check_any(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    return None


def _check_string(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str):
        _error(issues, path, f"must be a string, got {_shown(value)}")


def _check_strings(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, list) or not value:
        _error(issues, path, f"must be a non-empty list of strings, got {_shown(value)}")
        return
    for i, item in enumerate(value):
        if not isinstance(item, str):
            _error(issues, f"{path}[{i}]", f"must be a string, got {_shown(item)}")


def _check_timestamp(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str) or not _timestamp_ok(value):
        _error(issues, path, f"{_TIMESTAMP_REASON}, got {_shown(value)}")


_PRECISE_TO_MILLISECONDS: Final = 24  # len("YYYY-MM-DDTHH:MM:SS.sssZ")


def _check_version_timestamp(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    """``created``/``modified``: a timestamp, and (§3.2) at least millisecond-precise. The
    precision is only a warning: feeds often write whole seconds and the instant is exact."""
    if not isinstance(value, str) or not _timestamp_ok(value):
        _error(issues, path, f"{_TIMESTAMP_REASON}, got {_shown(value)}")
    elif len(value) < _PRECISE_TO_MILLISECONDS:
        _warning(issues, path, f"should be precise to at least milliseconds, got {value!r}")


def _check_boolean(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if value is not True and value is not False:
        _error(issues, path, f"must be true or false, got {_shown(value)}")


def _range_problem(value: float, prop: Prop) -> str | None:
    low, high = prop.minimum, prop.maximum
    if low is not None and value < low:
        return f"must be at least {low:g}, got {value!r}"
    if high is not None and value > high:
        return f"must be at most {high:g}, got {value!r}"
    return None


def _check_integer(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        _error(issues, path, f"must be an integer, got {_shown(value)}")
    elif prop.minimum is not None or prop.maximum is not None:
        problem = _range_problem(value, prop)
        if problem:
            _error(issues, path, problem)


def _check_float(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        _error(issues, path, f"must be a number, got {_shown(value)}")
    elif prop.minimum is not None or prop.maximum is not None:
        problem = _range_problem(value, prop)
        if problem:
            _error(issues, path, problem)


def _ref_problem(value: Any, prop: Prop) -> str | None:
    """Why ``value`` is not a reference ``prop`` allows, or None."""
    if not isinstance(value, str):
        return f"{_ID_REASON}, got {_shown(value)}"
    target = identifier_type(value)
    if target is None:
        return f"{_ID_REASON}, got {_shown(value)}"
    allowed = prop.targets
    if (
        allowed is not None
        and target not in allowed
        and not (prop.open_targets and target not in spec.KNOWN_TYPES)
    ):
        return f"must reference {_describe_targets(prop)}, got a {target!r} id"
    return None


@lru_cache(maxsize=256)
def _describe_targets(prop: Prop) -> str:
    allowed = prop.targets or frozenset()
    if allowed == spec.SDO_TYPES:
        return "an SDO"
    if allowed == spec.SCO_TYPES:
        return "an SCO"
    if allowed == spec.SDO_TYPES | spec.SCO_TYPES:
        return "an SDO or SCO"
    if allowed == spec.SCO_TYPES | {"relationship"}:
        return "an SCO or a relationship"
    return " or ".join(repr(t) for t in sorted(allowed))


def _check_ref(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    problem = _ref_problem(value, prop)
    if problem:
        _error(issues, path, problem)


def _check_refs(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, list) or not value:
        _error(issues, path, f"must be a non-empty list of identifiers, got {_shown(value)}")
        return
    allowed = prop.targets
    for item in value:  # fast pass: plain valid ids of allowed types, nothing to report
        if item.__class__ is not str:
            break
        target = identifier_type(item)
        if target is None or (allowed is not None and target not in allowed):
            break
    else:
        return
    for i, item in enumerate(value):
        problem = _ref_problem(item, prop)
        if problem:
            _error(issues, f"{path}[{i}]", problem)


def _check_vocab(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str):
        _error(issues, path, f"must be a string, got {_shown(value)}")
    elif value not in spec.OPEN_VOCABULARIES[prop.vocab]:
        _warning(issues, path, f"{_shown(value)} is not in the open vocabulary {prop.vocab}")


def _check_vocabs(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, list) or not value:
        _error(issues, path, f"must be a non-empty list of strings, got {_shown(value)}")
        return
    vocabulary = spec.OPEN_VOCABULARIES[prop.vocab]
    try:
        if vocabulary.issuperset(value):
            return
    except TypeError:  # an unhashable item (a list or object): reported below
        pass
    for i, item in enumerate(value):
        if not isinstance(item, str):
            _error(issues, f"{path}[{i}]", f"must be a string, got {_shown(item)}")
        elif item not in vocabulary:
            _warning(
                issues, f"{path}[{i}]", f"{_shown(item)} is not in the open vocabulary {prop.vocab}"
            )


def _enum_problem(value: Any, name: str) -> str | None:
    if isinstance(value, str) and value in spec.ENUMERATIONS[name]:
        return None
    allowed = ", ".join(sorted(spec.ENUMERATIONS[name]))
    return f"must be one of {name} ({allowed}), got {_shown(value)}"


def _check_enum(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    problem = _enum_problem(value, prop.vocab)
    if problem:
        _error(issues, path, problem)


def _check_enums(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, list) or not value:
        _error(issues, path, f"must be a non-empty list of strings, got {_shown(value)}")
        return
    for i, item in enumerate(value):
        problem = _enum_problem(item, prop.vocab)
        if problem:
            _error(issues, f"{path}[{i}]", problem)


def _check_dict(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, dict):
        _error(issues, path, f"must be an object (dictionary), got {_shown(value)}")


def _check_hex(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str) or _HEX_RE.fullmatch(value) is None:
        _error(issues, path, f"must be an even number of hex digits, got {_shown(value)}")


def _check_binary(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str) or _BASE64_RE.fullmatch(value) is None:
        _error(issues, path, f"must be base64-encoded binary, got {_shown(value)}")


def _check_lang(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str) or _LANG_RE.fullmatch(value) is None:
        _error(issues, path, f"must be an RFC 5646 language tag, got {_shown(value)}")


def _check_hashes(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, dict) or not value:
        _error(issues, path, f"must be a non-empty object of hash values, got {_shown(value)}")
        return
    known = _HASH_ALGORITHMS
    for algorithm, digest in value.items():
        if digest.__class__ is not str:
            _error(issues, f"{path}.{algorithm}", f"must be a string, got {_shown(digest)}")
            continue
        length = _HASH_LENGTHS.get(algorithm)
        if length is not None:
            # str.strip with the hex alphabet leaves nothing exactly when all digits are hex.
            if len(digest) != length or digest.strip(_HEX_DIGITS):
                reason = f"must be {length} hex digits, got {_shown(digest)}"
                _error(issues, f"{path}.{algorithm}", reason)
        elif algorithm not in known and not algorithm.startswith("x_"):
            reason = f"{algorithm!r} is not in the open vocabulary hash-algorithm-ov"
            _warning(issues, f"{path}.{algorithm}", reason)


def _list_of_objects(value: Any, path: str, what: str, issues: Issues) -> list[Any] | None:
    if not isinstance(value, list) or not value:
        _error(issues, path, f"must be a non-empty list of {what}, got {_shown(value)}")
        return None
    return value


def _check_kill_chain_phases(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if value.__class__ is list and value:
        for phase in value:  # fast pass over well-formed phases
            if (
                phase.__class__ is not dict
                or phase.get("kill_chain_name").__class__ is not str
                or phase.get("phase_name").__class__ is not str
            ):
                break
        else:
            return
    items = _list_of_objects(value, path, "kill chain phases", issues)
    for i, phase in enumerate(items or ()):
        if not isinstance(phase, dict):
            _error(
                issues, f"{path}[{i}]", f"must be a kill chain phase object, got {_shown(phase)}"
            )
            continue
        for key in ("kill_chain_name", "phase_name"):
            part = phase.get(key)
            if not isinstance(part, str):
                reason = "is required" if part is None else f"must be a string, got {_shown(part)}"
                _error(issues, f"{path}[{i}].{key}", reason)


_EXTERNAL_REFERENCE_DETAIL: Final = ("description", "url", "external_id")


def _check_external_references(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    items = _list_of_objects(value, path, "external references", issues)
    for i, ref in enumerate(items or ()):
        where = f"{path}[{i}]"
        if not isinstance(ref, dict):
            _error(issues, where, f"must be an external reference object, got {_shown(ref)}")
            continue
        name = ref.get("source_name")
        if not isinstance(name, str):
            reason = "is required" if name is None else f"must be a string, got {_shown(name)}"
            _error(issues, f"{where}.source_name", reason)
        for key in _EXTERNAL_REFERENCE_DETAIL:
            part = ref.get(key)
            if part is not None and not isinstance(part, str):
                _error(issues, f"{where}.{key}", f"must be a string, got {_shown(part)}")
        if not any(key in ref for key in _EXTERNAL_REFERENCE_DETAIL):
            _error(issues, where, "needs at least one of description, url, external_id")
        if "hashes" in ref:
            _check_hashes(ref["hashes"], f"{where}.hashes", prop, issues)


_MARKING_REF: Final = Prop("ref", frozenset({"marking-definition"}))


def _check_granular_markings(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    items = _list_of_objects(value, path, "granular markings", issues)
    for i, marking in enumerate(items or ()):
        where = f"{path}[{i}]"
        if not isinstance(marking, dict):
            _error(issues, where, f"must be a granular marking object, got {_shown(marking)}")
            continue
        _check_strings(marking.get("selectors"), f"{where}.selectors", prop, issues)
        has_ref, has_lang = "marking_ref" in marking, "lang" in marking
        if has_ref == has_lang:
            _error(issues, where, "must have exactly one of marking_ref and lang")
        if has_ref:
            _check_ref(marking["marking_ref"], f"{where}.marking_ref", _MARKING_REF, issues)
        if has_lang:
            _check_lang(marking["lang"], f"{where}.lang", prop, issues)


# --------------------------------------------------------------------------- sub-objects


class _SubPlan(NamedTuple):
    """A compiled embedded type or predefined extension."""

    spec: TypeSpec
    checks: _Checks


def _walk_sub(value: Any, path: str, plan: _SubPlan, issues: Issues) -> None:
    """Check one embedded object or extension body against its compiled spec."""
    if not isinstance(value, dict):
        _error(issues, path, f"must be an object, got {_shown(value)}")
        return
    checks = plan.checks
    for key, item in value.items():
        entry = checks.get(key)
        if entry is not None:
            entry[1](item, f"{path}.{key}", entry[2], issues)
        elif not _custom_name_ok(key):
            _bad_property_name(issues, f"{path}.{key}")
    for name in sorted(plan.spec.required - value.keys()):
        _error(issues, f"{path}.{name}", f"is required in {plan.spec.name}")
    for group in plan.spec.at_least_one:
        if not any(name in value for name in group):
            _error(issues, path, f"needs at least one of {', '.join(group)}")


def _check_object(value: Any, path: str, plan: _SubPlan, issues: Issues) -> None:
    _walk_sub(value, path, plan, issues)


def _check_objects(value: Any, path: str, plan: _SubPlan, issues: Issues) -> None:
    items = _list_of_objects(value, path, plan.spec.name + " objects", issues)
    for i, item in enumerate(items or ()):
        _walk_sub(item, f"{path}[{i}]", plan, issues)


def _check_extensions(value: Any, path: str, known: Mapping[str, _SubPlan], issues: Issues) -> None:
    """``extensions``: predefined ones by their spec, ``extension-definition--`` ones by
    their ``extension_type``, anything else (2.0-style ``x-…-ext``) as opaque custom data."""
    if not isinstance(value, dict) or not value:
        _error(issues, path, f"must be a non-empty object of extensions, got {_shown(value)}")
        return
    for name, body in value.items():
        where = f"{path}.{name}"
        plan = known.get(name)
        if plan is not None:
            _walk_sub(body, where, plan, issues)
            continue
        if not isinstance(body, dict):
            _error(issues, where, f"must be an object, got {_shown(body)}")
            continue
        if name.startswith("extension-definition--"):
            if identifier_type(name) != "extension-definition":
                _error(issues, where, f"extension key {_ID_REASON}")
            kind = body.get("extension_type")
            if kind is None:
                _error(issues, f"{where}.extension_type", "is required for an extension-definition")
            else:
                problem = _enum_problem(kind, "extension-type-enum")
                if problem:
                    _error(issues, f"{where}.extension_type", problem)
            if name == TLP2_EXTENSION_ID and body.get("tlp_2_0") not in _TLP2_LEVELS:
                levels = ", ".join(TLP_ORDER)
                got = _shown(body.get("tlp_2_0"))
                _error(issues, f"{where}.tlp_2_0", f"must be one of {levels}, got {got}")
        elif known and not name.startswith("x-"):
            _warning(issues, where, "is not a predefined extension of this type; kept as custom")


# --------------------------------------------------------------------------- plans

_KIND_CHECKS: Final[dict[str, _Check]] = {
    "any": _check_any,
    "string": _check_string,
    "strings": _check_strings,
    "timestamp": _check_timestamp,
    "boolean": _check_boolean,
    "integer": _check_integer,
    "float": _check_float,
    "ref": _check_ref,
    "refs": _check_refs,
    "vocab": _check_vocab,
    "vocabs": _check_vocabs,
    "enum": _check_enum,
    "enums": _check_enums,
    "dict": _check_dict,
    "hex": _check_hex,
    "binary": _check_binary,
    "lang": _check_lang,
    "hashes": _check_hashes,
    "kill_chain_phases": _check_kill_chain_phases,
    "external_references": _check_external_references,
    "granular_markings": _check_granular_markings,
}


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
) -> dict[str, tuple[type, _Check, Any]]:
    checks: dict[str, tuple[type, _Check, Any]] = {}
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
            checks[name] = (_Never, _check_version_timestamp, prop)
        else:
            checks[name] = (_fast_type(prop), _KIND_CHECKS[prop.kind], prop)
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
    rules: tuple[Callable[[dict[str, Any], Issues], None], ...]


def _misplaced(value: Any, path: str, type_name: str, issues: Issues) -> None:
    _warning(issues, path, f"is a common property that {type_name} objects do not define")


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
        rules=tuple(_RULES[rule] for rule in type_spec.rules),
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
            _error(issues, "pattern", f"is not a valid STIX pattern: {reason}")


def _rule_malware_family_name(obj: dict[str, Any], issues: Issues) -> None:
    if obj.get("is_family") is True and "name" not in obj:
        _error(issues, "name", "is required when is_family is true")


def _rule_location_place(obj: dict[str, Any], issues: Issues) -> None:
    if "region" in obj or "country" in obj or ("latitude" in obj and "longitude" in obj):
        return
    _error(issues, "region", "a location needs region, country, or latitude and longitude")


def _rule_marking_definition_body(obj: dict[str, Any], issues: Issues) -> None:
    kind, definition = obj.get("definition_type"), obj.get("definition")
    if kind is None and definition is None:
        if "extensions" not in obj:
            _error(
                issues,
                "definition_type",
                "is required, with definition, unless an extension defines the marking",
            )
        return
    if kind is None:
        _error(issues, "definition_type", "is required when definition is present")
        return
    if definition is None:
        _error(issues, "definition", "is required when definition_type is present")
        return
    if not isinstance(definition, dict):
        return  # the dict check already reported it
    if kind == "tlp":
        level = definition.get("tlp")
        if level not in spec.TLP_VALUES:
            levels = ", ".join(sorted(spec.TLP_VALUES))
            _error(issues, "definition.tlp", f"must be one of {levels}, got {_shown(level)}")
    elif kind == "statement":
        statement = definition.get("statement")
        if not isinstance(statement, str):
            _error(issues, "definition.statement", f"must be a string, got {_shown(statement)}")


def _rule_email_multipart(obj: dict[str, Any], issues: Issues) -> None:
    multipart = obj.get("is_multipart")
    if multipart is True and "body" in obj:
        _error(issues, "body", "must not be present when is_multipart is true")
    elif multipart is False and "body_multipart" in obj:
        _error(issues, "body_multipart", "must not be present when is_multipart is false")


def _rule_network_traffic_active(obj: dict[str, Any], issues: Issues) -> None:
    if obj.get("is_active") is True and "end" in obj:
        _error(issues, "end", "must not be present when is_active is true")


_RULES: Final[dict[str, Callable[[dict[str, Any], Issues], None]]] = {
    "indicator-pattern": _rule_indicator_pattern,
    "malware-family-name": _rule_malware_family_name,
    "location-place": _rule_location_place,
    "marking-definition-body": _rule_marking_definition_body,
    "email-multipart": _rule_email_multipart,
    "network-traffic-active": _rule_network_traffic_active,
}

_PLANS: Final[dict[str, _Plan]] = {name: _compile(ts) for name, ts in spec.TYPES.items()}
_CUSTOM_PLANS: dict[str, _Plan] = {}
_CUSTOM_PLANS_MAX: Final = 1024


# --------------------------------------------------------------------------- object-level checks


def _bad_property_name(issues: Issues, path: str) -> None:
    _warning(
        issues,
        path,
        "is not a STIX 2.1 property nor a valid custom property name "
        "(3-250 characters of a-z, 0-9 and _)",
    )


def _check_id(obj: dict[str, Any], plan: _Plan, type_ok: bool, issues: Issues) -> None:
    value = obj.get("id")
    if value is None:
        _error(issues, "id", "is required")
    elif not isinstance(value, str):
        _error(issues, "id", f"{_ID_REASON}, got {_shown(value)}")
    elif not type_ok:
        if identifier_type(value) is None:
            _error(issues, "id", f"{_ID_REASON}, got {_shown(value)}")
    elif not value.startswith(plan.id_prefix):
        _error(issues, "id", f"must start with {plan.id_prefix!r} (its type), got {_shown(value)}")
    elif _UUID_RE.fullmatch(value, len(plan.id_prefix)) is None:
        _error(issues, "id", f"{_ID_REASON}, got {_shown(value)}")


def _check_order(
    obj: dict[str, Any], order: tuple[tuple[str, str, bool], ...], issues: Issues
) -> None:
    for earlier, later, strict in order:
        first, second = obj.get(earlier), obj.get(later)
        if first is None or second is None or (first == second and not strict):
            continue
        if not (isinstance(first, str) and isinstance(second, str)):
            continue
        if not (_timestamp_ok(first) and _timestamp_ok(second)):
            continue  # already reported as a bad timestamp
        if len(first) == len(second):  # same precision: the strings sort as the instants do
            first_key, second_key = first, second
        else:
            first_key, second_key = version_key(first), version_key(second)
        if strict and second_key <= first_key:
            _error(issues, later, f"must be later than {earlier} ({first!r}), got {second!r}")
        elif second_key < first_key:
            _error(issues, later, f"must not be earlier than {earlier} ({first!r}), got {second!r}")


def _check_groups(obj: dict[str, Any], type_spec: TypeSpec, issues: Issues) -> None:
    for group in type_spec.at_least_one:
        if not any(name in obj for name in group):
            _error(issues, group[0], f"at least one of {', '.join(group)} must be present")
    for group in type_spec.exclusive:
        present = [name for name in group if name in obj]
        if len(present) > 1:
            _error(issues, present[1], f"must not be present together with {present[0]}")
    for name, needs in type_spec.depends:
        if name in obj:
            for need in needs:
                if need not in obj:
                    _error(issues, need, f"is required when {name} is present")


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
        _error(issues, "type", "is required")
        return _custom_plan("")
    if not isinstance(type_name, str) or not is_type_name(type_name):
        _error(
            issues,
            "type",
            "must be 3-250 characters of a-z, 0-9 and single inner hyphens, "
            f"got {_shown(type_name)}",
        )
        return _custom_plan("")
    if type_name == "bundle":
        _error(issues, "type", "a bundle is not a STIX object; its objects are checked one by one")
        return None
    if not type_name.startswith("x-") and not _declares_new_object(obj):
        _warning(issues, "type", f"{type_name!r} is not a STIX 2.1 type; kept as a custom object")
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
        return [Issue("error", "", f"a STIX object must be a JSON object, got {_shown(obj)}")]
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
            _error(issues, "spec_version", f"is required for {plan.type_name} and must be '2.1'")
    elif version != spec.SPEC_VERSION:
        _error(issues, "spec_version", f"must be '2.1', got {_shown(version)}")

    required = plan.required
    if required and not obj.keys() >= required:
        for name in sorted(required - obj.keys()):
            _error(issues, name, f"is required for {plan.type_name}")

    get_check = plan.checks.get
    good_names = _GOOD_CUSTOM_NAMES
    for key, value in obj.items():
        entry = get_check(key)
        if entry is not None:
            if value.__class__ is not entry[0]:
                entry[1](value, key, entry[2], issues)
        elif key not in good_names and key not in _CORE and not _custom_name_ok(key):
            _bad_property_name(issues, key)

    _check_order(obj, plan.order, issues)
    if plan.groups is not None:
        _check_groups(obj, plan.groups, issues)
    for rule in plan.rules:
        rule(obj, issues)
    return issues


def errors(issues: list[Issue]) -> list[Issue]:
    """Only the errors among ``issues``."""
    return [issue for issue in issues if issue.level == "error"]
