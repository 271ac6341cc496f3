"""The administration pages: an admin issues a token (shown once) and fixes and replays a
quarantined item in a real browser; over plain HTTP, every form needs its CSRF token, only
an admin of the home organisation may change anything, other organisations see nothing,
and names are escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import msgspec
import orjson
import pytest

from mburoja.ingest.pipeline import Ingestor
from mburoja.stix.model import RawObject
from tests.factories import indicator
from tests.web.conftest import PASSWORD, SECRET_NAME, XSS, Web, csrf_of, sign_in

PAGES = (
    "/admin",
    "/admin/orgs",
    "/admin/users",
    "/admin/tokens",
    "/admin/peers",
    "/admin/collections",
    "/admin/feeds",
    "/admin/quarantine",
)


def make_admin(web: Web) -> str:
    """An admin of the home organisation with PASSWORD, known to ``web`` as "admin"."""
    store = web.world.store
    user = store.create_user(store.get_org(web.world.orgs["same"]).name, "root-admin", "admin")
    store.set_password(user.name, PASSWORD)
    web.world.users["admin"] = user.name
    return user.id


def quarantine_one(web: Web) -> tuple[int, dict[str, Any]]:
    """A bundle of a good indicator and one with a broken pattern, through the real
    pipeline; the bad one's quarantine entry number, and the bad object."""
    bad = indicator("[domain-name:value = 'broken.example'", tlp="green", name="fix me")
    items = [RawObject(orjson.dumps(o), "bundle.json", i) for i, o in enumerate([indicator(), bad])]
    report = Ingestor(web.world.store, web.world.settings, workers=0).run(items, source="feed")
    assert (report.new, report.rejected) == (1, 1)
    [entry] = [e for e in web.world.store.quarantine_list() if e.object_id == bad["id"]]
    return entry.qid, bad


@contextmanager
def signed_client(web: Web, who: str) -> Iterator[httpx.Client]:
    """An HTTP client with ``who``'s web session (and so its CSRF token)."""
    with web.client() as client:
        assert web.sign_in(client, who).status_code == 303
        yield client


# -- in the browser ----------------------------------------------------------------------------


def test_an_admin_creates_a_token_whose_secret_is_shown_once(web: Web, browser: Any) -> None:
    make_admin(web)
    page = sign_in(browser, web, "admin")
    page.goto(f"{web.url}/admin/tokens")
    page.select_option("#issue-token select[name=user]", label=web.user("partner"))
    page.fill("#issue-token input[name=label]", "for the partner SOC")
    page.fill("#issue-token input[name=days]", "7")
    page.click("#issue-token button[type=submit]")
    page.wait_for_load_state()
    secret = page.text_content("#token-secret").strip()
    assert secret.startswith("mbj_") and page.content().count(secret) == 1
    assert "will not be shown again" in page.content()

    with httpx.Client(base_url=web.url, headers={"Authorization": f"Bearer {secret}"}) as api:
        stats = api.get("/api/stats")
    assert stats.status_code == 200 and stats.json()["objects"] > 0

    page.goto(f"{web.url}/admin/tokens")
    listing = page.content()
    assert "for the partner SOC" in listing and secret not in listing
    token_id = secret.split("_")[1]
    assert token_id in listing and secret.split("_", 2)[2] not in listing
    assert page.dialogs == []


def test_an_admin_fixes_and_replays_a_quarantined_object(web: Web, browser: Any) -> None:
    make_admin(web)
    qid, bad = quarantine_one(web)
    page = sign_in(browser, web, "admin")
    page.goto(f"{web.url}/admin/quarantine")
    page.click(f"a[href='/admin/quarantine/{qid}']")
    page.wait_for_load_state()
    assert bad["id"] in page.text_content("dl.entry")
    assert "missing ']'" in page.text_content("dl.entry .reason")
    assert page.text_content("#raw") == web.world.store.quarantine_get(qid).raw.decode()

    text = page.input_value("#fix-text")
    page.fill("#fix-text", text.replace("'broken.example'\"", "'broken.example' AND"))
    page.click("#fix button[type=submit]")
    page.wait_for_load_state()
    assert "Still rejected" in page.text_content("#outcome")
    assert "pattern" in page.text_content("#outcome .rejects")
    assert web.world.store.current(bad["id"]) is None
    assert page.text_content("#entry-status") == "open"

    fixed = text.replace("'broken.example'\"", "'broken.example']\"")
    page.fill("#fix-text", fixed)
    page.click("#fix button[type=submit]")
    page.wait_for_load_state()
    outcome = page.text_content("#outcome")
    assert "it landed" in outcome and "new 1" in outcome
    assert page.text_content("#entry-status") == "replayed"
    stored = web.world.store.current(bad["id"])
    assert stored is not None and orjson.loads(stored.raw)["pattern"].endswith("]")
    assert page.dialogs == []


# -- over plain HTTP ---------------------------------------------------------------------------


def _forms(web: Web, who: str) -> dict[str, dict[str, str]]:
    """Every POST form on the administration pages, as action -> the fields it sends, with a
    quarantined item and a peer in the store so that each form is shown."""
    with signed_client(web, who) as client:
        bodies = [client.get(p).text for p in PAGES]
        qid = web.world.store.quarantine_list()[0].qid
        bodies.append(client.get(f"/admin/quarantine/{qid}").text)
    forms: dict[str, dict[str, str]] = {}
    for body in bodies:
        for attrs, inner in re.findall(r"<form([^>]*)>(.*?)</form>", body, re.S):
            if 'method="post"' not in attrs:
                continue
            action = html.unescape(re.search(r'action="([^"]+)"', attrs).group(1))
            fields = {
                html.unescape(n): html.unescape(v)
                for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', inner)
            }
            forms.setdefault(action, fields)
    return forms


def _state(web: Web) -> Any:
    store = web.world.store
    return (
        store.orgs(),
        store.users(),
        [msgspec.structs.replace(t, last_used=None) for t in store.tokens()],
        store.peers(),
        store.collections(),
        store.access(),
        store.quarantine_list(None),
        store.feed_rows(),
    )


def _ready(web: Web) -> None:
    make_admin(web)
    quarantine_one(web)
    web.world.store.add_peer("hub", "https://hub.example/api/", relation="partner", kind="taxii")


def test_every_admin_form_carries_a_csrf_token_and_refuses_a_post_without_one(web: Web) -> None:
    _ready(web)
    forms = _forms(web, "admin")
    assert {a for a in forms if "/admin/quarantine/" not in a} == {
        "/admin/orgs",
        "/admin/orgs/relation",
        "/admin/users",
        "/admin/users/disabled",
        "/admin/users/password",
        "/admin/tokens",
        "/admin/tokens/revoke",
        "/admin/peers/enabled",
        "/admin/collections",
        "/admin/collections/grant",
        "/admin/feeds/enabled",
        "/logout",
    }
    before = _state(web)
    with signed_client(web, "admin") as client:
        for action, fields in forms.items():
            assert fields.get("csrf"), f"{action} has no CSRF field"
            if action == "/logout":
                continue
            data = {**fields, "name": "forged", "alias": "forged", "password": "p" * 12}
            for forged in ({k: v for k, v in data.items() if k != "csrf"}, {**data, "csrf": "x"}):
                response = client.post(action, data=forged)
                assert response.status_code == 403, action
                assert "CSRF token is missing or wrong" in response.text
    assert _state(web) == before


def test_an_analyst_of_the_home_organisation_reads_but_may_not_change(web: Web) -> None:
    _ready(web)
    admin_forms = _forms(web, "admin")
    before = _state(web)
    with signed_client(web, "same") as client:
        for path in PAGES:
            page = client.get(path)
            assert page.status_code == 200, path
            assert "changes need an admin" in page.text or path == "/admin"
        tokens = client.get("/admin/tokens").text
        assert 'action="/admin/tokens"' not in tokens and web.user("same") in tokens
        csrf = csrf_of(client.get("/admin").text)
        for action, fields in admin_forms.items():
            if action == "/logout":
                continue
            data = {**fields, "csrf": csrf, "name": "sneaky", "password": "p" * 12}
            response = client.post(action, data=data)
            assert response.status_code == 403, action
            assert "needs an admin of the home organisation" in response.text
    assert _state(web) == before


@pytest.mark.parametrize("who", ["partner", "client", "stranger"])
def test_other_organisations_get_403_on_every_admin_page_and_api_route(web: Web, who: str) -> None:
    qid, _ = quarantine_one(web)
    with signed_client(web, who) as client:
        for path in (*PAGES, f"/admin/quarantine/{qid}"):
            page = client.get(path)
            assert page.status_code == 403, path
            assert SECRET_NAME not in page.text and "broken.example" not in page.text
        assert 'href="/admin"' not in client.get("/").text
        csrf = csrf_of(client.get("/").text)
        post = client.post("/admin/orgs", data={"csrf": csrf, "name": "sneaky"})
        assert post.status_code == 403
    with web.world.client(who, Accept="application/json") as api:
        for path in ("orgs", "users", "tokens", "peers", "collections", "quarantine"):
            assert api.get(f"/api/admin/{path}").status_code == 403
        assert api.get(f"/api/admin/quarantine/{qid}").status_code == 403
        assert api.post("/api/admin/orgs", json={"name": "sneaky"}).status_code == 403
    assert "sneaky" not in {o.name for o in web.world.store.orgs()}


def test_organisation_and_user_names_are_escaped(web: Web) -> None:
    make_admin(web)
    store = web.world.store
    for i, payload in enumerate(XSS):
        org = store.create_org(f"{payload} org", "partner")
        store.create_user(org.name, f"{payload} user{i}", "reader")
        store.issue_token(f"{payload} user{i}", label=payload)
    with signed_client(web, "admin") as client:
        for path in ("/admin/orgs", "/admin/users", "/admin/tokens", "/admin/collections"):
            body = client.get(path).text
            for payload in XSS:
                if "<" in payload or '"' in payload:
                    assert payload not in body, (path, payload)
            assert html.escape("<img src=x onerror=alert(1)>", quote=False) in body
        assert "{{ 7*7 }}" in client.get("/admin/orgs").text  # shown, not evaluated


def test_an_admin_changes_the_administration_through_the_forms(web: Web) -> None:
    make_admin(web)
    store = web.world.store
    with signed_client(web, "admin") as client:
        csrf = csrf_of(client.get("/admin/orgs").text)
        made = client.post("/admin/orgs", data={"csrf": csrf, "name": "CERT Bulgaria"})
        assert made.status_code == 303 and made.headers["location"] == "/admin/orgs?done=org-added"
        assert "The organisation was added." in client.get(made.headers["location"]).text
        org = store.get_org("CERT Bulgaria")
        client.post(
            "/admin/orgs/relation", data={"csrf": csrf, "org": org.id, "relation": "partner"}
        )
        assert store.get_org(org.id).relation == "partner"

        empty = client.post("/admin/orgs", data={"csrf": csrf, "name": "  "})
        assert empty.status_code == 400 and "name: this field is required" in empty.text

        client.post(
            "/admin/users",
            data={"csrf": csrf, "name": "Ana", "org": org.id, "role": "reader", "password": ""},
        )
        ana = store.get_user("Ana")
        assert (ana.org_id, ana.role) == (org.id, "reader")
        mismatch = client.post(
            "/admin/users/password",
            data={"csrf": csrf, "user": ana.id, "password": "p" * 12, "confirm": "q" * 12},
        )
        assert mismatch.status_code == 400 and "confirm" in mismatch.text
        client.post(
            "/admin/users/password",
            data={"csrf": csrf, "user": ana.id, "password": "p" * 12, "confirm": "p" * 12},
        )
        assert store.check_password("Ana", "p" * 12).user_id == ana.id
        client.post("/admin/users/disabled", data={"csrf": csrf, "user": ana.id, "disabled": "yes"})
        assert store.get_user("Ana").disabled

        client.post("/admin/collections", data={"csrf": csrf, "alias": "nato", "title": "NATO"})
        nato = next(c for c in store.collections() if c.alias == "nato")
        client.post(
            "/admin/collections/grant",
            data={"csrf": csrf, "collection": nato.id, "org": org.id, "read": "on"},
        )
        assert [(a.org_id, a.can_read, a.can_write) for a in store.access("nato")] == [
            (org.id, True, False)
        ]
        assert "CERT Bulgaria" in client.get("/admin/collections").text


def test_the_feeds_page_shows_health_and_an_admin_switches_a_catalogue_feed_on_and_off(
    web: Web,
) -> None:
    """The catalogue's feeds are listed (off); an admin enables one through the form, its
    failed runs make it unhealthy on the page with the error, and disabling it keeps its
    runs."""
    from mburoja.store.feeds import FeedRun

    make_admin(web)
    store = web.world.store
    with signed_client(web, "admin") as client:
        page = client.get("/admin/feeds").text
        assert "urlhaus-recent" in page and "spamhaus-drop" in page
        assert 'class="unhealthy"' not in page
        csrf = csrf_of(page)
        on = client.post(
            "/admin/feeds/enabled", data={"csrf": csrf, "feed": "spamhaus-drop", "enabled": "yes"}
        )
        assert on.headers["location"] == "/admin/feeds?done=feed-enabled"
        assert [r.enabled for r in store.feed_rows() if r.name == "spamhaus-drop"] == [True]
        for _ in range(3):
            failed = FeedRun(
                feed="spamhaus-drop",
                started="2026-11-22T10:00:00.000Z",
                finished="2026-11-22T10:00:01.000Z",
                status="failed",
                error="HTTP 503 from www.spamhaus.org",
            )
            store.record_feed_run(failed, etag=None, last_modified=None, unhealthy_after=3)
        row = re.search(
            r'<tr class="unhealthy">\s*<td class="name">([^<]+)</td>',
            client.get("/admin/feeds").text,
        )
        assert row is not None and row.group(1) == "spamhaus-drop"
        shown = client.get("/admin/feeds").text
        assert "3 failures in a row" in shown and "HTTP 503 from www.spamhaus.org" in shown
        off = client.post(
            "/admin/feeds/enabled", data={"csrf": csrf, "feed": "spamhaus-drop", "enabled": "no"}
        )
        assert off.headers["location"] == "/admin/feeds?done=feed-disabled"
        assert "The feed was disabled" in client.get(off.headers["location"]).text
        assert [r.enabled for r in store.feed_rows() if r.name == "spamhaus-drop"] == [False]
        assert len(store.feed_runs("spamhaus-drop")) == 3
        unknown = client.post(
            "/admin/feeds/enabled", data={"csrf": csrf, "feed": "no-such", "enabled": "yes"}
        )
        assert unknown.status_code in (400, 404) and "no feed named" in unknown.text
