"""What an export reads from the store: the active indicators a requester may see.

:func:`gather` is :func:`~mburoja.detect.index.active_indicators` for one requester, with
the reasons the indicators that could not be compiled were left out. :func:`raw_views`
gives the stored bytes of chosen indicators as the policy lets the requester see them (the
STIX export writes those, not a rebuilt object).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from mburoja.detect.compile import Compiled, NotCompiled, reasons_count
from mburoja.detect.exports.selection import ExportOptions
from mburoja.detect.index import active_indicators
from mburoja.stix import timestamps

if TYPE_CHECKING:
    from mburoja.policy import Caller
    from mburoja.store.sql import SqlStore


class Gathered(msgspec.Struct, kw_only=True):
    """The indicators to export and the options that describe the export."""

    indicators: list[Compiled]
    options: ExportOptions


def gather(
    store: SqlStore,
    caller: Caller,
    requester: str,
    *,
    at: str | None = None,
    confidence_floor: int = 0,
) -> Gathered:
    """The indicators active at ``at`` (a STIX timestamp; None: now) that ``caller`` may see,
    compiled, and the export options for them (``requester`` names the caller's
    organisation in the header)."""
    generated = at or timestamps.now()
    rejects: list[NotCompiled] = []
    found = list(
        active_indicators(
            store,
            caller,
            now=timestamps.parse(generated).timestamp(),
            confidence_floor=confidence_floor,
            rejects=rejects,
        )
    )
    policy = store.policy()
    options = ExportOptions(
        generated=generated,
        requester=requester,
        default_tlp=policy.default_level,
        neutral=policy.neutral,
        not_compiled=reasons_count(rejects),
    )
    return Gathered(indicators=found, options=options)


def raw_views(store: SqlStore, caller: Caller, ids: Sequence[str]) -> dict[str, bytes]:
    """The current stored bytes of ``ids`` as ``caller`` may see them (withheld ones are
    absent)."""
    policy = store.policy()
    out: dict[str, bytes] = {}
    for object_id, version in store.current_many(ids).items():
        view = policy.view(caller, version.owner, version.markings, version.raw)
        if view is not None:
            out[object_id] = view
    return out
