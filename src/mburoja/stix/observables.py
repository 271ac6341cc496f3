"""Observable values: what the exact index stores for an object, and what a search looks up.

:func:`extract` lifts the indexable values out of one STIX object: the values of a cyber
observable (SCO), the equality comparisons of a STIX-pattern indicator, the SCOs embedded in a
STIX 2.0-style observed-data. Every value is normalised (:func:`normalise`) so that the same
indicator written two ways lands on the same key: addresses in canonical form, domains
lower-case in their IDNA ASCII form (and also their Unicode form when it differs), hashes
lower-case under the algorithm's short name (``sha256``).

:func:`search_keys` turns a user's query into the keys to look up: an address also finds the
networks containing it, a host name its parent domains, a URL or an e-mail its host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from mburoja.stix import pattern
from mburoja.stix.model import Observable
from mburoja.stix.refang import (
    detect,
    domain_ascii,
    domain_unicode,
    ip_kind_value,
    refang,
    url_host,
    url_normalised,
)

_HEX_HASHES: Final = frozenset(
    {"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3-224", "sha3-256", "sha3-384"}
    | {"sha3-512", "ripemd160", "whirlpool", "md6", "tlsh"}
)
_hash_kinds: dict[str, str] = {}


def hash_kind(algorithm: str) -> str:
    """The index kind of a hash algorithm name: ``SHA-256``/``sha256``/``SHA_256`` -> ``sha256``,
    ``SHA3-256`` -> ``sha3-256``, ``SSDEEP`` -> ``ssdeep``; unknown names lower-cased."""
    kind = _hash_kinds.get(algorithm)
    if kind is None:
        k = algorithm.lower().replace("_", "-")
        if k.startswith("sha3"):
            k = "sha3-" + k[4:].lstrip("-")
        elif k.startswith(("sha", "ripemd")):
            k = k.replace("-", "")
        kind = _hash_kinds[algorithm] = k
    return kind


def normalise(kind: str, value: str) -> str:
    """``value`` in the form the index stores for ``kind``.

    A value that does not parse as its kind (an address that is no address) is returned
    stripped but otherwise as given.
    """
    value = value.strip()
    if kind in ("ipv4", "ipv6", "ipv4-net", "ipv6-net"):
        found = ip_kind_value(value)
        return found[1] if found is not None else value
    if kind == "domain":
        return domain_ascii(value) or value.lower().rstrip(".")
    if kind == "url":
        return url_normalised(value) or value
    if kind == "email":
        return value.lower()
    if kind == "mac":
        return value.lower().replace("-", ":")
    if kind == "asn":
        digits = value.upper().removeprefix("ASN").removeprefix("AS").strip()
        return f"AS{int(digits)}" if digits.isdigit() else value
    if kind in _HEX_HASHES:
        return value.lower()
    return value


# --- per-type extraction ------------------------------------------------------------------
# Each indexer appends what one property value gives to ``out``: plain appends, no generators,
# because this runs for every object ingested.

_Out = list[Observable]
_Indexer = Callable[[Any, _Out], None]


def _ip(value: Any, out: _Out) -> None:
    if isinstance(value, str):
        found = ip_kind_value(value.strip())
        if found is not None:
            out.append(Observable(*found))


def _domain_forms(value: str, out: _Out) -> None:
    ascii_name = domain_ascii(value)
    if ascii_name is None:
        ascii_name = value.strip().lower().rstrip(".")
        if not ascii_name:
            return
    out.append(Observable("domain", ascii_name))
    if "xn--" in ascii_name:
        unicode_name = domain_unicode(ascii_name)
        if unicode_name != ascii_name:
            out.append(Observable("domain", unicode_name))


def _domain(value: Any, out: _Out) -> None:
    if isinstance(value, str):
        _domain_forms(value, out)


def _simple(kind: str) -> _Indexer:
    def index(value: Any, out: _Out) -> None:
        if isinstance(value, str) and value.strip():
            out.append(Observable(kind, normalise(kind, value)))

    return index


def _asn(value: Any, out: _Out) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        out.append(Observable("asn", f"AS{value}"))


def _hashes(hashes: Any, out: _Out) -> None:
    if isinstance(hashes, dict):
        for algorithm, value in hashes.items():
            if isinstance(value, str) and value:
                kind = hash_kind(algorithm)
                out.append(Observable(kind, value.lower() if kind in _HEX_HASHES else value))


#: SCO type -> (property, how its value is indexed).
_SCO_PROPERTIES: Final[dict[str, tuple[tuple[str, _Indexer], ...]]] = {
    "ipv4-addr": (("value", _ip),),
    "ipv6-addr": (("value", _ip),),
    "domain-name": (("value", _domain),),
    "url": (("value", _simple("url")),),
    "email-addr": (("value", _simple("email")),),
    "mac-addr": (("value", _simple("mac")),),
    "autonomous-system": (("number", _asn),),
    "file": (("hashes", _hashes), ("name", _simple("file-name"))),
    "artifact": (("hashes", _hashes),),
    "x509-certificate": (("hashes", _hashes), ("serial_number", _simple("x509-serial"))),
    "mutex": (("name", _simple("mutex")),),
    "windows-registry-key": (("key", _simple("windows-registry-key")),),
    "user-account": (
        ("user_id", _simple("user-account")),
        ("account_login", _simple("user-account")),
    ),
    "software": (("cpe", _simple("cpe")), ("name", _simple("software"))),
}


def _sco(obj: dict[str, Any], out: _Out) -> None:
    for prop, index in _SCO_PROPERTIES[obj["type"]]:
        value = obj.get(prop)
        if value is not None:
            index(value, out)


#: (object type, property path) of an indicator comparison -> how its value is indexed.
_PATTERN_PATHS: Final[dict[tuple[str, tuple[str, ...]], _Indexer]] = {
    ("ipv4-addr", ("value",)): _ip,
    ("ipv6-addr", ("value",)): _ip,
    ("network-traffic", ("dst_ref", "value")): _ip,
    ("network-traffic", ("src_ref", "value")): _ip,
    ("domain-name", ("value",)): _domain,
    ("url", ("value",)): _simple("url"),
    ("email-addr", ("value",)): _simple("email"),
    ("email-message", ("from_ref", "value")): _simple("email"),
    ("email-message", ("sender_ref", "value")): _simple("email"),
    ("mac-addr", ("value",)): _simple("mac"),
    ("autonomous-system", ("number",)): _asn,
    ("file", ("name",)): _simple("file-name"),
    ("mutex", ("name",)): _simple("mutex"),
    ("windows-registry-key", ("key",)): _simple("windows-registry-key"),
    ("x509-certificate", ("serial_number",)): _simple("x509-serial"),
}
_HASHED_TYPES: Final = frozenset({"file", "artifact", "x509-certificate"})
_NETWORK_PATHS: Final = frozenset(
    {
        ("ipv4-addr", ("value",)),
        ("ipv6-addr", ("value",)),
        ("network-traffic", ("dst_ref", "value")),
        ("network-traffic", ("src_ref", "value")),
    }
)


def _indicator(obj: dict[str, Any], out: _Out) -> None:
    text = obj.get("pattern")
    if obj.get("pattern_type") != "stix" or not isinstance(text, str):
        return
    for c in pattern.comparisons(text):
        key = (c.object_type, c.path)
        op = c.op
        if op == "=" or (op == "ISSUBSET" and key in _NETWORK_PATHS):
            values: tuple[Any, ...] = (c.value,)
        elif op == "IN" and isinstance(c.value, tuple):
            values = c.value
        else:
            continue
        index = _PATTERN_PATHS.get(key)
        if index is not None:
            for value in values:
                index(value, out)
        elif c.object_type in _HASHED_TYPES and len(c.path) == 2 and c.path[0] == "hashes":
            for value in values:
                _hashes({c.path[1]: value}, out)


def _observed_data(obj: dict[str, Any], out: _Out) -> None:
    embedded = obj.get("objects")
    if not isinstance(embedded, dict):
        return
    for sco in embedded.values():
        if isinstance(sco, dict) and sco.get("type") in _SCO_PROPERTIES:
            _sco(sco, out)


_BY_TYPE: Final[dict[str, Callable[[dict[str, Any], _Out], None]]] = {
    **{sco_type: _sco for sco_type in _SCO_PROPERTIES},
    "indicator": _indicator,
    "observed-data": _observed_data,
}


def extract(obj: dict[str, Any]) -> tuple[Observable, ...]:
    """The indexable values of one STIX object, normalised, without duplicates, in the order
    found. Objects that cannot carry observables give an empty tuple at the cost of one dict
    lookup."""
    extractor = _BY_TYPE.get(obj.get("type"))  # type: ignore[arg-type]
    if extractor is None:
        return ()
    out: _Out = []
    extractor(obj, out)
    if len(out) < 2:  # nothing to deduplicate
        return tuple(out)
    return tuple(dict.fromkeys(out))


# --- search ---------------------------------------------------------------------------------


def _networks(kind: str, value: str) -> Iterator[Observable]:
    """The networks containing an address (kind ipv4/ipv6) or a network, smallest first."""
    net = ipaddress.ip_network(value, strict=False)
    net_kind = f"ipv{net.version}-net"
    for prefix in range(net.prefixlen if kind.endswith("-net") else net.max_prefixlen, -1, -1):
        yield Observable(net_kind, str(net.supernet(new_prefix=prefix)))


def _domain_and_parents(name: str) -> list[Observable]:
    labels = name.split(".")
    out: _Out = []
    for i in range(len(labels)):
        _domain_forms(".".join(labels[i:]), out)
    return out


def _host_keys(host: str) -> Iterable[Observable]:
    found = ip_kind_value(host)
    if found is not None:
        return [Observable(*found), *_networks(*found)]
    ascii_name = domain_ascii(host)
    return _domain_and_parents(ascii_name) if ascii_name is not None else ()


def search_keys(query: str) -> tuple[Observable, ...]:
    """The index keys that answer "where have we seen this value?".

    The query is refanged and its kind detected. An address gives itself and every network
    containing it (``ipv4-net`` /32 down to /0, ``ipv6-net`` /128 down to /0); a network gives
    itself and its supernets (its member addresses need a range query, which is the store's
    business); a domain gives itself and every parent domain, in ASCII and Unicode forms; a URL
    gives itself and its host's keys; an e-mail address itself and its domain's keys; a hash or
    an ASN itself. Anything else is looked up as ``text``, stripped.
    """
    value = refang(query)
    found = detect(value)
    if found is None:
        return (Observable("text", value),) if value else ()
    kind, norm = found
    keys: list[Observable] = [Observable(kind, norm)]
    if kind in ("ipv4", "ipv6", "ipv4-net", "ipv6-net"):
        keys.extend(_networks(kind, norm))
    elif kind == "domain":
        keys.extend(_domain_and_parents(norm))
    elif kind == "url":
        keys.extend(_host_keys(url_host(norm)))
    elif kind == "email":
        keys.extend(_host_keys(norm.rpartition("@")[2]))
    return tuple(dict.fromkeys(keys))
