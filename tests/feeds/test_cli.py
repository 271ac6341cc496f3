"""``mburoja feed`` on a store made by ``mburoja init``: list, add, show, enable, run, remove."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from mburoja.feeds.catalogue import shipped
from tests.cli.helpers import cli, initialised
from tests.feeds.feedserver import Document, FeedServer

LIST = b"192.0.2.10\n198.51.100.20\nnot-an-indicator value\n"


@pytest.fixture
def url(store_url: str, tmp_path: Path) -> str:
    return initialised(store_url, tmp_path)


def _listed(url: str) -> dict[str, dict[str, object]]:
    result = cli(url, "feed", "list", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in orjson.loads(result.stdout)}


def _catalogue(tmp_path: Path, server: FeedServer) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(
        f"""
[[feed]]
name = "local-list"
provider = "tests"
url = "{server.base}/list.txt"
format = "text"
schedule = "1h"
tlp = "green"
confidence = 70

[[feed]]
name = "local-drop"
provider = "tests"
url = "{server.base}/drop.txt"
format = "spamhaus-drop"
schedule = "1d"
""",
        encoding="utf-8",
    )
    return path


def test_list_shows_the_shipped_catalogue_disabled_and_enable_switches_one_on(url: str) -> None:
    names = [spec.name for spec in shipped()]
    listed = _listed(url)
    assert set(names) <= set(listed)
    assert all(listed[n]["source"] == "shipped" and listed[n]["enabled"] is False for n in names)
    assert all(listed[n]["healthy"] is True and listed[n]["last_run"] is None for n in names)

    first = names[0]
    result = cli(url, "feed", "enable", first)
    assert result.exit_code == 0, result.output
    assert _listed(url)[first]["enabled"] is True
    table = cli(url, "feed", "list")
    row = next(line for line in table.stdout.splitlines() if f" {first} " in line)
    assert "shipped" in row and " yes " in row

    assert cli(url, "feed", "disable", first).exit_code == 0
    assert _listed(url)[first]["enabled"] is False
    refused = cli(url, "feed", "remove", first)
    assert refused.exit_code == 1
    assert "comes from the catalogue and cannot be removed" in refused.output
    missing = cli(url, "feed", "enable", "no-such-feed")
    assert missing.exit_code == 1 and "no feed named 'no-such-feed'" in missing.output


def test_add_from_a_file_run_show_and_remove(url: str, tmp_path: Path, server: FeedServer) -> None:
    added = cli(url, "feed", "add", str(_catalogue(tmp_path, server)))
    assert added.exit_code == 0, added.output
    assert "feed 'local-list' added, disabled" in added.stdout
    listed = _listed(url)
    assert (listed["local-list"]["source"], listed["local-list"]["enabled"]) == ("user", False)
    assert listed["local-drop"]["format"] == "spamhaus-drop"
    again = cli(url, "feed", "add", str(_catalogue(tmp_path, server)))
    assert again.exit_code == 1 and "already added" in again.output

    server.documents["/list.txt"] = Document(LIST, etag='"e1"')
    ran = cli(url, "feed", "run", "local-list", "--allow-private")
    assert ran.exit_code == 2, ran.output  # one line rejected, like `mburoja ingest`
    assert "feed 'local-list': ok" in ran.stdout
    assert "received 4, new 3, new versions 0, unchanged 0, rejected 1" in ran.stdout
    assert "items/s" in ran.stdout

    unchanged = cli(url, "feed", "run", "local-list", "--allow-private", "--json")
    assert unchanged.exit_code == 0, unchanged.output
    body = orjson.loads(unchanged.stdout)
    assert (body["status"], body["received"]) == ("not-modified", 0)

    shown = cli(url, "feed", "show", "local-list", "--json")
    assert shown.exit_code == 0, shown.output
    detail = orjson.loads(shown.stdout)
    assert detail["spec"]["url"] == f"{server.base}/list.txt"
    assert detail["spec"]["confidence"] == 70
    assert detail["state"]["etag"] == '"e1"' and detail["state"]["healthy"] is True
    assert [r["status"] for r in detail["runs"]] == ["not-modified", "ok"]
    text = cli(url, "feed", "show", "local-list")
    assert "url: " + server.base in text.stdout and "not-modified" in text.stdout

    assert _listed(url)["local-list"]["last_status"] == "not-modified"
    removed = cli(url, "feed", "remove", "local-list")
    assert removed.exit_code == 0, removed.output
    assert "local-list" not in _listed(url)


def test_add_from_flags_validates_and_a_failing_run_exits_1(url: str, server: FeedServer) -> None:
    bad = cli(url, "feed", "add", "--name", "quick", "--url", f"{server.base}/x",
              "--format", "text", "--schedule", "10s")  # fmt: skip
    assert bad.exit_code == 1
    assert "feed 'quick': schedule: '10s' is shorter than the minimum of 1m" in bad.output
    partial = cli(url, "feed", "add", "--name", "quick")
    assert partial.exit_code == 1 and "missing --url, --format" in partial.output

    good = cli(url, "feed", "add", "--name", "quick", "--url", f"{server.base}/gone.txt",
               "--format", "text", "--tlp", "amber", "--enable")  # fmt: skip
    assert good.exit_code == 0, good.output
    assert "feed 'quick' added, enabled" in good.stdout
    assert _listed(url)["quick"]["enabled"] is True

    failed = cli(url, "feed", "run", "quick", "--allow-private")
    assert failed.exit_code == 1
    assert "feed 'quick': failed" in failed.stdout
    assert "HTTP 404" in failed.output
    refused = cli(url, "feed", "run", "quick")  # no --allow-private: loopback is refused
    assert refused.exit_code == 1 and "fetch.allow_private" in refused.output
    row = _listed(url)["quick"]
    assert (row["last_status"], row["failures"]) == ("failed", 2)
