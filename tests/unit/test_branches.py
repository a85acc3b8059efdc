"""Conditional spaces: branches parse, validate, enumerate, sample and build trials (no Ray)."""

from __future__ import annotations

from typing import Any

import pytest

from hpray import space
from hpray.config.prepare import prepare
from hpray.errors import ConfigError
from hpray.search.searchers import optuna_search, random_search
from tests.helpers.families import FAMILY_KEYS, expected_keys

STUDY = {"metric": "val_acc", "mode": "max"}


def test_families_parse_into_branches_with_their_own_leaves(study_cfg) -> None:
    study = prepare(study_cfg("space=families"))
    parsed = space.parse_space(study.config["space"])
    [model] = parsed.branches
    assert list(model.options) == ["mlp", "random_forest", "svm", "logreg"]
    # Options named after conf/model/ options carry that option's whole node.
    assert model.options["svm"].node["_target_"] == "sklearn.svm.SVC"
    assert model.options["mlp"].node["activation"] == "relu"
    [optim] = model.options["mlp"].space.branches
    assert optim.path == "optim" and list(optim.options) == ["sgd", "adamw"]
    columns = {p.path: p for p in parsed.all_params()}
    assert columns["model"].values == ("mlp", "random_forest", "svm", "logreg")
    assert (columns["model.C"].low, columns["model.C"].high) == (1e-3, 1e2)  # svm's and logreg's
    assert study.uses_torch  # the MLP option trains a torch model


def test_a_trial_gets_the_picked_options_node_and_nothing_of_the_others(study_cfg) -> None:
    study = prepare(study_cfg("space=families"))
    forest = space.apply(study.base, {"model": "random_forest", "model.max_depth": 7})
    assert forest["model"]["_target_"] == "sklearn.ensemble.RandomForestClassifier"
    assert forest["model"]["max_depth"] == 7 and "units" not in forest["model"]
    assert space.CONDITIONAL not in forest
    net = space.apply(
        study.base,
        {
            "model": "mlp",
            "model.units": 64,
            "optim": "adamw",
            "optim.beta2": 0.99,
            "data.batch_size": 32,
        },
    )
    assert net["model"]["_target_"] == "hpray.models.MLP" and net["model"]["units"] == 64
    assert net["optim"]["_target_"] == "torch.optim.AdamW" and net["optim"]["beta2"] == 0.99
    assert net["data"]["batch_size"] == 32
    assert study.base["model"]["_target_"] == "hpray.models.MLP"  # the base is untouched


def test_grid_runs_each_option_with_its_own_grid(study_cfg) -> None:
    study = prepare(study_cfg("space=families_grid", "searcher=grid"))
    points = space.grid_points(space.parse_space(study.config["space"]))
    assert len(points) == 12 and study.plan.num_samples == 12
    assert len({tuple(sorted(p.items())) for p in points}) == 12  # no combination twice
    lrs = {p["optim"]: set() for p in points if p["model"] == "mlp"}
    for p in points:
        if p["model"] == "mlp":
            lrs[p["optim"]].add(p["optim.lr"])
    assert lrs == {"sgd": {0.03, 0.1}, "adamw": {1e-3, 3e-3}}
    for point in points:
        family = point["model"]
        keys = {"model"} | ({"model.units", "optim", "optim.lr"} if family == "mlp" else set())
        keys |= {"random_forest": {"model.max_depth"}, "svm": {"model.C"}}.get(family, set())
        assert set(point) == keys


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("searcher", ["random", "bayes", "gp"])
def test_define_by_run_samples_only_the_picked_branch(study_cfg, searcher: str) -> None:
    parsed = space.parse_space(prepare(study_cfg("space=families")).config["space"])
    import optuna

    if searcher == "random":
        plan = random_search(parsed, num_samples=40, limit=0, seed=0, **STUDY)
    else:
        sampler = (
            optuna.samplers.TPESampler(seed=0, multivariate=True, group=True)
            if searcher == "bayes"
            else optuna.samplers.GPSampler(seed=0)
        )
        plan = optuna_search(parsed, num_samples=40, limit=0, sampler=sampler, **STUDY)
    searcher_ = plan.search_alg.searcher
    configs = []
    for i in range(40):
        config = searcher_.suggest(f"t{i}")
        configs.append(config)
        searcher_.on_trial_complete(f"t{i}", {"val_acc": 0.5 + 0.01 * (i % 7)})
    for config in configs:
        assert set(config) == expected_keys(config), config
    assert {c["model"] for c in configs} == set(FAMILY_KEYS)  # every family is tried
    assert {c["optim"] for c in configs if c["model"] == "mlp"} == {"sgd", "adamw"}


def test_the_same_seed_draws_the_same_conditional_trials(study_cfg) -> None:
    parsed = space.parse_space(prepare(study_cfg("space=families")).config["space"])

    def draws(seed: int) -> list[dict[str, Any]]:
        plan = random_search(parsed, num_samples=5, limit=0, seed=seed, **STUDY)
        return [plan.search_alg.searcher.suggest(f"t{i}") for i in range(5)]

    assert draws(1) == draws(1) and draws(1) != draws(2)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["space=families", "space.model.options=null"], "space.model.options"),
        (
            ["space=families", "+space.model.options.xgboost={max_depth:3}"],
            "space.model.options.xgboost",
        ),
        (
            [
                "space=families",
                "~space.model.options.logreg.C",
                "+space.model.options.logreg.C={type:choice,values:[1,10]}",
            ],
            "space.model.options.logreg.C",
        ),
        (
            ["space=families", "+space.data.batch_size={type:choice,values:[32,64]}"],
            "space.model.options.mlp._with_.data.batch_size",
        ),
        (
            ["space=families", "+space.model.options.svm._with_={model:{C:1}}"],
            "space.model.options.svm._with_.model.C",
        ),
        (["space=families", "+space.model.option=3"], "space.model.option"),
        (
            ["space=families_grid", "searcher=bayes"],
            "space.model.options.mlp._with_.optim.options.adamw.lr",
        ),
        (
            [
                "space=families",
                "~space.model.options.svm.gamma",
                "+space.model.options.svm.gamma={type:normal,mean:0,std:1}",
            ],
            "space.model.options.svm.gamma",
        ),
        (["space=families", "+space.model.options.svm.degre=3"], "model.degre"),
    ],
)
def test_a_malformed_conditional_space_names_the_key(
    study_cfg, overrides: list[str], key: str
) -> None:
    with pytest.raises(ConfigError) as err:
        prepare(study_cfg(*overrides))
    assert err.value.key == key, err.value


def test_an_empty_inline_option_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        space.parse_space({"head": {"type": "branch", "options": {"a": {"k": 1}, "b": None}}})
    assert err.value.key == "space.head.options.b"


def test_conditional_searchers_save_and_restore_mid_study(study_cfg, tmp_path) -> None:
    """What Ray Tune snapshots and restores on resume: the searcher's own state."""
    grid = prepare(study_cfg("space=families_grid", "searcher=grid")).plan.search_alg.searcher
    first = [grid.suggest(f"t{i}") for i in range(5)]
    grid.save(str(tmp_path / "grid.pkl"))
    again = prepare(study_cfg("space=families_grid", "searcher=grid")).plan.search_alg.searcher
    again.restore(str(tmp_path / "grid.pkl"))
    rest = [again.suggest(f"t{i}") for i in range(5, 12)]
    points = [tuple(sorted(p.items())) for p in first + rest]
    assert len(set(points)) == 12 and again.suggest("t12") == "FINISHED"

    plan = prepare(study_cfg("space=families", "searcher=bayes")).plan
    bayes = plan.search_alg.searcher.searcher  # the OptunaSearch inside the concurrency limit
    for i in range(3):
        bayes.suggest(f"t{i}")
        bayes.on_trial_complete(f"t{i}", {"val_acc": 0.5 + i / 10})
    bayes.save(str(tmp_path / "bayes.pkl"))
    restored = prepare(study_cfg("space=families", "searcher=bayes")).plan.search_alg.searcher
    restored.searcher.restore(str(tmp_path / "bayes.pkl"))
    assert len(restored.searcher._ot_study.trials) == 3  # what it learned came back
    config = restored.searcher.suggest("t3")
    assert set(config) == expected_keys(config)
