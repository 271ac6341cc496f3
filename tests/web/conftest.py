"""Fixtures of the web application tests: a small world served on 127.0.0.1 with users
who have passwords, and Debian's Chromium driven by Playwright.

The browser is ``/usr/bin/chromium`` (``make test`` installs it with apt-get). Without it
the browser tests skip with a visible reason, or fail when ``MBUROJA_REQUIRE_SERVICES`` is
set (CI), so that a missing browser never passes silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from mburoja.api.app import create_app
from mburoja.config import Settings
from mburoja.store.sql import SqlStore, open_store
from tests.factories import indicator
from tests.live import serve
from tests.world import World, build_world, world_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
#: the home organisation's AMBER+STRICT object, which no other organisation may see
SECRET_NAME = "home-only amber strict indicator"
XSS = (
    "<img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "<svg onload=alert(1)>",
    "javascript:alert(1)",
    "{{ 7*7 }}<b>bold</b>",
)


@dataclass
class Web:
    world: World
    url: str

    def user(self, who: str) -> str:
        return self.world.users[who]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    def sign_in(self, client: httpx.Client, who: str, password: str = PASSWORD) -> httpx.Response:
        """GET the form (for its CSRF token), then POST the credentials."""
        token = csrf_of(client.get("/login").text)
        return client.post(
            "/login", data={"csrf": token, "username": self.user(who), "password": password}
        )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def sign_in(browser: Any, web: Web, who: str, password: str = PASSWORD) -> Any:
    """A new page in ``browser``, signed in as ``who`` through the sign-in form (the page
    records any JavaScript dialog in ``page.dialogs``)."""
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    page.goto(f"{web.url}/")
    assert page.url.endswith("/login"), "a visitor who is not signed in is sent to sign in"
    page.fill("input[name=username]", web.user(who))
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def web_objects() -> list[dict[str, Any]]:
    """TLP:CLEAR indicators named with XSS payloads, and one AMBER+STRICT secret."""
    objects = [
        indicator(
            f"[url:value = 'https://x.example/{i}']",
            tlp="clear",
            name=payload,
            labels=[payload],
        )
        for i, payload in enumerate(XSS)
    ]
    objects.append(indicator("[ipv4-addr:value = '198.51.100.0/24']", tlp="green"))
    objects.append(
        indicator("[domain-name:value = 'secret.example']", tlp="amber+strict", name=SECRET_NAME)
    )
    return objects


@pytest.fixture
def web_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = open_store(f"sqlite:///{tmp_path / 'web.db'}", initialise=True)
    yield store
    store.close()


@pytest.fixture
def web(web_store: SqlStore, settings: Settings) -> Iterator[Web]:
    """The world (home, client, partner, community, stranger) served with the web app over
    plain HTTP on loopback (so ``web.secure_cookie`` is off); every analyst has PASSWORD."""
    settings = world_settings(settings)
    settings = msgspec.structs.replace(
        settings, web=msgspec.structs.replace(settings.web, secure_cookie=False)
    )
    world = build_world(web_store, settings)
    for name in world.users.values():
        web_store.set_password(name, PASSWORD)
    world.load(web_objects())
    with serve(create_app(settings, web_store)) as url:
        world.url = url
        yield Web(world=world, url=url)


def _require_browser() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing: `apt-get install chromium` (make test does it)"
        if os.environ.get("MBUROJA_REQUIRE_SERVICES"):
            pytest.fail(f"MBUROJA_REQUIRE_SERVICES is set but {reason}")
        pytest.skip(reason)


@pytest.fixture
def playwright() -> Iterator[Any]:
    """Playwright, per test: its sync API keeps an event loop running while it is open,
    which would break later tests that call ``asyncio.run``."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def browser(playwright: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium (its own user-data-dir) as a browser context."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
    )
    try:
        yield context
    finally:
        context.close()
