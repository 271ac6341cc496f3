"""``mburoja org|user|token|collection``: organisations, their users and service accounts, API
tokens, and which organisation may read or write which collection.

The rules (names, roles, relations, hashing, expiry, who may write) are the store's
(``mburoja.store.accounts``); these commands parse flags, call it and render the answer. A
token's secret is printed once, when it is issued, and by no other command.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mburoja.admin import (
    grant_rows,
    grantee_name,
    issue_token,
    new_collection,
    org_rows,
    token_lifetime,
    token_rows,
)
from mburoja.cli.common import AsJson, guard, opened, print_json
from mburoja.cli.render import console
from mburoja.config import Settings
from mburoja.errors import ConfigError
from mburoja.policy import ORG_RELATIONS, ROLES
from mburoja.store.accounts import Org, User

org_app = typer.Typer(
    help="Organisations: ours (home) and those we share with, and how each relates to us.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
user_app = typer.Typer(
    help="Users and service accounts (a peer instance's account), each in an organisation.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
token_app = typer.Typer(
    help="API tokens: issue (shown once, stored hashed), list and revoke.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
collection_app = typer.Typer(
    help="Collections, and which organisations may read or write each.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _quoted(text: str) -> str:
    """A user-given name in quotes, safe to print with rich (its brackets stay literal)."""
    return escape(repr(text))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=escape(title))
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


# -- organisations ---------------------------------------------------------------------------


def org_identity(org: Org) -> dict[str, Any]:
    """The organisation as a STIX 2.1 ``identity``: what its objects' ``created_by_ref`` and
    RED recipient lists name, and what a peer needs to know who we are."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": org.identity_id,
        "created": org.created,
        "modified": org.created,
        "name": org.name,
        "identity_class": "organization",
    }


@org_app.command("add")
def org_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The organisation's name (unique).")],
    relation: Annotated[
        str,
        typer.Option(
            help=f"How it relates to us: one of {', '.join(ORG_RELATIONS)} "
            "(home: this instance's own organisation, exactly one)."
        ),
    ] = "none",
) -> None:
    """Add an organisation; print its id and its STIX identity id."""
    with opened(ctx) as store:
        org = guard(lambda: store.create_org(name, relation))
    console.print(
        f"added organisation {_quoted(org.name)} (relation {org.relation})\n"
        f"  id        {org.id}\n"
        f"  identity  {org.identity_id}"
    )


@org_app.command("list")
def org_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the organisations, with their relation to us and their number of accounts."""
    with opened(ctx) as store:
        orgs = store.orgs()
        rows = org_rows(store)
    if as_json:
        print_json(orgs)
        return
    table = _table(f"organisations ({len(rows)})", "name", "relation", "accounts", "id", "identity")
    for org in rows:
        table.add_row(escape(org.name), org.relation, str(org.accounts), org.id, org.identity_id)
    console.print(table)


@org_app.command("relate")
def org_relate(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Organisation name or id.")],
    relation: Annotated[str, typer.Argument(help="client, partner, community or none.")],
) -> None:
    """Change how an organisation relates to us (what TLP lets it see follows from it)."""
    with opened(ctx) as store:
        org = guard(lambda: store.set_org_relation(name, relation))
    console.print(f"organisation {_quoted(org.name)} is now {org.relation}")


@org_app.command("show")
def org_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Organisation name or id.")],
    as_json: AsJson = False,
) -> None:
    """Show one organisation and its users and service accounts."""
    with opened(ctx) as store:
        org = guard(lambda: store.get_org(name))
        users = store.users(org.id)
    if as_json:
        print_json({"org": org, "users": users})
        return
    table = Table(title=f"organisation {escape(org.name)}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, value in (
        ("relation", org.relation),
        ("id", org.id),
        ("identity", org.identity_id),
        ("created", org.created),
    ):
        table.add_row(field, value)
    console.print(table)
    console.print(_users_table(users, {org.id: org.name}))


@org_app.command("identity")
def org_identity_command(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Organisation name or id.")]
) -> None:
    """Print the organisation's STIX 2.1 identity object as JSON."""
    with opened(ctx) as store:
        org = guard(lambda: store.get_org(name))
    print_json(org_identity(org))


# -- users and service accounts ------------------------------------------------------------


def _users_table(users: list[User], org_names: dict[str, str]) -> Table:
    table = _table(
        f"accounts ({len(users)})", "name", "organisation", "role", "kind", "disabled", "created"
    )
    for user in users:
        table.add_row(
            escape(user.name),
            escape(org_names.get(user.org_id, user.org_id)),
            user.role,
            user.kind,
            _yes(user.disabled),
            user.created,
        )
    return table


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The account's name (unique).")],
    org: Annotated[str, typer.Option("--org", help="Its organisation (name or id).")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
    service: Annotated[
        bool, typer.Option("--service", help="A service account, for a peer instance.")
    ] = False,
) -> None:
    """Add a user, or with --service a service account for a peer, to an organisation."""
    kind = "service" if service else "user"
    with opened(ctx) as store:
        user = guard(lambda: store.create_user(org, name, role, kind=kind))
        owner = store.get_org(user.org_id)
    what = "service account" if service else "user"
    console.print(
        f"added {what} {_quoted(user.name)} ({user.role}) to {_quoted(owner.name)}\n"
        f"  id        {user.id}\n"
        f"  identity  {user.identity_id}\n"
        f"give it a token: mburoja token issue {escape(user.name)}"
    )


@user_app.command("list")
def user_list(
    ctx: typer.Context,
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's accounts.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List users and service accounts."""
    with opened(ctx) as store:
        users = guard(lambda: store.users(org))
        org_names = {o.id: o.name for o in store.orgs()}
    if as_json:
        print_json(users)
        return
    console.print(_users_table(users, org_names))


@user_app.command("disable")
def user_disable(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name or id.")]
) -> None:
    """Disable an account: its tokens are refused until it is enabled again."""
    with opened(ctx) as store:
        user = guard(lambda: store.set_user_disabled(name, True))
    console.print(
        f"disabled {_quoted(user.name)}: its tokens are refused until "
        f"`mburoja user enable {escape(user.name)}`"
    )


@user_app.command("enable")
def user_enable(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name or id.")]
) -> None:
    """Enable a disabled account again (its unexpired, unrevoked tokens work again)."""
    with opened(ctx) as store:
        user = guard(lambda: store.set_user_disabled(name, False))
    console.print(f"enabled {_quoted(user.name)}")


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name or id.")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the password: no web sign-in.")
    ] = False,
) -> None:
    """Set the password a user signs in to the web application with (asked twice, or read
    from stdin with --password-stdin); stored as an argon2id hash. Ends the user's web
    sessions."""
    password: str | None = None
    if clear and password_stdin:
        guard(lambda: _fail("give --clear or --password-stdin, not both"))
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not clear:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with opened(ctx) as store:
        user = guard(lambda: store.set_password(name, password))
    done = "removed the password of" if password is None else "set the password of"
    console.print(f"{done} {_quoted(user.name)}")


def _fail(message: str) -> None:
    raise ConfigError(message)


# -- tokens ---------------------------------------------------------------------------------


@token_app.command("issue")
def token_issue(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user or service account (name or id).")],
    days: Annotated[
        int | None,
        typer.Option("--days", help="Days until it expires (default: setting auth.token_days)."),
    ] = None,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="It never expires.")] = False,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="It may only read, whatever the role.")
    ] = False,
    label: Annotated[str, typer.Option("--label", help="What it is for (shown in lists).")] = "",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the token (for scripts).")
    ] = False,
) -> None:
    """Issue an API token. It is printed once: only its hash is stored."""
    settings: Settings = ctx.obj
    guard(lambda: token_lifetime(days, no_expiry, settings.auth.token_days))
    with opened(ctx) as store:
        issued = guard(
            lambda: issue_token(
                store,
                settings,
                user,
                label=label,
                days=days,
                no_expiry=no_expiry,
                read_only=read_only,
            )
        )
        account = store.get_user(issued.token.user_id)
    if quiet:
        sys.stdout.write(issued.secret + "\n")
        return
    token = issued.token
    details = [f"expires {token.expires}" if token.expires else "never expires"]
    if token.read_only:
        details.append("read-only")
    if token.label:
        details.append(f"label {_quoted(token.label)}")
    console.print(f"token {token.id} for {_quoted(account.name)} ({', '.join(details)}):")
    sys.stdout.write(issued.secret + "\n")
    console.print(
        "This token is not stored and cannot be shown again: copy it now. "
        f"Revoke it with `mburoja token revoke {token.id}`."
    )
    if account.disabled:
        console.print(
            f"[yellow]note:[/yellow] {_quoted(account.name)} is disabled; the token is refused "
            f"until `mburoja user enable {escape(account.name)}`"
        )


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this account's tokens.")] = None,
    as_json: AsJson = False,
) -> None:
    """List tokens, oldest first. Secrets are never shown: they are not stored."""
    with opened(ctx) as store:
        tokens = guard(lambda: store.tokens(user))
        rows = guard(lambda: token_rows(store, user))
    if as_json:
        print_json(tokens)
        return
    table = _table(
        f"tokens ({len(tokens)})",
        "id",
        "user",
        "label",
        "created",
        "expires",
        "read-only",
        "revoked",
        "last used",
    )
    for token in rows:
        expires = token.expires or "never"
        table.add_row(
            token.id,
            escape(token.user),
            escape(token.label) or "-",
            token.created,
            f"{expires} (expired)" if token.expired else expires,
            _yes(token.read_only),
            _yes(token.revoked),
            token.last_used or "never",
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token's id (see `mburoja token list`).")],
) -> None:
    """Revoke a token: it is refused from now on (the record stays, for the audit trail)."""
    with opened(ctx) as store:
        guard(lambda: store.revoke_token(token_id))
    console.print(f"revoked token {escape(token_id)}")


# -- collections and access ----------------------------------------------------------------


@collection_app.command("add")
def collection_add(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="Short unique name, used in commands and URLs.")],
    title: Annotated[str, typer.Option("--title", help="Title (default: the alias).")] = "",
    description: Annotated[str, typer.Option("--description", help="What it holds.")] = "",
) -> None:
    """Add a collection. Only the home organisation sees it until you grant access."""
    with opened(ctx) as store:
        collection = guard(lambda: new_collection(store, alias, title, description))
    console.print(
        f"added collection {_quoted(collection.alias)}\n"
        f"  id  {collection.id}\n"
        f"grant access: mburoja collection grant {escape(collection.alias)} ORG --read"
    )


@collection_app.command("list")
def collection_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the collections with their object counts."""
    with opened(ctx) as store:
        collections = store.collections()
    if as_json:
        print_json(collections)
        return
    table = _table(f"collections ({len(collections)})", "alias", "id", "title", "objects")
    for c in collections:
        table.add_row(escape(c.alias), c.id, escape(c.title), f"{c.objects:,}")
    console.print(table)


@collection_app.command("grant")
def collection_grant(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="Collection alias or id.")],
    org: Annotated[
        str,
        typer.Argument(
            help="Organisation name or id; '*' for every authenticated organisation; "
            "anonymous for callers without a token."
        ),
    ],
    read: Annotated[bool, typer.Option("--read/--no-read", help="May read.")] = True,
    write: Annotated[bool, typer.Option("--write/--no-write", help="May write.")] = False,
) -> None:
    """Set what an organisation may do in a collection (replaces its earlier grant).
    TLP markings still decide which objects a reader sees."""
    with opened(ctx) as store:
        access = guard(lambda: store.grant(alias, org, can_read=read, can_write=write))
        who = grantee_name(access.org_id, {o.id: o.name for o in store.orgs()})
    console.print(
        f"{escape(who)} in {_quoted(alias)}: read {_yes(access.can_read)}, "
        f"write {_yes(access.can_write)}"
    )


@collection_app.command("access")
def collection_access(
    ctx: typer.Context,
    alias: Annotated[str | None, typer.Argument(help="Only this collection.")] = None,
    as_json: AsJson = False,
) -> None:
    """Who may read and write which collection. The home organisation always may, and
    organisations without a grant (or a '*' grant) may not."""
    with opened(ctx) as store:
        rows = guard(lambda: grant_rows(store, alias))
    if as_json:
        print_json(rows)
        return
    table = _table(f"grants ({len(rows)})", "collection", "organisation", "read", "write")
    for row in rows:
        table.add_row(
            escape(row.collection), escape(row.org), _yes(row.can_read), _yes(row.can_write)
        )
    console.print(table)
