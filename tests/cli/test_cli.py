"""The command line, run in-process with Typer's runner against a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mburoja.cli.main import app
from tests.conftest import STIX_EXAMPLES
from tests.factories import bundle, indicator

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> str:
    d = str(tmp_path / "data")
    result = runner.invoke(app, ["--data-dir", d, "init"])
    assert result.exit_code == 0, result.output
    return d


def cli(data_dir: str, *args: str, input: str | None = None):
    return runner.invoke(app, ["--data-dir", data_dir, *args], input=input)


def test_commands_refuse_an_uninitialised_store_and_say_how_to_fix_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "none"), "stats"])
    assert result.exit_code == 1 and "mburoja init" in result.output


def test_ingest_then_search_then_stats(data_dir: str) -> None:
    result = cli(
        data_dir, "ingest", str(STIX_EXAMPLES / "indicator-for-c2-ip-address.json"), "--json"
    )
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.output)
    assert report["new"] == report["received"] > 0
    found = cli(data_dir, "search", "10.0.0.1", "--json")
    hits = json.loads(found.output)["hits"]
    stats = json.loads(cli(data_dir, "stats", "--json").output)
    assert stats["versions"] == report["new"]
    assert all(h["type"] for h in hits)


def test_ingest_from_stdin_with_ioc_options(data_dir: str) -> None:
    result = cli(
        data_dir,
        "ingest",
        "-",
        "--tlp",
        "amber",
        "--confidence",
        "70",
        "--json",
        input="bad[.]example\n",
    )
    assert result.exit_code == 0, result.output
    hit = json.loads(cli(data_dir, "search", "www.bad.example", "--json").output)["hits"]
    assert {h["tlp"] for h in hit} == {"amber"}


def test_rejected_input_exits_2_and_can_be_replayed_after_a_fix(
    data_dir: str, tmp_path: Path
) -> None:
    bad = indicator(
        "[domain-name:value = 'x.example'", id="indicator--11111111-1111-4111-8111-111111111111"
    )
    path = tmp_path / "bad.json"
    path.write_bytes(bundle(bad))
    result = cli(data_dir, "ingest", str(path))
    assert result.exit_code == 2
    assert "indicator--11111111-1111-4111-8111-111111111111" in result.output
    listing = cli(data_dir, "quarantine", "list")
    assert "pattern" in listing.output
    shown = cli(data_dir, "quarantine", "show", "1")
    assert shown.exit_code == 0 and "x.example" in shown.output
    again = cli(data_dir, "quarantine", "replay", "1")
    assert again.exit_code == 2  # still broken: stays open
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({**bad, "pattern": "[domain-name:value = 'x.example']"}))
    done = cli(data_dir, "quarantine", "replay", "1", "--file", str(fixed))
    assert done.exit_code == 0, done.output
    assert "replayed" in cli(data_dir, "quarantine", "list", "--status", "all").output
    assert json.loads(cli(data_dir, "search", "x.example", "--json").output)["hits"]


def test_unknown_tlp_is_an_error_that_lists_the_valid_names(data_dir: str) -> None:
    result = cli(data_dir, "ingest", "-", "--tlp", "purple", input="bad.example\n")
    assert result.exit_code == 1 and "amber" in result.output


def test_demo_ingests_a_scenario_that_search_can_find(data_dir: str) -> None:
    result = cli(data_dir, "demo", "--seed", "3")
    assert result.exit_code == 0, result.output
    stats = json.loads(cli(data_dir, "stats", "--json").output)
    assert stats["by_type"]["indicator"] >= 100 and stats["by_type"]["intrusion-set"] >= 1
    again = cli(data_dir, "demo", "--seed", "3")
    assert again.exit_code == 0
    assert json.loads(cli(data_dir, "stats", "--json").output)["versions"] == stats["versions"]


def test_object_command_prints_every_version(data_dir: str, tmp_path: Path) -> None:
    v1 = indicator(created="2026-01-01T00:00:00Z")
    v2 = {**v1, "modified": "2026-01-02T00:00:00Z"}
    path = tmp_path / "v.json"
    path.write_bytes(bundle(v1, v2))
    assert cli(data_dir, "ingest", str(path)).exit_code == 0
    out = cli(data_dir, "object", v1["id"]).stdout
    assert out.count(v1["id"]) == 2


def test_init_creates_the_home_organisation_and_a_private_secret(data_dir: str) -> None:
    from mburoja.store.sql import open_store

    secret = Path(data_dir) / "secret.key"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(secret.read_text().strip()) >= 32
    store = open_store(f"sqlite:///{Path(data_dir).resolve() / 'mburoja.db'}")
    try:
        home = store.home_org()
        assert home is not None and home.name == "home"
    finally:
        store.close()
    # a second init keeps both: the same secret, still one home organisation
    before = secret.read_text()
    again = cli(data_dir, "init", "--org", "other")
    assert again.exit_code == 0 and "home organisation is 'home'" in again.output
    assert secret.read_text() == before


def test_demo_sets_up_organisations_and_a_working_token(data_dir: str) -> None:
    from mburoja.store.sql import open_store

    assert cli(data_dir, "demo", "--seed", "3").exit_code == 0
    token_file = Path(data_dir) / "demo-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    store = open_store(f"sqlite:///{Path(data_dir).resolve() / 'mburoja.db'}")
    try:
        caller = store.authenticate(token_file.read_text().strip())
        home = store.home_org()
        assert home is not None and caller.org_id == home.id and not caller.read_only
        relations = {org.name: org.relation for org in store.orgs()}
        assert relations["cert-bg"] == "partner" and relations["ministry-of-defence"] == "client"
    finally:
        store.close()


@pytest.mark.parametrize("secret", ["", "changeme", "short-secret"])
def test_serve_refuses_an_empty_default_or_short_secret(data_dir: str, secret: str) -> None:
    (Path(data_dir) / "secret.key").write_text(secret)
    result = runner.invoke(app, ["--data-dir", data_dir, "serve", "--port", "1"])
    assert result.exit_code == 1
    assert "refusing to start" in result.output and "mburoja init" in result.output
