"""The web application over plain HTTP: CSRF, sign-in throttling, cookies and headers."""

from __future__ import annotations

import re

import httpx
import pytest

from mburoja.api.app import create_app
from mburoja.config import Settings
from mburoja.store.sql import SqlStore
from mburoja.web.context import CSP
from tests.live import serve
from tests.web.conftest import PASSWORD, Web, csrf_of
from tests.world import build_world, world_settings


def test_signing_in_sets_a_strict_httponly_session_cookie(web: Web) -> None:
    with web.client() as client:
        response = web.sign_in(client, "same")
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Max-Age=28800" in cookie
        page = client.get("/")
    assert page.status_code == 200
    assert "Dashboard" in page.text and web.user("same") in page.text


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(web: Web) -> None:
    with web.client() as client:
        client.get("/login")
        credentials = {"username": web.user("same"), "password": PASSWORD}
        missing = client.post("/login", data=credentials)
        wrong = client.post("/login", data={**credentials, "csrf": "forged"})
        for response in (missing, wrong):
            assert response.status_code == 403
            assert "CSRF token is missing or wrong" in response.text
            assert "set-cookie" not in response.headers
        assert client.get("/").status_code == 303  # still not signed in

        assert web.sign_in(client, "same").status_code == 303
        refused = client.post("/logout", data={"csrf": "forged"})
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert client.post("/logout").status_code == 403
        assert client.get("/").status_code == 200, "a refused sign-out leaves the session"


def test_a_login_form_token_from_another_session_is_refused(web: Web) -> None:
    with web.client() as attacker, web.client() as victim:
        token = csrf_of(attacker.get("/login").text)
        victim.get("/login")
        response = victim.post(
            "/login",
            data={"csrf": token, "username": web.user("same"), "password": PASSWORD},
        )
    assert response.status_code == 403


def test_the_sixth_failed_sign_in_is_refused_with_429_and_retry_after(web: Web) -> None:
    with web.client() as client:
        for _ in range(5):
            response = web.sign_in(client, "same", password="wrong password!")
            assert response.status_code == 401
            assert "wrong user name or password" in response.text
        sixth = web.sign_in(client, "same", password=PASSWORD)
        assert sixth.status_code == 429
        assert 0 < int(sixth.headers["retry-after"]) <= 300
        assert "Too many failed sign-ins" in sixth.text
        assert client.get("/").status_code == 303


def test_failures_count_per_client_address_across_user_names(web: Web) -> None:
    with web.client() as client:
        for who in ("client", "partner", "community", "stranger", "client"):
            assert web.sign_in(client, who, password="wrong password!").status_code == 401
        assert web.sign_in(client, "same").status_code == 429


def test_a_successful_sign_in_resets_the_failure_count(web: Web) -> None:
    with web.client() as client:
        for _ in range(4):
            assert web.sign_in(client, "same", password="wrong password!").status_code == 401
        assert web.sign_in(client, "same").status_code == 303
    with web.client() as client:
        for _ in range(4):
            assert web.sign_in(client, "same", password="wrong password!").status_code == 401
        assert web.sign_in(client, "same").status_code == 303


def test_a_signed_out_session_cookie_no_longer_works(web: Web) -> None:
    with web.client() as client:
        web.sign_in(client, "same")
        stolen = dict(client.cookies)
        token = csrf_of(client.get("/").text)
        assert client.post("/logout", data={"csrf": token}).status_code == 303
    with web.client() as replay:
        replay.cookies.update(stolen)
        assert replay.get("/").status_code == 303


def test_a_new_password_ends_older_sessions(web: Web) -> None:
    with web.client() as client:
        web.sign_in(client, "same")
        assert client.get("/").status_code == 200
        web.world.store.set_password(web.user("same"), "another long password")
        assert client.get("/").status_code == 303


def test_a_tampered_session_cookie_is_ignored(web: Web) -> None:
    with web.client() as client:
        web.sign_in(client, "same")
        value = client.cookies["mburoja_session"]
        client.cookies.clear()
        client.cookies.set("mburoja_session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
        assert client.get("/").status_code == 303


@pytest.mark.parametrize("path", ["/login", "/", "/static/web.css"])
def test_every_page_has_the_security_headers(web: Web, path: str) -> None:
    with web.client() as client:
        if path != "/login":
            web.sign_in(client, "same")
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert "unsafe-inline" not in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_no_page_carries_inline_script_or_style(web: Web) -> None:
    with web.client() as client:
        pages = [client.get("/login").text]
        pages.append(web.sign_in(client, "same", password="wrong password!").text)
        pages.append(client.post("/login").text)  # the CSRF refusal
        web.sign_in(client, "same")
        pages.append(client.get("/").text)
    assert "Dashboard" in pages[-1] and "wrong user name" in pages[1] and "CSRF" in pages[2]
    for html in pages:
        assert re.search(r"<script(?![^>]*\bsrc=)", html, re.IGNORECASE) is None
        # event handler or style attributes inside any tag (escaped text has no "<")
        assert re.search(r"<[a-z][^>]*\son[a-z]+\s*=", html, re.IGNORECASE) is None
        assert re.search(r"<style|<[a-z][^>]*\sstyle\s*=", html, re.IGNORECASE) is None


def test_the_dashboard_escapes_payloads_in_the_html(web: Web) -> None:
    with web.client() as client:
        web.sign_in(client, "same")
        html = client.get("/").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<script>alert" not in html


def test_a_secure_instance_sets_a_secure_host_cookie(
    web_store: SqlStore, settings: Settings
) -> None:
    settings = world_settings(settings)
    assert settings.web.secure_cookie is True  # the default
    world = build_world(web_store, settings)
    with serve(create_app(settings, web_store)) as url, httpx.Client(base_url=url) as client:
        response = client.get("/login")
        assert world.users["same"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-mburoja_session=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie


def test_the_api_and_taxii_still_answer_beside_the_web_app(web: Web) -> None:
    with web.world.client("same") as client:
        assert client.get("/api/health").json()["status"] == "ok"
        assert client.get("/taxii2/").status_code == 200
    with web.client() as client:
        assert client.get("/").headers["location"] == "/login"
