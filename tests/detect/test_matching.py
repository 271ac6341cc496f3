"""The two matchers agree, hits are exact, and the index follows the store."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import pytest

from mburoja.detect.columnar import ColumnarMatcher
from mburoja.detect.compile import Compiled, Key, compile_indicator, compile_pattern
from mburoja.detect.index import Delta
from mburoja.detect.model import Record
from mburoja.detect.readers import read
from mburoja.detect.reference import ReferenceMatcher


def _ind(n: int, *keys: tuple[str, str], simple: bool = True) -> Compiled:
    return Compiled(
        id=f"indicator--{n:08d}-0000-4000-8000-000000000000",
        pattern="[x:y = 'z']",
        keys=tuple(Key(k, v) for k, v in keys),
        simple=simple,
    )


INDICATORS = [
    _ind(1, ("domain", "evil.com")),
    _ind(2, ("domain", "b.evil.com")),
    _ind(3, ("domain", "xn--bcher-kva.example")),
    _ind(4, ("net", "10.0.0.0/8")),
    _ind(5, ("net", "10.1.0.0/16")),
    _ind(6, ("ip", "10.1.2.3")),
    _ind(7, ("net", "2001:db8::/32")),
    _ind(8, ("ip", "2001:db8::1")),
    _ind(9, ("sha256", "ab" * 32)),
    _ind(10, ("md5", "cd" * 16)),
    _ind(11, ("url", "http://evil.com/gate.php?id=1")),
    _ind(12, ("endpoint", "198.51.100.7|443")),
    _ind(13, ("x509-sha1", "ef" * 20)),
    _ind(14, ("net", "192.0.2.16/28")),
    _ind(15, ("domain", "evil.com"), ("ip", "203.0.113.9")),
]

# (kind, raw value) -> the indicator numbers it must hit (by the reference semantics)
PLANTED: list[tuple[str, str, set[int]]] = [
    ("domain", "evil.com", {1, 15}),
    ("domain", "EVIL.COM.", {1, 15}),
    ("domain", "a.B.Evil.Com", {1, 2, 15}),
    ("host", "Bücher.example", {3}),
    ("domain", "www.xn--bcher-kva.example.", {3}),
    ("ip", "10.0.0.0", {4}),
    ("ip", "10.255.255.255", {4}),
    ("ip", "10.1.2.3", {4, 5, 6}),
    ("host", "10.1.255.255", {4, 5}),
    ("ip", "2001:db8:0:0:0:0:0:1", {7, 8}),
    ("ip", "2001:DB8:FFFF::", {7}),
    ("sha256", "AB" * 32, {9}),
    ("hash", "cD" * 16, {10}),
    ("url", "HTTP://EVIL.com/gate.php?id=1", {11}),
    ("endpoint", "198.51.100.7|443", {12}),
    ("x509", ":".join(["EF"] * 20), {13}),
    ("ip", "192.0.2.16", {14}),
    ("ip", "192.0.2.31", {14}),
    ("ip", "203.0.113.9", {15}),
]
# Near misses: each is outside every indicator by construction.
BACKGROUND: list[tuple[str, str]] = [
    ("domain", "notevil.com"),
    ("domain", "evil.com.au"),
    ("domain", "evil.co"),
    ("host", "xn--bcher-kva.example.org"),
    ("ip", "9.255.255.255"),
    ("ip", "11.0.0.0"),
    ("ip", "192.0.2.15"),
    ("ip", "192.0.2.32"),
    ("ip", "2001:db9::1"),
    ("sha256", "ab" * 31 + "ac"),
    ("md5", "cd" * 15 + "ce"),
    ("url", "http://evil.com/gate.php?id=2"),
    ("endpoint", "198.51.100.7|444"),
    ("endpoint", "198.51.100.8|443"),
    ("x509", "ef" * 19 + "ee"),
    ("domain", "."),
    ("ip", "not-an-address"),
    ("hash", "zz" * 16),
]


def _number(indicator_id: str) -> int:
    return int(indicator_id.split("--")[1][:8])


def _records(seed: int, n: int) -> tuple[list[Record], dict[tuple[int, str], set[int]]]:
    """Records mixing background and planted values; what each record must hit."""
    rng = random.Random(seed)
    records: list[Record] = []
    expected: dict[tuple[int, str], set[int]] = {}
    for row in range(n):
        values = rng.sample(BACKGROUND, 3)
        if rng.random() < 0.3:
            kind, raw, hits = rng.choice(PLANTED)
            values.insert(rng.randrange(4), (kind, raw))
            expected.setdefault((row, raw), set()).update(hits)
        records.append(
            Record(source="gen", line=row + 1, log="gen", rid=f"r{row}", ts=None, values=values)
        )
    return records, expected


@pytest.fixture(params=["reference", "columnar"])
def matcher(request: pytest.FixtureRequest) -> Any:
    m = ReferenceMatcher() if request.param == "reference" else ColumnarMatcher()
    m.apply(Delta(added=INDICATORS))
    yield m
    if isinstance(m, ColumnarMatcher):
        m.close()


def test_planted_values_hit_exactly_their_indicators(matcher: Any) -> None:
    records, expected = _records(1, 400)
    hits = matcher.match(records)
    got: dict[tuple[int, str], set[int]] = {}
    for hit in hits:
        raw = next(
            raw
            for kind, raw in records[hit.row].values
            if (kind, raw) in {(k, r) for k, r, _ in PLANTED}
        )
        got.setdefault((hit.row, raw), set()).update(_number(i) for i in hit.indicators)
    assert got == expected  # no miss, no false positive on the background
    assert expected, "the generator planted nothing"


def test_columnar_and_reference_give_identical_hits() -> None:
    records, _ = _records(2, 3000)
    ref = ReferenceMatcher()
    col = ColumnarMatcher()
    for m in (ref, col):
        m.apply(Delta(added=INDICATORS))
    assert col.match(records) == ref.match(records)
    # and after an incremental change: two indicators gone, one new
    change = Delta(
        removed=[INDICATORS[3].id, INDICATORS[0].id], added=[_ind(99, ("domain", "com"))]
    )
    for m in (ref, col):
        m.apply(change)
    after = ref.match(records)
    assert col.match(records) == after
    assert all(INDICATORS[3].id not in h.indicators for h in after)
    assert any("indicator--00000099" in i for h in after for i in h.indicators)
    col.close()


def test_every_containing_cidr_is_named() -> None:
    nets = [
        _ind(100 + p, ("net", str(ipaddress.ip_network(f"172.16.5.9/{p}", strict=False))))
        for p in range(8, 33)
    ]
    records = [Record(source="s", line=1, log="l", rid="r", ts=None, values=[("ip", "172.16.5.9")])]
    for m in (ReferenceMatcher(), ColumnarMatcher()):
        m.apply(Delta(added=nets))
        (hit,) = m.match(records)
        assert len(hit.indicators) == len(nets)


def test_compile_reports_what_it_cannot_index() -> None:
    assert compile_pattern("x", "[domain-name:value LIKE '%.evil.com']").reason.startswith(  # type: ignore[union-attr]
        "operator LIKE"
    )
    assert (
        "inside OR"
        in compile_pattern(  # type: ignore[union-attr]
            "x", "[domain-name:value = 'a.com'] OR [domain-name:value MATCHES '^b']"
        ).reason
    )
    keys, simple = compile_pattern(
        "x", "[domain-name:value = 'a.com'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.4']"
    )  # type: ignore[misc]
    assert simple is False and {k.kind for k in keys} == {"domain", "ip"}
    keys, simple = compile_pattern(  # type: ignore[misc]
        "x", "[network-traffic:dst_ref.value = '198.51.100.7' AND network-traffic:dst_port = 443]"
    )
    assert simple and keys == (Key("endpoint", "198.51.100.7|443"),)
    found = compile_indicator(
        {"type": "indicator", "id": "indicator--x", "pattern": "rule x {}", "pattern_type": "yara"}
    )
    assert found.reason == "pattern_type 'yara' is not matched"  # type: ignore[union-attr]


ZEEK_DNS = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tdns
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]
"""


def test_zeek_fast_path_equals_the_line_reader(tmp_path: Path) -> None:
    rng = random.Random(5)
    lines = [ZEEK_DNS]
    for i in range(5000):
        query = rng.choice(["a.b.EVIL.com.", "benign.org", "Bücher.example", "x.notevil.com", "-"])
        answers = rng.choice(["10.1.2.3,203.0.113.9", "(empty)", "-", "192.0.2.15", "2001:db8::5"])
        lines.append(
            f"{1763800000 + i}.5\tC{i}\t192.168.1.{i % 250}\t5353\t198.51.100.7"
            f"\t{rng.choice(['53', '443'])}\tudp\t{query}\t{answers}\n"
        )
    lines.insert(40, "this line is broken\n")
    path = tmp_path / "dns.log"
    path.write_text("".join(lines) + "#close\t2026-11-22-00-00-00\n")

    col = ColumnarMatcher()
    col.apply(Delta(added=INDICATORS))
    scan = col.scan_zeek(path, 700)
    fast: list[Record] = []
    for batch in scan:
        # the hits the scan hands on are the ones the matcher finds in its records
        assert scan.hits(batch) == col.match(batch)
        fast.extend(batch)
    fast_hits = {(r.rid, h.kind, h.value, h.indicators) for r, h in _with_hits(col, fast)}
    assert scan.stats.records == 5000
    # the header is 7 lines, so list element 40 is line 47 of the file
    assert [bad.line for bad in scan.stats.bad_lines] == [47]

    reader = read(str(path))
    slow = list(reader)
    assert reader.stats.bad == 1 and reader.stats.bad_lines[0].line == 47
    ref = ReferenceMatcher()
    ref.apply(Delta(added=INDICATORS))
    slow_hits = {(r.rid, h.kind, h.value, h.indicators) for r, h in _with_hits(ref, slow)}
    assert fast_hits == slow_hits
    assert len(fast_hits) > 1000
    col.close()


def _with_hits(matcher: Any, records: list[Record]) -> list[tuple[Record, Any]]:
    return [(records[h.row], h) for h in matcher.match(records)]
