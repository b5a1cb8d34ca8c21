"""The fast featuriser (vectorised, chunked, optionally multi-process) equals the reference one."""

import numpy as np
import pandas as pd
import pytest
import torch
from chem_reference import reference_mol_graphs, reference_standardize
from helpers import MOLECULES

from healthnn.data.molecules import (
    _FIELDS,
    featurize_smiles,
    mol_graphs,
    morgan_counts,
    standardize,
)

pytest.importorskip("rdkit")
pytestmark = pytest.mark.usefixtures("one_thread")

# salts, charges, zwitterions, nitro groups, aromatic rings, stereo (tetrahedral and E/Z),
# metals and organometallics, isotopes, radicals, explicit H, aromatic heteroatoms, odd valence,
# a dotted SMILES that is one fragment (ring closure across '.'), triple and unusual bonds, and
# rows that fail (invalid, empty, None, too large)
DIVERSE = [
    "CC(=O)[O-].[Na+]", "OC(=O)c1ccccc1.Cl", "C[NH3+]", "[NH3+]CC(=O)[O-]",
    "O=[N+]([O-])c1ccc(O)cc1", "CN(=O)=O", "c1ccc2[nH]ccc2c1", "c1ccncc1", "o1cccc1", "c1ccsc1",
    "C[C@H](N)C(=O)O", "C[C@@H](O)[C@H](N)C(=O)O", "F/C=C/F", "F/C=C\\F", "C/C=C/C=C\\C",
    "[Cu+2].[O-]C(=O)C", "[Pt](Cl)(Cl)(N)N", "C[Hg]C", "[Fe+3].[Cl-].[Cl-].[Cl-]",
    "[Na+].[Na+].[O-]S(=O)(=O)[O-]", "[2H]C([2H])([2H])O", "[13CH4]", "C[CH2]", "[CH3]",
    "C1.C1", "CC#N", "C=[N+]=[N-]", "[O-][n+]1ccccc1", "CS(C)=O", "c1ccc2c(c1)ccc1ccccc12",
    "B(O)(O)c1ccccc1", "[SiH4]", "[Se]", "[He]", "*C", "C[N+](C)(C)C.[I-]",
    "OC1=CC=CC=C1", "C1=CC=CC=C1", "P(=O)(O)(O)O", "[Li+].[AlH4-]",
    "not a smiles", "", None, "C1CC", "c1cccc1", "C" * 250,
]


def _smiles() -> list:
    rows = [*DIVERSE]
    for name in ("esol_small.csv", "bbbp_small.csv", "tox21_small.csv"):
        rows += pd.read_csv(MOLECULES / name)["smiles"].tolist()
    return rows


def _assert_graphs_equal(a, b) -> None:
    for f in _FIELDS:
        ta, tb = getattr(a, f), getattr(b, f)
        assert ta.dtype == tb.dtype and ta.shape == tb.shape, f
        assert torch.equal(ta, tb), f


def test_standardize_equals_reference_on_diverse_molecules():
    smiles = _smiles()
    fast, ref = standardize(smiles), reference_standardize(smiles)
    assert fast.canonical == ref.canonical
    assert fast.errors == ref.errors and fast.notes == ref.notes
    assert len(fast.errors) == 6  # invalid, empty, None, unclosed ring, bad aromatic, too large
    assert fast.canonical[DIVERSE.index("[NH3+]CC(=O)[O-]")] == "NCC(=O)O"


def test_graphs_equal_reference_on_diverse_molecules():
    mols = [m for m in standardize(_smiles()).mols if m is not None]
    _assert_graphs_equal(mol_graphs(mols), reference_mol_graphs(mols))
    _assert_graphs_equal(mol_graphs([]), reference_mol_graphs([]))
    extra = np.random.default_rng(0).normal(size=(3, 4))
    _assert_graphs_equal(mol_graphs(mols[:3], extra), reference_mol_graphs(mols[:3], extra))


@pytest.mark.parametrize("workers,chunk", [(1, 7), (2, 25)])
def test_featurize_smiles_keeps_order_rows_and_values(workers, chunk):
    smiles = _smiles()
    std = reference_standardize(smiles)
    from rdkit import Chem

    methane = Chem.MolFromSmiles("C")
    mols = [methane if m is None else m for m in std.mols]
    f = featurize_smiles(smiles, workers=workers, chunk_size=chunk)
    assert f.canonical == std.canonical and f.errors == std.errors and f.notes == std.notes
    _assert_graphs_equal(f.graphs, reference_mol_graphs(mols))
    fp = featurize_smiles(smiles, kind="fingerprint", n_bits=256, radius=2, workers=workers,
                          chunk_size=chunk, descriptor_names=["MolWt", "TPSA"])
    np.testing.assert_array_equal(fp.fingerprints, morgan_counts(mols, radius=2, n_bits=256))
    assert fp.descriptors.shape == (len(smiles), 2) and np.isfinite(fp.descriptors).all()


def test_featurize_smiles_empty_and_bad_kind():
    assert len(featurize_smiles([]).graphs) == 0
    with pytest.raises(ValueError, match="kind"):
        featurize_smiles(["C"], kind="image")
