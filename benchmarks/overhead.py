"""The driver's overhead: hpray's wall time vs the ideal and vs plain Ray Tune's defaults.

    python benchmarks/overhead.py                        # 200 trials of ~1 s training, 2 CPUs
    python benchmarks/overhead.py --trials 40 --epochs 4   # small
    python benchmarks/overhead.py --no-plain study.checkpoint_every=10   # hpray alone, and an
                                                         # override of the study both would run

Many short real training trials (the MLP on digits, `--epochs` each, FIFO) on `--slots` CPUs,
all in one process on one local Ray, alternating the order over repeats:
- hpray: `hpray tune`'s driver (`study.run`), its defaults (actor reuse, checkpoints every
  epoch, reports written at the end);
- plain Ray Tune: `tune.Tuner` on the same trainable and search space, its default settings
  (no actor reuse, Ray's checkpoint and snapshot defaults).
The ideal is the trials' own time (Ray's `time_total_s`) in the hpray run, divided by the
slots: with actor reuse that is the training loop with the data already loaded, the same work
plain Ray Tune's trials do (its own `time_total_s` also holds each new actor's set-up, shown as
"own ideal"). Writes overhead.json and overhead.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
from harness import trial_results, write_record
from hydra import compose, initialize_config_module
from ray import tune

from hpray.config.branch_groups import expand
from hpray.config.prepare import prepare
from hpray.driver.run import run
from hpray.driver.tuner import RAY_ENV_DEFAULTS


def trial_seconds(directory: Path) -> list[float]:
    """Each trial's own time (Ray's time_total_s at its last result)."""
    return [float(rows[-1]["time_total_s"]) for rows in trial_results(directory) if rows]


def overrides(args: argparse.Namespace, storage: Path, name: str) -> list[str]:
    return [
        f"study.storage={storage}",
        f"study.name={name}",
        f"study.num_samples={args.trials}",
        f"study.epochs={args.epochs}",
        "scheduler=fifo",
        "resources=cpu",
        *args.overrides,
    ]


def run_hpray(args: argparse.Namespace, storage: Path, name: str) -> float:
    with initialize_config_module("hpray.conf", version_base="1.3"):
        study = prepare(expand(compose("study", overrides(args, storage, name))))
    quiet = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
        code = run(study)
    wall = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"hpray exited {code}:\n{quiet.getvalue()[-3000:]}")
    return wall


def run_plain(args: argparse.Namespace, storage: Path, name: str) -> float:
    """The same trainable and space through tune.Tuner with Ray Tune's defaults."""
    with initialize_config_module("hpray.conf", version_base="1.3"):
        study = prepare(expand(compose("study", overrides(args, storage, name))))
    study.base["resources"] = {"cpu": 1.0, "gpu": 0.0}
    trainable = tune.with_resources(
        tune.with_parameters(study.trainable, base=study.base), {"cpu": 1}
    )
    tuner = tune.Tuner(
        trainable,
        param_space=study.plan.param_space,
        tune_config=tune.TuneConfig(
            metric="val_acc",
            mode="max",
            num_samples=args.trials,
            search_alg=tune.search.BasicVariantGenerator(random_state=0),
        ),
        run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0),
    )
    saved = {k: os.environ.pop(k, None) for k in RAY_ENV_DEFAULTS}  # Ray's own defaults
    started = time.monotonic()
    try:
        tuner.fit()
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10, help="epochs per trial (~0.1 s each)")
    parser.add_argument("--slots", type=int, default=2, help="trials at a time (CPUs)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--plain", action=argparse.BooleanOptionalAction, default=True, help="plain Ray Tune too"
    )
    parser.add_argument("--record", default="overhead", help="name of the JSON/Markdown record")
    parser.add_argument("overrides", nargs="*", help="extra study overrides (both drivers)")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"hpray": []}
    if args.plain:
        runs["plain Ray Tune"] = []
    os.environ.pop("RAY_ADDRESS", None)
    with tempfile.TemporaryDirectory(prefix="hpray-ray-", dir="/tmp") as temp_dir:
        ray.init(num_cpus=args.slots, include_dashboard=False, _temp_dir=temp_dir)
        try:
            with tempfile.TemporaryDirectory() as storage:
                for repeat in range(args.repeats):
                    order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
                    for kind in order:
                        name = f"{kind.split()[0]}_{repeat}"
                        runner = run_hpray if kind == "hpray" else run_plain
                        wall = runner(args, Path(storage), name)
                        busy = trial_seconds(Path(storage) / name)
                        ideal = sum(busy) / args.slots
                        runs[kind].append(
                            {
                                "wall_s": round(wall, 2),
                                "ideal_s": round(ideal, 2),
                                "x_ideal": round(wall / ideal, 3),
                                "trial_s_median": round(statistics.median(busy), 3),
                                "overhead_per_trial_s": round((wall - ideal) / args.trials, 3),
                            }
                        )
                        print(kind, runs[kind][-1], flush=True)
        finally:
            ray.shutdown()

    def median(kind: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[kind]), 3)

    # One ideal for both: the training work, as the hpray runs measured it.
    for kind in runs:
        for i, r in enumerate(runs[kind]):
            r["own_ideal_s"] = r["ideal_s"]
            r["ideal_s"] = runs["hpray"][i]["own_ideal_s"] if kind != "hpray" else r["ideal_s"]
            r["x_ideal"] = round(r["wall_s"] / r["ideal_s"], 3)
            r["overhead_per_trial_s"] = round((r["wall_s"] - r["ideal_s"]) / args.trials, 3)
    medians = {kind: {k: median(kind, k) for k in runs[kind][0]} for kind in runs}
    ratios = [
        h["wall_s"] / p["wall_s"]
        for h, p in zip(runs["hpray"], runs.get("plain Ray Tune", []), strict=False)
    ]
    record = {
        "trials": args.trials,
        "epochs": args.epochs,
        "slots": args.slots,
        "repeats": args.repeats,
        "machine": f"{os.cpu_count()} CPUs",
        "ray": ray.__version__,
        "overrides": args.overrides,
        "runs": runs,
        "median": medians,
        "hpray_over_plain": round(statistics.median(ratios), 3) if ratios else None,
    }
    versus = (
        f"hpray wall / plain Ray Tune wall: {record['hpray_over_plain']} (median of the paired "
        "runs). "
        if ratios
        else ""
    )
    write_record(
        args.out,
        args.record,
        record,
        f"{args.trials} trials of the MLP on digits ({args.epochs} epochs each, median trial "
        f"{medians['hpray']['trial_s_median']} s), {args.slots} at a time, {record['machine']}, "
        f"Ray {ray.__version__}; median of {args.repeats} alternating runs"
        + (f"; overrides: {' '.join(args.overrides)}" if args.overrides else ""),
        ["driver", "wall s", "ideal s", "x ideal", "overhead s/trial", "own ideal s"],
        [
            [
                kind,
                m["wall_s"],
                m["ideal_s"],
                m["x_ideal"],
                m["overhead_per_trial_s"],
                m["own_ideal_s"],
            ]
            for kind, m in medians.items()
        ],
        f"{versus}Targets: hpray within 5% of ideal (x ideal <= 1.05), and at most 0.3x plain "
        "Ray Tune's wall time.",
    )


if __name__ == "__main__":
    main()
