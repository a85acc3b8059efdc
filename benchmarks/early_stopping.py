"""Does early stopping pay? ASHA vs full-budget random search, same seeds and trial count.

    python benchmarks/early_stopping.py                          # 3 seeds, 20 trials, 20 epochs
    python benchmarks/early_stopping.py --seeds 1 --trials 8 --epochs 6 --data digits  # small

For each dataset (`synthetic`, sized so training dominates, and `digits`) and seed, the same
random-search study (same seed: the same configurations) runs twice through `hpray tune`:
with ASHA (conf/scheduler/asha.yaml) and with FIFO (every trial to the full budget). Reports
the best validation accuracy and the total trial-epochs of each, and their ratios.
Writes early_stopping.json and early_stopping.md.
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
    parser.add_argument("--data", nargs="+", default=["synthetic", "digits"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--asha",
        nargs="*",
        default=[],
        help="overrides for the ASHA runs, e.g. scheduler.reduction_factor=4",
    )
    args = parser.parse_args()
    started = time.monotonic()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as storage:
        for data in args.data:
            runs[data] = []
            for seed in range(args.seeds):
                pair: dict[str, Any] = {"seed": seed}
                # Alternate the order so neither scheduler always runs on a warmer machine.
                order = ("asha", "fifo") if seed % 2 == 0 else ("fifo", "asha")
                for scheduler in order:
                    summary, _ = tune(
                        Path(storage),
                        f"{data}_{scheduler}_{seed}",
                        f"data={data}",
                        f"scheduler={scheduler}",
                        f"study.seed={seed}",
                        f"study.num_samples={args.trials}",
                        f"study.epochs={args.epochs}",
                        "resources=cpu",
                        *(args.asha if scheduler == "asha" else []),
                    )
                    pair[scheduler] = {
                        "best_val_acc": summary["best"]["value"],
                        "epochs": summary["epochs_total"],
                        "wall_s": summary["wall_s"],
                        "early_stopped": summary["trials"]["early_stopped"],
                    }
                pair["acc_points"] = round(
                    100 * (pair["asha"]["best_val_acc"] - pair["fifo"]["best_val_acc"]), 2
                )
                pair["epoch_ratio"] = round(pair["asha"]["epochs"] / pair["fifo"]["epochs"], 3)
                pair["wall_ratio"] = round(pair["asha"]["wall_s"] / pair["fifo"]["wall_s"], 3)
                runs[data].append(pair)
                print(f"{data} seed {seed}: {pair}", flush=True)
    record: dict[str, Any] = {
        "seeds": args.seeds,
        "trials": args.trials,
        "epochs": args.epochs,
        "machine": f"{os.cpu_count()} CPUs",
        "asha_overrides": args.asha,
        "runs": runs,
        "wall_s": round(time.monotonic() - started, 1),
    }
    rows = []
    for data, pairs in runs.items():

        def med(key: str, pairs: list[dict[str, Any]] = pairs) -> float:
            return statistics.median(p[key] for p in pairs)

        record[data] = {k: med(k) for k in ("acc_points", "epoch_ratio", "wall_ratio")}
        rows.append(
            [
                data,
                f"{statistics.median(p['asha']['best_val_acc'] for p in pairs):.4f}",
                f"{statistics.median(p['fifo']['best_val_acc'] for p in pairs):.4f}",
                f"{med('acc_points'):+.2f} [{min(p['acc_points'] for p in pairs):+.2f}, "
                f"{max(p['acc_points'] for p in pairs):+.2f}]",
                f"{med('epoch_ratio'):.3f}",
                f"{med('wall_ratio'):.3f}",
            ]
        )
    write_record(
        args.out,
        "early_stopping",
        record,
        f"ASHA ({' '.join(args.asha) or 'conf/scheduler/asha.yaml'}) vs full budget: random "
        f"search, {args.trials} trials x up to {args.epochs} epochs, the same seeds; median over "
        f"{args.seeds} seeds; {record['machine']}",
        [
            "data",
            "ASHA best val_acc",
            "full best val_acc",
            "ASHA - full, points [min, max]",
            "epochs ASHA / full",
            "wall ASHA / full",
        ],
        rows,
        "Target: the same best accuracy within 0.5 points for at most a quarter of the epochs.",
    )


if __name__ == "__main__":
    main()
