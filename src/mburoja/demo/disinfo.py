"""The demo's counter-disinformation material: synthetic articles with copy-paste families
(some translated into Albanian and Serbian), a timeline of social posts with planted
coordinated accounts, an article carrying a known narrative, and that narrative in the
library. Generated with a seed by ``mburoja.disinfo.generate`` and ``posts``: no real
outlet, account or text. Stored in the disinfo collection as ``mburoja disinfo fetch``
stores what it reads, so the web application's disinformation view has something to show.
"""

from __future__ import annotations

import uuid

import msgspec

from mburoja.config import Settings
from mburoja.disinfo import generate, posts
from mburoja.disinfo.fetch import install_definitions, raw_items
from mburoja.disinfo.narratives import NARRATIVE_TYPE, Example, NarrativeDraft, add_narrative
from mburoja.disinfo.objects import objects_of
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.store.sql import SqlStore

#: the demo's narrative, in two languages (invented for the demo)
NARRATIVE = (
    "a foreign power is secretly buying the national power grid and the ministry hides the "
    "contract from parliament"
)
NARRATIVE_SQ = "një fuqi e huaj po blen fshehurazi rrjetin kombëtar të energjisë"


def load_demo_disinfo(
    store: SqlStore, settings: Settings, seed: int, *, articles: int = 240, timeline: int = 2000
) -> IngestReport:
    """Store the demo's articles and posts and add its narrative (once: a second run finds
    the same objects unchanged and the narrative already in the library)."""
    corpus = generate.corpus(articles, seed=seed, languages=("en", "sq", "sr"))
    stream = posts.generate_posts(posts.spec_for(timeline, seed=seed))
    first = corpus.documents[0]
    carrier = msgspec.structs.replace(
        first,
        id=f"mburoja-article--{_uuid(seed, 'carrier')}",
        url="https://grid-truth.example/secret-sale",
        source="grid-truth.example",
        title="Ministry hides the secret sale of the power grid",
        text=f"Insiders say that {NARRATIVE}. Nobody in government will answer questions.",
        lang="en",
    )
    collection = settings.disinfo.collection
    install_definitions(store, settings, collection)
    objects = [o for d in (*corpus.documents, *stream.posts, carrier) for o in objects_of(d)]
    report = Ingestor(store, settings).run(
        raw_items(objects, f"demo-disinfo(seed={seed})"),
        source="demo-disinfo",
        actor="demo",
        collection=collection,
    )
    narrative_id = f"{NARRATIVE_TYPE}--{_uuid(seed, 'narrative')}"
    if store.current(narrative_id) is None:
        add_narrative(
            store,
            settings,
            NarrativeDraft(
                id=narrative_id,
                title="Secret sale of the power grid",
                summary="A fabricated claim that the grid is being sold to a foreign power.",
                examples=(Example("en", NARRATIVE), Example("sq", NARRATIVE_SQ)),
                techniques=("T0022",),
            ),
        )
    return report


def _uuid(seed: int, what: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mburoja-demo-{what}-{seed}"))
