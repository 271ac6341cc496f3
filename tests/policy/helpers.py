"""Shared pieces of the policy tests: the well-known TLP ids, the organisations and their
callers, and builders for marked STIX objects.

The TLP ids are written out here from the standards (TLP 1.0: STIX 2.1 section 7.2.1.4;
TLP 2.0: the OASIS TLP 2.0 marking extension) rather than imported from the code, so that the
tests check the code's tables instead of repeating them.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import orjson

from mburoja.policy import Caller, Policy, Relation
from tests.factories import indicator

JSON = dict[str, Any]

TLP2_CLEAR: Final = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP2_GREEN: Final = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP2_AMBER: Final = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
TLP2_AMBER_STRICT: Final = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
TLP2_RED: Final = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
TLP1_WHITE: Final = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
TLP1_GREEN: Final = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
TLP1_AMBER: Final = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP1_RED: Final = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"

#: Each well-known id and the TLP 2.0 level it stands for (TLP 1.0 WHITE is CLEAR).
LEVEL_OF_ID: Final[dict[str, str]] = {
    TLP2_CLEAR: "clear",
    TLP2_GREEN: "green",
    TLP2_AMBER: "amber",
    TLP2_AMBER_STRICT: "amber+strict",
    TLP2_RED: "red",
    TLP1_WHITE: "clear",
    TLP1_GREEN: "green",
    TLP1_AMBER: "amber",
    TLP1_RED: "red",
}

#: The levels, loosest first, as the issue lists them.
LEVELS: Final = ("clear", "green", "amber", "amber+strict", "red")

#: Markings that are not TLP: a copyright statement and the like, neutral only when the
#: policy is told so, and otherwise unknown.
STATEMENT_IDS: Final = tuple(
    f"marking-definition--{uuid.uuid5(uuid.NAMESPACE_URL, f'statement-{i}')}" for i in range(3)
)
UNKNOWN_IDS: Final = tuple(
    f"marking-definition--{uuid.uuid5(uuid.NAMESPACE_URL, f'unknown-{i}')}" for i in range(3)
)

#: Organisation ids as the account store hands them to the policy.
HOME: Final = "org-home"
OWNER: Final = "org-owner"
OTHER: Final = "org-other"
THIRD: Final = "org-third"

#: The relations another organisation can have to ours (the home org's users are ``self``).
FOREIGN_RELATIONS: Final = (
    Relation.CLIENT,
    Relation.PARTNER,
    Relation.COMMUNITY,
    Relation.NONE,
)

EXTENSION: Final = "extension-definition--0e0d2d8e-36fb-4d1e-9ae4-5b1e9c3b2f10"


def rank(level: str) -> int:
    """How strict a level is: 0 for CLEAR up to 4 for RED."""
    return LEVELS.index(level)


def org_identity(org: str) -> str:
    """The STIX identity that stands for an organisation."""
    return f"identity--{uuid.uuid5(uuid.NAMESPACE_URL, f'org:{org}')}"


def user_identity(org: str, user: str = "alice") -> str:
    """The STIX identity of one of an organisation's users."""
    return f"identity--{uuid.uuid5(uuid.NAMESPACE_URL, f'user:{org}:{user}')}"


def member(org: str, relation: Relation, user: str = "alice") -> Caller:
    """A user of ``org``, carrying the identities the account store gives such a caller."""
    return Caller(
        org_id=org,
        relation=relation,
        identities=frozenset({org_identity(org), user_identity(org, user)}),
        user_id=f"{org}/{user}",
        user_name=user,
        role="reader",
    )


def home_user() -> Caller:
    """A user of this instance's own organisation."""
    return member(HOME, Relation.SELF)


def policy(**options: Any) -> Policy:
    """The policy of an instance whose home organisation is ``HOME``."""
    return Policy(HOME, **options)


def encode(obj: JSON) -> bytes:
    return orjson.dumps(obj)


def marked(markings: list[str] | tuple[str, ...] = (), **extra: Any) -> JSON:
    """An indicator carrying exactly ``markings`` as its object markings."""
    obj = indicator(tlp=None, **extra)
    if markings:
        obj["object_marking_refs"] = list(markings)
    return obj


def rich_indicator(markings: tuple[str, ...] = (TLP2_GREEN,), **extra: Any) -> JSON:
    """An indicator with several optional properties for granular markings to select:
    text, a list, a custom property and a property extension with two properties."""
    return marked(
        markings,
        description="seen beaconing to the ministry mail gateway",
        labels=["apt", "wiper"],
        x_notes="source: liaison officer",
        extensions={
            EXTENSION: {
                "extension_type": "property-extension",
                "rule_source": "sensor-7",
                "rule_notes": "only fires on the DMZ",
            }
        },
        **extra,
    )


def paths(obj: JSON | None) -> set[tuple[str, ...]]:
    """Every property path of ``obj`` through nested dictionaries (lists are leaves), the
    granular markings left out: what a caller gets to see of an object."""
    found: set[tuple[str, ...]] = set()

    def walk(node: JSON, prefix: tuple[str, ...]) -> None:
        for key, value in node.items():
            path = (*prefix, key)
            found.add(path)
            if isinstance(value, dict):
                walk(value, path)

    if obj is not None:
        walk({k: v for k, v in obj.items() if k != "granular_markings"}, ())
    return found
