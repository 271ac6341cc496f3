"""Who may use the home organisation's own working data (the disinfo watch list, narrative
library and analyses): its accounts read it; changing it or running work needs an admin or
analyst whose token may write."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request

from mburoja.config import Settings
from mburoja.errors import Forbidden, Unauthenticated
from mburoja.policy import Caller, Policy
from mburoja.store.sql import SqlStore
from mburoja.taxii.auth import caller_from_authorization

WRITER_ROLES: Final = ("admin", "analyst")


class HomeAccess:
    """The two checks, bound to one store, its settings and policy; ``what`` names the data
    in the refusals (e.g. "the watch list")."""

    def __init__(self, store: SqlStore, settings: Settings, policy: Policy, what: str) -> None:
        self.store, self.settings, self.policy, self.what = store, settings, policy, what

    def reader(self, request: Request) -> Caller:
        who = caller_from_authorization(
            request.headers.get("authorization"),
            self.store,
            anonymous_ok=self.settings.auth.anonymous_read,
        )
        if who.anonymous:
            raise Unauthenticated(f"{self.what} needs credentials of the home organisation")
        if who.org_id != self.policy.home_org:
            raise Forbidden(f"{self.what} is shown to the home organisation's accounts only")
        return who

    def writer(self, request: Request, doing: str) -> Caller:
        who = self.reader(request)
        if not who.can_write or who.role not in WRITER_ROLES:
            raise Forbidden(
                f"{doing} needs an admin or analyst account with a token that may write"
            )
        return who
