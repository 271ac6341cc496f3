"""Who is calling: HTTP ``Authorization`` headers to a policy ``Caller``.

TAXII 2.1 clients speak HTTP Basic (the spec's baseline): the user name with an API token as
the password. Everything else may send ``Authorization: Bearer <token>``. Shared by the TAXII
server and the REST API.
"""

from __future__ import annotations

import base64
import binascii

from mburoja.errors import Unauthenticated
from mburoja.policy import ANONYMOUS, Caller
from mburoja.store.accounts import Accounts

CHALLENGE = 'Basic realm="mburoja", charset="UTF-8", Bearer realm="mburoja"'


def caller_from_authorization(
    header: str | None, accounts: Accounts, *, anonymous_ok: bool
) -> Caller:
    """The caller the header stands for; anonymous when there is none and that is allowed."""
    if not header:
        if anonymous_ok:
            return ANONYMOUS
        raise Unauthenticated(
            "credentials required: HTTP Basic (user name, API token as password) or "
            "'Authorization: Bearer <token>'; `mburoja token issue USER` makes a token"
        )
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return accounts.authenticate(value.strip())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthenticated("malformed HTTP Basic credentials") from exc
        user, colon, password = decoded.partition(":")
        if not colon:
            raise Unauthenticated("malformed HTTP Basic credentials (no ':')")
        return accounts.authenticate(password, user_name=user)
    raise Unauthenticated(f"unsupported authorization scheme {scheme!r}; use Basic or Bearer")
