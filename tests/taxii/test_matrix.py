"""The TLP access matrix, over HTTP against the real server: every TLP 2.0 and TLP 1.0 marking,
times every kind of caller, times every read path, each cell asserted on its own.

The expected table below is written out from the rules (FIRST TLP 2.0, with TLP 1.0 WHITE as
CLEAR), not computed from the policy code, so that a wrong rule in the code fails a cell:

* CLEAR / WHITE: anyone, anonymous included;
* GREEN: our own organisation, clients, partners, community; never ``none`` or anonymous;
* AMBER: our own organisation and clients;
* AMBER+STRICT: our own organisation only;
* RED: only the owning organisation's users (here the home organisation owns every object).

The matrix world is built once per store backend (SQLite and PostgreSQL): one indicator per
marking, owned by the home organisation, in the collection ``shared``. The tests after the
matrix (several markings, unknown markings, RED recipients, granular markings) each build
their own world with the conftest ``store`` fixture.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from mburoja.config import Settings, load_settings
from mburoja.store.sql import SqlStore, open_store
from tests.conftest import fresh_pg_schema
from tests.factories import indicator
from tests.policy.helpers import (
    TLP1_AMBER,
    TLP1_GREEN,
    TLP1_RED,
    TLP1_WHITE,
    TLP2_AMBER,
    TLP2_AMBER_STRICT,
    TLP2_CLEAR,
    TLP2_GREEN,
    TLP2_RED,
)
from tests.world import TAXII_MEDIA, World, load, served

JSON = dict[str, Any]

#: The callers, in the column order of the tables below ("same" is a home-org analyst).
CALLERS: Final = ("same", "client", "partner", "community", "stranger", "anonymous")

#: Each marking under test: its marking-definition id and its TLP 2.0 level name.
MARKINGS: Final[dict[str, tuple[str, str]]] = {
    "tlp2-clear": (TLP2_CLEAR, "clear"),
    "tlp2-green": (TLP2_GREEN, "green"),
    "tlp2-amber": (TLP2_AMBER, "amber"),
    "tlp2-amber-strict": (TLP2_AMBER_STRICT, "amber+strict"),
    "tlp2-red": (TLP2_RED, "red"),
    "tlp1-white": (TLP1_WHITE, "clear"),
    "tlp1-green": (TLP1_GREEN, "green"),
    "tlp1-amber": (TLP1_AMBER, "amber"),
    "tlp1-red": (TLP1_RED, "red"),
}

Y, N = True, False

#: Who sees an object of the home organisation under each marking.
EXPECTED: Final[dict[str, tuple[bool, ...]]] = {
    #                    same client partner community stranger anonymous
    "tlp2-clear":        (Y,   Y,     Y,      Y,        Y,       Y),
    "tlp2-green":        (Y,   Y,     Y,      Y,        N,       N),
    "tlp2-amber":        (Y,   Y,     N,      N,        N,       N),
    "tlp2-amber-strict": (Y,   N,     N,      N,        N,       N),
    "tlp2-red":          (Y,   N,     N,      N,        N,       N),
    "tlp1-white":        (Y,   Y,     Y,      Y,        Y,       Y),
    "tlp1-green":        (Y,   Y,     Y,      Y,        N,       N),
    "tlp1-amber":        (Y,   Y,     N,      N,        N,       N),
    "tlp1-red":          (Y,   N,     N,      N,        N,       N),
}  # fmt: skip

PATHS: Final = ("objects", "object", "manifest", "versions", "search", "rest-object")


def sees(marking: str, caller: str) -> bool:
    return EXPECTED[marking][CALLERS.index(caller)]


def domain(marking: str) -> str:
    """The distinctive domain in the pattern of the marking's indicator (what search finds)."""
    return f"{marking}.test"


# -- shared helpers --------------------------------------------------------------------------


def object_url(world: World, object_id: str) -> str:
    return f"{world.objects_url}{object_id}/"


def taxii_ids(response: httpx.Response, key: str = "objects") -> list[str]:
    """The ids in a TAXII envelope or manifest, after checking it is a 200 TAXII answer."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == TAXII_MEDIA
    return [item["id"] for item in response.json().get(key, [])]


def served_object(client: httpx.Client, world: World, object_id: str) -> JSON | None:
    """The object as ``GET .../objects/{id}/`` serves it, or None on a TAXII 404."""
    response = client.get(object_url(world, object_id))
    if response.status_code == 404:
        assert response.json()["http_status"] == "404", response.text
        return None
    assert response.status_code == 200, response.text
    objects = response.json()["objects"]
    assert len(objects) == 1, objects
    found: JSON = objects[0]
    return found


def search_ids(client: httpx.Client, query: str) -> list[str]:
    response = client.get("/api/search", params={"q": query})
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


# -- the matrix world, once per backend ------------------------------------------------------


@contextmanager
def backend_store(backend: str, base: Path) -> Iterator[SqlStore]:
    """A fresh store on ``backend``, closed (and its PostgreSQL schema dropped) afterwards.
    The conftest ``store`` fixture is per test; the matrix needs one world per module."""
    if backend == "sqlite":
        store = open_store(f"sqlite:///{base / 'store.db'}", initialise=True)
        try:
            yield store
        finally:
            store.close()
        return
    with fresh_pg_schema() as url:
        store = open_store(url, initialise=True)
        try:
            yield store
        finally:
            store.close()


@dataclass
class Matrix:
    world: World
    objects: dict[str, JSON] = field(default_factory=dict)
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, caller: str) -> httpx.Client:
        return self.clients[caller]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    base = tmp_path_factory.mktemp(f"matrix-{request.param}")
    settings = load_settings(environ={}, overrides={"data_dir": str(base / "data")})
    with backend_store(request.param, base) as store, served(store, settings) as world:
        found = Matrix(world)
        for name, (marking, _level) in MARKINGS.items():
            obj = indicator(f"[domain-name:value = '{domain(name)}']", tlp=None)
            obj["object_marking_refs"] = [marking]
            found.objects[name] = obj
        load(store, world.settings, list(found.objects.values()))
        for caller in CALLERS:
            found.clients[caller] = world.client(None if caller == "anonymous" else caller)
        try:
            yield found
        finally:
            for client in found.clients.values():
                client.close()


# -- how each read path answers "does the caller see it?" ------------------------------------


def via_objects(m: Matrix, caller: str, marking: str) -> bool:
    obj = m.objects[marking]
    response = m.client(caller).get(m.world.objects_url)
    assert response.json()["more"] is False
    served = {o["id"]: o for o in response.json().get("objects", [])}
    assert taxii_ids(response) == list(served)
    if obj["id"] in served:
        assert served[obj["id"]] == obj, "the object must be served unchanged"
        return True
    return False


def via_object(m: Matrix, caller: str, marking: str) -> bool:
    obj = m.objects[marking]
    served = served_object(m.client(caller), m.world, obj["id"])
    if served is None:
        return False
    assert served == obj
    return True


def via_manifest(m: Matrix, caller: str, marking: str) -> bool:
    obj = m.objects[marking]
    url = m.world.objects_url.replace("/objects/", "/manifest/")
    response = m.client(caller).get(url)
    entries = {e["id"]: e for e in response.json().get("objects", [])}
    assert taxii_ids(response) == list(entries)
    if obj["id"] not in entries:
        return False
    assert entries[obj["id"]]["version"].startswith(obj["modified"][:19])
    return True


def via_versions(m: Matrix, caller: str, marking: str) -> bool:
    obj = m.objects[marking]
    response = m.client(caller).get(f"{object_url(m.world, obj['id'])}versions/")
    assert response.headers["content-type"] == TAXII_MEDIA
    if response.status_code == 404:
        assert response.json()["http_status"] == "404"
        return False
    assert response.status_code == 200, response.text
    versions = response.json()["versions"]
    assert len(versions) == 1 and versions[0].startswith(obj["modified"][:19]), versions
    return True


def via_search(m: Matrix, caller: str, marking: str) -> bool:
    ids = search_ids(m.client(caller), domain(marking))
    assert set(ids) <= {m.objects[marking]["id"]}, f"search for {domain(marking)} found {ids}"
    return bool(ids)


def via_rest_object(m: Matrix, caller: str, marking: str) -> bool:
    obj = m.objects[marking]
    response = m.client(caller).get(f"/api/objects/{obj['id']}")
    if response.status_code == 404:
        return False
    assert response.status_code == 200, response.text
    assert [v["object"] for v in response.json()["versions"]] == [obj]
    return True


READERS: Final[dict[str, Callable[[Matrix, str, str], bool]]] = {
    "objects": via_objects,
    "object": via_object,
    "manifest": via_manifest,
    "versions": via_versions,
    "search": via_search,
    "rest-object": via_rest_object,
}

CELLS: Final = [
    pytest.param(marking, caller, path, id=f"{marking}-{caller}-{path}")
    for marking in MARKINGS
    for caller in CALLERS
    for path in PATHS
]


@pytest.mark.parametrize(("marking", "caller", "path"), CELLS)
def test_cell(matrix: Matrix, marking: str, caller: str, path: str) -> None:
    expected = sees(marking, caller)
    seen = READERS[path](matrix, caller, marking)
    assert seen is expected, (
        f"{marking} / {caller} / {path}: the caller should "
        f"{'see' if expected else 'not see'} the object"
    )


@pytest.mark.parametrize("caller", CALLERS)
def test_stats_count_exactly_what_the_caller_may_see(matrix: Matrix, caller: str) -> None:
    response = matrix.client(caller).get("/api/stats")
    assert response.status_code == 200, response.text
    body = response.json()
    visible = [name for name in MARKINGS if sees(name, caller)]
    assert body["by_type"].get("indicator", 0) == len(visible), f"stats for {caller}"
    assert body["objects"] == len(visible) and body["versions"] == len(visible)
    for level in ("clear", "green", "amber", "amber+strict", "red"):
        at_level = [name for name in visible if MARKINGS[name][1] == level]
        assert body["by_tlp"].get(level, 0) == len(at_level), f"stats for {caller}: {level}"


def test_the_table_follows_the_levels() -> None:
    """TLP 1.0 and TLP 2.0 rows of the same level agree, and each level admits a subset of
    the callers the looser level before it admits (a check on the table itself)."""
    for name, (_marking, level) in MARKINGS.items():
        twin = "tlp2-" + level.replace("+", "-")
        assert EXPECTED[name] == EXPECTED[twin], name
    order = ["tlp2-clear", "tlp2-green", "tlp2-amber", "tlp2-amber-strict", "tlp2-red"]
    for looser, stricter in itertools.pairwise(order):
        assert all(a or not b for a, b in zip(EXPECTED[looser], EXPECTED[stricter], strict=True))


# -- beyond one TLP marking ------------------------------------------------------------------


@pytest.fixture
def world(store: SqlStore, settings: Settings) -> Iterator[World]:
    with served(store, settings) as w:
        yield w


def visible_to(world: World, obj: JSON) -> dict[str, bool]:
    """For each caller, whether the objects endpoint, the object endpoint and search agree
    that it sees ``obj`` (an assertion fails if they disagree); the pattern's domain is the
    search query."""
    found: dict[str, bool] = {}
    query = obj["pattern"].split("'")[1]
    for caller in CALLERS:
        with world.client(None if caller == "anonymous" else caller) as client:
            listed = obj["id"] in taxii_ids(client.get(world.objects_url))
            single = served_object(client, world, obj["id"]) is not None
            hit = obj["id"] in search_ids(client, query)
        assert listed == single == hit, f"{caller}: objects {listed}, object {single}, search {hit}"
        found[caller] = listed
    return found


def expect(*columns: bool) -> dict[str, bool]:
    return dict(zip(CALLERS, columns, strict=True))


#: Several markings on one object: the strictest one wins.
MIXED: Final = [
    pytest.param((TLP2_GREEN, TLP2_AMBER), expect(Y, Y, N, N, N, N), id="green+amber"),
    pytest.param((TLP1_WHITE, TLP2_AMBER_STRICT), expect(Y, N, N, N, N, N), id="white+strict"),
    pytest.param((TLP2_CLEAR, TLP1_GREEN), expect(Y, Y, Y, Y, N, N), id="clear+tlp1-green"),
    pytest.param((TLP1_AMBER, TLP2_CLEAR, TLP1_GREEN), expect(Y, Y, N, N, N, N), id="3-marks"),
]


@pytest.mark.parametrize(("markings", "expected"), MIXED)
def test_the_strictest_of_several_markings_wins(
    world: World, markings: tuple[str, ...], expected: dict[str, bool]
) -> None:
    obj = indicator("[domain-name:value = 'mixed.test']", tlp=None)
    obj["object_marking_refs"] = list(markings)
    load(world.store, world.settings, [obj])
    assert visible_to(world, obj) == expected


def test_no_tlp_and_unknown_markings_are_seen_only_by_the_home_organisation(
    world: World,
) -> None:
    untagged = indicator("[domain-name:value = 'untagged.test']", tlp=None)
    unknown = indicator("[domain-name:value = 'unknown-marking.test']", tlp=None)
    unknown["object_marking_refs"] = [f"marking-definition--{uuid.uuid4()}"]
    # A known TLP beside an unknown marking does not loosen it either.
    unknown_and_clear = indicator("[domain-name:value = 'unknown-clear.test']", tlp=None)
    unknown_and_clear["object_marking_refs"] = [TLP2_CLEAR, f"marking-definition--{uuid.uuid4()}"]
    load(world.store, world.settings, [untagged, unknown, unknown_and_clear])
    only_same = expect(Y, N, N, N, N, N)
    assert visible_to(world, untagged) == only_same
    assert visible_to(world, unknown) == only_same
    assert visible_to(world, unknown_and_clear) == only_same


def test_red_with_recipients_is_seen_by_owner_and_recipients_only(world: World) -> None:
    red = indicator(
        "[domain-name:value = 'red-recipients.test']",
        tlp="red",
        x_mburoja_recipients=[world.identities["client"]],
    )
    load(world.store, world.settings, [red], owner=world.orgs["partner"])
    # Not even the home organisation: it neither owns the object nor is named.
    assert visible_to(world, red) == expect(N, Y, Y, N, N, N)
    for caller, sees_it in expect(N, Y, Y, N, N, N).items():
        with world.client(None if caller == "anonymous" else caller) as client:
            stats = client.get("/api/stats").json()
        assert stats["by_tlp"].get("red", 0) == int(sees_it), f"stats for {caller}"


def test_red_granular_marking_removes_the_property_for_those_who_may_not_see_it(
    world: World,
) -> None:
    obj = indicator(
        "[domain-name:value = 'granular.test']",
        tlp="green",
        description="source: a liaison officer in the ministry",
        granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["description"]}],
    )
    load(world.store, world.settings, [obj])
    redacted = {k: v for k, v in obj.items() if k not in ("description", "granular_markings")}
    with world.client("same") as same, world.client("partner") as partner:
        assert served_object(same, world, obj["id"]) == obj
        assert served_object(partner, world, obj["id"]) == redacted
        listed = partner.get(world.objects_url, params={"match[id]": obj["id"]}).json()
        assert listed["objects"] == [redacted]
        listed = same.get(world.objects_url, params={"match[id]": obj["id"]}).json()
        assert listed["objects"] == [obj]
        rest = partner.get(f"/api/objects/{obj['id']}").json()
        assert [v["object"] for v in rest["versions"]] == [redacted]
        assert obj["description"].encode() not in partner.get(world.objects_url).content
