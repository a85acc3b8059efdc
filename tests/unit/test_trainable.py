"""The training loop's parts, without Ray: learning, and exact continuation from a checkpoint."""

from pathlib import Path

import torch
from ray import tune
from sklearn.datasets import load_digits

from hpray.build import build_model, build_optimizer
from hpray.checkpoint import TrialState
from hpray.data import make_splits
from hpray.trainable import evaluate, train_epoch, trial_seed

MODEL = {"_target_": "hpray.models.MLP", "layers": 1, "units": 32, "dropout": 0.2}
OPTIM = {"_target_": "torch.optim.SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}
CPU = torch.device("cpu")
DATA = make_splits(*load_digits(return_X_y=True), shape=None, seed=0, val=0.2, test=0.2)


def fresh_state(seed: int = 7) -> TrialState:
    torch.manual_seed(seed)
    model = build_model(MODEL, DATA.input_shape, DATA.n_classes)
    return TrialState(
        model, build_optimizer(OPTIM, model.parameters()), torch.Generator().manual_seed(seed)
    )


def test_training_learns_digits() -> None:
    state = fresh_state()
    before = evaluate(state.model, DATA.val)
    for _ in range(5):
        train_epoch(state, DATA.train, batch_size=64)
    loss, acc = evaluate(state.model, DATA.val)
    assert loss < before[0] and acc > 0.9


def test_a_resumed_trial_continues_exactly(tmp_path: Path) -> None:
    straight = fresh_state()
    losses = [train_epoch(straight, DATA.train, 64) for _ in range(4)]

    first = fresh_state()
    resumed = [train_epoch(first, DATA.train, 64) for _ in range(2)]
    first.epoch = 2
    first.save(tmp_path)
    torch.manual_seed(123)  # the resumed process starts from other RNG states
    second = fresh_state(seed=99)
    second.load(tmp_path, torch.device("cpu"))
    assert second.epoch == 2
    resumed += [train_epoch(second, DATA.train, 64) for _ in range(2)]
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
    state = fresh_state()
    for epoch in range(1, epochs + 1):
        loss = train_epoch(state, DATA.train, 64)
        state.epoch = epoch
        state.history.append({"epoch": epoch, "train_loss": loss})
        directory = tmp_path / f"checkpoint_{epoch - 1:06d}"
        directory.mkdir()
        state.save(directory)


def test_resume_takes_the_newest_checkpoint_and_reports_what_ray_missed(tmp_path: Path) -> None:
    checkpointed(tmp_path, 3)
    state = fresh_state(seed=5)
    # The snapshot knew epoch 1; the trial had written epochs 2 and 3 before the kill.
    seen = state.resume(tune.Checkpoint.from_directory(tmp_path / "checkpoint_000000"), CPU)
    assert (seen, state.epoch) == (1, 3)
    assert [m["epoch"] for m in state.history[seen:]] == [2, 3]


def test_an_unreadable_checkpoint_falls_back_to_the_previous_one(tmp_path: Path, caplog) -> None:
    checkpointed(tmp_path, 2)
    (tmp_path / "checkpoint_000001" / "state.pt").write_bytes(b"torn write")
    state = fresh_state(seed=5)
    assert state.resume(tune.Checkpoint.from_directory(tmp_path / "checkpoint_000001"), CPU) == 2
    assert state.epoch == 1 and len(state.history) == 1
    assert "unreadable" in caplog.text

    (tmp_path / "checkpoint_000000" / "state.pt").write_bytes(b"")
    again = fresh_state(seed=5)
    assert again.resume(tune.Checkpoint.from_directory(tmp_path / "checkpoint_000001"), CPU) == 0
    assert again.epoch == 0 and again.history == []
    assert "starts again from epoch 0" in caplog.text


def test_handed_a_placeholder_the_trial_resumes_from_its_newest_checkpoint(tmp_path: Path) -> None:
    checkpointed(tmp_path, 3)
    (tmp_path / "checkpoint_000007").mkdir()  # what resume.fill_checkpoint_gaps leaves
    state = fresh_state(seed=5)
    seen = state.resume(tune.Checkpoint.from_directory(tmp_path / "checkpoint_000007"), CPU)
    assert (seen, state.epoch) == (0, 3)  # nothing known: the whole history is re-reported
