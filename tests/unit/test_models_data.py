"""Models and data: shapes, inits, splits fixed by their seed, scaling from train only."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from hpray.data import load_csv, load_npz, make_splits
from hpray.errors import ConfigError
from hpray.models import CNN, MLP


@pytest.mark.parametrize("init", ["kaiming", "xavier", "orthogonal", "default"])
@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh", "silu", "leaky_relu"])
def test_models_forward_every_activation_and_init(init: str, activation: str) -> None:
    x = torch.randn(4, 1, 8, 8)
    for model in (
        MLP((1, 8, 8), 10, layers=2, units=16, dropout=0.1, activation=activation, init=init),
        CNN((1, 8, 8), 10, channels=4, blocks=3, units=8, activation=activation, init=init),
    ):
        assert model(x).shape == (4, 10)


def test_mlp_depth_and_cnn_shape_check() -> None:
    assert (
        sum(isinstance(m, torch.nn.Linear) for m in MLP((64,), 3, layers=3, units=5).modules()) == 4
    )
    assert sum(isinstance(m, torch.nn.Linear) for m in MLP((64,), 3, layers=0).modules()) == 1
    with pytest.raises(ValueError, match="image-shaped"):
        CNN((64,), 10)


def test_splits_are_fixed_by_the_seed_and_stratified() -> None:
    x, y = load_digits(return_X_y=True)
    a = make_splits(x, y, shape=[1, 8, 8], seed=0, val=0.2, test=0.2)
    b = make_splits(x, y, shape=[1, 8, 8], seed=0, val=0.2, test=0.2)
    c = make_splits(x, y, shape=[1, 8, 8], seed=1, val=0.2, test=0.2)
    assert torch.equal(a.val.x, b.val.x) and not torch.equal(a.val.x, c.val.x)
    assert len(a.train) + len(a.val) == len(y) - 360  # the test rows are not in them
    assert not hasattr(a, "test")
    assert a.train.x.shape[1:] == (1, 8, 8) and a.n_classes == 10
    # stratified: every class keeps its share in validation
    shares = np.bincount(a.val.y.numpy()) / len(a.val)
    assert np.allclose(shares, np.bincount(y) / len(y), atol=0.01)
    # scaled with training statistics: train is standardised, validation only roughly
    flat = a.train.x.reshape(len(a.train), -1)
    used = flat.std(dim=0) > 0
    assert torch.allclose(flat.mean(dim=0), torch.zeros(64), atol=1e-5)
    assert torch.allclose(
        flat.std(dim=0, unbiased=False)[used], torch.ones(int(used.sum())), atol=1e-3
    )


def test_splits_refuse_a_shape_that_does_not_fit() -> None:
    x, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match="does not hold 64 features"):
        make_splits(x, y, shape=[1, 7, 7], seed=0, val=0.2, test=0.2)


def test_file_loaders(tmp_path) -> None:
    np.savez(tmp_path / "a.npz", feats=np.ones((5, 3)), labels=np.arange(5))
    x, y = load_npz(str(tmp_path / "a.npz"), x_key="feats", y_key="labels")
    assert x.shape == (5, 3) and list(y) == [0, 1, 2, 3, 4]
    with pytest.raises(ConfigError) as err:
        load_npz(str(tmp_path / "a.npz"))
    assert err.value.key == "data.source.x_key" and "feats" in err.value.message
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    x, y = load_csv(str(tmp_path / "t.csv"))
    assert x.shape == (2, 2) and list(y) == ["x", "y"]
    (tmp_path / "bad.csv").write_text("a,b,label\n1,z,x\n")
    with pytest.raises(ConfigError, match="numeric"):
        load_csv(str(tmp_path / "bad.csv"))
