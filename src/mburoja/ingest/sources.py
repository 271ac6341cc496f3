"""Where input comes from (a file, a directory, stdin, an http(s) URL, a MISP feed) and which
converter reads it. The result is one stream of ``RawObject``/``Reject`` for the pipeline.

Formats: ``stix`` (bundle, envelope, list or object; 2.0 is upgraded), ``misp`` (REST event
collections, single events, attribute collections), ``misp-feed`` (``manifest.json`` plus
``<uuid>.json``), ``csv`` and ``text`` IOC lists. ``auto`` looks at the content.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from mburoja.config import Settings
from mburoja.errors import FetchError, FetchRefused, InputFormatError, InputTooLarge
from mburoja.ingest.bundle import read_stix
from mburoja.ingest.fetch import Fetcher
from mburoja.ingest.ioc_list import IocOptions, convert_csv, convert_text, looks_like_csv
from mburoja.ingest.misp import convert_events, feed_event_paths, is_feed_dir, read_manifest
from mburoja.stix.model import RawObject, Reject

FORMATS = ("auto", "stix", "misp", "misp-feed", "csv", "text")
_DIR_SUFFIXES = (".json", ".csv", ".txt", ".ioc", ".list")

Items = Iterator[RawObject | Reject]


class Input(NamedTuple):
    origin: str
    data: bytes


def detect_format(data: bytes) -> str:
    """Guess the format of one input from its first bytes."""
    head = data[:4096].lstrip()
    if head[:1] in (b"{", b"["):
        probe = head[:2048]
        if b'"Event"' in probe or b'"response"' in probe or b'"Attribute"' in probe:
            return "misp"
        return "stix"
    return "csv" if looks_like_csv(data) else "text"


def convert(inp: Input, fmt: str, settings: Settings, ioc: IocOptions, now: str) -> Items:
    """The items of one input in format ``fmt`` (``auto`` detects)."""
    if fmt == "auto":
        fmt = detect_format(inp.data)
    if fmt == "stix":
        return read_stix(inp.data, inp.origin, settings.limits)
    if fmt == "misp":
        _check_size(inp, settings)
        return convert_events(inp.data, inp.origin)
    if fmt == "csv":
        _check_size(inp, settings)
        return convert_csv(inp.data, inp.origin, ioc, now)
    if fmt == "text":
        _check_size(inp, settings)
        return convert_text(inp.data, inp.origin, ioc, now)
    raise InputFormatError(f"{inp.origin}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _check_size(inp: Input, settings: Settings) -> None:
    if len(inp.data) > settings.limits.max_input_bytes:
        raise InputTooLarge(
            f"{inp.origin}: input is {len(inp.data):,} bytes, over the limit of "
            f"{settings.limits.max_input_bytes:,} (setting limits.max_input_bytes)"
        )


def read_stream(stream: BinaryIO, origin: str, max_bytes: int) -> Input:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputTooLarge(
            f"{origin}: more than {max_bytes:,} bytes (setting limits.max_input_bytes)"
        )
    return Input(origin, data)


def read_file(path: Path, max_bytes: int) -> Input:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputFormatError(f"{path}: cannot read: {exc.strerror}") from exc
    if size > max_bytes:
        raise InputTooLarge(
            f"{path}: file is {size:,} bytes, over the limit of {max_bytes:,} "
            "(setting limits.max_input_bytes)"
        )
    with path.open("rb") as fh:
        return read_stream(fh, str(path), max_bytes)


def items_for(
    spec: str,
    settings: Settings,
    *,
    fmt: str = "auto",
    ioc: IocOptions,
    now: str,
    fetcher_factory: Callable[[], Fetcher] | None = None,
) -> Items:
    """Every item from one input spec: a path, a directory, ``-`` for stdin, or a URL."""
    max_bytes = settings.limits.max_input_bytes
    if spec == "-":
        yield from convert(
            read_stream(sys.stdin.buffer, "stdin", max_bytes), fmt, settings, ioc, now
        )
        return
    if spec.startswith(("http://", "https://")) or "://" in spec:
        make = fetcher_factory or (lambda: Fetcher(settings.fetch, max_bytes))
        with make() as fetcher:
            if fmt == "misp-feed" or spec.rstrip("/").endswith("manifest.json"):
                yield from _remote_feed(spec, fetcher, settings, ioc, now)
            else:
                got = fetcher.get(spec)
                yield from convert(Input(got.url, got.content), fmt, settings, ioc, now)
        return
    path = Path(spec)
    if path.is_dir():
        if fmt == "misp-feed" or (fmt == "auto" and is_feed_dir(path)):
            yield from _local_feed(path, settings, ioc, now)
            return
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _DIR_SUFFIXES)
        for file in files:
            yield from convert(read_file(file, max_bytes), fmt, settings, ioc, now)
        return
    if not path.exists():
        raise InputFormatError(f"{spec}: no such file or directory")
    yield from convert(read_file(path, max_bytes), fmt, settings, ioc, now)


def _local_feed(path: Path, settings: Settings, ioc: IocOptions, now: str) -> Items:
    for entry in feed_event_paths(path):
        if isinstance(entry, Reject):
            yield entry
            continue
        yield from convert(
            read_file(entry, settings.limits.max_input_bytes), "misp", settings, ioc, now
        )


def _remote_feed(
    url: str, fetcher: Fetcher, settings: Settings, ioc: IocOptions, now: str
) -> Items:
    base = url.rstrip("/")
    if base.endswith("manifest.json"):
        base = base[: -len("manifest.json")].rstrip("/")
    manifest = read_manifest(fetcher.get(f"{base}/manifest.json").content)
    for index, event_uuid in enumerate(manifest):
        url = f"{base}/{event_uuid}.json"
        try:
            got = fetcher.get(url)
        except FetchError as exc:
            if isinstance(exc, FetchRefused):
                raise
            # One unreachable event must not stop the feed; it is counted and kept as a reject.
            yield Reject(url, index, None, "(fetch)", f"listed in manifest.json but {exc}", b"")
            continue
        yield from convert(Input(got.url, got.content), "misp", settings, ioc, now)
