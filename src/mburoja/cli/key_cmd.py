"""``mburoja key``: this instance's Ed25519 key, whose public half peers configure to check
the signatures on what we send them.

The rules (where the key lives, its file mode, never overwriting it) are
``mburoja.federation.signing``'s; these commands call it and print the answer. The private
key is never printed.
"""

from __future__ import annotations

import typer

from mburoja.cli.common import AsJson, guard, print_json
from mburoja.cli.render import console
from mburoja.config import Settings
from mburoja.federation.signing import init_key, key_id, key_path, load_key, public_key_text

key_app = typer.Typer(
    help="This instance's Ed25519 signing key: create it, show its public half.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _describe(settings: Settings, public: str, ident: str) -> dict[str, str]:
    return {"public_key": public, "key_id": ident, "path": str(key_path(settings.data_dir))}


@key_app.command("show")
def show(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Print the public key (base64 of its 32 raw bytes) and key id, to give to peers."""
    settings: Settings = ctx.obj
    key = guard(lambda: load_key(settings.data_dir))
    info = _describe(settings, public_key_text(key), key_id(key.public_key()))
    if as_json:
        print_json(info)
        return
    console.print(f"public key: {info['public_key']}", markup=False, highlight=False)
    console.print(f"key id:     {info['key_id']}", markup=False, highlight=False)
    console.print(f"key file:   {info['path']}", markup=False, highlight=False)


@key_app.command("init")
def init(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Create the instance key (<data_dir>/instance-ed25519.pem, mode 0600) if there is none.
    An existing key is kept: peers trust it."""
    settings: Settings = ctx.obj
    key, created = guard(lambda: init_key(settings.data_dir))
    info = _describe(settings, public_key_text(key), key_id(key.public_key()))
    if as_json:
        print_json({**info, "created": created})
        return
    state = "created" if created else "already there, kept"
    console.print(f"instance key {state}: {info['path']}", markup=False, highlight=False)
    console.print(
        f"public key: {info['public_key']} ({info['key_id']})", markup=False, highlight=False
    )
