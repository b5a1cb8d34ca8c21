"""Models for molecules: a fingerprint MLP and a directed message-passing network (D-MPNN).

The D-MPNN follows Yang et al. 2019 (chemprop): hidden states live on directed bonds; a bond
``u -> v`` receives the sum of the states of bonds entering ``u`` except its own reverse
``v -> u``. Everything is batched over a flat graph (:class:`healthnn.data.molecules.MolGraphs`)
with ``index_add``; the forward pass has no loop over molecules.
"""

from __future__ import annotations

import torch
from torch import nn

from healthnn.models.registry import register
from healthnn.models.mlp import MLP

__all__ = ["DMPNN"]


class DMPNN(nn.Module):
    """Directed message passing, mean (or sum) readout, optional extra molecule features, FFN.

    >>> from healthnn.data.molecules import mol_graphs, standardize
    >>> g = mol_graphs(standardize(["CCO", "c1ccccc1"]).mols)
    >>> DMPNN(0, 2, hidden=16, depth=2)(g).shape
    torch.Size([2, 2])
    """

    def __init__(
        self,
        extra_features: int,
        out_features: int,
        *,
        hidden: int = 300,
        depth: int = 3,
        dropout: float = 0.0,
        aggregation: str = "mean",
        ffn_hidden: list[int] = (300,),
        ffn_dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        from healthnn.data.molecules import ATOM_FEATURES, BOND_FEATURES
        from healthnn.errors import ConfigError

        if depth < 1:
            raise ConfigError("must be at least 1", key="model.depth")
        if aggregation not in ("mean", "sum"):
            raise ConfigError(f"unknown aggregation {aggregation!r}", key="model.aggregation",
                              hint="mean or sum")
        self.depth = depth
        self.aggregation = aggregation
        self.W_i = nn.Linear(ATOM_FEATURES + BOND_FEATURES, hidden, bias=False)
        self.W_h = nn.Linear(hidden, hidden, bias=False)
        self.W_o = nn.Linear(ATOM_FEATURES + hidden, hidden)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(dropout)
        self.bn = nn.BatchNorm1d(hidden) if batch_norm else nn.Identity()
        self.ffn = MLP(hidden + extra_features, out_features, hidden=list(ffn_hidden),
                       dropout=ffn_dropout, batch_norm=False)

    def encode(self, g, x: torch.Tensor | None = None) -> torch.Tensor:
        """Molecule embeddings ``(n_molecules, hidden)``; ``x`` overrides the atom features
        (used for gradient x input attributions)."""
        x = g.x if x is None else x
        n_atoms = x.shape[0]
        h0 = self.W_i(torch.cat([x[g.src], g.edge_attr], 1))
        h = self.act(h0)
        rev = torch.arange(h.shape[0], device=h.device) ^ 1
        for _ in range(self.depth - 1):
            incoming = h.new_zeros(n_atoms, h.shape[1]).index_add_(0, g.dst, h)
            m = incoming[g.src] - h[rev]
            h = self.drop(self.act(h0 + self.W_h(m)))
        incoming = h.new_zeros(n_atoms, h.shape[1]).index_add_(0, g.dst, h)
        atom_h = self.drop(self.act(self.W_o(torch.cat([x, incoming], 1))))
        batch = g.batch
        mol = atom_h.new_zeros(g.n_molecules, atom_h.shape[1]).index_add_(0, batch, atom_h)
        if self.aggregation == "mean":
            counts = (g.atom_ptr[1:] - g.atom_ptr[:-1]).clamp(min=1).to(mol.dtype)
            mol = mol / counts[:, None]
        return self.bn(mol)

    def forward(self, g, x: torch.Tensor | None = None) -> torch.Tensor:  # noqa: D102
        z = self.encode(g, x)
        if g.extra.shape[1]:
            z = torch.cat([z, g.extra.to(z.dtype)], 1)
        return self.ffn(z)


_MOL = ("molecule_property",)


@register("dmpnn", tasks=_MOL, hidden=300, depth=3, dropout=0.0, aggregation="mean",
          ffn_hidden=[300], ffn_dropout=0.0, batch_norm=False, descriptors=False)
def dmpnn(in_features: int, out_features: int, *, descriptors: bool, **params) -> DMPNN:
    """Directed message-passing network on molecular graphs (chemprop's D-MPNN)."""
    return DMPNN(in_features, out_features, **params)


@register("fingerprint_mlp", tasks=_MOL, radius=2, n_bits=2048, hidden=[512, 256],
          dropout=0.2, batch_norm=True, activation="relu", descriptors=False)
def fingerprint_mlp(in_features: int, out_features: int, *, radius: int, n_bits: int,
                    descriptors: bool, **params) -> MLP:
    """MLP on Morgan count fingerprints (log1p), optionally with RDKit descriptors."""
    return MLP(in_features, out_features, **params)
