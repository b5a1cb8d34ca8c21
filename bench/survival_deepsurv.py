"""DeepSurv data sets on their fixed train/test split: healthnn vs published DeepSurv and baselines.

SUPPORT, WHAS and Rotterdam->GBSG from the DeepSurv repository (HDF5 groups train/test with
x, t, e; bench/data/deepsurv, MIT). For each data set:

* healthnn ``deepsurv`` and ``logistic_hazard``, trained through the public API
  (``healthnn.train(config_dict, out_dir)``) with the hyperparameters in
  ``bench/configs/<set>_<model>.toml`` (chosen on a validation split carved out of TRAIN only,
  see ``bench/tune_survival.py``); the h5 splits are written to CSV and given as ``[data] train``
  and ``[data] test``; healthnn carves its own validation rows (early stopping) out of train.
  Test Harrell's C with its 95% bootstrap interval is read from the bundle's metrics.json;
  several seeds (training seed and validation carve), reported as mean ± sd.
* scikit-survival ``CoxPHSurvivalAnalysis`` and ``RandomSurvivalForest`` on standardised x,
  trained in the same run (the forest once per seed).
* pycox ``CoxPH`` with the same MLP (layers, batch norm, dropout), optimiser (AdamW, same lr
  and weight decay), batch size, epochs and early-stopping patience as healthnn's deepsurv,
  on a 15% validation carve of its own (scikit-learn, stratified by event), once per seed.

Every C-index here is Harrell's C from ``healthnn.metrics`` on the test rows (ties in the risk
count one half); baselines get a 95% stratified bootstrap interval from
``healthnn.metrics.bootstrap`` (1000 resamples), like healthnn's bundle.

    python bench/survival_deepsurv.py [--seeds 3] [--quick] [--sets support whas gbsg]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CONFIGS, DATA, command_line, fmt_mean_sd, load_toml, machine, markdown_table, mean_sd,
    quiet_log, set_threads, versions, write_json,
)

SETS = {
    "support": DATA / "deepsurv/support/support_train_test.h5",
    "whas": DATA / "deepsurv/whas/whas_train_test.h5",
    "gbsg": DATA / "deepsurv/gbsg/gbsg_cancer_train_test.h5",
}
LABEL = {"support": "SUPPORT", "whas": "WHAS", "gbsg": "Rotterdam → GBSG"}
# Katzman et al. 2018 (BMC Med Res Methodol 18:24), Table: test C-index on these very splits.
PUBLISHED_DEEPSURV = {"support": 0.6183, "whas": 0.8626, "gbsg": 0.6684}
PUBLISHED_COX = {"support": 0.583, "whas": 0.818, "gbsg": 0.658}  # same table, linear CPH
MODELS = ("deepsurv", "logistic_hazard")


def load_h5(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    import h5py

    with h5py.File(path, "r") as f:
        return {s: (f[s]["x"][:].astype(np.float64), f[s]["t"][:].astype(np.float64),
                    f[s]["e"][:].astype(np.int64)) for s in ("train", "test")}


def to_csv(split: tuple[np.ndarray, np.ndarray, np.ndarray], path: Path) -> None:
    x, t, e = split
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
    df["time"] = t
    df["event"] = e
    df.to_csv(path, index=False, float_format="%.9g")


def healthnn_config(name: str, model: str) -> dict:
    path = CONFIGS / f"{name}_{model}.toml"
    cfg = load_toml(path)
    cfg.pop("benchmark", None)  # notes on how the values were chosen
    return cfg


def run_healthnn(cfg: dict, train_csv: Path, test_csv: Path, out: Path, seed: int,
                 quick: bool = False) -> dict:
    import healthnn

    cfg = json.loads(json.dumps(cfg))
    cfg["task"] = "survival"
    cfg.setdefault("data", {}).update(train=str(train_csv), test=str(test_csv), time="time",
                                      event="event")
    cfg.setdefault("split", {})["seed"] = seed
    tr = cfg.setdefault("train", {})
    tr.update(seed=seed, progress=False, device="cpu")
    if quick:
        tr["epochs"] = min(tr.get("epochs", 100), 5)
    started = time.perf_counter()
    bundle = healthnn.train(cfg, out, log=quiet_log)
    seconds = time.perf_counter() - started
    c = bundle.metrics["test"]["c_index"]
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seed": seed, "c_index": c["value"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
            "uno_c": bundle.metrics["test"]["uno_c"]["value"],
            "ibs": bundle.metrics["test"].get("ibs", {}).get("value"),
            "best_epoch": manifest["training"]["best_epoch"],
            "epochs_run": manifest["training"]["epochs_run"], "seconds": round(seconds, 2)}


def c_with_ci(t: np.ndarray, e: np.ndarray, risk: np.ndarray, n: int = 1000) -> dict:
    from healthnn.metrics import bootstrap, harrell_c

    res = bootstrap(lambda tt, ee, rr: {"c": harrell_c(tt, ee, rr)}, [t, e.astype(bool), risk],
                    n_resamples=n, seed=0, strata=e)["c"]
    return {"c_index": res["value"], "ci_low": res["ci_low"], "ci_high": res["ci_high"]}


def sksurv_baselines(data, seeds: list[int], quick: bool, trees: int = 200) -> dict:
    from sklearn.preprocessing import StandardScaler
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    (x, t, e), (xt, tt, et) = data["train"], data["test"]
    sc = StandardScaler().fit(x)
    xs, xts = sc.transform(x), sc.transform(xt)
    y = Surv.from_arrays(e.astype(bool), t)
    out = {}
    started = time.perf_counter()
    cox = CoxPHSurvivalAnalysis(ties="efron", alpha=1e-4).fit(xs, y)
    out["coxph"] = {**c_with_ci(tt, et, cox.predict(xts)),
                    "seconds": round(time.perf_counter() - started, 2)}
    runs = []
    for seed in seeds:
        started = time.perf_counter()
        rsf = RandomSurvivalForest(n_estimators=20 if quick else trees, min_samples_leaf=15,
                                   max_features="sqrt", n_jobs=-1, random_state=seed,
                                   low_memory=True).fit(xs, y)
        runs.append({"seed": seed, **c_with_ci(tt, et, rsf.predict(xts)),
                     "seconds": round(time.perf_counter() - started, 2)})
    out["rsf"] = runs
    return out


def run_pycox(cfg: dict, data, seed: int, quick: bool) -> dict:
    """pycox CoxPH with healthnn's deepsurv network and training settings, on the same carve."""
    import torch
    import torchtuples as tt
    from pycox.models import CoxPH
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    m, tr = cfg.get("model", {}), cfg.get("train", {})
    hidden = m.get("hidden", [64, 64])
    epochs = 5 if quick else tr.get("epochs", 100)
    (x, t, e), (xt, tte, ete) = data["train"], data["test"]
    val_size = cfg.get("split", {}).get("val_size", 0.15)
    itr, iva = train_test_split(np.arange(len(x)), test_size=val_size, random_state=seed,
                                stratify=e)
    sc = StandardScaler().fit(x[itr])
    f32 = np.float32
    xtr, xva, xte = (sc.transform(a).astype(f32) for a in (x[itr], x[iva], xt))
    torch.manual_seed(seed)
    np.random.seed(seed)
    act = {"relu": torch.nn.ReLU, "selu": torch.nn.SELU, "gelu": torch.nn.GELU,
           "tanh": torch.nn.Tanh}[m.get("activation", "relu")]
    net = tt.practical.MLPVanilla(x.shape[1], hidden, 1, m.get("batch_norm", True),
                                  m.get("dropout", 0.1), activation=act, output_bias=False)
    opt = tt.optim.AdamW(lr=tr.get("lr", 1e-3), decoupled_weight_decay=tr.get("weight_decay", 1e-4))
    model = CoxPH(net, opt)
    started = time.perf_counter()
    model.fit(xtr, (t[itr].astype(f32), e[itr].astype(f32)), batch_size=tr.get("batch_size", 64),
              epochs=epochs, callbacks=[tt.callbacks.EarlyStopping(patience=tr.get("patience", 15))],
              verbose=False, val_data=(xva, (t[iva].astype(f32), e[iva].astype(f32))))
    seconds = time.perf_counter() - started
    risk = model.predict(xte).reshape(-1).astype(np.float64)
    return {"seed": seed, **c_with_ci(tte, ete, risk), "seconds": round(seconds, 2)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3, help="seeds per neural model (default 3)")
    p.add_argument("--quick", action="store_true", help="smoke run: 5 epochs, 1 seed, small forest")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: fastest for these small MLPs; 0 = torch default)")
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS),
                   help="healthnn models to train (default both; none: baselines only)")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip scikit-survival and pycox (to split a run over processes)")
    p.add_argument("--rsf-trees", type=int, default=200, help="trees per random survival forest")
    p.add_argument("--rsf-seeds", type=int, default=None,
                   help="forests to fit (default: one per seed; the forest is slow on SUPPORT)")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="merge result files of split runs into bench/out/survival_deepsurv.json "
                        "and print the table")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args.merge)
    set_threads(args.threads)
    seeds = [0] if args.quick else list(range(args.seeds))
    warnings.filterwarnings("ignore", category=UserWarning)
    results: dict = {"benchmark": "survival_deepsurv", "command": command_line(),
                     "quick": args.quick, "threads": args.threads, "seeds": seeds,
                     "rsf_trees": args.rsf_trees, "rsf_seeds": args.rsf_seeds, "machine": machine(),
                     "versions": versions("healthnn", "torch", "pycox", "torchtuples",
                                          "scikit-survival", "scikit-learn", "numpy"),
                     "sets": {}}
    for name in args.sets:
        data = load_h5(SETS[name])
        res: dict = {"published_deepsurv": PUBLISHED_DEEPSURV[name],
                     "published_coxph": PUBLISHED_COX[name],
                     "n_train": len(data["train"][1]), "n_test": len(data["test"][1]),
                     "configs": {}}
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            tmp = Path(tmp)
            to_csv(data["train"], tmp / "train.csv")
            to_csv(data["test"], tmp / "test.csv")
            for model in args.models:
                cfg = healthnn_config(name, model)
                res["configs"][model] = cfg
                runs = []
                for seed in seeds:
                    r = run_healthnn(cfg, tmp / "train.csv", tmp / "test.csv",
                                     tmp / f"{model}-{seed}", seed, args.quick)
                    runs.append(r)
                    print(f"[{name}] healthnn {model} seed {seed}: C {r['c_index']:.4f} "
                          f"({r['ci_low']:.3f}-{r['ci_high']:.3f}) {r['seconds']:.0f}s",
                          file=sys.stderr)
                res[f"healthnn_{model}"] = runs
            if args.no_baselines:
                results["sets"][name] = res
                continue
            cfg = healthnn_config(name, "deepsurv")
            res["pycox_coxph"] = [run_pycox(cfg, data, s, args.quick) for s in seeds]
            print(f"[{name}] pycox CoxPH C "
                  f"{fmt_mean_sd([r['c_index'] for r in res['pycox_coxph']])}", file=sys.stderr)
            base = sksurv_baselines(data, seeds[:args.rsf_seeds], args.quick, args.rsf_trees)
            res["sksurv_coxph"] = base["coxph"]
            res["sksurv_rsf"] = base["rsf"]
            print(f"[{name}] sksurv CoxPH C {base['coxph']['c_index']:.4f}; RSF "
                  f"{fmt_mean_sd([r['c_index'] for r in base['rsf']])}", file=sys.stderr)
        results["sets"][name] = res
    suffix = "" if args.sets == list(SETS) else "_" + "_".join(args.sets)
    if args.models != list(MODELS) or args.no_baselines:
        suffix += "_" + ("_".join(args.models) or "baselines") + (
            "_nobaselines" if args.no_baselines else "")
    path = write_json("survival_deepsurv" + suffix + ("_quick" if args.quick else ""), results)
    print(report(results))
    print(f"\nresults: {path}")
    return results


def merge(files: list[str]) -> dict:
    """One result from runs split over processes (same seeds and code, different sets/models)."""
    merged: dict = {}
    for f in files:
        part = json.loads(Path(f).read_text())
        if not merged:
            merged = {**part, "sets": {}, "command": [], "machine": []}
        merged["command"].append(part["command"])
        merged["machine"].append(part["machine"])
        for name, res in part["sets"].items():
            into = merged["sets"].setdefault(name, {})
            configs = {**into.get("configs", {}), **res.get("configs", {})}
            into.update(res)
            into["configs"] = configs
    merged["sets"] = {k: merged["sets"][k] for k in SETS if k in merged["sets"]}
    path = write_json("survival_deepsurv", merged)
    print(report(merged))
    print(f"\nresults: {path}")
    return merged


def _c(runs: list[dict] | None) -> str:
    return fmt_mean_sd([x["c_index"] for x in runs], 4) if runs else "–"


def _ci_text(runs: list[dict] | None) -> str:
    if not runs:
        return "–"
    lo, _ = mean_sd([r["ci_low"] for r in runs])
    hi, _ = mean_sd([r["ci_high"] for r in runs])
    return f"{lo:.3f}–{hi:.3f}"


def report(results: dict) -> str:
    n = len(results["seeds"])
    header = ["data set (train/test)", "DeepSurv published",
              f"healthnn deepsurv (mean ± sd, {n} seeds)", "its 95% CI (mean over seeds)",
              "healthnn logistic_hazard", "its 95% CI", "pycox CoxPH (same MLP)",
              "sksurv Cox PH [95% CI]", "sksurv RSF", "Cox PH published"]
    rows = []
    for name, r in results["sets"].items():
        ds, lh = r.get("healthnn_deepsurv"), r.get("healthnn_logistic_hazard")
        cox = r.get("sksurv_coxph")
        rows.append([
            f"{LABEL[name]} ({r['n_train']}/{r['n_test']})", f"{r['published_deepsurv']:.4f}",
            _c(ds), _ci_text(ds), _c(lh), _ci_text(lh), _c(r.get("pycox_coxph")),
            f"{cox['c_index']:.4f} [{cox['ci_low']:.3f}–{cox['ci_high']:.3f}]" if cox else "–",
            _c(r.get("sksurv_rsf")), f"{r['published_coxph']:.3f}"])
    return markdown_table(header, rows)


if __name__ == "__main__":
    main()
