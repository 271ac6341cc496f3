"""The demo's organisations and accounts, so that ``make run`` shows TLP enforced.

Around the home organisation: a ministry that is our client, two partner CERTs, a sector
ISAC in the community, and an outside organisation with no relation; an analyst of ours
with a token and a web password, and a sync service account for a partner. The ``demo``
collection is readable by every organisation, and each sees only what its relation and the
markings allow.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mburoja.config import Settings
from mburoja.store.sql import SqlStore

ORGS = (
    ("ministry-of-defence", "client"),
    ("cert-bg", "partner"),
    ("si-cert", "partner"),
    ("energy-isac", "community"),
    ("outside-org", "none"),
)
TOKEN_FILE = "demo-token"  # noqa: S105 - a file name
PASSWORD_FILE = "demo-password"  # noqa: S105 - a file name


def demo_accounts(store: SqlStore, settings: Settings) -> str | None:
    """Create what is missing; returns a new analyst token (also written to
    ``<data_dir>/demo-token``, mode 0600), or None if the demo analyst existed already.
    The analyst also gets a random web sign-in password, written to
    ``<data_dir>/demo-password`` (mode 0600)."""
    home = store.home_org()
    if home is None:
        home = store.create_org("home", "home")
    known = {org.name for org in store.orgs()}
    for name, relation in ORGS:
        if name not in known:
            store.create_org(name, relation)
    users = {user.name for user in store.users()}
    if "cert-bg-sync" not in users:
        store.create_user("cert-bg", "cert-bg-sync", "sync", kind="service")
    store.grant("demo", "*", can_read=True, can_write=False)
    store.grant("demo", "cert-bg", can_read=True, can_write=True)
    if "demo-analyst" in users:
        return None
    store.create_user(home.name, "demo-analyst", "analyst")
    token = store.issue_token("demo-analyst", label="demo", days=settings.auth.token_days).secret
    password = secrets.token_urlsafe(12)
    store.set_password("demo-analyst", password)
    _write_private(Path(settings.data_dir) / TOKEN_FILE, token)
    _write_private(Path(settings.data_dir) / PASSWORD_FILE, password)
    return token


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` and a newline to ``path``, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text + "\n")
