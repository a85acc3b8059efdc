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
from hpray.search.schedulers import Within, pbt
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
    ],
)
def test_a_pbt_study_refuses_what_pbt_cannot_use(study_cfg, overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        prepare(study_cfg("scheduler=pbt", *overrides))
    assert err.value.key == key


def test_the_default_study_runs_under_pbt(study_cfg) -> None:
    study = prepare(study_cfg("scheduler=pbt"))
    assert isinstance(study.scheduler, PopulationBasedTraining)


class Trial:
    trial_id = "t_1"


def test_the_saved_scheduler_state_leaves_out_what_is_kept_per_trial_object() -> None:
    scheduler = pbt(SPACE, metric="val_acc", mode="max")
    scheduler._trial_state = {Trial(): "state"}  # as PBT keeps its trials
    scheduler._num_perturbations = 3
    saved = pickle.loads(SchedulerState(scheduler).get_state()["scheduler"])
    assert "_trial_state" not in saved and saved["_num_perturbations"] == 3


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
