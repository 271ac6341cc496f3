"""``mburoja key init|show``, run in-process with Typer's runner against a real data dir; what
they did is checked through the key file and by verifying signatures made with it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner, Result

from mburoja.cli.main import app
from mburoja.config import LimitSettings
from mburoja.federation.signing import KEY_FILE, load_key, parse_public_key, sign, verify
from mburoja.ingest.bundle import read_stix
from mburoja.stix.model import RawObject
from tests.conftest import STIX_EXAMPLES

runner = CliRunner(env={"COLUMNS": "400"})


def cli(data_dir: Path, *args: str) -> Result:
    return runner.invoke(app, ["--data-dir", str(data_dir), "key", *args])


def ok(data_dir: Path, *args: str) -> Result:
    result = cli(data_dir, *args)
    assert result.exit_code == 0, result.output
    return result


def _an_object() -> dict[str, Any]:
    path = STIX_EXAMPLES / "indicator-for-c2-ip-address.json"
    for item in read_stix(path.read_bytes(), str(path), LimitSettings()):
        if isinstance(item, RawObject):
            obj: dict[str, Any] = orjson.loads(item.raw)
            if obj.get("type") == "indicator":
                return obj
    raise AssertionError(f"no indicator in {path}")


def test_init_creates_a_private_key_and_says_where(tmp_path: Path) -> None:
    result = ok(tmp_path, "init")
    path = tmp_path / KEY_FILE
    assert str(path) in result.stdout and "created" in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_init_twice_keeps_the_key(tmp_path: Path) -> None:
    ok(tmp_path, "init")
    before = (tmp_path / KEY_FILE).read_bytes()
    result = ok(tmp_path, "init")
    assert "kept" in result.stdout
    assert (tmp_path / KEY_FILE).read_bytes() == before
    again = json.loads(ok(tmp_path, "init", "--json").stdout)
    assert again["created"] is False


def test_show_json_gives_the_key_that_verifies_the_files_signatures(tmp_path: Path) -> None:
    created = json.loads(ok(tmp_path, "init", "--json").stdout)
    shown = json.loads(ok(tmp_path, "show", "--json").stdout)
    assert shown["public_key"] == created["public_key"]
    assert shown["key_id"] == created["key_id"]
    assert shown["path"] == str(tmp_path / KEY_FILE)
    obj = _an_object()
    sig = sign(load_key(tmp_path), obj)
    public = parse_public_key(shown["public_key"])
    assert sig.origin == shown["key_id"]
    assert verify(public, obj, sig)
    assert not verify(public, {**obj, "name": "altered"}, sig)


def test_show_text_prints_the_public_key_never_the_private_one(tmp_path: Path) -> None:
    ok(tmp_path, "init")
    shown = json.loads(ok(tmp_path, "show", "--json").stdout)
    text = ok(tmp_path, "show").stdout
    assert shown["public_key"] in text and shown["key_id"] in text
    assert "PRIVATE" not in text and "PRIVATE" not in ok(tmp_path, "init").stdout


def test_show_without_a_key_says_to_run_init(tmp_path: Path) -> None:
    result = cli(tmp_path, "show")
    assert result.exit_code == 1
    assert "mburoja key init" in result.output
    assert not (tmp_path / KEY_FILE).exists()


def test_show_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    ok(tmp_path, "init")
    os.chmod(tmp_path / KEY_FILE, 0o644)
    result = cli(tmp_path, "show")
    assert result.exit_code == 1
    assert "chmod 600" in result.output
    init = cli(tmp_path, "init")
    assert init.exit_code == 1 and "chmod 600" in init.output


def test_key_alone_prints_help(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(tmp_path), "key"])
    assert "show" in result.output and "init" in result.output
