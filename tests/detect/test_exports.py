"""Sensor exports: each format read back with a real parser of that format, the policy
applied through a real store and the ``mburoja export`` command, and byte-for-byte
determinism."""

from __future__ import annotations

import base64
import csv
import io
import ipaddress
import json
import random
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
import orjson
import pytest
import stix2
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from mburoja.cli.export_cmd import export_app
from mburoja.config import Settings
from mburoja.detect.compile import Compiled, Key, NotCompiled, compile_indicator
from mburoja.detect.exports import (
    COMPLEX,
    ExportOptions,
    ExportReport,
    write_csv,
    write_nft,
    write_rpz,
    write_stix,
    write_suricata,
    write_zeek,
)
from mburoja.detect.exports.nft import merged
from mburoja.detect.exports.rpz import ip_trigger
from mburoja.detect.exports.suricata import hashsize_for, memcap_for
from mburoja.store.sql import open_store
from tests.factories import indicator
from tests.world import load

NOW = "2026-11-01T00:00:00.000Z"
OPTIONS = ExportOptions(generated=NOW, requester="CERT Albania")
SHA256 = "ab" * 32
SHA1 = "cd" * 20
MD5 = "ef" * 16
SHA512 = "12" * 64
CERT_SHA1 = "34" * 20


def compiled(obj: dict[str, Any], owner: str | None = None) -> Compiled:
    found = compile_indicator(obj, owner)
    assert not isinstance(found, NotCompiled), found
    return found


def sample() -> dict[str, Compiled]:
    """One indicator of each shape the exports must handle, by a short name."""
    objs = {
        "domain": indicator("[domain-name:value = 'Evil.Example']", tlp="amber", confidence=80),
        "ip_or_net": indicator(
            "[ipv4-addr:value = '198.51.100.7'] OR [ipv4-addr:value = '198.51.100.0/24']",
            confidence=50,
        ),
        "ipv6": indicator("[ipv6-addr:value = '2001:db8::1']", tlp="clear"),
        "http_url": indicator("[url:value = 'http://bad.example/gate.php?x=1']"),
        "https_url": indicator("[url:value = 'https://bad.example/a']"),
        "sha256": indicator(f"[file:hashes.'SHA-256' = '{SHA256}']"),
        "sha1": indicator(f"[file:hashes.'SHA-1' = '{SHA1}']"),
        "md5": indicator(f"[file:hashes.MD5 = '{MD5}']"),
        "sha512": indicator(f"[file:hashes.'SHA-512' = '{SHA512}']"),
        "email": indicator("[email-addr:value = 'phish@bad.example']"),
        "cert": indicator(f"[x509-certificate:hashes.'SHA-1' = '{CERT_SHA1}']"),
        "complex": indicator(
            "[domain-name:value = 'both.example'] AND [ipv4-addr:value = '203.0.113.5']",
            tlp="red",
        ),
        "endpoint": indicator(
            "[network-traffic:dst_ref.value = '203.0.113.9' AND network-traffic:dst_port = 443]"
        ),
    }
    return {name: compiled(obj) for name, obj in objs.items()}


def text_of(write: Callable[..., ExportReport], items: list[Compiled], **kw: Any) -> str:
    out = io.StringIO()
    write(items, out, OPTIONS, **kw)
    return out.getvalue()


def comments(text: str, prefix: str = "#") -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


# -- zeek ----------------------------------------------------------------------------------


def zeek_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()
    assert "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url" in lines
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def test_zeek_intel_file_has_a_header_the_fields_line_and_an_intel_type_per_value() -> None:
    items = sample()
    text = text_of(write_zeek, list(items.values()))
    rows = zeek_rows(text)
    assert all(len(row) == 5 for row in rows)
    assert {(row[0], row[1]) for row in rows} == {
        ("evil.example", "Intel::DOMAIN"),
        ("198.51.100.7", "Intel::ADDR"),
        ("198.51.100.0/24", "Intel::SUBNET"),
        ("2001:db8::1", "Intel::ADDR"),
        ("bad.example/gate.php?x=1", "Intel::URL"),  # Zeek writes URLs without the scheme
        (SHA256, "Intel::FILE_HASH"),
        (SHA1, "Intel::FILE_HASH"),
        (MD5, "Intel::FILE_HASH"),
        ("phish@bad.example", "Intel::EMAIL"),
        (CERT_SHA1, "Intel::CERT_HASH"),
    }
    head = "\n".join(comments(text))
    assert "generator: mburoja" in head and f"generated: {NOW}" in head
    assert "requester: CERT Albania" in head
    # the RED indicator is complex, so it is not included and does not raise the level
    assert "tlp: TLP:AMBER " in head
    assert f"skipped: 1 {COMPLEX}" in head
    assert "skipped: 1 url: only http:// URLs are visible to Zeek" in head
    assert "skipped: 1 sha512: not taken by zeek" in head
    assert "skipped: 1 endpoint: not taken by zeek" in head
    domain = next(row for row in rows if row[1] == "Intel::DOMAIN")
    assert items["domain"].id in domain[3] and "TLP:AMBER" in domain[3]
    assert domain[2] == "mburoja" and domain[4] == "-"


def test_zeek_escapes_tabs_and_newlines_so_each_line_keeps_five_fields() -> None:
    obj = indicator("[domain-name:value = 'x.example']", name="two\tparts\nand a line")
    text = text_of(write_zeek, [compiled(obj)], url_base="https://mburoja.example/i/")
    [row] = zeek_rows(text)
    assert row[3].startswith("two\\x09parts\\x0aand a line (")
    assert row[4] == f"https://mburoja.example/i/{obj['id']}"
    assert row[2] == "mburoja"


def test_zeek_subdomain_modes_say_what_is_not_covered() -> None:
    items = [sample()["domain"]]
    exact = text_of(write_zeek, items, subdomains="exact")
    assert "subdomains are NOT covered" in exact
    noted = text_of(write_zeek, items, subdomains="wildcard-note")
    [row] = zeek_rows(noted)
    assert row[0] == "evil.example" and "subdomains intended" in row[3]
    assert noted.rstrip().endswith("#\tevil.example")  # the closing list, a comment to Zeek
    with pytest.raises(ValueError, match="wildcard"):
        text_of(write_zeek, items, subdomains="wildcard")


def test_zeek_source_is_the_creator_else_the_owner() -> None:
    by_creator = compiled(
        indicator(
            "[domain-name:value = 'c.example']",
            created_by_ref="identity--11111111-1111-4111-8111-111111111111",
        ),
        owner="org-1",
    )
    by_owner = compiled(indicator("[domain-name:value = 'o.example']"), owner="org-2")
    rows = {row[0]: row[2] for row in zeek_rows(text_of(write_zeek, [by_creator, by_owner]))}
    assert rows == {"c.example": by_creator.created_by, "o.example": "org-2"}


# -- TLP and counts --------------------------------------------------------------------------


def test_export_level_is_the_strictest_included_and_untagged_counts_as_the_default() -> None:
    green = compiled(indicator("[domain-name:value = 'g.example']", tlp="green"))
    amber = compiled(indicator("[domain-name:value = 'a.example']", tlp="amber"))
    untagged = compiled(indicator("[domain-name:value = 'u.example']", tlp=None))
    assert write_csv([green], io.StringIO(), OPTIONS).tlp == "green"
    assert write_csv([green, amber], io.StringIO(), OPTIONS).tlp == "amber"
    assert write_csv([green, untagged], io.StringIO(), OPTIONS).tlp == "amber+strict"
    loose = ExportOptions(generated=NOW, default_tlp="green")
    assert write_csv([green, untagged], io.StringIO(), loose).tlp == "green"
    # an indicator a format cannot take does not count towards its level
    red_hash = compiled(indicator(f"[file:hashes.MD5 = '{MD5}']", tlp="red"))
    assert write_rpz([green, red_hash], io.StringIO(), OPTIONS).tlp == "green"


def _write_stix_all(items: list[Compiled], out: io.StringIO, options: ExportOptions) -> Any:
    return write_stix(items, out, options, raw={c.id: orjson.dumps({"id": c.id}) for c in items})


@pytest.mark.parametrize(
    "write",
    [write_zeek, write_rpz, write_nft, write_csv, _write_stix_all],
    ids=lambda w: w.__name__,
)
def test_every_indicator_is_included_or_counted_with_its_reason(
    write: Callable[..., ExportReport],
) -> None:
    items = list(sample().values())
    options = ExportOptions(generated=NOW, not_compiled={"no comparison to index": 2})
    report = write(items, io.StringIO(), options)
    assert report.indicators + sum(report.skipped.values()) == len(items) + 2
    # counted, not given: the STIX bundle cannot include them either
    assert report.skipped["not compiled: no comparison to index"] == 2
    if write is not _write_stix_all:
        assert report.skipped[COMPLEX] == 1


# -- suricata ---------------------------------------------------------------------------------

_RULE = re.compile(r'alert (\S+) any any -> any any \(msg:"([^"]*)"; (.*) sid:(\d+); rev:1;\)')


def parse_rules(text: str) -> list[tuple[str, list[str], int]]:
    """(protocol, options, sid) of each rule; fails on any line that is not one."""
    rules = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        found = _RULE.fullmatch(line)
        assert found, f"not a rule: {line}"
        options = [o.strip() for o in found.group(3).split(";") if o.strip()]
        rules.append((found.group(1), options, int(found.group(4))))
    return rules


def dataset_options(option: str) -> dict[str, str]:
    _cmd, _name, *rest = option.removeprefix("dataset:").split(",")
    return dict(part.split(" ", 1) for part in rest)


def test_suricata_datasets_decode_to_the_values_and_rules_use_existing_files(
    tmp_path: Path,
) -> None:
    report = write_suricata(list(sample().values()), tmp_path, OPTIONS)
    domains = (tmp_path / "domains.lst").read_text().split()
    assert [base64.b64decode(d, validate=True).decode() for d in domains] == ["evil.example"]
    assert (tmp_path / "ips.lst").read_text().split() == ["198.51.100.7", "2001:db8::1"]
    assert (tmp_path / "sha256.lst").read_text().split() == [SHA256]
    assert (tmp_path / "md5.lst").read_text().split() == [MD5]
    assert (tmp_path / "sha1.lst").read_text().split() == [SHA1]
    reputation = [line for line in (tmp_path / "reputation.list").read_text().splitlines()]
    assert [line for line in reputation if not line.startswith("#")] == ["198.51.100.0/24,1,64"]
    assert "1,mburoja," in (tmp_path / "categories.txt").read_text()
    rules = parse_rules((tmp_path / "mburoja.rules").read_text())
    assert len({sid for _p, _o, sid in rules}) == len(rules)
    used: set[str] = set()
    buffers: list[str] = []
    for _proto, options, _sid in rules:
        for i, option in enumerate(options):
            if option.startswith("dataset:"):
                opts = dataset_options(option)
                assert (tmp_path / opts["load"]).is_file()
                assert int(opts["hashsize"]) >= 1 and opts["memcap"].endswith("mb")
                used.add(opts["load"])
                buffers.append(options[i - 1])
            elif option.startswith(("filemd5:", "filesha1:", "filesha256:")):
                name = option.split(":", 1)[1]
                assert (tmp_path / name).is_file()
                used.add(name)
    assert sorted(buffers) == ["dns.query", "http.host", "ip.dst", "ip.src", "tls.sni"]
    assert used == {"domains.lst", "ips.lst", "md5.lst", "sha1.lst", "sha256.lst"}
    suffix = [o for _p, o, _s in rules if 'content:".evil.example"' in o]
    assert suffix == [
        ["dns.query", "dotprefix", 'content:".evil.example"', "nocase", "endswith",
         "classtype:bad-unknown"]
    ]  # fmt: skip
    assert any("iprep:any,mburoja,>,0" in o for _p, o, _s in rules)
    assert report.files == sorted(p.name for p in tmp_path.iterdir())


def test_suricata_sizes_datasets_for_their_counts_within_the_hashsize_limit(
    tmp_path: Path,
) -> None:
    assert hashsize_for(10) == 4096
    assert hashsize_for(20_000) == 32_768
    assert hashsize_for(1_000_000) == 65_536
    assert hashsize_for(1_000_000, maximum=1 << 20) == 1 << 20
    million = int(memcap_for(1_000_000, 20_000_000, 65_536).removesuffix("mb"))
    assert million * (1 << 20) > 1_000_000 * 100 + 20_000_000  # over 100 bytes an entry
    assert memcap_for(10, 100, 4096) == "16mb"  # never below Suricata's default
    items = [
        Compiled(
            id=f"indicator--{i:08d}",
            pattern="",
            keys=(Key("domain", f"h{i}.example"),),
            simple=True,
        )
        for i in range(20_000)
    ]
    report = write_suricata(items, tmp_path, OPTIONS, suffix_rules=100)
    rules = parse_rules((tmp_path / "mburoja.rules").read_text())
    [dns_dataset] = [
        o for p, o, _s in rules if p == "dns" and o[0] == "dns.query" and "dotprefix" not in o
    ]
    assert dataset_options(dns_dataset[1])["hashsize"] == "32768"
    assert sum(1 for _p, o, _s in rules if "dotprefix" in o) == 100
    assert any("19,900 match exactly only" in note for note in report.notes)
    assert report.entries == {"domain": 20_000}


def test_suricata_export_removes_the_files_a_previous_export_wrote(tmp_path: Path) -> None:
    items = sample()
    write_suricata([items["md5"], items["domain"]], tmp_path, OPTIONS)
    assert (tmp_path / "md5.lst").exists()
    write_suricata([items["domain"]], tmp_path, OPTIONS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["domains.lst", "mburoja.rules"]
    assert "filemd5" not in (tmp_path / "mburoja.rules").read_text()


# -- rpz --------------------------------------------------------------------------------------


def rpz_zone(text: str, origin: str = "rpz.mburoja.local.") -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=origin, relativize=False)


def cname(zone: dns.zone.Zone, name: str) -> str:
    rdataset = zone.find_rdataset(name, dns.rdatatype.CNAME)
    [rdata] = list(rdataset)
    return str(rdata.target)  # type: ignore[attr-defined]


def test_rpz_zone_loads_and_holds_qname_and_response_ip_triggers() -> None:
    items = sample()
    v6net = compiled(indicator("[ipv6-addr:value = '2001:db8:0:1::/64']"))
    text = text_of(write_rpz, [*items.values(), v6net])
    assert comments(text, ";")[0].startswith("; generator: mburoja")
    zone = rpz_zone(text)
    origin = "rpz.mburoja.local."
    soa = zone.find_rdataset(origin, dns.rdatatype.SOA)
    assert next(iter(soa)).serial == 1793491200  # type: ignore[attr-defined]
    assert zone.find_rdataset(origin, dns.rdatatype.NS)
    triggers = {
        "evil.example",
        "*.evil.example",
        "32.7.100.51.198.rpz-ip",  # 198.51.100.7
        "24.0.100.51.198.rpz-ip",  # 198.51.100.0/24
        "128.1.zz.db8.2001.rpz-ip",  # 2001:db8::1
        "64.zz.1.0.db8.2001.rpz-ip",  # 2001:db8:0:1::/64
    }
    names = {
        str(name.relativize(dns.name.from_text(origin)))
        for name, node in zone.nodes.items()
        if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
    }
    assert names == triggers  # nothing of the complex indicator, hashes or URLs
    assert all(cname(zone, f"{t}.{origin}") == "." for t in triggers)


@pytest.mark.parametrize(
    ("action", "redirect", "target"),
    [
        ("nxdomain", None, "."),
        ("nodata", None, "*."),
        ("drop", None, "rpz-drop."),
        ("passthru", None, "rpz-passthru."),
        ("redirect", "garden.example", "garden.example."),
    ],
)
def test_rpz_action_is_the_cname_target(action: str, redirect: str | None, target: str) -> None:
    text = text_of(
        write_rpz, [sample()["domain"]], action=action, redirect=redirect, origin="block.test"
    )
    zone = rpz_zone(text, "block.test.")
    assert cname(zone, "evil.example.block.test.") == target
    assert cname(zone, "*.evil.example.block.test.") == target


def test_rpz_drops_names_that_are_not_dns_names_and_refuses_a_bad_configuration() -> None:
    bad = Compiled(
        id="indicator--bad", pattern="", keys=(Key("domain", "not a name.example"),), simple=True
    )
    long = Compiled(
        id="indicator--long", pattern="", keys=(Key("domain", "x" * 64 + ".example"),), simple=True
    )
    out = io.StringIO()
    report = write_rpz([bad, long, sample()["domain"]], out, OPTIONS)
    assert report.skipped == {"domain: not a valid DNS name under the zone origin": 2}
    assert set(rpz_zone(out.getvalue()).nodes) >= {
        dns.name.from_text("evil.example.rpz.mburoja.local.")
    }
    from mburoja.errors import ConfigError

    with pytest.raises(ConfigError):
        write_rpz([], io.StringIO(), OPTIONS, action="redirect")
    with pytest.raises(ConfigError):
        write_rpz([], io.StringIO(), OPTIONS, action="block")


def decode_ip_trigger(trigger: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network an ``rpz-ip`` owner name stands for, read as the RPZ specification
    writes it (prefix length first, then the address reversed; IPv6 in 16-bit words with
    ``zz`` for the run of zero words)."""
    prefix, *parts, tail = trigger.split(".")
    assert tail == "rpz-ip"
    if len(parts) == 4 and "zz" not in parts and all(p.isdigit() for p in parts):
        return ipaddress.ip_network(f"{'.'.join(reversed(parts))}/{prefix}")
    words = list(reversed(parts))
    if "zz" in words:
        at = words.index("zz")
        words[at : at + 1] = ["0"] * (8 - len(words) + 1)
    assert len(words) == 8
    return ipaddress.ip_network(f"{':'.join(words)}/{prefix}")


_WORD = st.one_of(st.just(0), st.integers(0, 0xFFFF))  # zero words often, for "zz" runs
_V4_NETS = st.builds(
    lambda n, p: ipaddress.IPv4Network((n, p), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(8, 32),
)
_V6_NETS = st.builds(
    lambda words, p: ipaddress.IPv6Network(
        (int("".join(f"{w:04x}" for w in words), 16), p), strict=False
    ),
    st.lists(_WORD, min_size=8, max_size=8),
    st.integers(16, 128),
)


@given(st.one_of(_V4_NETS, _V6_NETS))
def test_rpz_ip_trigger_decodes_back_to_the_network(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    assert decode_ip_trigger(ip_trigger(str(net))) == net


# -- nft --------------------------------------------------------------------------------------


def nft_elements(text: str, name: str) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        m = re.fullmatch(rf"add element inet mburoja {name} \{{ (.*) \}}", line)
        if m:
            found += m.group(1).split(", ")
    return found


def nft_sample() -> list[Compiled]:
    values = [
        "198.51.100.7",  # inside the /24 below
        "198.51.100.0/24",
        "203.0.113.0/25",  # adjacent halves: one /24
        "203.0.113.128/25",
        "192.0.2.1",
        "2001:db8::1",
        "2001:db8::/48",
        "10.0.0.0/4",  # far too broad to block
    ]
    return [
        compiled(indicator(f"[{'ipv6' if ':' in v else 'ipv4'}-addr:value = '{v}']"))
        for v in values
    ]


def test_nft_sets_merge_overlapping_and_adjacent_networks_and_refuse_broad_ones() -> None:
    out = io.StringIO()
    report = write_nft(nft_sample(), out, OPTIONS, chunk=2)
    text = out.getvalue()
    v4 = nft_elements(text, "blocklist_v4")
    v6 = nft_elements(text, "blocklist_v6")
    assert v4 == ["192.0.2.1", "198.51.100.0/24", "203.0.113.0/24"]
    assert v6 == ["2001:db8::/48"]
    nets = [ipaddress.ip_network(e) for e in v4]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert report.skipped == {"net: IPv4 network wider than /8 refused as too broad to block": 1}
    assert text.count("add element inet mburoja blocklist_v4") == 2  # chunks of two
    assert "set blocklist_v4 {" in text and "flags interval" in text


@given(
    st.lists(st.tuples(st.integers(0, 255), st.integers(24, 32)), max_size=30),
    st.lists(st.tuples(st.integers(0, 255), st.integers(120, 128)), max_size=10),
)
def test_nft_merged_elements_cover_exactly_the_listed_ranges_without_overlap(
    v4: list[tuple[int, int]], v6: list[tuple[int, int]]
) -> None:
    listed = [str(ipaddress.ip_network((0x0A000000 + a, p), strict=False)) for a, p in v4]
    listed += [str(ipaddress.ip_network((0x20010DB8 << 96 | a, p), strict=False)) for a, p in v6]
    elements = merged(listed)
    for version, found in elements.items():
        nets = [ipaddress.ip_network(e) for e in found]
        covered = {int(a) for n in nets for a in n}
        wanted = {
            int(a) for n in map(ipaddress.ip_network, listed) if n.version == version for a in n
        }
        assert covered == wanted
        assert sum(n.num_addresses for n in nets) == len(covered)  # no overlap
        assert len(found) <= sum(1 for n in listed if ipaddress.ip_network(n).version == version)


def test_nft_script_passes_nft_check(tmp_path: Path) -> None:
    path = tmp_path / "mburoja.nft"
    path.write_text(text_of(write_nft, nft_sample(), chunk=2))
    nft = shutil.which("nft")
    if nft is None:
        pytest.skip("nft is not installed: the script's syntax was not checked by nft -c")
    done = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN, which this environment lacks")
    assert done.returncode == 0, done.stderr


# -- csv and stix -----------------------------------------------------------------------------


def test_csv_parses_with_the_csv_module_one_row_per_value() -> None:
    items = sample()
    quoted = compiled(indicator("[domain-name:value = 'q.example']", name='a "quoted", name'))
    text = text_of(write_csv, [*items.values(), quoted])
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert list(rows[0]) == [
        "indicator_id",
        "kind",
        "value",
        "name",
        "tlp",
        "valid_until",
        "pattern",
    ]
    got = {(r["indicator_id"], r["kind"], r["value"]) for r in rows}
    assert (items["ip_or_net"].id, "ip", "198.51.100.7") in got
    assert (items["ip_or_net"].id, "net", "198.51.100.0/24") in got
    assert (items["endpoint"].id, "endpoint", "203.0.113.9|443") in got
    assert not any(r["indicator_id"] == items["complex"].id for r in rows)
    [q] = [r for r in rows if r["value"] == "q.example"]
    assert q["name"] == 'a "quoted", name' and q["tlp"] == "green"
    assert q["pattern"] == "[domain-name:value = 'q.example']"


def test_stix_bundle_streams_the_stored_objects_and_each_validates_with_stix2() -> None:
    objs = [
        indicator("[domain-name:value = 'evil.example']", tlp="amber"),
        indicator("[domain-name:value = 'a.example'] AND [ipv4-addr:value = '203.0.113.5']"),
        indicator("[ipv4-addr:value = '198.51.100.7']", x_custom_kept={"a": 1}),
    ]
    items = [compiled(o) for o in objs]
    raw = {o["id"]: orjson.dumps(o) for o in objs[:2]} | {objs[2]["id"]: orjson.dumps(objs[2])}
    missing = compiled(indicator("[domain-name:value = 'gone.example']"))
    out = io.StringIO()
    report = write_stix([*items, missing], out, OPTIONS, raw=raw)
    bundle = json.loads(out.getvalue())
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    assert [o["id"] for o in bundle["objects"]] == sorted(o["id"] for o in objs)
    assert {o["id"]: o for o in bundle["objects"]} == {o["id"]: o for o in objs}
    for obj in bundle["objects"]:
        parsed = stix2.parse(obj, allow_custom=True)
        assert parsed.id == obj["id"]
    stix2.parse(bundle, allow_custom=True)
    assert bundle["x_mburoja_export"]["tlp"] == "amber"
    assert report.skipped == {"stored object not readable": 1}
    assert report.indicators == 3  # the complex one too: STIX keeps the pattern whole


def _not_compiled(obj: dict[str, Any]) -> NotCompiled:
    found = compile_indicator(obj)
    assert isinstance(found, NotCompiled), found
    return found


def test_stix_bundle_is_a_full_export_and_counts_what_it_includes_and_leaves_out() -> None:
    """Indicators no key could be compiled from have no place in a blocklist, but a STIX
    consumer can use them: the bundle carries them, and says so."""
    simple = indicator("[domain-name:value = 'evil.example']", tlp="green")
    complex_ = indicator("[domain-name:value = 'a.example'] AND [ipv4-addr:value = '192.0.2.5']")
    yara = indicator(
        'rule dropper { strings: $a = "evil" condition: $a }', pattern_type="yara", tlp="red"
    )
    like = indicator("[domain-name:value LIKE '%.evil.example']")
    gone = indicator("[url:value MATCHES '^http://x']")  # not readable when written
    objs = [simple, complex_, yara, like]
    raw = {o["id"]: orjson.dumps(o) for o in objs}
    out = io.StringIO()
    report = write_stix(
        [compiled(simple), compiled(complex_)],
        out,
        OPTIONS,
        raw=raw,
        not_compiled=[_not_compiled(o) for o in (yara, like, gone)],
    )
    bundle = json.loads(out.getvalue())
    assert [o["id"] for o in bundle["objects"]] == sorted(o["id"] for o in objs)
    assert {o["id"]: o for o in bundle["objects"]} == {o["id"]: o for o in objs}
    for obj in bundle["objects"]:
        stix2.parse(obj, allow_custom=True)
    assert report.indicators == 4
    assert report.included == {
        "not compiled: operator LIKE on domain-name:value cannot be indexed": 1,
        "not compiled: pattern_type '…' is not matched": 1,
        "with a complex pattern": 1,
        "with a simple pattern": 1,
    }
    assert report.skipped == {"stored object not readable": 1}
    assert report.indicators + sum(report.skipped.values()) == 5  # every one accounted for
    assert report.tlp == "red"  # the YARA rule's level counts too
    head = bundle["x_mburoja_export"]
    assert (head["tlp"], head["indicators"]) == ("red", 4)
    assert head["included"] == report.included and head["skipped"] == report.skipped
    assert report.details() == [
        "included: 1 not compiled: operator LIKE on domain-name:value cannot be indexed",
        "included: 1 not compiled: pattern_type '…' is not matched",
        "included: 1 with a complex pattern",
        "included: 1 with a simple pattern",
        "left out: 1 stored object not readable",
    ]


# -- determinism -----------------------------------------------------------------------------


def _write_all(items: list[Compiled], directory: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    raw = {c.id: orjson.dumps({"id": c.id}) for c in items}
    for name, write in {
        "zeek": write_zeek,
        "rpz": write_rpz,
        "nft": write_nft,
        "csv": write_csv,
        "stix": lambda i, o, opts: write_stix(i, o, opts, raw=raw),
    }.items():
        buffer = io.StringIO()
        write(items, buffer, OPTIONS)
        out[name] = buffer.getvalue().encode()
    write_suricata(items, directory, OPTIONS)
    for path in sorted(directory.iterdir()):
        out[f"suricata/{path.name}"] = path.read_bytes()
    return out


def test_two_runs_give_identical_bytes_whatever_the_input_order(tmp_path: Path) -> None:
    items = [*sample().values(), *nft_sample()]
    first = _write_all(items, tmp_path / "a")
    random.Random(3).shuffle(items)
    assert _write_all(items, tmp_path / "b") == first


# -- through a real store and the command line --------------------------------------------


def _cli() -> typer.Typer:
    """``mburoja`` with its ``export`` group (registered here until cli.main adds it)."""
    from mburoja.cli import main

    if any(group.name == "export" for group in main.app.registered_groups):
        return main.app
    app = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode=None)
    app.callback()(main._main)
    app.add_typer(export_app, name="export")
    return app


runner = CliRunner()


@pytest.fixture
def stocked(store_url: str, settings: Settings, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A store with a home CERT, a partner and the partner's RED indicator beside home
    indicators at each level; yields the store URL and the domains by level."""
    from mburoja.cli.main import app

    result = runner.invoke(
        app,
        ["--store-url", store_url, "--data-dir", str(tmp_path / "d"), "init", "--org", "CERT"],
    )
    assert result.exit_code == 0, result.output
    store = open_store(store_url)
    try:
        partner = store.create_org("Partner CERT", "partner")
        store.create_org("Client Ministry", "client")
        domains = {
            "clear": "clear.example",
            "green": "green.example",
            "amber": "amber.example",
            "untagged": "untagged.example",
            "home-red": "home-red.example",
        }
        home = [
            indicator(
                f"[domain-name:value = '{d}']",
                tlp=None if lvl == "untagged" else lvl.removeprefix("home-"),
            )
            for lvl, d in domains.items()
        ]
        load(store, settings, home, collection="c")
        red = indicator("[domain-name:value = 'partner-red.example']", tlp="red")
        load(store, settings, [red], owner=partner.id, collection="c")
    finally:
        store.close()
    yield {"url": store_url, **domains, "partner-red": "partner-red.example"}


def export(url: str, *args: str) -> Any:
    result = runner.invoke(_cli(), ["--store-url", url, "export", *args])
    assert result.exit_code == 0, result.output
    return result


def exported_domains(csv_text: str) -> set[str]:
    rows = csv.DictReader(line for line in csv_text.splitlines() if not line.startswith("#"))
    return {r["value"] for r in rows}


def test_export_applies_the_policy_for_the_requesting_organisation(stocked: dict[str, str]) -> None:
    url = stocked["url"]
    home = export(url, "csv", "--at", NOW)
    assert exported_domains(home.stdout) == {
        stocked[k] for k in ("clear", "green", "amber", "untagged", "home-red")
    }  # the partner's RED indicator is not ours to see
    assert "csv: 5 entries from 5 indicators" in home.stderr
    assert "# tlp: TLP:RED " in home.stdout and "# requester: CERT" in home.stdout
    partner = export(url, "csv", "--for", "Partner CERT", "--at", NOW)
    assert exported_domains(partner.stdout) == {
        stocked["clear"],
        stocked["green"],
        stocked["partner-red"],
    }
    assert "# requester: Partner CERT" in partner.stdout
    client = export(url, "csv", "--for", "Client Ministry", "--at", NOW)
    assert exported_domains(client.stdout) == {stocked["clear"], stocked["green"], stocked["amber"]}
    assert "# tlp: TLP:AMBER " in client.stdout


def test_export_command_writes_files_identically_twice_and_validates_as_stix(
    stocked: dict[str, str], tmp_path: Path
) -> None:
    url = stocked["url"]
    for name in ("one", "two"):
        export(
            url,
            "stix",
            "--for",
            "Partner CERT",
            "--at",
            NOW,
            "--out",
            str(tmp_path / f"{name}.json"),
        )
        export(
            url, "rpz", "--at", NOW, "--rpz-action", "drop", "--out", str(tmp_path / f"{name}.zone")
        )
        export(url, "suricata", "--at", NOW, "--out", str(tmp_path / name))
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()
    assert (tmp_path / "one.zone").read_bytes() == (tmp_path / "two.zone").read_bytes()
    assert (tmp_path / "one" / "mburoja.rules").read_bytes() == (
        tmp_path / "two" / "mburoja.rules"
    ).read_bytes()
    bundle = json.loads((tmp_path / "one.json").read_text())
    values = sorted(stix2.parse(o, allow_custom=True).pattern for o in bundle["objects"])
    assert values == sorted(
        f"[domain-name:value = '{stocked[k]}']" for k in ("clear", "green", "partner-red")
    )
    zone = rpz_zone((tmp_path / "one.zone").read_text())
    assert cname(zone, "*.amber.example.rpz.mburoja.local.") == "rpz-drop."
    assert not list((tmp_path).glob(".*partial"))


def test_export_stix_includes_active_indicators_that_do_not_compile_and_says_so(
    stocked: dict[str, str], settings: Settings
) -> None:
    url = stocked["url"]
    yara = indicator("rule r { condition: true }", pattern_type="yara", tlp="green")
    sigma = indicator("title: t", pattern_type="sigma", tlp="green")
    like = indicator("[domain-name:value LIKE '%.bad.example']", tlp="green")
    expired = indicator(  # valid in 2026 until March: not active at NOW
        "rule old { condition: true }",
        pattern_type="yara",
        valid_until="2026-03-01T00:00:00.000Z",
    )
    ahead = indicator("rule later { condition: true }", pattern_type="yara")
    ahead["valid_from"] = "2027-01-01T00:00:00.000Z"
    store = open_store(url)
    try:
        load(store, settings, [yara, sigma, like, expired, ahead], collection="c")
    finally:
        store.close()
    result = export(url, "stix", "--at", NOW)
    bundle = json.loads(result.stdout)
    ids = {o["id"] for o in bundle["objects"]}
    assert {yara["id"], sigma["id"], like["id"]} <= ids
    assert not {expired["id"], ahead["id"]} & ids
    assert len(ids) == 5 + 3  # the home indicators of the fixture, and these three
    err = result.stderr
    assert "stix: 8 entries from 8 indicators" in err
    assert "included: 5 with a simple pattern" in err
    assert "included: 2 not compiled: pattern_type '…' is not matched" in err
    assert "included: 1 not compiled: operator LIKE on domain-name:value cannot be indexed" in err
    assert "left out: none" in err
    # the formats that carry keys leave the same three out, and say why; the inactive
    # ones are no part of an export and are not counted
    listing = export(url, "csv", "--at", NOW)
    assert "csv: 5 entries from 5 indicators" in listing.stderr
    assert "left out: 2 not compiled: pattern_type '…' is not matched" in listing.stderr
    assert "# skipped: 2 not compiled: pattern_type '…' is not matched" in listing.stdout
    # the policy still decides: the home organisation's RED rule is neither written to
    # nor counted for a partner, who sees the GREEN ones
    red = indicator("rule p { condition: true }", pattern_type="yara", tlp="red")
    store = open_store(url)
    try:
        load(store, settings, [red], collection="c")
    finally:
        store.close()
    partner = export(url, "stix", "--for", "Partner CERT", "--at", NOW)
    seen = {o["id"] for o in json.loads(partner.stdout)["objects"]}
    assert red["id"] not in seen and {yara["id"], sigma["id"]} <= seen
    assert "included: 2 not compiled: pattern_type '…' is not matched" in partner.stderr


def test_export_for_an_unknown_organisation_fails_with_a_hint(stocked: dict[str, str]) -> None:
    result = runner.invoke(
        _cli(), ["--store-url", stocked["url"], "export", "zeek", "--for", "Nobody"]
    )
    assert result.exit_code == 1 and "mburoja org list" in result.output


def test_export_refuses_an_output_it_cannot_write_and_leaves_nothing_behind(
    stocked: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "intel.dat"
    result = runner.invoke(
        _cli(), ["--store-url", stocked["url"], "export", "zeek", "-o", str(missing)]
    )
    assert result.exit_code == 1 and "existing directory" in result.output
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    result = runner.invoke(
        _cli(), ["--store-url", stocked["url"], "export", "suricata", "-o", str(a_file)]
    )
    assert result.exit_code == 1 and "needs a directory" in result.output
    assert a_file.read_text() == "x"
