"""A local Hugging Face checkpoint as a text classifier (``[model] name = "hf_local"``).

``path`` is a folder the user already has (``save_pretrained`` output: ``config.json``, the
weights, and ``tokenizer.json``); nothing is downloaded (``local_files_only``). The checkpoint's
encoder gets a linear head on the [CLS] vector (``pooling = "cls"``) or the mean over tokens
(``"mean"``) and is fine-tuned end to end. The bundle keeps the checkpoint's config and
tokenizer and all weights, so it reloads without the checkpoint folder. Needs the ``hf`` extra
(``pip install healthnn[hf]``: transformers).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from healthnn.errors import ConfigError
from healthnn.models.registry import register
from healthnn.models.text import TextClassifier, trim_padding

__all__ = ["HFClassifier", "require_transformers"]


def require_transformers():
    try:
        import transformers
    except ImportError:
        raise ConfigError("model 'hf_local' needs the 'transformers' package", key="model.name",
                          hint='pip install -c requirements/constraints.txt torch==2.13.0 '
                               '-e ".[hf]"') from None
    return transformers


class HFClassifier(TextClassifier):
    """A Hugging Face encoder (``AutoModel``) with a pooled linear head."""

    def __init__(self, hf_config: dict[str, Any], out_features: int, *, path: str | None = None,
                 pooling: str = "cls", dropout: float = 0.1, pad_id: int = 0) -> None:
        super().__init__()
        tf = require_transformers()
        if pooling not in ("cls", "mean"):
            raise ConfigError(f"unknown pooling {pooling!r}", key="model.pooling",
                              hint="cls or mean")
        if path:
            self.backbone = tf.AutoModel.from_pretrained(path, local_files_only=True)
        else:
            cfg = dict(hf_config)
            cfg = tf.AutoConfig.for_model(cfg.pop("model_type"), **cfg)
            self.backbone = tf.AutoModel.from_config(cfg)
        self.pooling = pooling
        self.pad_id = int(pad_id)
        self.head = nn.Sequential(nn.Dropout(dropout),
                                  nn.Linear(self.backbone.config.hidden_size, out_features))

    @property
    def embedding(self) -> nn.Module:  # type: ignore[override]
        return self.backbone.get_input_embeddings()

    def _pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.backbone(inputs_embeds=x, attention_mask=mask.long()).last_hidden_state
        if self.pooling == "cls":
            return h[:, 0]
        w = mask.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(1) / w.sum(1).clamp_min(1.0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = trim_padding(ids, self.pad_id)
        return self.forward_embeddings(self.embedding(ids), ids != self.pad_id)

    def forward_embeddings(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self._pool(x, mask))

    @torch.no_grad()
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        ids = trim_padding(ids, self.pad_id)
        return self._pool(self.embedding(ids), ids != self.pad_id)


@register("hf_local", tasks=("text_classification",), path="", pooling="cls", dropout=0.1)
def hf_local(in_features: int, out_features: int, **params) -> nn.Module:
    """A local Hugging Face checkpoint folder, fine-tuned (the task supplies its config)."""
    raise ConfigError("model 'hf_local' is built by the text_classification task")
