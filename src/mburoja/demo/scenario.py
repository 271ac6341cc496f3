"""A seeded, synthetic but coherent threat-intelligence scenario, told as STIX 2.1.

``generate`` tells one story as STIX 2.1: a national CERT (``AL-CERT (demo)``) and its partners
track GREY KESTREL, an invented state-sponsored intrusion set running a destructive campaign
against Albanian government networks (spear-phishing and an exploited web server, then a
wiper, ransomware as a smoke screen and a backdoor). Every actor, name and indicator is made
up here, in code; descriptions say so. The demo loads it (``make run``) and tests use it as a
realistic fixture: every object type the platform handles, all TLP 2.0 levels, several
versions of some objects, a revoked indicator, sightings, notes and opinions.

The fast feed-like generator for the ingest benchmark is ``demo.bulk.generate_bulk``.

**Indicator values cannot hit real hosts.** The demo's indicators may be exported to sensors,
so they only use names and numbers reserved for documentation and testing: domains under
``.example`` and ``.test`` (RFC 2606, RFC 6761), IPv4 in 192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24 (RFC 5737) and 198.18.0.0/15 (RFC 2544), IPv6 in 2001:db8::/32 (RFC 3849),
ASNs 64496-64511 and 65536-65551 (RFC 5398), e-mail addresses in those domains. Hashes are
random hex. Tool and technique names (Rclone, Mimikatz, ATT&CK ids) are real public terms.

``generate`` is deterministic: the same arguments give identical output. Randomness comes
from one ``random.Random(seed)``, ids from it too (UUIDv4-shaped) or, for cyber-observables,
from the STIX UUIDv5 rule; time is ``now`` (a fixed date by default), never the clock.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

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
from mburoja.stix.identifiers import sco_id
from mburoja.stix.markings import TLP2, TLP_ORDER, tlp2_definition

__all__ = ["DEFAULT_NOW", "Obj", "generate"]

_IPV4_NETS = ("192.0.2", "198.51.100", "203.0.113")
_TLP_WEIGHTS = (15, 40, 30, 10, 5)  # clear, green, amber, amber+strict, red: share of indicators
_ATTACK = "https://attack.mitre.org/techniques/"
_INDICATOR_KINDS = (
    "ipv4",
    "ipv6",
    "cidr",
    "domain",
    "url",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "email",
    "asn",
)


def _stricter(*levels: str) -> str:
    return max(levels, key=TLP_ORDER.index)


class _Story:
    """Builds the scenario's objects in order, keeping ids, markings and the clock together."""

    def __init__(self, seed: int, now: str) -> None:
        self.rng = random.Random(seed)
        self.now = parse_stamp(now)
        self.objects: list[Obj] = [tlp2_definition(level) for level in TLP_ORDER]
        self.level: dict[str, str] = {}  # id -> TLP level, for relationship markings
        self.observables: dict[str, Obj] = {}  # id -> SCO, so a repeated value is one object
        self.author = ""

    def at(self, days_ago: float) -> str:
        """A timestamp ``days_ago`` before now, with a seeded time of day."""
        return stamp(self.now - timedelta(days=days_ago, seconds=self.rng.randrange(86_400)))

    def add(self, type_: str, level: str, created: str, **props: Any) -> Obj:
        """Append an SDO/SRO/SMO of ``type_`` created at ``created``, marked TLP ``level``."""
        obj: Obj = {
            "type": type_,
            "spec_version": "2.1",
            "id": f"{type_}--{uuid4_from(self.rng)}",
            "created": created,
            "modified": created,
        }
        if self.author and type_ != "identity":
            obj["created_by_ref"] = self.author
        obj.update(props)
        obj["object_marking_refs"] = [TLP2[level]]
        self.level[obj["id"]] = level
        self.objects.append(obj)
        return obj

    def revise(self, obj: Obj, days_later: float, **changes: Any) -> Obj:
        """Append a new version of ``obj``: same id, later ``modified``, ``changes`` applied."""
        later = parse_stamp(obj["modified"]) + timedelta(days=days_later)
        new: Obj = orjson.loads(orjson.dumps(obj))  # versions share no nested lists
        new.update(changes, modified=stamp(min(later, self.now)))
        self.objects.append(new)
        return new

    def observable(self, type_: str, level: str, **props: Any) -> Obj:
        """Append a cyber-observable with its deterministic STIX id."""
        oid = sco_id(type_, props)
        if oid in self.observables:
            return self.observables[oid]
        obj: Obj = {"type": type_, "spec_version": "2.1", "id": oid, **props}
        obj["object_marking_refs"] = [TLP2[level]]
        self.observables[oid] = obj
        self.level[obj["id"]] = level
        self.objects.append(obj)
        return obj

    def relate(self, source: Obj, rel: str, target: Obj, **props: Any) -> Obj:
        """Append a relationship, marked as strictly as the stricter of its two ends."""
        level = _stricter(self.level[source["id"]], self.level[target["id"]])
        created = max(source.get("created", ""), target.get("created", "")) or self.at(30)
        return self.add(
            "relationship",
            level,
            created,
            relationship_type=rel,
            source_ref=source["id"],
            target_ref=target["id"],
            **props,
        )

    def domain(self) -> str:
        words = self.rng.sample(WORDS, 2)
        tail = f"{self.rng.randrange(100)}" if self.rng.random() < 0.3 else ""
        return f"{words[0]}-{words[1]}{tail}.{self.rng.choice(TLDS)}"

    def ipv4(self) -> str:
        return f"{self.rng.choice(_IPV4_NETS)}.{self.rng.randrange(1, 255)}"


def _cast(story: _Story) -> dict[str, Obj]:
    """The organisations, the actor, its tooling and the campaign: the story's named objects."""
    s = story
    synthetic = "Synthetic demo data generated by Mburoja; not a real organisation."
    cast: dict[str, Obj] = {}
    cast["cert"] = s.add(
        "identity",
        "clear",
        s.at(900),
        name="AL-CERT (demo)",
        identity_class="organization",
        sectors=["government"],
        description=f"National CERT of Albania, demo persona. {synthetic}",
        contact_information="cert@cert.example",
    )
    s.author = cast["cert"]["id"]
    for key, name in (
        ("bg", "BG partner CERT (demo)"),
        ("si", "SI partner CERT (demo)"),
        ("hub", "Allied CERT hub (demo)"),
    ):
        cast[key] = s.add(
            "identity",
            "green",
            s.at(800),
            name=name,
            identity_class="organization",
            sectors=["government"],
            description=f"A partner of AL-CERT. {synthetic}",
        )
    for key, name, sector in (
        ("mod", "Ministry of Defence (synthetic)", "defense"),
        ("mfa", "Ministry of Foreign Affairs (synthetic)", "government"),
    ):
        cast[key] = s.add(
            "identity",
            "amber",
            s.at(700),
            name=name,
            identity_class="organization",
            sectors=[sector, "government-national"],
            description=f"A targeted body. {synthetic}",
        )
    cast["albania"] = s.add(
        "location", "clear", s.at(900), name="Albania", country="AL", region="southern-europe"
    )
    for key in ("mod", "mfa"):
        s.relate(cast[key], "located-at", cast["albania"])
    cast["actor"] = s.add(
        "intrusion-set",
        "green",
        s.at(400),
        name="GREY KESTREL (synthetic)",
        aliases=["Ashen Loom", "GK-01"],
        description="An invented state-sponsored intrusion set that runs destructive and "
        "influence operations against Albanian government networks. Synthetic: it stands for "
        "no real group.",
        goals=[
            "disrupt government services",
            "steal diplomatic correspondence",
            "undermine trust in state institutions",
        ],
        resource_level="government",
        primary_motivation="dominance",
        secondary_motivations=["ideology"],
        first_seen=s.at(420),
    )
    cast["campaign"] = s.add(
        "campaign",
        "amber",
        s.at(200),
        name="Operation Salt Ledger (synthetic)",
        description="Spear-phishing and an exploited web server lead to wipers on ministry "
        "networks, with ransomware notes as a smoke screen.",
        objective="Destroy data of the targeted ministries and leak selected documents.",
        first_seen=s.at(210),
        confidence=60,
    )
    malware = {
        "wiper": ("ASHFALL", ["wiper"], ["compromises-data-integrity"]),
        "ransomware": ("QUIETLOCK", ["ransomware"], ["compromises-data-availability"]),
        "backdoor": ("LANTERNFLY", ["backdoor", "remote-access-trojan"], ["communicates-with-c2"]),
    }
    for key, (name, types, caps) in malware.items():
        cast[key] = s.add(
            "malware",
            "green",
            s.at(300),
            name=f"{name} (synthetic)",
            is_family=True,
            malware_types=types,
            capabilities=caps,
            implementation_languages=["c++"],
            description=f"Synthetic {types[0]} family used by GREY KESTREL.",
        )
    for key, name, types in (
        ("rclone", "Rclone", ["information-gathering"]),
        ("mimikatz", "Mimikatz", ["credential-exploitation"]),
    ):
        cast[key] = s.add("tool", "clear", s.at(500), name=name, tool_types=types)
    for key, name, types in (
        ("c2", "GREY KESTREL command and control", ["command-and-control"]),
        ("staging", "GREY KESTREL staging servers", ["staging"]),
    ):
        cast[key] = s.add(
            "infrastructure", "amber", s.at(250), name=name, infrastructure_types=types
        )
    cast["cve"] = s.add(
        "vulnerability",
        "clear",
        s.at(600),
        name="CVE-2019-0604",
        description="Remote code execution in a web collaboration server; the entry point in "
        "this synthetic scenario.",
        external_references=[{"source_name": "cve", "external_id": "CVE-2019-0604"}],
    )
    for tid, name, tactic in TECHNIQUES:
        cast[tid] = s.add(
            "attack-pattern",
            "clear",
            s.at(1000),
            name=name,
            kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": tactic}],
            external_references=[
                {
                    "source_name": "mitre-attack",
                    "external_id": tid,
                    "url": _ATTACK + tid.replace(".", "/") + "/",
                }
            ],
        )
    return cast


def _plot(story: _Story, cast: dict[str, Obj]) -> None:
    """The relationships between the named objects, and their later versions."""
    s, c = story, cast
    s.relate(c["campaign"], "attributed-to", c["actor"], confidence=70)
    for target in ("mod", "mfa", "albania", "cve"):
        s.relate(c["campaign"], "targets", c[target])
    for target in ("mod", "mfa", "albania"):
        s.relate(c["actor"], "targets", c[target])
    for used in (
        "wiper",
        "ransomware",
        "backdoor",
        "rclone",
        "mimikatz",
        *(t[0] for t in TECHNIQUES),
    ):
        s.relate(c["actor"], "uses", c[used])
    s.relate(c["backdoor"], "uses", c["c2"])
    s.relate(c["wiper"], "uses", c["staging"])
    s.relate(c["backdoor"], "exploits", c["cve"])
    s.relate(c["wiper"], "uses", c["T1485"])
    s.relate(c["ransomware"], "uses", c["T1486"])
    update = " Update: destructive phase confirmed on a second ministry."
    campaign = s.revise(
        c["campaign"], 40, last_seen=s.at(60), description=c["campaign"]["description"] + update
    )
    s.revise(campaign, 50, confidence=85, last_seen=s.at(5))
    s.revise(
        c["backdoor"],
        90,
        aliases=["LFLY"],
        capabilities=["communicates-with-c2", "exfiltrates-data"],
    )


def _indicator_value(story: _Story, kind: str, index: int) -> tuple[str, str, dict[str, Any]]:
    """(pattern, observable type, observable properties) for one indicator of ``kind``."""
    rng = story.rng
    if kind == "ipv4":
        value = story.ipv4()
        return f"[ipv4-addr:value = {pattern_literal(value)}]", "ipv4-addr", {"value": value}
    if kind == "cidr":
        value = f"198.{18 + index % 2}.{index % 256}.0/24"
        return f"[ipv4-addr:value = {pattern_literal(value)}]", "ipv4-addr", {"value": value}
    if kind == "ipv6":
        value = f"2001:db8:{rng.randrange(1, 0xFFFF):x}::{rng.randrange(1, 0xFFFF):x}"
        return f"[ipv6-addr:value = {pattern_literal(value)}]", "ipv6-addr", {"value": value}
    if kind == "domain":
        value = story.domain()
        return f"[domain-name:value = {pattern_literal(value)}]", "domain-name", {"value": value}
    if kind == "url":
        path = rng.choice(("dl/update.bin", "docs/minister's-note.doc", "a/b?id=7", "gate.php"))
        value = f"https://{story.domain()}/{path}"
        return f"[url:value = {pattern_literal(value)}]", "url", {"value": value}
    if kind == "email":
        value = f"{rng.choice(('hr', 'it-support', 'protocol', 'press'))}@{story.domain()}"
        return f"[email-addr:value = {pattern_literal(value)}]", "email-addr", {"value": value}
    if kind == "asn":
        number = rng.choice((*range(64496, 64512), *range(65536, 65552)))
        return f"[autonomous-system:number = {number}]", "autonomous-system", {"number": number}
    algorithm, chars = {
        "md5": ("MD5", 32),
        "sha1": ("SHA-1", 40),
        "sha256": ("SHA-256", 64),
        "sha512": ("SHA-512", 128),
    }[kind]
    digest = random_hex(rng, chars)
    key = algorithm if algorithm == "MD5" else f"'{algorithm}'"
    pattern = f"[file:hashes.{key} = {pattern_literal(digest)}]"
    if index % 7 == 0:  # some file indicators also name the file
        pattern = f"[file:hashes.{key} = {pattern_literal(digest)} AND file:name = 'invoice.doc']"
    return pattern, "file", {"hashes": {algorithm: digest}}


def _indicators(story: _Story, cast: dict[str, Obj], count: int) -> list[Obj]:
    """``count`` indicators over every kind, each with its observable and relationships."""
    s = story
    levels = s.rng.choices(TLP_ORDER, weights=_TLP_WEIGHTS, k=count)
    families = ("wiper", "ransomware", "backdoor")
    made = []
    for index in range(count):
        kind = _INDICATOR_KINDS[index % len(_INDICATOR_KINDS)]
        pattern, sco_type, sco_props = _indicator_value(s, kind, index)
        level = levels[index]
        created = s.at(s.rng.uniform(1, 180))
        props: dict[str, Any] = {
            "name": f"GREY KESTREL {kind} indicator {index}",
            "indicator_types": ["malicious-activity"],
            "pattern": pattern,
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": created,
            "confidence": s.rng.choice((30, 50, 70, 85, 95)),
        }
        if s.rng.random() < 0.3:
            props["valid_until"] = stamp(
                parse_stamp(created) + timedelta(days=s.rng.randrange(30, 365))
            )
        if s.rng.random() < 0.05:
            props["x_al_cert_priority"] = s.rng.choice(("high", "medium"))
        indicator = s.add("indicator", level, created, **props)
        observable = s.observable(sco_type, level, **sco_props)
        s.relate(indicator, "based-on", observable)
        hashes = kind in ("md5", "sha1", "sha256", "sha512")
        target = cast[families[index % 3]] if hashes else cast["campaign"]
        s.relate(indicator, "indicates", target)
        if kind in ("ipv4", "domain") and index % 3 == 0:
            s.relate(cast["c2"], "consists-of", observable)
        made.append(indicator)
    return made


def _aftermath(story: _Story, cast: dict[str, Obj], indicators: list[Obj]) -> None:
    """Sightings, a revoked indicator, the report, a note and an opinion."""
    s = story
    if indicators:
        s.revise(indicators[0], 20, revoked=True)
    partners = [cast["bg"], cast["si"], cast["hub"], cast["cert"]]
    for indicator in indicators[: min(12, len(indicators))]:
        seen = s.at(s.rng.uniform(1, 20))
        where = s.rng.choice(partners)["id"]
        s.add(
            "sighting",
            s.rng.choice(("amber+strict", "red")),
            seen,
            sighting_of_ref=indicator["id"],
            where_sighted_refs=[where],
            first_seen=seen,
            last_seen=seen,
            count=s.rng.randrange(1, 40),
            created_by_ref=where,
        )
    named = [o["id"] for key, o in cast.items() if key not in ("cert", "bg", "si", "hub")]
    report = s.add(
        "report",
        "amber",
        s.at(3),
        name="GREY KESTREL: Operation Salt Ledger (synthetic)",
        description="Synthetic report: intrusion set, campaign, malware, infrastructure and "
        "indicators of a destructive campaign against ministries.",
        report_types=["campaign", "intrusion-set", "indicator"],
        published=s.at(2),
        object_refs=named + [i["id"] for i in indicators],
        external_references=[
            {"source_name": "AL-CERT (demo)", "url": "https://cert.example/reports/salt-ledger"}
        ],
        granular_markings=[{"marking_ref": TLP2["amber+strict"], "selectors": ["description"]}],
    )
    s.add(
        "note",
        "amber+strict",
        s.at(1),
        abstract="Wiper timing",
        authors=["AL-CERT analyst"],
        content="Wiper runs began within an hour of the ransom notes on both ministries.",
        object_refs=[cast["campaign"]["id"], report["id"]],
    )
    s.add(
        "opinion",
        "green",
        s.at(1),
        opinion="agree",
        authors=["SI partner analyst"],
        explanation="Matches the loader and C2 patterns we saw.",
        object_refs=[report["id"]],
        created_by_ref=cast["si"]["id"],
    )


def generate(seed: int = 7, *, indicators: int = 300, now: str | None = None) -> list[Obj]:
    """The whole scenario as STIX 2.1 objects (versions in order), TLP definitions first."""
    story = _Story(seed, now or DEFAULT_NOW)
    cast = _cast(story)
    _plot(story, cast)
    made = _indicators(story, cast, indicators)
    _aftermath(story, cast, made)
    return story.objects
