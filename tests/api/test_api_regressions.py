"""Regressions schemathesis found in the REST API: matching against an empty library, and
who may read the narrative library without credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mburoja.config import Settings
from mburoja.store.sql import SqlStore
from tests.world import World, served


@pytest.fixture
def world(store: SqlStore, settings: Settings) -> Iterator[World]:
    with served(store, settings) as world:
        yield world


def _draft(title: str, tlp: str) -> dict[str, object]:
    return {"title": title, "tlp": tlp, "examples": [{"lang": "en", "text": f"{title} text"}]}


def test_matching_with_no_documents_or_no_narratives_answers_no_matches(world: World) -> None:
    with world.client("same") as client:
        for body in ({"documents": []}, {"documents": [{"title": "anything"}]}):
            answer = client.post("/api/disinfo/narratives/match", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["matches"] == []
            assert answer.json()["narratives"] == 0
        assert client.post("/api/disinfo/narratives", json=_draft("Wood ban", "clear")).is_success
        answer = client.post("/api/disinfo/narratives/match", json={"documents": []})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["documents"], answer.json()["narratives"]) == (0, 1)


def test_an_anonymous_caller_reads_only_clear_narratives(world: World) -> None:
    with world.client("same") as home:
        for title, tlp in (("Open claim", "clear"), ("Partner claim", "green"), ("Ours", "amber")):
            assert home.post("/api/disinfo/narratives", json=_draft(title, tlp)).status_code == 201
        seen = {n["title"] for n in home.get("/api/disinfo/narratives").json()["narratives"]}
        assert seen == {"Open claim", "Partner claim", "Ours"}
    with world.client(None) as anonymous:
        answer = anonymous.get("/api/disinfo/narratives")
        assert answer.status_code == 200
        assert [n["title"] for n in answer.json()["narratives"]] == ["Open claim"]
        hidden = anonymous.post("/api/disinfo/narratives", json=_draft("Sneaky", "clear"))
        assert hidden.status_code in (401, 403)
    with world.client("stranger") as stranger:
        titles = {n["title"] for n in stranger.get("/api/disinfo/narratives").json()["narratives"]}
        assert "Ours" not in titles


def test_a_narrative_title_with_a_nul_character_is_refused(world: World) -> None:
    with world.client("same") as client:
        answer = client.post("/api/disinfo/narratives", json=_draft("bad\x00title", "clear"))
        assert answer.status_code == 400
        assert "title" in answer.json()["error"]
