"""``mburoja org|user|token|collection``, run in-process with Typer's runner against a real
store (SQLite, and PostgreSQL when MBUROJA_TEST_POSTGRES_URL is set). What the commands did
is checked through the store itself: its tables, ``authenticate`` and ``rights``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import select

from mburoja.cli.main import app
from mburoja.errors import Unauthenticated
from mburoja.policy import ROLES, Caller
from mburoja.stix.validate import errors, validate
from mburoja.store import schema
from mburoja.store.sql import SqlStore
from tests.cli.helpers import cli, runner


def ok(url: str, *args: str) -> Result:
    result = cli(url, *args)
    assert result.exit_code == 0, result.output
    return result


def as_json(url: str, *args: str) -> Any:
    return json.loads(ok(url, *args, "--json").stdout)


def with_orgs(url: str) -> None:
    ok(url, "org", "add", "CERT Bulgaria", "--relation", "partner")


def issue(url: str, user: str, *flags: str) -> str:
    """A token for ``user``, as a script would take it."""
    return ok(url, "token", "issue", user, "--quiet", *flags).stdout.strip()


def pieces(token: str, size: int = 8) -> set[str]:
    """Every ``size``-character piece of a token's secret part (after ``mbj_<id>_``): none
    may appear anywhere a secret must not, not even split across table cells."""
    secret = token.split("_", 2)[2]
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


# -- organisations ---------------------------------------------------------------------------


def test_org_add_prints_ids_that_list_relate_and_identity_agree_with(
    url: str, store: SqlStore
) -> None:
    added = ok(url, "org", "add", "CERT Bulgaria", "--relation", "partner").output
    org = store.get_org("CERT Bulgaria")
    assert org.id in added and org.identity_id in added

    ok(url, "org", "add", "Ministry of Defence", "--relation", "client")
    listed = {o["name"]: o["relation"] for o in as_json(url, "org", "list")}
    assert listed == {
        "CERT Albania": "home",
        "CERT Bulgaria": "partner",
        "Ministry of Defence": "client",
    }
    assert "Ministry of Defence" in ok(url, "org", "list").stdout

    ok(url, "org", "relate", "CERT Bulgaria", "community")
    assert store.get_org("CERT Bulgaria").relation == "community"

    identity = json.loads(ok(url, "org", "identity", "CERT Bulgaria").stdout)
    assert errors(validate(identity)) == []
    assert identity["type"] == "identity" and identity["identity_class"] == "organization"
    assert identity["id"] == org.identity_id and identity["name"] == "CERT Bulgaria"


def test_org_show_lists_its_users_and_only_its_users(url: str) -> None:
    with_orgs(url)
    ok(url, "user", "add", "besa", "--org", "CERT Albania", "--role", "analyst")
    ok(url, "user", "add", "ivan", "--org", "CERT Bulgaria", "--role", "reader")
    shown = as_json(url, "org", "show", "CERT Bulgaria")
    assert shown["org"]["name"] == "CERT Bulgaria"
    assert [u["name"] for u in shown["users"]] == ["ivan"]
    table = ok(url, "org", "show", "CERT Bulgaria").stdout
    assert "ivan" in table and "besa" not in table


def test_a_taken_name_is_refused_with_exit_1_and_the_name_shown_literally(url: str) -> None:
    name = "CERT [bold]Kosovo[/bold]"  # brackets must not be eaten as rich markup
    added = ok(url, "org", "add", name)
    assert name in added.stdout
    again = cli(url, "org", "add", name)
    assert again.exit_code == 1
    assert name in again.output and "exists already" in again.output


def test_a_second_home_organisation_is_refused(url: str, store: SqlStore) -> None:
    second = cli(url, "org", "add", "Other CERT", "--relation", "home")
    assert second.exit_code == 1 and "home" in second.output
    assert [o.name for o in store.orgs()] == ["CERT Albania"]
    relate = cli(url, "org", "relate", "CERT Albania", "partner")
    assert relate.exit_code == 1 and store.get_org("CERT Albania").relation == "home"


def test_an_unknown_relation_or_org_exits_1_and_says_what_to_do(url: str) -> None:
    bad = cli(url, "org", "add", "X", "--relation", "friend")
    assert bad.exit_code == 1 and "partner" in bad.output and "friend" in bad.output
    missing = cli(url, "org", "identity", "Nobody")
    assert missing.exit_code == 1 and "mburoja org list" in missing.output


# -- users -----------------------------------------------------------------------------------


def test_user_add_with_each_role_and_a_service_account(url: str, store: SqlStore) -> None:
    with_orgs(url)
    for role in ROLES:
        ok(url, "user", "add", f"user-{role}", "--org", "CERT Albania", "--role", role)
    ok(url, "user", "add", "bg-sync", "--org", "CERT Bulgaria", "--role", "sync", "--service")

    albania = store.get_org("CERT Albania")
    mine = as_json(url, "user", "list", "--org", "CERT Albania")
    assert {u["role"] for u in mine} == set(ROLES)
    assert {u["org_id"] for u in mine} == {albania.id}
    assert {u["kind"] for u in mine} == {"user"}
    peer = store.get_user("bg-sync")
    assert peer.kind == "service" and peer.org_id == store.get_org("CERT Bulgaria").id
    everyone = ok(url, "user", "list").stdout
    assert "bg-sync" in everyone and "service" in everyone


def test_a_bad_role_exits_1_naming_every_role(url: str, store: SqlStore) -> None:
    with_orgs(url)
    result = cli(url, "user", "add", "mal", "--org", "CERT Albania", "--role", "root")
    assert result.exit_code == 1
    assert all(role in result.output for role in ROLES)
    assert store.users() == []


def test_a_user_in_an_unknown_org_is_refused(url: str) -> None:
    result = cli(url, "user", "add", "mal", "--org", "Nowhere", "--role", "reader")
    assert result.exit_code == 1 and "Nowhere" in result.output


# -- tokens ----------------------------------------------------------------------------------


@pytest.fixture
def alice(url: str) -> str:
    with_orgs(url)
    ok(url, "user", "add", "alice", "--org", "CERT Albania", "--role", "analyst")
    return "alice"


def test_token_issue_shows_the_secret_once_and_only_its_digest_is_stored(
    url: str, store: SqlStore, alice: str
) -> None:
    shown = ok(url, "token", "issue", alice, "--label", "ci job").stdout
    [token] = [line for line in shown.splitlines() if line.startswith("mbj_")]
    assert shown.count(token) == 1
    assert "not stored" in shown and "cannot be shown again" in shown
    assert pieces(token) and all(piece in shown for piece in pieces(token))  # the probe works
    assert store.authenticate(token).user_name == alice

    listing = ok(url, "token", "list").stdout + ok(url, "token", "list", "--json").stdout
    [listed] = as_json(url, "token", "list", "--user", alice)
    assert listed["label"] == "ci job" and listed["id"] in listing
    assert not any(piece in listing for piece in pieces(token))

    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.tokens)).mappings().all()
    [row] = rows
    secret = token.split("_", 2)[2]
    assert row["digest"] != secret
    assert not any(piece in str(value) for value in row.values() for piece in pieces(token)), (
        "some column holds part of the secret"
    )


def test_quiet_prints_only_the_token(url: str, alice: str) -> None:
    out = ok(url, "token", "issue", alice, "--quiet").stdout
    assert out.count("\n") == 1 and out.startswith("mbj_")


def test_a_revoked_token_stops_working(url: str, store: SqlStore, alice: str) -> None:
    token = issue(url, alice)
    store.authenticate(token)
    [listed] = as_json(url, "token", "list")
    ok(url, "token", "revoke", listed["id"])
    with pytest.raises(Unauthenticated, match="revoked"):
        store.authenticate(token)
    assert as_json(url, "token", "list")[0]["revoked"] is True
    missing = cli(url, "token", "revoke", "0000000000000000")
    assert missing.exit_code == 1 and "mburoja token list" in missing.output


def test_disabling_a_user_stops_its_tokens_and_enabling_restores_them(
    url: str, store: SqlStore, alice: str
) -> None:
    token = issue(url, alice)
    ok(url, "user", "disable", alice)
    with pytest.raises(Unauthenticated, match="disabled"):
        store.authenticate(token)
    ok(url, "user", "enable", alice)
    assert store.authenticate(token).user_name == alice


def test_an_expired_token_is_refused_and_listed_as_expired(
    url: str, store: SqlStore, alice: str
) -> None:
    token = issue(url, alice, "--days", "30")
    assert store.authenticate(token).user_name == alice
    t = schema.tokens
    with store.engine.begin() as conn:
        conn.execute(t.update().values(expires="2020-01-01T00:00:00.000000Z"))
    with pytest.raises(Unauthenticated, match="expired"):
        store.authenticate(token)
    assert "(expired)" in ok(url, "token", "list").stdout


def test_days_and_no_expiry_set_the_expiry(url: str, alice: str) -> None:
    issue(url, alice, "--days", "2")
    issue(url, alice, "--no-expiry")
    short, forever = as_json(url, "token", "list")
    assert short["expires"] > short["created"] and forever["expires"] is None
    both = cli(url, "token", "issue", alice, "--days", "2", "--no-expiry")
    assert both.exit_code == 1 and "--no-expiry" in both.output
    zero = cli(url, "token", "issue", alice, "--days", "0")
    assert zero.exit_code == 1 and "positive" in zero.output
    assert len(as_json(url, "token", "list")) == 2


def test_read_only_tokens_give_a_read_only_caller(url: str, store: SqlStore, alice: str) -> None:
    writer: Caller = store.authenticate(issue(url, alice))
    reader: Caller = store.authenticate(issue(url, alice, "--read-only"))
    assert writer.read_only is False and writer.can_write
    assert reader.read_only is True and not reader.can_write


def test_a_token_for_an_unknown_user_is_refused(url: str) -> None:
    result = cli(url, "token", "issue", "ghost")
    assert result.exit_code == 1 and "mburoja user list" in result.output


# -- collections -----------------------------------------------------------------------------


def test_collection_add_grant_and_access(url: str, store: SqlStore) -> None:
    with_orgs(url)
    ok(url, "collection", "add", "shared", "--title", "Shared with allies")
    [coll] = as_json(url, "collection", "list")
    assert coll["alias"] == "shared" and coll["title"] == "Shared with allies"
    assert cli(url, "collection", "add", "shared").exit_code == 1

    ok(url, "collection", "grant", "shared", "CERT Bulgaria", "--write")
    ok(url, "collection", "grant", "shared", "*")
    ok(url, "collection", "grant", "shared", "anonymous", "--no-read")
    grants = {
        g["org"]: (g["can_read"], g["can_write"])
        for g in as_json(url, "collection", "access", "shared")
    }
    assert grants == {
        "CERT Bulgaria": (True, True),
        "* (every organisation)": (True, False),
        "anonymous": (False, False),
    }
    assert "CERT Bulgaria" in ok(url, "collection", "access").stdout

    bulgaria = store.get_org("CERT Bulgaria")
    caller = Caller(org_id=bulgaria.id, read_only=False, role="sync")
    home = store.get_org("CERT Albania").id
    assert store.rights(coll["id"], caller, home) == (True, True)


def test_bad_grants_exit_1_and_change_nothing(url: str, store: SqlStore) -> None:
    with_orgs(url)
    ok(url, "collection", "add", "shared")
    anonymous_write = cli(url, "collection", "grant", "shared", "anonymous", "--write")
    assert anonymous_write.exit_code == 1 and "anonymous" in anonymous_write.output
    unknown_org = cli(url, "collection", "grant", "shared", "Nobody")
    assert unknown_org.exit_code == 1 and "mburoja org list" in unknown_org.output
    unknown_coll = cli(url, "collection", "grant", "nothing", "CERT Bulgaria")
    assert unknown_coll.exit_code == 1 and "mburoja collection list" in unknown_coll.output
    assert store.access() == []


def test_the_default_lifetime_is_the_auth_token_days_setting(url: str, alice: str) -> None:
    from datetime import datetime

    result = runner.invoke(
        app,
        ["--store-url", url, "token", "issue", alice, "--quiet"],
        env={"MBUROJA_AUTH_TOKEN_DAYS": "7"},
    )
    assert result.exit_code == 0, result.output
    (token,) = [t for t in as_json(url, "token", "list") if t["label"] == ""]
    created, expires = (
        datetime.strptime(token[k], "%Y-%m-%dT%H:%M:%S.%fZ") for k in ("created", "expires")
    )
    assert (expires - created).days == 7
