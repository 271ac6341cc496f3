"""A fast generator of feed-like STIX objects, serialised, for the ingest benchmark.

``generate_bulk(count)`` yields ``count`` objects as JSON bytes in the mix a national feed
sends: mostly indicators, their observables and the relationships between them, a few SDOs,
nearly all TLP-marked. Unlike ``demo.scenario`` it tells no story; it is built to cost far
less than the ingest it measures (plain dicts, one ``random.Random``, ids drawn from it or
from the STIX UUIDv5 rule), and it is deterministic: the same seed gives the same bytes.
Observable values stay in documentation-only ranges (IPv4 198.18.0.0/15, ``.example`` and
``.test`` domains); hashes are random hex.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import timedelta

import orjson

from mburoja.demo.material import (
    DEFAULT_NOW,
    TECHNIQUES,
    TLDS,
    WORDS,
    Obj,
    parse_stamp,
    pattern_literal,
    random_hex,
    stamp,
    uuid4_from,
)
from mburoja.stix.identifiers import uuid5_id
from mburoja.stix.markings import TLP2

_BULK_SLOTS = "i" * 7 + "o" * 7 + "r" * 5 + "s"  # per 20 objects: 35% / 35% / 25% / 5%
_BULK_SDO_TYPES = ("malware", "campaign", "identity", "attack-pattern", "report")
_BULK_HASHES = (("MD5", 32), ("SHA-1", 40), ("SHA-256", 64))


class _Bulk:
    """State of one ``generate_bulk`` run: pools of ids already emitted, to refer back to."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.random = self.rng.random
        base = parse_stamp(DEFAULT_NOW)
        self.times = sorted(
            stamp(base - timedelta(seconds=self.rng.randrange(63_072_000))) for _ in range(4096)
        )
        marked = [TLP2["clear"]] * 3 + [TLP2["green"]] * 9 + [TLP2["amber"]] * 5
        self.markings: list[list[str] | None] = [[m] for m in marked] + [None] * 2  # 10% unmarked
        self.producer = f"identity--{uuid4_from(self.rng)}"
        self.sdos: dict[str, list[str]] = {t: [] for t in _BULK_SDO_TYPES}
        self.indicators: list[str] = []
        self.pending: list[tuple[str, Obj]] = []  # indicators whose observable is still to come
        self.based_on: list[tuple[str, str]] = []  # (indicator id, observable id)
        self.serial = 0

    def pick(self, seq: list[str] | tuple[str, ...], recent: int = 0) -> str:
        """A seeded choice from ``seq``, or from its last ``recent`` items."""
        span = min(recent, len(seq)) if recent else len(seq)
        return seq[len(seq) - 1 - int(self.random() * span)]

    def base(self, type_: str) -> Obj:
        rng = self.rng
        created = self.times[rng.getrandbits(12)]
        obj: Obj = {
            "type": type_,
            "spec_version": "2.1",
            "id": f"{type_}--{uuid4_from(rng)}",
            "created": created,
            "modified": created,
            "created_by_ref": self.producer,
        }
        marking = self.markings[rng.getrandbits(16) % 19]
        if marking is not None:
            obj["object_marking_refs"] = marking
        if self.random() < 0.02:
            obj["x_feed_score"] = rng.getrandbits(7)
        return obj

    def value(self) -> tuple[str, str, str, Obj]:
        """(type, pattern path, value, observable properties) of a fresh observable value."""
        self.serial += 1
        n = self.serial
        kind = n % 4
        if kind == 0:
            value = f"198.{18 + (n >> 16) % 2}.{(n >> 8) & 255}.{n & 255}"
            return "ipv4-addr", "value", value, {"value": value}
        if kind == 1:
            value = f"{self.pick(WORDS)}-{n:x}.{TLDS[n & 1]}"
            return "domain-name", "value", value, {"value": value}
        if kind == 2:
            value = f"https://{self.pick(WORDS)}-{n:x}.example/{self.pick(WORDS)}"
            return "url", "value", value, {"value": value}
        algorithm, chars = _BULK_HASHES[n % 3]
        value = random_hex(self.rng, chars)
        return "file", f"hashes.'{algorithm}'", value, {"hashes": {algorithm: value}}

    def indicator(self) -> Obj:
        type_, path, value, props = self.value()
        obj = self.base("indicator")
        obj["name"] = f"{type_} {value[:40]}"
        obj["indicator_types"] = ["malicious-activity"]
        obj["pattern"] = f"[{type_}:{path} = {pattern_literal(value)}]"
        obj["pattern_type"] = "stix"
        obj["valid_from"] = obj["created"]
        obj["confidence"] = int(self.random() * 101)
        if self.random() < 0.1:
            obj["external_references"] = [
                {"source_name": "demo-feed", "url": f"https://feed.example/i/{self.serial}"}
            ]
        self.indicators.append(obj["id"])
        self.pending.append((obj["id"], {"type": type_, "spec_version": "2.1", **props}))
        return obj

    def observable(self) -> Obj:
        """The observable of an earlier indicator (for a ``based-on``), else a fresh one."""
        if self.pending:
            indicator_id, obj = self.pending.pop()
        else:
            type_, _, _, props = self.value()
            indicator_id, obj = "", {"type": type_, "spec_version": "2.1", **props}
        props = {k: v for k, v in obj.items() if k not in ("type", "spec_version")}
        # props are exactly the ID-contributing ones (a value, or one hash): skip the selection
        obj["id"] = uuid5_id(obj["type"], orjson.dumps(props, option=orjson.OPT_SORT_KEYS))
        marking = self.markings[self.rng.getrandbits(16) % 19]
        if marking is not None:
            obj["object_marking_refs"] = marking
        if indicator_id:
            self.based_on.append((indicator_id, obj["id"]))
        return obj

    def relationship(self) -> Obj:
        roll = self.random()
        if roll < 0.35 and self.based_on:
            source, target = self.based_on.pop()
            rel = "based-on"
        elif roll < 0.85 and self.indicators:
            source, rel = self.pick(self.indicators, recent=500), "indicates"
            pool = self.sdos["malware"] if self.random() < 0.6 else self.sdos["campaign"]
            target = self.pick(pool)
        else:
            source, rel = self.pick(self.sdos["campaign"]), "uses"
            target = self.pick(self.sdos["malware"])
        obj = self.base("relationship")
        obj["relationship_type"] = rel
        obj["source_ref"] = source
        obj["target_ref"] = target
        return obj

    def sdo(self, type_: str) -> Obj:
        obj = self.base(type_)
        n = len(self.sdos[type_])
        if type_ == "malware":
            obj.update(name=f"DEMO-{n} malware", is_family=True, malware_types=["trojan"])
        elif type_ == "campaign":
            obj.update(name=f"Demo campaign {n}", first_seen=obj["created"])
        elif type_ == "identity":
            obj.update(name=f"Demo organisation {n}", identity_class="organization")
        elif type_ == "attack-pattern":
            technique = TECHNIQUES[n % len(TECHNIQUES)]
            obj["name"] = technique[1]
            obj["external_references"] = [
                {"source_name": "mitre-attack", "external_id": technique[0]}
            ]
        else:
            recent = self.indicators[-20:] + self.sdos["malware"][-2:]
            obj.update(
                name=f"Demo report {n}",
                report_types=["threat-report"],
                published=obj["created"],
                object_refs=self.rng.sample(recent, min(len(recent), 3 + n % 12)),
            )
        self.sdos[type_].append(obj["id"])
        return obj


def generate_bulk(count: int, seed: int = 1) -> Iterator[bytes]:
    """``count`` serialised STIX objects in a feed-like mix, for the ingest benchmark.

    About 35% indicators, 35% observables, 25% relationships and 5% SDOs; 90% TLP-marked, all
    by one producer identity, some with external references or ``x_`` properties. The first
    three objects are the producer, a malware and a campaign, so every reference points back
    to an object already yielded (TLP marking definitions are the well-known ids, not
    yielded). Most observables are those of an earlier indicator, joined to it by a
    ``based-on`` relationship. IPv4 values start to repeat after about 500,000 objects.
    """
    bulk = _Bulk(seed)
    producer = bulk.base("identity")
    producer.update(id=bulk.producer, name="Demo feed producer", identity_class="organization")
    del producer["created_by_ref"]
    bulk.sdos["identity"].append(bulk.producer)
    opening: list[Callable[[], Obj]] = [
        lambda: producer,
        lambda: bulk.sdo("malware"),
        lambda: bulk.sdo("campaign"),
    ]
    makers: dict[str, Callable[[], Obj]] = {
        "i": bulk.indicator,
        "o": bulk.observable,
        "r": bulk.relationship,
    }
    orders = [bulk.rng.sample(_BULK_SLOTS, len(_BULK_SLOTS)) for _ in range(64)]
    dumps = orjson.dumps
    for make in opening[:count]:
        yield dumps(make())
    made = len(opening)
    while made < count:
        slots = orders[bulk.rng.getrandbits(6)]
        for slot in slots[: count - made]:
            if slot == "s":
                yield dumps(bulk.sdo(bulk.pick(_BULK_SDO_TYPES)))
            else:
                yield dumps(makers[slot]())
        made += len(slots)
