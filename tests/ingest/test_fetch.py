"""The safe outbound fetcher, tested against real HTTP servers on 127.0.0.0/8.

Every test sends traffic only to loopback servers started here; refusals are checked before
any connection is made, and DNS is replaced by a fake resolver wherever a name is involved, so
no test ever reaches a real resolver or another address.
"""

from __future__ import annotations

import gzip
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from mburoja.config import FetchSettings
from mburoja.errors import FetchError, FetchRefused, FetchTransient, InputTooLarge, Transient
from mburoja.ingest import fetch as fetch_module
from mburoja.ingest.fetch import Fetcher, address_refusal, literal_address

MAX = 1_000_000

# A route answers a request: (status, headers, body chunks). The body may be endless.
Answer = tuple[int, dict[str, str], Iterator[bytes] | list[bytes]]
Route = Callable[["Seen"], Answer]


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]


@dataclass
class Server:
    """A real threaded HTTP server on a loopback address, with routes and a request log."""

    host: str
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


def _handler_for(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
            server.seen.append(seen)
            route = server.routes.get(self.path.split("?", 1)[0])
            status, headers, body = route(seen) if route else (404, {}, [b"no such route"])
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                for chunk in body:
                    self.wfile.write(chunk)
            except OSError:  # the client hung up, as it should on an oversized body
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[str], Server]]:
    """Start servers on demand (``serve("127.0.0.1")``); stop them all afterwards."""
    running: list[ThreadingHTTPServer] = []

    def start(host: str) -> Server:
        server = Server(host)
        try:
            httpd = ThreadingHTTPServer((host, 0), _handler_for(server))
        except OSError as exc:
            pytest.skip(f"cannot bind a test server to {host}: {exc}")
        httpd.daemon_threads = True
        server.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        running.append(httpd)
        return server

    yield start
    for httpd in running:
        httpd.shutdown()
        httpd.server_close()


def ok(body: bytes = b"hello", **headers: str) -> Route:
    return lambda seen: (200, {"Content-Type": "text/plain", **headers}, [body])


def redirect(to: str, status: int = 302, **headers: str) -> Route:
    return lambda seen: (status, {"Location": to, **headers}, [])


def fetcher(**settings: Any) -> Fetcher:
    max_bytes = settings.pop("max_bytes", MAX)
    return Fetcher(FetchSettings(**settings), max_bytes=max_bytes)


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Replace DNS (process-wide, for this test); returns the log of names looked up."""
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if literal_address(host) is None:  # socket.create_connection passes literals through
            asked.append(host)
        names = {**answers, host: [host]} if literal_address(host) else answers
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for address in names[host]:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            out.append((family, socket.SOCK_STREAM, 6, "", (address, port)))
        return out

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", getaddrinfo)
    return asked


# --- address policy -------------------------------------------------------------------------


def test_loopback_url_is_refused_by_default_naming_the_address_and_setting(serve):
    server = serve("127.0.0.1")
    server.routes["/"] = ok()
    with fetcher() as f, pytest.raises(FetchRefused) as info:
        f.get(server.url())
    assert "127.0.0.1" in str(info.value)
    assert "loopback" in str(info.value)
    assert "fetch.allow_private" in str(info.value)
    assert server.seen == []


def test_loopback_url_is_fetched_when_private_targets_are_allowed(serve):
    server = serve("127.0.0.1")
    server.routes["/feed"] = ok(b"payload", ETag='"v1"', **{"Last-Modified": "Sun, 01 Nov 2026"})
    with fetcher(allow_private=True, user_agent="mburoja-test/1") as f:
        got = f.get(server.url("/feed"))
    assert got.status == 200
    assert got.content == b"payload"
    assert got.content_type == "text/plain"
    assert got.etag == '"v1"'
    assert got.last_modified == "Sun, 01 Nov 2026"
    assert got.url == server.url("/feed")
    assert server.seen[0].headers["user-agent"] == "mburoja-test/1"


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "017700000001", "127.1", "0x7f000001"])
def test_integer_hex_and_octal_ipv4_hosts_are_decoded_and_refused(host):
    with fetcher() as f, pytest.raises(FetchRefused) as info:
        f.get(f"http://{host}/")
    assert "127.0.0.1" in str(info.value)


def test_integer_ipv4_host_connects_to_the_address_it_denotes(serve):
    server = serve("127.0.0.1")
    server.routes["/"] = ok(b"via integer host")
    with fetcher(allow_private=True) as f:
        got = f.get(server.url(host="2130706433"))
    assert got.content == b"via integer host"


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("100.64.0.1", "shared address space"),
        ("100.100.100.200", "metadata"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("[::1]", "loopback"),
        ("[fe80::1]", "link-local"),
        ("[fc00::1]", "private"),
        ("[fd00:ec2::254]", "metadata"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::ffff:10.0.0.1]", "private"),
        ("[64:ff9b::a00:1]", "private"),
        ("[2002:a00:1::]", "private"),
        ("[ff02::1]", "multicast"),
    ],
)
def test_non_public_literal_addresses_are_refused_with_the_reason(host, reason):
    with fetcher() as f, pytest.raises(FetchRefused) as info:
        f.get(f"https://{host}/feed.json")
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_unicast_addresses_pass_the_policy(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("name", ["example.org", "deadbeef", "1.2.3.4.5", "0xg.1", "cafe.be"])
def test_host_names_are_not_mistaken_for_literal_addresses(name):
    assert literal_address(name) is None


def test_a_name_with_any_private_address_is_refused(monkeypatch):
    fake_dns(monkeypatch, {"feed.example": ["8.8.8.8", "10.0.0.7"]})
    with fetcher() as f, pytest.raises(FetchRefused) as info:
        f.get("https://feed.example/x")
    assert "feed.example resolves to 10.0.0.7" in str(info.value)


def test_connection_goes_to_the_checked_address_with_the_name_as_host_header(serve, monkeypatch):
    server = serve("127.0.0.1")
    server.routes["/"] = ok(b"pinned")
    asked = fake_dns(monkeypatch, {"feed.test": ["127.0.0.1"]})
    with fetcher(allow_private=True) as f:
        got = f.get(server.url(host="feed.test"))
    assert got.content == b"pinned"
    assert server.seen[0].headers["host"] == f"feed.test:{server.port}"
    assert asked == ["feed.test"]  # resolved once: no second lookup a rebinding could answer


def test_pinned_connection_tries_each_checked_address_in_turn(serve, monkeypatch):
    server = serve("127.0.0.1")
    server.routes["/"] = ok(b"second address")
    fake_dns(monkeypatch, {"feed.test": ["127.0.0.9", "127.0.0.1"]})  # nothing listens on .9
    with fetcher(allow_private=True) as f:
        assert f.get(server.url(host="feed.test")).content == b"second address"


def test_unresolvable_name_is_a_fetch_error(monkeypatch):
    fake_dns(monkeypatch, {})
    with fetcher() as f, pytest.raises(FetchError) as info:
        f.get("https://missing.test/")
    assert "cannot resolve missing.test" in str(info.value)


# --- schemes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/_x", "data:,x"]
)
def test_non_http_schemes_are_refused_naming_url_and_scheme(url):
    scheme = url.split(":", 1)[0]
    with fetcher(allow_private=True) as f, pytest.raises(FetchRefused) as info:
        f.get(url)
    assert repr(scheme) in str(info.value)
    assert "fetch.allow_http" in str(info.value)


def test_http_is_refused_when_only_https_is_allowed(serve):
    server = serve("127.0.0.1")
    server.routes["/"] = ok()
    with fetcher(allow_private=True, allow_http=False) as f, pytest.raises(FetchRefused) as info:
        f.get(server.url())
    assert "set fetch.allow_http" in str(info.value)
    assert server.seen == []


# --- redirects ------------------------------------------------------------------------------


def test_redirect_to_another_host_drops_credentials(serve):
    first, other = serve("127.0.0.1"), serve("127.0.0.2")
    other.routes["/landing"] = ok(b"landed")
    first.routes["/start"] = redirect(other.url("/landing"))
    headers = {"Authorization": "Bearer secret", "X-Api-Key": "k", "Cookie": "s=1",
               "Accept": "application/json"}  # fmt: skip
    with fetcher(allow_private=True) as f:
        got = f.get(first.url("/start"), headers=headers, auth=("user", "pw"))
    assert got.content == b"landed"
    assert got.url == other.url("/landing")
    assert "authorization" in first.seen[0].headers
    received = other.seen[0].headers
    assert "authorization" not in received
    assert "x-api-key" not in received
    assert "cookie" not in received
    assert received["accept"] == "application/json"


def test_redirect_on_the_same_origin_keeps_credentials(serve):
    server = serve("127.0.0.1")
    server.routes["/start"] = redirect("/next")
    server.routes["/next"] = ok()
    with fetcher(allow_private=True) as f:
        f.get(server.url("/start"), headers={"X-Api-Key": "k"}, auth=("user", "pw"))
    last = server.seen[-1].headers
    assert last["authorization"] == httpx.BasicAuth("user", "pw")._auth_header
    assert last["x-api-key"] == "k"


def test_redirect_downgrading_https_to_http_drops_credentials():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:  # no TLS server here: injected
        seen.append(request)
        if request.url.scheme == "https":
            return httpx.Response(301, headers={"Location": "http://127.0.0.1/plain"})
        return httpx.Response(200, content=b"plain")

    settings = FetchSettings(allow_private=True)
    with Fetcher(settings, MAX, transport=httpx.MockTransport(answer)) as f:
        f.get("https://127.0.0.1/secure", auth=("user", "pw"))
    assert "authorization" in seen[0].headers
    assert "authorization" not in seen[1].headers


def test_each_redirect_hop_is_checked_again(monkeypatch):
    fake_dns(monkeypatch, {"feed.example": ["8.8.8.8"]})

    def answer(request: httpx.Request) -> httpx.Response:  # no public server: injected
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/"})

    f = Fetcher(FetchSettings(), MAX, transport=httpx.MockTransport(answer))
    with f, pytest.raises(FetchRefused) as info:
        f.get("https://feed.example/feed")
    assert "169.254.169.254" in str(info.value)
    assert "metadata" in str(info.value)


def test_redirect_to_a_file_url_is_refused(serve):
    server = serve("127.0.0.1")
    server.routes["/"] = redirect("file:///etc/passwd")
    with fetcher(allow_private=True) as f, pytest.raises(FetchRefused) as info:
        f.get(server.url())
    assert "'file'" in str(info.value)


def _chain(server: Server, length: int) -> None:
    for hop in range(length):
        server.routes[f"/r{hop}"] = redirect(f"/r{hop + 1}")
    server.routes[f"/r{length}"] = ok(b"end of chain")


def test_a_chain_of_max_redirects_is_followed(serve):
    server = serve("127.0.0.1")
    _chain(server, 3)
    with fetcher(allow_private=True, max_redirects=3) as f:
        assert f.get(server.url("/r0")).content == b"end of chain"


def test_a_chain_longer_than_max_redirects_is_refused(serve):
    server = serve("127.0.0.1")
    _chain(server, 4)
    with fetcher(allow_private=True, max_redirects=3) as f, pytest.raises(FetchRefused) as info:
        f.get(server.url("/r0"))
    assert "more than 3 redirects" in str(info.value)
    assert len(server.seen) == 4


# --- bodies, statuses, failures -------------------------------------------------------------


def endless(seen: Seen) -> Answer:
    def chunks() -> Iterator[bytes]:
        while True:
            yield b"x" * 65536

    return 200, {"Content-Type": "application/json"}, chunks()


def test_endless_body_stops_at_the_cap_naming_url_and_limit(serve):
    server = serve("127.0.0.1")
    server.routes["/big"] = endless
    f = Fetcher(FetchSettings(allow_private=True), max_bytes=200_000)
    with f, pytest.raises(InputTooLarge) as info:
        f.get(server.url("/big"))
    assert server.url("/big") in str(info.value)
    assert "200000" in str(info.value)


def test_declared_oversize_body_is_refused_before_reading(serve):
    server = serve("127.0.0.1")
    server.routes["/big"] = lambda seen: (200, {"Content-Length": "5000000"}, endless(seen)[2])
    f = Fetcher(FetchSettings(allow_private=True), max_bytes=1000)
    with f, pytest.raises(InputTooLarge):
        f.get(server.url("/big"))


def test_body_exactly_at_the_cap_is_accepted(serve):
    server = serve("127.0.0.1")
    server.routes["/"] = ok(b"y" * 1000)
    with Fetcher(FetchSettings(allow_private=True), max_bytes=1000) as f:
        assert len(f.get(server.url()).content) == 1000


def test_cap_applies_to_the_decoded_gzip_body(serve):
    server = serve("127.0.0.1")
    packed = gzip.compress(b"z" * 50_000)
    server.routes["/gz"] = ok(packed, **{"Content-Encoding": "gzip"})
    with Fetcher(FetchSettings(allow_private=True), max_bytes=60_000) as f:
        assert f.get(server.url("/gz")).content == b"z" * 50_000
    f = Fetcher(FetchSettings(allow_private=True), max_bytes=10_000)
    with f, pytest.raises(InputTooLarge):
        f.get(server.url("/gz"))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(serve, status):
    server = serve("127.0.0.1")
    server.routes["/"] = lambda seen: (status, {}, [b"down"])
    with fetcher(allow_private=True) as f, pytest.raises(FetchTransient) as info:
        f.get(server.url())
    assert str(status) in str(info.value)


def test_client_errors_are_terminal_fetch_errors_with_status_and_url(serve):
    server = serve("127.0.0.1")
    with fetcher(allow_private=True) as f, pytest.raises(FetchError) as info:
        f.get(server.url("/nothing-here"))
    assert not isinstance(info.value, Transient)
    assert "404" in str(info.value)
    assert server.url("/nothing-here") in str(info.value)


def test_too_many_requests_is_transient(serve):
    server = serve("127.0.0.1")
    server.routes["/"] = lambda seen: (429, {}, [])
    with fetcher(allow_private=True) as f, pytest.raises(FetchTransient):
        f.get(server.url())


def test_not_modified_is_returned_for_a_conditional_request(serve):
    server = serve("127.0.0.1")
    server.routes["/"] = lambda seen: (304, {"ETag": '"v1"'}, [])
    with fetcher(allow_private=True) as f:
        got = f.get(server.url(), headers={"If-None-Match": '"v1"'})
    assert (got.status, got.content, got.etag) == (304, b"", '"v1"')


def test_slow_server_times_out_as_transient(serve):
    server = serve("127.0.0.1")

    def slow(seen: Seen) -> Answer:
        time.sleep(1.0)
        return 200, {}, [b"late"]

    server.routes["/"] = slow
    with fetcher(allow_private=True, timeout_s=0.2) as f, pytest.raises(FetchTransient) as info:
        f.get(server.url())
    assert "timed out" in str(info.value)


def test_refused_connection_is_transient():
    with socket.socket() as probe:  # find a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with fetcher(allow_private=True) as f, pytest.raises(FetchTransient):
        f.get(f"http://127.0.0.1:{port}/")


def test_connection_lost_mid_body_is_transient():
    def answer(request: httpx.Request) -> httpx.Response:  # a reset cannot be timed for real
        raise httpx.ReadError("connection reset by peer")

    settings = FetchSettings(allow_private=True)
    f = Fetcher(settings, MAX, transport=httpx.MockTransport(answer))
    with f, pytest.raises(FetchTransient):
        f.get("https://127.0.0.1/")


def test_credentials_in_the_url_never_appear_in_results_or_errors(serve):
    server = serve("127.0.0.1")
    server.routes["/"] = ok()
    url = f"http://alice:s3cret@127.0.0.1:{server.port}/"
    with fetcher(allow_private=True) as f:
        assert "s3cret" not in f.get(url).url
    with fetcher() as f, pytest.raises(FetchRefused) as info:
        f.get(url)
    assert "s3cret" not in str(info.value)
