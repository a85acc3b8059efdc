"""Storage faults told apart from a trial's own errors (store.full), the drills' filesystem
(store.faulty), and hpray's files replaced whole when a write fails (StudyDir.write_bytes)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from hpray.store import full
from hpray.store.faulty import CONTROL_ENV, PROTOCOL
from hpray.store.location import StudyDir, as_dir

STUDY = "/data/studies"


@pytest.mark.parametrize(
    ("err", "found"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/anywhere/x"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (OSError(errno.EROFS, "Read-only file system", f"{STUDY}/s/x"), True),
        (PermissionError(errno.EACCES, "Permission denied", f"{STUDY}/s/lock"), True),
        (PermissionError(errno.EACCES, "Permission denied", "/home/me/data.csv"), False),
        (OSError(errno.EIO, "Input/output error", f"{STUDY}/s/x"), True),
        (OSError(errno.EIO, "Input/output error", "/dev/sdb"), False),
        (OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"), True),
        (ValueError("No space left on device"), False),  # only an OSError says so
        (FileNotFoundError(errno.ENOENT, "No such file or directory", f"{STUDY}/x"), False),
    ],
)
def test_a_storage_fault_is_told_apart_from_other_errors(err: OSError, found: bool) -> None:
    assert (full.fault(err, STUDY) is not None) is found


def test_a_fault_behind_another_error_is_found() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as cause:
            raise EOFError("Ran out of input") from cause  # Ray reading a file cut short
    except EOFError as err:
        assert full.fault(err, STUDY) == "OSError: [Errno 28] No space left on device"


def test_a_trial_s_error_line_is_a_storage_fault_when_it_says_so() -> None:
    assert full.fault_text("OSError: [Errno 28] Error writing bytes to file.", STUDY)
    assert full.fault_text(f"PermissionError: [Errno 13] Permission denied: '{STUDY}/t'", STUDY)
    assert not full.fault_text("PermissionError: [Errno 13] Permission denied: '/etc/x'", STUDY)
    assert not full.fault_text("ValueError: study.metric val_acc was not reported", STUDY)


def test_the_pause_line_names_the_storage_its_free_space_and_what_to_do(tmp_path: Path) -> None:
    line = full.pause_line(as_dir(tmp_path / "s"), "OSError: [Errno 28] No space left")
    assert str(tmp_path) in line and " free there)" in line
    assert "run the same command again to resume it" in line


def plan(control: Path, **what: object) -> None:
    control.write_text(json.dumps(what))


def test_the_drills_filesystem_refuses_writes_from_the_nth_and_tears_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    control = tmp_path / "control.json"
    plan(control, writes_left=1, error="ENOSPC", tear=True)
    monkeypatch.setenv(CONTROL_ENV, str(control))
    study = StudyDir.at(f"{PROTOCOL}://{tmp_path}/storage", "s")
    study.mkdir()
    (study / "a.txt").write_text("first")  # the one write left
    with (
        pytest.raises(OSError) as refused,
        study.fs.open_output_stream(f"{study.path}/b.txt") as out,
    ):
        out.write(b"0123456789")  # as Ray writes its files: in place
    assert refused.value.errno == errno.ENOSPC
    assert (tmp_path / "storage" / "s" / "b.txt").read_text() == "01234"  # torn: half written
    with pytest.raises(OSError):  # hpray's own: written beside, so nothing torn is left
        (study / "c.txt").write_text("0123456789")
    assert sorted(p.name for p in (tmp_path / "storage" / "s").iterdir()) == ["a.txt", "b.txt"]
    plan(control, writes_left=None, written=3)  # space freed
    (study / "b.txt").write_text("whole")
    assert (study / "b.txt").read_text() == "whole"
    assert json.loads(control.read_text())["written"] == 4


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = as_dir(tmp_path / "results.csv")
    file.write_text("old,whole\n")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        file.write_text("new,half")
    assert file.read_text() == "old,whole\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]
