"""A study whose storage fills up mid-run (the drills' filesystem, hpray.store.faulty, refusing
every write from the Nth on with ENOSPC and leaving that file torn), then freed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpray.store.faulty import CONTROL_ENV, PROTOCOL
from tests.faults.drills import assert_nothing_lost, paced_grid
from tests.helpers.drivers import Driver

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EPOCHS = 6
LRS = ("0.25", "0.5", "1.0", "2.0")
PACED = paced_grid(LRS, EPOCHS, 0.2)


def test_a_full_disk_pauses_the_study_with_exit_75_and_it_resumes_once_freed(
    tmp_path: Path,
) -> None:
    control = tmp_path / "control.json"
    control.write_text(json.dumps({"writes_left": 120, "error": "ENOSPC", "tear": True}))
    env = {CONTROL_ENV: str(control)}
    storage = f"{PROTOCOL}://{tmp_path}/storage"
    directory = tmp_path / "storage" / "digits_mlp"

    full = Driver(storage, *PACED, env=env)
    assert full.finish() == 75, full.stderr[-3000:]
    plan = json.loads(control.read_text())
    assert plan["refused"], plan  # the disk did fill up mid-study
    assert "hpray: paused: the study's storage takes no more writes: OSError: [Errno 28]" in (
        full.stderr
    )
    assert "then run the same command again to resume it" in full.stderr
    assert "Traceback" not in full.stderr
    assert summary_complete(directory) is False

    control.write_text(json.dumps({"writes_left": None}))  # space freed
    again = Driver(storage, *PACED, env=env)
    assert again.finish() == 0, again.stderr[-3000:]
    assert "Traceback" not in again.stderr
    assert_nothing_lost(directory, LRS, EPOCHS)


def test_a_trial_failing_on_its_storage_keeps_every_retry_it_had(tmp_path: Path) -> None:
    """Its checkpoints' device fails (EIO) while the rest of the study's storage takes writes:
    the study pauses, and the snapshot it leaves counts no failure against any trial, so with
    study.max_failures=0 the resumed study still runs each trial on from its checkpoint."""
    control = tmp_path / "control.json"
    plan = {"writes_left": 6, "error": "EIO", "only": "*/checkpoint_*"}
    control.write_text(json.dumps(plan))
    env = {CONTROL_ENV: str(control)}
    storage = f"{PROTOCOL}://{tmp_path}/storage"
    directory = tmp_path / "storage" / "digits_mlp"
    study = (*PACED, "study.max_failures=0")

    failing = Driver(storage, *study, env=env)
    assert failing.finish() == 75, failing.stderr[-3000:]
    assert json.loads(control.read_text())["refused"]
    assert "paused: the study's storage takes no more writes: OSError: [Errno 5]" in (
        failing.stderr
    )
    snapshot = max(directory.glob("experiment_state-*.json"))
    counted = [
        json.loads(metadata)["num_failures"]
        for _, metadata in json.loads(snapshot.read_text())["trial_data"]
    ]
    assert counted and counted == [0] * len(counted), counted

    control.write_text(json.dumps({"writes_left": None}))  # the device replaced
    again = Driver(storage, *study, env=env)
    assert again.finish() == 0, again.stderr[-3000:]
    assert_nothing_lost(directory, LRS, EPOCHS)


def summary_complete(directory: Path) -> bool:
    file = directory / "summary.json"
    return file.is_file() and bool(json.loads(file.read_text()).get("complete"))
