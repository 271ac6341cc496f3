"""The columnar matcher: DuckDB over deduplicated values.

Telemetry repeats itself (the same resolver, the same popular names), so the matcher first
reduces a batch to its *distinct* ``(kind, raw value)`` pairs, normalises and matches those
with set operations (hash joins for exact keys, every parent of a name joined at once for
domains, one equi-join per CIDR prefix length for addresses), and only then joins the few
hits back to the records. Semantics are the reference matcher's
(:mod:`mburoja.detect.reference`); values the SQL cannot normalise with certainty (URLs,
IPv6, non-ASCII names, odd spacing) are normalised by the reference's own function.

:meth:`ColumnarMatcher.match` takes a micro-batch of :class:`Record`\\ s (streaming input);
:meth:`ColumnarMatcher.scan_zeek` takes a whole Zeek TSV file and never builds a Python
object for a record that hits nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from mburoja.detect.index import Delta
from mburoja.detect.model import Record
from mburoja.detect.reference import Hit, normalise
from mburoja.detect.zeekscan import ZeekScan

_IPV4: Final = (
    r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    r"\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
_PRINTABLE: Final = "[!-~]+"  # ASCII without spaces: strip() and lower() agree with Python's
_SEP: Final = "\x1f"

# (kind, raw) -> (nkind, key) for the values SQL normalises exactly as the reference does;
# ``fast`` says which those are, the rest go to :func:`normalise`.
_FAST: Final = f"""
CASE
  WHEN NOT regexp_full_match(raw, '{_PRINTABLE}') THEN FALSE
  WHEN kind = 'domain' THEN TRUE
  WHEN kind IN ('host', 'ip') THEN NOT (contains(raw, ':') OR contains(raw, '/'))
  WHEN kind IN ('md5', 'sha1', 'sha256', 'sha512', 'email', 'hash', 'x509') THEN TRUE
  WHEN kind = 'endpoint' THEN regexp_full_match(raw, '{_IPV4}\\|[0-9]{{1,18}}')
  ELSE FALSE
END"""
_NKIND: Final = f"""
CASE
  WHEN kind = 'domain' THEN CASE WHEN rtrim(lower(raw), '.') <> '' THEN 'domain' END
  WHEN kind = 'host' THEN CASE
    WHEN regexp_full_match(raw, '{_IPV4}') THEN 'ip'
    WHEN rtrim(lower(raw), '.') <> '' THEN 'domain' END
  WHEN kind = 'ip' THEN CASE WHEN regexp_full_match(raw, '{_IPV4}') THEN 'ip' END
  WHEN kind IN ('md5', 'sha1', 'sha256', 'sha512', 'email') THEN kind
  WHEN kind = 'hash' THEN CASE WHEN regexp_full_match(raw, '[0-9A-Fa-f]+') THEN
    CASE length(raw) WHEN 32 THEN 'md5' WHEN 40 THEN 'sha1' WHEN 64 THEN 'sha256'
      WHEN 128 THEN 'sha512' END END
  WHEN kind = 'x509' THEN CASE WHEN regexp_full_match(raw, '[0-9A-Fa-f:]+') THEN
    CASE length(replace(raw, ':', '')) WHEN 32 THEN 'x509-md5' WHEN 40 THEN 'x509-sha1'
      WHEN 64 THEN 'x509-sha256' END END
  WHEN kind = 'endpoint' THEN 'endpoint'
END"""
_KEY: Final = """
CASE
  WHEN nkind = 'domain' THEN rtrim(lower(raw), '.')
  WHEN nkind = 'ip' THEN raw
  WHEN nkind = 'endpoint' THEN split_part(raw, '|', 1) || '|'
    || CAST(CAST(split_part(raw, '|', 2) AS HUGEINT) AS VARCHAR)
  WHEN nkind LIKE 'x509-%' THEN lower(replace(raw, ':', ''))
  ELSE lower(raw)
END"""
_V6_NUMBER: Final = "(CAST(hi AS UHUGEINT) << CAST(64 AS UHUGEINT)) | CAST(lo AS UHUGEINT)"
_V4_NUMBER: Final = (
    "(CAST(split_part(key, '.', 1) AS UBIGINT) << 24) + (CAST(split_part(key, '.', 2) AS UBIGINT)"
    " << 16) + (CAST(split_part(key, '.', 3) AS UBIGINT) << 8) + CAST(split_part(key, '.', 4)"
    " AS UBIGINT)"
)


class ColumnarMatcher:
    """Active keys in DuckDB tables; :meth:`apply` takes index deltas."""

    name = "columnar"

    def __init__(self, *, threads: int = 2, memory_limit: str = "768MB") -> None:
        self.db = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
        self.db.execute("SET preserve_insertion_order = false")
        for ddl in (
            "CREATE TABLE ind (ind INTEGER, id VARCHAR)",
            "CREATE TABLE net4 (plen INTEGER, net UBIGINT, ind INTEGER)",
            "CREATE TABLE net6 (plen INTEGER, net UHUGEINT, ind INTEGER)",
        ):
            self.db.execute(ddl)
        self._next = 0
        self._count = 0
        self._plens4: list[int] = []
        self._plens6: list[int] = []
        self._value_kinds: frozenset[str] = frozenset()
        # one table of exact keys per key kind: a join reads only the keys of its kind
        self._tables: dict[str, str] = {}

    def close(self) -> None:
        self.db.close()

    def __len__(self) -> int:
        return self._count

    # -- the index -------------------------------------------------------------------------

    def apply(self, delta: Delta) -> None:
        db = self.db
        if delta.removed:
            gone = pa.table({"id": pa.array(delta.removed, pa.string())})
            db.register("gone", gone)
            doomed = "SELECT ind FROM ind WHERE id IN (SELECT id FROM gone)"
            for table in (*self._tables.values(), "net4", "net6"):
                db.execute(f"DELETE FROM {table} WHERE ind IN ({doomed})")
            self._count -= db.execute(
                "SELECT count(*) FROM ind WHERE id IN (SELECT id FROM gone)"
            ).fetchone()[0]  # type: ignore[index]
            db.execute("DELETE FROM ind WHERE id IN (SELECT id FROM gone)")
            db.unregister("gone")
        if delta.added:
            ids: list[str] = []
            numbers: list[int] = []
            exact: tuple[list[str], list[str], list[int]] = ([], [], [])
            nets: dict[int, tuple[list[int], list[int], list[int]]] = {
                4: ([], [], []),
                6: ([], [], []),
            }
            for found in delta.added:
                n = self._next
                self._next += 1
                ids.append(found.id)
                numbers.append(n)
                for key in found.keys:
                    if key.kind == "net":
                        net = ipaddress.ip_network(key.value)
                        plens, addrs, inds = nets[net.version]
                        plens.append(net.prefixlen)
                        addrs.append(int(net.network_address))
                        inds.append(n)
                    else:
                        exact[0].append(key.kind)
                        exact[1].append(key.value)
                        exact[2].append(n)
            self._insert("ind", {"ind": pa.array(numbers, pa.int32()), "id": pa.array(ids)})
            by_kind: dict[str, tuple[list[str], list[int]]] = {}
            for kind, value, n in zip(*exact, strict=True):
                found_keys, inds = by_kind.setdefault(kind, ([], []))
                found_keys.append(value)
                inds.append(n)
            for kind, (found_keys, inds) in by_kind.items():
                self._insert(
                    self._table(kind),
                    {"key": pa.array(found_keys), "ind": pa.array(inds, pa.int32())},
                )
            if nets[4][0]:
                self._insert(
                    "net4",
                    {
                        "plen": pa.array(nets[4][0], pa.int32()),
                        "net": pa.array(nets[4][1], pa.uint64()),
                        "ind": pa.array(nets[4][2], pa.int32()),
                    },
                )
            if nets[6][0]:
                hi, lo = _halves(nets[6][1])
                db.register(
                    "incoming",
                    pa.table(
                        {
                            "plen": pa.array(nets[6][0], pa.int32()),
                            "hi": hi,
                            "lo": lo,
                            "ind": pa.array(nets[6][2], pa.int32()),
                        }
                    ),
                )
                db.execute(f"INSERT INTO net6 SELECT plen, {_V6_NUMBER}, ind FROM incoming")
                db.unregister("incoming")
            self._count += len(ids)
        self._plens4 = [
            r[0] for r in db.execute("SELECT DISTINCT plen FROM net4 ORDER BY 1").fetchall()
        ]
        self._plens6 = [
            r[0] for r in db.execute("SELECT DISTINCT plen FROM net6 ORDER BY 1").fetchall()
        ]
        kinds = set(self._tables)
        if self._plens4 or self._plens6:
            kinds.add("ip")
        self._value_kinds = _value_kinds(kinds)

    def _table(self, kind: str) -> str:
        """The table of exact keys of ``kind``, made when first needed."""
        table = self._tables.get(kind)
        if table is None:
            table = f"keys{len(self._tables)}"
            self.db.execute(f"CREATE TABLE {table} (key VARCHAR, ind INTEGER)")
            self._tables[kind] = table
        return table

    def _insert(self, table: str, columns: dict[str, pa.Array]) -> None:
        self.db.register("incoming", pa.table(columns))
        self.db.execute(f"INSERT INTO {table} SELECT * FROM incoming")
        self.db.unregister("incoming")

    # -- matching distinct values ------------------------------------------------------------

    def _match_distinct(self, distinct: str) -> None:
        """Fill temp table ``m(kind, raw, nkind, key, ids)`` with the distinct ``(kind, raw)``
        pairs of relation ``distinct`` that hit, ``ids`` sorted."""
        db = self.db
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE d AS SELECT kind, raw, {_FAST} AS fast FROM ({distinct})"
        )
        db.execute(
            f"""CREATE OR REPLACE TEMP TABLE n AS
            SELECT kind, raw, nkind, {_KEY} AS key FROM (
              SELECT kind, raw, {_NKIND} AS nkind FROM d WHERE fast) WHERE nkind IS NOT NULL"""
        )
        slow = db.execute("SELECT kind, raw FROM d WHERE NOT fast").fetchall()
        if slow:
            kinds, raws, nkinds, keys = [], [], [], []
            for kind, raw in slow:
                found = normalise(kind, raw)
                if found is not None:
                    kinds.append(kind)
                    raws.append(raw)
                    nkinds.append(found[0])
                    keys.append(found[1])
            db.register(
                "slow",
                pa.table(
                    {
                        "kind": pa.array(kinds, pa.string()),
                        "raw": pa.array(raws, pa.string()),
                        "nkind": pa.array(nkinds, pa.string()),
                        "key": pa.array(keys, pa.string()),
                    }
                ),
            )
            db.execute("INSERT INTO n SELECT * FROM slow")
            db.unregister("slow")
        present = {r[0] for r in db.execute("SELECT DISTINCT nkind FROM n").fetchall()}
        parts = [
            f"SELECT {_literal(kind)}, u.key, k.ind FROM (SELECT DISTINCT key FROM n WHERE"
            f" nkind = {_literal(kind)}) u JOIN {table} k ON k.key = u.key"
            for kind, table in sorted(self._tables.items())
            # domains: a name is its own first parent, below
            if kind in present and kind != "domain"
        ]
        if "domain" in present and "domain" in self._tables:
            # a name and every parent of it
            parts.append(
                "SELECT 'domain', s.key, k.ind FROM (SELECT key, unnest(list_transform("
                "range(0, len(p)), lambda i: array_to_string(p[i + 1:], '.'))) AS parent FROM"
                " (SELECT DISTINCT key, string_split(key, '.') AS p FROM n WHERE nkind ="
                f" 'domain')) s JOIN {self._tables['domain']} k ON k.key = s.parent"
            )
        if "ip" not in present:
            plens4: list[int] = []
            plens6: list[int] = []
        else:
            plens4, plens6 = self._plens4, self._plens6
        if plens4:
            lens = ", ".join(str(p) for p in plens4)
            # Each address masked to each prefix length first, then one equi-join: with
            # the mask in the join condition DuckDB would take the cross product.
            parts.append(
                "SELECT 'ip', c.key, t.ind FROM (SELECT v.key, l.plen, (v.num >> CAST(32 -"
                " l.plen AS UBIGINT)) << CAST(32 - l.plen AS UBIGINT) AS net FROM (SELECT key,"
                f" {_V4_NUMBER} AS num FROM (SELECT DISTINCT key FROM n WHERE nkind = 'ip' AND"
                f" NOT contains(key, ':'))) v, (SELECT unnest([{lens}]) AS plen) l) c"
                " JOIN net4 t ON t.plen = c.plen AND t.net = c.net"
            )
        if plens6:
            v6 = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT key FROM n WHERE nkind = 'ip' AND contains(key, ':')"
                ).fetchall()
            ]
            if v6:
                hi, lo = _halves([int(ipaddress.ip_address(k)) for k in v6])
                db.register("v6", pa.table({"key": pa.array(v6, pa.string()), "hi": hi, "lo": lo}))
                lens = ", ".join(str(p) for p in plens6)
                parts.append(
                    "SELECT 'ip', c.key, t.ind FROM (SELECT v.key, l.plen, CASE WHEN l.plen = 0"
                    " THEN 0::UHUGEINT ELSE (v.num >> CAST(128 - l.plen AS UHUGEINT))"
                    " << CAST(128 - l.plen AS UHUGEINT) END AS net FROM (SELECT key,"
                    f" {_V6_NUMBER} AS num FROM v6) v, (SELECT unnest([{lens}]) AS plen) l) c"
                    " JOIN net6 t ON t.plen = c.plen AND t.net = c.net"
                )
        if not parts:
            db.execute(
                "CREATE OR REPLACE TABLE m (kind VARCHAR, raw VARCHAR, nkind VARCHAR,"
                " key VARCHAR, ids VARCHAR[])"
            )
            return
        db.execute(
            f"""CREATE OR REPLACE TABLE m AS
            SELECT n.kind, n.raw, n.nkind, n.key, list_sort(list(DISTINCT i.id)) AS ids
            FROM n JOIN ({" UNION ALL ".join(parts)}) h (nkind, key, ind)
              ON h.nkind = n.nkind AND h.key = n.key
            JOIN ind i ON i.ind = h.ind
            GROUP BY n.kind, n.raw, n.nkind, n.key"""
        )
        if self._plens6:
            with contextlib.suppress(duckdb.Error):
                db.unregister("v6")

    # -- micro-batches of records ------------------------------------------------------------

    def match(self, records: Sequence[Record]) -> list[Hit]:
        """The hits in a batch of records, sorted (the reference's result, exactly)."""
        rows: list[int] = []
        kinds: list[str] = []
        raws: list[str] = []
        for row, record in enumerate(records):
            for kind, raw in record.values:
                rows.append(row)
                kinds.append(kind)
                raws.append(raw)
        obs = pa.table(
            {
                "row": pa.array(rows, pa.int64()),
                "kind": pa.array(kinds, pa.string()),
                "raw": pa.array(raws, pa.string()),
            }
        )
        db = self.db
        db.register("obs", obs)
        try:
            self._match_distinct("SELECT DISTINCT kind, raw FROM obs")
            found = db.execute(
                """SELECT row, nkind, key, any_value(ids) FROM obs JOIN m USING (kind, raw)
                GROUP BY row, nkind, key ORDER BY row, nkind, key"""
            ).fetchall()
        finally:
            db.unregister("obs")
        return [Hit(row, nkind, key, tuple(ids)) for row, nkind, key, ids in found]

    # -- distinct values, for whole files -------------------------------------------------

    def value_kinds(self) -> frozenset[str]:
        """The record value kinds that could hit an active key (``host`` may be a name or
        an address, ``hash`` any digest...)."""
        return self._value_kinds

    def match_values(
        self, values: pa.Table, *, remember: bool = False
    ) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
        """The ``(kind, raw)`` pairs of a table that hit, as ``(kind, raw, key kind, key,
        indicator ids)``. With ``remember``, pairs matched before (since
        :meth:`forget_values`) are left out: a caller scanning a file keeps the hits itself,
        and most values of a log come again and again."""
        db = self.db
        db.register("vals", values)
        source = "SELECT DISTINCT kind, raw FROM vals"
        try:
            if remember:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (kind VARCHAR, raw VARCHAR)")
                db.execute(
                    f"CREATE OR REPLACE TEMP TABLE fresh AS SELECT * FROM ({source}) v"
                    " ANTI JOIN seen s ON s.kind = v.kind AND s.raw = v.raw"
                )
                db.execute("INSERT INTO seen SELECT * FROM fresh")
                source = "SELECT kind, raw FROM fresh"
            self._match_distinct(source)
        finally:
            db.unregister("vals")
        return [
            (kind, raw, nkind, key, tuple(ids))
            for kind, raw, nkind, key, ids in db.execute("SELECT * FROM m").fetchall()
        ]

    def forget_values(self) -> None:
        """Forget which values :meth:`match_values` has seen."""
        self.db.execute("DROP TABLE IF EXISTS seen")

    def scan_zeek(self, path: str | Path, size: int = 10_000) -> ZeekScan:
        """The records of a Zeek TSV file that hit, in lists of at most ``size`` (see
        :class:`~mburoja.detect.zeekscan.ZeekScan`; its ``stats`` count lines, records and
        bad lines as the reader would)."""
        return ZeekScan(self, path, size)


def _value_kinds(keys: set[str]) -> frozenset[str]:
    """The record value kinds that can meet keys of the kinds ``keys``."""
    out = keys & {"domain", "ip", "md5", "sha1", "sha256", "sha512", "email", "url", "endpoint"}
    if keys & {"domain", "ip"}:
        out.add("host")
    if keys & {"md5", "sha1", "sha256", "sha512"}:
        out.add("hash")
    if any(kind.startswith("x509-") for kind in keys):
        out.add("x509")
    return frozenset(out)


def _halves(numbers: list[int]) -> tuple[pa.Array, pa.Array]:
    mask = (1 << 64) - 1
    return (
        pa.array([n >> 64 for n in numbers], pa.uint64()),
        pa.array([n & mask for n in numbers], pa.uint64()),
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
