"""Population based training (PBT, PB2) beside ASHA on the same trial-epoch budget.

    python benchmarks/pbt.py                       # 3 seeds, digits, 20 ASHA trials x 20 epochs
    python benchmarks/pbt.py --seeds 1 --trials 8 --epochs 8 --data digits   # small

For each dataset and seed, side by side in one run (the order alternates):
- ASHA: random search with ASHA (conf/scheduler/asha.yaml), ``--trials`` trials of up to
  ``--epochs`` epochs; its trial-epochs (summary.json's ``epochs_total``) are the budget;
- PBT: ``scheduler=pbt`` from random starts, a population of budget / epochs trials (at least
  4) trained to ``--epochs`` each, so both spend about the same trial-epochs;
- PB2: ``scheduler=pb2``, the same population (PBT whose copies' values come from a Gaussian
  process), run right after PBT.
Reports each one's best validation accuracy, trial-epochs and wall time; writes pbt.json and
pbt.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import tune, write_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--data", nargs="+", default=["digits"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    started = time.monotonic()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as storage:
        for data in args.data:
            runs[data] = []
            for seed in range(args.seeds):
                common = (f"data={data}", f"study.seed={seed}", f"study.epochs={args.epochs}")
                common += ("resources=cpu",)
                pair: dict[str, Any] = {"seed": seed}

                # PBT's population comes from ASHA's budget: ASHA runs first on even seeds;
                # on odd ones PBT first, with the population the even seeds found.
                if seed % 2 == 0 or not runs[data]:
                    pair["asha"] = run(storage, f"{data}_asha_{seed}", common, "asha", args.trials)
                    population = population_for(pair["asha"]["epochs"], args.epochs)
                    for name in ("pbt", "pb2"):
                        pair[name] = run(storage, f"{data}_{name}_{seed}", common, name, population)
                else:
                    population = round(statistics.fmean(p["pbt"]["trials"] for p in runs[data]))
                    for name in ("pbt", "pb2"):
                        pair[name] = run(storage, f"{data}_{name}_{seed}", common, name, population)
                    pair["asha"] = run(storage, f"{data}_asha_{seed}", common, "asha", args.trials)
                for name in ("pbt", "pb2"):  # points of val_acc over ASHA's best
                    pair[f"{name}_points"] = round(
                        100 * (pair[name]["best_val_acc"] - pair["asha"]["best_val_acc"]), 2
                    )
                pair["epoch_ratio"] = round(pair["pbt"]["epochs"] / pair["asha"]["epochs"], 3)
                runs[data].append(pair)
                print(f"{data} seed {seed}: {pair}", flush=True)
    rows = []
    for data, pairs in runs.items():
        for name in ("asha", "pbt", "pb2"):
            rows.append(
                [
                    data,
                    name,
                    round(statistics.median(p[name]["best_val_acc"] for p in pairs), 4),
                    round(statistics.median(p[name]["epochs"] for p in pairs)),
                    round(statistics.median(p[name]["trials"] for p in pairs)),
                    round(statistics.median(p[name]["wall_s"] for p in pairs), 1),
                ]
            )
    record = {
        "seeds": args.seeds,
        "asha_trials": args.trials,
        "epochs": args.epochs,
        "machine": f"{os.cpu_count()} CPUs",
        "runs": runs,
        "wall_s": round(time.monotonic() - started, 1),
    }
    write_record(
        args.out,
        "pbt",
        record,
        f"PBT and PB2 beside ASHA on the same trial-epoch budget ({args.seeds} seeds, medians)",
        ["data", "scheduler", "best val_acc", "trial-epochs", "trials", "wall s"],
        rows,
        "PBT's and PB2's population = ASHA's trial-epochs / epochs per trial (at least 4); all "
        "from random starts with the same seed.",
    )


def run(
    storage: str, name: str, common: tuple[str, ...], scheduler: str, trials: int
) -> dict[str, Any]:
    """One study to its end; its figures."""
    summary, _ = tune(
        Path(storage), name, *common, f"scheduler={scheduler}", f"study.num_samples={trials}"
    )
    return figures(summary)


def population_for(epochs_total: int, epochs: int) -> int:
    """The population that spends ASHA's trial-epochs training each trial to the full budget."""
    return max(4, round(epochs_total / epochs))


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "best_val_acc": summary["best"]["value"],
        "epochs": summary["epochs_total"],
        "trials": summary["trials"]["total"],
        "wall_s": summary["wall_s"],
    }


if __name__ == "__main__":
    main()
