"""A Hydra sweeper's params (Hydra's override grammar) read as hpray's space, with the meaning
Hydra's Optuna sweeper gives each form."""

import pytest

from hpray.config.build import build_search
from hpray.config.optuna_sweeper import GRID, settings_from_sweeper, space_from_params
from hpray.errors import ConfigError
from hpray.space import parse_space


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("choice(32, 64, 128)", {"type": "choice", "values": [32, 64, 128]}),
        ("choice(adam, sgd)", {"type": "choice", "values": ["adam", "sgd"]}),
        ("interval(0.0, 0.5)", {"type": "uniform", "low": 0.0, "high": 0.5}),
        ("tag(log, interval(1e-4, 1e-1))", {"type": "loguniform", "low": 1e-4, "high": 0.1}),
        ("interval(1, 5)", {"type": "uniform", "low": 1.0, "high": 5.0}),  # Hydra: floats
        ("int(interval(1, 5))", {"type": "int", "low": 1, "high": 5}),
        ("tag(log, int(interval(8, 512)))", {"type": "int", "low": 8, "high": 512, "log": True}),
        ("range(1, 9)", {"type": "int", "low": 1, "high": 9}),  # stop included, as Optuna's
        ("range(16, 256, 16)", {"type": "int", "low": 16, "high": 256, "q": 16}),
        ("range(0.1, 0.5, 0.1)", {"type": "uniform", "low": 0.1, "high": 0.5, "q": 0.1}),
        ("shuffle(range(1, 4))", {"type": "choice", "values": [1, 2, 3]}),
        ("5", 5),
        ("relu", "relu"),
    ],
)
def test_each_form_means_what_the_optuna_sweeper_makes_of_it(text: str, expected) -> None:  # type: ignore[no-untyped-def]
    found = space_from_params({"model.x": text})["model"]["x"]
    if expected == {"type": "choice", "values": [1, 2, 3]}:
        assert found["type"] == "choice" and sorted(found["values"]) == [1, 2, 3]
    else:
        assert found == expected


def test_the_space_nests_by_the_keys_and_parses_as_hpray_space() -> None:
    space = space_from_params(
        {
            "model.optimizer.lr": "tag(log, interval(0.0001, 0.1))",
            "model.net.lin1_size": "choice(32, 64, 128, 256)",
            "data.batch_size": "choice(32, 64, 128)",
        }
    )
    parsed = parse_space(space)
    assert {p.path for p in parsed.params} == {
        "model.optimizer.lr",
        "model.net.lin1_size",
        "data.batch_size",
    }
    assert next(p for p in parsed.params if p.path == "model.optimizer.lr").log


def test_what_hpray_cannot_sample_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        space_from_params({"model.lr": "glob(*)"})
    assert err.value.key == "hydra.sweeper.params.model.lr"
    with pytest.raises(ConfigError) as err:
        space_from_params({"model.lr": "interval(0.1"})
    assert err.value.key == "hydra.sweeper.params.model.lr"


# lightning-hydra-template's configs/hparams_search/mnist_optuna.yaml, its sweeper block.
TEMPLATE = {
    "_target_": "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",
    "storage": None,
    "study_name": None,
    "n_jobs": 1,
    "direction": "maximize",
    "n_trials": 20,
    "sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 1234, "n_startup_trials": 10},
    "params": {
        "model.optimizer.lr": "interval(0.0001, 0.1)",
        "data.batch_size": "choice(32, 64, 128, 256)",
        "model.net.lin1_size": "choice(64, 128, 256)",
        "model.net.lin2_size": "choice(64, 128, 256)",
        "model.net.lin3_size": "choice(32, 64, 128, 256)",
    },
}


def test_an_optuna_sweeper_block_is_hprays_study_searcher_and_space() -> None:
    settings = settings_from_sweeper(TEMPLATE)
    assert settings["study"] == {"mode": "max", "num_samples": 20, "max_concurrent": 1}
    parsed = parse_space(settings["space"])
    assert len(parsed.params) == 5
    plan = build_search(
        settings["searcher"], parsed, num_samples=20, limit=1, metric="val/acc", mode="max"
    )
    assert "TPESampler, 20 trials" in plan.description and plan.cap == 1


def test_a_grid_sampler_is_hprays_grid_and_unknown_forms_are_refused() -> None:
    grid = settings_from_sweeper({**TEMPLATE, "sampler": {"_target_": GRID}})
    assert grid["searcher"]["_target_"] == "hpray.search.searchers.grid_search"
    several = settings_from_sweeper({**TEMPLATE, "direction": ["maximize", "minimize"]})
    assert several["study"]["mode"] == ["max", "min"]  # one per metric of study.metric
    with pytest.raises(ConfigError) as err:
        settings_from_sweeper({**TEMPLATE, "direction": ["maximize", "upward"]})
    assert err.value.key == "hydra.sweeper.direction"
    with pytest.raises(ConfigError) as err:
        settings_from_sweeper({**TEMPLATE, "custom_search_space": "app.space"})
    assert err.value.key == "hydra.sweeper.custom_search_space"
