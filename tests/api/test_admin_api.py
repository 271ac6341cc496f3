"""The administration's JSON API over a real store, served by a real uvicorn on 127.0.0.1:
who may read and change it, every endpoint, and its answers against its OpenAPI schemas."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema_rs
import msgspec
import orjson
import pytest
from starlette.routing import Route

from mburoja.api.admin_api import PATHS, routes
from mburoja.api.app import build_policy
from mburoja.config import Settings
from mburoja.ingest.pipeline import Ingestor
from mburoja.stix.model import RawObject
from mburoja.store.sql import SqlStore
from tests.factories import indicator
from tests.world import World, served

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
    "required": ["error", "status"],
}


def _json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: ``nullable`` becomes a null type, the Error
    reference is inlined."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("$ref") == "#/components/schemas/Error":
        return ERROR
    out = {k: _json_schema(v) for k, v in schema.items() if k not in ("nullable", "format")}
    if schema.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def conforms(response: httpx.Response, path: str, method: str) -> Any:
    """The response's JSON, after checking it against PATHS for its status."""
    answers = PATHS[path][method]["responses"]
    assert str(response.status_code) in answers, (response.status_code, response.text)
    schema = answers[str(response.status_code)]["content"]["application/json"]["schema"]
    body = response.json()
    jsonschema_rs.validate(_json_schema(schema), body)
    return body


@dataclass
class Admin:
    world: World
    store: SqlStore
    settings: Settings
    token: str

    def client(self, who: str | None = "admin") -> httpx.Client:
        headers = {"Accept": "application/json"}
        if who == "admin":
            headers["Authorization"] = f"Bearer {self.token}"
        elif who is not None:
            headers["Authorization"] = f"Bearer {self.world.tokens[who]}"
        return httpx.Client(base_url=self.world.url, headers=headers, timeout=30)


@pytest.fixture
def admin(store: SqlStore, settings: Settings) -> Iterator[Admin]:
    """The world served, with an admin of the home organisation and its token."""
    with served(store, settings) as world:
        store.create_user("org-same", "root-admin", "admin")
        token = store.issue_token("root-admin", label="admin").secret
        yield Admin(world=world, store=store, settings=world.settings, token=token)


def quarantine_one(store: SqlStore, settings: Settings) -> tuple[int, dict[str, Any]]:
    """Ingest a good indicator and one with a broken pattern; the number of the bad one's
    quarantine entry, and the bad object."""
    bad = indicator("[domain-name:value = 'broken.example'", tlp="green")
    items = [RawObject(orjson.dumps(o), "bundle.json", i) for i, o in enumerate([indicator(), bad])]
    report = Ingestor(store, settings, workers=0).run(items, source="test")
    assert (report.new, report.rejected) == (1, 1)
    [entry] = [e for e in store.quarantine_list() if e.object_id == bad["id"]]
    return entry.qid, bad


READS = (
    "/api/admin/orgs",
    "/api/admin/users",
    "/api/admin/tokens",
    "/api/admin/peers",
    "/api/admin/collections",
    "/api/admin/quarantine",
)


def test_every_route_is_described_in_paths(admin: Admin) -> None:
    policy = build_policy(admin.settings, admin.store)
    described = {
        (path.replace("{qid}", "{qid:int}"), method.upper())
        for path, ops in PATHS.items()
        for method in ops
    }
    served_routes = {
        (r.path, m)
        for r in routes(admin.store, policy, admin.settings)
        if isinstance(r, Route)
        for m in (r.methods or ())
        if m != "HEAD"
    }
    assert served_routes == described


def test_the_home_organisation_reads_every_list(admin: Admin) -> None:
    with admin.client("same") as client:
        bodies = {path: conforms(client.get(path), path, "get") for path in READS}
    orgs = {o["name"]: o for o in bodies["/api/admin/orgs"]["orgs"]}
    assert orgs["org-same"]["relation"] == "home" and orgs["org-same"]["accounts"] == 2
    assert orgs["org-partner"]["relation"] == "partner"
    users = {u["name"]: u for u in bodies["/api/admin/users"]["users"]}
    assert users["root-admin"]["role"] == "admin" and users["root-admin"]["org"] == "org-same"
    assert users["analyst-client"]["has_password"] is False
    tokens = bodies["/api/admin/tokens"]["tokens"]
    assert {t["user"] for t in tokens} >= {"root-admin", "analyst-same"}
    assert not any(admin.token.endswith(str(v)) for t in tokens for v in t.values())
    [shared] = bodies["/api/admin/collections"]["collections"]
    assert shared["alias"] == "shared"
    assert {g["org"] for g in shared["grants"]} == {"* (every organisation)", "anonymous"}
    assert bodies["/api/admin/peers"] == {"peers": []}
    assert bodies["/api/admin/quarantine"] == {"entries": []}


def test_an_admin_adds_an_organisation_and_changes_its_relation(admin: Admin) -> None:
    path = "/api/admin/orgs"
    with admin.client() as client:
        made = conforms(client.post(path, json={"name": "CERT Bulgaria"}), path, "post")
        assert made["relation"] == "none" and made["accounts"] == 0
        relate = "/api/admin/orgs/{org_id}/relation"
        url = f"/api/admin/orgs/{made['id']}/relation"
        changed = conforms(client.post(url, json={"relation": "partner"}), relate, "post")
        assert changed["relation"] == "partner"
        assert admin.store.get_org("CERT Bulgaria").relation == "partner"
        again = conforms(client.post(path, json={"name": "CERT Bulgaria"}), path, "post")
        assert again["status"] == 400 and "exists already" in again["error"]
        bad = conforms(client.post(url, json={"relation": "friend"}), relate, "post")
        assert bad["status"] == 400 and "relation" in bad["error"]
        home = admin.world.orgs["same"]
        refused = client.post(f"/api/admin/orgs/{home}/relation", json={"relation": "client"})
        assert refused.status_code == 400 and "home" in refused.json()["error"]
        missing = client.post("/api/admin/orgs/nobody/relation", json={"relation": "client"})
        assert missing.status_code == 404
    assert admin.store.get_org("org-same").relation == "home"


def test_an_admin_adds_a_user_disables_it_and_sets_its_password(admin: Admin) -> None:
    with admin.client() as client:
        made = conforms(
            client.post(
                "/api/admin/users",
                json={"name": "Ana Analyst", "org": "org-partner", "role": "reader"},
            ),
            "/api/admin/users",
            "post",
        )
        assert (made["org"], made["kind"], made["has_password"]) == ("org-partner", "user", False)
        uid = made["id"]
        off = client.post(f"/api/admin/users/{uid}/disabled", json={"disabled": True})
        assert conforms(off, "/api/admin/users/{user_id}/disabled", "post")["disabled"] is True
        assert admin.store.get_user(uid).disabled
        pw = "/api/admin/users/{user_id}/password"
        short = client.post(f"/api/admin/users/{uid}/password", json={"password": "short"})
        assert conforms(short, pw, "post")["status"] == 400 and "10" in short.json()["error"]
        ok = client.post(f"/api/admin/users/{uid}/password", json={"password": "x" * 12})
        assert conforms(ok, pw, "post")["has_password"] is True
        cleared = client.post(f"/api/admin/users/{uid}/password", json={"password": None})
        assert conforms(cleared, pw, "post")["has_password"] is False
        listed = client.get("/api/admin/users", params={"org": "org-partner"}).json()["users"]
    assert {u["name"] for u in listed} == {"Ana Analyst", "analyst-partner"}


def test_an_issued_token_is_shown_once_and_works_until_revoked(admin: Admin) -> None:
    path = "/api/admin/tokens"
    with admin.client() as client:
        body = {"user": "analyst-partner", "label": "for the SOC", "days": 3, "read_only": True}
        issued = conforms(client.post(path, json=body), path, "post")
        token = issued["token"]
        assert token["label"] == "for the SOC" and token["read_only"] and token["expires"]
        secret = issued["secret"]
        with httpx.Client(
            base_url=admin.world.url, headers={"Authorization": f"Bearer {secret}"}
        ) as fresh:
            assert fresh.get("/api/stats").status_code == 200
            listing = client.get(path, params={"user": "analyst-partner"})
            assert secret not in listing.text
            assert token["id"] in {t["id"] for t in conforms(listing, path, "get")["tokens"]}
            revoke = "/api/admin/tokens/{token_id}/revoke"
            done = client.post(f"/api/admin/tokens/{token['id']}/revoke")
            assert conforms(done, revoke, "post")["revoked"] is True
            assert fresh.get("/api/stats").status_code == 401
        both = client.post(path, json={"user": "analyst-partner", "days": 3, "no_expiry": True})
        assert both.status_code == 400 and "not both" in both.json()["error"]
        nobody = conforms(client.post(path, json={"user": "nobody"}), path, "post")
        assert nobody["status"] == 404
        gone = client.post("/api/admin/tokens/0000/revoke")
        assert gone.status_code == 404


def test_an_admin_pauses_and_resumes_a_peer(admin: Admin) -> None:
    peer = admin.store.add_peer(
        "nato-hub", "https://hub.example/api/", relation="partner", kind="taxii"
    )
    path = "/api/admin/peers/{peer_id}/enabled"
    with admin.client() as client:
        [listed] = conforms(client.get("/api/admin/peers"), "/api/admin/peers", "get")["peers"]
        assert (listed["name"], listed["enabled"], listed["pending"]) == ("nato-hub", True, 0)
        off = client.post(f"/api/admin/peers/{peer.id}/enabled", json={"enabled": False})
        assert conforms(off, path, "post")["enabled"] is False
        assert admin.store.get_peer("nato-hub").enabled is False
        on = client.post(f"/api/admin/peers/{peer.id}/enabled", json={"enabled": True})
        assert conforms(on, path, "post")["enabled"] is True
        missing = client.post("/api/admin/peers/nope/enabled", json={"enabled": True})
        assert conforms(missing, path, "post")["status"] == 404


def test_an_admin_adds_a_collection_and_grants_and_withdraws_access(admin: Admin) -> None:
    path = "/api/admin/collections"
    grants = "/api/admin/collections/{collection_id}/grants"
    with admin.client() as client:
        made = conforms(
            client.post(path, json={"alias": "nato", "title": "For NATO"}), path, "post"
        )
        assert (made["title"], made["objects"], made["grants"]) == ("For NATO", 0, [])
        url = f"/api/admin/collections/{made['id']}/grants"
        g = conforms(
            client.post(url, json={"org": "org-partner", "read": True, "write": True}),
            grants,
            "post",
        )
        assert (g["org"], g["collection"], g["can_read"], g["can_write"]) == (
            "org-partner",
            "nato",
            True,
            True,
        )
        partner = admin.world.orgs["partner"]
        assert admin.store.rights(made["id"], _partner(admin), _home(admin)) == (True, True)
        client.post(url, json={"org": partner, "read": False, "write": False})
        assert admin.store.rights(made["id"], _partner(admin), _home(admin)) == (False, False)
        anon = client.post(url, json={"org": "anonymous", "read": True, "write": True})
        assert anon.status_code == 400 and "anonymous" in anon.json()["error"]
        twice = client.post(path, json={"alias": "nato"})
        assert twice.status_code == 400 and "exists already" in twice.json()["error"]


def _partner(admin: Admin) -> Any:
    return admin.store.authenticate(admin.world.tokens["partner"])


def _home(admin: Admin) -> str:
    return admin.world.orgs["same"]


def test_a_quarantined_item_is_shown_fixed_and_replayed(admin: Admin) -> None:
    qid, bad = quarantine_one(admin.store, admin.settings)
    with admin.client() as client:
        listed = conforms(client.get("/api/admin/quarantine"), "/api/admin/quarantine", "get")[
            "entries"
        ]
        assert [(e["qid"], e["field"]) for e in listed] == [(qid, "pattern")]
        one = conforms(
            client.get(f"/api/admin/quarantine/{qid}"), "/api/admin/quarantine/{qid}", "get"
        )
        stored = admin.store.quarantine_get(qid).raw
        assert base64.b64decode(one["raw_base64"]) == stored
        assert one["text"] == stored.decode() and "missing ']'" in one["reason"]

        replay = "/api/admin/quarantine/{qid}/replay"
        still = client.post(
            f"/api/admin/quarantine/{qid}/replay",
            json={"text": one["text"].replace("broken", "still broken")},
        )
        outcome = conforms(still, replay, "post")
        assert (outcome["landed"], outcome["status"], outcome["rejected"]) == (False, "open", 1)
        assert outcome["rejects"][0]["field"] == "pattern"
        assert admin.store.current(bad["id"]) is None

        fixed = one["text"].replace("broken.example'", "broken.example']")
        landed = conforms(
            client.post(f"/api/admin/quarantine/{qid}/replay", json={"text": fixed}),
            replay,
            "post",
        )
        assert (landed["landed"], landed["status"], landed["new"]) == (True, "replayed", 1)
        assert admin.store.current(bad["id"]) is not None
        again = client.post(f"/api/admin/quarantine/{qid}/replay")
        assert again.status_code == 400 and "not open" in again.json()["error"]
        everything = client.get("/api/admin/quarantine", params={"status": "all"}).json()
        assert [e["status"] for e in everything["entries"]] == ["replayed"]
        assert client.get("/api/admin/quarantine", params={"status": "x"}).status_code == 400
        assert client.get("/api/admin/quarantine/999999").status_code == 404


def test_a_quarantined_item_can_be_dismissed(admin: Admin) -> None:
    qid, _ = quarantine_one(admin.store, admin.settings)
    with admin.client() as client:
        done = client.post(f"/api/admin/quarantine/{qid}/dismiss")
        assert conforms(done, "/api/admin/quarantine/{qid}/dismiss", "post")["status"] == (
            "dismissed"
        )
        assert client.get("/api/admin/quarantine").json() == {"entries": []}
    assert admin.store.quarantine_get(qid).status == "dismissed"


#: a change of each kind, with a body that would succeed for an admin
CHANGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("/api/admin/orgs", {"name": "Sneaky"}),
    ("/api/admin/orgs/{org}/relation", {"relation": "client"}),
    ("/api/admin/users", {"name": "sneaky", "org": "org-same", "role": "admin"}),
    ("/api/admin/users/{user}/disabled", {"disabled": True}),
    ("/api/admin/users/{user}/password", {"password": "a new password!"}),
    ("/api/admin/tokens", {"user": "root-admin"}),
    ("/api/admin/tokens/{token}/revoke", {}),
    ("/api/admin/peers/{peer}/enabled", {"enabled": False}),
    ("/api/admin/collections", {"alias": "sneaky"}),
    ("/api/admin/collections/{collection}/grants", {"org": "*", "read": True, "write": True}),
    ("/api/admin/quarantine/{qid}/replay", {}),
    ("/api/admin/quarantine/{qid}/dismiss", {}),
)


def _snapshot(store: SqlStore) -> Any:
    return (
        store.orgs(),
        store.users(),
        [msgspec.structs.replace(t, last_used=None) for t in store.tokens()],  # moves on use
        store.peers(),
        store.collections(),
        store.access(),
        store.quarantine_list(None),
    )


def _targets(admin: Admin) -> dict[str, str]:
    qid, _ = quarantine_one(admin.store, admin.settings)
    peer = admin.store.add_peer("hub", "https://hub.example/api/", relation="partner", kind="taxii")
    return {
        "org": admin.world.orgs["client"],
        "user": admin.store.get_user("analyst-client").id,
        "token": admin.store.tokens("root-admin")[0].id,
        "peer": peer.id,
        "collection": admin.world.collection_id,
        "qid": str(qid),
    }


@pytest.mark.parametrize("who", ["same", "partner", "client", None])
def test_only_an_admin_of_the_home_organisation_may_change_anything(
    admin: Admin, who: str | None
) -> None:
    targets = _targets(admin)
    before = _snapshot(admin.store)
    with admin.client(who) as client:
        for path, body in CHANGES:
            response = client.post(path.format(**targets), json=body)
            assert response.status_code == (401 if who is None else 403), path
            assert "error" in response.json()
    assert _snapshot(admin.store) == before


@pytest.mark.parametrize("who", ["partner", "community", "stranger", None])
def test_other_organisations_read_no_administration(admin: Admin, who: str | None) -> None:
    qid, _ = quarantine_one(admin.store, admin.settings)
    with admin.client(who) as client:
        for path in (*READS, f"/api/admin/quarantine/{qid}"):
            response = client.get(path)
            assert response.status_code == (401 if who is None else 403), path
            assert "home organisation" in response.json()["error"]


def test_a_read_only_admin_token_may_read_but_not_change(admin: Admin) -> None:
    secret = admin.store.issue_token("root-admin", read_only=True).secret
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=admin.world.url, headers=headers) as client:
        assert client.get("/api/admin/orgs").status_code == 200
        refused = client.post("/api/admin/orgs", json={"name": "x"})
    assert refused.status_code == 403 and "may write" in refused.json()["error"]


def test_bad_bodies_are_refused_with_the_field_named(admin: Admin) -> None:
    with admin.client() as client:
        unknown = client.post("/api/admin/orgs", json={"name": "x", "colour": "red"})
        assert unknown.status_code == 400 and "colour" in unknown.json()["error"]
        wrong = client.post("/api/admin/tokens", json={"user": "root-admin", "days": "ten"})
        assert wrong.status_code == 400 and "days" in wrong.json()["error"]
        long = client.post("/api/admin/tokens", json={"user": "root-admin", "days": 10**9})
        assert long.status_code == 400 and "days" in long.json()["error"]
        nul = client.post("/api/admin/orgs", json={"name": "a\x00b"})
        assert nul.status_code == 400 and "name" in nul.json()["error"]
        empty = client.post("/api/admin/orgs", content=b"not json")
        assert empty.status_code == 400
        assert client.get("/api/admin/quarantine", params={"limit": "0"}).status_code == 400
    assert [o.name for o in admin.store.orgs() if o.name in ("x", "a\x00b")] == []
