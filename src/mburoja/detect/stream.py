"""Telemetry from a NATS JetStream stream, matched by a group of worker processes.

``mburoja match --source nats://127.0.0.1:4222/telemetry.zeek`` runs :func:`run_stream`.
The worker joins the durable pull consumer ``durable`` on the stream that captures the
subject, and loops:

1. fetch up to ``batch_size`` messages, waiting at most ``batch_s`` for the batch to fill;
2. parse the lines of each message (one or more, newline separated: Zeek JSON, Zeek TSV
   with its own header block, Suricata EVE, Squid ``access.log``; ``auto`` tells the format
   line by line) into records whose ``source`` is ``nats:<subject>`` and whose ``line`` is
   the message's stream sequence; a bad line is counted with that subject and sequence;
3. ``Detector.process`` the records: hits and sightings are committed to the store;
4. publish the new sighting versions to ``publish``, when set;
5. only then ack every message of the batch.

**Scale-out.** Workers with the same durable name share the stream: JetStream hands each
message to one of them, and each worker holds the whole index. While a batch is being
processed its messages are kept alive (``+WPI``), so a slow batch is not given to another
worker. A worker that dies leaves its messages unacked; ``ack_wait`` later JetStream
redelivers them to another worker, whose store write finds the (indicator, record id)
pairs already there and counts nothing twice (:meth:`SqlStore.record_hits`): delivery is at
least once, counting is once. A batch whose processing fails is nak'ed with a growing
delay, and the worker backs off as long.

**The stream.** ``stream`` None means the stream that captures the subject; when there is
none, one is created with file storage, named after the subject (:func:`stream_name`). A new
group starts at the beginning of the stream; every worker that joins brings the consumer's
``ack_wait`` and ``max_ack_pending`` to its own options.

**Sightings out.** When a stream captures the ``publish`` subject, sightings are published
with JetStream (the server acknowledges each; ``Nats-Msg-Id`` is ``<id>|<modified>``, so a
republished version is dropped by the stream's duplicate window); otherwise with a core
publish. The store is the record: a failed publication is logged and counted, and the batch
is still acked (a redelivery would find nothing new to publish).

**Index updates.** Every worker reads the indicators from the store. It watches the index
bucket ``index_bucket`` (:mod:`mburoja.detect.announce`): an announcement makes it refresh
its index before its next batch; it also refreshes every ``refresh_s`` whatever the bucket
says. A refresh also rewrites sightings an earlier failure left owed (``Detector.refresh``);
those are published like the others.

Stopping: ``max_idle_s`` seconds without a message, SIGTERM or SIGINT (when run in the main
thread), or ``stop`` set. The batch in hand is finished and acked first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec
import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api

from mburoja.detect.announce import DEFAULT_BUCKET, IndexWatch, connect
from mburoja.detect.model import BadLine, Record
from mburoja.detect.pipeline import Detector, Outcome
from mburoja.detect.readers import ReadStats, squid, suricata, zeek
from mburoja.detect.readers.source import Line
from mburoja.errors import ConfigError

__all__ = [
    "StreamOptions",
    "StreamReport",
    "parse_message",
    "parse_url",
    "run_stream",
    "stream_name",
]

log = logging.getLogger(__name__)

STREAM_FORMATS: Final = ("auto", "zeek", "eve", "squid")
_BACKOFF_MAX_S: Final = 30.0


@dataclass(frozen=True, kw_only=True)
class StreamOptions:
    """How one worker consumes (see the module docstring)."""

    url: str  # nats://host:port/subject
    stream: str | None = None
    durable: str = "mburoja-match"
    fmt: str = "auto"
    log: str | None = None  # the Zeek log type of lines without ``_path``
    batch_size: int = 10_000  # messages per fetch
    batch_s: float = 1.0
    ack_wait_s: float = 30.0
    publish: str | None = None
    index_bucket: str = DEFAULT_BUCKET
    refresh_s: float = 5.0
    max_idle_s: float | None = None
    stop: threading.Event | None = None
    progress_s: float = 5.0
    #: Unacked messages the whole group may hold; None: 16 workers' worth of batches.
    max_ack_pending: int | None = None


class StreamReport(msgspec.Struct, kw_only=True):
    """What one worker did; counts add up across the workers of a group."""

    stream: str = ""
    subject: str = ""
    durable: str = ""
    messages: int = 0  # deliveries taken, redeliveries included
    records: int = 0
    bad: int = 0
    bad_lines: list[BadLine] = msgspec.field(default_factory=list)  # source, sequence, why
    ignored: int = 0
    hits: int = 0
    new_hits: int = 0
    repeated: int = 0
    unconfirmed: int = 0
    sightings: int = 0  # sighting versions written
    published: int = 0
    publish_failed: int = 0
    acked: int = 0
    redelivered: int = 0  # deliveries that JetStream had made before (num_delivered > 1)
    failed_batches: int = 0
    index_refreshes: int = 0
    announcements: int = 0  # index bucket changes seen (not counting the value at start)
    elapsed_s: float = 0.0
    stopped_by: str = ""  # idle, signal or stop

    def line(self) -> str:
        """The progress line: counts and rates so far."""
        rate = self.records / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return (
            f"nats {self.subject} ({self.durable}): {self.messages:,} messages, "
            f"{self.records:,} records ({rate:,.0f}/s), {self.hits:,} hits, "
            f"{self.new_hits:,} new, {self.repeated:,} repeated, {self.acked:,} acked, "
            f"{self.redelivered:,} redelivered, {self.bad:,} bad"
        )


# -- names ---------------------------------------------------------------------------------


def parse_url(url: str) -> tuple[str, str]:
    """``nats://host:port/subject`` → (server URL, subject)."""
    parts = urlsplit(url)
    subject = parts.path.lstrip("/")
    if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.netloc:
        raise ConfigError(f"--source {url!r}: write nats://HOST:PORT/SUBJECT")
    if not subject or any(c.isspace() for c in subject) or ".." in subject:
        raise ConfigError(f"--source {url!r}: the path must be a NATS subject (telemetry.zeek)")
    return f"{parts.scheme}://{parts.netloc}", subject


def stream_name(subject: str) -> str:
    """The name of the stream created for a subject no stream captures:
    ``telemetry.zeek`` → ``MBUROJA_TELEMETRY_ZEEK``, ``telemetry.>`` →
    ``MBUROJA_TELEMETRY_ALL``, ``*`` → ``ANY``."""
    words = subject.replace(">", "ALL").replace("*", "ANY").split(".")
    name = "_".join(re.sub(r"[^A-Za-z0-9_-]", "-", word) for word in words)
    return f"MBUROJA_{name.upper()}"


# -- messages to records -------------------------------------------------------------------


def _line_format(raw: bytes) -> str | None:
    """The format of one line, cheaply (no JSON parse)."""
    if raw.startswith(b"{"):
        return "eve" if b'"event_type"' in raw else "zeek"
    if raw.startswith(b"#"):
        return "zeek"
    return "squid" if squid.SHAPE.match(raw) else None


def _runs(lines: list[Line], fmt: str) -> Iterator[tuple[str | None, list[Line]]]:
    """The message's lines in runs of one format."""
    if fmt != "auto":
        yield fmt, lines
        return
    if lines and lines[0][2].startswith(b"#"):  # Zeek TSV: the header rules the lines after it
        yield "zeek", lines
        return
    current: str | None = None
    run: list[Line] = []
    for item in lines:
        kind = _line_format(item[2])
        if run and kind != current:
            yield current, run
            run = []
        current = kind
        run.append(item)
    if run:
        yield current, run


def parse_message(
    subject: str, seq: int, data: bytes, stats: ReadStats, fmt: str = "auto", log: str | None = None
) -> list[Record]:
    """The records of one message (``source`` ``nats:<subject>``, ``line`` its stream
    sequence); what cannot be used goes to ``stats``. Blank lines are skipped."""
    source = f"nats:{subject}"
    lines = [(source, seq, raw.removesuffix(b"\r")) for raw in data.split(b"\n") if raw.strip()]
    out: list[Record] = []
    for kind, run in _runs(lines, fmt):
        if kind == "zeek":
            found = zeek.parse(run, stats, log=log)
        elif kind == "eve":
            found = suricata.parse(run, stats)
        elif kind == "squid":
            found = squid.parse(run, stats)
        else:
            for _source, _seq, raw in run:
                stats.lines += 1
                shown = raw[:60].decode("utf-8", "replace")
                stats.add_bad(source, seq, f"cannot tell the telemetry format of {shown!r}")
            continue
        out.extend(record for record in found if record is not None)
    return out


# -- JetStream plumbing --------------------------------------------------------------------


async def _ensure_stream(js: JetStreamContext, subject: str, name: str | None) -> str:
    try:
        if name:
            await js.stream_info(name)
            return name
        try:
            return await js.find_stream_name_by_subject(subject)
        except nats.js.errors.NotFoundError:
            created = stream_name(subject)
            config = api.StreamConfig(
                name=created,
                subjects=[subject],
                storage=api.StorageType.FILE,
                description="Telemetry for mburoja match",
            )
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError as exc:
                try:  # another worker made it first
                    return await js.find_stream_name_by_subject(subject)
                except nats.js.errors.NotFoundError:
                    raise ConfigError(
                        f"cannot create stream {created} for {subject}: {exc.description}"
                    ) from exc
            log.info("created stream %s for %s", created, subject)
            return created
    except nats.js.errors.NotFoundError:
        raise ConfigError(f"--stream {name}: no such stream on the NATS server") from None
    except nats.errors.NoRespondersError:
        raise ConfigError("the NATS server has no JetStream: start it with -js") from None


async def _ensure_consumer(
    js: JetStreamContext, stream: str, subject: str, options: StreamOptions
) -> None:
    """Create the group's durable consumer, or bring its settings to ours."""
    config = api.ConsumerConfig(
        name=options.durable,
        durable_name=options.durable,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=options.ack_wait_s,
        max_ack_pending=options.max_ack_pending or 16 * options.batch_size,
        filter_subject=subject,
    )
    try:
        await js.add_consumer(stream, config)
    except nats.js.errors.APIError as exc:
        raise ConfigError(
            f"--durable {options.durable}: cannot create or update the consumer on stream "
            f"{stream}: {exc.description or exc}"
        ) from exc


class _Pull:
    """One pull request at a time on the group's consumer: up to ``batch`` messages, the
    request expiring after ``wait_s``; a full batch or the server's end of the request
    (status 404/408) ends it, so no request outlives :meth:`fetch`.

    Not nats-py's ``PullSubscription.fetch``: against nats-server 2.9 its first request
    (``no_wait`` with ``expires``) ends after one message when the stream was idle, so a
    burst after a quiet spell came one message per fetch.
    """

    def __init__(self, nc: NATS, subject: str, inbox: str, sub: Subscription) -> None:
        self.nc = nc
        self.subject = subject
        self.inbox = inbox
        self.sub = sub

    @classmethod
    async def open(cls, nc: NATS, stream: str, durable: str) -> _Pull:
        inbox = nc.new_inbox()
        # No client-side cap: a pull asks for at most one batch.
        sub = await nc.subscribe(inbox, pending_msgs_limit=0, pending_bytes_limit=0)
        return cls(nc, f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}", inbox, sub)

    async def fetch(self, batch: int, wait_s: float) -> list[Msg]:
        request = {"batch": batch, "expires": int(wait_s * 1e9)}
        await self.nc.publish(self.subject, orjson.dumps(request), reply=self.inbox)
        msgs: list[Msg] = []
        deadline = time.monotonic() + wait_s + 2.0  # the server's 408 comes at wait_s
        while len(msgs) < batch:
            try:
                msg = await self.sub.next_msg(timeout=max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                break
            status = msg.headers.get("Status") if msg.headers else None
            if status is None and msg.reply:
                msgs.append(msg)
            elif status in ("404", "408"):  # nothing more for this request
                break
            elif status is not None and status != "100":
                log.warning("pull on %s: %s %s", self.subject, status, msg.headers)
                break
        return msgs


# -- the worker ----------------------------------------------------------------------------


def run_stream(
    options: StreamOptions, detector: Detector, progress: Callable[[str], None] | None = None
) -> StreamReport:
    """Consume until idle, signalled or stopped (see the module docstring); the report.

    ``progress`` gets a line of counts and rates every ``progress_s`` (None: logged at INFO).
    Runs its own event loop, so call it from synchronous code.
    """
    if options.fmt not in STREAM_FORMATS:
        raise ConfigError(
            f"--format {options.fmt}: a stream takes {', '.join(STREAM_FORMATS)} "
            "(csv and jsonl need a field mapping; match files for those)"
        )
    if options.batch_size < 1 or options.batch_s <= 0 or options.ack_wait_s <= 0:
        raise ConfigError("--batch-size, batch_s and --ack-wait must be positive")
    return asyncio.run(_Worker(options, detector, progress).run())


class _Worker:
    def __init__(
        self, options: StreamOptions, detector: Detector, progress: Callable[[str], None] | None
    ) -> None:
        self.options = options
        self.detector = detector
        self.say = progress or log.info
        self.server, self.subject = parse_url(options.url)
        self.report = StreamReport(subject=self.subject, durable=options.durable)
        self.stats = ReadStats()
        self.started = time.monotonic()
        self.stopping = asyncio.Event()
        self.index = IndexWatch()
        # One thread runs every Detector call, in order, so the event loop stays free for
        # keep-alives, the index watch and signals while a batch is matched.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="mburoja-match")
        self.failures = 0

    def stopped(self) -> bool:
        stop = self.options.stop
        return self.stopping.is_set() or (stop is not None and stop.is_set())

    async def run(self) -> StreamReport:
        loop = asyncio.get_running_loop()
        try:
            nc = await connect(self.server, f"mburoja-match {self.options.durable}")
        except BaseException:
            self.executor.shutdown()
            raise
        handled = self._signals(loop)
        try:
            js = nc.jetstream()
            stream = await _ensure_stream(js, self.subject, self.options.stream)
            self.report.stream = stream
            await _ensure_consumer(js, stream, self.subject, self.options)
            pull = await _Pull.open(nc, stream, self.options.durable)
            await self.index.start(js, self.options.index_bucket)
            publish = await self._publisher(nc, js)
            await self._refresh(publish)
            await self._loop(nc, pull, publish)
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await self.index.stop()
            await _quietly(nc.flush())  # the last acks
            await _quietly(nc.close())
            self.executor.shutdown(wait=True)
            self._sync_report()
            self.say(self.report.line())
        return self.report

    def _signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        if threading.current_thread() is not threading.main_thread():
            return []
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._signalled)
        return [signal.SIGTERM, signal.SIGINT]

    def _signalled(self) -> None:
        self.report.stopped_by = "signal"
        self.stopping.set()

    async def _loop(self, nc: NATS, pull: _Pull, publish: _Publish) -> None:
        options = self.options
        last_message = last_refresh = last_said = time.monotonic()
        while not self.stopped():
            now = time.monotonic()
            if options.max_idle_s is not None and now - last_message >= options.max_idle_s:
                self.report.stopped_by = "idle"
                break
            if now - last_said >= options.progress_s:
                self._sync_report()
                self.say(self.report.line())
                last_said = now
            try:
                msgs = await pull.fetch(options.batch_size, options.batch_s)
            except nats.errors.Error as exc:
                if nc.is_closed:
                    raise
                log.warning("fetch from %s failed: %s; retrying", self.subject, exc)
                await self._pause(1.0)
                continue
            # An announcement that came while waiting applies to what was fetched.
            if self.index.wanted.is_set() or time.monotonic() - last_refresh >= options.refresh_s:
                await self._refresh(publish)
                last_refresh = time.monotonic()
            if msgs:
                last_message = time.monotonic()
                await self._batch(nc, msgs, publish)
        if self.stopped() and not self.report.stopped_by:
            self.report.stopped_by = "stop"

    async def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopped() and time.monotonic() < deadline:
            await asyncio.sleep(min(0.2, seconds))

    # -- one batch -------------------------------------------------------------------------

    def _match(self, msgs: Sequence[Msg]) -> Outcome:
        records: list[Record] = []
        options = self.options
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            records.extend(
                parse_message(msg.subject, seq, msg.data, self.stats, options.fmt, options.log)
            )
        return self.detector.process(records)

    async def _batch(self, nc: NATS, msgs: list[Msg], publish: _Publish) -> None:
        report = self.report
        report.messages += len(msgs)
        report.redelivered += sum(1 for m in msgs if m.metadata.num_delivered > 1)
        work = asyncio.get_running_loop().run_in_executor(self.executor, self._match, msgs)
        keep_alive = max(self.options.ack_wait_s / 3, 0.2)
        while not (await asyncio.wait({work}, timeout=keep_alive))[0]:
            with contextlib.suppress(nats.errors.Error):  # reconnecting: redelivery is fine
                for msg in msgs:
                    await msg.in_progress()
        try:
            outcome = work.result()
        except Exception as exc:
            self.failures += 1
            delay = min(2.0 ** (self.failures - 1), _BACKOFF_MAX_S)
            report.failed_batches += 1
            log.error(
                "batch of %d messages from %s (sequences %d-%d) failed, redelivery in %.0f s: %s",
                len(msgs),
                self.subject,
                msgs[0].metadata.sequence.stream,
                msgs[-1].metadata.sequence.stream,
                delay,
                exc,
                exc_info=exc,
            )
            with contextlib.suppress(nats.errors.Error):  # else ack_wait brings them back
                for msg in msgs:
                    await msg.nak(delay=delay)
            await _quietly(nc.flush())
            await self._pause(delay)
            return
        self.failures = 0
        report.records += outcome.records
        report.hits += outcome.hits
        report.new_hits += outcome.new_hits
        report.repeated += outcome.repeated
        report.unconfirmed += outcome.unconfirmed
        report.sightings += outcome.sightings
        sightings = [o for o in outcome.objects if o.get("type") == "sighting"]
        if sightings:
            await publish(sightings)
        try:
            for msg in msgs:
                await msg.ack()
            await nc.flush()
        except (TimeoutError, nats.errors.Error) as exc:
            # The records are stored: if the acks are lost they come back, and count once.
            log.warning("acking %d messages on %s failed: %s", len(msgs), self.subject, exc)
            return
        report.acked += len(msgs)

    # -- sightings out ---------------------------------------------------------------------

    async def _publisher(self, nc: NATS, js: JetStreamContext) -> _Publish:
        subject = self.options.publish
        if not subject:
            return _nothing
        try:
            await js.find_stream_name_by_subject(subject)
            durable = True
        except nats.js.errors.NotFoundError:
            durable = False
        report = self.report

        async def publish(sightings: list[dict[str, Any]]) -> None:
            try:
                sends = []
                for obj in sightings:
                    body = orjson.dumps(obj)
                    headers = {"Nats-Msg-Id": f"{obj['id']}|{obj['modified']}"}
                    if durable:
                        sends.append(js.publish(subject, body, headers=headers))
                    else:
                        await nc.publish(subject, body, headers=headers)
                await asyncio.gather(*sends)
                report.published += len(sightings)
            except (TimeoutError, nats.errors.Error) as exc:
                report.publish_failed += len(sightings)
                log.error("publishing %d sightings to %s failed: %s", len(sightings), subject, exc)

        return publish

    # -- the index -------------------------------------------------------------------------

    def _refresh_all(self) -> None:
        """Refresh until the feed has read everything committed (it reads in chunks)."""
        feed = self.detector.feed
        while True:
            before = feed.seq
            self.detector.refresh()
            if feed.seq == before:
                return

    async def _refresh(self, publish: _Publish) -> None:
        self.index.wanted.clear()
        await asyncio.get_running_loop().run_in_executor(self.executor, self._refresh_all)
        self.report.index_refreshes += 1
        repaired = self.detector.take_repaired()  # sightings a failed batch had left owed
        if repaired:
            self.report.sightings += len(repaired)
            await publish(repaired)

    def _sync_report(self) -> None:
        self.report.elapsed_s = time.monotonic() - self.started
        self.report.bad = self.stats.bad
        self.report.bad_lines = list(self.stats.bad_lines)
        self.report.ignored = self.stats.ignored
        self.report.announcements = self.index.changes


_Publish = Callable[[list[dict[str, Any]]], Coroutine[Any, Any, None]]


async def _nothing(sightings: list[dict[str, Any]]) -> None:
    return None


async def _quietly(step: Coroutine[Any, Any, Any]) -> None:
    """Shutting down: a step that fails (connection gone) must not hide the real outcome."""
    try:
        await asyncio.wait_for(step, 10.0)
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        log.debug("shutdown step failed: %s", exc)
