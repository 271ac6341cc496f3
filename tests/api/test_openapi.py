"""The OpenAPI document at /api/openapi.json: every /api/ route is in it, and the live server
answers what it says (schemathesis, authenticated as a home analyst)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from mburoja.api.app import create_app
from mburoja.api.detection_api import ALERT_CURSOR, SIGHTING_CURSOR
from mburoja.api.openapi import document
from mburoja.config import Settings
from mburoja.stix.markings import TLP2
from mburoja.store.sql import SqlStore
from tests.factories import T0, indicator, uid
from tests.world import World, served, world_settings

#: generated requests per operation
EXAMPLES = 25


def _sighting(indicator_id: str, n: int) -> dict[str, Any]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uid(f'spec sighting {n}')}",
        "created": T0,
        "modified": T0,
        "sighting_of_ref": indicator_id,
        "count": n + 1,
        "first_seen": T0,
        "last_seen": T0,
        "object_marking_refs": [TLP2["green"]],
    }


@pytest.fixture
def world(store: SqlStore, settings: Settings) -> Iterator[World]:
    with served(store, settings) as world:
        spec = indicator("[domain-name:value = 'spec.example']", tlp="green", name="spec")
        world.load([spec, *(_sighting(spec["id"], n) for n in range(3))])
        yield world


def test_the_document_is_openapi_3_0_3_with_the_error_schema(world: World) -> None:
    spec = httpx.get(f"{world.url}/api/openapi.json").json()
    assert spec["openapi"] == "3.0.3"
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "status"]
    assert error["properties"] == {
        "error": {"type": "string", "description": "what was wrong, and where"},
        "status": {"type": "integer", "description": "the HTTP status code"},
    }
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec == document()


def test_every_api_route_is_documented_with_its_methods(
    store: SqlStore, settings: Settings
) -> None:
    store.create_org("home", "home")
    app = create_app(world_settings(settings), store)
    paths = document()["paths"]
    missing = []
    for route in app.routes:
        if not isinstance(route, Route) or not route.path.startswith("/api/"):
            continue
        methods = {m.lower() for m in route.methods or ()} - {"head"}
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {qid:int} is {qid} in OpenAPI
        documented = set(paths.get(path, {}))
        missing += [f"{m.upper()} {path}" for m in sorted(methods - documented)]
    assert missing == [], f"routes without an OpenAPI entry: {missing}"
    assert "x-missing-paths" not in document(), document().get("x-missing-paths")


def _issued_cursors(world: World) -> tuple[list[str], list[str]]:
    """Cursors the server issued: the alert stream's, and the sightings' next pages (one
    sighting a page), so the cursor formats draw real ones."""
    with world.client("same") as client:
        alerts = [client.get("/api/detection/alerts").json()["cursor"]]
        pages: list[str] = []
        page = client.get("/api/detection/sightings", params={"limit": 1}).json()
        while page["next"] is not None:
            pages.append(page["next"])
            page = client.get(
                "/api/detection/sightings", params={"limit": 1, "before": page["next"]}
            ).json()
    assert len(pages) >= 2, "the world has sightings: their pages have cursors"
    return alerts, pages


def _moment(text: str) -> datetime:
    found = datetime.fromisoformat(text)
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _a_window(_context: Any, query: dict[str, Any] | None) -> bool:
    """``since`` before ``until``: a rule between two parameters that OpenAPI cannot state
    (their descriptions do), so requests that break it are not generated."""
    if not query or not query.get("since") or not query.get("until"):
        return True
    return _moment(str(query["since"])) < _moment(str(query["until"]))


def test_the_server_answers_what_the_document_says(world: World) -> None:
    """Every operation, EXAMPLES generated requests each, all schemathesis checks: no server
    error, every valid request accepted, every answer as the document describes it."""
    alerts, pages = _issued_cursors(world)
    schemathesis.openapi.format(ALERT_CURSOR, st.sampled_from(alerts))
    schemathesis.openapi.format(SIGHTING_CURSOR, st.sampled_from(pages))
    schema = schemathesis.openapi.from_url(f"{world.url}/api/openapi.json")
    schema.hook("filter_query")(_a_window)
    headers = {"Authorization": f"Bearer {world.tokens['same']}"}
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(base_url=world.url, headers=headers)

        call()
        checked += 1
    assert checked >= len(document()["paths"])
