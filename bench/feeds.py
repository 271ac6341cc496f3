"""Benchmark: feed runs end to end, from a local HTTP server into a fresh SQLite store.

Figures, each through ``mburoja.feeds.runner.run_feed`` exactly as the scheduler runs a feed
(fetch over loopback, parse, convert, ingest, record the run):

* a plain IOC list of ``--lines`` lines (IPv4, domains, URLs, SHA-256 in turn): lines/s on
  the first run, and on a second run of the same list re-served with a new ``Last-Modified``
  (every line read again, everything "unchanged");
* a MISP feed of ``--events`` events with ``--attributes`` attributes each (``manifest.json``
  plus one JSON per event): events/s and attributes/s;
* ``mburoja decay recompute`` over the store the list left (one indicator per line, all from
  source ``feed:bench-list``, so the shipped ``feeds`` model scores each), 20 days after the
  run: indicators/s read, modelled and scored.

The per-host request limit (``feeds.per_host_interval_s``) is set to 0: the server is the
benchmark's own, on loopback, and the figure is the ingest's.

Reference, measured in the same run: the reference STIX library (``stix2``) making one
``Indicator`` per value and serialising it, nothing stored, on the first
``--reference-lines`` values. It is what a script built on the reference library spends
before it stores anything.

Run: ``python bench/feeds.py [--lines N] [--events N] [--attributes N]`` (``make bench``
runs it with the defaults, the issue's sizes).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import resource
import tempfile
import threading
import time
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec

from mburoja.config import Settings
from mburoja.feeds import registry
from mburoja.feeds.catalogue import FeedSpec
from mburoja.feeds.runner import run_feed
from mburoja.lifecycle.decay import defaults
from mburoja.lifecycle.scores import recompute
from mburoja.stix import timestamps
from mburoja.store.sql import open_store

NOW = "2026-11-22T00:00:00.000Z"


def value(i: int) -> tuple[str, str]:
    """(MISP attribute type, value) number ``i``: distinct values of four kinds in turn."""
    kind = i % 4
    if kind == 0:
        return "ip-dst", f"{11 + (i >> 24) % 200}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    if kind == 1:
        return "domain", f"host{i}.example{i % 97}.com"
    if kind == 2:
        return "sha256", hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
    return "url", f"http://bad{i}.example.net/path/{i}"


def write_list(path: Path, lines: int) -> None:
    with path.open("w") as out:
        out.write("# benchmark list: one value a line\n")
        for i in range(lines):
            out.write(value(i)[1] + "\n")


def write_misp_feed(folder: Path, events: int, attributes: int) -> None:
    folder.mkdir()
    manifest = {}
    stamp = "1763769600"
    for e in range(events):
        event_uuid = str(uuid.UUID(int=(1 << 100) + e, version=4))
        attrs = []
        for a in range(attributes):
            kind, text = value(e * attributes + a)
            attrs.append(
                {
                    "uuid": str(uuid.UUID(int=(2 << 100) + e * attributes + a, version=4)),
                    "type": kind,
                    "category": "Network activity" if kind != "sha256" else "Payload delivery",
                    "value": text,
                    "to_ids": True,
                    "timestamp": stamp,
                }
            )
        header = {
            "uuid": event_uuid,
            "info": f"benchmark event {e}",
            "date": "2026-11-21",
            "timestamp": stamp,
            "analysis": "2",
            "threat_level_id": "2",
            "Orgc": {"name": "BENCH-CERT", "uuid": "5f6e7d8c-0000-4000-8000-000000000001"},
        }
        event = {"Event": {**header, "Attribute": attrs, "Tag": [{"name": "tlp:green"}]}}
        (folder / f"{event_uuid}.json").write_text(json.dumps(event))
        manifest[event_uuid] = {k: v for k, v in header.items() if k != "uuid"}
    (folder / "manifest.json").write_text(json.dumps(manifest))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def serve(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def reference(lines: int) -> float:
    """Values/s for stix2 making and serialising one Indicator per value."""
    import stix2

    started = time.perf_counter()
    for i in range(lines):
        kind, text = value(i)
        if kind == "sha256":
            pattern = f"[file:hashes.'SHA-256' = '{text}']"
        else:
            sco = {"ip-dst": "ipv4-addr", "domain": "domain-name", "url": "url"}[kind]
            pattern = f"[{sco}:value = '{text}']"
        stix2.Indicator(
            pattern=pattern, pattern_type="stix", valid_from=NOW, confidence=50
        ).serialize()
    return lines / (time.perf_counter() - started)


def run(store, settings: Settings, name: str) -> dict:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = run_feed(store, settings, name, holder="bench", now=NOW)
    seconds = time.perf_counter() - started
    if result.status != "ok":
        raise SystemExit(f"feed {name}: run {result.status}: {result.error}")
    return {"seconds": seconds, "run": msgspec.structs.asdict(result)}


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--attributes", type=int, default=200)
    parser.add_argument("--reference-lines", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        site = root / "site"
        site.mkdir()
        write_list(site / "list.txt", args.lines)
        write_misp_feed(site / "misp", args.events, args.attributes)
        server, base = serve(site)
        try:
            settings = msgspec.convert(
                {
                    "data_dir": str(root),
                    "fetch": {"allow_private": True},
                    # the server is ours, on loopback: measure the ingest, not the politeness
                    "feeds": {"per_host_interval_s": 0},
                },
                Settings,
            )
            store = open_store(f"sqlite:///{root / 'bench.db'}", initialise=True)
            registry.add(
                store,
                [
                    FeedSpec(
                        name="bench-list",
                        provider="bench",
                        url=f"{base}/list.txt",
                        format="text",
                        schedule="1h",
                        tlp="green",
                    ),
                    FeedSpec(
                        name="bench-misp",
                        provider="bench",
                        url=f"{base}/misp/",
                        format="misp-feed",
                        schedule="1h",
                        tlp="green",
                    ),
                ],
            )
            first = run(store, settings, "bench-list")
            # A new Last-Modified: the whole list is fetched and read again, all unchanged.
            later = time.time() + 5
            os.utime(site / "list.txt", (later, later))
            again = run(store, settings, "bench-list")
            later_day = timestamps.parse(NOW).timestamp() + 20 * 86400
            scored = recompute(store, defaults(), now=later_day)
            misp = run(store, settings, "bench-misp")
        finally:
            server.shutdown()
        ref = reference(min(args.reference_lines, args.lines))
    list_rate = args.lines / first["seconds"]
    again_rate = args.lines / again["seconds"]
    attributes = args.events * args.attributes
    result = {
        "lines": args.lines,
        "list_first_run_s": round(first["seconds"], 2),
        "list_lines_per_s": round(list_rate),
        "list_objects_new": first["run"]["new"],
        "list_rejected": first["run"]["rejected"],
        "list_again_lines_per_s": round(again_rate),
        "list_again_unchanged": again["run"]["unchanged"],
        "decay_indicators": scored.indicators,
        "decay_below_threshold": scored.below,
        "decay_job_s": scored.seconds,
        "decay_job_indicators_per_s": round(scored.per_second),
        "events": args.events,
        "attributes_per_event": args.attributes,
        "misp_run_s": round(misp["seconds"], 2),
        "misp_events_per_s": round(args.events / misp["seconds"], 1),
        "misp_attributes_per_s": round(attributes / misp["seconds"]),
        "misp_objects_new": misp["run"]["new"],
        "misp_rejected": misp["run"]["rejected"],
        "stix2_indicator_values_per_s": round(ref),
        "ratio": round(list_rate / ref, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets": {"lines_per_s": 200_000, "misp_events_per_s": 500},
    }
    print(
        f"IOC list, {args.lines:,} lines: {list_rate:,.0f} lines/s first run "
        f"({first['run']['new']:,} objects new), {again_rate:,.0f} lines/s re-read unchanged; "
        f"stix2 Indicator making {ref:,.0f} values/s (ratio {result['ratio']}x); "
        "target 200,000 lines/s"
    )
    print(
        f"decay recompute over the list's store: {scored.indicators:,} indicators in "
        f"{scored.seconds:.1f} s, {scored.per_second:,.0f}/s ({scored.below:,} below threshold)"
    )
    print(
        f"MISP feed, {args.events:,} events x {args.attributes} attributes: "
        f"{result['misp_events_per_s']:,} events/s, {result['misp_attributes_per_s']:,} "
        f"attributes/s ({misp['run']['new']:,} objects new); target 500 events/s"
    )
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
