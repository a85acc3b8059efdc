"""`hpray tune` as a real subprocess that tests can kill, and clean up after, by process id."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


class Driver:
    """One `hpray tune` run in its own session: its Ray processes share its process group."""

    def __init__(
        self,
        storage: Path | str,
        *overrides: str,
        fresh: bool = False,
        env: dict[str, str] | None = None,
        argv: list[str] | None = None,
        app: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        """``argv``, when given, is run exactly as it is instead of the command made here;
        ``app``, a Hydra app's script, is run as ``python app -m OVERRIDES`` with hpray's
        sweeper settings (study storage, Ray's directory and CPUs) added, as installed: Hydra
        finds the sweeper without help. ``cwd``: where it is started."""
        self.ray_dir = tempfile.mkdtemp(prefix="hpray-ray-", dir="/tmp")
        self.log = Path(self.ray_dir) / "driver.err"
        self._stderr: str | None = None
        exe = shutil.which("hpray", path=str(Path(sys.executable).parent)) or "hpray"
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | (env or {})
        flags = [o for o in overrides if o.startswith("--")]  # Hydra's, before the overrides
        args = [
            exe,
            "tune",
            *(["--fresh"] if fresh else []),
            *flags,
            f"study.storage={storage}",
            f"ray.temp_dir={self.ray_dir}",
            "ray.num_cpus=2",
            *(o for o in overrides if o not in flags),
        ]
        if app is not None:
            args = [
                sys.executable,
                str(app),
                "-m",
                *overrides,
                f"hydra.sweeper.study.storage={storage}",
                f"hydra.sweeper.ray.temp_dir={self.ray_dir}",
                "hydra.sweeper.ray.num_cpus=2",
            ]
        with self.log.open("w") as err:
            self.proc = subprocess.Popen(
                argv or args,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )

    @property
    def stderr(self) -> str:
        if self._stderr is not None:  # kept when the temp dir was removed
            return self._stderr
        return self.log.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"driver exited early ({self.proc.returncode}):\n{self.stderr[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting:\n{self.stderr[-3000:]}")
            time.sleep(0.2)

    def finish(self, timeout: float = 300) -> int:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.reap()  # what it printed says where it stopped
            raise AssertionError(
                f"driver still running after {timeout} s:\n{self.stderr[-4000:]}"
            ) from None
        finally:
            self.reap()
        return self.proc.returncode

    def kill_group(self) -> None:
        """SIGKILL the driver and every process it started (a crashed or preempted node)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.reap()

    def reap(self) -> None:
        """Ray agents can outlive a killed driver; end what is left of its process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self._stderr is None:
            self._stderr = self.log.read_text(errors="replace")
        shutil.rmtree(self.ray_dir, ignore_errors=True)


def checkpoints(directory: Path) -> int:
    """Trial checkpoints written to storage so far."""
    return len(list(directory.glob("trial_*/checkpoint_*")))


def finished_trials(directory: Path, epochs: int) -> int:
    """Trials whose final-epoch checkpoint is in storage."""
    return len(list(directory.glob(f"trial_*/checkpoint_{epochs - 1:06d}")))
