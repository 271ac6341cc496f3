"""The property checkers of ``stix.validate``: one function per kind of STIX property value.

``spec`` gives every property a *kind* (``string``, ``timestamp``, ``refs``, ``vocab``,
``hashes``, ``kill_chain_phases``, ``granular_markings``…); ``KIND_CHECKS`` maps each kind to
its checker here. A checker takes ``(value, path, prop, issues)`` and appends an ``Issue`` only
when something is wrong, so a clean value costs one call and no allocation. Embedded objects
and extensions are walked by ``stix.validate``, which compiles their plans; rules that look at
more than one property are in ``stix.rules``.

Speed: these run for every property of every ingested object. Timestamp, identifier and custom
property name checks are cached (the same values recur across a bundle), and list checkers
make a fast pass over well-formed items before looking for what to report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, Final

from mburoja.stix import spec
from mburoja.stix.identifiers import identifier_type
from mburoja.stix.model import Issue
from mburoja.stix.spec import Prop
from mburoja.stix.timestamps import is_timestamp

_CUSTOM_PROPERTY_RE: Final = re.compile(r"[a-z0-9_]{3,250}")
_HEX_RE: Final = re.compile(r"(?:[0-9a-fA-F]{2})*")
_BASE64_RE: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
# RFC 5646 tags, loosely: a primary subtag of letters, then alphanumeric subtags.
_LANG_RE: Final = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")

_TIMESTAMP_REASON: Final = "must be a timestamp in RFC 3339 UTC form"
#: Why a value is not an identifier; shared with ``stix.validate``'s ``id`` check.
ID_REASON: Final = "must be an identifier '<type>--<UUID>' (RFC 4122 UUID)"
_HEX_DIGITS: Final = "0123456789abcdefABCDEF"
_HASH_ALGORITHMS: Final = spec.OPEN_VOCABULARIES["hash-algorithm-ov"]
_HASH_LENGTHS: Final = dict(spec.HASH_HEX_LENGTHS)

Issues = list[Issue]
#: A property checker: ``(value, path, argument, issues)``; the argument is usually the Prop.
Check = Callable[[Any, str, Any, Issues], None]


# --------------------------------------------------------------------------- cached primitives


@lru_cache(maxsize=1 << 15)
def timestamp_ok(value: str) -> bool:
    return is_timestamp(value)


GOOD_CUSTOM_NAMES: set[str] = set()
_GOOD_CUSTOM_NAMES_MAX: Final = 8192


def custom_name_ok(name: object) -> bool:
    """True if ``name`` is a valid custom property name (§11.1); good names are remembered."""
    if name in GOOD_CUSTOM_NAMES:
        return True
    if not isinstance(name, str) or _CUSTOM_PROPERTY_RE.fullmatch(name) is None:
        return False
    if len(GOOD_CUSTOM_NAMES) >= _GOOD_CUSTOM_NAMES_MAX:
        GOOD_CUSTOM_NAMES.clear()
    GOOD_CUSTOM_NAMES.add(name)
    return True


def shown(value: Any) -> str:
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


def add_error(issues: Issues, field: str, reason: str) -> None:
    issues.append(Issue("error", field, reason))


def add_warning(issues: Issues, field: str, reason: str) -> None:
    issues.append(Issue("warning", field, reason))


def bad_property_name(issues: Issues, path: str) -> None:
    add_warning(
        issues,
        path,
        "is not a STIX 2.1 property nor a valid custom property name "
        "(3-250 characters of a-z, 0-9 and _)",
    )


def non_empty_list(value: Any, path: str, what: str, issues: Issues) -> list[Any] | None:
    """``value`` if it is a non-empty list, else None with an error saying it must be one of
    ``what`` (its items are for the caller to check)."""
    if not isinstance(value, list) or not value:
        add_error(issues, path, f"must be a non-empty list of {what}, got {shown(value)}")
        return None
    return value


def object_items(
    value: Any, path: str, what: str, issues: Issues
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path[i], item)`` for each object in a non-empty list of ``what`` objects; an item
    that is not an object, or a value that is not such a list, is an error."""
    for i, item in enumerate(non_empty_list(value, path, f"{what}s", issues) or ()):
        where = f"{path}[{i}]"
        if isinstance(item, dict):
            yield where, item
        else:
            article = "an" if what[0] in "aeiou" else "a"
            add_error(issues, where, f"must be {article} {what} object, got {shown(item)}")


# --------------------------------------------------------------------------- property checkers
# Each takes (value, path, argument, issues) and appends issues only when something is wrong.


def _check_any(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    return None


def _check_string(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str):
        add_error(issues, path, f"must be a string, got {shown(value)}")


def _check_strings(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    for i, item in enumerate(non_empty_list(value, path, "strings", issues) or ()):
        if not isinstance(item, str):
            add_error(issues, f"{path}[{i}]", f"must be a string, got {shown(item)}")


def _check_timestamp(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str) or not timestamp_ok(value):
        add_error(issues, path, f"{_TIMESTAMP_REASON}, got {shown(value)}")


_PRECISE_TO_MILLISECONDS: Final = 24  # len("YYYY-MM-DDTHH:MM:SS.sssZ")


def check_version_timestamp(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    """``created``/``modified``: a timestamp, and (§3.2) at least millisecond-precise. The
    precision is only a warning: feeds often write whole seconds and the instant is exact."""
    if not isinstance(value, str) or not timestamp_ok(value):
        add_error(issues, path, f"{_TIMESTAMP_REASON}, got {shown(value)}")
    elif len(value) < _PRECISE_TO_MILLISECONDS:
        add_warning(issues, path, f"should be precise to at least milliseconds, got {value!r}")


def _check_boolean(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if value is not True and value is not False:
        add_error(issues, path, f"must be true or false, got {shown(value)}")


def _range_problem(value: float, prop: Prop) -> str | None:
    low, high = prop.minimum, prop.maximum
    if low is not None and value < low:
        return f"must be at least {low:g}, got {value!r}"
    if high is not None and value > high:
        return f"must be at most {high:g}, got {value!r}"
    return None


def _check_integer(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        add_error(issues, path, f"must be an integer, got {shown(value)}")
    elif prop.minimum is not None or prop.maximum is not None:
        problem = _range_problem(value, prop)
        if problem:
            add_error(issues, path, problem)


def _check_float(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        add_error(issues, path, f"must be a number, got {shown(value)}")
    elif prop.minimum is not None or prop.maximum is not None:
        problem = _range_problem(value, prop)
        if problem:
            add_error(issues, path, problem)


def _ref_problem(value: Any, prop: Prop) -> str | None:
    """Why ``value`` is not a reference ``prop`` allows, or None."""
    if not isinstance(value, str):
        return f"{ID_REASON}, got {shown(value)}"
    target = identifier_type(value)
    if target is None:
        return f"{ID_REASON}, got {shown(value)}"
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
        add_error(issues, path, problem)


def _check_refs(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if value.__class__ is list and value:
        allowed = prop.targets
        for item in value:  # fast pass: plain valid ids of allowed types, nothing to report
            if item.__class__ is not str:
                break
            target = identifier_type(item)
            if target is None or (allowed is not None and target not in allowed):
                break
        else:
            return
    for i, item in enumerate(non_empty_list(value, path, "identifiers", issues) or ()):
        problem = _ref_problem(item, prop)
        if problem:
            add_error(issues, f"{path}[{i}]", problem)


def _check_vocab(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str):
        add_error(issues, path, f"must be a string, got {shown(value)}")
    elif value not in spec.OPEN_VOCABULARIES[prop.vocab]:
        add_warning(issues, path, f"{shown(value)} is not in the open vocabulary {prop.vocab}")


def _check_vocabs(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    vocabulary = spec.OPEN_VOCABULARIES[prop.vocab]
    if value.__class__ is list and value:
        try:
            if vocabulary.issuperset(value):
                return
        except TypeError:  # an unhashable item (a list or object): reported below
            pass
    for i, item in enumerate(non_empty_list(value, path, "strings", issues) or ()):
        if not isinstance(item, str):
            add_error(issues, f"{path}[{i}]", f"must be a string, got {shown(item)}")
        elif item not in vocabulary:
            add_warning(
                issues, f"{path}[{i}]", f"{shown(item)} is not in the open vocabulary {prop.vocab}"
            )


def enum_problem(value: Any, name: str) -> str | None:
    if isinstance(value, str) and value in spec.ENUMERATIONS[name]:
        return None
    allowed = ", ".join(sorted(spec.ENUMERATIONS[name]))
    return f"must be one of {name} ({allowed}), got {shown(value)}"


def _check_enum(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    problem = enum_problem(value, prop.vocab)
    if problem:
        add_error(issues, path, problem)


def _check_enums(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    for i, item in enumerate(non_empty_list(value, path, "strings", issues) or ()):
        problem = enum_problem(item, prop.vocab)
        if problem:
            add_error(issues, f"{path}[{i}]", problem)


def _check_dict(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, dict):
        add_error(issues, path, f"must be an object (dictionary), got {shown(value)}")


def _check_hex(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str) or _HEX_RE.fullmatch(value) is None:
        add_error(issues, path, f"must be an even number of hex digits, got {shown(value)}")


def _check_binary(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str) or _BASE64_RE.fullmatch(value) is None:
        add_error(issues, path, f"must be base64-encoded binary, got {shown(value)}")


def _check_lang(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, str) or _LANG_RE.fullmatch(value) is None:
        add_error(issues, path, f"must be an RFC 5646 language tag, got {shown(value)}")


def _check_hashes(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    if not isinstance(value, dict) or not value:
        add_error(issues, path, f"must be a non-empty object of hash values, got {shown(value)}")
        return
    known = _HASH_ALGORITHMS
    for algorithm, digest in value.items():
        if digest.__class__ is not str:
            add_error(issues, f"{path}.{algorithm}", f"must be a string, got {shown(digest)}")
            continue
        length = _HASH_LENGTHS.get(algorithm)
        if length is not None:
            # str.strip with the hex alphabet leaves nothing exactly when all digits are hex.
            if len(digest) != length or digest.strip(_HEX_DIGITS):
                reason = f"must be {length} hex digits, got {shown(digest)}"
                add_error(issues, f"{path}.{algorithm}", reason)
        elif algorithm not in known and not algorithm.startswith("x_"):
            reason = f"{algorithm!r} is not in the open vocabulary hash-algorithm-ov"
            add_warning(issues, f"{path}.{algorithm}", reason)


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
    for where, phase in object_items(value, path, "kill chain phase", issues):
        for key in ("kill_chain_name", "phase_name"):
            part = phase.get(key)
            if not isinstance(part, str):
                reason = "is required" if part is None else f"must be a string, got {shown(part)}"
                add_error(issues, f"{where}.{key}", reason)


_EXTERNAL_REFERENCE_DETAIL: Final = ("description", "url", "external_id")


def _check_external_references(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    for where, ref in object_items(value, path, "external reference", issues):
        name = ref.get("source_name")
        if not isinstance(name, str):
            reason = "is required" if name is None else f"must be a string, got {shown(name)}"
            add_error(issues, f"{where}.source_name", reason)
        for key in _EXTERNAL_REFERENCE_DETAIL:
            part = ref.get(key)
            if part is not None and not isinstance(part, str):
                add_error(issues, f"{where}.{key}", f"must be a string, got {shown(part)}")
        if not any(key in ref for key in _EXTERNAL_REFERENCE_DETAIL):
            add_error(issues, where, "needs at least one of description, url, external_id")
        if "hashes" in ref:
            _check_hashes(ref["hashes"], f"{where}.hashes", prop, issues)


_MARKING_REF: Final = Prop("ref", frozenset({"marking-definition"}))


def _check_granular_markings(value: Any, path: str, prop: Prop, issues: Issues) -> None:
    for where, marking in object_items(value, path, "granular marking", issues):
        _check_strings(marking.get("selectors"), f"{where}.selectors", prop, issues)
        has_ref, has_lang = "marking_ref" in marking, "lang" in marking
        if has_ref == has_lang:
            add_error(issues, where, "must have exactly one of marking_ref and lang")
        if has_ref:
            _check_ref(marking["marking_ref"], f"{where}.marking_ref", _MARKING_REF, issues)
        if has_lang:
            _check_lang(marking["lang"], f"{where}.lang", prop, issues)


KIND_CHECKS: Final[dict[str, Check]] = {
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
