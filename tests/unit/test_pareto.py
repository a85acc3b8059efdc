"""Several objectives, without Ray running: the Pareto front of the trials, the best among it,
a picked trial, and what a trial must report."""

from __future__ import annotations

import pytest

from hpray.results.pareto import mark_front
from hpray.results.table import format_table
from hpray.results.trials import TrialRow, summarise, write_results
from hpray.trial.api import Session

OBJECTIVES = [("val_acc", "max"), ("params", "min")]


def row(
    trial_id: str, acc: float | None, params: float | None, status: str = "completed"
) -> TrialRow:
    return TrialRow(
        trial_id,
        status,
        {"x": trial_id},
        acc,
        acc,
        3,
        "budget",
        values={"val_acc": acc, "params": params},
    )


ROWS = [
    row("a", 0.95, 5000.0),  # the most accurate
    row("b", 0.90, 1000.0),  # smaller, less accurate: on the front too
    row("c", 0.89, 2000.0),  # beaten by b in both
    row("d", 0.90, 1000.0),  # ties b: neither beats the other
    row("e", 0.99, 10.0, status="diverged"),  # never on it
    row("f", None, 10.0),  # no accuracy reported: never on it
]


def test_the_front_holds_the_trials_no_other_beats_in_every_objective() -> None:
    mark_front(ROWS, OBJECTIVES)
    assert [r.trial_id for r in ROWS if r.pareto] == ["a", "b", "d"]


def test_the_summary_lists_the_front_and_takes_its_most_accurate_as_best(tmp_path) -> None:
    mark_front(ROWS, OBJECTIVES)
    summary = summarise(ROWS, "val_acc", "max", 1.0, planned=6, objectives=OBJECTIVES)
    assert summary["best"]["trial_id"] == "a"
    assert summary["best"]["values"] == {"val_acc": 0.95, "params": 5000.0}
    assert summary["objectives"] == [
        {"metric": "val_acc", "mode": "max"},
        {"metric": "params", "mode": "min"},
    ]
    assert [p["trial_id"] for p in summary["pareto"]] == ["a", "b", "d"]
    picked = summarise(ROWS, "val_acc", "max", 1.0, planned=6, objectives=OBJECTIVES, pick="b")
    assert picked["best"]["trial_id"] == "b" and picked["best"]["picked"] and picked["pick"] == "b"
    text = format_table(picked, ROWS, "max")
    assert "best (picked): trial b  val_acc=0.9000  params=1000" in text
    assert "Pareto front: 3 trials" in text
    write_results(tmp_path, ROWS, "val_acc", ["params"])
    header, *lines = (tmp_path / "results.csv").read_text().splitlines()
    assert header.endswith("final_params,pareto,epochs,stop_reason")
    assert [line.split(",")[-3] for line in lines] == [
        "true",
        "true",
        "false",
        "true",
        "false",
        "false",
    ]


def test_every_report_must_hold_each_of_the_studys_metrics() -> None:
    opened = Session.of(
        {"metric": ["val_acc", "params"], "epochs": 3, "checkpoint_every": 1},
        None,
        sink=lambda *a, **k: None,
    )
    assert opened.metrics == ["val_acc", "params"]
    opened.report({"val_acc": 0.9, "params": 100, "epoch": 1}, None)
    with pytest.raises(ValueError, match=r"study\.metric 'params' is not among the reported"):
        opened.report({"val_acc": 0.9, "epoch": 2}, None)
    with pytest.raises(BaseException, match="not finite"):  # a NaN second metric diverges too
        opened.report({"val_acc": 0.9, "params": float("nan"), "epoch": 2}, None)
