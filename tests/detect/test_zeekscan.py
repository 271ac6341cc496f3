"""The whole-file Zeek scan against the line reader, on the lines that make it leave its
fast path: broken, blank, JSON and escaped lines, unparsable times and ports, header blocks
in the middle, carriage returns, no final newline, lines longer than a block, gzip."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from mburoja.detect.columnar import ColumnarMatcher
from mburoja.detect.index import Delta
from mburoja.detect.model import Record
from mburoja.detect.readers import read
from mburoja.detect.reference import ReferenceMatcher
from tests.detect.indicators import compiled

INDICATORS = [
    compiled(1, "domain", "evil.com"),
    compiled(2, "net", "10.1.0.0/16"),
    compiled(3, "ip", "203.0.113.9"),
    compiled(4, "endpoint", "198.51.100.7|443"),
    compiled(5, "sha256", "ab" * 32),
    compiled(6, "url", "http://evil.com/gate.php"),
]

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{path}\n"
    "#open\t2026-11-22-00-00-00\n#fields\t{fields}\n#types\t{types}\n"
)
DNS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "query", "answers"]
HTTP = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "host", "uri"]


def _header(path: str, fields: list[str]) -> str:
    types = "\t".join("vector[string]" if f == "answers" else "string" for f in fields)
    return HEADER.format(path=path, fields="\t".join(fields), types=types)


def _dns_line(rng: random.Random, i: int) -> str:
    query = rng.choice(["a.EVIL.com", "benign.org", "evil.com.", "x.notevil.com", "-", "(empty)"])
    answers = rng.choice(["10.1.2.3,198.51.100.1", "(empty)", "-", "203.0.113.9", "8.8.8.8"])
    port = rng.choice(["53", "443", "-"])
    uid = "-" if i % 97 == 0 else f"C{i}"
    ts, client = f"{1763800000 + i}.25", f"192.168.1.{i % 250}"
    return f"{ts}\t{uid}\t{client}\t5353\t198.51.100.7\t{port}\tudp\t{query}\t{answers}"


def _messy_log(rng: random.Random) -> str:
    lines = [_header("dns", DNS)]
    for i in range(3000):
        lines.append(_dns_line(rng, i) + "\n")
        if i == 100:
            lines.append("this line is broken\n")
        if i == 200:
            lines.append("\n")
        if i == 300:
            lines.append("   \t\t\t\t\t\t\t\t\n")  # blank, and as wide as a row
        if i == 400:
            lines.append('{"_path": "dns", "ts": 1763800400.5, "uid": "CJ", "query": "evil.com"}\n')
        if i == 500:
            lines.append(
                "1763800500.0\tCX\t1.1.1.1\t1\t2.2.2.2\t53\tudp\tevil\\x2ecom\t-\n"
            )  # escaped
        if i == 600:
            lines.append("yesterday\tCT\t1.1.1.1\t1\t2.2.2.2\t53\tudp\tevil.com\t-\n")  # bad time
        if i == 700:
            lines.append("1763800700.0\tCP\t1.1.1.1\t1\t2.2.2.2\t99999\tudp\tevil.com\t-\n")  # port
        if i == 800:
            lines.append("{not json at all}\n")
        if i == 900:  # longer than the smallest block below
            name = ".".join(["label"] * 60) + ".evil.com"
            lines.append(f"1763800900.0\tCL\t1.1.1.1\t1\t2.2.2.2\t53\tudp\t{name}\t-\n")
        if i == 1500:
            # a rotated log appended: a new header block with other columns
            lines.append("#close\t2026-11-22-01-00-00\n")
            lines.append(_header("http", HTTP))
            for j in range(200):
                host = rng.choice(["evil.com", "ok.org", "-"])
                uri = rng.choice(["/gate.php", "/x", "-"])
                lines.append(
                    f"{1763900000 + j}.5\tH{j}\t10.9.9.9\t1234\t198.51.100.7\t443\t{host}\t{uri}\n"
                )
            lines.append("#close\t2026-11-22-02-00-00\n")
            lines.append("#fields\tts\tfuid\tsha256\n")  # no #path: the file name tells
            lines.append("#types\ttime\tstring\tstring\n")
            lines.append("1763950000.0\tF1\t" + "AB" * 32 + "\n")
            lines.append(_header("weird", ["ts", "uid", "name"]))
            lines.append("1763950001.0\tCW\tbad_TCP_checksum\n")  # a log the matcher skips
            lines.append(_header("dns", DNS))
    lines.append("#close\t2026-11-22-03-00-00\n")
    lines.append(_dns_line(rng, 9999))  # no final newline
    return "".join(lines)


def _compare(path: Path, chunk: int) -> tuple[int, int]:
    col = ColumnarMatcher()
    col.apply(Delta(added=INDICATORS))
    ref = ReferenceMatcher()
    ref.apply(Delta(added=INDICATORS))

    scan = col.scan_zeek(path, 50)
    scan.chunk = chunk
    fast: list[Record] = []
    fast_hits = set()
    for batch in scan:
        found = scan.hits(batch)
        assert found == col.match(batch)
        fast_hits |= {(batch[h.row].rid, h.kind, h.value, h.indicators) for h in found}
        fast.extend(batch)

    reader = read(str(path))
    slow = list(reader)
    slow_found = ref.match(slow)
    slow_hits = {(slow[h.row].rid, h.kind, h.value, h.indicators) for h in slow_found}
    hit_records = sorted({h.row for h in slow_found})

    assert fast_hits == slow_hits
    # the records that hit, field for field and in file order
    assert fast == [slow[row] for row in hit_records]
    a, b = scan.stats, reader.stats
    assert (a.lines, a.records, a.bad, a.ignored) == (b.lines, b.records, b.bad, b.ignored)
    assert a.bad_lines == b.bad_lines
    col.close()
    return len(fast_hits), b.bad


@pytest.mark.parametrize("chunk", [1 << 20, 4096, 400])
def test_scan_equals_reader_on_a_messy_log(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "dns.log"
    path.write_text(_messy_log(random.Random(11)))
    hits, bad = _compare(path, chunk)
    assert hits > 500
    # broken, JSON-ish, bad time, bad port (the blank lines are not bad)
    assert bad == 4


def test_scan_reads_gzip_and_carriage_returns(tmp_path: Path) -> None:
    text = _messy_log(random.Random(12))
    gz = tmp_path / "dns.log.gz"
    with gzip.open(gz, "wt") as f:
        f.write(text)
    assert _compare(gz, 1 << 16)[0] > 500
    crlf = tmp_path / "dns.log"
    crlf.write_text(text.replace("\n", "\r\n"))
    assert _compare(crlf, 1 << 16)[0] > 500


def test_scan_of_a_log_nobody_matches_counts_every_line(tmp_path: Path) -> None:
    path = tmp_path / "weird.log"
    body = "".join(f"{i}.0\tC{i}\tname{i}\n" for i in range(500))
    path.write_text(_header("weird", ["ts", "uid", "name"]) + body)
    col = ColumnarMatcher()
    col.apply(Delta(added=INDICATORS))
    scan = col.scan_zeek(path)
    assert [r for batch in scan for r in batch] == []
    reader = read(str(path))
    assert list(reader) == []
    assert scan.stats.ignored == reader.stats.ignored == 500
    assert scan.stats.lines == reader.stats.lines == 508
    col.close()
