"""Federation end to end, with real ``mburoja serve`` processes on 127.0.0.1.

Three instances: Tirana pushes to a hub (Tirana's *client*), the hub pushes to Sofia (the
hub's *partner*); Sofia knows Tirana's key, so it can check what the hub relays from it. The
hub knows nothing beyond its two links. Then a plain medallion TAXII server stands in for a
peer that signs nothing: Tirana pushes to it, another instance pulls from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mburoja.federation.signing import ObjectSignature, parse_public_key, verify
from tests.factories import indicator
from tests.federation.cluster import MEDIA, SHARED_ID, Instance, know, link, wait_for
from tests.taxii.medallion import Medallion, add_objects, running_medallion, served_objects

Cluster = tuple[Instance, Instance, Instance]
WAIT_S = 60.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Tirana -> hub (client) -> Sofia (partner), Sofia knowing Tirana's key; shared by the
    tests of this module (each posts its own objects and asserts only about them, or about
    invariants that hold whatever else went through)."""
    root = tmp_path_factory.mktemp("cluster")
    t = Instance(root, "tirana")
    h = Instance(root, "hub")
    s = Instance(root, "sofia")
    link(t, h, relation="client")
    link(h, s, relation="partner")
    know(s, t)
    started: list[Instance] = []
    try:
        for instance in (t, h, s):
            instance.start()
            started.append(instance)
        yield t, h, s
    finally:
        for instance in started:
            instance.stop()


# -- helpers ---------------------------------------------------------------------------------


def ids(instance: Instance) -> set[str]:
    return {oid for oid, _version in instance.versions()}


def stored(instance: Instance, object_id: str) -> list[Any]:
    """Every stored version of one object (the store's rows, not a caller's view)."""
    with instance.store() as store:
        return list(store.versions(object_id))


def taxii_objects(instance: Instance, token: str | None = None) -> list[dict[str, Any]]:
    """Every object the shared collection serves to ``token`` (default: the analyst), read
    over TAXII with plain httpx, all pages."""
    found: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "1000"}
    headers = {"Authorization": f"Bearer {token or instance.token}", "Accept": MEDIA}
    url = f"{instance.api_root}collections/{SHARED_ID}/objects/"
    with httpx.Client(trust_env=False, timeout=60.0, headers=headers) as client:
        for _page in range(1000):
            answer = client.get(url, params=params)
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("application/taxii+json")
            envelope = answer.json()
            found.extend(envelope.get("objects", []))
            if not envelope.get("more"):
                return found
            params["next"] = envelope["next"]
    raise AssertionError("the server kept saying 'more'")


def settled(*instances: Instance) -> bool:
    """Nothing pending or failed in any outbox of ``instances``."""
    for instance in instances:
        for peer in instance.status().values():
            if peer["pending"] or peer["failed"]:
                return False
    return True


def identity(instance: Instance, org: str) -> str:
    """An organisation's STIX identity id as ``instance`` knows it (deterministic by name,
    so the same at every instance)."""
    with instance.store() as store:
        return store.get_org(org).identity_id


# -- relaying, provenance, signatures ----------------------------------------------------------


def test_an_indicator_from_tirana_reaches_sofia_through_the_hub(cluster: Cluster) -> None:
    t, h, s = cluster
    obj = indicator("[ipv4-addr:value = '198.51.100.7']", tlp="green", description="relayed")
    status = t.post([obj])
    assert status["success_count"] == 1, status

    wait_for(lambda: obj["id"] in ids(s), WAIT_S, "the indicator at sofia")

    # Sofia's analyst reads it over TAXII, exactly as Tirana stored it.
    served = [o for o in taxii_objects(s) if o["id"] == obj["id"]]
    assert len(served) == 1
    (at_tirana,) = stored(t, obj["id"])
    assert served[0] == orjson.loads(at_tirana.raw)
    assert served[0]["description"] == "relayed"

    # Sofia stored where it came from: first committed at Tirana, through the hub.
    (at_sofia,) = stored(s, obj["id"])
    assert orjson.loads(at_sofia.raw) == orjson.loads(at_tirana.raw)
    with s.store() as store:
        relay = store.provenance_of(at_sofia.seq)
    assert relay is not None
    assert relay.origin == t.key_id
    assert [hop.instance for hop in relay.path] == [t.key_id, h.key_id, s.key_id]

    # The hub relayed it with Tirana's own signature, which still verifies at Sofia with
    # Tirana's public key, and with no other key.
    assert relay.signature is not None
    signature = msgspec.json.decode(relay.signature, type=ObjectSignature)
    assert signature.origin == t.key_id
    assert signature.object_id == obj["id"]
    stored_obj = orjson.loads(at_sofia.raw)
    assert verify(parse_public_key(t.public_key), stored_obj, signature)
    assert not verify(parse_public_key(h.public_key), stored_obj, signature)
    tampered = {**stored_obj, "description": "changed on the way"}
    assert not verify(parse_public_key(t.public_key), tampered, signature)


def test_markings_decide_how_far_an_object_travels(cluster: Cluster) -> None:
    t, h, s = cluster
    # Tirana knows the hub's organisation, not Sofia's; identity ids are deterministic by
    # organisation name, so every instance that knows one has the same id for it.
    hub_id, sofia_id = identity(t, "hub"), identity(h, "sofia")
    assert hub_id == identity(h, "hub") == identity(s, "hub")
    assert sofia_id == identity(s, "sofia")

    strict = indicator("[domain-name:value = 'strict.example']", tlp="amber+strict")
    amber = indicator("[domain-name:value = 'amber.example']", tlp="amber")
    red_both = indicator(
        "[domain-name:value = 'red-both.example']",
        tlp="red",
        x_mburoja_recipients=[hub_id, sofia_id],
    )
    red_sofia = indicator(
        "[domain-name:value = 'red-sofia.example']", tlp="red", x_mburoja_recipients=[sofia_id]
    )
    red_nobody = indicator("[domain-name:value = 'red-nobody.example']", tlp="red")
    green = indicator("[domain-name:value = 'green.example']", tlp="green")
    t.post([strict, amber, red_both, red_sofia, red_nobody])
    # posted last: once it is at Sofia, everything before it has been decided on the way
    marker = indicator("[domain-name:value = 'marker.example']", tlp="green")
    t.post([green])
    t.post([marker])
    wait_for(lambda: marker["id"] in ids(s), WAIT_S, "the marker at sofia")
    wait_for(lambda: settled(t, h), WAIT_S, "tirana's and the hub's outboxes to drain")

    at_tirana, at_hub, at_sofia = ids(t), ids(h), ids(s)
    posted = [strict, amber, red_both, red_sofia, red_nobody, green, marker]
    assert {o["id"] for o in posted} <= at_tirana

    assert strict["id"] not in at_hub and strict["id"] not in at_sofia  # AMBER+STRICT
    assert amber["id"] in at_hub  # the hub is Tirana's client
    assert amber["id"] not in at_sofia  # Sofia is only the hub's partner
    assert red_both["id"] in at_hub and red_both["id"] in at_sofia  # both named
    assert red_sofia["id"] not in at_hub and red_sofia["id"] not in at_sofia  # hub may not carry
    assert red_nobody["id"] not in at_hub and red_nobody["id"] not in at_sofia
    assert green["id"] in at_hub and green["id"] in at_sofia

    # Sofia's analyst sees the RED object named to Sofia that came through the hub.
    served = {o["id"] for o in taxii_objects(s)}
    assert red_both["id"] in served and green["id"] in served
    assert amber["id"] not in served


def test_metrics_and_cli_status_agree_with_the_api(cluster: Cluster) -> None:
    t, h, s = cluster
    objs = [indicator(f"[domain-name:value = 'metrics-{i}.example']") for i in range(5)]
    t.post(objs)
    wait_for(lambda: {o["id"] for o in objs} <= ids(s), WAIT_S, "the objects at sofia")
    wait_for(lambda: settled(t, h), WAIT_S, "tirana's and the hub's outboxes to drain")

    # The hub holds exactly what Tirana delivered to it, Sofia exactly what the hub delivered.
    api = t.status()
    assert api["hub"]["pending"] == 0
    assert api["hub"]["delivered"] == h.count() >= len(objs)
    assert h.status()["sofia"]["delivered"] == s.count()
    assert h.status()["tirana"]["received"] == h.count()

    with httpx.Client(trust_env=False, timeout=30.0) as client:
        denied = client.get(f"{t.base}/metrics")
        answer = client.get(f"{t.base}/metrics", headers={"Authorization": f"Bearer {t.token}"})
    assert denied.status_code in (401, 403)
    assert answer.status_code == 200, answer.text
    samples = {
        (sample.name, sample.labels.get("peer")): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    assert samples[("mburoja_peer_outbox_depth", "hub")] == 0
    assert samples[("mburoja_peer_delivered_total", "hub")] == api["hub"]["delivered"]
    assert samples[("mburoja_peer_withheld_total", "hub")] == api["hub"]["withheld"]
    assert samples[("mburoja_peer_outbox_failed", "hub")] == 0
    assert samples[("mburoja_peer_up", "hub")] == 1

    # `mburoja peer status --json`, run against Tirana's data directory, says the same.
    cli = orjson.loads(t.cli("peer", "status", "--json"))
    assert {p["name"]: p for p in cli["peers"]} == t.status()
    assert samples[("mburoja_peer_delivered_total", "hub")] == t.status()["hub"]["delivered"]


# -- a plain TAXII peer ------------------------------------------------------------------------

PULLED = re.compile(
    r"pulled (?P<collection>\S+): (?P<received>[\d,]+) received, (?P<new>[\d,]+) new, "
    r"(?P<new_versions>[\d,]+) new versions"
)


def pulled(output: str) -> dict[str, int]:
    found = PULLED.search(output)
    assert found is not None, output
    return {k: int(v.replace(",", "")) for k, v in found.groupdict().items() if k != "collection"}


def collection_ids(instance: Instance, alias: str) -> set[str]:
    with instance.store() as store, store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT o.id FROM objects o JOIN collection_objects m ON m.seq = o.seq "
            "JOIN collections c ON c.id = m.collection_id WHERE c.alias = ?",
            (alias,),
        ).all()
    return {oid for (oid,) in rows}


def add_medallion_peer(instance: Instance, server: Medallion, **collections: list[str]) -> None:
    """Medallion as a plain TAXII peer of ``instance``: HTTP Basic, nothing signed."""
    with instance.store() as store:
        store.add_peer(
            "medallion",
            server.api_root_url,
            relation="partner",
            kind="taxii",
            user=server.user,
            secret_env="MEDALLION_PASSWORD",
            must_sign=False,
            **collections,
        )


def test_a_plain_medallion_peer_without_signatures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    preloaded = [indicator(f"[domain-name:value = 'medallion-{i}.example']") for i in range(3)]
    with running_medallion(preloaded, workdir=tmp_path) as server:
        t = Instance(tmp_path, "tirana")
        add_medallion_peer(t, server, push=[server.collection_id])
        t.env["MEDALLION_PASSWORD"] = server.password
        t.start()
        try:
            green = [
                indicator(f"[domain-name:value = 'to-medallion-{i}.example']") for i in range(4)
            ]
            amber = indicator("[domain-name:value = 'amber-to-a-partner.example']", tlp="amber")
            t.post([*green, amber])
            marker = indicator("[domain-name:value = 'medallion-marker.example']")
            t.post([marker])
            wanted = {o["id"] for o in [*green, marker]}

            def at_medallion() -> set[str]:
                return {o["id"] for o in served_objects(server)}

            wait_for(lambda: wanted <= at_medallion(), WAIT_S, "tirana's objects at medallion")
            wait_for(lambda: settled(t), WAIT_S, "tirana's outbox to drain")
            there = {o["id"]: o for o in served_objects(server)}
            for obj in green:  # what landed is what Tirana stored
                (version,) = stored(t, obj["id"])
                assert there[obj["id"]] == orjson.loads(version.raw)
            assert amber["id"] not in there  # AMBER is for clients, medallion is a partner
            assert "x_mburoja_signatures" not in there[green[0]["id"]]
            assert t.status()["medallion"]["delivered"] == len(wanted)
        finally:
            t.stop()

        # Another instance pulls the collection from medallion: unsigned, and accepted since
        # this peer need not sign.
        puller = Instance(tmp_path, "puller")
        add_medallion_peer(puller, server, pull=[server.collection_id])
        monkeypatch.setenv("MEDALLION_PASSWORD", server.password)
        first = pulled(puller.cli("peer", "sync", "medallion"))
        everything = {o["id"] for o in preloaded} | wanted
        assert collection_ids(puller, "from-medallion") == everything
        assert first["new"] == len(everything)
        assert ids(puller) == everything
        with puller.store() as store:
            medallion_org = store.get_peer("medallion").org_id
            version = store.versions(green[0]["id"])[0]
            relay = store.provenance_of(version.seq)
        assert version.owner == medallion_org
        assert relay is not None and relay.signature is None
        assert relay.origin == "taxii:medallion"
        status = {
            p["name"]: p for p in orjson.loads(puller.cli("peer", "status", "--json"))["peers"]
        }
        assert status["medallion"]["received"] == len(everything)
        assert status["medallion"]["rejected"] == 0

        # The cursor was kept in the store: the next pull brings nothing new, and one after an
        # addition brings only that.
        count = puller.count()
        second = pulled(puller.cli("peer", "sync", "medallion"))
        assert second["new"] == second["new_versions"] == 0
        assert puller.count() == count
        late = indicator("[domain-name:value = 'late.example']")
        add_objects(server, [late])
        third = pulled(puller.cli("peer", "sync", "medallion"))
        assert third["new"] == 1 and third["new_versions"] == 0
        assert third["received"] < len(everything)
        assert ids(puller) == everything | {late["id"]}
