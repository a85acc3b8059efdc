"""Storage that takes no more writes: a full disk, a spent quota, a read-only or forbidden path,
a device that fails its writes, an object store that did not answer for ``study.storage_retry``.

None of these is a bug of the study or of a trial, and none goes away by retrying a trial: the
study pauses (the driver's ``pause``) until someone frees space or fixes the mount, and the
same command then resumes it. This module only recognises them, from an exception or from the
one-line form of a trial's error, and says how much room the storage has.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from hpray.store.location import StudyDir

FULL = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
# A permission refused, an I/O error or a time-out is the storage's only under the study's own
# path: a trial's code may meet one anywhere else, and that is its own error.
REFUSED = {errno.EACCES, errno.EPERM, errno.EIO, errno.ETIMEDOUT}
ERRNO_TEXT = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)


def fault(err: BaseException | None, under: str) -> str | None:
    """The storage fault behind ``err`` (in it, or in what caused it), on one line, or None;
    ``under``: the study's storage path."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        line = f"{type(err).__name__}: {err}".splitlines()[0]
        if isinstance(err, OSError) and fault_text(line, under):
            return line
        err = err.__cause__ or err.__context__
    return None


def fault_text(line: str, under: str) -> bool:
    """Whether a one-line error (``OSError: [Errno 28] ...``; pyarrow words its own as
    ``[errno 28] No space left on device``) is a storage fault; ``under`` as in ``fault``."""
    numbers = {int(n) for n in ERRNO_TEXT.findall(line)}
    if numbers & FULL or any(os.strerror(n) in line for n in FULL):
        return True
    refused = numbers & REFUSED or any(os.strerror(n) in line for n in REFUSED)
    return bool(refused) and under in line


def free_space(directory: StudyDir) -> str:
    """What the storage under ``directory`` has free, in words ("" behind a URI)."""
    if not directory.local:
        return ""
    path = Path(directory.path)
    while not path.exists() and path != path.parent:
        path = path.parent
    free = float(shutil.disk_usage(path).free)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if free < 1024 or unit == "GiB":
            return f"{free:.0f} {unit}" if unit == "bytes" else f"{free:.1f} {unit}"
        free /= 1024
    return ""


def pause_line(directory: StudyDir, what: str) -> str:
    """The one line a study paused on its storage ends with."""
    if f"[Errno {errno.ETIMEDOUT}]" in what:
        return (
            f"paused: the study's storage did not answer: {what}. Once {directory.parent} "
            "answers again, run the same command to resume the study (a longer "
            "study.storage_retry rides out longer outages)"
        )
    free = free_space(directory)
    room = f" ({free} free there)" if free else ""
    return (
        f"paused: the study's storage takes no more writes: {what}. Free space under "
        f"{directory.parent}{room}, or fix the mount's permissions, or point study.storage "
        "elsewhere (moving the study there), then run the same command again to resume it"
    )
