"""Running the instance: organisations, accounts, tokens, peers, collection grants and the
quarantine, as the web pages (``mburoja.web.admin``), the JSON API
(``mburoja.api.admin_api``) and the CLI (``mburoja.cli.accounts_cmd``) all see them.

The rules themselves (names, roles, relations, hashing, expiry, who may write) are the
store's (``mburoja.store.accounts``, ``mburoja.store.peers``); replaying a quarantined item
is ``mburoja.ingest.replay``. This module joins what those return into rows an interface
shows (an account's organisation by name, a grant's collection by alias), and holds the few
decisions every interface must take the same way (a token's lifetime, a new collection's
alias, a replay's outcome), so none of them is written twice. No secret is ever in a row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import msgspec
from sqlalchemy import select

from mburoja.config import Settings
from mburoja.errors import ConfigError, Conflict, InputFormatError, NotFound
from mburoja.ingest.replay import replay
from mburoja.stix import timestamps
from mburoja.store import schema
from mburoja.store.accounts import ANONYMOUS_ORG, EVERY_ORG, Access, IssuedToken, Token
from mburoja.store.base import Collection, QuarantineEntry
from mburoja.store.sql import SqlStore

#: the quarantine statuses an entry can have, and the filter that means "every status"
QUARANTINE_STATUSES: Final = ("open", "replayed", "dismissed")
EVERY_STATUS: Final = "all"
#: the longest replacement text of a quarantined item (characters) an interface accepts
MAX_FIX: Final = 1024 * 1024
#: the most quarantined items one list shows, and the largest entry number there can be
MAX_LIST: Final = 1000
MAX_QID: Final = 2**62
#: the longest lifetime of a token, in days
MAX_TOKEN_DAYS: Final = 36500


class OrgRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    identity_id: str
    relation: str
    created: str
    accounts: int


class UserRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    org_id: str
    org: str
    role: str
    kind: str
    disabled: bool
    has_password: bool
    identity_id: str
    created: str


class TokenRow(msgspec.Struct, frozen=True, kw_only=True):
    """A token as lists show it: never its secret (which is not stored)."""

    id: str
    label: str
    user_id: str
    user: str
    created: str
    expires: str | None
    expired: bool
    read_only: bool
    revoked: bool
    last_used: str | None


class PeerRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: str
    api_root: str
    relation: str
    enabled: bool
    must_sign: bool
    push: tuple[str, ...]
    pull: tuple[str, ...]
    pending: int
    failed: int
    lag_s: float
    delivered: int
    refused: int
    received: int
    rejected: int
    last_success: str | None
    last_error: str | None


class GrantRow(msgspec.Struct, frozen=True, kw_only=True):
    """A grant with the collection's alias and the organisation's name beside their ids."""

    collection: str
    collection_id: str
    org: str
    org_id: str
    can_read: bool
    can_write: bool


class CollectionRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    alias: str
    title: str
    description: str
    objects: int
    grants: tuple[GrantRow, ...]


class QuarantineRow(msgspec.Struct, frozen=True, kw_only=True):
    """A quarantined item without its bytes (``size`` says how many there are)."""

    qid: int
    ingest_id: int | None
    origin: str
    index: int
    object_id: str | None
    field: str
    reason: str
    received_at: str
    status: str
    size: int


class RejectRow(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    object_id: str | None
    field: str
    reason: str


class ReplayOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a replay did: ``landed`` when nothing was rejected (the entry is then
    ``replayed``); otherwise the entry stays open and ``rejects`` say why, afresh."""

    qid: int
    landed: bool
    status: str
    received: int
    new: int
    new_versions: int
    unchanged: int
    rejected: int
    rejects: tuple[RejectRow, ...]


def plain(name: str, value: str) -> str:
    """``value`` of the input field ``name``, refused when it holds a NUL character (which
    no name needs, and which PostgreSQL cannot store in text)."""
    if "\x00" in value:
        raise InputFormatError(f"{name}: a NUL character is not allowed")
    return value


# -- organisations and accounts -------------------------------------------------------------


def org_rows(store: SqlStore) -> list[OrgRow]:
    """Every organisation, with its number of accounts (users and service accounts)."""
    members: dict[str, int] = {}
    for user in store.users():
        members[user.org_id] = members.get(user.org_id, 0) + 1
    return [
        OrgRow(
            id=o.id,
            name=o.name,
            identity_id=o.identity_id,
            relation=o.relation,
            created=o.created,
            accounts=members.get(o.id, 0),
        )
        for o in store.orgs()
    ]


def org_row(store: SqlStore, org: str) -> OrgRow:
    found = store.get_org(org)
    return next(r for r in org_rows(store) if r.id == found.id)


def _with_password(store: SqlStore) -> set[str]:
    """The ids of the accounts that have a web sign-in password (never the hashes)."""
    u = schema.users
    with store.engine.connect() as conn:
        rows = conn.execute(select(u.c.id).where(u.c.password_hash.is_not(None)))
        return {str(r[0]) for r in rows}


def user_rows(store: SqlStore, org: str | None = None) -> list[UserRow]:
    """Accounts (of one organisation, or all), with their organisation's name and whether
    they may sign in to the web application with a password."""
    names = {o.id: o.name for o in store.orgs()}
    passwords = _with_password(store)
    return [
        UserRow(
            id=u.id,
            name=u.name,
            org_id=u.org_id,
            org=names.get(u.org_id, u.org_id),
            role=u.role,
            kind=u.kind,
            disabled=u.disabled,
            has_password=u.id in passwords,
            identity_id=u.identity_id,
            created=u.created,
        )
        for u in store.users(org)
    ]


def user_row(store: SqlStore, user: str) -> UserRow:
    found = store.get_user(user)
    return next(r for r in user_rows(store) if r.id == found.id)


# -- tokens ---------------------------------------------------------------------------------


def token_lifetime(days: int | None, no_expiry: bool, default: int) -> int | None:
    """Days a new token lives, or None for no expiry; asking for both is a mistake."""
    if no_expiry and days is not None:
        raise ConfigError("give either days (--days N) or no expiry (--no-expiry), not both")
    if no_expiry:
        return None
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise ConfigError(
            f"days: a token's lifetime is a positive number of days, at most {MAX_TOKEN_DAYS} "
            f"(got {days})"
        )
    return default if days is None else days


def issue_token(
    store: SqlStore,
    settings: Settings,
    user: str,
    *,
    label: str = "",
    days: int | None = None,
    no_expiry: bool = False,
    read_only: bool = False,
) -> IssuedToken:
    """Issue a token for ``user``: the secret is in the answer, once, and stored hashed."""
    lifetime = token_lifetime(days, no_expiry, settings.auth.token_days)
    return store.issue_token(user, label=label, days=lifetime, read_only=read_only)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _token_row(token: Token, names: dict[str, str], now: str) -> TokenRow:
    return TokenRow(
        id=token.id,
        label=token.label,
        user_id=token.user_id,
        user=names.get(token.user_id, token.user_id),
        created=token.created,
        expires=token.expires,
        expired=token.expires is not None and token.expires <= now,
        read_only=token.read_only,
        revoked=token.revoked,
        last_used=token.last_used,
    )


def token_rows(store: SqlStore, user: str | None = None) -> list[TokenRow]:
    """Tokens, oldest first, with their account's name; never a secret."""
    names = {u.id: u.name for u in store.users()}
    now = _now()
    return [_token_row(t, names, now) for t in store.tokens(user)]


def token_row(store: SqlStore, token_id: str) -> TokenRow:
    for row in token_rows(store):
        if row.id == token_id:
            return row
    raise NotFound(f"no token {token_id!r}: see `mburoja token list`")


# -- feeds ----------------------------------------------------------------------------------


class FeedStatusRow(msgspec.Struct, frozen=True, kw_only=True):
    """A feed, its health and its latest run, as `mburoja feed list` and /admin/feeds show it."""

    name: str
    provider: str
    source: str  # shipped (catalogue) or user
    format: str
    schedule: str
    enabled: bool
    healthy: bool
    failures: int
    last_run: str | None  # when the latest recorded run finished
    last_status: str | None
    last_error: str | None
    received: int
    new: int
    new_versions: int
    unchanged: int
    rejected: int
    next_due: str | None  # an enabled feed's next due time; None: due now, or disabled


def feed_rows(store: SqlStore, settings: Settings) -> list[FeedStatusRow]:
    """Every feed (the catalogue's and the operator's), by name, with its health, latest run
    and, when enabled, when the scheduler runs it next."""
    from mburoja.feeds import registry, scheduler  # feeds import the store: load when asked

    rows = []
    for feed in registry.all_feeds(store, settings):
        state = store.feed_state(feed.name)
        runs = store.feed_runs(feed.name, limit=1)
        last = runs[0] if runs else None
        due = scheduler.due_at(feed.spec, state) if feed.enabled else 0.0
        rows.append(
            FeedStatusRow(
                name=feed.name,
                provider=feed.spec.provider,
                source=feed.source,
                format=feed.spec.format,
                schedule=feed.spec.schedule,
                enabled=feed.enabled,
                healthy=state.healthy,
                failures=state.failures,
                last_run=last.finished if last else None,
                last_status=last.status if last else None,
                last_error=last.error if last else None,
                received=last.received if last else 0,
                new=last.new if last else 0,
                new_versions=last.new_versions if last else 0,
                unchanged=last.unchanged if last else 0,
                rejected=last.rejected if last else 0,
                next_due=timestamps.from_epoch(due) if due else None,
            )
        )
    return rows


# -- peers ----------------------------------------------------------------------------------


def peer_rows(store: SqlStore) -> list[PeerRow]:
    """Every peer with its relation and federation state (outbox, lag, last outcome)."""
    relations = {o.id: o.relation for o in store.orgs()}
    status = {s.name: s for s in store.federation_status()}
    rows = []
    for peer in store.peers():
        s = status.get(peer.name)
        rows.append(
            PeerRow(
                id=peer.id,
                name=peer.name,
                kind=peer.kind,
                api_root=peer.api_root,
                relation=relations.get(peer.org_id, "none"),
                enabled=peer.enabled,
                must_sign=peer.must_sign,
                push=peer.push,
                pull=peer.pull,
                pending=s.pending if s else 0,
                failed=s.failed if s else 0,
                lag_s=s.lag_s if s else 0.0,
                delivered=s.delivered if s else 0,
                refused=s.refused if s else 0,
                received=s.received if s else 0,
                rejected=s.rejected if s else 0,
                last_success=s.last_success if s else None,
                last_error=s.last_error if s else None,
            )
        )
    return rows


def peer_row(store: SqlStore, peer_id: str) -> PeerRow:
    """A peer by its id (or, failing that, its name)."""
    rows = peer_rows(store)
    for row in rows:
        if row.id == peer_id:
            return row
    for row in rows:
        if row.name == peer_id:
            return row
    raise NotFound(f"no peer {peer_id!r}: see `mburoja peer list`")


def set_peer_enabled(store: SqlStore, peer_id: str, enabled: bool) -> PeerRow:
    """Resume or pause a peer (what it is owed meanwhile stays in its outbox)."""
    store.set_peer_enabled(peer_row(store, peer_id).name, enabled)
    return peer_row(store, peer_id)


# -- collections and grants -----------------------------------------------------------------


def new_collection(
    store: SqlStore, alias: str, title: str = "", description: str = ""
) -> Collection:
    """Create a collection. Unlike ``ensure_collection``, an alias in use is an error: the
    caller would otherwise be told of success while the old title and description stay."""
    alias = alias.strip()
    if not alias or len(alias) > 200 or any(c.isspace() for c in alias):
        raise ConfigError(f"collection alias {alias!r}: give 1 to 200 characters, no spaces")
    if any(c.alias == alias for c in store.collections()):
        raise Conflict(
            f"a collection {alias!r} exists already: see `mburoja collection list`, "
            "or pick another alias"
        )
    return store.ensure_collection(alias, title, description)


def grantee_name(org_id: str, org_names: dict[str, str]) -> str:
    """How a grant's organisation is shown: its name, or what ``*`` and anonymous mean."""
    if org_id == EVERY_ORG:
        return "* (every organisation)"
    if org_id == ANONYMOUS_ORG:
        return "anonymous"
    return org_names.get(org_id, org_id)


def grant_rows(store: SqlStore, collection: str | None = None) -> list[GrantRow]:
    """The grants (of one collection, or all) with aliases and names beside the ids."""
    aliases = {c.id: c.alias for c in store.collections()}
    names = {o.id: o.name for o in store.orgs()}
    return [_grant_row(a, aliases, names) for a in store.access(collection)]


def _grant_row(access: Access, aliases: dict[str, str], names: dict[str, str]) -> GrantRow:
    return GrantRow(
        collection=aliases.get(access.collection_id, access.collection_id),
        collection_id=access.collection_id,
        org=grantee_name(access.org_id, names),
        org_id=access.org_id,
        can_read=access.can_read,
        can_write=access.can_write,
    )


def collection_rows(store: SqlStore) -> list[CollectionRow]:
    """Every collection with its object count and who may read and write it."""
    grants = grant_rows(store)
    return [
        CollectionRow(
            id=c.id,
            alias=c.alias,
            title=c.title,
            description=c.description,
            objects=c.objects,
            grants=tuple(g for g in grants if g.collection_id == c.id),
        )
        for c in store.collections()
    ]


def set_grant(store: SqlStore, collection: str, org: str, *, read: bool, write: bool) -> GrantRow:
    """Set what an organisation (or ``*``, or anonymous) may do in a collection; both
    false withdraws it (and, for one organisation, also outweighs a ``*`` grant)."""
    access = store.grant(collection, org, can_read=read, can_write=write)
    aliases = {c.id: c.alias for c in store.collections()}
    return _grant_row(access, aliases, {o.id: o.name for o in store.orgs()})


# -- quarantine -----------------------------------------------------------------------------


def quarantine_status(text: str | None) -> str | None:
    """The status filter a list asks for (None: every status); default ``open``."""
    value = (text or "open").strip()
    if value == EVERY_STATUS:
        return None
    if value not in QUARANTINE_STATUSES:
        raise InputFormatError(
            f"status {value!r} is not one of {', '.join((*QUARANTINE_STATUSES, EVERY_STATUS))}"
        )
    return value


def quarantine_row(entry: QuarantineEntry) -> QuarantineRow:
    return QuarantineRow(
        qid=entry.qid,
        ingest_id=entry.ingest_id,
        origin=entry.origin,
        index=entry.index,
        object_id=entry.object_id,
        field=entry.field,
        reason=entry.reason,
        received_at=entry.received_at,
        status=entry.status,
        size=len(entry.raw),
    )


def quarantine_rows(
    store: SqlStore, status: str | None = "open", limit: int = 100
) -> list[QuarantineRow]:
    if not 1 <= limit <= MAX_LIST:
        raise InputFormatError(f"limit must be between 1 and {MAX_LIST}")
    return [quarantine_row(e) for e in store.quarantine_list(status, limit)]


def quarantine_entry(store: SqlStore, qid: int) -> QuarantineEntry:
    """One quarantined item (a number no entry can have is simply not found)."""
    if not 0 < qid <= MAX_QID:
        raise NotFound(f"no quarantine entry {qid}: see `mburoja quarantine list`")
    return store.quarantine_get(qid)


def stored_text(entry: QuarantineEntry) -> str:
    """The item's bytes as text to read and edit (bytes that are not UTF-8 show as U+FFFD:
    replay the item as stored to keep them)."""
    return entry.raw.decode("utf-8", errors="replace")


def replay_entry(
    store: SqlStore, settings: Settings, qid: int, fixed: str | None = None
) -> ReplayOutcome:
    """Replay a quarantined item as stored, or ``fixed`` (the corrected text) in its place,
    through the same converter, checks and ingest as ``mburoja quarantine replay``."""
    entry = quarantine_entry(store, qid)
    if entry.status != "open":
        raise Conflict(f"quarantine entry {qid} is {entry.status}, not open: nothing to replay")
    data: bytes | None = None
    if fixed is not None:
        if not fixed.strip():
            raise InputFormatError("text: the corrected item is empty")
        if len(fixed) > MAX_FIX:
            raise InputFormatError(f"text: the corrected item is over {MAX_FIX:,} characters")
        data = fixed.encode("utf-8")
    report = replay(store, settings, qid, timestamps.now(), data)
    return ReplayOutcome(
        qid=qid,
        landed=report.rejected == 0,
        status=store.quarantine_get(qid).status,
        received=report.received,
        new=report.new,
        new_versions=report.new_versions,
        unchanged=report.unchanged,
        rejected=report.rejected,
        rejects=tuple(
            RejectRow(index=r.index, object_id=r.object_id, field=r.field, reason=r.reason)
            for r in report.rejects
        ),
    )


def dismiss_entry(store: SqlStore, qid: int) -> QuarantineRow:
    """Mark an open quarantined item as dismissed: kept, but no longer waiting for a fix."""
    entry = quarantine_entry(store, qid)
    if entry.status != "open":
        raise Conflict(f"quarantine entry {qid} is {entry.status}, not open")
    store.quarantine_set_status(qid, "dismissed")
    return quarantine_row(store.quarantine_get(qid))
