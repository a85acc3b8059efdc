"""Every benchmark, one after another: `--small` for a quick pass (minutes), else full size.

    python benchmarks/run_all.py --small --out /tmp/bench    # the quick pass
    python benchmarks/run_all.py                              # full size (about an hour or more)

The GPU benchmark (gpu_trials.py) runs only with --gpu, on a machine that has one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMALL = {
    "startup": ["--seeds", "1", "--trials", "8", "--epochs", "6"],
    "scale": ["--trials", "300"],
    "cluster_sim": ["--trials", "400", "--cpus", "16"],
    "overhead": ["--trials", "40", "--epochs", "4", "--repeats", "1"],
    "early_stopping": ["--seeds", "1", "--trials", "8", "--epochs", "6", "--data", "digits"],
    "search_quality": ["--seeds", "2", "--parallel", "1", "8"],
    "resume_cost": ["--seeds", "1", "--trials", "4", "--epochs", "6"],
    "tuning_quality": ["--budget", "60", "--epochs", "6", "--retrain-seeds", "1"],
    "distributed": ["--trials", "2", "--epochs", "4"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--only", nargs="+", choices=sorted(SMALL), default=sorted(SMALL))
    args = parser.parse_args()
    names = [n for n in SMALL if n in args.only] + (["gpu_trials"] if args.gpu else [])
    failed = []
    for name in names:
        extra = SMALL.get(name, []) if args.small else []
        started = time.monotonic()
        print(f"== {name} {' '.join(extra)}", flush=True)
        code = subprocess.call(
            [sys.executable, str(HERE / f"{name}.py"), *extra, "--out", str(args.out)]
        )
        print(f"== {name}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
