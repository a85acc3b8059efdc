"""Trials of several processes (``resources.workers``): Ray Train's workers, one gang a trial,
on a local Ray of 4 logical CPUs (two gangs of 2 at a time)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from hpray.errors import ConfigError
from hpray.store.layout import PLAN_FILE, trial_dir_name
from hpray.trial.faults import GANG_LOG
from tests.helpers.drivers import Driver, checkpoints
from tests.helpers.studies import (
    assert_trained_once,
    history,
    results,
    run_study,
    start_ray,
    summary,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ray_of_4() -> Iterator[None]:
    yield from start_ray(num_cpus=4, num_gpus=0)


# The package's gang_member function: every rank all-reduces and reports; 3 epochs.
GANG = (
    "trainable=hpray.trial.faults.gang_member",
    "resources=cpu",
    "resources.workers=2",
    "study.epochs=3",
    "study.metric=val_rmse",
    "study.mode=min",
    "+faults.lr=1.0",
    "~space",
    # Grid order, the best first: the later, worse trials meet ASHA's rung filled.
    "+space.faults.lr={type:choice,values:[4.0,2.0,1.0]}",
)


def starts(directory: Path, trial_id: str) -> list[dict]:
    """Each rank's start of the trial, in order: its rank, pid and the state it was given."""
    lines = (directory / trial_dir_name(trial_id) / GANG_LOG).read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_asha_stops_gangs_and_a_killed_worker_restarts_its_gang_from_its_checkpoint(
    ray_of_4, tmp_path: Path
) -> None:
    """Three trials of two workers, two at a time: ASHA stops the weak one (and its workers);
    in each trial that reaches epoch 2 rank 1 SIGKILLs itself there, and the trial's gang
    restarts from its epoch-1 checkpoint, every rank given rank 0's state."""
    code, directory = run_study(
        tmp_path,
        *GANG,
        "searcher=grid",
        "scheduler=asha",
        "scheduler.grace_period=1",
        "scheduler.reduction_factor=2",
        "study.max_failures=1",
        "+faults.kill_rank=1",
        "+faults.kill_at=2",
    )
    assert code == 0
    assert (
        "2 at a time (the cluster fits 2)"
        in json.loads((directory / PLAN_FILE).read_text())["search"]
    )
    rows = results(directory)
    assert len(rows) == 3 and {r["status"] for r in rows} <= {"completed", "early_stopped"}
    assert any(r["status"] == "early_stopped" for r in rows)
    assert summary(directory)["best"]["params"] == {"faults.lr": 4.0}
    restarted = 0
    for row in rows:
        reported = history(directory, row["trial_id"])
        assert_trained_once(reported, int(row["epochs"]))
        # Rank 0's reports are the trial's; the gang's process group summed ranks 0 and 1.
        assert all(r["rank"] == 0 and r["ranks"] == 1.0 for r in reported if "rank" in r)
        ranks = starts(directory, row["trial_id"])
        assert sorted(r["rank"] for r in ranks[:2]) == [0, 1] and ranks[0]["state"] is None
        if len(ranks) > 2:  # the gang started again: every rank from rank 0's epoch-1 state
            restarted += 1
            assert [r["state"] for r in ranks[2:]] == [{"epoch": 1, "rank": 0}] * 2
            assert {r["pid"] for r in ranks[2:]}.isdisjoint(r["pid"] for r in ranks[:2])
    assert restarted >= 1  # the kill's marker is per trial: each trial loses rank 1 once
    # Every gang's placement group is gone (the one of a trial ASHA stopped too): what the
    # gangs held is free for the next trials. A janitor removes one within a second or two.
    deadline = time.monotonic() + 20
    while (held := placement_groups_held()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not held, held


def placement_groups_held() -> list[dict]:
    return [g for g in ray.util.placement_group_table().values() if g["state"] != "REMOVED"]


def test_a_gang_that_cannot_fit_exits_2_before_anything_is_written(
    ray_of_4, tmp_path: Path
) -> None:
    """Two workers of 3 CPUs on a Ray of 4: refused (`hpray tune` exits 2 on it), naming the
    key and what the cluster has."""
    with pytest.raises(ConfigError, match=r"resources.workers: a trial of 2 workers x \(3 CPU"):
        run_study(tmp_path, *GANG, "resources.cpu=3")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_driver_and_the_same_command_resume_a_gang_where_it_was(tmp_path: Path) -> None:
    """SIGKILL of the driver and all it started, mid-trial: the same command restarts the gang
    from the trial's newest checkpoint, no epoch trained twice; the function stores a state per
    rank (per_rank=True), and each rank gets its own back."""
    args = (
        *GANG,
        "searcher=grid",
        "scheduler=fifo",
        "study.epochs=6",
        "+faults.epoch_s=0.5",
        "space.faults.lr.values=[1.0]",
        "+faults.per_rank=true",
    )
    directory = tmp_path / "digits_mlp"
    first = Driver(tmp_path, *args)
    try:
        first.wait_until(lambda: checkpoints(directory) >= 2, timeout=240)
    finally:
        first.kill_group()
    again = Driver(tmp_path, *args)
    assert again.finish() == 0, again.stderr[-3000:]
    (row,) = results(directory)
    assert row["status"] == "completed" and row["epochs"] == "6"
    assert_trained_once(history(directory, row["trial_id"]), 6)
    ranks = starts(directory, row["trial_id"])
    restarted = sorted(ranks[2:], key=lambda r: r["rank"])
    assert [r["rank"] for r in restarted] == [0, 1]
    assert [r["state"]["rank"] for r in restarted] == [0, 1]  # each its own
    epochs = {r["state"]["epoch"] for r in restarted}
    assert len(epochs) == 1 and epochs.pop() >= 2  # of the same checkpoint


def test_the_built_in_mlp_trains_on_two_workers_as_it_does_on_one(ray_of_4, tmp_path: Path) -> None:
    """The same trial (the same seed), on one and on two workers: with DDP and each rank
    taking its share of every batch, the global batch is kept, so the curves agree but for
    floating-point order (no dropout: its masks are drawn per rank)."""
    args = ("study.num_samples=1", "study.epochs=2", "scheduler=fifo", "resources=cpu")
    fixed = ("space.model.dropout=0.0", "space.data.batch_size=64")
    one, alone = run_study(tmp_path / "one", *args, *fixed)
    two, gang = run_study(tmp_path / "two", *args, *fixed, "resources.workers=2")
    assert one == two == 0
    by_index = {r["trial_id"][-5:]: r for r in results(alone)}
    for row in results(gang):
        single = by_index[row["trial_id"][-5:]]
        assert row["optim.lr"] == single["optim.lr"]  # the same configuration
        curves = [
            [r["val_loss"] for r in history(directory, r_["trial_id"])]
            for directory, r_ in ((alone, single), (gang, row))
        ]
        assert len(curves[0]) == len(curves[1]) == 2
        assert curves[1] == pytest.approx(curves[0], rel=1e-3)
