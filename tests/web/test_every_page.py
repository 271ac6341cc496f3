"""Properties of every page, found by following the application's own links: another
organisation never sees the home organisation's AMBER+STRICT object anywhere, payloads that
arrived from a peer render inert everywhere, and every form refuses a missing CSRF token.

The crawl starts at the dashboard and follows every same-site link of every page (bounded),
so a page added later is covered without naming it here.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from tests.factories import indicator
from tests.web.conftest import PASSWORD, SECRET_NAME, XSS, Web, sign_in
from tests.world import TAXII_MEDIA

MAX_PAGES = 120
#: links that end the session or are not pages
SKIP = ("/logout", "/static/", "/login")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        elif tag == "form":
            self.forms.append(
                {
                    "method": (a.get("method") or "get").lower(),
                    "action": a.get("action") or "",
                    "fields": {},
                }
            )
        elif tag in ("input", "textarea", "select") and self.forms and a.get("name"):
            self.forms[-1]["fields"][str(a["name"])] = a.get("value") or ""


def crawl(client: httpx.Client, limit: int = MAX_PAGES) -> dict[str, httpx.Response]:
    """Every same-site URL reachable from ``/`` by links (GET only), up to ``limit``."""
    seen: dict[str, httpx.Response] = {}
    queue = deque(["/"])
    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen:
            continue
        response = client.get(path)
        seen[path] = response
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        parser = _Links()
        parser.feed(response.text)
        for href in parser.links:
            target = urlsplit(urljoin(f"http://site{path}", href))
            if target.netloc != "site":
                continue
            url = target.path + (f"?{target.query}" if target.query else "")
            if not url.startswith(SKIP) and url not in seen:
                queue.append(url)
    return seen


def forms_of(pages: dict[str, httpx.Response]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, response in pages.items():
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        parser = _Links()
        parser.feed(response.text)
        found.extend((path, form) for form in parser.forms if form["method"] == "post")
    return found


@contextmanager
def signed_in(web: Web, who: str) -> Iterator[httpx.Client]:
    with web.client() as client:
        assert web.sign_in(client, who).status_code == 303
        yield client


def secret_id(web: Web) -> str:
    hits = web.world.store.search("secret.example").hits
    assert hits, "the AMBER+STRICT indicator is in the store"
    return hits[0].id


def test_another_organisation_never_sees_the_amber_strict_object_on_any_page(web: Web) -> None:
    hidden = secret_id(web)
    with signed_in(web, "same") as home:
        home_pages = crawl(home)
    assert any(SECRET_NAME in r.text for r in home_pages.values()), "home sees it somewhere"

    for who in ("partner", "client", "community", "stranger"):
        with signed_in(web, who) as client:
            pages = crawl(client)
            # the pages that name the object directly, reached by guessing its id: the same
            # 404 as an id that does not exist (which echoes the id the caller typed)
            guessed = {
                path: client.get(path)
                for path in (f"/objects/{hidden}", f"/graph/{hidden}", f"/graph/{hidden}.json")
            }
            searched = [
                client.get("/search", params={"q": q}) for q in ("secret.example", SECRET_NAME)
            ]
        assert len(pages) > 3
        for path, response in pages.items():
            assert response.status_code < 500, (who, path, response.status_code)
            for leak in (SECRET_NAME, "secret.example", hidden):
                assert leak not in response.text, f"{who} sees {leak!r} on {path}"
        for path, response in guessed.items():
            assert response.status_code == 404, (who, path, response.status_code)
            assert SECRET_NAME not in response.text and "secret.example" not in response.text
        for response in searched:
            assert response.status_code == 200
            assert SECRET_NAME not in response.text.replace(f'value="{SECRET_NAME}"', "")
            assert hidden not in response.text


def test_every_post_form_refuses_a_request_without_a_valid_csrf_token(web: Web) -> None:
    store = web.world.store
    store.create_user(store.get_org(web.world.orgs["same"]).name, "boss", "admin")
    store.set_password("boss", PASSWORD)
    web.world.users["boss"] = "boss"
    with signed_in(web, "boss") as client:
        pages = crawl(client)
        forms = forms_of(pages)
        assert forms, "the pages hold forms"
        # every form carries the session's token (the one the sign-out form of any page has)
        tokens = {form["fields"].get("csrf") for _, form in forms}
        assert len(tokens) == 1 and "" not in tokens and None not in tokens, tokens
        actions = set()
        for path, form in forms:
            action = urljoin(f"http://site{path}", form["action"]).removeprefix("http://site")
            if action in actions:
                continue
            actions.add(action)
            fields = {k: v for k, v in form["fields"].items() if k != "csrf"}
            for data in (fields, {**fields, "csrf": "forged"}):
                response = client.post(action, data=data)
                assert response.status_code == 403, (action, response.status_code)
                assert "CSRF" in response.text, action
        assert client.get("/").status_code == 200, "refused posts leave the session"
    assert "/logout" in actions


def test_payloads_from_a_peer_render_inert_on_every_page(browser: Any, web: Web) -> None:
    objects = [
        indicator(
            f"[domain-name:value = 'peer{i}.example']",
            tlp="green",
            name=f"peer {payload}",
            labels=[payload],
            description=payload,
        )
        for i, payload in enumerate(XSS)
    ]
    envelope = orjson.dumps({"objects": objects})
    with web.world.client("partner", **{"Content-Type": TAXII_MEDIA}) as partner:
        answer = partner.post(web.world.objects_url, content=envelope)
    assert answer.status_code == 202, answer.text
    for _ in range(100):  # TAXII POST may finish after answering: wait for the objects
        if web.world.store.search("peer0.example").hits:
            break
        time.sleep(0.1)
    assert web.world.store.search("peer0.example").hits

    with signed_in(web, "same") as client:
        pages = crawl(client, limit=60)
        ids = [h.id for h in web.world.store.search("peer0.example").hits]
        for extra in (f"/objects/{ids[0]}", f"/graph/{ids[0]}", "/search?q=peer"):
            pages[extra] = client.get(extra)
    html = [
        path
        for path, response in pages.items()
        if response.status_code == 200 and "text/html" in response.headers.get("content-type", "")
    ]
    shown = [path for path in html if "peer " in pages[path].text]
    assert shown, "the peer's objects appear on some page"

    page = sign_in(browser, web, "same")
    for path in html:
        page.goto(f"{web.url}{path}")
        page.wait_for_load_state()
        for selector in ("img[src='x']", "svg[onload]", "script:not([src])"):
            assert page.locator(selector).count() == 0, (path, selector)
        bold = [t for t in page.locator("b").all_inner_texts() if t == "bold"]
        assert not bold, path
        scripts = page.locator("script[src]").evaluate_all("els => els.map(e => e.src)")
        assert all(re.match(rf"{re.escape(web.url)}/static/", s) for s in scripts), scripts
    page.wait_for_timeout(300)
    assert page.dialogs == [], f"a payload ran script: {page.dialogs}"
