"""A site's de-identification settings in one TOML file, its ``[deid]`` section.

``healthnn deid NOTES --out OUT --config site.toml`` and ``healthnn deid-review sample NOTES
--out review/ --config site.toml`` then find PHI the same way, so the review measures the
settings the site releases data with. Options given on the command line override the file's.

.. code-block:: toml

    [deid]
    spacy_model = "en_core_web_sm"   # an installed spaCy pipeline package, or a folder
    terms = "site_terms.tsv"         # LABEL<TAB>phrase lines (healthnn deid --terms)
    ner = "runs/ner"                 # a task = "ner" bundle (healthnn deid --ner)
    ner_min_score = 0.5
    ner_combine = "union"            # or "ner"
    keep_year = true                 # false: bare years are removed too

Relative paths are relative to the settings file. Unknown keys, wrong types and missing files
are errors naming the file and the key (``deid.spacy_model``, ...).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "site.toml").write_text('[deid]\\nkeep_year = false\\n')
>>> deid_options(d / "site.toml")
{'keep_year': False}
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from healthnn.errors import ConfigError

__all__ = ["DeidSettings", "load_deid_settings", "deid_options"]


@dataclass
class DeidSettings:
    """The ``[deid]`` section (see the module docstring)."""

    spacy_model: str | None = None
    terms: str | None = None
    ner: str | None = None
    ner_min_score: float | None = None
    ner_combine: Literal["union", "ner"] | None = None
    keep_year: bool = True


def load_deid_settings(path: str | os.PathLike) -> DeidSettings:
    """The ``[deid]`` section of a TOML file, validated, its paths made absolute."""
    from healthnn.config import parse_section

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("settings file not found", file=str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML ({exc})", file=str(path)) from None
    if set(raw) != {"deid"} or not isinstance(raw["deid"], dict):
        raise ConfigError("expected one [deid] section", file=str(path),
                          hint="keys: spacy_model, terms, ner, ner_min_score, ner_combine, "
                               "keep_year")
    s = parse_section(DeidSettings, raw["deid"], "deid", str(path))
    base = path.resolve().parent
    for key in ("terms", "ner"):
        value = getattr(s, key)
        if value is not None:
            full = base / value
            if not full.exists():
                raise ConfigError("not found", file=str(path), key=f"deid.{key}",
                                  hint=f"a path relative to {base}")
            setattr(s, key, str(full))
    if s.spacy_model is not None and ("/" in s.spacy_model or (base / s.spacy_model).is_dir()):
        full = base / s.spacy_model  # a folder, not a package name
        if not full.is_dir():
            raise ConfigError("spaCy model folder not found", file=str(path),
                              key="deid.spacy_model", hint="a folder relative to the file, or "
                                                           "an installed package name")
        s.spacy_model = str(full)
    if s.ner_min_score is not None and not 0.0 <= s.ner_min_score <= 1.0:
        raise ConfigError("must be between 0 and 1", file=str(path), key="deid.ner_min_score")
    return s


def deid_options(path: str | os.PathLike | None = None, **cli: Any) -> dict[str, Any]:
    """Keyword arguments of :class:`healthnn.privacy.deid.Deidentifier` from a settings file
    (optional), overridden by the command line's options that were given (``cli``: the same
    names; ``None`` means not given; ``keep_year=False`` overrides, ``True`` does not)."""
    from healthnn.privacy.deid import load_terms

    s = load_deid_settings(path) if path is not None else DeidSettings()
    out: dict[str, Any] = {}
    for key in ("spacy_model", "terms", "ner", "ner_min_score", "ner_combine"):
        value = cli.get(key)
        value = getattr(s, key) if value is None else value
        if value is not None:
            out[key] = value
    if cli.get("keep_year") is False or not s.keep_year:
        out["keep_year"] = False
    if "terms" in out:
        out["terms"] = load_terms(out["terms"])
    return out
