"""Docs are code: the generated references match the code, and every setting is documented."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

from mburoja.config import Settings

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import gen_docs  # noqa: E402


@pytest.mark.parametrize("page", sorted(gen_docs.PAGES))
def test_generated_reference_page_is_up_to_date(page: str) -> None:
    expected = gen_docs.PAGES[page]()
    actual = (REPO / "docs" / page).read_text()
    assert actual == expected, f"docs/{page} is stale: run `python scripts/gen_docs.py`"


def test_every_setting_appears_in_the_settings_reference() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    defaults = Settings()
    sections = [
        f.name
        for f in msgspec.structs.fields(defaults)
        if isinstance(getattr(defaults, f.name), msgspec.Struct)
    ]
    assert {"detect", "disinfo", "web"} <= set(sections)
    for section in sections:
        for field in msgspec.structs.fields(getattr(defaults, section)):
            assert f"`{section}.{field.name}`" in text


def test_readme_names_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    assert "make run" in text and "make test" in text
