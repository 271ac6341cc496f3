"""One typed ``Settings``, resolved in one order: defaults, ``mburoja.toml``, ``MBUROJA_*``
environment variables, then flags.

It is built at the edge (the CLI or the app factory) and passed down; nothing deeper reads
``os.environ``. A variable is named after its section and field: ``store.url`` is
``MBUROJA_STORE_URL``, ``limits.max_json_depth`` is ``MBUROJA_LIMITS_MAX_JSON_DEPTH``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from mburoja.errors import ConfigError

DEFAULT_CONFIG_FILE = "mburoja.toml"


class StoreSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where objects live. An empty ``url`` means the embedded SQLite file in ``data_dir``."""

    url: str = ""
    batch_size: int = 5000


class LimitSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Caps on input, so that a hostile or broken file gives a clear error, not a crash."""

    max_input_bytes: int = 512 * 1024 * 1024
    max_json_depth: int = 64
    max_objects_per_bundle: int = 2_000_000
    max_object_bytes: int = 16 * 1024 * 1024


class FetchSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Outbound http(s) fetches (bundles, MISP feeds). Private targets are refused by default."""

    allow_private: bool = False
    allow_http: bool = True
    timeout_s: float = 30.0
    max_redirects: int = 5
    user_agent: str = "mburoja/0.1 (+https://github.com/mburoja)"


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``mburoja serve``. Loopback unless told otherwise."""

    host: str = "127.0.0.1"
    port: int = 8000


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    data_dir: str = "mburoja-data"
    store: StoreSettings = msgspec.field(default_factory=StoreSettings)
    limits: LimitSettings = msgspec.field(default_factory=LimitSettings)
    fetch: FetchSettings = msgspec.field(default_factory=FetchSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the store: the setting, or SQLite under ``data_dir``."""
        if self.store.url:
            return self.store.url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'mburoja.db'}"


_SECTIONS: dict[str, type[msgspec.Struct]] = {
    "store": StoreSettings,
    "limits": LimitSettings,
    "fetch": FetchSettings,
    "server": ServerSettings,
}


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Collect ``MBUROJA_<SECTION>_<FIELD>`` variables into a nested, still-string mapping."""
    out: dict[str, Any] = {}
    if "MBUROJA_DATA_DIR" in environ:
        out["data_dir"] = environ["MBUROJA_DATA_DIR"]
    for section, struct in _SECTIONS.items():
        for field in struct.__struct_fields__:
            name = f"MBUROJA_{section}_{field}".upper()
            if name in environ:
                out.setdefault(section, {})[field] = environ[name]
    return out


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve settings: defaults < file < environment < ``overrides`` (the CLI's flags).

    ``config_file`` None means ``./mburoja.toml`` if it exists (or ``$MBUROJA_CONFIG``).
    """
    env = os.environ if environ is None else environ
    layers: dict[str, Any] = {}
    path = (
        Path(config_file) if config_file else Path(env.get("MBUROJA_CONFIG", DEFAULT_CONFIG_FILE))
    )
    if path.exists():
        try:
            layers = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read settings file: {exc}") from exc
    elif config_file:
        raise ConfigError(f"{path}: settings file not found; create it or drop --config")
    layers = _merge(layers, _from_env(env))
    if overrides:
        layers = _merge(layers, overrides)
    try:
        # strict=False lets environment strings such as "5000" or "true" become ints and bools.
        return msgspec.convert(layers, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"invalid setting: {exc}. See docs/configuration.md for every setting and its type."
        ) from exc
