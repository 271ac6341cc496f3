"""The watch list (store, CLI and API) and the JSONL import of social posts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import orjson
import pytest
import typer
from typer.testing import CliRunner

from mburoja.api.app import create_app
from mburoja.api.disinfo_sources import routes
from mburoja.cli import main as cli_main
from mburoja.cli.disinfo_sources import fetch_cmd, import_cmd, sources_app
from mburoja.config import Settings
from mburoja.disinfo.model import POST, Document
from mburoja.disinfo.objects import document_of, post_id
from mburoja.disinfo.sources import (
    add_source,
    import_posts,
    new_source,
    source_id,
    watch_list,
)
from mburoja.errors import ConfigError, Conflict, NotFound
from mburoja.store.sql import SqlStore
from tests.disinfo.test_fetch import Site, private_ok, serve_feed, site  # noqa: F401
from tests.live import serve
from tests.world import build_world, world_settings

# --------------------------------------------------------------------------- the watch list


def test_sources_are_checked_named_and_listed(store: SqlStore) -> None:
    feed = add_source(store, "feed", "https://WWW.Lajme.example/rss?utm_source=x", lang="sq")
    page = add_source(store, "page", "https://portal.example/story/1", tlp="amber")
    account = add_source(store, "account", "5551234", platform="Telegram", name="Kanal 5")
    assert feed.name == "lajme.example" and feed.location == "https://www.lajme.example/rss"
    assert feed.tlp == "clear" and feed.lang == "sq" and feed.enabled
    assert page.tlp == "amber"
    assert (account.platform, account.location, account.name) == ("telegram", "5551234", "Kanal 5")
    assert account.id == source_id("account", "5551234", "telegram")
    assert [s.name for s in watch_list(store)] == ["Kanal 5", "lajme.example", "portal.example"]
    assert [s.name for s in watch_list(store, "feed")] == ["lajme.example"]
    assert store.get_disinfo_source("Kanal 5") == account
    assert store.get_disinfo_source(account.id) == account


@pytest.mark.parametrize(
    ("kind", "location", "options", "says"),
    [
        ("blog", "https://a.example/", {}, "unknown source kind"),
        ("feed", "ftp://a.example/rss", {}, "absolute http(s) URL"),
        ("page", "not a url", {}, "http(s) URL"),
        ("account", "123", {}, "needs its platform"),
        ("account", "has space", {"platform": "x"}, "no spaces"),
        ("feed", "https://a.example/rss", {"platform": "x"}, "no platform"),
        ("feed", "https://a.example/rss", {"tlp": "purple"}, "unknown TLP level"),
        ("feed", "https://a.example/rss", {"lang": "serbian"}, "ISO 639-1"),
    ],
)
def test_a_bad_source_is_refused_with_what_to_fix(
    kind: str, location: str, options: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        new_source(kind, location, **options)


def test_a_source_is_on_the_list_once(store: SqlStore) -> None:
    add_source(store, "feed", "https://a.example/rss", name="A")
    with pytest.raises(Conflict):
        add_source(store, "feed", "https://a.example/rss", name="Other name")
    with pytest.raises(Conflict):
        add_source(store, "page", "https://b.example/", name="A")
    store.set_disinfo_source_enabled("A", False)
    assert store.disinfo_sources(enabled_only=True) == []
    store.remove_disinfo_source("A")
    with pytest.raises(NotFound, match="source list"):
        store.get_disinfo_source("A")


# --------------------------------------------------------------------------- JSONL posts

GOOD = [
    {"post_id": "101", "account_id": "acc1", "account_name": "Patriot News", "text": "Read this",
     "urls": ["https://Vesti.example/a?utm_source=tg", "https://b.example/x"],
     "timestamp": 1733306400},
    {"post_id": 102, "account_id": 77, "text": "Reposted", "urls": [],
     "timestamp": "2024-12-04T10:05:00+01:00", "repost_of": "101"},
    {"post_id": "103", "account_id": "acc1", "text": "", "urls": ["https://vesti.example/b"],
     "timestamp": 1733306500.25, "reply_to": 102, "url": "https://t.me/acc1/103"},
    {"post_id": "104", "platform": "x", "account_id": "acc9", "text": "Elsewhere",
     "timestamp": "2024-12-04T10:00:00Z", "lang": "sr-Latn"},
]  # fmt: skip
BAD = [
    ('{"post_id": "1", "account_id": "a", "text": "x", "timestamp": 1', "(line)", "not valid JSON"),
    ('["a list"]', "(line)", "must be a JSON object"),
    ('{"account_id": "a", "text": "x", "timestamp": 1}', "post_id", "is required"),
    ('{"post_id": "2", "text": "x", "timestamp": 1}', "account_id", "is required"),
    ('{"post_id": "3", "account_id": "a", "timestamp": 1}', "text", "needs text or urls"),
    ('{"post_id": "4", "account_id": "a", "text": 5, "timestamp": 1}', "text", "must be a string"),
    ('{"post_id": "5", "account_id": "a", "urls": "https://a.example", "timestamp": 1}',
     "urls", "must be a list"),
    ('{"post_id": "6", "account_id": "a", "urls": ["https://a.example/", "a.example"], '
     '"timestamp": 1}', "urls[1]", "absolute http(s) URL"),
    ('{"post_id": "7", "account_id": "a", "text": "x"}', "timestamp", "is required"),
    ('{"post_id": "8", "account_id": "a", "text": "x", "timestamp": 1733306400000}',
     "timestamp", "looks like milliseconds"),
    ('{"post_id": "9", "account_id": "a", "text": "x", "timestamp": "2024-12-04T10:00:00"}',
     "timestamp", "no time zone"),
    ('{"post_id": "10", "account_id": "a", "text": "x", "timestamp": "yesterday"}',
     "timestamp", "not an ISO 8601 time"),
]  # fmt: skip


def export_file(tmp_path: Path) -> tuple[Path, list[int]]:
    """A JSONL export mixing good and bad lines (and a blank one); the good lines' numbers."""
    lines: list[str] = []
    good_at: list[int] = []
    bad = iter(BAD)
    for record in GOOD:
        lines.append(orjson.dumps(record).decode())
        good_at.append(len(lines))
        lines.append(next(bad)[0])
        lines.append(next(bad)[0])
    lines.append("")
    lines.extend(line for line, _, _ in bad)
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, good_at


def test_a_post_export_lands_its_good_lines_and_names_each_bad_one(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    path, good_at = export_file(tmp_path)
    add_source(store, "account", "77", platform="telegram", name="Watched 77")

    result = import_posts(path, store, settings, platform="telegram")

    assert (result.lines, result.posts, result.rejected) == (16, 4, 12) and result.adds_up
    bad_lines = [n for n in range(1, 18) if n not in good_at and n != 13]
    assert [(r.file, r.line, r.field) for r in result.rejects] == [
        (str(path), n, field) for n, (_, field, _) in zip(bad_lines, BAD, strict=True)
    ]
    for reject, (_, _, says) in zip(result.rejects, BAD, strict=True):
        assert says in reject.reason, (reject, says)
    assert str(result.rejects[2]) == f"{path}:{bad_lines[2]}: post_id: is required"
    ingest = result.ingest
    assert ingest is not None and ingest.adds_up and ingest.rejected == 12
    # every bad line waits in quarantine, verbatim, with its line number and reason
    quarantined = store.quarantine_list(limit=100)
    assert sorted(q.index for q in quarantined) == bad_lines
    assert {q.origin for q in quarantined} == {str(path)}

    stored = {
        pid: document_of(orjson.loads(store.current(pid).raw))  # type: ignore[union-attr]
        for pid in (post_id("telegram", n) for n in ("101", "102", "103"))
    }
    first = stored[post_id("telegram", "101")]
    assert first == Document(
        id=post_id("telegram", "101"),
        kind=POST,
        source="acc1",
        source_name="Patriot News",
        text="Read this",
        published=1733306400.0,
        urls=("https://vesti.example/a", "https://b.example/x"),
        content_hash=first.content_hash,
    )
    repost = stored[post_id("telegram", "102")]
    assert repost.source == "77" and repost.source_name == "Watched 77"  # the watch list's name
    assert repost.published == 1733303100.0 and repost.repost_of == "101"
    reply = stored[post_id("telegram", "103")]
    assert reply.reply_to == "102" and reply.url == "https://t.me/acc1/103"
    assert reply.published == 1733306500.25
    raw_reply = orjson.loads(store.current(reply.id).raw)  # type: ignore[union-attr]
    assert raw_reply["reply_to_ref"] == post_id("telegram", "102")
    assert raw_reply["platform"] == "telegram" and raw_reply["post_id"] == "103"
    elsewhere = store.current(post_id("x", "104"))
    assert elsewhere is not None
    assert document_of(orjson.loads(elsewhere.raw)).lang == "sh"

    again = import_posts(path, store, settings, platform="telegram")
    assert again.ingest is not None
    assert again.ingest.new == again.ingest.new_versions == 0 and again.posts == 4


def test_lines_without_a_platform_are_rejected_when_none_is_given(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"post_id": "1", "account_id": "a", "text": "x", "timestamp": 1}\n'
        '{"post_id": "2", "platform": "vk", "account_id": "a", "text": "x", "timestamp": 1}\n'
    )
    result = import_posts(path, store, settings)
    assert (result.posts, result.rejected) == (1, 1)
    assert (result.rejects[0].line, result.rejects[0].field) == (1, "platform")


def test_a_post_detector_names_the_language(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"post_id": "1", "account_id": "a", "text": "Здраво", "timestamp": 1}\n')
    import_posts(path, store, settings, platform="tg", detect_lang=lambda _t: "mk")
    stored = store.current(post_id("tg", "1"))
    assert stored is not None and document_of(orjson.loads(stored.raw)).lang == "mk"


# --------------------------------------------------------------------------- CLI


def cli_app() -> typer.Typer:
    """The root app with the commands registered as ``cli.main`` registers them."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.callback()(cli_main._main)
    app.command()(cli_main.init)
    disinfo = typer.Typer(no_args_is_help=True)
    disinfo.add_typer(sources_app, name="source")
    disinfo.command("fetch")(fetch_cmd)
    disinfo.command("import-posts")(import_cmd)
    app.add_typer(disinfo, name="disinfo")
    return app


@pytest.fixture
def cli(store_url: str, tmp_path: Path) -> Iterator[tuple[typer.Typer, CliRunner, list[str]]]:
    app, runner = cli_app(), CliRunner(env={"COLUMNS": "300"})
    base = ["--store-url", store_url, "--data-dir", str(tmp_path / "data")]
    done = runner.invoke(app, [*base, "init", "--org", "CERT"])
    assert done.exit_code == 0, done.output
    yield app, runner, base


def test_the_cli_adds_lists_and_refuses_sources(
    cli: tuple[typer.Typer, CliRunner, list[str]],
) -> None:
    app, runner, base = cli
    added = runner.invoke(
        app,
        [*base, "disinfo", "source", "add", "feed", "https://lajme.example/rss", "--lang", "sq"],
    )
    assert added.exit_code == 0, added.output
    assert "watching feed 'lajme.example'" in added.output
    account = runner.invoke(
        app,
        [*base, "disinfo", "source", "add", "account", "42", "--platform", "x", "--name", "Troll"],
    )
    assert account.exit_code == 0, account.output
    listed = runner.invoke(app, [*base, "disinfo", "source", "list"])
    assert listed.exit_code == 0
    assert "lajme.example" in listed.output and "x:42" in listed.output
    as_json = runner.invoke(app, [*base, "disinfo", "source", "list", "--json"])
    assert [s["name"] for s in orjson.loads(as_json.output)] == ["Troll", "lajme.example"]
    twice = runner.invoke(
        app, [*base, "disinfo", "source", "add", "feed", "https://lajme.example/rss"]
    )
    assert twice.exit_code == 1 and "already" in twice.output


def test_the_cli_imports_posts_and_shows_each_rejected_line(
    cli: tuple[typer.Typer, CliRunner, list[str]], tmp_path: Path
) -> None:
    app, runner, base = cli
    path, _ = export_file(tmp_path)
    result = runner.invoke(
        app, [*base, "disinfo", "import-posts", str(path), "--platform", "telegram"]
    )
    assert result.exit_code == 2, result.output  # some lines were rejected
    assert f"{path}:3: (line): must be a JSON object" in result.output
    assert "lines rejected" in result.output and "12" in result.output


def test_the_cli_fetches_with_a_progress_line_per_source(
    cli: tuple[typer.Typer, CliRunner, list[str]],
    site: Site,  # noqa: F811
) -> None:
    app, runner, base = cli
    serve_feed(site, ["/news/1", "/news/2"])
    runner.invoke(
        app, [*base, "disinfo", "source", "add", "feed", site.url("/rss.xml"), "--name", "Herald"]
    )
    refused = runner.invoke(app, [*base, "disinfo", "fetch", "--interval", "0"])
    assert refused.exit_code == 2 and "fetch.allow_private" in refused.output
    done = runner.invoke(
        app, [*base, "disinfo", "fetch", "Herald", "--allow-private", "--interval", "0"]
    )
    assert done.exit_code == 0, done.output
    assert "feed Herald: 3 URLs" in done.output and "2 articles" in done.output


# --------------------------------------------------------------------------- API


@pytest.fixture
def api(store: SqlStore, settings: Settings) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """The real app (``create_app``) with the watch-list routes added, served by uvicorn on
    127.0.0.1, and a token per caller: the home analyst (``same``), a partner, a home reader."""
    settings = private_ok(world_settings(settings))
    world = build_world(store, settings)
    reader = store.create_user("org-same", "reader-same", "reader")
    tokens = {**world.tokens, "reader": store.issue_token(reader.name, label="t").secret}
    app = create_app(settings, store)
    # ahead of the app's own watch-list routes: the same, without spacing requests
    app.router.routes[:0] = routes(store, app.state.policy, settings, interval_s=0)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, tokens


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_lists_and_adds_sources_for_the_home_organisation(
    api: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, tokens = api
    home = _auth(tokens["same"])
    created = client.post(
        "/api/disinfo/sources",
        json={"kind": "page", "location": "https://portal.example/a", "name": "Portal"},
        headers=home,
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Portal" and created.json()["tlp"] == "clear"
    listed = client.get("/api/disinfo/sources", headers=home).json()["sources"]
    assert [(s["name"], s["last_fetch"]) for s in listed] == [("Portal", None)]

    bad = client.post("/api/disinfo/sources", json={"kind": "blog", "location": "x"}, headers=home)
    assert bad.status_code == 400 and "unknown source kind" in bad.json()["error"]
    extra = client.post(
        "/api/disinfo/sources",
        json={"kind": "page", "location": "https://a.example/", "x": 1},
        headers=home,
    )
    assert extra.status_code == 400 and "x" in extra.json()["error"]
    again = client.post(
        "/api/disinfo/sources",
        json={"kind": "page", "location": "https://portal.example/a"},
        headers=home,
    )
    assert again.status_code == 409 and "already" in again.json()["error"]


def test_the_api_keeps_the_watch_list_to_the_home_organisation(
    api: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, tokens = api
    assert client.get("/api/disinfo/sources").status_code == 401
    assert client.get("/api/disinfo/sources", headers=_auth(tokens["partner"])).status_code == 403
    assert client.get("/api/disinfo/sources", headers=_auth(tokens["reader"])).status_code == 200
    body = {"kind": "page", "location": "https://portal.example/a"}
    for who in ("reader", "partner"):
        refused = client.post("/api/disinfo/sources", json=body, headers=_auth(tokens[who]))
        assert refused.status_code == 403, who
    fetch = client.post("/api/disinfo/fetch", json={}, headers=_auth(tokens["reader"]))
    assert fetch.status_code == 403


def test_the_api_fetches_the_watch_list(
    api: tuple[httpx.Client, dict[str, str]],
    store: SqlStore,
    site: Site,  # noqa: F811
) -> None:
    client, tokens = api
    serve_feed(site, ["/news/1"])
    add_source(store, "feed", site.url("/rss.xml"), name="Herald")
    home = _auth(tokens["same"])
    response = client.post("/api/disinfo/fetch", json={"sources": ["Herald"]}, headers=home)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["articles"] == 1 and report["urls"] == 2 and report["failed"] == 0
    assert report["sources"][0]["name"] == "Herald"
    assert report["objects"]["new"] == 3 and report["objects"]["rejected"] == 0
    listed = client.get("/api/disinfo/sources", headers=home).json()["sources"]
    assert listed[0]["last_fetch"]["status"] == 200
    missing = client.post("/api/disinfo/fetch", json={"sources": ["Nope"]}, headers=home)
    assert missing.status_code == 404 and "Nope" in missing.json()["error"]
    assert msgspec.json.decode(response.content)["elapsed_s"] >= 0
