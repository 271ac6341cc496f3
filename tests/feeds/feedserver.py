"""A feed server for the feed tests: a real HTTP server on 127.0.0.1 that answers
conditional GETs (ETag, Last-Modified), compresses with gzip when asked, fails on demand,
and can hold a request until the test lets it go."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Document:
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200


@dataclass
class FeedServer:
    base: str = ""
    documents: dict[str, Document] = field(default_factory=dict)
    #: (path, request headers in lower case) of every request, in order
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    #: (path, status, content-encoding) of every answer
    answers: list[tuple[str, int, str]] = field(default_factory=list)
    #: set: each request waits until it is set (or 10 s pass)
    gate: threading.Event | None = None

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.requests.append((self.path, headers))
            if server.gate is not None:
                server.gate.wait(10)
            doc = server.documents.get(self.path)
            if doc is None or doc.status != 200:
                status = 404 if doc is None else doc.status
                self._answer(status, b"no", {})
                return
            validators = {"ETag": doc.etag, "Last-Modified": doc.last_modified}
            sent = {k: v for k, v in validators.items() if v}
            matched = doc.etag is not None and headers.get("if-none-match") == doc.etag
            if matched or (
                doc.etag is None
                and doc.last_modified is not None
                and headers.get("if-modified-since") == doc.last_modified
            ):
                self._answer(304, b"", sent)
                return
            body = doc.body
            if "gzip" in headers.get("accept-encoding", ""):
                body = gzip.compress(body)
                sent["Content-Encoding"] = "gzip"
            self._answer(200, body, sent)

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)
            server.answers.append((self.path, status, headers.get("Content-Encoding", "")))

    return Handler


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    """A running ``FeedServer``, stopped on exit."""
    state = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.gate is not None:
            state.gate.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
