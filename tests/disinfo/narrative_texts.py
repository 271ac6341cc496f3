"""Ten false narratives of the kind that circulate in the Western Balkans, written for the
narrative tests (not collected anywhere), and texts to match against them.

Each narrative has example texts in five of the seven languages (sq, sh: Latin Serbian, sr:
Cyrillic Serbian, mk, bg, ru, en). Its other texts are kept in separate splits that never
share a sentence with the examples or with each other:

- ``calibration``: paraphrases in example languages, for choosing thresholds;
- ``calibration_cross``: one rewording in a language the examples lack, also for calibration;
- ``test``: other paraphrases in example languages (the within-language test);
- ``cross``: texts in the two languages the examples lack (the cross-language test).

``CALIBRATION_UNRELATED`` and ``TEST_UNRELATED`` carry no narrative; some are on the same
topics (NATO, elections, heating, vaccination) and tell true, ordinary news.
"""

# ruff: noqa: RUF001 (Cyrillic text is meant)

from __future__ import annotations

from dataclasses import dataclass

from mburoja.disinfo.model import Document
from mburoja.disinfo.narratives import Example, NarrativeDraft


@dataclass(frozen=True)
class Planted:
    key: str
    title: str
    summary: str
    techniques: tuple[str, ...]
    examples: dict[str, str]
    calibration: dict[str, str]
    calibration_cross: dict[str, str]
    test: dict[str, str]
    cross: dict[str, str]
    tlp: str = "green"

    def draft(self) -> NarrativeDraft:
        return NarrativeDraft(
            title=self.title,
            summary=self.summary,
            examples=tuple(Example(lang, text) for lang, text in self.examples.items()),
            techniques=self.techniques,
            tlp=self.tlp,
        )


NARRATIVES: tuple[Planted, ...] = (
    Planted(
        key="nato-nukes",
        title="NATO moves nuclear weapons to the Kuçova air base",
        summary="Claims that NATO secretly stations nuclear weapons in Albania, aimed at Serbia.",
        techniques=("T0003", "T0022", "T0023"),
        examples={
            "sq": "NATO po sjell fshehurazi armë bërthamore në bazën ajrore të Kuçovës. Burime "
            "ushtarake pohojnë se raketat do të drejtohen kundër Serbisë dhe Rusisë.",
            "sh": "NATO tajno doprema nuklearno oružje u vazduhoplovnu bazu Kučova u Albaniji. "
            "Vojni izvori tvrde da će rakete biti usmerene na Srbiju i Rusiju.",
            "sr": "НАТО у тајности пребацује нуклеарно оружје у ваздушну базу Кучова у "
            "Албанији, а ракете ће бити уперене ка Београду.",
            "en": "NATO is secretly shipping nuclear warheads to Albania's Kuçova air base, "
            "turning the country into a launch pad aimed at Serbia and Russia.",
            "ru": "НАТО тайно завозит ядерное оружие на авиабазу Кучова в Албании, чтобы "
            "нацелить ракеты на Сербию и Россию.",
        },
        calibration={
            "sq": "Armë bërthamore të NATO-s po vendosen në heshtje në aeroportin ushtarak "
            "të Kuçovës, thonë burimet.",
            "en": "Nuclear bombs are quietly being moved by NATO to the Kucova airbase in "
            "Albania, sources claim.",
        },
        calibration_cross={
            "mk": "Според воени извори, атомски бомби на НАТО веќе се складираат во базата Кучова.",
        },
        test={
            "sh": "Kučova postaje nuklearna baza: NATO u tišini smešta atomske bombe u "
            "Albaniji, uperene ka Srbiji.",
            "ru": "Авиабаза Кучова превращается в ядерный плацдарм: НАТО без огласки "
            "размещает там атомные бомбы.",
        },
        cross={
            "mk": "НАТО тајно носи нуклеарно оружје во воздухопловната база Кучова во "
            "Албанија, насочено кон Србија и Русија.",
            "bg": "НАТО тайно докарва ядрено оръжие във военновъздушната база Кучова в "
            "Албания, насочено срещу Сърбия и Русия.",
        },
    ),
    Planted(
        key="rigged-elections",
        title="Western embassies decided the election in advance",
        summary="Claims that the winner was chosen abroad and pre-filled ballots were printed.",
        techniques=("T0003", "T0023"),
        examples={
            "mk": "Изборите се веќе одлучени: западните амбасади однапред го избраа "
            "победникот, а илјадници пополнети гласачки ливчиња се отпечатени во странство.",
            "sq": "Zgjedhjet janë vendosur tashmë: ambasadat perëndimore e kanë zgjedhur "
            "fituesin paraprakisht dhe mijëra fletë votimi të plotësuara janë shtypur "
            "jashtë vendit.",
            "sh": "Izbori su već odlučeni: zapadne ambasade unapred su izabrale pobednika, a "
            "hiljade popunjenih glasačkih listića odštampano je u inostranstvu.",
            "en": "The election is already decided: Western embassies picked the winner in "
            "advance and thousands of pre-filled ballots were printed abroad.",
            "bg": "Изборите вече са решени: западните посолства предварително са избрали "
            "победителя, а хиляди попълнени бюлетини са отпечатани в чужбина.",
        },
        calibration={
            "mk": "Победникот на изборите е договорен во странските амбасади, тврдат "
            "извори, а гласачките ливчиња со заокружен кандидат веќе се печатат.",
            "en": "Foreign embassies have already chosen who will win the vote, and ballots "
            "marked for their candidate are being printed, insiders say.",
        },
        calibration_cross={
            "ru": "Победитель выборов давно назначен иностранными посольствами, а "
            "бюллетени с нужной галочкой уже напечатаны.",
        },
        test={
            "sq": "Fituesi i zgjedhjeve u caktua në ambasadat e huaja; fletët e votimit me "
            "kandidatin e rrethuar po shtypen që tani.",
            "bg": "Победителят в изборите е определен в чуждите посолства, а бюлетините с "
            "отбелязан кандидат вече се печатат.",
        },
        cross={
            "sr": "Резултат избора договорен је у страним амбасадама, а листићи са "
            "заокруженим кандидатом већ се штампају.",
            "ru": "Выборы уже решены: западные посольства заранее выбрали победителя, а "
            "тысячи заполненных бюллетеней напечатаны за границей.",
        },
    ),
    Planted(
        key="firewood-ban",
        title="The EU bans heating with firewood",
        summary="Claims that the EU will outlaw wood stoves and fine households that keep them.",
        techniques=("T0003", "T0023.001"),
        examples={
            "sh": "Evropska unija zabranjuje grejanje na drva: domaćinstva koja zadrže peć na "
            "drva plaćaće visoke kazne od sledeće zime.",
            "sr": "Европска унија забрањује грејање на дрва, а свако домаћинство које "
            "задржи пећ на дрва биће кажњено.",
            "bg": "Европейският съюз забранява отоплението с дърва и ще глобява "
            "домакинствата, които запазят печката си на дърва.",
            "en": "The EU is banning wood heating, and households that keep their "
            "wood-burning stoves will be fined from next winter.",
            "mk": "Европската унија го забранува греењето на дрва, а домаќинствата што ќе "
            "ја задржат печката на дрва ќе плаќаат казни.",
        },
        calibration={
            "sh": "Brisel će kažnjavati svakoga ko se greje na drva; peći na drva postaju "
            "zabranjene širom Evrope.",
            "bg": "Брюксел ще наказва всеки, който се отоплява с дърва, печките на дърва "
            "стават забранени.",
        },
        calibration_cross={
            "sq": "Brukseli do të dënojë me gjobë këdo që ngrohet me dru, sobat me dru "
            "bëhen të ndaluara.",
        },
        test={
            "sr": "Од наредне зиме казне за грејање на дрва: Брисел забрањује пећи и "
            "кажњава домаћинства.",
            "en": "Brussels will fine anyone who heats their home with firewood as wood "
            "stoves become illegal across the EU.",
        },
        cross={
            "sq": "Bashkimi Evropian ndalon ngrohjen me dru dhe do të gjobisë familjet që "
            "mbajnë sobën me dru.",
            "ru": "Евросоюз запрещает отопление дровами и будет штрафовать семьи, которые "
            "оставят дровяные печи.",
        },
    ),
    Planted(
        key="migrant-deal",
        title="Secret deal settles 100,000 migrants in Albania",
        summary="Claims that Albania secretly agreed to take migrants for good as the price of "
        "EU membership.",
        techniques=("T0003", "T0022", "T0083"),
        examples={
            "sq": "Marrëveshje e fshehtë: Shqipëria do të pranojë përgjithmonë 100 mijë "
            "emigrantë në këmbim të anëtarësimit në BE.",
            "sh": "Tajni dogovor: Albanija će trajno primiti 100.000 migranata u zamenu za "
            "članstvo u Evropskoj uniji.",
            "en": "Secret deal: Albania will permanently take in 100,000 migrants in exchange "
            "for EU membership.",
            "ru": "Секретная сделка: Албания навсегда примет 100 тысяч мигрантов в обмен на "
            "членство в ЕС.",
            "mk": "Таен договор: Албанија трајно ќе прими 100.000 мигранти во замена за "
            "членство во ЕУ.",
        },
        calibration={
            "sq": "Qeveria ka firmosur në fshehtësi vendosjen e njëqind mijë migrantëve në "
            "Shqipëri, si çmim për hyrjen në Bashkimin Evropian.",
            "ru": "Правительство тайно согласилось поселить сто тысяч мигрантов в Албании "
            "как плату за вступление в Евросоюз.",
        },
        calibration_cross={
            "bg": "Правителството тайно се е съгласило сто хиляди мигранти да бъдат "
            "заселени в Албания срещу влизане в ЕС.",
        },
        test={
            "en": "In a hidden agreement, 100,000 migrants are to be resettled for good in "
            "Albania as the price of joining the European Union.",
            "sh": "Sto hiljada migranata biće zauvek naseljeno u Albaniji, to je cena ulaska "
            "u EU po tajnom sporazumu.",
        },
        cross={
            "bg": "Таен договор: Албания ще приеме завинаги 100 000 мигранти в замяна на "
            "членство в ЕС.",
            "sr": "Влада Албаније пристала је да трајно насели стотину хиљада миграната "
            "како би ушла у Европску унију.",
        },
    ),
    Planted(
        key="vaccine-infertility",
        title="Vaccines make young women infertile to depopulate the Balkans",
        summary="Claims that vaccination is a depopulation plan that leaves women infertile.",
        techniques=("T0003", "T0022", "T0083"),
        examples={
            "sr": "Вакцине изазивају неплодност код младих жена, то је део плана да се "
            "Балкан депопулише.",
            "bg": "Ваксините причиняват безплодие при младите жени – това е част от план "
            "за обезлюдяване на Балканите.",
            "ru": "Вакцины вызывают бесплодие у молодых женщин, это часть плана по "
            "сокращению населения Балкан.",
            "en": "Vaccines make young women infertile, part of a plan to depopulate the Balkans.",
            "sq": "Vaksinat shkaktojnë sterilitet te gratë e reja, pjesë e një plani për të "
            "shpopulluar Ballkanin.",
        },
        calibration={
            "en": "Doctors are hiding that the jab leaves young women unable to have "
            "children, a depopulation plan for the Balkan nations.",
            "bg": "Лекарите крият, че ваксината оставя младите жени без деца – план за "
            "обезлюдяване на балканските народи.",
        },
        calibration_cross={
            "mk": "Лекарите кријат дека по вакцината младите жени остануваат без деца, со "
            "цел депопулација на Балканот.",
        },
        test={
            "sr": "Лекари прећуткују да вакцина оставља младе жене неплодним, јер је циљ "
            "депопулација Балкана.",
            "ru": "Врачи скрывают, что после прививки молодые женщины становятся "
            "бесплодными: Балканы хотят обезлюдить.",
        },
        cross={
            "mk": "Вакцините предизвикуваат неплодност кај младите жени, тоа е дел од план "
            "за депопулација на Балканот.",
            "sh": "Posle vakcinacije mlade žene ne mogu da rađaju, a sve je to plan da se "
            "isprazni Balkan.",
        },
    ),
    Planted(
        key="biolabs",
        title="Secret US biolabs in the Balkans produce viruses",
        summary="Claims that Pentagon-funded laboratories in the region engineer viruses.",
        techniques=("T0003", "T0022.001"),
        examples={
            "bg": "Тайни американски биолаборатории на Балканите произвеждат вируси, а "
            "правителството мълчи.",
            "ru": "Секретные американские биолаборатории на Балканах производят вирусы, а "
            "власти молчат.",
            "sr": "Тајне америчке биолабораторије на Балкану производе вирусе, а влада ћути.",
            "en": "Secret American biolabs in the Balkans are producing viruses while the "
            "government stays silent.",
            "mk": "Тајни американски биолаборатории на Балканот произведуваат вируси, а "
            "владата молчи.",
        },
        calibration={
            "ru": "Пентагон финансирует на Балканах лаборатории, где создают опасные "
            "вирусы, утверждают источники.",
            "sr": "Пентагон финансира лабораторије на Балкану у којима се праве опасни "
            "вируси, тврде извори.",
        },
        calibration_cross={
            "sq": "Pentagoni financon laboratorë në Ballkan ku krijohen viruse të rrezikshme.",
        },
        test={
            "bg": "Пентагонът финансира лаборатории на Балканите, в които се създават "
            "опасни вируси.",
            "en": "The Pentagon funds laboratories across the Balkans where dangerous "
            "viruses are being engineered, sources say.",
        },
        cross={
            "sq": "Laboratorë sekretë biologjikë amerikanë në Ballkan po prodhojnë viruse, "
            "ndërsa qeveria hesht.",
            "sh": "Pentagon u tajnosti finansira biološke laboratorije na Balkanu koje "
            "stvaraju viruse.",
        },
    ),
    Planted(
        key="ukraine-weapons",
        title="Weapons sent to Ukraine are resold to Balkan gangs",
        summary="Claims that Western military aid for Ukraine ends up with Balkan criminals.",
        techniques=("T0003", "T0023"),
        examples={
            "ru": "Западное оружие, отправленное на Украину, перепродают преступным "
            "группировкам на Балканах.",
            "sh": "Zapadno oružje poslato Ukrajini preprodaje se kriminalnim bandama na Balkanu.",
            "sq": "Armët perëndimore të dërguara në Ukrainë po rishiten te bandat kriminale "
            "në Ballkan.",
            "en": "Western weapons sent to Ukraine are being resold to criminal gangs in the "
            "Balkans.",
            "bg": "Западните оръжия, изпратени в Украйна, се препродават на престъпни банди "
            "на Балканите.",
        },
        calibration={
            "sh": "Javelini i automatske puške iz pomoći Ukrajini završavaju na crnom "
            "tržištu kod balkanskih kriminalaca.",
            "sq": "Raketat Javelin dhe pushkët nga ndihma për Ukrainën përfundojnë në "
            "tregun e zi te kriminelët ballkanikë.",
        },
        calibration_cross={
            "mk": "Џавелини и пушки од воената помош за Украина завршуваат на црниот пазар "
            "кај балканските криминалци.",
        },
        test={
            "ru": "Джавелины и автоматы из военной помощи Украине оказываются на чёрном "
            "рынке у балканских бандитов.",
            "en": "Javelins and rifles from the military aid to Ukraine end up on the black "
            "market with Balkan criminals.",
        },
        cross={
            "mk": "Западното оружје испратено во Украина се препродава на криминални банди "
            "на Балканот.",
            "sr": "Оружје које Запад шаље Украјини завршава код криминалаца на Балкану, "
            "преко црног тржишта.",
        },
    ),
    Planted(
        key="5g-cancer",
        title="5G antennas cause cancer and go up at night",
        summary="Claims that 5G masts cause cancer and are installed in secret at night.",
        techniques=("T0003", "T0022"),
        examples={
            "sh": "5G antene izazivaju rak, a postavljaju se tajno noću da građani ne primete.",
            "mk": "5G антените предизвикуваат рак и се поставуваат тајно ноќе за граѓаните "
            "да не забележат.",
            "sq": "Antenat 5G shkaktojnë kancer dhe po vendosen fshehurazi natën që "
            "qytetarët të mos e vënë re.",
            "en": "5G antennas cause cancer and are being installed secretly at night so "
            "citizens don't notice.",
            "ru": "Антенны 5G вызывают рак, и их устанавливают тайно по ночам, чтобы жители "
            "не заметили.",
        },
        calibration={
            "mk": "Ноќе монтираат 5G столбови низ градот, а зрачењето од нив предизвикува "
            "рак, предупредуваат граѓани.",
            "en": "Crews put up 5G masts in the middle of the night, and the radiation from "
            "them gives people cancer, residents warn.",
        },
        calibration_cross={
            "bg": "През нощта монтират 5G стълбове из града, а излъчването от тях причинява "
            "рак, предупреждават жители.",
        },
        test={
            "sh": "Noću montiraju 5G stubove po gradu, a zračenje od njih izaziva rak, "
            "upozoravaju građani.",
            "sq": "Natën montojnë shtylla 5G nëpër qytet dhe rrezatimi i tyre shkakton "
            "kancer, paralajmërojnë banorët.",
        },
        cross={
            "bg": "5G антените причиняват рак и се монтират тайно през нощта, за да не "
            "забележат хората.",
            "sr": "Нове 5G антене изазивају рак, а монтирају се ноћу у тајности.",
        },
    ),
    Planted(
        key="who-treaty",
        title="The WHO pandemic treaty abolishes sovereignty",
        summary="Claims that the WHO treaty ends national sovereignty and forces vaccination.",
        techniques=("T0003", "T0023.001"),
        examples={
            "en": "The WHO pandemic treaty will abolish national sovereignty and impose "
            "forced vaccination on every citizen.",
            "sr": "Пандемијски споразум СЗО укинуће националну сувереност и увести принудну "
            "вакцинацију за све грађане.",
            "bg": "Пандемичният договор на СЗО ще премахне националния суверенитет и ще "
            "наложи задължителна ваксинация на всички.",
            "sq": "Traktati i OBSH-së për pandemitë do të shfuqizojë sovranitetin kombëtar "
            "dhe do të imponojë vaksinimin e detyruar.",
            "ru": "Пандемический договор ВОЗ отменит национальный суверенитет и введёт "
            "принудительную вакцинацию для всех граждан.",
        },
        calibration={
            "sr": "Када потпише пандемијски споразум, држава губи сувереност, а СЗО ће "
            "моћи да наређује обавезне вакцине.",
            "ru": "Подписав пандемический договор, страна теряет суверенитет, а ВОЗ сможет "
            "приказывать обязательные прививки.",
        },
        calibration_cross={
            "mk": "Штом се потпише пандемискиот договор, државата го губи суверенитетот, а "
            "СЗО ќе наредува задолжителни вакцини.",
        },
        test={
            "en": "Once the pandemic treaty is signed, countries lose their sovereignty and "
            "the WHO can order compulsory vaccines.",
            "bg": "След подписването на пандемичния договор държавата губи суверенитет, а "
            "СЗО ще нарежда задължителни ваксини.",
        },
        cross={
            "sh": "Potpisivanjem pandemijskog sporazuma država gubi suverenost, a SZO će "
            "naređivati obavezne vakcine.",
            "mk": "Пандемискиот договор на СЗО ќе го укине националниот суверенитет и ќе "
            "наметне присилна вакцинација.",
        },
    ),
    Planted(
        key="nato-mobilisation",
        title="NATO will send Albanian and Macedonian conscripts to Ukraine",
        summary="Claims that NATO will mobilise young men of the region to fight in Ukraine.",
        techniques=("T0003", "T0068"),
        examples={
            "sq": "NATO do të mobilizojë të rinjtë nga Shqipëria dhe Maqedonia e Veriut për "
            "të luftuar në Ukrainë.",
            "mk": "НАТО ќе ги мобилизира младите мажи од Албанија и Северна Македонија за "
            "да се борат во Украина.",
            "sr": "НАТО ће мобилисати младиће из Албаније и Северне Македоније да ратују у "
            "Украјини.",
            "en": "NATO will mobilise young men from Albania and North Macedonia to fight in "
            "Ukraine.",
            "bg": "НАТО ще мобилизира младите мъже от Албания и Северна Македония, за да "
            "воюват в Украйна.",
        },
        calibration={
            "sq": "Letrat e thirrjes janë gati: djemtë shqiptarë dhe maqedonas do të "
            "dërgohen në frontin ukrainas nga NATO.",
            "mk": "Повиканите се веќе подготвени: НАТО ќе ги испрати македонските и "
            "албанските момчиња на украинскиот фронт.",
        },
        calibration_cross={
            "ru": "Повестки готовы: НАТО отправит албанских и македонских парней на "
            "украинский фронт.",
        },
        test={
            "en": "Call-up papers are ready: NATO will send Albanian and Macedonian boys to "
            "the Ukrainian front.",
            "sr": "Позиви су спремни: НАТО шаље албанске и македонске младиће на украјински фронт.",
        },
        cross={
            "sh": "Mladići iz Albanije i Severne Makedonije dobiće pozive NATO-a da idu na "
            "front u Ukrajini.",
            "ru": "НАТО мобилизует молодых мужчин из Албании и Северной Македонии для войны "
            "на Украине.",
        },
    ),
)

#: in both unrelated lists, the texts from this index on are true news on the narratives' topics
TOPICAL_FROM = 7

CALIBRATION_UNRELATED: tuple[tuple[str, str], ...] = (
    ("en", "The national football team beat Montenegro 2-0 in Tirana on Saturday evening."),
    ("sq", "Moti nesër do të jetë me diell në Tiranë, me temperatura deri në 25 gradë."),
    (
        "sh",
        "Cena hleba i mleka porasla je za pet odsto u prvom kvartalu, objavio je zavod za "
        "statistiku.",
    ),
    ("sr", "Београдски фестивал филма отвара се у петак пројекцијом домаћег филма."),
    (
        "mk",
        "Министерството за образование објави дека учебната година ќе започне на први септември.",
    ),
    ("bg", "Софийският метрополитен пуска нова линия, която ще свързва летището с центъра."),
    (
        "ru",
        "В Москве открылась выставка современного искусства, посвящённая архитектуре "
        "двадцатого века.",
    ),
    ("en", "NATO foreign ministers met in Brussels to discuss the alliance budget for next year."),
    (
        "sq",
        "Komisioni Qendror i Zgjedhjeve publikoi kalendarin zyrtar për zgjedhjet vendore të "
        "vitit të ardhshëm.",
    ),
    ("sh", "Cene ogrevnog drveta ove jeseni su stabilne, kažu prodavci na pijacama u Nišu."),
    (
        "bg",
        "Министерството на здравеопазването напомня за сезонната ваксинация срещу грип за "
        "възрастни хора.",
    ),
    ("ru", "Сербия и Венгрия подписали соглашение о строительстве нового нефтепровода."),
)

TEST_UNRELATED: tuple[tuple[str, str], ...] = (
    ("en", "Heavy rain caused flooding in several villages near Shkodër, but no one was hurt."),
    ("sq", "Ekipi kombëtar i basketbollit fitoi ndeshjen e parë të kampionatit evropian."),
    ("sh", "Novi most preko Save biće otvoren za saobraćaj do kraja godine."),
    ("sr", "Народна библиотека Србије добила је вредну збирку старих рукописа."),
    ("mk", "Охридското лето годинава ќе има над педесет концерти и театарски претстави."),
    ("bg", "Българските производители на рози очакват добра реколта тази пролет."),
    ("ru", "Российские учёные запустили новый телескоп для наблюдения за далёкими галактиками."),
    (
        "en",
        "Election observers from the OSCE will monitor the parliamentary vote in North Macedonia.",
    ),
    (
        "sq",
        "Ushtria shqiptare mori pjesë në një stërvitje të përbashkët me partnerët e NATO-s në det.",
    ),
    ("sr", "Електропривреда Србије најавила је редовно одржавање далековода током викенда."),
    ("mk", "Болниците во Скопје добија нова опрема за дијагностика на срцеви заболувања."),
    (
        "en",
        "The EU announced funding for energy-efficient heating in public schools across the "
        "Western Balkans.",
    ),
)


def document(doc_id: str, lang: str, text: str, title: str = "") -> Document:
    return Document(
        id=doc_id, kind="article", source="test.example", title=title, text=text, lang=lang
    )


def split(name: str) -> tuple[list[Document], dict[str, str]]:
    """The documents of one split of the planted narratives (``calibration``,
    ``calibration_cross``, ``test`` or ``cross``) and, per document id, the key of the
    narrative it carries."""
    docs: list[Document] = []
    truth: dict[str, str] = {}
    for planted in NARRATIVES:
        for lang, text in getattr(planted, name).items():
            doc_id = f"{name}:{planted.key}:{lang}"
            docs.append(document(doc_id, lang, text))
            truth[doc_id] = planted.key
    return docs, truth


def unrelated(texts: tuple[tuple[str, str], ...], name: str) -> list[Document]:
    return [document(f"{name}:unrelated:{i}", lang, text) for i, (lang, text) in enumerate(texts)]
