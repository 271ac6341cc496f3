"""Benchmark: ingest 100,000 generated STIX objects into SQLite, end to end.

Figure: objects/s for parse + validate + store + index of a bundle file into a fresh
embedded store, with peak RSS. Reference, in the same run and on the same input:
``stix2.parse(allow_custom=True)`` alone (parse and validate, nothing stored).
Also: correlation-search latency (median, p99) over 1,000 lookups against the loaded store.

Each side runs in its own child process so its peak RSS is its own, three times by default,
alternating, and the median run of each is reported.
Run: ``python bench/ingest.py [--objects N]`` (``make bench`` runs it with the defaults).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from mburoja.demo.bulk import generate_bulk

HERE = Path(__file__).resolve().parent


def write_bundle(path: str, count: int) -> dict:
    objects = b",\n".join(generate_bulk(count, seed=1))
    Path(path).write_bytes(
        b'{"type": "bundle", "id": "bundle--6b6f1a59-6a4f-4a43-9d56-2a1b7b1a0b01", "objects": [\n'
        + objects
        + b"\n]}"
    )
    return {"objects": count}


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (workers included), from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
        rss[pid] = int(line.split()[1])
    total = 0
    for pid in rss:
        p = pid
        while p and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += rss[pid]
    return total / 1024


def child_ours(bundle: str, db: str) -> dict:
    from mburoja.config import load_settings
    from mburoja.ingest.ioc_list import IocOptions
    from mburoja.ingest.pipeline import Ingestor
    from mburoja.ingest.sources import items_for
    from mburoja.store.sql import open_store

    settings = load_settings(environ={}, overrides={"store": {"url": f"sqlite:///{db}"}})
    store = open_store(settings.store_url, initialise=True)
    started = time.perf_counter()
    items = items_for(
        bundle, settings, fmt="stix", ioc=IocOptions(source="bench"), now="2026-01-01T00:00:00Z"
    )
    report = Ingestor(store, settings).run(items, source="bench")
    elapsed = time.perf_counter() - started
    assert report.rejected == 0, report.rejects[:3]
    return {
        "objects": report.received,
        "seconds": elapsed,
        "new": report.new,
        "rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_reference(bundle: str) -> dict:
    import stix2

    objects = orjson.loads(Path(bundle).read_bytes())["objects"]
    started = time.perf_counter()
    for obj in objects:
        stix2.parse(obj, allow_custom=True)
    return {"objects": len(objects), "seconds": time.perf_counter() - started}


def child_search(db: str, bundle: str, lookups: int) -> dict:
    from mburoja.stix.pattern import comparisons
    from mburoja.store.sql import open_store

    rng = random.Random(5)
    values: list[str] = []
    for obj in orjson.loads(Path(bundle).read_bytes())["objects"]:
        if obj["type"] == "indicator":
            values.extend(
                str(c.value) for c in comparisons(obj["pattern"]) if isinstance(c.value, str)
            )
        elif "value" in obj:
            values.append(str(obj["value"]))
    queries = [rng.choice(values) for _ in range(int(lookups * 0.8))]
    queries += [f"absent-{i}.example" for i in range(lookups - len(queries))]
    rng.shuffle(queries)
    store = open_store(f"sqlite:///{db}")
    times, hits = [], 0
    for q in queries:
        t = time.perf_counter()
        result = store.search(q)
        times.append((time.perf_counter() - t) * 1000)
        hits += bool(result.hits)
    times.sort()
    return {
        "lookups": len(queries),
        "with_hits": hits,
        "median_ms": statistics.median(times),
        "p99_ms": times[int(len(times) * 0.99) - 1],
    }


def _median(results: list[dict], key) -> dict:
    ordered = sorted(results, key=key)
    return ordered[len(ordered) // 2]


def run_child(*args: str) -> dict:
    """Run one side in a child process; from outside it, sample the RSS of the child and all
    its workers every 50 ms, so that the sampling costs the measured side nothing."""
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=out)
        peak = 0.0
        while child.poll() is None:
            peak = max(peak, _tree_rss_mb(child.pid))
            time.sleep(0.05)
        if child.returncode:
            raise RuntimeError(f"benchmark child {args[0]} failed with {child.returncode}")
        out.seek(0)
        result = json.loads(out.read().strip().splitlines()[-1])
    result["rss_tree_mb"] = peak
    return result


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; median kept")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {
            "generate": write_bundle,
            "ours": child_ours,
            "reference": child_reference,
            "search": child_search,
        }[kind]
        params = [int(x) if x.isdigit() else x for x in rest]
        print(json.dumps(fn(*params)))
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        bundle, db = Path(tmp) / "bench.json", Path(tmp) / "bench.db"
        # In a child too: Linux carries a parent's peak RSS into the children it starts.
        run_child("generate", str(bundle), str(args.objects))
        # Alternate the two sides so that a slow spell of the machine hits both alike.
        refs, runs = [], []
        for attempt in range(args.repeat):
            refs.append(run_child("reference", str(bundle)))
            run_db = db.with_name(f"bench{attempt}.db")
            runs.append(run_child("ours", str(bundle), str(run_db)))
        ref = _median(refs, lambda r: r["objects"] / r["seconds"])
        ours = _median(runs, lambda r: r["objects"] / r["seconds"])
        search = run_child("search", str(run_db), str(bundle), str(args.lookups))
    ours_rate = ours["objects"] / ours["seconds"]
    ref_rate = ref["objects"] / ref["seconds"]
    result = {
        "objects": args.objects,
        "repeat": args.repeat,
        "ours_runs_objects_per_s": sorted(round(r["objects"] / r["seconds"]) for r in runs),
        "stix2_parse_runs_objects_per_s": sorted(round(r["objects"] / r["seconds"]) for r in refs),
        "ours_objects_per_s": round(ours_rate),
        "ours_peak_rss_main_mb": round(ours["rss_main_mb"], 1),
        "ours_peak_rss_all_processes_mb": round(ours["rss_tree_mb"], 1),
        "stix2_parse_objects_per_s": round(ref_rate),
        "ratio": round(ours_rate / ref_rate, 1),
        "search_median_ms": round(search["median_ms"], 3),
        "search_p99_ms": round(search["p99_ms"], 3),
        "search_lookups": search["lookups"],
        "search_with_hits": search["with_hits"],
    }
    print(f"ingest {args.objects:,} STIX objects into SQLite, end to end (median of {args.repeat})")
    print(
        f"  mburoja        {ours_rate:12,.0f} objects/s   peak RSS {ours['rss_main_mb']:.0f} MB "
        f"(main process), {ours['rss_tree_mb']:.0f} MB (all processes, sampled)"
    )
    print(f"  stix2.parse    {ref_rate:12,.0f} objects/s   (reference: parse only, same input)")
    print(f"  ratio          {ours_rate / ref_rate:12.1f} x")
    print(
        f"search: {search['lookups']} lookups ({search['with_hits']} with hits): "
        f"median {search['median_ms']:.3f} ms, p99 {search['p99_ms']:.3f} ms"
    )
    return result


if __name__ == "__main__":
    main()
