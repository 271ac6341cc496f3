"""Instance keys, canonical form, detached signatures and their envelope carriage, on the
OASIS STIX 2.1 examples and on Hypothesis-drawn JSON."""

from __future__ import annotations

import base64
import copy
import json
import os
import random
import stat
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from mburoja.config import LimitSettings
from mburoja.errors import ConfigError
from mburoja.federation.signing import (
    KEY_FILE,
    CanonicalError,
    ObjectSignature,
    canonical,
    init_key,
    key_id,
    load_key,
    load_or_create_key,
    parse_public_key,
    public_key_text,
    sign,
    signatures_in,
    verify,
    with_signatures,
)
from mburoja.ingest.bundle import read_stix
from mburoja.stix.model import RawObject
from mburoja.taxii.posting import read_envelope
from tests.conftest import STIX_EXAMPLES

JSON = dict[str, Any]


def _example_raws() -> list[bytes]:
    raws: list[bytes] = []
    for path in sorted(STIX_EXAMPLES.glob("*.json")):
        for item in read_stix(path.read_bytes(), str(path), LimitSettings()):
            if isinstance(item, RawObject):
                raws.append(item.raw)
    return raws


RAWS = _example_raws()
OBJECTS: list[JSON] = [orjson.loads(raw) for raw in RAWS]
VERSIONED = [o for o in OBJECTS if "modified" in o or "created" in o]


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every dict's keys in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def _reparsed(obj: JSON, seed: int) -> JSON:
    """``obj`` written with another key order and indentation, then read back."""
    text = json.dumps(_shuffled(obj, random.Random(seed)), indent=seed % 5 + 1)
    parsed: JSON = orjson.loads(text)
    return parsed


# -- the examples ----------------------------------------------------------------------------


def test_the_examples_give_enough_objects() -> None:
    assert len(OBJECTS) >= 20
    assert len(VERSIONED) >= 10


def test_every_example_round_trips(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    for obj in OBJECTS:
        sig = sign(key, obj)
        assert sig.object_id == obj["id"]
        assert sig.origin == key_id(public)
        assert verify(public, obj, sig), obj["id"]


def test_another_key_order_and_indentation_still_verifies(key: Ed25519PrivateKey) -> None:
    for seed, obj in enumerate(OBJECTS):
        sig = sign(key, obj)
        other = _reparsed(obj, seed)
        assert verify(key.public_key(), other, sig), obj["id"]


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, (*path, i))]
    return [path]


def _set(obj: Any, path: tuple[Any, ...], new: Any) -> None:
    for step in path[:-1]:
        obj = obj[step]
    obj[path[-1]] = new


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return "not null"


def test_any_changed_value_fails(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    checked = 0
    for obj in VERSIONED:
        sig = sign(key, obj)
        for path in _leaf_paths(obj):
            if path in (("id",), ("modified",)) or (path == ("created",) and "modified" not in obj):
                continue  # those change what the signature names; tested below
            tampered = copy.deepcopy(obj)
            _set(tampered, path, _changed(_get(obj, path)))
            assert not verify(public, tampered, sig), (obj["id"], path)
            checked += 1
    assert checked > 100


def test_an_added_or_removed_property_fails(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    for obj in OBJECTS:
        sig = sign(key, obj)
        added = {**obj, "x_added": ""}
        assert not verify(public, added, sig)
        for name in obj:
            if name == "id":
                continue
            removed = {k: v for k, v in obj.items() if k != name}
            assert not verify(public, removed, sig), (obj["id"], name)


def test_a_changed_id_or_version_fails(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    for obj in VERSIONED:
        sig = sign(key, obj)
        field = "modified" if "modified" in obj else "created"
        newer = {**obj, field: "2099-01-01T00:00:00.000Z"}
        assert not verify(public, newer, sig)
        # a genuine signature on the new version still names the old one: refused
        assert not verify(public, obj, sign(key, newer))
        other_id = {**obj, "id": obj["id"][:-1] + ("0" if obj["id"][-1] != "0" else "1")}
        assert not verify(public, other_id, sig)


def test_a_signature_whose_names_are_edited_to_match_fails(key: Ed25519PrivateKey) -> None:
    """Relabelling a signature for another version does not make its bytes valid for it."""
    public = key.public_key()
    obj = VERSIONED[0]
    newer = {**obj, "modified": "2099-01-01T00:00:00.000Z"}
    relabelled = msgspec.structs.replace(sign(key, obj), version=newer["modified"])
    assert not verify(public, newer, relabelled)


def test_another_key_fails(key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    for obj in OBJECTS[:10]:
        sig = sign(key, obj)
        assert not verify(other.public_key(), obj, sig)
        # even with the origin rewritten to the other key's id, the bytes do not verify
        forged = msgspec.structs.replace(sig, origin=key_id(other.public_key()))
        assert not verify(other.public_key(), obj, forged)
        # genuine bytes that claim another origin are refused: the origin is part of the claim
        assert not verify(key.public_key(), obj, forged)


def test_a_signature_for_another_object_fails(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    first, second = VERSIONED[0], VERSIONED[1]
    sig = sign(key, first)
    moved = msgspec.structs.replace(
        sig, object_id=second["id"], version=second.get("modified", second.get("created", ""))
    )
    assert not verify(public, second, moved)


@pytest.mark.parametrize("signature", ["", "not base64!", base64.b64encode(b"x" * 63).decode()])
def test_a_malformed_signature_is_false_not_an_error(
    key: Ed25519PrivateKey, signature: str
) -> None:
    obj = OBJECTS[0]
    sig = msgspec.structs.replace(sign(key, obj), signature=signature)
    assert verify(key.public_key(), obj, sig) is False


def test_an_sco_is_signed_with_an_empty_version(key: Ed25519PrivateKey) -> None:
    sco = {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--" + "1" * 8, "value": "1"}
    sig = sign(key, sco)
    assert sig.version == ""
    assert verify(key.public_key(), sco, sig)
    assert not verify(key.public_key(), {**sco, "value": "2"}, sig)


# -- canonical form --------------------------------------------------------------------------


def test_canonical_is_compact_sorted_utf8() -> None:
    value = {"b": [1, {"d": "é", "c": None}], "a": True}
    out = canonical(value)
    assert "é".encode() in out  # raw UTF-8, not a \u escape
    assert b" " not in out and b"\n" not in out
    assert list(json.loads(out)) == ["a", "b"]
    assert list(json.loads(out)["b"][1]) == ["c", "d"]
    assert json.loads(out) == value


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_are_refused(number: int) -> None:
    with pytest.raises(CanonicalError, match="64-bit"):
        canonical({"id": "x--1", "n": [number]})


@pytest.mark.parametrize("number", [2**64 - 1, -(2**63), 0])
def test_integers_within_64_bits_are_kept_exactly(number: int) -> None:
    assert json.loads(canonical({"n": number}))["n"] == number


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_refused_not_written_as_null(value: float) -> None:
    with pytest.raises(CanonicalError):
        canonical({"n": {"deep": [value]}})


def test_non_json_values_are_refused() -> None:
    from datetime import UTC, datetime

    with pytest.raises(CanonicalError):
        canonical({"when": datetime.now(UTC)})
    with pytest.raises(CanonicalError):
        canonical({1: "non-string key"})  # type: ignore[dict-item]


def test_verify_of_an_uncanonical_object_is_false(key: Ed25519PrivateKey) -> None:
    obj = OBJECTS[0]
    sig = sign(key, obj)
    assert verify(key.public_key(), {**obj, "x_n": 2**70}, sig) is False
    deep: Any = []
    for _ in range(3000):
        deep = [deep]
    assert verify(key.public_key(), {**obj, "x_deep": deep}, sig) is False


_LEAVES = (
    st.text()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=False, allow_infinity=False)
)
_JSONISH = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)


@given(
    value=st.dictionaries(st.text(max_size=8), _JSONISH, min_size=1),
    seed=st.integers(0, 2**32),
    pick=st.integers(0, 10**6),
)
@settings(max_examples=300, deadline=None)
def test_canonical_ignores_layout_and_sees_every_leaf(value: JSON, seed: int, pick: int) -> None:
    expected = canonical(value)
    text = json.dumps(_shuffled(value, random.Random(seed)), indent=seed % 4 or None)
    assert canonical(orjson.loads(text)) == expected
    paths = [p for p in _leaf_paths(value) if p]
    if not paths:
        return  # only empty containers: no leaf to change
    path = paths[pick % len(paths)]
    mutated = copy.deepcopy(value)
    _set(mutated, path, _mutated_leaf(_get(value, path)))
    assert canonical(mutated) != expected, path


def _mutated_leaf(value: Any) -> Any:
    """A different leaf value. An int at the 64-bit edge moves inward so it stays signable;
    a float is negated, since ``x + 1 == x`` for large floats."""
    if isinstance(value, bool) or value is None:
        return _changed(value)
    if isinstance(value, int):
        return value - 1 if value > 0 else value + 1
    if isinstance(value, float):
        return -value if value else 1.0
    return _changed(value)


# -- keys ------------------------------------------------------------------------------------


def test_a_new_key_file_is_private_and_reloads_the_same(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key, created = init_key(data)
    assert created
    path = data / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_key(data)
    assert public_key_text(again) == public_key_text(key)
    assert public_key_text(load_or_create_key(data)) == public_key_text(key)
    _, created_again = init_key(data)
    assert not created_again
    assert public_key_text(load_key(data)) == public_key_text(key)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    load_or_create_key(tmp_path)
    os.chmod(tmp_path / KEY_FILE, mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key(tmp_path)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key(tmp_path)


def test_a_missing_key_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mburoja key init"):
        load_key(tmp_path)
    assert not (tmp_path / KEY_FILE).exists()


def test_a_key_file_that_is_not_an_ed25519_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"garbage")
    os.close(fd)
    with pytest.raises(ConfigError, match="not an unencrypted PKCS8"):
        load_key(tmp_path)
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        load_key(tmp_path)


def test_public_key_text_parses_back(key: Ed25519PrivateKey) -> None:
    text = public_key_text(key)
    assert len(base64.b64decode(text)) == 32 and "\n" not in text
    public = parse_public_key(text)
    sig = sign(key, OBJECTS[0])
    assert verify(public, OBJECTS[0], sig)
    assert key_id(public) == key_id(key.public_key())
    assert key_id(public).startswith("ed25519:") and len(key_id(public)) == len("ed25519:") + 16


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not base64 at all!", "not base64"),
        (base64.b64encode(b"k" * 31).decode(), "31 bytes"),
        (base64.b64encode(b"k" * 33).decode(), "33 bytes"),
        ("", "0 bytes"),
    ],
)
def test_a_bad_public_key_is_a_clear_config_error(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        parse_public_key(text)
    assert "mburoja key show" in str(info.value)


# -- envelopes -------------------------------------------------------------------------------


def test_an_envelope_carries_exact_bytes_and_every_signature(key: Ed25519PrivateKey) -> None:
    relay = Ed25519PrivateKey.generate()
    raws = RAWS[:15]
    objects = [orjson.loads(r) for r in raws]
    sigs = [sign(key, o) for o in objects] + [sign(relay, objects[0])]
    envelope = with_signatures(raws, sigs)
    # a plain TAXII reader (ours) sees exactly the objects, byte for byte
    assert read_envelope(envelope, max_objects=100) == raws
    index = signatures_in(envelope)
    assert index.malformed == 0
    for raw in raws:
        obj = orjson.loads(raw)
        found = index.by_object[(obj["id"], sigs[raws.index(raw)].version)]
        assert any(verify(key.public_key(), obj, s) for s in found)
    first = objects[0]
    both = index.by_object[(first["id"], sigs[0].version)]
    assert {s.origin for s in both} == {key_id(key.public_key()), key_id(relay.public_key())}


def test_an_envelope_without_signatures_reads_as_none() -> None:
    envelope = b'{"objects": [' + b",".join(RAWS[:3]) + b"]}"
    index = signatures_in(envelope)
    assert index.by_object == {} and index.malformed == 0


def test_malformed_signature_entries_are_skipped_and_counted(key: Ed25519PrivateKey) -> None:
    good = sign(key, OBJECTS[0])
    entries = [
        msgspec.to_builtins(good),
        {"object_id": good.object_id},
        "a string",
        {**msgspec.to_builtins(good), "signature": "short"},
        {**msgspec.to_builtins(good), "origin": "rsa:1234"},
    ]
    envelope = orjson.dumps({"objects": [OBJECTS[0]], "x_mburoja_signatures": entries})
    index = signatures_in(envelope)
    assert index.malformed == 4
    assert index.by_object == {(good.object_id, good.version): [good]}
    not_a_list = orjson.dumps({"objects": [], "x_mburoja_signatures": {"a": 1}})
    assert signatures_in(not_a_list).malformed == 1


def test_with_signatures_refuses_an_item_that_is_not_an_object() -> None:
    with pytest.raises(CanonicalError, match=r"objects\[1\]"):
        with_signatures([RAWS[0], b'{"a": 1}, {"b"'], [])


def test_signatures_in_refuses_a_body_that_is_not_json() -> None:
    with pytest.raises(CanonicalError):
        signatures_in(b"[1, 2")


def test_a_signature_struct_round_trips_as_json(key: Ed25519PrivateKey) -> None:
    sig = sign(key, OBJECTS[0])
    assert msgspec.json.decode(msgspec.json.encode(sig), type=ObjectSignature) == sig
