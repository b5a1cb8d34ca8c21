"""Word lists for the de-identifier: bundled dictionaries (loaded once) and small hand-written sets.

The bundled files live in ``resources/`` (sources and licences in ``resources/LICENSES.md``).
Everything here is lower case; callers look words up with ``word.lower()``.
"""

from __future__ import annotations

import importlib.util
import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["lexicon", "Lexicon"]


def _read(name: str) -> list[str]:
    text = resources.files("healthnn.privacy").joinpath("resources", name).read_text("utf-8")
    return [w for w in text.split("\n") if w]


# Eponyms and other clinical words that are also surnames, first names or places: never PHI on
# their own (a title such as "Dr." still makes the next word a name).
CLINICAL_KEEP = set(
    """
    parkinson parkinsons foley apgar glasgow alzheimer alzheimers crohn crohns hodgkin hodgkins
    babinski swan ganz cushing cushings addison addisons graves wilson wilsons kussmaul cheyne
    stokes trendelenburg fowler fowlers murphy murphys homan homans romberg kernig brudzinski
    whipple nissen roux hickman groshong broviac dobhoff salem miami philadelphia jackson pratt
    penrose blake hemovac kelly mayo doppler holter wenckebach mobitz lown ganong wolff white
    guillain barre stevens johnson bell bells down downs raynaud raynauds marfan turner klinefelter
    hashimoto kaposi barrett barretts meckel hirschsprung huntington huntingtons tourette bence
    jones korotkoff levine osler janeway roth virchow sengstaken blakemore minnesota pleurx
    hartmann billroth kocher pfannenstiel lasix coumadin heparin ativan haldol vanco flagyl
    levophed neo dopa dopamine dobutamine propofol fentanyl morphine versed zosyn cipro keflex
    tylenol motrin protonix pepcid zantac reglan colace senna dulcolax lopressor cardizem digoxin
    insulin lantus humalog novolog kayexalate lovenox plavix aspirin nitro ntg tpa integrilin
    amiodarone captopril lisinopril norvasc hydralazine labetalol nipride precedex ambien
    glucerna pulmocare jevity nepro promote impact osmolite ensure boost peptamen vivonex
    ranson child pugh meld wells killip nyha timi curb apache sofa rass cam braden morse
    richmond riker ramsay norton waterlow hunt hess fisher spetzler
    allen allens adson mcmurray lachman phalen tinel chvostek trousseau cullen grey turner
    kehr rovsing psoas obturator mcburney kerley quinton quentin muir allegra ranitidine
    blocker marg dec lis sa un ro tod reck house jesus christ god lord essen kling
    ace ativan bipap cpap peep picc ett ogt ngt mae aox perrl perrla
    """.split()
)

# Clinical and common short words that the census lists also hold as names ("bun", "will").
CLINICAL_WORDS = set(
    """
    pt pts patient patients dr drs md mds rn rns np nps pa resp neuro cv gi gu id skin heme endo
    social psych access plan assessment note nursing nsg progress am pm noc days eve evening
    night nights shift today tonight tomorrow yesterday am pm bp hr rr sat sats temp tmax
    bun cr creat lytes wbc hct hgb plt inr ptt pt abg vbg lactate gluc glucose fs bs ls cxr ekg
    ecg echo cath ct mri us kub iv ivf ns lr po pr sl sc sq im prn qd bid tid qid qhs ac hs
    ccu micu sicu csru nicu icu ed er or pacu tsicu cvicu ew tcu vna rehab
    afib aflutter svt vt vf nsr st sb chf copd cad htn dm niddm iddm mi cva tia dvt pe uti
    ards sepsis etoh ivdu hiv hcv hbv esrd arf crf cri ckd hd cvvh cvvhd crrt
    lungs lung heart abd abdomen ext extremities foley ngt ogt ett trach vent vented
    sedation sedated alert oriented calm anxious agitated restless comfortable lethargic
    family wife husband son daughter sister brother mother father friend
    none neg pos positive negative stable unchanged improved worse better same
    dose doses mg mcg gm ml cc units hour hours hr hrs min mins
    clear coarse diminished crackles rales rhonchi wheezes
    code full dnr dni cmo
    mae perrl aox follows commands
    monday tuesday wednesday thursday friday saturday sunday mon tues wed thurs thur fri sat sun
    english spanish french greek italian russian chinese portuguese creole haitian german polish
    vietnamese korean japanese arabic hindi cantonese mandarin american african hispanic latino
    asian caucasian jewish catholic christian muslim baptist protestant
    vea ra le perl perla na sao pao ok ros fick riss ng asa cont ota al bair hugger ami lima vue
    co mc lue rue rle lle brady tachy peri fe shiley hoyer dopp spiro zoll ted teds rij lij ij ox
    ou oob maes ina eng ada imv simv psv nrb pmicu vicu nsb cvp tlc tol yel sm lg mod min max
    ing rec rx dx hx sx tx fx bx cx pmh hpi cc ros abx cxr kcl mgso po4 ca mg phos ivp ivpb gtt
    gtts drip drips npo tf tfs peg pej ogt ngt dht dobhoff jp hemovac svo2 scvo2 ci svr pcwp cvp
    pad pas art aline sbp dbp map nbp hob cpt ambu ippb mdi neb nebs hhn ett trach sx suct suctn
    ues les gerd ugib lgib brbpr ngl hct ptt lfts ast alt alk bili ldh ck cpk trop tropn bnp abg
    vbg lact cort tsh t4 ua ucx bcx sputum cx gs kub ptx ctx hemi para quad tbi sah sdh ich cva
    ua cath pci ptca cabg avr mvr tvr lad lcx rca om diag pda lvad iabp ecmo pacer aicd icd ppm
    tvp vvi ddd vaso neo levo dopa dobut milri nitro ntg nipride esmolol labetalol
    prbc prbcs ffp plts cryo ivig albumin lasix kvo tko saline dsw d5w d5ns lr ns
    bs bm bms bsx4 loc gcs rass cam pupils perrla eomi mae ms nad wnl nl abn wnl
    hep heme onc gyn ob uro neph pulm cards ortho ent ophtho derm id psych pt ot slp rt sw cm
    vna snf ltc alf hospice rehab
    monitored monitor titrated weaned sedated extubated intubated suctioned repositioned
    cpap angio ercp pcu usoh catscan ctscan introducer commode pre prev normal destin desitin
    napa greenfield hurst candida staphylococcus streptococcus enterococcus klebsiella
    fent sxn sxned suctn mso4 dilaudid versed ativan precedex propofol neosynephrine pressors
    pseudomonas serratia proteus clostridium listeria legionella shigella salmonella morganella
    aspergillus cryptococcus pneumocystis mycobacterium helicobacter escherichia acinetobacter
    """.split()
)

# Words after which a capitalised or unknown word is a person ("Dr. X", "wife Mary").
TITLES = {
    "dr", "doctor", "mr", "mrs", "ms", "miss", "mister", "prof", "professor", "drs", "sr",
    "sister", "father", "rev", "reverend", "nurse", "np", "pa", "rn", "md", "attending",
    "resident", "fellow", "intern", "dds", "pharmd", "lpn", "rrt", "rt", "pt", "ot", "sw",
}
STRONG_TITLES = {"dr", "doctor", "mr", "mrs", "ms", "miss", "mister", "prof", "drs", "rev"}
RELATIONS = {
    "wife", "husband", "son", "sons", "daughter", "daughters", "sister", "sisters", "brother",
    "brothers", "mother", "father", "mom", "dad", "friend", "friends", "niece", "nephew", "aunt",
    "uncle", "grandson", "granddaughter", "grandmother", "grandfather", "cousin", "partner",
    "fiance", "fiancee", "girlfriend", "boyfriend", "neighbor", "neighbour", "proxy", "hcp",
    "sil", "dil", "stepson", "stepdaughter", "spouse", "companion", "guardian", "pcp",
    "granddaughter", "grandchild", "children", "sibling", "siblings", "parents", "parent",
    "daughter-in-law", "son-in-law", "brother-in-law", "sister-in-law", "caregiver", "roommate",
    "chaplain", "priest", "rabbi", "pastor", "attending", "intern", "resident", "fellow",
    "neice", "neices", "grandaughter", "grandaughters", "grand-daughter", "grand-son", "nephews", "nieces", "neighbors", "grandsons", "granddaughters", "bro",
    "sis", "gf", "bf", "fiancé", "fiancée", "husb", "dtr", "grandma", "grandpa", "stepmother",
    "stepfather", "godmother", "godfather", "exwife", "ex-wife", "ex-husband", "widow",
    "lawyer", "attorney", "poa", "stepmom", "stepdad", "grandparent", "grandparents", "in-law",
}
# Verbs and phrases after which a name often follows ("spoke with Mary", "per Smith").
NAME_CUES = {
    "spoke", "called", "per", "paged", "notified", "informed", "discussed", "d/w", "by",
    "seen", "evaluated", "aware", "updated", "told", "visited", "with", "from", "contacted",
    "signed", "cc", "dictated", "attending", "covering", "name", "named", "is", "to",
}
# Credentials written after a name ("Marie Okonjo, RN").
CREDENTIALS = {
    "rn", "md", "np", "pa", "pa-c", "rrt", "rt", "crt", "lpn", "cna", "msw", "licsw", "lcsw",
    "phd", "do", "pharmd", "mph", "bsn", "msn", "ccrn", "rph", "dpt", "ot", "otr", "slp", "sn",
}
MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12,
    "dec": 12,
}
HOLIDAYS = {
    "christmas", "xmas", "thanksgiving", "easter", "hanukkah", "chanukah", "kwanzaa",
    "halloween", "passover", "ramadan", "new year's", "new years", "memorial day", "labor day",
    "independence day", "valentine's day", "mother's day", "father's day", "veterans day",
}
# Words that end an organisation or hospital name.
ORG_HEADS = {
    "hospital", "hosp", "hospitals", "medical center", "med center", "med ctr", "health center",
    "clinic", "clinics", "infirmary", "healthcare", "health care", "health system",
    "nursing home", "rehab", "rehabilitation", "rehab center", "rehabilitation center",
    "memorial", "medical", "general", "university", "college", "institute", "center", "centre",
    "vamc", "va", "hospice", "manor", "nursing", "home", "house", "school", "church", "company",
    "corporation", "inc", "llc", "pharmacy", "lab", "laboratory", "laboratories",
}
STREET_TYPES = {
    "street", "st", "avenue", "ave", "av", "road", "rd", "boulevard", "blvd", "lane", "ln",
    "drive", "dr", "court", "ct", "way", "place", "pl", "terrace", "ter", "circle", "cir",
    "highway", "hwy", "parkway", "pkwy", "square", "sq", "trail", "trl", "alley", "pike",
    "turnpike", "route", "rte",
}
US_STATES = {
    "AL": "alabama", "AK": "alaska", "AZ": "arizona", "AR": "arkansas", "CA": "california",
    "CO": "colorado", "CT": "connecticut", "DE": "delaware", "FL": "florida", "GA": "georgia",
    "HI": "hawaii", "ID": "idaho", "IL": "illinois", "IN": "indiana", "IA": "iowa",
    "KS": "kansas", "KY": "kentucky", "LA": "louisiana", "ME": "maine", "MD": "maryland",
    "MA": "massachusetts", "MI": "michigan", "MN": "minnesota", "MS": "mississippi",
    "MO": "missouri", "MT": "montana", "NE": "nebraska", "NV": "nevada", "NH": "new hampshire",
    "NJ": "new jersey", "NM": "new mexico", "NY": "new york", "NC": "north carolina",
    "ND": "north dakota", "OH": "ohio", "OK": "oklahoma", "OR": "oregon", "PA": "pennsylvania",
    "RI": "rhode island", "SC": "south carolina", "SD": "south dakota", "TN": "tennessee",
    "TX": "texas", "UT": "utah", "VT": "vermont", "VA": "virginia", "WA": "washington",
    "WV": "west virginia", "WI": "wisconsin", "WY": "wyoming", "DC": "district of columbia",
}


class Lexicon:
    """The bundled dictionaries as sets, plus rank lookups for surrogate choice."""

    def __init__(self) -> None:
        self.surnames_ranked = _read("surnames.txt")
        self.first_names_ranked = _read("first_names.txt")
        self.cities_ranked = _read("us_cities.txt")
        self.common = (
            set(_read("common_words.txt")) | CLINICAL_WORDS
            | {w for s in US_STATES.values() for w in s.split()}
        )
        self.surnames = set(self.surnames_ranked)
        self.first_names = set(self.first_names_ranked)
        self.cities = set(self.cities_ranked)
        self.city_first = {c.split()[0] for c in self.cities_ranked}
        # surnames beyond this rank are too rare to count on their own: they collide with
        # abbreviations and misspellings far more often than they are names
        self.frequent_surnames = set(self.surnames_ranked[:30000])
        self.top_surnames = set(self.surnames_ranked[:2000])
        self.first_rank = {w: i for i, w in enumerate(self.first_names_ranked)}
        self.surname_rank = {w: i for i, w in enumerate(self.surnames_ranked)}
        self.states = set(US_STATES.values())
        # issue 18: drug names never PHI on their own; the sex of first names and the states of
        # cities, for surrogates that keep them
        self.drugs = set(_read("drug_names.txt"))
        self.female_ranked = _read("first_names_female.txt")
        self.male_ranked = _read("first_names_male.txt")
        female = {w: i for i, w in enumerate(self.female_ranked)}
        male = {w: i for i, w in enumerate(self.male_ranked)}
        self.first_sex = {w: "F" for w in female}
        self.first_sex.update({w: "M" for w, i in male.items() if i < female.get(w, 10**9)})
        # optional larger name lists (healthnn[deid]); used only where the position already
        # says "a name goes here"
        self.extra_first, self.extra_surnames = philter_names()
        self.city_states: dict[str, set[str]] = {}
        self.state_cities: dict[str, list[str]] = {}
        for line in _read("us_city_states.txt"):
            city, _, st = line.partition("\t")
            self.city_states.setdefault(city, set()).add(st)
            self.state_cities.setdefault(st, []).append(city)

    def is_name_word(self, w: str) -> bool:
        return w in self.first_names or w in self.surnames

    def any_first_name(self, w: str) -> bool:
        """In the bundled first names or, when installed, philter-lite's 97,014."""
        return w in self.first_names or w in self.extra_first

    def any_name_word(self, w: str) -> bool:
        """In any name list, the optional philter-lite lists included."""
        return w in self.first_names or w in self.surnames or w in self.extra_first or w in self.extra_surnames

    def unambiguous_name(self, w: str) -> bool:
        """In a name list, not a common English or clinical word, not an eponym."""
        return (
            len(w) > 1
            and (w in self.first_names or w in self.frequent_surnames)
            and w not in self.common
            and w not in CLINICAL_KEEP
        )


NAME_LISTS_ENV = "HEALTHNN_DEID_NAME_LISTS"


def philter_names() -> tuple[frozenset[str], frozenset[str]]:
    """First names and surnames of philter-lite (BSD-3), read from the installed wheel's
    ``filters/set.toml`` (the package itself is not imported; nothing is downloaded).

    Empty when philter-lite is not installed or ``$HEALTHNN_DEID_NAME_LISTS`` is ``builtin``.
    """
    if os.environ.get(NAME_LISTS_ENV, "").strip().lower() == "builtin":
        return frozenset(), frozenset()
    spec = importlib.util.find_spec("philter_lite")
    if spec is None or not spec.submodule_search_locations:
        return frozenset(), frozenset()
    path = Path(next(iter(spec.submodule_search_locations))) / "filters" / "set.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return frozenset(), frozenset()
    lists = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in ("firstnames", "lastnames"):
            lists[key.strip()] = frozenset(w for w in re.findall(r'"([a-z][a-z\'-]*)"', value) if len(w) > 1)
    return lists.get("firstnames", frozenset()), lists.get("lastnames", frozenset())


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    return Lexicon()
