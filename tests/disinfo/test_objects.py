"""Articles and posts as STIX: deterministic ids, valid objects, and an exact way back."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mburoja.config import Settings
from mburoja.disinfo.fetch import install_definitions, raw_items
from mburoja.disinfo.model import ARTICLE, LANGUAGES, POST, Document
from mburoja.disinfo.objects import (
    ARTICLE_EXTENSION,
    ARTICLE_TYPE,
    MBUROJA_IDENTITY,
    POST_EXTENSION,
    POST_TYPE,
    article_id,
    article_objects,
    canonical_url,
    definition_objects,
    document_of,
    objects_of,
    post_id,
    post_objects,
    url_object,
)
from mburoja.errors import InputFormatError
from mburoja.ingest.pipeline import Ingestor
from mburoja.stix.identifiers import SCO_NAMESPACE, sco_id
from mburoja.stix.markings import TLP2
from mburoja.stix.validate import validate
from mburoja.store.sql import SqlStore

T0 = 1_733_306_400  # 2024-12-04T10:00:00Z
_SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=200)
_NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
_URLS = st.sampled_from(
    ["https://example.rs/a/1", "https://lajme.al/x?id=7", "http://novini.bg/", "https://t.me/c/5"]
)


def article(i: int, rng: random.Random) -> Document:
    url = f"https://outlet{i % 7}.example/news/{i}"
    return Document(
        id=article_id(url),
        kind=ARTICLE,
        source=f"outlet{i % 7}.example",
        source_name=f"Outlet {i % 7}",
        url=url,
        title=f"Headline number {i}",
        text=f"First paragraph of story {i}.\n\nSecond paragraph, {rng.random():.6f}.",
        published=(T0 * 10**6 + rng.randrange(10**12)) / 10**6,
        lang=rng.choice(LANGUAGES),
        author=rng.choice([None, "Ana Kola", "Марко Петровић"]),
        urls=tuple(f"https://ref{j}.example/p/{i}" for j in range(rng.randrange(3))),
        content_hash=f"{i:064x}",
    )


def post(i: int, rng: random.Random) -> Document:
    return Document(
        id=post_id("telegram", str(i)),
        kind=POST,
        source=f"acc{i % 11}",
        source_name=rng.choice([None, f"Account {i % 11}"]),
        url=f"https://t.me/acc{i % 11}/{i}",
        text=f"Look at this {i}",
        published=float(T0 + i * 60),
        lang=rng.choice([None, "sr", "sh"]),
        urls=(f"https://outlet{i % 7}.example/news/{i}",),
        reply_to=str(i - 1) if i % 5 == 1 and i > 1 else None,
        repost_of=str(i - 2) if i % 5 == 2 and i > 2 else None,
        content_hash=f"{i + 10**6:064x}",
    )


def test_an_article_is_named_by_its_canonical_url_so_a_refetch_gets_the_same_id() -> None:
    first = article_id("https://WWW.Example.rs:443/vesti/1?utm_source=fb&id=3#comments")
    again = article_id("https://www.example.rs/vesti/1?id=3&fbclid=abc")
    assert first == again
    assert first != article_id("https://www.example.rs/vesti/2?id=3")
    # the STIX 2.1 §2.9 rule: UUIDv5 in the SCO namespace over the ID-contributing property
    expected = uuid.uuid5(SCO_NAMESPACE, '{"url":"https://www.example.rs/vesti/1?id=3"}')
    assert first == f"{ARTICLE_TYPE}--{expected}"


def test_canonical_url_keeps_what_a_server_may_tell_apart() -> None:
    assert canonical_url("HTTP://Example.RS:8080/A/b/?x=1&utm_medium=s") == (
        "http://example.rs:8080/A/b/?x=1"
    )
    assert canonical_url("https://example.rs") == "https://example.rs/"


def test_a_post_is_named_by_platform_and_post_id() -> None:
    assert post_id("telegram", "42") == post_id("telegram", "42")
    assert post_id("telegram", "42") != post_id("x", "42")
    assert post_id("x", "42") == sco_id(POST_TYPE, {"platform": "x", "post_id": "42"})


def test_url_scos_have_the_spec_ids() -> None:
    sco = url_object("https://example.rs/a")
    assert sco["id"] == sco_id("url", {"value": "https://example.rs/a"})
    assert validate(sco) == []


def test_definitions_and_generated_objects_are_clean_stix() -> None:
    rng = random.Random(1)
    objects = definition_objects()
    for i in range(30):
        objects += article_objects(article(i, rng), markings=[TLP2["clear"]])
        objects += post_objects(post(i, rng), platform="telegram", platform_post_id=str(i))
    for obj in objects:
        assert validate(obj) == [], obj["id"]
    kinds = {o["type"] for o in objects}
    assert {ARTICLE_TYPE, POST_TYPE, "url", "extension-definition", "identity"} <= kinds
    by_type = {o["type"]: o for o in objects}
    assert by_type[ARTICLE_TYPE]["extensions"] == {ARTICLE_EXTENSION: {"extension_type": "new-sco"}}
    assert by_type[POST_TYPE]["extensions"] == {POST_EXTENSION: {"extension_type": "new-sco"}}
    definitions = {o["id"]: o for o in definition_objects()}
    assert definitions[ARTICLE_EXTENSION]["extension_types"] == ["new-sco"]
    assert orjson.loads(definitions[POST_EXTENSION]["schema"])["title"] == POST_TYPE


def test_an_article_references_url_scos_for_its_address_and_its_links() -> None:
    doc = article(3, random.Random(0))
    doc = Document(**{**_fields(doc), "urls": ("https://ref.example/1", "https://ref.example/2")})
    obj, *scos = article_objects(doc)
    values = {s["id"]: s["value"] for s in scos}
    assert values[obj["url_ref"]] == doc.url
    assert [values[r] for r in obj["link_refs"]] == list(doc.urls)
    assert obj["hashes"] == {"SHA-256": doc.content_hash}


def test_a_reply_references_the_post_it_answers_when_the_platform_is_known() -> None:
    doc = Document(
        id=post_id("x", "9"), kind=POST, source="acc", text="no", reply_to="8", repost_of="7"
    )
    obj = post_objects(doc, platform="x", platform_post_id="9")[0]
    assert obj["reply_to_ref"] == post_id("x", "8")
    assert obj["repost_of_ref"] == post_id("x", "7")
    assert obj["post_id"] == "9" and obj["account_id"] == "acc"


def _fields(doc: Document) -> dict[str, object]:
    return {f: getattr(doc, f) for f in doc.__struct_fields__}


@st.composite
def documents(draw: st.DrawFn) -> Document:
    kind = draw(st.sampled_from([ARTICLE, POST]))
    url = draw(st.one_of(st.none(), _URLS))
    ident = article_id(url or "https://x.example/") if kind == ARTICLE else post_id("x", "1")
    return Document(
        id=ident,
        kind=kind,
        source=draw(_NAMES),
        source_name=draw(st.one_of(st.none(), _NAMES)),
        url=url,
        title=draw(_SAFE_TEXT),
        text=draw(_SAFE_TEXT),
        published=draw(st.one_of(st.none(), st.floats(0, 4e9, allow_nan=False))),
        lang=draw(st.one_of(st.none(), st.sampled_from(LANGUAGES))),
        author=draw(st.one_of(st.none(), _NAMES)),
        urls=tuple(draw(st.lists(_URLS, max_size=4))),
        reply_to=draw(st.one_of(st.none(), _NAMES)) if kind == POST else None,
        repost_of=draw(st.one_of(st.none(), _NAMES)) if kind == POST else None,
        content_hash=draw(
            st.one_of(st.none(), st.text("0123456789abcdef", min_size=64, max_size=64))
        ),
    )


@given(documents())
def test_document_of_gives_back_the_document_exactly(doc: Document) -> None:
    objects = objects_of(doc)
    assert document_of(objects[0]) == doc
    assert all(not [i for i in validate(o) if i.level == "error"] for o in objects)


def test_document_of_refuses_what_is_not_an_article_or_a_post() -> None:
    with pytest.raises(InputFormatError, match="not an article or post"):
        document_of(url_object("https://example.rs/"))
    broken = article_objects(article(1, random.Random(0)))[0]
    del broken["outlet"]
    with pytest.raises(InputFormatError, match="outlet is required"):
        document_of(broken)


def test_articles_and_posts_go_through_the_ingestor_and_come_back_unchanged(
    store: SqlStore, settings: Settings
) -> None:
    rng = random.Random(7)
    docs = [article(i, rng) for i in range(40)] + [post(i, rng) for i in range(40)]
    objects = [
        o
        for d in docs
        for o in (
            article_objects(d, markings=[TLP2["clear"]])
            if d.kind == ARTICLE
            else post_objects(
                d, platform="telegram", platform_post_id=d.url.rsplit("/", 1)[1] if d.url else None
            )
        )
    ]
    install_definitions(store, settings, "disinfo")
    report = Ingestor(store, settings, workers=0).run(
        raw_items(objects, "test"), source="test", collection="disinfo"
    )
    assert report.adds_up and report.rejected == 0 and report.warnings == 0
    assert report.received == len(objects)
    stored = store.current_many([d.id for d in docs])
    assert [document_of(orjson.loads(stored[d.id].raw)) for d in docs] == docs
    assert stored[docs[0].id].tlp == "clear"
    # the definitions are there, so every extension key resolves
    assert set(store.current_many([ARTICLE_EXTENSION, POST_EXTENSION])) == {
        ARTICLE_EXTENSION,
        POST_EXTENSION,
    }
    # a URL search finds the url SCO an article and a post reference
    hit = store.search(docs[0].url or "")
    assert [h.type for h in hit.hits] == ["url"]

    # the same content again is unchanged; an edited article is a new version of the same id
    again = Ingestor(store, settings, workers=0).run(raw_items(objects, "test"), source="again")
    assert again.unchanged == len(objects) and again.new == again.new_versions == 0
    edited = Document(**{**_fields(docs[0]), "text": "Corrected text."})
    third = Ingestor(store, settings, workers=0).run(
        raw_items(article_objects(edited, markings=[TLP2["clear"]]), "test"), source="edit"
    )
    assert third.new_versions == 1 and third.unchanged == third.received - 1
    assert [v.is_current for v in store.versions(edited.id)] == [False, True]
    assert document_of(orjson.loads(store.current(edited.id).raw)) == edited  # type: ignore[union-attr]


def test_the_docs_name_the_fixed_definition_ids() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "disinfo" / "sources.md").read_text()
    for oid in (MBUROJA_IDENTITY, ARTICLE_EXTENSION, POST_EXTENSION):
        assert oid in page
