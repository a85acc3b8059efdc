"""Many one-report trials: hpray's driver beside plain Ray Tune running the same function.

    python benchmarks/scale.py                   # 5000 trials (about half an hour)
    python benchmarks/scale.py --trials 300      # small

Side by side in one run, each a fresh process on its own local Ray with 2 CPUs:
- hpray: ``hpray tune experiment=branin searcher=random study.num_samples=N`` (each trial
  evaluates Branin once and reports once; reused actors, hpray's defaults);
- plain Ray Tune: ``tune.Tuner`` on a function that evaluates Branin at the same kind of random
  point and reports once, ``reuse_actors=True``, its other defaults.
For each: wall time; the cost per trial (seconds between trial ends) over the first and the last
thousand (or tenth) of the trials; the most trials running at once (hpray prints it); bytes the
process tree wrote to the file system (``ru_oublock`` of the waited-for children, 512-byte
blocks); the size of the largest file in the study's directory; and, for hpray, its phases and
``hpray report --text`` on the finished study. Writes scale.json and scale.md.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import plain_random_tune, write_record

HERE = Path(__file__).resolve()


def plain_tune(trials: int, storage: str, temp_dir: str) -> None:
    """The peer, in this (fresh) process: Ray Tune alone on the same one-report function."""
    from ray import tune

    def branin(config: dict[str, float]) -> None:
        x1, x2 = config["x1"], config["x2"]
        b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
        value = (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
        tune.report({"value": value})

    plain_random_tune(branin, "branin", trials, 2, storage, temp_dir)


def written_bytes(run: Any) -> tuple[float, subprocess.CompletedProcess[str], int]:
    """Run a command; its wall time, its outcome, and the blocks its process tree wrote."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock
    started = time.monotonic()
    done = subprocess.run(run, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    return wall, done, (resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock - before) * 512


def trial_ends(directory: Path) -> list[float]:
    """When each trial reported its one result (Ray's ``timestamp``, whole seconds: blocks of
    many trials make it fine enough)."""
    ends = []
    for result in directory.glob("*/result.json"):
        lines = [line for line in result.read_text().splitlines() if line.strip()]
        if lines:
            ends.append(float(json.loads(lines[-1])["timestamp"]))
    return sorted(ends)


def per_trial(ends: list[float], block: int) -> tuple[float, float]:
    """Seconds per trial over the first and the last ``block`` trials to end."""
    if len(ends) < 2 * block:
        block = max(1, len(ends) // 2)
    first = (ends[block - 1] - ends[0]) / max(1, block - 1)
    last = (ends[-1] - ends[-block]) / max(1, block - 1)
    return first, last


def largest_file(directory: Path) -> int:
    return max((p.stat().st_size for p in directory.rglob("*") if p.is_file()), default=0)


def run_hpray(trials: int, tmp: Path) -> dict[str, Any]:
    storage, ray_dir = tmp / "hpray", tempfile.mkdtemp(prefix="hpray-ray-", dir="/tmp")
    wall, done, written = written_bytes(
        [
            sys.executable,
            "-m",
            "hpray",
            "tune",
            "experiment=branin",
            "searcher=random",
            f"study.num_samples={trials}",
            f"study.storage={storage}",
            f"ray.temp_dir={ray_dir}",
            "ray.num_cpus=2",
        ]
    )
    if done.returncode != 0:
        raise SystemExit(f"hpray tune failed:\n{done.stderr[-3000:]}")
    study = storage / "branin"
    started = time.monotonic()
    report = subprocess.run(
        [sys.executable, "-m", "hpray", "report", str(study), "--text"],
        capture_output=True,
        text=True,
        check=True,
    )
    peak = re.search(r"ran up to (\d+) trials at a time", done.stderr)
    return {
        "wall_s": wall,
        "written_bytes": written,
        "largest_file": largest_file(study),
        "ends": trial_ends(study),
        "peak": int(peak.group(1)) if peak else None,
        "phases": json.loads((study / "summary.json").read_text()).get("phases", {}),
        "report_text_s": time.monotonic() - started,
        "progress_lines": sum(line.startswith("[hpray] ") for line in done.stderr.splitlines()),
        "report_lines": len(report.stdout.splitlines()),
    }


def run_plain(trials: int, tmp: Path) -> dict[str, Any]:
    storage, ray_dir = tmp / "plain", tempfile.mkdtemp(prefix="plain-ray-", dir="/tmp")
    wall, done, written = written_bytes(
        [
            sys.executable,
            str(HERE),
            "--plain",
            str(trials),
            "--storage",
            str(storage),
            "--temp-dir",
            ray_dir,
        ]
    )
    if done.returncode != 0:
        raise SystemExit(f"plain Ray Tune failed:\n{done.stderr[-3000:]}")
    study = storage / "branin"
    return {
        "wall_s": wall,
        "written_bytes": written,
        "largest_file": largest_file(study),
        "ends": trial_ends(study),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=HERE.parent / "results")
    parser.add_argument("--plain", type=int, help=argparse.SUPPRESS)  # the peer's process
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    parser.add_argument("--temp-dir", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.plain is not None:
        plain_tune(opts.plain, opts.storage, opts.temp_dir)
        return
    block = min(1000, max(1, opts.trials // 3))
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "plain Ray Tune": run_plain(opts.trials, Path(tmp)),
            "hpray": run_hpray(opts.trials, Path(tmp)),
        }
    rows = []
    for name, run in runs.items():
        first, last = per_trial(run.pop("ends"), block)
        run.update(first_s_per_trial=first, last_s_per_trial=last)
        rows.append(
            [
                name,
                f"{run['wall_s']:.1f}",
                f"{first * 1000:.0f}",
                f"{last * 1000:.0f}",
                f"{last / first:.2f}x" if first else "-",
                f"{run['written_bytes'] / 1e6:.1f}",
                f"{run['largest_file'] / 1e6:.2f}",
                run.get("peak", "-"),
            ]
        )
    hpray, plain = runs["hpray"], runs["plain Ray Tune"]
    footer = (
        f"hpray / plain Ray Tune: wall {hpray['wall_s'] / plain['wall_s']:.2f}x, bytes written "
        f"{hpray['written_bytes'] / max(1, plain['written_bytes']):.2f}x. hpray's phases (s): "
        f"{hpray['phases']}; `hpray report --text` {hpray['report_text_s']:.1f} s; "
        f"{hpray['progress_lines']} progress lines."
    )
    write_record(
        opts.out,
        "scale",
        {"settings": {"trials": opts.trials, "block": block}, "runs": runs},
        f"# {opts.trials} one-report trials (Branin, random search, 2 CPUs, reused actors)",
        [
            "driver",
            "wall s",
            f"ms/trial, first {block}",
            f"ms/trial, last {block}",
            "last/first",
            "MB written",
            "largest file MB",
            "most at once",
        ],
        rows,
        footer,
    )


if __name__ == "__main__":
    main()
