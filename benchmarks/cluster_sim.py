"""Many one-second trials on a simulated cluster: a local Ray declaring many logical CPUs.

    python benchmarks/cluster_sim.py                          # 10,000 trials on 64 slots
    python benchmarks/cluster_sim.py --trials 2000 --cpus 32  # small

A cluster of 64 one-CPU trial slots, simulated on this machine: each trial sleeps one second
and reports once, so the wall time shows what the driver adds to trials x 1 s / slots (the
ideal). Side by side in one run, each a fresh process on its own local Ray with ``--cpus``
logical CPUs:
- hpray: ``hpray tune experiment=branin searcher=random objective.seconds=1`` (reused actors,
  hpray's defaults);
- plain Ray Tune: ``tune.Tuner`` on a function that sleeps a second and reports once,
  ``reuse_actors=True``, its other defaults.
A peer still running after ``--plain-limit-s`` (600 s) is stopped; its time is then told from
the trials it finished by then. Ray's own release test (tune_scalability_bookkeeping_overhead)
allows 1.28x the ideal for 10,000 such trials on 16 CPUs. Writes cluster_sim.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import plain_random_tune, timed, write_record

HERE = Path(__file__).resolve()


def plain_tune(trials: int, cpus: int, seconds: float, storage: str, temp_dir: str) -> None:
    """The peer, in this (fresh) process: Ray Tune alone on the same one-second function."""
    from ray import tune

    def one_second(config: dict[str, float]) -> None:
        time.sleep(seconds)
        tune.report({"value": config["x1"] ** 2 + config["x2"]})

    plain_random_tune(one_second, "sim", trials, cpus, storage, temp_dir)


def finished(directory: Path) -> int:
    """Trials that reported (Ray's result.json of each trial is empty until then)."""
    return sum(1 for f in directory.glob("*/result.json") if f.stat().st_size > 0)


def run_hpray(trials: int, cpus: int, seconds: float, tmp: Path) -> dict[str, Any]:
    storage, ray_dir = tmp / "hpray", tempfile.mkdtemp(prefix="hpray-ray-", dir="/tmp")
    wall, done = timed(
        [
            sys.executable,
            "-m",
            "hpray",
            "tune",
            "experiment=branin",
            "searcher=random",
            "study.name=sim",
            f"objective.seconds={seconds}",
            f"study.num_samples={trials}",
            f"study.storage={storage}",
            f"ray.temp_dir={ray_dir}",
            f"ray.num_cpus={cpus}",
        ]
    )
    if done.returncode != 0:
        raise SystemExit(f"hpray tune failed:\n{done.stderr[-3000:]}")
    peak = re.search(r"ran up to (\d+) trials at a time", done.stderr)
    phases = json.loads((storage / "sim" / "summary.json").read_text()).get("phases", {})
    return {"wall_s": wall, "peak": int(peak.group(1)) if peak else None, "phases": phases}


def run_plain(trials: int, cpus: int, seconds: float, tmp: Path, limit_s: float) -> dict[str, Any]:
    """The peer's run; stopped after ``limit_s`` (its process group: its own Ray with it), when
    its rate so far says what the whole would take."""
    storage, ray_dir = tmp / "plain", tempfile.mkdtemp(prefix="plain-ray-", dir="/tmp")
    args = [
        sys.executable,
        str(HERE),
        "--plain",
        f"--trials={trials}",
        f"--cpus={cpus}",
        f"--seconds={seconds}",
        f"--storage={storage}",
        f"--temp-dir={ray_dir}",
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, err = process.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        done = finished(storage / "sim")
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        wall = time.monotonic() - started
        told = trials * wall / done if done else float("inf")  # none finished: no rate to tell
        return {"wall_s": told, "stopped_after_s": wall, "done": done}
    if process.returncode != 0:
        raise SystemExit(f"plain Ray Tune failed:\n{err[-3000:]}")
    return {"wall_s": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--cpus", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=HERE.parent / "results")
    # The peer is stopped after this long and its whole time told from its rate so far.
    parser.add_argument("--plain-limit-s", type=float, default=600.0)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)  # the peer
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    parser.add_argument("--temp-dir", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.plain:
        plain_tune(opts.trials, opts.cpus, opts.seconds, opts.storage, opts.temp_dir)
        return
    ideal = opts.trials * opts.seconds / opts.cpus
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "plain Ray Tune": run_plain(
                opts.trials, opts.cpus, opts.seconds, Path(tmp), opts.plain_limit_s
            ),
            "hpray": run_hpray(opts.trials, opts.cpus, opts.seconds, Path(tmp)),
        }
    rows = [
        [
            name,
            f"{run['wall_s']:.1f}"
            + (
                f" (at its rate: {run['done']} trials in {run['stopped_after_s']:.0f} s)"
                if "done" in run
                else ""
            ),
            f"{run['wall_s'] / ideal:.2f}x",
            run.get("peak", "-"),
        ]
        for name, run in runs.items()
    ]
    hpray = runs["hpray"]
    footer = (
        f"ideal: {opts.trials} trials x {opts.seconds:g} s / {opts.cpus} slots = {ideal:.1f} s. "
        f"hpray / plain Ray Tune: {hpray['wall_s'] / runs['plain Ray Tune']['wall_s']:.2f}x. "
        f"hpray's phases (s): {hpray['phases']}."
    )
    write_record(
        opts.out,
        "cluster_sim",
        {"args": {k: str(v) for k, v in vars(opts).items()}, "ideal_s": ideal, "runs": runs},
        f"# {opts.trials} trials of {opts.seconds:g} s on a simulated {opts.cpus}-CPU cluster",
        ["driver", "wall s", "of the ideal", "most at once"],
        rows,
        footer,
    )


if __name__ == "__main__":
    main()
