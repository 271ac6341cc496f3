"""The tests' own NATS connection and per-test names (``tests/detect/conftest.py`` has
the fixtures): a real JetStream server, at ``MBUROJA_TEST_NATS_URL``."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors

from mburoja.detect.pipeline import Detector
from mburoja.detect.stream import StreamOptions, StreamReport, run_stream
from tests.conftest import nats_url

T = TypeVar("T")


async def quiet(exc: Exception) -> None:
    """The test connection's errors surface as exceptions; nats-py need not log them."""


class Bus:
    """The test's own NATS connection, on an event loop in a thread of its own, so it can
    publish, subscribe and ask JetStream while a worker runs in the foreground."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        try:
            self.nc = self.call(self._connect(url))
        except BaseException:
            self._stop_loop()
            raise
        self.js = self.nc.jetstream()

    @staticmethod
    async def _connect(url: str) -> nats.NATS:
        return await nats.connect(
            url,
            connect_timeout=2,
            allow_reconnect=False,
            max_reconnect_attempts=1,  # nats-py retries even the first connect
            reconnect_time_wait=0.2,
            error_cb=quiet,
        )

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        try:
            self.call(self.nc.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def publish(self, subject: str, payloads: list[bytes]) -> list[int]:
        """Publish with JetStream, one after the other; the stream sequences."""

        async def send() -> list[int]:
            return [(await self.js.publish(subject, p)).seq for p in payloads]

        return self.call(send(), timeout=60.0)

    def consumer(self, stream: str, durable: str) -> Any:
        return self.call(self.js.consumer_info(stream, durable))

    def pulling(self, stream: str, durable: str, workers: int = 1) -> bool:
        """Whether ``workers`` pull requests wait on the consumer (so the workers are up)."""
        try:
            return int(self.consumer(stream, durable).num_waiting or 0) >= workers
        except nats.js.errors.NotFoundError:
            return False

    def stream_for(self, subject: str) -> str | None:
        try:
            return self.call(self.js.find_stream_name_by_subject(subject))
        except nats.js.errors.NotFoundError:
            return None


class Names:
    """A subject, output subject, consumer and bucket of one test; deleted afterwards."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.subject = f"mbtest.{tag}.zeek"
        self.out = f"mbtest.{tag}.sightings"
        self.durable = f"mbtest-{tag}"
        self.bucket = f"mbtest-{tag}"
        self.stream = f"MBTEST_{tag}"

    def options(self, *, stream: bool = False, **changes: Any) -> StreamOptions:
        """Worker options on this test's subject, consumer and bucket (and its stream when
        ``stream``: otherwise the worker finds or makes one)."""
        return StreamOptions(
            url=f"{nats_url()}/{self.subject}",
            stream=self.stream if stream else None,
            durable=self.durable,
            index_bucket=self.bucket,
            **changes,
        )


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def start_worker(
    options: StreamOptions, detector: Detector, say: Callable[[str], None] | None = None
) -> tuple[threading.Thread, list[StreamReport]]:
    """``run_stream`` in a thread; the list gets its report when it returns."""
    done: list[StreamReport] = []
    worker = threading.Thread(target=lambda: done.append(run_stream(options, detector, say)))
    worker.start()
    return worker, done
