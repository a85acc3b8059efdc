"""best.yaml, and the final fit's data: the test split reaches nothing but `hpray retrain`."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from sklearn.datasets import load_digits

from hpray.config.build import load_data, load_final_data
from hpray.config.prepare import prepare, resolve
from hpray.data.splits import CLASSIFICATION, _partition
from hpray.results.best import BEST_FILE, best_config, write_best
from hpray.results.retrain import main as retrain_main
from tests.helpers.compose import params_of


def data_node(path: Path) -> dict[str, object]:
    return {
        "source": {"_target_": "hpray.data.load_npz", "path": str(path)},
        "shape": None,
        "batch_size": 64,
        "split": {"seed": 0, "val": 0.2, "test": 0.2},
    }


def test_tuning_data_is_the_same_whatever_the_test_rows_hold(tmp_path: Path) -> None:
    x, y = load_digits(return_X_y=True)
    test_rows = _partition(x, y, None, 0, 0.2, 0.2, CLASSIFICATION).test
    changed = x.copy()
    changed[test_rows] = np.random.default_rng(0).normal(50, 20, changed[test_rows].shape)
    np.savez(tmp_path / "a.npz", X=x, y=y)
    np.savez(tmp_path / "b.npz", X=changed, y=y)
    a, b = (load_data(data_node(tmp_path / f"{n}.npz")) for n in "ab")
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.val.x, b.val.x)
    assert not hasattr(a, "test")
    fa, fb = (load_final_data(data_node(tmp_path / f"{n}.npz")) for n in "ab")
    assert torch.equal(fa.train.x, fb.train.x)  # training + validation rows, scaled alike
    assert not torch.equal(fa.test.x, fb.test.x)  # the change was real, and only there
    assert len(fa.train) == len(a.train) + len(a.val)


def test_best_yaml_is_the_whole_config_and_hydra_loads_it(study_cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = resolve(study_cfg("study.name=s", "study.epochs=3"))
    params = {"optim.lr": 0.0123, "model.units": 77, "data.batch_size": 32}
    best = best_config(config, params)
    assert best["optim"]["lr"] == 0.0123 and best["model"]["units"] == 77
    assert best["data"]["batch_size"] == 32 and best["study"]["epochs"] == 3
    assert best["space"] == {} and best["study"]["num_samples"] == 1
    assert best["model"]["_target_"] == config["model"]["_target_"]  # the whole config

    summary = {
        "complete": True,
        "best": {"trial_id": "t1", "params": params, "metric": "val_acc", "value": 0.97},
    }
    assert write_best(tmp_path, config, summary)
    text = (tmp_path / BEST_FILE).read_text()
    assert text.startswith("# The best trial of study s: t1, val_acc=0.9700.")
    assert yaml.safe_load(text)["optim"]["lr"] == 0.0123
    with initialize_config_dir(str(tmp_path), version_base="1.3"):
        cfg = compose("best", overrides=[f"study.storage={tmp_path}", "study.name=again"])
    study = prepare(cfg)  # a valid study: the one model, nothing to search
    assert params_of(study) == [] and study.plan.num_samples == 1
    assert study.base["optim"]["lr"] == 0.0123 and study.base["model"]["units"] == 77
    assert not write_best(tmp_path, config, {"best": None})


def test_a_conditional_best_is_the_picked_family_and_retrains(study_cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = resolve(study_cfg("space=families", "study.name=f", "study.epochs=2"))
    params = {"model": "random_forest", "model.n_estimators": 12, "model.max_depth": 6}
    summary = {
        "complete": True,
        "best": {"trial_id": "t1", "params": params, "metric": "val_acc", "value": 0.9},
    }
    assert write_best(tmp_path, config, summary)
    best = yaml.safe_load((tmp_path / BEST_FILE).read_text())
    assert best["model"]["_target_"] == "sklearn.ensemble.RandomForestClassifier"
    assert best["model"]["n_estimators"] == 12 and "layers" not in best["model"]
    assert "_space_" not in best and best["space"] == {}
    with initialize_config_dir(str(tmp_path), version_base="1.3"):
        cfg = compose("best", overrides=[f"study.storage={tmp_path}", "study.name=again"])
    assert prepare(cfg).uses_torch is False  # a forest alone: resources.gpu=auto asks none
    assert retrain_main([str(tmp_path), "--seeds", "2", "--device", "cpu"]) == 0
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["test_acc"]["mean"] > 0.85 and len(final["seeds"]) == 2
    with (tmp_path / "final" / "model_seed0.pkl").open("rb") as f:
        forest = pickle.load(f)
    assert len(forest.estimators_) == 12 and forest.max_depth == 6


def test_retrain_refuses_a_directory_without_best_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert retrain_main([str(tmp_path)]) == 2
    assert f"{tmp_path / BEST_FILE}: not found" in capsys.readouterr().err
    assert not (tmp_path / "final.json").exists()


def test_report_refuses_a_directory_that_is_not_a_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hpray.results.report import main as report_main

    assert report_main([str(tmp_path), "--text"]) == 2
    assert "config.yaml: not found: not a study directory" in capsys.readouterr().err


def test_retrain_trains_a_named_trial_beside_the_best(study_cfg, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = resolve(study_cfg("space=families", "study.name=f", "study.epochs=2"))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    trial = tmp_path / "trial_ab12_00003"
    trial.mkdir()
    params = {"model": "random_forest", "model.n_estimators": 7, "model.max_depth": 3}
    (trial / "params.json").write_text(json.dumps(params))
    assert retrain_main([str(tmp_path), "--trial", "ab12_00003", "--device", "cpu"]) == 0
    final = json.loads((tmp_path / "final_ab12_00003.json").read_text())
    assert final["config"] == "trial_ab12_00003" and final["test_acc"]["mean"] > 0.5
    with (tmp_path / "final_ab12_00003" / "model_seed0.pkl").open("rb") as f:
        assert len(pickle.load(f).estimators_) == 7
    assert not (tmp_path / "final.json").exists()  # the best's record is left alone
    for unknown in ("ab12_00009", "../trial_ab12_00003"):
        assert retrain_main([str(tmp_path), "--trial", unknown]) == 2
        assert "--trial" in capsys.readouterr().err
