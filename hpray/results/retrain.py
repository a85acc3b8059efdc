"""``hpray retrain STUDY_DIR``: the best config trained on training + validation data for its
full budget, then scored once on the held-out test split, for one or more seeds.
``--trial ID`` trains that trial's config instead (a runner-up, a smaller model).

Tuning chose the config on the validation split; the test split was never read then (the tuning
splits do not hold it), so this is the study's one honest estimate of how the model generalises.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hpray.config.build import is_estimator, load_final_data
from hpray.config.prepare import trial_function
from hpray.config.settings import study_settings
from hpray.errors import EXIT_CONFIG, EXIT_OK, ConfigError
from hpray.results.best import trial_config
from hpray.store.layout import (
    BEST_FILE,
    BEST_OVERRIDES_FILE,
    FINAL,
    read_best,
    stored_config,
    trial_dir_name,
)
from hpray.store.location import as_dir
from hpray.trial.builtin import make_learner
from hpray.trial.runner import run_final


def retrain(
    config: dict[str, Any],
    seeds: list[int],
    out: Path,
    device: torch.device,
    source: str = BEST_FILE,
) -> Any:
    """Train ``config`` once per seed; returns final.json's content (weights go to ``out``).

    The built-in trial is trained here; a trial function of the user's trains itself, told
    that it is the final retrain (``retrain_function``).
    """
    function = trial_function(str(config.get("trainable")))
    if not hasattr(function, "builds"):
        return retrain_function(config, function, seeds, device, source)
    final = load_final_data(config["data"])
    data = final.tuning()  # trains on training + validation, scores the test rows
    if not is_estimator(config["model"]):
        data = data.to(device)
    epochs = study_settings(config).epochs
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        started = time.monotonic()
        learner = make_learner(config, data, device, seed)
        for epoch in range(1, epochs + 1) if learner.iterative else [epochs]:
            train_loss = learner.step(epoch, epochs)
        # The one read of the test split: the validation metrics of a split whose "val" is it.
        tested = {f"test_{k.removeprefix('val_')}": v for k, v in learner.score().items()}
        weights = learner.export(out / f"model_seed{seed}")
        runs.append(
            {
                "seed": seed,
                **tested,
                "train_loss": train_loss,
                "weights": str(weights.relative_to(out.parent)),
                "seconds": round(time.monotonic() - started, 2),
            }
        )
        print(f"[hpray] seed {seed}: " + " ".join(f"{k}={v:.4f}" for k, v in tested.items()))
    return {
        "config": source,
        "epochs": epochs,
        "train_rows": len(data.train),
        "test_rows": len(data.val),
        "device": str(device),
        "seeds": runs,
        **{k: _spread([r[k] for r in runs]) for k in tested},
    }


def retrain_function(
    config: dict[str, Any],
    function: Callable[..., Any],
    seeds: list[int],
    device: torch.device,
    source: str = BEST_FILE,
) -> dict[str, Any]:
    """``function(cfg, final=True)`` once per seed: it trains on training + validation data and
    reports the test data's metrics, which final.json holds with their spread over the seeds."""
    try:
        inspect.signature(function).bind(None, final=True)
    except TypeError as err:
        raise ConfigError(
            "trainable",
            f"{config['trainable']} takes no `final` argument, so it cannot be retrained: add "
            "`final: bool = False` and, when it is true, train on the training and validation "
            "data and report the test data's metrics (test_rmse, test_acc, ...) once.",
        ) from err
    runs = []
    for seed in seeds:
        started = time.monotonic()
        cfg = {**config, "study": {**config["study"], "seed": seed}}
        metrics = run_final(function, cfg, device)
        print(f"[hpray] seed {seed}: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
        runs.append({"seed": seed, **metrics, "seconds": round(time.monotonic() - started, 2)})
    tested = sorted({k for run in runs for k in run if k.startswith("test_")})
    if not tested:
        raise ConfigError(
            "trainable",
            f"{config['trainable']}(cfg, final=True) reported no test_ metric; report the test "
            "data's metrics (test_rmse, test_acc, ...) when final is true.",
        )
    return {
        "config": source,
        "device": str(device),
        "seeds": runs,
        **{k: _spread([float(run[k]) for run in runs if k in run]) for k in tested},
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hpray retrain",
        description="Train the study's best config on training + validation data for its full "
        "budget and score it once on the held-out test split; writes final.json and the "
        "model weights into the study directory.",
    )
    parser.add_argument("study_dir", help="the study's directory (<study.storage>/<study.name>)")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds (default 1)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1... (default: auto)")
    parser.add_argument(
        "--trial",
        help="train this trial's config (its id in results.csv) instead of the best; writes "
        "final_<ID>.json and final_<ID>/",
    )
    try:
        opts = parser.parse_args(args)
    except SystemExit as exit_:
        return EXIT_CONFIG if exit_.code else EXIT_OK
    directory = Path(opts.study_dir)
    name = f"{FINAL}_{opts.trial}" if opts.trial else FINAL
    source = trial_dir_name(opts.trial) if opts.trial else BEST_FILE
    try:
        app = (stored_config(directory) or {}).get("app")
        if app:  # its best.yaml is the app's own config, and the app runs itself
            raise ConfigError(
                str(directory),
                "is the sweep of a Hydra app; run its best trial with the app itself: "
                f"python <the app's script> --config-path {directory.absolute()} "
                f"--config-name best (or: {app.get('command', 'python <script>')} and the "
                f"overrides in {directory / BEST_OVERRIDES_FILE}).",
            )
        config = trial_config(directory, opts.trial) if opts.trial else read_best(directory)
        if config is None and opts.trial:
            raise ConfigError(
                "--trial",
                f"{directory} has no trial {opts.trial} (or no config.yaml); pick a trial_id "
                "from its results.csv.",
            )
        if config is None:
            raise ConfigError(
                str(directory / BEST_FILE),
                "not found; a study writes it once a trial has reported (run `hpray tune` "
                "to finish the study, or `hpray report` to write it for a study that has one).",
            )
        if opts.seeds < 1:
            raise ConfigError("--seeds", f"must be at least 1, got {opts.seeds}.")
        device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu")
            if opts.device == "auto"
            else opts.device
        )
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device", f"{opts.device} asked for, but this machine has no GPU.")
        seed = study_settings(config).seed
        seeds = [seed + i for i in range(opts.seeds)]
        final = retrain(config, seeds, directory / name, device, source)
    except ConfigError as err:
        print(f"hpray: invalid input: {err}", file=sys.stderr)
        return EXIT_CONFIG
    written = directory / f"{name}.json"
    as_dir(written).write_text(json.dumps(final, indent=2) + "\n")  # whole, or the old one
    tested = ", ".join(
        f"{k} {v['mean']:.4f} ± {v['std']:.4f}"
        for k, v in final.items()
        if k.startswith("test_") and isinstance(v, dict)
    )
    print(f"[hpray] {tested} over {len(final['seeds'])} seed(s); wrote {written}")
    return EXIT_OK
