"""A small world of organisations for access tests: our home CERT, a client, a partner, a
community member, an organisation with no relation, each with an analyst and a token; a
collection ``shared`` every organisation may read and write; the app served on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import orjson

from mburoja.api.app import create_app
from mburoja.config import Settings
from mburoja.ingest.pipeline import Ingestor
from mburoja.stix.model import RawObject
from mburoja.store.sql import SqlStore
from tests.live import serve

#: caller name -> the relation its organisation has to ours
RELATIONS = {
    "same": "home",
    "client": "client",
    "partner": "partner",
    "community": "community",
    "stranger": "none",
}
TAXII_MEDIA = "application/taxii+json;version=2.1"
SECRET = "test-secret-" + "x" * 40


@dataclass
class World:
    url: str
    store: SqlStore
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)
    collection_id: str = ""

    def client(self, who: str | None, **headers: str) -> httpx.Client:
        """An HTTP client authenticated as ``who`` (None: anonymous), Bearer token."""
        base = {"Accept": TAXII_MEDIA, **headers}
        if who is not None:
            base["Authorization"] = f"Bearer {self.tokens[who]}"
        return httpx.Client(base_url=self.url, headers=base, timeout=30)

    @property
    def api_root(self) -> str:
        return f"{self.url}/taxii2/api/"

    @property
    def objects_url(self) -> str:
        return f"/taxii2/api/collections/{self.collection_id}/objects/"

    def load(
        self,
        objects: Iterable[dict[str, Any] | bytes],
        owner: str | None = None,
        collection: str = "shared",
    ) -> None:
        load(self.store, self.settings, objects, owner=owner, collection=collection)


def load(
    store: SqlStore,
    settings: Settings,
    objects: Iterable[dict[str, Any] | bytes],
    *,
    owner: str | None = None,
    collection: str = "shared",
) -> None:
    """Ingest ``objects`` (dicts or exact bytes) through the real pipeline into
    ``collection``, owned by ``owner`` (None: the home organisation); none may be rejected."""
    items = (
        RawObject(o if isinstance(o, bytes) else orjson.dumps(o), "test", i)
        for i, o in enumerate(objects)
    )
    report = Ingestor(store, settings, workers=0).run(
        items, source="test", collection=collection, owner=owner
    )
    assert report.rejected == 0, f"test objects rejected: {report.rejects[:3]}"


def stored_count(store: SqlStore) -> tuple[int, int]:
    """(objects, versions) in the whole store, read directly, not through the API."""
    stats = store.stats()
    return stats.objects, stats.versions


def build_world(store: SqlStore, settings: Settings, *, anonymous: bool = True) -> World:
    world = World(url="", store=store, settings=settings)
    for who, relation in RELATIONS.items():
        org = store.create_org(f"org-{who}", relation)
        user = store.create_user(org.name, f"analyst-{who}", "analyst")
        world.orgs[who] = org.id
        world.users[who] = user.name
        world.identities[who] = org.identity_id
        world.tokens[who] = store.issue_token(user.name, label="test").secret
    coll = store.ensure_collection("shared", "Shared with allies")
    world.collection_id = coll.id
    store.grant("shared", "*", can_read=True, can_write=True)
    if anonymous:
        store.grant("shared", "anonymous", can_read=True, can_write=False)
    return world


def world_settings(settings: Settings, **taxii: int) -> Settings:
    auth = msgspec.structs.replace(settings.auth, secret=SECRET, anonymous_read=True)
    taxii_settings = msgspec.structs.replace(settings.taxii, **taxii)
    return msgspec.structs.replace(settings, auth=auth, taxii=taxii_settings)


@contextmanager
def served(store: SqlStore, settings: Settings, **taxii: int) -> Iterator[World]:
    """The world, with the app serving it; yields once the server answers."""
    settings = world_settings(settings, **taxii)
    world = build_world(store, settings)
    with serve(create_app(settings, store)) as url:
        world.url = url
        yield world
