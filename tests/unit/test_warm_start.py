"""Configurations to evaluate first and an earlier study's trials, without Ray running: checked
against the space, read from results.csv, put into the Optuna study the searcher loads."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from hpray.config.prepare import prepare
from hpray.errors import ConfigError
from hpray.search.searchers import optuna_distribution
from hpray.search.warm import enqueued, known, optuna_start
from hpray.space import parse_space

BRANIN = ("experiment=branin", "searcher=bayes")
SPACE = parse_space(
    {
        "optim": {"lr": {"type": "loguniform", "low": 1e-4, "high": 0.1}},
        "model": {
            "units": {"type": "int", "low": 16, "high": 128},
            "activation": {"type": "choice", "values": ["relu", "tanh"]},
        },
    }
)


def test_configurations_to_evaluate_first_are_read_as_config_paths() -> None:
    points = [{"optim": {"lr": 0.01}}, {"optim.lr": 0.02, "model.activation": "tanh"}]
    assert enqueued(SPACE, points) == [
        {"optim.lr": 0.01},
        {"optim.lr": 0.02, "model.activation": "tanh"},
    ]


@pytest.mark.parametrize(
    ("point", "key", "words"),
    [
        ({"optim.momentum": 0.9}, "study.enqueue[0].optim.momentum", "not a key of the search"),
        ({"optim.lr": 0.5}, "study.enqueue[0].optim.lr", "ranges from 0.0001 to 0.1"),
        ({"model.units": 32.5}, "study.enqueue[0].model.units", "takes a whole number"),
        ({"model.activation": "gelu"}, "study.enqueue[0].model.activation", "choices are"),
        ("lr=0.1", "study.enqueue[0]", "must be a configuration"),
    ],
)
def test_a_configuration_outside_the_space_is_refused_naming_its_key(
    point: Any, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        enqueued(SPACE, [point])
    assert err.value.key == key and words in err.value.message


def row(status: str, value: str, **params: str) -> dict[str, str]:
    return {
        "trial_id": "t",
        "status": status,
        **params,
        "final_val_acc": value,
        "best_val_acc": value,
        "epochs": "3",
        "stop_reason": "",
    }


def test_an_earlier_studys_finished_trials_are_read_with_the_shared_parameters() -> None:
    rows = [
        row("completed", "0.9", **{"optim.lr": "0.01", "model.units": "64", "model.depth": "3"}),
        row("early_stopped", "0.5", **{"optim.lr": "0.5", "model.activation": "tanh"}),
        row("errored", "", **{"optim.lr": "0.02"}),
        row("diverged", "nan", **{"optim.lr": "0.03"}),
        row("running", "0.7", **{"optim.lr": "0.04"}),
    ]
    seen = known(SPACE, rows, ["val_acc"], "studies/a")
    # lr 0.5 is outside this space's range: that trial keeps its activation only.
    assert seen.trials == [
        ({"optim.lr": 0.01, "model.units": 64}, [0.9]),
        ({"model.activation": "tanh"}, [0.5]),
    ]
    assert isinstance(seen.trials[0][0]["model.units"], int)
    assert seen.left_out == ["model.depth"]
    assert "warm start: 2 finished trials of studies/a" in seen.describe()


def test_the_optuna_study_holds_the_earlier_trials_then_the_configurations_to_run_first() -> None:
    storage = optuna.storages.InMemoryStorage()
    distributions = {p.path: optuna_distribution(p) for p in SPACE.all_params()}
    seen = known(SPACE, [row("completed", "0.9", **{"optim.lr": "0.01"})], ["val_acc"], "a")
    optuna_start(storage, "s", "max", distributions, seen, [{"model.units": 32}])
    study = optuna.load_study(study_name="s", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    done, waiting = study.trials
    assert done.state == optuna.trial.TrialState.COMPLETE and done.params == {"optim.lr": 0.01}
    assert waiting.state == optuna.trial.TrialState.WAITING
    # The first trial asked for is the enqueued one, the rest of it sampled.
    asked = study.ask({k: distributions[k] for k in ("model.units", "optim.lr")})
    assert asked.params["model.units"] == 32 and 1e-4 <= asked.params["optim.lr"] <= 0.1
    # A study kept in a database and resumed gets nothing twice.
    optuna_start(storage, "s", "max", distributions, seen, [{"model.units": 32}])
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2


def earlier_study(directory: Path, metric: str = "value", mode: str = "min") -> None:
    directory.mkdir(parents=True)
    study = {"study": {"name": directory.name, "metric": metric, "mode": mode}}
    (directory / "config.yaml").write_text(yaml.safe_dump(study))
    with (directory / "results.csv").open("w") as f:
        writer = csv.writer(f)
        writer.writerow(["trial_id", "status", "objective.x1", "objective.x2", "final_value"])
        writer.writerow(["a_1", "completed", "1.0", "2.0", "17.5"])


def test_a_warm_start_reads_the_earlier_study_and_writes_nothing_there(
    study_cfg, tmp_path, capsys
) -> None:
    earlier = tmp_path / "earlier"
    earlier_study(earlier)
    before = {p.name: p.stat().st_mtime_ns for p in earlier.iterdir()}
    prepare(study_cfg(*BRANIN, f"study.warm_start={earlier}"))
    said = capsys.readouterr().err
    assert f"warm start: 1 finished trials of {earlier} (shared parameters: objective.x1, " in said
    assert {p.name: p.stat().st_mtime_ns for p in earlier.iterdir()} == before


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["study.warm_start={root}/nowhere"], "is not a study directory (no config.yaml"),
        (["study.warm_start={root}/other_metric"], "studied value (max), this study value (min)"),
        (["study.warm_start={root}/studies/branin"], "is this study"),
        (["study.warm_start={root}/earlier", "searcher=random"], "random search does not learn"),
        (["study.warm_start={root}/earlier", "searcher=grid"], "grid search runs every"),
    ],
)
def test_a_warm_start_that_cannot_be_used_is_refused_naming_the_key(
    study_cfg, tmp_path, overrides: list[str], words: str
) -> None:
    earlier_study(tmp_path / "earlier")
    earlier_study(tmp_path / "other_metric", mode="max")
    earlier_study(tmp_path / "studies" / "branin")
    with pytest.raises(ConfigError) as err:
        prepare(study_cfg(*BRANIN, *(o.format(root=tmp_path) for o in overrides)))
    assert err.value.key == "study.warm_start" and words in err.value.message, err.value
