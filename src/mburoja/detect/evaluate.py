"""The general STIX pattern evaluator, for patterns a key alone cannot decide.

A *complex* indicator (``AND``, ``FOLLOWEDBY``, qualifiers, ``!=``/``LIKE`` …, see
:mod:`mburoja.detect.compile`) selects candidate records through its keys; this module
evaluates the whole pattern on them with the OASIS reference matcher (``stix2-matcher``).
Each record becomes an observed-data with its SCOs (addresses, names, URL, file hashes,
certificate hashes, the network-traffic between the addresses), timed at the record's time.

Observation operators (``[a] FOLLOWEDBY [b] WITHIN 60 SECONDS``) span records: the candidates
of each indicator are kept for ``window_s`` (at most ``keep`` of them), and a new record is a
hit when the pattern matches with it among the observations that took part.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Final

from stix2matcher.matcher import Pattern

from mburoja.detect.compile import Compiled
from mburoja.detect.model import Record
from mburoja.detect.reference import normalise
from mburoja.stix import timestamps

_HASH_NAMES: Final = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}


def observation(record: Record, index: int) -> dict[str, Any]:
    """One record as a STIX 2.1 bundle: an observed-data and the SCOs it refers to."""
    objects: list[dict[str, Any]] = []
    refs: list[str] = []

    def add(obj: dict[str, Any]) -> str:
        obj["id"] = f"{obj['type']}--{index:08x}-0000-4000-8000-{len(objects):012x}"
        objects.append(obj)
        refs.append(obj["id"])
        return str(obj["id"])

    addresses: dict[str, str] = {}
    file_hashes: dict[str, str] = {}
    cert_hashes: dict[str, str] = {}
    for kind, raw in record.values:
        found = normalise(kind, raw)
        if found is None:
            continue
        nkind, key = found
        if nkind == "ip" and key not in addresses:
            addresses[key] = add({"type": "ipv6-addr" if ":" in key else "ipv4-addr", "value": key})
        elif nkind == "domain":
            add({"type": "domain-name", "value": key})
        elif nkind == "url":
            add({"type": "url", "value": key})
        elif nkind == "email":
            add({"type": "email-addr", "value": key})
        elif nkind in _HASH_NAMES:
            file_hashes[_HASH_NAMES[nkind]] = key
        elif nkind.startswith("x509-"):
            cert_hashes[_HASH_NAMES[nkind[5:]]] = key
    if file_hashes:
        add({"type": "file", "hashes": file_hashes})
    if cert_hashes:
        add({"type": "x509-certificate", "hashes": cert_hashes})
    traffic: dict[str, Any] = {"type": "network-traffic"}
    for end, value in (("src_ref", record.src_ip), ("dst_ref", record.dst_ip)):
        found = normalise("ip", value) if value else None
        if found is not None:
            key = found[1]
            traffic[end] = addresses.get(key) or add(
                {"type": "ipv6-addr" if ":" in key else "ipv4-addr", "value": key}
            )
    if record.dst_port is not None:
        traffic["dst_port"] = record.dst_port
    if record.proto:
        traffic["protocols"] = [record.proto.lower()]
    if len(traffic) > 1:
        add(traffic)
    stamp = timestamps.from_epoch(record.ts if record.ts is not None else time.time())
    observed = {
        "type": "observed-data",
        "id": f"observed-data--{index:08x}-0000-4000-8000-ffffffffffff",
        "first_observed": stamp,
        "last_observed": stamp,
        "number_observed": 1,
        "object_refs": refs,
    }
    return {"type": "bundle", "id": f"bundle--{index:08x}", "objects": [observed, *objects]}


class Evaluator:
    """Confirms candidate records of complex indicators."""

    def __init__(self, *, window_s: float = 3600.0, keep: int = 1000) -> None:
        self.window_s = window_s
        self.keep = keep
        self._patterns: dict[str, Pattern] = {}
        self._recent: dict[str, deque[Record]] = {}

    def forget(self, indicator_ids: list[str]) -> None:
        for indicator_id in indicator_ids:
            self._patterns.pop(indicator_id, None)
            self._recent.pop(indicator_id, None)

    def confirm(self, indicator: Compiled, candidates: list[Record]) -> list[Record]:
        """The candidates that take part in a match of the indicator's whole pattern."""
        pattern = self._patterns.get(indicator.id)
        if pattern is None:
            pattern = self._patterns[indicator.id] = Pattern(indicator.pattern, stix_version="2.1")
        recent = self._recent.setdefault(indicator.id, deque(maxlen=self.keep))
        newest = max((r.ts or 0.0 for r in candidates), default=0.0)
        while recent and (recent[0].ts or 0.0) < newest - self.window_s:
            recent.popleft()
        pool = [*recent, *candidates]
        bundles = [observation(record, i) for i, record in enumerate(pool)]
        matched: set[int] = set()
        for i, bundle in enumerate(bundles):
            if pattern.match([bundle]):
                matched.add(i)
        if len(pool) > 1 and "]" in indicator.pattern.rstrip()[:-1]:
            # Observations spanning records: the matcher names the observed-data that took
            # part; their ids carry the pool index.
            for found in pattern.match(bundles):
                matched.add(int(found["objects"][0]["id"].split("--")[1][:8], 16))
        recent.extend(candidates)
        first_new = len(pool) - len(candidates)
        return [pool[i] for i in sorted(matched) if i >= first_new]
