"""What every benchmark shares: one `hpray tune` run in a subprocess, with its own local Ray."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpray.store.layout import RESULT_FILE, SUMMARY_FILE, result_rows


class Run:
    """One `hpray tune` of study `name` in its own session, with its own local Ray.

    Its Ray processes share its process group, so a kill ends them all, as a lost node would.
    """

    def __init__(self, storage: Path | str, name: str, *overrides: str) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="hpray-ray-", dir="/tmp")
        self.stderr_file = Path(self.temp_dir) / "driver.err"
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        args = [
            sys.executable,
            "-m",
            "hpray",
            "tune",
            f"study.name={name}",
            f"study.storage={storage}",
            f"ray.temp_dir={self.temp_dir}",
            *overrides,
        ]
        with self.stderr_file.open("w") as err:
            self.proc = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True
            )
        self.stderr = ""

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.end()
                raise SystemExit(f"the study did not get there:\n{self.stderr[-3000:]}")
            time.sleep(0.2)

    def wait(self, timeout: float | None = None) -> int:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            self.end()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the driver and every process it started."""
        self.end()

    def end(self) -> None:
        """End what is left of the run's process group and remove its Ray directory."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self.stderr_file.exists():
            self.stderr = self.stderr_file.read_text(errors="replace")
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def tune(storage: Path, name: str, *overrides: str) -> tuple[dict[str, Any], str]:
    """Run study `name` under `storage` to the end; returns its summary.json and stderr."""
    run = Run(storage, name, *overrides)
    if run.wait() != 0:
        raise SystemExit(f"study {name} failed ({run.proc.returncode}):\n{run.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads((storage / name / SUMMARY_FILE).read_text())
    return summary, run.stderr


def trial_results(directory: Path) -> list[list[dict[str, Any]]]:
    """Each trial's reports (its result.json under `directory`), torn lines skipped."""
    return [
        result_rows(f.read_text().splitlines()) for f in sorted(directory.glob(f"*/{RESULT_FILE}"))
    ]


def write_record(
    out: Path,
    name: str,
    record: dict[str, Any],
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    footer: str = "",
) -> None:
    """Write `<name>.json` (the record) and `<name>.md` (a titled table), and print the table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [title, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    if footer:
        lines += ["", footer]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run a command; its wall time and its outcome."""
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    return time.monotonic() - started, done


def plain_random_tune(
    function: Callable[[dict[str, float]], None],
    name: str,
    trials: int,
    cpus: int,
    storage: str,
    temp_dir: str,
) -> None:
    """The peer of the scale benchmarks, in a fresh process: plain Ray Tune running
    ``function`` on ``trials`` random points of Branin's domain, reused actors, its defaults."""
    import ray
    from ray import tune

    ray.init(num_cpus=cpus, include_dashboard=False, _temp_dir=temp_dir)
    tuner = tune.Tuner(
        function,
        param_space={"x1": tune.uniform(-5, 10), "x2": tune.uniform(0, 15)},
        tune_config=tune.TuneConfig(
            metric="value", mode="min", num_samples=trials, reuse_actors=True
        ),
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0),
    )
    tuner.fit()
    ray.shutdown()
