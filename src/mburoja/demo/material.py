"""The raw material both demo generators draw from: names, techniques, seeded ids and times.

``demo.scenario`` (the story) and ``demo.bulk`` (the benchmark feed) share these so that their
objects look alike and stay reproducible: every id and hex string here is drawn from the
``random.Random`` passed in, never from the system, and time is written from a given instant.
The words become domain labels under documentation-only TLDs (see ``demo.scenario`` on why
indicator values must not hit real hosts).
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

#: The instant the demo data is written as of, unless told otherwise.
DEFAULT_NOW = "2026-11-01T00:00:00.000Z"

#: One STIX object as parsed JSON.
Obj = dict[str, Any]

#: Invented host-name words.
WORDS = (
    "portal",
    "secure",
    "update",
    "mail",
    "login",
    "cdn",
    "docs",
    "gov",
    "mfa",
    "sync",
    "cloud",
    "files",
    "vpn",
    "office",
    "support",
    "verify",
    "news",
    "service",
    "data",
    "auth",
)
TLDS = ("example", "test")
# (ATT&CK id, name, tactic): the techniques of the story.
TECHNIQUES = (
    ("T1566.001", "Spearphishing Attachment", "initial-access"),
    ("T1190", "Exploit Public-Facing Application", "initial-access"),
    ("T1078", "Valid Accounts", "persistence"),
    ("T1003.001", "LSASS Memory", "credential-access"),
    ("T1071.001", "Web Protocols", "command-and-control"),
    ("T1567.002", "Exfiltration to Cloud Storage", "exfiltration"),
    ("T1486", "Data Encrypted for Impact", "impact"),
    ("T1485", "Data Destruction", "impact"),
)


def stamp(moment: datetime) -> str:
    """A STIX timestamp with millisecond precision."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_stamp(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def uuid4_from(rng: random.Random) -> str:
    """A UUIDv4-shaped string drawn from ``rng`` (so ids repeat with the seed)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def random_hex(rng: random.Random, chars: int) -> str:
    return f"{rng.getrandbits(chars * 4):0{chars}x}"


def pattern_literal(value: str) -> str:
    """A STIX pattern string literal: backslashes and single quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
