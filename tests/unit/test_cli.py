"""The command line: Hydra's own flags, and exit code 2 with nothing written on bad input."""

from pathlib import Path

import pytest

from hpray.cli import main
from tests.helpers.compose import stored


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_cfg_job_prints_the_composed_config(capsys) -> None:
    code, out, _ = run(capsys, "tune", "--cfg", "job", "model=cnn", "study.epochs=3")
    assert code == 0
    assert "_target_: hpray.models.CNN" in out and "epochs: 3" in out and "space:" in out


def test_help_lists_the_groups(capsys) -> None:
    code, out, _ = run(capsys, "tune", "--help")
    assert code == 0
    for group in ("model:", "data:", "space:", "searcher:", "scheduler:", "resources:"):
        assert group in out
    assert "bayes, botorch, gp, grid, nsga2, random" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["model=foo"], "Could not find 'model/foo'"),
        (["study.foo=1"], "Key 'foo' not in 'StudySettings'"),
        (["study.num_samples=abc"], "study.num_samples=abc\nValue 'abc' of type 'str' could not"),
        (["resources.cpu=two"], "resources.cpu=two\nValue 'two' of type 'str' could not"),
        (["k8s.workers.max=many"], "k8s.workers.max=many\nValue 'many' of type 'str' could not"),
        (["space.optim.lr.low=1", "space.optim.lr.high=0.1"], "space.optim.lr: low (1)"),
        (["study.epochs=0"], "study.epochs"),
        (["study.time_budget=soon"], "study.time_budget: 'soon' is not a duration: write it as 2h"),
        (["study.stop_at=high"], "study.stop_at=high\nValue 'high' of type 'str' could not"),
        (["searcher=grid"], "space.optim.lr: grid search needs discrete leaves"),
        (["study.metric=f1"], "study.metric: 'f1' is not reported"),
        (["data=npz", "data.source.path=missing.npz"], "data.source.path: no such file"),
        (["-m", "study.seed=1,2"], "multirun"),
        (
            ["space=families", "+space.model.options.xgboost={max_depth:3}"],
            "space.model.options.xgboost: 'xgboost' is not an option of the config group model",
        ),
        (
            ["space=families", "+space.data.batch_size={type:choice,values:[32,64]}"],
            "space.model.options.mlp._with_.data.batch_size: sets data.batch_size, and "
            "space.data.batch_size sets data.batch_size in the same trials",
        ),
        (["space=families", "searcher=grid"], "grid search needs discrete leaves"),
        (["resources.workers=0"], "resources.workers: must be a number of processes >= 1"),
        (["resources.workers=2", "resources.gpu=0.5"], "resources.gpu: a trial of 2 workers"),
        (["resources.placement=near"], "resources.placement: must be one of pack, spread"),
        (
            ["model=logreg", "space=logreg", "resources.workers=2"],
            "resources.workers: sklearn.linear_model.LogisticRegression is a scikit-learn",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    capsys, tmp_path: Path, args: list[str], words: str
) -> None:
    storage = tmp_path / "studies"
    code, _, err = run(capsys, "tune", f"study.storage={storage}", *args)
    assert code == 2
    assert words in err
    assert not storage.exists()


def test_a_misspelled_setting_in_a_users_config_file_exits_2(capsys, tmp_path: Path) -> None:
    (tmp_path / "mine" / "experiment").mkdir(parents=True)
    (tmp_path / "mine" / "experiment" / "short.yaml").write_text(
        "# @package _global_\nstudy:\n  epoch: 5\n"
    )
    storage = tmp_path / "studies"
    code, _, err = run(
        capsys,
        "tune",
        f"--config-dir={tmp_path / 'mine'}",
        "experiment=short",
        f"study.storage={storage}",
    )
    assert code == 2
    assert "Key 'epoch' not in 'StudySettings'" in err and "full_key: study.epoch" in err
    assert not storage.exists()


def test_a_resume_with_a_changed_space_exits_2_and_writes_nothing(
    capsys, study_cfg, tmp_path: Path
) -> None:
    stored(study_cfg)  # refused before Ray
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    code, _, err = run(
        capsys, "tune", f"study.storage={tmp_path / 'studies'}", "space.optim.lr.high=0.05"
    )
    assert code == 2
    assert "space.optim.lr.high: 0.2 -> 0.05" in err and "--fresh" in err
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_unknown_verb_is_a_usage_error(capsys) -> None:
    code, _, err = run(capsys, "tuen")
    assert code == 2 and "unknown verb 'tuen'" in err


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "regression"


def test_a_study_of_a_users_function_composes_without_the_built_in_groups(capsys) -> None:
    args = (f"--config-dir={EXAMPLE / 'conf'}", "--config-name=diabetes", "--cfg", "job")
    code, out, _ = run(capsys, "tune", *args)
    assert code == 0
    assert "trainable: diabetes.train" in out and "metric: val_rmse" in out
    assert "\nmodel:" not in out and "\ndata:" not in out and "\noptim:" not in out
    assert "searcher:" in out and "scheduler:" in out  # hpray's own groups, from conf/hpray.yaml


def test_a_users_function_that_does_not_import_exits_2_naming_trainable(
    capsys, tmp_path: Path
) -> None:
    # Without examples/regression on the path, as when PYTHONPATH is forgotten.
    storage = tmp_path / "studies"
    args = (f"--config-dir={EXAMPLE / 'conf'}", "--config-name=diabetes")
    code, _, err = run(capsys, "tune", *args, f"study.storage={storage}")
    assert code == 2
    assert "trainable: cannot import 'diabetes.train'" in err
    assert not storage.exists()
