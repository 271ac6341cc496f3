"""Organisations, users, service accounts, API tokens and collection access, in the store.

Tokens look like ``mbj_<id>_<secret>``. Only the SHA-256 digest of the secret part is kept,
so a stolen database does not give working tokens; the whole token is shown once, when it
is issued. The secret part is 256 random bits, so a fast hash is enough (no password
stretching is needed for a secret nobody chose). Web sign-in passwords, which people
choose, are stored as argon2id hashes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import argon2
import msgspec
from sqlalchemy import Engine, and_, or_, select

from mburoja.errors import ConfigError, Conflict, NotFound, Unauthenticated
from mburoja.policy import ORG_RELATIONS, ROLES, Caller, Relation
from mburoja.store import schema

TOKEN_PREFIX = "mbj"  # noqa: S105 - a prefix, not a secret
#: ``collection_access.org_id`` for every authenticated organisation, and for anonymous.
EVERY_ORG = "*"
ANONYMOUS_ORG = "anonymous"
_NAMESPACE = uuid.UUID("6f1f0a64-4a53-4f38-9d1b-5d3c8a4e0b21")
_LAST_USED_EVERY = timedelta(minutes=1)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_hasher = argon2.PasswordHasher()  # argon2id with the library's (RFC 9106) parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so that both cases take the same time."""
    return _hasher.hash(secrets.token_urlsafe(16))


class Org(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    identity_id: str
    relation: str
    created: str


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    org_id: str
    name: str
    identity_id: str
    role: str
    kind: str
    disabled: bool
    created: str


class Token(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    user_id: str
    label: str
    created: str
    expires: str | None
    read_only: bool
    revoked: bool
    last_used: str | None


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A new token: ``secret`` is the whole bearer string, shown once and never stored."""

    token: Token
    secret: str


class Access(msgspec.Struct, frozen=True, kw_only=True):
    collection_id: str
    org_id: str
    can_read: bool
    can_write: bool


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _caller(row: Any, *, read_only: bool) -> Caller:
    """A policy caller from (user id, name, identity, role, org id, org identity, relation)."""
    user_id, name, user_identity, role, org_id, org_identity, relation = row
    return Caller(
        org_id=org_id,
        relation=Relation.SELF if relation == "home" else Relation(relation),
        identities=frozenset({org_identity, user_identity}),
        user_id=user_id,
        user_name=name,
        role=role,
        read_only=read_only or role == "reader",
    )


def _user_columns() -> list[Any]:
    return [schema.users.c[f] for f in User.__struct_fields__]


def _check_name(kind: str, name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or any(c in name for c in "\r\n\t"):
        raise ConfigError(f"{kind} name {name!r}: give 1 to 200 characters on one line")
    return name


class Accounts:
    """Account and access operations over the store's engine (``SqlStore`` mixes it in)."""

    engine: Engine
    _write: Callable[[], Any]  # a write transaction; SqlStore provides it

    # -- organisations ---------------------------------------------------------------------

    def create_org(self, name: str, relation: str = "none") -> Org:
        """Add an organisation with its STIX identity id. ``home`` is allowed once."""
        name = _check_name("organisation", name)
        if relation not in ORG_RELATIONS:
            raise ConfigError(f"relation {relation!r} is not one of {', '.join(ORG_RELATIONS)}")
        t = schema.orgs
        with self._write() as conn:
            if conn.execute(select(t.c.id).where(t.c.name == name)).first():
                raise Conflict(f"an organisation named {name!r} exists already")
            if (
                relation == "home"
                and conn.execute(select(t.c.name).where(t.c.relation == "home")).first()
            ):
                raise Conflict("there is a home organisation already; an instance has exactly one")
            key = str(uuid.uuid5(_NAMESPACE, f"org:{name}"))
            org = Org(
                id=key,
                name=name,
                identity_id=f"identity--{key}",
                relation=relation,
                created=_stamp(_now()),
            )
            conn.execute(t.insert().values(**msgspec.structs.asdict(org)))
        return org

    def orgs(self) -> list[Org]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.orgs).order_by(schema.orgs.c.name)).mappings()
            return [Org(**dict(r)) for r in rows]

    def get_org(self, name_or_id: str) -> Org:
        t = schema.orgs
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(t).where(or_(t.c.name == name_or_id, t.c.id == name_or_id)))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no organisation {name_or_id!r}: see `mburoja org list`")
        return Org(**dict(row))

    def home_org(self) -> Org | None:
        t = schema.orgs
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.relation == "home")).mappings().first()
        return Org(**dict(row)) if row else None

    def set_org_relation(self, name: str, relation: str) -> Org:
        org = self.get_org(name)
        if relation not in ORG_RELATIONS or relation == "home" or org.relation == "home":
            raise ConfigError(
                "a relation is one of client, partner, community, none, and the home "
                "organisation's cannot change"
            )
        t = schema.orgs
        with self._write() as conn:
            conn.execute(t.update().where(t.c.id == org.id).values(relation=relation))
        return self.get_org(org.id)

    # -- users and service accounts ----------------------------------------------------------

    def create_user(self, org: str, name: str, role: str, kind: str = "user") -> User:
        name = _check_name("user", name)
        if role not in ROLES:
            raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if kind not in ("user", "service"):
            raise ConfigError("an account kind is user or service")
        owner = self.get_org(org)
        t = schema.users
        with self._write() as conn:
            if conn.execute(select(t.c.id).where(t.c.name == name)).first():
                raise Conflict(f"a user named {name!r} exists already")
            key = str(uuid.uuid5(_NAMESPACE, f"user:{name}"))
            user = User(
                id=key,
                org_id=owner.id,
                name=name,
                identity_id=f"identity--{key}",
                role=role,
                kind=kind,
                disabled=False,
                created=_stamp(_now()),
            )
            conn.execute(t.insert().values(**msgspec.structs.asdict(user)))
        return user

    def users(self, org: str | None = None) -> list[User]:
        t = schema.users
        stmt = select(*_user_columns()).order_by(t.c.name)
        if org is not None:
            stmt = stmt.where(t.c.org_id == self.get_org(org).id)
        with self.engine.connect() as conn:
            return [User(**dict(r)) for r in conn.execute(stmt).mappings()]

    def get_user(self, name: str) -> User:
        t = schema.users
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(*_user_columns()).where(or_(t.c.name == name, t.c.id == name)))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no user {name!r}: see `mburoja user list`")
        return User(**dict(row))

    def set_user_disabled(self, name: str, disabled: bool) -> User:
        user = self.get_user(name)
        t = schema.users
        with self._write() as conn:
            conn.execute(t.update().where(t.c.id == user.id).values(disabled=disabled))
        return self.get_user(user.id)

    # -- tokens ------------------------------------------------------------------------------

    def issue_token(
        self,
        user: str,
        *,
        label: str = "",
        days: int | None = 90,
        read_only: bool = False,
    ) -> IssuedToken:
        """A new token for ``user``, valid ``days`` days (None: no expiry)."""
        account = self.get_user(user)
        if days is not None and days <= 0:
            raise ConfigError("a token's lifetime is a positive number of days")
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = _now()
        token = Token(
            id=token_id,
            user_id=account.id,
            label=label,
            created=_stamp(now),
            expires=_stamp(now + timedelta(days=days)) if days is not None else None,
            read_only=read_only,
            revoked=False,
            last_used=None,
        )
        with self._write() as conn:
            conn.execute(
                schema.tokens.insert().values(
                    **msgspec.structs.asdict(token), digest=_digest(secret)
                )
            )
        return IssuedToken(token=token, secret=f"{TOKEN_PREFIX}_{token_id}_{secret}")

    def tokens(self, user: str | None = None) -> list[Token]:
        t = schema.tokens
        stmt = select(*(t.c[f] for f in Token.__struct_fields__)).order_by(t.c.created)
        if user is not None:
            stmt = stmt.where(t.c.user_id == self.get_user(user).id)
        with self.engine.connect() as conn:
            return [Token(**dict(r)) for r in conn.execute(stmt).mappings()]

    def revoke_token(self, token_id: str) -> None:
        t = schema.tokens
        with self._write() as conn:
            done = conn.execute(t.update().where(t.c.id == token_id).values(revoked=True))
        if done.rowcount == 0:
            raise NotFound(f"no token {token_id!r}: see `mburoja token list`")

    def authenticate(self, presented: str, user_name: str | None = None) -> Caller:
        """The caller a token stands for. With ``user_name`` (HTTP Basic), the token must
        belong to that user. Raises ``Unauthenticated`` with the reason otherwise."""
        parts = presented.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise Unauthenticated("not a Mburoja API token (expected mbj_<id>_<secret>)")
        _, token_id, secret = parts
        t, u, o = schema.tokens, schema.users, schema.orgs
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    t.c.digest,
                    t.c.expires,
                    t.c.read_only,
                    t.c.revoked,
                    t.c.last_used,
                    u.c.id,
                    u.c.name,
                    u.c.identity_id,
                    u.c.role,
                    u.c.disabled,
                    o.c.id,
                    o.c.identity_id,
                    o.c.relation,
                )
                .select_from(t.join(u, u.c.id == t.c.user_id).join(o, o.c.id == u.c.org_id))
                .where(t.c.id == token_id)
            ).first()
        if row is None or not hmac.compare_digest(row[0], _digest(secret)):
            raise Unauthenticated("unknown token")
        (_, expires, read_only, revoked, last_used, user_id, name, user_identity, role,
         disabled, org_id, org_identity, relation) = row  # fmt: skip
        now = _now()
        if revoked:
            raise Unauthenticated("the token was revoked; issue a new one")
        if expires is not None and expires <= _stamp(now):
            raise Unauthenticated(f"the token expired at {expires}; issue a new one")
        if disabled:
            raise Unauthenticated(f"the account {name!r} is disabled")
        if user_name is not None and user_name != name:
            raise Unauthenticated("the token does not belong to that user")
        if last_used is None or last_used < _stamp(now - _LAST_USED_EVERY):
            with self._write() as conn:
                conn.execute(t.update().where(t.c.id == token_id).values(last_used=_stamp(now)))
        return _caller(
            (user_id, name, user_identity, role, org_id, org_identity, relation),
            read_only=bool(read_only),
        )

    # -- passwords (web sign-in) -----------------------------------------------------------

    def set_password(self, user: str, password: str | None) -> User:
        """Set (argon2id) or, with None, clear the web sign-in password of a user account.
        Service accounts sign in with tokens only."""
        account = self.get_user(user)
        if account.kind != "user":
            raise ConfigError(f"{account.name!r} is a service account: it uses tokens only")
        digest = None
        if password is not None:
            if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
                raise ConfigError(
                    f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters "
                    f"(got {len(password)})"
                )
            digest = _hasher.hash(password)
        t = schema.users
        with self._write() as conn:
            conn.execute(t.update().where(t.c.id == account.id).values(password_hash=digest))
        return account

    def check_password(self, name: str, password: str) -> Caller:
        """The caller a user name and password stand for; ``Unauthenticated`` (with one
        reason for an unknown user and a wrong password alike) otherwise."""
        row = self._web_row(schema.users.c.name == name)
        digest = row[-1] if row is not None else None
        try:
            ok = _hasher.verify(digest or _dummy_hash(), password) and digest is not None
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            ok = False
        if row is None or digest is None or not ok:
            raise Unauthenticated("wrong user name or password")
        if row[-2]:
            raise Unauthenticated(f"the account {name!r} is disabled")
        if _hasher.check_needs_rehash(digest):
            with self._write() as conn:
                conn.execute(
                    schema.users.update()
                    .where(schema.users.c.id == row[0])
                    .values(password_hash=_hasher.hash(password))
                )
        return _caller(row[:7], read_only=False)

    def session_caller(self, user_id: str) -> tuple[Caller, str]:
        """For a signed-in session: the caller of ``user_id`` and its current password hash
        (a session is bound to it, so changing the password ends older sessions)."""
        row = self._web_row(schema.users.c.id == user_id)
        if row is None or row[-1] is None:
            raise Unauthenticated("the session's account no longer signs in; sign in again")
        if row[-2]:
            raise Unauthenticated("the account is disabled")
        return _caller(row[:7], read_only=False), str(row[-1])

    def _web_row(self, where: Any) -> Any:
        u, o = schema.users, schema.orgs
        with self.engine.connect() as conn:
            return conn.execute(
                select(
                    u.c.id,
                    u.c.name,
                    u.c.identity_id,
                    u.c.role,
                    o.c.id,
                    o.c.identity_id,
                    o.c.relation,
                    u.c.disabled,
                    u.c.password_hash,
                )
                .select_from(u.join(o, o.c.id == u.c.org_id))
                .where(where, u.c.kind == "user")
            ).first()

    # -- collection access -----------------------------------------------------------------

    def grant(self, collection: str, org: str, *, can_read: bool, can_write: bool) -> Access:
        """Set what an organisation (or ``*`` or ``anonymous``) may do in a collection."""
        coll = self._collection_by_alias_or_id(collection)
        org_id = org if org in (EVERY_ORG, ANONYMOUS_ORG) else self.get_org(org).id
        if org_id == ANONYMOUS_ORG and can_write:
            raise ConfigError("anonymous callers can never write")
        t = schema.collection_access
        with self._write() as conn:
            conn.execute(t.delete().where(and_(t.c.collection_id == coll, t.c.org_id == org_id)))
            conn.execute(
                t.insert().values(
                    collection_id=coll, org_id=org_id, can_read=can_read, can_write=can_write
                )
            )
        return Access(collection_id=coll, org_id=org_id, can_read=can_read, can_write=can_write)

    def access(self, collection: str | None = None) -> list[Access]:
        t = schema.collection_access
        stmt = select(t).order_by(t.c.collection_id, t.c.org_id)
        if collection is not None:
            stmt = stmt.where(t.c.collection_id == self._collection_by_alias_or_id(collection))
        with self.engine.connect() as conn:
            return [Access(**dict(r)) for r in conn.execute(stmt).mappings()]

    def rights(self, collection_id: str, caller: Caller, home_org: str) -> tuple[bool, bool]:
        """(can_read, can_write) of ``caller`` in a collection.

        The home organisation reads every collection and writes unless its account is
        read-only. Others get the grant for their organisation, else the ``*`` grant;
        anonymous callers only the ``anonymous`` grant. No grant: nothing.
        """
        if caller.org_id is not None and caller.org_id == home_org:
            return True, caller.can_write
        key = ANONYMOUS_ORG if caller.org_id is None else caller.org_id
        t = schema.collection_access
        with self.engine.connect() as conn:
            rows = {
                r.org_id: (bool(r.can_read), bool(r.can_write))
                for r in conn.execute(
                    select(t.c.org_id, t.c.can_read, t.c.can_write).where(
                        t.c.collection_id == collection_id,
                        t.c.org_id.in_([key, EVERY_ORG] if caller.org_id else [key]),
                    )
                )
            }
        read, write = rows.get(key) or rows.get(EVERY_ORG) or (False, False)
        return read, write and caller.can_write

    def _collection_by_alias_or_id(self, collection: str) -> str:
        c = schema.collections
        with self.engine.connect() as conn:
            found = conn.execute(
                select(c.c.id).where(or_(c.c.alias == collection, c.c.id == collection))
            ).scalar()
        if found is None:
            raise NotFound(f"no collection {collection!r}: see `mburoja collection list`")
        return str(found)
