"""Trials per hour and GPU use at 1, 2 and 4 trials per GPU, through the real `hpray tune`.

Run on a machine with a GPU:  python benchmarks/gpu_trials.py --out benchmarks/results
For each model (the default MLP and the CNN), each share runs the same study (same seed, same
trials) in a fresh local Ray; nvidia-smi is sampled while it runs. Beside trials per hour: the
trials' own time (Ray's time_total_s, summed) and how many trial processes ran, to tell time
in training from time between trials. Writes gpu_trials.json and gpu_trials.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness import trial_results, tune, write_record
from overhead import trial_seconds

SHARES = (1.0, 0.5, 0.25)


def sample_gpu(stop: threading.Event, samples: list[tuple[float, float]]) -> None:
    """Every 0.5 s: (utilisation %, memory used MiB) of GPU 0."""
    while not stop.is_set():
        out = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=utilization.gpu,memory.used",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
        ).stdout.split("\n")[0]
        if out.strip():
            util, mem = (float(v) for v in out.split(","))
            samples.append((util, mem))
        stop.wait(0.5)


def processes(directory: Path) -> int:
    """Distinct trial processes (host, pid) that reported: fewer than trials means reuse."""
    return len(
        {(r.get("hostname"), r.get("pid")) for rows in trial_results(directory) for r in rows}
    )


def run(share: float, storage: Path, model: str, overrides: list[str]) -> dict[str, Any]:
    name = f"{model}_share_{share:g}"
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_gpu, args=(stop, samples), daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        summary, stderr = tune(
            storage,
            name,
            f"model={model}",
            "resources=gpu_shared",
            f"resources.gpu={share}",
            *overrides,
        )
    finally:
        stop.set()
        sampler.join()
    wall = time.monotonic() - started
    busy = [u for u, _ in samples]
    peak = next((line for line in stderr.splitlines() if "trials at a time" in line), "")
    own = trial_seconds(storage / name)
    print(f"{name}: {summary['trials']['total']} trials in {wall:.1f} s", flush=True)
    return {
        "model": model,
        "trials_per_gpu": round(1 / share),
        "trials": summary["trials"]["total"],
        "wall_s": round(wall, 1),
        "trials_per_hour": round(summary["trials"]["total"] / wall * 3600),
        "gpu_util_mean": round(statistics.fmean(busy), 1) if busy else None,
        "gpu_mem_peak_mib": max((m for _, m in samples), default=None),
        "best": summary["best"]["value"],
        "concurrency": peak.split("up to ")[-1].split(" ")[0] if peak else None,
        "trial_s_mean": round(statistics.fmean(own), 2),
        "trial_processes": processes(storage / name),
        # Wall time beyond the trials' own time spread over the slots: the study's start and
        # end, and what the driver does between trials.
        "outside_trials_s": round(wall - sum(own) * share, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--storage", type=Path, help="keep the studies here (default: a temp dir)")
    parser.add_argument("overrides", nargs="*", help="extra `hpray tune` overrides")
    args = parser.parse_args()
    overrides = [
        f"data={args.data}",
        "scheduler=fifo",
        f"study.num_samples={args.trials}",
        f"study.epochs={args.epochs}",
        *args.overrides,
    ]
    gpu = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True
    ).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        storage = args.storage or temp
        for model in args.models:
            runs = [run(share, Path(storage), model, overrides) for share in SHARES]
            for row in runs:
                row["speedup_vs_1"] = round(row["trials_per_hour"] / runs[0]["trials_per_hour"], 2)
            rows += runs
    record = {"gpu": gpu, "data": args.data, "overrides": overrides, "runs": rows}
    write_record(
        args.out,
        "gpu_trials",
        record,
        f"GPU: {gpu}; data={args.data}, {args.trials} trials x {args.epochs} epochs (FIFO), "
        f"overrides: {' '.join(overrides)}",
        [
            "model",
            "trials/GPU",
            "wall s",
            "trials/hour",
            "x vs 1",
            "GPU util %",
            "GPU mem MiB",
            "ran at once",
            "trial s (mean)",
            "trial processes",
            "outside trials s",
        ],
        [
            [
                r["model"],
                r["trials_per_gpu"],
                r["wall_s"],
                r["trials_per_hour"],
                r["speedup_vs_1"],
                r["gpu_util_mean"],
                r["gpu_mem_peak_mib"],
                r["concurrency"],
                r["trial_s_mean"],
                r["trial_processes"],
                r["outside_trials_s"],
            ]
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
