"""The stop rules on a real local Ray: a time budget that pauses a study and a larger one that
continues it, a value that ends a built-in study, and a limit on each trial's time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.studies import assert_trained_once, history, results, run_study, summary

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]


def paced(epochs: int, epoch_s: float) -> tuple[str, ...]:
    """A function on the API (faults.paced) whose epochs take ``epoch_s``: 3 trials, 2 at a
    time on the module's 2 CPUs."""
    return (
        "trainable=hpray.trial.faults.paced",
        "searcher=grid",
        "scheduler=fifo",
        f"study.epochs={epochs}",
        "study.checkpoint_every=5",  # the budget's pause checkpoints between these
        "study.metric=val_rmse",
        "study.mode=min",
        "+faults.lr=1.0",
        f"+faults.epoch_s={epoch_s}",
        "~space",
        "+space.faults.lr={type:choice,values:[0.5,1.0,2.0]}",
    )


def test_a_spent_time_budget_pauses_the_study_and_a_larger_one_continues_it(
    tmp_path: Path, capsys
) -> None:
    # 45 epochs of 0.35 s: a trial outlasts the budget, which outlasts the trials' start even
    # on a busy machine (a trial not started 5 s before the budget is spent is not waited for).
    budgeted = paced(45, 0.35)
    code, directory = run_study(tmp_path, *budgeted, "study.time_budget=12s")
    assert code == 0  # stopped on its budget: not an interruption
    stopped = summary(directory)
    assert stopped["complete"] is False and stopped["stopped"]["rule"] == "time_budget"
    rows = {r["trial_id"]: r for r in results(directory)}
    paused = [r for r in rows.values() if r["status"] == "paused"]
    assert paused and all(r["stop_reason"] == "time_budget" for r in paused)
    assert all(0 < int(r["epochs"]) < 45 for r in paused)
    assert stopped["stopped"]["paused"] == len(paused)
    assert stopped["stopped"]["unstarted"] == sum(r["epochs"] == "0" for r in rows.values())
    assert stopped["time_spent_s"] >= 12.0
    first = {r["trial_id"]: int(r["epochs"]) for r in paused}

    # The same budget again: spent, nothing runs and nothing is written.
    before = {p: p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file()}
    capsys.readouterr()
    code, _ = run_study(tmp_path, *budgeted, "study.time_budget=12s")
    assert code == 0 and "time budget (study.time_budget=12s) is spent" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file()} == before

    code, _ = run_study(tmp_path, *budgeted, "study.time_budget=10m")
    assert code == 0
    done = summary(directory)
    assert done["complete"] is True and "stopped" not in done
    for trial_id in rows:
        raw = history(directory, trial_id)
        assert_trained_once(raw, 45)  # a paused trial went on from its pause, not from 0
    for trial_id, epochs in first.items():  # and from the epoch it paused at
        trained = [r["epoch"] for r in history(directory, trial_id) if not r.get("replayed")]
        assert trained[: epochs + 1] == list(range(1, epochs + 2))


def test_stop_at_ends_a_built_in_study_once_a_trial_reaches_it(tmp_path: Path, capsys) -> None:
    study = ("study.num_samples=6", "study.epochs=6", "scheduler=fifo", "study.stop_at=0.6")
    code, directory = run_study(tmp_path, *study)
    assert code == 0
    done = summary(directory)
    assert done["complete"] is True and done["stopped"]["rule"] == "stop_at"
    rows = {r["trial_id"]: r for r in results(directory)}
    reached = rows[done["stopped"]["trial_id"]]
    assert reached["stop_reason"] == "reached stop_at" and float(reached["best_val_acc"]) >= 0.6
    assert done["epochs_total"] < 6 * 6  # the rest were stopped, or never started
    assert {r["stop_reason"] for r in rows.values()} <= {"reached stop_at", "stop_at", "budget"}
    never_ran = [r for r in rows.values() if r["status"] == "unstarted"]
    assert len(never_ran) == done["trials"]["unstarted"]
    assert all(r["epochs"] == "0" and r["stop_reason"] == "stop_at" for r in never_ran)

    code, _ = run_study(tmp_path, *study)
    assert code == 0 and "already complete" in capsys.readouterr().err


def test_a_trial_running_past_trial_timeout_is_stopped(tmp_path: Path) -> None:
    code, directory = run_study(tmp_path, *paced(30, 0.25), "study.trial_timeout=3s")
    assert code == 0 and summary(directory)["complete"] is True
    rows = results(directory)
    assert len(rows) == 3
    for row in rows:
        assert row["status"] == "early_stopped" and row["stop_reason"] == "trial_timeout"
        assert 0 < int(row["epochs"]) < 30
        *before, last = history(directory, row["trial_id"])
        # Stopped at its first report past the limit (under load, that can be its first: a
        # trial's time counts its process's start).
        assert all(r["time_total_s"] < 3.0 for r in before) and last["time_total_s"] >= 3.0
