"""The REST API over a real store, served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from mburoja.config import Settings
from mburoja.ingest.pipeline import Ingestor
from mburoja.store.sql import SqlStore
from tests.factories import indicator, raw
from tests.world import served


@pytest.fixture
def client(store: SqlStore, settings: Settings) -> Iterator[httpx.Client]:
    """A client of the home organisation's analyst, who may see everything."""
    with served(store, settings) as world, world.client("same", Accept="application/json") as c:
        yield c


def load(store: SqlStore, settings: Settings, *objs: dict) -> None:
    report = Ingestor(store, settings).run(
        (raw(o, "api-test", i) for i, o in enumerate(objs)), source="ally"
    )
    assert report.rejected == 0


def test_health_reports_ok_with_the_store_kind(client: httpx.Client) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["store"] in ("sqlite", "postgresql")


def test_search_finds_the_cidr_indicator_for_an_address(
    client: httpx.Client, store: SqlStore, settings: Settings
) -> None:
    net = indicator("[ipv4-addr:value ISSUBSET '192.0.2.0/24']")
    load(store, settings, net)
    body = client.get("/api/search", params={"q": "192.0.2.55"}).json()
    assert [h["id"] for h in body["hits"]] == [net["id"]]
    assert body["sources"] == ["ally"] and body["first_seen"]


def test_search_without_a_query_is_a_400_that_says_what_is_missing(client: httpx.Client) -> None:
    response = client.get("/api/search")
    assert response.status_code == 400 and "q" in response.json()["error"]


def test_search_with_a_bad_limit_is_a_400(client: httpx.Client) -> None:
    assert client.get("/api/search", params={"q": "x", "limit": "lots"}).status_code == 400


def test_object_endpoint_returns_every_version_with_the_exact_stored_json(
    client: httpx.Client, store: SqlStore, settings: Settings
) -> None:
    v1 = indicator(created="2026-01-01T00:00:00Z", x_note="first")
    v2 = {**v1, "modified": "2026-01-02T00:00:00Z", "x_note": "second"}
    load(store, settings, v1, v2)
    response = client.get(f"/api/objects/{v1['id']}")
    assert response.status_code == 200
    body = response.json()
    assert [v["object"] for v in body["versions"]] == [v1, v2]
    assert [v["current"] for v in body["versions"]] == [False, True]
    assert orjson.dumps(v2) in response.content


def test_unknown_object_is_404_and_malformed_id_is_400(client: httpx.Client) -> None:
    assert (
        client.get("/api/objects/indicator--00000000-0000-4000-8000-000000000000").status_code
        == 404
    )
    assert client.get("/api/objects/not-an-id").status_code == 400


def test_stats_counts_what_was_ingested(
    client: httpx.Client, store: SqlStore, settings: Settings
) -> None:
    load(store, settings, indicator(), indicator(tlp="red"))
    body = client.get("/api/stats").json()
    assert body["objects"] == 2 and body["by_tlp"] == {"green": 1, "red": 1}
