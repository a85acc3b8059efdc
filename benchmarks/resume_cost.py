"""What an interruption costs: a study SIGKILLed mid-way and resumed vs the same study run
straight through.

    python benchmarks/resume_cost.py                     # 3 seeds, 8 trials x 10 epochs
    python benchmarks/resume_cost.py --seeds 1 --trials 4 --epochs 6       # small

Each seed runs the study twice through `hpray tune` (random search, FIFO, so both runs train
the same trials to the same budget): straight through, and killed (the driver's whole process
group, SIGKILL) once half of its trial-epochs are in stored checkpoints (trials write those
at once; result files follow with the next snapshot), then resumed with
the same command. Reports the extra trial-epochs trained (epochs trained again: work since the last
checkpoint) and the extra wall time (restart, restore, and the retraining).
Writes resume_cost.json and resume_cost.md.
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

from harness import Run, trial_results, tune, write_record

from hpray.store.layout import newest_history
from hpray.store.location import as_dir


def trained_epochs(directory: Path, since: float = -1.0) -> int:
    """Epochs trained (reports not flagged replayed) and stored, reported after `since`."""
    return sum(
        not r.get("replayed") and r["timestamp"] > since
        for rows in trial_results(directory)
        for r in rows
    )


def checkpointed_epochs(directory: Path) -> int:
    """Per trial, the newest epoch a stored checkpoint holds, summed: work a resume keeps."""
    # The package's reader skips a checkpoint Ray is deleting or a trial is still writing.
    histories = (newest_history(as_dir(trial)) for trial in directory.glob("trial_*"))
    return sum(history[-1]["epoch"] for history in histories if history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    started = time.monotonic()
    runs = []
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(args.seeds):
            overrides = [
                "scheduler=fifo",
                "resources=cpu",
                f"study.seed={seed}",
                f"study.num_samples={args.trials}",
                f"study.epochs={args.epochs}",
            ]
            t = time.monotonic()  # process to process, as the killed run is timed
            tune(Path(storage), f"straight_{seed}", *overrides)
            straight_wall = round(time.monotonic() - t, 2)
            name = f"killed_{seed}"
            directory = Path(storage) / name
            first = Run(storage, name, *overrides)
            t0 = time.monotonic()
            half = args.trials * args.epochs // 2
            first.wait_until(lambda d=directory, h=half: checkpointed_epochs(d) >= h, timeout=1800)
            first.kill()
            killed_at, before_kill = time.time(), time.monotonic() - t0
            time.sleep(2)  # trial processes (own process groups) die when their node does
            kept = checkpointed_epochs(directory)
            second = Run(storage, name, *overrides)
            t1 = time.monotonic()
            code = second.wait(timeout=3600)
            after = time.monotonic() - t1
            if code != 0:
                raise SystemExit(f"the resumed study exited {code}:\n{second.stderr[-3000:]}")
            summary = json.loads((directory / "summary.json").read_text())
            total = args.trials * args.epochs
            retrained = trained_epochs(directory, since=killed_at)  # whole seconds, all before
            run = {
                "seed": seed,
                "checkpointed_at_kill": kept,
                "trained_after_resume": retrained,
                "straight": {"wall_s": straight_wall},
                "resumed": {
                    "wall_s": round(before_kill + after, 2),
                    "complete": summary["complete"],
                },
                # Trained after the resume beyond what was left: epochs trained twice.
                "extra_epochs": retrained - (total - kept),
            }
            run["extra_wall_s"] = round(run["resumed"]["wall_s"] - straight_wall, 2)
            runs.append(run)
            print(json.dumps(run), flush=True)
    record: dict[str, Any] = {
        "seeds": args.seeds,
        "trials": args.trials,
        "epochs": args.epochs,
        "machine": f"{os.cpu_count()} CPUs",
        "runs": runs,
        "median_extra_epochs": statistics.median(r["extra_epochs"] for r in runs),
        "median_extra_wall_s": statistics.median(r["extra_wall_s"] for r in runs),
        "wall_s": round(time.monotonic() - started, 1),
    }
    total = args.trials * args.epochs
    write_record(
        args.out,
        "resume_cost",
        record,
        f"A study of {args.trials} trials x {args.epochs} epochs ({total} trial-epochs) "
        f"SIGKILLed once half of them were checkpointed, and resumed, vs run straight through; "
        f"{record['machine']}",
        [
            "seed",
            "checkpointed at the kill / trained after",
            "extra epochs",
            "wall s (straight / killed + resumed)",
            "extra wall s",
        ],
        [
            [
                r["seed"],
                f"{r['checkpointed_at_kill']} / {r['trained_after_resume']}",
                r["extra_epochs"],
                f"{r['straight']['wall_s']} / {r['resumed']['wall_s']}",
                r["extra_wall_s"],
            ]
            for r in runs
        ],
        f"median: {record['median_extra_epochs']} extra trial-epochs, "
        f"{record['median_extra_wall_s']} s extra wall time.",
    )


if __name__ == "__main__":
    main()
