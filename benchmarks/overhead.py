"""Per-trial overhead of the hpray driver, with and without Ray actor reuse.

    python benchmarks/overhead.py --trials 40

Runs the same study twice through `hpray tune` (short real trials: the MLP on digits, one
epoch each, FIFO), alternating the order over repeats, and compares the wall time with the ideal
(the trials' own training time divided by the trial slots). Writes overhead.json and overhead.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import tune, write_record


def trial_seconds(directory: Path) -> list[float]:
    """Each trial's own training time (Ray's time_total_s at its last result)."""
    times = []
    for result in directory.glob("trial_*/result.json"):
        lines = [line for line in result.read_text().splitlines() if line.strip()]
        times.append(float(json.loads(lines[-1])["time_total_s"]))
    return times


def run(reuse: bool, trials: int, slots: int, storage: Path) -> dict[str, Any]:
    name = f"reuse_{reuse}_{time.monotonic_ns()}"
    summary, _ = tune(
        storage,
        name,
        f"study.reuse_actors={str(reuse).lower()}",
        f"study.num_samples={trials}",
        "study.epochs=1",
        "scheduler=fifo",
        "resources=cpu",
        f"ray.num_cpus={slots}",
    )
    directory = storage / name
    wall = summary["wall_s"]
    busy = trial_seconds(directory)
    ideal = sum(busy) / slots
    return {
        "wall_s": wall,
        "ideal_s": round(ideal, 2),
        "x_ideal": round(wall / ideal, 2),
        "overhead_per_trial_s": round((wall - ideal) / trials, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--slots", type=int, default=2, help="trials at a time (CPUs)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as storage:
        for repeat in range(args.repeats):
            for reuse in (True, False) if repeat % 2 == 0 else (False, True):
                runs[reuse].append(run(reuse, args.trials, args.slots, Path(storage)))

    def median(reuse: bool, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[reuse]), 3)

    record = {
        "trials": args.trials,
        "slots": args.slots,
        "repeats": args.repeats,
        "machine": f"{os.cpu_count()} CPUs",
        "runs": {str(k): v for k, v in runs.items()},
        "median": {str(reuse): {k: median(reuse, k) for k in runs[reuse][0]} for reuse in runs},
    }
    record["wall_ratio_reuse_vs_not"] = round(median(True, "wall_s") / median(False, "wall_s"), 2)
    medians = [record["median"][str(reuse)] for reuse in (True, False)]
    write_record(
        args.out,
        "overhead",
        record,
        f"{args.trials} one-epoch trials (MLP, digits), {args.slots} at a time, "
        f"{record['machine']}; median of {args.repeats} alternating runs",
        ["reuse_actors", "wall s", "ideal s", "x ideal", "overhead s/trial"],
        [
            [reuse, m["wall_s"], m["ideal_s"], m["x_ideal"], m["overhead_per_trial_s"]]
            for reuse, m in zip((True, False), medians, strict=True)
        ],
        f"wall time with reuse / without: {record['wall_ratio_reuse_vs_not']}",
    )


if __name__ == "__main__":
    main()
