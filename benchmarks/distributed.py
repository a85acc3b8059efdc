"""The same study with one and with two worker processes per trial, side by side.

    python benchmarks/distributed.py                       # CPU: gloo, 4 logical CPUs
    python benchmarks/distributed.py --gpus 2 --cpus 8     # GPU: NCCL, one GPU per worker

Each run is a fresh `hpray tune` on its own local Ray: the built-in MLP on digits, random
search (the same seed, so the same configurations), FIFO, ``--trials`` trials of ``--epochs``
epochs; one with ``resources.workers=1``, one with ``resources.workers=2`` (the global batch
kept: each rank takes half of every batch). Reported side by side: wall time, trials at a
time, trial-epochs trained, the best val_acc, and a gang's start cost: a trial's first report
comes after its start-up and its first epoch, so the first report's time less the median of its
later epochs is what starting the trial cost (its actor; with workers, Ray Train's controller,
its workers and the process group). Writes distributed.json and .md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from harness import trial_results, tune, write_record

OUT = Path(__file__).resolve().parent / "results"


def start_cost(trial: list[dict[str, Any]]) -> float:
    """The first report's time less the median later epoch's: the trial's start-up."""
    times = [float(r["time_this_iter_s"]) for r in trial if not r.get("replayed")]
    if len(times) < 2:
        return float("nan")
    return times[0] - statistics.median(times[1:])


def run(workers: int, args: argparse.Namespace, storage: Path) -> dict[str, Any]:
    gpu = 1 if args.gpus else 0
    name = f"workers{workers}"
    done, _ = tune(
        storage,
        name,
        f"study.num_samples={args.trials}",
        f"study.epochs={args.epochs}",
        "study.seed=0",
        "scheduler=fifo",
        "resources.cpu=1",
        f"resources.gpu={gpu}",
        f"resources.workers={workers}",
        f"ray.num_cpus={args.cpus}",
        f"ray.num_gpus={args.gpus}",
    )
    trials = trial_results(storage / name)
    costs = [start_cost(t) for t in trials]
    return {
        "workers": workers,
        "wall_s": done["wall_s"],
        "trial_epochs": sum(len(t) for t in trials),
        "best_val_acc": done["best"]["value"],
        "start_cost_s": statistics.median(costs),
        "epoch_s": statistics.median(
            statistics.median(float(r["time_this_iter_s"]) for r in t[1:]) for t in trials
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cpus", type=int, default=4)
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--name", default="distributed")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(workers, args, Path(tmp)) for workers in (1, 2)]
    device = f"{args.gpus} GPUs (NCCL)" if args.gpus else "CPU (gloo)"
    write_record(
        args.out,
        args.name,
        {"trials": args.trials, "epochs": args.epochs, "cpus": args.cpus, "runs": rows},
        f"Workers per trial: {args.trials} trials x {args.epochs} epochs, MLP on digits, "
        f"{args.cpus} logical CPUs, {device}",
        ["workers", "wall (s)", "trial-epochs", "best val_acc", "start cost (s)", "epoch (s)"],
        [
            [
                r["workers"],
                f"{r['wall_s']:.1f}",
                r["trial_epochs"],
                f"{r['best_val_acc']:.4f}",
                f"{r['start_cost_s']:.2f}",
                f"{r['epoch_s']:.3f}",
            ]
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
