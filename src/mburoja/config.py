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
    """``mburoja serve``. Loopback unless told otherwise. ``json_logs``: log one JSON
    object per line (for a log shipper); off gives plain lines for a person."""

    host: str = "127.0.0.1"
    port: int = 8000
    json_logs: bool = True


class AuthSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Who may call the servers.

    ``secret`` signs TAXII ``next`` cursors (any replica with the same secret accepts them);
    empty means the key file ``mburoja init`` writes to ``<data_dir>/secret.key``. The server
    refuses to start without one. ``anonymous_read`` lets callers without credentials read,
    and the policy then shows them TLP:CLEAR only.
    """

    secret: str = ""
    anonymous_read: bool = False
    token_days: int = 90


class WebSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The analyst's web application at ``/``. ``secure_cookie`` marks the session cookie
    ``Secure`` (sent over HTTPS only); turn it off only to sign in over plain HTTP on
    loopback. A session ends ``session_minutes`` after sign-in. After ``login_failures``
    failed sign-ins within ``login_window_seconds`` for one user name or one client
    address, sign-in is refused (429) until the window has passed."""

    secure_cookie: bool = True
    session_minutes: int = 480
    login_failures: int = 5
    login_window_seconds: int = 300


class PolicySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The access policy. ``default_tlp`` applies to objects with no TLP marking, or with a
    marking it does not know; it fails closed. ``neutral_markings`` are marking-definition
    ids (e.g. copyright statements) that restrict nothing."""

    default_tlp: str = "amber+strict"
    neutral_markings: list[str] = msgspec.field(default_factory=list)


class TaxiiSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The TAXII 2.1 server mounted by ``mburoja serve`` under ``/taxii2/``."""

    title: str = "Mburoja TAXII 2.1"
    max_content_length: int = 64 * 1024 * 1024
    default_page_size: int = 1000
    max_page_size: int = 10000
    background_after: int = 1000
    status_keep_hours: int = 48


class PeerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One peer in the settings file (``[[federation.peers]]``); see `mburoja peer add`."""

    name: str
    api_root: str
    relation: str = "partner"
    kind: str = "mburoja"
    org: str | None = None
    user: str | None = None
    secret_env: str | None = None
    push: list[str] = msgspec.field(default_factory=list)
    pull: list[str] = msgspec.field(default_factory=list)
    public_key: str | None = None
    must_sign: bool | None = None


class FederationSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Pushing to and pulling from peers (see docs/federation.md)."""

    #: run the push and pull workers inside `mburoja serve`
    enabled: bool = True
    #: how often a worker looks for work another process committed (in-process commits
    #: wake it at once)
    poll_s: float = 0.1
    #: versions per pushed envelope, at most
    batch_size: int = 500
    #: bytes per pushed envelope, at most (the peer's own max_content_length also applies)
    max_batch_bytes: int = 8 * 1024 * 1024
    #: how long to wait for a peer's status resource to complete
    status_timeout_s: float = 120.0
    #: first retry delay after a transient error, doubled each time up to backoff_max_s
    backoff_s: float = 0.5
    backoff_max_s: float = 60.0
    #: seconds between pulls of each peer collection
    pull_every_s: float = 30.0
    #: peers declared in the settings file, added or updated in the store at `serve`
    #: (settings file only: ``[[federation.peers]]`` tables)
    peers: list[PeerSettings] = msgspec.field(default_factory=list)


class DetectSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Matching telemetry against the active indicators (see docs/detection.md)."""

    #: indicators with a confidence below this are left out of the active index
    confidence_floor: int = 0
    #: sightings aggregate the hits of one indicator per window of this many seconds
    window_s: int = 3600
    #: TLP level of the sightings and observed-data Mburoja makes
    sighting_tlp: str = "amber"
    #: records per micro-batch, at most
    batch_size: int = 10_000
    #: a micro-batch is matched after this many seconds even when not full (streaming input)
    batch_s: float = 1.0
    #: "columnar" (DuckDB) or "reference" (pure Python, low memory)
    matcher: str = "columnar"
    #: seconds between looks at the store for indicator changes while matching a stream
    refresh_s: float = 5.0
    #: DuckDB threads and memory of the columnar matcher
    threads: int = 2
    memory_limit: str = "768MB"
    #: how long a candidate record of a multi-observation pattern waits for the others
    evaluate_window_s: float = 3600.0
    #: nats://host:port: after an ingest stores indicators, tell the match workers to look at
    #: the store now; empty: they see changes within refresh_s
    announce_url: str = ""
    #: the JetStream key-value bucket that announces index changes to the match workers
    announce_bucket: str = "mburoja-index"


class WarninglistSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Known-benign values held out of detection and exports (see docs/warninglists.md)."""

    #: check indicators against the warning lists at all
    enabled: bool = True
    #: the user's list files (text or MISP warninglist JSON), or folders of them
    paths: list[str] = msgspec.field(default_factory=list)
    #: names of lists to leave out (shipped or the user's)
    disabled_lists: list[str] = msgspec.field(default_factory=list)
    #: names of shipped lists that are off by default to turn on (e.g. "documentation")
    enabled_lists: list[str] = msgspec.field(default_factory=list)


class DisinfoSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Counter-disinformation analysis (see docs/disinfo/)."""

    #: the collection fetched articles and imported posts are stored in
    collection: str = "disinfo"
    #: TLP level of the findings (campaigns, reports, indicators) an analysis stores
    findings_tlp: str = "amber"
    #: an outlet whose first article here is younger than this many days is newly appeared
    new_site_days: float = 30.0
    #: a copy-paste network needs copies at this many outlets at least
    min_outlets: int = 2
    #: coordinated sharing: the interval in seconds; 0 estimates it from the data (CooRnet)
    coordination_interval_s: float = 0.0
    #: coordinated sharing: the least weight an edge needs (besides the 90th percentile)
    coordination_min_weight: int = 2
    #: coordinated sharing: also link accounts that post near-identical text
    coordination_text: bool = True


class FeedSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Collecting from feeds: the catalogue, runs and their health (see ``mburoja feed``)."""

    #: a TOML file of [[feed]] entries merged over the shipped catalogue ("" for none)
    catalogue: str = ""
    #: the collection every feed's objects are added to
    collection: str = "feeds"
    #: a feed is marked unhealthy after this many failed runs in a row
    unhealthy_after: int = 3
    #: how long a worker may hold a feed's lease (longer than the slowest run)
    lease_seconds: int = 3600
    #: time-out of each request to a feed, in seconds
    timeout_s: float = 60.0
    #: tries again after a transient failure (time-out, 5xx, 429) this many times
    retries: int = 2
    #: waits this long before the first retry, doubling for each next one
    backoff_s: float = 2.0
    #: run enabled feeds on their schedules inside `mburoja serve` (off: run `mburoja worker`)
    schedule_in_serve: bool = True
    #: the least time between two requests to one host, in seconds, across all feeds
    per_host_interval_s: float = 0.25
    #: how often the scheduler looks for due feeds, in seconds
    tick_s: float = 5.0
    #: how many feeds one scheduler (serve or worker) runs at the same time
    parallel: int = 1


class DecayModelSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One decay model (settings file only: ``[[decay.models]]``; see docs/decay.md)."""

    #: the model's name, shown in search, the object page and `mburoja decay`
    name: str
    #: globs of ingest sources it takes ("feed:*", "misp:*", "taxii:*", "*"); first match wins
    sources: list[str]
    #: the score at or under which an indicator leaves detection and the exports
    threshold: float = 30.0
    #: the curve's shape: under 1 the score holds, then falls near the end of the lifetime
    speed: float = 0.3
    #: the base of an indicator without a confidence
    default_base: float = 50.0
    #: the base is the indicator's confidence, at most this
    max_base: float = 100.0
    #: a fixed base for every indicator of the model (unset: from the confidence)
    base: float | None = None
    #: the lifetime of an indicator whose key kinds are not in lifetime_days, in days
    default_lifetime_days: float = 90.0
    #: lifetime in days by key kind (ip, net, domain, url, sha256...), over the shipped ones
    lifetime_days: dict[str, float] = msgspec.field(default_factory=dict)


class DecaySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Indicator decay: scores fall with age; under a threshold, out of detection (decay.md)."""

    #: decay indicators at all (off: only valid_until ends an indicator)
    enabled: bool = True
    #: use the shipped model "feeds" (every feed:* source), after the models below
    shipped_model: bool = True
    #: the operator's models, tried in order before the shipped one (settings file only)
    models: list[DecayModelSettings] = msgspec.field(default_factory=list)


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    data_dir: str = "mburoja-data"
    store: StoreSettings = msgspec.field(default_factory=StoreSettings)
    limits: LimitSettings = msgspec.field(default_factory=LimitSettings)
    fetch: FetchSettings = msgspec.field(default_factory=FetchSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    web: WebSettings = msgspec.field(default_factory=WebSettings)
    policy: PolicySettings = msgspec.field(default_factory=PolicySettings)
    taxii: TaxiiSettings = msgspec.field(default_factory=TaxiiSettings)
    federation: FederationSettings = msgspec.field(default_factory=FederationSettings)
    detect: DetectSettings = msgspec.field(default_factory=DetectSettings)
    disinfo: DisinfoSettings = msgspec.field(default_factory=DisinfoSettings)
    warninglists: WarninglistSettings = msgspec.field(default_factory=WarninglistSettings)
    feeds: FeedSettings = msgspec.field(default_factory=FeedSettings)
    decay: DecaySettings = msgspec.field(default_factory=DecaySettings)

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
    "auth": AuthSettings,
    "web": WebSettings,
    "policy": PolicySettings,
    "taxii": TaxiiSettings,
    "federation": FederationSettings,
    "detect": DetectSettings,
    "disinfo": DisinfoSettings,
    "warninglists": WarninglistSettings,
    "feeds": FeedSettings,
    "decay": DecaySettings,
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
                value: Any = environ[name]
                if isinstance(getattr(struct(), field), list):  # a comma-separated list
                    value = [part.strip() for part in value.split(",") if part.strip()]
                out.setdefault(section, {})[field] = value
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


SECRET_FILE = "secret.key"  # noqa: S105 - a file name
_MIN_SECRET = 32
_KNOWN_DEFAULTS = frozenset(
    {"", "secret", "changeme", "change-me", "default", "password", "mburoja", "insecure"}
)


def secret_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / SECRET_FILE


def ensure_secret(settings: Settings) -> Path:
    """Write a fresh random instance secret to ``<data_dir>/secret.key`` (mode 0600) unless
    one is there; ``mburoja init`` calls it."""
    path = secret_path(settings)
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
    return path


def load_secret(settings: Settings) -> str:
    """The instance secret: ``auth.secret``, else the key file. Refuses an empty, default or
    short secret, saying how to make a good one."""
    value = settings.auth.secret
    origin = "auth.secret (MBUROJA_AUTH_SECRET)"
    if not value:
        path = secret_path(settings)
        origin = str(path)
        try:
            value = path.read_text(encoding="ascii").strip()
        except OSError:
            value = ""
    if value.lower() in _KNOWN_DEFAULTS or len(value) < _MIN_SECRET:
        raise ConfigError(
            f"refusing to start: the instance secret from {origin} is empty, a known default "
            f"or shorter than {_MIN_SECRET} characters. Run `mburoja init` to generate one, or "
            "set MBUROJA_AUTH_SECRET to the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'` on every replica"
        )
    return value
