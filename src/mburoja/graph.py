"""The neighbourhood of an object, up to two hops, as one caller may see it.

What the page ``/graph/<id>`` draws and ``GET /api/graph/{id}`` returns: the objects an
object references and the objects that reference it (``*_ref``/``*_refs``: a sighting's
``sighting_of_ref``, a report's ``object_refs``, an article's ``url_ref``…), then theirs;
``intrusion-set ← campaign → malware ← indicator ← sighting``, or a narrative's finding and
the articles and accounts it names.

Rules, each for a reason:

- **Relationships are edges.** A ``relationship`` object joins its ``source_ref`` and
  ``target_ref`` with an edge labelled by its ``relationship_type``; it is never a node
  (unless it is the object asked for), so ``A —uses→ B`` is one hop, as an analyst reads it.
- **Only current versions**, and every object through ``Policy.view`` as the caller. An
  object the caller may not see is left out with every edge through it, and is neither
  counted nor named: a relationship the caller may not see gives no edge even between two
  visible objects, and references are read from the *view* the caller gets, so a reference
  removed by a granular marking gives no edge either.
- **A cap** (``NODE_CAP``): a hub (a malware family ten thousand indicators point at) stops
  the walk once the cap is reached and one more visible object was found; ``capped`` says
  so. Only objects the caller may see count towards it, so ``capped`` tells nothing of the
  rest. The store is read page by page (``SqlStore.referrers``), so stopping early is cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

import msgspec
import orjson

from mburoja.errors import InputFormatError, NotFound
from mburoja.policy import Caller, Policy
from mburoja.stix.identifiers import is_identifier
from mburoja.store.graph import MAX_TARGETS
from mburoja.store.sql import SqlStore

MAX_HOPS: Final = 2
NODE_CAP: Final = 200
_PAGE: Final = 1000  # references per store read
_LABEL: Final = 200  # characters of a node's label
_RELATIONSHIP: Final = "relationship"
_ENDS: Final = ("source_ref", "target_ref")
_NOT_REFS: Final = frozenset({"object_marking_refs", "created_by_ref"})
#: where a node's label comes from, in order (articles have a title, accounts a user id)
_LABEL_KEYS: Final = (
    "name",
    "value",
    "title",
    "display_name",
    "account_login",
    "user_id",
    "pattern",
    "abstract",
    "path",
)


class Node(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    #: the object's name, value, title… as the caller sees it; its type when it has none
    label: str
    #: the TLP level (``none`` when unmarked)
    tlp: str
    #: how many hops from the root (0: the root)
    hop: int


class Edge(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    target: str
    #: a relationship's ``relationship_type``, or the reference property (``sighting_of_ref``)
    label: str


class Neighbourhood(msgspec.Struct, frozen=True, kw_only=True):
    root: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    #: the walk stopped at ``NODE_CAP`` nodes with more to show
    capped: bool


def parse_hops(text: str | None) -> int:
    """The ``hops`` query parameter: ``1`` or ``2`` (absent: 2)."""
    if text is None:
        return MAX_HOPS
    if text not in {str(n) for n in range(1, MAX_HOPS + 1)}:
        raise InputFormatError(f"hops must be 1 or {MAX_HOPS}, got {text[:20]!r}")
    return int(text)


def neighbourhood(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    root: str,
    hops: int = MAX_HOPS,
    cap: int = NODE_CAP,
) -> Neighbourhood:
    """The objects within ``hops`` of ``root`` that ``caller`` may see, and the edges between
    them. ``InputFormatError`` for a malformed id or hop count; ``NotFound`` when ``root`` is
    not stored or the caller may not see it (the same answer, so that it tells nothing)."""
    if not is_identifier(root):
        raise InputFormatError(f"{root[:100]!r} is not a STIX identifier (type--UUID)")
    if not 1 <= hops <= MAX_HOPS:
        raise InputFormatError(f"hops must be between 1 and {MAX_HOPS}, got {hops}")
    return _Walk(store, policy, caller, cap).run(root, hops)


class _Seen(msgspec.Struct, frozen=True):
    """An object the caller may see: its type, TLP level and the view it gets, parsed."""

    type: str
    tlp: str
    body: dict[str, Any]


class _Walk:
    """One breadth-first walk; remembers what the policy said of each id it met."""

    def __init__(self, store: SqlStore, policy: Policy, caller: Caller, cap: int) -> None:
        self.store, self.policy, self.caller, self.cap = store, policy, caller, cap
        self.seen: dict[str, _Seen | None] = {}
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}
        self.capped = False

    def run(self, root: str, hops: int) -> Neighbourhood:
        self._load([root])
        found = self.seen[root]
        if found is None:
            raise NotFound(f"no object {root}")
        self.nodes[root] = _node(root, found, 0)
        frontier = [root]
        for hop in range(1, hops + 1):
            before = set(self.nodes)
            self._step(frontier, hop)
            frontier = [n for n in self.nodes if n not in before]
            if self.capped or not frontier:
                break
        edges = tuple(
            e for e in self.edges.values() if e.source in self.nodes and e.target in self.nodes
        )
        return Neighbourhood(
            root=root, nodes=tuple(self.nodes.values()), edges=edges, capped=self.capped
        )

    # -- what the caller may see ------------------------------------------------------

    def _load(self, ids: Iterable[str]) -> None:
        wanted = [i for i in dict.fromkeys(ids) if i not in self.seen]
        if not wanted:
            return
        current = self.store.current_many(wanted)
        for oid in wanted:
            v = current.get(oid)
            self.seen[oid] = (
                None if v is None else self._see(v.type, v.tlp, v.owner, v.markings, v.raw)
            )

    def _see(
        self,
        otype: str,
        tlp: str | None,
        owner: str | None,
        markings: Sequence[str],
        raw: bytes,
    ) -> _Seen | None:
        view = self.policy.view(self.caller, owner, markings, raw)
        if view is None:
            return None
        body = orjson.loads(view)
        return _Seen(otype, tlp or "none", body) if isinstance(body, dict) else None

    # -- one hop ----------------------------------------------------------------------

    def _step(self, frontier: list[str], hop: int) -> None:
        """Add the neighbours of ``frontier`` at ``hop``: first what it references, then
        what references it, page by page until the cap is passed."""
        outgoing: list[tuple[str, Edge]] = []
        for oid in frontier:
            seen = self.seen[oid]
            assert seen is not None  # frontier nodes are visible
            for prop, target in _refs(seen.body):
                if target != oid and not target.startswith(_RELATIONSHIP + "--"):
                    outgoing.append((target, Edge(source=oid, target=target, label=prop)))
        self._load(t for t, _ in outgoing)
        for target, edge in outgoing:
            if self._add(target, edge, hop):
                return
        for start in range(0, len(frontier), MAX_TARGETS):
            chunk = frontier[start : start + MAX_TARGETS]
            after: int | None = 0
            while after is not None:
                page, after = self.store.referrers(chunk, after=after, limit=_PAGE)
                if self._referrers(page, hop):
                    return

    def _referrers(self, page: Iterable[Any], hop: int) -> bool:
        """Add the neighbours that one page of referrers gives; True once capped."""
        found: list[tuple[str, Edge]] = []
        for r in page:
            if r.id not in self.seen:
                self.seen[r.id] = self._see(r.type, r.tlp, r.owner, r.markings, r.raw)
            seen = self.seen[r.id]
            if seen is None or (r.prop, r.target) not in set(_refs(seen.body)):
                continue  # withheld, or the reference was redacted from the caller's view
            if seen.type != _RELATIONSHIP:
                found.append((r.id, Edge(source=r.id, target=r.target, label=r.prop)))
            elif r.prop in _ENDS:
                source, target = seen.body.get("source_ref"), seen.body.get("target_ref")
                kind = seen.body.get("relationship_type")
                if not (isinstance(source, str) and isinstance(target, str)) or source == target:
                    continue
                other = target if r.prop == "source_ref" else source
                label = kind if isinstance(kind, str) else _RELATIONSHIP
                found.append((other, Edge(source=source, target=target, label=label)))
        self._load(oid for oid, _ in found)
        return any(self._add(oid, edge, hop) for oid, edge in found)

    def _add(self, oid: str, edge: Edge, hop: int) -> bool:
        """Add ``oid`` (if the caller may see it) and ``edge``; True once capped."""
        seen = self.seen.get(oid)
        if seen is None or seen.type == _RELATIONSHIP:
            return False
        if oid not in self.nodes:
            if len(self.nodes) >= self.cap:
                self.capped = True
                return True
            self.nodes[oid] = _node(oid, seen, hop)
        self.edges.setdefault((edge.source, edge.target, edge.label), edge)
        return False


def _node(oid: str, seen: _Seen, hop: int) -> Node:
    return Node(id=oid, type=seen.type, label=label(seen.type, seen.body), tlp=seen.tlp, hop=hop)


def label(otype: str, body: dict[str, Any]) -> str:
    """A short text for an object: its name, value, title…, else its type."""
    for key in _LABEL_KEYS:
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return _cut(value)
    number = body.get("number")
    if isinstance(number, int):
        return f"AS{number}"
    hashes = body.get("hashes")
    if isinstance(hashes, dict):
        for algo, value in hashes.items():
            if isinstance(value, str):
                return _cut(f"{algo} {value}")
    count = body.get("count")
    if otype == "sighting" and isinstance(count, int):
        return f"seen {count} times"
    return otype


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LABEL else text[: _LABEL - 1] + "…"


def _refs(body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The top-level references of an object, as the store indexes them (``ingest.prepare``):
    ``*_ref`` and ``*_refs``, except markings and the creator."""
    for key, value in body.items():
        if key in _NOT_REFS:
            continue
        if key.endswith("_ref") and isinstance(value, str):
            yield key, value
        elif key.endswith("_refs") and isinstance(value, list):
            yield from ((key, v) for v in value if isinstance(v, str))
