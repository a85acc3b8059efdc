"""A new user's first study: hpray's default study beside Optuna in one process, the same work.

    python benchmarks/startup.py                # 3 seeds: the default study, searcher=bayes
    python benchmarks/startup.py --seeds 1 --trials 8

For each seed, side by side in one run (which one goes first alternates):
- hpray: ``hpray tune searcher=bayes study.seed=S`` as a user runs it, a fresh process timed
  from its start to its exit, with the phases it records in summary.json;
- Optuna in one process (a fresh ``python`` too, timed the same way): TPE set as hpray's
  ``bayes`` (multivariate, grouped, constant liar, 10 random trials first), a
  SuccessiveHalvingPruner on ASHA's rungs (grace period 2, reduction factor 3), two trials at
  a time in threads, each training the same model on the same data with hpray's own learner
  code (``hpray.trial.builtin``), one torch thread each, as hpray's trials have;
- plain Ray Tune (a fresh ``python``, its own local Ray): the same sampler through Ray's
  OptunaSearch, Ray's ASHA on the same rungs, two at a time, reused actors, the same training
  in a function trainable without checkpoints: the floor of any tuner that runs on Ray.
Prints the wall times, their ratio and both best ``val_acc`` (the best epoch of any trial, as
hpray's summary reports it); writes startup.json and startup.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import timed, write_record

HERE = Path(__file__).resolve()


def default_study(seed: int) -> tuple[Any, dict[str, Any]]:
    """The default study's parsed space and the base config of its trials."""
    from hydra import compose, initialize_config_module

    from hpray import space
    from hpray.config.compose import resolve

    with initialize_config_module("hpray.conf", version_base="1.3"):
        config = resolve(compose("study", [f"study.seed={seed}"]))
    base = {**space.trial_base(config), "resources": {"cpu": 1, "gpu": 0}}
    return space.parse_space(config["space"]), base


def tpe(seed: int) -> Any:
    """hpray's ``bayes`` sampler, as both peers run it."""
    import optuna

    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=10, multivariate=True, group=True, constant_liar=True
    )


def optuna_study(seed: int, trials: int, epochs: int) -> dict[str, Any]:
    """The same study in this process with Optuna; its best val_acc."""
    import optuna
    import torch

    from hpray import space
    from hpray.config.build import load_folds
    from hpray.search.searchers import Suggest
    from hpray.trial.builtin import fold_step, make_learner

    parsed, base = default_study(seed)
    data = load_folds(base["data"], 0)[0]
    best: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        torch.set_num_threads(1)
        Suggest(parsed)(trial)
        cfg = space.apply(base, trial.params)
        learner = make_learner(cfg, data, torch.device("cpu"), seed * 1000 + trial.number)
        value = 0.0
        for epoch in range(1, epochs + 1):
            value = fold_step(learner, epoch, epochs)["val_acc"]
            best.append(value)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3)
    study = optuna.create_study(direction="maximize", sampler=tpe(seed), pruner=pruner)
    study.optimize(objective, n_trials=trials, n_jobs=2)
    return {"best": max(best), "pruned": sum(t.state.name == "PRUNED" for t in study.trials)}


def ray_trial(config: dict[str, Any]) -> None:
    """Plain Ray Tune's trainable: the same training, one report per epoch, no checkpoint."""
    import torch
    from ray import tune

    from hpray import space
    from hpray.config.build import load_folds
    from hpray.trial.builtin import fold_step, make_learner

    torch.set_num_threads(1)
    fixed = {"base", "epochs", "seed"}  # the rest are the sampled values, by dotted path
    cfg = space.apply(config["base"], {k: v for k, v in config.items() if k not in fixed})
    data = load_folds(cfg["data"], 0)[0]
    learner = make_learner(cfg, data, torch.device("cpu"), config["seed"])
    for epoch in range(1, config["epochs"] + 1):
        tune.report(fold_step(learner, epoch, config["epochs"]))


def ray_study(seed: int, trials: int, epochs: int) -> dict[str, Any]:
    """The same study with plain Ray Tune, as an informed user would write it."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from hpray.search.searchers import Suggest

    parsed, base = default_study(seed)
    with tempfile.TemporaryDirectory(prefix="hpray-ray-", dir="/tmp") as tmp:
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tmp)
        searcher = OptunaSearch(
            space=Suggest(parsed), metric="val_acc", mode="max", sampler=tpe(seed)
        )
        tuner = tune.Tuner(
            ray_trial,
            param_space={"base": base, "epochs": epochs, "seed": seed},
            tune_config=tune.TuneConfig(
                metric="val_acc",
                mode="max",
                num_samples=trials,
                reuse_actors=True,
                search_alg=ConcurrencyLimiter(searcher, max_concurrent=2),
                scheduler=ASHAScheduler(max_t=epochs, grace_period=2, reduction_factor=3),
            ),
            run_config=tune.RunConfig(storage_path=tmp, verbose=0),
        )
        grid = tuner.fit()
        best = max(
            r.metrics_dataframe["val_acc"].max() for r in grid if r.metrics_dataframe is not None
        )
        ray.shutdown()
    return {"best": float(best)}


def hpray_run(seed: int, trials: int, epochs: int, storage: Path) -> dict[str, Any]:
    ray_dir = tempfile.mkdtemp(prefix="hpray-ray-", dir="/tmp")
    wall, done = timed(
        [
            sys.executable,
            "-m",
            "hpray",
            "tune",
            "searcher=bayes",
            f"study.seed={seed}",
            f"study.num_samples={trials}",
            f"study.epochs={epochs}",
            f"study.storage={storage}",
            f"study.name=s{seed}",
            f"ray.temp_dir={ray_dir}",
        ]
    )
    if done.returncode != 0:
        raise SystemExit(f"hpray tune failed:\n{done.stderr[-3000:]}")
    summary = json.loads((storage / f"s{seed}" / "summary.json").read_text())
    return {"wall_s": wall, "best": summary["best"]["value"], "phases": summary["phases"]}


def peer_run(who: str, seed: int, trials: int, epochs: int) -> dict[str, Any]:
    """One peer's study (``--optuna-seed`` or ``--ray-seed``) in a fresh process, timed."""
    args = [sys.executable, str(HERE), f"--{who}-seed", str(seed), "--trials", str(trials)]
    wall, done = timed([*args, "--epochs", str(epochs)])
    if done.returncode != 0:
        raise SystemExit(f"the {who} study failed:\n{done.stderr[-3000:]}")
    return {"wall_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


PEERS = ["hpray", "optuna", "ray"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)  # the default study's
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=HERE.parent / "results")
    parser.add_argument("--optuna-seed", type=int, help=argparse.SUPPRESS)  # the peers' processes
    parser.add_argument("--ray-seed", type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.optuna_seed is not None:
        print(json.dumps(optuna_study(opts.optuna_seed, opts.trials, opts.epochs)))
        return
    if opts.ray_seed is not None:
        print(json.dumps(ray_study(opts.ray_seed, opts.trials, opts.epochs)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(opts.seeds):
            order = PEERS[seed % 3 :] + PEERS[: seed % 3]  # each goes first once
            row: dict[str, Any] = {"seed": seed}
            for who in order:
                row[who] = (
                    hpray_run(seed, opts.trials, opts.epochs, Path(tmp))
                    if who == "hpray"
                    else peer_run(who, seed, opts.trials, opts.epochs)
                )
            row["ratio"] = row["hpray"]["wall_s"] / row["optuna"]["wall_s"]
            row["ratio_ray"] = row["hpray"]["wall_s"] / row["ray"]["wall_s"]
            rows.append(row)
            print(
                f"seed {seed}: hpray {row['hpray']['wall_s']:.1f} s "
                f"(best {row['hpray']['best']:.4f}), Optuna {row['optuna']['wall_s']:.1f} s "
                f"(best {row['optuna']['best']:.4f}), plain Ray Tune {row['ray']['wall_s']:.1f} s "
                f"(best {row['ray']['best']:.4f}), {row['ratio']:.2f}x and "
                f"{row['ratio_ray']:.2f}x; hpray's phases {row['hpray']['phases']}",
                flush=True,
            )
    ratios = [r["ratio"] for r in rows]
    phases = list(rows[0]["hpray"]["phases"])
    settings = {k: v for k, v in vars(opts).items() if k not in ("optuna_seed", "out")}
    write_record(
        opts.out,
        "startup",
        {"settings": settings, "rows": rows},
        f"# A first study: `hpray tune searcher=bayes` ({opts.trials} trials x {opts.epochs} "
        "epochs, MLP on digits) beside Optuna in one process and plain Ray Tune, the same work",
        [
            "seed",
            "hpray s",
            "Optuna s",
            "Ray Tune s",
            "vs Optuna",
            "vs Ray Tune",
            "hpray best",
            "Optuna best",
            "Ray Tune best",
            *phases,
        ],
        [
            [
                r["seed"],
                *(f"{r[who]['wall_s']:.1f}" for who in PEERS),
                f"{r['ratio']:.2f}x",
                f"{r['ratio_ray']:.2f}x",
                *(f"{r[who]['best']:.4f}" for who in PEERS),
                *(f"{r['hpray']['phases'].get(p, 0):.2f}" for p in phases),
            ]
            for r in rows
        ],
        f"Median ratio {statistics.median(ratios):.2f}x to Optuna in one process, "
        f"{statistics.median(r['ratio_ray'] for r in rows):.2f}x to plain Ray Tune. The last "
        "columns are hpray's phases (s, from summary.json); its wall time also holds the "
        "interpreter's exit.",
    )


if __name__ == "__main__":
    main()
