"""Lines of telemetry from a file, a gzip file or stdin, once or followed like ``tail -F``.

Every line comes as ``(source, line number, raw bytes without the newline)``. Line numbers
start at 1 in each source. The source name is the path as given (``<stdin>`` for ``-``),
except when following: then it is ``<path>@<inode>``, because a rotated log restarts its
line numbers in a new file and ``(source, line)`` must keep naming one line.

Following starts at the *beginning* of the file (a reader restarted on the same file reads
it again; record ids make the repeats harmless), waits for new lines, and survives rotation:

* **rename and recreate** (the inode at the path changes): the old file is read to its end,
  including a last line without a newline, then the new file is read from its start;
* **truncation in place** (``copytruncate``; the size drops below what was read): the file
  is read again from its start under a new source name (``<path>@<inode>~<n>``). Truncation
  is seen only while the new content is still shorter than what had been read, as with
  ``tail -F``.

A last line without a newline is held back until it is complete. ``stop`` ends following
once the reader has caught up with what was written; a line still incomplete then is left
unread. Gzip files and stdin are read to their end and not followed.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:
    from mburoja.detect.readers import ReadStats

Line = tuple[str, int, bytes]

STDIN: Final = "-"
STDIN_NAME: Final = "<stdin>"
#: Line number of the marker :func:`stream_lines` yields when a followed file has no new
#: data: the readers then hand on a partial micro-batch instead of waiting for it to fill.
IDLE: Final = 0
_CHUNK: Final = 1 << 20


def open_lines(
    path: str,
    *,
    follow: bool = False,
    poll_s: float = 0.2,
    stop: threading.Event | None = None,
) -> Iterator[Line]:
    """The lines of ``path`` (``-`` for stdin; ``.gz`` is decompressed), see the module
    docstring for ``follow``."""
    for item in stream_lines(path, follow=follow, poll_s=poll_s, stop=stop):
        if item[1] != IDLE:
            yield item


def stream_lines(
    path: str,
    *,
    follow: bool = False,
    poll_s: float = 0.2,
    stop: threading.Event | None = None,
) -> Iterator[Line]:
    """:func:`open_lines`, plus one ``(source, IDLE, b"")`` marker each time a followed file
    runs out of new data."""
    if path == STDIN:
        stdin = sys.stdin.buffer
        read = getattr(stdin, "read1", stdin.read)
        yield from _split(read, STDIN_NAME)
    elif path.endswith(".gz"):
        with gzip.open(path, "rb") as zipped:
            yield from _split(zipped.read, path)
    elif follow:
        yield from _follow(path, poll_s, stop or threading.Event())
    else:
        with open(path, "rb") as plain:
            yield from _split(plain.read, path)


def _split(read: Callable[[int], bytes], name: str) -> Iterator[Line]:
    """Every line of a stream read in large chunks (splitting a chunk is much cheaper than
    reading line by line)."""
    number = 0
    pending = b""
    while chunk := read(_CHUNK):
        if pending:
            chunk = pending + chunk
        lines = chunk.split(b"\n")
        pending = lines.pop()
        if b"\r" in chunk:
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        for line in lines:
            number += 1
            yield name, number, line
    if pending:
        yield name, number + 1, pending.removesuffix(b"\r")


class _Names:
    """Source names for the files one follow sees; an inode can come back after a delete,
    so a name already used gets a suffix."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.used: set[str] = set()

    def new(self, inode: int) -> str:
        name = base = f"{self.path}@{inode}"
        count = 1
        while name in self.used:
            name = f"{base}~{count}"
            count += 1
        self.used.add(name)
        return name


def _follow(path: str, poll_s: float, stop: threading.Event) -> Iterator[Line]:
    names = _Names(path)
    handle: io.FileIO | None = _wait_open(path, poll_s, stop)
    if handle is None:
        return
    try:
        stat = os.fstat(handle.fileno())
        name, number, pending, idle = names.new(stat.st_ino), 0, b"", False
        while True:
            chunk = handle.read(_CHUNK)
            if chunk:
                idle = False
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    number += 1
                    yield name, number, line.removesuffix(b"\r")
                continue
            now = _stat(path)
            if now is not None and (now.st_ino, now.st_dev) != (stat.st_ino, stat.st_dev):
                # Renamed and recreated: the old file is complete, its last line included.
                while chunk := handle.read(_CHUNK):
                    lines = (pending + chunk).split(b"\n")
                    pending = lines.pop()
                    for line in lines:
                        number += 1
                        yield name, number, line.removesuffix(b"\r")
                if pending:
                    yield name, number + 1, pending.removesuffix(b"\r")
                handle.close()
                handle = _wait_open(path, poll_s, stop)
                if handle is None:
                    return
                stat = os.fstat(handle.fileno())
                name, number, pending = names.new(stat.st_ino), 0, b""
                continue
            if now is not None and now.st_size < handle.tell():
                # Truncated in place: what was read is gone; a held-back fragment is handed
                # on so that nothing disappears without a trace.
                if pending:
                    yield name, number + 1, pending.removesuffix(b"\r")
                handle.seek(0)
                name, number, pending = names.new(stat.st_ino), 0, b""
                continue
            if stop.is_set():
                return
            if not idle:
                idle = True
                yield name, IDLE, b""
            stop.wait(poll_s)
    finally:
        if handle is not None:
            handle.close()


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _wait_open(path: str, poll_s: float, stop: threading.Event) -> io.FileIO | None:
    """Open ``path`` once it exists (a rotation may leave a moment without it); None when
    ``stop`` is set first."""
    while not stop.is_set():
        try:
            return io.FileIO(path, "r")
        except FileNotFoundError:
            stop.wait(poll_s)
    return None


def content(lines: Iterable[Line], stats: ReadStats) -> Iterator[Line | None]:
    """The lines that carry something, each counted in ``stats.lines``; blank lines are
    counted and dropped, and an idle marker comes out as ``None`` (hand on what you have)."""
    for line in lines:
        if not line[2].strip():
            if line[1] == IDLE:
                yield None
            else:
                stats.lines += 1
            continue
        stats.lines += 1
        yield line


def json_object(line: Line, stats: ReadStats) -> dict[str, Any] | None:
    """One line as a JSON object, or None after counting it as bad (with why)."""
    source, number, raw = line
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        stats.add_bad(source, number, f"not JSON: {err}")
        return None
    if not isinstance(obj, dict):
        stats.add_bad(source, number, "not a JSON object")
        return None
    return obj
