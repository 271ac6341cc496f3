"""Copy-paste networks (``mburoja.disinfo.copies``) on generated corpora whose ground truth is
known: edited copies with known edit rates, translations, look-alike reports of the same
event, and unrelated articles (``mburoja.disinfo.generate``). No network: every test runs
with outbound connections refused."""

from __future__ import annotations

import itertools
import random
import socket
import statistics
import time
from collections.abc import Iterator

import msgspec
import numpy as np
import pytest
from datasketch import MinHash

from mburoja.disinfo import copies, generate
from mburoja.disinfo.copies import CopyReport, CopySettings
from mburoja.disinfo.model import Document

SETTINGS = CopySettings()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("the copy-paste tests must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


@pytest.fixture(scope="module")
def corpus() -> generate.Corpus:
    return generate.corpus(6000, seed=11, k=SETTINGS.k)


@pytest.fixture(scope="module")
def report(corpus: generate.Corpus) -> CopyReport:
    return copies.analyse(corpus.documents, SETTINGS)


def _families(corpus: generate.Corpus) -> dict[str, tuple[str, str | None]]:
    """Each document's copy family: its origin and language (two translations of one story
    into one language are the same text, so copies of each other; a look-alike is its own)."""
    lang = {d.id: d.lang for d in corpus.documents}
    family = {d.id: (d.id, d.lang) for d in corpus.documents}
    for truth in corpus.copies:
        if truth.kind in ("edit", "translation"):
            family[truth.id] = (truth.origin, lang[truth.id])
    return family


# --------------------------------------------------------------------------- the generator


def test_generator_is_deterministic() -> None:
    assert generate.articles(30, seed=5) == generate.articles(30, seed=5)
    assert generate.articles(30, seed=5) != generate.articles(30, seed=6)
    assert generate.corpus(300, seed=2) == generate.corpus(300, seed=2)


def test_generated_articles_look_like_news() -> None:
    docs = generate.articles(70, seed=1)
    assert {d.lang for d in docs} == {"sq", "sh", "sr", "mk", "bg", "ru", "en"}
    assert len({d.id for d in docs}) == 70
    for doc in docs:
        assert doc.source.endswith(".example") and doc.url and doc.source in doc.url
        assert 150 <= len(doc.text.split()) <= 700 and doc.title
        assert generate.EPOCH <= (doc.published or 0) <= generate.EPOCH + 30 * 86400


def test_edit_rate_controls_the_jaccard() -> None:
    originals = generate.articles(60, seed=3)
    rng = random.Random(3)
    means = []
    for rate in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4):
        values = [
            generate.jaccard(o.text, generate.edited_copy(o, rate, rng, boilerplate=False).text)
            for o in originals
        ]
        means.append(statistics.mean(values))
    assert means[0] == 1.0
    assert all(a > b for a, b in itertools.pairwise(means)), means
    assert means[-1] < 0.5 < means[2]


def test_exact_jaccard_agrees_with_the_generators_own() -> None:
    rng = random.Random(9)
    for original in generate.articles(40, seed=9):
        copy = generate.edited_copy(original, rng.uniform(0, 0.4), rng)
        ours = copies.jaccard(original.text, copy.text, SETTINGS)
        assert ours == pytest.approx(generate.jaccard(original.text, copy.text, SETTINGS.k))


def test_translated_copy_keeps_names_figures_and_links() -> None:
    rng = random.Random(4)
    story = generate.story(rng)
    english = generate.translated_copy(story, "en", rng, published=generate.EPOCH)
    russian = generate.translated_copy(story, "ru", rng, published=generate.EPOCH)
    numbers = {a for a in copies.anchors(english) if a.startswith("n:")}
    assert numbers and numbers <= copies.anchors(russian)
    assert generate.jaccard(english.text, russian.text) == 0.0


# --------------------------------------------------------------------------- MinHash and LSH


def test_signatures_are_datasketch_minhashes() -> None:
    text = generate.articles(1, seed=7)[0].text
    shingles = copies.Shingles([text], SETTINGS).set(0)
    reference = MinHash(num_perm=SETTINGS.num_perm, seed=SETTINGS.seed, hashfunc=int)
    reference.update_batch([int(h) & 0xFFFFFFFF for h in shingles])
    ours = copies.minhash(text, SETTINGS)
    assert np.array_equal(ours.hashvalues, reference.hashvalues)
    assert ours.jaccard(reference) == 1.0


def test_candidates_are_what_datasketch_lsh_returns() -> None:
    docs = generate.corpus(1200, seed=4).documents
    settings = CopySettings(max_bucket=10_000)
    lsh = copies.index(docs, settings)
    theirs = set()
    for doc in docs:
        for other in lsh.query(copies.minhash(doc.text, settings)):
            if other != doc.id:
                theirs.add(tuple(sorted((doc.id, other))))
    shingles = copies.Shingles([d.text for d in docs], settings)
    rows, sig = copies.signatures(shingles, settings)
    ours = {
        tuple(sorted((docs[rows[i]].id, docs[rows[j]].id)))
        for i, j in copies.candidates(sig, settings).tolist()
    }
    assert len(ours) > 300
    assert ours == theirs


def test_large_buckets_stay_connected() -> None:
    original = generate.articles(1, seed=2)[0]
    same = [
        Document(
            id=f"copy-{i}",
            kind="article",
            source=f"o{i}.example",
            text=original.text,
            published=generate.EPOCH + i,
        )
        for i in range(120)
    ]
    found = copies.clusters(same, CopySettings(max_bucket=8))
    assert len(found) == 1 and len(found[0].members) == 120
    assert found[0].patient_zero == "copy-0" and found[0].level == copies.NEAR_VERBATIM


# --------------------------------------------------------------------------- clusters


def test_precision_and_recall_on_the_generated_corpus(
    corpus: generate.Corpus, report: CopyReport
) -> None:
    family = _families(corpus)
    # precision: pairs put in one cluster that belong to one copy family
    predicted = [
        (a.id, b.id) for c in report.clusters for a, b in itertools.combinations(c.members, 2)
    ]
    right = sum(family[a] == family[b] for a, b in predicted)
    precision = right / len(predicted)
    # recall: (original, copy) pairs whose true Jaccard is at least 0.5, in one cluster
    cluster_of = {m.id: n for n, c in enumerate(report.clusters) for m in c.members}
    positives = [t for t in corpus.copies if t.kind == "edit" and (t.jaccard or 0) >= 0.5]
    found = sum(
        t.origin in cluster_of and cluster_of[t.origin] == cluster_of.get(t.id) for t in positives
    )
    recall = found / len(positives)
    print(
        f"copies: precision {precision:.4f} on {len(predicted)} pairs, "
        f"recall {recall:.4f} on {len(positives)} pairs"
    )
    # the corpus is hard enough to mean something: pairs near the threshold, and look-alike
    # reports of the same event (same people, places and vocabulary) as negatives
    assert len(positives) >= 300
    assert sum(t.jaccard is not None and 0.5 <= t.jaccard < 0.6 for t in positives) >= 30
    assert sum(t.kind == "lookalike" for t in corpus.copies) >= 50
    assert precision >= 0.98
    assert recall >= 0.9


def test_look_alikes_and_weak_copies_stay_apart(
    corpus: generate.Corpus, report: CopyReport
) -> None:
    cluster_of = {m.id: n for n, c in enumerate(report.clusters) for m in c.members}
    for truth in corpus.copies:
        if truth.kind == "lookalike":
            assert not (
                truth.id in cluster_of and cluster_of[truth.id] == cluster_of.get(truth.origin)
            )
    for cluster in report.clusters:
        for link in cluster.links:
            assert link.jaccard >= SETTINGS.rewrite


def test_patient_zero_timeline_and_outlets(corpus: generate.Corpus, report: CopyReport) -> None:
    family = _families(corpus)
    docs = {d.id: d for d in corpus.documents}
    checked = 0
    for cluster in report.clusters:
        ids = [m.id for m in cluster.members]
        origin = family[ids[0]][0]
        if origin in ids:
            assert cluster.patient_zero == origin
            checked += 1
        times = [m.published or 0.0 for m in cluster.members]
        assert times == sorted(times) and cluster.members[0].id == cluster.patient_zero
        assert cluster.first_source == docs[cluster.patient_zero].source
        assert cluster.timeline[0].id == cluster.patient_zero
        assert [s.source for s in cluster.timeline] == list(
            dict.fromkeys(docs[i].source for i in ids)
        )
        assert set(cluster.outlets) == {docs[i].source for i in ids}
        assert cluster.members[0].jaccard == 1.0
    assert checked >= 200


def test_two_levels() -> None:
    rng = random.Random(1)
    original = generate.articles(1, seed=12)[0]
    verbatim = generate.edited_copy(original, 0.01, rng, outlet="copier.example")
    rewrite = generate.edited_copy(original, 0.12, rng, outlet="rewriter.example")
    unrelated = generate.articles(5, seed=13)
    found = copies.clusters([original, verbatim, rewrite, *unrelated])
    assert len(found) == 1
    cluster = found[0]
    assert cluster.level == copies.REWRITE
    assert cluster.groups == ((original.id, verbatim.id),)
    assert cluster.patient_zero == original.id
    levels = {m.id: m.jaccard for m in cluster.members}
    assert levels[verbatim.id] >= SETTINGS.verbatim > levels[rewrite.id] >= SETTINGS.rewrite
    only_verbatim = copies.clusters([original, verbatim, *unrelated])
    assert [c.level for c in only_verbatim] == [copies.NEAR_VERBATIM]


def test_short_texts_are_not_compared() -> None:
    short = [
        Document(id=f"p{i}", kind="post", source=f"a{i}", text="Breaking: the bridge is closed")
        for i in range(5)
    ]
    assert copies.clusters(short) == []


def test_ties_are_broken_by_id() -> None:
    text = generate.articles(1, seed=8)[0].text
    docs = [
        Document(id=name, kind="article", source=f"{name}.example", text=text, published=when)
        for name, when in (("b", 10.0), ("a", 10.0), ("c", None))
    ]
    (cluster,) = copies.clusters(docs)
    assert [m.id for m in cluster.members] == ["a", "b", "c"]


# --------------------------------------------------------------------------- across languages


def test_cross_language_copies_are_flagged(corpus: generate.Corpus, report: CopyReport) -> None:
    family = _families(corpus)
    head = {m.id: c.patient_zero for c in report.clusters for m in c.members}
    flagged = {frozenset((x.source, x.copy)) for x in report.cross_language}
    translations = [t for t in corpus.copies if t.kind == "translation"]
    found = sum(
        frozenset((head.get(t.origin, t.origin), head.get(t.id, t.id))) in flagged
        for t in translations
    )
    right = sum(family[x.source][0] == family[x.copy][0] for x in report.cross_language)
    recall, precision = found / len(translations), right / len(report.cross_language)
    print(
        f"cross-language: recall {recall:.3f} of {len(translations)} translations, "
        f"precision {precision:.3f} of {len(report.cross_language)} links"
    )
    assert len(translations) >= 300
    assert recall >= 0.8  # measured 0.88: the misses share fewer than three rare figures
    assert precision >= 0.98
    for link in report.cross_language:
        assert link.source_lang != link.copy_lang
        assert 0 <= link.lag_s <= SETTINGS.window_s
        assert link.method != copies.ANCHORS or len(link.shared) >= SETTINGS.min_anchors


def test_serbian_in_both_scripts() -> None:
    latin = next(d for d in generate.articles(7, seed=21) if d.lang == "sh")
    cyrillic = Document(
        id="cyrillic",
        kind="article",
        source="cyr.rs.example",
        lang="sr",
        text=generate.to_cyrillic(latin.text, "sr"),
        published=(latin.published or 0) + 600,
    )
    others = generate.articles(30, seed=22)
    report = copies.analyse([latin, cyrillic, *others])
    assert report.clusters == ()  # within a language only
    (link,) = report.cross_language
    assert (link.source, link.copy, link.method) == (latin.id, "cyrillic", copies.TRANSLITERATION)
    assert (link.source_lang, link.copy_lang) == ("sh", "sr") and link.score >= 0.95
    # the same text a month later is outside the window
    late = msgspec.structs.replace(cyrillic, published=(latin.published or 0) + 30 * 86400)
    assert copies.analyse([latin, late, *others]).cross_language == ()


def test_unknown_languages_are_identified() -> None:
    story = generate.story(random.Random(5))
    rng = random.Random(5)
    a = generate.translated_copy(story, "en", rng, published=generate.EPOCH)
    b = generate.translated_copy(story, "bg", rng, published=generate.EPOCH + 3600)
    blind = [msgspec.structs.replace(d, lang=None) for d in (a, b)]
    (link,) = copies.analyse(blind).cross_language
    assert (link.source_lang, link.copy_lang, link.method) == ("en", "bg", copies.ANCHORS)


def test_anchors() -> None:
    doc = Document(
        id="x",
        kind="article",
        source="s",
        urls=("https://t.me/Leaks77",),
        text="Marko Petrović je rekao, prema izvoru, da je 3.400 ljudi dobilo 1 250 000 evra "
        "i 12,5 odsto više; Вучић. Vidi https://example.org/a/b.",
    )
    assert copies.anchors(doc) == {
        "u:t.me/leaks77",
        "u:example.org/a/b",
        "n:3400",
        "n:1250000",
        "e:petro",
        "e:vucic",
    }


# --------------------------------------------------------------------------- speed


def test_near_duplicate_clustering_speed() -> None:
    docs = generate.corpus(8000, seed=3).documents
    copies.clusters(docs[:200])
    started = time.process_time()
    copies.clusters(docs)
    rate = len(docs) / (time.process_time() - started)
    print(f"near-duplicate clustering: {rate:,.0f} articles/s (one core)")
    # the target is 2,000/s on two cores; measured about 8,000/s on one
    assert rate >= 2000
