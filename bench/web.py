"""Benchmark: server time of the web application's pages with 1,000,000 objects in the store.

Figure: p50 and p99 of the time from request to the last byte of the answer, over loopback,
for the dashboard, search, object and graph pages, signed in as an analyst of the home
organisation (so the policy checks every object shown). The server (``mburoja serve``'s app
under uvicorn, one process) runs in its own process; the client runs here.

Reference, in the same run: the same pages, the same kind of requests, on a store of 10,000
objects. The ratio (p99 at 1M ÷ p99 at 10k) says how a page's cost grows with the store.
Target from the issue: p99 under 300 ms at 1M objects.

Requests per page: ``--requests`` (default 100), each on a different object or query drawn
from the loaded data with a fixed seed: search alternates an address, a domain, a hash and
a name word; the object and graph pages take indicators, malware, campaigns and
relationships' targets.
Run: ``python bench/web.py [--objects N] [--reference N] [--requests N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

PASSWORD = "bench password, long enough"
SECRET = "bench-secret-" + "w" * 40
PAGES = ("dashboard", "search", "object", "graph")


from taxii import Served  # noqa: E402


def load(db: str, count: int) -> dict:
    """``count`` generated objects (``taxii.load_store``) and a password for the analyst."""
    from mburoja.store.sql import open_store
    from taxii import load_store

    info = load_store(db, count)
    store = open_store(f"sqlite:///{db}")
    store.set_password("bench-analyst", PASSWORD)
    # the text index (names and words) is filled after ingest, outside it; the pages are
    # timed once it has caught up, and the catch-up is reported on its own
    started = time.perf_counter()
    indexed = 0
    while done := store.index_text(50_000):
        indexed += done
    info["text_index_s"] = round(time.perf_counter() - started, 1)
    info["text_indexed"] = indexed
    store.close()
    return info


def samples(count: int, n: int, seed: int = 7) -> dict[str, list[str]]:
    """Page arguments drawn from the generated data (the same bytes the store holds)."""
    from mburoja.demo.bulk import generate_bulk

    values: dict[str, list[str]] = {"ipv4": [], "domain": [], "hash": [], "word": []}
    ids: list[str] = []
    literal = re.compile(r"\[(ipv4-addr|domain-name|file):[^=]+= '([^']+)'\]")
    for raw in generate_bulk(count, seed=1):
        obj = orjson.loads(raw)
        kind = obj["type"]
        if kind == "indicator":
            found = literal.match(obj.get("pattern", ""))
            if found:
                key = {"ipv4-addr": "ipv4", "domain-name": "domain", "file": "hash"}[found[1]]
                values[key].append(found[2])
            ids.append(obj["id"])
        elif kind in ("malware", "campaign", "intrusion-set", "report"):
            ids.append(obj["id"])
            values["word"].extend(w for w in str(obj.get("name", "")).split() if len(w) > 3)
    rng = random.Random(seed)
    kinds = ("ipv4", "domain", "hash", "word")
    kinds = tuple(k for k in kinds if values[k])
    queries = [rng.choice(values[kinds[i % len(kinds)]]) for i in range(n)]
    return {"queries": queries, "ids": rng.sample(ids, min(n, len(ids)))}


def serve(db: str, port: int) -> None:
    import uvicorn

    from mburoja.api.app import create_app
    from mburoja.config import load_settings
    from mburoja.store.sql import open_store

    settings = load_settings(
        environ={},
        overrides={
            "store": {"url": f"sqlite:///{db}"},
            "auth": {"secret": SECRET},
            "web": {"secure_cookie": False},
        },
    )
    app = create_app(settings, open_store(settings.store_url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def sign_in(client: httpx.Client) -> None:
    form = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token, "no CSRF field on the sign-in page"
    answer = client.post(
        "/login", data={"csrf": token[1], "username": "bench-analyst", "password": PASSWORD}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in failed: {answer.status_code} {answer.text[:200]}")


def paths(page: str, args: dict[str, list[str]], n: int) -> list[str]:
    if page == "dashboard":
        return ["/"] * n
    if page == "search":
        return [str(httpx.URL("/search", params={"q": q})) for q in args["queries"][:n]]
    prefix = "/objects/" if page == "object" else "/graph/"
    return [prefix + oid for oid in args["ids"][:n]]


def timed(client: httpx.Client, urls: list[str]) -> dict:
    """The first request of a page kind (it fills the process's caches: templates, the
    dashboard's tracked objects) is reported apart; then one request per URL."""
    started = time.perf_counter()
    client.get(urls[0])
    first_ms = (time.perf_counter() - started) * 1000
    times = []
    statuses: dict[int, int] = {}
    for url in urls:
        started = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    times.sort()
    return {
        "requests": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[max(int(len(times) * 0.99) - 1, 0)], 1),
        "max_ms": round(times[-1], 1),
        "first_ms": round(first_ms, 1),
        "statuses": statuses,
    }


def measure(count: int, requests: int, workdir: str) -> dict:
    db = f"{workdir}/web-{count}.db"
    started = time.perf_counter()
    info = load(db, count)
    load_s = time.perf_counter() - started
    print(
        f"  loaded {info['objects']:,} objects in {load_s:.0f} s (text index of "
        f"{info['text_indexed']:,} versions: {info['text_index_s']} s)",
        flush=True,
    )
    args = samples(count, requests)
    server = Served(db, script=__file__)
    try:
        with httpx.Client(base_url=server.url, timeout=120, follow_redirects=False) as client:
            sign_in(client)
            pages = {}
            for page in PAGES:
                pages[page] = timed(client, paths(page, args, requests))
                row = pages[page]
                print(
                    f"  {page:<9} p50 {row['p50_ms']:>7} ms  p99 {row['p99_ms']:>7} ms  "
                    f"first {row['first_ms']:>7} ms  statuses {row['statuses']}",
                    flush=True,
                )
    finally:
        server.stop()
    return {
        "objects": info["objects"],
        "load_s": round(load_s, 1),
        "text_index_s": info["text_index_s"],
        "pages": pages,
    }


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--reference", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mburoja-web-bench-") as workdir:
        print(f"reference: {opts.reference:,} objects", flush=True)
        small = measure(opts.reference, opts.requests, workdir)
        print(f"figure: {opts.objects:,} objects", flush=True)
        big = measure(opts.objects, opts.requests, workdir)
    result = {
        "objects": big["objects"],
        "reference_objects": small["objects"],
        "text_index_s": big["text_index_s"],
        "pages": {},
    }
    for page in PAGES:
        b, s = big["pages"][page], small["pages"][page]
        ratio = round(b["p99_ms"] / s["p99_ms"], 2) if s["p99_ms"] else None
        result["pages"][page] = {"at_1m": b, "reference": s, "p99_ratio": ratio}
        ok = set(b["statuses"]) == {200}
        verdict = "met" if b["p99_ms"] < 300 and ok else "NOT met"
        if not ok:
            verdict += f" (answers other than 200: {b['statuses']})"
        print(
            f"{page:<9} p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms at {big['objects']:,} "
            f"(p99 {s['p99_ms']} ms at {small['objects']:,}: {ratio}x); target p99 < 300 ms "
            f"{verdict}"
        )
    return result


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        print(json.dumps(main(), indent=2))
