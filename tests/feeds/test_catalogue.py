"""The shipped catalogue loads, every entry is disabled; bad user catalogues give clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mburoja.errors import ConfigError
from mburoja.feeds import catalogue
from mburoja.feeds.catalogue import interval_seconds
from mburoja.feeds.formats import known_formats

GOOD = """
[[feed]]
name = "vendor-x"
provider = "Vendor X"
url = "https://vendor.example/iocs.csv"
format = "csv"
schedule = "1h30m"
tlp = "amber"
confidence = 70
yields = ["ipv4", "domain"]
[feed.options]
column = "indicator"
header = true
delimiter = ";"
"""


def test_shipped_catalogue_loads_and_every_entry_is_disabled() -> None:
    feeds = catalogue.shipped()
    names = {f.name for f in feeds}
    assert {
        "urlhaus-recent",
        "feodo-ipblocklist",
        "threatfox-recent",
        "malwarebazaar-recent",
        "circl-osint",
        "botvrij-osint",
        "openphish-community",
        "spamhaus-drop",
        "spamhaus-edrop",
        "blocklist-de-all",
        "cins-army",
    } <= names
    for feed in feeds:
        assert feed.enabled is False, feed.name
        assert feed.format in known_formats(), feed.name
        assert feed.interval_s >= catalogue.MIN_INTERVAL_S, feed.name
        assert feed.licence and feed.yields and feed.provider, feed.name
        assert feed.url.startswith("https://"), feed.name
    assert {f.format for f in feeds if f.provider == "CIRCL"} == {"misp-feed"}


def test_intervals() -> None:
    assert interval_seconds("15m") == 900
    assert interval_seconds("1h") == 3600
    assert interval_seconds("1d") == 86400
    assert interval_seconds("1h30m") == 5400
    assert interval_seconds(" 2W ") == 2 * 604800
    for bad in ("", "5x", "h", "1.5h", "-1h", "1 h"):
        with pytest.raises(ValueError, match="is not an interval"):
            interval_seconds(bad)


def test_user_catalogue_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD, encoding="utf-8")
    (feed,) = catalogue.load(path)
    assert (feed.name, feed.interval_s, feed.tlp, feed.enabled) == (
        "vendor-x",
        5400,
        "amber",
        False,
    )
    assert (feed.options.column, feed.options.header, feed.options.delimiter) == (
        "indicator",
        True,
        ";",
    )


def _error(text: str, tmp_path: Path) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        catalogue.load(path)
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('format = "csv"', 'format = "xls"'),
            "feed 'vendor-x': format: unknown format 'xls'; use one of csv,",
        ),
        (
            ('schedule = "1h30m"', 'schedule = "often"'),
            "feed 'vendor-x': schedule: 'often' is not an interval",
        ),
        (
            ('schedule = "1h30m"', 'schedule = "30s"'),
            "feed 'vendor-x': schedule: '30s' is shorter than the minimum of 1m",
        ),
        (('tlp = "amber"', 'tlp = "purple"'), "feed 'vendor-x': tlp: unknown TLP level 'purple'"),
        (
            ("confidence = 70", "confidence = 170"),
            "feed 'vendor-x': confidence: 170 is outside 0..100",
        ),
        (
            ("confidence = 70", 'confidence = "high"'),
            "feed 'vendor-x': confidence: Expected `int`, got `str`",
        ),
        (
            ('url = "https://vendor.example/iocs.csv"', 'url = "ftp://vendor.example/x"'),
            "feed 'vendor-x': url: 'ftp://vendor.example/x' is not an http(s) URL",
        ),
        (
            ('yields = ["ipv4", "domain"]', 'yields = ["ipv4", "mutex"]'),
            "feed 'vendor-x': yields: unknown indicator kind 'mutex'",
        ),
        (
            ('column = "indicator"', 'colum = "indicator"'),
            "feed 'vendor-x': options: Object contains unknown field `colum`",
        ),
        (
            ('delimiter = ";"', 'delimiter = ";;"'),
            "feed 'vendor-x': options.delimiter: must be one character",
        ),
        (('name = "vendor-x"', 'name = "Vendor X"'), "feed 'Vendor X': name: use 1 to 64 of a-z"),
        (
            ('tlp = "amber"', 'tlp = "amber"\nenabeld = true'),
            "feed 'vendor-x': Object contains unknown field `enabeld`",
        ),
    ],
)
def test_bad_user_catalogue_names_file_feed_and_field(
    change: tuple[str, str], expected: str, tmp_path: Path
) -> None:
    old, new = change
    assert old in GOOD
    message = _error(GOOD.replace(old, new), tmp_path)
    assert message.startswith(f"{tmp_path / 'bad.toml'}: ")
    assert expected in message


def test_every_problem_is_reported_and_missing_fields_are_named(tmp_path: Path) -> None:
    text = GOOD.replace('tlp = "amber"', 'tlp = "pink"').replace(
        "confidence = 70", "confidence = -1"
    )
    text += '\n[[feed]]\nname = "no-url"\nprovider = "p"\nformat = "text"\nschedule = "1d"\n'
    message = _error(text, tmp_path)
    lines = message.split("\n")
    assert len(lines) == 3
    assert "feed 'vendor-x': tlp:" in lines[0] and "feed 'vendor-x': confidence:" in lines[1]
    assert "feed 'no-url': Object missing required field `url`" in lines[2]


def test_csv_needs_a_column_duplicates_and_bad_toml(tmp_path: Path) -> None:
    assert "options.column: the csv format needs the column" in _error(
        GOOD.replace('column = "indicator"\n', ""), tmp_path
    )
    assert "feed 'vendor-x': name: defined twice" in _error(GOOD + GOOD, tmp_path)
    assert "not valid TOML" in _error("[[feed]\n", tmp_path)
    assert "unknown top-level key 'feeds'" in _error("[[feeds]]\nname = 'x'\n", tmp_path)
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot read the feed catalogue"):
        catalogue.load(missing)


def test_user_entries_replace_shipped_ones_by_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    mine = GOOD.replace('name = "vendor-x"', 'name = "cins-army"')
    path.write_text(
        mine.replace("[feed.options]", "enabled = true\n[feed.options]"), encoding="utf-8"
    )
    feeds = catalogue.merged(catalogue.shipped(), catalogue.load(path))
    by_name = {f.name: f for f in feeds}
    assert len(feeds) == len(catalogue.shipped())
    assert by_name["cins-army"].enabled and by_name["cins-army"].format == "csv"
    assert not by_name["spamhaus-drop"].enabled
