"""The ``spamhaus-drop`` format: Spamhaus DROP / EDROP / DROPv6 (``drop.txt``).

Lines starting with ``;`` are comments; an entry is ``CIDR ; SBLnnn``. The network becomes
an ``ISSUBSET`` indicator whose external reference ``spamhaus-sbl`` carries the SBL id, so an
analyst can look the listing up. An entry without an SBL id is kept without the reference;
one whose first field is no network, or whose second field is no SBL id, is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from mburoja.config import LimitSettings
from mburoja.feeds.formats import common
from mburoja.feeds.formats.common import Item
from mburoja.stix.model import Reject

if TYPE_CHECKING:
    from mburoja.feeds.catalogue import FeedSpec

_SBL: Final = re.compile(r"SBL\d+")


def read(
    data: bytes, origin: str, spec: FeedSpec, now: str, limits: LimitSettings
) -> Iterator[Item]:
    """The objects of a Spamhaus DROP list."""
    conv = common.converter(spec, origin, now)
    for line in common.text_lines(data, origin):
        if isinstance(line, Reject):
            yield line
            continue
        number, stripped, raw = line
        if stripped.startswith(";"):
            continue
        network, _, listing = (part.strip() for part in stripped.partition(";"))
        references = None
        if listing:
            if not _SBL.fullmatch(listing):
                reason = f"{common.shown(listing)} is not an SBL id (expected SBL and digits)"
                yield common.reject(origin, number, "sbl", reason, raw)
                continue
            references = [{"source_name": "spamhaus-sbl", "external_id": listing}]
        extra = common.extra_for(spec, references=references)
        yield from common.value_items(conv, network, number, raw, extra)
