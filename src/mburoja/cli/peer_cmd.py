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
        list[str] | None, typer.Option(help="A collection id on the peer to push to (repeat).")
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


@peer_app.command("status")
def peer_status(
    ctx: typer.Context,
    failures: Annotated[
        bool, typer.Option("--failures", help="Also list what each peer refused, and why.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Per peer: outbox depth, lag, what was delivered, refused and rejected, last outcome."""
    with opened(ctx) as store:
        found = store.federation_status()
        refused = (
            {p.name: store.outbox_failures(store.get_peer(p.name).id) for p in found}
            if failures
            else {}
        )
    if as_json:
        print_json({"peers": found, "failures": refused} if failures else {"peers": found})
        return
    table = Table(title="federation")
    columns = ("peer", "outbox", "failed", "lag s", "delivered", "withheld", "refused")
    for column in (*columns, "received", "rejected", "last success", "last error"):
        table.add_column(column, overflow="fold")
    for p in found:
        table.add_row(
            shown(p.name) + ("" if p.enabled else " (disabled)"),
            f"{p.pending:,}",
            f"{p.failed:,}",
            f"{p.lag_s:.1f}",
            f"{p.delivered:,}",
            f"{p.withheld:,}",
            f"{p.refused:,}",
            f"{p.received:,}",
            f"{p.rejected:,}",
            shown(p.last_success),
            shown(p.last_error),
        )
    console.print(table)
    for name, rows in refused.items():
        for object_id, version, reason in rows:
            console.print(f"{escape(name)}: {object_id} {version}: {escape(reason)}")


@peer_app.command("retry")
def peer_retry(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The peer's name.")]
) -> None:
    """Send again everything the peer refused (after fixing the cause)."""
    with opened(ctx) as store:
        count = guard(lambda: store.outbox_retry(store.get_peer(name).id))
    console.print(f"{count:,} refused version(s) queued again for {escape(repr(name))}")


@peer_app.command("enable")
def peer_enable(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The peer's name.")],
    enabled: Annotated[
        bool, typer.Option("--on/--off", help="Exchange with it, or pause (the outbox keeps).")
    ] = True,
) -> None:
    """Pause or resume a peer; what it is owed meanwhile stays in its outbox."""
    with opened(ctx) as store:
        guard(lambda: store.set_peer_enabled(name, enabled))
    console.print(f"peer {escape(repr(name))} {'enabled' if enabled else 'paused'}")


@peer_app.command("sync")
def peer_sync(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The peer's name.")]
) -> None:
    """Push everything owed to the peer and pull its collections now, then stop (what the
    server's workers do continuously)."""
    from mburoja.api.app import build_policy
    from mburoja.federation.pull import Puller
    from mburoja.federation.push import Pusher
    from mburoja.federation.relay import Vetter
    from mburoja.federation.signing import InstanceKey

    settings = ctx.obj
    with opened(ctx) as store:
        peer = guard(lambda: store.get_peer(name))
        key = InstanceKey(settings.data_dir)
        policy = guard(lambda: build_policy(settings, store))
        settled = 0
        if peer.push:
            pusher = guard(lambda: Pusher(store, settings, peer, key.private, policy))
            try:
                while True:
                    step = guard(pusher.run_once)
                    if not step:
                        break
                    settled += step
            finally:
                pusher.close()
        summaries = []
        if peer.pull:
            puller = guard(lambda: Puller(store, settings, peer, Vetter(store, key)))
            try:
                summaries = guard(puller.run_once)
            finally:
                puller.close()
        status = next(p for p in store.federation_status() if p.name == peer.name)
    console.print(
        f"pushed: {settled:,} settled; {status.pending:,} still owed, {status.failed:,} refused"
    )
    for summary in summaries:
        console.print(
            f"pulled {summary.collection}: {summary.received:,} received, {summary.new:,} new, "
            f"{summary.new_versions:,} new versions, {summary.unchanged:,} unchanged, "
            f"{summary.rejected:,} rejected"
        )
