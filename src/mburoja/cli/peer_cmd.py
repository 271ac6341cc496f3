"""``mburoja peer``: the instances and TAXII servers we federate with."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mburoja.cli.common import AsJson, guard, opened, print_json, shown
from mburoja.cli.render import console
from mburoja.store.peers import PEER_KINDS, PEER_RELATIONS, Peer

peer_app = typer.Typer(
    help="Federation peers: other Mburoja instances or TAXII 2.1 servers.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@peer_app.command("add")
def peer_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name for the peer.")],
    api_root: Annotated[str, typer.Argument(help="Its TAXII 2.1 API root URL.")],
    relation: Annotated[
        str, typer.Option(help=f"Our relation to it: {', '.join(PEER_RELATIONS)}.")
    ] = "partner",
    kind: Annotated[str, typer.Option(help=f"What it is: {', '.join(PEER_KINDS)}.")] = "mburoja",
    org: Annotated[
        str | None, typer.Option(help="The organisation standing for it (default: NAME).")
    ] = None,
    user: Annotated[str | None, typer.Option(help="User name for HTTP Basic.")] = None,
    secret_env: Annotated[
        str | None,
        typer.Option(help="NAME of the environment variable holding its token or password."),
    ] = None,
    push: Annotated[
        list[str] | None, typer.Option(help="A local collection to push to it (repeat).")
    ] = None,
    pull: Annotated[
        list[str] | None, typer.Option(help="A remote collection id to pull (repeat).")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="Its Ed25519 public key (`mburoja key show` there).")
    ] = None,
    must_sign: Annotated[
        bool | None,
        typer.Option(
            "--must-sign/--no-must-sign",
            help="Reject its objects unless signed (default: yes for a Mburoja peer).",
        ),
    ] = None,
) -> None:
    """Add a peer. Its credentials stay in the environment; only the variable's name is kept."""
    with opened(ctx) as store:
        peer = guard(
            lambda: store.add_peer(
                name,
                api_root,
                relation=relation,
                kind=kind,
                org=org,
                user=user,
                secret_env=secret_env,
                push=push or (),
                pull=pull or (),
                public_key=public_key,
                must_sign=must_sign,
            )
        )
    console.print(
        f"added peer {escape(repr(peer.name))} ({peer.kind}, {relation}) at {peer.api_root}"
    )


@peer_app.command("list")
def peer_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Every peer, with its relation, collections and signing rule."""
    with opened(ctx) as store:
        found = store.peers()
        relations = {org.id: org.relation for org in store.orgs()}
    if as_json:
        print_json(found)
        return
    table = Table(title="peers")
    for column in ("name", "kind", "relation", "API root", "push", "pull", "must sign"):
        table.add_column(column, overflow="fold")
    for peer in found:
        table.add_row(
            shown(peer.name),
            peer.kind,
            relations.get(peer.org_id, "?"),
            shown(peer.api_root),
            shown(peer.push),
            shown(peer.pull),
            "yes" if peer.must_sign else "no",
        )
    console.print(table)


@peer_app.command("show")
def peershown(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The peer's name.")],
    as_json: AsJson = False,
) -> None:
    """One peer in full (never a secret: only the name of the variable holding it)."""
    with opened(ctx) as store:
        peer: Peer = guard(lambda: store.get_peer(name))
    if as_json:
        print_json(peer)
        return
    table = Table(title=f"peer {escape(repr(peer.name))}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field in Peer.__struct_fields__:
        table.add_row(field, shown(getattr(peer, field)))
    console.print(table)


@peer_app.command("remove")
def peer_remove(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The peer's name.")]
) -> None:
    """Forget a peer (its organisation, and what it sent, stay)."""
    with opened(ctx) as store:
        guard(lambda: store.remove_peer(name))
    console.print(f"removed peer {escape(repr(name))}")
