"""Population based training without Ray running: the mutations from the space, the checks,
what the scheduler's saved state leaves out, and new optimizer settings taken in place."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import torch
from ray.tune.schedulers import PopulationBasedTraining

from hpray.config.prepare import prepare
from hpray.driver.scheduler_state import SchedulerState
from hpray.errors import ConfigError
from hpray.search.schedulers import PB2, Within, pb2, pbt
from hpray.space import parse_space
from hpray.trial.torch_learner import TorchLearner

SPACE = parse_space(
    {
        "optim": {
            "_target_": {"type": "choice", "values": ["torch.optim.SGD", "torch.optim.AdamW"]},
            "lr": {"type": "loguniform", "low": 1e-4, "high": 0.1},
            "momentum": {"type": "uniform", "low": 0.8, "high": 0.99},
        },
        "model": {"units": {"type": "int", "low": 16, "high": 128}},
    }
)


def test_pbt_changes_the_leaves_under_mutate_but_never_a_class() -> None:
    scheduler = pbt(SPACE, mutate=["optim"], metric="val_acc", mode="max")
    assert isinstance(scheduler, PopulationBasedTraining)
    explore = Within({"optim.lr": (1e-4, 0.1), "optim.momentum": (0.8, 0.99)})
    assert explore({"optim.lr": 0.5, "optim.momentum": 0.5, "model.units": 999}) == {
        "optim.lr": 0.1,
        "optim.momentum": 0.8,
        "model.units": 999,  # not PBT's to change: kept as the copied trial has it
    }


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"mutate": ["train"]}, "scheduler.mutate"),
        ({"mutate": ["optim._target_"]}, "scheduler.mutate"),  # a class is never mutated
        ({"perturbation_interval": 3, "checkpoint_every": 2}, "study.checkpoint_every"),
    ],
)
def test_a_pbt_that_cannot_work_is_refused_naming_the_key(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        pbt(SPACE, **kwargs)
    assert err.value.key == key


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["searcher=bayes"], "searcher"),  # PBT makes its own configurations
        (["space=families"], "scheduler"),  # branches: no one set of keys to evolve
        (["study.metric=[val_acc,params]", "study.mode=[max,min]"], "scheduler.metric"),
    ],
)
def test_a_pbt_study_refuses_what_pbt_cannot_use(study_cfg, overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        prepare(study_cfg("scheduler=pbt", *overrides))
    assert err.value.key == key


def test_the_default_study_runs_under_pbt_and_pb2(study_cfg) -> None:
    study = prepare(study_cfg("scheduler=pbt"))
    assert isinstance(study.scheduler, PopulationBasedTraining)
    study = prepare(study_cfg("scheduler=pb2"))
    assert isinstance(study.scheduler, PB2)
    assert study.scheduler._hyperparam_bounds == {  # the optimizer's floats, the class kept
        "optim.lr": [1e-4, 0.2],
        "optim.momentum": [0.8, 0.99],
        "optim.weight_decay": [1e-6, 1e-2],
    }


@pytest.mark.parametrize("name", ["pbt", "pb2"])
def test_a_study_of_two_metrics_evolves_by_the_one_scheduler_metric_names(
    study_cfg, name: str
) -> None:
    study = prepare(
        study_cfg(
            f"scheduler={name}",
            "study.metric=[val_acc,params]",
            "study.mode=[max,min]",
            "scheduler.metric=params",
        )
    )
    assert study.scheduler.metric == "params"
    assert study.scheduler._metric_op == -1.0  # ranked by the study's mode for it: min


def test_pb2_moves_continuous_leaves_only() -> None:
    with pytest.raises(ConfigError, match=r"model\.units") as err:
        pb2(SPACE, mutate=["optim", "model"], metric="val_acc", mode="max")
    assert err.value.key == "scheduler.mutate"
    scheduler = pb2(SPACE, metric="val_acc", mode="max")
    assert scheduler.budget == ("epoch", None)
    # Its float32 arithmetic lands a hair outside a bound: put back inside.
    assert scheduler._custom_explore_fn({"optim.lr": 9.999999747378752e-05}) == {"optim.lr": 1e-4}


def test_what_pbt_knows_of_each_trial_survives_a_resume() -> None:
    """Kept by trial id (the Trial objects are new on resume) and put back as each is added:
    a resumed run goes on from the perturbation times the killed one had reached."""
    from types import SimpleNamespace

    from ray.tune.experiment import Trial

    from hpray import internals

    scheduler = pbt(SPACE, metric="val_acc", mode="max")
    scheduler._num_perturbations = 3
    trial = Trial("f", stub=True, config={})
    controller = SimpleNamespace(search_alg=None, get_trials=lambda: [trial])
    scheduler.on_trial_add(controller, trial)
    scheduler.on_trial_result(controller, trial, {"epoch": 2, "val_acc": 0.5})
    saved = SchedulerState(scheduler).get_state()
    assert "_trial_state" not in pickle.loads(saved["scheduler"])  # Trial objects: not kept

    restored = pbt(SPACE, metric="val_acc", mode="max")
    SchedulerState(restored).set_state(saved)
    restored.on_trial_add(controller, Trial("f", stub=True, config={}, trial_id=trial.trial_id))
    state = internals.pbt_trial_states(restored)[trial.trial_id]
    assert state["last_perturbation_time"] == state["last_train_time"] == 2
    assert state["last_score"] == 0.5 and restored._num_perturbations == 3
    fresh = Trial("f", stub=True, config={})
    restored.on_trial_add(controller, fresh)  # a trial the killed run never had
    assert internals.pbt_trial_states(restored)[fresh.trial_id]["last_perturbation_time"] == 0


def test_new_optimizer_settings_are_taken_in_place_with_the_copied_state() -> None:
    def learner(lr: float) -> TorchLearner:
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        return TorchLearner(
            model=model,
            optimizer=optimizer,
            shuffle=torch.Generator().manual_seed(0),
            train=None,  # type: ignore[arg-type]
            val=None,  # type: ignore[arg-type]
            batch_size=4,
            loss=torch.nn.CrossEntropyLoss(),
            task="classification",
        )

    donor = learner(0.5)
    donor.model(torch.ones(1, 3)).sum().backward()
    donor.optimizer.step()  # a momentum buffer to copy
    copied = learner(0.01)
    copied.load_state_dict(donor.state_dict(), torch.device("cpu"))
    assert copied.optimizer.param_groups[0]["lr"] == 0.01  # this trial's setting
    assert torch.equal(copied.model.weight, donor.model.weight)  # the donor's weights
    buffer = copied.optimizer.state[copied.optimizer.param_groups[0]["params"][0]]
    assert "momentum_buffer" in buffer  # and its optimizer state
