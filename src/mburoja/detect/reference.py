"""The reference matcher: plain Python dictionaries, one record at a time.

It defines what a hit *is*; the columnar matcher (:mod:`mburoja.detect.columnar`) must find
exactly the same hits, faster. It is also the low-memory fallback (``--matcher reference``).

Semantics, per value kind a record carries (:mod:`mburoja.detect.model`):

* ``domain``: lower-case IDNA ASCII without the trailing dot; it hits a ``domain`` key equal
  to it *or to any parent* (``a.b.evil.com`` hits ``evil.com``, ``b.evil.com`` …).
* ``ip``: canonical text; it hits an ``ip`` key equal to it and *every* ``net`` key whose
  CIDR contains it (each containing range is named, overlapping ones included).
* ``host``: an ``ip`` when it parses as one, else a ``domain``.
* ``url``: scheme and host lower-cased; exact.
* ``md5`` … ``sha512``, ``email``: lower-case; exact. ``hash``: the algorithm by length.
* ``x509``: hex without colons, lower-case; ``x509-<algorithm>`` by length.
* ``endpoint``: ``address|port`` with the address canonical; exact.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from mburoja.detect.compile import Compiled, domain_key, ip_key
from mburoja.detect.index import Delta
from mburoja.detect.model import Record
from mburoja.stix.refang import url_normalised

_HASH_BY_LENGTH: Final = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_X509_BY_LENGTH: Final = {32: "x509-md5", 40: "x509-sha1", 64: "x509-sha256"}
_HEX: Final = frozenset("0123456789abcdef")


class Hit(msgspec.Struct, frozen=True, order=True):
    """One record value that hit indicators: the record's index in its batch, the key it
    matched as (kind and normalised value), and every indicator id it hit, sorted."""

    row: int
    kind: str
    value: str
    indicators: tuple[str, ...]


def normalise(kind: str, raw: str) -> tuple[str, str] | None:
    """A record value as a lookup key ``(key kind, key)``; None when it is not one.

    ``ip`` values come back as ``("ip", address)``; the matcher checks the networks too.
    """
    raw = raw.strip()
    if not raw:
        return None
    if kind == "host":
        kind = "ip" if ip_key(raw) is not None else "domain"
    if kind == "domain":
        key = domain_key(raw)
        return ("domain", key) if key else None
    if kind == "ip":
        found = ip_key(raw)
        return ("ip", found[1]) if found is not None and found[0] == "ip" else None
    if kind == "url":
        url = url_normalised(raw)
        return ("url", url) if url is not None else None
    if kind in ("md5", "sha1", "sha256", "sha512", "email"):
        return kind, raw.lower()
    if kind == "hash":
        value = raw.lower()
        algorithm = _HASH_BY_LENGTH.get(len(value))
        return (algorithm, value) if algorithm and set(value) <= _HEX else None
    if kind == "x509":
        value = raw.replace(":", "").lower()
        algorithm = _X509_BY_LENGTH.get(len(value))
        return (algorithm, value) if algorithm and set(value) <= _HEX else None
    if kind == "endpoint":
        address, _, port = raw.rpartition("|")
        found = ip_key(address)
        if found is None or found[0] != "ip" or not port.isdigit():
            return None
        return "endpoint", f"{found[1]}|{int(port)}"
    return None


def _parents(name: str) -> Iterable[str]:
    yield name
    start = name.find(".")
    while start != -1:
        yield name[start + 1 :]
        start = name.find(".", start + 1)


class ReferenceMatcher:
    """Holds the active keys in dictionaries; :meth:`apply` takes index deltas."""

    name = "reference"

    def __init__(self) -> None:
        self.exact: dict[tuple[str, str], set[str]] = {}
        # version -> prefix length -> network address as int -> indicator ids
        self.nets: dict[int, dict[int, dict[int, set[str]]]] = {4: {}, 6: {}}
        self.keys_of: dict[str, tuple[tuple[str, str], ...]] = {}
        self.complex: dict[str, Compiled] = {}

    def __len__(self) -> int:
        return len(self.keys_of)

    def apply(self, delta: Delta) -> None:
        for indicator_id in delta.removed:
            for kind, value in self.keys_of.pop(indicator_id, ()):
                self._unlink(kind, value, indicator_id)
            self.complex.pop(indicator_id, None)
        for found in delta.added:
            keys = tuple((k.kind, k.value) for k in found.keys)
            self.keys_of[found.id] = keys
            if not found.simple:
                self.complex[found.id] = found
            for kind, value in keys:
                if kind == "net":
                    net = ipaddress.ip_network(value)
                    slot = self.nets[net.version].setdefault(net.prefixlen, {})
                    slot.setdefault(int(net.network_address), set()).add(found.id)
                else:
                    self.exact.setdefault((kind, value), set()).add(found.id)

    def _unlink(self, kind: str, value: str, indicator_id: str) -> None:
        if kind == "net":
            net = ipaddress.ip_network(value)
            slot = self.nets[net.version].get(net.prefixlen, {})
            ids = slot.get(int(net.network_address))
            if ids is not None:
                ids.discard(indicator_id)
                if not ids:
                    del slot[int(net.network_address)]
            return
        ids = self.exact.get((kind, value))
        if ids is not None:
            ids.discard(indicator_id)
            if not ids:
                del self.exact[(kind, value)]

    def lookup(self, kind: str, key: str) -> set[str]:
        """Every indicator id one normalised key hits."""
        found: set[str] = set()
        exact = self.exact
        if kind == "domain":
            for name in _parents(key):
                ids = exact.get(("domain", name))
                if ids:
                    found |= ids
            return found
        ids = exact.get((kind, key))
        if ids:
            found |= ids
        if kind == "ip":
            address = ipaddress.ip_address(key)
            bits = address.max_prefixlen
            number = int(address)
            for prefix, slot in self.nets[address.version].items():
                ids = slot.get(number >> (bits - prefix) << (bits - prefix))
                if ids:
                    found |= ids
        return found

    def match(self, records: Sequence[Record]) -> list[Hit]:
        """The hits in a batch of records, sorted."""
        hits: list[Hit] = []
        cache: dict[tuple[str, str], tuple[tuple[str, str], tuple[str, ...]] | None] = {}
        for row, record in enumerate(records):
            seen: set[tuple[str, str]] = set()
            for kind, raw in record.values:
                probe = (kind, raw)
                if probe not in cache:
                    key = normalise(kind, raw)
                    ids = self.lookup(*key) if key is not None else set()
                    cache[probe] = (key, tuple(sorted(ids))) if key and ids else None
                found = cache[probe]
                if found is not None and found[0] not in seen:
                    seen.add(found[0])
                    hits.append(Hit(row, found[0][0], found[0][1], found[1]))
        hits.sort()
        return hits
