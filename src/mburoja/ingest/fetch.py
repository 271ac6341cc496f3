"""Fetching http(s) inputs safely: the one place where ingest reaches out to the network.

An outbound fetch is an attack surface of its own (DESIGN.md principle 7). A feed URL, or a
redirect a feed server answers with, must not make Mburoja talk to the CERT's own internal
network, to a cloud metadata service, or leak a partner's credentials to a third host. So:

* Only ``https`` is allowed, and ``http`` when ``fetch.allow_http`` is set.
* Every hop's host is resolved once, and the fetch is refused if **any** of its addresses is
  not a public unicast address (loopback, private, link-local, shared, multicast, reserved,
  unspecified, cloud metadata, or an IPv6 address embedding one of those), unless
  ``fetch.allow_private`` is set. Hosts written as integers (``http://2130706433/``) or in
  hex/octal (``http://0x7f.1/``) are decoded the way resolvers decode them, then checked.
* The connection then goes to exactly the addresses that were checked (the host is *pinned*),
  so a DNS answer that changes between the check and the connect (DNS rebinding) cannot
  redirect it. The ``Host`` header, TLS SNI and certificate check still use the host name.
* Redirects are followed by hand, each hop checked by the same rules. A hop to another
  origin, or from https down to http, drops ``auth``, cookies and every request header that
  may carry a credential (only a short list of harmless headers survives it).
* Bodies are streamed under a hard cap: past ``max_bytes`` the transfer stops.

Outcomes map onto the error tree: policy refusals are ``FetchRefused``, time-outs, lost
connections and 5xx are ``FetchTransient``, other failures and 4xx are ``FetchError``, and an
oversized body is ``InputTooLarge``. A caller that must read the body of an error answer (a
TAXII server explains its errors in JSON) asks ``request(..., raise_for_status=False)`` and maps
the status with ``status_error`` itself, so the classification stays the same everywhere.

``request`` also sends other methods (TAXII's POST) under the same rules. A 307/308 redirect
resends the method and body; 301/302/303 turn a POST into a body-less GET, as browsers do.

A ``Fetcher`` is not thread-safe; give each worker its own. Proxies from the environment are
not used: a proxy would make the address check meaningless.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Protocol

import httpcore
import httpx
import msgspec

from mburoja.config import FetchSettings
from mburoja.errors import FetchError, FetchRefused, FetchTransient, InputTooLarge

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# 4xx answers that say "not now" rather than "never".
_TRANSIENT_CLIENT_STATUSES = frozenset({408, 425, 429})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Request headers that may follow a redirect to another origin: none of them can carry a secret.
_CROSS_ORIGIN_SAFE_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "user-agent", "if-none-match",
     "if-modified-since", "cache-control"}
)  # fmt: skip

# Addresses of cloud instance-metadata services; named as such in refusals.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192",
              "fd00:ec2::254")
)  # fmt: skip
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# An IPv4 host in any notation inet_aton accepts: 1 to 4 parts, decimal, octal or 0x-hex.
_INET_ATON_FORM = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.I)


class RateLimiter(Protocol):
    """Anything that blocks until a request to ``host`` may go (``feeds.ratelimit``)."""

    def wait(self, host: str) -> None: ...


class Fetched(msgspec.Struct, frozen=True):
    """The answer to a successful fetch (2xx, or 304 for a conditional request)."""

    url: str  # final URL after redirects, without any user:password part
    status: int
    content: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None
    # Every response header, names in lower case (repeated headers joined with ", ").
    headers: dict[str, str] = msgspec.field(default_factory=dict)


def status_error(place: str, status: int, reason: str, detail: str = "") -> FetchError | None:
    """The error an answer with HTTP ``status`` stands for, or None if it is a success.

    One classification for every caller: 5xx and "not now" 4xx answers may pass and are
    ``FetchTransient``; other 4xx, and a 3xx that is not a followed redirect, are ``FetchError``.
    ``detail`` (the server's own explanation, if the caller read one) ends the message.
    """
    tail = f": {detail}" if detail else ""
    error: FetchError
    if status >= 500:
        error = FetchTransient(f"{place}: server error HTTP {status} {reason}{tail}")
    elif status in _TRANSIENT_CLIENT_STATUSES:
        error = FetchTransient(f"{place}: HTTP {status} {reason}{tail}; retry later")
    elif status >= 400 or (300 <= status < 400 and status != 304):
        error = FetchError(f"{place}: HTTP {status} {reason}{tail}")
    else:
        return None
    error.status = status
    return error


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address, or None if it is one.

    An IPv6 address that embeds an IPv4 one (mapped, 6to4, NAT64) is judged by the IPv4
    address inside it, since that is where the packets end up.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_refusal(embedded)
            return f"{inner} (IPv4 {embedded} inside IPv6)" if inner else None
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE,
         "a shared address space (carrier-grade NAT) address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a globally routable address"),
    )  # fmt: skip
    return next((reason for hit, reason in checks if hit), None)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` denotes by itself, without DNS, or None if it is a name.

    Accepts standard IPv4/IPv6 text and the integer, octal and hex IPv4 forms that
    ``inet_aton`` (and so most resolvers) accept: ``2130706433``, ``0x7f.1``, ``0177.0.0.1``.
    """
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _INET_ATON_FORM.fullmatch(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def _display(url: httpx.URL) -> str:
    """``url`` as text fit for messages and provenance: any ``user:password@`` removed."""
    return str(url.copy_with(userinfo=b"")) if url.userinfo else str(url)


def _redirect_turns_to_get(status: int, method: str) -> bool:
    """Whether a redirect is followed with a body-less GET (303 always, 301/302 for POST)."""
    return (status == 303 and method not in ("GET", "HEAD")) or (
        status in (301, 302) and method == "POST"
    )


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 0))


class PinnedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the ``Fetcher`` checked for that host (its *pins*).

    httpcore asks for a connection to a host name; this backend connects to the pinned
    addresses instead, so what was checked is what is reached. TLS is started afterwards by
    httpcore with the host name as SNI, so certificates are verified against the name.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self.pins: dict[str, tuple[str, ...]] = {}

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to the first reachable pinned address of ``host``."""
        addresses = self.pins.get(host)
        if not addresses:
            raise FetchRefused(f"{host}: connection refused: the address was not checked first")
        last_error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Unix sockets are never a fetch target."""
        raise FetchRefused(f"{path}: refused: fetches do not use unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, with its connection pool built on a ``PinnedBackend``."""

    def __init__(self, backend: PinnedBackend) -> None:
        super().__init__(trust_env=False)
        self._pool.close()
        limits = httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class Fetcher:
    """Fetches http(s) URLs under the rules in this module's docstring.

    ``transport`` replaces the network (tests inject failures with ``httpx.MockTransport``);
    the scheme and address checks still run for every hop, but a supplied transport is trusted
    to connect where it is told, so the connection is pinned only with the default transport.
    ``limiter``, if given, is waited on for the host of every request sent, redirect hops
    included (a per-host rate limit); None sends at once.
    """

    def __init__(
        self,
        settings: FetchSettings,
        max_bytes: int,
        transport: httpx.BaseTransport | None = None,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._max_bytes = max_bytes
        self._limiter = limiter
        self._backend: PinnedBackend | None = None
        if transport is None:
            self._backend = PinnedBackend()
            transport = PinnedTransport(self._backend)
        self._client = httpx.Client(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"User-Agent": settings.user_agent},
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Fetched:
        """GET ``url``, following redirects by hand, and return the body read under the cap."""
        return self.request("GET", url, headers=headers, auth=auth)

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        raise_for_status: bool = True,
    ) -> Fetched:
        """Send ``method`` to ``url`` under this module's rules; return the final answer.

        With ``raise_for_status`` False an error answer (4xx, 5xx) comes back as ``Fetched``
        too, its body read under the same cap, for callers that must read why it failed.
        """
        try:
            current = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise FetchError(f"{url}: not a valid URL: {exc}") from exc
        request_headers = dict(headers or {})
        basic_auth = httpx.BasicAuth(*auth) if auth else None
        self._client.cookies.clear()
        for _hop in range(self._settings.max_redirects + 1):
            self._admit(current)
            if self._limiter is not None:
                self._limiter.wait(current.host)
            response = self._send(method, current, request_headers, basic_auth, content)
            try:
                location = response.headers.get("location")
                if response.status_code not in _REDIRECT_STATUSES or location is None:
                    return self._finish(current, response, raise_for_status)
                try:
                    target = current.join(location)
                except httpx.InvalidURL as exc:
                    raise FetchError(
                        f"{_display(current)}: redirect to an invalid URL {location!r}: {exc}"
                    ) from exc
                if _redirect_turns_to_get(response.status_code, method):
                    method, content = "GET", None
                    request_headers = {
                        k: v for k, v in request_headers.items()
                        if k.lower() not in ("content-type", "content-length")
                    }  # fmt: skip
            finally:
                response.close()
            if self._crosses_origin(current, target):
                request_headers = {
                    k: v for k, v in request_headers.items()
                    if k.lower() in _CROSS_ORIGIN_SAFE_HEADERS
                }  # fmt: skip
                basic_auth = None
                self._client.cookies.clear()
            current = target
        raise FetchRefused(
            f"{url}: more than {self._settings.max_redirects} redirects (last to "
            f"{_display(current)}); raise fetch.max_redirects if the source really needs more"
        )

    def _admit(self, url: httpx.URL) -> None:
        """Refuse ``url`` unless its scheme and every address of its host are allowed."""
        scheme = url.scheme
        if scheme not in ("http", "https") or (scheme == "http" and not self._settings.allow_http):
            allowed = "https and http" if self._settings.allow_http else "https only"
            hint = (
                "; set fetch.allow_http to allow http"
                if scheme == "http"
                else " (fetch.allow_http adds http; no setting allows other schemes)"
            )
            raise FetchRefused(
                f"{_display(url)}: scheme {scheme or '(none)'!r} refused: fetches use "
                f"{allowed}{hint}"
            )
        host = url.raw_host.decode("ascii")
        if not host:
            raise FetchError(f"{_display(url)}: the URL has no host")
        addresses = self._resolve(url, host)
        if not self._settings.allow_private:
            for address in addresses:
                reason = address_refusal(address)
                if reason:
                    shown = host if str(address) == host else f"{host} resolves to {address}, which"
                    raise FetchRefused(
                        f"{_display(url)}: refused: {shown} is {reason}; set "
                        "fetch.allow_private to fetch from private, loopback and link-local "
                        "addresses"
                    )
        if self._backend is not None:
            self._backend.pins[host] = tuple(dict.fromkeys(str(a) for a in addresses))

    def _resolve(self, url: httpx.URL, host: str) -> list[IPAddress]:
        """Every address ``host`` stands for: itself if it is a literal, else DNS's answers."""
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        port = url.port or _DEFAULT_PORTS[url.scheme]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            error = FetchTransient if exc.errno == socket.EAI_AGAIN else FetchError
            raise error(f"{_display(url)}: cannot resolve {host}: {exc}") from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise FetchError(f"{_display(url)}: {host} has no address")
        return addresses

    @staticmethod
    def _crosses_origin(source: httpx.URL, target: httpx.URL) -> bool:
        """True if credentials must not follow a redirect from ``source`` to ``target``.

        Another host or port, or https down to http, crosses. Upgrading http to https on the
        same host and default ports does not.
        """
        if source.host != target.host:
            return True
        if (source.scheme, target.scheme) == ("http", "https"):
            return _origin(source)[2] != 80 or _origin(target)[2] != 443
        return _origin(source) != _origin(target)

    def _send(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        auth: httpx.BasicAuth | None,
        content: bytes | None,
    ) -> httpx.Response:
        request = self._client.build_request(method, url, headers=headers, content=content)
        try:
            return self._client.send(request, auth=auth, stream=True)
        except httpx.HTTPError as exc:
            raise self._network_error(url, exc) from exc

    def _network_error(self, url: httpx.URL, exc: httpx.HTTPError) -> FetchError:
        place = _display(url)
        if isinstance(exc, httpx.TimeoutException):
            return FetchTransient(f"{place}: timed out after {self._settings.timeout_s}s ({exc})")
        if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
            return FetchTransient(f"{place}: connection failed: {exc}")
        return FetchError(f"{place}: {type(exc).__name__}: {exc}")

    def _finish(self, url: httpx.URL, response: httpx.Response, raise_for_status: bool) -> Fetched:
        """Turn the last hop's response into ``Fetched``, or into the matching error."""
        status = response.status_code
        place = _display(url)
        if raise_for_status:
            error = status_error(place, status, response.reason_phrase)
            if error is not None:
                raise error
        return Fetched(
            url=place,
            status=status,
            content=self._read_capped(url, response),
            content_type=response.headers.get("content-type"),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            headers=dict(response.headers.items()),
        )

    def _read_capped(self, url: httpx.URL, response: httpx.Response) -> bytes:
        """The decoded body, refusing to hold more than ``max_bytes`` of it."""
        too_large = InputTooLarge(
            f"{_display(url)}: body exceeds the limit of {self._max_bytes} bytes "
            "(limits.max_input_bytes)"
        )
        declared = response.headers.get("content-length", "")
        encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
        if declared.isdigit() and not encoded and int(declared) > self._max_bytes:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    raise too_large
                chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise self._network_error(url, exc) from exc
        return b"".join(chunks)
