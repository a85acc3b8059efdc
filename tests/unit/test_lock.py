"""One writer per study: a live lock refuses, a dead owner's lock is taken over."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from hpray.driver.lock import LOCK_FILE, StudyBusy, StudyLock
from hpray.store.location import StudyDir


def test_a_second_writer_is_refused_while_the_first_beats(tmp_path: Path) -> None:
    with StudyLock(tmp_path, beat_s=0.05):
        first_beat = json.loads((tmp_path / LOCK_FILE).read_text())["beat"]
        time.sleep(0.2)
        assert json.loads((tmp_path / LOCK_FILE).read_text())["beat"] > first_beat  # heartbeat
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from hpray.driver.lock import StudyLock\n"
                f"with StudyLock(Path({str(tmp_path)!r})): pass",
            ],
            capture_output=True,
            text=True,
        )
        assert (
            child.returncode != 0
            and "StudyBusy" in child.stderr
            and f"pid {os.getpid()}" in child.stderr
        )
    assert not (tmp_path / LOCK_FILE).exists()  # released on exit


def test_a_dead_owners_lock_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / LOCK_FILE).write_text(
        json.dumps(
            {
                "host": socket.gethostname(),
                "pid": int(dead.stdout),
                "token": "x",
                "beat": time.time(),
            }
        )
    )
    with StudyLock(tmp_path):  # the pid is gone: no need to wait for the beat to go stale
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def remote_lock(path: Path, beat: float) -> None:
    """Another host's driver beating: its lock replaced whole, as hpray writes it."""
    StudyDir(pafs.LocalFileSystem(), str(path)).write_text(
        json.dumps({"host": "elsewhere", "pid": 1, "token": "x", "beat": beat})
    )


def test_a_lock_caught_mid_write_is_read_again_not_taken_over(tmp_path: Path) -> None:
    """A writer that truncates before it writes (not hpray's) leaves the lock empty for a moment:
    that is not an owner gone."""
    lock = tmp_path / LOCK_FILE
    lock.write_text("")

    def finish() -> None:
        time.sleep(0.03)
        remote_lock(lock, time.time())

    writing = threading.Thread(target=finish)
    writing.start()
    try:
        assert StudyLock(tmp_path).owner() == json.loads(lock.read_text())
    finally:
        writing.join()
    lock.write_text("{torn")
    assert StudyLock(tmp_path).owner() is None  # torn for good: no owner to wait for


def test_a_silent_remote_owner_is_waited_out(tmp_path: Path) -> None:
    """The owner of a lock on another host (a lost pod) is judged by its heartbeat."""
    remote_lock(tmp_path / LOCK_FILE, time.time() - 60)
    with StudyLock(tmp_path, stale_s=30):  # stale already: taken over at once
        pass
    remote_lock(tmp_path / LOCK_FILE, time.time())
    started = time.monotonic()
    with StudyLock(tmp_path, beat_s=0.2, stale_s=1.5):  # fresh, but it never beats again
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert 1.0 < time.monotonic() - started < 10


def test_a_remote_owner_that_beats_is_refused(tmp_path: Path) -> None:
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.1):
            remote_lock(tmp_path / LOCK_FILE, time.time())

    remote_lock(tmp_path / LOCK_FILE, time.time())
    beating = threading.Thread(target=beat)
    beating.start()
    try:
        started = time.monotonic()
        with pytest.raises(StudyBusy, match="elsewhere"), StudyLock(tmp_path, beat_s=0.3):
            pass
        assert time.monotonic() - started < 5  # refused as soon as it beat, not after 30 s
    finally:
        stop.set()
        beating.join()
