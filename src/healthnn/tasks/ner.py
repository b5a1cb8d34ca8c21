"""Named-entity recognition: find labelled spans (PHI, drugs, anything annotated) in notes.

Training data: a BRAT folder (``.txt`` + ``.ann``), a ``.tar.gz`` of one, or span JSONL
(see :mod:`healthnn.text.annotations`); one row is one document. Prediction inputs: the same,
or CSV / Parquet / JSONL with a text column (``[data] text``), or a folder of ``.txt`` files.

Pipeline: tokens (runs of letters, runs of digits, single other characters, each with its
character offsets) -> BIO tags of the annotated spans -> windows of ``max_length`` tokens that
overlap by ``overlap`` (each token is predicted by the window in which it is most central) ->
``bilstm_charcnn`` tag logits -> BIO-constrained Viterbi decoding (an ``I-X`` tag only after
``B-X`` or ``I-X``) -> spans with offsets into the original text and a score (the mean
probability of the decoded tags). The word and character vocabularies and the label set are
learned from the training documents and saved as JSON in the bundle's task.json.

Metrics (with bootstrap intervals over documents): strict span precision, recall and F1
(micro and per label: a span counts only with exactly the gold start, end and label) and
token-level precision, recall and F1 (see :mod:`healthnn.metrics.spans`).

In de-identification (``healthnn deid --ner DIR``, ``Deidentifier(ner=DIR)``) the labels are
mapped to the de-identification tag set by ``[data] deid_labels`` (default:
:data:`DEID_LABELS`, which knows MEDDOCAN's and the PhysioNet gold standard's labels; a label
that is a de-identification tag maps to itself; any other label is used as it is).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from healthnn.config import Config
from healthnn.errors import ConfigError, DataError
from healthnn.tasks.base import Labels, Task

__all__ = ["NerData", "NerTask", "NerInputs", "NerTagger", "tokenize", "DEID_LABELS",
           "choose_operating_point"]

TOKEN = re.compile(r"\d+|[^\W\d_]+|\S")
_MONITORS = ("val_loss", "token_f1")

# NER label -> de-identification tag (healthnn.privacy.deid.LABELS), for known corpora
DEID_LABELS: dict[str, str] = {
    # MEDDOCAN (Spanish clinical cases, IberLEF 2019)
    "NOMBRE_SUJETO_ASISTENCIA": "NAME", "NOMBRE_PERSONAL_SANITARIO": "NAME",
    "FAMILIARES_SUJETO_ASISTENCIA": "NAME", "FECHAS": "DATE", "EDAD_SUJETO_ASISTENCIA": "AGE",
    "CALLE": "ADDRESS", "TERRITORIO": "CITY", "PAIS": "COUNTRY",
    "CORREO_ELECTRONICO": "EMAIL", "NUMERO_TELEFONO": "PHONE", "NUMERO_FAX": "PHONE",
    "ID_SUJETO_ASISTENCIA": "ID", "ID_ASEGURAMIENTO": "ID", "ID_CONTACTO_ASISTENCIAL": "ID",
    "ID_TITULACION_PERSONAL_SANITARIO": "ID", "ID_EMPLEO_PERSONAL_SANITARIO": "ID",
    "NUMERO_BENEF_PLAN_SALUD": "ID", "IDENTIF_VEHICULOS_NRSERIE_PLACAS": "ID",
    "IDENTIF_DISPOSITIVOS_NRSERIE": "ID", "IDENTIF_BIOMETRICOS": "ID", "URL_WEB": "URL",
    "DIRECCION_IP": "IP", "HOSPITAL": "HOSPITAL", "CENTRO_SALUD": "HOSPITAL",
    "INSTITUCION": "ORGANIZATION", "PROFESION": "PROFESSION", "SEXO_SUJETO_ASISTENCIA": "SEX",
    "OTROS_SUJETO_ASISTENCIA": "ID",
    # PhysioNet deid gold standard (Neamatullah et al. 2008) and i2b2 2006/2014 styles
    "PTName": "NAME", "PTNameInitial": "NAME", "HCPName": "NAME", "RelativeProxyName": "NAME",
    "ProxyName": "NAME", "Patient": "NAME", "Doctor": "NAME", "Date": "DATE",
    "DateYear": "DATE", "Phone": "PHONE", "Location": "ADDRESS", "Hospital": "HOSPITAL",
    "Age": "AGE", "Other": "ID",
}


def tokenize(text: str) -> np.ndarray:
    """``(n, 2)`` start/end character offsets of the tokens of ``text``: runs of letters,
    runs of digits, and every other non-space character on its own.

    >>> t = tokenize("BP 120/80, Dr. O'Neil")
    >>> [("BP 120/80, Dr. O'Neil")[a:b] for a, b in t]
    ['BP', '120', '/', '80', ',', 'Dr', '.', 'O', "'", 'Neil']
    """
    spans = [m.span() for m in TOKEN.finditer(text)]
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


def window_starts(n_tokens: int, length: int, overlap: int) -> list[int]:
    """First token of each window (windows of ``length`` tokens overlapping by ``overlap``).

    >>> window_starts(10, 4, 1), window_starts(3, 4, 1)
    ([0, 3, 6], [0])
    """
    if n_tokens <= length:
        return [0]
    stride = length - overlap
    starts = list(range(0, n_tokens - length, stride))
    return starts + [n_tokens - length]


@dataclass
class NerData:
    """``[data]`` for ``task = "ner"``."""

    train: str
    test: str | None = None
    text: str = "text"                # prediction inputs (CSV/Parquet/JSONL): the text column
    group: str | None = None          # span-JSONL field (e.g. a patient id): one group, one split
    max_length: int = 128             # tokens per window
    overlap: int = 32                 # tokens shared by neighbouring windows
    min_frequency: int = 2            # rarer training words share the unknown-word vector
    max_chars: int = 16               # characters of each token the character CNN reads
    lexicon: bool = True              # flag tokens found in the bundled name/place/word lists
    empty_windows: float = 1.0        # fraction of entity-free training windows drawn each epoch
    o_weight: float = 1.0             # loss weight of the 'O' tag (< 1 when entities are rare)
    deid_labels: dict[str, str] | None = None   # label -> de-identification tag (deid --ner)
    # issue 3, stacked model: the de-identification rules' span tags and an unknown-word flag
    # as per-token inputs, computed with these rule settings (saved with the bundle)
    rule_features: bool = False
    rule_keep_year: bool = True
    # issue 3: > 0 chooses the operating point of `deid --ner` on the validation documents:
    # the lowest NER span score kept with the highest validation token recall at token
    # precision >= this (saved with the bundle); among rules ∪ NER only ("union", recall
    # first) or also the NER's spans alone ("auto")
    target_precision: float = 0.0
    target_combine: str = "union"


@dataclass
class NerInputs:
    """Encoded documents: the windows of all documents, in document order."""

    windows: torch.Tensor             # (W, L, 3 + C) int32
    offsets: np.ndarray               # (n_docs + 1,): document i has windows offsets[i]:[i+1]
    tokens: list[np.ndarray]          # per document: (T, 2) character offsets
    starts: list[list[int]]           # per document: first token of each window

    def __len__(self) -> int:
        return len(self.tokens)


class _WindowBatches:
    """Mini-batches of windows (the trainer's and collect_outputs' iterable)."""

    def __init__(self, windows: torch.Tensor, tags: torch.Tensor | None, batch_size: int, *,
                 shuffle: bool, generator: torch.Generator | None,
                 empty_windows: float = 1.0) -> None:
        self.windows, self.tags = windows, tags
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator
        self.inputs = windows  # for the trainer's DP sizing and checkpoints
        self.empty_windows = empty_windows

    def __len__(self) -> int:
        return -(-len(self.windows) // self.batch_size)

    def __iter__(self):
        n = len(self.windows)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        if order is not None and self.tags is not None and self.empty_windows < 1.0:
            # training: every window with an entity, a fresh sample of the others each epoch
            has = (self.tags[order] > 0).any(1)
            draw = torch.rand(n, generator=self.generator) < self.empty_windows
            order = order[has | draw]
            n = len(order)
        for start in range(0, n, self.batch_size):
            idx = (order[start:start + self.batch_size] if order is not None
                   else slice(start, min(start + self.batch_size, n)))
            tgt = {} if self.tags is None else {"tags": self.tags[idx]}
            yield self.windows[idx], tgt


class NerTask(Task):
    """Tag spans in documents: one BIO tag per token, decoded into labelled spans."""

    name = "ner"
    DataConfig = NerData
    default_model = "bilstm_charcnn"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.labels_: list[str] = []
        self.vocab_: list[str] = []
        self.chars_: list[str] = []
        self.label_counts_: dict[str, int] = {}
        self.token_stats_: dict[str, Any] = {}
        self._read_notes: list[str] = []
        self._word_index: dict[str, int] = {}
        self._char_index: dict[str, int] = {}
        self._decoded: tuple[Any, list] | None = None
        self._crf: Any = None

    # -- config ------------------------------------------------------------------------------
    @classmethod
    def check_config(cls, config: Config) -> None:
        d, src = config.data, config.source
        if d.max_length < 8:
            raise ConfigError("must be at least 8", file=src, key="data.max_length")
        if not 0 <= d.overlap <= d.max_length // 2:
            raise ConfigError(f"must be between 0 and max_length / 2 ({d.max_length // 2})",
                              file=src, key="data.overlap")
        if not 0.0 < d.o_weight <= 1.0:
            raise ConfigError("must be in (0, 1]", file=src, key="data.o_weight")
        if not 0.0 <= d.target_precision < 1.0:
            raise ConfigError("must be in [0, 1) (0: no operating point)", file=src,
                              key="data.target_precision")
        if d.target_combine not in ("union", "auto"):
            raise ConfigError("must be 'union' or 'auto'", file=src, key="data.target_combine")
        if not 0.0 < d.empty_windows <= 1.0:
            raise ConfigError("must be in (0, 1]", file=src, key="data.empty_windows")
        for key, lo in (("min_frequency", 1), ("max_chars", 1)):
            if getattr(d, key) < lo:
                raise ConfigError(f"must be at least {lo}", file=src, key=f"data.{key}")
        if d.deid_labels is not None and not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in d.deid_labels.items()):
            raise ConfigError("expected a table of label = \"TAG\" strings", file=src,
                              key="data.deid_labels")
        if config.train.monitor not in _MONITORS:
            raise ConfigError(f"cannot monitor {config.train.monitor!r} for task 'ner'",
                              file=src, key="train.monitor", hint=f"one of: {', '.join(_MONITORS)}")
        unsupported = [("train.privacy", config.train.privacy is not None),
                       ("train.ensemble", config.train.ensemble > 1),
                       ("federated", config.federated is not None),
                       ("report.subgroups", bool(config.report.subgroups)),
                       ("report.learning_curve", bool(config.report.learning_curve)),
                       ("report.recalibrate", config.report.recalibrate != "none")]
        for key, bad in unsupported:
            if bad:
                raise ConfigError("not available for task 'ner' yet", file=src, key=key)
        if config.split.method == "group" and not d.group:
            raise ConfigError("split.method = 'group' needs [data] group", file=src,
                              key="split.method")
        if config.split.method not in ("auto", "random", "group", "kfold"):
            raise ConfigError(f"split.method {config.split.method!r} is not available for "
                              "task 'ner'", file=src, key="split.method",
                              hint="use auto, random or group")

    # -- reading -----------------------------------------------------------------------------
    def target_columns(self) -> list[str]:
        return ["spans"]

    def read(self, path: Path) -> pd.DataFrame:
        from healthnn.text.annotations import read_annotations

        df, notes = read_annotations(path)
        g = self.config.data.group
        if g and g not in df.columns:
            raise DataError("group field not found in the documents", file=str(path), column=g,
                            hint="span JSONL lines need this field ([data] group)")
        self._read_notes += notes
        return df

    def read_inputs(self, path: Path) -> pd.DataFrame:
        """Annotated data (BRAT, archive, span JSONL with spans) or plain documents."""
        from healthnn.text.annotations import read_annotations
        from healthnn.text.io import read_documents

        path = Path(path)
        name = path.name.lower()
        is_brat = path.is_dir() and any(path.rglob("*.ann"))
        if is_brat or name.endswith((".tar.gz", ".tgz", ".tar")):
            df, notes = read_annotations(path)
            df = df.drop(columns=["spans"]).rename(columns={"text": self.config.data.text})
        else:  # span JSONL with annotations: the spans are labels, not inputs (as for BRAT)
            df, notes = read_documents(path, text_column=self.config.data.text)
            df = df.drop(columns=["spans"], errors="ignore")
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return df

    def labels(self, df: pd.DataFrame, file: Path) -> tuple[Labels, np.ndarray]:
        if "spans" not in df.columns:
            raise DataError("no annotations (spans) in this data", file=str(file),
                            hint="give BRAT files or span JSONL for training and evaluation")
        spans = np.empty(len(df), dtype=object)
        spans[:] = [[(int(s["start"]), int(s["end"]), str(s["label"])) for s in v]
                    for v in df["spans"]]
        texts = np.empty(len(df), dtype=object)
        texts[:] = list(df["text"])
        return {"spans": spans, "text": texts}, np.ones(len(df), dtype=bool)

    def usable_rows(self, df, y, ok, file):
        notes, self._read_notes = list(self._read_notes), []
        return np.ones(len(df), dtype=bool), notes

    def groups(self, df: pd.DataFrame) -> np.ndarray | None:
        g = self.config.data.group
        return None if g is None else df[g].astype(str).to_numpy()

    def row_ids(self, df: pd.DataFrame) -> pd.DataFrame:
        if "id" in df.columns:
            return df[["id"]].reset_index(drop=True)
        return pd.DataFrame(index=df.index)

    def label_frame(self, y: Labels) -> pd.DataFrame:
        return pd.DataFrame({"gold_spans": [len(v) for v in y["spans"]]})

    # -- preprocessing -----------------------------------------------------------------------
    @staticmethod
    def _norm(word: str) -> str:
        return re.sub(r"\d", "0", word.lower())

    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        from collections import Counter

        d = self.config.data
        words: Counter = Counter()
        chars: Counter = Counter()
        n_tokens, misaligned = 0, 0
        labels: Counter = Counter()
        for text, spans in zip(y["text"], y["spans"], strict=True):
            toks = tokenize(text)
            n_tokens += len(toks)
            words.update(self._norm(text[a:b]) for a, b in toks)
            chars.update(text)
            bounds = set(toks[:, 0].tolist()) | set(toks[:, 1].tolist())
            for s, e, lab in spans:
                labels[lab] += 1
                misaligned += s not in bounds or e not in bounds
        if not labels:
            raise DataError("the training documents have no annotated spans", file=str(file),
                            hint="NER needs examples of every label it should find")
        self.labels_ = sorted(labels)
        self.label_counts_ = {k: int(labels[k]) for k in self.labels_}
        self.vocab_ = sorted(w for w, c in words.items() if c >= d.min_frequency)
        self.chars_ = sorted(c for c, k in chars.items() if k >= 2 and not c.isspace())
        self._index()
        self.token_stats_ = {"documents": len(y["text"]), "tokens": n_tokens,
                             "vocab_size": len(self.vocab_) + 2, "chars": len(self.chars_) + 2,
                             "misaligned_spans": misaligned}
        notes = [f"NER: {len(y['text'])} training documents, {n_tokens} tokens, "
                 f"{sum(labels.values())} spans of {len(self.labels_)} labels "
                 f"({', '.join(f'{k} {v}' for k, v in labels.most_common(8))}"
                 f"{', ...' if len(labels) > 8 else ''}); vocabulary {len(self.vocab_) + 2}"]
        if misaligned:
            notes.append(f"{misaligned} training span(s) start or end inside a token (tokens "
                         "are runs of letters, runs of digits or single other characters); "
                         "they are learned as the tokens they overlap, so predictions of them "
                         "cover whole tokens")
        return notes

    def _index(self) -> None:
        self._word_index = {w: i + 2 for i, w in enumerate(self.vocab_)}
        self._char_index = {c: i + 2 for i, c in enumerate(self.chars_)}

    @property
    def tags_(self) -> list[str]:
        return ["O"] + [f"{p}-{lab}" for lab in self.labels_ for p in ("B", "I")]

    def rule_spans(self, text: str) -> list[tuple[int, int, str, float]]:
        """The de-identification rules' spans of ``text`` with this model's rule settings
        (the stacked model's input; ``[data] rule_keep_year``)."""
        from healthnn.privacy.deid import rule_spans

        return rule_spans(text, keep_year=self.config.data.rule_keep_year)

    def _token_features(self, text: str, toks: np.ndarray,
                        rules: list | None = None) -> np.ndarray:
        from healthnn.models.ner import meta_columns

        d = self.config.data
        C = d.max_chars
        M = meta_columns(d.rule_features)
        out = np.zeros((len(toks), M + C), dtype=np.int32)
        if d.rule_features:  # stacked model: rule tag ids and the unknown-word flag
            out[:, 3] = _rule_tags(self.rule_spans(text) if rules is None else rules, toks)
            out[:, 4] = [2 if _unknown_word(text[a:b]) else 1 for a, b in toks]
        lex = _lexicon() if d.lexicon else None
        prev_end = 0
        for i, (a, b) in enumerate(toks):
            w = text[a:b]
            out[i, 0] = self._word_index.get(self._norm(w), 1)
            out[i, 1] = _shape(w, "\n" in text[prev_end:a])
            lw = w.lower()
            out[i, 2] = 1 + (0 if lex is None else
                             (lw in lex.first_names) | (lw in lex.surnames) << 1
                             | (lw in lex.city_first) << 2 | (lw in lex.common) << 3)
            ci = self._char_index
            out[i, M:M + min(C, len(w))] = [ci.get(c, 1) for c in w[:C]]
            prev_end = b
        return out

    def encode_texts(self, texts: list[str], rules: list[list] | None = None) -> NerInputs:
        """Windows of token features for ``texts`` (any strings; an empty one has no tokens).
        ``rules``: the rules' spans of each text when the caller already has them (stacked
        model; computed here otherwise)."""
        from healthnn.models.ner import meta_columns

        d = self.config.data
        L = d.max_length
        M = meta_columns(d.rule_features)
        feats, offsets, tokens, starts = [], [0], [], []
        for i, text in enumerate(texts):
            toks = tokenize(text)
            f = self._token_features(text, toks, None if rules is None else rules[i])
            st = window_starts(len(toks), L, d.overlap)
            for s in st:
                w = np.zeros((L, M + d.max_chars), dtype=np.int32)
                chunk = f[s:s + L]
                w[:len(chunk)] = chunk
                feats.append(w)
            offsets.append(offsets[-1] + len(st))
            tokens.append(toks)
            starts.append(st)
        windows = (torch.from_numpy(np.stack(feats)) if feats
                   else torch.zeros((0, L, M + d.max_chars), dtype=torch.int32))
        return NerInputs(windows, np.asarray(offsets), tokens, starts)

    def encode(self, df: pd.DataFrame, file: Path) -> tuple[NerInputs, dict[int, str]]:
        col = "text" if "text" in df.columns and "spans" in df.columns else self.config.data.text
        if col not in df.columns:
            from healthnn.data.tables import require_columns

            require_columns(df, [col], file)
        texts, errors = [], {}
        for i, v in enumerate(df[col].tolist()):
            if isinstance(v, str):
                texts.append(v)
            elif v is None or (isinstance(v, float) and np.isnan(v)):
                texts.append("")  # an empty note has no spans
            else:
                errors[i] = f"column '{col}': not text ({type(v).__name__})"
                texts.append("")
        return self.encode_texts(texts), errors

    def _tag_windows(self, texts: Any, spans: Any) -> torch.Tensor:
        """``(W, L)`` gold tag ids of the windows of ``texts`` (-100 = padding)."""
        d = self.config.data
        L = d.max_length
        tag_id = {t: i for i, t in enumerate(self.tags_)}
        out = []
        for text, sp in zip(texts, spans, strict=True):
            toks = tokenize(text)
            tags = np.zeros(len(toks), dtype=np.int64)
            for s, e, lab in sp:
                if f"B-{lab}" not in tag_id:
                    continue  # a label never seen in training: nothing to learn from it
                inside = np.flatnonzero((toks[:, 0] < e) & (toks[:, 1] > s))
                if inside.size:
                    tags[inside] = tag_id[f"I-{lab}"]
                    tags[inside[0]] = tag_id[f"B-{lab}"]
            for st in window_starts(len(toks), L, d.overlap):
                w = np.full(L, -100, dtype=np.int64)
                chunk = tags[st:st + L]
                w[:len(chunk)] = chunk
                out.append(w)
        return torch.from_numpy(np.stack(out)) if out else torch.zeros((0, L), dtype=torch.long)

    def target_tensors(self, y: Labels) -> dict[str, torch.Tensor]:
        return {"tags": self._tag_windows(y["text"], y["spans"])}

    def batches(self, inputs: NerInputs, targets: dict[str, torch.Tensor], *, shuffle: bool,
                generator: torch.Generator | None = None, batch_size: int | None = None):
        return _WindowBatches(inputs.windows, targets.get("tags"),
                              batch_size or self.config.train.batch_size, shuffle=shuffle,
                              generator=generator, empty_windows=self.config.data.empty_windows)

    def subset(self, inputs: NerInputs, index: np.ndarray) -> NerInputs:
        index = np.asarray(index, dtype=np.int64)
        o = inputs.offsets
        rows = [np.arange(o[i], o[i + 1]) for i in index]
        flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        sizes = np.array([len(r) for r in rows], dtype=np.int64)
        return NerInputs(inputs.windows[torch.from_numpy(flat)],
                         np.concatenate([[0], np.cumsum(sizes)]),
                         [inputs.tokens[i] for i in index], [inputs.starts[i] for i in index])

    # -- model -------------------------------------------------------------------------------
    def in_features(self) -> int:
        return len(self.vocab_) + 2

    def out_features(self) -> int:
        return len(self.tags_)

    def build_model(self):
        spec = self.model_spec
        extra = {"rule_features": True} if self.config.data.rule_features else {}
        model = spec.builder(self.in_features(), self.out_features(), n_chars=len(self.chars_) + 2,
                             **extra, **self.config.model.params)
        self._crf = getattr(model, "crf", None)  # [model] crf: the loss and decoding use it
        return model

    def loss(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        weight = None
        if self.config.data.o_weight != 1.0:
            weight = torch.ones(outputs.shape[-1], device=outputs.device, dtype=outputs.dtype)
            weight[0] = self.config.data.o_weight
        tags = targets["tags"].to(outputs.device)
        ce = F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), tags.reshape(-1),
                             weight=weight, ignore_index=-100)
        if self._crf is None:
            return ce
        # [model] crf: the CRF's negative log-likelihood per token, plus the (o_weight-weighted)
        # token cross-entropy that keeps the emission scores calibrated for span scores
        mask = tags != -100
        with torch.set_grad_enabled(outputs.requires_grad):  # validation loss: no graph
            nll = self._crf.nll(outputs.float(), tags, mask).sum() / mask.sum().clamp_min(1)
        return nll + ce

    def score(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
        """Token F1 of the entity tags (argmax, label without B/I) for monitoring."""
        pred = outputs.argmax(-1)
        gold = targets["tags"]
        valid = gold != -100
        ent = lambda t: torch.div(t + 1, 2, rounding_mode="floor")  # noqa: E731 - label index
        pl, gl = ent(pred)[valid], ent(gold)[valid]
        tp = int(((pl == gl) & (gl > 0)).sum())
        fp = int(((pl > 0) & (pl != gl)).sum())
        fn = int(((gl > 0) & (pl != gl)).sum())
        return {"token_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")}

    # -- decoding ----------------------------------------------------------------------------
    def _transitions(self) -> tuple[np.ndarray, np.ndarray]:
        K = len(self.tags_)
        allowed = np.ones((K, K), dtype=bool)
        start = np.ones(K, dtype=bool)
        for j in range(len(self.labels_)):
            i_tag = 2 + 2 * j
            allowed[:, i_tag] = False
            allowed[1 + 2 * j, i_tag] = allowed[i_tag, i_tag] = True
            start[i_tag] = False
        return allowed, start

    def decode(self, outputs: torch.Tensor, inputs: NerInputs
               ) -> list[list[tuple[int, int, str, float]]]:
        """Spans ``(start, end, label, score)`` of each document from its windows' logits."""
        from healthnn.metrics.spans import bio_to_spans

        if outputs.shape[0] != inputs.windows.shape[0]:
            raise RuntimeError(f"{outputs.shape[0]} window outputs for "
                               f"{inputs.windows.shape[0]} windows")
        lengths = [len(t) for t in inputs.tokens]
        if (self._decoded is not None and self._decoded[0] is outputs
                and self._decoded[1] == lengths):
            return self._decoded[2]  # evaluate() and the report decode the same tensor
        logp = torch.log_softmax(outputs.float(), -1).numpy()
        allowed, start_ok = self._transitions()
        trans = np.where(allowed, 0.0, -1e9).astype(np.float32)
        first = np.where(start_ok, 0.0, -1e9).astype(np.float32)
        last = None
        emissions = logp
        if self._crf is not None:  # [model] crf: its emission and transition scores decide
            with torch.no_grad():
                t_, s_, e_ = (v.detach().cpu().float().numpy() for v in self._crf.scores())
            trans, first, last = trans + t_, first + s_, e_
            emissions = outputs.detach().cpu().float().numpy()
        per_doc, per_doc_em = [], []
        for d, (toks, starts) in enumerate(zip(inputs.tokens, inputs.starts, strict=True)):
            T = len(toks)
            lp = np.zeros((T, logp.shape[-1]), dtype=np.float32)
            em = np.zeros((T, logp.shape[-1]), dtype=np.float32) if last is not None else lp
            best = np.full(T, np.inf)
            for k, s in enumerate(starts):
                n = min(self.config.data.max_length, T - s)
                if n <= 0:
                    continue
                pos = np.arange(s, s + n)
                dist = np.abs(pos - (s + (n - 1) / 2))
                better = dist < best[pos]
                lp[pos[better]] = logp[inputs.offsets[d] + k, :n][better]
                if last is not None:
                    em[pos[better]] = emissions[inputs.offsets[d] + k, :n][better]
                best[pos[better]] = dist[better]
            per_doc.append(lp)
            per_doc_em.append(em)
        paths = _viterbi_many(per_doc_em, trans, first, last=last)
        result = []
        for toks, lp, path in zip(inputs.tokens, per_doc, paths, strict=True):
            if len(toks) == 0:
                result.append([])
                continue
            probs = np.exp(lp[np.arange(len(toks)), path])
            tags = [self.tags_[t] for t in path]
            result.append([(int(toks[a, 0]), int(toks[b - 1, 1]), lab,
                            round(float(probs[a:b].mean()), 4))
                           for a, b, lab in bio_to_spans(tags)])
        self._decoded = (outputs, lengths, result)  # holds the tensor: identity stays valid
        return result

    # -- operating point (issue 3) -------------------------------------------------------------
    def _decode_texts(self, outputs: torch.Tensor, texts: list[str]) -> list[list]:
        L, ov = self.config.data.max_length, self.config.data.overlap
        tokens = [tokenize(t) for t in texts]
        starts = [window_starts(len(t), L, ov) for t in tokens]
        sizes = np.array([len(s) for s in starts], dtype=np.int64)
        inputs = NerInputs(torch.zeros((outputs.shape[0], 1, 1)),
                           np.concatenate([[0], np.cumsum(sizes)]), tokens, starts)
        return self.decode(outputs, inputs)

    def fit_operating_point(self, outputs: torch.Tensor, y: Labels, y_train: Labels
                            ) -> dict[str, Any] | None:
        """``[data] target_precision`` > 0: the operating point of ``healthnn deid --ner``,
        chosen on the validation documents (never the test split): the combination (the
        rules' spans united with the NER's, ``union``, or, with ``[data] target_combine =
        "auto"``, also the NER's alone, ``ner``) and the lowest NER span score kept (0 to 1 in steps of 0.01) with the highest validation token
        recall among those whose validation token precision is at least the target (ties: the
        higher precision). Tokens are runs of letters or digits, any label counts (the scoring
        of the PhysioNet benchmark). If no choice reaches the target, the most precise one is
        kept and ``met`` is false. Kept as ``operating_point_`` and saved in the bundle."""
        target = self.config.data.target_precision
        if target <= 0 or outputs.shape[0] == 0:
            return None
        texts = [str(t) for t in y["text"]]
        ner = self._decode_texts(outputs, texts)
        table = _operating_table(texts, [list(g) for g in y["spans"]],
                                 [self.rule_spans(t) for t in texts], ner)
        if self.config.data.target_combine == "union":  # recall first: never drop the rules
            table = table[table["combine"] != "ner"]
        op = choose_operating_point(table, target)
        op.update(documents=len(texts), rule_keep_year=bool(self.config.data.rule_keep_year))
        self.operating_point_ = op
        return op

    def operating_summary(self, op: dict[str, Any], outputs: torch.Tensor, y: Labels
                          ) -> dict[str, Any]:
        """What the validation-chosen operating point gives on the test documents."""
        texts = [str(t) for t in y["text"]]
        if not texts or outputs.shape[0] == 0:
            return {**op, "test": {}}
        table = _operating_table(texts, [list(g) for g in y["spans"]],
                                 [self.rule_spans(t) for t in texts],
                                 self._decode_texts(outputs, texts), scores=[op["min_score"]])
        row = table[table["combine"] == op["combine"]].iloc[0]
        return {**op, "test": {"precision": _r(row["precision"]), "recall": _r(row["recall"]),
                               "documents": len(texts)}}

    def span_finder(self, bundle: Any, *, deid: bool = False,
                    min_score: float | None = 0.0) -> NerTagger:
        """The bundle as a span finder for :class:`healthnn.privacy.deid.Deidentifier`."""
        return NerTagger(bundle, deid=deid, min_score=min_score)

    # -- outputs -----------------------------------------------------------------------------
    def predictions(self, outputs: torch.Tensor) -> pd.DataFrame:
        """Spans need the windows the outputs were computed from: use :meth:`predictions_for`
        (the pipeline and the server always do; no state is kept between batches)."""
        if outputs.shape[0] == 0:
            return self._span_frame([])
        raise RuntimeError("NER predictions need the windows they were computed from: "
                           "call predictions_for(inputs, outputs)")

    def predictions_for(self, inputs: NerInputs, outputs: torch.Tensor) -> pd.DataFrame:
        if outputs.shape[0] == 0:
            return self._span_frame([[] for _ in inputs.tokens])
        return self._span_frame(self.decode(outputs, inputs))

    @staticmethod
    def _span_frame(docs: list) -> pd.DataFrame:
        if not docs:
            return pd.DataFrame({"spans": pd.Series([], dtype=object),
                                 "n_spans": pd.Series([], dtype=np.int64)})
        return pd.DataFrame({
            "spans": [json.dumps([{"start": s, "end": e, "label": lab, "score": sc}
                                  for s, e, lab, sc in doc]) for doc in docs],
            "n_spans": [len(doc) for doc in docs],
        })

    def write_predictions(self, result: pd.DataFrame, out: Path) -> None:
        """``.jsonl``: one line per document (``row``, ``id`` if any, ``spans`` as a list,
        ``error``; not the text); other suffixes: the table with ``spans`` as JSON text."""
        out = Path(out)
        if out.suffix.lower() not in (".jsonl", ".ndjson"):
            super().write_predictions(result, out)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        from healthnn.io import atomic_write

        with atomic_write(out) as fh:
            for i, rec in enumerate(result.to_dict("records")):
                line: dict[str, Any] = {"row": i + 1}
                if "id" in rec:
                    line["id"] = None if pd.isna(rec["id"]) else str(rec["id"])
                spans = rec.get("spans")
                line["spans"] = json.loads(spans) if isinstance(spans, str) else []
                line["error"] = rec.get("error", "")
                fh.write(json.dumps(line) + "\n")

    def _counts(self, outputs: torch.Tensor, y: Labels) -> tuple[np.ndarray, np.ndarray, list[str]]:
        from healthnn.metrics.spans import span_counts, token_counts

        texts = list(y["text"])
        inputs = NerInputs(torch.zeros((outputs.shape[0], 1, 1)), np.zeros(1), [], [])
        L, ov = self.config.data.max_length, self.config.data.overlap
        tokens = [tokenize(t) for t in texts]
        starts = [window_starts(len(t), L, ov) for t in tokens]
        sizes = [len(s) for s in starts]
        inputs = NerInputs(inputs.windows, np.concatenate([[0], np.cumsum(sizes)]), tokens, starts)
        pred = self.decode(outputs, inputs)
        gold = [list(g) for g in y["spans"]]
        labels = sorted({*self.labels_, *(s[2] for g in gold for s in g)})
        sc = np.stack([span_counts(g, [p[:3] for p in pr], labels)
                       for g, pr in zip(gold, pred, strict=True)])
        tc = np.stack([token_counts(g, [p[:3] for p in pr], t, labels)
                       for g, pr, t in zip(gold, pred, tokens, strict=True)])
        return sc, tc, labels

    def evaluate(self, outputs: torch.Tensor, y: Labels, *, seed: int = 0
                 ) -> dict[str, dict[str, float]]:
        from healthnn.metrics.spans import prf_from_counts

        sc, tc, labels = self._counts(outputs, y)

        def fn(s: np.ndarray, t: np.ndarray) -> dict[str, float]:
            out: dict[str, float] = {}
            for prefix, c in (("span_", s.sum(0)), ("token_", t.sum(0))):
                p, r, f = prf_from_counts(*c.sum(0))
                out.update({f"{prefix}f1": f, f"{prefix}precision": p, f"{prefix}recall": r})
            s_sum = s.sum(0)
            for k, lab in enumerate(labels):
                p, r, f = prf_from_counts(*s_sum[k])
                out.update({f"span_f1_{lab}": f, f"span_precision_{lab}": p,
                            f"span_recall_{lab}": r})
            return out

        return self._bootstrap(fn, [sc, tc], seed=seed)

    # -- report ------------------------------------------------------------------------------
    def report_sections(self, outputs: torch.Tensor, y: Labels, *, seed: int = 0
                        ) -> list[dict[str, Any]]:
        from healthnn.metrics.spans import prf_from_counts

        sc, tc, labels = self._counts(outputs, y)
        s, t = sc.sum(0), tc.sum(0)
        rows = []
        for k, lab in enumerate(labels):
            p, r, f = prf_from_counts(*s[k])
            tp_, tr_, tf_ = prf_from_counts(*t[k])
            rows.append([lab, int(s[k, 0] + s[k, 2]), int(s[k, 0] + s[k, 1]), _r(p), _r(r),
                         _r(f), _r(tr_), _r(tf_)])
        p, r, f = prf_from_counts(*s.sum(0))
        tp_, tr_, tf_ = prf_from_counts(*t.sum(0))
        rows.append(["all (micro)", int(s[:, 0].sum() + s[:, 2].sum()),
                     int(s[:, 0].sum() + s[:, 1].sum()), _r(p), _r(r), _r(f), _r(tr_), _r(tf_)])
        return [{
            "id": "ner_labels", "title": "Entities by label",
            "text": "Strict span matching (exact start, end and label) and token-level recall and "
                    "F1 on these documents. Gold: annotated spans; predicted: spans the model "
                    "found.",
            "notes": [], "plots": [{"kind": "bars", "title": "Span F1 by label", "xlabel": "F1",
                                    "bars": [{"label": row[0], "value": row[5]}
                                             for row in rows[:-1] if row[5] is not None]}],
            "tables": [{"title": "Per-label metrics",
                        "columns": ["label", "gold spans", "predicted spans", "span precision",
                                    "span recall", "span F1", "token recall", "token F1"],
                        "rows": rows}],
        }]

    def report_facts(self) -> dict[str, Any]:
        d = self.config.data
        st = self.token_stats_ or {}
        return {
            "outcome": f"labelled spans of text, {len(self.labels_)} labels: "
                       + ", ".join(self.labels_),
            "kind": "named-entity recognition (token tagging)",
            "input": "one free-text document",
            "output": "spans (start and end character offsets into the document, label, score)",
            "predictors": [f"word tokens (vocabulary {st.get('vocab_size')}), their characters, "
                           "word shape" + (" and membership of bundled name and place lists"
                                           if d.lexicon else "")],
            "missing_data": "an empty document has no spans",
            "preprocessing": f"windows of {d.max_length} tokens overlapping by {d.overlap}",
        }

    def input_schema(self) -> dict[str, Any]:
        col = self.config.data.text
        return {"kind": "text", "column": col, "columns": [{"name": col, "type": "string"}],
                "rows": True, "upload": True, "accept": [".csv", ".tsv", ".parquet", ".jsonl"]}

    def deid_label(self, label: str) -> str:
        """The de-identification tag of an NER label (see the module docstring)."""
        from healthnn.privacy.deid import LABELS

        mapping = self.config.data.deid_labels or {}
        if label in mapping:
            return mapping[label]
        if label in DEID_LABELS:
            return DEID_LABELS[label]
        return label.upper() if label.upper() in LABELS else label

    # -- persistence -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"labels": self.labels_, "vocab": self.vocab_, "chars": self.chars_,
                "label_counts": self.label_counts_, "token_stats": self.token_stats_,
                "deid_labels": {lab: self.deid_label(lab) for lab in self.labels_}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.labels_ = list(state["labels"])
        self.vocab_ = list(state["vocab"])
        self.chars_ = list(state["chars"])
        self.label_counts_ = dict(state.get("label_counts", {}))
        self.token_stats_ = dict(state.get("token_stats", {}))
        saved = state.get("deid_labels") or {}
        if saved and not self.config.data.deid_labels:
            self.config.data.deid_labels = dict(saved)
        self._index()


class NerTagger:
    """A trained NER bundle as a span finder (used by :class:`healthnn.privacy.deid.Deidentifier`).

    ``find(text)`` returns ``[(start, end, label, score), ...]`` with offsets into ``text``;
    ``find_many(texts)`` does a batch. ``deid=True`` maps labels to de-identification tags.
    ``o_bias`` > 0 lowers the logit of the 'O' (no entity) tag before decoding: more spans
    found, recall before precision. ``min_score`` keeps only spans scoring at least this
    (``None``: the bundle's validation-chosen operating point, ``[data] target_precision``,
    else 0).

    A stacked bundle (``[data] rule_features``) computes the de-identification rules' spans of
    each text with the settings saved in the bundle; a caller that already has them (with
    those settings) passes them as ``rules``.
    """

    def __init__(self, bundle: str | Path, *, key: bytes | None = None, deid: bool = False,
                 batch_size: int = 64, o_bias: float = 0.0,
                 min_score: float | None = 0.0) -> None:
        from healthnn.bundle import Bundle, load_bundle

        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, key=key)
        if not isinstance(self.bundle.task, NerTask):
            from healthnn.errors import BundleError

            raise BundleError(f"not an NER bundle (task '{self.bundle.config.task}')",
                              file=str(bundle), hint="train one with task = \"ner\"")
        self.deid = deid
        self.batch_size = batch_size
        self.o_bias = float(o_bias)
        op = self.operating_point
        self.min_score = float(min_score if min_score is not None
                               else (op["min_score"] if op else 0.0))
        self.model = self.bundle.model.cpu().eval()

    @property
    def operating_point(self) -> dict[str, Any] | None:
        """The bundle's validation-chosen operating point (``[data] target_precision``)."""
        op = self.bundle.task.operating_point_
        return op if op and op.get("kind") == "ner" else None

    @property
    def rule_features(self) -> bool:
        """True for a stacked model (the rules' spans are among its inputs)."""
        return bool(self.bundle.task.config.data.rule_features)

    @property
    def rule_keep_year(self) -> bool:
        return bool(self.bundle.task.config.data.rule_keep_year)

    @torch.no_grad()
    def find_many(self, texts: list[str], rules: list[list] | None = None
                  ) -> list[list[tuple[int, int, str, float]]]:
        task: NerTask = self.bundle.task
        inputs = task.encode_texts(list(texts), rules if self.rule_features else None)
        if inputs.windows.shape[0] == 0:
            return [[] for _ in texts]
        outs = [self.model(inputs.windows[i:i + self.batch_size])
                for i in range(0, inputs.windows.shape[0], self.batch_size)]
        logits = torch.cat(outs).float()
        if self.o_bias:
            logits[..., 0] -= self.o_bias
        docs = task.decode(logits, inputs)
        if self.min_score > 0:
            docs = [[sp for sp in d if sp[3] >= self.min_score] for d in docs]
        if self.deid:
            docs = [[(s, e, task.deid_label(lab), sc) for s, e, lab, sc in d] for d in docs]
        return docs

    def find(self, text: str, rules: list | None = None) -> list[tuple[int, int, str, float]]:
        return self.find_many([text], None if rules is None else [rules])[0]


# -- helpers -----------------------------------------------------------------------------------
def _r(v: float) -> float | None:
    return None if v != v else round(float(v), 4)


SCORE_GRID = np.round(np.arange(0, 101) / 100, 2)


def choose_operating_point(table: pd.DataFrame, target: float) -> dict[str, Any]:
    """The row of :func:`_operating_table` with the highest recall among those with precision
    at least ``target`` and recall at least the rules' alone (ties: higher precision, then
    higher score); if none qualifies, the most precise rules ∪ NER row (``met`` false), so the
    choice never finds less on validation than the rules alone.

    (The floor was added after the first 5-fold benchmark run, in which one fold's union never
    reached the target on validation and the most precise choice was the NER alone, with far
    lower recall; see BENCHMARKS.md.)
    """
    rules = table[table["combine"] == "rules"]
    floor = float(rules["recall"].iloc[0]) if len(rules) else 0.0
    cand = table[table["combine"] != "rules"]
    ok = cand[(cand["precision"] >= target) & ~(cand["recall"] < floor - 1e-12)]
    met = len(ok) > 0
    if met:
        best = ok.sort_values(["recall", "precision", "min_score"], ascending=False).iloc[0]
    else:
        pool = cand[cand["combine"] == "union"] if (cand["combine"] == "union").any() else cand
        best = pool.sort_values(["precision", "recall"], ascending=False).iloc[0]
    return {"kind": "ner", "rule": f"token precision >= {target:g} on validation",
            "combine": str(best["combine"]), "min_score": float(best["min_score"]),
            "threshold": float(best["min_score"]), "target_precision": float(target),
            "met": bool(met), "precision": _r(best["precision"]), "recall": _r(best["recall"]),
            "chosen_on": "val"}


def _operating_table(texts: list[str], gold: list[list], rules: list[list], ner: list[list],
                     scores: Any = SCORE_GRID) -> pd.DataFrame:
    """Token precision and recall of rules ∪ NER (``union``) and of the NER alone (``ner``)
    keeping the NER spans that score at least each of ``scores``, and of the rules alone
    (``rules``, last row). A token is a run of letters
    or digits; a gold token is recalled when a kept span overlaps it, a predicted token is
    correct when a gold span overlaps it (labels ignored).

    >>> t = ["Seen by Dr Smith on 3/14."]
    >>> tab = _operating_table(t, [[(11, 16, "HCPName"), (20, 24, "Date")]],
    ...                        [[(20, 24, "DATE", 0.9)]], [[(11, 16, "NAME", 0.6), (0, 4, "NAME", 0.3)]],
    ...                        scores=[0.0, 0.5])
    >>> tab.round(3).to_dict("records")[:2]
    [{'combine': 'union', 'min_score': 0.0, 'precision': 0.75, 'recall': 1.0}, {'combine': 'union', 'min_score': 0.5, 'precision': 1.0, 'recall': 1.0}]
    """
    g_all, r_all, s_all = [], [], []
    for text, g, r, n in zip(texts, gold, rules, ner, strict=True):
        toks = tokenize(text)
        if not len(toks):
            continue
        toks = toks[np.array([text[a].isalnum() for a, _ in toks], dtype=bool)]
        a, b = toks[:, 0], toks[:, 1]

        def cover(spans: list) -> np.ndarray:
            m = np.zeros(len(toks), dtype=bool)
            for s, e, *_ in spans:
                m |= (a < e) & (b > s)
            return m

        best = np.full(len(toks), -1.0)
        for s, e, _lab, sc in n:
            over = (a < e) & (b > s)
            best[over] = np.maximum(best[over], sc)
        g_all.append(cover(g))
        r_all.append(cover(r))
        s_all.append(best)
    G = np.concatenate(g_all) if g_all else np.zeros(0, dtype=bool)
    R = np.concatenate(r_all) if r_all else np.zeros(0, dtype=bool)
    S = np.concatenate(s_all) if s_all else np.zeros(0)
    rows = []
    for combine in ("union", "ner"):
        for t in scores:
            P = (S >= t) & (S >= 0)
            if combine == "union":
                P = P | R
            tp = int((P & G).sum())
            rows.append({"combine": combine, "min_score": float(t),
                         "precision": tp / P.sum() if P.sum() else float("nan"),
                         "recall": tp / G.sum() if G.sum() else float("nan")})
    tp = int((R & G).sum())  # the rules alone: the floor of choose_operating_point
    rows.append({"combine": "rules", "min_score": float("nan"),
                 "precision": tp / R.sum() if R.sum() else float("nan"),
                 "recall": tp / G.sum() if G.sum() else float("nan")})
    return pd.DataFrame(rows)


def _lexicon():
    from healthnn.privacy.deid import word_lists

    return word_lists()[0]


def _rule_tags(rules: list, toks: np.ndarray) -> np.ndarray:
    """Per token: 1 outside every rule span, ``2 + 2i`` (B) / ``3 + 2i`` (I) inside a span of
    the i-th de-identification label (a label the rules do not list counts as ID).

    >>> _rule_tags([(3, 12, "DATE", 0.9)], tokenize("on 3/14/2020 ok")).tolist()
    [1, 4, 5, 5, 5, 5, 1]
    """
    from healthnn.privacy.deid import LABELS

    out = np.ones(len(toks), dtype=np.int32)
    if not len(toks):
        return out
    for s, e, lab, *_ in rules:
        i = LABELS.index(lab) if lab in LABELS else LABELS.index("ID")
        inside = np.flatnonzero((toks[:, 0] < e) & (toks[:, 1] > s))
        if inside.size:
            out[inside] = 3 + 2 * i
            out[inside[0]] = 2 + 2 * i
    return out


def _unknown_word(w: str) -> bool:
    """An alphabetic token of two or more letters in none of the bundled English-word and
    clinical-word lists (the allow-list idea of Philter, Norgeot et al. 2020).

    >>> _unknown_word("Xylophonia"), _unknown_word("heparin"), _unknown_word("the"), _unknown_word("12")
    (True, False, False, False)
    """
    if len(w) < 2 or not w.isalpha():
        return False
    from healthnn.privacy.deid import word_lists

    lex, clinical = word_lists()
    lw = w.lower()
    return lw not in lex.common and lw not in clinical


def _shape(w: str, line_start: bool) -> int:
    """1-6 (lower, Title, UPPER, mixed letters, digits, other) + 6 after a line break."""
    if w.isdigit():
        base = 5
    elif not w[0].isalpha():
        base = 6
    elif w.islower():
        base = 1
    elif w.isupper():
        base = 3
    elif w[0].isupper() and w[1:].islower():
        base = 2
    else:
        base = 4
    return base + (6 if line_start else 0)


def _viterbi(lp: np.ndarray, trans: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Best tag path of one sequence under the allowed transitions (log scores)."""
    return _viterbi_many([lp], trans, first)[0]


def _viterbi_many(lps: list[np.ndarray], trans: np.ndarray, first: np.ndarray,
                  chunk: int = 64, last: np.ndarray | None = None) -> list[np.ndarray]:
    """Best tag paths of many sequences, decoded together in chunks of similar length
    (``last``: scores added at each sequence's end, a CRF's end scores)."""
    out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(lps)
    order = sorted(range(len(lps)), key=lambda i: len(lps[i]))
    order = [i for i in order if len(lps[i])]
    K = trans.shape[0]
    for c in range(0, len(order), chunk):
        idx = order[c:c + chunk]
        lengths = np.array([len(lps[i]) for i in idx])
        B, T = len(idx), int(lengths.max())
        lp = np.zeros((B, T, K), dtype=np.float32)
        for b, i in enumerate(idx):
            lp[b, :lengths[b]] = lps[i]
        back = np.zeros((T, B, K), dtype=np.int16 if K < 32000 else np.int64)
        score = lp[:, 0] + first
        final = np.zeros((B, K), dtype=np.float32)
        ends = lengths == 1
        final[ends] = score[ends]
        for t in range(1, T):
            cand = score[:, :, None] + trans  # (B, from, to)
            arg = cand.argmax(1)
            back[t] = arg
            score = np.take_along_axis(cand, arg[:, None, :], 1)[:, 0] + lp[:, t]
            ends = lengths == t + 1
            final[ends] = score[ends]
        if last is not None:
            final = final + last
        best_last = final.argmax(1)
        cur = np.zeros(B, dtype=np.int64)
        paths = np.zeros((B, T), dtype=np.int64)
        for t in range(T - 1, -1, -1):  # backtrack every sequence from its own last token
            active = lengths - 1 >= t
            cur = np.where(lengths - 1 == t, best_last, cur)
            paths[active, t] = cur[active]
            if t > 0:
                cur = np.where(active, back[t, np.arange(B), cur], cur)
        for b, i in enumerate(idx):
            out[i] = paths[b, :lengths[b]]
    return out
