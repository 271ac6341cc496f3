"""The database schema, as SQLAlchemy Core tables. Alembic migrations build it.

One row of ``objects`` is one version of one STIX object, with its exact bytes in ``raw``.
``(id, version_key)`` is unique: the same version is never stored twice. ``is_current``
marks the newest version of each id, so "latest" reads need no grouping.

Timestamps the store makes itself (``date_added``, ``received_at``) are TAXII-form strings,
``YYYY-MM-DDTHH:MM:SS.ffffffZ``: fixed width, so string order is time order on every backend.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (cheap, monotonic).
Seq = BigInteger().with_variant(Integer(), "sqlite")

objects = Table(
    "objects",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("version_key", Text, nullable=False),
    Column("spec_version", Text, nullable=False),
    Column("date_added", Text, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("is_current", Boolean, nullable=False),
    Column("tlp", Text),
    Column("markings", Text),
    Column("created_by", Text),
    Column("name", Text),
    # The organisation that owns the object (``orgs.id``); NULL is the home organisation.
    # Only the owner may add versions; the policy layer decides reads with it.
    Column("owner", Text),
    # True when the object's bytes need the policy's closer look: they mention
    # ``x_mburoja_recipients`` or ``granular_markings``, or hold a JSON ``\u`` escape (which
    # could spell either). NULL: plain bytes, decided by owner and markings alone.
    Column("inspect", Boolean),
    Column("source", Text, nullable=False),
    Column("ingest_id", BigInteger, nullable=False),
    Column("chash", LargeBinary, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    UniqueConstraint("id", "version_key", name="objects_id_version"),
)
# Ingest ids only grow, so this index costs an append per row; it keeps the end-of-run
# dangling-reference count from scanning the whole store.
Index("objects_ingest", objects.c.ingest_id)
# TAXII pages walk ``collection_objects_added`` and join here by ``seq``; ``versions`` and
# ``match[id]`` use ``objects_id_version``. Every further index costs on the ingest hot path.

observables = Table(
    "observables",
    metadata,
    Column("value", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
)
Index("observables_value", observables.c.value)

refs = Table(
    "refs",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("prop", Text, nullable=False),
    Column("target", Text, nullable=False),
)
Index("refs_target", refs.c.target)
Index("refs_seq", refs.c.seq)  # an object's outgoing refs; seqs only grow, so cheap to keep

receipts = Table(
    "receipts",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("ingest_id", BigInteger, nullable=False),
    Column("received_at", Text, nullable=False),
    UniqueConstraint("seq", "source", name="receipts_seq_source"),
)

collections = Table(
    "collections",
    metadata,
    Column("id", Text, primary_key=True),
    Column("alias", Text, nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
)

collection_objects = Table(
    "collection_objects",
    metadata,
    Column("collection_id", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("date_added", Text, nullable=False),
    UniqueConstraint("collection_id", "seq", name="collection_objects_pk"),
)
Index(
    "collection_objects_added",
    collection_objects.c.collection_id,
    collection_objects.c.date_added,
    collection_objects.c.seq,
)

ingests = Table(
    "ingests",
    metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("started", Text, nullable=False),
    Column("finished", Text),
    Column("status", Text, nullable=False),
    Column("received", BigInteger, nullable=False, default=0),
    Column("new", BigInteger, nullable=False, default=0),
    Column("new_versions", BigInteger, nullable=False, default=0),
    Column("unchanged", BigInteger, nullable=False, default=0),
    Column("rejected", BigInteger, nullable=False, default=0),
    Column("warnings", BigInteger, nullable=False, default=0),
    Column("dangling_refs", BigInteger, nullable=False, default=0),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("qid", Seq, primary_key=True, autoincrement=True),
    Column("ingest_id", BigInteger),
    Column("origin", Text, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("object_id", Text),
    Column("field", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("received_at", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
)
Index("quarantine_status", quarantine.c.status, quarantine.c.qid)


# -- organisations, accounts and TAXII (revision 0002) ---------------------------------------

orgs = Table(
    "orgs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("identity_id", Text, nullable=False, unique=True),
    # home (exactly one: this instance's own), client, partner, community or none
    Column("relation", Text, nullable=False),
    Column("created", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Text, primary_key=True),
    Column("org_id", Text, nullable=False),
    Column("name", Text, nullable=False, unique=True),
    Column("identity_id", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),  # admin, analyst, reader, sync
    Column("kind", Text, nullable=False),  # user or service (a peer's account)
    Column("disabled", Boolean, nullable=False),
    Column("created", Text, nullable=False),
    Column("password_hash", Text),  # argon2id, for the web sign-in; NULL: no password
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Text, primary_key=True),  # the public part of the token, for lookup
    Column("user_id", Text, nullable=False),
    Column("digest", Text, nullable=False),  # SHA-256 of the secret part; the secret is not kept
    Column("label", Text, nullable=False),
    Column("created", Text, nullable=False),
    Column("expires", Text),
    Column("read_only", Boolean, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("last_used", Text),
)
Index("tokens_user", tokens.c.user_id)

collection_access = Table(
    "collection_access",
    metadata,
    Column("collection_id", Text, nullable=False),
    # an ``orgs.id``, or ``*`` for every authenticated organisation, or ``anonymous``
    Column("org_id", Text, nullable=False),
    Column("can_read", Boolean, nullable=False),
    Column("can_write", Boolean, nullable=False),
    UniqueConstraint("collection_id", "org_id", name="collection_access_pk"),
)

taxii_status = Table(
    "taxii_status",
    metadata,
    Column("id", Text, primary_key=True),
    Column("collection_id", Text, nullable=False),
    Column("org_id", Text),
    Column("request_timestamp", Text, nullable=False),
    Column("status", Text, nullable=False),  # pending or complete
    Column("total_count", BigInteger, nullable=False),
    Column("success_count", BigInteger, nullable=False),
    Column("failure_count", BigInteger, nullable=False),
    Column("pending_count", BigInteger, nullable=False),
    Column("details", LargeBinary),  # JSON: successes, failures, pendings
)
Index("taxii_status_time", taxii_status.c.request_timestamp)

# One row: the newest ``date_added`` handed out, so that stamps only grow across processes
# and replicas (TAXII ``added_after`` readers must never miss a later commit).
clock = Table(
    "clock",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_added", Text, nullable=False),
)

# -- federation (revision 0003) ---------------------------------------------------------------

peers = Table(
    "peers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    # the peer's TAXII 2.1 API root URL, and what it is: another Mburoja or any TAXII server
    Column("api_root", Text, nullable=False),
    Column("kind", Text, nullable=False),
    # the organisation standing for the peer: its relation to us is what the policy uses
    Column("org_id", Text, nullable=False),
    # credentials are never stored: only the names of the environment variables holding them
    Column("user", Text),
    Column("secret_env", Text),
    Column("push", Text, nullable=False),  # remote collection ids, space-separated
    Column("pull", Text, nullable=False),  # remote collection ids, space-separated
    Column("public_key", Text),  # base64 Ed25519 public key; objects it sends must verify
    Column("must_sign", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created", Text, nullable=False),
)

# -- federation (revision 0004) ---------------------------------------------------------------

# What each peer is still owed: one row per (peer, stored version), written in the same
# transaction as the version itself. A delivered row is deleted (and counted in peer_state); a
# row the peer refused stays, ``failed``, with the peer's reason, until someone looks.
outbox = Table(
    "outbox",
    metadata,
    Column("peer_id", Text, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("enqueued_at", Text, nullable=False),
    Column("status", Text, nullable=False),  # pending or failed
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
)
Index("outbox_due", outbox.c.peer_id, outbox.c.status, outbox.c.seq)

# Where a stored version came from when a peer sent it: the instance that first committed it
# (its key id), the path of instances it travelled through with the time each received it
# (JSON), and the origin's detached signature (JSON) to pass on unchanged.
provenance = Table(
    "provenance",
    metadata,
    Column("seq", BigInteger, primary_key=True),
    Column("origin", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("signature", Text),
)

# Per-peer counters and the last outcome, for `mburoja peer status` and the metrics.
peer_state = Table(
    "peer_state",
    metadata,
    Column("peer_id", Text, primary_key=True),
    *(
        Column(name, BigInteger, nullable=False, server_default="0")
        for name in ("delivered", "withheld", "refused", "received", "rejected")
    ),
    *(Column(name, Text) for name in ("last_success", "last_error", "last_error_at")),
    Column("last_lag_s", Float),  # commit here to accepted there, for the last batch
)

# Where the pull of each peer collection stands; saved only after the page it follows has
# been committed here.
peer_cursors = Table(
    "peer_cursors",
    metadata,
    Column("peer_id", Text, primary_key=True),
    Column("collection", Text, primary_key=True),
    Column("cursor", Text, nullable=False),  # JSON
    Column("updated", Text, nullable=False),
)

# -- detection (revision 0005) ---------------------------------------------------------------

# One row per (indicator, telemetry record) that hit it; sightings aggregate them by window.
sighting_hits = Table(
    "sighting_hits",
    metadata,
    Column("indicator_id", Text, primary_key=True),
    Column("rid", Text, primary_key=True),
    Column("window_start", BigInteger, nullable=False),
    Column("ts", Float, nullable=False),
    Column("kind", Text, nullable=False),
    Column("value", Text, nullable=False),
)
Index("sighting_hits_window", sighting_hits.c.indicator_id, sighting_hits.c.window_start)

# -- detection (revision 0006) ---------------------------------------------------------------

# The (indicator, window) pairs whose sighting must be rewritten: set with the hits, cleared
# once a sighting counting them is stored. ``version`` grows with each batch of new hits;
# ``marked`` is when (epoch seconds) the last one came.
sighting_pending = Table(
    "sighting_pending",
    metadata,
    Column("indicator_id", Text, primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("marked", Float, nullable=False),
)

# -- counter-disinformation (revision 0007) --------------------------------------------------

# The watch list: outlets (RSS/Atom feeds, HTML pages) and social accounts. ``location`` is the
# feed's or page's URL, or the account's id on ``platform`` ('' for outlets).
disinfo_sources = Table(
    "disinfo_sources",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),  # feed, page or account
    Column("platform", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("lang", Text),  # the language expected, a hint (ISO 639-1)
    Column("tlp", Text, nullable=False),  # the TLP level of what is fetched from it
    Column("enabled", Boolean, nullable=False),
    Column("created", Text, nullable=False),
    UniqueConstraint("kind", "platform", "location", name="disinfo_sources_where"),
)

# What each fetched URL (feed, page, article) answered last: its validators for the next
# conditional GET, the status or error, and the SHA-256 of the last content stored. Saved only
# after what the fetch found is committed, so a failed ingest is fetched again.
disinfo_fetch_state = Table(
    "disinfo_fetch_state",
    metadata,
    Column("url", Text, primary_key=True),
    Column("source_id", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("status", Integer),  # the last HTTP status; NULL when the fetch failed before one
    Column("error", Text),
    Column("content_sha256", Text),
    Column("checked", Text, nullable=False),
    Column("changed", Text),  # when new content last came
)
Index("disinfo_fetch_state_source", disinfo_fetch_state.c.source_id)

# -- feeds (revision 0010) -------------------------------------------------------------------

# Feeds the operators added (``source`` 'user') or switched on or off from the catalogue
# ('shipped'). ``spec`` is the ``feeds.catalogue.FeedSpec`` as JSON.
feeds = Table(
    "feeds",
    metadata,
    Column("name", Text, primary_key=True),
    Column("spec", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("source", Text, nullable=False),  # shipped or user
    Column("created", Text, nullable=False),
)

# Each feed's validators for the next conditional GET, its health, and its lease: the worker
# in ``lease_holder`` runs it until ``lease_until`` (epoch seconds); nobody else may meanwhile.
feed_state = Table(
    "feed_state",
    metadata,
    Column("name", Text, primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_run", Text),
    Column("failures", Integer, nullable=False),  # consecutive failed runs
    Column("healthy", Boolean, nullable=False),
    Column("lease_holder", Text),
    Column("lease_until", Float),
)

# One row per run of a feed: what it fetched, what the ingest counted, or why it failed.
feed_runs = Table(
    "feed_runs",
    metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("feed", Text, nullable=False),
    Column("started", Text, nullable=False),
    Column("finished", Text, nullable=False),
    Column("status", Text, nullable=False),  # ok, not-modified or failed
    Column("duration_s", Float, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("new", BigInteger, nullable=False),
    Column("new_versions", BigInteger, nullable=False),
    Column("unchanged", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("ingest_id", BigInteger),
    Column("error", Text),
)
Index("feed_runs_feed", feed_runs.c.feed, feed_runs.c.id)

# -- what feed runs remember (revision 0011) ---------------------------------------------------

# The indicator ids a full-snapshot feed listed: ``missing`` counts its good runs in a row
# without the value (0: listed in the last one), ``missing_since`` the first of them. A value
# is withdrawn (and its row dropped) once ``missing`` reaches the feed's ``missing_runs``.
feed_values = Table(
    "feed_values",
    metadata,
    Column("feed", Text, primary_key=True),
    Column("indicator_id", Text, primary_key=True),
    Column("missing", Integer, nullable=False),
    Column("missing_since", Text),
)

# Each MISP feed's manifest as of its last good run, event uuid -> the manifest's timestamp:
# the next run fetches only the events whose timestamp is new or changed.
feed_events = Table(
    "feed_events",
    metadata,
    Column("feed", Text, primary_key=True),
    Column("event_uuid", Text, primary_key=True),
    Column("timestamp", BigInteger, nullable=False),
)

# Each TAXII feed's cursor: the ``X-TAXII-Date-Added-Last`` of its last committed page, and
# whether the run that saved it was cut between pages (the next asks from just before it).
feed_cursors = Table(
    "feed_cursors",
    metadata,
    Column("feed", Text, primary_key=True),
    Column("date_added_last", Text),
    Column("cut", Boolean, nullable=False),
    Column("updated", Text, nullable=False),
)

# Runs count MISP events fetched and skipped as unchanged, and values withdrawn.
for _count in ("events_fetched", "events_skipped", "withdrawn"):
    feed_runs.append_column(Column(_count, BigInteger, nullable=False, server_default="0"))
