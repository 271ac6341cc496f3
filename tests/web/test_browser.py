"""End to end in headless Chromium: sign in, the dashboard, sign out, escaping, and what
another organisation sees."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import SECRET_NAME, XSS, Web, sign_in


def api_stats(web: Web, who: str) -> dict[str, Any]:
    with web.world.client(who) as client:
        response = client.get("/api/stats")
    assert response.status_code == 200
    stats: dict[str, Any] = response.json()
    return stats


def test_signing_in_shows_the_dashboard_with_this_users_counts(browser: Any, web: Web) -> None:
    page = sign_in(browser, web, "same")
    assert page.url == f"{web.url}/"
    assert page.locator("h1").inner_text() == "Dashboard"
    stats = api_stats(web, "same")
    assert stats["objects"] == len(XSS) + 2  # the indicators of web_objects()
    assert page.locator("#objects-count").inner_text() == str(stats["objects"])
    type_chart = page.locator("#by-type svg").inner_html()
    assert "indicator" in type_chart
    assert f">{stats['by_type']['indicator']}<" in type_chart
    tlp_chart = page.locator("#by-tlp svg").inner_html()
    for level, count in stats["by_tlp"].items():
        assert f">{level}<" in tlp_chart and f">{count}<" in tlp_chart
    assert page.locator(".who").inner_text().startswith(web.user("same"))


def test_a_wrong_password_shows_an_error_and_no_dashboard(browser: Any, web: Web) -> None:
    page = sign_in(browser, web, "same", password="not the password")
    assert page.url.endswith("/login")
    assert "wrong user name or password" in page.locator(".error").inner_text()
    page.goto(f"{web.url}/")
    assert page.url.endswith("/login")


def test_signing_out_ends_the_session(browser: Any, web: Web) -> None:
    page = sign_in(browser, web, "same")
    assert page.locator("h1").inner_text() == "Dashboard"
    page.click("form.logout button")
    page.wait_for_load_state()
    assert page.url.endswith("/login")
    assert page.locator("h1").inner_text() == "Sign in"
    page.goto(f"{web.url}/")
    assert page.url.endswith("/login")
    assert page.locator("h1").inner_text() == "Sign in"


def test_xss_payloads_in_names_and_patterns_render_as_text(browser: Any, web: Web) -> None:
    page = sign_in(browser, web, "same")
    names = page.locator("#newest td.name").all_inner_texts()
    for payload in XSS:
        assert payload in names, f"{payload!r} is not shown as text"
    assert page.locator("#newest img").count() == 0
    assert page.locator("#newest b").count() == 0
    assert page.locator("script").count() == 0
    assert page.locator("#newest svg").count() == 0
    page.reload()
    page.wait_for_timeout(300)
    assert page.dialogs == [], "a payload ran script"
    assert "49" not in names


def test_another_organisation_does_not_see_the_home_amber_strict_object(
    browser: Any, web: Web
) -> None:
    home = sign_in(browser, web, "same")
    assert SECRET_NAME in home.locator("#newest").inner_text()
    home_count = int(home.locator("#objects-count").inner_text())
    home.close()
    browser.clear_cookies()

    page = sign_in(browser, web, "stranger")
    assert page.locator("h1").inner_text() == "Dashboard"
    stats = api_stats(web, "stranger")
    shown = int(page.locator("#objects-count").inner_text())
    assert shown == stats["objects"]
    assert shown < home_count
    assert "amber+strict" not in page.locator("#by-tlp").inner_text()
    assert SECRET_NAME not in page.content()
    assert "secret.example" not in page.content()
    names = page.locator("#newest td.name").all_inner_texts()
    assert XSS[0] in names  # the TLP:CLEAR ones are shown
