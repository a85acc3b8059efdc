"""A local filesystem that refuses writes on cue: the storage fault drills' (``tests/faults/``).

``study.storage=hpray-faults:///some/path`` stores the study at ``/some/path`` through this
fsspec filesystem (registered under that protocol by hpray's package metadata), which every
process of the study uses: the driver, and each trial, which gets it pickled with its storage.
A control file, named by ``HPRAY_FAULTS`` when the filesystem is made, says what to do:

``{"writes_left": N, "error": "ENOSPC", "tear": true}``: the next N files opened for writing
are written; the one after fails with the error (ENOSPC: a full disk; EDQUOT, EROFS, EACCES,
EIO), and so does every one after it, until the control file changes (space freed: a
``writes_left`` of null). With ``tear``, the failing file is left with half of what was
written to it first, as a full disk leaves it. With ``"only": "*/checkpoint_*"``, only the
files whose path matches are counted and refused (a failing device under part of the study).
Every write taken is counted in ``"written"``.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fsspec.implementations.local import LocalFileOpener, LocalFileSystem

CONTROL_ENV = "HPRAY_FAULTS"
PROTOCOL = "hpray-faults"


class FaultyFileSystem(LocalFileSystem):  # type: ignore[misc]  # fsspec is untyped
    protocol = (PROTOCOL,)
    root_marker = "/"
    cachable = False  # fsspec's instance cache would keep an earlier drill's control file

    def __init__(self, control: str | None = None, **kwargs: Any) -> None:
        super().__init__(auto_mkdir=True, **kwargs)
        self.control = control or os.environ.get(CONTROL_ENV)

    def __reduce__(self) -> tuple[Any, ...]:
        return _made, (self.control,)  # each trial gets the driver's control file

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith(f"{PROTOCOL}://"):
            path = path[len(PROTOCOL) + 3 :]
        return super()._strip_protocol(path)

    def _open(self, path: Any, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        if not any(m in mode for m in "wax+"):
            return super()._open(path, mode, block_size, **kwargs)
        refused = self._take(str(path))
        if refused is None:
            return super()._open(path, mode, block_size, **kwargs)
        code, tear = refused
        if not tear:
            raise OSError(code, os.strerror(code), str(path))
        self.makedirs(self._parent(path), exist_ok=True)
        return Torn(path, mode, fs=self, code=code, **kwargs)

    def _take(self, path: str) -> tuple[int, bool] | None:
        """Count one write; the error to fail it with (and whether to tear it), or None."""
        if not self.control or not os.path.exists(self.control):
            return None
        with _locked(self.control) as plan:
            plan["written"] = plan.get("written", 0) + 1
            left = plan.get("writes_left")
            if left is None or not fnmatch.fnmatchcase(path, plan.get("only") or "*"):
                return None
            if left > 0:
                plan["writes_left"] = left - 1
                return None
            plan.setdefault("refused", []).append(path)
            return getattr(errno, plan.get("error", "ENOSPC")), bool(plan.get("tear", False))


def _made(control: str | None) -> FaultyFileSystem:
    return FaultyFileSystem(control=control)


class Torn(LocalFileOpener):  # type: ignore[misc]
    """A file that keeps half of what is first written to it, then fails as a full disk."""

    def __init__(self, path: Any, mode: str, code: int, **kwargs: Any) -> None:
        super().__init__(path, mode, **kwargs)
        self.code = code

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.f.write(view[: len(view) // 2])
        self.f.flush()
        raise OSError(self.code, os.strerror(self.code), self.path)


@contextmanager
def _locked(control: str) -> Iterator[dict[str, Any]]:
    """The control file's plan, read and written back under an exclusive lock: the study's
    processes count their writes in it side by side."""
    with open(control, "r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        plan: dict[str, Any] = json.loads(file.read() or "{}")
        yield plan
        file.seek(0)
        file.truncate()
        file.write(json.dumps(plan))
