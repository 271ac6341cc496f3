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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa

from mburoja.detect.index import Delta
from mburoja.detect.model import LOGS, LogSpec, Record, record_id, values_of
from mburoja.detect.reference import Hit, normalise

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
            "CREATE TABLE keys (kind VARCHAR, key VARCHAR, ind INTEGER)",
            "CREATE TABLE net4 (plen INTEGER, net UBIGINT, ind INTEGER)",
            "CREATE TABLE net6 (plen INTEGER, net UHUGEINT, ind INTEGER)",
        ):
            self.db.execute(ddl)
        self._next = 0
        self._count = 0
        self._plens4: list[int] = []
        self._plens6: list[int] = []

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
            for table in ("keys", "net4", "net6"):
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
            self._insert(
                "keys",
                {
                    "kind": pa.array(exact[0]),
                    "key": pa.array(exact[1]),
                    "ind": pa.array(exact[2], pa.int32()),
                },
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
        parts = [
            # exact keys (domains included: a name is its own first parent, below)
            "SELECT u.nkind, u.key, k.ind FROM (SELECT DISTINCT nkind, key FROM n"
            " WHERE nkind <> 'domain') u JOIN keys k ON k.kind = u.nkind AND k.key = u.key",
            # a name and every parent of it
            "SELECT 'domain', s.key, k.ind FROM (SELECT key, unnest(list_transform("
            "range(0, len(p)), lambda i: array_to_string(p[i + 1:], '.'))) AS parent FROM"
            " (SELECT DISTINCT key, string_split(key, '.') AS p FROM n WHERE nkind = 'domain'))"
            " s JOIN keys k ON k.kind = 'domain' AND k.key = s.parent",
        ]
        if self._plens4:
            lens = ", ".join(str(p) for p in self._plens4)
            parts.append(
                f"SELECT 'ip', v.key, t.ind FROM (SELECT key, {_V4_NUMBER} AS num FROM"
                " (SELECT DISTINCT key FROM n WHERE nkind = 'ip' AND NOT contains(key, ':'))) v,"
                f" (SELECT unnest([{lens}]) AS plen) l, net4 t WHERE t.plen = l.plen"
                " AND t.net = (v.num >> CAST(32 - l.plen AS UBIGINT))"
                " << CAST(32 - l.plen AS UBIGINT)"
            )
        if self._plens6:
            v6 = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT key FROM n WHERE nkind = 'ip' AND contains(key, ':')"
                ).fetchall()
            ]
            if v6:
                hi, lo = _halves([int(ipaddress.ip_address(k)) for k in v6])
                db.register("v6", pa.table({"key": pa.array(v6, pa.string()), "hi": hi, "lo": lo}))
                lens = ", ".join(str(p) for p in self._plens6)
                parts.append(
                    f"SELECT 'ip', v.key, t.ind FROM (SELECT key, {_V6_NUMBER}"
                    f" AS num FROM v6) v, (SELECT unnest([{lens}]) AS plen) l, net6 t"
                    " WHERE t.plen = l.plen AND t.net = CASE WHEN l.plen = 0 THEN 0::UHUGEINT"
                    " ELSE (v.num >> CAST(128 - l.plen AS UHUGEINT))"
                    " << CAST(128 - l.plen AS UHUGEINT) END"
                )
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

    # -- whole Zeek TSV files ---------------------------------------------------------------

    def scan_zeek(self, path: str | Path, size: int = 10_000) -> Iterator[list[Record]]:
        """The records of a Zeek TSV file that hit something, as the reader would make them,
        in lists of at most ``size``. Afterwards ``rows`` is the number of data rows read and
        ``bad`` the rejected lines as ``(line number, reason)``.

        Two passes over the file in DuckDB: the distinct values of each field first (one
        scan, one hash aggregate per field), matched as a set; then only the rows holding a
        value that hit come out."""
        self.rows = 0
        self.bad: list[tuple[int, str]] = []
        header = zeek_header(Path(path))
        spec = LOGS.get(f"zeek.{header.path}")
        db = self.db
        if spec is None:
            self.rows = self._count_rows(path, header)
            return
        values = _value_list(spec, header)
        sets = _grouping_sets(spec, header)
        involved = sorted({c for group in sets for c in group})
        cols = ", ".join(_quote(c) for c in involved)
        groups = ", ".join("(" + ", ".join(_quote(c) for c in g) + ")" for g in sets)
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE g AS SELECT {cols}, GROUPING({cols}) AS gid,"
            f" count(*) AS c FROM {_read_csv(path, header.fields, rejects=True)}"
            f" GROUP BY GROUPING SETS ({groups}, ())"
        )
        everything = (1 << len(involved)) - 1
        found = db.execute(f"SELECT c FROM g WHERE gid = {everything}").fetchone()
        self.rows = int(found[0]) if found else 0
        self.bad = [
            (int(line), str(message))
            for line, message in db.execute(
                "SELECT line, min(error_message) FROM reject_errors GROUP BY line ORDER BY line"
            ).fetchall()
        ]
        self._match_distinct(
            f"SELECT DISTINCT s.kind, s.raw FROM (SELECT unnest({values}) AS s FROM g"
            f" WHERE gid <> {everything}) WHERE s.raw IS NOT NULL"
        )
        if not db.execute("SELECT count(*) FROM m").fetchone()[0]:  # type: ignore[index]
            return
        wanted = _wanted(spec, header)
        uid = next((u for u in spec.uid if u in header.fields), None)
        whole = (
            "concat_ws(chr(9), "
            + ", ".join(f"coalesce({_quote(f)}, '')" for f in header.fields)
            + ")"
        )
        line = f"CASE WHEN {_quote(uid)} IN ('-', '', '(empty)') THEN {whole} END" if uid else whole
        source = _read_csv(path, header.fields)
        # Its own cursor: matching a batch meanwhile must not cut this stream short.
        result = db.cursor().execute(
            f"""SELECT {", ".join(_quote(f) for f in wanted)}, line
            FROM (SELECT *, {line} AS line, unnest({values}) AS s FROM {source}) t
            SEMI JOIN (SELECT kind, raw FROM m) h ON h.kind = t.s.kind AND h.raw = t.s.raw"""
        )
        seen: set[str] = set()
        # An Arrow reader streams: a file where every row hits does not pile up in memory.
        for chunk in result.to_arrow_reader(size):
            batch = []
            for row in zip(*(column.to_pylist() for column in chunk.columns), strict=True):
                record = zeek_record(spec, header, str(path), 0, wanted, row)
                if record.rid not in seen:
                    seen.add(record.rid)
                    batch.append(record)
            if batch:
                yield batch

    def _count_rows(self, path: str | Path, header: ZeekHeader) -> int:
        found = self.db.execute(f"SELECT count(*) FROM {_read_csv(path, header.fields)}").fetchone()
        return int(found[0]) if found else 0


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


class ZeekHeader:
    """The header block of a Zeek TSV log."""

    def __init__(self, path: str, fields: list[str], set_separator: str, empty: str, unset: str):
        self.path = path
        self.fields = fields
        self.set_separator = set_separator
        self.empty = empty
        self.unset = unset


def zeek_header(path: Path) -> ZeekHeader:
    """Read the ``#`` lines at the top of a Zeek TSV log."""
    meta: dict[str, str] = {}
    fields: list[str] = []
    with path.open("rb") as f:
        for raw in f:
            if not raw.startswith(b"#"):
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("#separator"):
                continue
            name, _, rest = line[1:].partition("\t")
            if name == "fields":
                fields = rest.split("\t")
            else:
                meta[name] = rest
    return ZeekHeader(
        meta.get("path", path.name.split(".", 1)[0]),
        fields,
        meta.get("set_separator", ","),
        meta.get("empty_field", "(empty)"),
        meta.get("unset_field", "-"),
    )


def _read_csv(path: str | Path, fields: list[str], *, rejects: bool = False) -> str:
    columns = ", ".join(f"{_literal(f)}: 'VARCHAR'" for f in fields)
    keep = ", store_rejects=true" if rejects else ""
    return (
        f"read_csv({_literal(str(path))}, delim='\\t', quote='', escape='', comment='#',"
        f" header=false, auto_detect=false, null_padding=false, columns={{{columns}}},"
        f" ignore_errors=true{keep})"
    )


def _grouping_sets(spec: LogSpec, header: ZeekHeader) -> list[tuple[str, ...]]:
    """The column groups whose distinct values :func:`_value_list` needs."""
    present = set(header.fields)
    sets: list[tuple[str, ...]] = [(f.path,) for f in spec.fields if f.path in present]
    if spec.name == "zeek.http" and {"host", "uri"} <= present:
        sets.append(("host", "uri"))
    if spec.dst_ip and spec.dst_port and {spec.dst_ip, spec.dst_port} <= present:
        sets.append((spec.dst_ip, spec.dst_port))
    return list(dict.fromkeys(sets))


def _value_list(spec: LogSpec, header: ZeekHeader) -> str:
    """A SQL list of ``{kind, raw}`` structs for one row, as :func:`values_of` makes them."""
    present = set(header.fields)
    drop = {header.unset, header.empty, ""}
    bad = ", ".join(_literal(x) for x in sorted(drop))
    single: list[str] = []
    multi: list[str] = []
    for field in spec.fields:
        if field.path not in present:
            continue
        col = _quote(field.path)
        if field.multi:
            sep = _literal(header.set_separator)
            # coalesce: a NULL list would make the whole concatenation NULL
            multi.append(
                f"coalesce(list_transform(list_filter(string_split({col}, {sep}),"
                f" lambda x: x NOT IN ({bad})),"
                f" lambda x: {{'kind': {_literal(field.kind)}, 'raw': x}}), [])"
            )
        else:
            single.append(
                f"{{'kind': {_literal(field.kind)}, 'raw': CASE WHEN {col} IN ({bad}) THEN NULL"
                f" ELSE {col} END}}"
            )
    if spec.name == "zeek.http" and {"host", "uri"} <= present:
        single.append(
            "{'kind': 'url', 'raw': CASE WHEN host NOT IN (" + bad + ") AND starts_with(uri, '/')"
            " THEN 'http://' || host || uri END}"
        )
    if spec.dst_ip in present and spec.dst_port in present and spec.dst_ip and spec.dst_port:
        ip, port = _quote(spec.dst_ip), _quote(spec.dst_port)
        single.append(
            f"{{'kind': 'endpoint', 'raw': CASE WHEN {ip} NOT IN ({bad}) AND {port} NOT IN"
            f" ({bad}) THEN {ip} || '|' || {port} END}}"
        )
    parts = [f"[{', '.join(single)}]"] if single else []
    parts.extend(multi)
    return " || ".join(parts) if parts else "[]"


def _wanted(spec: LogSpec, header: ZeekHeader) -> list[str]:
    """The columns a record is made of: observables, ids, time and the connection."""
    names = {f.path for f in spec.fields} | set(spec.uid) | {spec.ts, "host", "uri"}
    names |= {n for n in (spec.src_ip, spec.dst_ip, spec.dst_port, spec.proto) if n}
    return [f for f in header.fields if f in names]


def zeek_record(
    spec: LogSpec, header: ZeekHeader, source: str, line: int, names: list[str], row: Any
) -> Record:
    """One TSV row (the ``names`` columns as strings, then the whole line when the record
    has no id) as the record a reader makes of it."""
    drop = (header.unset, header.empty, "")
    fields: dict[str, Any] = {}
    for name, value in zip(names, row, strict=False):
        if value is None or value in drop:
            continue
        fields[name] = value
    multi = {f.path for f in spec.fields if f.multi}
    for name in multi & fields.keys():
        fields[name] = [x for x in str(fields[name]).split(header.set_separator) if x not in drop]
    raw_line = row[len(names)] or ""
    uid = next((str(fields[u]) for u in spec.uid if u in fields), None)
    ts_text = fields.get(spec.ts)
    port = fields.get(spec.dst_port) if spec.dst_port else None
    return Record(
        source=source,
        line=line,
        log=spec.name,
        rid=record_id(spec.name, uid, ts_text, raw_line),
        ts=float(ts_text) if ts_text else None,
        values=values_of(spec, fields.get),
        src_ip=fields.get(spec.src_ip) if spec.src_ip else None,
        dst_ip=fields.get(spec.dst_ip) if spec.dst_ip else None,
        dst_port=int(port) if port and str(port).isdigit() else None,
        proto=fields.get(spec.proto) if spec.proto else None,
    )


def batches(records: Sequence[Record], size: int) -> Iterator[Sequence[Record]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]
