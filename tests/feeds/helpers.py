"""Shared by the feed tests: a FeedSpec for a format, and a parse split into its parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from mburoja.config import LimitSettings, Settings, load_settings
from mburoja.feeds.catalogue import FeedSpec
from mburoja.feeds.formats import read
from mburoja.stix.model import RawObject, Reject

FIXTURES = Path(__file__).parent / "fixtures"
NOW = "2026-11-22T00:00:00.000Z"


def spec_for(fmt: str, **kw: Any) -> FeedSpec:
    fields: dict[str, Any] = {
        "name": "test-feed",
        "provider": "tests",
        "url": "https://feed.example/list",
        "format": fmt,
        "schedule": "1h",
        "tlp": "green",
        "confidence": 60,
        "labels": ("from-feed",),
        # the parser tests check the SCOs too; a feed's default (indicators only) is tested
        # on its own in test_formats
        "observables": True,
    }
    fields.update(kw)
    return FeedSpec(**fields)


class Parsed:
    """The items of one parse, split: indicators by pattern, SCOs, relationships, rejects."""

    def __init__(self, items: list[RawObject | Reject]) -> None:
        self.items = items
        self.rejects = [i for i in items if isinstance(i, Reject)]
        self.raws = [i for i in items if isinstance(i, RawObject)]
        self.objects: list[dict[str, Any]] = [orjson.loads(r.raw) for r in self.raws]
        self.indicators = {o["pattern"]: o for o in self.objects if o["type"] == "indicator"}
        self.indicator_lines = sorted(
            r.index
            for r, o in zip(self.raws, self.objects, strict=True)
            if o["type"] == "indicator"
        )
        self.scos = [
            o
            for o in self.objects
            if o["type"] not in ("indicator", "relationship", "marking-definition")
        ]
        self.relationships = [o for o in self.objects if o["type"] == "relationship"]

    @property
    def reject_places(self) -> list[tuple[str, str]]:
        return [(r.origin, r.field) for r in self.rejects]


def parse(fixture: str, fmt: str, **kw: Any) -> Parsed:
    data = (FIXTURES / fixture).read_bytes()
    return Parsed(list(read(data, "test-feed", spec_for(fmt, **kw), NOW, LimitSettings())))


def data_lines(fixture: str, comment: str = "#") -> list[int]:
    """The numbers of the lines that are neither blank nor comments, counted independently."""
    text = (FIXTURES / fixture).read_text(encoding="utf-8").split("\n")
    return [
        n
        for n, line in enumerate(text, start=1)
        if line.strip() and not line.strip().startswith(comment)
    ]


def run_settings(tmp_path: Path, *, fetch: dict[str, Any] | None = None, **feeds: Any) -> Settings:
    """Settings for feed runs against the local feed server: private addresses allowed, no
    per-host wait, quick retries; ``feeds`` and ``fetch`` override."""
    return load_settings(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "fetch": {"allow_private": True, **(fetch or {})},
            "feeds": {
                "retries": 1,
                "backoff_s": 0.01,
                "unhealthy_after": 3,
                "per_host_interval_s": 0,
                **feeds,
            },
        },
    )
