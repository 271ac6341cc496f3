"""Fixtures of the detection tests that talk to a real NATS JetStream server."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import nats.errors
import nats.js.errors
import pytest

from tests.conftest import nats_url
from tests.detect.natsbus import Bus, Names


@pytest.fixture
def bus() -> Iterator[Bus]:
    url = nats_url()
    try:
        connection = Bus(url)
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        if os.environ.get("MBUROJA_REQUIRE_SERVICES"):
            pytest.fail(f"NATS at {url} is unreachable: {exc}")
        pytest.skip(f"NATS at {url} is unreachable")
    yield connection
    connection.close()


@pytest.fixture
def names(bus: Bus) -> Iterator[Names]:
    made = Names()
    yield made
    for subject in (made.subject, made.out):
        if (found := bus.stream_for(subject)) is not None:
            bus.call(bus.js.delete_stream(found))
    with contextlib.suppress(nats.js.errors.NotFoundError):
        bus.call(bus.js.delete_key_value(made.bucket))
