"""Whole copies of the experiment snapshot (store.snapshots), on files shaped as Ray's, no Ray."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from hpray.store import snapshots
from hpray.store.layout import SNAPSHOTS_DIR
from hpray.store.location import as_dir

SESSION = "2026-12-07_10-00-00"
STATE = f"experiment_state-{SESSION}.json"
SEARCHER = f"basic-variant-state-{SESSION}.json"  # a pickle, whatever its name ends in
CALLBACKS = f"callback-states-{SESSION}.pkl"


def experiment_state(*trials: str) -> bytes:
    entries = [[json.dumps({"trial_id": t, "relative_logdir": f"trial_{t}"}), "{}"] for t in trials]
    return json.dumps({"trial_data": entries, "runner_data": {}}).encode()


def write_snapshot(where: Path, *trials: str, searcher: object = "plan") -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / STATE).write_bytes(experiment_state(*trials))
    (where / SEARCHER).write_bytes(pickle.dumps({"searcher": searcher}))
    (where / CALLBACKS).write_bytes(pickle.dumps([{"asha": 1}]))


@pytest.fixture
def study(tmp_path: Path) -> Path:
    directory = tmp_path / "study"
    directory.mkdir()
    (directory / "tuner.pkl").write_bytes(pickle.dumps({"tuner": 1}))
    (directory / "config.yaml").write_text("study: {}\n")  # hpray's own: never touched
    return directory


def keep(study: Path, staging: Path, *trials: str, searcher: object = "plan") -> bool:
    write_snapshot(staging, *trials, searcher=searcher)
    for trial in trials:
        (study / f"trial_{trial}").mkdir(exist_ok=True)
    write_snapshot(study, *trials, searcher=searcher)  # what Ray's copy to storage leaves
    return snapshots.keep(study, str(staging))


def tear(file: Path) -> None:
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def test_each_snapshot_is_kept_whole_with_its_manifest_and_two_are_kept(
    study: Path, tmp_path: Path
) -> None:
    for n in range(3):
        assert keep(study, tmp_path / "staging", *[f"t{i}" for i in range(n + 1)])
    kept = snapshots.generations(as_dir(study))
    assert len(kept) == 2
    files = snapshots.whole(kept[0])
    assert files is not None
    assert set(files) == {STATE, SEARCHER, CALLBACKS, "tuner.pkl"}
    assert json.loads(files[STATE])["trial_data"][2][0].count("t2") == 2  # the newest


def test_a_snapshot_that_does_not_read_whole_is_not_kept(study: Path, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    assert keep(study, staging, "t0")
    tear(staging / SEARCHER)
    assert not snapshots.keep(study, str(staging))
    assert len(snapshots.generations(as_dir(study))) == 1


def test_a_generation_without_its_manifest_or_with_a_changed_file_is_not_whole(
    study: Path, tmp_path: Path
) -> None:
    assert keep(study, tmp_path / "staging", "t0")
    (generation,) = snapshots.generations(as_dir(study))
    assert snapshots.whole(generation) is not None
    changed = Path(generation.path) / CALLBACKS
    changed.write_bytes(changed.read_bytes() + b"x")
    assert snapshots.whole(generation) is None
    (Path(generation.path) / snapshots.MANIFEST).unlink()
    assert snapshots.whole(generation) is None


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda s: tear(s / STATE), f"{STATE}: JSONDecodeError"),
        (lambda s: (s / STATE).write_bytes(b""), f"{STATE}: empty"),
        (lambda s: (s / STATE).unlink(), "experiment_state-*.json: missing"),
        (lambda s: tear(s / SEARCHER), f"{SEARCHER}: UnpicklingError"),
        (lambda s: tear(s / CALLBACKS), f"{CALLBACKS}: UnpicklingError"),
        (lambda s: tear(s / "tuner.pkl"), "tuner.pkl: UnpicklingError"),
        (lambda s: (s / "tuner.pkl").unlink(), "tuner.pkl: missing"),
    ],
)
def test_a_damaged_snapshot_is_replaced_by_the_last_whole_one(
    study: Path, tmp_path: Path, damage, named: str
) -> None:
    assert keep(study, tmp_path / "staging", "t0", "t1")
    write_snapshot(study, "t0", "t1", searcher="newer")  # Ray's next, then torn in storage
    damage(study)
    found = snapshots.damage(study)
    assert found is not None and found.describe().startswith(named)
    line = snapshots.recover(study)
    assert line is not None and named in line and "of 2 trials" in line
    assert snapshots.damage(study) is None
    assert pickle.loads((study / SEARCHER).read_bytes()) == {"searcher": "plan"}
    (aside,) = (study / SNAPSHOTS_DIR).glob(f"{snapshots.DAMAGED_PREFIX}*")
    assert {p.name for p in aside.iterdir()} >= {SEARCHER, CALLBACKS} - {named.split(":")[0]}
    assert (study / "config.yaml").read_text() == "study: {}\n"


def test_trials_begun_after_the_kept_snapshot_are_set_aside(study: Path, tmp_path: Path) -> None:
    assert keep(study, tmp_path / "staging", "t0")
    (study / "trial_t1" / "checkpoint_000000").mkdir(parents=True)  # begun after it
    tear(study / STATE)
    line = snapshots.recover(study)
    assert line is not None and "1 trials begun after it set aside" in line
    assert sorted(p.name for p in study.glob("trial_*")) == ["trial_t0"]
    (aside,) = (study / SNAPSHOTS_DIR).glob(f"{snapshots.DAMAGED_PREFIX}*")
    assert (aside / "trial_t1" / "checkpoint_000000").is_dir()  # kept, not deleted


def test_a_whole_snapshot_is_left_alone_and_a_new_study_has_nothing_to_recover(
    study: Path, tmp_path: Path
) -> None:
    assert snapshots.damage(study) is None  # no trial, no snapshot: a study about to start
    assert keep(study, tmp_path / "staging", "t0")
    before = {p.name: p.read_bytes() for p in study.iterdir() if p.is_file()}
    assert snapshots.recover(study) is None
    assert {p.name: p.read_bytes() for p in study.iterdir() if p.is_file()} == before


def test_a_study_stopped_before_its_first_snapshot_starts_again(study: Path) -> None:
    (study / "trial_t0").mkdir()
    line = snapshots.recover(study)
    assert line is not None and "before its first whole snapshot; it starts again" in line
    assert not list(study.glob("trial_*")) and not (study / "tuner.pkl").exists()
    assert snapshots.damage(study) is None


def test_a_study_whose_first_files_were_torn_starts_again(study: Path) -> None:
    """A fault among a study's first writes tears the Tuner's file before any snapshot: no
    trial had trained, so the study starts again rather than failing to restore it."""
    (study / "trial_t0").mkdir()
    tear(study / "tuner.pkl")
    found = snapshots.damage(study)
    assert found is not None and found.file == "tuner.pkl"
    line = snapshots.recover(study)
    assert line is not None and "(tuner.pkl: UnpicklingError" in line and "starts again" in line
    assert not (study / "tuner.pkl").exists() and snapshots.damage(study) is None


def test_with_no_whole_copy_a_torn_snapshot_is_refused_naming_the_file(
    study: Path, tmp_path: Path
) -> None:
    assert keep(study, tmp_path / "staging", "t0")
    (generation,) = snapshots.generations(as_dir(study))
    tear(Path(generation.path) / STATE)
    tear(study / STATE)
    (study / "trial_t0" / "checkpoint_000000").mkdir(parents=True)  # a trial had trained
    with pytest.raises(snapshots.Unrecoverable, match=f"{STATE}: JSONDecodeError.*--fresh"):
        snapshots.recover(study)
    assert (study / STATE).stat().st_size > 0  # nothing moved


def test_the_newest_session_s_files_are_the_ones_checked(study: Path, tmp_path: Path) -> None:
    """A resumed study writes its snapshot under a session name of its own beside the first's;
    Ray reads the newest, so a torn older one is no damage and a torn newer one is."""
    assert keep(study, tmp_path / "staging", "t0")
    newer = f"experiment_state-{SESSION.replace('10-00', '11-00')}.json"
    (study / newer).write_bytes(experiment_state("t0"))
    tear(study / STATE)
    assert snapshots.damage(study) is None
    tear(study / newer)
    found = snapshots.damage(study)
    assert found is not None and found.file == newer
