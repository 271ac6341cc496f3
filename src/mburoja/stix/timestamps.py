"""STIX 2.1 timestamps: checking, sortable version keys and conversions.

A STIX timestamp is RFC 3339 in UTC, written ``YYYY-MM-DDTHH:MM:SS[.s+]Z`` with any number of
fractional digits (STIX 2.1 §3.2). Versions of one object are ordered by ``modified``, and
producers write it with different precisions (``.5Z``, ``.500Z``, ``.500000Z``), so plain string
comparison is wrong. ``version_key`` turns a timestamp into a fixed-width string with nine
fractional digits whose lexicographic order is the order of the instants; the store indexes it.

Leap seconds: RFC 3339 §5.7 allows a seconds value of 60 at the end of a UTC month, so
``23:59:60`` on the last day of a month is accepted. Its version key still sorts correctly
(before the next day's ``00:00:00``); ``parse`` maps it to ``23:59:59.999999`` because
``datetime`` has no 61st second.

Everything here is on the ingest hot path: checks are one precompiled regex and a few string
comparisons, with no ``datetime`` unless arithmetic is asked for.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final

# Field ranges are in the regex, so only day 29-31 needs a calendar look-up afterwards.
_TIMESTAMP_RE: Final = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?Z"
)
_DAYS_IN_MONTH: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NINE_ZEROS: Final = "000000000"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_length(year: int, month: int) -> int:
    if month == 2 and _is_leap_year(year):
        return 29
    return _DAYS_IN_MONTH[month]


def is_timestamp(s: str) -> bool:
    """True if ``s`` is a STIX timestamp: RFC 3339, UTC ``Z``, and a real calendar date."""
    if not isinstance(s, str) or _TIMESTAMP_RE.fullmatch(s) is None:
        return False
    day = s[8:10]
    leap_second = s[17:19] == "60"
    if day <= "28" and not leap_second:
        return True
    month_length = _month_length(int(s[0:4]), int(s[5:7]))
    if int(day) > month_length:
        return False
    if leap_second:
        # RFC 3339 §5.7: a leap second is only ever inserted at the very end of a UTC month.
        return int(day) == month_length and s[11:17] == "23:59:"
    return True


def version_key(s: str) -> str:
    """The fixed-width sortable form of a timestamp: exactly nine fractional digits.

    ``2020-01-01T00:00:00.5Z`` becomes ``2020-01-01T00:00:00.500000000Z``; digits beyond the
    ninth are dropped (STIX gives them no meaning past nanoseconds). ``s`` should already be a
    valid timestamp; a string without the basic shape raises ``ValueError``.
    """
    n = len(s)
    if n == 20 and s[19] == "Z":
        return s[:19] + ".000000000Z"
    if n < 22 or s[19] != "." or s[-1] != "Z":
        raise ValueError(f"not a STIX timestamp: {s!r}")
    frac = s[20:-1]
    if len(frac) >= 9:
        return s[:20] + frac[:9] + "Z"
    return s[:20] + frac + _NINE_ZEROS[len(frac) :] + "Z"


def to_taxii(key_or_ts: str) -> str:
    """A timestamp or version key in TAXII 2.1's form: exactly six fractional digits, ``Z``.

    Extra digits are truncated, never rounded, so the result never moves to a later instant.
    """
    key = version_key(key_or_ts)
    return key[:26] + "Z"


def now() -> str:
    """The current time as a STIX timestamp with microsecond precision."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_epoch(seconds: int | float | str) -> str:
    """A Unix epoch time (MISP's ``timestamp`` strings) as a STIX timestamp in milliseconds.

    ``"1603642920"`` becomes ``2020-10-25T16:22:00.000Z``, the precision MISP's own STIX
    converter gives ``created`` and ``modified``. Fractions below a millisecond are truncated.
    Raises ``ValueError`` for anything that is not a finite number of seconds.
    """
    if isinstance(seconds, bool):
        raise ValueError(f"not an epoch time: {seconds!r}")
    try:
        value = Decimal(seconds.strip()) if isinstance(seconds, str) else Decimal(seconds)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise ValueError(f"not an epoch time: {seconds!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an epoch time: {seconds!r}")
    millis = int((value * 1000).to_integral_value(rounding="ROUND_FLOOR"))
    try:
        moment = _EPOCH + timedelta(milliseconds=millis)
    except OverflowError as exc:
        raise ValueError(f"epoch time out of range: {seconds!r}") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse(s: str) -> datetime:
    """A STIX timestamp as an aware UTC ``datetime`` (microsecond precision, truncated).

    Raises ``ValueError`` if ``s`` is not a valid timestamp. A leap second ``:60`` becomes
    ``:59.999999`` of the same minute.
    """
    if not is_timestamp(s):
        raise ValueError(f"not a STIX timestamp: {s!r}")
    key = version_key(s)
    second = int(key[17:19])
    micro = int(key[20:26])
    if second == 60:
        second, micro = 59, 999_999
    return datetime(
        int(key[0:4]),
        int(key[5:7]),
        int(key[8:10]),
        int(key[11:13]),
        int(key[14:16]),
        second,
        micro,
        tzinfo=UTC,
    )
