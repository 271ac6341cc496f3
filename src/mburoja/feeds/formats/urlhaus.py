"""The ``urlhaus-csv`` format: URLhaus's CSV export (``csv_recent``).

Its header is a comment line; the columns are fixed: ``id, dateadded, url, url_status,
last_online, threat, tags, urlhaus_link, reporter``. The URL becomes the indicator,
``dateadded`` its ``valid_from`` and the tags (``elf,Mozi``) its labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from mburoja.config import LimitSettings
from mburoja.feeds.catalogue import FormatOptions
from mburoja.feeds.formats import table
from mburoja.feeds.formats.common import Item

if TYPE_CHECKING:
    from mburoja.feeds.catalogue import FeedSpec

LAYOUT: Final = FormatOptions(column=2, first_seen_column=1, tags_column=6)


def read(
    data: bytes, origin: str, spec: FeedSpec, now: str, limits: LimitSettings
) -> Iterator[Item]:
    """The objects of a URLhaus CSV export."""
    return table.rows(data, origin, spec, now, LAYOUT)
