"""Properties of the access policy, checked with Hypothesis over random markings, owners,
recipients and callers.

* The issue's property: making a marking stricter never lets a caller see more, whether the
  object's markings or a property's granular marking is made stricter.
* The store's prefilter admits a superset of what the policy shows.
* Redaction never serves an object that is not valid STIX.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mburoja.policy import (
    ANONYMOUS,
    RECIPIENTS_PROPERTY,
    Caller,
    Policy,
    Prefilter,
    Relation,
    needs_inspection,
)
from mburoja.stix.markings import tlp_level
from mburoja.stix.validate import errors, validate
from tests.policy.helpers import (
    EXTENSION,
    FOREIGN_RELATIONS,
    HOME,
    JSON,
    LEVEL_OF_ID,
    LEVELS,
    OTHER,
    OWNER,
    STATEMENT_IDS,
    THIRD,
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
    paths,
    rank,
    rich_indicator,
    user_identity,
)
from tests.strategies import valid_objects

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)

TLP_IDS = sorted(LEVEL_OF_ID)
ALL_IDS = [*TLP_IDS, *UNKNOWN_IDS, *STATEMENT_IDS]
ORGS = (HOME, OWNER, OTHER, THIRD)
IDENTITIES = sorted({f(org) for org in ORGS for f in (org_identity, user_identity)})


class Config(NamedTuple):
    """A policy's settings, kept apart so a test can change one of them."""

    default: str
    neutral: frozenset[str]

    def policy(self) -> Policy:
        return Policy(HOME, default_level=self.default, neutral=self.neutral)


class Case(NamedTuple):
    """One object as the store holds it (owner, markings, raw) and one caller."""

    config: Config
    caller: Caller
    owner: str | None
    markings: tuple[str, ...]
    recipients: Any  # absent (None), a list, or something malformed

    def raw(self) -> bytes:
        obj = marked(self.markings)
        if self.recipients is not None:
            obj[RECIPIENTS_PROPERTY] = self.recipients
        return encode(obj)

    def visible(self) -> bool:
        return self.config.policy().visible(self.caller, self.owner, self.markings, self.raw())


configs = st.builds(Config, st.sampled_from(LEVELS), st.frozensets(st.sampled_from(STATEMENT_IDS)))
callers = st.one_of(
    st.just(ANONYMOUS),
    st.just(home_user()),
    st.builds(member, st.sampled_from([OWNER, OTHER, THIRD]), st.sampled_from(FOREIGN_RELATIONS)),
)
owners = st.sampled_from([None, OWNER, OTHER])
markings = st.lists(st.sampled_from(ALL_IDS), max_size=4).map(tuple)
recipients = st.one_of(
    st.none(),
    st.lists(st.sampled_from(IDENTITIES), max_size=3),
    st.sampled_from(IDENTITIES),  # malformed: a bare string
    st.dictionaries(st.just("to"), st.sampled_from(IDENTITIES), max_size=1),
)
cases = st.builds(Case, configs, callers, owners, markings, recipients)

#: A partner named on an object another organisation owns.
NAMED_PARTNER = Case(
    Config("amber+strict", frozenset()),
    member(OTHER, Relation.PARTNER),
    OWNER,
    (TLP2_AMBER_STRICT,),
    [org_identity(OTHER)],
)


# --------------------------------------------------------------------------- prefilter


def passes(pre: Prefilter, owner: str | None, tlp: str | None, named: bool) -> bool:
    """The prefilter evaluated as the store's SQL does, on the columns the store keeps:
    ``owner`` (NULL for the home organisation), ``tlp`` (the strictest TLP, or NULL) and
    ``named`` (the object's bytes mention the recipients property)."""
    if pre.everything:
        return True
    if pre.named and named:
        return True
    if pre.owner is not None and owner == pre.owner:  # SQL: owner = NULL matches nothing
        return True
    if tlp is not None and tlp in pre.levels:
        return True
    return tlp is None and pre.untagged


@PROPERTY_SETTINGS
@given(case=cases)
@example(case=NAMED_PARTNER._replace(config=Config("red", frozenset()), markings=()))
@example(case=NAMED_PARTNER._replace(markings=(TLP2_RED, UNKNOWN_IDS[0])))
def test_prefilter_admits_every_row_the_policy_shows(case: Case) -> None:
    pre = case.config.policy().prefilter(case.caller)
    if case.visible():
        named = RECIPIENTS_PROPERTY.encode() in case.raw()
        assert passes(pre, case.owner, tlp_level(case.markings), named), pre


# --------------------------------------------------------------------------- object markings


def strictest_tlp(config: Config, refs: tuple[str, ...]) -> int:
    """The rank below which an added TLP marking would loosen ``refs``: the strictest TLP
    among them, or the default when there is none (an untagged object is at the default)."""
    ranks = [rank(LEVEL_OF_ID[m]) for m in refs if m in LEVEL_OF_ID]
    return max(ranks) if ranks else rank(config.default)


@st.composite
def stricter(draw: st.DrawFn, case: Case) -> Case:
    """``case`` with its markings made stricter in one of the ways the issue names."""
    floor = strictest_tlp(case.config, case.markings)
    tlp_at = [i for i, m in enumerate(case.markings) if m in LEVEL_OF_ID]
    ways = ["add-tlp", "add-unknown"]
    if tlp_at:
        ways.append("replace-tlp")
    if case.config.neutral:
        ways.append("not-neutral")
    way = draw(st.sampled_from(ways))
    if way == "add-tlp":
        added = draw(st.sampled_from([m for m in TLP_IDS if rank(LEVEL_OF_ID[m]) >= floor]))
        at = draw(st.integers(0, len(case.markings)))
        return case._replace(markings=(*case.markings[:at], added, *case.markings[at:]))
    if way == "add-unknown":
        return case._replace(markings=(*case.markings, draw(st.sampled_from(UNKNOWN_IDS))))
    if way == "replace-tlp":
        at = draw(st.sampled_from(tlp_at))
        was = rank(LEVEL_OF_ID[case.markings[at]])
        now = draw(st.sampled_from([m for m in TLP_IDS if rank(LEVEL_OF_ID[m]) >= was]))
        return case._replace(markings=(*case.markings[:at], now, *case.markings[at + 1 :]))
    dropped = draw(st.sampled_from(sorted(case.config.neutral)))
    return case._replace(config=case.config._replace(neutral=case.config.neutral - {dropped}))


before_after = cases.flatmap(lambda case: st.tuples(st.just(case), stricter(case)))

#: AMBER+STRICT to RED for a partner the object names as a recipient.
NAMED_TO_RED = (NAMED_PARTNER, NAMED_PARTNER._replace(markings=(TLP2_RED,)))


@PROPERTY_SETTINGS
@given(pair=before_after)
def test_level_is_monotone(pair: tuple[Case, Case]) -> None:
    before, after = pair
    was = before.config.policy().level(before.markings)
    now = after.config.policy().level(after.markings)
    assert rank(now) >= rank(was), (was, now)


@PROPERTY_SETTINGS
@given(pair=before_after)
@example(pair=NAMED_TO_RED)
def test_a_stricter_marking_never_lets_a_caller_see_more(pair: tuple[Case, Case]) -> None:
    before, after = pair
    if after.visible():
        assert before.visible(), (before.markings, after.markings)


def test_a_named_recipient_admitted_at_red_is_admitted_at_every_looser_level() -> None:
    # The plain case behind the property above: naming a partner admits it at RED, so the
    # same object at AMBER+STRICT (looser) must not hide from it.
    at_red, at_strict = NAMED_TO_RED[1], NAMED_TO_RED[0]
    assert at_red.visible()
    assert at_strict.visible()


# --------------------------------------------------------------------------- granular markings

SELECTORS = (
    "description",
    "labels",
    "labels.[0]",
    "labels.[1]",
    "name",
    "x_notes",
    f"extensions.{EXTENSION}",
    f"extensions.{EXTENSION}.rule_notes",
    f"extensions.{EXTENSION}.rule_source",
    "pattern",
)


class Entry(NamedTuple):
    marking: str
    selectors: tuple[str, ...]

    def as_json(self) -> JSON:
        return {"marking_ref": self.marking, "selectors": list(self.selectors)}


entries = st.builds(
    Entry,
    st.sampled_from(ALL_IDS),
    st.lists(st.sampled_from(SELECTORS), min_size=1, max_size=3, unique=True).map(tuple),
)


class GranularCase(NamedTuple):
    case: Case
    entries: tuple[Entry, ...]

    def seen(self) -> set[tuple[str, ...]]:
        obj = rich_indicator((TLP2_CLEAR,), granular_markings=[e.as_json() for e in self.entries])
        if self.case.recipients is not None:
            obj[RECIPIENTS_PROPERTY] = self.case.recipients
        c = self.case
        out = c.config.policy().view(c.caller, c.owner, [TLP2_CLEAR], encode(obj))
        return paths(None if out is None else orjson.loads(out))


granular_cases = st.builds(
    GranularCase, cases, st.lists(entries, min_size=1, max_size=3).map(tuple)
)


@st.composite
def stricter_granular(draw: st.DrawFn, g: GranularCase) -> GranularCase:
    """``g`` with one property marked more strictly: a granular marking replaced by a
    stricter TLP one, a new granular marking added, or a neutral marking no longer neutral."""
    config = g.case.config
    replaceable = [
        i for i, e in enumerate(g.entries) if e.marking in LEVEL_OF_ID or e.marking in UNKNOWN_IDS
    ]
    ways = ["add"]
    if replaceable:
        ways.append("replace")
    if config.neutral:
        ways.append("not-neutral")
    way = draw(st.sampled_from(ways))
    if way == "add":
        return g._replace(entries=(*g.entries, draw(entries)))
    if way == "replace":
        at = draw(st.sampled_from(replaceable))
        old = g.entries[at].marking
        was = rank(LEVEL_OF_ID[old]) if old in LEVEL_OF_ID else rank(config.default)
        now = draw(st.sampled_from([m for m in TLP_IDS if rank(LEVEL_OF_ID[m]) >= was]))
        changed = g.entries[at]._replace(marking=now)
        return g._replace(entries=(*g.entries[:at], changed, *g.entries[at + 1 :]))
    dropped = draw(st.sampled_from(sorted(config.neutral)))
    less_neutral = config._replace(neutral=config.neutral - {dropped})
    return g._replace(case=g.case._replace(config=less_neutral))


granular_pairs = granular_cases.flatmap(lambda g: st.tuples(st.just(g), stricter_granular(g)))


@PROPERTY_SETTINGS
@given(pair=granular_pairs)
@example(
    pair=(
        GranularCase(NAMED_PARTNER, (Entry(TLP2_AMBER_STRICT, ("description",)),)),
        GranularCase(NAMED_PARTNER, (Entry(TLP2_RED, ("description",)),)),
    )
)
def test_marking_a_property_stricter_never_yields_more_properties(
    pair: tuple[GranularCase, GranularCase],
) -> None:
    before, after = pair
    gained = after.seen() - before.seen()
    assert not gained, gained


# --------------------------------------------------------------------------- valid output

#: Properties whose removal would change what the object is, not what it says.
_NOT_SELECTED = frozenset({"id", "type", "spec_version", "object_marking_refs"})


@st.composite
def marked_properties(draw: st.DrawFn) -> tuple[JSON, str]:
    """A valid CLEAR object with one of its properties marked RED."""
    obj = draw(valid_objects())
    obj["object_marking_refs"] = [TLP2_CLEAR]
    selector = draw(st.sampled_from(sorted(obj.keys() - _NOT_SELECTED)))
    obj["granular_markings"] = [{"marking_ref": TLP2_RED, "selectors": [selector]}]
    return obj, selector


@PROPERTY_SETTINGS
@given(drawn=marked_properties())
def test_redaction_serves_valid_stix_or_nothing(drawn: tuple[JSON, str]) -> None:
    obj, selector = drawn
    assert not errors(validate(obj)), "the strategy drew an invalid object"
    out = Policy(HOME).view(member(OTHER, Relation.PARTNER), OWNER, [TLP2_CLEAR], encode(obj))
    if out is not None:
        served = orjson.loads(out)
        assert selector not in served
        assert not errors(validate(served)), (selector, errors(validate(served)))


@PROPERTY_SETTINGS
@given(case=cases, entries=st.lists(entries, max_size=3))
def test_a_view_is_the_object_less_some_properties(case: Case, entries: list[Entry]) -> None:
    obj = rich_indicator((TLP2_GREEN,), granular_markings=[e.as_json() for e in entries])
    out = case.config.policy().view(case.caller, case.owner, [TLP2_GREEN], encode(obj))
    if out is None:
        return
    served = orjson.loads(out)
    assert paths(served) <= paths(obj)
    for key, value in served.items():
        if key not in ("granular_markings", "extensions"):
            assert value == obj[key], key


# --------------------------------------------------------------------------- pages


@PROPERTY_SETTINGS
@given(
    page=st.lists(
        st.tuples(cases, st.sampled_from([None, TLP2_RED, TLP2_GREEN, UNKNOWN_IDS[0]])),
        min_size=1,
        max_size=6,
    )
)
def test_a_page_decides_each_object_as_view_does(page: list[tuple[Case, str | None]]) -> None:
    """``views`` (a page, with the store's ``inspect`` flag) agrees with ``view`` (one object)
    for every row, whether or not the object carries a granular marking."""
    first = page[0][0]
    policy, caller = first.config.policy(), first.caller
    rows = []
    for case, granular in page:
        obj = orjson.loads(case.raw())
        obj["description"] = "a property a granular marking may take away"
        if granular:
            obj["granular_markings"] = [{"marking_ref": granular, "selectors": ["description"]}]
        raw = orjson.dumps(obj)
        rows.append((case.owner, case.markings, raw, needs_inspection(raw)))
    expected = [policy.view(caller, owner, marks, raw) for owner, marks, raw, _ in rows]
    assert policy.views(caller, rows) == expected
