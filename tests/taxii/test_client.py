"""The TAXII 2.1 client against a real medallion server that each test starts on 127.0.0.1.

medallion is an independent TAXII 2.1 implementation (OASIS' own reference server), so what
our client pulls and pushes is checked against someone else's reading of the standard. What a
push left on the server is read back with plain httpx, not with our client. The only fakes are
failure injections (a store that fails mid-pull) and a small real HTTP server for what
medallion never does (a status that stays pending).
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from mburoja.cli.main import app
from mburoja.config import LimitSettings, Settings
from mburoja.errors import ConfigError, FetchError, FetchRefused, StoreUnavailable
from mburoja.ingest.bundle import read_stix
from mburoja.stix.model import RawObject, Reject
from mburoja.store.sql import SqlStore, open_store
from mburoja.taxii.client import (
    CURSOR_FILE,
    MEDIA_TYPE,
    Cursor,
    CursorFile,
    TaxiiClient,
    collection_url,
    cursor_file,
    pull,
    push,
)
from tests.conftest import MISP_EXAMPLES, STIX_EXAMPLES
from tests.factories import indicator
from tests.taxii.medallion import Medallion, add_objects, running_medallion, served_objects

runner = CliRunner()

BUNDLES = sorted(STIX_EXAMPLES.glob("*.json")) + sorted(MISP_EXAMPLES.glob("*_stix21.json"))


def _objects(files: list[Path]) -> list[dict[str, Any]]:
    """Every object in ``files`` (bundles, or a single object), in file order."""
    found: list[dict[str, Any]] = []
    for file in files:
        data = json.loads(file.read_text(encoding="utf-8"))
        found.extend(data["objects"] if data.get("type") == "bundle" else [data])
    return found


def _version(obj: dict[str, Any]) -> str:
    return str(obj.get("modified") or obj.get("created") or "")


def _versions(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(o["id"], _version(o)) for o in objects}


def _stored_versions(store: SqlStore, ids: set[str]) -> set[tuple[str, str]]:
    return {(i, v.version) for i in ids for v in store.versions(i)}


@pytest.fixture(scope="module")
def preload() -> list[dict[str, Any]]:
    objects = _objects(BUNDLES)
    assert len(_versions(objects)) > 100, "the example data is smaller than this test expects"
    return objects


@pytest.fixture
def local(settings: Settings) -> Settings:
    """Settings that allow the loopback medallion (and nothing else changes)."""
    settings.fetch.allow_private = True
    return settings


@pytest.fixture
def client(local: Settings) -> Iterator[Callable[[Medallion], TaxiiClient]]:
    made: list[TaxiiClient] = []

    def make(server: Medallion) -> TaxiiClient:
        c = TaxiiClient(local.fetch, local.limits.max_input_bytes, auth=server.auth)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def server(preload: list[dict[str, Any]]) -> Iterator[Medallion]:
    with running_medallion(preload, max_page_size=1000) as running:
        yield running


# --- reading the server ------------------------------------------------------------------


def test_discovery_api_root_and_collections(
    server: Medallion, client: Callable[[Medallion], TaxiiClient]
) -> None:
    c = client(server)
    found = c.discover(server.discovery_url)
    assert found["api_roots"] == [server.api_root_url]
    root = c.api_root(server.api_root_url)
    assert root["max_content_length"] == server.max_content_length
    assert MEDIA_TYPE in root["versions"]
    [collection] = c.collections(server.api_root_url.rstrip("/"))  # a missing slash is added
    assert collection["id"] == server.collection_id
    assert collection["can_read"] and collection["can_write"]


def test_an_error_answer_quotes_the_servers_taxii_error_and_status(
    server: Medallion, client: Callable[[Medallion], TaxiiClient]
) -> None:
    with pytest.raises(FetchError) as caught:
        client(server).objects(server.api_root_url, "no-such-collection")
    message = str(caught.value)
    assert "HTTP 404" in message
    assert "Collection 'no-such-collection' not found" in message  # medallion's description
    assert "ProcessingError" in message  # medallion's title


def test_wrong_credentials_say_which_flags_to_check(server: Medallion, local: Settings) -> None:
    with (
        TaxiiClient(local.fetch, 1_000_000, auth=(server.user, "wrong")) as c,
        pytest.raises(FetchError) as caught,
    ):
        c.collections(server.api_root_url)
    assert "HTTP 401" in str(caught.value) and "--password" in str(caught.value)


def test_default_settings_refuse_a_loopback_server(
    server: Medallion, settings: Settings, tmp_path: Path
) -> None:
    assert not settings.fetch.allow_private
    store = open_store(f"sqlite:///{tmp_path / 's.db'}", initialise=True)
    try:
        with (
            TaxiiClient(settings.fetch, 1_000_000, auth=server.auth) as c,
            pytest.raises(FetchRefused) as caught,
        ):
            pull(c, store, settings, server.api_root_url, server.collection_id)
    finally:
        store.close()
    assert "loopback" in str(caught.value) and "fetch.allow_private" in str(caught.value)
    assert "GET /api1/" not in server.log.read_text()  # refused before any request was sent


# --- pull --------------------------------------------------------------------------------


def test_pull_follows_next_then_continues_from_the_cursor(
    server: Medallion,
    client: Callable[[Medallion], TaxiiClient],
    local: Settings,
    store: SqlStore,
    preload: list[dict[str, Any]],
) -> None:
    expected = _versions(preload)
    ids = {i for i, _ in expected}
    limit = 17
    seen: list[int] = []
    first = pull(
        client(server),
        store,
        local,
        server.api_root_url,
        server.collection_id,
        limit=limit,
        progress=seen.append,
    )
    assert first.received == len(expected) and first.adds_up
    assert first.new + first.new_versions == len(expected) and first.rejected == 0
    assert first.pages == math.ceil(len(expected) / limit) > 1
    assert _stored_versions(store, ids) == expected
    assert seen and max(seen) == len(expected)
    [local_collection] = [c for c in store.collections() if c.alias == server.collection_id]
    assert local_collection.objects == len(ids)
    some_id = next(iter(ids))
    source = f"taxii:{server.api_root_url}collections/{server.collection_id}/"
    assert {r.source for r in store.receipts(some_id)} == {source}
    saved = json.loads((Path(local.data_dir) / CURSOR_FILE).read_text())
    key = f"{server.api_root_url}|{server.collection_id}"
    assert saved[key]["date_added_last"] == first.cursor and "next" not in saved[key]

    second = pull(client(server), store, local, server.api_root_url, server.collection_id)
    assert second.received == 0 and second.ingest_ids == []

    newer = indicator(pattern="[ipv4-addr:value = '203.0.113.77']")
    status = add_objects(server, [newer])
    assert status["success_count"] == 1
    third = pull(client(server), store, local, server.api_root_url, server.collection_id)
    assert third.received == third.new == 1
    assert store.current(newer["id"]) is not None
    assert third.cursor is not None and first.cursor is not None and third.cursor > first.cursor


def test_pull_into_a_named_local_collection(
    server: Medallion,
    client: Callable[[Medallion], TaxiiClient],
    local: Settings,
    store: SqlStore,
    preload: list[dict[str, Any]],
) -> None:
    summary = pull(
        client(server), store, local, server.api_root_url, server.collection_id, into="partner-a"
    )
    [named] = [c for c in store.collections() if c.alias == "partner-a"]
    assert named.objects == len({o["id"] for o in preload}) == summary.new


def test_a_pull_cut_between_pages_loses_nothing_when_run_again(
    server: Medallion,
    client: Callable[[Medallion], TaxiiClient],
    local: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    preload: list[dict[str, Any]],
) -> None:
    """The second page's write fails after medallion has handed that page out (its ``next``
    sessions hand each page out once); the next pull must still get every object."""
    expected = _versions(preload)
    store = open_store(f"sqlite:///{tmp_path / 'cut.db'}", initialise=True)
    real_write = store.write_batch
    calls: list[int] = []

    def fail_second(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise StoreUnavailable("injected: the database went away")
        return real_write(*args, **kwargs)

    try:
        monkeypatch.setattr(store, "write_batch", fail_second)
        with pytest.raises(StoreUnavailable):
            pull(client(server), store, local, server.api_root_url, server.collection_id, limit=20)
        cut = cursor_file(local).get(CursorFile.key(server.api_root_url, server.collection_id))
        assert cut.next is not None  # the cursor shows the paging was cut
        monkeypatch.setattr(store, "write_batch", real_write)

        again = pull(
            client(server), store, local, server.api_root_url, server.collection_id, limit=20
        )
        assert again.recovered
        assert _stored_versions(store, {i for i, _ in expected}) == expected
        assert again.received < len(expected)  # it went on from the cut, not from the start
        done = cursor_file(local).get(CursorFile.key(server.api_root_url, server.collection_id))
        assert done.next is None
    finally:
        store.close()


def test_a_damaged_cursor_file_says_how_to_recover(
    server: Medallion, client: Callable[[Medallion], TaxiiClient], local: Settings, store: SqlStore
) -> None:
    path = Path(local.data_dir) / CURSOR_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        pull(client(server), store, local, server.api_root_url, server.collection_id)
    assert str(path) in str(caught.value) and "delete it" in str(caught.value)


def test_cursor_saves_replace_the_file_and_keep_other_collections(tmp_path: Path) -> None:
    cursors = CursorFile(tmp_path / "state" / CURSOR_FILE)
    cursors.save("https://a.example/api/|one", Cursor(date_added_last="2024-01-01T00:00:00Z"))
    cursors.save("https://a.example/api/|two", Cursor(date_added_last="2024-02-01T00:00:00Z"))
    loaded = cursors.load()
    assert loaded["https://a.example/api/|one"].date_added_last == "2024-01-01T00:00:00Z"
    assert loaded["https://a.example/api/|two"].date_added_last == "2024-02-01T00:00:00Z"
    assert [p.name for p in (tmp_path / "state").iterdir()] == [CURSOR_FILE]  # no temp left


# --- push --------------------------------------------------------------------------------


# What a push wraps around the objects of one envelope: {"objects":[ and ]}.
FRAME = len(b'{"objects":[]}')


def _items(files: list[Path], settings: Settings) -> Iterator[RawObject | Reject]:
    for file in files:
        yield from read_stix(file.read_bytes(), str(file), settings.limits)


def _raw_sizes(files: list[Path]) -> list[tuple[int, str]]:
    """(bytes, id) of each object as it is in the files, which is what a push sends, smallest
    first."""
    sizes = []
    for file in files:
        for item in read_stix(file.read_bytes(), str(file), LimitSettings()):
            assert isinstance(item, RawObject)
            sizes.append((len(item.raw.strip()), json.loads(item.raw)["id"]))
    return sorted(sizes)


def test_push_sends_batches_within_max_content_length_and_every_object_lands(
    client: Callable[[Medallion], TaxiiClient], local: Settings
) -> None:
    files = sorted(STIX_EXAMPLES.glob("*.json"))
    objects = _objects(files)
    sizes = _raw_sizes(files)
    limit = sizes[-1][0] + FRAME  # the largest object just fits alone, so none is left out
    assert sum(size for size, _ in sizes) > 3 * limit  # several batches are needed
    with running_medallion(max_content_length=limit) as target:
        summary = push(
            client(target), target.api_root_url, target.collection_id, _items(files, local)
        )
        served = served_objects(target)
    copies = Counter((o["id"], _version(o)) for o in objects)
    repeated = {key[0] for key, n in copies.items() if n > 1}  # one identity is in two files
    assert not summary.not_sent and not summary.unfinished
    assert summary.read == summary.sent == len(objects)
    assert summary.batches >= 3 and len(summary.status_ids) == summary.batches
    assert summary.success_count == len(copies)
    # medallion refuses a copy of an id and version it already holds, and says which
    assert summary.failure_count == sum(copies.values()) - len(copies)
    assert {f.object_id for f in summary.failures} == repeated
    assert _versions(served) == set(copies)


def test_push_reports_an_object_too_large_and_the_others_land(
    client: Callable[[Medallion], TaxiiClient], local: Settings
) -> None:
    files = [STIX_EXAMPLES / "apt1.json"]
    objects = _objects(files)
    sizes = _raw_sizes(files)
    limit = sizes[-1][0] + FRAME - 1  # the largest object cannot fit any envelope
    assert sizes[-2][0] + FRAME <= limit  # but the next largest can
    with running_medallion(max_content_length=limit) as target:
        summary = push(
            client(target), target.api_root_url, target.collection_id, _items(files, local)
        )
        served = served_objects(target)
    [left_out] = summary.not_sent
    assert left_out.object_id == sizes[-1][1]
    assert "max_content_length" in left_out.message and f"{limit:,}" in left_out.message
    assert not summary.ok
    assert summary.sent == len(objects) - 1 == summary.success_count
    assert {o["id"] for o in served} == {o["id"] for o in objects} - {sizes[-1][1]}


def test_push_reports_what_the_server_refused_with_ids_and_messages(
    client: Callable[[Medallion], TaxiiClient], local: Settings
) -> None:
    files = [STIX_EXAMPLES / "indicators-for-C2-with-COA.json"]
    ids = {o["id"] for o in _objects(files)}
    with running_medallion() as target:
        c = client(target)
        first = push(c, target.api_root_url, target.collection_id, _items(files, local))
        again = push(c, target.api_root_url, target.collection_id, _items(files, local))
    assert first.ok and first.success_count == len(ids)
    # medallion refuses an id and version it already holds, and says so per object
    assert again.failure_count == len(ids) and not again.ok
    assert {f.object_id for f in again.failures} == ids
    assert all(f.message for f in again.failures)


class _PendingTaxii:
    """A small real TAXII server whose add-objects status stays pending ``pending_polls``
    times (medallion always completes at once), to exercise polling. It logs each request's
    method, path and headers, and answers ``/moved/`` with a 307 and ``/see-other/`` with a
    303 to exercise redirects of a POST."""

    def __init__(self, pending_polls: int) -> None:
        self.pending_polls = pending_polls
        self.polls = 0
        self.posted: list[bytes] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", MEDIA_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _log(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.seen.append((self.command, self.path, headers))

            def _redirect(self, status: int, to: str) -> None:
                self.send_response(status)
                self.send_header("Location", to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self._log()
                if self.path == "/api/":
                    self._answer(200, {"title": "pending", "max_content_length": 100_000})
                elif self.path == "/api/status/s-1/":
                    outer.polls += 1
                    done = outer.polls > outer.pending_polls
                    self._answer(200, outer.status("complete" if done else "pending"))
                else:
                    self._answer(404, {"title": "Not Found", "description": self.path})

            def do_POST(self) -> None:
                self._log()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/moved/":
                    self._redirect(307, "/api/collections/c/objects/")
                elif self.path == "/see-other/":
                    self._redirect(303, "/api/")
                else:
                    outer.posted.append(body)
                    self._answer(202, outer.status("pending"))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/"

    def status(self, state: str) -> dict[str, Any]:
        done = state == "complete"
        return {
            "id": "s-1",
            "status": state,
            "total_count": 1,
            "success_count": 1 if done else 0,
            "failure_count": 0,
            "pending_count": 0 if done else 1,
        }

    def __enter__(self) -> _PendingTaxii:
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _one_indicator() -> list[RawObject | Reject]:
    return [RawObject(msgspec.json.encode(indicator()), "test", 0)]


def test_push_polls_a_pending_status_with_growing_waits_until_complete(local: Settings) -> None:
    slept: list[float] = []
    with _PendingTaxii(pending_polls=3) as fake, TaxiiClient(local.fetch, 1_000_000) as c:
        summary = push(c, fake.url, "c", _one_indicator(), timeout_s=60, sleep=slept.append)
        assert fake.polls == 4 and len(fake.posted) == 1
    assert summary.ok and summary.success_count == 1 and summary.pending_count == 0
    assert len(slept) == 4 and all(b > a for a, b in itertools.pairwise(slept))


def test_push_stops_waiting_at_the_timeout_and_lists_the_unfinished_status(
    local: Settings,
) -> None:
    with _PendingTaxii(pending_polls=10**9) as fake, TaxiiClient(local.fetch, 1_000_000) as c:
        summary = push(c, fake.url, "c", _one_indicator(), timeout_s=0.3)
    assert summary.unfinished == ["s-1"] and summary.pending_count == 1 and not summary.ok


def test_a_token_and_the_taxii_media_types_go_with_every_request(local: Settings) -> None:
    with (
        _PendingTaxii(pending_polls=0) as fake,
        TaxiiClient(local.fetch, 1_000_000, token="t0ken") as c,
    ):
        push(c, fake.url, "c", _one_indicator(), sleep=lambda _s: None)
    assert {(method, path) for method, path, _ in fake.seen} == {
        ("GET", "/api/"),
        ("POST", "/api/collections/c/objects/"),
        ("GET", "/api/status/s-1/"),
    }
    for method, _path, headers in fake.seen:
        assert headers["accept"] == MEDIA_TYPE and headers["authorization"] == "Bearer t0ken"
        if method == "POST":
            assert headers["content-type"] == MEDIA_TYPE


def test_fetcher_resends_a_post_on_307_and_turns_it_into_a_get_on_303(local: Settings) -> None:
    from mburoja.ingest.fetch import Fetcher

    body = b'{"objects":[]}'
    with _PendingTaxii(pending_polls=0) as fake, Fetcher(local.fetch, 1_000_000) as fetcher:
        base = fake.url.removesuffix("api/")
        kept = fetcher.request("POST", f"{base}moved/", content=body)
        turned = fetcher.request("POST", f"{base}see-other/", content=body)
    assert kept.status == 202 and fake.posted == [body]
    assert turned.status == 200 and json.loads(turned.content)["max_content_length"] == 100_000
    assert [(m, p) for m, p, _ in fake.seen] == [
        ("POST", "/moved/"),
        ("POST", "/api/collections/c/objects/"),
        ("POST", "/see-other/"),
        ("GET", "/api/"),
    ]
    assert "content-type" not in fake.seen[-1][2]


# --- the command line ----------------------------------------------------------------------


def _cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["--data-dir", str(data_dir), "taxii", *args], env=env)


def test_cli_collections_and_pull_against_medallion(
    server: Medallion, tmp_path: Path, preload: list[dict[str, Any]]
) -> None:
    data_dir = tmp_path / "cli-data"
    assert runner.invoke(app, ["--data-dir", str(data_dir), "init"]).exit_code == 0
    login = ["--user", server.user, "--allow-private"]
    env = {"MBUROJA_TAXII_PASSWORD": server.password}

    listed = _cli(data_dir, "collections", server.api_root_url, *login, "--json", env=env)
    assert listed.exit_code == 0, listed.output
    assert [c["id"] for c in json.loads(listed.output)["collections"]] == [server.collection_id]

    shown = _cli(data_dir, "collections", server.api_root_url, *login, env=env)
    assert shown.exit_code == 0 and server.collection_id[:8] in shown.output

    pulled = _cli(
        data_dir, "pull", server.api_root_url, server.collection_id, *login, "--limit", "40",
        "--json", env=env,
    )  # fmt: skip
    assert pulled.exit_code == 0, pulled.output
    report = json.loads(pulled.output)
    assert report["received"] == len(_versions(preload)) and report["pages"] > 1
    store = open_store(f"sqlite:///{(data_dir / 'mburoja.db').resolve()}")
    try:
        assert all(store.current(o["id"]) is not None for o in preload)
    finally:
        store.close()

    again = _cli(data_dir, "pull", server.api_root_url, server.collection_id, *login, env=env)
    assert again.exit_code == 0 and "received" in again.output


def test_cli_refuses_loopback_without_allow_private_and_exits_1(
    server: Medallion, tmp_path: Path
) -> None:
    result = _cli(
        tmp_path, "collections", server.api_root_url, "--user", server.user, "--password",
        server.password,
    )  # fmt: skip
    assert result.exit_code == 1 and "loopback" in result.output


def test_cli_user_without_password_says_how(server: Medallion, tmp_path: Path) -> None:
    result = _cli(
        tmp_path, "collections", server.api_root_url, "--user", server.user, "--allow-private",
        env={"MBUROJA_TAXII_PASSWORD": ""},
    )  # fmt: skip
    assert result.exit_code == 1 and "MBUROJA_TAXII_PASSWORD" in result.output


def test_cli_push_exits_2_and_names_an_object_left_out(tmp_path: Path) -> None:
    file = STIX_EXAMPLES / "apt1.json"
    objects = _objects([file])
    *_, (largest_size, largest_id) = _raw_sizes([file])
    with running_medallion(max_content_length=largest_size + FRAME - 1) as target:
        result = _cli(
            tmp_path, "push", target.api_root_url, target.collection_id, str(file),
            "--user", target.user, "--password", target.password, "--allow-private",
        )  # fmt: skip
        served = {o["id"] for o in served_objects(target)}
    assert result.exit_code == 2, result.output
    assert largest_id in result.output and "not sent" in result.output
    assert served == {o["id"] for o in objects} - {largest_id}


def test_collection_url_quotes_the_id() -> None:
    assert collection_url("https://h.example/api", "a/b") == (
        "https://h.example/api/collections/a%2Fb/"
    )
