"""results.csv, summary.json and the summary table, from trial rows."""

import csv
import json
import math

from hpray.results.table import format_table
from hpray.results.trials import (
    TrialRow,
    best_trial,
    epochs_since,
    summarise,
    write_results,
    write_summary,
)

ROWS = [
    TrialRow("a_00000", "completed", {"optim.lr": 0.1}, 0.91, 0.93, 10, "budget"),
    TrialRow("a_00001", "early_stopped", {"optim.lr": 0.01}, 0.80, 0.80, 2, "scheduler"),
    TrialRow("a_00002", "errored", {"optim.lr": 1.0}, math.nan, None, 1, "error: boom"),
    TrialRow("a_00003", "completed", {"optim.lr": 0.05}, 0.95, 0.96, 10, "budget"),
]


def test_best_ignores_missing_and_respects_mode() -> None:
    assert best_trial(ROWS, "max").trial_id == "a_00003"
    assert best_trial(ROWS, "min").trial_id == "a_00001"
    assert best_trial(ROWS[2:3], "max") is None


def test_summary_and_files(tmp_path) -> None:
    summary = summarise(ROWS, "val_acc", "max", wall_s=12.345, planned=4)
    assert summary["complete"] is True
    assert summary["best"] == {
        "trial_id": "a_00003",
        "params": {"optim.lr": 0.05},
        "metric": "val_acc",
        "value": 0.96,
    }
    assert summary["trials"] == {
        "total": 4,
        "planned": 4,
        "completed": 2,
        "early_stopped": 1,
        "unstarted": 0,
        "diverged": 0,
        "errored": 1,
    }
    assert summary["epochs_total"] == 23 and summary["wall_s"] == 12.35
    write_summary(tmp_path, summary)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    write_results(tmp_path, ROWS, "val_acc")
    with (tmp_path / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == [
        "trial_id",
        "status",
        "optim.lr",
        "final_val_acc",
        "best_val_acc",
        "epochs",
        "stop_reason",
    ]
    assert [r["status"] for r in table] == ["completed", "early_stopped", "errored", "completed"]
    assert table[2]["best_val_acc"] == "" and table[2]["stop_reason"] == "error: boom"


def test_unfinished_trials_make_the_summary_incomplete() -> None:
    running = [*ROWS, TrialRow("a_00004", "running", {}, None, None, 3, "")]
    assert summarise(running, "val_acc", "max", 1.0)["complete"] is False
    # Every trial made so far has ended, but the searcher had yet to make the rest.
    early = summarise(ROWS, "val_acc", "max", 1.0, planned=len(ROWS) + 2)
    assert early["complete"] is False and early["trials"]["planned"] == len(ROWS) + 2
    assert summarise(ROWS, "val_acc", "max", 1.0, planned=len(ROWS))["complete"] is True


def test_table_shows_best_and_counts() -> None:
    text = format_table(summarise(ROWS, "val_acc", "max", 5.0), ROWS, "max")
    assert "4 total, 2 completed, 1 early-stopped, 0 diverged, 1 errored" in text
    assert "best: trial a_00003  val_acc=0.9600" in text and "optim.lr = 0.05" in text
    top = text.split("top ")[1].splitlines()[2:]
    assert [line.split()[0] for line in top] == ["a_00003", "a_00000", "a_00001"]


def test_a_diverged_trial_is_never_best() -> None:
    rows = [*ROWS, TrialRow("a_00004", "diverged", {"optim.lr": 9.0}, math.nan, 0.99, 3, "nan")]
    assert best_trial(rows, "max").trial_id == "a_00003"
    summary = summarise(rows, "val_acc", "max", 1.0)
    assert summary["trials"]["diverged"] == 1 and summary["complete"] is True
    assert "a_00004" not in format_table(summary, rows, "max")


def test_a_trial_that_failed_after_reporting_is_never_best() -> None:
    """Its values did not come from a run of its config that went through: errored for good,
    or waiting to be tried again after an error."""
    failed = [
        TrialRow("a_00004", "errored", {"optim.lr": 0.2}, 0.99, 0.99, 10, "error: E: test"),
        TrialRow("a_00005", "pending", {"optim.lr": 0.3}, 0.98, 0.98, 10, "error: E: test"),
    ]
    assert best_trial([*ROWS, *failed], "max").trial_id == "a_00003"
    assert best_trial(failed, "max") is None
    summary = summarise(failed, "val_acc", "max", 1.0, planned=2)
    assert summary["best"] is None
    assert "best: none" in format_table(summary, failed, "max")


def test_a_resumed_run_shows_its_own_epochs_and_time_beside_the_study_s() -> None:
    rows = [
        TrialRow("a_00000", "completed", {}, 0.9, 0.9, 3, "budget", reported_at=[100, 101, 200]),
        TrialRow("a_00001", "completed", {}, 0.8, 0.8, 2, "budget", reported_at=[201, 202]),
    ]
    assert epochs_since(rows, 200.0) == 3 and epochs_since(rows, 300.0) == 0
    summary = {
        **summarise(rows, "val_acc", "max", wall_s=70.0, planned=2),
        "run": {"epochs": 3, "wall_s": 12.25},
    }
    line = format_table(summary, rows, "max").splitlines()[0]
    assert line.endswith("5 epochs in 70.0 s in all its runs, 3 in 12.2 s in this one")
    summary["run"] = {"epochs": 5, "wall_s": 70.0}  # a study of one run: said once
    assert format_table(summary, rows, "max").splitlines()[0].endswith("5 epochs in 70.0 s")
