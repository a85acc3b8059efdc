"""Studies run in the test's process on a real local Ray, and their outputs read back."""

from __future__ import annotations

import csv
import json
import os
import pickle
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray
import torch
from tensorboardX.proto.event_pb2 import Event

from hpray.config.prepare import prepare
from hpray.driver.run import run
from hpray.store.layout import (
    FUNCTION_STATE_FILE,
    RESULT_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    trial_dir_name,
)
from tests.helpers.compose import compose_study, study_dir


def start_ray(**resources: Any) -> Iterator[None]:
    """A local Ray of this process, in its own temp dir; never one that happens to be around."""
    os.environ.pop("RAY_ADDRESS", None)
    with tempfile.TemporaryDirectory(prefix="hpray-ray-", dir="/tmp") as temp_dir:
        ray.init(include_dashboard=False, _temp_dir=temp_dir, **resources)
        try:
            yield
        finally:
            ray.shutdown()


def run_study(storage: Path, *overrides: str, fresh: bool = False) -> tuple[int, Path]:
    """Run a study in this process on the module's Ray; returns (exit code, study directory)."""
    study = prepare(compose_study(storage, *overrides))
    return run(study, fresh=fresh), study_dir(study)


def results(directory: Path) -> list[dict[str, str]]:
    with (directory / RESULTS_FILE).open() as f:
        return list(csv.DictReader(f))


def summary(directory: Path) -> dict[str, Any]:
    return json.loads((directory / SUMMARY_FILE).read_text())  # type: ignore[no-any-return]


def history(directory: Path, trial_id: str) -> list[dict[str, Any]]:
    """Every result the trial reported, in order (Ray's result.json)."""
    lines = (directory / trial_dir_name(trial_id) / RESULT_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def told_trials(directory: Path) -> list[Any]:
    """The trials of the Optuna study that OptunaSearch keeps, as its newest state holds them
    (Optuna's FrozenTrials, in the order asked)."""
    state = sorted(directory.glob("searcher-state-*.pkl"))[-1]
    return list(pickle.loads(state.read_bytes())["_ot_study"].trials)


def stored_state(checkpoint: Path) -> dict[str, Any]:
    """The state a trial function reported with a checkpoint (the built-in trial's: its
    learners' states, one per fold, and the epoch)."""
    state: dict[str, Any] = torch.load(checkpoint / FUNCTION_STATE_FILE, weights_only=False)
    return state


def assert_trained_once(raw: list[dict[str, Any]], epochs: int) -> None:
    """Every epoch 1..N reported, and none trained twice (replayed reports are not training)."""
    trained = [r["epoch"] for r in raw if not r.get("replayed")]
    shown = [(r["epoch"], "replayed" if r.get("replayed") else "trained") for r in raw]
    assert sorted({r["epoch"] for r in raw}) == list(range(1, epochs + 1)), shown
    assert len(trained) == len(set(trained)), shown


def tensorboard_steps(trial_dir: Path, tag: str) -> list[int]:
    """The steps of ``tag``'s scalars in the trial's TensorBoard event files, as written."""
    steps = []
    for file in sorted(trial_dir.glob("events.out.tfevents.*")):
        data, at = file.read_bytes(), 0
        while at + 12 <= len(data):  # TFRecord: length, its CRC, the record, its CRC
            (length,) = struct.unpack("<Q", data[at : at + 8])
            event = Event.FromString(data[at + 12 : at + 12 + length])
            steps += [event.step for value in event.summary.value if value.tag == tag]
            at += 12 + length + 4
    return steps
