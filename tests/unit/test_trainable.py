"""The training loop's parts, without Ray: learning, and exact continuation from a checkpoint."""

import json
from pathlib import Path

import pytest
import torch
from ray import tune
from sklearn.datasets import load_digits

from hpray import space
from hpray.config.build import build_estimator, build_model, build_optimizer
from hpray.config.prepare import prepare
from hpray.data import Split, make_splits
from hpray.store.layout import FUNCTION_STATE_FILE, META_FILE
from hpray.trial.builtin import Learner, checkpoint, make_learner, resume
from hpray.trial.context import trial_seed
from hpray.trial.estimator_learner import EstimatorLearner
from hpray.trial.state import SavedState, TrialState, values_id
from hpray.trial.torch_learner import TorchLearner

MODEL = {"_target_": "hpray.models.MLP", "layers": 1, "units": 32, "dropout": 0.2}
OPTIM = {"_target_": "torch.optim.SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}
CPU = torch.device("cpu")
DATA = make_splits(*load_digits(return_X_y=True), shape=None, seed=0, val=0.2, test=0.2)


def fresh_learner(seed: int = 7) -> TorchLearner:
    torch.manual_seed(seed)
    model = build_model(MODEL, DATA.input_shape, DATA.n_classes)
    return TorchLearner(
        model,
        build_optimizer(OPTIM, model.parameters()),
        torch.Generator().manual_seed(seed),
        DATA.train,
        DATA.val,
        batch_size=64,
    )


def saved(learners: list[Learner], epoch: int, history: list | None = None) -> TrialState:
    """The trial's state as the built-in trial reports it through hpray.report."""
    return TrialState(SavedState(checkpoint(learners, epoch)), epoch, list(history or []))


def loaded(directory: Path, learners: list[Learner]) -> int:
    """Load a stored checkpoint into ``learners``, as a resumed trial does; its epoch."""
    state = TrialState()
    state.load(directory, CPU)
    assert resume(learners, state.saved.state, CPU) == state.epoch
    return state.epoch


def train_epoch(learner: Learner) -> float:
    return learner.step(1, 1)


def test_training_learns_digits() -> None:
    learner = fresh_learner()
    before = learner.score()
    for _ in range(5):
        train_epoch(learner)
    after = learner.score()
    assert after["val_loss"] < before["val_loss"] and after["val_acc"] > 0.9


def test_a_resumed_trial_continues_exactly(tmp_path: Path) -> None:
    straight = fresh_learner()
    losses = [train_epoch(straight) for _ in range(4)]

    first = fresh_learner()
    resumed = [train_epoch(first) for _ in range(2)]
    saved([first], 2).save(tmp_path)
    torch.manual_seed(123)  # the resumed process starts from other RNG states
    second = fresh_learner(seed=99)
    assert loaded(tmp_path, [second]) == 2
    resumed += [train_epoch(second) for _ in range(2)]
    assert resumed == losses  # bit-identical: weights, optimizer, shuffling and dropout RNG


def test_momentum_maps_to_adams_first_beta() -> None:
    model = build_model(MODEL, DATA.input_shape, DATA.n_classes)
    adam = build_optimizer({**OPTIM, "_target_": "torch.optim.AdamW"}, model.parameters())
    assert adam.param_groups[0]["betas"] == (0.9, 0.999)
    sgd = build_optimizer(OPTIM, model.parameters())
    assert sgd.param_groups[0]["momentum"] == 0.9


def test_trial_seed_depends_on_study_seed_and_index_only() -> None:
    assert trial_seed(0, "abcde_00001") == trial_seed(0, "fghij_00001")
    assert len({trial_seed(s, f"x_{i:05d}") for s in range(3) for i in range(50)}) == 150


def checkpointed(tmp_path: Path, epochs: int) -> None:
    """checkpoint_000000 .. for epochs 1..N, each holding its metric history."""
    learner, history = fresh_learner(), []
    for epoch in range(1, epochs + 1):
        history.append({"epoch": epoch, "train_loss": train_epoch(learner)})
        directory = tmp_path / f"checkpoint_{epoch - 1:06d}"
        directory.mkdir()
        saved([learner], epoch, history).save(directory)


def test_resume_takes_the_newest_checkpoint_and_reports_what_ray_missed(tmp_path: Path) -> None:
    checkpointed(tmp_path, 3)
    state = TrialState()
    # The snapshot knew epoch 1; the trial had written epochs 2 and 3 before the kill.
    seen = state.resume(tune.Checkpoint.from_directory(tmp_path / "checkpoint_000000"), CPU)
    assert (seen, state.epoch) == (1, 3)
    assert [m["epoch"] for m in state.history[seen:]] == [2, 3]


def test_resume_takes_the_last_written_checkpoint_and_a_copy_takes_its_own(
    tmp_path: Path,
) -> None:
    """Under PBT a trial's last state can be of an earlier epoch than one it had before it
    copied another trial; and a copy of another trial's checkpoint is that one, never that
    trial's later ones."""
    checkpointed(tmp_path, 4)  # checkpoint_000000..3: epochs 1..4
    (tmp_path / "checkpoint_000002").rename(tmp_path / "checkpoint_000005")  # epoch 3, last
    handed = tune.Checkpoint.from_directory(tmp_path / "checkpoint_000000")
    state = TrialState()
    assert (state.resume(handed, CPU), state.epoch) == (1, 3)
    copy = TrialState()
    assert (copy.resume(handed, CPU, alone=True), copy.epoch) == (1, 1)


def test_a_newer_checkpoint_trained_with_other_values_is_not_the_trials(tmp_path: Path) -> None:
    """PBT changed the trial's values and it checkpointed under them; the run was killed
    before the snapshot recorded the change: resumed with the old values, it takes the
    snapshot's checkpoint, not one of a model it no longer has."""
    checkpointed(tmp_path, 3)
    newer = json.loads((tmp_path / "checkpoint_000002" / META_FILE).read_text())
    (tmp_path / "checkpoint_000002" / META_FILE).write_text(
        json.dumps({**newer, "values": values_id({"model.units": 345})})
    )
    handed = tune.Checkpoint.from_directory(tmp_path / "checkpoint_000001")
    state = TrialState(values_id=values_id({"model.units": 402}))
    assert (state.resume(handed, CPU), state.epoch) == (2, 2)
    same = TrialState(values_id=values_id({"model.units": 345}))
    assert (same.resume(handed, CPU), same.epoch) == (2, 3)


def test_an_unreadable_checkpoint_falls_back_to_the_previous_one(tmp_path: Path, caplog) -> None:
    checkpointed(tmp_path, 2)
    (tmp_path / "checkpoint_000001" / FUNCTION_STATE_FILE).write_bytes(b"torn write")
    state = TrialState()
    assert state.resume(tune.Checkpoint.from_directory(tmp_path / "checkpoint_000001"), CPU) == 2
    assert state.epoch == 1 and len(state.history) == 1
    assert "unreadable" in caplog.text

    (tmp_path / "checkpoint_000000" / FUNCTION_STATE_FILE).write_bytes(b"")
    again = TrialState()
    assert again.resume(tune.Checkpoint.from_directory(tmp_path / "checkpoint_000001"), CPU) == 0
    assert again.epoch == 0 and again.history == []
    assert "starts again from epoch 0" in caplog.text


def test_handed_a_placeholder_the_trial_resumes_from_its_newest_checkpoint(tmp_path: Path) -> None:
    checkpointed(tmp_path, 3)
    (tmp_path / "checkpoint_000007").mkdir()  # what resume.fill_checkpoint_gaps leaves
    state = TrialState()
    seen = state.resume(tune.Checkpoint.from_directory(tmp_path / "checkpoint_000007"), CPU)
    assert (seen, state.epoch) == (0, 3)  # nothing known: the whole history is re-reported


def test_fold_states_save_into_one_checkpoint_and_continue_exactly(tmp_path: Path) -> None:
    def two_folds(seed: int) -> list[Learner]:
        return [fresh_learner(seed), fresh_learner(seed + 1)]

    def step(learners: list[Learner]) -> list[float]:
        return [learner.step(1, 1) for learner in learners]

    straight = two_folds(7)
    expected = [step(straight) for _ in range(3)]
    first = two_folds(7)
    got = [step(first)]
    saved(first, 1).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [FUNCTION_STATE_FILE, "meta.json"]
    second = two_folds(50)
    assert loaded(tmp_path, second) == 1
    got += [step(second) for _ in range(2)]
    assert got == expected


def grown() -> EstimatorLearner:
    node = {"_target_": "sklearn.ensemble.GradientBoostingClassifier", "n_estimators": 8}
    return EstimatorLearner(build_estimator(node, seed=3, n_jobs=1), DATA.train, DATA.val)


def test_an_ensemble_grows_over_the_budget_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    straight = grown()
    sizes, scores = [], []
    for epoch in range(1, 5):
        straight.step(epoch, 4)
        sizes.append(straight.estimator.n_estimators_)
        scores.append(straight.score())
    assert sizes == [2, 4, 6, 8]  # ceil(8 * e / 4) stages at epoch e
    assert scores[-1]["val_acc"] > 0.8 and scores[-1]["val_loss"] < scores[0]["val_loss"]

    first = grown()
    for epoch in (1, 2):
        first.step(epoch, 4)
    saved([first], 2).save(tmp_path)
    learner = grown()
    assert loaded(tmp_path, [learner]) == 2
    assert learner.fitted == 4
    for epoch in (3, 4):
        learner.step(epoch, 4)
    assert learner.score() == scores[-1]  # the same model as fitted straight through


def test_an_svm_without_probabilities_reports_its_hinge_loss() -> None:
    node = {"_target_": "sklearn.svm.SVC", "C": 1.0}
    svm = EstimatorLearner(build_estimator(node, seed=0, n_jobs=1), DATA.train, DATA.val)
    assert not svm.iterative
    train_loss = svm.step(5, 5)
    scored = svm.score()
    val_loss, val_acc = scored["val_loss"], scored["val_acc"]
    assert val_acc > 0.9 and 0 <= train_loss < val_loss


@pytest.mark.parametrize(
    ("overrides", "grows"),
    [
        (["model._target_=sklearn.ensemble.ExtraTreesClassifier"], True),
        (
            [
                "model._target_=sklearn.tree.DecisionTreeClassifier",
                "~model.n_estimators",
                "model.n_jobs=1",
                "~model.n_jobs",
                "~space.model.n_estimators",
            ],
            False,
        ),
    ],
)
def test_any_estimator_a_user_names_is_a_learner(study_cfg, overrides, grows: bool) -> None:  # type: ignore[no-untyped-def]
    study = prepare(study_cfg("model=random_forest", "space.model.max_depth.low=8", *overrides))
    assert study.uses_torch is False
    config = space.apply(study.base, space.examples(space.parse_space(study.config["space"]))[0])
    learner = make_learner(config, DATA, CPU, seed=1)
    assert isinstance(learner, EstimatorLearner) and learner.iterative is grows
    learner.step(4, 4)
    assert learner.score()["val_acc"] > 0.7  # chance is 0.1


class _Seen(torch.nn.Module):
    """A linear classifier that records which rows (their first feature) it trained on."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.rows: list[list[int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.rows.append([int(v) for v in x[:, 0]])
        return self.linear(x)


def test_each_rank_of_a_distributed_trial_trains_on_its_share_of_every_batch() -> None:
    """Rank r of N takes rows r, r+N, ... of each shuffled batch (the same shuffle on every
    rank): together the ranks see each row once per epoch, batch by batch, as one process
    would. Without DDP here: the split of the data is what is checked."""
    x = torch.stack([torch.arange(10.0), torch.zeros(10)], dim=1)
    split = Split(x, torch.zeros(10, dtype=torch.int64))
    seen = []
    for rank in (0, 1):
        model = _Seen()
        learner = TorchLearner(
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            shuffle=torch.Generator().manual_seed(0),
            train=split,
            val=split,
            batch_size=4,
            share=(rank, 2),
        )
        train_epoch(learner)
        seen.append(model.rows)
    assert [len(b) for b in seen[0]] == [2, 2, 1] and [len(b) for b in seen[1]] == [2, 2, 1]
    for mine, theirs in zip(*seen, strict=True):
        assert not set(mine) & set(theirs)  # a batch split between the ranks
    assert sorted(v for rank in seen for batch in rank for v in batch) == list(range(10))
