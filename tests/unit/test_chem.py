"""Chemistry: standardisation, featurisers, scaffold split and the D-MPNN."""

import numpy as np
import pytest
import torch

from healthnn.data.molecules import (
    ATOM_FEATURES,
    BOND_FEATURES,
    bemis_murcko_scaffolds,
    descriptor_names,
    descriptors,
    mol_graphs,
    morgan_counts,
    standardize,
)
from healthnn.data.split import scaffold_split
from healthnn.models.dmpnn import DMPNN

pytest.importorskip("rdkit")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_standardize_salts_charges_and_bad_input():
    std = standardize(["CC(=O)[O-].[Na+]", "OC(=O)c1ccccc1.Cl", "C[NH3+]", "c1ccccc1O",
                       "not a smiles", "", None, "C1CC", "[Cu+2].[O-]C(=O)C"])
    assert std.canonical[:4] == ["CC(=O)O", "O=C(O)c1ccccc1", "CN", "Oc1ccccc1"]
    assert set(std.errors) == {4, 5, 6, 7}
    assert "invalid SMILES" in std.errors[4] and std.errors[5] == "empty SMILES"
    assert std.errors[6] == "empty SMILES"
    assert "kept the largest" in std.notes[0]
    assert std.canonical[8] == "CC(=O)O"  # metal counter-ion stripped


def test_standardize_rejects_very_large_molecules():
    big = "C" * 250
    std = standardize([big, "CCO"], max_atoms=200)
    assert "too large: 250 heavy atoms" in std.errors[0] and std.mols[1] is not None


def test_morgan_counts_known_molecules():
    mols = standardize(["CCO", "CCO", "c1ccccc1"]).mols
    fp = morgan_counts(mols, radius=2, n_bits=2048)
    assert fp.shape == (3, 2048) and fp.dtype == np.float32
    np.testing.assert_array_equal(fp[0], fp[1])
    # ethanol: 3 atoms at radius 0 and 3 at radius 1; radius-2 environments cover the same
    # atoms as radius-1 ones and RDKit drops them -> 6 counts
    assert fp[0].sum() == 6
    # benzene: six identical atoms -> one radius-0 bit counted 6 times
    assert fp[2].max() == 6


def test_descriptors_known_values():
    names = descriptor_names()
    assert len(names) > 150 and "MolWt" in names
    d = descriptors(standardize(["CCO"]).mols, ["MolWt", "NumHDonors", "RingCount"])
    np.testing.assert_allclose(d[0], [46.069, 1, 0], atol=1e-3)


def test_graph_features_and_indexing():
    g = mol_graphs(standardize(["CCO", "c1ccccc1", "[Na+].[Cl-]", "C"]).mols)
    assert g.x.shape == (3 + 6 + 1 + 1, ATOM_FEATURES)  # NaCl keeps one ion
    assert g.edge_attr.shape == (2 * (2 + 6), BOND_FEATURES)
    assert g.atom_ptr.tolist() == [0, 3, 9, 10, 11]
    # edges come in reverse pairs
    assert torch.equal(g.src[0::2], g.dst[1::2]) and torch.equal(g.dst[0::2], g.src[1::2])
    # aromatic bonds of benzene
    assert g.edge_attr[4:16, 3].eq(1).all()
    sub = g[torch.tensor([1, 0])]
    assert len(sub) == 2 and sub.atom_ptr.tolist() == [0, 6, 9]
    assert torch.equal(sub.x[:6], g.x[3:9])
    assert sub.src.max() < 9 and sub.src[:12].max() < 6 and sub.src[12:].min() >= 6
    assert len(g[1:3]) == 2


def test_dmpnn_shapes_and_permutation_invariance():
    torch.manual_seed(0)
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C"]
    g = mol_graphs(standardize(smiles).mols)
    model = DMPNN(0, 3, hidden=32, depth=3).eval()
    out = model(g)
    assert out.shape == (4, 3)
    # atom order inside a molecule does not matter
    from rdkit import Chem

    perm = [Chem.MolFromSmiles(s) for s in ["OCC", "Oc1ccccc1", "O=C(C)Nc1ccc(O)cc1", "C"]]
    out2 = model(mol_graphs(standardize([Chem.MolToSmiles(m, canonical=False)
                                         for m in perm]).mols))
    torch.testing.assert_close(out, out2, rtol=1e-5, atol=1e-5)
    # renumbering atoms directly (no canonicalisation involved)
    m = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    order = list(np.random.default_rng(0).permutation(m.GetNumAtoms()))
    renum = Chem.RenumberAtoms(m, [int(i) for i in order])
    a = model(mol_graphs([m]))
    b = model(mol_graphs([renum]))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # a batch gives the same outputs as molecules one at a time
    single = torch.cat([model(g[[i]]) for i in range(4)])
    torch.testing.assert_close(out, single, rtol=1e-5, atol=1e-5)
    # descriptors concatenated before the FFN
    g.extra = torch.ones(4, 5)
    assert DMPNN(5, 1, hidden=16)(g).shape == (4, 1)


def test_scaffolds_and_scaffold_split():
    mols = standardize(["CCc1ccccc1O", "Oc1ccccc1", "CCO", "C1CCNCC1C"]).mols
    assert bemis_murcko_scaffolds(mols) == ["c1ccccc1", "c1ccccc1", "", "C1CCNCC1"]
    rng = np.random.default_rng(0)
    scaffolds = rng.choice([f"s{i}" for i in range(60)], 400)
    a = scaffold_split(scaffolds, test_size=0.1, val_size=0.1, seed=0)
    b = scaffold_split(scaffolds, test_size=0.1, val_size=0.1, seed=0)
    assert all(np.array_equal(a[k], b[k]) for k in a)  # deterministic
    assert sorted(np.concatenate(list(a.values()))) == list(range(400))
    sets = {k: set(scaffolds[v]) for k, v in a.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"])
    assert not (sets["val"] & sets["test"])
    assert 20 <= len(a["test"]) <= 45
    c = scaffold_split(scaffolds, test_size=0.1, val_size=0.1, seed=1)
    assert not np.array_equal(a["test"], c["test"])
