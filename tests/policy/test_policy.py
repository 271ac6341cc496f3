"""The access policy: TLP levels, who may see what, RED recipients and granular markings.

Expected values come from the issue's rules (FIRST TLP 2.0, TLP 1.0 WHITE as CLEAR), written
out as tables here, never computed by the code under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from mburoja.errors import ConfigError
from mburoja.policy import ANONYMOUS, RECIPIENTS_PROPERTY, Caller, Relation
from mburoja.stix.markings import TLP_LEVEL_BY_ID, tlp_level, tlp_marking_id
from mburoja.stix.validate import errors, validate
from tests.factories import sdo
from tests.policy.helpers import (
    EXTENSION,
    HOME,
    JSON,
    LEVEL_OF_ID,
    LEVELS,
    OTHER,
    OWNER,
    STATEMENT_IDS,
    THIRD,
    TLP1_AMBER,
    TLP1_GREEN,
    TLP1_RED,
    TLP1_WHITE,
    TLP2_AMBER,
    TLP2_AMBER_STRICT,
    TLP2_CLEAR,
    TLP2_GREEN,
    TLP2_RED,
    UNKNOWN_IDS,
    encode,
    home_user,
    marked,
    member,
    org_identity,
    policy,
    rich_indicator,
    user_identity,
)

# --------------------------------------------------------------------------- level()


@pytest.mark.parametrize("marking", sorted(LEVEL_OF_ID))
@pytest.mark.parametrize("default", ["clear", "red"])
def test_each_well_known_tlp_id_alone_has_its_level(marking: str, default: str) -> None:
    # Two opposite defaults: a TLP id must never be read as "unknown, so the default".
    assert policy(default_level=default).level([marking]) == LEVEL_OF_ID[marking]


def test_amber_strict_is_never_the_tlp1_amber_id() -> None:
    assert TLP2_AMBER_STRICT != TLP1_AMBER
    assert tlp_marking_id("amber+strict") == TLP2_AMBER_STRICT
    assert TLP_LEVEL_BY_ID[TLP1_AMBER] == "amber"
    assert policy(default_level="clear").level([TLP1_AMBER]) == "amber"
    assert tlp_level([TLP1_AMBER]) == "amber"


@pytest.mark.parametrize(
    ("markings", "strictest"),
    [
        ([TLP1_WHITE, TLP2_GREEN], "green"),
        ([TLP2_GREEN, TLP1_WHITE], "green"),
        ([TLP2_AMBER, TLP1_GREEN, TLP2_CLEAR], "amber"),
        ([TLP1_AMBER, TLP2_AMBER_STRICT], "amber+strict"),
        ([TLP2_AMBER_STRICT, TLP1_AMBER], "amber+strict"),
        ([TLP2_RED, TLP1_GREEN, TLP2_CLEAR], "red"),
        ([TLP2_CLEAR, TLP1_RED], "red"),
        ([TLP2_GREEN, TLP2_GREEN], "green"),
    ],
)
@pytest.mark.parametrize("default", ["clear", "red"])
def test_several_tlp_markings_the_strictest_wins(
    markings: list[str], strictest: str, default: str
) -> None:
    assert policy(default_level=default).level(markings) == strictest


@pytest.mark.parametrize("default", LEVELS)
def test_no_markings_means_the_default(default: str) -> None:
    assert policy(default_level=default).level([]) == default


def test_the_default_default_fails_closed_as_amber_strict() -> None:
    assert policy().level([]) == "amber+strict"
    assert policy().level([UNKNOWN_IDS[0]]) == "amber+strict"


@pytest.mark.parametrize("default", LEVELS)
def test_an_unknown_marking_alone_means_the_default(default: str) -> None:
    assert policy(default_level=default).level([UNKNOWN_IDS[0]]) == default


@pytest.mark.parametrize(
    ("tlp", "default", "expected"),
    [
        # The unknown marking counts as the default: it can only make things stricter.
        (TLP2_CLEAR, "amber+strict", "amber+strict"),
        (TLP1_WHITE, "amber+strict", "amber+strict"),
        (TLP2_GREEN, "amber", "amber"),
        (TLP2_RED, "amber+strict", "red"),
        (TLP2_AMBER, "green", "amber"),
    ],
)
def test_an_unknown_marking_beside_a_tlp_fails_closed(
    tlp: str, default: str, expected: str
) -> None:
    level = policy(default_level=default).level
    assert level([tlp, UNKNOWN_IDS[0]]) == expected
    assert level([UNKNOWN_IDS[0], tlp]) == expected


def test_a_neutral_marking_is_ignored() -> None:
    copyright_ = STATEMENT_IDS[0]
    lenient = policy(neutral=[copyright_])
    assert lenient.level([copyright_, TLP2_CLEAR]) == "clear"
    assert lenient.level([TLP1_GREEN, copyright_]) == "green"
    # Alone it leaves the object untagged, which is the default again.
    assert lenient.level([copyright_]) == "amber+strict"
    # Not declared neutral, the same marking is unknown and fails closed.
    assert policy().level([copyright_, TLP2_CLEAR]) == "amber+strict"


@pytest.mark.parametrize("bogus", ["bogus", "AMBER", "white", ""])
def test_a_default_level_that_is_not_a_tlp_level_is_a_config_error(bogus: str) -> None:
    with pytest.raises(ConfigError) as raised:
        policy(default_level=bogus)
    message = str(raised.value)
    assert "default_tlp" in message
    assert "amber+strict" in message  # says what to use instead


# --------------------------------------------------------------------------- who sees what

Y, N = True, False

#: Straight from the issue: CLEAR anyone; GREEN the community, never ``none`` or anonymous;
#: AMBER our organisation and its clients; AMBER+STRICT our organisation only; RED only the
#: owning organisation (and named recipients, tested separately).
COLUMNS = ("owner", "home-own", "home-foreign", "client", "partner", "community", "none", "anon")
SEES: dict[str, tuple[bool, ...]] = {
    "clear": (Y, Y, Y, Y, Y, Y, Y, Y),
    "green": (Y, Y, Y, Y, Y, Y, N, N),
    "amber": (Y, Y, Y, Y, N, N, N, N),
    "amber+strict": (Y, Y, Y, N, N, N, N, N),
    "red": (Y, Y, N, N, N, N, N, N),
}


def scenarios() -> list[tuple[str, Caller, str | None]]:
    """(column, caller, object owner) for every caller kind, relation callers both on objects
    the home organisation owns (None) and on objects another organisation sent us."""
    rows: list[tuple[str, Caller, str | None]] = [
        # The owner's own relation to us is ``none``: owning the object is what counts.
        ("owner", member(OWNER, Relation.NONE), OWNER),
        ("home-own", home_user(), None),
        ("home-foreign", home_user(), OWNER),
    ]
    for column, relation in [
        ("client", Relation.CLIENT),
        ("partner", Relation.PARTNER),
        ("community", Relation.COMMUNITY),
        ("none", Relation.NONE),
    ]:
        rows += [(column, member(OTHER, relation), None), (column, member(OTHER, relation), OWNER)]
    rows += [("anon", ANONYMOUS, None), ("anon", ANONYMOUS, OWNER)]
    return rows


def ids_of(level: str) -> list[str]:
    return [mid for mid, lvl in LEVEL_OF_ID.items() if lvl == level]


Scenario = tuple[str, str, Caller, str | None]
SCENARIOS: list[Scenario] = [
    (level, column, caller, owner) for level in LEVELS for column, caller, owner in scenarios()
]


def params(rows: list[Scenario]) -> list[Any]:
    return [pytest.param(*row, id=f"{row[0]}-{row[1]}-{row[3] or 'home-owned'}") for row in rows]


CASES = params(SCENARIOS)


@pytest.mark.parametrize(("level", "column", "caller", "owner"), CASES)
def test_admits_follows_the_tlp_table(
    level: str, column: str, caller: Caller, owner: str | None
) -> None:
    expected = SEES[level][COLUMNS.index(column)]
    assert policy().admits(caller, owner, level) is expected


@pytest.mark.parametrize(("level", "column", "caller", "owner"), CASES)
def test_visible_and_view_follow_the_tlp_table(
    level: str, column: str, caller: Caller, owner: str | None
) -> None:
    expected = SEES[level][COLUMNS.index(column)]
    for marking in ids_of(level):
        raw = encode(marked([marking]))
        assert policy().visible(caller, owner, [marking], raw) is expected, marking
        seen = policy().view(caller, owner, [marking], raw)
        if expected:
            assert seen is raw  # served as stored, not re-serialised
        else:
            assert seen is None


@pytest.mark.parametrize(("column", "caller", "owner"), scenarios())
def test_an_untagged_object_is_seen_as_amber_strict(
    column: str, caller: Caller, owner: str | None
) -> None:
    raw = encode(marked([]))
    expected = SEES["amber+strict"][COLUMNS.index(column)]
    assert policy().visible(caller, owner, [], raw) is expected


def test_the_home_organisation_named_explicitly_as_owner_is_the_owner() -> None:
    raw = encode(marked([TLP2_RED]))
    assert policy().visible(home_user(), HOME, [TLP2_RED], raw)
    assert not policy().visible(member(OTHER, Relation.CLIENT), HOME, [TLP2_AMBER_STRICT], raw)


# --------------------------------------------------------------------------- RED recipients


def red(recipients: Any = None, **extra: Any) -> bytes:
    """A RED indicator, naming ``recipients`` when given (any JSON, to test malformed lists)."""
    obj = marked([TLP2_RED], **extra)
    if recipients is not None:
        obj[RECIPIENTS_PROPERTY] = recipients
    return encode(obj)


def sees_red(caller: Caller, owner: str | None, raw: bytes) -> bool:
    return policy().visible(caller, owner, [TLP2_RED], raw)


def test_red_is_seen_by_the_owners_users() -> None:
    assert sees_red(member(OWNER, Relation.NONE), OWNER, red())
    assert sees_red(member(OWNER, Relation.PARTNER, user="bob"), OWNER, red())
    assert sees_red(home_user(), None, red())


def test_red_from_another_organisation_is_not_seen_by_the_home_organisation() -> None:
    assert not sees_red(home_user(), OWNER, red())
    assert not sees_red(home_user(), OWNER, red([org_identity(OTHER)]))


@pytest.mark.parametrize(
    "named",
    [org_identity(HOME), user_identity(HOME)],
    ids=["org-identity", "user-identity"],
)
def test_red_named_home_organisation_sees_it(named: str) -> None:
    assert sees_red(home_user(), OWNER, red([named]))


@pytest.mark.parametrize("relation", [Relation.PARTNER, Relation.NONE, Relation.CLIENT])
@pytest.mark.parametrize(
    "named", [org_identity(OTHER), user_identity(OTHER)], ids=["org-identity", "user-identity"]
)
def test_red_named_identity_sees_it(relation: Relation, named: str) -> None:
    raw = red([org_identity(THIRD), named])
    assert sees_red(member(OTHER, relation), OWNER, raw)
    assert sees_red(member(OTHER, relation), None, raw)
    # Another organisation, not named, still does not.
    assert not sees_red(member("org-stranger", relation), OWNER, raw)


def test_red_naming_one_user_does_not_admit_a_colleague_through_the_user_id() -> None:
    raw = red([user_identity(OTHER, "alice")])
    # bob's own identities are his organisation's and his own: neither is named.
    assert not sees_red(member(OTHER, Relation.PARTNER, user="bob"), OWNER, raw)


def test_red_is_never_seen_anonymously() -> None:
    assert not sees_red(ANONYMOUS, OWNER, red([org_identity(OTHER)]))
    assert not sees_red(ANONYMOUS, None, red())


@pytest.mark.parametrize(
    "malformed",
    [
        org_identity(OTHER),  # a bare string, not a list
        {"to": org_identity(OTHER)},
        42,
        True,
    ],
    ids=["string", "object", "number", "boolean"],
)
def test_red_with_malformed_recipients_names_nobody(malformed: Any) -> None:
    raw = red(malformed)
    assert not sees_red(member(OTHER, Relation.PARTNER), OWNER, raw)
    assert not sees_red(home_user(), OWNER, raw)
    assert sees_red(member(OWNER, Relation.NONE), OWNER, raw)


def test_red_recipients_that_are_not_strings_are_skipped() -> None:
    raw = red([7, None, {"id": org_identity(THIRD)}, org_identity(OTHER)])
    assert sees_red(member(OTHER, Relation.PARTNER), OWNER, raw)
    assert not sees_red(member(THIRD, Relation.PARTNER), OWNER, raw)


def _no_recipients() -> Sequence[str]:
    raise AssertionError("recipients were looked up although the decision did not need them")


@pytest.mark.parametrize(
    ("level", "column", "caller", "owner"),
    params([row for row in SCENARIOS if SEES[row[0]][COLUMNS.index(row[1])]]),
)
def test_admits_reads_no_recipients_when_the_table_already_admits(
    level: str, column: str, caller: Caller, owner: str | None
) -> None:
    # Reading recipients means parsing the stored object: only a refusal may need it.
    assert policy().admits(caller, owner, level, _no_recipients)


# --------------------------------------------------------------------------- granular markings


def granular(marking: str, *selectors: str) -> JSON:
    return {"marking_ref": marking, "selectors": list(selectors)}


def served(raw: bytes, caller: Caller, owner: str | None = OWNER, **options: Any) -> Any:
    """The object as ``caller`` gets it, parsed, or None when withheld."""
    obj = orjson.loads(raw)
    out = policy(**options).view(caller, owner, obj.get("object_marking_refs", []), raw)
    return None if out is None else orjson.loads(out)


def without(obj: JSON, *keys: str) -> JSON:
    return {k: v for k, v in obj.items() if k not in keys}


PARTNER = member(OTHER, Relation.PARTNER)
CLIENT = member(OTHER, Relation.CLIENT)


def test_properties_marked_stricter_than_the_caller_may_see_are_removed() -> None:
    keep = granular(TLP2_GREEN, "name", "description")
    obj = rich_indicator(
        granular_markings=[granular(TLP2_RED, "description", "labels"), keep],
    )
    out = served(encode(obj), PARTNER)
    expected = without(obj, "description", "labels", "granular_markings")
    # The GREEN entry survives, pointing only at what is still there.
    expected["granular_markings"] = [granular(TLP2_GREEN, "name")]
    assert out == expected
    assert not errors(validate(out))


def test_the_owner_gets_the_exact_stored_bytes() -> None:
    obj = rich_indicator(granular_markings=[granular(TLP2_RED, "description", "labels")])
    raw = orjson.dumps(obj, option=orjson.OPT_INDENT_2)  # odd formatting must survive too
    assert policy().view(member(OWNER, Relation.NONE), OWNER, [TLP2_GREEN], raw) is raw
    assert policy().view(home_user(), None, [TLP2_GREEN], raw) is raw


def test_granular_red_is_removed_for_the_home_organisation_on_a_foreign_object() -> None:
    obj = rich_indicator(granular_markings=[granular(TLP2_RED, "x_notes")])
    assert served(encode(obj), home_user(), OWNER) == without(obj, "x_notes", "granular_markings")


def test_granular_red_is_kept_for_a_named_recipient() -> None:
    obj = rich_indicator(granular_markings=[granular(TLP2_RED, "description")])
    obj[RECIPIENTS_PROPERTY] = [org_identity(OTHER)]
    raw = encode(obj)
    assert policy().view(PARTNER, OWNER, [TLP2_GREEN], raw) is raw
    assert served(raw, member(THIRD, Relation.PARTNER)) == without(
        obj, "description", "granular_markings"
    )


def test_granular_amber_is_kept_for_a_client_and_removed_for_a_partner() -> None:
    obj = rich_indicator(granular_markings=[granular(TLP1_AMBER, "description")])
    raw = encode(obj)
    assert served(raw, CLIENT) == obj
    assert served(raw, PARTNER) == without(obj, "description", "granular_markings")


def test_granular_unknown_marking_fails_closed() -> None:
    obj = rich_indicator(granular_markings=[granular(UNKNOWN_IDS[1], "description")])
    assert served(encode(obj), CLIENT) == without(obj, "description", "granular_markings")


@pytest.mark.parametrize(
    ("obj", "selector"),
    [
        (rich_indicator(), "pattern"),
        (rich_indicator(), "pattern_type"),
        (rich_indicator(), "id"),
        (rich_indicator(), "spec_version"),
        (sdo("identity", "Ministry of Defence", object_marking_refs=[TLP2_GREEN]), "name"),
        (
            sdo(
                "report",
                "Wiper campaign",
                published="2026-01-02T00:00:00.000Z",
                object_refs=["indicator--8e2e2d2b-17d4-4cbe-9b6e-1a7c3c1f8f11"],
                object_marking_refs=[TLP2_GREEN],
            ),
            "object_refs.[0]",
        ),
    ],
    ids=["indicator-pattern", "pattern_type", "id", "spec_version", "identity-name", "report-refs"],
)
def test_an_object_whose_required_property_is_marked_away_is_withheld(
    obj: JSON, selector: str
) -> None:
    obj = {**obj, "granular_markings": [granular(TLP2_RED, selector)]}
    raw = encode(obj)
    assert policy().view(PARTNER, OWNER, [TLP2_GREEN], raw) is None
    assert policy().view(member(OWNER, Relation.NONE), OWNER, [TLP2_GREEN], raw) is raw


def test_a_malware_family_whose_name_is_marked_away_is_withheld() -> None:
    # STIX 2.1: a malware family must have a name; serving it without one is invalid STIX.
    family = sdo("malware", "Shamoon", object_marking_refs=[TLP2_GREEN], is_family=True)
    family["granular_markings"] = [granular(TLP2_RED, "name")]
    assert policy().view(PARTNER, OWNER, [TLP2_GREEN], encode(family)) is None


def test_a_malware_instance_loses_only_its_name() -> None:
    sample = sdo("malware", "dropper.exe", object_marking_refs=[TLP2_GREEN], is_family=False)
    sample["granular_markings"] = [granular(TLP2_RED, "name")]
    out = served(encode(sample), PARTNER)
    assert out == without(sample, "name", "granular_markings")
    assert not errors(validate(out))


def test_a_selector_into_a_list_removes_the_whole_list() -> None:
    obj = rich_indicator(
        granular_markings=[granular(TLP2_RED, "labels.[0]"), granular(TLP2_GREEN, "labels.[1]")]
    )
    # Both entries pointed into the list that is gone: neither survives.
    assert served(encode(obj), PARTNER) == without(obj, "labels", "granular_markings")


def test_a_nested_selector_removes_only_the_nested_property() -> None:
    obj = rich_indicator(
        granular_markings=[
            granular(TLP2_RED, f"extensions.{EXTENSION}.rule_notes"),
            granular(TLP2_GREEN, f"extensions.{EXTENSION}.rule_source"),
        ]
    )
    out = served(encode(obj), PARTNER)
    expected = without(obj, "granular_markings")
    expected["extensions"] = {
        EXTENSION: {"extension_type": "property-extension", "rule_source": "sensor-7"}
    }
    expected["granular_markings"] = [granular(TLP2_GREEN, f"extensions.{EXTENSION}.rule_source")]
    assert out == expected


def test_a_language_granular_marking_restricts_nothing() -> None:
    obj = rich_indicator(
        granular_markings=[{"lang": "sq", "selectors": ["description", "name", "pattern"]}]
    )
    raw = encode(obj)
    assert policy().view(PARTNER, OWNER, [TLP2_GREEN], raw) is raw
    assert policy().view(member(OTHER, Relation.NONE), OWNER, [TLP2_CLEAR], raw) is raw


def test_a_language_marking_on_a_removed_property_goes_with_it() -> None:
    obj = rich_indicator(
        granular_markings=[
            granular(TLP2_RED, "description"),
            {"lang": "sq", "selectors": ["description", "name"]},
        ]
    )
    out = served(encode(obj), PARTNER)
    assert out == {
        **without(obj, "description", "granular_markings"),
        "granular_markings": [{"lang": "sq", "selectors": ["name"]}],
    }


def test_a_neutral_granular_marking_restricts_nothing() -> None:
    # A copyright statement on one property says nothing about who may read it.
    copyright_ = STATEMENT_IDS[0]
    obj = rich_indicator((TLP2_CLEAR,), granular_markings=[granular(copyright_, "description")])
    raw = encode(obj)
    lenient = policy(neutral=[copyright_])
    assert lenient.view(member(OTHER, Relation.NONE), OWNER, [TLP2_CLEAR], raw) is raw
    assert lenient.view(ANONYMOUS, OWNER, [TLP2_CLEAR], raw) is raw


def test_granular_markings_are_enforced_whatever_the_key_spelling() -> None:
    # JSON lets a producer escape any character of a key; the stored bytes are served as
    # received, so the redaction must not depend on how the key happens to be spelt.
    obj = rich_indicator(granular_markings=[granular(TLP2_RED, "description")])
    raw = encode(obj).replace(b'"granular_markings"', b'"granular\\u005fmarkings"')
    assert orjson.loads(raw) == obj  # the same object to every JSON reader
    assert served(raw, PARTNER) == without(obj, "description", "granular_markings")
