"""Event streams: readers, cleaning (every bad input counted), aggregates, GRU-D grids, MIMIC."""

import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from healthnn.data import events as E
from healthnn.errors import DataError

EHR = Path(__file__).resolve().parents[1] / "data" / "ehr"
ARCHIVE = EHR / "physionet2012_set-a_subset.tar.xz"
CORRECTED = EHR / "physionet2012_set-a_corrected_subset.tar.xz"  # the same 60 stays


def long_events(rows):
    ev = pd.DataFrame(rows, columns=["stay", "time", "variable", "value"])
    ev["value"] = ev["value"].astype(float)
    ev["src"], ev["line"] = 0, np.arange(1, len(ev) + 1)
    ev.attrs.update(sources=["ev.csv"], where="row")
    return ev


# -- reading ------------------------------------------------------------------------------------
def test_parse_times_numbers_clock_and_dates():
    stays = pd.Series(["a", "a", "b"])
    assert E.parse_times(pd.Series([0.5, 2.0, 3.0]), stays).tolist() == [0.5, 2.0, 3.0]
    assert E.parse_times(pd.Series(["90", "30", "0"]), stays, unit="minutes").tolist() == \
        [1.5, 0.5, 0.0]
    assert E.parse_times(pd.Series(["00:00", "47:59", "xx"]), stays)[:2].tolist() == \
        pytest.approx([0.0, 47 + 59 / 60])
    t = E.parse_times(pd.Series(["2101-01-01 10:00", "2101-01-02 12:30", "2101-03-01"]), stays)
    assert t.tolist() == [0.0, 26.5, 0.0]  # hours since each stay's first event


def test_read_physionet_archive_folder_and_single_file(tmp_path):
    ev, fmt = E.read_events(ARCHIVE)
    assert fmt == "physionet2012"
    assert ev["stay"].nunique() == 60 and len(ev.attrs["stays"]) == 60
    assert "RecordID" not in set(ev["variable"])  # the id line is not a measurement
    assert ev["time"].between(0, 48).all()
    # the same files unpacked into a folder, and one file on its own
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / "set-a"
    ev2, _ = E.read_events(folder)
    pd.testing.assert_frame_equal(ev.drop(columns="src"), ev2.drop(columns="src"))
    one = sorted(folder.glob("*.txt"))[0]
    ev3, fmt3 = E.read_events(one)
    assert fmt3 == "physionet2012" and set(ev3["stay"]) == {one.stem}
    lines = one.read_text().strip().splitlines()
    assert len(ev3) == len(lines) - 2  # header and RecordID line


def test_physionet_bad_files(tmp_path):
    (tmp_path / "1.txt").write_text("time,param,value\n00:00,HR,80\n")
    with pytest.raises(DataError, match="expected the header"):
        E.read_events(tmp_path)
    empty = tmp_path / "e"
    empty.mkdir()
    with pytest.raises(DataError, match="no PhysioNet 2012 stay files"):
        E.read_events(empty, format="physionet2012")
    (tmp_path / "broken.tar.xz").write_bytes(b"not an archive")
    with pytest.raises(DataError, match="cannot read the archive"):
        E.read_events(tmp_path / "broken.tar.xz")


def test_read_long_table_with_missing_stay_id(tmp_path):
    p = tmp_path / "ev.csv"
    p.write_text("stay_id,time,variable,value\n1,0,HR,80\n,1,HR,90\n")
    with pytest.raises(DataError, match="row 2.*stay_id.*no stay id|no stay id"):
        E.read_events(p)


# -- cleaning: every bad input is counted, nothing silently dropped -----------------------------
def test_unknown_variables_are_counted_and_left_out():
    ev = long_events([("a", 0, "HR", 80), ("a", 1, "Hartrate", 81), ("a", 2, "Hartrate", 82),
                      ("a", 3, "XYZ", 1)])
    clean, rep = E.clean_events(ev, variables=["HR"])
    assert clean["variable"].tolist() == ["HR"]
    assert rep.unknown_variables == {"Hartrate": 2, "XYZ": 1}
    assert "3 event(s) of 2 unknown variable(s)" in rep.notes("ev.csv")[0]


def test_out_of_range_and_placeholders_become_missing_with_counts():
    ev = long_events([("a", 0, "HR", -5), ("a", 1, "HR", 80), ("a", 2, "HR", 900),
                      ("a", 0, "Height", -1), ("a", 0, "Temp", 37.0), ("a", 1, "Temp", -1)])
    clean, rep = E.clean_events(ev, ranges=E.PHYSIONET2012_RANGES, missing_values=[-1])
    assert sorted(clean["value"].tolist()) == [37.0, 80.0]
    assert rep.out_of_range == {"HR": 2}
    assert rep.placeholders == {"Height": 1, "Temp": 1}  # -1 counts as a placeholder first
    notes = " ".join(rep.notes("f"))
    assert "2 out-of-range value(s)" in notes and "2 placeholder value(s)" in notes


def test_duplicated_time_stamps_are_merged_and_counted():
    ev = long_events([("a", 1, "HR", 80), ("a", 1, "HR", 80), ("a", 2, "HR", 70),
                      ("a", 2, "HR", 90), ("a", 3, "HR", 60)])
    clean, rep = E.clean_events(ev)
    assert clean["time"].tolist() == [1, 2, 3]
    assert clean["value"].tolist() == [80, 80, 60]  # the conflicting pair is averaged
    assert rep.duplicate_exact == 1 and rep.duplicate_conflicting == 1


def test_unsorted_times_are_sorted_and_counted():
    ev = long_events([("a", 5, "HR", 1), ("a", 1, "HR", 2), ("b", 0, "HR", 3),
                      ("b", 1, "HR", 4)])
    clean, rep = E.clean_events(ev)
    assert clean["time"].tolist() == [1, 5, 0, 1]
    assert rep.unsorted_stays == 1
    assert "1 stay(s) had events out of time order" in rep.notes("f")[0]


def test_non_numeric_values_and_bad_times_name_the_first_row(tmp_path):
    p = tmp_path / "ev.csv"
    p.write_text("stay_id,time,variable,value\n1,0,HR,80\n1,1,HR,high\n1,,HR,70\n1,2,HR,\n")
    ev, _ = E.read_events(p)
    clean, rep = E.clean_events(ev)
    assert clean["value"].tolist() == [80.0]
    assert rep.non_numeric == 1 and rep.first_non_numeric == "ev.csv row 2, 'high'"
    assert rep.bad_time == 1 and rep.first_bad_time == "ev.csv row 3"


def test_windows_leave_out_later_events_with_a_count():
    ev = long_events([("a", 0, "HR", 1), ("a", 30, "HR", 2), ("a", 60, "HR", 3)])
    clean, rep = E.clean_events(ev, windows=[(0, 48)])
    assert clean["time"].tolist() == [0, 30] and rep.outside_windows == 1


def test_physionet_subset_real_problems_are_reported():
    ev, _ = E.read_events(ARCHIVE)
    clean, rep = E.clean_events(ev, ranges=E.PHYSIONET2012_RANGES, missing_values=[-1],
                                variables=E.PHYSIONET2012_VARIABLES)
    assert rep.events_in == len(ev) and rep.events_out == len(clean)
    assert rep.placeholders.get("Height", 0) > 0  # -1 = height not recorded
    removed = (sum(rep.placeholders.values()) + sum(rep.out_of_range.values())
               + rep.duplicate_exact)
    merged = len(ev) - removed - len(clean)
    assert merged >= rep.duplicate_conflicting  # groups of several values became one


def _cleaned_statics(path):
    ev, _ = E.read_events(path)
    clean, rep = E.clean_events(ev, ranges=E.PHYSIONET2012_RANGES, missing_values=[-1],
                                variables=E.PHYSIONET2012_VARIABLES)
    stays = sorted(set(ev["stay"]))
    ages = ev[ev["variable"] == "Age"].groupby("stay").size()
    return E.static_values(clean, E.PHYSIONET2012_STATIC, stays), rep, ages


def test_defective_and_corrected_set_a_layouts_both_read_with_counts():
    """Issue 21: the early set-A copy (no ICUType line, several Age lines in some stays) and
    the corrected release (ICUType, one Age line each) of the same 60 stays."""
    old, rep_old, ages_old = _cleaned_statics(ARCHIVE)
    new, rep_new, ages_new = _cleaned_statics(CORRECTED)
    assert len(old) == len(new) == 60
    assert old["ICUType"].isna().all()  # no ICUType line: missing, imputed by the model
    assert new["ICUType"].notna().all() and set(new["ICUType"]) <= {1, 2, 3, 4}
    assert (ages_new == 1).all() and (ages_old > 1).sum() >= 5
    # the conflicting Age lines (same stay, time 00:00) are merged into one value and
    # counted, as every other duplicated time stamp
    assert rep_old.duplicate_conflicting >= rep_new.duplicate_conflicting + (ages_old > 1).sum()
    notes = " ".join(rep_old.notes("set-a.tar.xz"))
    assert "group(s) with different values averaged" in notes
    one = (ages_old == 1).to_numpy()  # stays in sorted order, as static_values' rows
    a_old, a_new = old["Age"].to_numpy()[one], new["Age"].to_numpy()[one]
    differ = a_old != a_new  # one Age line in both: equal, unless the old one was over 90
    assert (a_old[differ] > 90).all() and (a_new[differ] == 90).all() and differ.sum() >= 1


# -- features -----------------------------------------------------------------------------------
def test_aggregates_match_a_direct_computation(rng):
    rows = []
    for s in range(15):
        for v in ("HR", "Temp"):
            for _ in range(int(rng.integers(0, 8))):
                rows.append((f"s{s}", float(rng.uniform(0, 48)), v, float(rng.normal(80, 10))))
    ev, _ = E.clean_events(long_events(rows))
    stays = [f"s{s}" for s in range(15)]
    windows = [(0.0, 24.0), (24.0, 48.0)]
    got = E.aggregate_events(ev, ["HR", "Temp"], windows=windows,
                             aggregates=list(E.AGGREGATES), stays=stays)
    assert list(got.columns) == E.feature_names(["HR", "Temp"], windows, list(E.AGGREGATES))
    for i, s in enumerate(stays):
        for a, b in windows:
            for v in ("HR", "Temp"):
                e = ev[(ev.stay == s) & (ev.variable == v) & (ev.time >= a) & (ev.time <= b)]
                sfx = f"@{a:g}-{b:g}h"
                assert got.loc[i, f"{v}_count{sfx}"] == len(e)
                if len(e) == 0:
                    assert np.isnan(got.loc[i, f"{v}_mean{sfx}"])
                    continue
                e = e.sort_values("time")
                x = e["value"].to_numpy()
                assert got.loc[i, f"{v}_first{sfx}"] == x[0]
                assert got.loc[i, f"{v}_last{sfx}"] == x[-1]
                assert got.loc[i, f"{v}_min{sfx}"] == x.min()
                assert got.loc[i, f"{v}_max{sfx}"] == x.max()
                assert got.loc[i, f"{v}_mean{sfx}"] == pytest.approx(x.mean())
                assert got.loc[i, f"{v}_sum{sfx}"] == pytest.approx(x.sum())
                assert got.loc[i, f"{v}_last_time{sfx}"] == e["time"].to_numpy()[-1]
                if len(e) >= 2:
                    ref = np.polyfit(e["time"].to_numpy(), x, 1)[0]
                    assert got.loc[i, f"{v}_slope{sfx}"] == pytest.approx(ref, rel=1e-6)
                else:
                    assert np.isnan(got.loc[i, f"{v}_slope{sfx}"])


def test_sequence_grid_masks_deltas_and_last_values():
    st = E.StayEvents(np.array([0.2, 0.7, 2.5]), np.array(["HR", "HR", "HR"], dtype=object),
                      np.array([10.0, 20.0, 40.0]))
    x = E.sequence_tensors([st], ["HR", "Temp"], start=0, end=4, resolution=1,
                           mean=np.array([10.0, 37.0]), std=np.array([10.0, 1.0]))
    assert x.shape == (1, 4, 8)
    val, mask, delta, last = x[0, :, 0], x[0, :, 2], x[0, :, 4], x[0, :, 6]
    assert val.tolist() == [0.5, 0.0, 3.0, 0.0]  # mean of 10 and 20 -> (15-10)/10; (40-10)/10
    assert mask.tolist() == [1, 0, 1, 0]
    assert delta.tolist() == [0, 1, 2, 1]  # hours since last observed
    assert last.tolist() == [0.5, 0.5, 3.0, 3.0]
    assert x[0, :, 3].tolist() == [0, 0, 0, 0]  # Temp never observed
    assert str(st) == "3"  # a scored file shows the count, never the values


def test_grud_uses_observations_and_their_timing():
    from healthnn.models.grud import GRUD

    torch.manual_seed(0)
    net = GRUD(n_variables=2, n_static=1, out_features=1, hidden=8, dropout=0.0).eval()
    st = E.StayEvents(np.array([0.5, 3.5]), np.array(["a", "b"], dtype=object),
                      np.array([1.0, 2.0]))
    grid = E.sequence_tensors([st], ["a", "b"], start=0, end=6, resolution=1,
                              mean=np.zeros(2), std=np.ones(2))
    x = torch.from_numpy(np.concatenate([grid.reshape(1, -1), [[0.3]]], 1).astype(np.float32))
    later = E.StayEvents(np.array([0.5, 5.5]), st.variable, st.value)
    grid2 = E.sequence_tensors([later], ["a", "b"], start=0, end=6, resolution=1,
                               mean=np.zeros(2), std=np.ones(2))
    x2 = torch.from_numpy(np.concatenate([grid2.reshape(1, -1), [[0.3]]], 1).astype(np.float32))
    assert not torch.allclose(net(x), net(x2))  # same values, other times: other output
    net(x).sum().backward()
    assert net.decay_h.weight.grad.abs().sum() > 0


# -- MIMIC-III cohort ---------------------------------------------------------------------------
def test_mimic_cohort_from_the_demo_subset(tmp_path):
    from healthnn.data.mimic import build_mimic_cohort

    folder = EHR / "mimic3_demo"
    s = build_mimic_cohort(folder, tmp_path)
    icu = pd.read_csv(folder / "ICUSTAYS.csv")
    adm = pd.read_csv(folder / "ADMISSIONS.csv")
    cohort = pd.read_csv(tmp_path / "cohort.csv")
    events = pd.read_csv(tmp_path / "events.csv")
    assert s["stays"] == len(icu) == len(cohort)
    ref = icu.merge(adm, on="hadm_id")["hospital_expire_flag"]
    assert s["deaths"] == int(ref.sum()) == int(cohort["in_hospital_death"].sum())
    assert set(events["stay_id"]) <= set(cohort["stay_id"])
    # an output event's time is hours since the ICU admission
    oe = pd.read_csv(folder / "OUTPUTEVENTS.csv").dropna(subset=["value"]).iloc[0]
    stay = icu.set_index("icustay_id").loc[oe["icustay_id"]]
    hours = (pd.Timestamp(oe["charttime"]) - pd.Timestamp(stay["intime"])).total_seconds() / 3600
    mine = events[(events["stay_id"] == oe["icustay_id"]) & events["variable"].str.startswith("out:")]
    assert np.isclose(mine["time"], round(hours, 4)).any()
    ages = events[events["variable"] == "Age"]["value"]
    assert ages.max() <= 90 and len(ages) == len(cohort)
    assert not events["variable"].str.startswith("dx:").any()  # diagnoses leak: off by default
    build_mimic_cohort(folder, tmp_path / "dx", diagnoses_as_events=True)
    assert pd.read_csv(tmp_path / "dx" / "events.csv")["variable"].str.startswith("dx:").any()


def test_mimic_cohort_missing_table(tmp_path):
    from healthnn.data.mimic import build_mimic_cohort

    (tmp_path / "ADMISSIONS.csv").write_text("subject_id,hadm_id\n1,2\n")
    with pytest.raises(DataError, match="admission_type|ICUSTAYS"):
        build_mimic_cohort(tmp_path, tmp_path / "out")


def test_grud_step_equals_torch_gru_cell():
    """The GRU-D loop projects all inputs at once; it must equal torch.nn.GRUCell step by step."""
    from healthnn.models.grud import GRUD

    torch.manual_seed(1)
    V, S, T, B = 3, 2, 5, 4
    net = GRUD(n_variables=V, n_static=S, out_features=1, hidden=6, dropout=0.0).eval()
    with torch.no_grad():
        net.decay_x.normal_()
        net.decay_x_bias.normal_()
    x = torch.randn(B, T, V)
    m = (torch.rand(B, T, V) > 0.5).float()
    delta = torch.rand(B, T, V) * 3
    last = torch.randn(B, T, V)
    static = torch.randn(B, S)
    flat = torch.cat([torch.cat([x * m, m, delta, last], 2).reshape(B, -1), static], 1)
    gx = torch.exp(-torch.relu(net.decay_x * delta + net.decay_x_bias))
    x_hat = m * x + (1 - m) * gx * last
    gh = torch.exp(-torch.relu(net.decay_h(delta)))
    h = torch.zeros(B, 6)
    for t in range(T):
        h = net.cell(torch.cat([x_hat[:, t], m[:, t]], 1), gh[:, t] * h)
    ref = net.head(torch.cat([h, net.static(static)], 1))
    torch.testing.assert_close(net(flat), ref, rtol=1e-5, atol=1e-6)
