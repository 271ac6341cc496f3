"""Warning lists: matching, list files, and holding indicators out of the index and exports."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import orjson
import pytest

from mburoja.cli.export_cmd import org_caller
from mburoja.config import Settings, WarninglistSettings
from mburoja.detect.compile import Compiled, Key, compile_indicator
from mburoja.detect.exports import gather, write_csv, write_stix, write_zeek
from mburoja.detect.exports.source import raw_views
from mburoja.detect.index import IndexFeed
from mburoja.detect.pipeline import Detector
from mburoja.detect.status import export_file
from mburoja.errors import ConfigError
from mburoja.lifecycle.warninglists import (
    WarningList,
    WarningLists,
    defaults,
    from_settings,
    read_list,
    select_lists,
    shipped,
)
from mburoja.store.sql import SqlStore
from tests.world import build_world, load

AT = "2026-01-01T00:00:00Z"


def _indicator(n: int, pattern: str) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{n:08d}-2222-4222-8222-222222222222",
        "created": "2025-01-01T00:00:00.000Z",
        "modified": "2025-01-01T00:00:00.000Z",
        "name": f"indicator {n}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2025-01-01T00:00:00Z",
    }


def _compiled(pattern: str) -> Compiled:
    found = compile_indicator(_indicator(1, pattern))
    assert isinstance(found, Compiled)
    return found


# -- matching ----------------------------------------------------------------------------


def test_shipped_defaults_hold_resolvers_reserved_and_top_domains() -> None:
    lists = defaults()
    assert lists.names == ("public-dns-resolvers", "special-purpose", "top-domains")
    for value, name, entry in [
        ("8.8.8.8", "public-dns-resolvers", "8.8.8.8"),
        ("2606:4700:4700::1111", "public-dns-resolvers", "2606:4700:4700::1111"),
        ("127.0.0.53", "special-purpose", "127.0.0.0/8"),
        ("100.100.1.1", "special-purpose", "100.64.0.0/10"),
        ("fe80::1:2", "special-purpose", "fe80::/10"),
        ("239.1.2.3", "special-purpose", "224.0.0.0/4"),
        ("microsoft.com", "top-domains", "microsoft.com"),
        ("login.Microsoft.com.", "top-domains", "microsoft.com"),
    ]:
        hit = lists.check(value)
        assert hit is not None, value
        assert (hit.list, hit.entry) == (name, entry)
    # look-alikes, documentation ranges and private ranges are not held by default
    for value in (
        "8.8.8.9",
        "notmicrosoft.com",
        "microsoft.com.evil.example",
        "198.51.100.7",
        "2001:db8::1",
        "10.1.2.3",
    ):
        assert lists.check(value) is None, value


def test_documentation_and_rfc1918_lists_are_shipped_off() -> None:
    by_name = {wl.name: wl for wl in shipped()}
    assert not by_name["documentation"].default_on
    assert not by_name["rfc1918"].default_on
    on = WarningLists(select_lists(turned_on=["documentation", "rfc1918"]))
    assert on.check("198.51.100.7") is not None
    assert on.check("2001:db8::99") is not None
    hit = on.check("192.168.4.4")
    assert hit is not None and hit.reason == "warning list rfc1918"


def test_network_keys_are_held_only_inside_a_listed_range() -> None:
    lists = WarningLists(select_lists(turned_on=["rfc1918"]))
    inside = lists.key(Key("net", "10.20.0.0/16"))
    assert inside is not None and inside.entry == "10.0.0.0/8"
    assert lists.key(Key("net", "10.0.0.0/8")) is not None  # the range itself
    assert lists.key(Key("net", "8.0.0.0/5")) is None  # overlaps 8.8.8.8 and 10/8, wider
    assert lists.key(Key("net", "fd00:1::/32")) is not None  # inside fc00::/7
    assert lists.key(Key("net", "fc00::/6")) is None
    endpoint = lists.key(Key("endpoint", "1.1.1.1|53"))
    assert endpoint is not None and endpoint.list == "public-dns-resolvers"


def test_urls_and_email_addresses_are_not_checked_against_domains() -> None:
    lists = defaults()
    assert lists.key(Key("url", "https://docs.google.com/evil")) is None
    assert lists.key(Key("email", "attacker@gmail.com")) is None
    assert lists.key(Key("domain", "mail.google.com")) is not None


def test_an_indicator_is_held_when_any_key_hits() -> None:
    lists = defaults()
    both = _compiled("[ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value = '9.9.9.9']")
    hit = lists.indicator(both)
    assert hit is not None and hit.entry == "9.9.9.9"
    assert lists.indicator(_compiled("[ipv4-addr:value = '198.51.100.7']")) is None


def test_string_and_substring_lists_match_any_value() -> None:
    lists = WarningLists(
        [
            WarningList(name="exact", type="string", values=("https://cdn.example/ok.js",)),
            WarningList(name="part", type="substring", values=("windowsupdate",)),
        ]
    )
    exact = lists.key(Key("url", "https://cdn.example/ok.js"))
    assert exact is not None and exact.list == "exact"
    part = lists.key(Key("url", "http://download.windowsupdate.example/x"))
    assert part is not None and part.list == "part"
    assert lists.key(Key("url", "https://cdn.example/other.js")) is None


def test_a_large_index_is_matched_key_by_key() -> None:
    """Many keys, a few of them listed: exactly those are held (the speed of this is the
    benchmark's business, not a test's)."""
    lists = WarningLists(select_lists(turned_on=["rfc1918", "documentation"]))
    keys = [Key("ip", f"11.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}") for i in range(100_000)]
    keys += [Key("domain", f"host{i}.sub.evil.example") for i in range(100_000)]
    keys += [Key("ip", f"10.1.{i >> 8 & 255}.{i & 255}") for i in range(1_000)]
    keys += [Key("domain", f"x{i}.mail.google.com") for i in range(1_000)]
    held = [k for k in keys if lists.key(k) is not None]
    assert len(held) == 2_000
    assert all(k.value.startswith("10.1.") or k.value.endswith(".google.com") for k in held)


# -- list files --------------------------------------------------------------------------


def test_text_list_file(tmp_path: Path) -> None:
    path = tmp_path / "cdn.txt"
    path.write_text(
        "# name: example-cdn\n# type: cidr\n# description: our CDN\n"
        "203.0.113.0/25  # edge\n\n2001:db8:cafe::/48\n",
        encoding="utf-8",
    )
    wl = read_list(path)
    assert (wl.name, wl.type, wl.values) == (
        "example-cdn",
        "cidr",
        ("203.0.113.0/25", "2001:db8:cafe::/48"),
    )
    lists = WarningLists([wl])
    assert lists.check("203.0.113.5") is not None
    assert lists.check("203.0.113.200") is None
    assert lists.check("2001:db8:cafe:1::1") is not None


def test_misp_json_list_file(tmp_path: Path) -> None:
    path = tmp_path / "misp.json"
    path.write_bytes(
        orjson.dumps(
            {
                "name": "Example hosting",
                "type": "hostname",
                "description": "a test list",
                "version": 1,
                "list": ["cdn.example", "static.test"],
            }
        )
    )
    wl = read_list(path)
    assert (wl.name, wl.type, wl.values) == (
        "Example hosting",
        "hostname",
        ("cdn.example", "static.test"),
    )
    hit = WarningLists([wl]).check("a.b.cdn.example")
    assert hit is not None and hit.reason == "warning list Example hosting"


# The shapes the providers publish, with documentation ranges standing in for theirs.
AWS_RANGES = {
    "syncToken": "1763769600",
    "createDate": "2026-11-22-00-00-00",
    "prefixes": [
        {"ip_prefix": "192.0.2.0/25", "region": "eu-central-1", "service": "AMAZON"},
        {"ip_prefix": "198.51.100.0/24", "region": "GLOBAL", "service": "CLOUDFRONT"},
    ],
    "ipv6_prefixes": [{"ipv6_prefix": "2001:db8:10::/48", "service": "AMAZON"}],
}
GOOGLE_RANGES = {
    "syncToken": "1763769600000",
    "prefixes": [{"ipv4Prefix": "203.0.113.0/26"}, {"ipv6Prefix": "2001:db8:20::/48"}],
}
AZURE_TAGS = {
    "changeNumber": 1,
    "cloud": "Public",
    "values": [
        {
            "name": "AzureFrontDoor.Frontend",
            "properties": {"addressPrefixes": ["203.0.113.128/25", "2001:db8:30::/48"]},
        }
    ],
}


@pytest.mark.parametrize(
    ("name", "body", "inside", "outside"),
    [
        ("aws-ip-ranges.json", AWS_RANGES, ["198.51.100.7", "2001:db8:10::1"], "192.0.2.200"),
        ("goog.json", GOOGLE_RANGES, ["203.0.113.5", "2001:db8:20:1::9"], "203.0.113.64"),
        ("azure-tags.json", AZURE_TAGS, ["203.0.113.200", "2001:db8:30::5"], "203.0.113.1"),
    ],
)
def test_a_cloud_providers_published_ranges_are_a_cidr_list_named_after_the_file(
    tmp_path: Path, name: str, body: dict[str, object], inside: list[str], outside: str
) -> None:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(body))
    wl = read_list(path)
    assert (wl.name, wl.type) == (name.removesuffix(".json"), "cidr")
    lists = WarningLists([wl])
    for address in inside:
        hit = lists.check(address)
        assert hit is not None and hit.reason == f"warning list {wl.name}", address
    assert lists.check(outside) is None


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        (
            "ranges.json",
            '{"prefixes": [{"ip_prefix": "192.0.2.0/24"}, {"ip_prefix": "192.0.2.999/32"}]}',
            "ranges.json: prefixes[1].ip_prefix: '192.0.2.999/32'",
        ),
        ("empty.json", '{"prefixes": []}', "no address ranges found"),
        (
            "bad.txt",
            "# name: x\n# type: cidr\n10.0.0.0/8\nnot-an-address\n",
            "bad.txt: line 4: 'not-an-address'",
        ),
        ("nameless.txt", "# type: cidr\n10.0.0.0/8\n", "needs a '# name: <name>' header"),
        ("typeless.txt", "# name: x\n# type: regex\nfoo\n", "not 'regex'"),
        ("host.txt", "# name: x\n# type: hostname\nexample.com/path\n", "host.txt: line 3:"),
        (
            "bad.json",
            '{"name": "x", "type": "cidr", "list": ["10.0.0.0/8", "nope"]}',
            "bad.json: list[1]: 'nope'",
        ),
        ("kind.json", '{"name": "x", "type": "regex", "list": []}', "field 'type' must be one of"),
        ("broken.json", '{"name": ', "broken.json: not JSON"),
    ],
)
def test_bad_list_files_name_file_and_line(
    tmp_path: Path, name: str, body: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_list(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_settings_add_user_lists_and_switch_lists_off(tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "cdn.txt").write_text("# name: cdn\n# type: cidr\n198.51.100.0/28\n", "utf-8")
    lists = from_settings(WarninglistSettings(paths=[str(folder)]))
    assert lists.names == ("public-dns-resolvers", "special-purpose", "top-domains", "cdn")
    assert (
        from_settings(WarninglistSettings(disabled_lists=["public-dns-resolvers"])).check("8.8.8.8")
        is None
    )
    assert not from_settings(WarninglistSettings(enabled=False))
    with pytest.raises(ConfigError, match="no warning list is named 'nope'"):
        from_settings(WarninglistSettings(disabled_lists=["nope"]))


# -- the index and the exports -----------------------------------------------------------


def _load_two(store: SqlStore, settings: Settings) -> None:
    load(
        store,
        settings,
        [
            _indicator(1, "[ipv4-addr:value = '8.8.8.8']"),
            _indicator(2, "[ipv4-addr:value = '198.51.100.7']"),
        ],
    )


def test_detector_index_holds_out_a_listed_indicator(store: SqlStore, settings: Settings) -> None:
    _load_two(store, settings)
    detector = Detector(store, settings, matcher="reference")
    try:
        delta = detector.refresh()
        assert [c.id[:19] for c in delta.added] == ["indicator--00000002"]
        held = detector.feed.held
        assert [i[:19] for i in held] == ["indicator--00000001"]
        assert held[next(iter(held))].reason == "warning list public-dns-resolvers"
        assert detector.feed.report().warning_listed == {"warning list public-dns-resolvers": 1}
    finally:
        detector.close()
    # still stored and searchable
    assert store.current_many([f"indicator--{1:08d}-2222-4222-8222-222222222222"])


def test_settings_switch_the_index_lists_off(store: SqlStore, settings: Settings) -> None:
    _load_two(store, settings)
    off = msgspec.structs.replace(settings, warninglists=WarninglistSettings(enabled=False))
    feed = IndexFeed(store, warninglists=from_settings(off.warninglists))
    delta = feed.refresh()
    assert sorted(c.id[:19] for c in delta.added) == ["indicator--00000001", "indicator--00000002"]
    assert feed.report().warning_listed == {}


def test_exports_leave_a_listed_indicator_out_and_count_it(
    store: SqlStore, settings: Settings
) -> None:
    build_world(store, settings)
    _load_two(store, settings)
    caller, name = org_caller(store, None)
    found = gather(store, caller, name, at=AT)
    assert [c.id[:19] for c in found.indicators] == ["indicator--00000002"]
    assert [(c.id[:19], h.entry) for c, h in found.held_out] == [("indicator--00000001", "8.8.8.8")]
    reason = "warning list public-dns-resolvers"
    for write in (write_csv, write_zeek):
        out = io.StringIO()
        report = write(found.indicators, out, found.options)
        assert report.indicators == 1
        assert report.skipped == {reason: 1}
        assert "8.8.8.8" not in out.getvalue().replace(f"skipped: 1 {reason}", "")
        assert "198.51.100.7" in out.getvalue()
        assert f"skipped: 1 {reason}" in out.getvalue()
    out = io.StringIO()
    raw = raw_views(store, caller, [c.id for c in found.indicators])
    report = write_stix(found.indicators, out, found.options, raw=raw)
    assert report.skipped == {reason: 1}
    assert "8.8.8.8" not in out.getvalue()
    # the lists switched off: both are exported
    everything = gather(store, caller, name, at=AT, warninglists=WarningLists(()))
    assert len(everything.indicators) == 2
    assert everything.options.warning_listed == {}


def test_the_web_and_api_export_apply_the_instance_warning_lists(
    store: SqlStore, settings: Settings
) -> None:
    build_world(store, settings)
    _load_two(store, settings)
    caller, name = org_caller(store, None)
    default = export_file(store, caller, name, "csv", at=AT, settings=settings)
    assert b"198.51.100.7" in default.body and b"8.8.8.8" not in default.body
    lists = WarninglistSettings(disabled_lists=["public-dns-resolvers"])
    off = msgspec.structs.replace(settings, warninglists=lists)
    opened = export_file(store, caller, name, "csv", at=AT, settings=off)
    assert b"8.8.8.8" in opened.body and b"198.51.100.7" in opened.body


# -- the command line ----------------------------------------------------------------------


def test_cli_lists_and_checks_with_a_user_list(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mburoja.cli.main import app

    user = tmp_path / "cdn.txt"
    user.write_text("# name: example-cdn\n# type: cidr\n203.0.113.0/25\n", encoding="utf-8")
    config = tmp_path / "mburoja.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[warninglists]\npaths = ["{user}"]\n'
        'disabled_lists = ["top-domains"]\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    listed = runner.invoke(app, ["--config", str(config), "warninglist", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in orjson.loads(listed.stdout)}
    assert rows["example-cdn"]["in_force"] is True
    assert rows["example-cdn"]["values"] == 1
    assert rows["top-domains"]["in_force"] is False
    assert rows["documentation"]["in_force"] is False
    assert rows["public-dns-resolvers"]["in_force"] is True
    base = ["--config", str(config), "warninglist", "check"]
    hit = runner.invoke(app, [*base, "203.0.113.9", "--json"])
    assert orjson.loads(hit.stdout) == {
        "value": "203.0.113.9",
        "listed": True,
        "list": "example-cdn",
        "entry": "203.0.113.0/25",
    }
    miss = runner.invoke(app, [*base, "www.google.com"])
    assert miss.exit_code == 0
    assert "on no warning list in force" in miss.stdout
    (tmp_path / "bad.txt").write_text("# name: b\n# type: cidr\nzzz\n", encoding="utf-8")
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[warninglists]\npaths = ["{tmp_path / "bad.txt"}"]\n',
        encoding="utf-8",
    )
    bad = runner.invoke(app, [*base, "1.2.3.4"])
    assert bad.exit_code == 1
    assert "bad.txt: line 3: 'zzz' is not an IP address or CIDR" in bad.output.replace("\n", "")
