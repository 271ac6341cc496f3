"""Detection benchmark: Zeek logs against a million indicators.

Input (scaled by ``--scale``, 1.0 = the issue's sizes): 1,000,000 indicators (400k domains,
400k IPv4, 100k CIDRs /16 to /28, 100k SHA-256) and 10,000,000 Zeek records split between
dns.log, conn.log and files.log, names and addresses drawn from a Zipf distribution, about 1%
of records planted to hit.

Each contender runs in its own process so that its peak RSS is its own:

* columnar: ``ColumnarMatcher.scan_zeek`` over each file (one pass, Arrow and DuckDB) and
  the exact hits of the records it gives (what ``mburoja match`` hands on to be stored as
  sightings);
* reference: the line readers and ``ReferenceMatcher`` in micro-batches of 10,000;
* ``grep -F -f`` with the domain list over dns.log (a floor for "just find the strings").

End to end here means from the log files on disk to the exact hit list: every (record,
value, indicators) triple. Storing sightings comes after and is not timed. Both matchers
must report the same hit set (checked here by count and digest of the sorted set).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import hashlib
import ipaddress
import itertools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONNECTION = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"]
DNS_FIELDS = [
    *CONNECTION,
    "trans_id",
    "rtt",
    "query",
    "qclass",
    "qclass_name",
    "qtype",
    "qtype_name",
    "rcode",
    "rcode_name",
    "AA",
    "TC",
    "RD",
    "RA",
    "Z",
    "answers",
    "TTLs",
    "rejected",
]
CONN_FIELDS = [
    *CONNECTION,
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
]
FILES_FIELDS = [
    "ts",
    "fuid",
    "tx_hosts",
    "rx_hosts",
    "conn_uids",
    "source",
    "depth",
    "analyzers",
    "mime_type",
    "filename",
    "duration",
    "local_orig",
    "is_orig",
    "seen_bytes",
    "total_bytes",
    "missing_bytes",
    "overflow_bytes",
    "timedout",
    "parent_fuid",
    "md5",
    "sha1",
    "sha256",
    "extracted",
]


def _header(path: str, fields: list[str]) -> str:
    return (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        f"#path\t{path}\n#open\t2026-11-22-00-00-00\n#fields\t" + "\t".join(fields) + "\n"
        "#types\t" + "\t".join("string" for _ in fields) + "\n"
    )


def generate(root: Path, scale: float, seed: int = 7) -> dict[str, object]:
    rng = random.Random(seed)
    n_dom, n_ip, n_cidr, n_hash = (int(x * scale) for x in (400_000, 400_000, 100_000, 100_000))
    domains = [f"bad{i}-{rng.randrange(10**9)}.example{i % 50}.net" for i in range(n_dom)]
    ips = [
        f"{rng.randrange(11, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        for _ in range(n_ip)
    ]
    cidrs = []
    for _ in range(n_cidr):
        plen = rng.randrange(16, 29)
        base = rng.randrange(11 << 24, 224 << 24)  # public space above 10/8, the clients'
        cidrs.append(str(ipaddress.ip_network((base >> (32 - plen) << (32 - plen), plen))))
    hashes = [hashlib.sha256(f"h{i}".encode()).hexdigest() for i in range(n_hash)]
    (root / "indicators.json").write_text(
        json.dumps({"domain": domains, "ip": ips, "net": cidrs, "sha256": hashes})
    )
    (root / "domains.txt").write_text("\n".join(domains) + "\n")
    # Background: names and addresses outside every indicator by construction, so that
    # the hits are the planted ones (1% of the records).
    names = [f"host{i}.benign{i % 997}.org" for i in range(200_000)]
    servers = _outside(rng, ips, cidrs, 100_000)
    clients = [
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(5_000)
    ]
    zipf = [min(int(rng.paretovariate(1.05)) - 1, 199_999) for _ in range(200_000)]
    total = int(10_000_000 * scale)
    per = {"dns": total * 5 // 10, "conn": total * 4 // 10}
    per["files"] = total - per["dns"] - per["conn"]
    planted = 0
    t0 = 1_763_800_000.0
    with (root / "dns.log").open("w") as f:
        f.write(_header("dns", DNS_FIELDS))
        for i in range(per["dns"]):
            if i % 100 == 0:
                query = ("www." if i % 200 == 0 else "") + domains[rng.randrange(n_dom)].upper()
                planted += 1
            else:
                query = names[zipf[i % 200_000]]
            answer = servers[zipf[(i * 7) % 200_000] % 100_000]
            f.write(
                f"{t0 + i * 0.0001:.6f}\tCd{i:x}\t{clients[i % 5000]}\t{40000 + i % 20000}\t"
                f"10.0.0.53\t53\tudp\t{i % 65536}\t0.001\t{query}\t1\tC_INTERNET\t1\tA\t0\tNOERROR"
                f"\tF\tF\tT\tT\t0\t{answer}\t60.0\tF\n"
            )
    with (root / "conn.log").open("w") as f:
        f.write(_header("conn", CONN_FIELDS))
        for i in range(per["conn"]):
            if i % 100 == 0:
                if i % 200 == 0:
                    dst = ips[rng.randrange(n_ip)]
                else:
                    net = ipaddress.ip_network(cidrs[rng.randrange(n_cidr)])
                    dst = str(net.network_address + rng.randrange(net.num_addresses))
                planted += 1
            else:
                dst = servers[zipf[i % 200_000] % 100_000]
            f.write(
                f"{t0 + i * 0.0001:.6f}\tCc{i:x}\t{clients[i % 5000]}\t{40000 + i % 20000}\t{dst}"
                f"\t443\ttcp\tssl\t1.5\t500\t4000\tSF\tT\tF\t0\tShADadFf\t10\t900\t9\t4500\t-\n"
            )
    with (root / "files.log").open("w") as f:
        f.write(_header("files", FILES_FIELDS))
        for i in range(per["files"]):
            if i % 100 == 0:
                sha = hashes[rng.randrange(n_hash)]
                planted += 1
            else:
                sha = hashlib.sha256(f"benign{zipf[i % 200_000]}".encode()).hexdigest()
            f.write(
                f"{t0 + i * 0.0001:.6f}\tF{i:x}\t{servers[i % 100_000]}\t{clients[i % 5000]}"
                f"\tCf{i:x}"
                "\tHTTP\t0\tSHA256\tapplication/octet-stream\t-\t0.1\tF\tF\t1000\t1000\t0\t0\tF"
                "\t-"
                f"\t-\t-\t{sha}\t-\n"
            )
    return {"records": total, "planted": planted, "indicators": n_dom + n_ip + n_cidr + n_hash}


def _outside(rng: random.Random, ips: list[str], cidrs: list[str], n: int) -> list[str]:
    """``n`` random public addresses that are neither indicators nor in an indicator CIDR."""
    spans = sorted(
        (int(net.network_address), int(net.broadcast_address))
        for net in map(ipaddress.ip_network, cidrs)
    )
    starts = [start for start, _end in spans]
    reach = list(itertools.accumulate((end for _start, end in spans), max))
    taken = set(ips)
    out: list[str] = []
    while len(out) < n:
        number = rng.randrange(11 << 24, 224 << 24)
        at = bisect.bisect_right(starts, number) - 1
        text = str(ipaddress.IPv4Address(number))
        if (at < 0 or reach[at] < number) and text not in taken:
            out.append(text)
    return out


def _compiled() -> list[object]:
    from mburoja.detect.compile import compile_indicator

    data = json.loads(Path(ROOT, "indicators.json").read_text())
    objects = []
    for kind, values in data.items():
        for i, value in enumerate(values):
            if kind == "domain":
                pattern = f"[domain-name:value = '{value}']"
            elif kind in ("ip", "net"):
                pattern = f"[ipv4-addr:value = '{value}']"
            else:
                pattern = f"[file:hashes.'SHA-256' = '{value}']"
            objects.append(
                compile_indicator(
                    {
                        "type": "indicator",
                        "id": f"indicator--{kind}-{i}",
                        "pattern": pattern,
                        "pattern_type": "stix",
                        "valid_from": "2026-01-01T00:00:00Z",
                    }
                )
            )
    return objects


ROOT = ""


def _run(which: str) -> dict[str, object]:
    """One contender, in this process (the parent starts one process per contender)."""
    from mburoja.detect.index import Delta

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    resident0 = _resident_kb()
    started = time.perf_counter()
    compiled = _compiled()
    if which == "columnar":
        from mburoja.detect.columnar import ColumnarMatcher

        matcher: object = ColumnarMatcher()
    else:
        from mburoja.detect.reference import ReferenceMatcher

        matcher = ReferenceMatcher()
    matcher.apply(Delta(added=compiled))  # type: ignore[attr-defined]
    build_s = time.perf_counter() - started
    peak_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del compiled
    gc.collect()
    resident = _resident_kb()
    keys: list[tuple[object, ...]] = []
    records = 0
    started = time.perf_counter()
    for name in ("dns.log", "conn.log", "files.log"):
        path = str(Path(ROOT, name))
        if which == "columnar":
            scan = matcher.scan_zeek(path)  # type: ignore[attr-defined]
            for batch in scan:
                keys.extend(_keys(batch, scan.hits(batch)))
            records += scan.stats.records
        else:
            from mburoja.detect.readers import read

            reader = read(path)
            for batch in reader.batches(10_000):
                found = matcher.match(batch)  # type: ignore[attr-defined]
                records += len(batch)
                keys.extend(_keys(batch, found))
    elapsed = time.perf_counter() - started
    keys.sort()
    digest = hashlib.sha256(repr(keys).encode())
    hits = len(keys)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "records": records,
        "seconds": round(elapsed, 2),
        "records_per_s": round(records / elapsed),
        "hits": hits,
        "digest": digest.hexdigest()[:16],
        "index_build_s": round(build_s, 2),
        # while building (the compiled indicators in Python, then in DuckDB) and after
        "index_build_peak_mb": round((peak_build - rss0) / 1024),
        "index_resident_mb": round((resident - resident0) / 1024),
        "peak_rss_mb": round(peak / 1024),
    }


def _resident_kb() -> int:
    """This process's resident memory now, in KiB (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() // 1024


def _keys(batch: list[Any], found: list[Any]) -> list[tuple[object, ...]]:
    return [(batch[h.row].rid, h.kind, h.value, h.indicators) for h in found]


def _grep(root: Path) -> dict[str, object]:
    started = time.perf_counter()
    proc = subprocess.run(
        ["grep", "-c", "-F", "-f", str(root / "domains.txt"), str(root / "dns.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    lines = sum(1 for _ in (root / "dns.log").open("rb")) - 8
    usage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "records": lines,
        "records_per_s": round(lines / elapsed),
        "matching_lines": int(proc.stdout.strip() or 0),
        "peak_rss_mb": round(usage / 1024),
    }


def main(scale: float | None = None) -> dict[str, object]:
    if scale is None:
        parser = argparse.ArgumentParser()
        parser.add_argument("--scale", type=float, default=1.0)
        scale = parser.parse_known_args()[0].scale
    with tempfile.TemporaryDirectory(prefix="mburoja-bench-detect-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        made = generate(root, scale)
        print(f"generated {made} in {time.perf_counter() - started:.1f} s", flush=True)
        results: dict[str, object] = {"input": made}
        # grep first: its peak RSS is read from this process's children, which must not
        # include the matchers yet
        results["grep"] = _grep(root)
        print("grep", results["grep"], flush=True)
        for which in ("columnar", "reference"):
            out = subprocess.run(
                [sys.executable, __file__, "--one", which, "--root", str(root)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[which] = json.loads(out.stdout.strip().splitlines()[-1])
            print(which, results[which], flush=True)
    col, ref = results["columnar"], results["reference"]
    assert isinstance(col, dict) and isinstance(ref, dict)
    results["same_hits"] = col["digest"] == ref["digest"] and col["hits"] == ref["hits"]
    results["ratio_vs_reference"] = round(col["records_per_s"] / ref["records_per_s"], 2)
    print(
        f"columnar {col['records_per_s']:,} records/s vs reference {ref['records_per_s']:,}/s:"
        f" {results['ratio_vs_reference']}x; same hits: {results['same_hits']}"
    )
    return results


if __name__ == "__main__":
    if "--one" in sys.argv:
        ROOT = sys.argv[sys.argv.index("--root") + 1]
        print(json.dumps(_run(sys.argv[sys.argv.index("--one") + 1])))
    else:
        print(json.dumps(main(), indent=2))
