"""Text classification of clinical notes and abstracts: multi-class or multi-label.

Inputs: CSV, TSV, Parquet, JSONL or JSON with a text column (``[data] text``, default ``text``)
and a label column (``[data] target``, default ``label``). Multi-label (``multilabel = true``):
a JSON list per row (JSONL/Parquet) or labels joined by ``label_sep`` (CSV, default ``|``).

Pipeline: (de-identify) -> a word-level (default), WordPiece or BPE tokenizer trained on the
training texts -> token ids
(truncated to ``max_length``) -> ``bigru_attention`` or ``text_transformer``. A TF-IDF +
logistic regression baseline is trained on the same training rows and evaluated on the same
test rows (``test_baseline_tfidf`` in metrics.json; :mod:`healthnn.text.baseline`). The
tokenizer and the baseline are saved as JSON in the bundle's task.json; ``Bundle.predict(df)`` takes a DataFrame with the text column.

Rows with an empty text are left out of training (named in the notes) and get an ``error`` at
prediction; texts longer than ``max_length`` tokens use their first ``max_length`` tokens.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from healthnn.config import Config
from healthnn.data.tables import require_columns, write_table
from healthnn.errors import BundleError, ConfigError, DataError
from healthnn.io import write_text
from healthnn.tasks.base import Labels
from healthnn.tasks.tabular import ClassificationTask, label_text, natural_key

__all__ = ["TextData", "TextClassificationTask"]

_SHOW = 5
_MULTILABEL_MONITORS = ("val_loss", "f1_micro", "f1_macro", "auroc_macro")


@dataclass
class TextData:
    """``[data]`` for ``task = "text_classification"``."""

    train: str
    test: str | None = None
    text: str = "text"
    target: str = "label"
    multilabel: bool = False
    label_sep: str = "|"
    id: str | None = None
    group: str | None = None
    positive: str | None = None
    # wordlevel repeats exactly; HF's wordpiece/bpe trainers break ties in hash order (#1794)
    tokenizer: Literal["wordlevel", "wordpiece", "bpe"] = "wordlevel"
    vocab_size: int = 8000
    min_frequency: int = 2
    lowercase: bool = True
    max_length: int = 256
    deidentify: bool = False
    deid_mode: Literal["tag", "mask"] = "tag"
    deid_ner: str | None = None  # a task = "ner" bundle whose spans join the rules' spans
    deid_ner_min_score: float | None = None  # None: the NER bundle's validation-chosen point
    baseline: bool = True


class TextClassificationTask(ClassificationTask):
    """Classify documents (notes, abstracts) into one class or a set of labels."""

    name = "text_classification"
    DataConfig = TextData
    default_model = "bigru_attention"
    path_fields = ("train", "test", "deid_ner")
    pretraining = "masked_tokens"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.tokenizer_ = None
        self._deid = None
        self._deid_cache: OrderedDict[str, str] = OrderedDict()
        self._read_notes: list[str] = []
        self._baseline = None
        self.hf_config_: dict[str, Any] | None = None
        self._hf_pending = False

    # -- config ------------------------------------------------------------------------------
    @classmethod
    def check_config(cls, config: Config) -> None:
        d, src = config.data, config.source
        if d.text == d.target:
            raise ConfigError("the text and the label column must differ", file=src,
                              key="data.target")
        for key, lo in (("vocab_size", 16), ("max_length", 1), ("min_frequency", 1)):
            if getattr(d, key) < lo:
                raise ConfigError(f"must be at least {lo}", file=src, key=f"data.{key}")
        if not d.label_sep:
            raise ConfigError("must not be empty", file=src, key="data.label_sep")
        limit = config.model.params.get("max_positions")
        if limit is not None and d.max_length > limit:
            raise ConfigError(f"max_length {d.max_length} exceeds the model's max_positions "
                              f"{limit}", file=src, key="data.max_length",
                              hint="lower max_length or raise [model] max_positions")
        if config.model.name == "hf_local" and not config.model.params.get("path"):
            raise ConfigError("model 'hf_local' needs path: a local Hugging Face checkpoint "
                              "folder", file=src, key="model.path",
                              hint="a folder with config.json, the weights and tokenizer.json")
        if d.deid_ner is not None and not d.deidentify:
            raise ConfigError("deid_ner adds a NER model to de-identification, which is off",
                              file=src, key="data.deid_ner", hint="set deidentify = true")
        if d.deid_ner_min_score is not None and not 0.0 <= d.deid_ner_min_score <= 1.0:
            raise ConfigError("must be between 0 and 1", file=src, key="data.deid_ner_min_score")
        if config.train.privacy is not None:
            raise ConfigError("differentially private training is not available for text "
                              "models yet", file=src, key="train.privacy")
        if config.split.method == "group" and not d.group:
            raise ConfigError("split.method = 'group' needs [data] group", file=src,
                              key="split.method")
        if d.multilabel:
            if d.positive is not None:
                raise ConfigError("positive is for single-label binary targets", file=src,
                                  key="data.positive")
            if config.train.monitor not in _MULTILABEL_MONITORS:
                raise ConfigError(f"cannot monitor {config.train.monitor!r} for multi-label",
                                  file=src, key="train.monitor",
                                  hint=f"use one of: {', '.join(_MULTILABEL_MONITORS)}")
        else:
            cls._check_monitor(config)

    @property
    def multilabel(self) -> bool:
        return bool(self.config.data.multilabel)

    # -- reading -----------------------------------------------------------------------------
    def target_columns(self) -> list[str]:
        return [self.config.data.target]

    def read(self, path: Path) -> pd.DataFrame:
        from healthnn.text.io import read_documents

        d = self.config.data
        df, notes = read_documents(path, text_column=d.text)
        require_columns(df, [d.text, d.target] + [c for c in (d.id, d.group) if c], path)
        self._read_notes += notes
        return df

    def read_inputs(self, path: Path) -> pd.DataFrame:
        from healthnn.text.io import read_documents

        df, notes = read_documents(path, text_column=self.config.data.text)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return df

    def labels(self, df: pd.DataFrame, file: Path) -> tuple[Labels, np.ndarray]:
        col = self.config.data.target
        if col not in df.columns:
            raise DataError("column not found", file=str(file), column=col,
                            hint="labelled documents need a label column ([data] target)")
        if not self.multilabel:
            return super().labels(df, file)
        values, ok = [], []
        for i, v in enumerate(df[col].tolist()):
            labels = _parse_labels(v, self.config.data.label_sep, file=file, row=i + 1, col=col)
            ok.append(labels is not None)
            values.append("" if labels is None else "|".join(labels))
        return {col: np.asarray(values, dtype=object)}, np.asarray(ok, dtype=bool)

    def strata(self, y: Labels) -> np.ndarray | None:
        return None if self.multilabel else super().strata(y)

    def groups(self, df: pd.DataFrame) -> np.ndarray | None:
        g = self.config.data.group
        return None if g is None else df[g].astype(str).to_numpy()

    def row_ids(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.config.data.id and self.config.data.id in df.columns:
            return df[[self.config.data.id]].copy()
        return pd.DataFrame(index=df.index)

    def texts_of(self, df: pd.DataFrame) -> list[str]:
        """The notes of ``df`` (``[data] text``) as strings."""
        from healthnn.text.io import text_values

        return text_values(df[self.config.data.text])

    def usable_rows(self, df: pd.DataFrame, y: Labels, ok: np.ndarray,
                    file: Path) -> tuple[np.ndarray, list[str]]:
        notes, self._read_notes = list(self._read_notes), []
        empty = np.array([not t.strip() for t in self.texts_of(df)], dtype=bool)
        if empty.all():
            raise DataError("every text is empty", file=str(file), column=self.config.data.text,
                            hint="check [data] text names the column that holds the notes")
        if empty.any():
            rows = (np.flatnonzero(empty) + 1).tolist()
            notes.append(f"{file}: {len(rows)} row(s) with an empty '{self.config.data.text}' "
                         f"left out of training and evaluation: rows {_rows(rows)}")
        return ~empty, notes

    # -- preprocessing -----------------------------------------------------------------------
    def prepared_texts(self, texts: list[str]) -> list[str]:
        """De-identified texts when ``[data] deidentify`` is on.

        The last ``_DEID_CACHE`` texts are memoised (training reads each text several times);
        the NER model of ``deid_ner``, if any, runs on the texts not in the cache as a batch.
        """
        d = self.config.data
        if not d.deidentify:
            return texts
        if self._deid is None:
            from healthnn.privacy.deid import Deidentifier

            ner = None
            if d.deid_ner is not None:
                ner = self._deid_ner_path()
                _check_ner_bundle(ner, (getattr(self, "deid_info_", None) or {}).get("ner"))
            self._deid = Deidentifier(mode=d.deid_mode, ner=ner,
                                      ner_min_score=d.deid_ner_min_score)
            self._deid_ner_settings = None if self._deid.ner is None else {
                "min_score": self._deid.ner.min_score, "combine": self._deid.ner_combine}
        cache = self._deid_cache
        todo = list(dict.fromkeys(t for t in texts if t not in cache and t.strip()))
        for i in range(0, len(todo), 256):
            chunk = todo[i:i + 256]
            for t, spans in zip(chunk, self._deid.find_many(chunk), strict=True):
                cache[t] = self._deid.replace(t, spans)
        out = []
        for t in texts:
            if t.strip():
                out.append(cache[t])
                cache.move_to_end(t)
            else:
                out.append(t)
        while len(cache) > max(_DEID_CACHE, len(texts)):
            cache.popitem(last=False)
        return out

    def _deid_ner_path(self) -> Path:
        return self.config.resolve(self.config.data.deid_ner)

    def _pretrained_tokenizer(self) -> Path | None:
        """``tokenizer.json`` of a ``healthnn pretrain`` folder named by ``[model] init``."""
        init = self.config.model.init
        if not init:
            return None
        path = self.config.resolve(init)
        return path / "tokenizer.json" if (path / "tokenizer.json").is_file() else None

    def fit(self, df: pd.DataFrame, y: Labels, file: Path) -> list[str]:
        from healthnn.text.tokenizer import TextTokenizer

        d = self.config.data
        self._fit_classes(y, file)
        notes = []
        raw = self.texts_of(df)
        texts = self.prepared_texts(raw)
        if d.deidentify:
            changed = sum(a != b for a, b in zip(raw, texts, strict=True))
            self.deid_info_ = {"engine": "healthnn.privacy.deid.Deidentifier",
                               "mode": d.deid_mode, "keep_year": True,
                               "training_texts_changed": int(changed),
                               "ner": None if d.deid_ner is None else {
                                   "bundle": str(self._deid_ner_path().resolve()),
                                   **_ner_bundle_fingerprint(self._deid_ner_path()),
                                   **self._deid_ner_settings}}
            notes.append(f"de-identified the texts before training ({d.deid_mode} mode): "
                         f"{changed} of {len(texts)} training texts had PHI replaced")
        else:
            self.deid_info_ = None
        if self.config.model.name == "hf_local":
            self._load_checkpoint_files()
            notes.append(f"Hugging Face checkpoint {self.config.model.params['path']} "
                         f"({self.hf_config_.get('model_type')}): its tokenizer, vocabulary "
                         f"{self.tokenizer_.vocab_size}")
        elif self._pretrained_tokenizer() is not None:
            path = self._pretrained_tokenizer()
            self.tokenizer_ = TextTokenizer.from_json(path.read_text(encoding="utf-8"))
            notes.append(f"tokenizer of the pretrained model in {path.parent} (vocabulary "
                         f"{self.tokenizer_.vocab_size}), so token ids match its weights")
        else:
            self.tokenizer_ = TextTokenizer.train(texts, kind=d.tokenizer,
                                                  vocab_size=d.vocab_size,
                                                  min_frequency=d.min_frequency,
                                                  lowercase=d.lowercase)
            notes.append(f"{d.tokenizer} tokenizer trained on {len(texts)} texts: vocabulary "
                         f"{self.tokenizer_.vocab_size}")
        _, lengths, truncated = self.tokenizer_.encode(texts, d.max_length)
        self.token_stats_ = {"vocab_size": self.tokenizer_.vocab_size,
                             "median_tokens": float(np.median(lengths)),
                             "truncated_train": int(truncated.sum())}
        if truncated.any():
            notes.append(f"{int(truncated.sum())} of {len(texts)} training texts are longer "
                         f"than max_length = {d.max_length} tokens; the model reads their first "
                         f"{d.max_length} tokens (raise [data] max_length to read more)")
        codes = self.codes(y)
        if self.multilabel:
            counts = codes.sum(0)
        else:
            counts = np.bincount(codes[codes >= 0], minlength=len(self.classes_))
        self.class_counts_ = [int(c) for c in counts]
        self._baseline = None
        from healthnn.baselines.run import selected_baselines

        if "tfidf" in selected_baselines(self):  # [data] baseline; none under DP / federated
            from healthnn.text.baseline import TfidfBaseline

            try:  # a baseline never fails the network's training (too sparse texts, say)
                self._baseline = TfidfBaseline(multilabel=self.multilabel,
                                               seed=self.config.train.seed).fit(
                    texts, codes, n_classes=len(self.classes_))
            except ValueError:
                notes.append("the TF-IDF baseline could not be fitted on the training texts "
                             "(too few words or one class); it is left out")
        return notes

    def _load_checkpoint_files(self) -> None:
        """config.json and tokenizer.json of the ``hf_local`` checkpoint folder."""
        from healthnn.models.hf import require_transformers
        from healthnn.text.tokenizer import TextTokenizer

        require_transformers()
        folder = self.config.resolve(self.config.model.params["path"])
        for name in ("config.json", "tokenizer.json"):
            if not (folder / name).is_file():
                raise ConfigError(f"{name} not found in the checkpoint folder", file=str(folder),
                                  key="model.path",
                                  hint="save the model and its fast tokenizer with "
                                       "save_pretrained() into this folder")
        try:
            self.hf_config_ = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config.json is not valid JSON ({exc})", file=str(folder),
                              key="model.path") from None
        limit = self.hf_config_.get("max_position_embeddings")
        if limit is not None and self.config.data.max_length > limit:
            raise ConfigError(f"max_length {self.config.data.max_length} exceeds the "
                              f"checkpoint's max_position_embeddings {limit}",
                              file=self.config.source, key="data.max_length")
        pad = self.hf_config_.get("pad_token_id")
        self.tokenizer_ = TextTokenizer.from_json(
            (folder / "tokenizer.json").read_text(encoding="utf-8"),
            pad_id=0 if pad is None else int(pad), add_special_tokens=True)
        self._hf_pending = True

    def build_model(self):
        if self.config.model.name != "hf_local":
            return super().build_model()
        from healthnn.models.hf import HFClassifier

        p = self.config.model.params
        path = str(self.config.resolve(p["path"])) if self._hf_pending else None
        self._hf_pending = False  # a reloaded bundle builds from the saved config
        return HFClassifier(self.hf_config_, self.out_features(), path=path,
                            pooling=p["pooling"], dropout=p["dropout"],
                            pad_id=self.tokenizer_.pad_id)

    def _fit_classes(self, y: Labels, file: Path) -> None:
        if not self.multilabel:
            super()._fit_classes(y, file)
            return
        col = self.config.data.target
        classes = sorted({lab for v in y[col] for lab in v.split("|") if lab}, key=natural_key)
        if len(classes) < 2:
            which = f" ({classes[0]!r})" if classes else ""
            raise DataError(f"the training data has {len(classes)} label(s){which}; "
                            "multi-label classification needs at least two", file=str(file),
                            column=col)
        self.classes_ = classes

    def codes(self, y: Labels) -> np.ndarray:
        if not self.multilabel:
            return super().codes(y)
        index = {c: i for i, c in enumerate(self.classes_)}
        out = np.zeros((len(y[self.config.data.target]), len(self.classes_)), dtype=np.float32)
        for i, v in enumerate(y[self.config.data.target]):
            for lab in v.split("|"):
                if lab in index:
                    out[i, index[lab]] = 1.0
        return out

    def unknown_label_errors(self, y: Labels) -> dict[int, str]:
        if not self.multilabel:
            return super().unknown_label_errors(y)
        col = self.config.data.target
        known = set(self.classes_)
        errors = {}
        for i, v in enumerate(y[col]):
            bad = [lab for lab in v.split("|") if lab and lab not in known]
            if bad:
                errors[i] = (f"column '{col}': label(s) not seen in training: "
                             f"{', '.join(bad[:3])} (known: {', '.join(self.classes_[:10])})")
        return errors

    def encode(self, df: pd.DataFrame, file: Path) -> tuple[torch.Tensor, dict[int, str]]:
        assert self.tokenizer_ is not None, "fit() first"
        col = self.config.data.text
        require_columns(df, [col], file)
        texts = self.prepared_texts(self.texts_of(df))
        ids, _, _ = self.tokenizer_.encode(texts, self.config.data.max_length)
        errors = {i: f"column '{col}': empty text" for i, t in enumerate(texts) if not t.strip()}
        return ids, errors

    def row_flags(self, df: pd.DataFrame) -> pd.DataFrame:
        """``truncated``: the text was longer than ``max_length`` tokens, so the model read only
        its beginning (a clinician reading the prediction should know)."""
        assert self.tokenizer_ is not None, "fit() first"
        _, _, truncated = self.tokenizer_.encode(self.prepared_texts(self.texts_of(df)),
                                                 self.config.data.max_length)
        return pd.DataFrame({"truncated": truncated.astype(bool)})

    def candidate_parameters(self) -> int | None:
        return None  # not a fixed set of predictors: the sample-size criteria do not apply

    def domain_features(self, inputs: Any) -> np.ndarray | None:
        return None  # no fixed feature columns (embedding statistics: not yet)

    def in_features(self) -> int:
        return self.tokenizer_.vocab_size

    def out_features(self) -> int:
        if self.multilabel:
            return len(self.classes_)
        return super().out_features()

    @property
    def feature_names(self) -> None:
        return None

    # -- training ----------------------------------------------------------------------------
    def target_tensors(self, y: Labels) -> dict[str, torch.Tensor]:
        if self.multilabel:
            return {"y": torch.from_numpy(self.codes(y))}
        return super().target_tensors(y)

    def loss(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.multilabel:
            return F.binary_cross_entropy_with_logits(outputs, targets["y"].to(outputs.dtype))
        return super().loss(outputs, targets)

    def probabilities(self, outputs: torch.Tensor) -> np.ndarray:
        if self.multilabel:
            return torch.sigmoid(outputs.double()).numpy()
        return super().probabilities(outputs)

    def predictions(self, outputs: torch.Tensor) -> pd.DataFrame:
        if not self.multilabel:
            return super().predictions(outputs)
        probs = self.probabilities(outputs)
        df = pd.DataFrame({f"prob_{c}": probs[:, i] for i, c in enumerate(self.classes_)})
        thr = self.config.eval.threshold
        df["prediction"] = ["|".join(c for c, p in zip(self.classes_, row, strict=True)
                                     if p >= thr) for row in probs]
        return df

    def _metric_fn(self):
        if self.multilabel:
            from healthnn.metrics import multilabel_metrics

            thr = self.config.eval.threshold
            return lambda y, p: multilabel_metrics(y, p, threshold=thr)
        return super()._metric_fn()

    def score(self, outputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
        if not self.multilabel:
            return super().score(outputs, targets)
        m = self._metric_fn()(targets["y"].numpy(), self.probabilities(outputs))
        return {k: v for k, v in m.items()
                if k in ("f1_micro", "f1_macro", "auroc_macro") and np.isfinite(v)}

    def evaluate_probabilities(self, codes, probs, *, seed: int = 0):
        if self.multilabel:
            from healthnn.metrics.estimable import multilabel_small_labels

            metrics = self._bootstrap(self._metric_fn(), [codes, probs], seed=seed)
            return multilabel_small_labels(metrics, codes, self.classes_)
        return super().evaluate_probabilities(codes, probs, seed=seed)

    def class_probabilities(self, outputs, y):
        return None if self.multilabel else super().class_probabilities(outputs, y)

    def conformal_outputs(self, outputs):
        # multi-label: no conformal sets (one set per label would need its own calibration)
        return None if self.multilabel else super().conformal_outputs(outputs)

    def baseline_probabilities(self, df: pd.DataFrame) -> np.ndarray | None:
        """Class (or label) probabilities of the TF-IDF baseline (saved in the bundle) for the
        texts of ``df``; None when the bundle has no baseline (``[data] baseline = false``)."""
        if self._baseline is None:
            return None
        return self._baseline.predict_proba(self.prepared_texts(self.texts_of(df)))

    def label_frame(self, y: Labels) -> pd.DataFrame:
        return pd.DataFrame({self.config.data.target: y[self.config.data.target]})

    # -- embeddings and explanations --------------------------------------------------------
    @torch.no_grad()
    def embed_texts(self, model, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Pooled document vectors from the trained encoder (for search)."""
        ids, _, _ = self.tokenizer_.encode(self.prepared_texts(list(texts)),
                                           self.config.data.max_length)
        model = model.cpu().eval()
        out = [model.embed(ids[i:i + batch_size]) for i in range(0, len(ids), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)

    def input_schema(self) -> dict[str, Any]:
        col = self.config.data.text
        return {"kind": "text", "column": col, "columns": [{"name": col, "type": "string"}],
                "rows": True, "upload": True, "accept": [".csv", ".tsv", ".parquet", ".jsonl"]}

    def explain(self, model, df: pd.DataFrame, out: Path, *, file: Path,
                target_class: str | None = None) -> list[Path]:
        """Integrated gradients over the token embeddings (baseline: padding) as highlighted
        HTML (red: towards the class, blue: away), ``attributions.csv`` (class, probability,
        top tokens and words, completeness gap), ``tokens.csv`` (model tokens, offsets,
        original characters) and ``words.csv`` (the note's words, spans, summed attributions)."""
        from healthnn.explain.integrated_gradients import integrated_gradients
        from healthnn.explain.spans import explanation_rows
        from healthnn.text.html import attribution_html

        if target_class is not None and target_class not in self.classes_:
            raise ConfigError(f"unknown class {target_class!r}", key="--class",
                              hint=f"classes: {', '.join(self.classes_)}")
        df = df.reset_index(drop=True)
        inputs, errors = self.encode(df, file)
        texts = self.prepared_texts(self.texts_of(df))
        model = model.cpu().eval()
        L = self.config.data.max_length
        blocks, rows, token_rows, word_rows = [], [], [], []
        binary_single = not self.multilabel and len(self.classes_) == 2
        for i in range(len(df)):
            if i in errors:
                rows.append({"row": i + 1, "class": "", "probability": np.nan, "top_tokens": "",
                             "top_words": "", "delta": np.nan, "error": errors[i]})
                blocks.append((i + 1, None, None, [], [], errors[i]))
                continue
            ids = inputs[i:i + 1]
            pad = self.tokenizer_.pad_id
            n = int((ids != pad).sum())
            ids = ids[:, :max(n, 1)]
            with torch.no_grad():
                probs = self.probabilities(model(ids))[0]
            k = (self.classes_.index(target_class) if target_class is not None
                 else int(np.argmax(probs)))
            emb = model.embedding(ids).detach()
            mask = ids != pad
            if binary_single:  # one logit: class 1 up, class 0 down
                sign = 1.0 if k == 1 else -1.0

                def fwd(x, _m=mask, _s=sign):
                    return _s * model.forward_embeddings(x, _m)
                col = 0
            else:
                def fwd(x, _m=mask):
                    return model.forward_embeddings(x, _m)
                col = k
            attr, delta = integrated_gradients(fwd, emb, target=col, steps=32)
            scores = attr.sum(-1)[0].numpy()
            tokens, offsets = self.tokenizer_.offsets(texts[i], L)
            scores = scores[: len(tokens)]  # below: the note's own words (explain.spans)
            top, toks, words = explanation_rows(i + 1, texts[i], tokens, offsets, scores)
            rows.append({"row": i + 1, "class": self.classes_[k], "probability": probs[k],
                         **top, "delta": float(delta[0]), "error": ""})
            blocks.append((i + 1, self.classes_[k], float(probs[k]), offsets, scores, texts[i]))
            token_rows, word_rows = token_rows + toks, word_rows + words
        html = attribution_html(blocks, title="Token attributions (integrated gradients)")
        write_text(out / "explanations.html", html)
        write_table(pd.DataFrame(rows), out / "attributions.csv")
        for name, table in (("tokens", token_rows), ("words", word_rows)):
            write_table(pd.DataFrame(table, columns=list(table[0]) if table else ["row"]),
                        out / f"{name}.csv")
        return [out / f for f in ("explanations.html", "attributions.csv", "tokens.csv",
                                  "words.csv")]

    # -- report ------------------------------------------------------------------------------
    def report_facts(self) -> dict[str, Any]:
        d = self.config.data
        col = d.target
        if self.multilabel:
            facts = {"outcome": f"'{col}', any of {len(self.classes_)} labels: "
                                + ", ".join(repr(c) for c in self.classes_),
                     "output": "a probability for each label; labels at or above the "
                               f"threshold {self.config.eval.threshold:g} are predicted",
                     "kind": "multi-label classification"}
        else:
            facts = super().report_facts()
            facts = {k: facts[k] for k in ("outcome", "output", "kind") if k in facts}
        st = getattr(self, "token_stats_", {}) or {}
        deid = ("texts de-identified before training and prediction with healthnn's "
                f"de-identification engine ({d.deid_mode} mode)" if d.deidentify
                else "texts used as given (no de-identification)")
        ner = (self.deid_info_ or {}).get("ner")
        if ner:
            how = ("rules and NER spans united" if ner.get("combine", "union") == "union"
                   else "the NER's spans in place of the rules'")
            deid += (f", with the NER model {ner['bundle']} (sha256 {ner['sha256'][:12]}; "
                     f"{how}; NER spans scoring at least {ner['min_score']:g})")
        facts.update({
            "input": f"one free-text document (column '{d.text}')",
            "predictors": [f"{d.tokenizer} subword tokens (vocabulary {st.get('vocab_size')}, "
                           "learned from the training texts)" if self.hf_config_ is None else
                           f"tokens of the checkpoint's own tokenizer (vocabulary "
                           f"{st.get('vocab_size')})"],
            "missing_data": "rows with an empty text are not used for training and get an "
                            "error at prediction; rows without a label are not used for "
                            "training",
            "preprocessing": f"{'lower-cased, ' if d.lowercase else ''}first {d.max_length} "
                             f"tokens of each text ({st.get('truncated_train', 0)} training "
                             f"texts were longer); {deid}",
        })
        return facts

    # -- persistence -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"classes": self.classes_, "multilabel": self.multilabel,
                "tokenizer": self.tokenizer_.to_json(), "token_stats": self.token_stats_,
                "class_counts": self.class_counts_, "deidentify": self.deid_info_,
                "hf_config": self.hf_config_, "pad_id": self.tokenizer_.pad_id,
                "add_special_tokens": self.tokenizer_.add_special_tokens,
                "baseline": None if self._baseline is None else self._baseline.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from healthnn.text.tokenizer import TextTokenizer

        self.classes_ = list(state["classes"])
        self.tokenizer_ = TextTokenizer.from_json(
            state["tokenizer"], pad_id=int(state.get("pad_id", 0)),
            add_special_tokens=bool(state.get("add_special_tokens", False)))
        self.hf_config_ = state.get("hf_config")
        self.token_stats_ = state.get("token_stats", {})
        self.class_counts_ = state.get("class_counts")
        self.deid_info_ = state.get("deidentify")
        ner = (self.deid_info_ or {}).get("ner")
        if ner:  # the same NER model as in training, or the texts would be prepared differently
            _check_ner_bundle(self._deid_ner_path(), ner)
        if state.get("baseline"):
            from healthnn.text.baseline import TfidfBaseline

            self._baseline = TfidfBaseline.from_dict(state["baseline"])


# -- helpers -----------------------------------------------------------------------------------
_DEID_CACHE = 20_000  # de-identified texts memoised (a server sees each text once)


def _ner_bundle_fingerprint(path: Path) -> dict[str, Any]:
    """sha256 over the files of an NER bundle that decide its spans (weights, state, config)."""
    from healthnn.data.tables import fingerprint_files

    names = ("model.safetensors", "task.json", "config.toml")
    files = [path / n for n in names] + [path / (n + ".enc") for n in names]
    return {"sha256": fingerprint_files(files, path)["sha256"]}


def _check_ner_bundle(path: Path, expected: dict[str, Any] | None) -> None:
    """A clear error when ``[data] deid_ner`` is missing or is not the bundle used in training."""
    if not (path / "manifest.json").is_file():
        raise BundleError("the NER bundle of [data] deid_ner is not there", file=str(path),
                          hint="copy it back to this path: this model's texts are "
                               "de-identified with it before prediction")
    if expected and _ner_bundle_fingerprint(path)["sha256"] != expected["sha256"]:
        raise BundleError("the NER bundle of [data] deid_ner is not the one this model was "
                          "trained with (its files changed)", file=str(path),
                          hint="restore the NER bundle trained with it, or train this model "
                               "again with the new one")


def _rows(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_SHOW])
    return shown + (f" and {len(rows) - _SHOW} more" if len(rows) > _SHOW else "")


def _parse_labels(v: Any, sep: str, *, file: Path, row: int, col: str) -> list[str] | None:
    """Sorted distinct labels of one multi-label cell; None when the cell is missing."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        if s.startswith("["):
            try:
                v = json.loads(s)
            except json.JSONDecodeError:
                raise DataError("a label list starting with '[' is not valid JSON",
                                file=str(file), row=row, column=col,
                                hint='write ["a", "b"] or a|b') from None
        else:
            v = s.split(sep)
    if not isinstance(v, (list, tuple)):
        v = [v]
    labels = label_text(pd.Series([x for x in v if x is not None], dtype=object))
    return sorted({x for x in labels if x}, key=natural_key)


