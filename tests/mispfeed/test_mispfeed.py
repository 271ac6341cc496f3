"""Mburoja as a MISP feed: the round trip through our own MISP feed importer, the policy
for a partner, the HTTP routes against the CLI's files, and incremental timestamps."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import orjson
from typer.testing import CliRunner

from mburoja.api.app import create_app
from mburoja.cli.export_cmd import org_caller
from mburoja.cli.main import app
from mburoja.config import Settings
from mburoja.ingest.misp.feed import convert_feed_dir
from mburoja.mispfeed import build_feed, write_feed
from mburoja.stix.markings import TLP2
from mburoja.stix.model import RawObject
from mburoja.stix.observables import extract
from mburoja.store.sql import SqlStore, open_store
from tests.factories import indicator, relationship, sco, sdo, uid
from tests.live import serve
from tests.world import build_world, load, served, world_settings

GREEN = [TLP2["green"]]
SHA256 = "a" * 63 + "1"
MD5 = "0123456789abcdef0123456789abcdef"
runner = CliRunner()


def sample() -> dict[str, dict[str, Any]]:
    """A GREEN grouping of indicators of several types (and one AMBER+STRICT secret), a
    campaign related to one of them, and a GREEN grouping holding only the secret."""
    objs = {
        "ip": indicator("[ipv4-addr:value = '198.51.100.7']"),
        "domain": indicator("[domain-name:value = 'bad.example']"),
        "url": indicator("[url:value = 'http://bad.example/payload']"),
        "sha256": indicator(f"[file:hashes.'SHA-256' = '{SHA256}']"),
        "md5": indicator(f"[file:hashes.MD5 = '{MD5}']"),
        "email": indicator("[email-addr:value = 'phish@bad.example']"),
        "ipv6": sco("ipv6-addr", "2001:db8::5", object_marking_refs=GREEN),
        "secret": indicator("[domain-name:value = 'secret.example']", tlp="amber+strict"),
    }
    members = [o["id"] for o in objs.values()]
    objs["grouping"] = sdo(
        "grouping", "Phishing wave", context="suspicious-activity",
        object_refs=members, object_marking_refs=GREEN,
    )  # fmt: skip
    objs["campaign"] = sdo("campaign", "Operation Test", object_marking_refs=GREEN)
    rel = relationship(objs["ip"]["id"], "indicates", objs["campaign"]["id"])
    objs["rel"] = {**rel, "object_marking_refs": GREEN}
    objs["only-secret"] = sdo(
        "grouping", "Secret only", context="suspicious-activity",
        object_refs=[objs["secret"]["id"]], object_marking_refs=GREEN,
    )  # fmt: skip
    return objs


def observables(objs: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(o.kind, o.value) for obj in objs for o in extract(obj)}


def stocked(store: SqlStore, settings: Settings) -> dict[str, dict[str, Any]]:
    store.create_org("CERT", "home")
    store.create_org("Partner CERT", "partner")
    objs = sample()
    load(store, settings, objs.values(), collection="c")
    return objs


def event_docs(directory: Path) -> dict[str, dict[str, Any]]:
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    return {u: orjson.loads((directory / f"{u}.json").read_bytes())["Event"] for u in manifest}


def test_round_trip_through_our_misp_feed_importer_keeps_every_value(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    objs = stocked(store, settings)
    caller, _ = org_caller(store, None)
    write_feed(build_feed(store, caller), tmp_path)
    events = event_docs(tmp_path)
    grouping_uuid = objs["grouping"]["id"].partition("--")[2]
    campaign_uuid = objs["campaign"]["id"].partition("--")[2]
    assert set(events) == {grouping_uuid, campaign_uuid, objs["only-secret"]["id"][10:]}
    by_value = {a["value"]: a for a in events[grouping_uuid]["Attribute"]}
    assert by_value["198.51.100.7"]["type"] == "ip-dst"
    assert by_value["bad.example"]["type"] == "domain"
    assert by_value[SHA256]["type"] == "sha256" and by_value[MD5]["type"] == "md5"
    assert by_value["phish@bad.example"]["type"] == "email-src"
    assert by_value["http://bad.example/payload"]["to_ids"] is True
    assert by_value["2001:db8::5"]["to_ids"] is False  # an observable, not an indicator
    assert [a["value"] for a in events[campaign_uuid]["Attribute"]] == ["198.51.100.7"]
    lines = (tmp_path / "hashes.csv").read_text().splitlines()
    assert f"{hashlib.md5(b'bad.example').hexdigest()},{grouping_uuid}" in lines

    converted = [item for item in convert_feed_dir(tmp_path) if isinstance(item, RawObject)]
    assert len(converted) > len(objs)
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}", initialise=True)
    try:
        fresh.create_org("Subscriber", "home")
        report = load_raws(fresh, settings, converted)
        assert report == 0
        back = [orjson.loads(item.raw) for item in converted]
        source = [objs[k] for k in ("ip", "domain", "url", "sha256", "md5", "email", "ipv6")]
        assert observables(back) == observables(source) | observables([objs["secret"]])
        for _kind, value in observables(source):
            assert fresh.search(value).hits, value
        groupings = {o["id"] for o in back if o["type"] in ("grouping", "report")}
        assert objs["grouping"]["id"] in groupings  # the same uuid names the same thing
    finally:
        fresh.close()


def load_raws(store: SqlStore, settings: Settings, items: list[RawObject]) -> int:
    from mburoja.ingest.pipeline import Ingestor

    return Ingestor(store, settings, workers=0).run(iter(items), source="misp").rejected


def test_partner_gets_no_amber_strict_content_and_no_empty_event(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    objs = stocked(store, settings)
    caller, _ = org_caller(store, "Partner CERT")
    out = tmp_path / "feed"
    out.mkdir()
    write_feed(build_feed(store, caller), out)
    events = event_docs(out)
    grouping_uuid = objs["grouping"]["id"].partition("--")[2]
    assert objs["only-secret"]["id"].partition("--")[2] not in events  # it would be empty
    values = {a["value"] for e in events.values() for a in e["Attribute"]}
    assert "bad.example" in values and "secret.example" not in values
    assert "2001:db8::5" in values
    text = b"".join(p.read_bytes() for p in out.iterdir())
    assert b"secret.example" not in text and b"amber+strict" not in text
    assert hashlib.md5(b"secret.example").hexdigest().encode() not in text
    assert events[grouping_uuid]["Tag"][0] == {"name": "tlp:green"}
    assert all(a["Tag"] == [{"name": "tlp:green"}] for a in events[grouping_uuid]["Attribute"])


def test_a_new_version_moves_the_manifest_timestamp(store: SqlStore, settings: Settings) -> None:
    objs = stocked(store, settings)
    caller, _ = org_caller(store, None)
    grouping_uuid = objs["grouping"]["id"].partition("--")[2]
    campaign_uuid = objs["campaign"]["id"].partition("--")[2]
    before = build_feed(store, caller).manifest
    newer = {**objs["domain"], "modified": "2026-03-01T00:00:00.000Z", "name": "renamed"}
    load(store, settings, [newer], collection="c")
    after = build_feed(store, caller).manifest
    assert int(after[grouping_uuid]["timestamp"]) > int(before[grouping_uuid]["timestamp"])
    assert after[grouping_uuid]["timestamp"] == str(1772323200)  # 2026-03-01 in epoch
    assert after[campaign_uuid] == before[campaign_uuid]  # not in that event: unchanged
    assert before[grouping_uuid]["timestamp"] == str(1767225600)  # T0


def test_http_serves_the_bytes_the_cli_writes(
    store_url: str, store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    with served(store, settings) as world:
        objs = sample()
        world.load(objs.values())
        out = tmp_path / "feed"
        result = runner.invoke(
            app, ["--store-url", store_url, "export", "misp-feed", str(out), "--for", "org-partner"]
        )
        assert result.exit_code == 0, result.output
        with world.client("partner") as client:
            manifest = client.get("/misp-feed/manifest.json")
            assert manifest.status_code == 200
            assert manifest.content == (out / "manifest.json").read_bytes()
            hashes = client.get("/misp-feed/hashes.csv")
            assert hashes.content == (out / "hashes.csv").read_bytes()
            uuids = list(orjson.loads(manifest.content))
            assert objs["grouping"]["id"].partition("--")[2] in uuids
            for event_uuid in uuids:
                got = client.get(f"/misp-feed/{event_uuid}.json")
                assert got.status_code == 200
                assert got.content == (out / f"{event_uuid}.json").read_bytes()
            assert client.get(f"/misp-feed/{uid()}.json").status_code == 404
            secret_only = objs["only-secret"]["id"].partition("--")[2]
            assert client.get(f"/misp-feed/{secret_only}.json").status_code == 404
        with world.client(None) as anonymous:  # anonymous_read is on: TLP:CLEAR only
            assert orjson.loads(anonymous.get("/misp-feed/manifest.json").content) == {}


def test_http_refuses_anonymous_callers_when_anonymous_read_is_off(
    store: SqlStore, settings: Settings
) -> None:
    settings = world_settings(settings)
    settings = msgspec.structs.replace(
        settings, auth=msgspec.structs.replace(settings.auth, anonymous_read=False)
    )
    world = build_world(store, settings, anonymous=False)
    objs = sample()
    world.load(objs.values())
    with serve(create_app(settings, store)) as url:
        world.url = url
        with world.client(None) as anonymous:
            for path in ("manifest.json", "hashes.csv", f"{uid()}.json"):
                refused = anonymous.get(f"/misp-feed/{path}")
                assert refused.status_code == 401
                assert refused.headers["www-authenticate"]
        with world.client("same") as home:
            answer = home.get("/misp-feed/manifest.json")
            assert answer.status_code == 200
            assert objs["grouping"]["id"].partition("--")[2] in orjson.loads(answer.content)
