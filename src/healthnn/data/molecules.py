"""Molecules from SMILES: parsing and standardisation, fingerprints, descriptors and graphs.

RDKit is imported lazily (``pip install healthnn[chem]``). Every function that reads SMILES
returns a per-row error message instead of raising, so a batch job can report bad rows and
finish the rest.

>>> std = standardize(["CC(=O)[O-].[Na+]", "c1ccccc1O", "not a smiles", ""])  # doctest: +SKIP
>>> std.canonical                                                              # doctest: +SKIP
['CC(=O)O', 'Oc1ccccc1', None, None]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from healthnn.errors import DataError

__all__ = [
    "require_rdkit",
    "Standardized",
    "standardize",
    "morgan_counts",
    "descriptor_names",
    "descriptors",
    "MolGraphs",
    "mol_graphs",
    "bemis_murcko_scaffolds",
    "ATOM_FEATURES",
    "BOND_FEATURES",
]

DEFAULT_MAX_ATOMS = 200

# -- atom and bond features (chemprop-like one-hots) ----------------------------------------------
_ELEMENTS = list(range(1, 101))  # atomic numbers 1..100, then "other"
_DEGREE = [0, 1, 2, 3, 4, 5]
_CHARGE = [-2, -1, 0, 1, 2]
_CHIRAL = [0, 1, 2, 3]
_NUM_HS = [0, 1, 2, 3, 4]
_HYBRID = ["S", "SP", "SP2", "SP3", "SP3D", "SP3D2"]
_ATOM_BLOCKS = [len(_ELEMENTS) + 1, len(_DEGREE) + 1, len(_CHARGE) + 1, len(_CHIRAL) + 1,
                len(_NUM_HS) + 1, len(_HYBRID) + 1]
ATOM_FEATURES = sum(_ATOM_BLOCKS) + 2  # + aromatic + mass/100
_BOND_TYPES = ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]
_STEREO = 6
BOND_FEATURES = len(_BOND_TYPES) + 2 + _STEREO + 1  # + conjugated, in ring; stereo one-hot


def require_rdkit():
    """Import RDKit (quietly) or explain how to install it."""
    try:
        from rdkit import Chem, RDLogger
    except ImportError:  # pragma: no cover - depends on the environment
        raise DataError("molecules need RDKit, which is not installed",
                        hint="pip install 'healthnn[chem]'") from None
    RDLogger.DisableLog("rdApp.*")
    return Chem


@dataclass
class Standardized:
    """Result of :func:`standardize`: one entry per input, ``None`` where it failed."""

    mols: list[Any]
    canonical: list[str | None]
    errors: dict[int, str] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)  # e.g. "salt stripped"


def _standardizers():
    from rdkit.Chem.MolStandardize import rdMolStandardize

    return rdMolStandardize.LargestFragmentChooser(preferOrganic=True), rdMolStandardize.Uncharger()


def standardize(smiles: list[Any], *, max_atoms: int = DEFAULT_MAX_ATOMS) -> Standardized:
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


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# -- fingerprints and descriptors ----------------------------------------------------------------
def morgan_counts(mols: list[Any], *, radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """Morgan (ECFP-like) count fingerprints, shape ``(len(mols), n_bits)``, float32.

    >>> from rdkit import Chem
    >>> fp = morgan_counts([Chem.MolFromSmiles("CCO")], radius=1, n_bits=64)
    >>> fp.shape, int(fp.sum())   # 3 atoms x (radius 0 and radius 1 environments)
    ((1, 64), 6)
    """
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(mols), n_bits), dtype=np.float32)
    for i, mol in enumerate(mols):
        out[i] = gen.GetCountFingerprintAsNumPy(mol)
    return out


def morgan_atom_map(mol: Any, *, radius: int, n_bits: int) -> dict[int, list[int]]:
    """For one molecule: fingerprint bit -> atoms at the centre of its environments."""
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    ao = rdFingerprintGenerator.AdditionalOutput()
    ao.AllocateBitInfoMap()
    gen.GetCountFingerprintAsNumPy(mol, additionalOutput=ao)
    return {bit: [a for a, _ in envs] for bit, envs in ao.GetBitInfoMap().items()}


def descriptor_names() -> list[str]:
    """Names of RDKit's 2D descriptors (``rdkit.Chem.Descriptors.descList``)."""
    require_rdkit()
    from rdkit.Chem import Descriptors

    return [name for name, _ in Descriptors.descList]


def descriptors(mols: list[Any], names: list[str]) -> np.ndarray:
    """RDKit 2D descriptors, shape ``(len(mols), len(names))``; failures and infinities are NaN."""
    require_rdkit()
    from rdkit.Chem import Descriptors

    fns = dict(Descriptors.descList)
    missing = [n for n in names if n not in fns]
    if missing:
        raise DataError(f"RDKit here lacks descriptor(s) {', '.join(missing[:5])} used in training",
                        hint="install the RDKit version recorded in the bundle's manifest")
    out = np.full((len(mols), len(names)), np.nan, dtype=np.float64)
    for i, mol in enumerate(mols):
        for j, n in enumerate(names):
            try:
                out[i, j] = fns[n](mol)
            except Exception:  # noqa: BLE001 - a descriptor failing on one molecule is a NaN
                pass
    out[~np.isfinite(out)] = np.nan
    return out


# -- graphs --------------------------------------------------------------------------------------
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


@dataclass
class MolGraphs:
    """A batch of molecular graphs, stored flat (PyTorch Geometric style).

    Directed edges come in pairs: edge ``2k`` is ``u -> v`` and ``2k + 1`` is ``v -> u``, so the
    reverse of edge ``e`` is ``e ^ 1``. ``atom_ptr``/``edge_ptr`` (length ``n + 1``) delimit the
    molecules. ``extra`` holds per-molecule features (e.g. descriptors) or has 0 columns.

    Indexing with a slice or an index tensor returns a new :class:`MolGraphs`, so the shared
    :class:`~healthnn.training.TensorBatches` batches graphs exactly like table rows.
    """

    x: torch.Tensor            # (atoms, ATOM_FEATURES)
    edge_attr: torch.Tensor    # (edges, BOND_FEATURES)
    src: torch.Tensor          # (edges,) global atom index
    dst: torch.Tensor          # (edges,)
    atom_ptr: torch.Tensor     # (n + 1,)
    edge_ptr: torch.Tensor     # (n + 1,)
    extra: torch.Tensor        # (n, k)

    def __len__(self) -> int:
        return len(self.atom_ptr) - 1

    @property
    def n_molecules(self) -> Any:
        """``len(self)`` as a tensor dimension, so ONNX export keeps the batch size dynamic."""
        return self.atom_ptr.shape[0] - 1

    @property
    def batch(self) -> torch.Tensor:
        """Molecule index of every atom."""
        counts = self.atom_ptr[1:] - self.atom_ptr[:-1]
        return torch.repeat_interleave(torch.arange(self.n_molecules, device=counts.device), counts)

    def to(self, device: Any) -> MolGraphs:
        return MolGraphs(*(getattr(self, f).to(device) for f in _FIELDS))

    def __getitem__(self, index: Any) -> MolGraphs:
        n = len(self)
        if isinstance(index, slice):
            index = torch.arange(n)[index]
        index = torch.as_tensor(index, dtype=torch.long)
        a_start, a_count = self.atom_ptr[index], self.atom_ptr[index + 1] - self.atom_ptr[index]
        e_start, e_count = self.edge_ptr[index], self.edge_ptr[index + 1] - self.edge_ptr[index]
        new_aptr = torch.zeros(len(index) + 1, dtype=torch.long)
        new_aptr[1:] = torch.cumsum(a_count, 0)
        new_eptr = torch.zeros(len(index) + 1, dtype=torch.long)
        new_eptr[1:] = torch.cumsum(e_count, 0)
        atoms = _ranges(a_start, a_count, new_aptr)
        edges = _ranges(e_start, e_count, new_eptr)
        # shift each edge's atom indices from its old molecule offset to the new one
        shift = torch.repeat_interleave(new_aptr[:-1] - a_start, e_count)
        return MolGraphs(self.x[atoms], self.edge_attr[edges], self.src[edges] + shift,
                         self.dst[edges] + shift, new_aptr, new_eptr, self.extra[index])


_FIELDS = ("x", "edge_attr", "src", "dst", "atom_ptr", "edge_ptr", "extra")


def _ranges(starts: torch.Tensor, counts: torch.Tensor, new_ptr: torch.Tensor) -> torch.Tensor:
    """Concatenation of ``arange(s, s + c)`` for each (start, count), without a Python loop."""
    total = int(new_ptr[-1])
    offsets = torch.arange(total) - torch.repeat_interleave(new_ptr[:-1], counts)
    return torch.repeat_interleave(starts, counts) + offsets


def mol_graphs(mols: list[Any], extra: np.ndarray | None = None) -> MolGraphs:
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


def bemis_murcko_scaffolds(mols: list[Any]) -> list[str]:
    """Bemis-Murcko scaffold SMILES of each molecule (``""`` for acyclic molecules).

    >>> from rdkit import Chem
    >>> bemis_murcko_scaffolds([Chem.MolFromSmiles("CCc1ccccc1O"), Chem.MolFromSmiles("CCO")])
    ['c1ccccc1', '']
    """
    require_rdkit()
    from rdkit.Chem.Scaffolds import MurckoScaffold

    out = []
    for mol in mols:
        try:
            out.append(MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False))
        except Exception:  # noqa: BLE001
            out.append("")
    return out
