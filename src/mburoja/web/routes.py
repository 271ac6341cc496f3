"""The web application's routes: sign-in, sign-out, the dashboard and the stylesheet.

Safety, in one place:

- the session is a signed cookie (``mburoja.web.session``): HttpOnly, SameSite=Strict,
  ``Secure`` unless ``web.secure_cookie`` is off, ending after ``web.session_minutes``;
- every POST must carry the session's CSRF token in the form field ``csrf``, or is refused
  with 403; signing in gives a fresh session (no fixation);
- sign-in failures are counted per user name and per client address; past
  ``web.login_failures`` in ``web.login_window_seconds`` the answer is 429 with Retry-After;
- every answer carries a content security policy without inline script or style;
- pages read through the policy as the signed-in user, never as the instance.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from mburoja.config import Settings
from mburoja.errors import ConfigError, Unauthenticated
from mburoja.policy import Caller, Policy
from mburoja.store.base import Stats
from mburoja.store.sql import SqlStore
from mburoja.web.dashboard import dashboard
from mburoja.web.ratelimit import LoginLimiter
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
_MAX_FIELD = 1024  # characters of a user name or password read from the form

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


class _SecuredStatic:
    """The static files, with the security headers."""

    def __init__(self, app: StaticFiles) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(
                    (k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_secured)


def routes(
    store: SqlStore,
    policy: Policy,
    settings: Settings,
    secret: str,
    stats: Callable[[Caller], Stats],
) -> list[BaseRoute]:
    """The web application's routes, to mount at ``/`` beside ``/api`` and ``/taxii2/``."""
    web = settings.web
    if web.session_minutes <= 0 or web.login_failures <= 0 or web.login_window_seconds <= 0:
        raise ConfigError(
            "web.session_minutes, web.login_failures and web.login_window_seconds must be positive"
        )
    signer = SessionSigner(secret, web.session_minutes * 60)
    limiter = LoginLimiter(web.login_failures, web.login_window_seconds)
    cookie = "__Host-mburoja_session" if web.secure_cookie else "mburoja_session"

    def page(name: str, status: int = 200, **context: Any) -> Response:
        body = templates.get_template(name).render(**{"user": None, "csrf": "", **context})
        return secured(HTMLResponse(body, status_code=status))

    def with_cookie(response: Response, session: Session) -> Response:
        response.set_cookie(
            cookie,
            signer.dump(session),
            max_age=signer.lifetime_s,
            path="/",
            secure=web.secure_cookie,
            httponly=True,
            samesite="strict",
        )
        return response

    def signed_in(request: Request) -> tuple[Session, Caller] | None:
        session = signer.load(request.cookies.get(cookie))
        if session is None or session.user_id is None:
            return None
        try:
            caller, password_hash = store.session_caller(session.user_id)
        except Unauthenticated:
            return None
        if session.bound != binding(password_hash):
            return None  # the password changed since this session began
        return session, caller

    def refuse_csrf() -> Response:
        return page(
            "error.html",
            403,
            heading="Request refused",
            message="The form's CSRF token is missing or wrong, so the request was refused. "
            "Reload the page and try again.",
            back="/",
        )

    def to_login() -> Response:
        return secured(RedirectResponse("/login", status_code=303))

    def home(request: Request) -> Response:
        found = signed_in(request)
        if found is None:
            return to_login()
        session, caller = found
        view = dashboard(store, policy, caller, stats)
        org = store.get_org(caller.org_id).name if caller.org_id else ""
        return page(
            "dashboard.html",
            user={"name": caller.user_name, "org": org},
            csrf=session.csrf,
            stats=view.stats,
            by_type=view.by_type,
            by_tlp=view.by_tlp,
            newest=view.newest,
        )

    def login_form(request: Request) -> Response:
        if signed_in(request) is not None:
            return secured(RedirectResponse("/", status_code=303))
        session = signer.load(request.cookies.get(cookie))
        if session is None or session.user_id is not None:
            session = signer.new()
        return with_cookie(page("login.html", csrf=session.csrf, error="", username=""), session)

    async def login(request: Request) -> Response:
        session = signer.load(request.cookies.get(cookie))
        form = await request.form(max_files=0, max_fields=10)
        if session is None or not session.valid_csrf(_field(form, "csrf")):
            return refuse_csrf()
        username = _field(form, "username").strip()
        password = _field(form, "password")
        address = request.client.host if request.client else "unknown"
        keys = (f"user:{username}", f"addr:{address}")
        wait = limiter.retry_after(*keys)
        if wait:
            response = page(
                "login.html",
                429,
                csrf=session.csrf,
                username=username,
                error=f"Too many failed sign-ins. Try again in {wait} seconds.",
            )
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            caller = await run_in_threadpool(store.check_password, username, password)
            _, password_hash = await run_in_threadpool(store.session_caller, caller.user_id or "")
        except Unauthenticated as exc:
            limiter.failed(*keys)
            return page("login.html", 401, csrf=session.csrf, username=username, error=str(exc))
        limiter.succeeded(*keys)
        signer.end(session)
        fresh = signer.new(caller.user_id, binding(password_hash))
        return with_cookie(secured(RedirectResponse("/", status_code=303)), fresh)

    async def logout(request: Request) -> Response:
        session = signer.load(request.cookies.get(cookie))
        form = await request.form(max_files=0, max_fields=10)
        if session is None or not session.valid_csrf(_field(form, "csrf")):
            return refuse_csrf()
        signer.end(session)
        response = to_login()
        response.delete_cookie(
            cookie, path="/", secure=web.secure_cookie, httponly=True, samesite="strict"
        )
        return response

    static = _SecuredStatic(StaticFiles(directory=HERE / "static"))
    return [
        Route("/", home, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", app=static, name="static"),
    ]


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value[:_MAX_FIELD] if isinstance(value, str) else ""
