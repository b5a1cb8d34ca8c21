"""Train, evaluate and predict: the orchestration shared by the CLI, the Python API and the server.

>>> import healthnn
>>> bundle = healthnn.train("config.toml", "runs/heart")          # doctest: +SKIP
>>> bundle.metrics["test"]["auroc"]                               # doctest: +SKIP
{'value': 0.91, 'ci_low': 0.85, 'ci_high': 0.96}
>>> healthnn.predict_file("runs/heart", "new.csv", "scored.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from healthnn.bundle import Bundle, _write_json, load_bundle, save_bundle
from healthnn.bundle_files import remove_checkpoints, staged_bundle
from healthnn.config import Config, load_config
from healthnn.data.tables import fingerprint, fingerprint_files, write_table
from healthnn.errors import DataError
from healthnn.io import refuse_overwriting_input
from healthnn.report import write_evaluation_report, write_train_report
from healthnn.tasks import get_task_class
from healthnn.training import Trainer, collect_outputs, resolve_device, seed_everything

__all__ = ["train", "evaluate", "predict", "predict_file", "explain", "EvaluationResult"]

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _quiet(msg: str) -> None:
    pass


def train(
    config: Config | str | Path | dict[str, Any],
    out: str | Path,
    *,
    resume: bool = False,
    log: Log | None = None,
    encrypt_with: bytes | None = None,
    indices: dict[str, np.ndarray] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    collect: dict[str, Any] | None = None,
) -> Bundle | None:
    """Train a model as the config says and write a bundle to ``out``.

    Under torchrun (``healthnn train --nproc N``) every process calls this; the main process
    returns the bundle, the others None.

    With ``encrypt_with`` (a key from :func:`healthnn.privacy.keys.load_key`) the bundle is
    encrypted at rest before this returns.

    Used by cross-validation and tuning (:mod:`healthnn.tuning`): ``indices`` gives the
    ``train``/``val``/``test`` row positions (of the usable rows of ``[data] train``) instead
    of ``[split]``; ``on_epoch(epoch, record)`` is called after every epoch (it may raise to
    stop, e.g. an Optuna pruning signal); ``collect``, a dict, receives the labels and raw
    outputs of the validation and test rows (``{"val": (outputs, labels), "test": ...}``).
    With ``[split] method = "kfold"`` and no ``indices``, use :func:`healthnn.tuning.cross_validate`.
    """
    if indices is None and not isinstance(config, Config):
        config = load_config(config)
    if indices is None and config.split.method == "kfold":
        from healthnn.errors import ConfigError

        raise ConfigError("split.method = 'kfold' trains one model per fold", file=config.source,
                          key="split.method", hint="use 'healthnn train' (it runs the folds) or "
                          "healthnn.tuning.cross_validate()")
    from healthnn.training.distributed import cleanup, init_from_env, is_main

    log = log or _stderr
    if not isinstance(config, Config):
        config = load_config(config)
    out = Path(out)
    started = time.time()
    init_from_env()  # a no-op unless launched by torchrun (healthnn train --nproc N)
    if config.eval.operating_point_folds and indices is None:
        _check_single_process(config)
    if not is_main():
        log = _quiet
    task = get_task_class(config.task)(config)
    seed_everything(config.train.seed)

    train_file = config.resolve(config.data.train)
    df = task.read(train_file)
    y, ok = task.labels(df, train_file)
    # a task may leave out rows it cannot use (reported in the notes); source_rows keeps
    # the file's 1-based row numbers for messages and prediction files
    source_rows = np.arange(len(df)) + 1
    usable, drop_notes = task.usable_rows(df, y, ok, train_file)
    if not usable.all():
        keep = np.flatnonzero(usable)
        df, y, ok, source_rows = df.iloc[keep], _take(y, keep), ok[keep], source_rows[keep]
    _require_all(ok, train_file, task)
    data_info = {"train": _data_info(task, df, train_file)}
    groups = task.groups(df) if config.data.group else None
    strata = _strata(config, task, y)

    frames: dict[str, tuple[pd.DataFrame, dict[str, np.ndarray], Path]] = {}
    preset = task.predefined_split(df)  # the data's own official split, if it has one
    given = None if indices is None else {k: np.asarray(v, dtype=np.int64)
                                          for k, v in indices.items()}
    if given is not None and "test" in given:
        idx = given
        frames["test"] = (df.iloc[idx["test"]], _take(y, idx["test"]), train_file)
    elif getattr(config.data, "test", None):
        test_file = config.resolve(config.data.test)
        df_test = task.read(test_file)
        y_test, ok_test = task.labels(df_test, test_file)
        test_source_rows = np.arange(len(df_test)) + 1
        usable, test_notes = task.usable_rows(df_test, y_test, ok_test, test_file)
        drop_notes += test_notes
        if not usable.all():
            keep = np.flatnonzero(usable)
            df_test, y_test, ok_test = df_test.iloc[keep], _take(y_test, keep), ok_test[keep]
            test_source_rows = test_source_rows[keep]
        _require_all(ok_test, test_file, task)
        data_info["test"] = _data_info(task, df_test, test_file)
        idx = given or ({k: preset[k] for k in ("train", "val")} if preset else
               task.split(df, y, test_size=None, val_size=config.split.val_size,
                          seed=config.split.seed, strata=strata, groups=groups))
        frames["test"] = (df_test.reset_index(drop=True), y_test, test_file)
    else:
        idx = preset or task.split(df, y, test_size=config.split.test_size,
                                   val_size=config.split.val_size, seed=config.split.seed,
                                   strata=strata, groups=groups)
        frames["test"] = (df.iloc[idx["test"]], _take(y, idx["test"]), train_file)
    # split frames keep the file's row index, so errors found later name the right row
    for name in ("train", "val"):
        frames[name] = (df.iloc[idx[name]], _take(y, idx[name]), train_file)
    own_test = (given is None or "test" not in given) and bool(getattr(config.data, "test", None))
    test_rows = test_source_rows if own_test else source_rows[idx["test"]]

    df_train, y_train, _ = frames["train"]
    notes = drop_notes + task.fit(df_train, y_train, train_file)
    for note in notes:
        log(f"note: {note}")

    encoded: dict[str, tuple[Any, dict[str, torch.Tensor]]] = {}
    for name, (frame, labels, file) in frames.items():
        inputs, errors = task.encode(frame, file)
        for pos, msg in task.unknown_label_errors(labels).items():
            errors.setdefault(pos, msg)
        if errors:
            pos = min(errors)
            source_row = (source_rows[idx[name][pos]] if (name != "test" or not own_test)
                          else test_source_rows[pos])
            raise DataError(errors[pos], file=str(file), row=int(source_row),
                            hint="fix or remove this row; training data must be complete")
        encoded[name] = (inputs, task.target_tensors(labels))

    split_info = {name: _split_summary(task, frames[name][1]) for name in ("train", "val", "test")}
    log("rows: " + ", ".join(f"{k} {v['rows']}" for k, v in split_info.items()))

    out.mkdir(parents=True, exist_ok=True)
    run_key = _run_key(config, data_info)
    members, results = [], []
    for member in range(config.train.ensemble):  # one model unless [train] ensemble > 1
        seed = config.train.seed + member
        if member:
            seed_everything(seed)
        generator = torch.Generator().manual_seed(seed)
        model = task.build_model()
        if config.model.init or config.model.freeze:  # transfer learning
            from healthnn.models.transfer import apply_init

            transfer_note = apply_init(model, config)
            if member == 0:
                log(f"note: {transfer_note}")
                notes.append(transfer_note)
        checkpoint = out / ("checkpoint.pt" if member == 0 else f"checkpoint_{member}.pt")
        if config.federated is not None:  # sites train locally; only weights travel
            from healthnn.training.federated import federated_fit

            results.append(federated_fit(model, task, encoded, frames, config, log=log))
            members.append(model)
            continue
        trainer = Trainer(config.train, checkpoint=checkpoint, log=log, on_epoch=on_epoch,
                          key=encrypt_with)
        results.append(trainer.fit(
            model,
            task.loss,
            task.batches(*encoded["train"], shuffle=True, generator=generator),
            task.batches(*encoded["val"], shuffle=False, batch_size=4096),
            score_fn=task.score,
            greater_is_better=task.greater_is_better if config.train.monitor != "val_loss" else True,
            resume=resume and (member == 0 or checkpoint.is_file()),
            fingerprint=f"{run_key}:{member}" if member else run_key,
        ))
        members.append(model)
    result = results[0]
    if len(members) > 1:
        from healthnn.models.ensemble import Ensemble

        model = Ensemble(members)
    if not is_main():  # workers are done; the main process evaluates and writes the bundle
        cleanup()
        return None
    device = resolve_device(config.train.device)
    train_out, train_targets = collect_outputs(
        model, task.batches(*encoded["train"], shuffle=False, batch_size=4096), device)
    task.after_fit(train_out, train_targets)
    model.cpu()

    metrics: dict[str, Any] = {}
    predictions = None
    conformal = None
    split_outputs: dict[str, torch.Tensor] = {}
    for split in ("val", "test"):
        outputs, _ = collect_outputs(model, task.batches(*encoded[split], shuffle=False,
                                                         batch_size=4096), torch.device("cpu"))
        split_outputs[split] = outputs
        metrics[split] = task.evaluate(outputs, frames[split][1], seed=config.split.seed)
        if split == "val":  # [eval] operating_point: chosen here, before any test output
            if config.eval.operating_point_folds and config.eval.operating_point != "none":
                # on out-of-fold outputs over train + val ([eval] operating_point_folds)
                # rows kept together by K-fold CV (a patient's rows, copies of one molecule)
                oof_out, oof_y = out_of_fold_outputs(
                    config, np.concatenate([idx["train"], idx["val"]]), strata,
                    task.fold_groups(df),
                    out / "_operating_point_folds", log=log, key=encrypt_with)
                operating = task.fit_operating_point(oof_out, oof_y, frames["train"][1])
                if operating is not None:
                    operating["chosen_on"] = (f"out-of-fold outputs of "
                                              f"{config.eval.operating_point_folds} extra models "
                                              "over the training and validation rows")
            else:
                operating = task.fit_operating_point(outputs, frames["val"][1],
                                                     frames["train"][1])
        if split == "val":  # calibrated on rows the model was not fitted on
            conformal = _fit_conformal(task, config, outputs, frames["val"][1])
        if split == "test":
            if conformal is not None:  # empirical coverage on the test rows
                metrics["test"].update(_conformal_metrics(task, conformal, outputs,
                                                          frames["test"][1],
                                                          seed=config.split.seed))
            ids = task.row_ids(frames["test"][0]).reset_index(drop=True)
            ids.insert(0, "row", test_rows)
            preds = task.predictions_for(encoded["test"][0], outputs)
            if len(members) > 1:  # ensemble spread: '<column>_sd' as in Bundle.predict
                preds = _member_sd(task, members, encoded["test"], preds)
            preds = _conformal_columns(task, conformal, outputs, preds)
            predictions = pd.concat([ids, task.label_frame(frames["test"][1]).reset_index(drop=True),
                                     preds], axis=1)

    if collect is not None:
        collect.update({s: (split_outputs[s], frames[s][1]) for s in ("val", "test")})
        collect["task"] = task
    metrics.update(task.baseline_metrics(frames, seed=config.split.seed))
    if result.privacy is not None:
        eps = result.privacy["epsilon_spent"]
        metrics["privacy"] = {"epsilon": {"value": eps, "ci_low": eps, "ci_high": eps}}
        log(f"differential privacy: spent epsilon {eps:.3f} of {result.privacy['epsilon_budget']:g}"
            f" (delta {result.privacy['delta']:g})")
    curve = None
    if config.report.learning_curve and config.report.enabled:
        from healthnn.tuning import learning_curve

        curve = learning_curve(config, idx, metrics["test"], strata=strata, groups=groups,
                               out=out / "learning_curve", log=log, key=encrypt_with)
    manifest = {
        "data": data_info,
        "splits": split_info,
        "seed": {"split": config.split.seed, "train": config.train.seed},
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "stopped_early": result.stopped_early,
            "monitor": config.train.monitor,
            "seconds": round(time.time() - started, 2),
            "history": result.history,
            "privacy": result.privacy,
            **({"federated": result.federated} if result.federated else {}),
        },
        **({"ensemble": {"members": len(members),
                         "seeds": [config.train.seed + i for i in range(len(members))],
                         "best_epochs": [r.best_epoch for r in results]}}
           if len(members) > 1 else {}),
        **({"learning_curve": curve} if curve else {}),
        **({"operating_point": task.operating_summary(operating, split_outputs["test"],
                                                      frames["test"][1])} if operating else {}),
        "features": getattr(task, "feature_names", None),
        "notes": notes,
    }
    # built in a private staging folder (sealed as written with a key), moved into place
    with staged_bundle(out, encrypt_with) as stage:
        bundle = save_bundle(stage, config=config, task=task, model=model, metrics=metrics,
                             manifest=manifest, predictions=predictions, conformal=conformal,
                             key=encrypt_with)
        write_train_report(bundle, frames=frames, outputs=split_outputs, log=log)
    bundle.path = out
    remove_checkpoints(out)
    cleanup()
    return bundle


@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    n_rows: int
    n_errors: int
    predictions: pd.DataFrame


def _load(bundle: str | Path | Bundle, key: bytes | None) -> Bundle:
    return bundle if isinstance(bundle, Bundle) else load_bundle(bundle, key=key)


def evaluate(
    bundle: str | Path | Bundle, data: str | Path, out: str | Path, *, key: bytes | None = None
) -> EvaluationResult:
    """Evaluate a trained bundle on new labelled data; write ``metrics.json`` and
    ``predictions.csv`` to ``out``. Rows that cannot be used are reported, not dropped silently.
    """
    b = _load(bundle, key)
    task = b.task
    data = Path(data)
    df = task.read(data).reset_index(drop=True)
    y, ok = task.labels(df, data)
    inputs, errors = task.encode(df, data)
    for pos in np.flatnonzero(~ok):
        errors.setdefault(int(pos), "no observed outcome in this row")
    for pos, msg in task.unknown_label_errors(y).items():
        errors.setdefault(pos, msg)
    good = np.array([i not in errors for i in range(len(df))])
    if not good.any():
        first = min(errors)
        raise DataError(f"no row can be evaluated; first problem: {errors[first]}",
                        file=str(data), row=first + 1)
    keep = np.flatnonzero(good)
    outputs = b.outputs(task.subset(inputs, keep))
    y_good = _take(y, keep)
    metrics = {"test": task.evaluate(outputs, y_good, seed=b.config.split.seed)}
    # a baseline saved in the bundle (text: TF-IDF) is scored on the same rows
    metrics.update(task.baseline_metrics({"test": (df.iloc[keep], y_good, data)},
                                         seed=b.config.split.seed))
    if b.conformal and task.conformal_outputs(outputs[:0]) is not None:
        metrics["test"].update(_conformal_metrics(task, b.conformal, outputs, y_good,
                                                  seed=b.config.split.seed))
    preds = b.with_conformal(outputs, task.predictions(outputs))
    preds.index = keep
    ids = task.row_ids(df).reset_index(drop=True)
    ids.insert(0, "row", np.arange(1, len(df) + 1))
    table = pd.concat([ids, task.label_frame(y),
                       preds.reindex(range(len(df)))], axis=1)
    table["error"] = [errors.get(i, "") for i in range(len(df))]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "metrics.json", metrics)
    write_table(table, out / "predictions.csv")
    evaluation = {
        "bundle": str(b.path), "data": _data_info(b.task, df, data),
        "rows_evaluated": int(good.sum()), "rows_with_errors": int((~good).sum()),
    }
    _write_json(out / "evaluation.json", evaluation)
    write_evaluation_report(out, b, df=df.iloc[keep], y=y_good, outputs=outputs,
                            metrics=metrics, evaluation=evaluation, file=data)
    return EvaluationResult(metrics, len(df), int((~good).sum()), table)


def predict(
    bundle: str | Path | Bundle, df: pd.DataFrame, *, key: bytes | None = None
) -> pd.DataFrame:
    """Prediction columns (and ``error``) added to the rows of ``df``."""
    return _load(bundle, key).predict(df)


def predict_file(
    bundle: str | Path | Bundle, input: str | Path, out: str | Path, *, key: bytes | None = None,
    workers: int = 1,
) -> tuple[int, int]:
    """Predict every row of a CSV/Parquet file into ``out``; returns (rows, rows with errors).

    ``workers`` > 1 parses and featurises large molecule libraries in that many processes.
    """
    refuse_overwriting_input(input, out)  # issue 23: the input is never replaced
    b = _load(bundle, key)
    if hasattr(b.task, "workers"):
        b.task.workers = workers
    df = b.task.read_inputs(Path(input))
    result = b.predict(df, file=input)
    b.task.write_predictions(result, Path(out))  # NER: span JSONL
    return len(result), int((result["error"] != "").sum())


def explain(
    bundle: str | Path | Bundle,
    input: str | Path,
    out: str | Path,
    *,
    target_class: str | None = None,
    limit: int = 50,
    key: bytes | None = None,
    image_format: str | None = None,
) -> list[Path]:
    """Write explanations (heatmaps, attributions) for the first ``limit`` inputs to ``out``.

    What an explanation is depends on the task (Grad-CAM for images, atom attributions for
    molecules, ...); each task implements :meth:`Task.explain`. ``image_format`` (``"svg"`` or
    ``"png"``) chooses how molecule models draw their atom attributions.
    """
    b = _load(bundle, key)
    if image_format is not None:
        if not hasattr(b.task, "image_format"):
            raise DataError(f"--format {image_format} applies to molecule models only",
                            hint="leave out --format: this model's explanations have one format")
        b.task.image_format = image_format
    df = b.task.read_inputs(Path(input))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return b.task.explain(b.model, df.head(limit), out, file=Path(input),
                          target_class=target_class)


# -- helpers -------------------------------------------------------------------------------------
def _data_info(task: Any, df: pd.DataFrame, file: Path) -> dict[str, Any]:
    """Path, sha256 and row count of a data file; with ``linked_files`` (the images a manifest
    names), a second fingerprint over those files' bytes."""
    info: dict[str, Any] = {"path": str(file), "sha256": fingerprint(file), "rows": len(df)}
    linked = task.linked_files(df, Path(file))
    if linked:
        info["linked_files"] = fingerprint_files(linked, Path(file).parent)
    return info


def _require_all(ok: np.ndarray, file: Path, task: Any) -> None:
    if not ok.all():
        pos = int(np.flatnonzero(~ok)[0])
        cols = ", ".join(f"'{c}'" for c in task.target_columns())
        raise DataError(
            f"{int((~ok).sum())} row(s) have no value in {cols}; the first is row {pos + 1}",
            file=str(file), hint="training needs an observed outcome in every row: remove or "
            "complete these rows")


def _strata(config: Config, task: Any, y: dict[str, np.ndarray]) -> np.ndarray | None:
    method = config.split.method
    if method in ("random", "group"):
        return None
    return task.strata(y)


def _member_sd(task: Any, members: list[torch.nn.Module], encoded: tuple[Any, Any],
               preds: pd.DataFrame) -> pd.DataFrame:
    """The standard deviation across ensemble members of each numeric prediction column."""
    each = []
    for m in members:
        out, _ = collect_outputs(m, task.batches(*encoded, shuffle=False, batch_size=4096),
                                 torch.device("cpu"))
        each.append(task.predictions_for(encoded[0], out))
    for col in preds.select_dtypes("floating").columns:
        stacked = np.stack([p[col].to_numpy(dtype=float) for p in each])
        preds[f"{col}_sd"] = stacked.std(0, ddof=1)
    return preds


def _check_single_process(config: Config) -> None:
    """[eval] operating_point_folds trains its extra models in the main process only."""
    from healthnn.errors import ConfigError
    from healthnn.training.distributed import is_distributed

    if is_distributed():
        raise ConfigError("[eval] operating_point_folds trains its extra models in one process",
                          file=config.source, key="eval.operating_point_folds",
                          hint="train without --nproc, or use 0 (the validation split)")


def out_of_fold_outputs(config: Config, rows: np.ndarray, strata: np.ndarray | None,
                        groups: np.ndarray | None, work: Path, *, log: Log | None = None,
                        key: bytes | None = None) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Outputs of ``rows`` (positions of the usable rows of ``[data] train``), each from a
    model that never saw it: ``rows`` are split into ``[eval] operating_point_folds``
    (stratified / grouped as the config's split) and one extra model per fold is trained on
    the other folds (with its own validation split, ``[split] val_size``; one seed, no report)
    and scores its fold. Returns the outputs and labels in the order of ``rows`` (fold by fold
    put back in place; sealed with ``key`` under ``train --encrypt``). Used to choose ``[eval] operating_point`` on every training row rather
    than on the validation split alone; ``work`` holds the extra bundles and is removed."""
    import shutil
    from dataclasses import replace

    from healthnn.data.split import holdout, kfold_indices
    from healthnn.errors import ConfigError

    log = log or _quiet
    k = config.eval.operating_point_folds
    _check_single_process(config)
    sub_strata = None if strata is None else np.asarray(strata)[rows]
    sub_groups = None if groups is None else np.asarray(groups)[rows]
    try:
        tests = kfold_indices(len(rows), k, seed=config.split.seed + 7919, strata=sub_strata,
                              groups=sub_groups)
    except ConfigError as exc:
        raise ConfigError(exc.message,
                          file=config.source, key="eval.operating_point_folds",
                          hint="use fewer folds, or 0 (choose on the validation split)") from exc
    inner = replace(config,
                    eval=replace(config.eval, operating_point="none", operating_point_folds=0,
                                 bootstrap=0, conformal_alpha=0.0),
                    report=replace(config.report, enabled=False, learning_curve=[]),
                    train=replace(config.train, ensemble=1, progress=False))
    outputs: list[torch.Tensor] = []
    labels: list[dict[str, np.ndarray]] = []
    order: list[np.ndarray] = []
    try:
        for j, test in enumerate(tests):
            rest = np.setdiff1d(np.arange(len(rows)), test)
            tr, va = holdout(len(rest), config.split.val_size, seed=config.split.seed + 7920 + j,
                             strata=None if sub_strata is None else sub_strata[rest],
                             groups=None if sub_groups is None else sub_groups[rest])
            log(f"operating point: extra model {j + 1} of {k} ({len(rest)} rows, scores "
                f"{len(test)})")
            collect: dict[str, Any] = {}
            seed_everything(config.train.seed + 7919 + j)
            train(replace(inner, train=replace(inner.train, seed=config.train.seed + 7919 + j)),
                  work / f"fold_{j + 1}", log=_quiet, collect=collect, encrypt_with=key,
                  indices={"train": rows[rest[tr]], "val": rows[rest[va]], "test": rows[test]})
            outputs.append(collect["test"][0])
            labels.append(collect["test"][1])
            order.append(test)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    back = np.argsort(np.concatenate(order), kind="stable")
    out = torch.cat(outputs)[torch.from_numpy(back)]
    y = {key: np.concatenate([lab[key] for lab in labels])[back] for key in labels[0]}
    return out, y


def _fit_conformal(task: Any, config: Config, outputs: torch.Tensor,
                   y: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """Split-conformal calibration on the validation outputs (None: off, or not available
    for this task)."""
    from healthnn.metrics.conformal import fit_conformal

    alpha = config.eval.conformal_alpha
    got = task.conformal_outputs(outputs) if alpha > 0 else None
    if got is None:
        return None
    kind, predicted, names = got
    return fit_conformal(kind, predicted, task.conformal_targets(y), names, alpha=alpha,
                         method=config.eval.conformal_method)


def _conformal_metrics(task: Any, state: dict[str, Any], outputs: torch.Tensor,
                       y: dict[str, np.ndarray], *, seed: int) -> dict[str, dict[str, float]]:
    """Empirical coverage and mean set size (classes) or interval width on labelled rows,
    with bootstrap intervals."""
    from healthnn.metrics.conformal import conformal_coverage

    kind, predicted, _ = task.conformal_outputs(outputs)
    covered, size = conformal_coverage(state, predicted, task.conformal_targets(y))
    keep = np.isfinite(covered)
    if not keep.any():
        return {}
    size_name = "conformal_set_size" if kind == "classes" else "conformal_width"

    def fn(c: np.ndarray, s: np.ndarray) -> dict[str, float]:
        return {"conformal_coverage": float(c.mean()), size_name: float(s.mean())}

    return task._bootstrap(fn, [covered[keep], size[keep]], seed=seed)


def _conformal_columns(task: Any, state: dict[str, Any] | None, outputs: torch.Tensor,
                       preds: pd.DataFrame) -> pd.DataFrame:
    if state is None:
        return preds
    from healthnn.metrics.conformal import conformal_columns

    for col, values in conformal_columns(state, task.conformal_outputs(outputs)[1]).items():
        preds[col] = values
    return preds


def _take(y: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in y.items()}


def _split_summary(task: Any, y: dict[str, np.ndarray]) -> dict[str, Any]:
    info: dict[str, Any] = {"rows": int(len(next(iter(y.values()))))}
    strata = task.strata(y)
    if strata is not None:
        values, counts = np.unique(strata.astype(str), return_counts=True)
        info["counts"] = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
    return info


def _run_key(config: Config, data_info: dict[str, Any]) -> str:
    d = config.to_dict()
    for key in ("epochs", "progress", "patience"):  # may change when resuming
        d["train"].pop(key, None)
    d.pop("report", None)  # the report does not change training
    text = json.dumps([d, {k: v["sha256"] + v.get("linked_files", {}).get("sha256", "")
                           for k, v in data_info.items()}],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
