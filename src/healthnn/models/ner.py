"""Token taggers for named-entity recognition (``task = "ner"``).

``bilstm_charcnn``: each token is the concatenation of a word embedding (lower-cased, digits
as 0), a character CNN (max-pooled over the token's first characters, so unseen words,
spellings and number formats still get a vector), a word-shape embedding (capitalisation,
digits, punctuation, line start) and a lexicon embedding (the token is in the bundled first-name,
surname, city or common-word lists); a bidirectional LSTM reads the window and a linear layer
gives one logit per BIO tag. Small and CPU-friendly; nothing pretrained is downloaded.

With ``rule_features=True`` (a *stacked* model, ``[data] rule_features`` of task ``ner``) each
token also carries the BIO tag of the de-identification rule span that covers it (none, B-x or
I-x over :data:`healthnn.privacy.deid.LABELS`) and an "unknown word" flag (an alphabetic token
in none of the bundled English-word and clinical-word lists), each with its own embedding: the
model learns when to trust, extend or overrule the rules.

Input: ``(N, L, M + C)`` int64 per token: word id, shape id, lexicon id (``M = 3``; with rule
features also the rule tag id and the unknown-word flag, ``M = 5``) and ``C`` character ids
(0 = padding everywhere). Output: ``(N, L, K)`` tag logits.

>>> import torch
>>> m = BiLSTMCharCNNTagger(30, 5, n_chars=20, word_dim=8, char_dim=4, char_filters=6, hidden=8)
>>> x = torch.randint(1, 10, (2, 7, 3 + 6)); x[1, 4:] = 0
>>> m(x).shape
torch.Size([2, 7, 5])
>>> s = BiLSTMCharCNNTagger(30, 5, n_chars=20, word_dim=8, char_dim=4, char_filters=6, hidden=8,
...                         rule_features=True)
>>> x = torch.randint(1, 3, (2, 7, 5 + 6))
>>> s(x).shape
torch.Size([2, 7, 5])
"""

from __future__ import annotations

import torch
from torch import nn

from healthnn.models.registry import register

__all__ = ["BiLSTMCharCNNTagger", "CRF", "N_SHAPES", "N_LEXICON", "META_COLUMNS", "N_RULE_TAGS",
           "meta_columns", "bio_allowed"]

N_SHAPES = 16  # see healthnn.tasks.ner._shape
N_LEXICON = 16  # 4 lexicon flags as bits
META_COLUMNS = 3
RULE_COLUMNS = 2  # stacked model: rule tag id, unknown-word flag
N_RULE_TAGS = 2 + 2 * 14  # 0 padding, 1 no rule span, B-/I- of the 14 de-identification labels


def meta_columns(rule_features: bool) -> int:
    """Per-token columns before the character ids."""
    return META_COLUMNS + (RULE_COLUMNS if rule_features else 0)


def bio_allowed(n_tags: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(allowed[from, to], allowed_first)`` for the tag order of task 'ner': ``O``, then
    ``B-x``, ``I-x`` per label; ``I-x`` only after ``B-x`` or ``I-x``, never first.

    >>> a, f = bio_allowed(3)  # O, B-x, I-x
    >>> a.int().tolist(), f.int().tolist()
    ([[1, 1, 0], [1, 1, 1], [1, 1, 1]], [1, 1, 0])
    """
    allowed = torch.ones(n_tags, n_tags, dtype=torch.bool)
    first = torch.ones(n_tags, dtype=torch.bool)
    for b in range(1, n_tags - 1, 2):
        i = b + 1
        allowed[:, i] = False
        allowed[b, i] = allowed[i, i] = True
        first[i] = False
    return allowed, first


class CRF(nn.Module):
    """A linear-chain conditional random field over tag sequences (issue 3).

    Learned transition scores ``transitions[from, to]``, start and end scores; the BIO
    constraints of :func:`bio_allowed` are a fixed -10,000 added to forbidden moves. The
    log-likelihood of a tag sequence given per-token emission scores ``(N, T, K)`` uses the
    forward algorithm (log-sum-exp over all paths); :meth:`viterbi` gives the best path.
    Sequences are prefixes: ``mask[:, :n]`` true for a sequence of ``n`` tokens.
    """

    NEG = -1.0e4

    def __init__(self, n_tags: int) -> None:
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))
        allowed, first = bio_allowed(n_tags)
        self.register_buffer("trans_mask", torch.where(allowed, 0.0, self.NEG), persistent=False)
        self.register_buffer("start_mask", torch.where(first, 0.0, self.NEG), persistent=False)

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Transition, start and end scores with the BIO constraints applied."""
        return self.transitions + self.trans_mask, self.start + self.start_mask, self.end

    def log_partition(self, em: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(N,)`` log of the sum over every tag path of exp(path score)."""
        trans, start, end = self.scores()
        alpha = start + em[:, 0]
        for t in range(1, em.shape[1]):
            nxt = torch.logsumexp(alpha[:, :, None] + trans[None], dim=1) + em[:, t]
            alpha = torch.where(mask[:, t, None], nxt, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def path_score(self, em: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
                   ) -> torch.Tensor:
        """``(N,)`` score of the given tag paths (positions outside ``mask`` ignored)."""
        trans, start, end = self.scores()
        tags = tags.clamp_min(0)
        rows = torch.arange(em.shape[0], device=em.device)
        score = start[tags[:, 0]] + em[rows, 0, tags[:, 0]]
        for t in range(1, em.shape[1]):
            step = trans[tags[:, t - 1], tags[:, t]] + em[rows, t, tags[:, t]]
            score = score + torch.where(mask[:, t], step, torch.zeros_like(step))
        last = tags[rows, mask.sum(1).clamp_min(1) - 1]
        return score + end[last]

    def nll(self, em: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(N,)`` negative log-likelihood of ``tags``; 0 for an empty sequence."""
        out = self.log_partition(em, mask) - self.path_score(em, tags, mask)
        return torch.where(mask[:, 0], out, torch.zeros_like(out))

    @torch.no_grad()
    def viterbi(self, em: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The best tag path of each sequence (as long as its mask)."""
        trans, start, end = self.scores()
        score = start + em[:, 0]
        back = []
        for t in range(1, em.shape[1]):
            cand = score[:, :, None] + trans[None]
            best, arg = cand.max(1)
            back.append(arg)
            score = torch.where(mask[:, t, None], best + em[:, t], score)
        lengths = mask.sum(1).tolist()
        final = (score + end).argmax(1).tolist()
        paths = []
        for n in range(em.shape[0]):
            if lengths[n] == 0:
                paths.append([])
                continue
            path = [final[n]]
            for t in range(lengths[n] - 1, 0, -1):
                path.append(int(back[t - 1][n, path[-1]]))
            paths.append(path[::-1])
        return paths


class BiLSTMCharCNNTagger(nn.Module):
    """Word + character-CNN + shape + lexicon embeddings -> BiLSTM -> per-token tag logits."""

    def __init__(self, vocab_size: int, n_tags: int, *, n_chars: int, word_dim: int = 64,
                 char_dim: int = 16, char_filters: int = 32, hidden: int = 64, layers: int = 1,
                 dropout: float = 0.3, word_dropout: float = 0.05,
                 rule_features: bool = False, crf: bool = False) -> None:
        super().__init__()
        self.crf = CRF(n_tags) if crf else None
        self.rule_features = rule_features
        self.n_meta = meta_columns(rule_features)
        self.word = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.char = nn.Embedding(n_chars, char_dim, padding_idx=0)
        self.char_cnn = nn.Conv1d(char_dim, char_filters, kernel_size=3, padding=1)
        self.shape = nn.Embedding(N_SHAPES, 8, padding_idx=0)
        self.lexicon = nn.Embedding(N_LEXICON + 1, 8, padding_idx=0)
        dim = word_dim + char_filters + 16
        if rule_features:
            self.rule = nn.Embedding(N_RULE_TAGS, 8, padding_idx=0)
            self.unknown = nn.Embedding(3, 4, padding_idx=0)
            dim += 12
        self.drop = nn.Dropout(dropout)
        self.rnn = nn.LSTM(dim, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(2 * hidden, n_tags)
        self.word_dropout = word_dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, _ = x.shape
        words, shapes, lex = x[..., 0], x[..., 1], x[..., 2]
        chars = x[..., self.n_meta:]
        mask = words != 0
        if self.training and self.word_dropout > 0:  # learn the unknown-word vector (id 1)
            drop = (torch.rand(words.shape, device=words.device) < self.word_dropout) & mask
            words = words.masked_fill(drop, 1)
        c = self.char(chars.reshape(n * length, -1)).transpose(1, 2)  # (NL, dim, C)
        c = torch.relu(self.char_cnn(c))
        cmask = (chars.reshape(n * length, 1, -1) != 0)
        c = c.masked_fill(~cmask, 0.0).amax(-1).reshape(n, length, -1)
        parts = [self.word(words), c, self.shape(shapes), self.lexicon(lex)]
        if self.rule_features:
            parts += [self.rule(x[..., 3]), self.unknown(x[..., 4])]
        h = torch.cat(parts, -1)
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(h), lengths, batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=length)
        return self.head(self.drop(out))


@register("bilstm_charcnn", tasks=("ner",), word_dim=64, char_dim=16, char_filters=32,
          hidden=64, layers=1, dropout=0.3, word_dropout=0.05, crf=False)
def bilstm_charcnn(in_features: int, out_features: int, *, n_chars: int = 2,
                   rule_features: bool = False, **params) -> nn.Module:
    """Word + character-CNN embeddings, BiLSTM, per-token BIO logits (in_features =
    vocabulary size, out_features = number of tags; ``rule_features``: the stacked model,
    set by the task from ``[data] rule_features``; ``crf``: a CRF layer, trained by its
    log-likelihood plus the token cross-entropy and decoded with its learned transitions)."""
    return BiLSTMCharCNNTagger(in_features, out_features, n_chars=n_chars,
                               rule_features=rule_features, **params)
