"""Subword tokenizers trained on the training texts (Hugging Face ``tokenizers``), saved as JSON.

>>> tok = TextTokenizer.train(["chest pain and dyspnea", "chest x-ray normal"] * 20,
...                           vocab_size=60, min_frequency=1)
>>> ids, lengths, truncated = tok.encode(["chest pain"], max_length=8)
>>> tuple(ids.shape), int(lengths[0]) > 0, truncated.tolist()
((1, 8), True, [False])
>>> TextTokenizer.from_json(tok.to_json()).encode(["chest pain"], max_length=8)[0].tolist() \\
...     == ids.tolist()
True

Token id 0 is padding (``[PAD]``), 1 unknown (``[UNK]``); ``[CLS]``, ``[SEP]`` and ``[MASK]``
are reserved so a later masked-token pretraining can reuse the same vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from healthnn.errors import DataError

__all__ = ["TextTokenizer", "SPECIAL_TOKENS", "PAD_ID"]

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD_ID = 0
# characters looked at per token of max_length: cuts a very long document before tokenizing
_CHARS_PER_TOKEN = 16


def _require_tokenizers():
    try:
        import tokenizers
    except ImportError:  # pragma: no cover - a core dependency
        raise DataError("the 'tokenizers' package is missing",
                        hint="pip install -c requirements/constraints.txt tokenizers") from None
    return tokenizers


class TextTokenizer:
    """A WordPiece or BPE tokenizer with padding and truncation to a fixed length."""

    def __init__(self, tokenizer, *, pad_id: int = PAD_ID,
                 add_special_tokens: bool = False) -> None:  # a tokenizers.Tokenizer
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.add_special_tokens = add_special_tokens  # a checkpoint's [CLS] ... [SEP]

    @classmethod
    def train(cls, texts: Sequence[str], *,
              kind: Literal["wordpiece", "bpe", "wordlevel"] = "wordpiece",
              vocab_size: int = 8000, min_frequency: int = 2,
              lowercase: bool = True) -> TextTokenizer:
        """Learn a vocabulary from ``texts`` (the training split only)."""
        tk = _require_tokenizers()
        from tokenizers import normalizers, pre_tokenizers, trainers

        normalizer = normalizers.BertNormalizer(lowercase=lowercase, clean_text=True,
                                                handle_chinese_chars=True, strip_accents=None)
        pre = pre_tokenizers.BertPreTokenizer()
        if kind == "wordlevel":  # built here, so the same texts always give the same ids
            return cls._wordlevel(texts, normalizer, pre, vocab_size, min_frequency)
        if kind == "wordpiece":
            tok = tk.Tokenizer(tk.models.WordPiece(unk_token="[UNK]"))
            trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                                special_tokens=SPECIAL_TOKENS,
                                                show_progress=False)
            from tokenizers import decoders

            tok.decoder = decoders.WordPiece()
        elif kind == "bpe":
            tok = tk.Tokenizer(tk.models.BPE(unk_token="[UNK]"))
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                          special_tokens=SPECIAL_TOKENS, show_progress=False)
        else:
            raise DataError(f"unknown tokenizer {kind!r}", hint="wordpiece, bpe or wordlevel")
        tok.normalizer = normalizer
        tok.pre_tokenizer = pre
        tok.train_from_iterator(list(texts), trainer=trainer)
        return cls(tok)

    @classmethod
    def _wordlevel(cls, texts: Sequence[str], normalizer: Any, pre: Any, vocab_size: int,
                   min_frequency: int) -> TextTokenizer:
        """Whole words, the most frequent first (ties in alphabetical order); others [UNK].

        HF tokenizers' subword trainers break frequency ties in hash-map order, so a WordPiece
        or BPE vocabulary can differ between two runs on the same texts (huggingface/tokenizers
        issue 1794); this one cannot.
        """
        from collections import Counter

        import tokenizers as tk

        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(t)))
        words = sorted((w for w, c in counts.items() if c >= min_frequency),
                       key=lambda w: (-counts[w], w))
        vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
        for w in words[: max(vocab_size - len(vocab), 0)]:
            vocab[w] = len(vocab)
        tok = tk.Tokenizer(tk.models.WordLevel(vocab, unk_token="[UNK]"))
        tok.normalizer = normalizer
        tok.pre_tokenizer = pre
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    def to_json(self) -> str:
        return self.tokenizer.to_str()

    @classmethod
    def from_json(cls, text: str, *, pad_id: int = PAD_ID,
                  add_special_tokens: bool = False) -> TextTokenizer:
        tk = _require_tokenizers()
        try:
            tok = tk.Tokenizer.from_str(text)
        except Exception as exc:
            raise DataError(f"cannot read the tokenizer JSON ({exc})") from None
        tok.no_padding()
        tok.no_truncation()
        return cls(tok, pad_id=pad_id, add_special_tokens=add_special_tokens)

    def _encodings(self, texts: Sequence[str], max_length: int):
        cut = max_length * _CHARS_PER_TOKEN
        return self.tokenizer.encode_batch([t[:cut] for t in texts],
                                           add_special_tokens=self.add_special_tokens)

    def encode(self, texts: Sequence[str], max_length: int
               ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Token ids ``(N, max_length)`` (int64, padded with ``pad_id``), token counts, and which
        texts were truncated."""
        encs = self._encodings(texts, max_length)
        ids = np.full((len(texts), max_length), self.pad_id, dtype=np.int64)
        lengths = np.zeros(len(texts), dtype=np.int64)
        truncated = np.zeros(len(texts), dtype=bool)
        cut = max_length * _CHARS_PER_TOKEN
        for i, (text, e) in enumerate(zip(texts, encs, strict=True)):
            row = e.ids[:max_length]
            ids[i, : len(row)] = row
            lengths[i] = len(row)
            truncated[i] = len(e.ids) > max_length or len(text) > cut
        return torch.from_numpy(ids), lengths, truncated

    def offsets(self, text: str, max_length: int) -> tuple[list[str], list[tuple[int, int]]]:
        """Tokens of ``text`` (as the model sees them) and their character offsets in ``text``."""
        e = self._encodings([text], max_length)[0]
        return list(e.tokens[:max_length]), [tuple(o) for o in e.offsets[:max_length]]
