"""StudyDir on a local path, and the storage checks that need no cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from hpray.config.prepare import prepare
from hpray.config.settings import study_settings
from hpray.driver.storage import check_writable
from hpray.errors import ConfigError
from hpray.store.location import StudyDir, is_uri


def test_a_path_and_a_uri(tmp_path: Path) -> None:
    local = StudyDir.at(str(tmp_path / "studies"), "s1")
    assert local.local and local.path == str(tmp_path / "studies" / "s1")
    assert str(local) == local.path and local.name == "s1"
    assert is_uri("s3://bucket/x") and is_uri("gs://b") and not is_uri("/mnt/shared")
    with pytest.raises(ConfigError, match=r"study\.storage"):
        StudyDir.at("nope://bucket/studies", "s1")


def test_files_directories_and_globs(tmp_path: Path) -> None:
    study = StudyDir.at(str(tmp_path), "s1")
    assert not study.exists()
    (study / "trial_a" / "checkpoint_000000").mkdir()
    (study / "trial_b").mkdir()
    (study / "trial_a" / "result.json").write_text("{}\n")
    (study / "notes.txt").write_text("x")
    assert study.is_dir() and (study / "notes.txt").is_file()
    assert [d.name for d in study.glob("trial_*")] == ["trial_a", "trial_b"]
    assert [d.path for d in study.glob("trial_*/checkpoint_*")] == [
        str(tmp_path / "s1" / "trial_a" / "checkpoint_000000")
    ]
    (study / "notes.txt").write_text("replaced")
    assert (study / "notes.txt").read_text() == "replaced"
    assert sorted(p.name for p in Path(study.path).iterdir()) == ["notes.txt", "trial_a", "trial_b"]
    moved = study.parent / "s1.old"
    study.move_to(moved)
    assert not study.exists() and (moved / "notes.txt").read_text() == "replaced"


def test_storage_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ConfigError, match=r"study\.storage: .*a_file is a file"):
        check_writable(StudyDir.at(str(tmp_path / "a_file" / "studies"), "s1"))
    check_writable(StudyDir.at(str(tmp_path / "new" / "deeper"), "s1"))  # creatable: fine
    assert not (tmp_path / "new").exists()  # and the check wrote nothing


def test_shared_storage_must_be_a_boolean(study_cfg) -> None:  # type: ignore[no-untyped-def]
    # Refused by the schema as Hydra composes the override, naming the key...
    with pytest.raises(ConfigCompositionException, match=r"study\.shared_storage=maybe"):
        study_cfg("study.shared_storage=maybe")
    # ...and in a config given whole (best.yaml, a stored config.yaml).
    config = prepare(study_cfg()).config
    config["study"]["shared_storage"] = "maybe"
    with pytest.raises(ConfigError, match=r"study\.shared_storage: Value 'maybe' is not a valid"):
        study_settings(config)
