"""Federation peers in the store: who we exchange with, how, and under which relation.

A peer is another Mburoja or any TAXII 2.1 server. Each is tied to an organisation record
whose relation to us (client, partner, community) is what the policy applies when the peer
is the caller, that is, when deciding what it may receive. Credentials are never stored:
a peer names the environment variable that holds its token or password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select

from mburoja.errors import ConfigError, Conflict, NotFound
from mburoja.store import schema
from mburoja.store.accounts import Accounts

PEER_KINDS = ("mburoja", "taxii")
PEER_RELATIONS = ("client", "partner", "community")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_NAMESPACE = uuid.UUID("0b7c1d5e-3f7a-4f0e-9a51-7d2c6e8f4a10")


class Peer(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    api_root: str
    kind: str
    org_id: str
    user: str | None
    secret_env: str | None
    push: tuple[str, ...]
    pull: tuple[str, ...]
    public_key: str | None
    must_sign: bool
    enabled: bool
    created: str


def _api_root(url: str) -> str:
    url = url.strip()
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        raise ConfigError(f"{url!r} is not an http(s) URL of a TAXII 2.1 API root")
    return url if url.endswith("/") else url + "/"


def _public_key(text: str) -> str:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("the peer's public key is not base64 (`mburoja key show` there)") from exc
    if len(raw) != 32:
        raise ConfigError(
            f"the peer's public key is {len(raw)} bytes; an Ed25519 public key is 32 "
            "(copy it from `mburoja key show` on the peer)"
        )
    return text.strip()


def instance_of(public_key: str | None, name: str) -> str:
    """The instance name a peer goes by in provenance paths: its key id (what
    ``federation.signing.key_id`` gives for the same key), or ``taxii:NAME`` for a peer
    without a key."""
    if not public_key:
        return f"taxii:{name}"
    raw = base64.b64decode(public_key)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def _row(row: Any) -> Peer:
    values = dict(row)
    values["push"] = tuple(values["push"].split())
    values["pull"] = tuple(values["pull"].split())
    values["must_sign"] = bool(values["must_sign"])
    values["enabled"] = bool(values["enabled"])
    return Peer(**values)


class Peers(Accounts):
    """Peer operations over the store's engine (``SqlStore`` mixes it in)."""

    def add_peer(
        self,
        name: str,
        api_root: str,
        *,
        relation: str,
        kind: str = "mburoja",
        org: str | None = None,
        user: str | None = None,
        secret_env: str | None = None,
        push: Sequence[str] = (),
        pull: Sequence[str] = (),
        public_key: str | None = None,
        must_sign: bool | None = None,
        replace: bool = False,
    ) -> Peer:
        """Add a peer. ``org`` names the organisation standing for it (created with
        ``relation`` when absent); ``must_sign`` defaults to true for a Mburoja peer.
        ``replace`` updates a peer of that name instead of refusing (settings do this)."""
        if kind not in PEER_KINDS:
            raise ConfigError(f"a peer's kind is one of {', '.join(PEER_KINDS)}")
        if relation not in PEER_RELATIONS:
            raise ConfigError(
                f"our relation to a peer is one of {', '.join(PEER_RELATIONS)} "
                "(it decides what the peer may receive)"
            )
        if secret_env is not None and not _ENV_NAME.match(secret_env):
            raise ConfigError(
                f"{secret_env!r} is not an environment variable name: give the NAME of the "
                "variable that holds the token or password, never the secret itself"
            )
        for collection in (*push, *pull):
            if not collection or any(c.isspace() for c in collection):
                raise ConfigError(
                    f"{collection!r} is not a collection id: give the id the peer lists "
                    "under its API root's collections/ (no spaces)"
                )
        key = _public_key(public_key) if public_key else None
        sign = kind == "mburoja" if must_sign is None else must_sign
        if sign and key is None:
            raise ConfigError(
                "a peer that must sign needs its public key (--public-key, from `mburoja key "
                "show` on the peer), or pass --no-must-sign"
            )
        organisation = self._peer_org(org or name, relation)
        peer = Peer(
            id=str(uuid.uuid5(_NAMESPACE, name)),
            name=name.strip(),
            api_root=_api_root(api_root),
            kind=kind,
            org_id=organisation,
            user=user,
            secret_env=secret_env,
            push=tuple(push),
            pull=tuple(pull),
            public_key=key,
            must_sign=sign,
            enabled=True,
            created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )
        t = schema.peers
        with self._write() as conn:
            values = msgspec.structs.asdict(peer)
            values["push"], values["pull"] = " ".join(peer.push), " ".join(peer.pull)
            if conn.execute(select(t.c.id).where(t.c.name == peer.name)).first():
                if not replace:
                    raise Conflict(f"a peer named {peer.name!r} exists already")
                # the same id: what it is owed, its counters and cursors stay
                del values["id"], values["created"], values["enabled"]
                conn.execute(t.update().where(t.c.name == peer.name).values(**values))
            else:
                conn.execute(t.insert().values(**values))
        return self.get_peer(peer.name)

    def peers(self) -> list[Peer]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.peers).order_by(schema.peers.c.name)).mappings()
            return [_row(r) for r in rows]

    def get_peer(self, name: str) -> Peer:
        t = schema.peers
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no peer {name!r}: see `mburoja peer list`")
        return _row(row)

    def remove_peer(self, name: str) -> None:
        """Remove a peer, with what it was still owed, its counters and its cursors."""
        t = schema.peers
        with self._write() as conn:
            peer_id = conn.execute(select(t.c.id).where(t.c.name == name)).scalar()
            if peer_id is None:
                raise NotFound(f"no peer {name!r}: see `mburoja peer list`")
            for table in (schema.outbox, schema.peer_state, schema.peer_cursors):
                conn.execute(table.delete().where(table.c.peer_id == peer_id))
            conn.execute(t.delete().where(t.c.id == peer_id))

    def peer_by_org(self, org_id: str) -> Peer | None:
        """The peer an organisation stands for, if any (a sync account's organisation)."""
        t = schema.peers
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.org_id == org_id)).mappings().first()
        return _row(row) if row is not None else None

    def set_peer_enabled(self, name: str, enabled: bool) -> None:
        t = schema.peers
        with self._write() as conn:
            done = conn.execute(t.update().where(t.c.name == name).values(enabled=enabled))
        if not done.rowcount:
            raise NotFound(f"no peer {name!r}: see `mburoja peer list`")

    def _peer_org(self, name: str, relation: str) -> str:
        o = schema.orgs
        with self.engine.connect() as conn:
            row = conn.execute(select(o.c.id, o.c.relation).where(o.c.name == name)).first()
        if row is None:
            return self.create_org(name, relation).id
        if row[1] != relation:
            raise ConfigError(
                f"the organisation {name!r} is a {row[1]}, not a {relation}: change it with "
                f"`mburoja org relate {name!r} {relation}` or pass --relation {row[1]}"
            )
        return str(row[0])
