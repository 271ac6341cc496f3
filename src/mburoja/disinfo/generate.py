"""Deterministic synthetic news for the disinformation tests and benchmarks.

Nothing here is downloaded: the text is built from small per-language vocabularies written
for this module, so it is *realistic-ish* (real words of each language, news-like sentence
shapes, names, places, figures, links) but not grammatical. Everything is driven by a seeded
:class:`random.Random`, so the same arguments give the same corpus on every machine.

* :func:`articles` -- independent articles (the unrelated background of a corpus).
* :func:`edited_copy` -- a copy of any :class:`Document` with a known *edit rate*: each word
  is substituted, deleted or followed by an inserted word with that probability; sentences
  are reordered and outlet boilerplate added. :func:`jaccard` measures what the edits did
  (Jaccard of word shingles), independently of :mod:`mburoja.disinfo.copies`.
* :func:`translated_copy` -- the same story in another language. **A synthetic stand-in**:
  the vocabularies are parallel (one concept per row, one word per language), so a
  "translation" swaps each word for its row-mate and keeps names (transliterated into the
  target script), figures and links, as a real translation does. Word order and grammar are
  not translated; a real translation differs far more.
* :func:`corpus` -- originals, edited copies, translations and look-alike independent
  reports of the same event, with the ground truth (:class:`CopyTruth`).
"""

# ruff: noqa: RUF001, RUF003 (Cyrillic letters are data here)
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Final

import msgspec

from mburoja.disinfo.model import ARTICLE, LANGUAGES, Document
from mburoja.disinfo.objects import article_id

#: the column order of the vocabulary rows below; ``sr`` is ``sh`` transliterated
_COLUMNS: Final = ("en", "sq", "sh", "mk", "bg", "ru")
_CYRILLIC_LANGS: Final = frozenset({"sr", "mk", "bg", "ru"})
#: 2024-03-01T00:00:00Z
EPOCH: Final = 1709251200.0

_SUBJECTS = """\
the government|qeveria|vlada|владата|правителството|правительство
the minister|ministri|ministar|министерот|министърът|министр
the president|presidenti|predsednik|претседателот|президентът|президент
parliament|parlamenti|skupština|собранието|парламентът|парламент
the police|policia|policija|полицијата|полицията|полиция
the army|ushtria|vojska|армијата|армията|армия
citizens|qytetarët|građani|граѓаните|гражданите|граждане
experts|ekspertët|stručnjaci|експертите|експертите|эксперты
the opposition|opozita|opozicija|опозицијата|опозицията|оппозиция
the company|kompania|kompanija|компанијата|компанията|компания
the bank|banka|banka|банката|банката|банк
doctors|mjekët|lekari|лекарите|лекарите|врачи
farmers|fermerët|poljoprivrednici|земјоделците|фермерите|фермеры
workers|punëtorët|radnici|работниците|работниците|рабочие
students|studentët|studenti|студентите|студентите|студенты
the embassy|ambasada|ambasada|амбасадата|посолството|посольство
the court|gjykata|sud|судот|съдът|суд
journalists|gazetarët|novinari|новинарите|журналистите|журналисты
residents|banorët|stanovnici|жителите|жителите|жители
the mayor|kryetari|gradonačelnik|градоначалникот|кметът|мэр
the agency|agjencia|agencija|агенцијата|агенцията|агентство
the union|sindikata|sindikat|синдикатот|синдикатът|профсоюз
officials|zyrtarët|zvaničnici|функционерите|служителите|чиновники
the ministry|ministria|ministarstvo|министерството|министерството|министерство
the party|partia|stranka|партијата|партията|партия"""

_VERBS = """\
said|tha|rekao je|изјави|заяви|заявил
announced|njoftoi|najavio je|најави|обяви|объявил
warned|paralajmëroi|upozorio je|предупреди|предупреди|предупредил
denied|mohoi|negirao je|негираше|отрече|опроверг
confirmed|konfirmoi|potvrdio je|потврди|потвърди|подтвердил
revealed|zbuloi|otkrio je|откри|разкри|раскрыл
claimed|pretendoi|tvrdio je|тврдеше|твърди|утверждал
reported|raportoi|izvestio je|извести|съобщи|сообщил
demanded|kërkoi|zatražio je|побара|поиска|потребовал
rejected|refuzoi|odbio je|одби|отхвърли|отклонил
signed|nënshkroi|potpisao je|потпиша|подписа|подписал
approved|miratoi|odobrio je|одобри|одобри|одобрил
blocked|bllokoi|blokirao je|блокираше|блокира|заблокировал
accused|akuzoi|optužio je|обвини|обвини|обвинил
promised|premtoi|obećao je|вети|обеща|пообещал
criticised|kritikoi|kritikovao je|критикуваше|разкритикува|раскритиковал
prepared|përgatiti|pripremio je|подготви|подготви|подготовил
stopped|ndaloi|zaustavio je|запре|спря|остановил
increased|rriti|povećao je|зголеми|увеличи|увеличил
hid|fshehu|sakrio je|скри|скри|скрыл"""

_OBJECTS = """\
the agreement|marrëveshjen|sporazum|договорот|споразумението|соглашение
the law|ligjin|zakon|законот|закона|закон
prices|çmimet|cene|цените|цените|цены
taxes|taksat|poreze|даноците|данъците|налоги
the elections|zgjedhjet|izbore|изборите|изборите|выборы
the vaccine|vaksinën|vakcinu|вакцината|ваксината|вакцину
the border|kufirin|granicu|границата|границата|границу
the bridge|urën|most|мостот|моста|мост
the pipeline|gazsjellësin|gasovod|гасоводот|газопровода|газопровод
gas|gazin|gas|гасот|газа|газ
electricity|energjinë|struju|струјата|тока|электроэнергию
weapons|armët|oružje|оружјето|оръжията|оружие
the funds|fondet|sredstva|средствата|средствата|средства
documents|dokumentet|dokumente|документите|документите|документы
the protest|protestën|protest|протестот|протеста|протест
the report|raportin|izveštaj|извештајот|доклада|доклад
the investigation|hetimin|istragu|истрагата|разследването|расследование
the project|projektin|projekat|проектот|проекта|проект
the budget|buxhetin|budžet|буџетот|бюджета|бюджет
salaries|pagat|plate|платите|заплатите|зарплаты
pensions|pensionet|penzije|пензиите|пенсиите|пенсии
sanctions|sanksionet|sankcije|санкциите|санкциите|санкции
the attack|sulmin|napad|нападот|нападението|нападение
migrants|emigrantët|migrante|мигрантите|мигрантите|мигрантов
the highway|autostradën|autoput|автопатот|магистралата|автомагистраль
the hospital|spitalin|bolnicu|болницата|болницата|больницу
the school|shkollën|školu|училиштето|училището|школу
the factory|fabrikën|fabriku|фабриката|фабриката|завод
loans|kreditë|kredite|кредитите|кредитите|кредиты
water|ujin|vodu|водата|водата|воду"""

_ADJECTIVES = """\
new|i ri|novi|нов|нов|новый
secret|sekret|tajni|таен|таен|секретный
foreign|i huaj|strani|странски|чуждестранен|иностранный
local|lokal|lokalni|локален|местен|местный
dangerous|i rrezikshëm|opasan|опасен|опасен|опасный
illegal|i paligjshëm|nezakonit|незаконски|незаконен|незаконный
huge|i madh|ogroman|огромен|огромен|огромный
national|kombëtar|nacionalni|национален|национален|национальный
western|perëndimor|zapadni|западен|западен|западный
European|evropian|evropski|европски|европейски|европейский
controversial|i diskutueshëm|sporni|контроверзен|спорен|спорный
urgent|urgjent|hitan|итен|спешен|срочный
official|zyrtar|zvanični|официјален|официален|официальный
public|publik|javni|јавен|обществен|общественный
military|ushtarak|vojni|воен|военен|военный
economic|ekonomik|ekonomski|економски|икономически|экономический
regional|rajonal|regionalni|регионален|регионален|региональный
false|i rremë|lažni|лажен|фалшив|ложный
strategic|strategjik|strateški|стратешки|стратегически|стратегический"""

_TIMES = """\
today|sot|danas|денеска|днес|сегодня
yesterday|dje|juče|вчера|вчера|вчера
last week|javën e kaluar|prošle nedelje|минатата недела|миналата седмица|на прошлой неделе
this morning|këtë mëngjes|jutros|утрово|тази сутрин|сегодня утром
on Monday|të hënën|u ponedeljak|во понеделникот|в понеделник|в понедельник
on Friday|të premten|u petak|во петокот|в петък|в пятницу
late at night|vonë natën|kasno noću|доцна навечер|късно през нощта|поздно ночью"""

_UNITS = """\
percent|përqind|odsto|отсто|процента|процентов
euros|euro|evra|евра|евро|евро
people|njerëz|ljudi|луѓе|души|человек
tonnes|ton|tona|тони|тона|тонн"""

#: function words, by name, in the column order
_WORDS = """\
that|se|da|дека|че|что
and|dhe|i|и|и|и
but|por|ali|но|но|но
because|sepse|jer|бидејќи|защото|потому что
according to|sipas|prema|според|според|по данным
in|në|u|во|в|в
is|është|je|е|е|является
not|nuk|ne|не|не|не
also|gjithashtu|takođe|исто така|също|также
while|ndërsa|dok|додека|докато|тогда как
however|megjithatë|međutim|сепак|въпреки това|однако
more than|më shumë se|više od|повеќе од|повече от|более
about|rreth|oko|околу|около|около
source|burimi|izvor|извор|източник|источник"""

#: places: their name in each language (``sr`` from ``sh``)
_PLACES = """\
Belgrade|Beogradi|Beograd|Белград|Белград|Белград
Skopje|Shkupi|Skoplje|Скопје|Скопие|Скопье
Tirana|Tirana|Tirana|Тирана|Тирана|Тирана
Sofia|Sofja|Sofija|Софија|София|София
Moscow|Moska|Moskva|Москва|Москва|Москва
Zagreb|Zagrebi|Zagreb|Загреб|Загреб|Загреб
Sarajevo|Sarajeva|Sarajevo|Сараево|Сараево|Сараево
Podgorica|Podgorica|Podgorica|Подгорица|Подгорица|Подгорица
Pristina|Prishtina|Priština|Приштина|Прищина|Приштина
Novi Sad|Novi Sadi|Novi Sad|Нови Сад|Нови Сад|Нови-Сад
Ohrid|Ohri|Ohrid|Охрид|Охрид|Охрид
Plovdiv|Plovdivi|Plovdiv|Пловдив|Пловдив|Пловдив
Brussels|Brukseli|Brisel|Брисел|Брюксел|Брюссель
Durres|Durrësi|Drač|Драч|Драч|Дуррес
Varna|Varna|Varna|Варна|Варна|Варна"""

#: fictional people (Latin spelling; Cyrillic languages transliterate)
_PEOPLE: Final = """\
Marko Petrović|Jelena Kovačević|Dragan Nikolić|Ana Marković|Milan Savić|Ivana Jurić
Arben Krasniqi|Drita Berisha|Ilir Gashi|Besnik Hoxha|Mimoza Leka|Agron Shala
Goran Stojanovski|Biljana Trajkovska|Zoran Angelov|Vesna Ristovska|Igor Petkovski
Stojan Kolev|Mariya Todorova|Dimitar Penev|Boryana Hristova|Kiril Zhelev
Ivan Sokolov|Olga Belova|Pavel Kuznetsov|Nikita Orlov|Tatyana Volkova
John Miller|Sarah Collins|David Turner|Emma Fraser|Mark Dalton""".replace("\n", "|").split("|")

#: outlet boilerplate: a language and a line (``sr``: ``sh`` transliterated)
_BOILERPLATE_LINES = """\
en|Follow us on social media.
en|Read more news on our portal.
en|All rights reserved.
sq|Na ndiqni në rrjetet sociale.
sq|Lexoni më shumë lajme në portalin tonë.
sq|Të gjitha të drejtat e rezervuara.
sh|Pratite nas na društvenim mrežama.
sh|Više vesti pročitajte na našem portalu.
sh|Sva prava zadržana.
mk|Следете нè на социјалните мрежи.
mk|Повеќе вести прочитајте на нашиот портал.
mk|Сите права се задржани.
bg|Последвайте ни в социалните мрежи.
bg|Прочетете още новини на нашия портал.
bg|Всички права запазени.
ru|Подписывайтесь на нас в социальных сетях.
ru|Читайте больше новостей на нашем портале.
ru|Все права защищены."""
_OUTLET_STEMS: Final = {
    "en": ("daily-wire", "news-today", "the-herald", "world-report", "truth-post"),
    "sq": ("lajme-sot", "gazeta-ime", "zeri-popullit", "portali-info", "bota-lajm"),
    "sh": ("vesti-dana", "novi-glas", "dnevni-portal", "istina-info", "brze-vesti"),
    "sr": ("vesti-ekspres", "srpski-glas", "dnevnik-info", "pogled-portal", "narodne-novine"),
    "mk": ("vesti-mk", "denes-info", "glas-portal", "makedonija-denes", "brzi-vesti"),
    "bg": ("novini-bg", "dnes-info", "balkan-glas", "pravda-portal", "bg-vesti"),
    "ru": ("pravda-info", "novosti-24", "vzglyad-portal", "rus-vestnik", "mir-novosti"),
}
_TLD: Final = {"en": "com", "sq": "al", "sh": "ba", "sr": "rs", "mk": "mk", "bg": "bg", "ru": "ru"}


def _pairs(text: str) -> dict[str, str]:
    return dict(pair.split(":") for pair in text.split())


_LAT_TO_SR: Final = _pairs(
    "lj:љ nj:њ dž:џ a:а b:б c:ц č:ч ć:ћ d:д đ:ђ e:е f:ф g:г h:х i:и j:ј k:к l:л m:м n:н o:о p:п "
    "r:р s:с š:ш t:т u:у v:в z:з ž:ж q:ч x:кс y:и w:в ë:е ç:ч"
)
#: names in Russian and Bulgarian spelling (no ј, ђ, ћ, љ, њ, џ)
_LAT_TO_RU: Final = _LAT_TO_SR | _pairs(
    "lj:ль nj:нь dž:дж ć:ч đ:дж j:й zh:ж ya:я yu:ю sh:ш kh:х ts:ц ch:ч"
)
_LAT_TO_MK: Final = _LAT_TO_SR | _pairs("ć:ќ đ:ѓ zh:ж sh:ш ch:ч")


def _table(rows: str) -> list[dict[str, str]]:
    out = []
    for line in rows.splitlines():
        words = dict(zip(_COLUMNS, line.split("|"), strict=True))
        words["sr"] = to_cyrillic(words["sh"], "sr")
        out.append(words)
    return out


def to_cyrillic(text: str, lang: str) -> str:
    """Latin to Cyrillic, letter by letter (digraphs first), in the spelling of ``lang``."""
    table = {"sr": _LAT_TO_SR, "mk": _LAT_TO_MK}.get(lang, _LAT_TO_RU)
    out: list[str] = []
    i = 0
    while i < len(text):
        for width in (2, 1):
            piece = text[i : i + width]
            low = piece.lower()
            if len(piece) == width and low in table:
                cyr = table[low]
                out.append(cyr[0].upper() + cyr[1:] if piece[0].isupper() else cyr)
                i += width
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


SUBJECTS: Final = _table(_SUBJECTS)
VERBS: Final = _table(_VERBS)
OBJECTS: Final = _table(_OBJECTS)
ADJECTIVES: Final = _table(_ADJECTIVES)
TIMES: Final = _table(_TIMES)
UNITS: Final = _table(_UNITS)
PLACES: Final = _table(_PLACES)
WORDS: Final = {row["en"]: row for row in _table(_WORDS)}
_ROWS: Final = {"S": SUBJECTS, "V": VERBS, "O": OBJECTS, "A": ADJECTIVES, "T": TIMES}
_ROWS.update(U=UNITS, L=PLACES)

# A sentence shape: slots filled per story. S subject, V verb, O object, A adjective,
# T time, P person, L place, N number with unit; anything else is a function word.
_SHAPES: Final = (
    "T , S V A O in L .",
    "according_to S , S V O and O .",
    "P V that S V more_than N .",
    "S V A O , but S V A O .",
    "in L , S V about N because O is A .",
    "however , P also V that A O is not A .",
    "S not V O , while S V O T .",
    "P , S V that A O is A .",
    "S V that N V in L T .",
    "T S also V O and A O .",
)
_TOKEN: Final = re.compile(r"\w+")
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+")


class Slot(msgspec.Struct, frozen=True, array_like=True):
    """One filled slot: its kind (a shape letter, ``w`` a function word, ``.`` punctuation)
    and what fills it (a row index, a function word, a number)."""

    kind: str
    value: str | int


class Story(msgspec.Struct, frozen=True, kw_only=True):
    """A language-independent article: rendered into any language by :func:`render`."""

    title: tuple[Slot, ...]
    paragraphs: tuple[tuple[tuple[Slot, ...], ...], ...]
    url: str | None = None


class CopyTruth(msgspec.Struct, frozen=True, kw_only=True):
    """Ground truth for one generated copy."""

    id: str
    #: the document it was made from (an original, or for a chain, an earlier copy)
    parent: str
    #: the first original of its family
    origin: str
    #: ``edit``, ``translation`` or ``lookalike`` (an independent report of the same event)
    kind: str
    #: the edit rate (0 for translations and look-alikes)
    rate: float = 0.0
    #: :func:`jaccard` of its text to the origin's (same language only)
    jaccard: float | None = None


class Corpus(msgspec.Struct, kw_only=True):
    documents: list[Document]
    #: ids of the originals (families' first publications), in generation order
    originals: list[str]
    copies: list[CopyTruth]


def _number(rng: random.Random) -> Slot:
    return Slot("N", rng.choice((rng.randrange(100, 1000), rng.randrange(1000, 300000))))


def _fill(shape: str, cast: dict[str, list[int]], rng: random.Random) -> tuple[Slot, ...]:
    slots: list[Slot] = []
    for piece in shape.split():
        if piece in cast:
            slots.append(Slot(piece, rng.choice(cast[piece])))
        elif piece == "N":
            slots += [_number(rng), Slot("U", rng.randrange(len(UNITS)))]
        elif piece in {".", ","}:
            slots.append(Slot(".", piece))
        else:
            slots.append(Slot("w", piece.replace("_", " ")))
    return tuple(slots)


def story(rng: random.Random, *, sentences: tuple[int, int] = (22, 38)) -> Story:
    """A new story: a cast (people, places, a share of the vocabulary) and sentences."""
    cast = {
        "S": rng.sample(range(len(SUBJECTS)), 8),
        "V": rng.sample(range(len(VERBS)), 10),
        "O": rng.sample(range(len(OBJECTS)), 10),
        "A": rng.sample(range(len(ADJECTIVES)), 8),
        "T": rng.sample(range(len(TIMES)), 3),
        "P": rng.sample(range(len(_PEOPLE)), 3),
        "L": rng.sample(range(len(PLACES)), 2),
    }
    return _story_of_cast(cast, rng, sentences)


def _story_of_cast(
    cast: dict[str, list[int]], rng: random.Random, sentences: tuple[int, int]
) -> Story:
    count = rng.randint(*sentences)
    flat = [_fill(rng.choice(_SHAPES), cast, rng) for _ in range(count)]
    paragraphs: list[tuple[tuple[Slot, ...], ...]] = []
    while flat:
        size = min(len(flat), rng.randint(2, 5))
        paragraphs.append(tuple(flat[:size]))
        flat = flat[size:]
    url = None
    if rng.random() < 0.3:
        url = f"https://t.me/{rng.choice(('info', 'news', 'leaks', 'front'))}{rng.randrange(10**4)}"
    title = _fill(rng.choice(_SHAPES[:4]), cast, rng)[:-1]
    return Story(title=title, paragraphs=tuple(paragraphs), url=url)


def _format_number(value: int, lang: str) -> str:
    text = f"{value:,}"
    return text.replace(",", {"en": ",", "ru": " "}.get(lang, "."))


def _word(slot: Slot, lang: str) -> str:
    kind, value = slot.kind, slot.value
    if kind == "w":
        return WORDS[str(value)][lang]
    if kind == ".":
        return str(value)
    if kind == "N":
        return _format_number(int(value), lang)
    if kind == "P":
        name = _PEOPLE[int(value)]
        return to_cyrillic(name, lang) if lang in _CYRILLIC_LANGS else name
    return _ROWS[kind][int(value)][lang]


def _sentence(slots: Sequence[Slot], lang: str) -> str:
    words: list[str] = []
    for i, slot in enumerate(slots):
        if lang == "sq" and slot.kind == "A" and i + 1 < len(slots) and slots[i + 1].kind == "O":
            continue  # Albanian puts the adjective after the noun
        word = _word(slot, lang)
        if slot.kind == "." and words:
            words[-1] += word
        else:
            words.append(word)
        if lang == "sq" and slot.kind == "O" and i > 0 and slots[i - 1].kind == "A":
            words.append(_word(slots[i - 1], lang))
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def render(item: Story, lang: str) -> tuple[str, str]:
    """``(title, text)`` of a story in ``lang``; paragraphs are separated by a blank line."""
    paragraphs = [" ".join(_sentence(s, lang) for s in p) for p in item.paragraphs]
    if item.url:
        paragraphs.append(f"{_sentence((Slot('w', 'source'),), lang)}: {item.url}")
    return _sentence(item.title, lang), "\n\n".join(paragraphs)


def outlets(lang: str, count: int = 5) -> list[str]:
    """Host names of synthetic outlets writing in ``lang`` (under the reserved ``.example``)."""
    stems = _OUTLET_STEMS[lang]
    return [
        f"{stems[i % len(stems)]}{i // len(stems) or ''}.{_TLD[lang]}.example" for i in range(count)
    ]


def _document(
    rng: random.Random,
    lang: str,
    outlet: str,
    title: str,
    text: str,
    published: float,
    urls: tuple[str, ...] = (),
) -> Document:
    url = f"https://{outlet}/vesti/{rng.getrandbits(48):012x}"
    return Document(
        id=article_id(url),
        kind=ARTICLE,
        source=outlet,
        url=url,
        title=title,
        text=text,
        published=published,
        lang=lang,
        urls=urls,
    )


def _boilerplate(lang: str) -> list[str]:
    want = "sh" if lang == "sr" else lang if lang in _COLUMNS else "en"
    rows = (line.split("|") for line in _BOILERPLATE_LINES.splitlines())
    return [text for code, text in rows if code == want]


def _localise(text: str, lang: str) -> str:
    return to_cyrillic(text, "sr") if lang == "sr" else text


def articles(
    n: int,
    seed: int = 0,
    languages: Sequence[str] = LANGUAGES,
    *,
    days: float = 30.0,
    outlets_per_language: int = 8,
) -> list[Document]:
    """``n`` independent articles, languages in turn, published over ``days`` from
    :data:`EPOCH` by ``outlets_per_language`` outlets per language."""
    return [
        doc for doc, _ in _articles(n, random.Random(seed), languages, days, outlets_per_language)
    ]


def _articles(
    n: int, rng: random.Random, languages: Sequence[str], days: float, per_language: int
) -> list[tuple[Document, Story]]:
    out = []
    for i in range(n):
        lang = languages[i % len(languages)]
        item = story(rng)
        title, text = render(item, lang)
        outlet = rng.choice(outlets(lang, per_language))
        published = EPOCH + rng.random() * days * 86400
        urls = (item.url,) if item.url else ()
        out.append((_document(rng, lang, outlet, title, text, published, urls), item))
    return out


def edited_copy(
    original: Document,
    rate: float,
    rng: random.Random,
    *,
    outlet: str | None = None,
    lag_s: float | None = None,
    boilerplate: bool = True,
) -> Document:
    """A copy of ``original`` with edit rate ``rate``: each word is, with probability
    ``rate``, substituted (half of the time), deleted or followed by an inserted word (a
    quarter each); about ``rate`` of the sentences swap places with a neighbour; a line of
    the outlet's boilerplate is added when ``boilerplate``. The title is kept."""
    lang = original.lang or "en"
    vocabulary = _vocabulary(lang)
    paragraphs = []
    for paragraph in original.text.split("\n\n"):
        sentences = _SENTENCE_END.split(paragraph)
        for i in range(len(sentences) - 1):
            if rng.random() < rate:
                sentences[i], sentences[i + 1] = sentences[i + 1], sentences[i]
        edited = []
        for sentence in sentences:
            words: list[str] = []
            for word in sentence.split(" "):
                roll = rng.random()
                if roll >= rate:
                    words.append(word)
                elif roll < rate / 2:
                    words.append(rng.choice(vocabulary) + _trailing_punctuation(word))
                elif roll < rate * 3 / 4:
                    continue
                else:
                    words += [word, rng.choice(vocabulary)]
            edited.append(" ".join(words))
        paragraphs.append(" ".join(edited))
    if boilerplate:
        paragraphs.append(_localise(rng.choice(_boilerplate(lang)), lang))
    outlet = outlet or rng.choice(outlets(lang))
    lag = lag_s if lag_s is not None else rng.expovariate(1 / 7200)
    published = (original.published or EPOCH) + lag
    text = "\n\n".join(paragraphs)
    return _document(rng, lang, outlet, original.title, text, published, original.urls)


def _trailing_punctuation(word: str) -> str:
    return word[len(word.rstrip(".,:;!?")) :]


_VOCABULARY_CACHE: dict[str, list[str]] = {}


def _vocabulary(lang: str) -> list[str]:
    """Every single word of ``lang``'s vocabularies, for substitutions and insertions."""
    if lang not in _VOCABULARY_CACHE:
        rows = [*SUBJECTS, *VERBS, *OBJECTS, *ADJECTIVES, *TIMES, *UNITS, *WORDS.values()]
        column = lang if lang in rows[0] else "en"
        _VOCABULARY_CACHE[lang] = sorted({w for row in rows for w in row[column].split()})
    return _VOCABULARY_CACHE[lang]


def translated_copy(
    item: Story, lang: str, rng: random.Random, *, published: float, outlet: str | None = None
) -> Document:
    """The story ``item`` rendered in ``lang``, by an outlet of that language (the synthetic
    stand-in for a translation: see the module docstring)."""
    title, text = render(item, lang)
    text += "\n\n" + _localise(rng.choice(_boilerplate(lang)), lang)
    outlet = outlet or rng.choice(outlets(lang))
    urls = (item.url,) if item.url else ()
    return _document(rng, lang, outlet, title, text, published, urls)


def lookalike(item: Story, rng: random.Random) -> Story:
    """An independent report of the same event: the same people, places and vocabulary,
    different sentences and figures (a hard negative for copy detection)."""
    cast: dict[str, list[int]] = {}
    for sentence in (s for p in item.paragraphs for s in p):
        for slot in sentence:
            if slot.kind in "SVOATPL" and isinstance(slot.value, int):
                cast.setdefault(slot.kind, []).append(slot.value)
    return _story_of_cast({k: sorted(set(v)) for k, v in cast.items()}, rng, (22, 38))


def shingles(text: str, k: int) -> set[tuple[str, ...]]:
    """Word ``k``-shingles of ``text``: lower-cased ``\\w+`` tokens (a text shorter than
    ``k`` words is one shingle)."""
    words = _TOKEN.findall(text.lower())
    if len(words) < k:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: str, b: str, k: int = 3) -> float:
    """Jaccard similarity of the word ``k``-shingles of two texts."""
    sa, sb = shingles(a, k), shingles(b, k)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


class _Shape(msgspec.Struct, frozen=True):
    languages: Sequence[str]
    rates: tuple[float, float]
    translation_share: float
    lookalike_share: float
    chain_share: float
    k: int


def corpus(
    n: int,
    seed: int = 0,
    languages: Sequence[str] = LANGUAGES,
    *,
    copy_share: float = 0.4,
    rates: tuple[float, float] = (0.0, 0.45),
    translation_share: float = 0.15,
    lookalike_share: float = 0.05,
    chain_share: float = 0.2,
    k: int = 3,
    days: float = 30.0,
) -> Corpus:
    """About ``n`` documents: originals, then, for a share of them, families of copies until
    copies are ``copy_share`` of the corpus. A family member is a translation into another
    language published within a day (``translation_share``), a look-alike report of the same
    event in any language (``lookalike_share``), or an edited copy (the rest) with a rate
    uniform in ``rates``, made from the original or, for ``chain_share`` of them, from an
    earlier copy. The truth records each copy's Jaccard (``k``-shingles) to its original."""
    rng = random.Random(seed)
    shape = _Shape(languages, rates, translation_share, lookalike_share, chain_share, k)
    n_copies = int(n * copy_share)
    base = _articles(max(1, n - n_copies), rng, languages, days, 8)
    documents = [doc for doc, _ in base]
    originals = [doc.id for doc in documents]
    truths: list[CopyTruth] = []
    families = [pair for pair in base if rng.random() < min(1.0, 2 * copy_share + 0.05)]
    while len(truths) < n_copies and families:
        for original, item in families:
            if len(truths) >= n_copies:
                break
            size = min(n_copies - len(truths), rng.randint(1, 9))
            for doc, truth in _family(original, item, rng, shape, size):
                documents.append(doc)
                truths.append(truth)
    return Corpus(documents=documents, originals=originals, copies=truths)


def _family(
    original: Document, item: Story, rng: random.Random, shape: _Shape, size: int
) -> list[tuple[Document, CopyTruth]]:
    made: list[tuple[Document, CopyTruth]] = []
    lang, published = original.lang or "en", original.published or EPOCH

    def add(doc: Document, kind: str, parent: Document = original, rate: float = 0.0) -> None:
        similar = jaccard(original.text, doc.text, shape.k) if doc.lang == lang else None
        truth = CopyTruth(
            id=doc.id, parent=parent.id, origin=original.id, kind=kind, rate=rate, jaccard=similar
        )
        made.append((doc, truth))

    for _ in range(size):
        roll = rng.random()
        if roll < shape.translation_share and len(shape.languages) > 1:
            target = rng.choice([x for x in shape.languages if x != lang])
            when = published + rng.uniform(600, 86400)
            add(translated_copy(item, target, rng, published=when), "translation")
        elif roll < shape.translation_share + shape.lookalike_share:
            other = rng.choice(shape.languages)
            title, text = render(lookalike(item, rng), other)
            when = published + rng.uniform(-3600, 86400)
            add(_document(rng, other, rng.choice(outlets(other)), title, text, when), "lookalike")
        else:
            edits = [d for d, t in made if t.kind == "edit"]
            parent = rng.choice(edits) if edits and rng.random() < shape.chain_share else original
            rate = rng.uniform(*shape.rates)
            add(edited_copy(parent, rate, rng), "edit", parent, rate)
    return made
