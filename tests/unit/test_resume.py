"""Resume decisions: what differs from the stored study, and setting a study aside."""

from pathlib import Path

import pytest

from hpray.config.prepare import prepare
from hpray.driver.resume import check_resumable, differences, set_aside
from hpray.errors import ConfigError
from hpray.store.layout import CONFIG_FILE
from tests.helpers.compose import stored, study_dir


def test_same_config_resumes_and_harmless_changes_are_allowed(study_cfg) -> None:
    first = stored(study_cfg)
    check_resumable(study_dir(first), first.config)
    later = prepare(study_cfg("study.max_concurrent=1", "resources=cpu", "study.max_failures=5"))
    check_resumable(study_dir(first), later.config)


def test_changed_history_is_refused_listing_what_differs(study_cfg) -> None:
    first = stored(study_cfg)
    later = prepare(
        study_cfg("study.metric=val_loss", "study.mode=min", "space.optim.lr.high=0.05")
    )
    with pytest.raises(ConfigError) as err:
        check_resumable(study_dir(first), later.config)
    assert "space.optim.lr.high: 0.2 -> 0.05" in err.value.message
    assert "study.metric: 'val_acc' -> 'val_loss'" in err.value.message
    assert "study.mode: 'max' -> 'min'" in err.value.message
    assert "--fresh" in err.value.message
    assert differences(first.config, first.config) == []


def test_every_key_but_where_and_how_it_runs_defines_the_history(study_cfg) -> None:
    # A trial function's own settings too: hpray cannot know which of them change the trials.
    first = stored(study_cfg, "+train.lr=0.1")
    later = prepare(study_cfg("+train.lr=0.2", "study.checkpoint_every=5", "ray.num_cpus=2"))
    with pytest.raises(ConfigError, match=r"train\.lr: 0\.1 -> 0\.2"):
        check_resumable(study_dir(first), later.config)
    assert differences(first.config, later.config) == ["train.lr: 0.1 -> 0.2"]


def test_a_study_can_grow_but_not_shrink(study_cfg) -> None:
    from hpray.driver.resume import grows

    first = stored(study_cfg, "study.num_samples=4")
    assert grows(study_dir(first), prepare(study_cfg("study.num_samples=6")).config)
    check_resumable(study_dir(first), prepare(study_cfg("study.num_samples=6")).config)
    with pytest.raises(ConfigError) as err:
        check_resumable(study_dir(first), prepare(study_cfg("study.num_samples=3")).config)
    assert err.value.key == "study.num_samples" and "not shrink" in err.value.message


def test_set_aside_moves_and_never_deletes(tmp_path: Path) -> None:
    study = tmp_path / "s"
    (study / "trial_1").mkdir(parents=True)
    moved = set_aside(study)
    assert moved is not None and (moved / "trial_1").is_dir() and not study.exists()
    assert set_aside(study) is None


def test_checkpoint_gaps_get_placeholders_that_are_removed_later(tmp_path: Path) -> None:
    from hpray.driver.resume import fill_checkpoint_gaps, remove_placeholders

    trial = tmp_path / "trial_a_00000"
    for index in (2, 3):
        (trial / f"checkpoint_00000{index}").mkdir(parents=True)
        (trial / f"checkpoint_00000{index}" / "state.pt").write_bytes(b"x")
    assert fill_checkpoint_gaps(tmp_path) == 2
    assert sorted(p.name for p in trial.iterdir()) == [f"checkpoint_00000{i}" for i in range(4)]
    remove_placeholders(tmp_path)
    assert sorted(p.name for p in trial.iterdir()) == ["checkpoint_000002", "checkpoint_000003"]


def test_result_files_are_completed_from_the_newest_checkpoint(tmp_path: Path) -> None:
    """A kill mid-upload: result.json behind the checkpoints and cut in mid-line."""
    import json

    from hpray.driver.resume import complete_result_files

    history = [{"epoch": e, "val_acc": e / 10} for e in (1, 2, 3)]
    behind, whole, new = (tmp_path / f"trial_a_0000{i}" for i in range(3))
    for trial, epoch in ((behind, 3), (whole, 3)):
        for at in (epoch - 1, epoch):
            meta = trial / f"checkpoint_00000{at}" / "meta.json"
            meta.parent.mkdir(parents=True)
            meta.write_text(json.dumps({"epoch": at, "history": history[:at]}))
    (behind / "checkpoint_000009").mkdir()  # an empty placeholder tells nothing
    lines = [json.dumps({**m, "trial_id": "a_00000", "training_iteration": 1}) for m in history]
    (behind / "result.json").write_text(lines[0] + "\n" + lines[1][:20])
    (whole / "result.json").write_text("".join(f"{line}\n" for line in lines))
    new.mkdir()

    assert complete_result_files(tmp_path) == 2
    rows = [json.loads(line) for line in (behind / "result.json").read_text().splitlines()]
    assert [(r["epoch"], r["val_acc"], r.get("replayed", False)) for r in rows] == [
        (1, 0.1, False),
        (2, 0.2, True),
        (3, 0.3, True),
    ]
    assert rows[2]["trial_id"] == "a_00000"
    assert (whole / "result.json").read_text() == "".join(f"{line}\n" for line in lines)
    assert not (new / "result.json").exists()  # no checkpoint: nothing to add
    assert complete_result_files(tmp_path) == 0  # a second resume adds nothing


def test_a_trial_that_runs_again_gets_no_replayed_lines(tmp_path: Path) -> None:
    """It reports its missing epochs itself when it resumes; lines added here would be twice."""
    import json

    from hpray.driver.resume import complete_result_files

    history = [{"epoch": e, "val_acc": e / 10} for e in (1, 2)]
    trials = {"a_00000": "RUNNING", "a_00001": "TERMINATED"}
    for trial_id in trials:
        meta = tmp_path / f"trial_{trial_id}" / "checkpoint_000001" / "meta.json"
        meta.parent.mkdir(parents=True)
        meta.write_text(json.dumps({"epoch": 2, "history": history}))
        line = json.dumps({**history[0], "trial_id": trial_id})
        (meta.parents[1] / "result.json").write_text(f"{line}\n{line[:9]}")  # torn
    snapshot = [
        [
            json.dumps({"trial_id": t, "status": s, "config": {}, "relative_logdir": f"trial_{t}"}),
            {},
        ]
        for t, s in trials.items()
    ]
    (tmp_path / "experiment_state-2026-01-01_00-00-00.json").write_text(
        json.dumps({"trial_data": snapshot})
    )

    assert complete_result_files(tmp_path) == 1  # the finished trial's epoch 2
    for trial_id, epochs in (("a_00000", [1]), ("a_00001", [1, 2])):
        text = (tmp_path / f"trial_{trial_id}" / "result.json").read_text()
        assert [json.loads(line)["epoch"] for line in text.splitlines()] == epochs


def test_fresh_never_moves_a_study_another_driver_runs(study_cfg, capsys) -> None:
    from hpray.driver.lock import StudyLock
    from hpray.driver.run import run

    study = stored(study_cfg)
    with StudyLock(study_dir(study)):  # a live driver (this process) holds the study
        assert run(study, fresh=True) == 75
    assert (study_dir(study) / CONFIG_FILE).is_file()
    assert not list(study_dir(study).parent.glob("*.replaced-*"))
    assert "is being run by pid" in capsys.readouterr().err
