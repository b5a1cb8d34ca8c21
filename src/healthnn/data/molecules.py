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
    "Featurized",
    "featurize_smiles",
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


def standardize(smiles: list[Any], *, max_atoms: int = DEFAULT_MAX_ATOMS,
                canonical: bool = True) -> Standardized:
    """Parse SMILES and standardise each molecule: keep the largest (organic) fragment, which
    strips salts and solvents; neutralise charges where a neutral form exists; canonicalise.

    Problems (missing or empty SMILES, unparsable text, RDKit sanitisation failures, more than
    ``max_atoms`` heavy atoms) become per-row messages in ``errors``; nothing raises.
    ``canonical=False`` skips writing canonical SMILES (``canonical`` is then all ``None``),
    which prediction does not need.
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
                    mol, n_frag = _standardize_one(Chem, raw, text, chooser, uncharger)
                    canon = Chem.MolToSmiles(mol) if canonical else None
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


_CHARGED: list[Any] = []


def _standardize_one(Chem: Any, raw: Any, text: str, chooser: Any, uncharger: Any) -> tuple[Any, int]:
    """Largest fragment, neutralised and sanitised; the steps that cannot change ``raw`` are
    skipped (a SMILES without '.' is one fragment; a molecule without charged atoms has nothing
    to neutralise), which gives the same molecule as running them all, faster."""
    if not _CHARGED:
        _CHARGED.append(Chem.MolFromSmarts("[!+0]"))
    n_frag = len(Chem.GetMolFrags(raw)) if "." in text else 1
    mol, changed = raw, False
    if n_frag > 1:
        mol, changed = chooser.choose(mol), True
    if mol.HasSubstructMatch(_CHARGED[0]):
        mol, changed = uncharger.uncharge(mol), True
    if changed:
        Chem.SanitizeMol(mol)
    return mol, n_frag


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
_LUTS: dict[str, np.ndarray] = {}


def _lookup_tables() -> dict[str, np.ndarray]:
    """RDKit enum value -> one-hot column, for hybridisation and bond type (built once)."""
    if not _LUTS:
        Chem = require_rdkit()
        hyb = np.full(64, len(_HYBRID), dtype=np.int64)
        for value, enum in Chem.HybridizationType.values.items():
            if str(enum) in _HYBRID:
                hyb[int(value)] = _HYBRID.index(str(enum))
        # bond types outside the table share the last column (aromatic), as they always have
        bond = np.full(64, len(_BOND_TYPES) - 1, dtype=np.int64)
        for value, enum in Chem.BondType.values.items():
            if str(enum) in _BOND_TYPES:
                bond[int(value)] = _BOND_TYPES.index(str(enum))
        _LUTS.update(hybrid=hyb, bond=bond)
    return _LUTS


def _graph_arrays(mols: list[Any]) -> tuple[np.ndarray, ...]:
    """Atom features, bond features and edge indices of a batch of molecules as numpy arrays.

    One pass of RDKit calls per atom and per bond collects plain numbers; the one-hot encoding
    is then done for the whole batch at once (no per-molecule numpy work).
    """
    luts = _lookup_tables()
    atom_vals: list[tuple] = []
    bond_vals: list[tuple] = []
    n_atoms = np.zeros(len(mols), dtype=np.int64)
    n_bonds = np.zeros(len(mols), dtype=np.int64)
    for k, mol in enumerate(mols):
        atoms = [(a.GetAtomicNum(), a.GetTotalDegree(), a.GetFormalCharge(),
                  int(a.GetChiralTag()), a.GetTotalNumHs(), int(a.GetHybridization()),
                  a.GetIsAromatic(), a.GetMass()) for a in mol.GetAtoms()]
        bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondType()),
                  b.GetIsConjugated(), b.IsInRing(), int(b.GetStereo()))
                 for b in mol.GetBonds()]
        n_atoms[k], n_bonds[k] = len(atoms), len(bonds)
        atom_vals += atoms
        bond_vals += bonds
    a = np.array(atom_vals, dtype=np.float64).reshape(-1, 8)
    ai = a[:, :6].astype(np.int64)
    n = len(a)
    z, degree, charge, chiral, hs, hyb = ai.T
    cols = [
        np.where((z >= 1) & (z <= len(_ELEMENTS)), z - 1, len(_ELEMENTS)),
        np.minimum(degree, len(_DEGREE)),
        np.where(np.abs(charge) <= 2, charge + 2, len(_CHARGE)),
        np.minimum(chiral, len(_CHIRAL)),
        np.minimum(hs, len(_NUM_HS)),
        luts["hybrid"][np.clip(hyb, 0, 63)],
    ]
    x = np.zeros((n, ATOM_FEATURES), dtype=np.float32)
    rows = np.arange(n)
    offset = 0
    for col, width in zip(cols, _ATOM_BLOCKS, strict=True):
        x[rows, offset + col] = 1.0
        offset += width
    x[:, offset] = a[:, 6]
    x[:, offset + 1] = a[:, 7] * 0.01

    b = np.array(bond_vals, dtype=np.int64).reshape(-1, 6)
    m = len(b)
    f = np.zeros((m, BOND_FEATURES), dtype=np.float32)
    k = len(_BOND_TYPES)
    rows = np.arange(m)
    f[rows, luts["bond"][np.clip(b[:, 2], 0, 63)]] = 1.0
    f[:, k] = b[:, 3]
    f[:, k + 1] = b[:, 4]
    f[rows, k + 2 + np.minimum(b[:, 5], _STEREO)] = 1.0
    # atom offset of each bond's molecule; each bond becomes two directed edges (u->v, v->u)
    start = np.repeat(np.cumsum(n_atoms) - n_atoms, n_bonds)
    u, v = b[:, 0] + start, b[:, 1] + start
    src = np.stack([u, v], 1).reshape(-1)
    dst = np.stack([v, u], 1).reshape(-1)
    return x, np.repeat(f, 2, axis=0), src, dst, n_atoms, 2 * n_bonds


def _graphs_from_arrays(x: np.ndarray, edge_attr: np.ndarray, src: np.ndarray, dst: np.ndarray,
                        n_atoms: np.ndarray, n_edges: np.ndarray,
                        extra: np.ndarray | None = None) -> MolGraphs:
    n = len(n_atoms)
    atom_ptr = np.zeros(n + 1, dtype=np.int64)
    atom_ptr[1:] = np.cumsum(n_atoms)
    edge_ptr = np.zeros(n + 1, dtype=np.int64)
    edge_ptr[1:] = np.cumsum(n_edges)
    extra_t = (torch.zeros((n, 0)) if extra is None
               else torch.as_tensor(np.asarray(extra, dtype=np.float32)))
    return MolGraphs(torch.from_numpy(x), torch.from_numpy(edge_attr), torch.from_numpy(src),
                     torch.from_numpy(dst), torch.from_numpy(atom_ptr),
                     torch.from_numpy(edge_ptr), extra_t)


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
    """Featurise RDKit molecules into one :class:`MolGraphs`.

    >>> from rdkit import Chem
    >>> g = mol_graphs([Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("C=O")])
    >>> len(g), g.x.shape[0], g.src.tolist(), g.dst.tolist()
    (2, 5, [0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3])
    """
    return _graphs_from_arrays(*_graph_arrays(mols), extra=extra)


_CHUNK_MIN, _CHUNK_MAX = 200, 2000


@dataclass
class Featurized:
    """Result of :func:`featurize_smiles`: standardisation outcome and model inputs, one row per
    input SMILES (rows that failed are featurised as methane and listed in ``errors``)."""

    canonical: list[str | None]
    errors: dict[int, str]
    notes: dict[int, str]
    graphs: MolGraphs | None = None
    fingerprints: np.ndarray | None = None
    descriptors: np.ndarray | None = None


def _featurize_chunk(job: tuple[list[Any], int, str, int, int, list[str], bool]) -> tuple:
    """Worker: standardise and featurise one chunk of SMILES (plain arrays come back)."""
    smiles, max_atoms, kind, radius, n_bits, names, canonical = job
    std = standardize(smiles, max_atoms=max_atoms, canonical=canonical)
    placeholder = require_rdkit().MolFromSmiles("C")
    mols = [placeholder if m is None else m for m in std.mols]
    feats = (_graph_arrays(mols) if kind == "graph"
             else morgan_counts(mols, radius=radius, n_bits=n_bits))
    desc = descriptors(mols, names) if names else None
    return std.canonical, std.errors, std.notes, feats, desc


def featurize_smiles(smiles: list[Any], *, kind: str = "graph", max_atoms: int = DEFAULT_MAX_ATOMS,
                     radius: int = 2, n_bits: int = 2048, descriptor_names: list[str] | None = None,
                     workers: int = 1, chunk_size: int | None = None, canonical: bool = True,
                     progress: bool = False) -> Featurized:
    """Standardise and featurise a SMILES library in chunks, optionally in ``workers`` processes.

    ``kind`` is ``"graph"`` (:class:`MolGraphs`) or ``"fingerprint"`` (Morgan counts). Results
    keep the input order and every row (failures are in ``errors``). The same numbers come out
    whatever ``workers`` and ``chunk_size`` are (default: about four chunks per worker, between
    200 and 2000 molecules each). ``canonical=False`` skips canonical SMILES (faster).

    >>> f = featurize_smiles(["CCO", "bad", "c1ccccc1"], workers=1)
    >>> f.canonical, sorted(f.errors), len(f.graphs)
    (['CCO', None, 'c1ccccc1'], [1], 3)
    """
    if kind not in ("graph", "fingerprint"):
        raise ValueError(f"kind must be 'graph' or 'fingerprint', not {kind!r}")
    require_rdkit()
    smiles = list(smiles)
    if chunk_size is None:
        chunk_size = min(_CHUNK_MAX, max(_CHUNK_MIN, -(-len(smiles) // (4 * max(workers, 1)))))
    chunk_size = max(1, int(chunk_size))
    jobs = [(smiles[i:i + chunk_size], max_atoms, kind, radius, n_bits, descriptor_names or [],
             canonical) for i in range(0, len(smiles), chunk_size)]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(smiles), unit="mol", desc="featurising", disable=not progress,
               leave=False)
    results = []
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        pool = ctx.Pool(min(workers, len(jobs)))
        try:
            for res, job in zip(pool.imap(_featurize_chunk, jobs), jobs, strict=True):
                results.append(res)
                bar.update(len(job[0]))
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
    else:
        for job in jobs:
            results.append(_featurize_chunk(job))
            bar.update(len(job[0]))
    bar.close()
    out = Featurized([], {}, {})
    start = 0
    for (canon, errors, notes, _, _), job in zip(results, jobs, strict=True):
        out.canonical += canon
        out.errors.update({start + i: m for i, m in errors.items()})
        out.notes.update({start + i: m for i, m in notes.items()})
        start += len(job[0])
    if descriptor_names:
        out.descriptors = (np.concatenate([r[4] for r in results]) if results
                           else np.zeros((0, len(descriptor_names))))
    if kind == "fingerprint":
        out.fingerprints = (np.concatenate([r[3] for r in results]) if results
                            else np.zeros((0, n_bits), dtype=np.float32))
        return out
    parts = [r[3] for r in results]
    if not parts:
        out.graphs = mol_graphs([])
        return out
    shift = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
    out.graphs = _graphs_from_arrays(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] + s for p, s in zip(parts, shift, strict=True)]),
        np.concatenate([p[3] + s for p, s in zip(parts, shift, strict=True)]),
        np.concatenate([p[4] for p in parts]), np.concatenate([p[5] for p in parts]))
    return out


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
