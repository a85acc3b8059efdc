"""One writer per study: a lock file with a heartbeat.

``<study>/.hpray.lock`` holds the owner's host, pid, a token and the time of its last beat. A
second driver is refused while the beat is fresh; a lock whose owner died (its pid is gone on
this host, or it stopped beating) is taken over, so a killed driver never blocks a resume.
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

LOCK_FILE = ".hpray.lock"
BEAT_S = 5.0
STALE_S = 30.0


class StudyBusy(Exception):
    """Another live driver owns the study."""


class StudyLock:
    """Context manager that owns ``directory`` for this process while it runs."""

    def __init__(self, directory: Path, beat_s: float = BEAT_S, stale_s: float = STALE_S) -> None:
        self.path = directory / LOCK_FILE
        self.beat_s, self.stale_s = beat_s, stale_s
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StudyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mine = self._write_beat()
        try:
            os.link(mine, self.path)  # atomic create-if-absent, content and all
            os.unlink(mine)
        except FileExistsError:
            try:
                self.check_free()
            except StudyBusy:
                os.unlink(mine)
                raise
            os.replace(mine, self.path)  # the owner is gone: take over
        self._thread = threading.Thread(target=self._beat_forever, name="hpray-lock", daemon=True)
        self._thread.start()
        return self

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
            self.path.unlink(missing_ok=True)

    def check_free(self) -> None:
        """Raise StudyBusy if a live driver owns the study (a dead one's lock does not count)."""
        owner = self.owner()
        if owner is not None and self._alive(owner):
            age = time.time() - float(owner.get("beat", 0))
            raise StudyBusy(
                f"study {self.path.parent} is being run by pid {owner.get('pid')} on "
                f"{owner.get('host')} (heartbeat {age:.0f} s ago). Wait for it to finish, or "
                f"stop it; a crashed driver's lock expires after {self.stale_s:.0f} s."
            )

    def owner(self) -> dict[str, Any] | None:
        """The lock file's content, or None if it is missing or unreadable (a torn write)."""
        try:
            content: dict[str, Any] = json.loads(self.path.read_text())
            return content
        except (OSError, ValueError):
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

    def _write_beat(self) -> Path:
        """This driver's lock content, in a file of its own (renamed or linked into place)."""
        tmp = self.path.with_name(f"{LOCK_FILE}.{self.token}")
        content = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": self.token,
            "beat": time.time(),
        }
        tmp.write_text(json.dumps(content))
        return tmp

    def _beat_forever(self) -> None:
        while not self._stop.wait(self.beat_s):
            os.replace(self._write_beat(), self.path)  # atomic: never a half-written lock
