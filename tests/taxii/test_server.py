"""The TAXII 2.1 server, spoken to by the real ``taxii2-client`` and by plain HTTP.

The round trip covers discovery, API roots, collections, paged objects with each filter,
manifest, add_objects with status polling, versions and delete; the HTTP tests cover the
protocol's error codes, headers and content types.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from taxii2client.v21 import Server, as_pages

from mburoja.config import Settings
from mburoja.ingest.bundle import read_stix
from mburoja.stix.model import RawObject
from mburoja.store.sql import SqlStore
from tests.conftest import STIX_EXAMPLES
from tests.factories import indicator
from tests.world import TAXII_MEDIA, World, served

EXAMPLES = sorted(STIX_EXAMPLES.glob("*.json"))


@pytest.fixture
def world(store: SqlStore, settings: Settings) -> Iterator[World]:
    with served(store, settings, background_after=50) as w:
        yield w


def _example_objects(limit_files: int = 8) -> list[bytes]:
    """Objects from the OASIS examples, deduplicated by (id, modified)."""
    seen: set[tuple[str, str]] = set()
    out: list[bytes] = []
    for path in EXAMPLES[:limit_files]:
        for item in read_stix(path.read_bytes(), str(path), Settings().limits):
            if not isinstance(item, RawObject):
                continue
            obj = orjson.loads(item.raw)
            key = (obj["id"], obj.get("modified", obj.get("created", "")))
            if key not in seen:
                seen.add(key)
                out.append(item.raw)
    return out


def _taxii_server(world: World) -> Server:
    return Server(
        f"{world.url}/taxii2/",
        user=world.users["same"],
        password=world.tokens["same"],
    )


def test_taxii2_client_round_trip(world: World) -> None:
    examples = _example_objects()
    assert len(examples) > 50
    world.load(examples)
    server = _taxii_server(world)
    assert server.title == world.settings.taxii.title
    (api_root,) = server.api_roots
    assert api_root.max_content_length == world.settings.taxii.max_content_length
    (collection,) = [c for c in api_root.collections if c.id == world.collection_id]
    assert collection.can_read and collection.can_write

    # Paged objects: every object once, in pages of at most 7.
    got: list[dict] = []
    pages = 0
    for envelope in as_pages(collection.get_objects, per_request=7):
        pages += 1
        assert len(envelope.get("objects", [])) <= 7
        got.extend(envelope.get("objects", []))
    want = {orjson.loads(raw)["id"] for raw in examples}
    assert sorted(o["id"] for o in got) == sorted(want)
    assert pages >= len(want) // 7

    # Each filter.
    indicators = collection.get_objects(type="indicator")["objects"]
    assert indicators and {o["type"] for o in indicators} == {"indicator"}
    some = indicators[0]["id"]
    by_id = collection.get_objects(id=some)["objects"]
    assert [o["id"] for o in by_id] == [some]
    assert collection.get_objects(spec_version="2.1", type="indicator")["objects"] == indicators
    assert "objects" not in collection.get_objects(spec_version="2.0")
    later = collection.get_objects(added_after="2099-01-01T00:00:00Z")
    assert later.get("objects", []) == [] and later["more"] is False
    first = collection.get_objects(id=some, version="first")["objects"]
    assert [o["id"] for o in first] == [some]
    at = collection.get_objects(id=some, version=first[0]["modified"])["objects"]
    assert [o["id"] for o in at] == [some]

    # Manifest, paged too.
    entries = [
        e for page in as_pages(collection.get_manifest, per_request=10) for e in page["objects"]
    ]
    assert {e["id"] for e in entries} == want
    assert all(e["media_type"] == "application/stix+json;version=2.1" for e in entries)
    assert all(e["date_added"].endswith("Z") and len(e["date_added"]) == 27 for e in entries)

    # add_objects with status polling, then versions of the object it updated.
    update = indicator(
        id=some, created="2026-01-01T00:00:00.000Z", modified="2026-06-01T00:00:00.000Z"
    )
    new = indicator("[domain-name:value = 'round-trip.test']")
    status = collection.add_objects({"objects": [update, new]}, poll_interval=0.1, timeout=20)
    assert status.status == "complete"
    assert (status.success_count, status.failure_count, status.pending_count) == (2, 0, 0)
    assert {s["id"] for s in status.successes} == {some, new["id"]}
    versions = collection.object_versions(some)["versions"]
    assert "2026-06-01T00:00:00.000000Z" in versions and len(versions) == 2
    assert collection.get_object(some)["objects"][0]["modified"] == update["modified"]
    assert collection.get_object(some, version="all")["objects"].__len__() == 2

    # Delete, then the object is gone from the collection.
    collection.delete_object(new["id"])
    with pytest.raises(Exception, match="404"):
        collection.get_object(new["id"])


def test_large_post_runs_in_the_background_and_its_counts_add_up(world: World) -> None:
    objects = [indicator(f"[domain-name:value = 'bulk{i}.test']") for i in range(400)]
    objects.append({"type": "indicator", "id": "indicator--bad"})
    with world.client("client") as c:
        answer = c.post(
            world.objects_url,
            content=orjson.dumps({"objects": objects}),
            headers={"Content-Type": TAXII_MEDIA},
        )
        assert answer.status_code == 202
        assert answer.headers["content-type"] == TAXII_MEDIA
        status = answer.json()
        assert status["total_count"] == 401
        seen = []
        deadline = time.monotonic() + 60
        while status["status"] != "complete":
            assert time.monotonic() < deadline, "POST never completed"
            counts = (status["success_count"], status["failure_count"], status["pending_count"])
            assert sum(counts) == status["total_count"]
            seen.append(counts)
            time.sleep(0.05)
            status = c.get(f"/taxii2/api/status/{status['id']}/").json()
    assert status["success_count"] == 400 and status["failure_count"] == 1
    assert status["pending_count"] == 0
    (failure,) = status["failures"]
    assert failure["id"] == "indicator--bad" and "id" in failure["message"]
    assert seen and seen[0][2] > 0  # the answer came back before the work was done


def test_status_of_another_organisation_is_not_found(world: World) -> None:
    with world.client("client") as c:
        status = c.post(
            world.objects_url,
            content=orjson.dumps({"objects": [indicator()]}),
            headers={"Content-Type": TAXII_MEDIA},
        ).json()
    with world.client("partner") as c:
        assert c.get(f"/taxii2/api/status/{status['id']}/").status_code == 404


def test_date_added_headers_bound_the_page(world: World) -> None:
    world.load([orjson.dumps(indicator(f"[domain-name:value = 'h{i}.test']")) for i in range(5)])
    with world.client("same") as c:
        first = c.get(world.objects_url, params={"limit": 2})
        manifest = c.get(world.objects_url.replace("objects/", "manifest/"), params={"limit": 2})
    added = [e["date_added"] for e in manifest.json()["objects"]]
    for response in (first, manifest):
        assert response.headers["X-TAXII-Date-Added-First"] == min(added)
        assert response.headers["X-TAXII-Date-Added-Last"] == max(added)
        assert response.headers["content-type"] == TAXII_MEDIA
    # added_after from the last header continues after the first page, without overlap.
    with world.client("same") as c:
        rest = c.get(
            world.objects_url,
            params={"added_after": first.headers["X-TAXII-Date-Added-Last"]},
        ).json()
    seen = {o["id"] for o in first.json()["objects"]}
    assert seen.isdisjoint(o["id"] for o in rest.get("objects", []))


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/taxii+json;version=2.1", 200),
        ("application/taxii+json", 200),
        ("*/*", 200),
        ("application/json", 406),
        ("application/taxii+json;version=2.0", 406),
        ("text/html", 406),
    ],
)
def test_accept_header(world: World, accept: str, status: int) -> None:
    with world.client("same", Accept=accept) as c:
        response = c.get("/taxii2/api/collections/")
    assert response.status_code == status
    assert response.headers["content-type"] == TAXII_MEDIA
    if status != 200:
        body = response.json()
        assert body["http_status"] == str(status) and body["title"]


def test_post_errors(world: World) -> None:
    url = world.objects_url
    with world.client("same") as c:
        wrong_type = c.post(url, content=b'{"objects": []}', headers={"Content-Type": "text/plain"})
        assert wrong_type.status_code == 415
        malformed = c.post(url, content=b'{"items": []}', headers={"Content-Type": TAXII_MEDIA})
        assert malformed.status_code == 422
        not_json = c.post(url, content=b"{nope", headers={"Content-Type": TAXII_MEDIA})
        assert not_json.status_code == 422
        for response in (wrong_type, malformed, not_json):
            assert response.headers["content-type"] == TAXII_MEDIA
            assert response.json()["http_status"] == str(response.status_code)


def test_post_over_max_content_length_is_413(store: SqlStore, settings: Settings) -> None:
    with served(store, settings, max_content_length=1000) as world, world.client("same") as c:
        big = orjson.dumps({"objects": [indicator(description="x" * 2000)]})
        response = c.post(world.objects_url, content=big, headers={"Content-Type": TAXII_MEDIA})
        assert response.status_code == 413
        assert response.json()["http_status"] == "413"
    assert store.stats().objects == 0


def test_unknown_collection_and_object_are_404(world: World) -> None:
    with world.client("same") as c:
        assert c.get("/taxii2/api/collections/nope/objects/").status_code == 404
        missing = f"{world.objects_url}indicator--00000000-0000-4000-8000-000000000000/"
        response = c.get(missing)
        assert response.status_code == 404
        assert response.json()["http_status"] == "404"


def test_no_credentials_is_401_with_a_challenge(store: SqlStore, settings: Settings) -> None:
    with served(store, settings) as world:
        closed = world.settings.auth.anonymous_read
        assert closed  # the world allows anonymous reads; a wrong token is still refused
        with world.client(None, Authorization="Bearer mbj_0000_nope") as c:
            response = c.get("/taxii2/api/collections/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.headers["content-type"] == TAXII_MEDIA


def test_without_anonymous_read_no_credentials_is_401(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    import msgspec

    from mburoja.api.app import create_app
    from tests.live import serve
    from tests.world import build_world, world_settings

    closed = world_settings(settings)
    closed = msgspec.structs.replace(
        closed, auth=msgspec.structs.replace(closed.auth, anonymous_read=False)
    )
    build_world(store, closed)
    with serve(create_app(closed, store)) as url:
        for path in ("/taxii2/", "/taxii2/api/collections/", "/api/search?q=x", "/api/stats"):
            response = httpx.get(url + path)
            assert response.status_code == 401, path
            assert "Bearer" in response.headers["WWW-Authenticate"], path


def test_a_read_only_token_stays_read_only_next_to_a_writable_one(world: World) -> None:
    """Rights are cached per organisation and write ability, never per user alone."""
    user = world.users["client"]
    read_only = world.store.issue_token(user, read_only=True).secret
    envelope = orjson.dumps({"objects": [indicator()]})
    headers = {"Accept": TAXII_MEDIA, "Content-Type": TAXII_MEDIA}
    with httpx.Client(base_url=world.url, timeout=30) as c:
        writable = c.post(
            world.objects_url,
            content=envelope,
            headers={**headers, "Authorization": f"Bearer {world.tokens['client']}"},
        )
        refused = c.post(
            world.objects_url,
            content=envelope,
            headers={**headers, "Authorization": f"Bearer {read_only}"},
        )
    assert writable.status_code == 202
    assert refused.status_code == 403


def test_named_recipients_see_and_count_an_amber_strict_object(world: World) -> None:
    """Naming an identity shares the object with it at any level, in pages and in counts."""
    named = indicator(tlp="amber+strict", x_mburoja_recipients=[world.identities["client"]])
    world.load([orjson.dumps(named)], owner=world.orgs["partner"])
    for who, expected in (("client", 1), ("partner", 1), ("community", 0), ("stranger", 0)):
        with world.client(who) as c:
            ids = [o["id"] for o in c.get(world.objects_url).json().get("objects", [])]
            stats = c.get("/api/stats", headers={"Accept": "application/json"}).json()
        assert ids.count(named["id"]) == expected, who
        assert stats["by_type"].get("indicator", 0) == expected, who


def test_a_background_post_that_fails_says_so_and_how_to_recover(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure injection: the store breaks while a large envelope is stored."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(world.store, "write_batch", broken)
    objects = [indicator(f"[domain-name:value = 'fail{i}.test']") for i in range(60)]
    with world.client("client") as c:
        status = c.post(
            world.objects_url,
            content=orjson.dumps({"objects": objects}),
            headers={"Content-Type": TAXII_MEDIA},
        ).json()
        deadline = time.monotonic() + 30
        while status["status"] != "complete":
            assert time.monotonic() < deadline, "the failed POST never completed"
            time.sleep(0.05)
            status = c.get(f"/taxii2/api/status/{status['id']}/").json()
    assert (status["success_count"], status["failure_count"], status["pending_count"]) == (
        0,
        60,
        0,
    )
    assert all("send it again" in f["message"] for f in status["failures"])


def test_a_sender_may_speak_only_for_its_own_identities(world: World) -> None:
    """A created_by_ref (or an identity id) of another organisation is rejected per object;
    the sender's own identity, and identities no organisation here holds, land."""
    own = indicator(created_by_ref=world.identities["client"])
    spoofing = indicator(created_by_ref=world.identities["partner"])
    foreign = indicator(created_by_ref="identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
    impostor = {
        "type": "identity",
        "spec_version": "2.1",
        "id": world.identities["same"],
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "not really the home CERT",
        "identity_class": "organization",
    }
    with world.client("client") as c:
        status = c.post(
            world.objects_url,
            content=orjson.dumps({"objects": [own, spoofing, foreign, impostor]}),
            headers={"Content-Type": TAXII_MEDIA},
        ).json()
    assert status["status"] == "complete"
    assert {s["id"] for s in status["successes"]} == {own["id"], foreign["id"]}
    failed = {f["id"]: f["message"] for f in status["failures"]}
    assert set(failed) == {spoofing["id"], world.identities["same"]}
    assert all("only speak for its own" in message for message in failed.values())
    assert world.store.current(spoofing["id"]) is None
    assert world.store.current(world.identities["same"]) is None


def test_the_home_organisation_may_file_what_a_partner_created(world: World) -> None:
    filed = indicator(created_by_ref=world.identities["partner"])
    world.load([orjson.dumps(filed)])  # owner None: the home organisation, e.g. the CLI
    assert world.store.current(filed["id"]) is not None
