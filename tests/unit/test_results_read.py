"""The study's trials read from Ray's snapshot and result files; a large study's page sampled."""

import itertools
import json
import math
from pathlib import Path

import pytest

from hpray.results import html
from hpray.results.table import number
from hpray.results.trials import TrialRow, collect


def experiment(directory: Path, trials: dict[str, tuple[str, list[object]]]) -> None:
    """An experiment directory as Ray Tune writes it: a snapshot naming each trial (status,
    config, directory) and each trial's result.json, one JSON line per report."""
    directory.mkdir(parents=True)
    trial_data = []
    for trial_id, (status, reports) in trials.items():
        state = {
            "trial_id": trial_id,
            "status": status,
            "config": {"optim.lr": 0.1, "nested": {"a": [1, 2]}},
            "relative_logdir": f"trial_{trial_id}",
            "storage": {"_type": "CLOUDPICKLE_FALLBACK", "value": "00"},  # never unpickled
        }
        trial_data.append([json.dumps(state), "{}"])
        (directory / f"trial_{trial_id}").mkdir()
        lines = [r if isinstance(r, str) else json.dumps(r) for r in reports]
        (directory / f"trial_{trial_id}" / "result.json").write_text("\n".join(lines) + "\n")
    older = {"trial_data": [], "runner_data": {}, "stats": {}}
    (directory / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(older))
    newest = {"trial_data": trial_data, "runner_data": {}, "stats": {}}
    (directory / "experiment_state-2026-01-02_00-00-00.json").write_text(json.dumps(newest))


def test_trials_come_from_the_newest_snapshot_and_their_result_files(tmp_path: Path) -> None:
    experiment(
        tmp_path / "s",
        {
            "a_00001": (
                "TERMINATED",
                [
                    {"epoch": 1, "val_acc": 0.5},
                    {"epoch": 2, "val_acc": 0.7},
                    {"epoch": 2, "val_acc": 0.8},  # re-reported after a resume: the last counts
                    '{"epoch": 3, "val_a',  # cut short by a kill
                ],
            ),
            "a_00000": ("TERMINATED", [{"epoch": 1, "val_acc": 0.6, "val": {"f1": 0.1}}]),
            "a_00002": ("RUNNING", [{"epoch": 1, "val_acc": math.inf, "diverged": True}]),
            "a_00003": ("PENDING", []),
        },
    )
    rows = collect(tmp_path / "s", "val_acc", "max", budget=2)
    assert [r.trial_id for r in rows] == ["a_00000", "a_00001", "a_00002", "a_00003"]
    first, second, diverged, pending = rows
    assert second.history == [0.5, 0.8] and second.best == 0.8 and second.epochs == 2
    assert (second.status, second.stop_reason) == ("completed", "budget")
    assert (first.status, first.epochs) == ("early_stopped", 1)
    assert first.params == {"optim.lr": 0.1, "nested": {"a": [1, 2]}}
    assert diverged.status == "diverged" and diverged.best is None
    assert (pending.status, pending.history, pending.final) == ("pending", [], None)
    # A nested metric is named as Ray's own reader names it.
    assert collect(tmp_path / "s", "val/f1", "max", budget=2)[0].history == [0.1]


def test_a_trial_a_stop_rule_ended_before_it_ran_is_unstarted(tmp_path: Path) -> None:
    experiment(
        tmp_path / "s",
        {
            "a_00000": ("TERMINATED", [{"epoch": 1, "val_acc": 0.9}]),
            "a_00001": ("TERMINATED", [{"epoch": 1, "val_acc": 0.5}]),
            "a_00002": ("TERMINATED", []),
        },
    )
    (tmp_path / "s" / "trial_a_00002" / "result.json").unlink()  # as Ray leaves one never run
    stops = {
        "rule": "stop_at",
        "reached": "a_00000",
        "trials": dict.fromkeys(["a_00000", "a_00001", "a_00002"], "stop_at"),
    }
    (tmp_path / "s" / "stops.json").write_text(json.dumps(stops))
    rows = collect(tmp_path / "s", "val_acc", "max", budget=5)
    assert [(r.status, r.stop_reason) for r in rows] == [
        ("early_stopped", "reached stop_at"),
        ("early_stopped", "stop_at"),
        ("unstarted", "stop_at"),
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (25885.0, "25885"),
        (0.000612345, "0.0006123"),
        (0.9527778, "0.9528"),
        (1.0, "1.0000"),
        (55.51749, "55.5175"),
        (3, "3"),
        (2.5e7 + 0.5, "2.5e+07"),
        (0.0, "0.0000"),
    ],
)
def test_a_metric_is_shown_as_people_read_it(value: float, shown: str) -> None:
    assert number(value) == shown


def rows(n: int) -> list[TrialRow]:
    return [
        TrialRow(f"t_{i:05d}", "completed", {"x": float(i)}, float(i), float(i), 1, "budget")
        for i in range(n)
    ]


def test_a_small_study_is_drawn_whole() -> None:
    kept, note = html.sample(rows(40), "max")
    assert len(kept) == 40 and note == ""


def test_a_large_study_draws_its_best_and_an_even_spread_of_the_rest() -> None:
    many = rows(5000)
    kept, note = html.sample(many, "max")
    ids = {r.trial_id for r in kept}
    assert len(kept) == html.DRAWN
    assert {f"t_{i:05d}" for i in range(4950, 5000)} <= ids  # the best 50 (max)
    spread = sorted(int(i[2:]) for i in ids if int(i[2:]) < 4950)
    assert spread[0] == 0 and spread[-1] > 4900  # the rest from end to end, evenly
    assert max(b - a for a, b in itertools.pairwise(spread)) <= 12
    assert "the best 50 of 5000 trials" in note
    kept_min, _ = html.sample(many, "min")
    assert {f"t_{i:05d}" for i in range(50)} <= {r.trial_id for r in kept_min}


def test_a_large_study_s_table_lists_its_best_rows() -> None:
    table = html._table(rows(1000), "val_acc", "max")
    assert table.count("<tr>") == html.TABLE_ROWS + 1  # the header
    assert "t_00999" in table and "t_00000" not in table
    assert "results.csv has them all" in table
