"""TLP 2.0 and TLP 1.0, enforced: who may see an object, and which of its properties.

The model
=========

Every object has an **owner**: the organisation that sent it to us (NULL in the store means
the home organisation, this instance's own). The home organisation is the custodian of
everything in the store: whoever owns an object, the home organisation's users are its
recipients, and it shares onwards only as the marking allows.

A caller is an organisation (through one of its users or service accounts) or anonymous.
Its **relation** to an object is:

* ``self``: the caller's organisation owns the object, or is the home organisation;
* otherwise the relation its organisation has to the home organisation: ``client`` (a
  constituent or client in the TLP sense), ``partner``, ``community`` or ``none``;
* ``anonymous``: no credentials.

What each level lets through (FIRST TLP 2.0; TLP 1.0 WHITE is CLEAR):

==============  ==============================================================
CLEAR           anyone, anonymous included
GREEN           self, client, partner, community; never ``none`` or anonymous
AMBER           self and clients
AMBER+STRICT    self only
RED             the owning organisation's users only: not even the home
                organisation unless it owns the object
==============  ==============================================================

Explicit sharing: an object may name identities (organisations' or users') in
``x_mburoja_recipients``; the owner shared it with them, so they see it whatever its level.
This is how a RED object names its recipients. (It applies to every level so that making a
marking stricter never lets anyone see more.)

Several markings: the strictest wins. A marking that is neither TLP nor known to be harmless
(``neutral``, e.g. a copyright statement) counts as the default level, and so does an object
with no TLP at all: the default is AMBER+STRICT, so the unknown fails closed.

Granular markings: a property whose granular marking the caller may not see is removed from
the object served (a selector into a list removes the whole list: over-redacting never
leaks); if a required property would have to go, the object is withheld.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any, Final

import msgspec
import orjson

from mburoja.errors import ConfigError
from mburoja.stix import spec
from mburoja.stix.markings import TLP_LEVEL_BY_ID, TLP_ORDER
from mburoja.stix.validate import errors, validate

RECIPIENTS_PROPERTY: Final = "x_mburoja_recipients"
ROLES: Final = ("admin", "analyst", "reader", "sync")
#: How another organisation stands to ours; ``home`` is this instance's own organisation.
ORG_RELATIONS: Final = ("home", "client", "partner", "community", "none")

_GRANULAR: Final = b"granular_markings"
_RECIPIENTS: Final = RECIPIENTS_PROPERTY.encode()
#: A JSON escape can spell a key without its plain bytes; objects with one are parsed.
_ESCAPE: Final = b"\\u"
_ALWAYS_REQUIRED: Final = frozenset({"id", "type", "spec_version"})


class Relation(StrEnum):
    SELF = "self"
    CLIENT = "client"
    PARTNER = "partner"
    COMMUNITY = "community"
    NONE = "none"
    ANONYMOUS = "anonymous"


#: Which relations each level admits (RED is narrowed further to owner and recipients).
_ADMITS: Final[dict[str, frozenset[Relation]]] = {
    "clear": frozenset(Relation),
    "green": frozenset({Relation.SELF, Relation.CLIENT, Relation.PARTNER, Relation.COMMUNITY}),
    "amber": frozenset({Relation.SELF, Relation.CLIENT}),
    "amber+strict": frozenset({Relation.SELF}),
    "red": frozenset({Relation.SELF}),
}


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Who is asking: an organisation through a user or service account, or nobody.

    ``relation`` is the caller organisation's relation to the home organisation (``self``
    for the home organisation's own users); ``identities`` are the STIX identity ids that
    stand for the caller (its organisation's and its user's), for RED recipient lists.
    """

    org_id: str | None = None
    relation: Relation = Relation.ANONYMOUS
    identities: frozenset[str] = frozenset()
    user_id: str | None = None
    user_name: str | None = None
    role: str | None = None
    read_only: bool = True

    @property
    def anonymous(self) -> bool:
        return self.org_id is None

    @property
    def can_write(self) -> bool:
        """Whether the account may write at all (collections narrow this further)."""
        return (
            not self.anonymous and not self.read_only and self.role in ("admin", "analyst", "sync")
        )


ANONYMOUS: Final = Caller()


class Prefilter(msgspec.Struct, frozen=True, kw_only=True):
    """How a store query may narrow a read before the policy checks each row.

    It admits a superset of what the caller may see: rows the caller's organisation owns
    (``owner``), rows whose stored TLP column is in ``levels``, rows with no TLP when
    ``untagged``, and rows that name recipients when ``named``.
    ``everything`` means no narrowing at all.
    """

    everything: bool = False
    owner: str | None = None
    levels: tuple[str, ...] = ()
    untagged: bool = False
    #: rows that name recipients (``x_mburoja_recipients``), checked row by row
    named: bool = False


class Policy:
    """Decides visibility. Pure: no database; callers hand it what the store holds."""

    def __init__(
        self,
        home_org: str,
        *,
        default_level: str = "amber+strict",
        neutral: Iterable[str] = (),
    ) -> None:
        if default_level not in TLP_ORDER:
            raise ConfigError(
                f"policy.default_tlp {default_level!r} is not a TLP level; "
                f"use one of {', '.join(TLP_ORDER)}"
            )
        self.home_org = home_org
        self.default_level = default_level
        self.neutral = frozenset(neutral)
        self._rank = {level: i for i, level in enumerate(TLP_ORDER)}
        # Few distinct marking sets exist; a page of a thousand objects shares a handful.
        self._levels: dict[tuple[str, ...], str] = {}

    # -- levels ------------------------------------------------------------------------

    def level(self, markings: Iterable[str]) -> str:
        """The effective level of a set of object markings: the strictest of them, where
        unknown markings and the absence of any TLP marking count as the default."""
        key = markings if isinstance(markings, tuple) else tuple(markings)
        found = self._levels.get(key)
        if found is None:
            found = self._level(key)
            if len(self._levels) < 10_000:
                self._levels[key] = found
        return found

    def _level(self, markings: tuple[str, ...]) -> str:
        best = -1
        saw_tlp = False
        for ref in markings:
            level = TLP_LEVEL_BY_ID.get(ref)
            if level is None:
                if ref in self.neutral:
                    continue
                level = self.default_level
            else:
                saw_tlp = True
            best = max(best, self._rank[level])
        if not saw_tlp:
            best = max(best, self._rank[self.default_level])
        return TLP_ORDER[best]

    def relation(self, caller: Caller, owner: str | None) -> Relation:
        """The caller's relation to an object owned by ``owner`` (None: the home org)."""
        if caller.org_id is None:
            return Relation.ANONYMOUS
        if caller.org_id == (owner or self.home_org) or caller.org_id == self.home_org:
            return Relation.SELF
        return caller.relation

    def admits(
        self,
        caller: Caller,
        owner: str | None,
        level: str,
        recipients: Callable[[], Sequence[str]] = tuple,
    ) -> bool:
        """Whether ``caller`` may see something at ``level`` owned by ``owner``.
        ``recipients`` (the identities the object names) is only called when the level
        alone does not admit the caller."""
        if level == "clear":
            return True
        if caller.org_id is None:
            return False
        if level == "red":
            if caller.org_id == (owner or self.home_org):
                return True
        elif self.relation(caller, owner) in _ADMITS[level]:
            return True
        return not caller.identities.isdisjoint(recipients())

    # -- objects -----------------------------------------------------------------------

    def visible(
        self, caller: Caller, owner: str | None, markings: Sequence[str], raw: bytes
    ) -> bool:
        """Whether ``caller`` may see the object at all (granular markings aside)."""
        return self.admits(caller, owner, self.level(markings), lambda: _recipients(raw))

    def view(
        self, caller: Caller, owner: str | None, markings: Sequence[str], raw: bytes
    ) -> bytes | None:
        """The object as ``caller`` may see it: ``raw`` itself (the common case, not
        re-serialised), a copy with properties removed, or None when it is withheld."""
        if not self.visible(caller, owner, markings, raw):
            return None
        if _GRANULAR not in raw and _ESCAPE not in raw:
            return raw
        return self._redact(caller, owner, raw)

    def views(
        self,
        caller: Caller,
        rows: Iterable[tuple[str | None, tuple[str, ...], bytes, bool]],
    ) -> list[bytes | None]:
        """``view`` for many (owner, markings, raw, inspect) rows at once, as a page needs.

        The decision for each (owner, markings) pair is made once: it depends on the object
        itself only if it names recipients or has granular markings, and ``inspect`` (what
        ``needs_inspection`` said of the bytes when they were stored) tells which objects
        might; the others are never scanned."""
        decided: dict[tuple[str | None, tuple[str, ...]], bool] = {}
        out: list[bytes | None] = []
        for owner, markings, raw, inspect in rows:
            key = (owner, markings)
            verdict = decided.get(key)
            if verdict is None:
                verdict = decided[key] = self.admits(caller, owner, self.level(markings))
            if not inspect:
                out.append(raw if verdict else None)
            elif not (verdict or self.visible(caller, owner, markings, raw)):
                out.append(None)
            else:
                out.append(self._redact(caller, owner, raw))
        return out

    def _redact(self, caller: Caller, owner: str | None, raw: bytes) -> bytes | None:
        obj = orjson.loads(raw)
        granular = obj.get("granular_markings")
        if not isinstance(granular, list):
            return raw
        recipients = obj.get(RECIPIENTS_PROPERTY)
        named: tuple[str, ...] = tuple(recipients) if isinstance(recipients, list) else ()
        removed: list[tuple[str, ...]] = []
        for entry in granular:
            if not isinstance(entry, dict) or not isinstance(entry.get("marking_ref"), str):
                continue  # a language marking restricts nothing
            if entry["marking_ref"] in self.neutral:
                continue
            level = self.level((entry["marking_ref"],))
            if self.admits(caller, owner, level, lambda: named):
                continue
            for selector in entry.get("selectors") or ():
                if isinstance(selector, str):
                    removed.append(_removal_path(selector))
        if not removed:
            return raw
        type_spec = spec.TYPES.get(str(obj.get("type")))
        required = _ALWAYS_REQUIRED | (type_spec.required if type_spec else frozenset())
        if any(path[0] in required for path in removed):
            return None
        for path in removed:
            _delete(obj, path)
        obj["granular_markings"] = _surviving(granular, removed)
        if not obj["granular_markings"]:
            del obj["granular_markings"]
        if errors(validate(obj)):
            return None  # e.g. a malware family without its name: withheld, never invalid
        return orjson.dumps(obj)

    # -- narrowing queries ---------------------------------------------------------------

    def prefilter(self, caller: Caller) -> Prefilter:
        """A superset of the rows ``caller`` may see, in terms a SQL query can apply."""
        if caller.org_id == self.home_org:
            return Prefilter(everything=True)
        relation = Relation.ANONYMOUS if caller.org_id is None else caller.relation
        levels = [level for level in TLP_ORDER if relation in _ADMITS[level] and level != "red"]
        # An untagged row, or one with unknown markings, is at least the default level.
        return Prefilter(
            owner=caller.org_id,
            levels=tuple(levels),
            untagged=self.default_level != "red" and relation in _ADMITS[self.default_level],
            named=caller.org_id is not None,
        )


def needs_inspection(raw: bytes) -> bool:
    """Whether an object's bytes need a closer look than its owner and markings: they may
    name recipients or carry granular markings (or a JSON escape that could spell either).
    The store computes it once, when it writes the object."""
    return _GRANULAR in raw or _RECIPIENTS in raw or _ESCAPE in raw


def _recipients(raw: bytes) -> tuple[str, ...]:
    """The identities a RED object names as its recipients."""
    if _RECIPIENTS not in raw and _ESCAPE not in raw:
        return ()
    try:
        value = orjson.loads(raw).get(RECIPIENTS_PROPERTY)
    except orjson.JSONDecodeError:
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _removal_path(selector: str) -> tuple[str, ...]:
    """The property path a selector's removal takes out: cut at the first list index, so a
    selector into a list removes the whole list (indices would shift otherwise)."""
    path: list[str] = []
    for step in selector.split("."):
        if step.startswith("["):
            break
        path.append(step)
    return tuple(path) or (selector,)


def _delete(obj: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = obj
    for step in path[:-1]:
        node = node.get(step) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _surviving(granular: list[Any], removed: list[tuple[str, ...]]) -> list[Any]:
    """The granular markings still pointing at something after the removals."""

    def gone(selector: str) -> bool:
        steps = tuple(selector.split("."))
        return any(steps[: len(path)] == path for path in removed)

    kept = []
    for entry in granular:
        if not isinstance(entry, dict):
            continue
        selectors = [s for s in entry.get("selectors") or () if isinstance(s, str) and not gone(s)]
        if selectors:
            kept.append({**entry, "selectors": selectors})
    return kept
