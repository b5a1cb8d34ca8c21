"""The first (per-atom Python) featuriser and standardiser of issue 4, kept verbatim as the
reference that the fast, vectorised implementation in ``healthnn.data.molecules`` must equal."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from healthnn.data.molecules import (
    _ATOM_BLOCKS, _BOND_TYPES, _CHARGE, _CHIRAL, _DEGREE, _ELEMENTS, _HYBRID, _NUM_HS, _STEREO,
    ATOM_FEATURES, BOND_FEATURES, MolGraphs, Standardized, _short, require_rdkit,
)


def _standardizers():
    from rdkit.Chem.MolStandardize import rdMolStandardize

    return rdMolStandardize.LargestFragmentChooser(preferOrganic=True), rdMolStandardize.Uncharger()


def reference_standardize(smiles: list[Any], *, max_atoms: int = 200) -> Standardized:
    """Parse SMILES and standardise each molecule: keep the largest (organic) fragment, which
    strips salts and solvents; neutralise charges where a neutral form exists; canonicalise.

    Problems (missing or empty SMILES, unparsable text, RDKit sanitisation failures, more than
    ``max_atoms`` heavy atoms) become per-row messages in ``errors``; nothing raises.
    """
    Chem = require_rdkit()
    chooser, uncharger = _standardizers()
    out = Standardized([], [])
    for i, s in enumerate(smiles):
        mol, canon = None, None
        text = "" if s is None or (isinstance(s, float) and np.isnan(s)) else str(s).strip()
        if not text:
            out.errors[i] = "empty SMILES"
        else:
            try:
                raw = Chem.MolFromSmiles(text)
            except Exception:  # noqa: BLE001 - RDKit raises a variety of things on odd input
                raw = None
            if raw is None:
                out.errors[i] = f"invalid SMILES {_short(text)} (RDKit cannot parse it)"
            elif raw.GetNumAtoms() == 0:
                out.errors[i] = "SMILES has no atoms"
            else:
                try:
                    n_frag = len(Chem.GetMolFrags(raw))
                    mol = chooser.choose(raw)
                    mol = uncharger.uncharge(mol)
                    Chem.SanitizeMol(mol)
                    canon = Chem.MolToSmiles(mol)
                    if n_frag > 1:
                        out.notes[i] = f"kept the largest of {n_frag} fragments"
                except Exception as exc:  # noqa: BLE001
                    mol = None
                    out.errors[i] = f"SMILES {_short(text)} cannot be standardised: {exc}"
                if mol is not None and mol.GetNumHeavyAtoms() > max_atoms:
                    out.errors[i] = (f"molecule too large: {mol.GetNumHeavyAtoms()} heavy atoms, "
                                     f"the limit is {max_atoms} (set [data] max_atoms)")
                    mol, canon = None, None
        out.mols.append(mol)
        out.canonical.append(canon)
    return out



def _index(values: list, table: list) -> np.ndarray:
    pos = {v: i for i, v in enumerate(table)}
    return np.array([pos.get(v, len(table)) for v in values], dtype=np.int64)


def _atom_features(mol: Any) -> np.ndarray:
    atoms = list(mol.GetAtoms())
    cols = [
        _index([a.GetAtomicNum() for a in atoms], _ELEMENTS),
        _index([a.GetTotalDegree() for a in atoms], _DEGREE),
        _index([a.GetFormalCharge() for a in atoms], _CHARGE),
        _index([int(a.GetChiralTag()) for a in atoms], _CHIRAL),
        _index([a.GetTotalNumHs() for a in atoms], _NUM_HS),
        _index([str(a.GetHybridization()) for a in atoms], _HYBRID),
    ]
    n = mol.GetNumAtoms()
    x = np.zeros((n, ATOM_FEATURES), dtype=np.float32)
    offset = 0
    rows = np.arange(n)
    for col, width in zip(cols, _ATOM_BLOCKS, strict=True):
        x[rows, offset + col] = 1.0
        offset += width
    x[:, offset] = [a.GetIsAromatic() for a in atoms]
    x[:, offset + 1] = [a.GetMass() * 0.01 for a in atoms]
    return x


def _bond_features(mol: Any) -> tuple[np.ndarray, np.ndarray]:
    bonds = list(mol.GetBonds())
    m = mol.GetNumBonds()
    ends = np.array([[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] for b in bonds],
                    dtype=np.int64).reshape(m, 2)
    f = np.zeros((m, BOND_FEATURES), dtype=np.float32)
    if m:
        rows = np.arange(m)
        f[rows, _index([str(b.GetBondType()) for b in bonds], _BOND_TYPES).clip(max=3)] = 1.0
        k = len(_BOND_TYPES)
        f[:, k] = [b.GetIsConjugated() for b in bonds]
        f[:, k + 1] = [b.IsInRing() for b in bonds]
        f[rows, k + 2 + np.array([min(int(b.GetStereo()), _STEREO) for b in bonds])] = 1.0
    return ends, f


def reference_mol_graphs(mols: list[Any], extra: np.ndarray | None = None) -> MolGraphs:
    """Featurise RDKit molecules into one :class:`MolGraphs`."""
    xs, eas, srcs, dsts = [], [], [], []
    n_atoms, n_edges = [], []
    offset = 0
    for mol in mols:
        x = _atom_features(mol)
        ends, bf = _bond_features(mol)
        src = np.stack([ends[:, 0], ends[:, 1]], 1).reshape(-1) + offset
        dst = np.stack([ends[:, 1], ends[:, 0]], 1).reshape(-1) + offset
        xs.append(x)
        eas.append(np.repeat(bf, 2, axis=0))
        srcs.append(src)
        dsts.append(dst)
        n_atoms.append(len(x))
        n_edges.append(len(src))
        offset += len(x)
    n = len(mols)
    cat = (lambda parts, shape, dtype: np.concatenate(parts) if parts else np.zeros(shape, dtype))
    atom_ptr = np.zeros(n + 1, dtype=np.int64)
    atom_ptr[1:] = np.cumsum(n_atoms)
    edge_ptr = np.zeros(n + 1, dtype=np.int64)
    edge_ptr[1:] = np.cumsum(n_edges)
    extra_t = (torch.zeros((n, 0)) if extra is None
               else torch.as_tensor(np.asarray(extra, dtype=np.float32)))
    return MolGraphs(
        torch.from_numpy(cat(xs, (0, ATOM_FEATURES), np.float32)),
        torch.from_numpy(cat(eas, (0, BOND_FEATURES), np.float32)),
        torch.from_numpy(cat(srcs, (0,), np.int64)),
        torch.from_numpy(cat(dsts, (0,), np.int64)),
        torch.from_numpy(atom_ptr), torch.from_numpy(edge_ptr), extra_t,
    )


