"""Matching a NATS JetStream stream (``mburoja.detect.stream``) against the real server.

They run when ``MBUROJA_TEST_NATS_URL`` is set (CI: nats://127.0.0.1:4222, JetStream on)
and skip with the reason otherwise; with ``MBUROJA_REQUIRE_SERVICES=1`` they fail instead.
Every test uses its own subject, stream, consumer and bucket, and deletes them afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from typer.testing import CliRunner

from mburoja.cli.main import app
from mburoja.config import Settings
from mburoja.detect.announce import IndexAnnouncer
from mburoja.detect.model import Record
from mburoja.detect.pipeline import Detector, Outcome
from mburoja.detect.stream import run_stream, stream_name
from mburoja.ingest.pipeline import Ingestor
from mburoja.store.sql import SqlStore, open_store
from tests.conftest import nats_url
from tests.detect.natsbus import Bus, Names, start_worker, wait_for
from tests.factories import bundle, indicator, raw

T = TypeVar("T")
BASE_TS = 1_767_225_600  # 2026-01-01T00:00:00Z: every record falls in one sighting window
HOME = "CERT Albania"
MBUROJA = str(Path(sys.executable).parent / "mburoja")


# -- telemetry and indicators ----------------------------------------------------------------


def domain(k: int) -> str:
    return f"c2-{k}.evil.test"


def zeek_dns(i: int, query: str) -> bytes:
    """One Zeek dns.log line in JSON (LogAscii::use_json), a distinct connection each."""
    return orjson.dumps(
        {
            "_path": "dns",
            "ts": BASE_TS + i / 10,
            "uid": f"C{i:08d}dns",
            "id.orig_h": f"10.20.{i // 256 % 256}.{i % 256}",
            "id.orig_p": 30000 + i % 30000,
            "id.resp_h": "192.0.2.53",
            "id.resp_p": 53,
            "proto": "udp",
            "trans_id": i % 65536,
            "query": query,
            "qclass_name": "C_INTERNET",
            "qtype_name": "A",
            "rcode_name": "NOERROR",
            "answers": ["198.51.100.17"],
            "TTLs": [300.0],
        }
    )


def eve_dns(flow_id: int, rrname: str) -> bytes:
    return orjson.dumps(
        {
            "timestamp": "2026-01-01T00:10:00.250000+0000",
            "flow_id": flow_id,
            "event_type": "dns",
            "src_ip": "10.30.0.9",
            "src_port": 53535,
            "dest_ip": "192.0.2.53",
            "dest_port": 53,
            "proto": "UDP",
            "dns": {"type": "query", "id": 4242, "rrname": rrname, "rrtype": "A", "tx_id": 0},
        }
    )


def squid_line(url: str) -> bytes:
    return (
        f"{BASE_TS + 600}.123    187 10.30.0.5 TCP_MISS/200 5120 GET {url} - "
        "HIER_DIRECT/203.0.113.80 application/octet-stream"
    ).encode()


def planted_lines(
    start: int, count: int, indicators: int, every: int
) -> tuple[list[bytes], Counter[int]]:
    """``count`` dns lines numbered from ``start``; every ``every``-th asks for an evil
    domain (in turn). The lines, and how many hit each domain."""
    lines: list[bytes] = []
    planted: Counter[int] = Counter()
    for i in range(start, start + count):
        if i % every == 0:
            k = (i // every) % indicators
            planted[k] += 1
            lines.append(zeek_dns(i, domain(k)))
        else:
            lines.append(zeek_dns(i, f"host{i}.benign.test"))
    return lines, planted


def messages(lines: list[bytes], per_message: int) -> list[bytes]:
    return [
        b"\n".join(lines[i : i + per_message]) + b"\n" for i in range(0, len(lines), per_message)
    ]


def ingest_indicators(store: SqlStore, settings: Settings, ks: range | list[int]) -> dict[int, str]:
    """Indicators for the evil domains ``ks``; their ids."""
    objects = {k: indicator(f"[domain-name:value = '{domain(k)}']") for k in ks}
    Ingestor(store, settings, workers=0).run(
        [raw(obj, index=n) for n, obj in enumerate(objects.values())], source="test"
    )
    return {k: obj["id"] for k, obj in objects.items()}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    """An embedded store with a home organisation (sightings name it). It stands in for
    conftest's two-backend ``store``: the two-process test runs on PostgreSQL."""
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}", initialise=True)
    opened.create_org(HOME, "home")
    yield opened
    opened.close()


@pytest.fixture
def detectors() -> Iterator[list[Detector]]:
    """Detectors a test makes, closed after it."""
    made: list[Detector] = []
    yield made
    for detector in made:
        detector.close()


def current_sightings(store: SqlStore) -> dict[str, dict[str, Any]]:
    """The current version of every stored sighting, by the indicator it is of."""
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT raw FROM objects WHERE type = 'sighting' AND is_current = TRUE"
        ).all()
    out: dict[str, dict[str, Any]] = {}
    for (body,) in rows:
        sighting = orjson.loads(bytes(body))
        assert sighting["sighting_of_ref"] not in out, "two current sightings of one indicator"
        out[sighting["sighting_of_ref"]] = sighting
    return out


def hit_rids(store: SqlStore) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT indicator_id, rid FROM sighting_hits").all()
    return [(str(i), str(r)) for i, r in rows]


def max_seq(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT MAX(seq) FROM objects").scalar() or 0)


# -- one worker, in process ------------------------------------------------------------------


def test_a_worker_creates_its_stream_matches_every_record_once_and_acks_them_all(
    store: SqlStore, detectors: list[Detector], settings: Settings, bus: Bus, names: Names
) -> None:
    ids = ingest_indicators(store, settings, range(5))
    bus.call(bus.js.add_stream(name=f"{names.stream}_OUT", subjects=[names.out]))
    detector = Detector(store, settings)
    detectors.append(detector)
    options = names.options(
        publish=names.out,
        batch_size=40,
        batch_s=0.5,
        max_idle_s=1.5,
    )
    said: list[str] = []
    worker, done = start_worker(options, detector, said.append)
    try:
        # No stream captured the subject: the worker made one, named after it.
        wait_for(lambda: bus.stream_for(names.subject) is not None, "the stream")
        stream = stream_name(names.subject)
        assert bus.stream_for(names.subject) == stream
        wait_for(lambda: bus.pulling(stream, names.durable), "a pull")

        lines, planted = planted_lines(0, 3000, indicators=5, every=97)
        payloads = messages(lines, 10)
        # Mixed formats in one message: EVE and Squid lines hit too; two lines are bad.
        payloads.append(
            b"\n".join(
                [
                    eve_dns(777001, domain(0)),
                    squid_line(f"http://{domain(1)}/payload.bin"),
                    b"this is not telemetry",
                    zeek_dns(999_999, "fine.benign.test"),
                ]
            )
        )
        planted[0] += 1
        planted[1] += 1
        payloads.append(zeek_dns(999_998, domain(2)).replace(b'"ts":', b'"ts":"yesterday","x":'))
        seqs = bus.publish(names.subject, payloads)
    finally:
        worker.join(30)
    assert not worker.is_alive()
    report = done[0]

    assert report.stopped_by == "idle"
    assert f"{report.records:,} records" in said[-1]  # the last progress line: the totals
    assert report.messages == report.acked == len(payloads)
    assert report.records == 3000 + 3 and report.redelivered == 0
    assert report.bad == 2
    assert {(b.source, b.line) for b in report.bad_lines} == {
        (f"nats:{names.subject}", seqs[-2]),
        (f"nats:{names.subject}", seqs[-1]),
    }
    # Every planted hit stored once; one sighting per indicator, counting them all.
    rows = hit_rids(store)
    assert len(rows) == len(set(rows)) == sum(planted.values()) == report.new_hits
    by_indicator = Counter(indicator_id for indicator_id, _ in rows)
    assert by_indicator == {ids[k]: n for k, n in planted.items()}
    stored = current_sightings(store)
    assert {s: v["count"] for s, v in stored.items()} == {ids[k]: n for k, n in planted.items()}
    # Each sighting version written went out on the output subject (through JetStream,
    # since a stream captures it), the last of each with the full count.
    out = bus.call(bus.js.stream_info(f"{names.stream}_OUT"))
    assert out.state.messages == report.sightings == report.published > 0
    published: dict[str, dict[str, Any]] = {}
    for seq in range(out.state.first_seq, out.state.last_seq + 1):
        sighting = orjson.loads(bus.call(bus.js.get_msg(f"{names.stream}_OUT", seq)).data or b"")
        assert sighting["type"] == "sighting"
        published[sighting["id"]] = sighting  # in order: the last version wins
    assert {p["sighting_of_ref"]: p["count"] for p in published.values()} == {
        ids[k]: n for k, n in planted.items()
    }
    # Nothing is left unacknowledged.
    consumer = bus.consumer(stream, names.durable)
    assert consumer.num_ack_pending == 0 and consumer.num_pending == 0
    assert consumer.ack_floor.stream_seq == seqs[-1]


# -- index updates through the key-value bucket ---------------------------------------------


def test_an_announced_indicator_is_matched_at_once_and_an_unannounced_one_waits(
    store: SqlStore, detectors: list[Detector], settings: Settings, bus: Bus, names: Names
) -> None:
    bus.call(bus.js.add_stream(name=names.stream, subjects=[names.subject]))
    received: list[dict[str, Any]] = []

    async def collect(msg: Any) -> None:
        received.append(orjson.loads(msg.data))

    bus.call(bus.nc.subscribe(names.out, cb=collect))  # no stream: a core publish
    detector = Detector(store, settings)
    detectors.append(detector)
    stop = threading.Event()
    options = names.options(
        stream=True,
        publish=names.out,
        batch_s=0.3,
        refresh_s=600.0,  # only an announcement can make the worker look in time
        stop=stop,
    )
    worker, done = start_worker(options, detector)
    try:
        wait_for(lambda: bus.pulling(names.stream, names.durable), "a pull")
        # B is committed but not announced: the worker, not told, does not know it yet.
        ids = ingest_indicators(store, settings, [1])
        (quiet,) = bus.publish(names.subject, [zeek_dns(1, domain(1))])
        wait_for(
            lambda: bus.consumer(names.stream, names.durable).ack_floor.stream_seq >= quiet,
            "the first record to be acked",
        )
        # C is committed and announced: the next records are matched against both.
        ids.update(ingest_indicators(store, settings, [2]))
        with IndexAnnouncer(nats_url(), names.bucket) as announcer:
            announcer.announce(max_seq(store))
        bus.publish(names.subject, [zeek_dns(2, domain(2)), zeek_dns(3, domain(1))])
        wait_for(lambda: len(hit_rids(store)) >= 2, "the announced indicator's hit")
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    report = done[0]

    assert sorted(hit_rids(store)) == sorted(
        [
            (ids[2], "zeek.dns:C00000002dns:1767225600.2"),
            (ids[1], "zeek.dns:C00000003dns:1767225600.3"),
        ]
    )
    assert report.announcements == 1
    assert report.index_refreshes == 2  # at start, and on the announcement
    assert report.stopped_by == "stop"
    assert {s["sighting_of_ref"] for s in received} == {ids[1], ids[2]}


# -- the command ------------------------------------------------------------------------------


def test_match_from_a_stream_shows_progress_and_bad_and_ignored_lines_as_for_a_file(
    tmp_path: Path, bus: Bus, names: Names
) -> None:
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path / "data")]
    env = {"MBUROJA_DETECT_ANNOUNCE_BUCKET": names.bucket}  # the test's bucket, deleted after
    assert runner.invoke(app, [*base, "init", "--org", HOME]).exit_code == 0
    evil = tmp_path / "evil.json"
    evil.write_bytes(bundle(indicator(f"[domain-name:value = '{domain(3)}']")))
    assert runner.invoke(app, [*base, "ingest", str(evil)]).exit_code == 0
    bus.call(bus.js.add_stream(name=names.stream, subjects=[names.subject]))
    no_path = orjson.loads(zeek_dns(1, domain(3)))
    del no_path["_path"]  # a dns.log line: --log says so
    weird = {"_path": "weird", "ts": BASE_TS, "uid": "Cweird", "name": "bad_TCP_checksum"}
    seqs = bus.publish(
        names.subject, [orjson.dumps(no_path), b"this is not telemetry", orjson.dumps(weird)]
    )
    source = f"{nats_url()}/{names.subject}"
    args = ["match", "--source", source, "--durable", names.durable, "--log", "dns"]
    result = runner.invoke(app, [*base, *args, "--idle-exit", "1"], env=env)

    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # the console wraps long lines
    assert f"nats {names.subject} ({names.durable}): 3 messages, 1 records" in out  # progress
    assert f"bad line nats:{names.subject}:{seqs[1]}: cannot tell the telemetry format" in out
    assert re.search(r"bad lines\s*│\s*1\s*│", out), out
    assert re.search(r"ignored lines\s*│\s*1\s*│", out), out
    assert re.search(r"new \(indicator, record\) hits\s*│\s*1\s*│", out), out


# -- two worker processes, one killed --------------------------------------------------------


def _stream_line(text: str) -> dict[str, int]:
    found = re.search(r"stream: ([\d,]+) messages, ([\d,]+) acked, ([\d,]+) redelivered", text)
    assert found is not None, f"no stream summary in the worker output:\n{text}"
    return {
        key: int(value.replace(",", ""))
        for key, value in zip(("messages", "acked", "redelivered"), found.groups(), strict=True)
    }


@pytest.fixture
def pg_store(pg_schema_url: str, tmp_path: Path) -> Iterator[SqlStore]:
    """A PostgreSQL store that ``mburoja init`` made, as an operator would."""
    result = CliRunner().invoke(
        app, ["--store-url", pg_schema_url, "--data-dir", str(tmp_path), "init", "--org", HOME]
    )
    assert result.exit_code == 0, result.output
    store = open_store(pg_schema_url)
    yield store
    store.close()


@pytest.mark.postgres
def test_two_workers_share_a_stream_and_a_killed_one_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, settings: Settings, bus: Bus, names: Names, pg_store: SqlStore
) -> None:
    per_message, every, n_indicators = 50, 40, 8
    ids = ingest_indicators(pg_store, settings, range(n_indicators))
    bus.call(bus.js.add_stream(name=names.stream, subjects=[names.subject]))
    url = pg_store.engine.url.render_as_string(hide_password=False)
    source = f"{nats_url()}/{names.subject}"

    def worker(name: str, batch: int, idle: float) -> tuple[subprocess.Popen[bytes], Path]:
        out = tmp_path / f"{name}.out"
        args = ["--store-url", url, "--data-dir", str(tmp_path), "match", "--source", source]
        args += ["--durable", names.durable, "--batch-size", str(batch)]
        args += ["--ack-wait", "2", "--idle-exit", str(idle)]
        with out.open("wb") as sink:
            process = subprocess.Popen(
                [MBUROJA, *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                env={k: v for k, v in os.environ.items() if not k.startswith("MBUROJA_")},
            )
        return process, out

    def consumer() -> Any:
        return bus.consumer(names.stream, names.durable)

    def acked_up_to(seq: int) -> Callable[[], bool]:
        return lambda: int(consumer().ack_floor.stream_seq) == seq

    victim, _ = worker("victim", batch=2000, idle=60)
    survivor, survivor_out = worker("survivor", batch=20, idle=3)
    try:
        wait_for(lambda: bus.pulling(names.stream, names.durable, 2), "both to pull", 30)
        # Phase 1: both workers pull; JetStream shares the messages out between them.
        lines, planted = planted_lines(0, 6000, n_indicators, every)
        seqs = bus.publish(names.subject, messages(lines, per_message))
        wait_for(acked_up_to(seqs[-1]), "phase 1 acked")
        # Phase 2: both frozen, their waiting pulls take messages they cannot ack. A pull
        # asks for --batch-size messages, so more than the survivor's 20 pending means the
        # victim holds some (if its pull was not waiting just then, thaw and try again).
        for attempt in range(3):
            victim.send_signal(signal.SIGSTOP)
            survivor.send_signal(signal.SIGSTOP)
            more, hits = planted_lines(6000 + attempt * 4000, 4000, n_indicators, every)
            planted.update(hits)
            seqs = bus.publish(names.subject, messages(more, per_message))
            time.sleep(0.3)
            held = consumer().num_ack_pending
            if held > 20:
                break
            victim.send_signal(signal.SIGCONT)
            survivor.send_signal(signal.SIGCONT)
            wait_for(acked_up_to(seqs[-1]), "phase 2 acked")
        else:
            pytest.fail("the victim never held unacked messages")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        survivor.send_signal(signal.SIGCONT)
        # Phase 3: the survivor carries on alone; the victim's messages come back to it.
        more, hits = planted_lines(20_000, 4000, n_indicators, every)
        planted.update(hits)
        seqs = bus.publish(names.subject, messages(more, per_message))
        assert survivor.wait(40) == 0, survivor_out.read_text()
    finally:
        for process in (victim, survivor):
            if process.poll() is None:
                process.kill()
                process.wait(10)
    summary = _stream_line(survivor_out.read_text())
    total = seqs[-1]

    # The survivor took the victim's held messages again, and did not ack everything:
    # the victim acked its share of phase 1.
    assert summary["redelivered"] >= held - 20 > 0
    assert 0 < summary["acked"] < total
    info = consumer()
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert info.ack_floor.stream_seq == total
    # Every planted hit stored exactly once; each sighting counts its records once.
    rows = hit_rids(pg_store)
    assert len(rows) == len(set(rows)) == sum(planted.values())
    expected = {ids[k]: n for k, n in planted.items()}
    assert Counter(indicator_id for indicator_id, _ in rows) == expected
    assert {s: v["count"] for s, v in current_sightings(pg_store).items()} == expected


# -- a batch committed but never acked -------------------------------------------------------


class CrashAfterCommit(Detector):
    """Failure injection: the first batch is committed, then the worker fails before it
    can ack, as a worker killed between the two would."""

    crashed = False

    def process(self, records: Sequence[Record]) -> Outcome:
        outcome = super().process(records)
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("injected: failed between the commit and the ack")
        return outcome


def test_a_committed_batch_that_comes_back_is_counted_once(
    store: SqlStore, detectors: list[Detector], settings: Settings, bus: Bus, names: Names
) -> None:
    ids = ingest_indicators(store, settings, range(3))
    bus.call(bus.js.add_stream(name=names.stream, subjects=[names.subject]))
    lines, planted = planted_lines(0, 1000, indicators=3, every=25)
    seqs = bus.publish(names.subject, messages(lines, 20))
    detector = CrashAfterCommit(store, settings)
    detectors.append(detector)
    options = names.options(
        batch_size=len(seqs),
        batch_s=0.5,
        max_idle_s=2.0,  # longer than the first retry delay (1 s)
    )
    report = run_stream(options, detector)

    assert report.failed_batches == 1
    assert report.messages == 2 * len(seqs) and report.redelivered == len(seqs)
    assert report.acked == len(seqs)
    assert report.new_hits == 0  # the failed attempt stored them; its outcome was lost
    assert report.repeated == sum(planted.values())
    rows = hit_rids(store)
    assert len(rows) == sum(planted.values())
    expected = {ids[k]: n for k, n in planted.items()}
    assert {s: v["count"] for s, v in current_sightings(store).items()} == expected
    consumer = bus.consumer(names.stream, names.durable)
    assert consumer.num_ack_pending == 0 and consumer.ack_floor.stream_seq == seqs[-1]
