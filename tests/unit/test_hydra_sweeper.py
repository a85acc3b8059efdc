"""The hpray sweeper's settings, read without running an app or Ray."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

from hpray.config.app import OPTUNA, option, override, study_config, sweeper_node
from hpray.config.schema import StudySettings
from hpray.errors import ConfigError
from hpray.sweeper import split_arguments

APP = OmegaConf.create(
    {"optimized_metric": "val/acc", "trainer": {"max_epochs": 7}, "model": {"lr": 0.1}}
)


def test_hydra_finds_the_sweeper_and_its_config_lists_every_setting() -> None:
    assert "HpraySweeper" in [c.__name__ for c in Plugins.instance().discover(Sweeper)]
    node = sweeper_node("x.Sweeper")
    assert set(node["study"]) == set(StudySettings.__dataclass_fields__)
    assert set(OPTUNA) <= set(node) and node["study"]["metric"] is None
    assert node["k8s"]["workers"]["max"] is None  # nested blocks too: no `+` needed


def test_what_the_app_says_fills_the_study() -> None:
    config = study_config(
        {"space": {"model.lr": {"type": "uniform", "low": 0, "high": 1}}}, APP, "mnist search"
    )
    study = config["study"]
    assert (study["name"], study["metric"], study["mode"]) == ("mnist_search", "val/acc", "min")
    assert study["epochs"] == 7 and config["scheduler"]["max_t"] == 7  # ASHA on its budget
    assert config["searcher"]["_target_"].endswith("random_search")
    assert config["space"] == {"model": {"lr": {"type": "uniform", "low": 0, "high": 1}}}
    assert config["ray"]["address"] is None and config["k8s"]["workers"]["max"] == 4


def test_an_app_with_no_epoch_budget_is_run_first_in_first_out() -> None:
    config = study_config({"params": {"model.lr": "interval(0.1, 1)"}}, {}, "app")
    assert config["scheduler"]["_target_"].endswith("FIFOScheduler")
    assert config["study"]["epochs"] == 1 and config["study"]["metric"] == "objective"
    assert config["searcher"]["sampler"]["_target_"] == "optuna.samplers.TPESampler"  # Optuna's


def test_an_option_is_named_with_some_of_its_keys_changed() -> None:
    config = study_config(
        {"scheduler": {"name": "pbt", "mutate": ["model"], "perturbation_interval": 4}}, APP, "a"
    )
    scheduler = config["scheduler"]
    assert scheduler["_target_"] == "hpray.search.schedulers.pbt"  # hpray's option,
    assert (scheduler["mutate"], scheduler["perturbation_interval"]) == (["model"], 4)  # changed
    assert scheduler["budget"] == 7 and scheduler["quantile_fraction"] == 0.25  # the rest kept


def test_the_optuna_sweeper_s_keys_keep_their_meaning() -> None:
    config = study_config(
        {
            "direction": "maximize",
            "n_trials": 12,
            "n_jobs": 3,
            "study_name": "s",
            "storage": "sqlite:///optuna.db",
            "sampler": {"_target_": "optuna.samplers.RandomSampler", "seed": 5},
            "params": {"model.lr": "tag(log, interval(0.001, 0.1))"},
        },
        APP,
        "app",
    )
    study = config["study"]
    assert (study["mode"], study["num_samples"], study["max_concurrent"]) == ("max", 12, 3)
    assert config["searcher"]["sampler"] == {"_target_": "optuna.samplers.RandomSampler", "seed": 5}
    assert config["searcher"]["storage"] == "sqlite:///optuna.db"
    assert config["searcher"]["study_name"] == "s"
    assert config["space"]["model"]["lr"] == {"type": "loguniform", "low": 0.001, "high": 0.1}


@pytest.mark.parametrize(
    ("node", "key", "words"),
    [
        ({"n_trails": 3}, "hydra.sweeper.n_trails", "is not a setting"),
        ({"direction": "maximize", "study": {"mode": "min"}}, "hydra.sweeper.study.mode", "one"),
        ({"searcher": "tpe"}, "hydra.sweeper.searcher", "'bayes'"),
        ({"scheduler": {"name": "hyperband"}}, "hydra.sweeper.scheduler", "'asha'"),
        (
            {"searcher": "bayes", "sampler": {"_target_": "optuna.samplers.TPESampler"}},
            "hydra.sweeper.searcher",
            "not both",
        ),
        (
            {"space": {"model.lr": 0.1}, "params": {"model.lr": "choice(1, 2)"}},
            "hydra.sweeper.params.model.lr",
            "twice",
        ),
        ({"storage": "sqlite:///x.db"}, "hydra.sweeper.storage", "Optuna searcher"),
        ({"max_failure_rate": 0.5}, "hydra.sweeper.max_failure_rate", "retried"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(node: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as raised:
        study_config(node, APP, "app")
    assert raised.value.key == key


@pytest.mark.parametrize(
    "value", [0.001, 1e-05, 3, "relu", "1", "true", True, None, [1, 2], "a b", "it's", "/a/b"]
)
def test_a_trial_s_value_goes_through_hydra_s_command_line_unchanged(value: object) -> None:
    parsed = OverridesParser.create().parse_override(override("model.x", value))
    assert parsed.key_or_group == "model.x" and parsed.value() == value


def test_sweeps_on_the_command_line_join_the_space() -> None:
    fixed, swept = split_arguments(["hparams_search=x", "model.lr=interval(0.1,1)", "seed=3"])
    assert fixed == ["hparams_search=x", "seed=3"]
    assert swept == {"model.lr": "interval(0.1,1)"}


def test_an_optuna_storage_keeps_the_optuna_study_in_that_database(tmp_path: Path) -> None:
    import optuna

    from hpray.config.prepare import search_plan
    from hpray.config.settings import study_settings
    from hpray.space import parse_space

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = study_config(
        {"storage": url, "study_name": "kept", "params": {"model.lr": "interval(0.1, 1)"}},
        APP,
        "app",
    )
    plan = search_plan(config["searcher"], study_settings(config), parse_space(config["space"]))
    searcher = plan.search_alg.searcher.searcher  # generator -> concurrency limit -> OptunaSearch
    proposed = searcher.suggest("t1")
    searcher.on_trial_complete("t1", {"val/acc": 0.5, **proposed})
    trials = optuna.load_study(study_name="kept", storage=url).trials
    assert [(t.params, t.value) for t in trials] == [(proposed, 0.5)]


@pytest.mark.parametrize("verbose", [False, True])
def test_a_trial_s_app_output_goes_to_its_console_log_unless_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verbose: bool
) -> None:
    from hpray.trial.app import CONSOLE_LOG, AppJob

    job = AppJob(None, print, OmegaConf.create(), [], str(tmp_path), None, verbose=verbose)  # type: ignore[arg-type]
    composed = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path), "subdir": "t_1"}}})
    with job.console(composed):
        print("the app's line")
    log = tmp_path / "t_1" / CONSOLE_LOG
    assert (log.read_text() if log.is_file() else None) == (None if verbose else "the app's line\n")
    assert ("the app's line" in capsys.readouterr().out) == verbose


def test_a_sweepers_resources_change_the_default_options_keys() -> None:
    """hydra.sweeper.resources.workers=2 alone: the rest is resources=auto's, as in `hpray tune`."""
    assert option("resources", {"workers": 2}) == {**option("resources", "auto"), "workers": 2}
    assert option("resources", {"name": "cpu", "workers": 2})["gpu"] == 0
