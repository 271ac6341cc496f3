"""``mburoja peer``: adding, listing, showing and removing federation peers."""

from __future__ import annotations

import base64
import json
import os

import pytest

from mburoja.store.sql import SqlStore
from tests.cli.helpers import cli

KEY = base64.b64encode(os.urandom(32)).decode()
ROOT = "https://sofia.cert.example/taxii2/api/"


@pytest.fixture(autouse=True)
def shared(url: str) -> None:
    """A collection (the same alias on both sides in these tests)."""
    assert cli(url, "collection", "add", "shared").exit_code == 0


def test_add_list_show_remove(url: str, store: SqlStore) -> None:
    added = cli(
        url, "peer", "add", "sofia", ROOT.rstrip("/"), "--relation", "partner",
        "--user", "tirana-sync", "--secret-env", "SOFIA_TOKEN", "--push", "shared",
        "--pull", "c0ffee00-0000-4000-8000-000000000000", "--public-key", KEY,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    peer = store.get_peer("sofia")
    assert peer.api_root == ROOT  # normalised with its trailing slash
    assert peer.must_sign and peer.public_key == KEY and peer.push == ("shared",)
    assert store.get_org("sofia").relation == "partner"  # the organisation standing for it
    listed = json.loads(cli(url, "peer", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["sofia"]
    shown = cli(url, "peer", "show", "sofia").stdout
    assert "SOFIA_TOKEN" in shown and ROOT in shown
    assert cli(url, "peer", "remove", "sofia").exit_code == 0
    assert store.peers() == []
    gone = cli(url, "peer", "remove", "sofia")
    assert gone.exit_code == 1 and "peer list" in gone.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--relation", "none", "--no-must-sign"], "relation"),
        (["--kind", "misp", "--no-must-sign"], "kind"),
        (["--secret-env", "mbj_abc_secret", "--no-must-sign"], "environment variable"),
        ([], "public key"),  # a Mburoja peer must sign by default
        (["--public-key", "bm90IGEga2V5"], "32"),
        (["--public-key", "***"], "base64"),
        (["--push", "two words", "--no-must-sign"], "not a collection id"),
    ],
)
def test_bad_peers_are_refused_with_how_to_fix(
    url: str, store: SqlStore, args: list[str], says: str
) -> None:
    result = cli(url, "peer", "add", "sofia", ROOT, *args)
    assert result.exit_code == 1
    assert says in result.output
    assert store.peers() == []


def test_a_plain_taxii_peer_needs_no_key_and_a_url_must_be_http(url: str, store: SqlStore) -> None:
    ok = cli(url, "peer", "add", "medallion", ROOT, "--kind", "taxii", "--relation", "community")
    assert ok.exit_code == 0, ok.output
    assert not store.get_peer("medallion").must_sign
    bad = cli(url, "peer", "add", "x", "ftp://x.example/", "--kind", "taxii")
    assert bad.exit_code == 1 and "http(s) URL" in bad.output
    twice = cli(url, "peer", "add", "medallion", ROOT, "--kind", "taxii", "--relation", "community")
    assert twice.exit_code == 1 and "exists already" in twice.output


def test_an_existing_organisation_with_another_relation_is_not_changed(
    url: str, store: SqlStore
) -> None:
    assert cli(url, "org", "add", "nato-hub", "--relation", "community").exit_code == 0
    result = cli(url, "peer", "add", "hub", ROOT, "--org", "nato-hub", "--relation", "partner",
                 "--public-key", KEY)  # fmt: skip
    assert result.exit_code == 1 and "org relate" in result.output
    assert store.get_org("nato-hub").relation == "community"
    assert store.peers() == []
