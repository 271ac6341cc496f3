"""Indicators to match keys.

:func:`compile_indicator` turns one STIX ``indicator`` into the *keys* a matcher can look up
(:class:`Key`: a kind and a normalised value) and says whether a key alone is a full match:

* **simple**: the pattern is one comparison, or comparisons joined only by ``OR`` (inside or
  between observations), each an ``=`` or ``IN`` (or ``ISSUBSET`` of a CIDR) on a field the
  matcher indexes, with no qualifier. A record holding any key matches the indicator.
* **complex**: anything else with at least one such comparison that every match must
  satisfy (``AND``, ``FOLLOWEDBY``, qualifiers, other operators). Its keys only *select*
  records; the general evaluator (``mburoja.detect.evaluate``) decides on them.

An indicator that yields no key is not compiled; :class:`NotCompiled` says why, and the index
reports the reasons with their counts.

Key kinds: ``domain`` (matches the name and every subdomain), ``ip`` (an exact address,
IPv4 or IPv6, canonical text), ``net`` (a CIDR, ``10.0.0.0/8``), ``url``, ``md5``, ``sha1``,
``sha256``, ``sha512``, ``email``, ``x509-md5``, ``x509-sha1``, ``x509-sha256`` and
``endpoint`` (``address|port``, a ``network-traffic`` destination).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import msgspec

from mburoja.stix import pattern as patterns
from mburoja.stix.observables import hash_kind
from mburoja.stix.refang import domain_ascii, ip_kind_value, url_normalised

KEY_KINDS: Final = (
    "domain",
    "ip",
    "net",
    "url",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "email",
    "x509-md5",
    "x509-sha1",
    "x509-sha256",
    "endpoint",
)
_FILE_HASHES: Final = frozenset({"md5", "sha1", "sha256", "sha512"})
_X509_HASHES: Final = frozenset({"md5", "sha1", "sha256"})
_STRINGS: Final = re.compile(r"'(?:[^'\\]|\\.)*'", re.DOTALL)
_STRUCTURE: Final = re.compile(r"\b(AND|FOLLOWEDBY|WITHIN|REPEATS|START|STOP|NOT)\b")


class Key(msgspec.Struct, frozen=True, order=True):
    kind: str
    value: str


class Compiled(msgspec.Struct, frozen=True, kw_only=True):
    """An indicator the matcher can look for."""

    id: str
    pattern: str
    keys: tuple[Key, ...]
    simple: bool
    name: str = ""
    valid_from: str | None = None
    valid_until: str | None = None
    confidence: int | None = None
    markings: tuple[str, ...] = ()
    owner: str | None = None
    created_by: str | None = None


class NotCompiled(msgspec.Struct, frozen=True):
    id: str
    reason: str


def domain_key(value: str) -> str:
    """A domain as both sides compare it: lower-case IDNA ASCII, no trailing dot."""
    return domain_ascii(value) or value.strip().lower().rstrip(".")


def ip_key(value: str) -> tuple[str, str] | None:
    """``("ip", address)`` or ``("net", cidr)`` in canonical text, None when not an address."""
    found = ip_kind_value(value.strip())
    if found is None:
        return None
    kind, text = found
    return ("net" if kind.endswith("-net") else "ip"), text


def _keys_of(object_type: str, path: tuple[str, ...], op: str, value: Any) -> list[Key] | str:
    """The keys one comparison gives, or the reason it gives none."""
    if op not in ("=", "IN", "ISSUBSET"):
        return f"operator {op} on {object_type}:{'.'.join(path)} cannot be indexed"
    values = value if isinstance(value, tuple) else (value,)
    if not all(isinstance(v, str) for v in values):
        return f"non-string value on {object_type}:{'.'.join(path)}"
    texts = tuple(str(v) for v in values)
    if (
        op == "ISSUBSET"
        and not (object_type in ("ipv4-addr", "ipv6-addr") and path == ("value",))
        and path != ("dst_ref", "value")
    ):
        return f"ISSUBSET on {object_type}:{'.'.join(path)} cannot be indexed"
    field = (object_type, path[0] if len(path) == 1 else ".".join(path))
    keys: list[Key] = []
    if field in (
        ("ipv4-addr", "value"),
        ("ipv6-addr", "value"),
        ("network-traffic", "dst_ref.value"),
    ):
        for text in texts:
            found = ip_key(text)
            if found is None:
                return f"{text!r} is not an IP address or CIDR"
            keys.append(Key(*found))
        return keys
    if field == ("domain-name", "value"):
        return [Key("domain", domain_key(t)) for t in texts]
    if field == ("url", "value"):
        out = []
        for text in texts:
            url = url_normalised(text.strip())
            if url is None:
                return f"{text!r} is not an absolute URL"
            out.append(Key("url", url))
        return out
    if field == ("email-addr", "value") or field == ("email-message", "from_ref.value"):
        return [Key("email", t.strip().lower()) for t in texts]
    if len(path) == 2 and path[0] == "hashes" and object_type in ("file", "artifact"):
        algorithm = hash_kind(path[1])
        if algorithm in _FILE_HASHES:
            return [Key(algorithm, t.strip().lower()) for t in texts]
        return f"hash algorithm {path[1]!r} is not matched"
    if len(path) == 2 and path[0] == "hashes" and object_type == "x509-certificate":
        algorithm = hash_kind(path[1])
        if algorithm in _X509_HASHES:
            return [Key(f"x509-{algorithm}", t.strip().lower().replace(":", "")) for t in texts]
        return f"certificate hash algorithm {path[1]!r} is not matched"
    return f"{object_type}:{'.'.join(path)} is not a field telemetry carries"


def _endpoint(comparisons: tuple[patterns.Comparison, ...]) -> list[Key] | None:
    """``[network-traffic:dst_ref.value = 'a' AND network-traffic:dst_port = n]`` (either
    order) as one ``endpoint`` key; None for any other shape."""
    if len(comparisons) != 2 or any(c.object_type != "network-traffic" for c in comparisons):
        return None
    by_path = {c.path: c for c in comparisons}
    address, port = by_path.get(("dst_ref", "value")), by_path.get(("dst_port",))
    if address is None or port is None or address.op != "=" or port.op != "=":
        return None
    found = ip_key(str(address.value))
    if found is None or found[0] != "ip" or not isinstance(port.value, int):
        return None
    return [Key("endpoint", f"{found[1]}|{port.value}")]


def _structure(pattern: str) -> tuple[set[str], bool]:
    """The structural keywords outside string literals, and whether ``OR`` is among them."""
    bare = _STRINGS.sub("''", pattern)
    return set(_STRUCTURE.findall(bare)), re.search(r"\bOR\b", bare) is not None


def compile_pattern(indicator_id: str, pattern: str) -> tuple[tuple[Key, ...], bool] | NotCompiled:
    """The keys of a STIX pattern and whether it is simple (see the module doc)."""
    comparisons = patterns.comparisons(pattern)
    if not comparisons:
        return NotCompiled(indicator_id, "the pattern is not valid STIX 2.1")
    structure, has_or = _structure(pattern)
    endpoint = _endpoint(comparisons) if structure == {"AND"} and not has_or else None
    if endpoint is not None and "[" not in pattern.strip()[1:]:
        return tuple(endpoint), True
    keys: list[Key] = []
    reasons: list[str] = []
    for c in comparisons:
        found = _keys_of(c.object_type, c.path, c.op, c.value)
        if isinstance(found, str):
            reasons.append(found)
        else:
            keys.extend(found)
    simple = not structure and not reasons
    if has_or and reasons:
        # A branch of an OR that no key can select could match on its own: refusing is
        # honest, pretending the other branches cover it is not.
        return NotCompiled(indicator_id, reasons[0] + " (inside OR)")
    if not keys:
        return NotCompiled(indicator_id, reasons[0] if reasons else "no comparison to index")
    # ISSUBSET of a CIDR is a containment, which the net key expresses exactly.
    return tuple(sorted(set(keys))), simple


def _markings(obj: dict[str, Any]) -> tuple[str, ...]:
    refs = obj.get("object_marking_refs")
    return tuple(r for r in refs if isinstance(r, str)) if isinstance(refs, list) else ()


def compile_indicator(obj: dict[str, Any], owner: str | None = None) -> Compiled | NotCompiled:
    """One indicator object (a parsed STIX dict) to a :class:`Compiled` or the reason not."""
    indicator_id = str(obj.get("id", ""))
    if obj.get("type") != "indicator":
        return NotCompiled(indicator_id, f"type {obj.get('type')!r} is not indicator")
    pattern_type = obj.get("pattern_type", "stix")
    if pattern_type != "stix":
        return NotCompiled(indicator_id, f"pattern_type {pattern_type!r} is not matched")
    pattern = obj.get("pattern")
    if not isinstance(pattern, str):
        return NotCompiled(indicator_id, "no pattern")
    found = compile_pattern(indicator_id, pattern)
    if isinstance(found, NotCompiled):
        return found
    keys, simple = found
    confidence = obj.get("confidence")
    return Compiled(
        id=indicator_id,
        pattern=pattern,
        keys=keys,
        simple=simple,
        name=str(obj.get("name") or ""),
        valid_from=obj.get("valid_from"),
        valid_until=obj.get("valid_until"),
        confidence=confidence if isinstance(confidence, int) else None,
        markings=_markings(obj),
        owner=owner,
        created_by=obj.get("created_by_ref"),
    )


def reasons_count(rejects: Iterable[NotCompiled]) -> dict[str, int]:
    """How many indicators were not compiled, by reason (variable parts kept out)."""
    counts: dict[str, int] = {}
    for reject in rejects:
        reason = re.sub(r"'[^']*'", "'…'", reject.reason)
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
