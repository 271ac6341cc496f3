"""A TAXII 2.1 client: discover a server, list collections, pull objects in, push objects out.

Every request goes through ``ingest.fetch.Fetcher``, so a TAXII server is held to the same
rules as any feed: https (or http when allowed), no private or loopback targets unless
``fetch.allow_private`` is set, redirects checked hop by hop, and credentials (HTTP Basic or a
Bearer token) never forwarded to another origin. Bodies are capped by
``limits.max_input_bytes``.

**Pull** asks for a collection's objects a page at a time (``limit``) and follows ``next``
while the server says ``more``; a server that pages without ``next`` is followed with
``added_after`` set to the page's ``X-TAXII-Date-Added-Last``. Each page is ingested as its own
run, and only once it is committed does the cursor move, so a pull that stops half-way loses
nothing: the next one starts after the last committed page. The cursors live in
``<data_dir>/taxii-cursors.json``, keyed ``<api root>|<collection id>``, and are replaced
atomically. A cursor holds ``next`` only while a paging run is unfinished; a pull that finds
one there knows the previous pull was cut, and starts again just before the last committed
page rather than trusting that ``next`` (see ``_first_ask``).

**Push** packs objects into envelopes no larger than the API root's ``max_content_length``,
posts each, and polls its status resource until the server reports ``complete``. An object
that could never fit is reported, not sent, and the others still go.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx
import msgspec

from mburoja.config import FetchSettings, Settings
from mburoja.errors import ConfigError, InputFormatError
from mburoja.ingest.fetch import Fetched, Fetcher, RateLimiter, status_error
from mburoja.ingest.pipeline import REPORT_REJECTS, Ingestor, IngestReport, ProgressFn
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject, Reject
from mburoja.store.base import Store

MEDIA_TYPE = "application/taxii+json;version=2.1"
#: What a push assumes when the API root does not say (TAXII requires it, some omit it).
DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024
DEFAULT_PAGE_LIMIT = 1000
CURSOR_FILE = "taxii-cursors.json"
_ENVELOPE_HEAD = b'{"objects":['
_ENVELOPE_TAIL = b"]}"
_DETAIL_CHARS = 500
# Hints for the answers a user can do something about.
_STATUS_HINTS = {
    401: "check the credentials (--user/--password or --token)",
    403: "the account is not allowed to do this on that collection",
    404: "check the URL: an API root ends with '/', and the collection id must exist",
    406: f"the server does not answer in TAXII 2.1 ({MEDIA_TYPE})",
    413: "the request is larger than the server accepts (its max_content_length)",
    415: f"the server does not accept TAXII 2.1 content ({MEDIA_TYPE})",
}


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One answer of a collection's objects endpoint, objects kept as their exact bytes."""

    url: str
    objects: list[msgspec.Raw]
    more: bool
    next: str | None
    date_added_first: str | None
    date_added_last: str | None
    #: the whole answer, for what travels beside the objects (signatures, provenance)
    envelope: bytes = b""


class StatusDetail(msgspec.Struct, frozen=True):
    """One object's outcome in a status resource."""

    id: str = ""
    version: str | None = None
    message: str | None = None


class Status(msgspec.Struct, frozen=True):
    """A TAXII status resource: what the server did with one add-objects request."""

    id: str
    status: str
    total_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    pending_count: int = 0
    request_timestamp: str | None = None
    successes: list[StatusDetail] | None = None
    failures: list[StatusDetail] | None = None
    pendings: list[StatusDetail] | None = None


class _Envelope(msgspec.Struct):
    objects: list[msgspec.Raw] | None = None
    more: bool = False
    next: str | None = None


class _TaxiiError(msgspec.Struct):
    title: str = ""
    description: str | None = None


class _HasId(msgspec.Struct):
    id: str | None = None


_envelope = msgspec.json.Decoder(_Envelope)
_status = msgspec.json.Decoder(Status)
_taxii_error = msgspec.json.Decoder(_TaxiiError)
_has_id = msgspec.json.Decoder(_HasId)


def as_dir(url: str) -> str:
    """``url`` with a trailing slash: TAXII resources are directories, and a missing slash
    costs a redirect at best and a 404 at worst."""
    return url if url.endswith("/") else url + "/"


def collection_url(api_root: str, collection_id: str) -> str:
    """The URL of one collection under ``api_root``."""
    return f"{as_dir(api_root)}collections/{quote(collection_id, safe='')}/"


class TaxiiClient:
    """Talks TAXII 2.1 to one server through a ``Fetcher`` (see the module docstring).

    Give ``auth`` (user, password) for HTTP Basic or ``token`` for a Bearer token, not both.
    ``transport`` replaces the network, for failure-injection tests only; ``limiter`` spaces
    the requests to one host (a feed run passes the process's per-host limit).
    """

    def __init__(
        self,
        fetch: FetchSettings,
        max_bytes: int,
        *,
        auth: tuple[str, str] | None = None,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        if auth is not None and token is not None:
            raise ConfigError("give either a user and password or a token, not both")
        self._auth = auth
        self._headers = {"Accept": MEDIA_TYPE}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._fetcher = Fetcher(fetch, max_bytes, transport, limiter=limiter)

    def __enter__(self) -> TaxiiClient:
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
        self._fetcher.close()

    def discover(self, url: str) -> dict[str, Any]:
        """The server's discovery resource (title, ``api_roots``, ``default``)."""
        return self._resource(self._call("GET", as_dir(url)), "discovery")

    def api_root(self, api_root: str) -> dict[str, Any]:
        """The API root resource (title, versions, ``max_content_length``)."""
        return self._resource(self._call("GET", as_dir(api_root)), "API root")

    def collections(self, api_root: str) -> list[dict[str, Any]]:
        """Every collection the account can see under ``api_root`` (none is an empty list)."""
        got = self._call("GET", f"{as_dir(api_root)}collections/")
        found = self._resource(got, "collections").get("collections") or []
        if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
            raise InputFormatError(f"{got.url}: 'collections' is not a list of collections")
        return found

    def objects(
        self,
        api_root: str,
        collection_id: str,
        *,
        limit: int = DEFAULT_PAGE_LIMIT,
        added_after: str | None = None,
        next_page: str | None = None,
        match_version: str | None = "all",
    ) -> Page:
        """One page of a collection's objects.

        ``match_version`` defaults to ``all``: a mirror wants every version, not just the
        latest the server's default would give. A server that follows ``next`` may insist on
        the same filters as the request that started the paging, so pass them unchanged.
        """
        params: dict[str, str] = {"limit": str(limit)}
        if added_after:
            params["added_after"] = added_after
        if match_version:
            params["match[version]"] = match_version
        if next_page:
            params["next"] = next_page
        url = f"{collection_url(api_root, collection_id)}objects/?{urlencode(params)}"
        got = self._call("GET", url)
        try:
            envelope = _envelope.decode(got.content) if got.content.strip() else _Envelope()
        except msgspec.DecodeError as exc:
            raise InputFormatError(f"{got.url}: not a TAXII envelope: {exc}") from exc
        return Page(
            url=got.url,
            objects=envelope.objects or [],
            more=envelope.more,
            next=envelope.next or None,
            date_added_first=got.headers.get("x-taxii-date-added-first"),
            date_added_last=got.headers.get("x-taxii-date-added-last"),
            envelope=got.content,
        )

    def status(self, api_root: str, status_id: str) -> Status:
        """The status resource of an earlier add-objects request."""
        got = self._call("GET", f"{as_dir(api_root)}status/{quote(status_id, safe='')}/")
        return self._decode_status(got)

    def add_objects(self, api_root: str, collection_id: str, envelope: bytes) -> Status:
        """POST one envelope of objects; the server answers with a status resource."""
        url = f"{collection_url(api_root, collection_id)}objects/"
        got = self._call("POST", url, content=envelope)
        return self._decode_status(got)

    def _call(self, method: str, url: str, *, content: bytes | None = None) -> Fetched:
        headers = dict(self._headers)
        if content is not None:
            headers["Content-Type"] = MEDIA_TYPE
        got = self._fetcher.request(
            method, url, content=content, headers=headers, auth=self._auth, raise_for_status=False
        )
        error = status_error(got.url, got.status, _phrase(got.status), _explain(got))
        if error is not None:
            raise error
        return got

    @staticmethod
    def _resource(got: Fetched, what: str) -> dict[str, Any]:
        try:
            value = msgspec.json.decode(got.content)
        except msgspec.DecodeError as exc:
            raise InputFormatError(f"{got.url}: not a TAXII {what} resource: {exc}") from exc
        if not isinstance(value, dict):
            raise InputFormatError(
                f"{got.url}: not a TAXII {what} resource: expected a JSON object, "
                f"got {type(value).__name__}"
            )
        return value

    @staticmethod
    def _decode_status(got: Fetched) -> Status:
        try:
            return _status.decode(got.content)
        except msgspec.DecodeError as exc:
            raise InputFormatError(f"{got.url}: not a TAXII status resource: {exc}") from exc


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _explain(got: Fetched) -> str:
    """The server's TAXII error (title: description) and our hint, for an error answer."""
    if got.status < 300:
        return ""
    parts: list[str] = []
    with contextlib.suppress(msgspec.DecodeError):
        error = _taxii_error.decode(got.content)
        said = ": ".join(p for p in (error.title, error.description or "") if p)
        if said:
            parts.append(said if len(said) <= _DETAIL_CHARS else said[:_DETAIL_CHARS] + "…")
    if got.status in _STATUS_HINTS:
        parts.append(_STATUS_HINTS[got.status])
    return "; ".join(parts)


# --- cursors ------------------------------------------------------------------------------


class Cursor(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where the pull of one collection stands.

    ``date_added_last`` is the latest ``X-TAXII-Date-Added-Last`` of a committed page: the
    next pull asks for what was added after it. ``next`` and ``next_added_after`` exist only
    while a paging run is unfinished: the token (kept as the mark of a cut run, see
    ``_first_ask``) and the ``added_after`` the run started with, the place to start again from
    when the server sends no ``X-TAXII-Date-Added-Last``.
    """

    date_added_last: str | None = None
    next: str | None = None
    next_added_after: str | None = None
    updated: str | None = None


class CursorFile:
    """The cursor state file: a JSON object of ``"<api root>|<collection id>"`` to Cursor.

    Every save rewrites the file through a temporary file and ``os.replace``, so a crash leaves
    the old state or the new one, never half of one. Two pulls running at once against the
    same file may lose one another's update (the cost is a re-pull, never a gap).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def key(api_root: str, collection_id: str) -> str:
        return f"{as_dir(api_root)}|{collection_id}"

    def load(self) -> dict[str, Cursor]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the TAXII cursors: {exc}") from exc
        try:
            return msgspec.json.decode(data, type=dict[str, Cursor])
        except msgspec.DecodeError as exc:
            raise ConfigError(
                f"{self.path}: the TAXII cursor file is damaged ({exc}); fix it, or delete it "
                "to pull every collection from the start (objects already held count as "
                "unchanged)"
            ) from exc

    def get(self, key: str) -> Cursor:
        return self.load().get(key) or Cursor()

    def save(self, key: str, cursor: Cursor) -> None:
        cursors = self.load()
        cursors[key] = cursor
        data = msgspec.json.format(msgspec.json.encode(cursors), indent=2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def cursor_file(settings: Settings) -> CursorFile:
    """The cursor file of this installation: ``<data_dir>/taxii-cursors.json``."""
    return CursorFile(Path(settings.data_dir) / CURSOR_FILE)


# --- pull ---------------------------------------------------------------------------------


class PullSummary(msgspec.Struct, kw_only=True):
    """What one pull did. ``received == new + new_versions + unchanged + rejected``.

    Each page was its own ingest run (``ingest_ids``); look one up for its dangling refs.
    """

    source: str
    collection: str
    pages: int = 0
    received: int = 0
    new: int = 0
    new_versions: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0
    ingest_ids: list[int] = msgspec.field(default_factory=list)
    rejects: list[Reject] = msgspec.field(default_factory=list)
    # The previous pull was cut between pages; this one re-asked from just before its last
    # committed page (see ``_first_ask``), so a few objects may come again as "unchanged".
    recovered: bool = False
    cursor: str | None = None  # the ``date_added_last`` saved at the end

    @property
    def adds_up(self) -> bool:
        return self.received == self.new + self.new_versions + self.unchanged + self.rejected

    def add(self, report: IngestReport) -> None:
        """Count one page's ingest run."""
        self.received += report.received
        self.new += report.new
        self.new_versions += report.new_versions
        self.unchanged += report.unchanged
        self.rejected += report.rejected
        self.warnings += report.warnings
        self.ingest_ids.append(report.ingest_id)
        room = REPORT_REJECTS - len(self.rejects)
        self.rejects.extend(report.rejects[: max(room, 0)])


class _Ask(msgspec.Struct, frozen=True):
    """The filters of one objects request."""

    added_after: str | None
    next: str | None = None


class CursorStore(Protocol):
    """Where pull cursors are kept: the cursor file, or the store for federation peers."""

    def get(self, key: str) -> Cursor: ...
    def save(self, key: str, cursor: Cursor) -> None: ...


class PageVetter(Protocol):
    """Turns a page's objects into what to ingest (refusing some as ``Reject``) and where
    they came from (federation checks a peer's signatures here)."""

    def __call__(
        self, objects: list[bytes], envelope: bytes, origin: str
    ) -> tuple[list[RawObject | Reject], dict[str, Any] | None]: ...


def pull(
    client: TaxiiClient,
    store: Store,
    settings: Settings,
    api_root: str,
    collection_id: str,
    *,
    into: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
    cursors: CursorStore | None = None,
    progress: ProgressFn | None = None,
    actor: str = "cli",
    owner: str | None = None,
    vet: PageVetter | None = None,
) -> PullSummary:
    """Pull what ``collection_id`` holds beyond the saved cursor into ``store``.

    Objects go to the local collection ``into`` (default: the remote collection's id) with
    provenance ``taxii:<collection URL>``, owned by organisation ``owner`` (None: the home
    one). Each page is committed before its cursor is saved. Returns once the server has
    nothing more.
    """
    if limit < 1:
        raise ConfigError(f"page limit {limit} is not positive; give --limit 1 or more")
    api_root = as_dir(api_root)
    cursors = cursors or cursor_file(settings)
    key = CursorFile.key(api_root, collection_id)
    cursor = cursors.get(key)
    source = f"taxii:{collection_url(api_root, collection_id)}"
    summary = PullSummary(source=source, collection=into or collection_id)
    done_before = 0

    def tick(done: int) -> None:
        if progress is not None:
            progress(done_before + done)

    ask = _first_ask(cursor)
    summary.recovered = cursor.next is not None
    page = client.objects(api_root, collection_id, limit=limit, added_after=ask.added_after)
    while True:
        if page.objects:
            origin = f"{page.url} page {summary.pages + 1}"
            relay = None
            items: Iterable[RawObject | Reject] = (
                RawObject(bytes(raw), origin, index) for index, raw in enumerate(page.objects)
            )
            if vet is not None:
                items, relay = vet([bytes(raw) for raw in page.objects], page.envelope, origin)
            report = Ingestor(store, settings, progress=tick).run(
                items,
                source=source,
                actor=actor,
                collection=summary.collection,
                owner=owner,
                relay=relay,
            )
            summary.add(report)
            done_before = summary.received
            tick(0)
        summary.pages += 1
        cursor = _advance(cursor, ask, page)
        cursors.save(key, cursor)
        if not page.more:
            break
        ask = _next_ask(ask, page)
        page = client.objects(
            api_root, collection_id, limit=limit, added_after=ask.added_after, next_page=ask.next
        )
    summary.cursor = cursor.date_added_last
    return summary


def _first_ask(cursor: Cursor) -> _Ask:
    """Where a pull starts: after the cursor's ``X-TAXII-Date-Added-Last``.

    If the previous pull was cut between pages (its cursor still holds ``next``), the saved
    ``next`` is not reused: a server may treat it as a consumable session (medallion hands out
    each page once), and the page it handed out last may be the one that was never committed.
    Objects added in one request share a ``date_added``, so such a group can also straddle the
    cut; the pull therefore asks from one microsecond before the last committed page's
    ``date_added``. What comes twice counts as "unchanged"; nothing is skipped.
    """
    if cursor.next is None:
        return _Ask(added_after=cursor.date_added_last)
    if cursor.date_added_last:
        try:
            moment = timestamps.parse(cursor.date_added_last) - timedelta(microseconds=1)
        except ValueError:
            return _Ask(added_after=cursor.next_added_after)
        return _Ask(added_after=moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return _Ask(added_after=cursor.next_added_after)


def _advance(cursor: Cursor, ask: _Ask, page: Page) -> Cursor:
    """The cursor once ``page`` is committed."""
    paging = page.more and page.next is not None
    return Cursor(
        date_added_last=page.date_added_last or cursor.date_added_last,
        next=page.next if paging else None,
        next_added_after=ask.added_after if paging else None,
        updated=timestamps.now(),
    )


def _next_ask(ask: _Ask, page: Page) -> _Ask:
    """How to ask for the page after ``page``, which said ``more``."""
    if page.next and (page.objects or page.next != ask.next):
        return _Ask(added_after=ask.added_after, next=page.next)
    if page.date_added_last and page.date_added_last != ask.added_after:
        return _Ask(added_after=page.date_added_last)
    raise InputFormatError(
        f"{page.url}: the server says there is more but gives neither a new 'next' nor a newer "
        "X-TAXII-Date-Added-Last header, so the pull cannot go on; the objects so far are "
        "stored. Report this to the server's operator"
    )


# --- push ---------------------------------------------------------------------------------


class PushProblem(msgspec.Struct, frozen=True, kw_only=True):
    """An object that did not land: never sent (``origin`` says where it was read), or
    refused by the server (``message`` is the server's)."""

    object_id: str | None
    message: str
    origin: str = ""


class PushSummary(msgspec.Struct, kw_only=True):
    """What one push did. ``read == sent + len(not_sent)``; the server's own counts say what
    became of what was sent: ``sent == success_count + failure_count + pending_count``
    when the server counts every object it was given."""

    destination: str
    max_content_length: int
    read: int = 0
    sent: int = 0
    batches: int = 0
    success_count: int = 0
    failure_count: int = 0
    pending_count: int = 0
    status_ids: list[str] = msgspec.field(default_factory=list)
    not_sent: list[PushProblem] = msgspec.field(default_factory=list)
    failures: list[PushProblem] = msgspec.field(default_factory=list)
    unfinished: list[str] = msgspec.field(default_factory=list)  # statuses still pending

    @property
    def ok(self) -> bool:
        """True when every object read was sent and the server took every one."""
        return not (self.not_sent or self.failure_count or self.pending_count or self.unfinished)

    def count(self, status: Status) -> None:
        """Add one batch's final status."""
        self.status_ids.append(status.id)
        self.success_count += status.success_count
        self.failure_count += status.failure_count
        self.pending_count += status.pending_count
        room = max(REPORT_REJECTS - len(self.failures), 0)
        self.failures.extend(
            PushProblem(object_id=f.id or None, message=f.message or "(no message)")
            for f in (status.failures or [])[:room]
        )
        if status.status != "complete":
            self.unfinished.append(status.id)


def push(
    client: TaxiiClient,
    api_root: str,
    collection_id: str,
    items: Iterable[RawObject | Reject],
    *,
    timeout_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PushSummary:
    """Send ``items`` to ``collection_id`` in envelopes within ``max_content_length``.

    Each envelope's status is polled (with back-off) until ``complete`` or ``timeout_s``
    seconds; a status still pending then is listed in ``unfinished``, not waited for.
    """
    api_root = as_dir(api_root)
    limit = _max_content_length(client.api_root(api_root))
    summary = PushSummary(
        destination=collection_url(api_root, collection_id), max_content_length=limit
    )
    for batch in _batches(items, limit, summary):
        envelope = _ENVELOPE_HEAD + b",".join(batch) + _ENVELOPE_TAIL
        status = client.add_objects(api_root, collection_id, envelope)
        summary.sent += len(batch)
        summary.batches += 1
        summary.count(_wait(client, api_root, status, timeout_s, sleep))
    return summary


def _max_content_length(api_root: dict[str, Any]) -> int:
    value = api_root.get("max_content_length")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return DEFAULT_MAX_CONTENT_LENGTH


def _batches(
    items: Iterable[RawObject | Reject], limit: int, summary: PushSummary
) -> Iterator[list[bytes]]:
    """Objects grouped so that each envelope's bytes stay within ``limit``."""
    frame = len(_ENVELOPE_HEAD) + len(_ENVELOPE_TAIL)
    batch: list[bytes] = []
    size = frame
    for item in items:
        summary.read += 1
        raw = _sendable(item, limit - frame, summary)
        if raw is None:
            continue
        extra = len(raw) + (1 if batch else 0)  # the comma between objects
        if size + extra > limit:
            yield batch
            batch, size, extra = [], frame, len(raw)
        batch.append(raw)
        size += extra
    if batch:
        yield batch


def _sendable(item: RawObject | Reject, room: int, summary: PushSummary) -> bytes | None:
    """The bytes to send for ``item``, or None after noting why it cannot be sent."""
    if isinstance(item, Reject):
        problem = f"not read: {item.field}: {item.reason}" if item.field else item.reason
        summary.not_sent.append(
            PushProblem(object_id=item.object_id, message=problem, origin=item.origin)
        )
        return None
    raw = item.raw.strip()
    place = f"{item.origin}[{item.index}]"
    try:
        object_id = _has_id.decode(raw).id
    except (msgspec.DecodeError, RecursionError):
        object_id = None
    if not object_id:
        summary.not_sent.append(
            PushProblem(object_id=None, message="not a STIX object with an 'id'", origin=place)
        )
        return None
    if len(raw) > room:
        summary.not_sent.append(
            PushProblem(
                object_id=object_id,
                message=f"{len(raw):,} bytes: too large for one envelope within the server's "
                f"max_content_length of {room + len(_ENVELOPE_HEAD) + len(_ENVELOPE_TAIL):,} "
                "bytes",
                origin=place,
            )
        )
        return None
    return raw


def _wait(
    client: TaxiiClient,
    api_root: str,
    status: Status,
    timeout_s: float,
    sleep: Callable[[float], None],
) -> Status:
    """Poll ``status`` until the server says ``complete`` or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while status.status != "complete":
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sleep(min(delay, left))
        delay = min(delay * 2, 5.0)
        status = client.status(api_root, status.id)
    return status
