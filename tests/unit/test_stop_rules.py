"""The stop rules without Ray running: what the stopper and the scheduler decide, what a trial
checkpoints once the budget is spent, the budget left over runs, and the summary they leave."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from ray.tune.result import SHOULD_CHECKPOINT
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from hpray.config.schema import StudySettings
from hpray.driver import budget
from hpray.results.table import format_table
from hpray.results.trials import TrialRow, summarise
from hpray.search.rules import STOP_AT, TIMEOUT, Budgeted, Rules, RuleStopper, closed, in_force
from hpray.store.location import StudyDir
from hpray.trial.api import Session


def rules(**kwargs: Any) -> Rules:
    return Rules(metric="val_acc", mode="max", **kwargs)


@pytest.mark.parametrize(
    ("mode", "value", "reached"),
    [("max", 0.95, True), ("max", 0.949, False), ("min", 0.95, True), ("min", 0.96, False)],
)
def test_stop_at_is_reached_from_the_side_the_mode_improves_towards(
    mode: str, value: float, reached: bool
) -> None:
    assert Rules("m", mode, stop_at=0.95).reaches(value) is reached


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, None, "0.99"])
def test_stop_at_is_never_reached_by_a_value_that_is_no_finite_number(value: Any) -> None:
    assert not rules(stop_at=0.5).reaches(value)


def test_the_stopper_does_nothing_outside_a_run() -> None:
    stopper = RuleStopper()
    assert not stopper("t_1", {"val_acc": 1.0, "time_total_s": 1e9}) and not stopper.stop_all()


def test_a_trial_reaching_stop_at_stops_the_study_and_is_named() -> None:
    stopper = RuleStopper()
    with in_force(rules(stop_at=0.9)) as now:
        assert not stopper("t_1", {"val_acc": 0.8}) and not stopper.stop_all()
        assert stopper("t_2", {"val_acc": 0.91})
        assert stopper.stop_all()
    assert now.reached == "t_2" and now.stopped == {"t_2": STOP_AT}
    assert now.stopped_study == STOP_AT


def test_a_trial_past_its_timeout_stops_alone() -> None:
    stopper = RuleStopper()
    with in_force(rules(trial_timeout_s=60.0)) as now:
        assert not stopper("t_1", {"val_acc": 0.5, "time_total_s": 59.0})
        assert stopper("t_1", {"val_acc": 0.5, "time_total_s": 60.5})
        assert not stopper.stop_all()
    assert now.stopped == {"t_1": TIMEOUT} and now.stopped_study is None


class Stopping(FIFOScheduler):
    """A scheduler that stops every trial at its first result."""

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        return TrialScheduler.STOP


def test_once_the_budget_is_spent_trials_pause_and_none_is_chosen_to_run() -> None:
    scheduler, stopping = Budgeted(FIFOScheduler()), Budgeted(Stopping())
    with in_force(rules(deadline=time.time() + 3600)):
        assert not closed()
        assert scheduler.on_trial_result(None, None, {}) == TrialScheduler.CONTINUE
    with in_force(rules(deadline=time.time() - 1)):
        assert closed()
        stored = {SHOULD_CHECKPOINT: True}
        assert scheduler.on_trial_result(None, "t_1", stored) == TrialScheduler.PAUSE
        assert stopping.on_trial_result(None, "t_1", stored) == TrialScheduler.STOP  # not paused
        assert scheduler.choose_trial_to_run(None) is None
    assert not closed()  # outside a run: no rules


def test_a_report_sent_before_the_budget_was_spent_is_not_where_a_trial_pauses() -> None:
    """Its report stored no checkpoint: the trial trains one more epoch, whose report stores
    one; a trial that never stores one pauses at that next report all the same."""
    scheduler = Budgeted(FIFOScheduler())
    with in_force(rules(deadline=time.time() - 1)):
        assert scheduler.on_trial_result(None, "t_1", {}) == TrialScheduler.CONTINUE
        assert scheduler.on_trial_result(None, "t_2", {}) == TrialScheduler.CONTINUE
        stored = {SHOULD_CHECKPOINT: True}
        assert scheduler.on_trial_result(None, "t_1", stored) == TrialScheduler.PAUSE
        assert scheduler.on_trial_result(None, "t_2", {}) == TrialScheduler.PAUSE
    resumed = pickle.loads(pickle.dumps(scheduler))  # as Ray keeps it with the experiment
    with in_force(rules(deadline=time.time() - 1)):
        assert resumed.on_trial_result(None, "t_2", {}) == TrialScheduler.CONTINUE


def test_a_trial_checkpoints_at_its_first_report_after_the_budget_is_spent() -> None:
    opened = Session(metric="val_acc", epochs=10, checkpoint_every=5, device=None)
    assert [e for e in range(1, 11) if opened.due(e)] == [5, 10]
    opened.deadline = time.time() - 1
    assert all(opened.due(e) for e in range(1, 11))


def settings(**kwargs: Any) -> StudySettings:
    return StudySettings(name="s", metric="val_acc", mode="max", **kwargs)


def test_the_budget_left_counts_the_earlier_runs(tmp_path: Path) -> None:
    directory = StudyDir.at(str(tmp_path), "s")
    assert budget.left_s(settings(time_budget="1h"), directory) == 3600.0
    assert budget.left_s(settings(), directory) is None
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "summary.json").write_text(json.dumps({"time_spent_s": 3000.0}))
    assert budget.left_s(settings(time_budget="1h"), directory) == 600.0
    now = budget.rules_for(settings(time_budget="1h", stop_at=0.9), directory)
    assert now.deadline == pytest.approx(time.time() + 600.0, abs=5.0) and now.stop_at == 0.9
    assert "study.time_budget=30m) is spent: 50m00s" in budget.spent_line(
        settings(time_budget="30m"), directory
    )


def test_a_run_counts_its_time_as_it_goes_so_a_killed_run_counts_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = StudyDir.at(str(tmp_path), "s")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "summary.json").write_text(json.dumps({"time_spent_s": 100.0}))
    monkeypatch.setattr(budget, "COUNT_EVERY_S", 0.05)
    rules = budget.rules_for(settings(time_budget="1h"), directory)
    with budget.counted(directory, rules, budget.spent_before(directory)):
        time.sleep(0.3)
        counted_by_then = budget.spent_before(directory)  # what a SIGKILL here would leave
    assert 100.0 < counted_by_then < budget.spent_before(directory) < 101.0
    assert budget.left_s(settings(time_budget="1h"), directory) < 3500.0
    unbudgeted = StudyDir.at(str(tmp_path), "t")
    (tmp_path / "t").mkdir()
    with budget.counted(unbudgeted, budget.rules_for(settings(), unbudgeted), 0.0):
        pass
    assert not (tmp_path / "t" / "time_spent.json").exists()  # no budget: nothing counted


ROWS = [
    TrialRow("a_00000", "early_stopped", {"x": 1}, 0.96, 0.96, 3, "reached stop_at"),
    TrialRow("a_00001", "early_stopped", {"x": 2}, 0.80, 0.80, 2, "stop_at"),
    TrialRow("a_00002", "unstarted", {"x": 3}, None, None, 0, "stop_at"),
]


def test_a_study_that_reached_stop_at_is_complete_with_its_unstarted_trials_counted() -> None:
    stops = {"rule": STOP_AT, "reached": "a_00000", "trials": {}}
    summary = summarise(ROWS, "val_acc", "max", 1.0, planned=5, stops=stops)
    assert summary["complete"] is True
    assert summary["stopped"] == {
        "rule": STOP_AT,
        "trial_id": "a_00000",
        "paused": 0,
        "unstarted": 3,
    }  # one made and never run, two never made
    assert "stopped" not in summarise(ROWS, "val_acc", "max", 1.0, planned=3)
    assert summary["trials"]["unstarted"] == 1 and summary["trials"]["early_stopped"] == 2
    line = format_table(summary, ROWS, "max").splitlines()[0]
    assert "2 early-stopped, 1 not started, 0 diverged" in line


def test_a_study_stopped_on_its_budget_is_unfinished_and_says_what_is_left() -> None:
    rows = [
        TrialRow("a_00000", "completed", {"x": 1}, 0.9, 0.9, 10, "budget"),
        TrialRow("a_00001", "paused", {"x": 2}, 0.8, 0.8, 4, "time_budget"),
        TrialRow("a_00002", "pending", {"x": 3}, None, None, 0, ""),
    ]
    summary = summarise(rows, "val_acc", "max", 1.0, planned=4, stops={"rule": "time_budget"})
    assert summary["complete"] is False
    assert summary["stopped"] == {"rule": "time_budget", "paused": 1, "unstarted": 2}
