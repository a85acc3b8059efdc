"""Population based training on a real local Ray: trials copy better ones' checkpoints and go on
with changed optimizer settings, and a PBT study killed mid-way (SIGKILL) resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.drivers import Driver
from tests.helpers.studies import results, summary

pytestmark = pytest.mark.integration

PBT = (
    "scheduler=pbt",
    "scheduler.quantile_fraction=0.5",  # of 4 trials, the bottom 2 copy the top 2
    "scheduler.synch=true",  # every trial checked at each interval: a copy at each is certain
    "scheduler.perturbation_interval=4",  # at epochs 4 and 8: each copy restarts a process
    "study.num_samples=4",
    "study.epochs=10",
    "resources.cpu=0.5",  # all 4 at once on 2 CPUs: one population
)


def test_a_pbt_study_evolves_its_trials_and_resumes_after_sigkill(tmp_path: Path) -> None:
    directory = tmp_path / "digits_mlp"
    first = Driver(tmp_path, *PBT)
    try:  # killed once a trial has 4 of its 10 epochs stored
        first.wait_until(lambda: any(directory.glob("trial_*/checkpoint_000003")), timeout=300)
    finally:
        first.kill_group()
    stored = [int(p.name.split("_")[1]) + 1 for p in directory.glob("trial_*/checkpoint_*")]
    assert not (directory / "summary.json").is_file() or not summary(directory)["complete"]
    again = Driver(tmp_path, *PBT)
    assert again.finish() == 0, again.stderr[-3000:]
    assert "resuming the unfinished study" in again.stderr
    done = summary(directory)
    assert done["complete"] and done["trials"]["completed"] == 4
    rows = results(directory)
    assert all(r["epochs"] == "10" for r in rows)
    # A copying trial took on new optimizer settings mid-training: its config differs
    # between its reports, and results.csv has the last.
    changed = 0
    for row in rows:
        file = directory / f"trial_{row['trial_id']}" / "result.json"
        lrs = [json.loads(line)["config"]["optim.lr"] for line in file.open()]
        changed += len(set(lrs)) > 1
        assert float(row["optim.lr"]) == lrs[-1]
    assert changed >= 1, "no trial was perturbed"
    # Ray's record of each copy: [copier, donor, copier's epoch, donor's, ...]. PBT goes on
    # copying after the resume, from what it knew of each trial before the kill.
    copies = [json.loads(line) for line in (directory / "pbt_global.txt").open()]
    assert any(copy[2] > max(stored) for copy in copies), (max(stored), copies)
    assert "population based training" in (directory / "report.html").read_text()
