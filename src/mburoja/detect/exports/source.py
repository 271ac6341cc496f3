"""What an export reads from the store: the active indicators a requester may see.

:func:`gather` is :func:`~mburoja.detect.index.active_indicators` for one requester, with
the active indicators that could not be compiled beside them: the STIX export carries
those, the other formats count them as left out with the reason. :func:`raw_views` gives
the stored bytes of chosen indicators as the policy lets the requester see them (the STIX
export writes those, not a rebuilt object). Indicators a warning list holds out are left
out of what :func:`gather` returns and counted in ``options.warning_listed``; so are the
indicators whose decay score fell to their model's threshold (``options.decayed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec
import orjson

from mburoja.detect.compile import Compiled, NotCompiled, reasons_count
from mburoja.detect.exports.selection import ExportOptions
from mburoja.detect.index import active_indicators, epoch
from mburoja.lifecycle.decay import Decay, DecayModels
from mburoja.lifecycle.warninglists import Hit, WarningLists, defaults
from mburoja.stix import timestamps

if TYPE_CHECKING:
    from mburoja.policy import Caller
    from mburoja.store.sql import SqlStore


class Gathered(msgspec.Struct, kw_only=True):
    """The indicators to export and the options that describe the export.

    ``not_compiled``: the active indicators the requester may see whose pattern gave no
    match key, each with its reason (``options.not_compiled`` counts them by reason).
    ``held_out``: the active indicators the requester may see that a warning list holds
    out, each with the list entry it hit (``options.warning_listed`` counts them).
    ``decayed``: the active indicators the requester may see whose decay score is at or
    under their model's threshold, each with its decay (``options.decayed`` counts them).
    """

    indicators: list[Compiled]
    options: ExportOptions
    not_compiled: list[NotCompiled] = msgspec.field(default_factory=list)
    held_out: list[tuple[Compiled, Hit]] = msgspec.field(default_factory=list)
    decayed: list[tuple[Compiled, Decay]] = msgspec.field(default_factory=list)


def gather(
    store: SqlStore,
    caller: Caller,
    requester: str,
    *,
    at: str | None = None,
    confidence_floor: int = 0,
    warninglists: WarningLists | None = None,
    decay: DecayModels | None = None,
) -> Gathered:
    """The indicators active at ``at`` (a STIX timestamp; None: now) that ``caller`` may see,
    compiled, those of them that could not be compiled, and the export options (``requester``
    names the caller's organisation in the header). ``warninglists`` None: the shipped
    lists that are on by default; an empty ``WarningLists(())`` holds nothing out.
    ``decay`` None: the shipped decay models; ``DecayModels(())`` decays nothing."""
    generated = at or timestamps.now()
    now = timestamps.parse(generated).timestamp()
    rejects: list[NotCompiled] = []
    held: list[tuple[Compiled, Hit]] = []
    decayed: list[tuple[Compiled, Decay]] = []
    found = list(
        active_indicators(
            store,
            caller,
            now=now,
            confidence_floor=confidence_floor,
            rejects=rejects,
            warninglists=defaults() if warninglists is None else warninglists,
            held_out=held,
            decay=decay,
            decayed=decayed,
        )
    )
    listed: dict[str, int] = {}
    for _indicator, hit in held:
        listed[hit.reason] = listed.get(hit.reason, 0) + 1
    fell: dict[str, int] = {}
    for _indicator, how in decayed:
        fell[how.reason] = fell.get(how.reason, 0) + 1
    not_compiled = _active(store, caller, rejects, now)
    policy = store.policy()
    options = ExportOptions(
        generated=generated,
        requester=requester,
        default_tlp=policy.default_level,
        neutral=policy.neutral,
        not_compiled=reasons_count(not_compiled),
        warning_listed=dict(sorted(listed.items(), key=lambda kv: (-kv[1], kv[0]))),
        decayed=dict(sorted(fell.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
    return Gathered(
        indicators=found,
        options=options,
        not_compiled=not_compiled,
        held_out=held,
        decayed=decayed,
    )


def _active(
    store: SqlStore, caller: Caller, rejects: list[NotCompiled], now: float
) -> list[NotCompiled]:
    """The ``rejects`` active at ``now``. ``active_indicators`` hands on every visible
    indicator it cannot compile, expired and not yet valid ones too; only active ones belong
    in an export and its counts."""
    views = raw_views(store, caller, [reject.id for reject in rejects]) if rejects else {}
    out: list[NotCompiled] = []
    for reject in rejects:
        view = views.get(reject.id)
        if view is None:
            continue  # no longer current, or no longer visible
        obj = orjson.loads(view)
        start, until = epoch(obj.get("valid_from")), epoch(obj.get("valid_until"))
        if (start is None or start <= now) and (until is None or now < until):
            out.append(reject)
    return out


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
