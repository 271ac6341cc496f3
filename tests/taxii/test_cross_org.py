"""Cross-organisation access over HTTP against the real server: one organisation never reads,
changes or deletes what belongs to another beyond what the marking allows, on any route and
with any method, bulk requests mixing owners included.

Each test builds the world of ``tests.world`` on the conftest ``store`` (SQLite and
PostgreSQL) and puts in it AMBER+STRICT objects owned by org-partner and by org-client:
neither may see the other's.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
import msgspec
import orjson
import pytest

from mburoja.api.app import create_app
from mburoja.config import Settings
from mburoja.ingest.pipeline import Ingestor
from mburoja.stix.model import RawObject
from mburoja.store.sql import SqlStore
from tests.factories import indicator
from tests.live import serve
from tests.world import (
    TAXII_MEDIA,
    World,
    build_world,
    served,
    stored_count,
    world_settings,
)

JSON = dict[str, Any]
LATER: Final = "2026-02-01T00:00:00.000Z"


def post(client: httpx.Client, url: str, *objects: JSON) -> httpx.Response:
    return client.post(
        url,
        content=orjson.dumps({"objects": list(objects)}),
        headers={"Content-Type": TAXII_MEDIA},
    )


def assert_taxii_error(response: httpx.Response, status: int) -> JSON:
    """``response`` is a TAXII error with ``status``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII_MEDIA
    body: JSON = response.json()
    assert body["http_status"] == str(status) and body["title"], body
    return body


@dataclass
class Scene:
    world: World
    partner_obj: JSON
    client_obj: JSON

    def url(self, object_id: str, tail: str = "") -> str:
        return f"{self.world.objects_url}{object_id}/{tail}"

    @property
    def manifest_url(self) -> str:
        return self.world.objects_url.replace("/objects/", "/manifest/")


@pytest.fixture
def scene(store: SqlStore, settings: Settings) -> Iterator[Scene]:
    with served(store, settings) as world:
        partner_obj = indicator("[domain-name:value = 'partner-only.test']", tlp="amber+strict")
        client_obj = indicator("[domain-name:value = 'client-only.test']", tlp="amber+strict")
        world.load([partner_obj], world.orgs["partner"])
        world.load([client_obj], world.orgs["client"])
        yield Scene(world, partner_obj, client_obj)


def served_ids(response: httpx.Response, key: str = "objects") -> set[str]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json().get(key, [])}


# -- reads -----------------------------------------------------------------------------------


def read_objects(s: Scene, c: httpx.Client, oid: str) -> bool:
    return oid in served_ids(c.get(s.world.objects_url))


def read_object(s: Scene, c: httpx.Client, oid: str) -> bool:
    response = c.get(s.url(oid))
    if response.status_code == 404:
        assert_taxii_error(response, 404)
        return False
    return oid in served_ids(response)


def read_manifest(s: Scene, c: httpx.Client, oid: str) -> bool:
    return oid in served_ids(c.get(s.manifest_url))


def read_versions(s: Scene, c: httpx.Client, oid: str) -> bool:
    response = c.get(s.url(oid, "versions/"))
    if response.status_code == 404:
        assert_taxii_error(response, 404)
        return False
    assert response.status_code == 200, response.text
    return bool(response.json()["versions"])


def read_rest_object(s: Scene, c: httpx.Client, oid: str) -> bool:
    response = c.get(f"/api/objects/{oid}")
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def read_search(s: Scene, c: httpx.Client, oid: str) -> bool:
    obj = s.partner_obj if oid == s.partner_obj["id"] else s.client_obj
    response = c.get("/api/search", params={"q": obj["pattern"].split("'")[1]})
    return oid in served_ids(response, "hits")


READ_ROUTES: Final = {
    "objects": read_objects,
    "object": read_object,
    "manifest": read_manifest,
    "versions": read_versions,
    "rest-object": read_rest_object,
    "search": read_search,
}


@pytest.mark.parametrize("route", READ_ROUTES)
def test_partner_amber_strict_object_is_invisible_to_the_client(scene: Scene, route: str) -> None:
    read = READ_ROUTES[route]
    with scene.world.client("client") as client, scene.world.client("partner") as partner:
        assert not read(scene, client, scene.partner_obj["id"]), f"client sees it via {route}"
        assert not read(scene, partner, scene.client_obj["id"]), f"partner sees it via {route}"
        # Each owner does see its own object on the same route.
        assert read(scene, client, scene.client_obj["id"]), route
        assert read(scene, partner, scene.partner_obj["id"]), route


def test_stats_do_not_count_the_other_organisation_s_objects(scene: Scene) -> None:
    for who in ("client", "partner"):
        with scene.world.client(who) as c:
            stats = c.get("/api/stats").json()
        assert stats["objects"] == 1 and stats["by_tlp"] == {"amber+strict": 1}, (who, stats)


# -- deletes ---------------------------------------------------------------------------------


def test_delete_of_an_invisible_partner_object_is_404_and_changes_nothing(scene: Scene) -> None:
    oid = scene.partner_obj["id"]
    with scene.world.client("client") as client, scene.world.client("partner") as partner:
        assert_taxii_error(client.delete(scene.url(oid)), 404)
        assert read_object(scene, partner, oid)


def test_delete_of_a_visible_partner_object_is_403_and_the_object_stays(scene: Scene) -> None:
    green = indicator("[domain-name:value = 'partner-green.test']", tlp="green")
    scene.world.load([green], scene.world.orgs["partner"])
    with scene.world.client("client") as client, scene.world.client("partner") as partner:
        assert read_object(scene, client, green["id"]), "client may see a GREEN object"
        body = assert_taxii_error(client.delete(scene.url(green["id"])), 403)
        assert "organisation" in body["description"]
        assert read_object(scene, client, green["id"])
        assert read_object(scene, partner, green["id"])
        assert read_manifest(scene, partner, green["id"])


def test_delete_of_an_own_object_takes_it_out_of_the_collection(scene: Scene) -> None:
    oid = scene.client_obj["id"]
    with scene.world.client("client") as client, scene.world.client("same") as home:
        response = client.delete(scene.url(oid))
        assert response.status_code == 200, response.text
        assert not read_object(scene, client, oid)
        assert not read_objects(scene, client, oid)
        assert not read_manifest(scene, client, oid)
        assert not read_object(scene, home, oid), "gone from the collection for everyone"
    with scene.world.client("partner") as partner:
        assert read_object(scene, partner, scene.partner_obj["id"]), "others' objects stay"


# -- bulk writes mixing owners ---------------------------------------------------------------


def test_bulk_post_mixing_owners_refuses_only_the_foreign_version(scene: Scene) -> None:
    foreign = {**scene.partner_obj, "modified": LATER, "name": "hijacked"}
    mine = indicator("[domain-name:value = 'client-new.test']", tlp="amber")
    with scene.world.client("client") as client, scene.world.client("partner") as partner:
        response = post(client, scene.world.objects_url, foreign, mine)
        assert response.status_code == 202, response.text
        status = response.json()
        counts = [status[k] for k in ("total_count", "success_count", "failure_count")]
        assert counts == [2, 1, 1], status
        assert [f["id"] for f in status["failures"]] == [foreign["id"]]
        assert "owner" in status["failures"][0]["message"], status["failures"]
        assert [s["id"] for s in status["successes"]] == [mine["id"]]
        # The partner's object is untouched: one version, still the partner's.
        versions = partner.get(scene.url(foreign["id"], "versions/")).json()["versions"]
        assert len(versions) == 1 and versions[0].startswith("2026-01-01T00:00:00")
        current = partner.get(scene.url(foreign["id"])).json()["objects"]
        assert current == [scene.partner_obj]
        rest = partner.get(f"/api/objects/{foreign['id']}").json()["versions"]
        assert [v["object"] for v in rest] == [scene.partner_obj]
        # The client's own object landed and is its own: it may delete it.
        assert read_object(scene, client, mine["id"])
        assert client.delete(scene.url(mine["id"])).status_code == 200


def test_a_status_resource_is_readable_only_by_its_organisation(scene: Scene) -> None:
    root = scene.world.objects_url.split("collections/")[0]
    mine = indicator("[domain-name:value = 'partner-post.test']", tlp="amber+strict")
    with scene.world.client("partner") as partner:
        status_id = post(partner, scene.world.objects_url, mine).json()["id"]
        assert partner.get(f"{root}status/{status_id}/").json()["success_count"] == 1
    for who in ("client", "stranger", None):
        with scene.world.client(who) as other:
            assert_taxii_error(other.get(f"{root}status/{status_id}/"), 404)


# -- accounts that may not write -------------------------------------------------------------


def _reader_token(world: World) -> str:
    user = world.store.create_user(world.orgs["client"], "reader-client", "reader")
    return world.store.issue_token(user.name, label="reader").secret


def _read_only_token(world: World) -> str:
    return world.store.issue_token(world.users["client"], label="ro", read_only=True).secret


@pytest.mark.parametrize("make_token", [_reader_token, _read_only_token], ids=["reader", "ro"])
def test_accounts_that_may_only_read_get_403_on_post_and_delete(
    scene: Scene, make_token: Callable[[World], str]
) -> None:
    token = make_token(scene.world)
    before = stored_count(scene.world.store)
    new = indicator("[domain-name:value = 'reader-post.test']", tlp="green")
    with scene.world.client(None, Authorization=f"Bearer {token}") as reader:
        assert read_object(scene, reader, scene.client_obj["id"]), "it may still read"
        assert_taxii_error(post(reader, scene.world.objects_url, new), 403)
        assert_taxii_error(reader.delete(scene.url(scene.client_obj["id"])), 403)
        assert read_object(scene, reader, scene.client_obj["id"])
    assert stored_count(scene.world.store) == before


# -- collections without a grant -------------------------------------------------------------


def test_a_collection_without_a_grant_is_403_and_not_listed(scene: Scene) -> None:
    world = scene.world
    private = world.store.ensure_collection("private", "Partner only")
    world.store.grant("private", "org-partner", can_read=True, can_write=True)
    green = indicator("[domain-name:value = 'private.test']", tlp="green")
    report = Ingestor(world.store, world.settings, workers=0).run(
        [RawObject(orjson.dumps(green), "test", 0)],
        source="cross-org-test",
        collection="private",
        owner=world.orgs["partner"],
    )
    assert report.new == 1
    base = f"/taxii2/api/collections/{private.id}/"
    obj = f"{base}objects/{green['id']}/"
    with world.client("partner") as partner:
        listed = {c["id"] for c in partner.get("/taxii2/api/collections/").json()["collections"]}
        assert private.id in listed
        assert green["id"] in served_ids(partner.get(f"{base}objects/"))
    for who in ("client", "stranger", None):
        with world.client(who) as other:
            listing = other.get("/taxii2/api/collections/").json().get("collections", [])
            assert private.id not in {c["id"] for c in listing}, who
            assert world.collection_id in {c["id"] for c in listing}, who
            for path in (base, f"{base}objects/", f"{base}manifest/", obj, f"{obj}versions/"):
                assert_taxii_error(other.get(path), 403)
            assert_taxii_error(other.delete(obj), 403)
            new = indicator("[domain-name:value = 'intruder.test']", tlp="green")
            refused = post(other, f"{base}objects/", new)
            assert_taxii_error(refused, 403)
    with world.client("partner") as partner:
        assert green["id"] in served_ids(partner.get(f"{base}objects/"))
        assert "intruder.test" not in partner.get(f"{base}objects/").text


# -- anonymous and bad credentials -----------------------------------------------------------


def test_anonymous_post_is_refused_and_stores_nothing(scene: Scene) -> None:
    before = stored_count(scene.world.store)
    new = indicator("[domain-name:value = 'anonymous-post.test']", tlp="clear")
    with scene.world.client(None) as anonymous:
        response = post(anonymous, scene.world.objects_url, new)
        assert response.status_code in (401, 403), response.text
        assert_taxii_error(response, response.status_code)
        assert_taxii_error(anonymous.delete(scene.url(scene.client_obj["id"])), 403)
    assert stored_count(scene.world.store) == before


def test_without_anonymous_read_an_anonymous_post_is_401(
    store: SqlStore, settings: Settings
) -> None:
    closed = world_settings(settings)
    closed = msgspec.structs.replace(
        closed, auth=msgspec.structs.replace(closed.auth, anonymous_read=False)
    )
    world = build_world(store, closed)
    new = indicator("[domain-name:value = 'anonymous-closed.test']", tlp="clear")
    with serve(create_app(closed, store)) as url:
        world.url = url
        with world.client(None) as anonymous:
            response = post(anonymous, world.objects_url, new)
            assert_taxii_error(response, 401)
            assert response.headers["www-authenticate"]
            assert_taxii_error(anonymous.get(world.objects_url), 401)
    assert stored_count(store) == (0, 0)


def _routes(s: Scene) -> list[tuple[str, str]]:
    """Every TAXII route and method, with real ids in the path."""
    oid = s.client_obj["id"]
    coll = s.world.objects_url.removesuffix("objects/")
    return [
        ("GET", "/taxii2/"),
        ("GET", "/taxii2/api/"),
        ("GET", "/taxii2/api/status/6b1e3f0e-5b7a-4a39-9c1c-0d0f2f1f3a11/"),
        ("GET", "/taxii2/api/collections/"),
        ("GET", coll),
        ("GET", f"{coll}objects/"),
        ("POST", f"{coll}objects/"),
        ("GET", f"{coll}manifest/"),
        ("GET", f"{coll}objects/{oid}/"),
        ("DELETE", f"{coll}objects/{oid}/"),
        ("GET", f"{coll}objects/{oid}/versions/"),
    ]


ROUTE_NAMES: Final = [
    "discovery",
    "api-root",
    "status",
    "collections",
    "collection",
    "get-objects",
    "post-objects",
    "manifest",
    "get-object",
    "delete-object",
    "versions",
]


def _bad_tokens(world: World) -> dict[str, str]:
    real = world.tokens["client"]
    flipped = real[:-1] + ("A" if real[-1] != "A" else "B")
    return {
        "garbage": "Bearer not-a-token",
        "tampered": f"Bearer {flipped}",
        "unknown-id": "Bearer mbj_0000000000000000_" + "x" * 43,
        # the client's real token, presented as another user's password
        "basic-wrong-user": "Basic "
        + base64.b64encode(f"analyst-partner:{real}".encode()).decode(),
    }


@pytest.mark.parametrize("route", range(len(ROUTE_NAMES)), ids=ROUTE_NAMES)
def test_a_wrong_token_is_401_on_every_taxii_route_and_method(scene: Scene, route: int) -> None:
    method, path = _routes(scene)[route]
    before = stored_count(scene.world.store)
    body = orjson.dumps({"objects": [indicator(tlp="clear")]}) if method == "POST" else None
    for name, header in _bad_tokens(scene.world).items():
        with scene.world.client(None, Authorization=header) as bad:
            response = bad.request(
                method, path, content=body, headers={"Content-Type": TAXII_MEDIA}
            )
        assert response.status_code == 401, f"{name} token, {method} {path}: {response.text}"
        assert_taxii_error(response, 401)
        assert "Bearer" in response.headers["www-authenticate"], name
    assert stored_count(scene.world.store) == before
    with scene.world.client("client") as client:
        assert read_object(scene, client, scene.client_obj["id"])


@pytest.mark.parametrize("path", ["/api/stats", "/api/search?q=client-only.test", "rest-object"])
def test_a_wrong_token_is_401_on_the_rest_api(scene: Scene, path: str) -> None:
    if path == "rest-object":
        path = f"/api/objects/{scene.client_obj['id']}"
    with scene.world.client(None, Authorization="Bearer not-a-token") as bad:
        response = bad.get(path)
    assert response.status_code == 401, response.text
    assert "Bearer" in response.headers["www-authenticate"]


# -- methods the routes do not have ----------------------------------------------------------

UNSUPPORTED: Final = [
    ("PUT", "objects/{oid}/"),
    ("PATCH", "objects/{oid}/"),
    ("POST", "objects/{oid}/"),
    ("PUT", "objects/"),
    ("PATCH", "objects/"),
    ("DELETE", "objects/"),
    ("DELETE", "manifest/"),
    ("POST", "objects/{oid}/versions/"),
]
UNSUPPORTED_IDS: Final = [f"{m}-{p.replace('{oid}/', 'id/').strip('/')}" for m, p in UNSUPPORTED]


def _unsupported(scene: Scene, who: str, method: str, tail: str) -> httpx.Response:
    url = scene.world.objects_url.removesuffix("objects/") + tail.format(
        oid=scene.partner_obj["id"]
    )
    body = orjson.dumps({"objects": [{**scene.partner_obj, "modified": LATER}]})
    with scene.world.client(who) as client:
        return client.request(method, url, content=body, headers={"Content-Type": TAXII_MEDIA})


@pytest.mark.parametrize(("method", "tail"), UNSUPPORTED, ids=UNSUPPORTED_IDS)
def test_other_methods_are_refused_and_change_nothing(scene: Scene, method: str, tail: str) -> None:
    before = stored_count(scene.world.store)
    response = _unsupported(scene, "client", method, tail)
    assert response.status_code == 405, response.text
    assert stored_count(scene.world.store) == before
    with scene.world.client("partner") as partner:
        assert partner.get(scene.url(scene.partner_obj["id"])).json()["objects"] == [
            scene.partner_obj
        ]


@pytest.mark.parametrize(("method", "tail"), UNSUPPORTED[:2], ids=UNSUPPORTED_IDS[:2])
def test_a_refused_method_is_answered_in_the_taxii_error_format(
    scene: Scene, method: str, tail: str
) -> None:
    """The server promises that every response under /taxii2/, errors included, is
    ``application/taxii+json;version=2.1`` with a TAXII error body."""
    assert_taxii_error(_unsupported(scene, "client", method, tail), 405)
