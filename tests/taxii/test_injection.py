"""Hostile filter, sort and paging values over HTTP against the real server: every value is
checked against an allow-list before it gets near SQL, so injection payloads get a 400 in the
TAXII error format that names the parameter, and the store keeps everything it held.

The ``next`` cursor is stateless and signed: a tampered cursor, one issued for another
collection, other filters or another caller, or one signed with another secret is refused,
while a cursor from one replica works on another that shares the secret.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx
import msgspec
import pytest

from mburoja.api.app import create_app
from mburoja.config import Settings
from mburoja.store.sql import SqlStore
from tests.factories import indicator
from tests.live import serve
from tests.world import TAXII_MEDIA, World, served, stored_count

JSON = dict[str, Any]
OBJECTS: Final = 5
VALID_ID: Final = "indicator--6f0d2a4e-8c1b-4c5e-9a7d-3b2f1e0c9d8a"

#: Payloads tried against every filter (those that are a valid value of a filter are left out
#: for it, see ``PAYLOADS``).
COMMON: Final[dict[str, str]] = {
    "sqli-quote": "indicator' OR '1'='1",
    "sqli-drop": "x; DROP TABLE objects;--",
    "sqli-union": "x' UNION SELECT raw FROM objects--",
    "traversal": "../../etc/passwd",
    "overflow": "1e309",
    "negative": "-1",
    "long": "a" * 8000,
    "unicode": "indicätor\u202e",
    "nul": "indicator\x00",
}

#: Extra payloads shaped like a valid value of one filter, with something appended.
SPECIFIC: Final[dict[str, dict[str, str]]] = {
    "match[type]": {"list-with-one-bad": "indicator,malware' OR '1'='1"},
    "match[id]": {
        "id-then-sqli": f"{VALID_ID}' OR '1'='1",
        "list-with-one-bad": f"{VALID_ID},{VALID_ID}; DROP TABLE objects;--",
    },
    "match[version]": {
        "word-then-sqli": "last' OR '1'='1",
        "timestamp-then-sqli": "2026-01-01T00:00:00Z' OR '1'='1",
        "no-such-day": "2026-02-30T00:00:00Z",
    },
    "match[spec_version]": {"version-then-sqli": "2.1' OR '1'='1", "other-version": "3.0"},
    "added_after": {
        "timestamp-then-sqli": "2026-01-01T00:00:00Z' OR '1'='1",
        "no-timezone": "2026-01-01T00:00:00",
    },
    "limit": {
        "zero": "0",
        "number-then-sqli": "10 OR 1=1",
        "huge": "9" * 5000,
        "fullwidth-digits": "\uff11\uff10",
        "arabic-indic-digits": "\u0661\u0660",
        "underscore": "1_0",
    },
    "next": {"dotted-garbage": "abc.def", "only-dot": "."},
}

#: A syntactically valid STIX type (lower-case letters and digits): allowed, matches nothing.
VALID_FOR: Final[dict[str, frozenset[str]]] = {"match[type]": frozenset({"overflow"})}

#: Parameters no endpoint has: sorting and ordering are not offered at all.
UNKNOWN_PARAMS: Final = ("sort", "order", "order_by", "match[name]", "$where", "limit;")

PAYLOADS: Final = [
    pytest.param(param, value, id=f"{param}-{name}")
    for param, extra in SPECIFIC.items()
    for name, value in {**COMMON, **extra}.items()
    if name not in VALID_FOR.get(param, frozenset())
]


def assert_bad_request(response: httpx.Response, param: str) -> None:
    """A TAXII 400 whose title or description names ``param``."""
    assert response.status_code == 400, f"{param}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"] == TAXII_MEDIA
    body = response.json()
    assert body["http_status"] == "400" and body["title"], body
    assert param in body["title"] + body.get("description", ""), body


@dataclass
class Scene:
    world: World
    ids: list[str]

    @property
    def manifest_url(self) -> str:
        return self.world.objects_url.replace("/objects/", "/manifest/")

    def object_url(self, tail: str = "") -> str:
        return f"{self.world.objects_url}{self.ids[0]}/{tail}"

    def endpoints(self) -> dict[str, tuple[str, str, frozenset[str]]]:
        """Each read and delete endpoint: method, URL and the parameters it takes."""
        every = frozenset(SPECIFIC)
        one = every - {"match[type]", "match[id]"}
        return {
            "objects": ("GET", self.world.objects_url, every),
            "manifest": ("GET", self.manifest_url, every),
            "object": ("GET", self.object_url(), one),
            "versions": ("GET", self.object_url("versions/"), one - {"match[version]"}),
            "delete": (
                "DELETE",
                self.object_url(),
                frozenset({"match[version]", "match[spec_version]"}),
            ),
        }

    def assert_intact(self, before: tuple[int, int]) -> None:
        """The store holds what it held, and the collection still serves every object."""
        assert stored_count(self.world.store) == before
        with self.world.client("same") as client:
            served = client.get(self.world.objects_url).json().get("objects", [])
        assert sorted(o["id"] for o in served) == sorted(self.ids)


@pytest.fixture
def scene(store: SqlStore, settings: Settings) -> Iterator[Scene]:
    with served(store, settings) as world:
        objects = [
            indicator(f"[domain-name:value = 'injection-{i}.test']", tlp="green")
            for i in range(OBJECTS)
        ]
        world.load(objects)
        yield Scene(world, [o["id"] for o in objects])


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("param", "value"), PAYLOADS)
def test_a_hostile_filter_value_is_400_on_every_endpoint_that_takes_it(
    scene: Scene, param: str, value: str
) -> None:
    before = stored_count(scene.world.store)
    with scene.world.client("same") as client:
        for name, (method, url, takes) in scene.endpoints().items():
            if param in takes:
                response = client.request(method, url, params={param: value})
                assert response.status_code == 400, f"{name} with {param}={value[:50]!r}"
                assert_bad_request(response, param)
    scene.assert_intact(before)


@pytest.mark.parametrize("param", UNKNOWN_PARAMS)
@pytest.mark.parametrize("value", ["name", "date_added desc", "1; DROP TABLE objects;--"])
def test_an_unknown_parameter_such_as_sort_is_400_everywhere(
    scene: Scene, param: str, value: str
) -> None:
    before = stored_count(scene.world.store)
    with scene.world.client("same") as client:
        for name, (method, url, _takes) in scene.endpoints().items():
            response = client.request(method, url, params={param: value})
            assert response.status_code == 400, f"{name} with {param}={value!r}"
            assert_bad_request(response, param)
    scene.assert_intact(before)


def test_a_well_formed_but_unknown_type_matches_nothing(scene: Scene) -> None:
    with scene.world.client("same") as client:
        response = client.get(scene.world.objects_url, params={"match[type]": "1e309"})
        assert response.status_code == 200, response.text
        assert "objects" not in response.json()
        kept = client.get(scene.world.objects_url, params={"match[type]": "indicator"}).json()
        assert len(kept["objects"]) == OBJECTS


@pytest.mark.parametrize("query", [COMMON["sqli-quote"], COMMON["sqli-drop"], "' OR 1=1 --"])
def test_rest_search_treats_hostile_text_as_a_value(scene: Scene, query: str) -> None:
    before = stored_count(scene.world.store)
    with scene.world.client("same") as client:
        response = client.get("/api/search", params={"q": query})
    assert response.status_code == 200, response.text
    assert response.json()["hits"] == []
    scene.assert_intact(before)


@pytest.mark.parametrize(
    "limit",
    ["-1", "0", "1e309", "10 OR 1=1", "a" * 100, "\uff11\uff10", "99999999"],
    ids=["negative", "zero", "overflow", "sqli", "letters", "fullwidth-digits", "too-large"],
)
def test_rest_search_with_a_hostile_limit_is_400(scene: Scene, limit: str) -> None:
    with scene.world.client("same") as client:
        response = client.get("/api/search", params={"q": "injection-0.test", "limit": limit})
    assert response.status_code == 400, response.text
    assert "limit" in response.json()["error"]


# -- next cursors ----------------------------------------------------------------------------


def first_page(client: httpx.Client, url: str, **params: str) -> tuple[list[str], str]:
    """The ids of a two-object first page and its ``next`` cursor."""
    response = client.get(url, params={"limit": "2", **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["more"] is True and body["next"], body
    return [o["id"] for o in body["objects"]], body["next"]


def flip(text: str, at: int) -> str:
    """``text`` with the character at ``at`` replaced by another base64url character."""
    return text[:at] + ("B" if text[at] == "A" else "A") + text[at + 1 :]


def test_a_tampered_next_is_400(scene: Scene) -> None:
    url = scene.world.objects_url
    with scene.world.client("client") as client:
        _ids, token = first_page(client, url)
        body, _, sig = token.partition(".")
        tampered = {
            "body-start": flip(token, 0),
            "body-middle": flip(token, len(body) // 2),
            "signature-middle": flip(token, len(body) + 1 + len(sig) // 2),
            "truncated": token[:-3],
            "extended": token + "AAAA",
            "no-signature": body,
            "swapped": f"{sig}.{body}",
        }
        for name, value in tampered.items():
            response = client.get(url, params={"limit": "2", "next": value})
            assert response.status_code == 400, f"{name}: {response.text}"
            assert_bad_request(response, "next")
        # the untouched cursor still works: the refusals above were about the changes
        assert client.get(url, params={"limit": "2", "next": token}).status_code == 200


def test_a_next_for_another_collection_is_400(scene: Scene) -> None:
    world = scene.world
    world.store.ensure_collection("other", "Another collection")
    world.store.grant("other", "*", can_read=True, can_write=False)
    world.load(
        [indicator(f"[domain-name:value = 'o{i}.test']") for i in range(3)], collection="other"
    )
    other = world.objects_url.replace(world.collection_id, world.store.collection("other")[0])
    with world.client("client") as client:
        _ids, token = first_page(client, other)
        response = client.get(world.objects_url, params={"limit": "2", "next": token})
        assert_bad_request(response, "next")
        assert client.get(other, params={"limit": "2", "next": token}).status_code == 200


def test_a_next_presented_by_another_caller_is_400(scene: Scene) -> None:
    url = scene.world.objects_url
    with scene.world.client("client") as client:
        _ids, token = first_page(client, url)
    for who in ("partner", "same", None):
        with scene.world.client(who) as other:
            response = other.get(url, params={"limit": "2", "next": token})
            assert response.status_code == 400, f"{who}: {response.text}"
            assert_bad_request(response, "next")


def test_a_next_under_other_filters_is_400(scene: Scene) -> None:
    url = scene.world.objects_url
    with scene.world.client("client") as client:
        _ids, token = first_page(client, url, **{"match[type]": "indicator"})
        for params in ({}, {"match[type]": "malware"}, {"added_after": "2020-01-01T00:00:00Z"}):
            response = client.get(url, params={"limit": "2", "next": token, **params})
            assert_bad_request(response, "next")
        response = client.get(url, params={"limit": "2", "next": token, "match[type]": "indicator"})
        assert response.status_code == 200


@contextmanager
def replica(scene: Scene, secret: str | None) -> Iterator[World]:
    """A second app over the same store on its own port; ``secret`` None keeps the first's."""
    settings = scene.world.settings
    if secret is not None:
        auth = msgspec.structs.replace(settings.auth, secret=secret)
        settings = msgspec.structs.replace(settings, auth=auth)
    with serve(create_app(settings, scene.world.store)) as url:
        yield dataclasses.replace(scene.world, url=url)


def walk(clients: list[httpx.Client], url: str) -> list[str]:
    """Every id of ``url`` in pages of two, each page asked of the next client in turn."""
    ids: list[str] = []
    token: str | None = None
    for page in range(OBJECTS + 1):
        params = {"limit": "2"} if token is None else {"limit": "2", "next": token}
        response = clients[page % len(clients)].get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        ids.extend(o["id"] for o in body.get("objects", []))
        if not body["more"]:
            return ids
        token = body["next"]
    raise AssertionError(f"the walk did not end after {OBJECTS + 1} pages")


def test_a_next_signed_with_another_secret_is_400(scene: Scene) -> None:
    with (
        replica(scene, "another-secret-" + "y" * 40) as other,
        other.client("client") as foreign,
        scene.world.client("client") as client,
    ):
        _ids, token = first_page(foreign, other.objects_url)
        response = client.get(scene.world.objects_url, params={"limit": "2", "next": token})
        assert_bad_request(response, "next")
        assert "signature" in response.json()["description"]


def test_a_next_from_one_replica_works_on_another_with_the_same_secret(scene: Scene) -> None:
    url = scene.world.objects_url
    with (
        replica(scene, None) as second,
        scene.world.client("client") as a,
        second.client("client") as b,
    ):
        alone = walk([a], url)
        alternating = walk([a, b], url)
        other_first = walk([b, a], url)
    assert sorted(alone) == sorted(scene.ids) and len(alone) == OBJECTS
    assert alternating == alone and other_first == alone
