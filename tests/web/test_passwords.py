"""Passwords in the store (argon2id) and the ``mburoja user password`` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from mburoja.cli.main import app
from mburoja.config import Settings
from mburoja.demo.accounts import demo_accounts
from mburoja.errors import ConfigError, Unauthenticated
from mburoja.policy import Relation
from mburoja.store.sql import SqlStore, open_store
from tests.cli.helpers import HOME_ORG, cli, initialised, runner


@pytest.fixture
def url(store_url: str, tmp_path: Path) -> str:
    """A store URL whose schema and home organisation ``mburoja init`` has created."""
    return initialised(store_url, tmp_path)


def test_a_set_password_signs_in_as_the_user_and_is_stored_as_argon2id(
    store: SqlStore,
) -> None:
    store.create_org("home", "home")
    user = store.create_user("home", "alice", "analyst")
    store.set_password("alice", "a long enough password")
    caller = store.check_password("alice", "a long enough password")
    assert caller.user_id == user.id and caller.relation is Relation.SELF
    assert not caller.read_only
    _, digest = store.session_caller(user.id)
    assert digest.startswith("$argon2id$") and "a long enough password" not in digest


def test_wrong_passwords_unknown_users_and_disabled_accounts_are_refused(
    store: SqlStore,
) -> None:
    store.create_org("home", "home")
    store.create_user("home", "alice", "reader")
    with pytest.raises(Unauthenticated, match="wrong user name or password"):
        store.check_password("alice", "no password was ever set")
    store.set_password("alice", "a long enough password")
    assert store.check_password("alice", "a long enough password").read_only  # a reader
    with pytest.raises(Unauthenticated, match="wrong user name or password"):
        store.check_password("alice", "a long enough passworD")
    with pytest.raises(Unauthenticated, match="wrong user name or password"):
        store.check_password("bob", "a long enough password")
    store.set_user_disabled("alice", True)
    with pytest.raises(Unauthenticated, match="disabled"):
        store.check_password("alice", "a long enough password")
    store.set_user_disabled("alice", False)
    store.set_password("alice", None)
    with pytest.raises(Unauthenticated):
        store.check_password("alice", "a long enough password")


def test_short_passwords_and_service_accounts_are_refused(store: SqlStore) -> None:
    store.create_org("home", "home")
    store.create_org("peer", "partner")
    store.create_user("home", "alice", "analyst")
    store.create_user("peer", "peer-sync", "sync", kind="service")
    with pytest.raises(ConfigError, match="10 to 1024 characters"):
        store.set_password("alice", "short")
    with pytest.raises(ConfigError, match="service account"):
        store.set_password("peer-sync", "a long enough password")


def test_user_password_reads_stdin_and_the_user_then_signs_in(url: str) -> None:
    assert cli(url, "user", "add", "carol", "--org", HOME_ORG, "--role", "analyst").exit_code == 0
    result = runner.invoke(
        app,
        ["--store-url", url, "user", "password", "carol", "--password-stdin"],
        input="piped in password\n",
    )
    assert result.exit_code == 0, result.output
    assert "set the password of 'carol'" in result.output
    store = open_store(url)
    try:
        assert store.check_password("carol", "piped in password").user_name == "carol"
    finally:
        store.close()


def test_user_password_asks_twice_and_refuses_a_mismatch(url: str) -> None:
    store = open_store(url)
    try:
        _asks_twice(url, store)
    finally:
        store.close()


def _asks_twice(url: str, store: SqlStore) -> None:
    cli(url, "user", "add", "dave", "--org", HOME_ORG, "--role", "analyst")
    mismatch = runner.invoke(
        app, ["--store-url", url, "user", "password", "dave"], input="first password1\nother\n"
    )
    assert mismatch.exit_code != 0
    with pytest.raises(Unauthenticated):
        store.check_password("dave", "first password1")
    ok = runner.invoke(
        app,
        ["--store-url", url, "user", "password", "dave"],
        input="second password\nsecond password\n",
    )
    assert ok.exit_code == 0, ok.output
    assert store.check_password("dave", "second password").user_name == "dave"
    short = runner.invoke(
        app, ["--store-url", url, "user", "password", "dave", "--password-stdin"], input="x\n"
    )
    assert short.exit_code == 1 and "10 to 1024 characters" in short.output


def test_the_demo_analyst_gets_a_password_written_next_to_its_token(
    store: SqlStore, settings: Settings
) -> None:
    store.ensure_collection("demo")
    token = demo_accounts(store, settings)
    data = Path(settings.data_dir)
    assert token is not None and (data / "demo-token").read_text().strip() == token
    password_file = data / "demo-password"
    assert password_file.stat().st_mode & 0o777 == 0o600
    password = password_file.read_text().strip()
    assert store.check_password("demo-analyst", password).user_name == "demo-analyst"
