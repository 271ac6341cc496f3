"""Peers declared in the settings file are added, and updated in place, when the server
starts; what an updated peer is owed stays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mburoja.api.app import create_app
from mburoja.config import ensure_secret, load_settings
from mburoja.errors import ConfigError
from mburoja.federation.signing import public_key_text
from mburoja.store.base import Provenance
from mburoja.store.sql import SqlStore
from tests.factories import indicator, prepared


def _settings(tmp_path: Path, body: str) -> object:
    config = tmp_path / "mburoja.toml"
    config.write_text(body)
    settings = load_settings(
        config_file=config, environ={}, overrides={"data_dir": str(tmp_path / "data")}
    )
    ensure_secret(settings)
    return settings


def _sofia(key: str, push: list[str], pull: list[str] | None = None) -> str:
    """A settings file declaring sofia, a client we push to."""
    return f"""
[[federation.peers]]
name = "sofia"
api_root = "https://sofia.example/taxii2/api/"
relation = "client"
secret_env = "SOFIA_TOKEN"
push = {json.dumps(push)}
pull = {json.dumps(pull or [])}
public_key = "{key}"
"""


def test_settings_peers_are_added_then_updated_keeping_their_outbox(
    tmp_path: Path, store: SqlStore
) -> None:
    store.create_org("tirana", "home")
    key = public_key_text(Ed25519PrivateKey.generate())
    first = _settings(tmp_path, _sofia(key, push=["c1"]))
    create_app(first, store)  # type: ignore[arg-type]
    peer = store.get_peer("sofia")
    assert (peer.push, peer.secret_env, peer.must_sign) == (("c1",), "SOFIA_TOKEN", True)
    assert store.get_org("sofia").relation == "client"
    ingest = store.begin_ingest("t", "t")
    store.write_batch(
        [prepared(indicator(tlp="amber"))], [], Provenance(source="t", actor="t", ingest_id=ingest)
    )
    assert len(store.outbox_next(peer.id, 10)) == 1

    second = _settings(tmp_path, _sofia(key, push=["c1", "c2"], pull=["c3"]))
    create_app(second, store)  # type: ignore[arg-type]
    updated = store.get_peer("sofia")
    assert updated.id == peer.id and (updated.push, updated.pull) == (("c1", "c2"), ("c3",))
    assert len(store.outbox_next(peer.id, 10)) == 1  # still owed


def test_a_bad_peer_in_the_settings_stops_the_server_with_the_reason(
    tmp_path: Path, store: SqlStore
) -> None:
    store.create_org("tirana", "home")
    bad = _settings(
        tmp_path,
        """
[[federation.peers]]
name = "sofia"
api_root = "https://sofia.example/taxii2/api/"
relation = "friend"
must_sign = false
""",
    )
    with pytest.raises(ConfigError, match="relation"):
        create_app(bad, store)  # type: ignore[arg-type]
