"""What every page module of the web application shares: the templates, the security
headers, who is signed in, and routes that check sign-in and CSRF before a handler runs.

A page module exports ``routes(web: WebContext) -> list[BaseRoute]`` and builds its routes
with ``web.get`` and ``web.post``:

- ``web.get(path, handler)``: ``handler(request, signed) -> Response`` runs in the thread
  pool, only for a signed-in user (others are sent to ``/login``);
- ``web.post(path, handler)``: the same, after the form's CSRF token was checked (403
  otherwise); the handler gets the form as its third argument;
- ``web.show(signed, "template.html", **context)`` renders a page for that user (the
  header's name, organisation and the CSRF token come from ``signed``).

Pages read through the policy as ``signed.caller``, never as the instance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from mburoja.config import Settings
from mburoja.errors import Forbidden, MburojaError, NotFound, StoreUnavailable, Unauthenticated
from mburoja.policy import Caller, Policy
from mburoja.store.base import Stats
from mburoja.store.sql import SqlStore
from mburoja.web.session import Session, SessionSigner, binding

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
MAX_FIELD = 1024  # characters of a short form field (names, passwords, filters)
MAX_FORM_FIELDS = 200

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
)


def secured(response: Response, *, private: bool = True) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


def field(form: FormData, name: str, limit: int = MAX_FIELD) -> str:
    """A text field of ``form``, cut to ``limit`` characters ("" when absent or a file)."""
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


@dataclass(frozen=True)
class Signed:
    """A signed-in user: the session (its CSRF token), the policy caller, and the name of
    the user's organisation."""

    session: Session
    caller: Caller
    org: str

    @property
    def csrf(self) -> str:
        return self.session.csrf


GetHandler = Callable[[Request, Signed], Response]
PostHandler = Callable[[Request, Signed, FormData], Response]


class WebContext:
    """The store, policy and settings, the session cookie, and page rendering."""

    def __init__(
        self,
        store: SqlStore,
        policy: Policy,
        settings: Settings,
        signer: SessionSigner,
        stats: Callable[[Caller], Stats],
    ) -> None:
        self.store = store
        self.policy = policy
        self.settings = settings
        self.signer = signer
        self.stats = stats
        self.cookie = "__Host-mburoja_session" if settings.web.secure_cookie else "mburoja_session"

    # -- rendering -------------------------------------------------------------------

    def render(self, name: str, status: int = 200, **context: Any) -> Response:
        body = templates.get_template(name).render(**{"user": None, "csrf": "", **context})
        return secured(HTMLResponse(body, status_code=status))

    def show(self, signed: Signed, name: str, status: int = 200, **context: Any) -> Response:
        """Render ``name`` for a signed-in user."""
        user = {
            "name": signed.caller.user_name,
            "org": signed.org,
            "home": self.is_home(signed),
            "admin": self.is_admin(signed),
        }
        return self.render(name, status, user=user, csrf=signed.csrf, **context)

    def error(
        self, status: int, heading: str, message: str, signed: Signed | None = None
    ) -> Response:
        if signed is None:
            return self.render("error.html", status, heading=heading, message=message, back="/")
        return self.show(signed, "error.html", status, heading=heading, message=message, back="/")

    def refuse_csrf(self) -> Response:
        return self.error(
            403,
            "Request refused",
            "The form's CSRF token is missing or wrong, so the request was refused. "
            "Reload the page and try again.",
        )

    def to_login(self) -> Response:
        return secured(RedirectResponse("/login", status_code=303))

    def redirect(self, url: str) -> Response:
        """A 303 to a path of this application (never to another site)."""
        if not url.startswith("/") or url.startswith("//"):
            url = "/"
        return secured(RedirectResponse(url, status_code=303))

    # -- who is signed in ----------------------------------------------------------------

    def signed_in(self, request: Request) -> Signed | None:
        session = self.signer.load(request.cookies.get(self.cookie))
        if session is None or session.user_id is None:
            return None
        try:
            caller, password_hash = self.store.session_caller(session.user_id)
        except Unauthenticated:
            return None
        if session.bound != binding(password_hash):
            return None  # the password changed since this session began
        org = self.store.get_org(caller.org_id).name if caller.org_id else ""
        return Signed(session=session, caller=caller, org=org)

    def is_home(self, signed: Signed) -> bool:
        return signed.caller.org_id == self.policy.home_org

    def is_admin(self, signed: Signed) -> bool:
        """An administrator of the home organisation (who may run the instance)."""
        return self.is_home(signed) and signed.caller.role == "admin"

    # -- routes ---------------------------------------------------------------------------

    def get(self, path: str, handler: GetHandler, name: str | None = None) -> Route:
        async def endpoint(request: Request) -> Response:
            signed = await run_in_threadpool(self.signed_in, request)
            if signed is None:
                return self.to_login()
            return await run_in_threadpool(self._guarded, handler, request, signed)

        return Route(path, endpoint, methods=["GET"], name=name)

    def post(self, path: str, handler: PostHandler, name: str | None = None) -> Route:
        async def endpoint(request: Request) -> Response:
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
            signed = await run_in_threadpool(self.signed_in, request)
            if signed is None:
                session = self.signer.load(request.cookies.get(self.cookie))
                if session is None or not session.valid_csrf(field(form, "csrf")):
                    return self.refuse_csrf()
                return self.to_login()
            if not signed.session.valid_csrf(field(form, "csrf")):
                return self.refuse_csrf()
            return await run_in_threadpool(self._guarded, handler, request, signed, form)

        return Route(path, endpoint, methods=["POST"], name=name)

    def _guarded(self, handler: Callable[..., Response], request: Request, *args: Any) -> Response:
        """Run a handler; the errors a user can meet become pages, not tracebacks."""
        signed: Signed = args[0]
        try:
            return handler(request, *args)
        except Forbidden as exc:
            return self.error(403, "Not allowed", str(exc), signed)
        except NotFound as exc:
            return self.error(404, "Not found", str(exc), signed)
        except StoreUnavailable as exc:
            return self.error(503, "Store unavailable", str(exc), signed)
        except MburojaError as exc:
            return self.error(400, "Request refused", str(exc), signed)
