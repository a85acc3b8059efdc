"""The training loop's parts, without Ray: learning, and exact continuation from a checkpoint."""

from pathlib import Path

import torch
from sklearn.datasets import load_digits

from hpray.build import build_model, build_optimizer
from hpray.checkpoint import TrialState
from hpray.data import make_splits
from hpray.trainable import evaluate, train_epoch, trial_seed

MODEL = {"_target_": "hpray.models.MLP", "layers": 1, "units": 32, "dropout": 0.2}
OPTIM = {"_target_": "torch.optim.SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}
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


def test_an_unreadable_checkpoint_falls_back_to_the_previous_one(tmp_path: Path, caplog) -> None:
    from ray import tune

    state = fresh_state()
    for epoch in (1, 2):
        train_epoch(state, DATA.train, 64)
        state.epoch = epoch
        (tmp_path / f"checkpoint_00000{epoch}").mkdir()
        state.save(tmp_path / f"checkpoint_00000{epoch}")
    (tmp_path / "checkpoint_000002" / "state.pt").write_bytes(b"torn write")

    resumed = fresh_state(seed=5)
    used = resumed.resume(
        tune.Checkpoint.from_directory(tmp_path / "checkpoint_000002"), torch.device("cpu")
    )
    assert used is not None and used.endswith("checkpoint_000001") and resumed.epoch == 1
    assert "unreadable" in caplog.text

    (tmp_path / "checkpoint_000001" / "state.pt").write_bytes(b"")
    again = fresh_state(seed=5)
    assert (
        again.resume(
            tune.Checkpoint.from_directory(tmp_path / "checkpoint_000002"), torch.device("cpu")
        )
        is None
    )
    assert again.epoch == 0 and "starts again from epoch 0" in caplog.text
