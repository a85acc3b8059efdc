"""One writer per study: a lock file with a heartbeat.

``<study>/.hpray.lock`` holds the owner's host, pid, a token and the time of its last beat. A
second driver is refused while the beat is fresh; a lock whose owner died (its pid is gone on
this host, or it stopped beating) is taken over, so a killed driver never blocks a resume.

On a path the lock is created atomically (a hard link); an object store has no such operation,
so there the lock is written, read back after a beat, and given up if another driver's won.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from hpray.driver.pause import pause_on
from hpray.store.layout import LOCK_FILE
from hpray.store.location import StudyDir, as_dir

BEAT_S = 5.0
STALE_S = 30.0


class StudyBusy(Exception):
    """Another live driver owns the study."""


class StudyLock:
    """Context manager that owns ``directory`` for this process while it runs."""

    def __init__(
        self, directory: StudyDir | Path, beat_s: float = BEAT_S, stale_s: float = STALE_S
    ) -> None:
        self.lock = as_dir(directory) / LOCK_FILE
        self.beat_s, self.stale_s = beat_s, stale_s
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StudyLock:
        self.lock.parent.mkdir()
        if not self._create():
            self._wait_for_silence()
            self._beat()  # the owner is gone: take over
        if not self.lock.local:
            time.sleep(min(1.0, self.beat_s))  # a racing driver's write lands by now
            owner = self.owner()
            if owner is None or owner.get("token") != self.token:
                raise StudyBusy(f"study {self.lock.parent} was taken by another driver just now.")
        self._thread = threading.Thread(target=self._beat_forever, name="hpray-lock", daemon=True)
        self._thread.start()
        return self

    def _create(self) -> bool:
        """Create the lock if there is none; False if there was one."""
        if not self.lock.local:
            if self.lock.exists():
                return False
            self._beat()
            return True
        mine = Path(f"{self.lock.path}.{self.token}")
        mine.write_text(self._content())
        try:
            os.link(mine, self.lock.path)  # atomic create-if-absent, content and all
            return True
        except FileExistsError:
            return False
        finally:
            mine.unlink()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        owner = self.owner()
        if owner is not None and owner.get("token") == self.token:
            self.lock.unlink()

    def check_not_owned_here(self) -> None:
        """Raise StudyBusy if a live driver on this host owns the study: known at once, by pid."""
        owner = self.owner()
        if owner is not None and owner.get("host") == socket.gethostname():
            self.check_free()

    def check_free(self) -> None:
        """Raise StudyBusy if a live driver owns the study (a dead one's lock does not count)."""
        owner = self.owner()
        if owner is not None and self._alive(owner):
            age = time.time() - float(owner.get("beat", 0))
            raise StudyBusy(
                f"study {self.lock.parent} is being run by pid {owner.get('pid')} on "
                f"{owner.get('host')} (heartbeat {age:.0f} s ago). Wait for it to finish, or "
                f"stop it; a crashed driver's lock expires after {self.stale_s:.0f} s."
            )

    def _wait_for_silence(self) -> None:
        """Raise StudyBusy if the owner lives; return once it is known to be gone.

        An owner on this host is judged by its pid, at once. One elsewhere (the previous pod of
        a retried Kubernetes job, a head node that was lost) can only be judged by its beat: a
        live owner beats again within ``beat_s``, a dead one falls silent, and its lock is taken
        over once stale instead of failing the retry that came to resume the study.
        """
        first = self.owner()
        while first is not None and self._alive(first):
            if first.get("host") == socket.gethostname():
                self.check_free()
            time.sleep(min(self.beat_s, 1.0))
            now = self.owner()
            if now is not None and now.get("beat") != first.get("beat"):
                self.check_free()  # it beat again: alive
            if now is None or now.get("token") != first.get("token"):
                first = now  # released, or taken by a third driver meanwhile: judge that one

    def owner(self) -> dict[str, Any] | None:
        """The lock file's content, or None if it is missing or stays unreadable.

        hpray replaces the lock whole, but another writer (a copy tool, an older release) may
        not: an unreadable lock is read again before it counts as none, so a live owner's lock
        caught mid-write is not taken over.
        """
        for attempt in range(3):
            try:
                content: dict[str, Any] = json.loads(self.lock.read_text())
                return content
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                time.sleep(0.05 * (attempt + 1))
        return None

    def _alive(self, owner: dict[str, Any]) -> bool:
        if time.time() - float(owner.get("beat", 0)) > self.stale_s:
            return False
        if owner.get("host") == socket.gethostname():
            try:
                os.kill(int(owner["pid"]), 0)
            except (ProcessLookupError, KeyError, ValueError):
                return False
            except PermissionError:
                return True
        return True

    def _content(self) -> str:
        return json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "token": self.token,
                "beat": time.time(),
            }
        )

    def _beat(self) -> None:
        self.lock.write_text(self._content())  # whole: never a half-written lock

    def _beat_forever(self) -> None:
        while not self._stop.wait(self.beat_s):
            try:
                self._beat()
            except OSError as err:  # a full disk: the study pauses; the lock stays as it was
                if not pause_on(err, self.lock.parent):
                    raise
