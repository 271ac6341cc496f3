"""Telemetry readers: every format, from sample logs written after the published formats.

The expected values below are read off the sample lines by hand (tests/detect/samples/).
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from mburoja.detect.columnar import ColumnarMatcher
from mburoja.detect.compile import Compiled
from mburoja.detect.index import Delta
from mburoja.detect.model import LOGS, Record, line_id, values_of
from mburoja.detect.readers import MAX_BAD_KEPT, Reader, detect_format, read
from mburoja.detect.readers.generic import nested_get
from mburoja.detect.readers.source import open_lines
from mburoja.detect.reference import ReferenceMatcher
from mburoja.errors import ConfigError, InputFormatError
from tests.detect.indicators import compiled

SAMPLES = Path(__file__).parent / "samples"
TSV = SAMPLES / "zeek-tsv"
JSON = SAMPLES / "zeek-json"
EVE = SAMPLES / "eve" / "eve.json"


def by_line(reader: Reader) -> dict[int, Record]:
    records = list(reader)
    assert len({record.line for record in records}) == len(records)
    return {record.line: record for record in records}


def summary(record: Record) -> tuple[Any, ...]:
    return (record.log, record.rid, record.src_ip, record.dst_ip, record.dst_port, record.proto)


# --- Zeek TSV -------------------------------------------------------------------------


def test_zeek_tsv_dns_splits_answers_drops_unset_and_unescapes() -> None:
    reader = read(str(TSV / "dns.log"))
    got = by_line(reader)
    assert reader.format == "zeek"
    assert sorted(got) == [9, 10, 11, 12]
    first = got[9]
    assert first.source == str(TSV / "dns.log")
    assert summary(first) == (
        "zeek.dns",
        "zeek.dns:CHhAvVGS1DHFjwGM9:1700000000.123456",
        "10.0.0.5",
        "10.0.0.1",
        53,
        "udp",
    )
    assert first.ts == pytest.approx(1700000000.123456)
    assert first.values == [
        ("ip", "10.0.0.5"),
        ("ip", "10.0.0.1"),
        ("domain", "www.example.com"),
        ("host", "198.51.100.7"),
        ("host", "198.51.100.8"),
        ("endpoint", "10.0.0.1|53"),
    ]
    assert got[10].values == [
        ("ip", "2001:db8::5"),
        ("ip", "2001:db8::1"),
        ("domain", "cdn.example.net"),
        ("host", "edge.example.net"),
        ("host", "2001:db8:100::7"),
        ("endpoint", "2001:db8::1|53"),
    ]
    assert got[10].rid == "zeek.dns:CdSbXx3cLkzCDTZ1b:1700000001.500000"  # ts text as written
    # answers "-" is unset: no host value at all
    assert [kind for kind, _ in got[11].values] == ["ip", "ip", "domain", "endpoint"]
    assert ("domain", "bücher.example") in got[12].values  # b\xc3\xbccher.example
    assert reader.stats.lines == 13
    assert (reader.stats.records, reader.stats.bad, reader.stats.ignored) == (4, 0, 0)


def test_zeek_tsv_conn_keeps_icmp_port_zero_and_leaves_empty_sets_out() -> None:
    got = by_line(read(str(TSV / "conn.log")))
    assert summary(got[9]) == (
        "zeek.conn",
        "zeek.conn:CUM0KZ3MLUfNB0cl11:1700000100.000001",
        "10.0.0.5",
        "203.0.113.10",
        443,
        "tcp",
    )
    assert got[9].values == [
        ("ip", "10.0.0.5"),
        ("ip", "203.0.113.10"),
        ("endpoint", "203.0.113.10|443"),
    ]
    assert got[10].dst_ip == "224.0.0.251" and got[10].dst_port == 5353
    assert got[11].proto == "icmp" and got[11].dst_port == 0
    assert got[11].values[-1] == ("endpoint", "198.51.100.99|0")


def test_zeek_tsv_http_builds_the_url_from_host_and_uri() -> None:
    got = by_line(read(str(TSV / "http.log")))
    assert got[9].values == [
        ("ip", "10.0.0.5"),
        ("ip", "203.0.113.20"),
        ("host", "www.example.com"),
        ("url", "http://www.example.com/download/tool.exe?id=7"),
        ("endpoint", "203.0.113.20|80"),
    ]
    assert got[9].proto is None  # http.log has no proto column
    assert got[9].rid == "zeek.http:CHttp1aaaaaaaaaaaa:1700000200.100000"
    # CONNECT: host unset, uri is host:port, so neither a host nor a URL
    assert got[10].values == [
        ("ip", "10.0.0.6"),
        ("ip", "203.0.113.21"),
        ("endpoint", "203.0.113.21|8080"),
    ]


def test_zeek_tsv_ssl_reads_sni_and_every_chain_fingerprint() -> None:
    got = by_line(read(str(TSV / "ssl.log")))
    assert got[9].values == [
        ("ip", "10.0.0.5"),
        ("ip", "203.0.113.30"),
        ("domain", "login.example.com"),
        ("x509", "3f1c2a9b7d4e5f60718293a4b5c6d7e8f9012345"),
        ("x509", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"),
        ("endpoint", "203.0.113.30|443"),
    ]
    assert [kind for kind, _ in got[10].values] == ["ip", "ip", "endpoint"]


def test_zeek_tsv_files_reads_two_header_blocks_with_different_columns() -> None:
    reader = read(str(TSV / "files.log"))
    got = by_line(reader)
    assert sorted(got) == [9, 18]
    old = got[9]  # Zeek <= 5.0 layout: tx_hosts / rx_hosts sets
    assert summary(old) == (
        "zeek.files",
        "zeek.files:FmTr4k2JnRh1Y8Vd7:1700000400.000000",
        None,
        None,
        None,
        None,
    )
    assert old.values == [
        ("ip", "203.0.113.20"),
        ("ip", "10.0.0.5"),
        ("md5", "0cc175b9c0f1b6a831c399e269772661"),
        ("sha1", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"),
    ]
    new = got[18]  # second block, Zeek 5.1+ layout: uid and id.* instead, a sha256 too
    assert summary(new) == (
        "zeek.files",
        "zeek.files:FZr1bGp0Y8fZ1mV6c:1700000401.000000",
        "10.0.0.5",
        "203.0.113.30",
        443,
        None,
    )
    assert new.values == [
        ("ip", "10.0.0.5"),
        ("ip", "203.0.113.30"),
        ("md5", "92eb5ffee6ae2fec3ad71c777531578f"),
        ("sha1", "e9d71f5ee7c92d6dc9e92ffdad17b8bd49418f98"),
        ("sha256", "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"),
        ("endpoint", "203.0.113.30|443"),
    ]
    assert reader.stats.bad == 0


#: files.uid-id.log (TSV and JSON) as Zeek 5.1+ writes it: the records by line, as
#: (record id, source address, destination address and port, values).
FILES_5_1 = {
    1: (
        "zeek.files:FKb3wq1mJ3Zx0aVhQe:1717228860.250000",
        ("10.0.0.5", "203.0.113.20", 80),
        [
            ("ip", "10.0.0.5"),
            ("ip", "203.0.113.20"),
            ("md5", "224fea0d423ad575898a3f1b3f1cf305"),
            ("sha1", "90afc999eb82bb67841656745eb10e887046ecce"),
            ("endpoint", "203.0.113.20|80"),
        ],
    ),
    # the same connection (uid) carries a second file: its own record (fuid), no hashes
    2: (
        "zeek.files:FqR9sT2uVw4XyZa1bC:1717228860.900000",
        ("10.0.0.5", "203.0.113.20", 80),
        [("ip", "10.0.0.5"), ("ip", "203.0.113.20"), ("endpoint", "203.0.113.20|80")],
    ),
    3: (
        "zeek.files:FsMtp4AttachPdf01:1717228920.000000",
        ("2001:db8::5", "2001:db8::25", 25),
        [
            ("ip", "2001:db8::5"),
            ("ip", "2001:db8::25"),
            ("md5", "a3da549ba4291b9808be8d8bc44e22d2"),
            ("sha1", "5917965a1527a11e771e11bec277e83909c064cf"),
            ("sha256", "3a92a969e563262073a86ff01aa5d1cee3e795d14b95c724ea1013a0c9585650"),
            ("endpoint", "2001:db8::25|25"),
        ],
    ),
    # read from disk, not from the network: uid and id unset
    4: (
        "zeek.files:FdIsk0Input000001:1717228980.000000",
        (None, None, None),
        [
            ("md5", "7bba39527c86147cfb7775af1f00322f"),
            ("sha1", "c136ef5de7c53c39dbf937c943951878338a6d1a"),
            ("sha256", "f3146b681d4ecdec1229686650fadf9ce46e79321594a470ca7c1f406bfcae14"),
        ],
    ),
}


@pytest.mark.parametrize(
    ("path", "first_line"), [(TSV / "files.uid-id.log", 9), (JSON / "files.uid-id.log", 1)]
)
def test_zeek_files_since_5_1_reads_the_connection_and_keeps_the_file_id(
    path: Path, first_line: int
) -> None:
    reader = read(str(path))
    got = list(reader)
    assert (reader.stats.records, reader.stats.bad) == (4, 0)
    assert [record.line - first_line + 1 for record in got] == [1, 2, 3, 4]
    for n, record in enumerate(got, 1):
        rid, (src, dst, port), values = FILES_5_1[n]
        assert record.log == "zeek.files"
        assert (record.rid, record.src_ip, record.dst_ip, record.dst_port) == (rid, src, dst, port)
        assert record.values == values
        assert record.proto is None  # files.log has no proto column
    assert got[0].ts == pytest.approx(1717228860.25)


def test_zeek_files_with_both_layouts_keeps_each_address_once(tmp_path: Path) -> None:
    """Zeek 5.1 to 6.0 with policy/frameworks/files/deprecated-txhosts-rxhosts-connuids log
    the old fields beside the new ones: the sender and receiver are the connection's."""
    line = orjson.loads((JSON / "files.uid-id.log").read_bytes().splitlines()[0])
    line |= {"tx_hosts": ["203.0.113.20"], "rx_hosts": ["10.0.0.5"], "conn_uids": [line["uid"]]}
    path = tmp_path / "files.log"
    path.write_bytes(orjson.dumps(line) + b"\n")
    [record] = list(read(str(path)))
    assert record.values == FILES_5_1[1][2]
    tsv = tmp_path / "both" / "files.log"
    tsv.parent.mkdir()
    text = (TSV / "files.uid-id.log").read_text().splitlines()
    fields = text[6] + "\ttx_hosts\trx_hosts\tconn_uids"
    types = text[7] + "\tset[addr]\tset[addr]\tset[string]"
    row = text[8] + "\t203.0.113.20\t10.0.0.5\tCHhttp7Qy2nE4Lp1Da"
    tsv.write_text("\n".join([*text[:6], fields, types, row]) + "\n")
    [record] = list(read(str(tsv)))
    assert record.values == FILES_5_1[1][2]


def _fast_and_slow(path: Path, indicators: list[Compiled]) -> tuple[list[Any], list[Any]]:
    """The records of a Zeek TSV file that hit ``indicators``: from the columnar fast path
    and from the line reader, as comparable tuples."""

    def key(record: Record) -> tuple[Any, ...]:
        return (*summary(record), record.ts, record.values)

    col = ColumnarMatcher()
    try:
        col.apply(Delta(added=indicators))
        fast = [key(r) for batch in col.scan_zeek(path) for r in batch]
    finally:
        col.close()
    ref = ReferenceMatcher()
    ref.apply(Delta(added=indicators))
    records = list(read(str(path)))
    slow = [key(records[row]) for row in sorted({hit.row for hit in ref.match(records)})]
    return sorted(fast), sorted(slow)


def test_zeek_files_fast_path_gives_the_line_readers_records_in_either_layout(
    tmp_path: Path,
) -> None:
    indicators = [
        compiled(1, "ip", "203.0.113.20"),  # 5.1+: records 1 and 2; before: tx_hosts
        compiled(2, "md5", "a3da549ba4291b9808be8d8bc44e22d2"),
        compiled(3, "sha256", "f3146b681d4ecdec1229686650fadf9ce46e79321594a470ca7c1f406bfcae14"),
        compiled(4, "endpoint", "2001:db8::25|25"),
    ]
    fast, slow = _fast_and_slow(TSV / "files.uid-id.log", indicators)
    assert fast == slow
    assert [row[1] for row in fast] == sorted(rid for rid, _, _ in FILES_5_1.values())
    old = tmp_path / "files.log"  # the first block of the two-layout sample: Zeek <= 5.0
    old.write_text("\n".join((TSV / "files.log").read_text().splitlines()[:9]) + "\n")
    fast, slow = _fast_and_slow(old, indicators)
    assert fast == slow
    assert [row[1] for row in fast] == ["zeek.files:FmTr4k2JnRh1Y8Vd7:1700000400.000000"]


def test_zeek_tsv_x509_splits_vectors_but_not_a_subject_with_commas() -> None:
    got = by_line(read(str(TSV / "x509.log")))
    record = got[9]
    assert record.rid == "zeek.x509:3f1c2a9b7d4e5f60718293a4b5c6d7e8f9012345:1700000500.000000"
    assert record.values == [
        ("x509", "3f1c2a9b7d4e5f60718293a4b5c6d7e8f9012345"),
        ("domain", "login.example.com"),
        ("domain", "*.login.example.com"),
        ("ip", "192.0.2.10"),
        ("email", "admin@example.com"),
    ]
    assert record.src_ip is None and record.dst_port is None


def test_zeek_log_types_the_matcher_does_not_read_are_ignored_not_bad() -> None:
    reader = read(str(TSV / "weird.log"))
    assert list(reader) == []
    assert (reader.stats.ignored, reader.stats.bad) == (1, 0)


def _tsv_get(path: Path, number: int) -> tuple[str, Callable[[str], Any]]:
    """An independent reading of one TSV line: the columns of the block above it, sets and
    vectors split, unset and empty fields as None."""
    lines = path.read_text().splitlines()
    fields: list[str] = []
    types: list[str] = []
    log = ""
    for line in lines[: number - 1]:
        if line.startswith("#fields\t"):
            fields = line.split("\t")[1:]
        elif line.startswith("#types\t"):
            types = line.split("\t")[1:]
        elif line.startswith("#path\t"):
            log = line.split("\t")[1]
    cells = lines[number - 1].split("\t")
    row: dict[str, Any] = {}
    for name, kind, cell in zip(fields, types, cells, strict=True):
        if cell in ("-", "(empty)"):
            row[name] = None
        elif kind.startswith(("set[", "vector[")):
            row[name] = cell.split(",")
        else:
            row[name] = cell
    return f"zeek.{log}", row.get


ZEEK_LOGS = [
    "dns.log",
    "conn.log",
    "http.log",
    "ssl.log",
    "files.log",
    "files.uid-id.log",
    "x509.log",
]


@pytest.mark.parametrize("name", ZEEK_LOGS)
def test_zeek_tsv_values_agree_with_the_model_values_of(name: str) -> None:
    """The TSV fast path must give what ``values_of`` gives on the same line."""
    for record in read(str(TSV / name)):
        log, get = _tsv_get(TSV / name, record.line)
        expected = values_of(LOGS[log], get)
        if record.line == 12 and name == "dns.log":  # the escaped name, undone by the reader
            expected = [(k, "bücher.example" if k == "domain" else v) for k, v in expected]
        assert record.values == expected


# --- Zeek JSON ------------------------------------------------------------------------


def test_zeek_json_dns_takes_its_type_from_the_file_name_and_reads_iso_times() -> None:
    reader = read(str(JSON / "dns.log"))
    got = by_line(reader)
    assert summary(got[1]) == (
        "zeek.dns",
        "zeek.dns:CHhAvVGS1DHFjwGM9:1700000000.123456",
        "10.0.0.5",
        "10.0.0.1",
        53,
        "udp",
    )
    assert got[1].values == [
        ("ip", "10.0.0.5"),
        ("ip", "10.0.0.1"),
        ("domain", "www.example.com"),
        ("host", "198.51.100.7"),
        ("host", "198.51.100.8"),
        ("endpoint", "10.0.0.1|53"),
    ]
    iso = got[2]
    assert iso.ts == pytest.approx(1700000001.5)  # 2023-11-14T22:13:21.5Z
    assert iso.rid == "zeek.dns:CdSbXx3cLkzCDTZ1b:2023-11-14T22:13:21.500000Z"
    assert ("host", "2001:db8:100::7") in iso.values


def test_zeek_json_conn_keeps_the_ts_text_exactly_and_ignores_other_paths() -> None:
    reader = read(str(JSON / "conn.log"))
    got = by_line(reader)
    # "ts":1700000100.100000 stays as written, not 1700000100.1
    assert got[1].rid == "zeek.conn:CUM0KZ3MLUfNB0cl11:1700000100.100000"
    assert got[1].values == [
        ("ip", "10.0.0.5"),
        ("ip", "203.0.113.10"),
        ("endpoint", "203.0.113.10|443"),
    ]
    assert (got[2].dst_port, got[2].proto) == (0, "icmp")
    assert 3 not in got  # _path weird
    assert (reader.stats.records, reader.stats.ignored) == (2, 1)


@pytest.mark.parametrize(
    ("name", "log", "values"),
    [
        (
            "http.log",
            "zeek.http",
            [
                ("ip", "10.0.0.5"),
                ("ip", "203.0.113.20"),
                ("host", "www.example.com"),
                ("url", "http://www.example.com/download/tool.exe?id=7"),
                ("endpoint", "203.0.113.20|80"),
            ],
        ),
        (
            "ssl.log",
            "zeek.ssl",
            [
                ("ip", "10.0.0.5"),
                ("ip", "203.0.113.30"),
                ("domain", "login.example.com"),
                ("x509", "3f1c2a9b7d4e5f60718293a4b5c6d7e8f9012345"),
                ("x509", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"),
                ("endpoint", "203.0.113.30|443"),
            ],
        ),
        (
            "files.log",
            "zeek.files",
            [
                ("ip", "203.0.113.20"),
                ("ip", "10.0.0.5"),
                ("md5", "0cc175b9c0f1b6a831c399e269772661"),
                ("sha1", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"),
            ],
        ),
        (
            "x509.log",
            "zeek.x509",
            [
                ("x509", "3f1c2a9b7d4e5f60718293a4b5c6d7e8f9012345"),
                ("domain", "login.example.com"),
                ("domain", "*.login.example.com"),
                ("ip", "192.0.2.10"),
                ("email", "admin@example.com"),
            ],
        ),
    ],
)
def test_zeek_json_logs_read_lists_as_sets(name: str, log: str, values: list[Any]) -> None:
    [record] = list(read(str(JSON / name)))
    assert (record.log, record.line) == (log, 1)
    assert record.values == values


def test_zeek_json_rids_use_the_file_id_or_fingerprint() -> None:
    [files] = list(read(str(JSON / "files.log")))
    [cert] = list(read(str(JSON / "x509.log")))
    assert files.rid == "zeek.files:FmTr4k2JnRh1Y8Vd7:1700000400.0"
    assert cert.rid == "zeek.x509:3f1c2a9b7d4e5f60718293a4b5c6d7e8f9012345:1700000500.0"
    assert cert.ts == 1700000500.0


# --- Suricata EVE ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def eve() -> tuple[dict[int, Record], Any]:
    reader = read(str(EVE))
    return by_line(reader), reader.stats


def test_eve_dns_v2_query_and_answer(eve: tuple[dict[int, Record], Any]) -> None:
    got, _ = eve
    query = got[1]
    assert summary(query) == (
        "suricata.dns",
        "suricata.dns:1234567890123456:2023-11-14T22:13:20.123456+0000",
        "10.0.0.5",
        "10.0.0.1",
        53,
        "UDP",
    )
    assert query.ts == pytest.approx(1700000000.123456)
    assert query.values == [
        ("ip", "10.0.0.5"),
        ("ip", "10.0.0.1"),
        ("domain", "www.example.com"),
        ("endpoint", "10.0.0.1|53"),
    ]
    answer = got[2]
    assert answer.values == [
        ("ip", "10.0.0.1"),
        ("ip", "10.0.0.5"),
        ("domain", "www.example.com"),
        ("host", "web.example.com"),  # answers[].rdata, in answer order
        ("host", "198.51.100.7"),  # grouped.A and grouped.CNAME say the same again
        ("endpoint", "10.0.0.5|53211"),
    ]


def test_eve_dns_v3_request_and_response(eve: tuple[dict[int, Record], Any]) -> None:
    got, _ = eve
    assert got[3].values == [
        ("ip", "10.0.0.6"),
        ("ip", "10.0.0.1"),
        ("domain", "update.example.org"),  # queries[].rrname
        ("endpoint", "10.0.0.1|53"),
    ]
    assert got[3].ts == pytest.approx(1717228800.000001)  # 2024-06-01T08:00:00.000001Z
    assert got[4].rid == "suricata.dns:2222222222222222:2024-06-01T08:00:00.020001+0000"
    assert got[4].values == [
        ("ip", "10.0.0.1"),
        ("ip", "10.0.0.6"),
        ("domain", "update.example.org"),
        ("host", "203.0.113.50"),
        ("host", "203.0.113.51"),
        ("endpoint", "10.0.0.6|53000"),
    ]


def test_eve_dns_answers_logged_both_detailed_and_grouped_count_once() -> None:
    """Suricata's default ``formats: [detailed, grouped]`` writes each answer twice."""
    got = by_line(read(str(SAMPLES / "eve" / "dns-answers.json")))
    assert got[1].values == [  # v3
        ("ip", "10.0.0.1"),
        ("ip", "10.0.0.7"),
        ("domain", "www.example.org"),
        ("host", "edge.cdn.example.net"),
        ("host", "203.0.113.60"),
        ("host", "203.0.113.61"),
        ("endpoint", "10.0.0.7|53100"),
    ]
    assert got[2].values == [  # v2, AAAA
        ("ip", "10.0.0.7"),
        ("ip", "10.0.0.1"),
        ("domain", "v6.example.org"),
        ("host", "2001:db8:200::10"),
        ("endpoint", "10.0.0.1|53"),
    ]
    assert got[3].values == [  # grouped only: grouped.A, then grouped.CNAME
        ("ip", "10.0.0.1"),
        ("ip", "10.0.0.7"),
        ("domain", "alias.example.org"),
        ("host", "198.51.100.30"),
        ("host", "alias.example.net"),
        ("endpoint", "10.0.0.7|53102"),
    ]
    for record in got.values():
        assert len(set(record.values)) == len(record.values)


def test_values_of_keeps_each_pair_once_in_first_seen_order() -> None:
    event = {
        "src_ip": "10.0.0.1",
        "dest_ip": "10.0.0.1",  # a resolver asking itself
        "dns": {
            "answers": [{"rdata": "a.example"}, {"rdata": "192.0.2.1"}, {"rdata": "a.example"}],
            "grouped": {"A": ["192.0.2.1", "192.0.2.2"], "CNAME": ["a.example"]},
        },
    }
    assert values_of(LOGS["suricata.dns"], lambda path: nested_get(event, path)) == [
        ("ip", "10.0.0.1"),
        ("host", "a.example"),
        ("host", "192.0.2.1"),
        ("host", "192.0.2.2"),
    ]


def test_eve_http_tls_flow(eve: tuple[dict[int, Record], Any]) -> None:
    got, _ = eve
    assert got[5].log == "suricata.http"
    assert got[5].values == [
        ("ip", "10.0.0.5"),
        ("ip", "203.0.113.20"),
        ("host", "www.example.com"),
        ("url", "http://www.example.com/download/tool.exe?id=7"),
        ("endpoint", "203.0.113.20|80"),
    ]
    assert got[6].log == "suricata.tls"
    assert got[6].values == [
        ("ip", "10.0.0.5"),
        ("ip", "203.0.113.30"),
        ("domain", "login.example.com"),
        ("x509", "3f:1c:2a:9b:7d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9:01:23:45"),
        ("endpoint", "203.0.113.30|443"),
    ]
    assert summary(got[7]) == (
        "suricata.flow",
        "suricata.flow:5555555555555555:2023-11-14T22:20:00.000000+0000",
        "10.0.0.8",
        "224.0.0.251",
        5353,
        "UDP",
    )
    icmp = got[8]  # no ports in an ICMP flow: no port, no endpoint
    assert (icmp.dst_port, icmp.proto) == (None, "ICMP")
    assert icmp.values == [("ip", "10.0.0.9"), ("ip", "198.51.100.99")]


def test_eve_fileinfo_and_alerts(eve: tuple[dict[int, Record], Any]) -> None:
    got, _ = eve
    assert got[9].log == "suricata.fileinfo"
    assert got[9].values == [
        ("ip", "203.0.113.20"),
        ("ip", "10.0.0.5"),
        ("md5", "0cc175b9c0f1b6a831c399e269772661"),
        ("sha1", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"),
        ("sha256", "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"),
        ("host", "www.example.com"),
        ("url", "http://www.example.com/download/tool.exe?id=7"),
        ("endpoint", "10.0.0.5|49200"),
    ]
    assert got[10].log == "suricata.alert"
    assert got[10].ts == pytest.approx(1700000200.15)
    assert got[10].values == [
        ("ip", "203.0.113.20"),
        ("ip", "10.0.0.5"),
        ("host", "www.example.com"),
        ("url", "http://www.example.com/download/tool.exe?id=7"),
        ("endpoint", "10.0.0.5|49200"),
    ]
    assert got[11].values == [
        ("ip", "10.0.0.5"),
        ("ip", "203.0.113.30"),
        ("domain", "login.example.com"),
        ("x509", "3f:1c:2a:9b:7d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9:01:23:45"),
        ("endpoint", "203.0.113.30|443"),
    ]


def test_eve_stats_and_anomaly_events_are_ignored(eve: tuple[dict[int, Record], Any]) -> None:
    got, stats = eve
    assert sorted(got) == list(range(1, 12))
    assert (stats.lines, stats.records, stats.ignored, stats.bad) == (13, 11, 2, 0)


# --- Squid, CSV, JSON Lines -----------------------------------------------------------


def test_squid_native_access_log() -> None:
    path = SAMPLES / "other" / "access.log"
    lines = path.read_bytes().splitlines()
    reader = read(str(path))
    got = by_line(reader)
    assert reader.format == "squid"
    assert got[1].ts == pytest.approx(1700000700.123)
    assert got[1].rid == line_id("squid", lines[0])
    assert (got[1].src_ip, got[1].dst_ip) == ("10.0.0.5", "203.0.113.20")
    assert got[1].values == [
        ("ip", "10.0.0.5"),
        ("url", "http://www.example.com/index.html"),
        ("host", "www.example.com"),
    ]
    # CONNECT names host:port: the host, and no URL
    assert got[2].values == [("ip", "10.0.0.6"), ("host", "mail.example.org")]
    assert got[2].dst_ip == "203.0.113.40"
    # user info and port are not part of the host; HIER_NONE/- has no peer
    assert got[3].values == [
        ("ip", "10.0.0.7"),
        ("url", "http://user@cdn.example.net:8080/lib.js?v=2"),
        ("host", "cdn.example.net"),
    ]
    assert got[3].dst_ip is None
    assert got[4].values == [("ip", "10.0.0.8")]  # error:invalid-request is no URL
    assert got[5].values == [
        ("ip", "2001:db8::9"),
        ("url", "http://[2001:db8::80]/status"),
        ("host", "2001:db8::80"),
    ]
    assert got[5].dst_ip == "parent.proxy.example"
    assert len({record.rid for record in got.values()}) == 5


def test_csv_with_a_mapping_reads_epoch_and_iso_times_and_ids() -> None:
    reader = read(
        str(SAMPLES / "other" / "dns-proxy.csv"),
        fmt="csv",
        log="proxy",
        mapping={"client": "ip", "query": "domain", "answer": "host"},
        ts_field="time",
        id_field="event_id",
    )
    got = by_line(reader)
    assert sorted(got) == [2, 3, 4]  # line 1 is the header row
    assert (got[2].log, got[2].rid, got[2].ts) == ("proxy", "proxy:ev-1", 1700000800.5)
    assert got[2].values == [
        ("ip", "10.0.0.5"),
        ("domain", "www.example.com"),
        ("host", "198.51.100.7"),
    ]
    # 2023-11-14T23:33:21+01:00 is 22:33:21Z; the quoted comma stays in the value
    assert got[3].ts == 1700001201.0
    assert got[3].values == [("ip", "10.0.0.6"), ("domain", "odd,name.example.org")]
    # no event id: the record id is the line hash
    raw = (SAMPLES / "other" / "dns-proxy.csv").read_bytes().splitlines()[3]
    assert got[4].rid == line_id("proxy", raw)
    assert got[4].ts == 1700000802.0


def test_jsonl_with_nested_paths_and_list_steps() -> None:
    path = SAMPLES / "other" / "events.jsonl"
    reader = read(
        str(path),
        fmt="jsonl",
        mapping={
            "client.ip": "ip",
            "dns.question.name": "domain",
            "dns.answers[].data": "host",
            "url.full": "url",
        },
        ts_field="@timestamp",
        id_field="id",
    )
    got = by_line(reader)
    assert (got[1].log, got[1].rid) == ("jsonl", "jsonl:a1")
    assert got[1].ts == pytest.approx(1700001300.25)
    assert got[1].values == [
        ("ip", "10.0.0.5"),
        ("domain", "www.example.com"),
        ("host", "198.51.100.7"),
        ("host", "198.51.100.8"),
        ("url", "https://www.example.com/login"),
    ]
    assert got[2].ts == 1700001301.75
    assert got[2].rid == line_id("jsonl", path.read_bytes().splitlines()[1])
    assert got[2].values == [("ip", "10.0.0.6"), ("domain", "nx.example.org")]


def test_a_mapping_with_an_unknown_kind_is_refused_before_reading() -> None:
    with pytest.raises(ConfigError, match="unknown kind 'hostname'"):
        read(str(SAMPLES / "other" / "dns-proxy.csv"), fmt="csv", mapping={"query": "hostname"})
    with pytest.raises(ConfigError, match="mapping"):
        read(str(SAMPLES / "other" / "dns-proxy.csv"), fmt="csv")


# --- bad lines ------------------------------------------------------------------------


def test_bad_zeek_lines_are_counted_where_they_are_and_neighbours_still_parse() -> None:
    path = SAMPLES / "bad" / "dns.log"
    reader = read(str(path))
    got = by_line(reader)
    assert sorted(got) == [9, 13]
    assert got[13].values[2] == ("domain", "good-two.example.com")
    stats = reader.stats
    assert (stats.lines, stats.records, stats.bad) == (14, 2, 3)
    where = [(bad.source, bad.line) for bad in stats.bad_lines]
    assert where == [(str(path), 10), (str(path), 11), (str(path), 12)]
    reasons = [bad.reason for bad in stats.bad_lines]
    assert "expected 24 fields" in reasons[0]
    assert reasons[1].startswith("ts:")
    assert reasons[2].startswith("id.resp_p:") and "fiftythree" in reasons[2]


def test_bad_eve_lines_are_counted_where_they_are_and_neighbours_still_parse() -> None:
    path = SAMPLES / "bad" / "eve.json"
    reader = read(str(path))
    got = by_line(reader)
    assert sorted(got) == [1, 8]
    assert got[8].values[2] == ("domain", "good-two.example.com")
    stats = reader.stats
    assert (stats.records, stats.bad, stats.ignored) == (2, 4, 1)
    assert [bad.line for bad in stats.bad_lines] == [2, 3, 4, 5]
    reasons = [bad.reason for bad in stats.bad_lines]
    assert reasons[0].startswith("not JSON")
    assert reasons[1].startswith("timestamp:")
    assert reasons[2].startswith("dest_port:")
    assert reasons[3] == "not a JSON object"


def test_bad_lines_kept_are_capped_but_counted_exactly(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    good = (EVE.read_text().splitlines()[0] + "\n").encode()
    path.write_bytes(b"{broken\n" * (MAX_BAD_KEPT + 500) + good)
    reader = read(str(path), fmt="eve")
    assert [record.line for record in reader] == [MAX_BAD_KEPT + 501]
    assert reader.stats.bad == MAX_BAD_KEPT + 500
    assert len(reader.stats.bad_lines) == MAX_BAD_KEPT


def test_a_zeek_line_without_a_log_type_is_bad_and_says_how_to_fix(tmp_path: Path) -> None:
    line = (JSON / "dns.log").read_bytes().splitlines()[0]
    path = tmp_path / "capture"  # no _path, a name that tells nothing
    path.write_bytes(line + b"\n")
    reader = read(str(path))
    assert list(reader) == []
    assert "--log" in reader.stats.bad_lines[0].reason
    [record] = list(read(str(path), log="dns"))
    assert record.log == "zeek.dns"


# --- format detection, gzip, stdin ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (TSV / "dns.log", "zeek"),
        (JSON / "x509.log", "zeek"),
        (EVE, "eve"),
        (SAMPLES / "other" / "access.log", "squid"),
        (SAMPLES / "other" / "dns-proxy.csv", None),
        (SAMPLES / "other" / "events.jsonl", None),
    ],
)
def test_detect_format_from_the_first_line(path: Path, fmt: str | None) -> None:
    first = path.read_bytes().splitlines()[0]
    assert detect_format(first) == fmt


def test_an_unknown_format_fails_and_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="--format") as caught:
        read(str(SAMPLES / "other" / "dns-proxy.csv"))
    assert "line 1" in str(caught.value)


def test_a_missing_file_fails_when_the_reader_is_made(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"never\.log"):
        read(str(tmp_path / "never.log"), fmt="eve")


def test_gzip_input_and_a_rotated_zeek_file_name(tmp_path: Path) -> None:
    path = tmp_path / "dns.04:00:00-05:00:00.log.gz"
    with gzip.open(path, "wb") as zipped:
        zipped.write((JSON / "dns.log").read_bytes())
    got = by_line(read(str(path)))
    assert [record.log for record in got.values()] == ["zeek.dns", "zeek.dns"]
    assert got[1].rid == "zeek.dns:CHhAvVGS1DHFjwGM9:1700000000.123456"
    assert got[1].source == str(path)


def test_stdin_reads_concatenated_zeek_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (TSV / "dns.log").read_bytes() + (TSV / "conn.log").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    reader = read("-")
    records = list(reader)
    assert [record.log for record in records] == ["zeek.dns"] * 4 + ["zeek.conn"] * 3
    assert {record.source for record in records} == {"<stdin>"}
    assert records[4].line == 13 + 9  # dns.log has 13 lines; conn data starts at its line 9
    assert records[4].rid == "zeek.conn:CUM0KZ3MLUfNB0cl11:1700000100.000001"


def test_crlf_line_ends_are_stripped(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes((SAMPLES / "other" / "access.log").read_bytes().replace(b"\n", b"\r\n"))
    lines = list(open_lines(str(path)))
    assert len(lines) == 5
    assert not any(raw.endswith(b"\r") for _, _, raw in lines)
    assert by_line(read(str(path)))[1].values[-1] == ("host", "www.example.com")


# --- following ------------------------------------------------------------------------


def test_follow_reads_every_line_once_through_rename_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    rotated = tmp_path / "app.log.1"
    path.write_bytes(b"")
    stop = threading.Event()
    got: list[tuple[str, int, bytes]] = []
    seen: dict[str, Any] = {}
    failures: list[BaseException] = []

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(got) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"reader stuck at {len(got)} lines, waiting for {count}")
            time.sleep(0.005)

    def writer() -> None:
        try:
            seen["first"] = os.stat(path).st_ino
            with open(path, "ab", buffering=0) as old:
                old.write(b"a1\na2\na3\na4-par")
                wait_for(3)
                time.sleep(0.1)  # many polls: the partial line must not come out
                seen["before complete"] = len(got)
                old.write(b"tial\n")
                wait_for(4)
                os.rename(path, rotated)  # rename rotation; the writer still holds the old file
                old.write(b"a5\nlast-no-newline")
            with open(path, "ab", buffering=0) as new:
                seen["second"] = os.stat(path).st_ino
                new.write(b"b1\nb2\n")
            wait_for(8)
            with open(path, "r+b") as new:  # copytruncate
                new.truncate(0)
            with open(path, "ab", buffering=0) as new:
                new.write(b"c1\n")  # shorter than what was read: the truncation shows
            wait_for(9)
            with open(path, "ab", buffering=0) as new:
                new.write(b"c2\nc3\n")
            wait_for(11)
        except BaseException as err:
            failures.append(err)
        finally:
            stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    for item in open_lines(str(path), follow=True, poll_s=0.01, stop=stop):
        got.append(item)
    thread.join()
    assert not failures, failures
    assert seen["before complete"] == 3
    first, second = f"{path}@{seen['first']}", f"{path}@{seen['second']}"
    assert got == [
        (first, 1, b"a1"),
        (first, 2, b"a2"),
        (first, 3, b"a3"),
        (first, 4, b"a4-partial"),
        (first, 5, b"a5"),
        (first, 6, b"last-no-newline"),  # the old file is finished: its last line counts
        (second, 1, b"b1"),
        (second, 2, b"b2"),
        (f"{second}~1", 1, b"c1"),
        (f"{second}~1", 2, b"c2"),
        (f"{second}~1", 3, b"c3"),
    ]


def test_follow_hands_on_a_partial_batch_when_the_log_goes_quiet(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    shutil.copy(EVE, path)
    stop = threading.Event()
    reader = read(str(path), follow=True, stop=stop)
    assert reader.format == ""  # told from the first line that arrives
    batches = []
    for batch in reader.batches(1000):
        batches.append(batch)
        stop.set()
    assert [len(batch) for batch in batches] == [11]
    assert reader.format == "eve"
    assert batches[0][0].source == f"{path}@{os.stat(path).st_ino}"
    assert reader.stats.ignored == 2


def test_follow_stop_before_the_file_exists_ends_cleanly(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    assert list(open_lines(str(tmp_path / "never.log"), follow=True, stop=stop)) == []


def test_batches_split_at_the_size() -> None:
    batches = list(read(str(EVE)).batches(4))
    assert [len(batch) for batch in batches] == [4, 4, 3]
    assert [record.line for batch in batches for record in batch] == list(range(1, 12))
