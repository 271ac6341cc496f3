"""Logs as one JSON object per line, for ``mburoja serve``: what a log shipper (Vector,
Fluent Bit, Loki, Elastic) reads without a parsing rule, and what ``jq`` filters.

Every record has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; the extra
fields a caller passes (``logger.info("...", extra={...})``) are added as they are, and an
exception's traceback goes in ``exc``. A message with newlines or quotes stays one line:
orjson escapes them. :class:`AccessLog` (an ASGI middleware) writes one record per HTTP
request, with ``method``, ``path``, ``status``, ``duration_ms``, ``client`` and ``user`` (the
bearer token's public id, or the signed-in user; never a secret), so uvicorn's own access
log is turned off. ``configure(json=False)`` gives plain lines for a person at a terminal.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS: Final = "mburoja.access"
#: the attributes every ``LogRecord`` has; anything else was passed in ``extra``
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class _StderrHandler(logging.StreamHandler):
    """Writes each record to ``sys.stderr`` as it is at that moment, not as it was when
    logging was configured (a test runner or a daemoniser may replace it, and the old one
    may be closed by then)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        return  # always sys.stderr


def configure(
    *, json: bool = True, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send the root logger (and uvicorn's, which keep their own handlers otherwise) to
    ``stream`` (stderr), as JSON lines or plain text."""
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.setFormatter(
        JsonFormatter()
        if json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # the access records come from AccessLog, with the fields uvicorn's lack
    logging.getLogger("uvicorn.access").disabled = True
    # alembic says "Context impl SQLiteImpl" each time a store is opened: noise in a log
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))


def uvicorn_config() -> dict[str, Any]:
    """A ``log_config`` for uvicorn that leaves the logging set up by :func:`configure`."""
    return {"version": 1, "disable_existing_loggers": False}


class AccessLog:
    """ASGI middleware: one ``mburoja.access`` record per HTTP request, when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.logger = logging.getLogger(ACCESS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            self.logger.info(
                "%s %s %d",
                scope.get("method", ""),
                scope.get("path", ""),
                status,
                extra={
                    "method": scope.get("method", ""),
                    "path": scope.get("path", ""),
                    "query": scope.get("query_string", b"").decode("latin-1"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "client": client[0] if client else None,
                    "user": _user(scope),
                },
            )


def _user(scope: Scope) -> str | None:
    """Who called, without a secret: the public id of a bearer token (``mbj_<id>_<secret>``
    gives ``<id>``), ``basic`` for basic credentials, ``session`` for a web session."""
    headers = dict(scope.get("headers") or [])
    auth = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, credential = auth.partition(" ")
    if scheme.lower() == "bearer" and credential:
        parts = credential.strip().split("_")
        return f"token:{parts[1]}" if len(parts) >= 3 else "token:?"
    if scheme.lower() == "basic":
        return "basic"
    if b"mburoja_session" in headers.get(b"cookie", b""):
        return "session"
    return None
