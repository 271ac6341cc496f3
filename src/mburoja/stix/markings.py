"""Well-known marking definitions: TLP 2.0 (OASIS extension) and TLP 1.0 (STIX 2.1 §7.2.1.4).

Only ids and names live here; deciding who may see what is the policy layer's job.
AMBER+STRICT exists only in TLP 2.0 and is never mapped to the TLP 1.0 AMBER id.
"""

from __future__ import annotations

from typing import Final

TLP2_EXTENSION_ID: Final = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

TLP2: Final[dict[str, str]] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

TLP1: Final[dict[str, str]] = {
    "white": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}

#: marking-definition id -> TLP level name in TLP 2.0 terms (WHITE is CLEAR).
TLP_LEVEL_BY_ID: Final[dict[str, str]] = {
    **{mid: name for name, mid in TLP2.items()},
    TLP1["white"]: "clear",
    TLP1["green"]: "green",
    TLP1["amber"]: "amber",
    TLP1["red"]: "red",
}

#: Strictness order, loosest first.
TLP_ORDER: Final[tuple[str, ...]] = ("clear", "green", "amber", "amber+strict", "red")

_TLP2_CREATED: Final = "2022-10-01T00:00:00.000Z"
_TLP1_CREATED: Final = "2017-01-20T00:00:00.000Z"


def tlp_marking_id(name: str) -> str:
    """The TLP 2.0 marking-definition id for a level name (``white`` means ``clear``).

    Raises ``KeyError`` for an unknown name; callers turn that into a user-facing error.
    """
    key = name.strip().lower().removeprefix("tlp:")
    if key == "white":
        key = "clear"
    return TLP2[key]


def tlp_level(marking_refs: list[str] | tuple[str, ...]) -> str | None:
    """The strictest TLP level among ``marking_refs``, or None if none of them is TLP."""
    levels = [TLP_LEVEL_BY_ID[m] for m in marking_refs if m in TLP_LEVEL_BY_ID]
    if not levels:
        return None
    return max(levels, key=TLP_ORDER.index)


def tlp2_definition(name: str) -> dict[str, object]:
    """The TLP 2.0 marking-definition object for a level, as the OASIS extension defines it."""
    key = name.lower()
    label = "TLP:" + key.upper()
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2[key],
        "created": _TLP2_CREATED,
        "name": label,
        "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": key}},
    }


def tlp1_definition(name: str) -> dict[str, object]:
    """The TLP 1.0 marking-definition object for a level, as STIX 2.1 §7.2.1.4 gives it."""
    key = name.lower()
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP1[key],
        "created": _TLP1_CREATED,
        "definition_type": "tlp",
        "name": f"TLP:{key.upper()}",
        "definition": {"tlp": key},
    }
