"""Conditional spaces on a real local Ray: each trial trains the family it picked, with only
that family's parameters, under random search, Bayesian search and grid search."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers.families import expected_keys
from tests.helpers.studies import history, results, run_study, stored_state, summary

pytestmark = pytest.mark.integration

SMALL = [  # short trials: two epochs, small forests and networks
    "study.epochs=2",
    "scheduler.grace_period=1",
    "space.model.options.random_forest.n_estimators.high=40",
    "space.model.options.mlp.units.high=64",
]
TARGETS = {
    "mlp": "hpray.models.MLP",
    "random_forest": "sklearn.ensemble.RandomForestClassifier",
    "svm": "sklearn.svm.SVC",
    "logreg": "sklearn.linear_model.LogisticRegression",
}


def check_trials(directory: Path, grid: bool = False) -> list[dict[str, str]]:
    """Every trial holds exactly its branch's parameters and trained that branch's model."""
    rows = results(directory)
    for row in rows:
        raw = history(directory, row["trial_id"])
        config = raw[-1]["config"]
        keys = {"model"} | (
            {"model.units", "optim", "optim.lr"} if config["model"] == "mlp" else set()
        )
        if grid:
            keys |= {"random_forest": {"model.max_depth"}, "svm": {"model.C"}}.get(
                config["model"], set()
            )
        assert set(config) == (keys if grid else expected_keys(config)), config
        filled = {k for k, v in row.items() if v != ""} & {
            k for k in row if "." in k or k in ("model", "optim")
        }
        assert filled == set(config) - {"optim"} | ({"optim"} if "optim" in config else set())
        checkpoint = max((directory / f"trial_{row['trial_id']}").glob("checkpoint_*"))
        [learner] = stored_state(checkpoint)["learners"]
        torch_trial = "model" in learner  # a torch learner's state: weights, optimizer, RNGs
        assert torch_trial == (config["model"] == "mlp")  # the picked family is what trained
        assert ("estimator" in learner) == (not torch_trial)
    return rows


def check_best(directory: Path) -> None:
    best = summary(directory)["best"]
    family = best["params"]["model"]
    config = yaml.safe_load((directory / "best.yaml").read_text())
    assert config["model"]["_target_"] == TARGETS[family]
    for path, value in best["params"].items():
        if path not in ("model", "optim"):
            node = config
            for part in path.split("."):
                node = node[part]
            assert node == value
    if family != "mlp":
        assert "units" not in config["model"]  # nothing of another family's node
    assert "_space_" not in config and config["space"] == {}
    report = (directory / "report.html").read_text()
    assert "Parameter importance" in report and '"model"' in report


@pytest.mark.parametrize("searcher", ["random", "bayes"])
def test_a_conditional_study_samples_only_valid_combinations(
    local_ray, tmp_path: Path, searcher: str
) -> None:
    code, directory = run_study(
        tmp_path,
        "space=families",
        f"searcher={searcher}",
        f"study.name=families_{searcher}",
        "study.num_samples=8",
        *(["searcher.sampler.n_startup_trials=4"] if searcher == "bayes" else []),
        *SMALL,
    )
    assert code == 0
    rows = check_trials(directory)
    assert len(rows) == 8 and len({r["model"] for r in rows}) >= 2
    check_best(directory)


def test_grid_runs_every_branch_combination_once(local_ray, tmp_path: Path) -> None:
    code, directory = run_study(
        tmp_path, "space=families_grid", "searcher=grid", "study.name=families_grid", *SMALL[:2]
    )
    assert code == 0
    rows = check_trials(directory, grid=True)
    combos = {
        (
            r["model"],
            r["model.units"],
            r["optim"],
            r["optim.lr"],
            r["model.max_depth"],
            r["model.C"],
        )
        for r in rows
    }
    assert len(rows) == len(combos) == 12
    assert {r["model"] for r in rows} == {"mlp", "random_forest", "svm"}
    check_best(directory)
