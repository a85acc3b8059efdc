"""Tuning quality at a fixed compute budget: each searcher with and without ASHA, and the
retrained winner's test accuracy.

    python benchmarks/tuning_quality.py                     # digits, 200 trial-epochs each
    python benchmarks/tuning_quality.py --budget 60 --epochs 6 --retrain-seeds 1    # small

The budget is in trial-epochs. Without early stopping (FIFO) a study gets budget / epochs
trials, exactly the budget. With ASHA it gets `--asha-factor` times as many trials (ASHA stops
most early) and is scored on its first `budget` trial-epochs in the order they were reported
(Ray's result timestamps, to the second; ties by trial and epoch): the best trial within the
budget wins, and the table shows the epochs counted and those the study ran. Grid search runs
space=grid (12 combinations) whatever the budget. Each winner is trained again on training +
validation data by `hpray retrain [--trial ID]` and scored once on the held-out test split.
Writes tuning_quality.json and tuning_quality.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import trial_results, tune, write_record


def retrain(directory: Path, seeds: int, trial: str) -> dict[str, Any]:
    """The test accuracy of ``trial``'s config retrained on training + validation data."""
    args = ["retrain", str(directory), "--seeds", str(seeds), "--device", "cpu", "--trial", trial]
    done = subprocess.run(
        [sys.executable, "-m", "hpray.cli", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"retrain failed:\n{done.stderr[-3000:]}")
    final: dict[str, Any] = json.loads((directory / f"final_{trial}.json").read_text())
    return final["test_acc"]  # type: ignore[no-any-return]


def within_budget(directory: Path, budget: int) -> tuple[str, float, int]:
    """The best trial, its best val_acc and the trial-epochs counted, of the first ``budget``."""
    reports = [
        (r["timestamp"], r["trial_id"], r["epoch"], r["val_acc"])
        for rows in trial_results(directory)
        for r in rows
        if not r.get("replayed")  # one report per trained epoch
    ]
    counted = sorted(reports)[:budget]
    _, trial, _, value = max(counted, key=lambda r: r[3])
    return trial, value, len(counted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--budget", type=int, default=200, help="trial-epochs per study")
    parser.add_argument("--epochs", type=int, default=20, help="the per-trial budget")
    parser.add_argument("--asha-factor", type=int, default=6, help="ASHA's trials / FIFO's")
    parser.add_argument("--searchers", nargs="+", default=["random", "bayes", "gp", "grid"])
    parser.add_argument("--retrain-seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    started = time.monotonic()
    fifo_trials = max(1, args.budget // args.epochs)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as storage:
        for searcher in args.searchers:
            for scheduler in ("asha", "fifo"):
                trials = fifo_trials * (args.asha_factor if scheduler == "asha" else 1)
                name = f"{searcher}_{scheduler}"
                summary, _ = tune(
                    Path(storage),
                    name,
                    f"data={args.data}",
                    f"searcher={searcher}",
                    f"scheduler={scheduler}",
                    f"study.seed={args.seed}",
                    f"study.epochs={args.epochs}",
                    "resources=cpu",
                    *(["space=grid"] if searcher == "grid" else [f"study.num_samples={trials}"]),
                )
                budget = args.budget if scheduler == "asha" else summary["epochs_total"]
                winner, best, counted = within_budget(Path(storage) / name, budget)
                test_acc = retrain(Path(storage) / name, args.retrain_seeds, winner)
                results.append(
                    {
                        "searcher": searcher,
                        "scheduler": scheduler,
                        "trials": summary["trials"]["total"],
                        "epochs_counted": counted,
                        "epochs_run": summary["epochs_total"],
                        "best_trial": winner,
                        "best_val_acc": best,
                        "test_acc": test_acc,
                        "wall_s": summary["wall_s"],
                    }
                )
                print(json.dumps(results[-1]), flush=True)
    record = {
        "data": args.data,
        "budget_trial_epochs": args.budget,
        "epochs": args.epochs,
        "asha_factor": args.asha_factor,
        "retrain_seeds": args.retrain_seeds,
        "machine": f"{os.cpu_count()} CPUs",
        "results": results,
        "wall_s": round(time.monotonic() - started, 1),
    }
    write_record(
        args.out,
        "tuning_quality",
        record,
        f"{args.data}: {args.budget} trial-epochs per study (FIFO: {fifo_trials} trials x "
        f"{args.epochs} epochs; ASHA: {args.asha_factor}x the trials, scored on its first "
        f"{args.budget} trial-epochs), seed {args.seed}; the "
        f"winner retrained on train + validation and tested once, {args.retrain_seeds} "
        f"seed(s); {record['machine']}",
        [
            "searcher",
            "scheduler",
            "trials",
            "epochs counted (run)",
            "best val_acc",
            "test_acc (mean ± std)",
            "wall s",
        ],
        [
            [
                r["searcher"],
                r["scheduler"],
                r["trials"],
                f"{r['epochs_counted']} ({r['epochs_run']})",
                f"{r['best_val_acc']:.4f}",
                f"{r['test_acc']['mean']:.4f} ± {r['test_acc']['std']:.4f}",
                r["wall_s"],
            ]
            for r in results
        ],
        "Grid search runs space=grid (12 combinations) whatever the budget.",
    )


if __name__ == "__main__":
    main()
