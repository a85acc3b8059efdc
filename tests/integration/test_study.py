"""Studies end to end on a real local Ray: every searcher with ASHA and FIFO, grid coverage,
seeding, and a trial that fails and continues from its checkpoint."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from hpray.errors import ConfigError
from hpray.trial.objectives import branin
from tests.helpers.studies import (
    assert_trained_once,
    history,
    results,
    run_study,
    summary,
    tensorboard_steps,
    told_trials,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]

TINY = ("study.num_samples=4", "study.epochs=3")
SCHEDULERS = {"asha": ["scheduler.grace_period=1", "scheduler.reduction_factor=2"], "fifo": []}
SEARCHERS = {
    "random": [],
    "grid": ["space=grid", "space.optim.lr.values=[0.05]"],  # 1 x 2 x 2 = 4 combinations
    "bayes": ["searcher.sampler.n_startup_trials=2"],  # so the model-based part runs too
    "gp": ["searcher.sampler.n_startup_trials=2"],
}


# Every searcher under ASHA, and FIFO once: the scheduler does not depend on the searcher.
@pytest.mark.parametrize(
    ("searcher", "scheduler"), [*((s, "asha") for s in SEARCHERS), ("random", "fifo")]
)
def test_a_study_per_searcher_and_scheduler(tmp_path: Path, searcher: str, scheduler: str) -> None:
    code, directory = run_study(
        tmp_path,
        f"searcher={searcher}",
        f"scheduler={scheduler}",
        *TINY,
        *SEARCHERS[searcher],
        *SCHEDULERS[scheduler],
    )
    assert code == 0
    rows = results(directory)
    assert len(rows) == 4
    # The report and the best config, for every searcher (grid's values are categorical).
    page = (directory / "report.html").read_text()
    assert "Parameter importance" in page and summary(directory)["best"]["trial_id"] in page
    assert (directory / "best.yaml").is_file()
    for row in rows:
        epochs = int(row["epochs"])
        # TensorBoard: every epoch's value on disk once the study is done (no flush per result).
        trial_dir = directory / f"trial_{row['trial_id']}"
        assert tensorboard_steps(trial_dir, "ray/tune/val_acc") == list(range(1, epochs + 1))
        assert 1 <= epochs <= 3
        assert row["status"] == ("completed" if epochs == 3 else "early_stopped")
        if scheduler == "fifo":
            assert row["status"] == "completed" and row["stop_reason"] == "budget"
        first = history(directory, row["trial_id"])[0]
        assert {"val_acc", "val_loss", "train_loss", "epoch"} <= set(first) and first["epoch"] == 1
        checkpoints = sorted(
            p.name for p in (directory / f"trial_{row['trial_id']}").glob("checkpoint_*")
        )
        assert 1 <= len(checkpoints) <= 2  # every epoch checkpoints; two are kept
    done = summary(directory)
    assert done["complete"] and done["trials"]["total"] == 4 and done["trials"]["errored"] == 0
    assert done["epochs_total"] == sum(int(r["epochs"]) for r in rows)
    assert done["best"]["value"] == max(float(r["best_val_acc"]) for r in rows)
    assert yaml.safe_load((directory / "config.yaml").read_text())["searcher"]["_target_"].endswith(
        f"{'optuna' if searcher in ('bayes', 'gp') else searcher}_search"
    )


def test_grid_runs_every_combination_exactly_once(tmp_path: Path) -> None:
    code, directory = run_study(
        tmp_path,
        "searcher=grid",
        "space=grid",
        "scheduler=fifo",
        "study.epochs=1",
        "space.optim.lr.values=[0.01,0.1]",
    )
    assert code == 0
    seen = sorted(
        (float(r["optim.lr"]), int(r["model.layers"]), r["model.activation"])
        for r in results(directory)
    )
    assert seen == sorted(itertools.product([0.01, 0.1], [1, 2], ["relu", "tanh"]))


def test_random_search_is_seeded(tmp_path: Path) -> None:
    def trials(name: str, seed: int) -> list[tuple]:
        code, directory = run_study(
            tmp_path,
            f"study.name={name}",
            f"study.seed={seed}",
            "study.num_samples=3",
            "study.epochs=1",
            "scheduler=fifo",
        )
        assert code == 0
        return [(r["optim.lr"], r["model.units"], r["final_val_acc"]) for r in results(directory)]

    first = trials("a", 0)
    assert trials("b", 0) == first  # same configurations, and on CPU the same scores
    assert [t[:2] for t in trials("c", 1)] != [t[:2] for t in first]


def test_a_failed_trial_continues_from_its_checkpoint(tmp_path: Path) -> None:
    code, directory = run_study(
        tmp_path,
        "trainable=hpray.trial.faults.train_failing_once",
        "+faults.fail_at_epoch=3",
        "study.num_samples=1",
        "study.epochs=4",
        "study.checkpoint_every=2",
        "study.max_failures=1",
        "scheduler=fifo",
    )
    assert code == 0
    [row] = results(directory)
    assert row["status"] == "completed" and row["epochs"] == "4"
    assert (directory / f"trial_{row['trial_id']}" / "failed_once").exists()
    # Restarted from the epoch-2 checkpoint: trained 1, 2, then 3, 4 (not 1, 2, 1, 2, 3, 4).
    raw = history(directory, row["trial_id"])
    assert [r["epoch"] for r in raw if not r.get("replayed")] == [1, 2, 3, 4]
    assert_trained_once(raw, 4)


def test_a_diverging_trial_stops_and_is_never_best(tmp_path: Path) -> None:
    # lr=1e9 blows the weights up at once: the loss becomes inf or NaN.
    code, directory = run_study(
        tmp_path,
        "searcher=grid",
        "space=grid",
        "space.optim.lr.values=[0.05,1e9]",
        "space.model.layers=1",
        "space.model.activation=relu",
        "study.epochs=3",
        "scheduler=fifo",
    )
    assert code == 0
    rows = {r["optim.lr"]: r for r in results(directory)}
    assert rows["1000000000.0"]["status"] == "diverged"
    assert rows["1000000000.0"]["stop_reason"] == "non-finite loss"
    assert int(rows["1000000000.0"]["epochs"]) < 3  # stopped, not trained to the budget
    assert rows["0.05"]["status"] == "completed"
    done = summary(directory)
    assert done["best"]["params"]["optim.lr"] == 0.05 and done["trials"]["diverged"] == 1


@pytest.mark.parametrize("searcher", ["random", "bayes"])
def test_a_finished_study_grows_on_resume(tmp_path: Path, searcher: str) -> None:
    study = (f"searcher={searcher}", "scheduler=fifo", "study.epochs=2")
    code, directory = run_study(tmp_path, *study, "study.num_samples=3")
    assert code == 0
    first = {r["trial_id"]: r for r in results(directory)}

    code, directory = run_study(tmp_path, *study, "study.num_samples=5")
    assert code == 0
    rows = {r["trial_id"]: r for r in results(directory)}
    assert len(rows) == 5 and set(first) < set(rows)
    for trial_id, row in first.items():  # kept as they were, not run again
        assert rows[trial_id] == row
        assert [r["epoch"] for r in history(directory, trial_id)] == [1, 2]
    params = {tuple(v for k, v in r.items() if "." in k) for r in rows.values()}
    assert len(params) == 5  # the new trials are new configurations
    assert summary(directory)["trials"]["total"] == 5 and summary(directory)["complete"]
    if searcher == "bayes":  # the sampler proposed the new trials knowing the first three
        assert len([t for t in told_trials(directory) if t.state.name == "COMPLETE"]) == 5


def test_changed_space_is_refused_and_fresh_sets_the_study_aside(tmp_path: Path) -> None:
    # The refusal's exit code 2 is the CLI's for every ConfigError (tests/unit/test_cli.py).
    small = ("study.num_samples=2", "study.epochs=1", "scheduler=fifo")
    code, directory = run_study(tmp_path, *small)
    assert code == 0
    before = {p: p.stat().st_mtime_ns for p in directory.rglob("*")}

    with pytest.raises(ConfigError, match=r"space\.optim\.lr\.high: 0\.2 -> 0\.05"):
        run_study(tmp_path, *small, "space.optim.lr.high=0.05")
    assert {p: p.stat().st_mtime_ns for p in directory.rglob("*")} == before  # nothing written

    code, _ = run_study(tmp_path, *small, "space.optim.lr.high=0.05", fresh=True)
    assert code == 0
    [aside] = tmp_path.glob("digits_mlp.replaced-*")
    assert summary(aside)["complete"]
    assert summary(directory)["complete"] and len(results(directory)) == 2
    assert all(float(r["optim.lr"]) <= 0.05 for r in results(directory))


def test_a_trial_out_of_retries_is_errored_and_the_study_goes_on(tmp_path: Path) -> None:
    code, directory = run_study(
        tmp_path,
        "trainable=hpray.trial.faults.train_failing_once",
        "+faults.fail_at_epoch=2",
        "+faults.trial_index=0",
        "study.num_samples=2",
        "study.epochs=3",
        "study.max_failures=0",
        "scheduler=fifo",
    )
    assert code == 0
    rows = sorted(results(directory), key=lambda r: r["trial_id"])
    assert (
        rows[0]["status"] == "errored" and "injected failure at epoch 2" in rows[0]["stop_reason"]
    )
    assert rows[1]["status"] == "completed" and rows[1]["epochs"] == "3"
    done = summary(directory)
    assert done["trials"]["errored"] == 1 and done["best"]["trial_id"] == rows[1]["trial_id"]


def test_mlflow_tracking_logs_a_run_per_trial(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"  # a local store: one file
    code, directory = run_study(
        tmp_path,
        "tracking=mlflow",
        f"tracking.tracking_uri={store}",
        "study.num_samples=3",
        "study.epochs=2",
        "scheduler=fifo",
    )
    assert code == 0
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("digits_mlp")  # experiment_name: ${study.name}
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3
    by_trial = {r["trial_id"]: r for r in results(directory)}
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "val_acc")
        assert [m.step for m in history] == [1, 2]  # every epoch, as Tune reported it
        assert any(
            name.startswith("model.") or name.startswith("optim.") for name in run.data.params
        )
    assert len(by_trial) == 3 and (tmp_path / "mlflow.db").stat().st_size > 0


def test_a_test_function_runs_as_a_study(tmp_path: Path) -> None:
    """experiment=branin (benchmarks/search_quality.py): the driver, a searcher, the value."""
    code, directory = run_study(
        tmp_path,
        "experiment=branin",
        "searcher=gp",
        "study.num_samples=10",
        "searcher.sampler.n_startup_trials=4",
    )
    assert code == 0
    rows = results(directory)
    assert len(rows) == 10 and {r["status"] for r in rows} == {"completed"}
    best = summary(directory)["best"]
    point = best["params"]
    assert best["metric"] == "value"
    assert best["value"] == pytest.approx(branin(point["objective.x1"], point["objective.x2"]))
    assert best["value"] == min(float(r["best_value"]) for r in rows) >= 0.397887
