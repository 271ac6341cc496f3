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

import importlib
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from mburoja.config import Settings
from mburoja.errors import ConfigError, Unauthenticated
from mburoja.policy import Caller, Policy
from mburoja.store.base import Stats
from mburoja.store.sql import SqlStore
from mburoja.web.context import HERE, SECURITY_HEADERS, Signed, WebContext, field
from mburoja.web.dashboard import dashboard, parse_days
from mburoja.web.ratelimit import LoginLimiter
from mburoja.web.session import Session, SessionSigner, binding

#: the page modules; each has ``routes(web: WebContext) -> list[BaseRoute]``
PAGES: tuple[str, ...] = ("admin", "graph", "search", "objects", "detection", "disinfo")


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
    ctx = WebContext(store, policy, settings, signer, stats)

    def with_cookie(response: Response, session: Session) -> Response:
        response.set_cookie(
            ctx.cookie,
            signer.dump(session),
            max_age=signer.lifetime_s,
            path="/",
            secure=web.secure_cookie,
            httponly=True,
            samesite="strict",
        )
        return response

    def home(request: Request, signed: Signed) -> Response:
        days = parse_days(request.query_params.get("days"))
        view = dashboard(store, policy, signed.caller, stats, days=days)
        return ctx.show(signed, "dashboard.html", view=view)

    def login_form(request: Request) -> Response:
        if ctx.signed_in(request) is not None:
            return ctx.redirect("/")
        session = signer.load(request.cookies.get(ctx.cookie))
        if session is None or session.user_id is not None:
            session = signer.new()
        return with_cookie(
            ctx.render("login.html", csrf=session.csrf, error="", username=""), session
        )

    async def login(request: Request) -> Response:
        session = signer.load(request.cookies.get(ctx.cookie))
        form = await request.form(max_files=0, max_fields=10)
        if session is None or not session.valid_csrf(field(form, "csrf")):
            return ctx.refuse_csrf()
        username = field(form, "username").strip()
        password = field(form, "password")
        address = request.client.host if request.client else "unknown"
        keys = (f"user:{username}", f"addr:{address}")
        wait = limiter.retry_after(*keys)
        if wait:
            response = ctx.render(
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
            return ctx.render(
                "login.html", 401, csrf=session.csrf, username=username, error=str(exc)
            )
        limiter.succeeded(*keys)
        signer.end(session)
        fresh = signer.new(caller.user_id, binding(password_hash))
        return with_cookie(ctx.redirect("/"), fresh)

    async def logout(request: Request) -> Response:
        session = signer.load(request.cookies.get(ctx.cookie))
        form = await request.form(max_files=0, max_fields=10)
        if session is None or not session.valid_csrf(field(form, "csrf")):
            return ctx.refuse_csrf()
        signer.end(session)
        response = ctx.to_login()
        response.delete_cookie(
            ctx.cookie, path="/", secure=web.secure_cookie, httponly=True, samesite="strict"
        )
        return response

    static = _SecuredStatic(StaticFiles(directory=HERE / "static"))
    pages: list[BaseRoute] = []
    for name in PAGES:
        module = importlib.import_module(f"mburoja.web.{name}")
        pages.extend(module.routes(ctx))
    return [
        ctx.get("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        *pages,
        Mount("/static", app=static, name="static"),
    ]
