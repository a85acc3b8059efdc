"""The searcher contract, the same for every searcher option (as Optuna tests every sampler):
a fresh study, the same study interrupted and resumed, and a finished one grown."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import pytest

from hpray.trial.objectives import branin
from tests.helpers.studies import history, results, run_study, summary, told_trials

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]

# Branin as a study: one report per trial, so each study takes seconds.
STUDY = ("experiment=branin", "trainable=hpray.trial.faults.evaluate_interrupting")
# Every option of the packaged searcher group, each with what makes its study of 6 points test it.
SEARCHERS = sorted(
    p.name.removesuffix(".yaml")
    for p in resources.files("hpray.conf").joinpath("searcher").iterdir()
    if p.name.endswith(".yaml")
)
OVERRIDES = {
    "grid": [  # 3 x 2 = 6 points
        "~space.objective",
        "+space.objective.x1={type:choice,values:[-3.0,3.0,9.0]}",
        "+space.objective.x2={type:choice,values:[2.0,12.0]}",
    ],
    "bayes": ["searcher.sampler.n_startup_trials=2"],  # so the model-based part runs too
    "gp": ["searcher.sampler.n_startup_trials=2"],
    "botorch": ["searcher.sampler.n_startup_trials=2"],
    "nsga2": ["searcher.sampler.population_size=2"],  # so later generations are bred
}


def params(row: dict[str, str]) -> tuple[str, str]:
    return row["objective.x1"], row["objective.x2"]


def params_of(config: dict[str, float]) -> tuple[float, float]:
    return config["objective.x1"], config["objective.x2"]


@pytest.mark.parametrize("searcher", SEARCHERS)
def test_a_searcher_runs_resumes_and_grows_a_study(tmp_path: Path, searcher: str) -> None:
    def study(trials: int) -> tuple[int, Path]:
        return run_study(
            tmp_path,
            *STUDY,
            f"searcher={searcher}",
            f"study.num_samples={trials}",
            f"+faults.driver_pid={os.getpid()}",
            "+faults.after=2",  # interrupts the study once, mid-way
            *OVERRIDES.get(searcher, []),
        )

    # Fresh, and interrupted once two trials have reported: saved, exit 75, unfinished.
    code, directory = study(6)
    assert code == 75
    assert not summary(directory)["complete"]
    done = {r["trial_id"]: r for r in results(directory) if r["status"] == "completed"}
    assert 1 <= len(done) < 6

    # The same command resumes it: every planned trial, the finished ones not run again.
    code, directory = study(6)
    assert code == 0
    rows = {r["trial_id"]: r for r in results(directory)}
    assert len(rows) == 6 and summary(directory)["complete"]
    assert all(r["status"] == "completed" for r in rows.values())
    for trial_id, row in done.items():
        assert rows[trial_id] == row
        assert len(history(directory, trial_id)) == 1  # one report: evaluated once
    assert len({params(r) for r in rows.values()}) == 6  # six different points
    if searcher == "grid":
        assert {params(r) for r in rows.values()} == {
            (x1, x2) for x1 in ("-3.0", "3.0", "9.0") for x2 in ("2.0", "12.0")
        }

    # Grown: more trials, the first six kept as they were (grid: its grid is the study).
    code, directory = study(8)
    assert code == 0
    grown = {r["trial_id"]: r for r in results(directory)}
    assert {k: grown[k] for k in rows} == rows
    assert len(grown) == (6 if searcher == "grid" else 8)
    assert len({params(r) for r in grown.values()}) == len(grown)  # the new points are new
    assert summary(directory)["complete"]
    if searcher in ("bayes", "gp"):  # the sampler proposed the new trials knowing the first six
        assert len([t for t in told_trials(directory) if t.state.name == "COMPLETE"]) == 8


def test_a_trial_stopped_early_reaches_the_optuna_study_with_what_it_showed(
    tmp_path: Path,
) -> None:
    """ASHA stops a trial at a rung; OptunaSearch tells its sampler the trial's last value, a
    finished trial, so TPE models that region as seen instead of proposing it again."""
    code, directory = run_study(
        tmp_path,
        "experiment=branin",  # as a learning curve over 3 epochs, ending at Branin's value
        "study.epochs=3",
        "study.num_samples=8",
        "scheduler=asha",
        "scheduler.grace_period=1",
        "scheduler.reduction_factor=2",
        "searcher=bayes",
        "searcher.sampler.n_startup_trials=2",
        "searcher.max_concurrent=1",  # one at a time and seeded: the same trials stop each run
    )
    assert code == 0
    rows = results(directory)
    assert len(rows) == 8
    told = {tuple(sorted(t.params.items())): t for t in told_trials(directory)}
    stopped = 0
    for row in rows:
        last = history(directory, row["trial_id"])[-1]
        trial = told[tuple(sorted(last["config"].items()))]
        assert trial.state.name == "COMPLETE" and trial.value == last["value"]
        if row["status"] == "early_stopped":
            stopped += 1
            assert last["epoch"] < 3 and trial.value > branin(*params_of(last["config"]))
    assert stopped >= 1


def test_a_warm_started_study_learns_from_the_earlier_one_and_runs_the_enqueued_first(
    tmp_path: Path,
) -> None:
    bayes = ("experiment=branin", "searcher=bayes", "study.max_concurrent=1")
    code, earlier = run_study(tmp_path, *bayes, "study.num_samples=3", "study.name=earlier")
    assert code == 0
    files = {p: p.stat().st_mtime_ns for p in earlier.rglob("*") if p.is_file()}
    point = "study.enqueue=[{objective.x1: 3.0, objective.x2: 2.5}]"
    code, later = run_study(
        tmp_path,
        *bayes,
        "study.num_samples=2",
        "study.name=later",
        f"study.warm_start={earlier}",
        point,
    )
    assert code == 0
    told = told_trials(later)
    # The earlier study's trials, as its results.csv has them, then the enqueued one, then TPE's.
    shown = sorted(
        (float(r["objective.x1"]), float(r["objective.x2"]), float(r["final_value"]))
        for r in results(earlier)
    )
    assert (
        sorted((t.params["objective.x1"], t.params["objective.x2"], t.value) for t in told[:3])
        == shown
    )
    assert told[3].params == {"objective.x1": 3.0, "objective.x2": 2.5} and len(told) == 5
    ran = {(r["objective.x1"], r["objective.x2"]) for r in results(later)}
    assert ("3.0", "2.5") in ran and len(ran) == 2
    assert {p: p.stat().st_mtime_ns for p in earlier.rglob("*") if p.is_file()} == files

    code, random = run_study(
        tmp_path, "experiment=branin", "searcher=random", "study.num_samples=2", point
    )
    assert code == 0
    assert ("3.0", "2.5") in {(r["objective.x1"], r["objective.x2"]) for r in results(random)}
