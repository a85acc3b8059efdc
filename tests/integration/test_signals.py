"""SIGTERM at any moment of a run, from the start to the last line: exit 75 with the study saved,
or 0 when it had completed; real drivers on a real local Ray."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.helpers.drivers import Driver
from tests.helpers.studies import summary

pytestmark = pytest.mark.integration

STUDY = ("study.num_samples=2", "study.epochs=2", "scheduler=fifo")


def test_a_signal_before_ray_or_while_it_starts_exits_75(tmp_path: Path) -> None:
    # Before Ray: the command line is still importing and composing; nothing is written.
    early = Driver(tmp_path / "early", *STUDY)
    time.sleep(0.3)
    early.proc.send_signal(signal.SIGTERM)
    assert early.finish(timeout=60) == 75, early.stderr[-2000:]
    assert not (tmp_path / "early").exists()
    # While Ray starts: its session directory exists, the study's lock does not yet.
    starting = Driver(tmp_path / "starting", *STUDY)
    starting.wait_until(lambda: any(Path(starting.ray_dir).glob("session_*")))
    starting.proc.send_signal(signal.SIGTERM)
    assert starting.finish(timeout=60) == 75, starting.stderr[-3000:]
    # Python may print the SystemExit it dropped in an at-fork hook ("Exception ignored in
    # _releaseLock"); hpray noticed the signal all the same and said so, with no error of its own.
    assert "run the same command again to resume" in starting.stderr
    frames = [line for line in starting.stderr.splitlines() if line.strip().startswith('File "')]
    assert not any("/hpray/" in frame for frame in frames), starting.stderr[-3000:]


def test_a_signal_after_the_last_trial_still_writes_the_outputs_and_exits_0(
    tmp_path: Path,
) -> None:
    late = Driver(tmp_path, *STUDY)
    late.wait_until(lambda: "ran up to" in late.stderr)  # the trials have ended
    late.proc.send_signal(signal.SIGTERM)
    assert late.finish(timeout=120) == 0, late.stderr[-2000:]
    written = summary(tmp_path / "digits_mlp")
    assert written["complete"] and written["best"] is not None
    # The phases of the run, in order, each measured.
    assert list(written["phases"]) == [
        "before_ray",
        "ray_start",
        "first_trial",
        "trials",
        "shutdown",
        "results",
    ]
    assert all(v >= 0 for v in written["phases"].values())
    assert (tmp_path / "digits_mlp" / "report.html").is_file()
