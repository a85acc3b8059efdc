"""A storage that does not answer for a while (store.patient): its calls are retried up to
study.storage_retry, then fail as a storage fault the study pauses on."""

from __future__ import annotations

import errno
import pickle
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

from hpray.store import full, patient
from hpray.store.location import StudyDir

UNANSWERED = "AWS Error NETWORK_CONNECTION during PutObject operation: curlCode: 7"


class Unanswering(pafs.FileSystemHandler):  # type: ignore[misc]
    """A local directory whose next ``down`` calls are not answered, as S3 words it."""

    def __init__(self, down: int = 0) -> None:
        self.local, self.down, self.calls = pafs.LocalFileSystem(), down, 0

    def _call(self, method: str, *args: Any) -> Any:
        self.calls += 1
        if self.down:
            self.down -= 1
            raise OSError(f"When uploading: {UNANSWERED}")
        return getattr(self.local, method)(*args)

    def get_type_name(self) -> str:
        return "unanswering"

    def equals(self, other: Any) -> bool:
        return other is self

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> Any:
        return self._call("get_file_info", paths)

    def get_file_info_selector(self, selector: Any) -> Any:
        return self._call("get_file_info", selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self._call("create_dir", path)

    def delete_dir(self, path: str) -> None:
        self._call("delete_dir", path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self._call("delete_dir_contents", path)

    def delete_root_dir_contents(self) -> None:
        raise NotImplementedError

    def delete_file(self, path: str) -> None:
        self._call("delete_file", path)

    def move(self, src: str, dest: str) -> None:
        self._call("move", src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self._call("copy_file", src, dest)

    def open_input_stream(self, path: str) -> Any:
        return self._call("open_input_stream", path)

    def open_input_file(self, path: str) -> Any:
        return self._call("open_input_file", path)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        return self._call("open_output_stream", path, metadata)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        raise NotImplementedError


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patient, "FIRST_WAIT_S", 0.01)
    monkeypatch.setattr(patient, "LONGEST_WAIT_S", 0.02)
    monkeypatch.setattr(patient.Patient, "given_up", False)


def study(tmp_path: Path, handler: Unanswering, bound_s: float) -> StudyDir:
    fs = patient.patient(pafs.PyFileSystem(handler), bound_s)
    return StudyDir(fs, str(tmp_path / "study"), "s3")


@pytest.mark.parametrize(
    ("err", "retried"),
    [
        (OSError(f"When reading: {UNANSWERED}"), True),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), True),
        (OSError("AWS Error SLOW_DOWN during PutObject operation: Please reduce your rate"), True),
        (FileNotFoundError(errno.ENOENT, "Path does not exist"), False),
        (OSError("AWS Error ACCESS_DENIED during PutObject operation: Access Denied"), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),  # pauses at once instead
        (ValueError("timed out"), False),
    ],
)
def test_only_a_storage_that_did_not_answer_is_waited_for(err: Exception, retried: bool) -> None:
    assert patient.unanswered(err) is retried


def test_a_write_the_storage_did_not_answer_lands_whole_once_it_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = Unanswering()
    directory = study(tmp_path, handler, bound_s=5)
    directory.mkdir()
    handler.down = 3
    (directory / "results.csv").write_text("trial_id,val_acc\na,0.9\n")
    assert (tmp_path / "study" / "results.csv").read_text() == "trial_id,val_acc\na,0.9\n"
    assert handler.calls == 5  # mkdir, then three unanswered tries of the upload and one taken
    said = capsys.readouterr().err
    assert "the storage does not answer" in said and "answers again" in said


def test_past_storage_retry_a_call_fails_as_a_storage_fault_naming_the_path(
    tmp_path: Path,
) -> None:
    handler = Unanswering(down=10**6)
    directory = study(tmp_path, handler, bound_s=0.1)
    with pytest.raises(TimeoutError) as caught:
        (directory / "summary.json").write_text("{}")
    assert caught.value.errno == errno.ETIMEDOUT
    assert str(tmp_path / "study" / "summary.json") in str(caught.value)
    what = full.fault(caught.value, str(tmp_path))
    assert what is not None and "(study.storage_retry)" in what
    assert "run the same command to resume the study" in full.pause_line(directory, what)
    assert not (tmp_path / "study" / "summary.json").exists()
    # Given up: the winding down's next calls are tried once each, not waited for again.
    calls = handler.calls
    with pytest.raises(TimeoutError):
        directory.exists()
    assert handler.calls == calls + 1
    handler.down = 0  # back: an answered call makes it patient again
    assert not directory.exists() and not patient.Patient.given_up


def test_a_missing_file_is_not_waited_for(tmp_path: Path) -> None:
    handler = Unanswering()
    directory = study(tmp_path, handler, bound_s=60)
    with pytest.raises(FileNotFoundError):
        (directory / "config.yaml").read_text()
    assert handler.calls == 1


def test_the_filesystem_travels_to_trials_with_its_bound(tmp_path: Path) -> None:
    fs = patient.patient(pafs.LocalFileSystem(), 42)
    again = pickle.loads(pickle.dumps(fs))
    assert again.handler.bound_s == 42 and again.equals(fs)


def test_s3_writes_in_the_calling_thread_and_small_files_in_one_put() -> None:
    s3 = pafs.S3FileSystem(region="us-east-1", endpoint_override="http://127.0.0.1:9")
    options = patient.inline(s3).__reduce__()[1][0]
    assert options["background_writes"] is False and options["allow_delayed_open"] is True
    assert options["endpoint_override"] == "http://127.0.0.1:9"


def test_an_upload_that_fails_as_it_completes_fails_ray_s_copy(tmp_path: Path) -> None:
    """Arrow's copy_files drops the error of a file's close, where an upload completes; the
    copy Ray Tune stores checkpoints with raises it."""
    from ray.train._internal import storage  # Ray calls the copy by its module's name

    checkpoint = tmp_path / "local" / "checkpoint_000003"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.pt").write_bytes(b"weights")
    handler = Unanswering()
    fs = patient.patient(pafs.PyFileSystem(handler), 0.05)
    stored = str(tmp_path / "study" / "trial_1" / "checkpoint_000003")
    fs.create_dir(stored)  # as Ray does before it copies
    handler.down = 10**6
    with pytest.raises(TimeoutError, match=r"study\.storage_retry"):
        storage._pyarrow_fs_copy_files(str(checkpoint), stored, destination_filesystem=fs)
    handler.down = 0
    storage._pyarrow_fs_copy_files(str(checkpoint), stored, destination_filesystem=fs)
    assert (tmp_path / "study" / "trial_1" / "checkpoint_000003" / "model.pt").read_bytes() == (
        b"weights"
    )
