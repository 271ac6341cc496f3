"""Main-text extraction: the article stays, the page's furniture goes.

The five documents in ``../shared/data/context/`` are real scraped pages: navigation, a
box-drawn info box, contact blocks, "previous article" links and unrelated teasers sit around
each article. Each test names phrases of the article that must be there and phrases of the
furniture that must not.
"""

# The phrases are the documents' own: typographic quotes and dashes, Cyrillic letters.
# ruff: noqa: RUF001

from __future__ import annotations

import html

import pytest

from mburoja.disinfo.extract import extract_html, extract_pages, extract_text, normalise_lang
from tests.conftest import DATA

CONTEXT = DATA / "context"


def context(prefix: str) -> str:
    (path,) = CONTEXT.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


def test_the_five_context_documents_are_there() -> None:
    assert len(list(CONTEXT.glob("*.txt"))) == 5


def test_a_box_drawn_info_box_does_not_leak_into_the_text() -> None:
    found = extract_text(context("000"))
    text = found.text
    for present in (
        "Albanian Defense Minister Ermal Nufi traveled to NATO Headquarters in Brussels",
        "Tirana is actively driving its national defense budget well beyond the mandatory",
        "intercept and neutralize sophisticated state-sponsored malware and disinformation "
        "pipelines",
        "3. The Diplomatic Roadmap: Ankara 2026 to Tirana 2027",
        "Ankara Summit (July 7–8, 2026)",
    ):
        assert present in text
    for absent in (
        "ALBANIA'S STRATEGIC NATO ALIGNMENT",
        "Broadening defense spending beyond the baseline",
        "state-owned military manufacturing plants",
        "Cyber Shielding",
        "Direct technological integration with NATO centers",
    ):
        assert absent not in text
    assert not any("\u2500" <= ch <= "\u257f" for ch in text)
    assert paragraphs(text)[0].startswith("Following his high-profile tactical talks")
    assert text.endswith("rapidly shifting European security landscape.")


def test_the_site_name_above_an_article_is_not_text_nor_title() -> None:
    found = extract_text(context("001"))
    for present in (
        "Our country’s membership in NATO, 13 years ago, on April 1, 2009",
        "the spread of a false narrative actively sponsored through hybrid tactics",
        "participation since 2016 in the NATO operation in the Aegean Sea",
    ):
        assert present in found.text
    assert "Ministry for Europe and Foreign Affairs" not in found.text
    assert found.title != "Ministry for Europe and Foreign Affairs"
    assert len(paragraphs(found.text)) == 7


def test_contact_blocks_and_the_previous_article_link_are_dropped() -> None:
    found = extract_text(context("002"))
    text = found.text
    assert found.title == (
        "NATO Ministerial in Brussels, Minister Hasani Highlights Cohesion as Critical for "
        "Security in the Western Balkans"
    )
    assert paragraphs(text)[0].startswith(
        "Brussels, December 4, 2024 – Minister of European and Foreign Affairs Igli Hasani"
    )
    assert "Albania currently invests 2.03% of its GDP in defense" in text
    assert "Andriy Sybiha, in the NATO-Ukraine Council (NUC) format" in text
    assert text.endswith("including hybrid threats.")
    for absent in (
        "Bulevardi",
        "Dëshmoret e Kombit",
        "Pallati i Kongreseve",
        "Tiranë, Shqipëri",
        "about us",
        "Contact",
        "Previous Minister Hoxha",
        "Disinformation Should Be Defined in the Penal Code",
        "Western Balkans -",
    ):
        assert absent not in text


def test_unrelated_teasers_and_page_widgets_are_dropped() -> None:
    found = extract_text(context("003"))
    text = found.text
    assert found.title == (
        "Albanian Defense Minister pays official visit to Slovenia to strengthen cooperation"
    )
    for present in (
        "Albanian Defense Minister Niko Peleshi met his Slovenian counterpart, Marjan Šarec",
        "“Our priorities will be focused on addressing the common challenges of hybrid threats",
        "Triglav Star exercise, a vital component of the Defender 2023 exercise",
    ):
        assert present in text
    assert text.endswith("Albania planning to acquire Air Tractor fire-fighting aircraft.")
    for absent in (
        "Text size",
        "EU reacts to threats to prosecutors",
        "two female prosecutors have been threatened",
        "Vučić’s message to Serbs",
        "Aleksandar Vučić",
        "German Foreign Minister visits Balkans",
        "Annalena Baerbock",
        "...",
    ):
        assert absent not in text


def test_headings_lists_and_tables_inside_the_article_stay() -> None:
    found = extract_text(context("004"))
    text = found.text
    for present in (
        "Bulgaria and Albania are intensifying their collaboration within the framework of NATO",
        "Key Areas of Focus for Strengthening Military Capabilities in Southeast Europe",
        "- Intelligence Sharing: Establishing robust channels for real-time intelligence exchange.",
        "Defense Spending | Commitment to meet NATO’s guideline of 2% GDP on defense.",
        "In Retrospect",
    ):
        assert present in text
    assert "|---|" not in text and "---" not in text
    assert text.endswith("enhancing the security architecture of Europe.")


def test_navigation_contact_and_teasers_are_recognised_in_the_analysts_languages() -> None:
    scraped = "\n".join(
        [
            "Почетна",
            "Контакт",
            "О нама",
            "Влада Србије усвојила је нову стратегију сајбер безбедности за период до 2030. "
            "године, саопштило је министарство.",
            "Стратегија предвиђа оснивање националног центра за одговор на инциденте и "
            "сарадњу са партнерима у региону.",
            "Прочитајте још:",
            "Нови напад на портал",
            "Хакери су у петак напали више државних портала и...",
            "Тел: +381 11 123 4567",
            "Lexo më shumë",
            "Povezane vesti",
        ]
    )
    text = extract_text(scraped).text
    assert paragraphs(text) == [
        "Влада Србије усвојила је нову стратегију сајбер безбедности за период до 2030. "
        "године, саопштило је министарство.",
        "Стратегија предвиђа оснивање националног центра за одговор на инциденте и "
        "сарадњу са партнерима у региону.",
    ]


def test_text_with_no_prose_gives_no_article() -> None:
    assert extract_text("Home\nContact\nAbout us\n\n").text == ""


# --------------------------------------------------------------------------- HTML


def _article_lines() -> tuple[str, list[str]]:
    lines = [line for line in context("003").splitlines() if line.strip()]
    first = next(i for i, line in enumerate(lines) if line.startswith("In a bid to strengthen"))
    last = next(i for i, line in enumerate(lines) if line.startswith("Both countries are also"))
    return lines[0], lines[first : last + 1]


def news_page() -> tuple[str, list[str], str]:
    """A realistic news page around the article of context document 003: header, menu,
    share and text-size widgets, related news (the document's own teasers), a contact
    footer and a cookie notice."""
    title, body = _article_lines()
    e = html.escape
    paragraphs_html = "\n".join(f"<p>{e(line)}</p>" for line in body)
    teasers = [
        ("EU reacts to threats to prosecutors: Perpetrators should be held accountable",
         "The delegation of the European Union in Albania has reacted to the news that two "
         "female prosecutors have been threatened with their lives. As stated..."),
        ("Vučić’s message to Serbs: Keep your head up!",
         "The President of Serbia, Aleksandar Vučić, with a video message published on "
         "Instagram, appeals to Serbs to keep their heads up and protect their..."),
        ("German Foreign Minister visits Balkans amid Serbia-Kosovo tensions",
         "German Foreign Minister Annalena Baerbock will travel to the Balkans on October 5 "
         "amid rising tensions between Serbia and Kosovo. Baerbock will speak to leaders..."),
    ]  # fmt: skip
    related = "\n".join(
        f'<li class="teaser"><a href="/news/{i}"><h3>{e(h)}</h3></a><p>{e(s)}</p></li>'
        for i, (h, s) in enumerate(teasers)
    )
    page = f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>{e(title)} | Balkan Herald</title>
<meta name="author" content="Ana Kola">
<meta property="article:published_time" content="2023-09-28T14:30:00+02:00">
<link rel="canonical" href="https://balkanherald.example/politics/slovenia-visit">
</head>
<body>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies</div>
<header>
  <div class="logo"><a href="/">Balkan Herald</a></div>
  <nav class="menu"><ul>
    <li><a href="/">Home</a></li><li><a href="/politics">Politics</a></li>
    <li><a href="/economy">Economy</a></li><li><a href="/world">World</a></li>
    <li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li>
  </ul></nav>
</header>
<main>
<article>
  <h1>{e(title)}</h1>
  <div class="byline">By Ana Kola | 28 September 2023</div>
  <div class="tools">Text size <button>Aa</button> <button>Aa</button>
    <a href="https://facebook.com/share">Share on Facebook</a></div>
  {paragraphs_html}
  <p>Read the <a href="https://www.mod.gov.al/en/news/slovenia">ministry's statement</a> on
  the visit and the agreements the two delegations prepared.</p>
</article>
<aside class="related"><h2>Related news</h2><ul>{related}</ul></aside>
</main>
<footer>
  <div class="contact"><h4>Contact</h4>
    <p>Rruga e Kavajës 12,<br>1001 Tiranë, Shqipëri<br>Tel: +355 4 222 3333<br>
    E-mail: desk@balkanherald.example</p></div>
  <p class="prev"><a href="/news/old">Previous: Hoxha says disinformation belongs in the
  penal code</a></p>
  <p>© 2023 Balkan Herald. All rights reserved.</p>
</footer>
</body></html>"""
    return page, body, title


def test_trafilatura_extracts_the_article_of_a_news_page_without_its_furniture() -> None:
    page, body, title = news_page()
    found = extract_html(page.encode(), "https://balkanherald.example/politics/slovenia-visit")
    assert found.title == title
    assert found.author == "Ana Kola"
    assert found.published == 1695904200.0  # 2023-09-28T12:30:00Z
    assert found.lang == "en"
    assert paragraphs(found.text)[: len(body)] == body
    assert "the agreements the two delegations prepared." in found.text
    assert found.links == ("https://www.mod.gov.al/en/news/slovenia",)
    for absent in (
        "Balkan Herald",
        "cookies",
        "Politics",
        "About us",
        "Contact",
        "Text size",
        "Share on Facebook",
        "Related news",
        "EU reacts to threats to prosecutors",
        "Aleksandar Vučić",
        "Annalena Baerbock",
        "Rruga e Kavajës",
        "+355",
        "desk@balkanherald.example",
        "Previous",
        "All rights reserved",
    ):
        assert absent not in found.text, absent
    assert not found.text.startswith(title)


def test_a_page_without_an_article_gives_no_text_but_still_its_language() -> None:
    page = b'<html lang="sq"><body><nav><a href="/">Kryefaqja</a></nav></body></html>'
    found = extract_html(page, "https://lajme.example/")
    assert found.text == "" and found.lang == "sq"


def test_extract_pages_runs_the_stage_over_many_pages() -> None:
    page, body, _ = news_page()
    found = extract_pages([("https://a.example/1", page.encode())] * 3)
    assert [paragraphs(f.text)[0] for f in found] == [body[0]] * 3


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        ("en-US", "", "en"),
        ("sr-Latn", "", "sh"),
        ("hr", "", "sh"),
        ("bs-BA", "", "sh"),
        ("sr", "Vlada je usvojila strategiju.", "sh"),
        ("sr", "Влада је усвојила стратегију.", "sr"),
        ("mk_MK", "", "mk"),
        ("sq", "", "sq"),
        ("", "", None),
        ("12", "", None),
    ],
)
def test_language_hints_become_the_codes_the_detectors_use(
    tag: str, text: str, expected: str | None
) -> None:
    assert normalise_lang(tag, text) == expected


def test_a_serbian_cyrillic_page_keeps_sr_and_a_latin_one_becomes_sh() -> None:
    def page(text: str) -> bytes:
        return (
            f'<html lang="sr"><head><title>Vesti</title></head><body><article>'
            f"<p>{text}</p><p>{text}</p></article></body></html>"
        ).encode()

    cyrillic = "Влада Србије је у четвртак усвојила нову стратегију сајбер безбедности. " * 3
    latin = "Vlada Srbije je u četvrtak usvojila novu strategiju sajber bezbednosti. " * 3
    assert extract_html(page(cyrillic), "https://rts.example/a").lang == "sr"
    assert extract_html(page(latin), "https://n1.example/a").lang == "sh"
