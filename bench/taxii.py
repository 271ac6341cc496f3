"""Benchmark: read a whole collection through TAXII 2.1, in pages of 1,000.

Figure: objects/s a client reads from ``mburoja serve`` (uvicorn, one process) over loopback,
following ``next`` through a collection of 1,000,000 generated objects, with the policy
checking every object. Also p50 and p99 latency of the first page and of page 900 (keyset
pagination should keep them close). Reference, in the same run: medallion (the OASIS TAXII
2.1 server, memory backend) serving the first 10,000 of those objects, read by the same client
code; our server is read on the same 10,000-object subset for the ratio.

The server runs in its own process, the client in this one (each gets a core).
Run: ``python bench/taxii.py [--objects N] [--subset N] [--latency-samples N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

MEDIA = "application/taxii+json;version=2.1"
SECRET = "bench-secret-" + "b" * 40


def load_store(db: str, count: int) -> dict:
    """A store with ``count`` generated objects in collection ``bench``, a home org and an
    analyst token (written next to the database)."""
    from mburoja.config import load_settings
    from mburoja.demo.bulk import generate_bulk
    from mburoja.ingest.pipeline import Ingestor
    from mburoja.stix.model import RawObject
    from mburoja.store.sql import open_store

    settings = load_settings(environ={}, overrides={"store": {"url": f"sqlite:///{db}"}})
    store = open_store(settings.store_url, initialise=True)
    home = store.create_org("bench-cert", "home")
    store.create_user(home.name, "bench-analyst", "analyst")
    token = store.issue_token("bench-analyst", days=1).secret
    started = time.perf_counter()
    report = Ingestor(store, settings).run(
        (RawObject(raw, "bench", i) for i, raw in enumerate(generate_bulk(count, seed=1))),
        source="bench",
        collection="bench",
    )
    elapsed = time.perf_counter() - started
    assert report.rejected == 0, report.rejects[:3]
    collection = store.collection("bench")[0]
    # Measure serving, not the load's aftermath: fold the WAL into the database and let the
    # kernel write the gigabyte of dirty pages out before the server starts reading.
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    os.sync()
    return {"objects": report.received, "load_s": elapsed, "token": token, "collection": collection}


def serve(db: str, port: int) -> None:
    import uvicorn

    from mburoja.api.app import create_app
    from mburoja.config import load_settings
    from mburoja.store.sql import open_store

    settings = load_settings(
        environ={},
        overrides={"store": {"url": f"sqlite:///{db}"}, "auth": {"secret": SECRET}},
    )
    app = create_app(settings, open_store(settings.store_url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """Our server in a child process: ``script --serve DB PORT`` (this file's ``serve`` by
    default; the web benchmark passes its own)."""

    def __init__(self, db: str, script: str = __file__) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, script, "--serve", db, str(self.port)], cwd=REPO
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/api/health", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def walk(client: httpx.Client, objects_url: str, page_size: int, keep_page: int = 0) -> dict:
    """Read every page; returns objects, pages, seconds and the ``next`` of page ``keep_page``."""
    params: dict[str, str] = {"limit": str(page_size)}
    total = pages = 0
    kept = None
    started = time.perf_counter()
    first_s = 0.0
    while True:
        answer = client.get(objects_url, params=params)
        answer.raise_for_status()
        if not pages:
            first_s = time.perf_counter() - started
        envelope = orjson.loads(answer.content)
        total += len(envelope.get("objects", ()))
        pages += 1
        if not envelope.get("more"):
            break
        params["next"] = envelope["next"]
        if pages == keep_page - 1:
            kept = envelope["next"]
    return {
        "objects": total,
        "pages": pages,
        "seconds": time.perf_counter() - started,
        "first_page_s": first_s,
        "next": kept,
    }


def latency(client: httpx.Client, objects_url: str, params: dict[str, str], n: int) -> dict:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        answer = client.get(objects_url, params=params)
        answer.raise_for_status()
        orjson.loads(answer.content)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[max(int(len(times) * 0.99) - 1, 0)], 2),
    }


def ours(db: str, info: dict, page_size: int, keep_page: int, samples: int) -> dict:
    server = Served(db)
    try:
        headers = {"Accept": MEDIA, "Authorization": f"Bearer {info['token']}"}
        url = f"/taxii2/api/collections/{info['collection']}/objects/"
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            result = walk(client, url, page_size, keep_page)
            out = {"objects": result["objects"], "pages": result["pages"]}
            out["objects_per_s"] = round(result["objects"] / result["seconds"])
            if samples:
                out["first_page"] = latency(client, url, {"limit": str(page_size)}, samples)
                if result["next"]:
                    out[f"page_{keep_page}"] = latency(
                        client, url, {"limit": str(page_size), "next": result["next"]}, samples
                    )
        return out
    finally:
        server.stop()


def medallion(count: int, page_size: int) -> dict:
    from tests.taxii.medallion import MEDIA_TYPE, running_medallion

    from mburoja.demo.bulk import generate_bulk

    objects = [orjson.loads(raw) for raw in generate_bulk(count, seed=1)]
    with (
        running_medallion(objects, max_page_size=page_size) as server,
        httpx.Client(
            auth=server.auth, headers={"Accept": MEDIA_TYPE}, timeout=600, trust_env=False
        ) as client,
    ):
        result = walk(client, server.objects_url, page_size)
    return {
        "objects": result["objects"],
        "pages": result["pages"],
        "objects_per_s": round(result["objects"] / result["seconds"]),
        # medallion filters the whole collection on the first request and keeps the rest
        # of the walk in memory; later pages only pop from that list
        "first_page_s": round(result["first_page_s"], 2),
        "seconds": round(result["seconds"], 2),
    }


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--subset", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--latency-page", type=int, default=900)
    parser.add_argument("--latency-samples", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mburoja-bench-taxii-") as tmp:
        big, small = os.path.join(tmp, "big.db"), os.path.join(tmp, "small.db")
        print(f"loading {args.objects:,} objects ...", flush=True)
        info = load_store(big, args.objects)
        print(f"  loaded in {info['load_s']:.1f}s; reading through TAXII ...", flush=True)
        full = ours(big, info, args.page_size, args.latency_page, args.latency_samples)
        print(f"  ours: {full['objects']:,} objects at {full['objects_per_s']:,}/s", flush=True)
        subset_info = load_store(small, args.subset)
        subset = ours(small, subset_info, args.page_size, 0, 0)
    print(f"  ours on the {args.subset:,} subset: {subset['objects_per_s']:,}/s", flush=True)
    ref = medallion(args.subset, args.page_size)
    print(f"  medallion on the {args.subset:,} subset: {ref['objects_per_s']:,}/s", flush=True)
    first = full.get("first_page", {})
    deep = full.get(f"page_{args.latency_page}", {})
    result = {
        "objects": full["objects"],
        "pages": full["pages"],
        "ours_objects_per_s": full["objects_per_s"],
        "subset": args.subset,
        "ours_subset_objects_per_s": subset["objects_per_s"],
        "medallion_subset_objects_per_s": ref["objects_per_s"],
        "medallion_first_page_s": ref["first_page_s"],
        "medallion_walk_s": ref["seconds"],
        "ratio": round(subset["objects_per_s"] / ref["objects_per_s"], 1),
        "first_page": first,
        "deep_page": args.latency_page,
        "deep_page_latency": deep,
        "deep_over_first_p50": round(deep["p50_ms"] / first["p50_ms"], 2) if deep else None,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
