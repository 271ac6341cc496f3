"""Compiled indicators for matcher tests, without going through the pattern compiler."""

from __future__ import annotations

from mburoja.detect.compile import Compiled, Key


def compiled(n: int, kind: str, value: str, *more: tuple[str, str]) -> Compiled:
    """Indicator number ``n`` with the key ``(kind, value)`` and any ``more`` keys."""
    return Compiled(
        id=f"indicator--{n:08d}-0000-4000-8000-000000000000",
        pattern="[x:y = 'z']",
        keys=(Key(kind, value), *(Key(k, v) for k, v in more)),
        simple=True,
    )
