"""The phase clock of a run: measured from the process's own start."""

import subprocess
import sys
import time

from hpray.driver.phases import Phases

TICK_S = 0.02  # the kernel counts a process's start in 10 ms ticks


def test_the_clock_starts_when_the_process_started() -> None:
    child = (
        "import time; t = time.time(); from hpray.driver import phases; "
        "print(t, phases.process_start())"
    )
    before = time.time()
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    first_line, started = map(float, out.stdout.split())
    # Between the parent's spawning and the child's first line (the old psutil reading, from
    # the boot time in whole seconds, missed this by up to a second).
    assert before - TICK_S <= started <= first_line


def test_durations_run_phase_to_phase_with_shutdown_and_results_side_by_side() -> None:
    clock = Phases()
    clock.started = 100.0
    clock.marks = {
        "ray_init": 103.0,
        "ray_ready": 105.0,
        "first_result": 109.0,
        "fit_end": 111.0,
        "shut_down": 112.5,
        "outputs_written": 111.5,
    }
    assert clock.durations() == {
        "before_ray": 3.0,
        "ray_start": 2.0,
        "first_trial": 4.0,
        "trials": 2.0,
        "shutdown": 1.5,
        "results": 0.5,
    }
