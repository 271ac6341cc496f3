"""Language identification (``mburoja.disinfo.lang``) on sentences written for this test, one
set per language the analysts read, and on generated articles."""

# ruff: noqa: RUF001 (Cyrillic text is meant)
from __future__ import annotations

import random
import re
import time

import pytest

from mburoja.disinfo import generate, lang
from mburoja.disinfo.model import LANGUAGES

# Latin Serbian, Croatian (6-9) and Bosnian (10) are one group, ``sh``.
SENTENCES = {
    "sq": [
        "Qeveria shqiptare miratoi sot buxhetin për vitin e "
        "ardhshëm pas një debati të gjatë në parlament.",
        "Policia e Tiranës arrestoi dy persona të dyshuar për trafik droge në lagjen e Kombinatit.",
        "Kryeministri deklaroi se rritja e pagave do të fillojë nga muaji janar.",
        "Opozita kërkon zgjedhje të parakohshme dhe akuzon qeverinë për korrupsion.",
        "Moti me shi dhe erëra të forta pritet të vazhdojë deri në fund të javës.",
        "Studentët protestuan para ministrisë së arsimit për tarifat e larta të shkollimit.",
        "Eksportet e Kosovës drejt Bashkimit Europian u rritën me dhjetë për qind vitin e kaluar.",
        "Ministri i shëndetësisë paralajmëroi se spitalet kanë mungesë të madhe të mjekëve.",
    ],
    "sh": [
        "Vlada Srbije usvojila je danas predlog zakona o budžetu za narednu godinu.",
        "Predsednik je izjavio da će plate u javnom sektoru biti povećane od januara.",
        "Policija je uhapsila dvojicu osumnjičenih za pljačku banke u centru Novog Sada.",
        "Opozicija traži vanredne izbore i optužuje vlast za korupciju.",
        "Cene struje i gasa porašće od sledećeg meseca, saopštilo je ministarstvo energetike.",
        "Hrvatski sabor danas raspravlja o izmjenama zakona o porezu na dohodak.",
        "Premijer je najavio da će mirovine biti usklađene s rastom troškova života.",
        "Zagrebačka policija istražuje prometnu nesreću koja se dogodila sinoć na obilaznici.",
        "Tvrtka je prošle godine ostvarila rekordnu dobit unatoč krizi na tržištu.",
        "Vijeće ministara Bosne i Hercegovine danas je održalo sjednicu u Sarajevu.",
    ],
    "sr": [
        "Влада Србије усвојила је данас предлог закона о буџету за наредну годину.",
        "Председник је изјавио да ће плате у јавном сектору бити повећане од јануара.",
        "Полиција је ухапсила двојицу осумњичених за пљачку банке у центру Новог Сада.",
        "Опозиција тражи ванредне изборе и оптужује власт за корупцију.",
        "Цене струје и гаса порашће од следећег месеца, саопштило је министарство енергетике.",
        "Народна скупштина ће у четвртак расправљати о изменама закона о високом образовању.",
        "Градоначелник Београда отворио је нови мост преко Саве.",
        "Студенти су протестовали испред зграде Министарства просвете због високих школарина.",
    ],
    "mk": [
        "Владата на Северна Македонија денеска го усвои предлогот за буџетот за следната година.",
        "Премиерот изјави дека платите во јавниот сектор ќе бидат зголемени од јануари.",
        "Полицијата уапси двајца осомничени за грабеж на банка во центарот на Скопје.",
        "Опозицијата бара предвремени избори и ја обвинува власта за корупција.",
        "Цените на струјата и гасот ќе пораснат од следниот месец, соопшти министерството.",
        "Собранието во четвртокот ќе расправа за измените на законот за високо образование.",
        "Градоначалникот на Скопје го отвори новиот мост преку Вардар.",
        "Студентите протестираа пред зградата на "
        "Министерството за образование поради високите школарини.",
    ],
    "bg": [
        "Правителството на България одобри днес проектобюджета за следващата година.",
        "Премиерът заяви, че заплатите в обществения сектор ще бъдат увеличени от януари.",
        "Полицията задържа двама заподозрени за обир на банка в центъра на София.",
        "Опозицията настоява за предсрочни избори и обвинява властта в корупция.",
        "Цените на тока и газа ще се "
        "повишат от следващия месец, съобщи министерството на енергетиката.",
        "Народното събрание ще обсъди в четвъртък промените в закона за висшето образование.",
        "Кметът на Пловдив откри новия мост над река Марица.",
        "Студентите протестираха пред сградата на "
        "Министерството на образованието заради високите такси.",
    ],
    "ru": [
        "Правительство России сегодня одобрило проект бюджета на следующий год.",
        "Президент заявил, что зарплаты в государственном секторе будут повышены с января.",
        "Полиция задержала двух подозреваемых в ограблении банка в центре Москвы.",
        "Оппозиция требует досрочных выборов и обвиняет власти в коррупции.",
        "Цены на электроэнергию и газ вырастут "
        "со следующего месяца, сообщило министерство энергетики.",
        "Государственная дума в четверг обсудит поправки к закону о высшем образовании.",
        "Мэр Казани открыл новый мост через Волгу.",
        "Студенты протестовали у здания министерства образования из-за высокой платы за обучение.",
    ],
    "en": [
        "The government approved the draft budget for next year on Tuesday.",
        "The prime minister said public sector wages would rise from January.",
        "Police arrested two suspects over a bank robbery in the city centre.",
        "The opposition is calling for early elections and accuses the government of corruption.",
        "Electricity and gas prices will go up next month, the energy ministry announced.",
        "Parliament will debate changes to the higher education law on Thursday.",
        "The mayor opened a new bridge across the river after three years of construction.",
        "Students protested outside the education ministry over rising tuition fees.",
    ],
}


def test_the_test_set_covers_every_language() -> None:
    assert set(SENTENCES) == set(LANGUAGES)
    assert all(len(texts) >= 8 for texts in SENTENCES.values())


@pytest.mark.parametrize("code", LANGUAGES)
def test_accuracy_per_language(code: str) -> None:
    found = lang.identify_many(SENTENCES[code])
    accuracy = sum(x == code for x in found) / len(found)
    # measured: 1.0 for every language but Serbian Cyrillic, 7/8: the model reads one
    # sentence without a Serbian-only letter as Russian
    assert accuracy >= 0.85, (code, found)


def test_croatian_and_bosnian_are_the_latin_group() -> None:
    assert lang.identify_many(SENTENCES["sh"][5:]) == ["sh"] * 5


def test_cyrillic_text_is_one_of_four() -> None:
    ukrainian = "Уряд України схвалив проєкт бюджету на наступний рік після довгих дебатів."
    belarusian = "Урад Беларусі ўхваліў праект бюджэту на наступны год пасля доўгіх дэбатаў."
    kazakh = "Үкімет келесі жылға арналған бюджет жобасын ұзақ талқылаудан кейін мақұлдады."
    for text in (ukrainian, belarusian, kazakh, *SENTENCES["ru"]):
        assert lang.identify(text) in {*lang.CYRILLIC_LANGUAGES, None}


def test_letter_cues() -> None:
    assert lang._candidates("ђак ћирилица") == {"sr"}
    assert lang._candidates("ќе се ѕвезда") == {"mk"}
    assert lang._candidates("ја њива") == {"sr", "mk"}
    assert lang._candidates("съобщи щастие") == {"bg", "ru"}
    assert lang._candidates("мэр этот") == {"ru"}
    assert lang._candidates("ђак и щастие") is None  # contradictory: a quotation
    assert lang._candidates("мост над река") is None  # no cue


def _generated_sentences(count: int) -> list[tuple[str, str]]:
    rng = random.Random(4)
    out = []
    for _ in range(count):
        story = generate.story(rng)
        for code in lang.CYRILLIC_LANGUAGES:
            text = generate.render(story, code)[1]
            out += [(code, s) for s in re.split(r"(?<=[.!?])\s+", text)[:4]]
    return out


def test_letter_cues_measurably_help_on_cyrillic_sentences() -> None:
    items = _generated_sentences(300)  # 4,800 sentences
    texts = [text for _, text in items]
    right = {
        cues: sum(
            x == code
            for (code, _), x in zip(items, lang.identify_many(texts, cues=cues), strict=True)
        )
        for cues in (True, False)
    }
    # measured: 4,765 right with the cues, 4,761 without (of 4,800)
    assert right[True] > right[False]
    assert right[True] / len(items) >= 0.99


def test_too_short_or_unsure_is_none() -> None:
    assert lang.identify("") is None
    assert lang.identify("OK 2024") is None
    assert lang.identify("Да, да.") is None
    assert lang.identify("12345 67890 !!! ???") is None
    assert lang.identify("xkcd qwrt zxvb pfft hmmm grr", floor=0.99) is None


def test_batch_equals_one_by_one() -> None:
    texts = [s for code in LANGUAGES for s in SENTENCES[code][:3]] + ["", "ok"]
    assert lang.identify_many(texts) == [lang.identify(t) for t in texts]


def test_the_model_is_loaded_once() -> None:
    assert lang._loaded() is lang._loaded()
    assert lang.model_path().name == "lid.176.ftz"


def test_generated_articles_are_identified() -> None:
    docs = generate.articles(350, seed=2)
    found = lang.identify_many([d.text for d in docs])
    assert found == [d.lang for d in docs]


def test_scripts() -> None:
    assert lang.transliterate("Београд, Ђорђе и Љубица џем") == "beograd, đorđe i ljubica džem"
    assert {lang.fold(x) for x in ("Вучић", "Vučić", "Vuçiç", "Вучич")} == {"vucic"}


def test_sentences_per_second() -> None:
    texts = [s for code in LANGUAGES for s in SENTENCES[code]] * 60  # 3,240 sentences
    lang.identify(texts[0])
    started = time.perf_counter()
    lang.identify_many(texts)
    rate = len(texts) / (time.perf_counter() - started)
    print(f"language identification: {rate:,.0f} sentences/s")
    # measured about 30,000/s on one core of the development machine
    assert rate >= 5000
