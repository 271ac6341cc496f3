"""STIX timestamps: what is one, sortable version keys, and the conversions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mburoja.stix.timestamps import from_epoch, is_timestamp, now, parse, to_taxii, version_key
from tests.strategies import timestamps

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def instant(ts: str) -> tuple[datetime, Decimal]:
    """An independent reading of a timestamp: whole seconds and the exact fraction."""
    whole = datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
    fraction = Decimal("0" + ts[19:-1]) if ts[19] == "." else Decimal(0)
    return whole, fraction


@pytest.mark.parametrize(
    "ts",
    [
        "2020-01-01T00:00:00Z",
        "2020-01-01T00:00:00.5Z",
        "2020-01-01T00:00:00.123Z",
        "2020-01-01T00:00:00.123456Z",
        "2020-01-01T00:00:00.123456789Z",
        "2020-01-01T00:00:00.123456789012Z",
        "2020-02-29T23:59:59.999Z",
        "2000-02-29T00:00:00Z",
        "2016-12-31T23:59:60Z",
        "2015-06-30T23:59:60.5Z",
    ],
)
def test_accepts_rfc3339_utc_timestamps(ts: str) -> None:
    assert is_timestamp(ts)


@pytest.mark.parametrize(
    "ts",
    [
        "2020-02-30T00:00:00Z",
        "2021-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2020-04-31T00:00:00Z",
        "2020-13-01T00:00:00Z",
        "2020-00-10T00:00:00Z",
        "2020-01-00T00:00:00Z",
        "2020-01-01T24:00:00Z",
        "2020-01-01T00:60:00Z",
        "2020-01-01T00:00:61Z",
        "2016-12-30T23:59:60Z",
        "2016-12-31T23:58:60Z",
        "2020-01-01T00:00:00z",
        "2020-01-01t00:00:00Z",
        "2020-01-01 00:00:00Z",
        "2020-01-01T00:00:00",
        "2020-01-01T00:00:00+00:00",
        "2020-01-01T00:00:00.Z",
        "2020-1-01T00:00:00Z",
        "20200101T000000Z",
        "2020-01-01T00:00:00Z ",
        "",
    ],
)
def test_rejects_anything_else(ts: str) -> None:
    assert not is_timestamp(ts)


def test_rejects_non_strings() -> None:
    assert not is_timestamp(20200101)  # type: ignore[arg-type]
    assert not is_timestamp(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ts", "key"),
    [
        ("2020-01-01T00:00:00Z", "2020-01-01T00:00:00.000000000Z"),
        ("2020-01-01T00:00:00.5Z", "2020-01-01T00:00:00.500000000Z"),
        ("2020-01-01T00:00:00.123456Z", "2020-01-01T00:00:00.123456000Z"),
        ("2020-01-01T00:00:00.123456789Z", "2020-01-01T00:00:00.123456789Z"),
        ("2020-01-01T00:00:00.1234567891234Z", "2020-01-01T00:00:00.123456789Z"),
    ],
)
def test_version_key_has_exactly_nine_fractional_digits(ts: str, key: str) -> None:
    assert version_key(ts) == key


def test_version_keys_of_one_instant_are_equal_whatever_the_precision() -> None:
    keys = {
        version_key(ts)
        for ts in ("2020-05-05T10:00:00Z", "2020-05-05T10:00:00.0Z", "2020-05-05T10:00:00.000000Z")
    }
    assert len(keys) == 1


@given(timestamps(), timestamps())
def test_version_key_order_is_the_order_of_instants(a: str, b: str) -> None:
    # Nine digits is the key's resolution; compare the instants at that resolution.
    ia, ib = instant(a), instant(b)
    ia = (ia[0], ia[1].quantize(Decimal("1e-9"), rounding="ROUND_DOWN"))
    ib = (ib[0], ib[1].quantize(Decimal("1e-9"), rounding="ROUND_DOWN"))
    assert (version_key(a) < version_key(b)) == (ia < ib)
    assert (version_key(a) == version_key(b)) == (ia == ib)


@given(timestamps())
def test_version_key_is_itself_a_timestamp_and_a_fixed_point(ts: str) -> None:
    key = version_key(ts)
    assert is_timestamp(key) and len(key) == 30
    assert version_key(key) == key


@pytest.mark.parametrize("junk", ["", "2020", "2020-01-01T00:00:00", "2020-01-01T00:00:00.5"])
def test_version_key_refuses_what_is_not_timestamp_shaped(junk: str) -> None:
    with pytest.raises(ValueError, match="not a STIX timestamp"):
        version_key(junk)


@pytest.mark.parametrize(
    ("ts", "taxii"),
    [
        ("2020-01-01T00:00:00Z", "2020-01-01T00:00:00.000000Z"),
        ("2020-01-01T00:00:00.5Z", "2020-01-01T00:00:00.500000Z"),
        ("2020-01-01T00:00:00.123456999Z", "2020-01-01T00:00:00.123456Z"),
        ("2020-01-01T00:00:00.999999999Z", "2020-01-01T00:00:00.999999Z"),
    ],
)
def test_to_taxii_gives_microseconds_truncated(ts: str, taxii: str) -> None:
    assert to_taxii(ts) == taxii
    assert to_taxii(version_key(ts)) == taxii


def test_now_is_a_microsecond_timestamp_of_the_current_time() -> None:
    before = datetime.now(UTC)
    stamp = now()
    after = datetime.now(UTC)
    assert is_timestamp(stamp) and len(stamp) == 27
    assert before - timedelta(microseconds=1) <= parse(stamp) <= after


def test_from_epoch_matches_what_misp_converter_wrote() -> None:
    """MISP's own STIX 2.1 export of the same events gives each grouping the event time."""
    events = json.loads((DATA / "misp-examples" / "test_events_collection_1.json").read_text())
    bundle = json.loads((DATA / "misp-examples" / "test_events_collection_stix21.json").read_text())
    created = {o["id"]: o["created"] for o in bundle["objects"] if o["type"] == "grouping"}
    checked = 0
    for item in events["response"]:
        event = item["Event"]
        grouping = created.get(f"grouping--{event['uuid']}")
        if grouping is not None:
            assert from_epoch(event["timestamp"]) == grouping
            checked += 1
    assert checked > 0


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        ("1603642920", "2020-10-25T16:22:00.000Z"),
        (" 1603642920 ", "2020-10-25T16:22:00.000Z"),
        (1603642920.5, "2020-10-25T16:22:00.500Z"),
        ("1603642920.1239", "2020-10-25T16:22:00.123Z"),
        (-1, "1969-12-31T23:59:59.000Z"),
    ],
)
def test_from_epoch_gives_millisecond_timestamps(seconds: int | float | str, expected: str) -> None:
    assert from_epoch(seconds) == expected


@pytest.mark.parametrize("bad", ["", "abc", "nan", "inf", "1e400", True, None])
def test_from_epoch_refuses_non_numbers(bad: object) -> None:
    with pytest.raises(ValueError, match="epoch time"):
        from_epoch(bad)  # type: ignore[arg-type]


def test_parse_gives_an_aware_utc_datetime_truncated_to_microseconds() -> None:
    moment = parse("2020-10-25T16:22:00.1234567Z")
    assert moment == datetime(2020, 10, 25, 16, 22, 0, 123456, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)


def test_parse_maps_a_leap_second_to_the_last_microsecond_of_its_minute() -> None:
    assert parse("2016-12-31T23:59:60Z") == datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_parse_refuses_invalid_timestamps() -> None:
    with pytest.raises(ValueError, match="not a STIX timestamp"):
        parse("2020-02-30T00:00:00Z")


@given(st.integers(0, 4_000_000_000), st.integers(0, 999))
def test_from_epoch_round_trips_through_parse(seconds: int, millis: int) -> None:
    stamp = from_epoch(f"{seconds}.{millis:03d}")
    assert is_timestamp(stamp)
    assert parse(stamp).timestamp() == pytest.approx(seconds + millis / 1000, abs=1e-6)
