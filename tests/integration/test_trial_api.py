"""A user's own training function, tuned through hpray's trial API: the regression example in
examples/regression, run as a user runs it (its folder on PYTHONPATH, its configs by
--config-dir), with ASHA, and killed with SIGKILL and resumed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from hpray.cli import main
from tests.helpers.drivers import Driver, checkpoints
from tests.helpers.studies import assert_trained_once, history, results, run_study, summary

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "regression"
STUDY = (f"--config-dir={EXAMPLE / 'conf'}", "--config-name=diabetes")


def on_path(folder: Path) -> dict[str, str]:
    """The environment that lets a driver and its Ray workers import a user's module."""
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    }


ENV = on_path(EXAMPLE)


def test_a_users_function_is_tuned_with_asha(tmp_path: Path) -> None:
    small = ("study.num_samples=6", "study.epochs=6", "scheduler.grace_period=2")
    driver = Driver(tmp_path, *STUDY, *small, env=ENV)
    assert driver.finish() == 0, driver.stderr[-3000:]
    directory = tmp_path / "diabetes"
    rows = results(directory)
    assert len(rows) == 6
    # The space's keys are the function's own, nested settings: train.lr in the config.
    assert {"train.lr", "train.hidden", "train.dropout", "train.weight_decay"} <= set(rows[0])
    assert {r["status"] for r in rows} <= {"completed", "early_stopped"}
    assert any(r["status"] == "early_stopped" for r in rows)  # ASHA stopped some
    for row in rows:
        reported = history(directory, row["trial_id"])
        assert [r["epoch"] for r in reported] == list(range(1, int(row["epochs"]) + 1))
        assert {"val_rmse", "val_mae", "train_loss"} <= set(reported[0])
        assert 30 < reported[-1]["val_rmse"] < 200  # RMSE of disease progression, in its units
    done = summary(directory)
    assert done["complete"] and done["best"]["metric"] == "val_rmse"
    assert done["best"]["value"] == min(float(r["best_val_rmse"]) for r in rows)
    page = (directory / "report.html").read_text()
    assert "train.lr" in page and done["best"]["trial_id"] in page
    best = yaml.safe_load((directory / "best.yaml").read_text())
    assert best["trainable"] == "diabetes.train"
    assert best["train"]["lr"] == done["best"]["params"]["train.lr"]

    # The final retrain: the function is told so, trains on training + validation rows and
    # reports the test rows' errors once per seed.
    hpray = Path(sys.executable).parent / "hpray"
    retrained = subprocess.run(
        [str(hpray), "retrain", str(directory), "--seeds", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
    )
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    final = json.loads((directory / "final.json").read_text())
    assert [run["seed"] for run in final["seeds"]] == [0, 1]
    assert 30 < final["test_rmse"]["mean"] < 200 and final["test_mae"]["mean"] > 0
    assert "test_rmse" in retrained.stdout


def test_a_users_function_is_tuned_for_two_metrics_with_nsga2(tmp_path: Path) -> None:
    two = (
        "searcher=nsga2",
        "searcher.sampler.population_size=2",  # so a second generation is bred
        "study.metric=[val_rmse,val_mae]",
        "study.mode=[min,min]",
        "scheduler=fifo",
        "study.num_samples=4",
        "study.epochs=3",
    )
    driver = Driver(tmp_path, *STUDY, *two, env=ENV)
    assert driver.finish() == 0, driver.stderr[-3000:]
    assert "NSGAIISampler, 4 trials" in driver.stderr
    directory = tmp_path / "diabetes"
    rows = results(directory)
    point = {r["trial_id"]: (float(r["final_val_rmse"]), float(r["final_val_mae"])) for r in rows}
    front = {r["trial_id"] for r in rows if r["pareto"] == "true"}
    assert front and all(
        not any(o[0] <= p[0] and o[1] <= p[1] and o != p for o in point.values())
        for p in (point[t] for t in front)
    )
    best = summary(directory)["best"]
    assert best["trial_id"] in front and set(best["values"]) == {"val_rmse", "val_mae"}


def test_a_users_function_evolves_under_pb2_with_its_new_settings_in_place(
    tmp_path: Path,
) -> None:
    """PB2 (population based bandits): PBT whose copies' values come from a Gaussian process;
    the built-in trials and a Lightning app are tested under PBT itself."""
    pbt = (
        "scheduler=pb2",
        "scheduler.mutate=[train.lr,train.weight_decay]",  # the model's keys come with a copy
        "scheduler.quantile_fraction=0.5",
        "scheduler.perturbation_interval=2",
        "scheduler.synch=true",  # copies at epochs 2, 4, 6 of every trial: none copies an end
        "study.num_samples=4",
        "study.epochs=8",
        "resources.cpu=0.5",  # one population of 4
        f"train.log={tmp_path / 'trained.log'}",
    )
    driver = Driver(tmp_path, *STUDY, *pbt, env=ENV)
    assert driver.finish() == 0, driver.stderr[-3000:]
    directory = tmp_path / "diabetes"
    assert summary(directory)["complete"]
    # The loop's own log: an epoch after a copy was trained with the new learning rate.
    trained = [line.split() for line in (tmp_path / "trained.log").read_text().splitlines()]
    rows = {r["trial_id"]: r for r in results(directory)}
    copies = (directory / "pbt_global.txt").read_text().splitlines()
    assert copies, "no trial was copied"
    # Each trial's settings at its first epoch and at its last: a copy duplicates the settings
    # of a better trial (PB2 explores them only once its model has data), so the two differ.
    first = Counter((lr, hidden) for lr, hidden, epoch in trained if epoch == "1")
    last = Counter((lr, hidden) for lr, hidden, epoch in trained if epoch == "8")
    assert sum(last.values()) == 4 and last != first, (first, last)
    # The results hold the settings each trial ended with, not those it started with.
    assert Counter(repr(float(r["train.lr"])) for r in rows.values()) == Counter(
        lr for lr, _ in last.elements()
    )
    assert all(1e-4 <= float(lr) <= 0.05 for lr, _, _ in trained)


def test_a_killed_study_of_a_users_function_resumes_and_trains_no_epoch_twice(
    tmp_path: Path,
) -> None:
    log = tmp_path / "trained.log"
    study = (
        *STUDY,
        "scheduler=fifo",
        "study.num_samples=4",
        "study.epochs=8",
        "train.batch_size=4",  # slower epochs: the kill lands mid-study
        f"train.log={log}",
    )
    directory = tmp_path / "diabetes"
    first = Driver(tmp_path, *study, env=ENV)
    first.wait_until(lambda: checkpoints(directory) >= 6)
    first.kill_group()
    time.sleep(1)  # trial processes (own process groups) die with their node
    killed_at = log.read_text().splitlines()

    second = Driver(tmp_path, *study, env=ENV)
    assert second.finish() == 0, second.stderr[-3000:]
    rows = results(directory)
    assert len(rows) == 4 and all(r["status"] == "completed" for r in rows)
    for row in rows:
        assert_trained_once(history(directory, row["trial_id"]), 8)
    # The function's own log, a line written after each epoch's report: no epoch trained twice.
    # A kill between a report and its line loses the line: at most one per running trial (2).
    trained = Counter(log.read_text().splitlines())
    assert max(trained.values()) == 1, [line for line, n in trained.items() if n > 1]
    assert 4 * 8 - 2 <= len(trained) <= 4 * 8
    assert 0 < len(killed_at) < 4 * 8  # killed mid-way


def test_a_scikit_learn_pipeline_is_tuned_by_k_fold_cross_validation(tmp_path: Path) -> None:
    example = EXAMPLES / "sklearn_pipeline"
    study = (f"--config-dir={example / 'conf'}", "--config-name=pipeline", "study.num_samples=6")
    driver = Driver(tmp_path, *study, "cv.folds=3", env=on_path(example))
    assert driver.finish() == 0, driver.stderr[-3000:]
    directory = tmp_path / "breast_cancer_svm"
    rows = results(directory)
    assert len(rows) == 6 and all(r["status"] == "completed" for r in rows)
    assert {"model.scaler", "model.C", "model.gamma"} <= set(rows[0])
    for row in rows:  # what the function returned is its one report: the folds' mean and spread
        [reported] = history(directory, row["trial_id"])
        assert reported["epoch"] == 1 and 0.5 < reported["val_acc"] <= 1.0
        assert 0 <= reported["val_acc_std"] < 0.2
    best = summary(directory)["best"]
    [winner] = [r for r in rows if r["trial_id"] == best["trial_id"]]
    assert best["value"] > 0.9 and best["std"] == float(winner["best_val_acc_std"])
    retrained = subprocess.run(
        [str(Path(sys.executable).parent / "hpray"), "retrain", str(directory)],
        capture_output=True,
        text=True,
        env={**os.environ, **on_path(example)},
    )
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert json.loads((directory / "final.json").read_text())["test_acc"]["mean"] > 0.9


# A function on the API from the package (faults.diverging), run in this process's Ray.
DIVERGING = (
    "trainable=hpray.trial.faults.diverging",
    "searcher=grid",
    "scheduler=fifo",
    "study.epochs=4",
    "study.metric=val_rmse",
    "study.mode=min",
    "study.max_failures=0",
    "+faults.lr=1.0",
    "~space",
    "+space.faults.lr={type:choice,values:[0.5,10.0]}",
)


def test_a_non_finite_metric_ends_the_trial_as_diverged_never_best(
    local_ray, tmp_path: Path
) -> None:
    code, directory = run_study(tmp_path, *DIVERGING)
    assert code == 0
    rows = {r["faults.lr"]: r for r in results(directory)}
    assert rows["10.0"]["status"] == "diverged" and rows["10.0"]["epochs"] == "2"
    assert rows["0.5"]["status"] == "completed" and rows["0.5"]["epochs"] == "4"
    assert summary(directory)["best"]["params"]["faults.lr"] == 0.5


def test_retraining_a_function_without_final_exits_2_saying_what_to_add(
    local_ray, tmp_path: Path, capsys
) -> None:
    code, directory = run_study(tmp_path, *DIVERGING)
    assert code == 0
    with pytest.raises(SystemExit) as exit_:
        main(["retrain", str(directory)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "trainable: hpray.trial.faults.diverging takes no `final` argument" in err
    assert "add `final: bool = False`" in err
    assert not (directory / "final.json").exists()


def test_a_report_without_the_study_metric_fails_the_trial_naming_both(
    local_ray, tmp_path: Path
) -> None:
    code, directory = run_study(tmp_path, *DIVERGING, "study.metric=val_mae")
    assert code == 1  # ended at the first such report: no retry or other trial reports it
    failed = [r for r in results(directory) if r["stop_reason"].startswith("error: ")]
    assert failed
    for row in failed:
        assert "study.metric 'val_mae' is not among the reported metrics" in row["stop_reason"]
        assert "'val_rmse'" in row["stop_reason"]
    assert summary(directory)["stopped"]["rule"] == "repeated_failure"
    assert not (directory / "best.yaml").exists()


FAILING = (
    "trainable=hpray.trial.faults.failing_after_training",
    "scheduler=fifo",
    "study.epochs=2",
    "study.metric=val_rmse",
    "study.mode=min",
    "study.num_samples=4",
    "+faults.lr=1.0",
    "~space",
    "+space.faults.lr={type:uniform,low:0.5,high:2.0}",
)


def test_an_error_every_trial_meets_ends_the_study_at_its_second_time(
    local_ray, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Retries are for a trial that failed where others did not: the same error twice before
    any trial ended well ends the run (exit 1), saved, and the same command resumes it. Each
    failure is one line, naming where its traceback is."""
    code, directory = run_study(tmp_path, *FAILING, "study.max_failures=2")
    assert code == 1
    err = capfd.readouterr().err
    said = re.findall(
        r"\[hpray\] trial (\w+) failed, tried again: (.*) \(the traceback: (.*)\)", err
    )
    assert len(said) >= 2
    for trial_id, error, path in said:
        assert error.startswith("hpray.trial.faults.InjectedFault: the test stage failed")
        assert Path(path) == directory / f"trial_{trial_id}" / "error.txt"
    assert "Trial task failed" not in err and "Traceback" not in err
    failures = "".join(p.read_text() for p in directory.glob("trial_*/error.txt"))
    assert 2 <= failures.count("Failure # ") <= 3  # not 4 trials x 3 tries
    stopped = summary(directory)["stopped"]
    assert stopped["rule"] == "repeated_failure"
    assert stopped["error"] == (
        "hpray.trial.faults.InjectedFault: the test stage failed: no test split in the data"
    )
    assert not summary(directory)["complete"] and not (directory / "best.yaml").exists()
    reasons = {r["stop_reason"] for r in results(directory) if r["stop_reason"]}
    assert reasons == {f"error: {stopped['error']}"}
    code, again = run_study(tmp_path, *FAILING, "study.max_failures=2")  # resumed: fails as fast
    assert code == 1 and again == directory
    assert summary(directory)["stopped"]["rule"] == "repeated_failure"


def test_a_study_whose_every_trial_errored_exits_1_and_names_no_best(
    local_ray, tmp_path: Path
) -> None:
    """Each trial reported its metric, then failed (each its own error): none is best."""
    code, directory = run_study(tmp_path, *FAILING, "study.max_failures=0", "+faults.distinct=true")
    assert code == 1
    rows = results(directory)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"errored"}
    for row in rows:
        assert row["stop_reason"] == (
            f"error: hpray.trial.faults.InjectedFault: the test stage failed for "
            f"lr={float(row['faults.lr'])}: no test split in the data"
        )
    assert summary(directory)["best"] is None and summary(directory)["complete"]
    assert not (directory / "best.yaml").exists()
