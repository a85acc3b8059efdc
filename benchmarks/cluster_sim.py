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
Ray's own release test (tune_scalability_bookkeeping_overhead) allows 1.28x the ideal for
10,000 such trials on 16 CPUs. Writes cluster_sim.json and cluster_sim.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import write_record

HERE = Path(__file__).resolve()


def plain_tune(trials: int, cpus: int, seconds: float, storage: str, temp_dir: str) -> None:
    """The peer, in this (fresh) process: Ray Tune alone on the same one-second function."""
    import ray
    from ray import tune

    def one_second(config: dict[str, float]) -> None:
        time.sleep(seconds)
        tune.report({"value": config["x1"] ** 2 + config["x2"]})

    ray.init(num_cpus=cpus, include_dashboard=False, _temp_dir=temp_dir)
    tuner = tune.Tuner(
        one_second,
        param_space={"x1": tune.uniform(-5, 10), "x2": tune.uniform(0, 15)},
        tune_config=tune.TuneConfig(
            metric="value", mode="min", num_samples=trials, reuse_actors=True
        ),
        run_config=tune.RunConfig(name="sim", storage_path=storage, verbose=0),
    )
    tuner.fit()
    ray.shutdown()


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    return time.monotonic() - started, done


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


def run_plain(trials: int, cpus: int, seconds: float, tmp: Path) -> dict[str, Any]:
    storage, ray_dir = tmp / "plain", tempfile.mkdtemp(prefix="plain-ray-", dir="/tmp")
    wall, done = timed(
        [
            sys.executable,
            str(HERE),
            "--plain",
            f"--trials={trials}",
            f"--cpus={cpus}",
            f"--seconds={seconds}",
            f"--storage={storage}",
            f"--temp-dir={ray_dir}",
        ]
    )
    if done.returncode != 0:
        raise SystemExit(f"plain Ray Tune failed:\n{done.stderr[-3000:]}")
    return {"wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--cpus", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=HERE.parent / "results")
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
            "plain Ray Tune": run_plain(opts.trials, opts.cpus, opts.seconds, Path(tmp)),
            "hpray": run_hpray(opts.trials, opts.cpus, opts.seconds, Path(tmp)),
        }
    rows = [
        [name, f"{run['wall_s']:.1f}", f"{run['wall_s'] / ideal:.2f}x", run.get("peak", "-")]
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
