"""Population based training on a real local Ray: trials copy better ones' checkpoints and go on
with changed optimizer settings, and a PBT study interrupted mid-way resumes."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from hpray.errors import EXIT_INTERRUPTED
from tests.helpers.studies import results, run_study, summary

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]

PBT = (
    "scheduler=pbt",
    "scheduler.quantile_fraction=0.5",  # of 4 trials, the bottom 2 copy the top 2
    "study.num_samples=4",
    "study.epochs=12",
    "resources.cpu=0.5",  # all 4 at once on the module's 2 CPUs: one population
)


def test_a_pbt_study_evolves_its_trials_and_resumes_after_an_interruption(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "digits_mlp"

    def interrupt_mid_study() -> None:  # as Ctrl-C would, once a trial has 4 of 12 epochs
        for _ in range(1200):
            if any(directory.glob("trial_*/checkpoint_000003")):
                os.kill(os.getpid(), signal.SIGINT)
                return
            threading.Event().wait(0.05)

    threading.Thread(target=interrupt_mid_study, daemon=True).start()
    code, _ = run_study(tmp_path, *PBT)
    assert code == EXIT_INTERRUPTED and not summary(directory)["complete"]
    code, _ = run_study(tmp_path, *PBT)
    assert code == 0
    done = summary(directory)
    assert done["complete"] and done["trials"]["completed"] == 4
    rows = results(directory)
    assert all(r["epochs"] == "12" for r in rows)
    # A copying trial took on new optimizer settings mid-training: its config differs
    # between the epochs it trained, and results.csv has the last.
    changed = 0
    for row in rows:
        file = directory / f"trial_{row['trial_id']}" / "result.json"
        raw = [json.loads(line) for line in file.open()]
        lrs = [r["config"]["optim.lr"] for r in raw]
        changed += len(set(lrs)) > 1
        assert float(row["optim.lr"]) == lrs[-1]
    assert changed >= 1, "no trial was perturbed"
    assert (directory / "pbt_global.txt").read_text().strip()  # Ray's record of each copy
    assert "population based training" in (directory / "report.html").read_text()
