import numpy as np
import pytest

from hpray import space
from hpray.errors import ConfigError
from hpray.search.searchers import optuna_distribution, tune_domain

LEAVES = {
    "choice": {"type": "choice", "values": ["relu", "tanh"]},
    "grid": {"type": "grid", "values": [1, 2, 3]},
    "uniform": {"type": "uniform", "low": 0.0, "high": 0.5},
    "quniform": {"type": "uniform", "low": 0.0, "high": 0.5, "q": 0.1},
    "loguniform": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
    "int": {"type": "int", "low": 1, "high": 3},
    "qint": {"type": "int", "low": 16, "high": 64, "q": 16},
    "intlog": {"type": "int", "low": 4, "high": 16, "log": True},
    "normal": {"type": "normal", "mean": 0.0, "std": 2.0},
    "qnormal": {"type": "normal", "mean": 0.0, "std": 2.0, "q": 0.5},
}


def sample(leaf: dict, n: int = 2000) -> np.ndarray:
    [param] = space.parse_space({"x": leaf}).params
    domain = tune_domain(param)
    rng = np.random.default_rng(0)
    return np.array([domain.sample(random_state=rng) for _ in range(n)], dtype=object)


def test_parse_splits_fixed_values_from_sampled_leaves() -> None:
    parsed = space.parse_space(
        {"optim": {"lr": LEAVES["loguniform"], "momentum": 0.9}, "model": {"hidden": [64, 32]}}
    )
    fixed, params = parsed.fixed, parsed.params
    assert fixed == {"optim.momentum": 0.9, "model.hidden": [64, 32]}
    assert [(p.path, p.type, p.low, p.high, p.log) for p in params] == [
        ("optim.lr", "loguniform", 1e-4, 1e-1, True)
    ]


@pytest.mark.parametrize("name", ["uniform", "loguniform", "quniform"])
def test_float_leaves_stay_in_range(name: str) -> None:
    values = sample(LEAVES[name]).astype(float)
    assert values.min() >= LEAVES[name]["low"] and values.max() <= LEAVES[name]["high"]
    if name == "quniform":
        assert np.allclose(np.round(values / 0.1) * 0.1, values)
    if name == "loguniform":  # log-uniform: about half the draws fall below the geometric mean
        assert 0.4 < np.mean(values < np.sqrt(1e-4 * 1e-1)) < 0.6


@pytest.mark.parametrize("name", ["int", "qint", "intlog"])
def test_int_leaves_include_both_ends(name: str) -> None:
    leaf = LEAVES[name]
    values = sample(leaf).astype(int)
    assert values.min() == leaf["low"] and values.max() == leaf["high"]
    if name == "qint":
        assert set(values) == {16, 32, 48, 64}


def test_choice_and_normal_leaves() -> None:
    assert set(sample(LEAVES["choice"])) == {"relu", "tanh"}
    normal = sample(LEAVES["normal"]).astype(float)
    assert abs(normal.mean()) < 0.2 and 1.8 < normal.std() < 2.2
    qnormal = sample(LEAVES["qnormal"]).astype(float)
    assert np.allclose(np.round(qnormal / 0.5) * 0.5, qnormal)


def test_optuna_distributions_match_the_yaml() -> None:
    dists = {
        name: optuna_distribution(space.parse_space({"x": leaf}).params[0])
        for name, leaf in LEAVES.items()
        if "normal" not in name
    }
    assert dists["choice"].choices == ("relu", "tanh")
    assert dists["loguniform"].log and dists["loguniform"].low == 1e-4
    assert (dists["int"].low, dists["int"].high) == (1, 3)
    assert dists["qint"].step == 16 and dists["intlog"].log
    assert dists["quniform"].step == 0.1


@pytest.mark.parametrize(
    ("leaf", "key"),
    [
        ({"type": "normal", "mean": 0, "std": 1}, "space.x"),
        ({"type": "loguniform", "low": 1e-3, "high": 1, "q": 0.01}, "space.x"),
        ({"type": "choice", "values": [[64], [128]]}, "space.x"),
    ],
)
def test_optuna_refuses_what_it_cannot_sample(leaf: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        optuna_distribution(space.parse_space({"x": leaf}).params[0])
    assert err.value.key == key and "searcher=random" in err.value.message


@pytest.mark.parametrize(
    ("leaf", "key", "words"),
    [
        ({"type": "uniform", "low": 1.0, "high": 0.5}, "space.x", "less than high"),
        ({"type": "uniform", "low": 0.5, "high": 0.5}, "space.x", "less than high"),
        ({"type": "loguniform", "low": 0.0, "high": 1.0}, "space.x.low", "low > 0"),
        ({"type": "int", "low": 1, "high": 10, "log": True, "q": 0}, "space.x.q", "positive"),
        ({"type": "int", "low": 1.5, "high": 3}, "space.x.low", "whole"),
        ({"type": "uniform", "low": 0}, "space.x.high", "needs high"),
        ({"type": "uniform", "low": 0, "high": 1, "hgh": 2}, "space.x.hgh", "not a field"),
        ({"type": "choice", "values": []}, "space.x.values", "non-empty"),
        ({"type": "gaussian", "mean": 0}, "space.x.type", "unknown type"),
        ({"type": "normal", "mean": 0, "std": 0}, "space.x.std", "> 0"),
        ({"type": "uniform", "low": "a", "high": 1}, "space.x.low", "finite number"),
    ],
)
def test_bad_leaves_name_their_key(leaf: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        space.parse_space({"x": leaf})
    assert err.value.key == key and words in err.value.message


def test_grid_enumerates_discrete_leaves_and_refuses_continuous() -> None:
    params = space.parse_space(
        {"a": LEAVES["choice"], "b": LEAVES["qint"], "c": LEAVES["grid"]}
    ).params
    assert [p.grid_values() for p in params] == [["relu", "tanh"], [16, 32, 48, 64], [1, 2, 3]]
    assert space.grid_size(params) == 24
    params = space.parse_space({"a": LEAVES["choice"], "lr": LEAVES["loguniform"]}).params
    with pytest.raises(ConfigError) as err:
        space.grid_size(params)
    assert err.value.key == "space.lr" and "continuous" in err.value.message


def test_apply_sets_paths_without_touching_the_base() -> None:
    base = {"optim": {"lr": 0.1, "momentum": 0.9}, "model": {"units": 8}}
    trial = space.apply(base, {"optim.lr": 0.01, "model.units": 64})
    assert trial == {"optim": {"lr": 0.01, "momentum": 0.9}, "model": {"units": 64}}
    assert base["optim"]["lr"] == 0.1


def test_check_paths_refuses_keys_missing_from_the_config() -> None:
    parsed = space.parse_space({"optim": {"lrr": LEAVES["uniform"]}})
    with pytest.raises(ConfigError) as err:
        space.check_paths(parsed, {"optim": {"lr": 0.1}})
    assert err.value.key == "space.optim.lrr"


def test_a_key_named_type_can_still_nest() -> None:
    # `type` is a leaf marker only when its value is a string.
    parsed = space.parse_space({"model": {"type": {"type": "choice", "values": ["a", "b"]}}})
    fixed, params = parsed.fixed, parsed.params
    assert [p.path for p in params] == ["model.type"] and fixed == {}
